import SEBase
import SECrypto
import ASRCodec
import SEVocabulary
import Attestation

/// The verdict on one request file.
public struct RequestVerdict: Sendable {
    public enum Role: String, Sendable { case secret, meta, ebcTOC = "ebc-toc", updateCCK = "update-cck", invalid }

    public let file: String
    public let sha256: [UInt8]
    public let request: AddSecretRequest?
    public var role: Role
    /// The policy's name for the secret, when the policy knows its ID.
    public var secretName: String?
    public var signer: String?
    /// Trust methods that vouched for it ("signed:NAME", "pinned", "ebc").
    public var trustedBy: [String] = []
    public var problems: [Problem] = []
    /// The request's freshness record (docs/formats.md), if it has a
    /// well-formed one, whoever wrote it.
    public var freshness: FreshnessRecord?
    /// What vouches for that record: "signed:NAME" (a verified signature of
    /// an allowed signer covers it) or "pinned" (the pin fixes its bytes);
    /// nil when nothing does — such a record proves nothing.
    public var freshnessVouchedBy: String?
    /// The epoch of a vouched-for record: what freshness rules compare.
    public var provenEpoch: UInt64? { freshnessVouchedBy == nil ? nil : freshness?.epoch }

    public var passed: Bool { problems.isEmpty }

    /// The verdict as JSON (`check --json`, the boot report). No secrets:
    /// only what is readable without a key.
    public var json: JSON {
        let r = request
        return .object([
            ("file", .string(file)),
            ("sha256", .string(sha256.hex)),
            ("pin_digest", JSON.hexOrNull(r?.pinDigest)),
            ("role", .string(role.rawValue)),
            ("secret_name", secretName.map { .string($0) } ?? .null),
            ("secret_id", JSON.hexOrNull(r?.secretID)),
            ("secret_type", r.map { .string($0.secretType.name) } ?? .null),
            ("user_data_type", r.map { .string($0.userDataType.name) } ?? .null),
            ("signer", signer.map { .string($0) } ?? .null),
            ("trusted_by", .array(trustedBy.map { .string($0) })),
            ("tag", JSON.hexOrNull(r?.gcmTag)),
            ("freshness", freshness.map { f in
                .object([("version", .int(Int64(f.version))), ("epoch", .int(Int64(f.epoch))),
                         ("vouched_by", freshnessVouchedBy.map { .string($0) } ?? .null)])
            } ?? .null),
            ("verdict", .string(passed ? "ok" : "fail")),
            ("problems", .array(problems.map(\.json))),
        ])
    }

    /// Name for display: the policy's name, a raw-name ID, or the ID's hex prefix.
    public var displaySecret: String {
        if let n = secretName { return n }
        guard let r = request else { return "-" }
        switch r.secretType {
        case .null: return "(meta)"
        case .updateCCK: return "(update-cck)"
        default:
            guard let id = r.secretID else { return "-" }
            return SecretID.asRawName(id) ?? String(id.hex.prefix(16)) + "…"
        }
    }
}

/// An ignored file that holds an add-secret request: what it is, and why
/// the boot run would not submit it.
public struct MisnamedNote: Sendable, CustomStringConvertible {
    /// The file's name, escaped for display.
    public let file: String
    public let secretName: String?
    public let secretID: [UInt8]?
    public let secretType: String
    public let message: String

    public var description: String { message }

    public var json: JSON {
        .object([
            ("file", .string(file)),
            ("secret_name", secretName.map { .string($0) } ?? .null),
            ("secret_id", JSON.hexOrNull(secretID)),
            ("secret_type", .string(secretType)),
            ("message", .string(message)),
        ])
    }
}

/// The verdict on the tenant's attestation request.
public struct AttestationVerdict: Sendable {
    public let file: String
    public let sha256: [UInt8]
    /// The parsed request (nil when it is malformed).
    public var request: AttestationRequestFile?
    public var problems: [Problem] = []
    public var passed: Bool { problems.isEmpty }

