import Testing
import Glibc
import SEBase
import UVDevice
import UVCommands

/// The submit rule's retry loop alone, on a scripted clock: no device, no
/// sleep. The boot run and `se-secretd add` both submit through it.
@Suite struct RequestSubmitterTests {
    static let dump = UVCallFailure(ioctl: .addSecret, rc: UVReturnCode.dumpInProgress, rrc: 0)
    static let cannotDecrypt = UVCallFailure(ioctl: .addSecret, rc: UVReturnCode.cannotDecrypt, rrc: 0)

    /// A clock that only moves when the submitter sleeps, and a call that
    /// answers from a script.
    final class Script: @unchecked Sendable {
        var answers: [UVError?]
        var calls = 0
        var now = 0.0
        var sleeps: [Double] = []
        var retriesSeen: [Int] = []
        init(_ answers: [UVError?]) { self.answers = answers }

        func submitter(deadline: Double, initial: Double = 0.1, cap: Double = 5) -> RequestSubmitter {
            RequestSubmitter(backoffInitial: initial, backoffCap: cap, remaining: { max(0, deadline - self.now) },
                             sleep: { self.sleeps.append($0); self.now += $0 },
                             onRetry: { n, _ in self.retriesSeen.append(n) })
        }

        func call() throws(UVError) {
            calls += 1
            let a = calls <= answers.count ? answers[calls - 1] : nil
            if let a { throw a }
        }
    }

    @Test func transientAnswersAreRetriedWithDoublingWaitsUntilAccepted() {
        let s = Script([.ultravisor(Self.dump), .ultravisor(Self.dump), .ultravisor(Self.dump), nil])
        let answer = s.submitter(deadline: 100).attempt(s.call)
        #expect(answer == .added(retries: 3))
        #expect(s.calls == 4)
        #expect(s.sleeps == [0.1, 0.2, 0.4])
        #expect(s.retriesSeen == [1, 2, 3])
    }

    @Test func theWaitIsCappedAndTheDeadlineEndsTheRetries() {
        let s = Script(Array(repeating: .ultravisor(Self.dump), count: 100))
        let answer = s.submitter(deadline: 10, initial: 1, cap: 2).attempt(s.call)
        // 1 + 2 + 2 + 2 = 7 s slept; 3 s remain, not more than the next wait of 2 → one more; then 1 s < 2.
        #expect(s.sleeps == [1, 2, 2, 2, 2])
        #expect(answer == .stillTransient(Self.dump, retries: 5))
        #expect(s.calls == 6)
    }

    @Test func aRefusalIsNotRetried() {
        let s = Script([.ultravisor(Self.cannotDecrypt)])
        #expect(s.submitter(deadline: 100).attempt(s.call) == .refused(Self.cannotDecrypt, retries: 0))
        #expect(s.calls == 1 && s.sleeps.isEmpty)
    }

    @Test func aDriverErrorIsNotRetriedAndKeepsTheRetriesSoFar() {
        let driver = UVError.system(SystemError(errno: EFAULT, operation: "ioctl", path: "/dev/uv"))
        let s = Script([.ultravisor(Self.dump), driver])
        #expect(s.submitter(deadline: 100).attempt(s.call) == .driverFailed(driver, retries: 1))
        #expect(s.calls == 2)
    }

    @Test func onceNeverWaits() {
        let s = Script([.ultravisor(Self.dump), nil])
        #expect(RequestSubmitter.once.attempt(s.call) == .stillTransient(Self.dump, retries: 0))
        #expect(s.calls == 1)
    }
}
