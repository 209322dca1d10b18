import SEBase

/// Exit codes: success, or one per failure class (FailureClass.exitCode is
/// the one map; this enum names them for the CLI and its help).
public enum ExitCode: Int32, Sendable, CaseIterable {
    case ok = 0
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
    /// A bug: an error no layer classified.
    case software = 70

    /// The exit code of a failure class: FailureClass.exitCode is the one
    /// map (ExitCodeTests: every class has its case here, and back).
    public init(_ c: FailureClass) {
        self = ExitCode(rawValue: c.exitCode) ?? .software
    }

    public var failureClass: FailureClass? {
        FailureClass.allCases.first { $0.exitCode == rawValue }
    }

    public var meaning: String {
        switch self {
        case .ok: return "success"
        case .software: return "internal error (a bug: please report it)"
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
public struct CLIError: ClassifiedFailure {
    public let code: ExitCode
    public let message: String
    public init(_ code: ExitCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public init(_ failure: some ClassifiedFailure) {
        self.init(ExitCode(failure.failureClass), failure.description)
    }
    public var description: String { message }
    public var failureClass: FailureClass { code.failureClass ?? .internal }
}