    public var json: JSON {
        .object([
            ("file", .string(file)),
            ("sha256", .string(sha256.hex)),
            ("additional_data", request.map { .array($0.arcb.flags.additionalDataNames.map { .string($0) }) } ?? .null),
            ("keyslots", request.map { .array($0.arcb.keyslots.map { .string($0.hostKeyHash.hex) }) } ?? .null),
            ("verdict", .string(passed ? "ok" : "fail")),
            ("problems", .array(problems.map(\.json))),
        ])
    }
}

/// The result of checking a request set against the policy.
public struct Evaluation: Sendable {
    public var policyDigest: [UInt8]
    public var verdicts: [RequestVerdict]
    /// Problems not tied to one request file (completeness, count, EBC toc).
    public var problems: [Problem]
    /// File names in the order they are to be submitted.
    public var submissionOrder: [String]
    /// The attestation secret-store hash after submitting in that order and
    /// (if the policy says so) locking.
    public var secretStoreHash: [UInt8]
    public var lockStore: Bool
    /// The distinct epochs of the vouched-for freshness records, ascending
    /// (one, when `trust.same_epoch` holds and the set passes).
    public var epochs: [UInt64] = []
    /// The tenant's attestation request, when the policy attests and the
    /// file is there (nil otherwise; a missing required one is a problem).
    public var attestation: AttestationVerdict? = nil
    /// Whether the requests' host binding was checked (host-key hashes were
    /// given) and their image binding (an SE header's tags were given).
    /// What was not checked passes here and is the ultravisor's to refuse.
    public var hostBindingChecked = false
    public var imageBindingChecked = false
    /// Ignored files that hold add-secret requests (`RequestSet.misnamed`):
    /// notes, not problems (the boot run ignores them the same way).
    public var misnamed: [MisnamedNote] = []

    public var allProblems: [Problem] { problems + verdicts.flatMap(\.problems) + (attestation?.problems ?? []) }
    public var passed: Bool { allProblems.isEmpty }

    public func verdict(for file: String) -> RequestVerdict? { verdicts.first { $0.file == file } }
}

/// Checks a request set against a policy: structure, completeness,
/// whitelisting, kinds and lengths, trust, flags, config UID, (when host
/// key hashes are known) whether each request can be decrypted here, and
/// (when an SE header's tags are known: `check --se-header`) whether each is
/// bound to that image.
public struct Evaluator {
    public let policy: Policy
    /// Host-key hashes of the target machine(s); nil when unknown.
    public let hostKeyHashes: [[UInt8]]?
    /// The SE-header tags of the image the requests are for; nil when
    /// unknown (the boot run: the ultravisor checks the binding there).
    public let imageTags: SEHeaderTags?

    /// Policy secrets by ID.
    let rulesByID: [[UInt8]: Policy.SecretRule]

    public init(policy: Policy, hostKeyHashes: [[UInt8]]? = nil, imageTags: SEHeaderTags? = nil) {
        self.policy = policy
        self.hostKeyHashes = hostKeyHashes
        self.imageTags = imageTags
        var byID: [[UInt8]: Policy.SecretRule] = [:]
        for s in policy.secrets where s.type != .updateCCK { byID[s.id] = s }
        rulesByID = byID
    }

