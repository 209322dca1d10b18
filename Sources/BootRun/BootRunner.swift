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
import SEDevices


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
    /// Where the results' console lines go (policy `results.console`).
    public var consolePath = "/dev/console"
    /// How the results device and the console are reached (tests replace it).
    public var resultsAccess = ResultsAccess.system

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

/// The boot run: a pipeline of typed values.
///
///     policy → probe (DeviceFacts, a client) → fetch (FetchedRequests)
///            → check (Evaluation → SubmissionPlan) → submit (Submission)
///            → lock (StoreState) → verify (Verification) → report (BootReport)
///
/// Each step takes the values before it and gives its own; the runner only
/// sequences them, times them, and on a failure wipes the hand-off files and
/// locks the store (StoreLock.afterFailure). The report is rendered from the
/// record once. It never decrypts anything and holds no secret: the values
/// stay inside the ultravisor until `unlock` / `install` retrieve them.
public final class BootRunner {
    let config: BootConfiguration
    let log: BootLog
    let started = MonotonicClock.nanoseconds()
    var record: BootRecord
    /// The device, once the probe opened it (the failure path locks through it).
    var client: UVClient? { didSet { record.hadDevice = client != nil } }
    /// The results device, checked and cleared at the start of the run.
    var resultsDevice: ResultsDevice?
    /// report.json's bytes as last written (the results record carries them).
    var reportBytes: [UInt8] = []

    public init(configuration: BootConfiguration, log: BootLog) {
        self.config = configuration
        self.log = log
        self.record = BootRecord(policyPath: configuration.policyPath)
    }

    var deadline: UInt64 { started + UInt64(config.timeout * 1e9) }
    var remaining: Double { BootRunner.seconds(until: deadline) }

    static func seconds(until deadline: UInt64) -> Double {
        max(0, Double(Int64(deadline) - Int64(MonotonicClock.nanoseconds())) / 1e9)
    }

