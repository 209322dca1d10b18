import Foundation
import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import SecretPolicy
import ResultsRecord
import RequestBuilding
import TenantVerification
import TestSupport

/// `TenantVerifier`: a whole boot run on a simulated machine (requests
/// added in the policy's order, the store locked, the facts document, ATT
/// with the run binding, the results record), then the tenant's check of
/// it, and each way the evidence can be wrong, refused by its own check.
@Suite struct TenantVerifierTests {
    static let recordChecks: [CheckID] = CheckID.allCases

    @Test func aRunAsTheBootRunDoesItIsVerified() throws {
        let run = try BootRunEvidence()
        let r = try run.verify(.resultsRecord(try run.record.bytes))
        #expect(r.verdict == .verified, "\(r.text)")
        #expect(r.checks.map(\.id) == Self.recordChecks)
        for id in CheckID.allCases where id != .configUID && id != .hostKeys {
            #expect(r.outcomes[id] == .pass, "\(id): \(r.message(id))")
        }
        // The policy pins no config UID and no host keys were given: not checked, said so.
        #expect(r.outcomes[.configUID] == .skipped && r.message(.configUID).contains("pins no config UID"))
        #expect(r.outcomes[.hostKeys] == .skipped)
        #expect(r.report?.verdict == "ok")
        #expect(r.text.hasSuffix("verdict: VERIFIED\n"))
        // The facts' names are the run's: the message lists them in order.
        #expect(r.message(.facts).contains(run.order.prefix(3).joined(separator: ", ")))
        #expect(r.message(.storeContents).contains("\(run.order.count) requests"))
    }

    @Test func aResultsDeviceWithAnOlderTailAndABareResponseVerifyToo() throws {
        let run = try BootRunEvidence()
        let device = try run.record.bytes + Random.bytes(4096)
        #expect(try run.verify(.resultsRecord(device)).verdict == .verified)
        // A bare response: no record checks, facts skipped with the reason.
        let bare = try run.verify(.response(run.response.bytes))
        #expect(bare.verdict == .verified, "\(bare.text)")
        #expect(bare.check(.record) == nil && bare.check(.attestationResponse) == nil)
        #expect(bare.outcomes[.facts] == .skipped)
        #expect(bare.message(.facts).contains("names and outcomes are not checked"))
        #expect(bare.message(.facts).contains("the secret-store hash still proves the contents"))
        #expect(bare.report == nil)
    }

    @Test func theHostKeysAreCheckedWhenGiven() throws {
        let run = try BootRunEvidence()
        let mine = try RequestKeys.hostKeyHash(Keys.host.publicKey)
        let ok = try run.verify(.resultsRecord(try run.record.bytes), hostKeyHashes: [mine])
        #expect(ok.verdict == .verified && ok.outcomes[.hostKeys] == .pass, "\(ok.text)")
        // Another machine's key: the requests have no keyslot for it (the check's rule)
        // and the attested hashes are not its.
        let other = try RequestKeys.hostKeyHash(Keys.otherHost.publicKey)
        let r = try run.verify(.resultsRecord(try run.record.bytes), hostKeyHashes: [other])
        #expect(r.verdict == .refused)
        #expect(r.rule(.hostKeys) == "other-host")
        #expect(r.rule(.storeContents) == "requests-fail-policy")
        #expect(r.message(.storeContents).contains("no-keyslot-for-host"))
    }

    @Test func anotherBootsResponseFailsTheRequestMatch() throws {
        let mine = try BootRunEvidence(), theirs = try BootRunEvidence()
        let r = try mine.verify(.response(theirs.response.bytes))
        #expect(r.verdict == .refused)
        #expect(r.outcomes[.requestMatch] == .fail && r.rule(.requestMatch) == "other-request")
        #expect(r.outcomes[.measurement] == .skipped)
        #expect(r.outcomes[.storeContents] == .skipped)
        // The same through a results record: the record is theirs, it is not mine.
        let rec = try mine.verify(.resultsRecord(try theirs.record.bytes))
        #expect(rec.rule(.requestMatch) == "other-request")
        // In a log, a record for another request is not taken at all.
        let log = try mine.verify(.consoleLog(try consoleLog([try theirs.record])))
        #expect(log.verdict == .refused)
        #expect(log.rule(.record) == "no-record-for-request")
        #expect(log.checks.count == CheckID.allCases.count)
        #expect(log.checks.dropFirst().allSatisfy { $0.outcome == .skipped })
    }

