import SEBase
import SECrypto
import ASRCodec
import Attestation
import SecretPolicy
import ResultsRecord

/// The tenant's attestation request as `pvattest create` (or `se-secretd-dev
/// attestation create`) wrote it: the exchange file, its SHA-256 (what a
/// run's facts name) and its ARCB, parsed with the rules the guest applies.
public struct TenantRequest: Sendable {
    public let bytes: [UInt8]
    public let sha256: [UInt8]
    public let exchange: AttestationExchangeRequest
    public let arcb: AttestationRequest

    public typealias Invalid = AttestationRequestFile.Invalid

    /// Strict, as the guest reads it (`AttestationRequestFile`, the one reader).
    public static func parse(_ bytes: [UInt8]) throws(Invalid) -> TenantRequest {
        let file = try AttestationRequestFile.parse(bytes)
        return TenantRequest(bytes: bytes, sha256: Digest.sha256(bytes), exchange: file.exchange, arcb: file.arcb)
    }
}

/// What the tenant hands over as evidence, already read.
public enum Evidence: Sendable {
    /// An attestation response in pvattest's exchange format (no record: no
    /// report, no facts).
    case response([UInt8])
    /// A results record (a results device's first bytes or a record file;
    /// bytes after the record are ignored).
    case resultsRecord([UInt8])
    /// A console or kernel log with framed record lines (`ConsoleFrame`).
    case consoleLog([UInt8])
}

/// Everything `TenantVerifier.verify` needs, read by the caller.
public struct VerificationInput: Sendable {
    public var evidence: Evidence
    public var request: TenantRequest
    /// The request's protection key (ARPK, 32 bytes): a secret, wiped with
    /// its buffer, never shown.
    public var protectionKey: SecureBytes
    /// The SE-header tags of the tenant's image (`SEHeader.tags(from:)`).
    public var imageTags: SEHeaderTags
    public var policy: Policy
    /// The tenant's request files for this boot (as on the request volume).
    public var requests: RequestSet
    /// The target machines' host-key hashes, when known.
    public var hostKeyHashes: [[UInt8]]?

    public init(evidence: Evidence, request: TenantRequest, protectionKey: SecureBytes, imageTags: SEHeaderTags, policy: Policy,
                requests: RequestSet, hostKeyHashes: [[UInt8]]? = nil) {
        self.evidence = evidence
        self.request = request
        self.protectionKey = protectionKey
        self.imageTags = imageTags
        self.policy = policy
        self.requests = requests
        self.hostKeyHashes = hostKeyHashes
    }
}

/// `se-secretd verify`: the tenant's check of a boot run, on any machine.
/// Pure: the inputs are read by the caller, nothing is written, no device.
/// docs/attestation.md, "`se-secretd verify`", says what each check proves.
public enum TenantVerifier {
    public static func verify(_ input: VerificationInput) -> VerificationResult {
        // The prediction does not depend on the evidence: once.
        // The guest checked the attestation request with the requests; the
        // tenant's copy of the directory need not hold it: it is --request.
        var set = input.requests
        if input.policy.attestation.enabled, set.attestationRequest == nil {
            set.attestationRequest = RequestFile(name: input.policy.attestation.requestFile, bytes: input.request.bytes)
        }
        let prediction = Prediction(Evaluator(policy: input.policy, hostKeyHashes: input.hostKeyHashes).evaluate(set))
        switch input.evidence {
        case let .response(bytes):
            var c = Checks()
            verifyResponse(bytes, facts: nil, factsAbsence: "a bare response carries no facts document", input, prediction, &c)
            return VerificationResult(checks: c.list, report: nil, record: nil)
        case let .resultsRecord(bytes):
            let record: ResultsRecord
            do { record = try ResultsRecord.parse(bytes) } catch {
                return unreadable("not a results record: \(error)", rule: error.rule.rawValue)
            }
            return verify(record, label: "the results record \(id(record))", input, prediction)
        case let .consoleLog(bytes):
            let records: [ResultsRecord]
            do { records = try ConsoleFrame.records(in: bytes) } catch {
                return unreadable("no results record in the log: \(error)", rule: error.rule.rawValue)
            }
            return choose(records, input, prediction)
        }
    }

    // MARK: - Records

    static func id(_ r: ResultsRecord) -> String { String(Digest.sha256(r.bytes).hex.prefix(16)) }

