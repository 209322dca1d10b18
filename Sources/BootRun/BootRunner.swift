#if canImport(Glibc)
import Glibc
#endif
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVCommands
import SEVocabulary


public struct BootConfiguration: Sendable {
    public var policyPath: String
    public var backend: UVBackend
    /// The backends this binary has (a simulator backend needs one).
    public var links: UVLinks = .deviceOnly
    public var sysfs: UVSysfs
    public var runDirectory = RunDirectory.defaultPath
    /// Read requests from this directory instead of the policy's volume.
    public var requestsDirectory: String?
    /// Overall deadline in seconds: the volume wait and the retries of a
    /// transient ultravisor condition (dump in progress) all end by then.
    public var timeout: Double = 120
    public var backoffInitial: Double = 0.1
    public var backoffCap: Double = 5
    public var handoff = HandoffPaths()
    /// Test hook, called right after the requests were read and copied (a
    /// test swaps files on the volume here to show that it has no effect).
    public var afterFetch: (@Sendable () -> Void)? = nil
    /// Test hook, called with each request file's path right before it is
    /// read (a test makes the volume vanish part way through).
    public var beforeRequestRead: (@Sendable (String) -> Void)? = nil
    /// How the request volume is found and mounted (tests replace it).
    public var volumeAccess = VolumeAccess.system

    public init(policyPath: String, backend: UVBackend, sysfs: UVSysfs) {
        self.policyPath = policyPath
        self.backend = backend
        self.sysfs = sysfs
    }
}

public struct BootResult: Sendable {
    public let failure: BootFailure?
    public let report: JSON
    public let reportPath: String?
    public let failureAction: Policy.FailureAction
    public var succeeded: Bool { failure == nil }
}

/// The boot run: probe → fetch → check → submit → lock → verify → report.
/// It never decrypts anything and holds no secret: the values stay inside
/// the ultravisor until `unlock` / `install` retrieve them.
public final class BootRunner {
    let config: BootConfiguration
    let log: BootLog
    let started = MonotonicClock.nanoseconds()
    var timings: [(String, Double)] = []
    var policy: Policy?
    var fetched: FetchedRequests?
    var evaluation: Evaluation?
    var deviceInfo: [(String, JSON)] = []
    var hostKeyHashes: [[UInt8]] = []
    var records: [String: [(String, JSON)]] = [:]
    var locked: Bool?
    /// The lock was made by the failure path (see `lockAfterFailure`).
    var lockedOnFailure = false
    /// Requests this run had the ultravisor accept.
    var addedCount = 0
    /// Requests whose ioctl failed in the driver, which can happen after
    /// the ultravisor added them: whether they are in the store is unknown.
    var unknownOutcomeCount = 0
    /// The store may hold secrets of this boot: a request was accepted (or
    /// found already there), or a driver error left it open whether the
    /// ultravisor acted. From then on a failure locks the store.
    var storeMayHoldSecrets = false
    var client: UVClient?
    var verified = false
    var storeCount: Int?

    public init(configuration: BootConfiguration, log: BootLog) {
        self.config = configuration
        self.log = log
    }

    var deadline: UInt64 { started + UInt64(config.timeout * 1e9) }
    var remaining: Double { max(0, Double(Int64(deadline) - Int64(MonotonicClock.nanoseconds())) / 1e9) }

