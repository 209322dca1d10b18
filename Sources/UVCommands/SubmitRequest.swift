#if canImport(Glibc)
import Glibc
#endif
import SEBase
import UVDevice

/// The answer to one add-secret request, after the retries a transient
/// condition allowed.
public enum SubmitAnswer: Equatable, Sendable {
    /// The ultravisor accepted it.
    case added(retries: Int)
    /// The ultravisor refused it for good (a return code other than a
    /// transient one).
    case refused(UVCallFailure, retries: Int)
    /// The ultravisor still answered with a transient condition ("dump in
    /// progress", 0x010d) when the time for retries ran out.
    case stillTransient(UVCallFailure, retries: Int)
    /// The ioctl failed in the driver. That can happen after the ultravisor
    /// acted (uv-device.md: the control block's copy-back), so whether the
    /// request is in the store is unknown.
    case driverFailed(UVError, retries: Int)

    public var retries: Int {
        switch self {
        case let .added(n), let .refused(_, n), let .stillTransient(_, n), let .driverFailed(_, n): return n
        }
    }
}

/// Submits one add-secret request, retrying a transient answer with
/// exponential backoff while time remains: the one home of the submit rule,
/// used by the boot run (with its deadline) and by `se-secretd add` (no
/// retries: it reports the condition as retryable). The clock and the sleep
/// are parameters, so the loop is tested alone.
public struct RequestSubmitter {
    /// The first wait, in seconds; each retry doubles it up to `backoffCap`.
    public var backoffInitial: Double
    public var backoffCap: Double
    /// Seconds left until the caller's deadline.
    public var remaining: () -> Double
    public var sleep: (Double) -> Void
    /// Called before each retry's wait with the retry's number and the wait.
    public var onRetry: (Int, Double) -> Void

    public init(backoffInitial: Double = 0.1, backoffCap: Double = 5, remaining: @escaping () -> Double,
                sleep: @escaping (Double) -> Void = RequestSubmitter.nanosleep,
                onRetry: @escaping (Int, Double) -> Void = { _, _ in }) {
        self.backoffInitial = backoffInitial
        self.backoffCap = backoffCap
        self.remaining = remaining
        self.sleep = sleep
        self.onRetry = onRetry
    }

    /// No retries: a transient answer comes back at once as `stillTransient`.
    public static var once: RequestSubmitter { RequestSubmitter(remaining: { 0 }) }

    public func submit(_ request: [UInt8], to client: UVClient) -> SubmitAnswer {
        attempt { () throws(UVError) in try client.addSecret(request) }
    }

    /// The retry loop around any attempt that answers like ADD_SECRET.
    public func attempt(_ call: () throws(UVError) -> Void) -> SubmitAnswer {
        var retries = 0
        var backoff = backoffInitial
        while true {
            do {
                try call()
                return .added(retries: retries)
            } catch {
                guard let f = error.callFailure else { return .driverFailed(error, retries: retries) }
                guard f.isRetryable else { return .refused(f, retries: retries) }
                // At least a millisecond: a zero backoff must not spin until the deadline.
                let wait = max(min(backoff, backoffCap), 0.001)
                guard remaining() > wait else { return .stillTransient(f, retries: retries) }
                retries += 1
                onRetry(retries, wait)
                sleep(wait)
                backoff *= 2
            }
        }
    }

    public static func nanosleep(_ seconds: Double) {
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        _ = Glibc.nanosleep(&ts, nil)
    }
}