    static func responseARCB(_ r: ResultsRecord) -> [UInt8]? {
        guard let bytes = r[.attestationResponse] else { return nil }
        return try? AttestationExchangeResponse.parse(bytes).arcb
    }

    /// A log offers every record it completes, the latest first; the host
    /// may have added any. The one for this boot answers the tenant's own
    /// request: its response's ARCB is the request's, byte for byte. Of
    /// several, the first that verifies with its facts checked is taken,
    /// else the first that verifies, else the latest: a forged copy cannot
    /// hide the real one, nor, with the facts left out (the real response,
    /// a report of the host's own), the real one's facts. None, but a record
    /// without a response (a boot that failed before attesting): that one,
    /// for its report.
    static func choose(_ records: [ResultsRecord], _ input: VerificationInput, _ prediction: Prediction) -> VerificationResult {
        let n = records.count
        let answering = records.enumerated().filter { responseARCB($0.element) == input.request.exchange.arcb }
        if !answering.isEmpty {
            var first: VerificationResult? = nil
            var firstVerified: VerificationResult? = nil
            for (i, r) in answering {
                let more = answering.count > 1 ? "; \(answering.count) records answer it" : ""
                let result = verify(r, label: "record \(id(r)) (\(i + 1) of \(n) in the log, the latest first\(more))", input, prediction)
                if result.verdict == .verified {
                    if result.check(.facts)?.outcome == .pass { return result }
                    if firstVerified == nil { firstVerified = result }
                }
                if first == nil { first = result }
            }
            return firstVerified ?? first!
        }
        // A failed boot's record, preferably the one whose (unauthenticated) report names
        // the tenant's request: a log collects every boot's, and an earlier boot's failure
        // is not this one's.
        let failed = records.filter { $0[.attestationResponse] == nil }
        let mine = failed.first { $0[.report].map(ReportInfo.read)?.attestationRequestSHA256 == input.request.sha256 }
        if let chosen = mine ?? failed.first {
            let which = mine == nil ? "the latest" : "the latest whose report names your request"
            return verify(chosen, label: "record \(id(chosen)) (\(which) of \(n) in the log without an attestation response; none answers your request)",
                          input, prediction)
        }
        var c = Checks()
        c.add(.record, .fail, "none of the \(n) record\(n == 1 ? "" : "s") in the log answers your attestation request (their responses are for other requests: another boot's, or replayed)",
              rule: "no-record-for-request")
        c.skipRest("no record to check")
        return VerificationResult(checks: c.list, report: nil, record: nil)
    }

    static func unreadable(_ message: String, rule: String) -> VerificationResult {
        var c = Checks()
        c.add(.record, .fail, message, rule: rule)
        c.skipRest("no record to check")
        return VerificationResult(checks: c.list, report: nil, record: nil)
    }

    static func verify(_ record: ResultsRecord, label: String, _ input: VerificationInput, _ prediction: Prediction) -> VerificationResult {
        var c = Checks()
        let kinds = record.entries.map(\.kind.description).joined(separator: ", ")
        c.add(.record, .pass, "\(label): \(kinds)")
        let report = record[.report].map(ReportInfo.read)
        guard let response = record[.attestationResponse] else {
            var says = report.map { "; its report (unauthenticated) says: \($0.summary)" } ?? "; it has no report either"
            if let report {
                switch report.attestationRequestSHA256 {
                case input.request.sha256?: says += "; the report names your attestation request"
                case let other?: says += "; the report names another attestation request (SHA-256 \(short(other))): another boot's record"
                case nil: says += "; the report names no attestation request (the run failed before reading one, or it is another boot's record)"
                }
            }
            c.add(.attestationResponse, .fail, "the record holds no attestation response: the run did not attest\(says)",
                  rule: "no-attestation-response")
            c.skipRest("no attestation response")
            return VerificationResult(checks: c.list, report: report, record: label)
        }
        c.add(.attestationResponse, .pass, "the record holds an attestation response (\(response.count) bytes)")
        verifyResponse(response, facts: record[.facts], factsAbsence: "the record has no facts document", input, prediction, &c)
        return VerificationResult(checks: c.list, report: report, record: label)
    }

    // MARK: - The response