    @Test func aFlippedByteOfUserDataAdditionalDataOrConfigUIDFailsTheMeasurement() throws {
        let run = try BootRunEvidence()
        let changes: [(String, (inout [UInt8]?, inout [UInt8]?, inout [UInt8]) -> Void)] = [
            ("user data", { u, _, _ in u![50] ^= 1 }),
            ("additional data", { _, a, _ in a![70] ^= 0x80 }),
            ("config UID", { _, _, c in c[0] ^= 1 }),
        ]
        for (what, change) in changes {
            let r = try run.verify(.response(try run.response(change).bytes))
            #expect(r.verdict == .refused, "\(what)")
            #expect(r.rule(.measurement) == "measurement-mismatch", "\(what): \(r.text)")
            // Nothing the response says is taken after that.
            #expect(r.outcomes[.storeLocked] == .skipped && r.outcomes[.runBinding] == .skipped, "\(what)")
        }
        // Unchanged, the same path verifies (the change is what fails).
        #expect(try run.verify(.response(try run.response { _, _, _ in }.bytes)).verdict == .verified)
    }

    @Test func anotherProtectionKeyOrAnotherImageFailsTheMeasurement() throws {
        let run = try BootRunEvidence()
        let evidence = Evidence.resultsRecord(try run.record.bytes)
        let key = try run.verify(evidence, protectionKey: Random.secureBytes(32))
        #expect(key.verdict == .refused)
        #expect(key.rule(.measurement) == "wrong-protection-key")
        var tags = try SEHeader.tags(from: run.deployment.seHeader)
        tags.tag[3] ^= 1
        let image = try run.verify(evidence, tags: tags)
        #expect(image.rule(.measurement) == "measurement-mismatch")
        #expect(image.message(.measurement).contains("not booted from your image"))
    }

    @Test func aStoreThatWasNotLockedFailsStoreLocked() throws {
        let run = try BootRunEvidence(.shared, .init(lock: false))
        let r = try run.verify(.resultsRecord(try run.record.bytes))
        #expect(r.verdict == .refused)
        #expect(r.outcomes[.storeLocked] == .fail && r.rule(.storeLocked) == "store-not-locked")
        #expect(r.outcomes[.storeContents] == .pass)
        // The run's facts say "not locked" as well, and the facts are the bound ones.
        #expect(r.outcomes[.facts] == .pass, "\(r.message(.facts))")
    }

    @Test func aMissingOrReorderedRequestFailsStoreContents() throws {
        let order = Deployment.shared.evaluation.submissionOrder
        #expect(order.count >= 3)
        let missing = try BootRunEvidence(.shared, .init(order: Array(order.dropLast())))
        let m = try missing.verify(.resultsRecord(try missing.record.bytes))
        #expect(m.verdict == .refused)
        #expect(m.rule(.storeContents) == "store-differs")
        #expect(m.outcomes[.storeLocked] == .skipped)
        var swapped = order
        swapped.swapAt(1, 2)
        let reordered = try BootRunEvidence(.shared, .init(order: swapped))
        let o = try reordered.verify(.resultsRecord(try reordered.record.bytes))
        #expect(o.rule(.storeContents) == "store-differs", "\(o.text)")
        // The tenant's own set must pass the policy: without a required request there is no prediction.
        let run = try BootRunEvidence()
        let required = try #require(order.first { $0.hasPrefix("luks-root") })
        let short = try run.verify(.resultsRecord(try run.record.bytes), set: Deployment.shared.requests(without: required))
        #expect(short.rule(.storeContents) == "requests-fail-policy")
        #expect(short.message(.storeContents).contains("luks-root"))
    }

