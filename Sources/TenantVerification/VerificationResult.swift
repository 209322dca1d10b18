import SEBase

/// The checks of `se-secretd verify`, in the order they run and are shown.
/// The raw values are stable (scripts read them; docs/attestation.md lists
/// what each proves and what it does not).
public enum CheckID: String, Sendable, CaseIterable, CustomStringConvertible {
    /// A results record or a console log: the record reads, and the one that
    /// answers the tenant's request is chosen.
    case record
    /// The chosen record holds an attestation response (a failed boot's has none).
    case attestationResponse = "attestation-response"
    /// The response is a well-formed pvattest exchange response.
    case responseFormat = "response-format"
    /// The response's ARCB is the tenant's request's, byte for byte.
    case requestMatch = "request-match"
    /// The ARCB opens with the tenant's protection key and the HMAC-SHA512
    /// over the image tags, config UID, user data, nonce and additional data verifies.
    case measurement
    /// The config UID the policy pins (store.config_uid), when it pins one.
    case configUID = "config-uid"
    /// With host-key documents: the attested host-key hashes are theirs.
    case hostKeys = "host-keys"
    /// The request asks for the secret-store hash, and the response carries it.
    case secretStoreHashRequested = "secret-store-hash-requested"
    /// The store was locked when attested.
    case storeLocked = "store-locked"
    /// The store holds exactly the tenant's requests, in the policy's order.
    case storeContents = "store-contents"
    /// The user data binds the run to the tenant's policy (and to the facts document).
    case runBinding = "run-binding"
    /// The record's facts document is the bound one and says what was predicted.
    case facts

    /// The checks that must pass (not only not fail) for a verified verdict.
    public static let decisive: [CheckID] = [.requestMatch, .measurement, .secretStoreHashRequested, .storeLocked,
                                             .storeContents, .runBinding]

    public var description: String { rawValue }
}

/// One check's outcome. `rule` names why a check failed (kebab-case, stable).
public struct VerificationCheck: Equatable, Sendable, CustomStringConvertible {
    public enum Outcome: String, Sendable {
        case pass, fail, skipped
    }

    public let id: CheckID
    public let outcome: Outcome
    public let message: String
    public let rule: String?

    public init(_ id: CheckID, _ outcome: Outcome, _ message: String, rule: String? = nil) {
        self.id = id
        self.outcome = outcome
        self.message = message
        self.rule = outcome == .fail ? rule : nil
    }

    /// "PASS id: message", "FAIL id: message [rule]", "SKIP id: message".
    public var description: String {
        let word: String
        switch outcome {
        case .pass: word = "PASS"
        case .fail: word = "FAIL"
        case .skipped: word = "SKIP"
        }
        return "\(word) \(id): \(message)" + (rule.map { " [\($0)]" } ?? "")
    }

    public var json: JSON {
        .object([("id", .string(id.rawValue)), ("outcome", .string(outcome.rawValue)), ("message", .string(message)),
                 ("rule", rule.map { .string($0) } ?? .null)])
    }
}

/// What the record's report entry says. Information only: nothing in a
/// report is authenticated (the host can write any record), so it never
/// decides the verdict.
public struct ReportInfo: Equatable, Sendable {
    /// "ok" or "failed" as the report says; nil if it says neither.
    public var verdict: String?
    public var failureClass: String?
    public var failureStep: String?
    public var failureMessage: String?
    /// Why the entry could not be read (not JSON, not an object).
    public var error: String?
    /// The attestation request the run read (`attestation.request_sha256`), when the report names one.
    public var attestationRequestSHA256: [UInt8]?
    /// The problems the report lists (the check's, by rule and file), at
    /// most `maxProblems`; `moreProblems` counts the rest.
    public var problems: [Problem] = []
    public var moreProblems = 0

    /// One problem as the report states it: the rule, the file, the message.
    public struct Problem: Equatable, Sendable {
        public var rule: String
        public var file: String?
        public var message: String?

        public init(rule: String, file: String? = nil, message: String? = nil) {
            self.rule = rule
            self.file = file
            self.message = message
        }

        var json: JSON {
            .object([("rule", .string(rule)), ("file", file.map { .string($0) } ?? .null), ("message", message.map { .string($0) } ?? .null)])
        }
    }

    public init(verdict: String? = nil, failureClass: String? = nil, failureStep: String? = nil, failureMessage: String? = nil,
                error: String? = nil) {
        self.verdict = verdict
        self.failureClass = failureClass
        self.failureStep = failureStep
        self.failureMessage = failureMessage
        self.error = error
    }

    /// Longest text taken from a report field (the host writes it).
    static let maxText = 1000
    /// Problems taken from a report (a host can list any number).
    public static let maxProblems = 32

