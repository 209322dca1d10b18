import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import RequestBuilding

/// AddSecretRequest.hasKeyslot(forAnyOf:), the one home of the rule "a
/// request must carry a keyslot for one of these machines".
@Suite struct KeyslotRuleTests {
    @Test func aRequestHasKeyslotsExactlyForTheHostsItWasMadeFor() throws {
        let b = RequestBuilder(secret: .meta, hostKeys: [Keys.hosts[0].publicKey, Keys.hosts[1].publicKey], tags: fixedTags)
        let r = try AddSecretRequest.parse(try b.build())
        let h0 = try RequestKeys.hostKeyHash(Keys.hosts[0].publicKey)
        let h1 = try RequestKeys.hostKeyHash(Keys.hosts[1].publicKey)
        let h2 = try RequestKeys.hostKeyHash(Keys.hosts[2].publicKey)
        #expect(r.hasKeyslot(forAnyOf: [h0]))
        #expect(r.hasKeyslot(forAnyOf: [h2, h1]))
        #expect(!r.hasKeyslot(forAnyOf: [h2]))
        #expect(!r.hasKeyslot(forAnyOf: []))
    }
}