    static func verifyResponse(_ bytes: [UInt8], facts: [UInt8]?, factsAbsence: String, _ input: VerificationInput,
                               _ prediction: Prediction, _ c: inout Checks) {
        let response: AttestationExchangeResponse
        do { response = try AttestationExchangeResponse.parse(bytes) } catch {
            c.add(.responseFormat, .fail, "not an attestation response in pvattest's exchange format: \(error)", rule: error.rule.rawValue)
            c.skipRest("the response does not parse")
            return
        }
        c.add(.responseFormat, .pass, "an exchange response: measurement \(response.measurement.count) bytes, additional data \(response.additionalData?.count ?? 0), user data \(response.userData?.count ?? 0), config UID \(response.configUID.hex)")

        let request = input.request
        guard response.arcb == request.exchange.arcb else {
            c.add(.requestMatch, .fail,
                  "the response answers another attestation request (ARCB SHA-256 \(short(Digest.sha256(response.arcb))), yours \(short(Digest.sha256(request.exchange.arcb)))): another boot's response, replayed, or made for a request that is not yours",
                  rule: "other-request")
            c.skipRest("the response is not for your request")
            return
        }
        c.add(.requestMatch, .pass, "the response answers your attestation request (ARCB SHA-256 \(short(Digest.sha256(request.exchange.arcb))))")

        // The ARCB is the tenant's own (parsed when it was read).
        let arcb = request.arcb
        let confidential: AttestationConfidential
        do { confidential = try arcb.decrypt(protectionKey: input.protectionKey) } catch {
            c.add(.measurement, .fail, "your protection key does not open the attestation request (another ARPK, or another request): \(error)",
                  rule: "wrong-protection-key")
            c.skipRest("the response is not authenticated")
            return
        }
        let userData = response.userData ?? []
        let additional = response.additionalData ?? []
        let items = MeasuredItems(tags: input.imageTags, configUID: response.configUID, userData: userData,
                                  nonce: confidential.nonce, additionalData: additional)
        let verified: Bool
        do { verified = try Measurement.verify(response.measurement, key: confidential.measurementKey, items: items,
                                               algorithm: arcb.measurementAlgorithm) } catch {
            c.add(.measurement, .fail, "the response's items cannot be measured: \(error)", rule: "bad-measurement-input")
            c.skipRest("the response is not authenticated")
            return
        }
        guard verified else {
            c.add(.measurement, .fail,
                  "the measurement does not verify: the guest was not booted from your image (SE-header tag \(short(input.imageTags.tag))), or the response's config UID, user data or additional data were changed",
                  rule: "measurement-mismatch")
            c.skipRest("the response is not authenticated")
            return
        }
        c.add(.measurement, .pass,
              "the ultravisor answered your request\(arcb.hasNonce ? " (its nonce)" : " (no nonce)") for your image (SE-header tag \(short(input.imageTags.tag))), with this config UID, user data and additional data")

        // Everything below is authenticated by the measurement.
        if let pinned = input.policy.store.configUID {
            if pinned == response.configUID {
                c.add(.configUID, .pass, "the config UID is the one the policy pins (\(pinned.hex))")
            } else {
                c.add(.configUID, .fail, "the config UID is \(response.configUID.hex), the policy pins \(pinned.hex)", rule: "other-config-uid")
            }
        } else {
            c.add(.configUID, .skipped, "the policy pins no config UID (store.config_uid); the guest's is \(response.configUID.hex)")
        }

        let fields: AdditionalData?
        do { fields = try AdditionalData.parse(additional, flags: arcb.flags) } catch { fields = nil }
        hostKeys(fields, arcb: arcb, input.hostKeyHashes, &c)

        var attested: [UInt8]? = nil
        if !arcb.flags.contains(.secretStoreHash) {
            let asked = arcb.flags.additionalDataNames
            c.add(.secretStoreHashRequested, .fail,
                  "your attestation request does not ask for the secret-store hash (it asks for \(asked.isEmpty ? "no additional data" : asked.joined(separator: ", "))): the store is not attested; make the request with --add-data secret-store-hash",
                  rule: "no-store-hash-requested")
        } else if let h = fields?.secretStoreHash {
            attested = h
            c.add(.secretStoreHashRequested, .pass, "your request asks for the secret-store hash; attested \(short(h))")
        } else {
            c.add(.secretStoreHashRequested, .fail,
                  "the additional data (\(additional.count) bytes) does not hold the fields your request asks for (\(arcb.additionalDataSize) bytes)",
                  rule: "bad-additional-data")
        }
        let storeLocked = store(attested, prediction, policy: input.policy, &c)
        runBindingAndFacts(userData, facts: facts, factsAbsence: factsAbsence, attested: attested, storeLocked: storeLocked,
                           input, prediction, &c)
    }

