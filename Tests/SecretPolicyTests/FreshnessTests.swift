import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
@testable import SecretPolicy
import RequestBuilding

/// Freshness: trust.min_epoch, secrets[].min_epoch, trust.same_epoch
/// (docs/rotation.md).
@Suite struct FreshnessEvaluation {
    static func request(_ secret: RequestBuilder.Secret = Scenario.plain("luks-root"), epoch: UInt64?,
                        signer: PrivateKey? = Keys.tenant, rawUserData: [UInt8]? = nil) -> [UInt8] {
        var b = RequestBuilder(secret: secret, hostKeys: [Keys.host.publicKey], tags: fixedTags)
        if let s = signer { b.userData = .signed(rawUserData ?? [], key: s) }
        else if let d = rawUserData { b.userData = .unsigned(d) }
        b.epoch = epoch
        return try! b.build()
    }

    static func doc(trustExtra: String, secrets: [String] = [#"{"name": "luks-root", "type": "plain"}"#]) -> PolicyDoc {
        var d = PolicyDoc()
        let signer = JSON.string(Keys.tenant.publicKey.publicKeyPEM).serialized(pretty: false)
        d.trust = #"{"signers": [{"name": "tenant", "key": \#(signer)}]\#(trustExtra)}"#
        d.secrets = secrets
        return d
    }

    func problem(_ e: Evaluation, _ rule: String) -> Problem? { e.allProblems.first { $0.rule == rule } }

    @Test func staleRequestIsRefusedAndAFreshOneAccepted() throws {
        let s = try Scenario("fresh")
        let policy = try Self.doc(trustExtra: #", "min_epoch": 5"#).parse()
        s.write("luks.asr", Self.request(epoch: 4))
        let e = try s.evaluate(policy)
        #expect(e.rules == ["stale-request"], "\(e.allProblems)")
        let p = try #require(problem(e, "stale-request"))
        #expect(p.file == "luks.asr")
        #expect(p.message.contains("luks-root") && p.message.contains("epoch 4") && p.message.contains("minimum 5")
                && p.message.contains("trust.min_epoch"), "\(p.message)")

        for epoch: UInt64 in [5, 6] {  // epoch == minimum passes
            s.write("luks.asr", Self.request(epoch: epoch))
            let ok = try s.evaluate(policy)
            #expect(ok.passed, "epoch \(epoch): \(ok.allProblems)")
            #expect(ok.epochs == [epoch])
            let v = try #require(ok.verdict(for: "luks.asr"))
            #expect(v.freshness?.epoch == epoch && v.freshnessVouchedBy == "signed:tenant")
        }
    }

    @Test func largestMinimum() throws {
        let s = try Scenario()
        let policy = try Self.doc(trustExtra: #", "min_epoch": 9223372036854775807"#).parse()
        s.write("luks.asr", Self.request(epoch: 9_223_372_036_854_775_807))
        #expect(try s.evaluate(policy).passed)
        s.write("luks.asr", Self.request(epoch: 9_223_372_036_854_775_806))
        #expect(try s.evaluate(policy).rules == ["stale-request"])
    }

    @Test func epochBeyondTheRangeIsAMalformedRecord() throws {
        let s = try Scenario()
        var record = FreshnessRecord(epoch: 0).bytes
        record.replaceSubrange(16..<24, with: [UInt8](repeating: 0xFF, count: 8))  // UInt64.max
        s.write("luks.asr", Self.request(epoch: nil, rawUserData: record))
        let e = try s.evaluate(try Self.doc(trustExtra: #", "min_epoch": 1"#).parse())
        #expect(e.rules == ["bad-freshness-record"], "\(e.allProblems)")
        #expect(problem(e, "bad-freshness-record")?.file == "luks.asr")
    }

    @Test func malformedRecordIsRefusedEvenWithoutAMinimum() throws {
        let s = try Scenario()
        var record = FreshnessRecord(epoch: 3).bytes
        record[10] = 2  // unknown version
        s.write("luks.asr", Self.request(epoch: nil, rawUserData: record))
        let e = try s.evaluate(try Self.doc(trustExtra: "").parse())
        #expect(e.rules == ["bad-freshness-record"], "\(e.allProblems)")
        #expect(problem(e, "bad-freshness-record")?.message.contains("version 2") == true)
    }

    @Test func missingRecordWhenAMinimumIsSet() throws {
        let s = try Scenario()
        s.write("luks.asr", Self.request(epoch: nil))
        let e = try s.evaluate(try Self.doc(trustExtra: #", "min_epoch": 0"#).parse())
        #expect(e.rules == ["stale-request"])
        #expect(problem(e, "stale-request")?.message.contains("no freshness record") == true)
        // Without a minimum a request needs no record.
        #expect(try s.evaluate(try Self.doc(trustExtra: "").parse()).passed)
    }

    @Test func unsignedRecordProvesNothing() throws {
        let s = try Scenario()
        s.write("luks.asr", Self.request(epoch: 9, signer: nil))
        let e = try s.evaluate(try Self.doc(trustExtra: #", "min_epoch": 1"#).parse())
        #expect(e.rules == ["unsigned", "stale-request"], "\(e.allProblems)")
        let m = try #require(problem(e, "stale-request")).message
        #expect(m.contains("not signed") && m.contains("epoch 9") && m.contains("verified signature"), "\(m)")
        #expect(e.verdict(for: "luks.asr")?.freshnessVouchedBy == nil)
        #expect(e.epochs.isEmpty)
    }

    @Test func recordUnderAForeignSignatureProvesNothing() throws {
        let s = try Scenario()
        s.write("luks.asr", Self.request(epoch: 9, signer: Keys.stranger))
        let e = try s.evaluate(try Self.doc(trustExtra: #", "min_epoch": 1"#).parse())
        #expect(e.rules == ["bad-signature", "stale-request"], "\(e.allProblems)")
        #expect(problem(e, "stale-request")?.message.contains("signature does not vouch") == true)
    }

    /// A pin fixes the exact bytes of a request, its record included: a
    /// pinned request is as fresh as its pin and is exempt from the floor;
    /// a record in it counts (vouched for by the pin).
    @Test func pinnedRequestsAreAsFreshAsTheirPins() throws {
        let s = try Scenario()
        let old = s.write("luks.asr", Self.request(epoch: 1, signer: nil))
        let pin = try AddSecretRequest.parse(old.bytes).pinDigest.hex
        let policy = try Self.doc(trustExtra: #", "pinned_sha256": ["\#(pin)"], "min_epoch": 7"#).parse()
        let e = try s.evaluate(policy)
        #expect(e.passed, "\(e.allProblems)")
        #expect(e.verdict(for: "luks.asr")?.freshnessVouchedBy == "pinned")
        #expect(e.epochs == [1])
        // The same holds without a record.
        let bare = Self.request(epoch: nil, signer: nil)
        s.write("luks.asr", bare)
        let pin2 = try AddSecretRequest.parse(bare).pinDigest.hex
        #expect(try s.evaluate(try Self.doc(trustExtra: #", "pinned_sha256": ["\#(pin2)"], "min_epoch": 7"#).parse()).passed)
    }

    @Test func perSecretMinimum() throws {
        let s = try Scenario()
        let policy = try Self.doc(trustExtra: #", "min_epoch": 1"#, secrets: [
            #"{"name": "luks-root", "type": "plain", "min_epoch": 3}"#,
            #"{"name": "tls", "type": "plain"}"#,
        ]).parse()
        s.write("luks.asr", Self.request(epoch: 2))
        s.write("tls.asr", Self.request(Scenario.plain("tls"), epoch: 2))
        let e = try s.evaluate(policy)
        #expect(e.rules == ["stale-request"], "\(e.allProblems)")
        let p = try #require(problem(e, "stale-request"))
        #expect(p.file == "luks.asr" && p.message.contains("min_epoch of secret \"luks-root\"") && p.message.contains("minimum 3"))
    }

    @Test func metaRequestsNeedARecordToo() throws {
        let s = try Scenario()
        var d = Self.doc(trustExtra: #", "min_epoch": 2"#)
        d.store = #"{"lock": true, "allow_meta": true}"#
        s.write("00-meta.asr", Self.request(.meta, epoch: 1))
        s.write("luks.asr", Self.request(epoch: 2))
        let e = try s.evaluate(try d.parse())
        #expect(e.rules == ["stale-request"], "\(e.allProblems)")
        #expect(problem(e, "stale-request")?.file == "00-meta.asr")
        #expect(problem(e, "stale-request")?.message.contains("meta request") == true)
    }

    @Test func oldAndNewRequestsCannotBeMixed() throws {
        let s = try Scenario()
        let secrets = [#"{"name": "luks-root", "type": "plain"}"#, #"{"name": "tls", "type": "plain"}"#]
        s.write("luks.asr", Self.request(epoch: 4))
        s.write("tls.asr", Self.request(Scenario.plain("tls"), epoch: 3))
        let e = try s.evaluate(try Self.doc(trustExtra: "", secrets: secrets).parse())
        #expect(e.rules == ["mixed-epochs"], "\(e.allProblems)")
        #expect(Set(e.allProblems.map(\.file)) == ["luks.asr", "tls.asr"])
        #expect(e.epochs == [3, 4])
        let m = try #require(e.allProblems.first { $0.file == "tls.asr" }).message
        #expect(m.contains("epoch 3") && m.contains("luks.asr carries epoch 4"), "\(m)")
        // Opting out of same_epoch allows it.
        #expect(try s.evaluate(try Self.doc(trustExtra: #", "same_epoch": false"#, secrets: secrets).parse()).passed)

        // A request without a record beside one with a record is mixing too.
        s.write("tls.asr", Self.request(Scenario.plain("tls"), epoch: nil))
        let e2 = try s.evaluate(try Self.doc(trustExtra: "", secrets: secrets).parse())
        #expect(e2.rules == ["mixed-epochs"], "\(e2.allProblems)")
        #expect(e2.allProblems.map(\.file) == ["tls.asr"])
        #expect(e2.allProblems[0].message.contains("no freshness record"))
    }

    /// A request refused as stale does not also make the others "mixed".
    @Test func staleRequestIsReportedOnce() throws {
        let s = try Scenario()
        let secrets = [#"{"name": "luks-root", "type": "plain"}"#, #"{"name": "tls", "type": "plain"}"#]
        s.write("luks.asr", Self.request(epoch: 5))
        s.write("tls.asr", Self.request(Scenario.plain("tls"), epoch: 4))
        let e = try s.evaluate(try Self.doc(trustExtra: #", "min_epoch": 5"#, secrets: secrets).parse())
        #expect(e.allProblems.map(\.rule) == ["stale-request"], "\(e.allProblems)")
        #expect(e.allProblems.map(\.file) == ["tls.asr"])
    }

    @Test func verdictJSONCarriesTheEpoch() throws {
        let s = try Scenario()
        s.write("luks.asr", Self.request(epoch: 12))
        s.write("x.asr", Self.request(Scenario.plain("luks-x"), epoch: nil, signer: nil))
        let e = try s.evaluate(try Self.doc(trustExtra: "").parse())
        let v = try #require(e.verdict(for: "luks.asr"))
        guard case let .object(m) = v.json, let f = m.first(where: { $0.0 == "freshness" })?.1 else {
            Issue.record("no freshness key"); return
        }
        #expect(f == .object([("version", .int(1)), ("epoch", .int(12)), ("vouched_by", .string("signed:tenant"))]))
        guard case let .object(m2)? = e.verdict(for: "x.asr")?.json else { Issue.record("no verdict"); return }
        #expect(m2.first(where: { $0.0 == "freshness" })?.1 == .null)
    }
}

@Suite struct FreshnessPolicyParsing {
    func refused(_ trustExtra: String, secrets: [String] = [#"{"name": "luks-root", "type": "plain"}"#], trust: String? = nil) -> String? {
        var d = FreshnessEvaluation.doc(trustExtra: trustExtra, secrets: secrets)
        if let t = trust { d.trust = t }
        do { _ = try d.parse(); return nil } catch let e as PolicyError { return e.description } catch { return "\(error)" }
    }

    @Test func fields() throws {
        let p = try FreshnessEvaluation.doc(trustExtra: #", "min_epoch": 3, "same_epoch": false"#,
                                            secrets: [#"{"name": "luks-root", "type": "plain", "min_epoch": 4}"#]).parse()
        #expect(p.trust.minEpoch == 3 && p.trust.sameEpoch == false && p.secrets[0].minEpoch == 4)
        let d = try FreshnessEvaluation.doc(trustExtra: "").parse()
        #expect(d.trust.minEpoch == nil && d.trust.sameEpoch && d.secrets[0].minEpoch == nil)
    }

    @Test func badValues() {
        #expect(refused(#", "min_epoch": -1"#)?.contains("$.trust.min_epoch") == true)
        #expect(refused(#", "min_epoch": "5""#)?.contains("$.trust.min_epoch") == true)
        #expect(refused(#", "min_epoch": 9223372036854775808"#) != nil)
        #expect(refused(#", "same_epoch": "yes""#)?.contains("$.trust.same_epoch") == true)
        #expect(refused("", secrets: [#"{"name": "luks-root", "type": "plain", "min_epoch": 1.5}"#])?.contains("$.secrets[0].min_epoch") == true)
    }

    /// Only a signature proves freshness: a minimum without signers could
    /// never be met (pins are exempt), so it is refused.
    @Test func minimumNeedsSigners() {
        let pins = #"{"pinned_sha256": ["\#([UInt8].repeating(7, 32).hex)"], "min_epoch": 2}"#
        #expect(refused("", trust: pins)?.contains("needs trust.signers") == true)
        let pinsOnly = #"{"pinned_sha256": ["\#([UInt8].repeating(7, 32).hex)"]}"#
        #expect(refused("", secrets: [#"{"name": "luks-root", "type": "plain", "min_epoch": 2}"#], trust: pinsOnly)?
                    .contains("$.secrets[0].min_epoch") == true)
    }
}
