/// The one vocabulary of failure: every error se-secretd reports carries a
/// class (`ClassifiedFailure`), and this is the one place a class becomes an
/// exit code (BSD sysexits, so that shell scripts, systemd units and
/// initramfs hooks can tell them apart). An error without a class is a bug
/// and exits `internal` (70), never 1.
public enum FailureClass: String, Sendable, CaseIterable {
    /// Bad command line, or a backend this binary does not have.
    case usage
    /// The requests violate the policy, or an input is malformed or not for this machine.
    case policy
    /// An input file or directory cannot be read.
    case input
    /// The ultravisor device is missing or lacks a needed capability.
    case device
    /// I/O error (writing output, the report, a target file), or an unsafe target.
    case io
    /// A deadline passed (the volume did not appear, a dump in progress too long).
    case timeout
    /// The ultravisor refused a call.
    case ultravisor
    /// The policy itself is invalid, or does not allow the action.
    case config
    /// A bug: an error no layer classified.
    case `internal`

    public var exitCode: Int32 {
        switch self {
        case .usage: return 64
        case .policy: return 65
        case .input: return 66
        case .device: return 69
        case .internal: return 70
        case .io: return 74
        case .timeout: return 75
        case .ultravisor: return 76
        case .config: return 78
        }
    }
}

/// An error that knows its failure class.
public protocol ClassifiedFailure: Error, CustomStringConvertible {
    var failureClass: FailureClass { get }
}
