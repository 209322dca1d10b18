// IBM's known-answer vectors for add-secret requests, rebuilt with
// se-secretd's builder from IBM's fixed inputs and compared by digest.
//
// Source: ibm-s390-linux/s390-tools, read at commit
// c66495888dc82070512655ab81ae2c9a13713e9f (v2.43.0-1), MIT license
// (Copyright IBM Corp.; the license text is s390-tools' LICENSE file):
// - rust/pv/tests/assets/exp/asrcb/* — the nine expected requests; only their
//   SHA-256 digests and lengths are written here (computed from the files);
// - rust/pv/tests/add_secret_request.rs — how they were made: BootHdrTags
//   1×64, 2×64, 3×64, 4×16; CUID 0x42×16; association "add_secret_request"
//   with value 0x11×32; simple extension secret 0x17×32; derived from CCK
//   0×32; IV 0x55×12; protection key 0x17×32;
// - rust/pv/tests/assets/keys/private_cust.bin — the customer key scalar and
//   keys/host.pem.crt — the host key, both public test keys ("all parts
//   including the private key are checked in git", rust/pv/src/test_utils.rs),
//   written as hex in TestSupport's IBMInputs (the host key as its public
//   point only; AttestationTests use them too);
// - rust/pvattest/src/cmd/check/secret_store.rs — the secret-store-hash
//   constants over the same nine files;
// - rust/pv/src/crypto.rs — the KEK constant (add-secret-request.md §5.3).
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import CLibcrypto
import RequestBuilding

struct IBMVector: CustomTestStringConvertible, Sendable {
    enum Secret: Sendable { case meta, association }
    enum Extension: Sendable { case none, simple, derived }
    let file: String
    let sha256: String
    let length: Int
    let secret: Secret
    let ext: Extension
    var disableDump = false
    var boundToCUID = true
    var keyslots = 1
    var testDescription: String { file }

    var expectedValue: [UInt8] { secret == .meta ? [] : IBMInputs.associationValue }
    var expectedExtensionSecret: [UInt8] {
        switch ext {
        case .none: return .repeating(0, 32)
        case .simple: return IBMInputs.simpleExtensionSecret
        case .derived: return IBMInputs.derivedExtensionSecret
        }
    }

    /// The vector rebuilt with se-secretd's builder from IBM's inputs.
    func rebuild() throws -> [UInt8] {
        let host = try IBMInputs.hostPublicKey
        let s: RequestBuilder.Secret = secret == .meta ? .meta
            : .association(id: libcryptoDigest(Array(IBMInputs.associationName.utf8)),
                           value: SecureBytes(copying: IBMInputs.associationValue))
        var b = RequestBuilder(secret: s, hostKeys: Array(repeating: host, count: keyslots), tags: fixedTags)
        b.customerKey = try PrivateKey.p521(scalar: SecureBytes(copying: IBMInputs.customerScalar))
        b.protectionKey = SecureBytes(copying: IBMInputs.protectionKey)
        b.iv = IBMInputs.iv
        if boundToCUID { b.configUID = IBMInputs.cuid }
        b.flags.disableDump = disableDump
        switch ext {
        case .none: break
        case .simple: b.extensionSecret = .simple(SecureBytes(copying: IBMInputs.simpleExtensionSecret))
        case .derived: b.extensionSecret = .derived(cck: SecureBytes(copying: IBMInputs.cck))
        }
        return try b.build()
    }

    /// rust/pv/tests/assets/exp/asrcb/*, in the order of secret_store.rs's test.
    static let all: [IBMVector] = [
        IBMVector(file: "assoc_derived_default_cuid_one", sha256: "e1173b735e0d18b98766fc1299803863b5fd59530f1c811b5ca5eecdc3048fb6",
                  length: 1416, secret: .association, ext: .derived),
        IBMVector(file: "assoc_simple_default_cuid_one", sha256: "f004c98623ff891d947d3537ea546103b1a65223a9aa5cd0af5e4af3e1ecc8c0",
                  length: 1416, secret: .association, ext: .simple),
        IBMVector(file: "null_none_default_cuid_one", sha256: "b876883df0400ecef29830dc34f8e6a1f82d88983b92fe5fb229742c49aa2675",
                  length: 1352, secret: .meta, ext: .none),
        IBMVector(file: "null_none_default_ncuid_one", sha256: "e7449fd652bad05fd6ed1429fbefc88f1368bde9052f68f652f81f201f1611ef",
                  length: 1352, secret: .meta, ext: .none, boundToCUID: false),
        IBMVector(file: "null_simple_default_cuid_one", sha256: "c7fd1eb5c826d594951ab0f22cb9acf49689c3fb2a47f2c60c44784c5b0c0d19",
                  length: 1352, secret: .meta, ext: .simple),
        IBMVector(file: "assoc_none_default_cuid_one", sha256: "2faeb8b140e8bd2d25130883cac2e13b97593e04af033cd567bd1dcbbd044982",
                  length: 1416, secret: .association, ext: .none),
        IBMVector(file: "null_derived_default_cuid_one", sha256: "d3e173bdf4e3c051a542c3ec620404b73432247c38574c04d48c505f7b4c8f38",
                  length: 1352, secret: .meta, ext: .derived),
        IBMVector(file: "null_none_default_cuid_seven", sha256: "7f765ebb286e703be7feb0408223fc1b1ae1ac8dcad46760b4e421e66003ca26",
                  length: 1832, secret: .meta, ext: .none, keyslots: 7),
        IBMVector(file: "null_none_dump_cuid_one", sha256: "352baebab01bce8dae08bf6ffdff6eadb735fd8af150e188c60acc0a672107d4",
                  length: 1352, secret: .meta, ext: .none, disableDump: true),
    ]
}