    public func evaluate(_ set: RequestSet) -> Evaluation {
        var global: [Problem] = []
        var verdicts: [RequestVerdict] = []

        if set.requests.count > policy.requests.maxRequests {
            global.append(Problem(.tooManyRequests,
                "\(set.requests.count) request files, but the policy allows at most \(policy.requests.maxRequests)"))
        }

        // Parse every file once.
        for f in set.requests {
            do {
                let r = try AddSecretRequest.parse(f.bytes)
                verdicts.append(RequestVerdict(file: f.name, sha256: f.sha256, request: r, role: .secret))
            } catch {
                var v = RequestVerdict(file: f.name, sha256: f.sha256, request: nil, role: .invalid)
                v.problems.append(Problem(.malformed, file: f.name, "not a valid add-secret request: \(error) (\(error.rule))"))
                verdicts.append(v)
            }
        }

        let ebc = policy.trust.ebc.flatMap { evaluateEBC($0, set: set, verdicts: verdicts, problems: &global) }

        for i in verdicts.indices where verdicts[i].request != nil {
            check(&verdicts[i], ebc: ebc)
        }
        let epochs = checkSameEpoch(&verdicts)
        // Hints for requests the policy does not name: which secret they
        // were probably meant for (a typo in the name makes another ID).
        var meantFor: [String: [String]] = [:]
        var hints: NameHints? = nil  // made once, on the first request that needs it
        for i in verdicts.indices {
            guard let r = verdicts[i].request, let id = r.secretID, verdicts[i].role == .secret,
                  let p = verdicts[i].problems.firstIndex(where: { $0.rule == RuleID.notWhitelisted.rawValue }) else { continue }
            if hints == nil { hints = NameHints(policy: policy) }
            guard let hint = hints!.hint(file: verdicts[i].file, id: id, type: r.secretType) else { continue }
            let old = verdicts[i].problems[p]
            verdicts[i].problems[p] = Problem(.notWhitelisted, file: old.file, old.message + "; " + hint.text)
            meantFor[hint.meant, default: []].append(verdicts[i].file)
        }

        // Duplicate IDs (and more than one CCK update).
        var byID: [[UInt8]: [Int]] = [:]
        for (i, v) in verdicts.enumerated() {
            guard let r = v.request, v.role == .secret || v.role == .updateCCK else { continue }
            byID[r.secretID ?? [UInt8](repeating: 0, count: 32), default: []].append(i)
        }
        for (_, idx) in byID where idx.count > 1 {
            let files = idx.map { verdicts[$0].file }
            for i in idx {
                let others = files.filter { $0 != verdicts[i].file }.joined(separator: ", ")
                verdicts[i].problems.append(Problem(.duplicateId, file: verdicts[i].file,
                    "secret \(verdicts[i].displaySecret) is also requested by \(others); each secret must come exactly once"))
            }
        }

        // The same request twice (a copy under another name, or another
        // file with the same GCM tag): the ultravisor's history and the
        // secret-store hash know each request once, so a set that lists one
        // twice would make `check`, the report and the store disagree.
        var byTag: [[UInt8]: [Int]] = [:]
        var tagOrder: [[UInt8]] = []
        for (i, v) in verdicts.enumerated() {
            guard let r = v.request else { continue }
            if byTag[r.gcmTag] == nil { tagOrder.append(r.gcmTag) }
            byTag[r.gcmTag, default: []].append(i)
        }
        for tag in tagOrder {
            guard let idx = byTag[tag], idx.count > 1 else { continue }
            let files = idx.map { verdicts[$0].file }
            for i in idx {
                let same = verdicts[idx.first { $0 != i }!].sha256 == verdicts[i].sha256
                let others = files.filter { $0 != verdicts[i].file }.joined(separator: ", ")
                verdicts[i].problems.append(Problem(.duplicateRequest, file: verdicts[i].file,
                    "is the same request as \(others) (\(same ? "identical bytes" : "the same GCM tag") \(String(tag.hex.prefix(16)))…); the ultravisor adds a request once, so each must come exactly once"))
            }
        }

        // Completeness.
        var presentIDs = Set<[UInt8]>()
        var cckPresent = false
        for v in verdicts {
            guard let r = v.request else { continue }
            if r.secretType == .updateCCK { cckPresent = true } else if let id = r.secretID { presentIDs.insert(id) }
        }
        let misnamed = set.misnamed.map(note)
        for rule in policy.secrets where rule.required {
            let present = rule.type == .updateCCK ? cckPresent : presentIDs.contains(rule.id)
            if !present {
                var message = "required secret \"\(rule.name)\" (\(rule.type.name)) has no request"
                let inMisnamed = set.misnamed.filter {
                    rule.type == .updateCCK ? $0.request.secretType == .updateCCK : $0.request.secretID == rule.id
                }.map { RequestSet.displayName($0.name) }
                if !inMisnamed.isEmpty {
                    message += "; \(inMisnamed.joined(separator: ", ")) \(inMisnamed.count == 1 ? "holds a request" : "hold requests") for it, but request files end in \(RequestSet.displayName(policy.requests.suffix)): \(inMisnamed.count == 1 ? "it is" : "they are") ignored"
                }
                if let files = meantFor[rule.name] {
                    message += "; \(files.map(RequestSet.displayName).joined(separator: ", ")) may be meant for it (see \(files.count == 1 ? "its" : "their") not-whitelisted problem)"
                }
                global.append(Problem(.missingRequired, message))
            }
        }

        let order = submissionOrder(verdicts, ebc: ebc)
        var tagByFile: [String: [UInt8]] = [:]
        for v in verdicts { if let r = v.request { tagByFile[v.file] = r.gcmTag } }
        let tags = order.compactMap { tagByFile[$0] }
        let hash = SecretStoreHash.compute(tags: tags, locked: policy.store.lock, sha512: Digest.sha512)
        set.problems.forEach { global.append($0) }
        let attestation = evaluateAttestation(set.attestationRequest, problems: &global)
        var evaluation = Evaluation(policyDigest: policy.digest, verdicts: verdicts.sorted { $0.file < $1.file }, problems: global,
                                    submissionOrder: order, secretStoreHash: hash, lockStore: policy.store.lock, epochs: epochs,
                                    attestation: attestation)
        evaluation.hostBindingChecked = hostKeyHashes != nil
        evaluation.imageBindingChecked = imageTags != nil
        evaluation.misnamed = misnamed
        return evaluation
    }

