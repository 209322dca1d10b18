import SEBase
import SecretPolicy
import UVDevice

/// Everything one boot run produced, step by step: each step's value, or
/// nil where the run stopped before it. The report and the summary line are
/// rendered from it, once, at the end.
public struct BootRecord: Sendable {
    public var policyPath: String
    public var policy: Policy?
    public var device = DeviceFacts()
    /// Whether the probe opened a device (the report's lock field is null
    /// without one: nothing could be locked).
    public var hadDevice = false
    public var fetched: FetchedRequests?
    /// The check's evaluation, also when it refused the set.
    public var evaluation: Evaluation?
    public var plan: SubmissionPlan?
    public var submission: Submission?
    public var store = StoreState()
    /// The attestation, when the policy asked for it and it was made.
    public var attestation: AttestationOutcome?
    public var timings: [(String, Double)] = []
    public var failure: BootFailure?

    public init(policyPath: String) { self.policyPath = policyPath }

    public var failureAction: Policy.FailureAction { policy?.onFailure ?? .poweroff }
}

/// The report (report.json) and the summary line, rendered from a record.
/// Never a secret: requests are named by file, SHA-256 and secret ID.
public enum BootReport {
    public static func json(_ r: BootRecord, totalMilliseconds total: Double) -> JSON {
        func ms(_ v: Double) -> JSON { .double((v * 1000).rounded() / 1000) }
        var requests: [JSON] = []
        if let e = r.evaluation {
            for v in e.verdicts {
                guard case var .object(m) = v.json else { continue }
                if let o = r.submission?.outcome(for: v.file) {
                    m += [("order", .int(Int64(o.item.order))), ("result", .string(o.result.name)),
                          ("uv_rc", o.rc.map { .string(rcHex($0)) } ?? .null),
                          ("retries", .int(Int64(o.retries))), ("milliseconds", .double(o.milliseconds))]
                } else {
                    m += [("result", .string(e.passed ? "not-submitted" : "refused-by-policy"))]
                }
                requests.append(.object(m))
            }
        }
        var store: [(String, JSON)] = [
            ("locked", r.store.locked.map { .bool($0) } ?? (r.hadDevice ? .bool(false) : .null)),
            ("locked_on_failure", .bool(r.store.lockedOnFailure)),
            ("earlier_run_may_have_added", .bool(r.store.earlierRunMayHaveAdded)),
            ("added_by_this_run", .int(Int64(r.submission?.addedCount ?? 0))),
            ("verified", .bool(r.store.verification != nil)),
            ("secrets", r.store.listedSecrets.map { .int(Int64($0)) } ?? .null),
        ]
        if r.failure == nil, let v = r.store.verification, let plan = r.plan {
            // What `pvattest check --secret <requests in this order> --secret-store-locked` expects.
            store.append(("secret_store_hash", .string(v.storeHash.hex)))
            store.append(("submission_order", .array(plan.items.map { .string($0.file) })))
        }
        var fetchInfo: [(String, JSON)] = []
        if let f = r.fetched {
            fetchInfo = [("source", .string(f.source)), ("filesystem", f.filesystem.map { .string($0) } ?? .null),
                         ("copy", .string(f.copyDirectory)),
                         ("ignored_files", .array(f.set.ignored.map { .string($0) }))]
        }
        return .object([
            ("report_version", .int(1)),
            ("tool", .string("se-secretd")),
            ("verdict", .string(r.failure == nil ? "ok" : "failed")),
            ("failure", r.failure.map { f in
                .object([("class", .string(f.failureClass.rawValue)), ("step", .string(f.step)), ("message", .string(f.message))])
            } ?? .null),
            ("on_failure", .string(r.failureAction.rawValue)),
            ("policy", .object([("file", .string(r.policyPath)), ("sha256", r.policy.map { .string($0.digest.hex) } ?? .null)])),
            ("device", .object(r.device.json)),
            ("host_key_hashes", .array(r.device.hostKeyHashes.map { .string($0.hex) })),
            ("requests_source", .object(fetchInfo)),
            ("requests", .array(requests)),
            ("problems", .array((r.evaluation?.allProblems ?? []).map(\.json))),
            ("store", .object(store)),
            ("attestation", attestationJSON(r)),
            ("results", r.policy.map { p in
                .object([("device", p.results.device.map { .string($0.description) } ?? .null),
                         ("console", .bool(p.results.console)), ("record", .string(ResultsOutput.recordFile))])
            } ?? .null),
            ("timings_ms", .object(r.timings.map { ($0.0, ms($0.1)) } + [("total", ms(total))])),
        ])
    }

    static func attestationJSON(_ r: BootRecord) -> JSON {
        guard let policy = r.policy else { return .null }
        var m: [(String, JSON)] = [("mode", .string(policy.attestation.mode.rawValue)),
                                   ("performed", .bool(r.attestation != nil))]
        if let a = r.attestation, case let .object(more) = a.json { m += more }
        else if policy.attestation.enabled {
            m.append(("request", .string(policy.attestation.requestFile)))
            // Read but not attested with (the run failed first): which request this
            // run had, so that the tenant can tell its own failed boot from another's.
            if let read = r.evaluation?.attestation { m.append(("request_sha256", .string(read.sha256.hex))) }
        }
        return .object(m)
    }

    /// The one line the console shows at the end of a run (also to the
    /// kernel log): the verdict, the store's state, the report's place.
    public static func summary(_ r: BootRecord, reportPath: String?) -> (BootLog.Level, String) {
        let locked = r.store.locked == true ? "locked" : "NOT locked"
        if let f = r.failure {
            let mayHold = r.submission?.storeMayHoldSecrets == true || r.store.lockedOnFailure
            let store = mayHold ? "; \(r.submission?.addedCount ?? 0) request(s) added\(unknownOutcomes(r.submission)), store \(locked)" : ""
            return (.error, "FAILED (\(f.failureClass.rawValue)) at \(f.step)\(store); the boot must stop: \(r.failureAction.rawValue). Report: \(reportPath ?? "none")")
        }
        let n = r.evaluation?.verdicts.count ?? 0
        let hash = r.store.verification.map { String($0.storeHash.hex.prefix(16)) } ?? ""
        let attested = r.attestation == nil ? "" : ", attested"
        return (.notice, "ok: \(n) requests checked and in the store, store \(locked)\(attested), secret-store hash \(hash)…; report \(reportPath ?? "none")")
    }

    static func unknownOutcomes(_ s: Submission?) -> String {
        let n = s?.unknownCount ?? 0
        return n == 0 ? "" : ", \(n) more may have been (the driver failed after the ultravisor may have acted)"
    }
}