    func timed<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
        let t0 = MonotonicClock.nanoseconds()
        defer { record.timings.append((step, Double(MonotonicClock.nanoseconds() - t0) / 1e6)) }
        return try body()
    }

    public func run() -> BootResult {
        do {
            try RunDirectory.prepare(config.runDirectory)
        } catch {
            record.failure = BootFailure(.io, step: "prepare", "cannot prepare the run directory \(config.runDirectory): \(error)")
        }
        if record.failure == nil {
            // What an earlier run of this boot attested does not describe this one.
            for stale in ["attestation-response.bin", "facts.json", ResultsOutput.recordFile] { unlink(config.runDirectory + "/" + stale) }
            do { try steps() } catch let f as BootFailure {
                record.failure = f
            } catch {
                record.failure = BootFailure(.io, step: "boot", "\(error)")
            }
        }
        if record.failure != nil { failurePath() }
        var (report, reportPath) = writeReport()
        // The results device: a run that cannot hand its results out as the
        // policy says fails (and says so in /run and on the console).
        if let f = writeResults(device: resultsDevice), record.failure == nil {
            record.failure = f
            failurePath()
            (report, reportPath) = writeReport()
            _ = writeResults(device: nil)
        }
        consoleResults()
        let (level, line) = BootReport.summary(record, reportPath: reportPath)
        log.log(level, line, kmsg: true)
        return BootResult(failure: record.failure, report: report, reportPath: reportPath,
                          failureAction: record.failureAction)
    }

    /// After a failure: wipe the hand-off files, lock when something may be in the store.
    func failurePath() {
        guard let f = record.failure else { return }
        log.error("\(f.step): \(f.message)")
        wipeHandoffs()
        timed("lock_on_failure") {
            guard let client, let policy = record.policy else { return }
            record.store = StoreLock.afterFailure(client, policy: policy, submission: record.submission,
                                                  runDirectory: config.runDirectory, record.store, log: log)
        }
    }

    /// RUN-DIR/results.bin and the results device (nil: the file only).
    func writeResults(device: ResultsDevice?) -> BootFailure? {
        do {
            let r = try ResultsOutput.record(report: reportBytes, attestation: record.attestation)
            try ResultsOutput.writeRecord(r, runDirectory: config.runDirectory, device: device, log: log)
            return nil
        } catch let f as BootFailure {
            log.error("\(f.step): \(f.message)")
            return f
        } catch {
            log.error("cannot make the results record: \(error)")
            return BootFailure(.internal, step: "results", "cannot make the results record: \(error)")
        }
    }

    /// The record on the console, when the policy says so.
    func consoleResults() {
        guard record.policy?.results.console == true,
              let r = try? ResultsOutput.record(report: reportBytes, attestation: record.attestation) else { return }
        ResultsOutput.toConsole(r, path: config.consolePath, kmsgPath: log.kmsgPath, access: config.resultsAccess, log: log)
    }

    /// The steps, each a value the next one takes.
    func steps() throws {
        let policy = try timed("policy") { try loadPolicy() }
        record.policy = policy
        if let spec = policy.results.device {
            resultsDevice = try timed("results_device") {
                try ResultsOutput.prepareDevice(spec, wait: min(Double(policy.requests.waitSeconds), remaining),
                                                access: config.resultsAccess, log: log)
            }
        }
        let client = try timed("probe") { () throws -> UVClient in
            let client = try Probe.open(config, facts: &record.device, log: log)
            self.client = client
            try Probe.examine(client, config, policy: policy, facts: &record.device, log: log)
            return client
        }
        let fetched = try timed("fetch") { try fetch(policy) }
        record.fetched = fetched
        config.afterFetch?()
        let plan = try timed("check") { () throws -> SubmissionPlan in
            let plan = try check(policy, fetched)
            if let a = plan.evaluation.attestation, let request = a.request {
                try Probe.attestationSupported(request, facts: record.device, file: a.file)
            }
            return plan
        }
        record.plan = plan
        let deadline = self.deadline
        let submission = timed("submit") {
            Submitter(client: client, runDirectory: config.runDirectory,
                      retry: RequestSubmitter(backoffInitial: config.backoffInitial, backoffCap: config.backoffCap,
                                              remaining: { BootRunner.seconds(until: deadline) }),
                      deadlineSeconds: config.timeout, log: log).run(plan)
        }
        record.submission = submission
        if let f = submission.failure { throw f }
        if policy.store.lock {
            try timed("lock") {
                record.store.locked = false
                _ = try StoreLock.step(client, log: log)
                record.store.locked = true
            }
        }
        record.store.verification = try timed("verify") {
            let list = try StoreVerifier.list(client)
            record.store.listedSecrets = list.entries.count
            let v = try StoreVerifier.verify(list, plan: plan, policy: policy, locked: record.store.locked ?? false)
            log.info("store verified: \(list.entries.count) secrets, as the policy says")
            return v
        }
        if policy.attestation.enabled {
            guard let request = try AttestStep.request(policy: policy, evaluation: plan.evaluation) else {
                log.info("attestation is optional and there is no attestation request \(policy.attestation.requestFile): not attesting")
                return
            }
            guard let verification = record.store.verification else {
                throw BootFailure(.internal, step: "attest", "the store was not verified; not attesting")
            }
            let facts = AttestStep.facts(policy: policy, plan: plan, submission: submission, store: record.store,
                                         verification: verification, hostKeyHashes: record.device.hostKeyHashes,
                                         requestSHA256: request.sha256)
            record.attestation = try timed("attest") {
                try AttestStep.run(client, request: request, facts: facts, policy: policy,
                                   runDirectory: config.runDirectory, log: log)
            }
        }
    }

    // MARK: - Steps

    func loadPolicy() throws -> Policy {
        do { return try Policy.load(path: config.policyPath) } catch {
            throw BootFailure(.config, step: "policy", "invalid policy \(config.policyPath): \(error)")
        }
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
    /// machine's host keys; a set that passes becomes the plan.
    func check(_ policy: Policy, _ fetched: FetchedRequests) throws -> SubmissionPlan {
        let hosts = record.device.hostKeyHashes
        let e = Evaluator(policy: policy, hostKeyHashes: hosts.isEmpty ? nil : hosts).evaluate(fetched.set)
        record.evaluation = e
        for p in e.allProblems { log.error(p.description) }
        return try SubmissionPlan(e, maxSecrets: record.device.maxSecrets)
    }

    // MARK: - Failure and report

    /// Removes the hand-off files the policy names (key files, credentials),
    /// overwriting them first, so that no secret survives a failed boot.
    func wipeHandoffs() {
        guard let policy = record.policy else { return }
        for s in policy.secrets {
            for a in s.actions {
                guard let path = a.handoffFile(in: config.handoff) else { continue }
                do {
                    switch try FileIO.wipeAndRemove(path, limit: Int.max) {
                    case .absent: break
                    case .overwritten: log.info("wiped \(path)")
                    case .unlinked: log.info("removed \(path) (not a regular file: nothing to overwrite)")
                    }
                } catch {
                    log.error("cannot wipe \(path): \(error)")
                }
            }
        }
    }

    func renderReport() -> JSON {
        BootReport.json(record, totalMilliseconds: Double(MonotonicClock.nanoseconds() - started) / 1e6)
    }

    /// Renders the report and writes it with the failure action; returns
    /// the report and its path, or nil when it could not be written (the
    /// run then fails, and the report returned says so).
    func writeReport() -> (JSON, String?) {
        let report = renderReport()
        let reportPath = config.runDirectory + "/report.json"
        do {
            // The failure action first: without it the failure handlers
            // power off, whatever the policy says (fail closed).
            try FileIO.writeAtomically(config.runDirectory + "/failure-action",
                                       Array((record.failureAction.rawValue + "\n").utf8), mode: 0o600)
            let bytes = Array(report.serialized().utf8)
            try FileIO.writeAtomically(reportPath, bytes, mode: 0o600)
            reportBytes = bytes
            return (report, reportPath)
        } catch {
            // No report is no evidence: a run that cannot write one fails,
            // and no report of an earlier run of this boot stays in place.
            log.error("cannot write the report: \(error)")
            unlink(reportPath)
            guard record.failure == nil else { return (report, nil) }
            record.failure = BootFailure(.io, step: "report", "cannot write the report to \(config.runDirectory): \(error)")
            wipeHandoffs()
            let failed = renderReport()
            reportBytes = Array(failed.serialized().utf8)
            return (failed, nil)
        }
    }
}