    static func hostKeys(_ fields: AdditionalData?, arcb: AttestationRequest, _ hosts: [[UInt8]]?, _ c: inout Checks) {
        guard let hosts, !hosts.isEmpty else {
            c.add(.hostKeys, .skipped, "no host-key documents given (-k): which machine answered is not checked")
            return
        }
        let named: [(String, [UInt8]?)] = [("image", AttestationFlags.imagePHKH, fields?.imagePHKH),
                                           ("attestation", AttestationFlags.attestationPHKH, fields?.attestationPHKH)]
            .filter { arcb.flags.contains($0.1) }.map { ($0.0, $0.2) }
        guard !named.isEmpty else {
            c.add(.hostKeys, .skipped, "your request asks for no host-key hash (phkh-img, phkh-att): which machine answered is not attested")
            return
        }
        for (what, hash) in named {
            guard let hash, hosts.contains(hash) else {
                c.add(.hostKeys, .fail, "the \(what) host-key hash \(hash.map(short) ?? "(missing)") is not one of the given host keys",
                      rule: "other-host")
                return
            }
        }
        c.add(.hostKeys, .pass, "the \(named.map(\.0).joined(separator: " and ")) host-key hash\(named.count == 1 ? " is" : "es are") of the given host keys")
    }

    /// store-locked and store-contents. Returns whether the store was
    /// locked when that is known (nil: not known).
    static func store(_ attested: [UInt8]?, _ p: Prediction, policy: Policy, _ c: inout Checks) -> Bool? {
        guard let attested else {
            c.add(.storeLocked, .skipped, "no attested secret-store hash")
            c.add(.storeContents, .skipped, "no attested secret-store hash")
            return nil
        }
        guard p.evaluation.passed else {
            let problems = p.evaluation.allProblems
            let first = problems.prefix(3).map(\.description).joined(separator: "; ")
            c.add(.storeLocked, .skipped, "no prediction: your requests do not pass your policy")
            c.add(.storeContents, .fail,
                  "your requests do not pass your policy, so no store can be predicted (\(problems.count) problem\(problems.count == 1 ? "" : "s"): \(first)\(problems.count > 3 ? "; …" : ""))",
                  rule: "requests-fail-policy")
            return nil
        }
        let n = p.order.count
        let what = "\(n) request\(n == 1 ? "" : "s") in the policy's order (\(list(p.order)))"
        if attested == p.locked {
            c.add(.storeLocked, .pass, "the store was locked when attested: nothing can be added after")
            c.add(.storeContents, .pass, "the store holds exactly your \(what)")
            return true
        }
        if attested == p.unlocked {
            c.add(.storeLocked, .fail,
                  "the store was not locked when attested: more secrets could be added after\(policy.store.lock ? "" : " (your policy does not lock it: store.lock is false)")",
                  rule: "store-not-locked")
            c.add(.storeContents, .pass, "the store held exactly your \(what) (not locked)")
            return false
        }
        c.add(.storeLocked, .skipped, "cannot tell: the store is not the predicted one")
        c.add(.storeContents, .fail,
              "the attested secret-store hash \(short(attested)) is not the one for your \(what), locked (\(short(p.locked))) or not: a request is missing, extra, failed or in another order",
              rule: "store-differs")
        return nil
    }

