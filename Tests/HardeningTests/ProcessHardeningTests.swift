// Process-level protections: the agent binary makes itself non-dumpable
// with a zero core limit before any command runs. Checked on the built
// se-secretd in a child process, so the test runner itself is not changed.
import Testing
import TestSupport
import Glibc
@testable import SEBase

/// Runs a program and returns its exit status and standard output.
func runProgram(_ path: String, _ args: [String]) throws -> (status: Int32, out: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw SystemError.current("pipe") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    close(fds[1])
    guard rc == 0 else { close(fds[0]); throw SystemError(errno: rc, operation: "posix_spawn", path: path) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    close(fds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return ((status >> 8) & 0xff, String(decoding: out, as: UTF8.self))
}

/// "key: value" lines.
func keyValues(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        out[String(line[..<colon])] = line[line.index(after: colon)...].trimmingPrefix(" ").description
    }
    return out
}

@Suite struct ProcessHardeningTests {
    @Test func agentIsNotDumpableAndHasNoCoreLimit() throws {
        guard let agent = BuiltBinary.agent.path else {
            Issue.record("se-secretd is not built next to the test bundle (run `swift build` first)")
            return
        }
        let r = try runProgram(agent, ["debug", "process"])
        #expect(r.status == 0, "\(r.out)")
        let kv = keyValues(r.out)
        #expect(kv["dumpable"] == "0", "PR_GET_DUMPABLE in the agent: \(r.out)")
        #expect(kv["core-limit"] == "0 0", "RLIMIT_CORE soft and hard: \(r.out)")
        let applied = kv["applied"] ?? ""
        #expect(applied.hasPrefix("dumpable: cleared; core limit: 0; memory: "), "\(applied)")
        // Memory locking depends on the environment (CAP_IPC_LOCK, RLIMIT_MEMLOCK);
        // whatever happened must be reported, and agree with the status.
        let locked = kv["all-memory-locked"] == "true"
        #expect(applied.contains("memory: locked") == locked, "\(r.out)")
        #expect(locked || applied.contains("memory: not locked: "), "\(r.out)")
    }

    @Test func theTestRunnerIsLeftAlone() {
        // Running the CLI in-process (as the other tests do) applies nothing.
        #expect(ProcessHardening.applied == nil)
        #expect(!ProcessHardening.allMemoryLocked)
        #expect(ProcessHardening.status().dumpable >= 0)
    }
}
