import SEBase
import ASRCodec
import SecretPolicy
import UVDevice

/// The store's state as the run leaves it: steps 5 and 6, and the failure
/// path's lock.
public struct StoreState: Sendable {
    /// nil: the run never tried to lock (or had no device).
    public var locked: Bool?
    /// The lock was made by the failure path (`StoreLock.afterFailure`).
    public var lockedOnFailure = false
    /// Secrets the verification's list showed.
    public var listedSecrets: Int?
    /// Set once the store holds exactly the plan's secrets.
    public var verification: Verification?
    /// The failure path found an earlier run of this boot in the journal
    /// that may have added requests (a reason to lock besides this run's).
    public var earlierRunMayHaveAdded = false
}

/// Step 6's value: the store holds exactly the plan's secrets, and this is
/// the secret-store hash it reports (computed once, here).
public struct Verification: Sendable {
    public let secrets: Int
    public let storeHash: [UInt8]
}

/// What the failure path does about the lock.
public enum FailureLock: Equatable, Sendable {
    /// Nothing to do: the store is locked already, or nothing can have
    /// reached it (a refused first request, a failed check): then a corrected
    /// set can still be added in this boot.
    case none
    /// Something may be in the store but the policy keeps it open
    /// (`store.lock: false`): said loudly.
    case keepOpen
    /// Lock it, so that the host cannot add requests of its own for the rest
    /// of this boot next to the ones this boot added (fail closed).
    case lock

    /// "Reached" counts an earlier run of this boot too (its journal), e.g.
    /// one that was killed before it could lock.
    public static func decide(locked: Bool?, thisRunMayHaveAdded: Bool, earlierRunMayHaveAdded: Bool,
                              policyLocks: Bool) -> FailureLock {
        guard locked != true, thisRunMayHaveAdded || earlierRunMayHaveAdded else { return .none }
        return policyLocks ? .lock : .keepOpen
    }
}

enum StoreLock {
    enum Outcome { case lockedNow, alreadyLocked }

    /// LOCK_SECRETS; "already locked" (rc 0x0102) counts as locked. Other
    /// errors are thrown.
    static func lock(_ client: UVClient) throws(UVError) -> Outcome {
        do {
            try client.lock()
            return .lockedNow
        } catch {
            guard let f = error.callFailure, f.rc == UVReturnCode.storeLocked else { throw error }
            return .alreadyLocked
        }
    }

    /// Step 5.
    static func step(_ client: UVClient, log: BootLog) throws -> Outcome {
        let outcome: Outcome
        do { outcome = try lock(client) } catch {
            throw BootFailure(error.callFailure == nil ? .device : .ultravisor, step: "lock", "cannot lock the secret store: \(error)")
        }
        log.info(outcome == .lockedNow ? "secret store locked" : "secret store was already locked (an earlier run of this boot)")
        return outcome
    }

    /// The failure path's lock (FailureLock.decide); returns the store's state after it.
    static func afterFailure(_ client: UVClient, policy: Policy, submission: Submission?, runDirectory: String,
                             _ store: StoreState, log: BootLog) -> StoreState {
        var store = store
        store.earlierRunMayHaveAdded = Journal(runDirectory: runDirectory).entries.contains { $0.state != .notAdded }
        switch FailureLock.decide(locked: store.locked, thisRunMayHaveAdded: submission?.storeMayHoldSecrets == true,
                                  earlierRunMayHaveAdded: store.earlierRunMayHaveAdded, policyLocks: policy.store.lock) {
        case .none:
            break
        case .keepOpen:
            log.warning("the secret store stays open after the failure (store.lock is false): more requests can be added until the next reboot")
            store.locked = false
        case .lock:
            do {
                switch try lock(client) {
                case .lockedNow:
                    store.locked = true
                    store.lockedOnFailure = true
                    log.info("secret store locked after the failure (\(submission?.addedCount ?? 0) request(s) added by this run\(BootReport.unknownOutcomes(submission)))")
                case .alreadyLocked:
                    store.locked = true
                    log.info("secret store was already locked")
                }
            } catch {
                store.locked = false
                log.error("cannot lock the secret store after the failure: \(error); it stays open until the next reboot")
            }
        }
        return store
    }
}

public enum StoreVerifier {
    /// Step 6's list of the store.
    static func list(_ client: UVClient) throws -> SecretList {
        do { return try client.listAllSecrets() } catch {
            throw BootFailure(.device, step: "verify", "cannot list the secret store: \(error)")
        }
    }

    /// Step 6: the store holds exactly the plan's secrets, with the
    /// expected types and lengths, each once (checked in submission order,
    /// so the first wrong one is named, the same on every run).
    public static func verify(_ list: SecretList, plan: SubmissionPlan, policy: Policy, locked: Bool) throws -> Verification {
        let expected = plan.expectedSecrets
        for item in plan.items {
            let r = item.request
            guard r.secretType.isListable, let id = r.secretID else { continue }
            let name = policy.secret(withID: id)?.name ?? id.hex
            let entry: SecretListEntry
            switch list.occurrence(ofID: id) {
            case .absent:
                throw BootFailure(.ultravisor, step: "verify", "secret \"\(name)\" is in the store 0 times, expected once")
            case let .repeated(all):
                throw BootFailure(.ultravisor, step: "verify", "secret \"\(name)\" is in the store \(all.count) times, expected once")
            case let .once(e):
                entry = e
            }
            guard entry.typeCode == r.secretType.rawValue else {
                throw BootFailure(.ultravisor, step: "verify", "secret \"\(name)\" is listed as \(entry.typeName), expected \(r.secretType.name)")
            }
            let len = Int(entry.length)
            let okLength = len == Int(r.secretHeader.length) || (r.secretType.protectedKeySize == len)
            guard okLength else {
                throw BootFailure(.ultravisor, step: "verify", "secret \"\(name)\" is listed with \(len) bytes, expected \(r.secretHeader.length)")
            }
        }
        for entry in list.entries where expected[entry.id] == nil {
            throw BootFailure(.ultravisor, step: "verify",
                "the store holds a secret the policy does not name (ID \(entry.id.hex), \(entry.typeName)); refusing to go on")
        }
        return Verification(secrets: list.entries.count, storeHash: plan.storeHash(locked: locked))
    }
}