    /// What an ignored file that holds a request is, and why it is not submitted.
    func note(_ m: RequestSet.MisnamedRequest) -> MisnamedNote {
        let r = m.request
        let name: String? = r.secretType == .updateCCK ? policy.secrets.first { $0.type == .updateCCK }?.name
            : r.secretID.flatMap { rulesByID[$0]?.name }
        let what: String
        switch r.secretType {
        case .null: what = "meta"
        case .updateCCK: what = "update-CCK"
        default:
            let shown = name ?? r.secretID.map { SecretID.asRawName($0).map(Printable.escape) ?? String($0.hex.prefix(16)) + "…" } ?? "-"
            what = "secret \(shown), \(r.secretType.name)\(name == nil ? ", not named by the policy" : "")"
        }
        let file = RequestSet.displayName(m.name)
        return MisnamedNote(file: file, secretName: name, secretID: r.secretID, secretType: r.secretType.name,
            message: "\(file) looks like an add-secret request (\(what)), but request files end in \(RequestSet.displayName(policy.requests.suffix)): it is ignored, here and at boot")
    }

    // MARK: - The attestation request

    /// The policy's rules for the tenant's attestation request: there when
    /// required, well-formed, for this machine, pinned when the policy pins,
    /// and asking for the secret-store hash.
    func evaluateAttestation(_ file: RequestFile?, problems: inout [Problem]) -> AttestationVerdict? {
        let rules = policy.attestation
        guard rules.enabled else { return nil }
        guard let file else {
            if rules.mode == .required {
                problems.append(Problem(.attestationMissing, file: rules.requestFile,
                    "the policy requires attestation, and the request directory has no attestation request \(rules.requestFile)"))
            }
            return nil
        }
        var v = AttestationVerdict(file: file.name, sha256: file.sha256, request: nil)
        if rules.trust == .pinned, !rules.pinned.contains(file.sha256) {
            v.problems.append(Problem(.attestationNotPinned, file: file.name,
                "SHA-256 \(file.sha256.hex) is not in attestation.sha256"))
        }
        do {
            let request = try AttestationRequestFile.parse(file.bytes)
            v.request = request
            if !request.arcb.flags.contains(.secretStoreHash) {
                let asked = request.arcb.flags.additionalDataNames
                v.problems.append(Problem(.attestationNoStoreHash, file: file.name,
                    "the attestation request does not ask for the secret-store hash (it asks for \(asked.isEmpty ? "no additional data" : asked.joined(separator: ", "))); make it with --add-data secret-store-hash"))
            }
            if let hosts = hostKeyHashes, !request.arcb.hasKeyslot(forAnyOf: hosts) {
                let slots = request.arcb.keyslots.map { String($0.hostKeyHash.hex.prefix(16)) + "…" }.joined(separator: ", ")
                v.problems.append(Problem(.attestationForeignHost, file: file.name,
                    "no keyslot of the attestation request is for this machine (its keyslots: \(slots); this machine: \(hosts.map { String($0.hex.prefix(16)) + "…" }.joined(separator: ", ")))"))
            }
        } catch {
            v.problems.append(Problem(.attestationMalformed, file: file.name, "\(error)"))
        }
        return v
    }