    static func runBindingAndFacts(_ userData: [UInt8], facts: [UInt8]?, factsAbsence: String, attested: [UInt8]?, storeLocked: Bool?,
                                   _ input: VerificationInput, _ p: Prediction, _ c: inout Checks) {
        let binding: RunBinding
        do { binding = try RunBinding.parse(userData) } catch {
            c.add(.runBinding, .fail, "the user data is not an se-secretd run binding (\(error)): the response was not made by a boot run (pvattest perform?)",
                  rule: "no-run-binding")
            c.add(.facts, .skipped, "no run binding to check a facts document against")
            return
        }
        guard binding.policySHA256 == input.policy.digest else {
            c.add(.runBinding, .fail, "the run used another policy (SHA-256 \(short(binding.policySHA256))), not yours (\(short(input.policy.digest)))",
                  rule: "other-policy")
            c.add(.facts, .skipped, "the run used another policy")
            return
        }
        c.add(.runBinding, .pass, "the run bound your policy (SHA-256 \(short(binding.policySHA256))) and facts \(short(binding.factsSHA256))")

        guard let factsBytes = facts else {
            c.add(.facts, .skipped,
                  "\(factsAbsence): the requests' names and outcomes are not checked (the secret-store hash still proves the contents)")
            return
        }
        func fail(_ m: String, _ rule: String) { c.add(.facts, .fail, m, rule: rule) }
        guard Digest.sha256(factsBytes) == binding.factsSHA256 else {
            return fail("the facts document (SHA-256 \(short(Digest.sha256(factsBytes)))) is not the one the run bound (\(short(binding.factsSHA256)))", "facts-digest")
        }
        let f: RunFacts
        do { f = try RunFacts.parse(factsBytes) } catch {
            return fail("the bound facts document does not read: \(error)", "bad-facts")
        }
        guard f.policySHA256 == input.policy.digest else {
            return fail("the facts name another policy (\(short(f.policySHA256)))", "facts-policy")
        }
        guard f.attestationRequestSHA256 == input.request.sha256 else {
            return fail("the facts name another attestation request file (SHA-256 \(short(f.attestationRequestSHA256)), yours \(short(input.request.sha256)))",
                        "facts-request")
        }
        let said = f.requests.map(\.sha256)
        let orders = f.requests.map(\.order)
        guard said == p.digests, orders == Array(stride(from: 1, through: said.count, by: 1)) else {
            let i = zip(said, p.digests).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(said.count, p.digests.count)
            let at = i < f.requests.count ? " (first difference at position \(i + 1): \(Printable.escape(f.requests[i].file)))" : ""
            return fail("the facts list \(said.count) request\(said.count == 1 ? "" : "s"), not your \(p.digests.count) in the policy's order\(at)",
                        "facts-requests")
        }
        if let attested, f.secretStoreHash != attested {
            return fail("the facts' secret-store hash \(short(f.secretStoreHash)) is not the attested one (\(short(attested)))", "facts-store-hash")
        }
        if let storeLocked, f.storeLocked != storeLocked {
            return fail("the facts say the store was \(f.storeLocked ? "" : "not ")locked; the attestation says otherwise", "facts-store")
        }
        c.add(.facts, .pass,
              "the bound facts document: your policy, your request file, \(said.count) request\(said.count == 1 ? "" : "s") in the policy's order (\(list(f.requests.map(\.file)))), the attested store")
    }

    // MARK: - Helpers

    /// The evaluation of the tenant's requests and the two store hashes they predict.
    struct Prediction {
        let evaluation: Evaluation
        let order: [String]
        let digests: [[UInt8]]
        let locked: [UInt8]
        let unlocked: [UInt8]

        init(_ e: Evaluation) {
            evaluation = e
            order = e.submissionOrder
            let verdicts = order.map { e.verdict(for: $0) }
            digests = verdicts.compactMap { $0?.sha256 }
            let tags = verdicts.compactMap { $0?.request?.gcmTag }
            locked = SecretStoreHash.compute(tags: tags, locked: true, sha512: Digest.sha512)
            unlocked = SecretStoreHash.compute(tags: tags, locked: false, sha512: Digest.sha512)
        }
    }

    struct Checks {
        var list: [VerificationCheck] = []
        mutating func add(_ id: CheckID, _ outcome: VerificationCheck.Outcome, _ message: String, rule: String? = nil) {
            list.append(VerificationCheck(id, outcome, message, rule: rule))
        }
        /// Every check not yet listed, skipped for `reason`, in order.
        mutating func skipRest(_ reason: String) {
            let seen = Set(list.map(\.id))
            let applicable: [CheckID] = CheckID.allCases.filter { !seen.contains($0) }
            for id in applicable where !(id == .record || id == .attestationResponse) || seen.contains(.record) {
                add(id, .skipped, "not checked: \(reason)")
            }
        }
    }

    static func short(_ b: [UInt8]) -> String { String(b.hex.prefix(16)) + "…" }

    static func list(_ names: [String]) -> String {
        let shown = names.prefix(8).map { Printable.escape($0) }.joined(separator: ", ")
        return names.count > 8 ? shown + ", … (\(names.count - 8) more)" : (names.isEmpty ? "none" : shown)
    }
}