    /// Reads a report entry (report.json as the boot run writes it). Strings
    /// are made printable and bounded: they come from outside.
    public static func read(_ bytes: [UInt8]) -> ReportInfo {
        let root: JSON
        do { root = try JSON.parse(bytes) } catch {
            return ReportInfo(error: "the report entry is not JSON: \(error)")
        }
        guard case .object = root else { return ReportInfo(error: "the report entry is not a JSON object") }
        func text(_ v: JSON?) -> String? {
            guard case let .string(s)? = v else { return nil }
            let p = Printable.line(s)
            return p.count > maxText ? String(p.prefix(maxText)) + "…" : p
        }
        var info = ReportInfo(verdict: text(root["verdict"]))
        if let f = root["failure"], case .object = f {
            info.failureClass = text(f["class"])
            info.failureStep = text(f["step"])
            info.failureMessage = text(f["message"])
        }
        if case let .string(hex)? = root["attestation"]?["request_sha256"], let sha = [UInt8](hex: hex), sha.count == 32 {
            info.attestationRequestSHA256 = sha
        }
        if case let .array(list)? = root["problems"] {
            for p in list {
                guard let rule = text(p["rule"]) else { continue }
                guard info.problems.count < maxProblems else { info.moreProblems += 1; continue }
                info.problems.append(Problem(rule: rule, file: text(p["file"]), message: text(p["message"])))
            }
        }
        return info
    }

    /// One line: "ok", "failed (policy) at check: …", or why it is unreadable.
    public var summary: String {
        if let error { return error }
        var s = verdict ?? "no verdict"
        if failureClass != nil || failureStep != nil || failureMessage != nil {
            s += " (\(failureClass ?? "?"))"
            if let step = failureStep { s += " at \(step)" }
            if let m = failureMessage { s += ": \(m)" }
        }
        return s
    }

    public var json: JSON {
        .object([
            ("authenticated", .bool(false)),
            ("verdict", verdict.map { .string($0) } ?? .null),
            ("failure", failureClass == nil && failureStep == nil && failureMessage == nil ? .null
                : .object([("class", failureClass.map { .string($0) } ?? .null), ("step", failureStep.map { .string($0) } ?? .null),
                           ("message", failureMessage.map { .string($0) } ?? .null)])),
            ("problems", .array(problems.map(\.json))),
            ("more_problems", .int(Int64(moreProblems))),
            ("error", error.map { .string($0) } ?? .null),
        ])
    }
}

/// The tenant's verdict on a boot run's evidence: every check in order, and
/// the record's report as information.
public struct VerificationResult: Sendable {
    public enum Verdict: String, Sendable {
        case verified, refused
    }

    public static let format = "se-secretd-verify"
    public static let version: Int64 = 1

    public let checks: [VerificationCheck]
    /// The record's report entry, when the evidence is a record that has one.
    public let report: ReportInfo?
    /// Which record was checked ("record 0123…(1 of 3)"), for a record or a log.
    public let record: String?

    public init(checks: [VerificationCheck], report: ReportInfo?, record: String?) {
        self.checks = checks
        self.report = report
        self.record = record
    }

    /// Verified only if no check failed and every decisive check passed.
    public var verdict: Verdict {
        guard !checks.contains(where: { $0.outcome == .fail }) else { return .refused }
        for id in CheckID.decisive where check(id)?.outcome != .pass { return .refused }
        return .verified
    }

    public func check(_ id: CheckID) -> VerificationCheck? { checks.first { $0.id == id } }

    /// The checks that failed, in order.
    public var failed: [VerificationCheck] { checks.filter { $0.outcome == .fail } }

    /// The decisive checks that did not pass (failed or skipped).
    public var decisiveNotPassed: [CheckID] { CheckID.decisive.filter { check($0)?.outcome != .pass } }

    public var json: JSON {
        .object([
            ("format", .string(Self.format)),
            ("version", .int(Self.version)),
            ("verdict", .string(verdict.rawValue)),
            ("record", record.map { .string($0) } ?? .null),
            ("checks", .array(checks.map(\.json))),
            ("report", report?.json ?? .null),
        ])
    }

    /// One line per check, the report (if any), and the verdict.
    public var text: String {
        var s = ""
        for c in checks { s += c.description + "\n" }
        if let r = report {
            s += "report (unauthenticated, information only): \(r.summary)\n"
            for p in r.problems {
                s += "  problem [\(p.rule)]" + (p.file.map { " \($0)" } ?? "") + (p.message.map { ": \($0)" } ?? "") + "\n"
            }
            if r.moreProblems > 0 { s += "  … and \(r.moreProblems) more problem\(r.moreProblems == 1 ? "" : "s")\n" }
        }
        switch verdict {
        case .verified:
            s += "verdict: VERIFIED\n"
        case .refused:
            let f = failed.map(\.id.rawValue)
            let why = f.isEmpty ? "not passed: " + decisiveNotPassed.map(\.rawValue).joined(separator: ", ")
                                : "failed: " + f.joined(separator: ", ")
            s += "verdict: REFUSED (\(why))\n"
        }
        return s
    }
}
