import Foundation

/// The executables SwiftPM builds beside the test bundle.
public enum BuiltBinary: String, Sendable {
    /// The agent: /dev/uv only.
    case agent = "se-secretd"
    /// The agent with the simulator backend, for process-level tests that need a simulated ultravisor.
    case agentWithSimulator = "se-secretd-test"
    /// The workbench (sim, example).
    case workbench = "se-secretd-dev"

    /// Its path in this build, or nil when it was not built
    /// (`swift build --build-tests` builds all three).
    public var path: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var candidates: [String] = []
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent(rawValue).path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/" + rawValue)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