    // MARK: - Per-request rules

    func check(_ v: inout RequestVerdict, ebc: EBCState?) {
        let r = v.request!
        let file = v.file
        var rule: Policy.SecretRule? = nil

        if let e = policy.trust.ebc, file == e.toc {
            v.role = .ebcTOC
        } else {
            switch r.secretType {
            case .null:
                v.role = .meta
                if !policy.store.allowMeta {
                    v.problems.append(Problem(.metaNotAllowed, file: file, "meta requests are not allowed by the policy (store.allow_meta)"))
                }
            case .updateCCK:
                v.role = .updateCCK
                if !policy.store.allowUpdateCCK {
                    v.problems.append(Problem(.updateCckNotAllowed, file: file, "update-CCK requests are not allowed by the policy (store.allow_update_cck)"))
                } else {
                    rule = policy.secrets.first { $0.type == .updateCCK }
                    if rule == nil {
                        v.problems.append(Problem(.notWhitelisted, file: file, "the policy names no update-cck secret"))
                    }
                }
            default:
                v.role = .secret
                rule = rulesByID[r.secretID!]
                if let rule {
                    v.secretName = rule.name
                    if rule.type != r.secretType {
                        v.problems.append(Problem(.wrongType, file: file,
                            "secret \"\(rule.name)\" must be \(rule.type.name), the request carries \(r.secretType.name)"))
                    } else if let len = rule.length, len != Int(r.secretHeader.length) {
                        v.problems.append(Problem(.wrongLength, file: file,
                            "secret \"\(rule.name)\" must have \(len) bytes, the request carries \(r.secretHeader.length)"))
                    }
                } else {
                    v.problems.append(Problem(.notWhitelisted, file: file,
                        "secret \(v.displaySecret) (ID \(r.secretID!.hex), \(r.secretType.name)) is not named by the policy"))
                }
            }
        }

        // Flags.
        if r.flags.unknownBits != 0 {
            v.problems.append(Problem(.flagNotAllowed, file: file,
                "request sets unknown flag bits 0x\(String(r.flags.unknownBits, radix: 16)) (the ultravisor would refuse it)"))
        }
        for f in policy.store.requiredFlags where !r.flags.names.contains(f) {
            v.problems.append(Problem(.missingFlag, file: file, "request lacks the required flag \(f)"))
        }
        // Config UID.
        if let cuid = policy.store.configUID, r.configUID != cuid {
            let have = r.boundConfigUID.map { $0.hex } ?? "none (not bound)"
            v.problems.append(Problem(.configUidMismatch, file: file,
                "request is bound to config UID \(have), the policy expects \(cuid.hex)"))
        }
        // Host keys.
        if let hosts = hostKeyHashes, !hosts.isEmpty, !r.hasKeyslot(forAnyOf: hosts) {
            v.problems.append(Problem(.noKeyslotForHost, file: file,
                "no keyslot is for the given host key(s); the request was made for other machines (\(r.keyslots.map { String($0.hostKeyHash.hex.prefix(16)) }.joined(separator: ", ")))"))
        }
        // The image: the SE-header tags the request carries are the ones the
        // ultravisor compares with the running image's.
        if let image = imageTags, r.tags != image {
            var differ: [String] = []
            if r.tags.tag != image.tag { differ.append("header tag") }
            if r.tags.pld != image.pld { differ.append("PLD") }
            if r.tags.ald != image.ald { differ.append("ALD") }
            if r.tags.tld != image.tld { differ.append("TLD") }
            v.problems.append(Problem(.otherImage, file: file,
                "the request is bound to another SE image (its SE-header tag \(String(r.tags.tag.hex.prefix(16)))…, the given image's \(String(image.tag.hex.prefix(16)))…; \(differ.joined(separator: ", ")) differ); the ultravisor would refuse it at boot (0x0108): make it with `pvsecret create --hdr` and this image"))
        }
        checkTrust(&v, rule: rule, ebc: ebc)
        checkFreshness(&v, rule: rule)
    }

