import SEBase
import UVDevice

/// Why an action failed, classed so that the command can choose its exit
/// code. Messages name targets, IDs and errno values, never secret bytes.
public struct ActionFailure: Error, Equatable, CustomStringConvertible, ClassifiedFailure {
    public enum Kind: String, Sendable, Equatable {
        /// The ultravisor device is missing or unusable.
        case device
        /// The ultravisor refused a call.
        case ultravisor
        /// The secret is missing, of the wrong kind or not what its action
        /// needs (a key that does not parse, a passphrase that does not open
        /// the volume, a cipher other than the expected one).
        case data
        /// Writing or reading a target failed, or a target is unsafe (a
        /// symlink, an existing file without `replace`).
        case io
        /// A device did not appear in time.
        case timeout
        /// The command line or configuration does not allow the action.
        case config
        /// The command line asks for what this binary does not have (a
        /// simulated ultravisor in the agent).
        case usage
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public var failureClass: FailureClass { kind.failureClass }

    static func from(_ error: UVError, context: String) -> ActionFailure {
        switch error {
        case .ultravisor: return ActionFailure(.ultravisor, "\(context): \(error)")
        default: return ActionFailure(.device, "\(context): \(error)")
        }
    }

    static func io(_ error: Error, _ context: String) -> ActionFailure {
        if let f = error as? ActionFailure { return f }
        return ActionFailure(.io, "\(context): \(error)")
    }
}

extension ActionFailure.Kind {
    public var failureClass: FailureClass {
        switch self {
        case .device: return .device
        case .ultravisor: return .ultravisor
        case .data: return .policy
        case .io: return .io
        case .timeout: return .timeout
        case .config: return .config
        case .usage: return .usage
        }
    }
}