@Suite struct IBMVectors {
    @Test("the fixed inputs give IBM's intermediate values (§5.3, §8)")
    func intermediateValues() throws {
        let host = try IBMInputs.hostPublicKey
        #expect(try RequestKeys.hostKeyHash(host).hex == IBMInputs.hostKeyHash)
        #expect(PlainRequestOpener.hostKeyHash(point: IBMInputs.hostPoint).hex == IBMInputs.hostKeyHash)
        let customer = try PrivateKey.p521(scalar: SecureBytes(copying: IBMInputs.customerScalar))
        let kek = RequestKeys.keyEncryptionKey(sharedSecret: try customer.sharedSecret(with: host))
        let kekMatches = kek.equals([UInt8](hex: IBMInputs.kek)!)
        #expect(kekMatches, "KEK of rust/pv/src/crypto.rs")
        #expect(libcryptoDigest(Array(IBMInputs.associationName.utf8)).hex == IBMInputs.associationID)
        #expect(independentHKDFSHA512(ikm: IBMInputs.cck, salt: fixedTags.tag, info: extensionSecretInfo, length: 32)
                == IBMInputs.derivedExtensionSecret)
    }

    @Test("se-secretd's builder rebuilds IBM's vector byte for byte", arguments: IBMVector.all)
    func rebuildsTheVector(_ v: IBMVector) throws {
        let bytes = try v.rebuild()
        #expect(bytes.count == v.length)
        #expect(libcryptoDigest(bytes).hex == v.sha256, "SHA-256 of rust/pv/tests/assets/exp/asrcb/\(v.file)")
    }

    /// The rebuilt bytes are IBM's (same digest); ASRCodec's parser reads
    /// them as rust/pv/tests/add_secret_request.rs made them.
    @Test("ASRCodec parses IBM's vector into IBM's inputs", arguments: IBMVector.all)
    func parsesTheVector(_ v: IBMVector) throws {
        let bytes = try v.rebuild()
        try #require(libcryptoDigest(bytes).hex == v.sha256)
        let r = try AddSecretRequest.parse(bytes)
        #expect(r.secretType == (v.secret == .meta ? .null : .association))
        #expect(r.secretID?.hex == (v.secret == .meta ? nil : IBMInputs.associationID))
        #expect(r.keyslots.count == v.keyslots)
        #expect(r.keyslots.allSatisfy { $0.hostKeyHash.hex == IBMInputs.hostKeyHash })
        #expect(r.flags.disableDump == v.disableDump)
        #expect(r.boundConfigUID == (v.boundToCUID ? IBMInputs.cuid : nil))
        #expect(r.tags == fixedTags)
        #expect(r.userDataType == .none)
        #expect(r.gcmTag == Array(bytes.suffix(16)))
    }

    /// ECDH(customer private, host public) = ECDH(host private, customer
    /// public): IBM's requests open from the customer's side with the plain
    /// libcrypto opener, to the values IBM put in.
    @Test("IBM's vector opens with plain libcrypto from the customer key", arguments: IBMVector.all)
    func opensWithPlainLibcrypto(_ v: IBMVector) throws {
        let bytes = try v.rebuild()
        try #require(libcryptoDigest(bytes).hex == v.sha256)
        let (customer, _) = try PlainLibcrypto.p521KeyPair(scalar: IBMInputs.customerScalar)
        defer { EVP_PKEY_free(customer) }
        let host = try #require(PlainLibcrypto.importEC(pub: IBMInputs.hostPoint, priv: nil))
        defer { EVP_PKEY_free(host) }
        let opening = PlainRequestOpener.open(bytes, own: customer, peer: host, hostPoint: IBMInputs.hostPoint)
        #expect(opening.refusal == nil)
        let recovered = opening.gave(v.expectedValue, v.expectedExtensionSecret)
        #expect(recovered, "IBM's value ‖ extension secret")
    }

    /// rust/pvattest/src/cmd/check/secret_store.rs: SHA-512 over the nine
    /// requests' GCM tags in this order, then the lock byte; and the empty store.
    @Test("se-secretd's secret-store hash gives IBM's constants")
    func secretStoreHash() throws {
        let tags = try IBMVector.all.map { v -> [UInt8] in
            let bytes = try v.rebuild()
            try #require(libcryptoDigest(bytes).hex == v.sha256)
            return Array(bytes.suffix(16))
        }
        let hash = { (tags: [[UInt8]], locked: Bool) in SecretStoreHash.compute(tags: tags, locked: locked, sha512: Digest.sha512).hex }
        #expect(hash(tags, true) == "d048702b4a79478b985e92e7edff453f63f2044e7d72faf12efd2eaea0cd0505559ed6665a06f6b4f9c6fcf9f2960e6cd3c3cc8cafe57ac8406e616bf9529517")
        #expect(hash(tags, false) == "51ce62af1f67b9e3254b184e33b2aad31007581a39e99cdeb02998a3b67ff456c44a05ee7d68e24dfd436f2be4c1e9f5c1016468da64015e9f9fa3156e110d6c")
        #expect(hash([], true) == "7b54b66836c1fbdd13d2441d9e1434dc62ca677fb68f5fe66a464baadecdbd00576f8d6b5ac3bcc80844b7d50b1cc6603444bbe7cfcf8fc0aa1ee3c636d9e339")
        #expect(hash([], false) == "b8244d028981d693af7b456af8efa4cad63d282e19ff14942c246e50d9351d22704a802a71c3580b6370de4ceb293c324a8423342557d4e5c38438f0e36910ee")
    }
}