    // MARK: - Freshness (docs/rotation.md)

    /// Reads the freshness record, says what vouches for it, and applies the
    /// floor (`trust.min_epoch`, the secret's `min_epoch`). Runs after the
    /// trust check: only a record covered by a signature that vouched for the
    /// request, or fixed by a pin that did, counts. A pinned request is as
    /// fresh as its pin and needs no record. The EBC table of contents is
    /// exempt: its user data is a policy reference.
    func checkFreshness(_ v: inout RequestVerdict, rule: Policy.SecretRule?) {
        guard v.role != .ebcTOC, let r = v.request else { return }
        let file = v.file
        do throws(RequestFormatError) {
            v.freshness = try r.freshnessRecord()
        } catch {
            v.problems.append(Problem(.badFreshnessRecord, file: file, "\(error)"))
            return
        }
        let pinned = v.trustedBy.contains("pinned")
        if v.freshness != nil {
            if let s = v.signer, v.trustedBy.contains("signed:" + s) { v.freshnessVouchedBy = "signed:" + s }
            else if pinned { v.freshnessVouchedBy = "pinned" }
        }
        var floors: [(UInt64, String)] = []
        if let m = policy.trust.minEpoch { floors.append((m, "trust.min_epoch")) }
        if let m = rule?.minEpoch { floors.append((m, "the min_epoch of secret \"\(rule!.name)\"")) }
        guard let (floor, source) = floors.max(by: { $0.0 < $1.0 }), !pinned else { return }
        let what = subject(v)
        guard let f = v.freshness else {
            v.problems.append(Problem(.staleRequest, file: file,
                "\(what) carries no freshness record, but \(source) requires epoch \(floor) or later; make the request with a signed freshness record (docs/rotation.md)"))
            return
        }
        guard v.freshnessVouchedBy != nil else {
            let why = r.userDataType.isSigned ? "its signature does not vouch for the request" : "the request is not signed (user-data type \(r.userDataType.name))"
            v.problems.append(Problem(.staleRequest, file: file,
                "\(what) carries epoch \(f.epoch), but \(why): only a record covered by a verified signature proves freshness, and \(source) requires epoch \(floor) or later"))
            return
        }
        if f.epoch < floor {
            v.problems.append(Problem(.staleRequest, file: file,
                "\(what) carries epoch \(f.epoch), older than the minimum \(floor) (\(source)): a request from before a rotation (a replay, or an old file left on the volume)"))
        }
    }

    /// With `trust.same_epoch` (the default) every vouched-for record in the
    /// set must carry the same epoch, and once one request proves an epoch,
    /// every other trusted request (pinned ones aside) must prove one too:
    /// old and new requests cannot be mixed. Returns the distinct epochs.
    func subject(_ v: RequestVerdict) -> String {
        switch v.role {
        case .meta: return "meta request"
        case .updateCCK: return "update-CCK request"
        default: return "secret \(v.displaySecret)"
        }
    }