    @Test func anotherPolicyFailsTheRunBinding() throws {
        let run = try BootRunEvidence()
        // The tenant's policy file differs by one byte of its text (its digest differs).
        var text = try FileIO.read(run.deployment.example.policyPath, limit: 1 << 20)
        text.insert(0x20, at: text.count - 1)
        let other = try Policy.parse(text)
        #expect(other.digest != run.deployment.policy.digest)
        let r = try run.verify(.resultsRecord(try run.record.bytes), policy: other)
        #expect(r.verdict == .refused)
        #expect(r.rule(.runBinding) == "other-policy")
        // A run that bound another policy, checked with the tenant's.
        let bound = try BootRunEvidence(.shared, .init(policyDigest: Digest.sha256(Array("another policy".utf8))))
        #expect(try bound.verify(.resultsRecord(try bound.record.bytes)).rule(.runBinding) == "other-policy")
        // A response made with other user data (pvattest perform -u) is no run binding.
        let plain = try BootRunEvidence(.shared, .init(userData: Array("boot 42".utf8)))
        let p = try plain.verify(.response(plain.response.bytes))
        #expect(p.rule(.runBinding) == "no-run-binding")
        #expect(p.outcomes[.measurement] == .pass && p.verdict == .refused)
    }

    @Test func tamperedOrLyingFactsFailTheFactsCheck() throws {
        let run = try BootRunEvidence()
        // The record's facts entry replaced by a changed copy (the binding does not cover it).
        var facts = try RunFacts.parse(run.facts)
        facts.requests[0].file = "renamed.asr"
        let tampered = try ResultsRecord([.init(.report, run.report), .init(.attestationResponse, run.response.bytes),
                                          .init(.facts, facts.bytes)])
        let t = try run.verify(.resultsRecord(tampered.bytes))
        #expect(t.verdict == .refused)
        #expect(t.rule(.facts) == "facts-digest")
        // Facts the run bound, but that do not say what happened.
        let lies: [(String, (inout RunFacts) -> Void)] = [
            ("facts-requests", { $0.requests.swapAt(0, 1) }),
            // The right digests in the right places, numbered as if one went elsewhere.
            ("facts-requests", { $0.requests[0].order = $0.requests.count + 1 }),
            ("facts-request", { $0.attestationRequestSHA256 = Digest.sha256([1]) }),
            ("facts-policy", { $0.policySHA256 = Digest.sha256([2]) }),
            ("facts-store-hash", { $0.secretStoreHash = Digest.sha512([3]) }),
            ("facts-store", { $0.storeLocked = false }),
        ]
        for (rule, lie) in lies {
            let liar = try BootRunEvidence(.shared, .init(facts: lie))
            let r = try liar.verify(.resultsRecord(try liar.record.bytes))
            #expect(r.rule(.facts) == rule, "\(rule): \(r.message(.facts))")
            #expect(r.verdict == .refused, "\(rule)")
            #expect(r.outcomes[.storeContents] == .pass && r.outcomes[.runBinding] == .pass, "\(rule)")
        }
        // A record without facts: skipped, saying names are not checked; the verdict stands on the rest.
        let noFacts = try ResultsRecord([.init(.report, run.report), .init(.attestationResponse, run.response.bytes)])
        let n = try run.verify(.resultsRecord(noFacts.bytes))
        #expect(n.outcomes[.facts] == .skipped && n.message(.facts).contains("not checked"))
        #expect(n.verdict == .verified)
    }

    @Test func aRequestWithoutTheStoreHashIsRefused() throws {
        let run = try BootRunEvidence(.shared, .init(flags: [.imagePHKH]))
        let r = try run.verify(.resultsRecord(try run.record.bytes))
        #expect(r.verdict == .refused)
        #expect(r.outcomes[.measurement] == .pass)
        #expect(r.rule(.secretStoreHashRequested) == "no-store-hash-requested")
        #expect(r.outcomes[.storeLocked] == .skipped && r.outcomes[.storeContents] == .skipped)
    }

    @Test func theConfigUIDThePolicyPinsIsChecked() throws {
        let run = try BootRunEvidence(.pinned)
        let ok = try run.verify(.resultsRecord(try run.record.bytes))
        #expect(ok.verdict == .verified, "\(ok.text)")
        #expect(ok.outcomes[.configUID] == .pass)
        // A guest with another config UID than the policy pins (here: the other
        // deployment's machine, checked with this deployment's policy and requests).
        let elsewhere = try BootRunEvidence(.shared)
        let r = try elsewhere.verify(.resultsRecord(try elsewhere.record.bytes), policy: Deployment.pinned.policy, set: Deployment.pinned.set)
        #expect(r.outcomes[.measurement] == .pass)
        #expect(r.rule(.configUID) == "other-config-uid")
        #expect(r.message(.configUID).contains(Deployment.pinned.configUID.hex))
        #expect(r.verdict == .refused)
        // The config UID is measured: changed in the response, the measurement fails first.
        let changed = try run.response { _, _, c in c[15] ^= 1 }
        #expect(try run.verify(.response(changed.bytes)).rule(.measurement) == "measurement-mismatch")
    }

