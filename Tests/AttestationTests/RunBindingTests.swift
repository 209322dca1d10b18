import Testing
import SEBase
import SECrypto
import Attestation

/// The run binding (user data) and the facts document it binds.
@Suite struct RunBindingTests {
    static let facts = RunFacts(
        policySHA256: Array(repeating: 1, count: 32), attestationRequestSHA256: Array(repeating: 2, count: 32),
        hostKeyHashes: [Array(repeating: 3, count: 32)],
        requests: [RunFacts.Request(order: 1, file: "meta.asr", sha256: Array(repeating: 4, count: 32), secretID: nil,
                                    secretType: "null", result: "added"),
                   RunFacts.Request(order: 2, file: "luks-root.asr", sha256: Array(repeating: 5, count: 32),
                                    secretID: Array(repeating: 6, count: 32), secretType: "plain", result: "added")],
        storeLocked: true, storeSecrets: 1, secretStoreHash: Array(repeating: 7, count: 64))

    @Test func theUserDataLayout() throws {
        let bytes = Self.facts.bytes
        let b = try RunBinding(policySHA256: Self.facts.policySHA256, facts: bytes)
        #expect(b.userData.count == 72)
        #expect(Array(b.userData[0..<8]) == Array("SESDRUN1".utf8))
        #expect(Array(b.userData[8..<40]) == Self.facts.policySHA256)
        #expect(Array(b.userData[40..<72]) == Digest.sha256(bytes))
        #expect(try RunBinding.parse(b.userData) == b)
    }

    @Test func userDataThatIsNotABinding() {
        func rule(_ u: [UInt8]) -> RunBindingError.Rule? {
            do { _ = try RunBinding.parse(u); return nil } catch { return error.rule }
        }
        let good = (try? RunBinding(policySHA256: Array(repeating: 1, count: 32), factsSHA256: Array(repeating: 2, count: 32)))?.userData ?? []
        #expect(rule(good) == nil)
        #expect(rule([]) == .badSize)
        #expect(rule(good + [0]) == .badSize)
        var other = good
        other[7] = UInt8(ascii: "2")
        #expect(rule(other) == .badMagic)
    }

    @Test func factsReadBackAsWritten() throws {
        #expect(try RunFacts.parse(Self.facts.bytes) == Self.facts)
    }

    @Test func factsAreReadStrictly() {
        func refused(_ change: (inout [(String, JSON)]) -> Void) -> Bool {
            guard case var .object(m) = Self.facts.json else { return false }
            change(&m)
            do { _ = try RunFacts.parse(Array(JSON.object(m).serialized().utf8)); return false } catch { return error.rule == .badFacts }
        }
        func set(_ m: inout [(String, JSON)], _ k: String, _ v: JSON) {
            if let i = m.firstIndex(where: { $0.0 == k }) { m[i].1 = v } else { m.append((k, v)) }
        }
        #expect(!refused { _ in })
        #expect(refused { set(&$0, "format", .string("other")) })
        #expect(refused { set(&$0, "version", .int(2)) })
        #expect(refused { set(&$0, "extra", .bool(true)) })
        #expect(refused { set(&$0, "policy_sha256", .string("abcd")) })
        #expect(refused { $0.removeAll { $0.0 == "store" } })
        #expect(refused { set(&$0, "store", .object([("locked", .bool(true)), ("secrets", .int(1)), ("secret_store_hash", .string(String(repeating: "0", count: 64)))])) })
        #expect(refused { set(&$0, "requests", .array([.object([("order", .int(0))])])) })
        #expect(throws: RunBindingError.self) { try RunFacts.parse(Array("not json".utf8)) }
    }
}