    func checkSameEpoch(_ verdicts: inout [RequestVerdict]) -> [UInt64] {
        let all = Set(verdicts.compactMap(\.provenEpoch)).sorted()
        guard policy.trust.sameEpoch, !all.isEmpty else { return all }
        // Requests already refused for their record (stale, malformed) are
        // not held against the others.
        func judged(_ v: RequestVerdict) -> Bool {
            v.request != nil && v.role != .ebcTOC && !v.problems.contains { $0.rule == RuleID.badFreshnessRecord.rawValue || $0.rule == RuleID.staleRequest.rawValue }
        }
        let epochs = Set(verdicts.filter(judged).compactMap(\.provenEpoch)).sorted()
        func list(_ files: [String], _ epochs: [UInt64]) -> String {
            files.sorted().joined(separator: ", ") + (files.count == 1 ? " carries" : " carry") +
                " epoch " + epochs.map(String.init).joined(separator: ", ")
        }
        let snapshot = verdicts
        for i in verdicts.indices where judged(verdicts[i]) {
            let v = verdicts[i]
            if let e = v.provenEpoch {
                guard epochs.count > 1 else { continue }
                let others = snapshot.filter { judged($0) && $0.provenEpoch != nil && $0.provenEpoch != e }.map(\.file)
                verdicts[i].problems.append(Problem(.mixedEpochs, file: v.file,
                    "\(subject(v)) carries epoch \(e), but \(list(others, epochs.filter { $0 != e })); trust.same_epoch requires one epoch for the whole set (old and new requests mixed)"))
            } else if !epochs.isEmpty, !v.trustedBy.isEmpty, !v.trustedBy.contains("pinned") {
                let others = snapshot.filter { judged($0) && $0.provenEpoch != nil }.map(\.file)
                verdicts[i].problems.append(Problem(.mixedEpochs, file: v.file,
                    "\(subject(v)) carries no freshness record under its signature, but \(list(others, epochs)); trust.same_epoch requires one epoch for the whole set (an old request mixed with new ones)"))
            }
        }
        return all
    }

    func checkTrust(_ v: inout RequestVerdict, rule: Policy.SecretRule?, ebc: EBCState?) {
        let trust = policy.trust
        guard trust.require != .none else { return }
        let r = v.request!
        let file = v.file
        var failures: [Problem] = []
        var ok: [String] = []

        if v.role == .ebcTOC {
            // The toc is governed by the EBC section alone.
            if let e = ebc, e.tocTrusted { v.trustedBy = ["ebc"] } else {
                v.problems.append(Problem(.untrusted, file: file, "the EBC table of contents could not be established (see the EBC problems)"))
            }
            return
        }

        if trust.usesSignatures {
            if !r.userDataType.isSigned {
                failures.append(Problem(.unsigned, file: file,
                    "request is not signed (user-data type \(r.userDataType.name)) but the policy requires a signature"))
            } else {
                let candidates = trust.signers.filter { UserDataSignature.userDataType(for: $0.key.keyType) == r.userDataType }
                if candidates.isEmpty {
                    failures.append(Problem(.unknownSigner, file: file,
                        "signed with a \(r.userDataType.name) key, but the policy has no \(r.userDataType.name) signer"))
                } else if let s = candidates.first(where: { UserDataSignature.verify(r, with: $0.key) == .valid }) {
                    v.signer = s.name
                    if let allowed = rule?.signers, !allowed.contains(s.name) {
                        failures.append(Problem(.signerNotAllowed, file: file,
                            "signed by \"\(s.name)\", but secret \"\(rule!.name)\" only accepts \(allowed.joined(separator: ", "))"))
                    } else {
                        ok.append("signed:" + s.name)
                    }
                } else {
                    failures.append(Problem(.badSignature, file: file,
                        "the \(r.userDataType.name) signature does not verify with \(candidates.map { "\"\($0.name)\"" }.joined(separator: ", ")): tampered, or signed by an unknown key"))
                }
            }
        }
        if trust.usesPins {
            let pin = r.pinDigest
            if trust.pinned.contains(pin) { ok.append("pinned") } else {
                failures.append(Problem(.notPinned, file: file, "pin digest \(pin.hex) is not among the pinned digests"))
            }
        }
        if trust.ebc != nil {
            if let e = ebc, e.listedTags.contains(r.gcmTag) { ok.append("ebc") } else {
                failures.append(Problem(.ebcTagNotListed, file: file,
                    "tag \(r.gcmTag.hex) is not listed in the EBC table of contents" + (ebc == nil ? " (no usable table of contents)" : "")))
            }
        }
        v.trustedBy = ok
        switch trust.require {
        case .any: if ok.isEmpty { v.problems += failures }
        case .all: v.problems += failures
        case .none: break
        }
    }

    // MARK: - EBC

    struct EBCState {
        var tocTrusted = false
        var listedTags: [[UInt8]] = []
    }