    @Test func aConsoleLogWithTwoRecordsGivesTheOneForTheRequest() throws {
        let a = try BootRunEvidence(), b = try BootRunEvidence()
        let log = try consoleLog([try a.record, try b.record])
        let ra = try a.verify(.consoleLog(log)), rb = try b.verify(.consoleLog(log))
        #expect(ra.verdict == .verified, "\(ra.text)")
        #expect(rb.verdict == .verified, "\(rb.text)")
        let idA = String(Digest.sha256(try a.record.bytes).hex.prefix(16)), idB = String(Digest.sha256(try b.record.bytes).hex.prefix(16))
        #expect(ra.record?.contains(idA) == true && ra.record?.contains("2 of 2") == true, "\(ra.record ?? "")")
        #expect(rb.record?.contains(idB) == true && rb.record?.contains("1 of 2") == true, "\(rb.record ?? "")")
        // A forged copy of a's record with a broken measurement, later in the log, does not hide it.
        let forgedResponse = try a.response { u, _, _ in u![10] ^= 1 }
        let forged = try ResultsRecord([.init(.report, a.report), .init(.attestationResponse, forgedResponse.bytes), .init(.facts, a.facts)])
        let withForgery = try a.verify(.consoleLog(try consoleLog([try a.record, forged])))
        #expect(withForgery.verdict == .verified, "\(withForgery.text)")
        #expect(withForgery.record?.contains(idA) == true)
        // Only the forgery: refused by the measurement.
        #expect(try a.verify(.consoleLog(try consoleLog([forged]))).rule(.measurement) == "measurement-mismatch")
        // A log without records.
        let none = try a.verify(.consoleLog(Array("[ 0.0] nothing here\n".utf8)))
        #expect(none.rule(.record) == "no-frame")
    }

    @Test func aCopyWithoutFactsLaterInTheLogDoesNotHideTheRealRecordsFacts() throws {
        let a = try BootRunEvidence()
        let idA = String(Digest.sha256(try a.record.bytes).hex.prefix(16))
        // The host's copy: the real response, no facts, a report of its own; written after the real record.
        let stripped = try ResultsRecord([.init(.report, try failedBootRecord("made up by the host")[.report]!),
                                          .init(.attestationResponse, a.response.bytes)])
        let r = try a.verify(.consoleLog(try consoleLog([try a.record, stripped])))
        #expect(r.verdict == .verified, "\(r.text)")
        #expect(r.outcomes[.facts] == .pass, "\(r.message(.facts))")
        #expect(r.record?.contains(idA) == true, "\(r.record ?? "")")
        #expect(r.report?.verdict == "ok")
        // Alone, the copy still verifies, with the facts skipped (as a bare response).
        let alone = try a.verify(.consoleLog(try consoleLog([stripped])))
        #expect(alone.verdict == .verified && alone.outcomes[.facts] == .skipped)
    }

    @Test func aFailedBootsRecordIsRefusedWithItsReportShown() throws {
        let run = try BootRunEvidence()
        let failed = try failedBootRecord("the requests violate the policy (1 problem): luks-root.asr is stale")
        let r = try run.verify(.resultsRecord(failed.bytes))
        #expect(r.verdict == .refused)
        #expect(r.outcomes[.record] == .pass)
        #expect(r.rule(.attestationResponse) == "no-attestation-response")
        #expect(r.message(.attestationResponse).contains("failed (policy) at check: the requests violate the policy"))
        #expect(r.report?.verdict == "failed" && r.report?.failureClass == "policy" && r.report?.failureStep == "check")
        #expect(r.text.contains("report (unauthenticated, information only): failed (policy) at check: the requests violate the policy"))
        #expect(r.checks.filter { $0.outcome != .skipped }.count == 2)
        // In a log with another boot's record for another request: the failed one is shown.
        let other = try BootRunEvidence()
        let log = try run.verify(.consoleLog(try consoleLog([failed, try other.record])))
        #expect(log.rule(.attestationResponse) == "no-attestation-response")
        #expect(log.report?.failureStep == "check")
        // A report never decides: a verified run with a report that says "failed" stays verified.
        let lying = try ResultsRecord([.init(.report, try failedBootRecord("made up")[.report]!),
                                       .init(.attestationResponse, run.response.bytes), .init(.facts, run.facts)])
        let v = try run.verify(.resultsRecord(lying.bytes))
        #expect(v.verdict == .verified && v.report?.verdict == "failed")
    }

