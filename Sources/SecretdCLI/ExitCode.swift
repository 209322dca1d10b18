/// Exit codes: one per class of failure, from BSD sysexits so that shell
/// scripts, systemd units and initramfs hooks can tell them apart.
public enum ExitCode: Int32, Sendable, CaseIterable {
    case ok = 0
    /// An unexpected internal failure.
    case failure = 1
    /// Bad command line.
    case usage = 64
    /// The requests violate the policy (or a request is malformed).
    case policyViolation = 65
    /// An input file or directory cannot be read.
    case noInput = 66
    /// The ultravisor device is missing or lacks a needed capability.
    case device = 69
    /// I/O error (writing output, the report, a target file).
    case ioError = 74
    /// A deadline passed (volume did not appear, dump in progress too long).
    case timeout = 75
    /// The ultravisor refused a call.
    case ultravisor = 76
    /// The policy itself is invalid.
    case config = 78

    public var meaning: String {
        switch self {
        case .ok: return "success"
        case .failure: return "internal error"
        case .usage: return "usage error (bad arguments)"
        case .policyViolation: return "policy violation (the requests do not pass)"
        case .noInput: return "input unreadable (file or directory missing or not accessible)"
        case .device: return "ultravisor device unavailable"
        case .ioError: return "I/O error"
        case .timeout: return "timeout"
        case .ultravisor: return "the ultravisor refused a call"
        case .config: return "invalid policy"
        }
    }
}

/// An error that ends a command with a given exit code and message.
public struct CLIError: Error, CustomStringConvertible {
    public let code: ExitCode
    public let message: String
    public init(_ code: ExitCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