    func evaluateEBC(_ e: Policy.EBCTrust, set: RequestSet, verdicts: [RequestVerdict], problems: inout [Problem]) -> EBCState? {
        guard let tocVerdict = verdicts.first(where: { $0.file == e.toc }) else {
            problems.append(Problem(.ebcTocMissing, file: e.toc, "the EBC table of contents \(e.toc) is missing"))
            return nil
        }
        guard let toc = tocVerdict.request else { return nil }  // already reported as malformed
        guard toc.secretType == .null, toc.userDataType == .unsigned else {
            problems.append(Problem(.ebcInvalid, file: e.toc,
                "an EBC table of contents is a meta request with unsigned user data, not \(toc.secretType.name) with \(toc.userDataType.name) user data"))
            return nil
        }
        if let pin = e.tocSHA256, pin != toc.pinDigest {
            problems.append(Problem(.ebcTocHash, file: e.toc, "pin digest \(toc.pinDigest.hex) differs from the policy's pin \(pin.hex)"))
            return nil
        }
        let ref: EBC.PolicyReference
        do { ref = try EBC.PolicyReference.parse(toc.userData.data) } catch {
            problems.append(Problem(error.rule, file: e.toc, error.message))
            return nil
        }
        guard let polFile = set.policyFiles.first(where: { $0.name == ref.path }) else {
            problems.append(Problem(.ebcPolicyMissing, file: e.toc, "references \(ref.path), which is not in the request directory"))
            return nil
        }
        guard polFile.sha256 == ref.sha256 else {
            problems.append(Problem(.ebcPolicyHash, file: polFile.name,
                "SHA-256 \(polFile.sha256.hex) differs from the \(ref.sha256.hex) that \(e.toc) references"))
            return nil
        }
        if let pin = e.policySHA256, pin != polFile.sha256 {
            problems.append(Problem(.ebcPolicyHash, file: polFile.name, "SHA-256 \(polFile.sha256.hex) differs from the policy's pin \(pin.hex)"))
            return nil
        }
        let tags: [[UInt8]]
        do { tags = try EBC.parseTOCPolicy(polFile.bytes) } catch {
            problems.append(Problem(.ebcInvalid, file: polFile.name, "\(error)"))
            return nil
        }
        var state = EBCState(tocTrusted: true, listedTags: [])
        for t in tags {
            if state.listedTags.contains(t) {
                problems.append(Problem(.ebcDuplicateTag, file: polFile.name, "tag \(t.hex) is listed more than once"))
                continue
            }
            state.listedTags.append(t)
            if !verdicts.contains(where: { $0.request?.gcmTag == t }) {
                problems.append(Problem(.ebcListedTagMissing, file: polFile.name, "lists tag \(t.hex), but no request has it"))
            }
        }
        return state
    }

    // MARK: - Order

    /// The EBC toc first; then, in the EBC layout, the requests its tag
    /// list names, in its order (as pvebc adds them: the tenant's tool
    /// decides, and `pvattest check --secret` in that order gives the same
    /// secret-store hash); then other meta requests by file name, the
    /// secrets in policy order, and a CCK update last (docs/policy.md,
    /// "Submission order").
    func submissionOrder(_ verdicts: [RequestVerdict], ebc: EBCState? = nil) -> [String] {
        var toc: [String] = [], meta: [String] = [], cck: [String] = []
        var secretFiles: [[UInt8]: [String]] = [:]
        var listed: [String] = []
        if let ebc {
            for tag in ebc.listedTags {
                if let v = verdicts.first(where: { $0.request?.gcmTag == tag && $0.role != .ebcTOC }) { listed.append(v.file) }
            }
        }
        for v in verdicts {
            guard let r = v.request else { continue }
            if v.role != .ebcTOC, listed.contains(v.file) { continue }
            switch v.role {
            case .ebcTOC: toc.append(v.file)
            case .meta: meta.append(v.file)
            case .updateCCK: cck.append(v.file)
            case .secret: if let id = r.secretID { secretFiles[id, default: []].append(v.file) }
            case .invalid: break
            }
        }
        var order = toc + listed + meta.sorted()
        for rule in policy.secrets where rule.type != .updateCCK {
            order += (secretFiles[rule.id] ?? []).sorted()
        }
        return order + cck.sorted()
    }
}
