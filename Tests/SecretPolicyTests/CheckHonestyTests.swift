import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SEVocabulary
@testable import SecretPolicy
import RequestBuilding

/// The image binding (`check --se-header`): a request carries the SE-header
/// tags of the image it was made for, and the evaluator compares them with
/// the given image's when it is given one.
@Suite struct ImageBindingTests {
    static let otherTags = SEHeaderTags(pld: .repeating(1, 64), ald: .repeating(2, 64), tld: .repeating(3, 64), tag: .repeating(9, 16))

    @Test func aRequestForAnotherImageIsRefusedNamingTheFile() throws {
        let s = try Scenario("image")
        var doc = PolicyDoc()
        doc.secrets.append(#"{"name": "tls", "type": "plain"}"#)
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("tls.asr", Scenario.request(Scenario.plain("tls"), tags: Self.otherTags))
        let policy = try doc.parse()
        let set = try s.load(policy)

        // For the image of luks.asr: tls.asr is another image's (only its header tag differs).
        let e = Evaluator(policy: policy, imageTags: fixedTags).evaluate(set)
        expectProblems(e, ["other-image": "tls.asr"])
        let message = try #require(e.verdict(for: "tls.asr")?.problems.first?.message)
        #expect(message.contains("bound to another SE image"))
        #expect(message.contains("its SE-header tag \(String(Self.otherTags.tag.hex.prefix(16)))…"))
        #expect(message.contains("header tag differ"), "\(message)")
        #expect(e.imageBindingChecked && !e.hostBindingChecked)

        // For the other image: luks.asr is refused, every field named.
        let pldToo = SEHeaderTags(pld: .repeating(7, 64), ald: .repeating(2, 64), tld: .repeating(3, 64), tag: .repeating(9, 16))
        s.write("tls.asr", Scenario.request(Scenario.plain("tls"), tags: pldToo))
        let e2 = Evaluator(policy: policy, imageTags: pldToo).evaluate(try s.load(policy))
        expectProblems(e2, ["other-image": "luks.asr"])
        #expect(e2.verdict(for: "luks.asr")?.problems.first?.message.contains("header tag, PLD differ") == true)
    }

    @Test func theRightImagePassesAndNoImageChecksNothing() throws {
        let s = try Scenario("image")
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        let policy = try PolicyDoc().parse()
        let right = Evaluator(policy: policy, hostKeyHashes: [try RequestKeys.hostKeyHash(Keys.host.publicKey)], imageTags: fixedTags)
            .evaluate(try s.load(policy))
        #expect(right.passed, "\(right.allProblems)")
        #expect(right.imageBindingChecked && right.hostBindingChecked)
        // Without tags (the boot run) the binding is the ultravisor's: not checked, not refused.
        let none = Evaluator(policy: policy, imageTags: nil).evaluate(try s.load(policy))
        #expect(none.passed)
        #expect(!none.imageBindingChecked && !none.hostBindingChecked)
    }
}

/// Requests the policy would not see or not recognize, and the hints that
/// say why: a request under a name without the suffix, and a secret made
/// with a misspelled name.
@Suite struct MisnamedRequestTests {
    func load(_ s: Scenario, _ policy: Policy, look: Bool = true) throws -> RequestSet {
        try RequestSet.load(directory: s.requestDir, policy: policy, lookForMisnamed: look)
    }

