import SEBase

/// Why a boot run stopped. The class picks the exit code (FailureClass), so
/// that the unit or hook that runs se-secretd can tell failures apart.
public struct BootFailure: Sendable, ClassifiedFailure {
    public typealias Class = FailureClass

    public let failureClass: Class
    public let step: String
    public let message: String

    public init(_ failureClass: Class, step: String, _ message: String) {
        self.failureClass = failureClass
        self.step = step
        self.message = message
    }

    public var description: String { "\(step): \(message)" }
}
