import SEBase
import UVDevice

/// Why a /dev/uv command failed, classed so the CLI can pick its exit code.
public struct CommandFailure: ClassifiedFailure {
    public enum Kind: Sendable, Equatable {
        /// The device is missing, refused, or lacks the ioctl (ENOTTY).
        case device
        /// The ultravisor refused a call (uv_rc).
        case ultravisor
        /// An input file cannot be read.
        case input
        /// A request (or other input) is malformed or not for this machine.
        case invalidInput
        /// Writing an output failed.
        case io
        /// Bad arguments.
        case usage
    }

    public let kind: Kind
    public let message: String
    /// The underlying ultravisor failure, for callers that act on rc.
    public let callFailure: UVCallFailure?

    public init(_ kind: Kind, _ message: String, callFailure: UVCallFailure? = nil) {
        self.kind = kind
        self.message = message
        self.callFailure = callFailure
    }

    public var description: String { message }

    public var failureClass: FailureClass {
        switch kind {
        case .device: return .device
        case .ultravisor: return .ultravisor
        case .input: return .input
        case .invalidInput: return .policy
        case .io: return .io
        case .usage: return .usage
        }
    }

    /// Classifies a device error.
    public static func from(_ error: UVError, context: String? = nil) -> CommandFailure {
        let text = context.map { "\($0): \(error)" } ?? "\(error)"
        switch error {
        case let .ultravisor(f): return CommandFailure(.ultravisor, text, callFailure: f)
        case .invalidArgument: return CommandFailure(.usage, text)
        case .system, .incompleteList, .malformedResponse: return CommandFailure(.device, text)
        }
    }

    /// Runs a device call and turns its error into a CommandFailure.
    public static func checking<R>(_ context: String? = nil, _ body: () throws(UVError) -> R) throws(CommandFailure) -> R {
        do { return try body() } catch { throw CommandFailure.from(error, context: context) }
    }
}