    @Test func aRequestSavedAsBinIsNamedAndTheMissingRequiredSaysWhere() throws {
        let s = try Scenario("misnamed")
        let policy = try PolicyDoc().parse()
        s.write("luks-root.bin", Scenario.request(Scenario.plain("luks-root")))
        s.write("stranger.req", Scenario.request(Scenario.plain("not-in-the-policy")))
        try FileIO.writeAtomically(s.requestDir + "/README.txt", Array("asrcbM not a request".utf8), mode: 0o644)
        symlink(s.requestDir + "/luks-root.bin", s.requestDir + "/link.bin")
        let set = try load(s, policy)
        #expect(set.misnamed.map(\.name).sorted() == ["luks-root.bin", "stranger.req"], "not README.txt, not the symlink")
        #expect(set.ignored.sorted() == ["README.txt", "link.bin", "luks-root.bin", "stranger.req"])

        let e = Evaluator(policy: policy).evaluate(set)
        expectProblems(e, ["missing-required": nil])
        #expect(e.allProblems[0].message ==
            "required secret \"luks-root\" (plain) has no request; luks-root.bin holds a request for it, but request files end in .asr: it is ignored")
        let notes = Dictionary(uniqueKeysWithValues: e.misnamed.map { ($0.file, $0) })
        #expect(notes["luks-root.bin"]?.message ==
            "luks-root.bin looks like an add-secret request (secret luks-root, plain), but request files end in .asr: it is ignored, here and at boot")
        #expect(notes["luks-root.bin"]?.secretName == "luks-root")
        #expect(notes["stranger.req"]?.secretName == nil)
        #expect(notes["stranger.req"]?.message.contains("not named by the policy") == true)
    }

    /// The boot run does not read what it ignores: nothing is looked at, the message stays as it was.
    @Test func withoutLookingNothingIsReadAndTheMessageIsUnchanged() throws {
        let s = try Scenario("misnamed")
        let policy = try PolicyDoc().parse()
        s.write("luks-root.bin", Scenario.request(Scenario.plain("luks-root")))
        let set = try load(s, policy, look: false)
        #expect(set.misnamed.isEmpty)
        let e = Evaluator(policy: policy).evaluate(set)
        #expect(e.allProblems.map(\.description) == ["required secret \"luks-root\" (plain) has no request [missing-required]"])
        #expect(e.misnamed.isEmpty)
    }

    @Test func aMisspelledNameIsFoundByItsID() throws {
        let s = try Scenario("typo")
        s.write("luks-root.asr", Scenario.request(Scenario.plain("luks-rot")))
        let e = try s.evaluate(try PolicyDoc().parse())
        expectProblems(e, ["not-whitelisted": "luks-root.asr", "missing-required": nil])
        let message = try #require(e.verdict(for: "luks-root.asr")?.problems.first?.message)
        #expect(message.contains("is not named by the policy; its ID is SHA-256 of \"luks-rot\": did you mean \"luks-root\"?"), "\(message)")
        #expect(message.contains("a request made with `retrievable luks-rot` has another ID"))
        let missing = try #require(e.problems.first { $0.rule == "missing-required" })
        #expect(missing.message.hasSuffix("; luks-root.asr may be meant for it (see its not-whitelisted problem)"), "\(missing.message)")
    }

    @Test func aFileNameCloseToAPolicyNameGivesAHint() throws {
        let s = try Scenario("typo")
        s.write("luks-rot.asr", Scenario.request(Scenario.plain("something-else-entirely")))
        let e = try s.evaluate(try PolicyDoc().parse())
        let message = try #require(e.verdict(for: "luks-rot.asr")?.problems.first?.message)
        #expect(message.contains("; the file is named luks-rot.asr: did you mean \"luks-root\"? A secret's ID is SHA-256 of its name, so a request made with `retrievable luks-rot` has another ID"), "\(message)")
    }

    @Test func aFileNamedAfterAPolicySecretGivesAHint() throws {
        let s = try Scenario("typo")
        s.write("luks-root.asr", Scenario.request(Scenario.plain("something-else-entirely")))
        let e = try s.evaluate(try PolicyDoc().parse())
        let message = try #require(e.verdict(for: "luks-root.asr")?.problems.first?.message)
        #expect(message.contains("; the file is named after the policy's secret \"luks-root\", but its request is not for that secret"), "\(message)")
    }

    @Test func theOtherIDFormGivesAHint() throws {
        let s = try Scenario("typo")
        let raw = RequestBuilder.Secret.retrievable(.plain, id: SecretID.rawName("luks-root")!,
                                                    value: try SecretValue.plaintext(SecureBytes(copying: Array("v".utf8))))
        s.write("a.asr", Scenario.request(raw))
        let e = try s.evaluate(try PolicyDoc().parse())
        let message = try #require(e.verdict(for: "a.asr")?.problems.first?.message)
        #expect(message.contains("its ID is the raw name \"luks-root\" (pvsecret create --use-name), but the policy's secret \"luks-root\" has the SHA-256 ID"), "\(message)")
        // And the other way round.
        var doc = PolicyDoc()
        doc.secrets = [#"{"name": "luks-root", "type": "plain", "id_form": "raw-name"}"#]
        s.write("a.asr", Scenario.request(Scenario.plain("luks-root")))
        let e2 = try s.evaluate(try doc.parse())
        let m2 = try #require(e2.verdict(for: "a.asr")?.problems.first?.message)
        #expect(m2.contains("its ID is SHA-256 of \"luks-root\", but the policy's secret \"luks-root\" has \"id_form\": \"raw-name\""), "\(m2)")
    }

    @Test func noHintWhenNothingIsClose() throws {
        let s = try Scenario("typo")
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("evil.asr", Scenario.request(Scenario.plain("attacker-secret")))
        let e = try s.evaluate(try PolicyDoc().parse())
        let message = try #require(e.verdict(for: "evil.asr")?.problems.first?.message)
        #expect(message.hasSuffix("is not named by the policy"), "\(message)")
        // Names below 4 bytes are never "close".
        #expect(NameHints.distance(Array("tls".utf8), Array("tl".utf8), limit: NameHints.allowedDistance(3)) == nil)
    }

    /// The search is bounded: long names are not edited, the variants are
    /// capped, and distances are not computed for long text.
    @Test func theSearchIsBounded() throws {
        var doc = PolicyDoc()
        doc.secrets = (0..<40).map { #"{"name": "secret-number-\#($0)-with-a-long-name", "type": "plain", "required": false}"# }
            + [#"{"name": "\#(String(repeating: "x", count: 200))", "type": "plain", "required": false}"#]
        let hints = NameHints(policy: try doc.parse())
        #expect(hints.edited.count <= NameHints.maxCandidates)
        #expect(hints.edited.count > 1000)
        #expect(!hints.edited.values.contains { $0.rule.name.utf8.count == 200 })
        #expect(NameHints.distance(Array(repeating: 1, count: 300), Array(repeating: 1, count: 300), limit: 2) == nil)
        #expect(NameHints.distance(Array("luks-root".utf8), Array("lusk-root".utf8), limit: 2) == 1)
        #expect(NameHints.distance(Array("luks-root".utf8), Array("luks".utf8), limit: 2) == nil)
        #expect(NameHints.stem("a.b.asr", suffix: ".asr") == "a.b")
        #expect(NameHints.stem("luks-root.bin", suffix: ".asr") == "luks-root")
    }
}
