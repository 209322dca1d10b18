import Testing
import SEBase
import SECrypto
import ASRCodec
@testable import SecretPolicy
import SEVocabulary
import TestSupport

/// `policy init`'s library half: the draft it makes from a request set is a
/// valid policy under which that same set passes the check, by signature or
/// by pinned digests; requests it cannot vouch for are refused.
@Suite struct PolicyDraftTests {
    func scenario() throws -> (Scenario, [RequestFile]) {
        let s = try Scenario("draft")
        let files = [s.write("luks-root.asr", Scenario.request(Scenario.plain("luks-root"))),
                     s.write("tls.asr", Scenario.request(Scenario.plain("tls-key")))]
        return (s, files)
    }

    func names(_ n: String...) -> [[UInt8]: PolicyDraft.Name] {
        Dictionary(uniqueKeysWithValues: n.map { (Digest.sha256(Array($0.utf8)), PolicyDraft.Name(name: $0, raw: false)) })
    }

    @Test func aSignedSetPassesUnderItsDraft() throws {
        let (s, files) = try scenario()
        let draft = try PolicyDraft(requests: files, names: names("luks-root"),
                                    signers: [.init(name: "tenant", key: Keys.tenant.publicKey)], volume: "LABEL=X", directory: nil)
        #expect(draft.secretCount == 2)
        let policy = try Policy.parse(Array(draft.document.serialized().utf8))
        #expect(policy.secrets.map(\.name).contains("luks-root"))
        #expect(policy.store.lock)
        let e = try s.evaluate(policy)
        #expect(e.passed, "\(e.allProblems)")
    }

    @Test func unsignedOrPinnedOnly() throws {
        let (s, files) = try scenario()
        let pinned = try PolicyDraft(requests: files, names: [:], signers: [], volume: "LABEL=X", directory: nil)
        let e = try s.evaluate(try Policy.parse(Array(pinned.document.serialized().utf8)))
        #expect(e.passed, "\(e.allProblems)")
        // A signer that signed none of them: refused, with the file named.
        #expect(throws: PolicyDraft.Refused.self) {
            _ = try PolicyDraft(requests: files, names: [:], signers: [.init(name: "x", key: Keys.stranger.publicKey)],
                                volume: "LABEL=X", directory: nil)
        }
        // The same secret twice: refused.
        let twice = files + [RequestFile(name: "again.asr", bytes: Scenario.request(Scenario.plain("tls-key")))]
        #expect(throws: PolicyDraft.Refused.self) {
            _ = try PolicyDraft(requests: twice, names: [:], signers: [], volume: "LABEL=X", directory: nil)
        }
    }
}
