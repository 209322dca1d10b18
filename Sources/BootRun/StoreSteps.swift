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
}

/// Step 6's value: the store holds exactly the plan's secrets, and this is
/// the secret-store hash it reports (computed once, here).
public struct Verification: Sendable {
    public let secrets: Int
    public let storeHash: [UInt8]
}

enum StoreLock {
    /// LOCK_SECRETS; "already locked" (rc 0x0102) counts as locked. Returns
    /// whether this call locked it; other errors are thrown, and `locked`
    /// records the outcome either way.
    static func lock(_ client: UVClient, _ store: inout StoreState) throws(UVError) -> Bool {
        do {
            try client.lock()
            store.locked = true
            return true
        } catch {
            guard let f = error.callFailure, f.rc == UVReturnCode.storeLocked else {
                store.locked = false
                throw error
            }
            store.locked = true
            return false
        }
    }

    /// Step 5.
    static func step(_ client: UVClient, _ store: inout StoreState, log: BootLog) throws {
        let lockedNow: Bool
        do { lockedNow = try lock(client, &store) } catch {
            throw BootFailure(error.callFailure == nil ? .device : .ultravisor, step: "lock", "cannot lock the secret store: \(error)")
        }
        log.info(lockedNow ? "secret store locked" : "secret store was already locked (an earlier run of this boot)")
    }

    /// On a failure after the store may have received a request: lock it,
    /// so that the host cannot add requests of its own for the rest of this
    /// boot next to the ones this run added (fail closed). Not when the
    /// policy keeps the store open (`store.lock: false`), and not when
    /// nothing reached the store (a refused first request, a failed check):
    /// then a corrected set can still be added in this boot. "Reached" counts
    /// an earlier run of this boot too (its journal), e.g. one that was
    /// killed before it could lock.
    static func afterFailure(_ client: UVClient, policy: Policy, submission: Submission?, runDirectory: String,
                             _ store: inout StoreState, log: BootLog) {
        guard store.locked != true else { return }
        let earlierRun = Journal(runDirectory: runDirectory).entries.contains { $0.state != .notAdded }
        guard submission?.storeMayHoldSecrets == true || earlierRun else { return }
        guard policy.store.lock else {
            log.warning("the secret store stays open after the failure (store.lock is false): more requests can be added until the next reboot")
            store.locked = false
            return
        }
        do {
            if try lock(client, &store) {
                store.lockedOnFailure = true
                log.info("secret store locked after the failure (\(submission?.addedCount ?? 0) request(s) added by this run\(BootReport.unknownOutcomes(submission)))")
            } else {
                log.info("secret store was already locked")
            }
        } catch {
            log.error("cannot lock the secret store after the failure: \(error); it stays open until the next reboot")
        }
    }
}

public enum StoreVerifier {
    /// Step 6: the store holds exactly the plan's secrets, with the
    /// expected types and lengths, each once.
    static func step(_ client: UVClient, plan: SubmissionPlan, policy: Policy, _ store: inout StoreState,
                     log: BootLog) throws -> Verification {
        let list: SecretList
        do { list = try client.listAllSecrets() } catch {
            throw BootFailure(.device, step: "verify", "cannot list the secret store: \(error)")
        }
        store.listedSecrets = list.entries.count
        let v = try verify(list, plan: plan, policy: policy, locked: store.locked ?? false)
        log.info("store verified: \(list.entries.count) secrets, as the policy says")
        return v
    }

    public static func verify(_ list: SecretList, plan: SubmissionPlan, policy: Policy, locked: Bool) throws -> Verification {
        let expected = plan.expectedSecrets
        for (id, r) in expected {
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