    func timed<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
        let t0 = MonotonicClock.nanoseconds()
        defer { timings.append((step, Double(MonotonicClock.nanoseconds() - t0) / 1e6)) }
        return try body()
    }

    public func run() -> BootResult {
        var failure: BootFailure? = nil
        do {
            try RunDirectory.prepare(config.runDirectory)
        } catch {
            failure = BootFailure(.io, step: "prepare", "cannot prepare the run directory \(config.runDirectory): \(error)")
        }
        if failure == nil {
            do {
                let policy = try timed("policy") { try loadPolicy() }
                self.policy = policy
                let client = try timed("probe") { try probe(policy) }
                self.client = client
                let fetched = try timed("fetch") { try fetch(policy) }
                self.fetched = fetched
                config.afterFetch?()
                try timed("check") { try check(policy, fetched) }
                try timed("submit") { try submit(client) }
                if policy.store.lock { try timed("lock") { try lock(client) } }
                try timed("verify") { try verify(client, policy) }
            } catch let f as BootFailure {
                failure = f
            } catch {
                failure = BootFailure(.io, step: "boot", "\(error)")
            }
        }
        let action = policy?.onFailure ?? .poweroff
        if let f = failure {
            log.error("\(f.step): \(f.message)")
            wipeHandoffs()
            timed("lock_on_failure") { lockAfterFailure() }
        }
        var report = makeReport(failure: failure)
        var reportPath: String? = config.runDirectory + "/report.json"
        do {
            // The failure action first: without it the failure handlers
            // power off, whatever the policy says (fail closed).
            try FileIO.writeAtomically(config.runDirectory + "/failure-action", Array((action.rawValue + "\n").utf8), mode: 0o600)
            try FileIO.writeAtomically(reportPath!, Array(report.serialized().utf8), mode: 0o600)
        } catch {
            // No report is no evidence: a run that cannot write one fails,
            // and no report of an earlier run of this boot stays in place.
            log.error("cannot write the report: \(error)")
            unlink(reportPath!)
            reportPath = nil
            if failure == nil {
                failure = BootFailure(.io, step: "report", "cannot write the report to \(config.runDirectory): \(error)")
                wipeHandoffs()
                report = makeReport(failure: failure)
            }
        }
        summarize(failure: failure, action: action, reportPath: reportPath)
        return BootResult(failure: failure, report: report, reportPath: reportPath, failureAction: action)
    }

    // MARK: - Steps

    func loadPolicy() throws -> Policy {
        do { return try Policy.load(path: config.policyPath) } catch {
            throw BootFailure(.config, step: "policy", "invalid policy \(config.policyPath): \(error)")
        }
    }

    /// Step 1: is this a secure guest, which driver and ultravisor calls are
    /// there, what are the limits, which host keys does this machine have.
    func probe(_ policy: Policy) throws -> UVClient {
        let guest = try? config.sysfs.isSecureExecutionGuest()
        deviceInfo.append(("secure_execution_guest", guest.map { JSON.bool($0) } ?? .null))
        switch config.backend {
        case let .device(p): deviceInfo.append(("backend", .string("device \(p)")))
        case let .simulator(d): deviceInfo.append(("backend", .string("simulator \(d)")))
        }
        if case .device = config.backend, guest == .some(false) {
            log.warning("sysfs says this is not a Secure Execution guest")
        }
        let client: UVClient
        do { client = try config.backend.client(sysfs: config.sysfs, links: config.links) } catch let f as CommandFailure {
            // A backend this binary does not have (a simulator switch in the
            // agent) is a usage error, not a broken device.
            throw BootFailure(f.failureClass == .usage ? .usage : .device, step: "probe", f.message)
        }
        let info: UVInfo
        do { info = try client.info() } catch {
            throw BootFailure(.device, step: "probe", "the ultravisor device does not answer INFO: \(error)")
        }
        deviceInfo.append(("driver", .string(info.kernelGeneration)))
        if info.isLegacyDriver {
            throw BootFailure(.device, step: "probe",
                "this kernel's uvdevice only knows attestation (Linux 5.19–6.4): adding secrets needs Linux 6.5 or later, retrievable secrets Linux 6.13 on IBM z17")
        }
        var needed: [UVIoctl] = [.addSecret, .listSecrets]
        if policy.store.lock { needed.append(.lockSecrets) }
        if policy.secrets.contains(where: { !$0.actions.isEmpty }) { needed.append(.retrieveSecret) }
        for ioctl in needed where !info.driverImplements(ioctl) {
            let hint = ioctl == .retrieveSecret ? " (retrieving secrets needs Linux 6.13 or later)" : ""
            throw BootFailure(.device, step: "probe", "the kernel's uvdevice lacks the \(ioctl) ioctl\(hint)")
        }
        for ioctl in needed where info.ultravisorOffers(ioctl) == false && ioctl != .retrieveSecret {
            throw BootFailure(.device, step: "probe", "the ultravisor does not offer \(ioctl) to this guest")
        }
        if let q = try? config.sysfs.query() {
            if let max = q.maxSecrets { deviceInfo.append(("max_secrets", .int(Int64(max)))) }
            if let codes = q.secretTypeCodes {
                for s in policy.secrets where !codes.contains(s.type.rawValue) {
                    throw BootFailure(.device, step: "probe",
                        "the ultravisor does not support \(s.type.name) secrets (secret \"\(s.name)\"); see /sys/firmware/uv/query/supp_secret_types")
                }
            }
            if let versions = q.addSecretVersions, !versions.contains(ASRLayout.version) {
                throw BootFailure(.device, step: "probe", "the ultravisor does not accept add-secret requests of version 0x100")
            }
            if policy.store.requiredFlags.contains("disable-dump"), q.disableDumpFlagSupported == false {
                throw BootFailure(.device, step: "probe", "the policy requires disable-dump, which this ultravisor does not support")
            }
        }
        if let keys = try? config.sysfs.hostKeyHashes() {
            hostKeyHashes = keys.knownHashes
            log.debug("host-key hashes: \(hostKeyHashes.map { String($0.hex.prefix(16)) }.joined(separator: ", "))")
        }
        return client
    }

    /// Step 2.
    func fetch(_ policy: Policy) throws -> FetchedRequests {
        let f: FetchedRequests
        if let dir = config.requestsDirectory {
            f = try RequestFetch.fromDirectory(dir, policy: policy, runDirectory: config.runDirectory,
                                               beforeRead: config.beforeRequestRead ?? { _ in })
        } else if let volume = policy.requests.volume {
            f = try RequestFetch.fromVolume(volume, policy: policy, runDirectory: config.runDirectory,
                                            wait: min(Double(policy.requests.waitSeconds), remaining), log: log,
                                            access: config.volumeAccess, beforeRead: config.beforeRequestRead ?? { _ in })
        } else {
            throw BootFailure(.config, step: "fetch", "the policy names no request volume (requests.volume) and no directory was given")
        }
        log.info("read \(f.set.requests.count) request files from \(f.source)")
        return f
    }

    /// Step 3: the same evaluation as `se-secretd check`, with this
    /// machine's host keys.
    func check(_ policy: Policy, _ fetched: FetchedRequests) throws {
        let e = Evaluator(policy: policy, hostKeyHashes: hostKeyHashes.isEmpty ? nil : hostKeyHashes).evaluate(fetched.set)
        evaluation = e
        for p in e.allProblems { log.error(p.description) }
        guard e.passed else {
            throw BootFailure(.policy, step: "check",
                "the requests violate the policy (\(e.allProblems.count) problem\(e.allProblems.count == 1 ? "" : "s")); nothing was added")
        }
        if let maxSecrets = deviceInfo.first(where: { $0.0 == "max_secrets" }).flatMap({ if case let .int(v) = $0.1 { return Int(v) } else { return nil } }) {
            let listable = e.verdicts.filter { $0.request?.secretType.isListable == true }.count
            if listable > maxSecrets {
                throw BootFailure(.device, step: "check", "\(listable) secrets do not fit a store of \(maxSecrets)")
            }
        }
    }

    /// Step 4: submit in order, skipping what this boot's store already has.
    func submit(_ client: UVClient) throws {
        guard let e = evaluation else { return }
        var journal = Journal(runDirectory: config.runDirectory)
        let before: SecretList
        do { before = try client.listAllSecrets() } catch {
            throw BootFailure(.device, step: "submit", "cannot list the secret store: \(error)")
        }
        var added = 0, skipped = 0
        for (position, file) in e.submissionOrder.enumerated() {
            guard let v = e.verdict(for: file), let r = v.request else { continue }
            var rec: [(String, JSON)] = [("order", .int(Int64(position + 1)))]
            let t0 = MonotonicClock.nanoseconds()
            func finish(_ result: String, rc: UInt16?, retries: Int) {
                rec += [("result", .string(result)), ("uv_rc", rc.map { .string(rcHex($0)) } ?? .null),
                        ("retries", .int(Int64(retries))),
                        ("milliseconds", .double(((Double(MonotonicClock.nanoseconds() - t0) / 1e6) * 1000).rounded() / 1000))]
                records[file] = rec
            }
            let earlier = journal.state(of: r.gcmTag)
            if earlier == .added {
                storeMayHoldSecrets = true
                finish("already-added", rc: nil, retries: 0)
                skipped += 1
                log.info("\(file): already added in this boot (journal)")
                continue
            }
            if let id = r.secretID, r.secretType.isListable, !before.entries(withID: id).isEmpty {
                storeMayHoldSecrets = true
                finish("already-present", rc: nil, retries: 0)
                skipped += 1
                log.info("\(file): secret \(v.displaySecret) is already in the store; not added twice")
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
                finish("failed", rc: nil, retries: 0)
                throw BootFailure(.io, step: "submit",
                    "\(file): cannot record it in the journal before submitting it: \(error); it was not submitted")
            }
            var retries = 0
            var backoff = config.backoffInitial
            while true {
                do {
                    try client.addSecret(r.bytes)
                    break
                } catch {
                    guard let f = error.callFailure else {
                        // A driver error can come after the ultravisor acted
                        // (uv-device.md: the control block's copy-back): the
                        // journal line stays pending.
                        storeMayHoldSecrets = true
                        unknownOutcomeCount += 1
                        finish("failed", rc: nil, retries: retries)
                        throw BootFailure(.device, step: "submit", "\(file): \(error)")
                    }
                    if f.rc == UVReturnCode.dumpInProgress {
                        let wait = min(backoff, config.backoffCap)
                        if remaining <= wait {
                            finish("timed-out", rc: f.rc, retries: retries)
                            try? journal.complete(slot, as: .notAdded)
                            throw BootFailure(.timeout, step: "submit",
                                "\(file): the ultravisor still reports a dump in progress (rc 0x010d) after \(retries) retries; deadline of \(Int(config.timeout)) s reached")
                        }
                        retries += 1
                        log.info("\(file): dump in progress (rc 0x010d); retry \(retries) in \(Int(wait * 1000)) ms")
                        var ts = timespec(tv_sec: Int(wait), tv_nsec: Int((wait - Double(Int(wait))) * 1e9))
                        nanosleep(&ts, nil)
                        backoff *= 2
                        continue
                    }
                    finish("refused", rc: f.rc, retries: retries)
                    try? journal.complete(slot, as: .notAdded)
                    throw BootFailure(.ultravisor, step: "submit",
                        "\(file) (\(v.displaySecret)): \(f.message) (rc \(rcHex(f.rc)), rrc \(rcHex(f.rrc)))\(BootRunner.hint(f.rc)); \(added) request(s) were added before it")
                }
            }
            storeMayHoldSecrets = true
            addedCount += 1
            do { try journal.complete(slot, as: .added) } catch {
                finish("added", rc: UVReturnCode.success, retries: retries)
                throw BootFailure(.io, step: "submit", "\(file): added, but cannot record that in the journal: \(error)")
            }
            finish("added", rc: UVReturnCode.success, retries: retries)
            added += 1
            log.debug("\(file): added (\(v.displaySecret))")
        }
        log.info("submitted: \(added) added, \(skipped) already there")
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

    /// LOCK_SECRETS; "already locked" (rc 0x0102) counts as locked.
    /// Returns whether this call locked it; other errors are thrown.
    func lockStore(_ client: UVClient) throws(UVError) -> Bool {
        do {
            try client.lock()
            locked = true
            return true
        } catch {
            guard let f = error.callFailure, f.rc == UVReturnCode.storeLocked else {
                locked = false
                throw error
            }
            locked = true
            return false
        }
    }

    /// Step 5.
    func lock(_ client: UVClient) throws {
        let lockedNow: Bool
        do { lockedNow = try lockStore(client) } catch {
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
    func lockAfterFailure() {
        guard let client, let policy, locked != true else { return }
        let earlierRun = Journal(runDirectory: config.runDirectory).entries.contains { $0.state != .notAdded }
        guard storeMayHoldSecrets || earlierRun else { return }
        guard policy.store.lock else {
            log.warning("the secret store stays open after the failure (store.lock is false): more requests can be added until the next reboot")
            locked = false
            return
        }
        do {
            if try lockStore(client) {
                lockedOnFailure = true
                log.info("secret store locked after the failure (\(addedCount) request(s) added by this run\(unknownOutcomes))")
            } else {
                log.info("secret store was already locked")
            }
        } catch {
            log.error("cannot lock the secret store after the failure: \(error); it stays open until the next reboot")
        }
    }

    /// Step 6: the store holds exactly the policy's secrets, with the
    /// expected types and lengths, each once.
    func verify(_ client: UVClient, _ policy: Policy) throws {
        guard let e = evaluation else { return }
        let list: SecretList
        do { list = try client.listAllSecrets() } catch {
            throw BootFailure(.device, step: "verify", "cannot list the secret store: \(error)")
        }
        storeCount = list.entries.count
        var expected: [[UInt8]: AddSecretRequest] = [:]
        for v in e.verdicts { if let r = v.request, r.secretType.isListable, let id = r.secretID { expected[id] = r } }
        for (id, r) in expected {
            let entries = list.entries(withID: id)
            let name = policy.secret(withID: id)?.name ?? id.hex
            guard entries.count == 1, let entry = entries.first else {
                throw BootFailure(.ultravisor, step: "verify", "secret \"\(name)\" is in the store \(entries.count) times, expected once")
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
        verified = true
        log.info("store verified: \(list.entries.count) secrets, as the policy says")
    }

    // MARK: - Failure and report

    /// Removes hand-off files the policy names (key files, credentials),
    /// overwriting them first, so that no secret survives a failed boot.
    func wipeHandoffs() {
        guard let policy else { return }
        var paths: [String] = []
        for s in policy.secrets {
            for a in s.actions {
                switch a {
                case let .keyFile(v): paths.append(config.handoff.keyFileDirectory + "/" + v + ".key")
                case let .credential(n): paths.append(config.handoff.credentialDirectory + "/" + n)
                default: break
                }
            }
        }
        for p in paths where FileIO.kind(of: p) == .regular {
            SecretFiles.wipe(p)
            log.info("wiped \(p)")
        }
    }

    func makeReport(failure: BootFailure?) -> JSON {
        let total = Double(MonotonicClock.nanoseconds() - started) / 1e6
        func ms(_ v: Double) -> JSON { .double((v * 1000).rounded() / 1000) }
        var requests: [JSON] = []
        if let e = evaluation {
            for v in e.verdicts {
                guard case var .object(m) = v.json else { continue }
                m += records[v.file] ?? [("result", .string(e.passed ? "not-submitted" : "refused-by-policy"))]
                requests.append(.object(m))
            }
        }
        let order = evaluation?.submissionOrder ?? []
        let tags: [[UInt8]] = order.compactMap { evaluation?.verdict(for: $0)?.request?.gcmTag }
        let lockedNow = locked ?? false
        var store: [(String, JSON)] = [
            ("locked", locked.map { .bool($0) } ?? (client == nil ? .null : .bool(false))),
            ("locked_on_failure", .bool(lockedOnFailure)),
            ("added_by_this_run", .int(Int64(addedCount))),
            ("verified", .bool(verified)),
            ("secrets", storeCount.map { .int(Int64($0)) } ?? .null),
        ]
        if failure == nil {
            // What `pvattest check --secret <requests in this order> --secret-store-locked` expects.
            store.append(("secret_store_hash", .string(SecretStoreHash.compute(tags: tags, locked: lockedNow, sha512: Digest.sha512).hex)))
            store.append(("submission_order", .array(order.map { .string($0) })))
        }
        var fetchInfo: [(String, JSON)] = []
        if let f = fetched {
            fetchInfo = [("source", .string(f.source)), ("filesystem", f.filesystem.map { .string($0) } ?? .null),
                         ("copy", .string(f.copyDirectory)),
                         ("ignored_files", .array(f.set.ignored.map { .string($0) }))]
        }
        return .object([
            ("report_version", .int(1)),
            ("tool", .string("se-secretd")),
            ("verdict", .string(failure == nil ? "ok" : "failed")),
            ("failure", failure.map { f in
                .object([("class", .string(f.failureClass.rawValue)), ("step", .string(f.step)), ("message", .string(f.message))])
            } ?? .null),
            ("on_failure", .string((policy?.onFailure ?? .poweroff).rawValue)),
            ("policy", .object([("file", .string(config.policyPath)), ("sha256", policy.map { .string($0.digest.hex) } ?? .null)])),
            ("device", .object(deviceInfo)),
            ("host_key_hashes", .array(hostKeyHashes.map { .string($0.hex) })),
            ("requests_source", .object(fetchInfo)),
            ("requests", .array(requests)),
            ("problems", .array((evaluation?.allProblems ?? []).map(\.json))),
            ("store", .object(store)),
            ("timings_ms", .object(timings.map { ($0.0, ms($0.1)) } + [("total", ms(total))])),
        ])
    }

    var unknownOutcomes: String {
        unknownOutcomeCount == 0 ? "" : ", \(unknownOutcomeCount) more may have been (the driver failed after the ultravisor may have acted)"
    }

    func summarize(failure: BootFailure?, action: Policy.FailureAction, reportPath: String?) {
        let n = evaluation?.verdicts.count ?? 0
        if let f = failure {
            let store = storeMayHoldSecrets || lockedOnFailure ? "; \(addedCount) request(s) added\(unknownOutcomes), store \(locked == true ? "locked" : "NOT locked")" : ""
            log.log(.error, "FAILED (\(f.failureClass.rawValue)) at \(f.step)\(store); the boot must stop: \(action.rawValue). Report: \(reportPath ?? "none")", kmsg: true)
        } else {
            let hash = evaluation.map { e in
                SecretStoreHash.compute(tags: e.submissionOrder.compactMap { e.verdict(for: $0)?.request?.gcmTag },
                                        locked: locked ?? false, sha512: Digest.sha512).hex.prefix(16)
            } ?? ""
            log.log(.notice, "ok: \(n) requests checked and in the store, store \(locked == true ? "locked" : "NOT locked"), secret-store hash \(hash)…; report \(reportPath ?? "none")", kmsg: true)
        }
    }
}

/// Removal of files that held secrets: overwritten with zeros, synced, then
/// unlinked (on tmpfs the overwrite is what clears the pages).
public enum SecretFiles {
    public static func wipe(_ path: String) {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd >= 0 {
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                FileIO.zeroFill(fd)
            }
            close(fd)
        }
        unlink(path)
    }
}