    @Test func aReportsProblemsAreShownBoundedAndPrintable() throws {
        func report(_ problems: [JSON]) -> [UInt8] {
            Array(JSON.object([("verdict", .string("failed")), ("problems", .array(problems))]).serialized().utf8)
        }
        let one = ReportInfo.read(report([
            .object([("rule", .string("bad-signature")), ("file", .string("ssh.asr")), ("message", .string("the signature does not verify"))]),
            .object([("rule", .string("missing-required")), ("file", .null), ("message", .string("luks-root has no request\u{1b}[2J"))]),
            .object([("file", .string("no-rule.asr"))]),
            .string("not an object"),
        ]))
        #expect(one.problems == [ReportInfo.Problem(rule: "bad-signature", file: "ssh.asr", message: "the signature does not verify"),
                                 ReportInfo.Problem(rule: "missing-required", file: nil, message: "luks-root has no request\\x1b[2J")])
        #expect(one.moreProblems == 0)
        let many = ReportInfo.read(report((0..<(ReportInfo.maxProblems + 5)).map { i in .object([("rule", .string("r\(i)"))]) }))
        #expect(many.problems.count == ReportInfo.maxProblems && many.moreProblems == 5)
        #expect(many.problems.first?.rule == "r0")
        // Shown in the text and the JSON of a refused record.
        let run = try BootRunEvidence()
        let r = try run.verify(.resultsRecord(try ResultsRecord([.init(.report, report([
            .object([("rule", .string("bad-signature")), ("file", .string("ssh.asr")), ("message", .string("bad"))])]))]).bytes))
        #expect(r.text.contains("  problem [bad-signature] ssh.asr: bad\n"))
        guard case let .array(listed)? = r.json["report"]?["problems"] else { Issue.record("no problems in the JSON"); return }
        #expect(listed.first?["rule"] == .string("bad-signature") && listed.first?["file"] == .string("ssh.asr"))
        #expect(r.json["report"]?["more_problems"] == .int(0))
    }

    @Test func aBrokenRecordIsNamedWithItsRule() throws {
        let run = try BootRunEvidence()
        var bytes = try run.record.bytes
        bytes[bytes.count - 40] ^= 1
        let r = try run.verify(.resultsRecord(bytes))
        #expect(r.rule(.record) == "bad-checksum")
        #expect(r.verdict == .refused)
        let notResponse = try run.verify(.response(Array(repeating: 0x41, count: 100)))
        #expect(notResponse.rule(.responseFormat) == "bad-magic")
    }

    @Test func theJSONDocument() throws {
        let run = try BootRunEvidence()
        let j = try run.verify(.resultsRecord(try run.record.bytes)).json
        #expect(j["format"] == .string("se-secretd-verify"))
        #expect(j["version"] == .int(1))
        #expect(j["verdict"] == .string("verified"))
        guard case let .array(checks)? = j["checks"] else { Issue.record("no checks"); return }
        #expect(checks.map { $0["id"] } == CheckID.allCases.map { .string($0.rawValue) })
        #expect(checks.allSatisfy { $0["rule"] == .null })
        #expect(j["report"]?["authenticated"] == .bool(false))
        let refused = try run.verify(.resultsRecord(try run.record.bytes), protectionKey: Random.secureBytes(32)).json
        #expect(refused["verdict"] == .string("refused"))
        guard case let .array(rc)? = refused["checks"] else { Issue.record("no checks"); return }
        #expect(rc.first { $0["id"] == .string("measurement") }?["rule"] == .string("wrong-protection-key"))
    }
}

/// Every check id is documented, in the section of docs/attestation.md
/// that says what each proves (the ids are an interface).
@Suite struct VerifyDocumentationTests {
    @Test func docsListEveryCheckInOrder() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/attestation.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## `se-secretd verify`").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { $0.split(separator: "`")[1] }
        #expect(rows.map(String.init) == CheckID.allCases.map(\.rawValue))
        for id in CheckID.decisive { #expect(section.contains("`\(id.rawValue)`")) }
    }
}
