import SEBase
import ASRCodec
import UVDevice
import UVCommands

/// What became of one planned request.
public struct SubmissionOutcome: Sendable {
    public enum Result: Sendable, Equatable {
        case added
        /// The journal shows this boot's store accepted it in an earlier run.
        case alreadyAdded
        /// The store lists its secret already.
        case alreadyPresent
        case refused
        /// Still "dump in progress" at the deadline.
        case timedOut
        /// Not submitted: its journal line could not be written first.
        case notJournaled
        /// The driver failed; the ultravisor may have acted.
        case driverFailed

        /// The report's word.
        public var name: String {
            switch self {
            case .added: return "added"
            case .alreadyAdded: return "already-added"
            case .alreadyPresent: return "already-present"
            case .refused: return "refused"
            case .timedOut: return "timed-out"
            case .notJournaled, .driverFailed: return "failed"
            }
        }

        /// Whether the store may hold the secret after this outcome.
        public var mayBeInStore: Bool {
            switch self {
            case .added, .alreadyAdded, .alreadyPresent, .driverFailed: return true
            case .refused, .timedOut, .notJournaled: return false
            }
        }
    }

    public let item: SubmissionPlan.Item
    public let result: Result
    /// The ultravisor's return code, where it answered.
    public let rc: UInt16?
    public let retries: Int
    public let milliseconds: Double
}

/// Step 4's value: the outcomes in submission order, up to the first
/// failure, which ends the step.
public struct Submission: Sendable {
    public var outcomes: [SubmissionOutcome] = []
    public var failure: BootFailure?

    /// Requests this run had the ultravisor accept.
    public var addedCount: Int { outcomes.filter { $0.result == .added }.count }
    /// Requests whose ioctl failed in the driver: whether they are in the
    /// store is unknown.
    public var unknownCount: Int { outcomes.filter { $0.result == .driverFailed }.count }
    /// The store may hold secrets of this run: from then on a failure locks it.
    public var storeMayHoldSecrets: Bool { outcomes.contains { $0.result.mayBeInStore } }

    public func outcome(for file: String) -> SubmissionOutcome? { outcomes.first { $0.item.file == file } }
}

/// Step 4: submit in order, skipping what this boot's store already has
/// (the journal of an earlier run, or the store's list). Never throws: the
/// outcomes so far and the failure are the value.
struct Submitter {
    let client: UVClient
    let runDirectory: String
    let retry: RequestSubmitter
    let deadlineSeconds: Double
    let log: BootLog

    func run(_ plan: SubmissionPlan) -> Submission {
        var s = Submission()
        var journal = Journal(runDirectory: runDirectory)
        let before: SecretList
        do { before = try client.listAllSecrets() } catch {
            s.failure = BootFailure(.device, step: "submit", "cannot list the secret store: \(error)")
            return s
        }
        var skipped = 0
        for item in plan.items {
            let r = item.request, file = item.file
            let t0 = MonotonicClock.nanoseconds()
            func finish(_ result: SubmissionOutcome.Result, rc: UInt16? = nil, retries: Int = 0) {
                let ms = ((Double(MonotonicClock.nanoseconds() - t0) / 1e6) * 1000).rounded() / 1000
                s.outcomes.append(SubmissionOutcome(item: item, result: result, rc: rc, retries: retries, milliseconds: ms))
            }
            let earlier = journal.state(of: r.gcmTag)
            if earlier == .added {
                finish(.alreadyAdded)
                skipped += 1
                log.info("\(file): already added in this boot (journal)")
                continue
            }
            if let id = r.secretID, r.secretType.isListable, !before.entries(withID: id).isEmpty {
                finish(.alreadyPresent)
                skipped += 1
                log.info("\(file): secret \(item.secret) is already in the store; not added twice")
                continue
            }
            if earlier == .pending {
                if r.secretID != nil && r.secretType.isListable {
                    log.info("\(file): an earlier run of this boot stopped around its submission; the store does not list its secret, so it was not added")
                } else {
                    log.warning("\(file): an earlier run of this boot stopped between submitting it and recording the answer, and the store cannot show whether it was added; submitting it again (should the ultravisor refuse it, reboot: the store starts empty)")
                }
            }
            // Write-ahead: the journal line exists before the ultravisor acts,
            // so a full /run stops the run here, with nothing submitted.
            let slot: Journal.Slot
            do { slot = try journal.reserve(tag: r.gcmTag, file: file) } catch {
                finish(.notJournaled)
                s.failure = BootFailure(.io, step: "submit",
                    "\(file): cannot record it in the journal before submitting it: \(error); it was not submitted")
                return s
            }
            var attempt = retry
            attempt.onRetry = { n, wait in
                log.info("\(file): dump in progress (rc 0x010d); retry \(n) in \(Int(wait * 1000)) ms")
            }
            switch attempt.submit(r.bytes, to: client) {
            case let .added(retries):
                do { try journal.complete(slot, as: .added) } catch {
                    finish(.added, rc: UVReturnCode.success, retries: retries)
                    s.failure = BootFailure(.io, step: "submit", "\(file): added, but cannot record that in the journal: \(error)")
                    return s
                }
                finish(.added, rc: UVReturnCode.success, retries: retries)
                log.debug("\(file): added (\(item.secret))")
            case let .driverFailed(error, retries):
                // The journal line stays pending: the ultravisor may have acted.
                finish(.driverFailed, retries: retries)
                s.failure = BootFailure(.device, step: "submit", "\(file): \(error)")
                return s
            case let .stillTransient(f, retries):
                finish(.timedOut, rc: f.rc, retries: retries)
                try? journal.complete(slot, as: .notAdded)
                s.failure = BootFailure(.timeout, step: "submit",
                    "\(file): the ultravisor still reports a dump in progress (rc 0x010d) after \(retries) retries; deadline of \(Int(deadlineSeconds)) s reached")
                return s
            case let .refused(f, retries):
                finish(.refused, rc: f.rc, retries: retries)
                try? journal.complete(slot, as: .notAdded)
                s.failure = BootFailure(.ultravisor, step: "submit",
                    "\(file) (\(item.secret)): \(f.message) (rc \(rcHex(f.rc)), rrc \(rcHex(f.rrc)))\(Submitter.hint(f.rc)); \(s.addedCount) request(s) were added before it")
                return s
            }
        }
        log.info("submitted: \(s.addedCount) added, \(skipped) already there")
        return s
    }

    static func hint(_ rc: UInt16) -> String {
        switch rc {
        case UVReturnCode.cannotDecrypt:
            return " — the request was made for other host keys or another image, or it was tampered with"
        case UVReturnCode.storeLocked: return " — the store was locked before all requests were added (by an earlier run of this boot, which locks it when it fails; a reboot empties the store)"
        case UVReturnCode.storeFull: return " — more secrets than this guest's store holds"
        case UVReturnCode.cannotAdd: return " — e.g. its extension secret differs from the one the first request fixed"
        case UVReturnCode.invalidSecretLength, UVReturnCode.unsupportedSecret:
            return " — this ultravisor does not accept this secret type or length"
        default: return ""
        }
    }
}
