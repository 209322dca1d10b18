// Round trip: build → parse → verify → decrypt, over every secret kind,
// user-data type, keyslot count, disable-dump, config UID and extension
// secret form (add-secret-request.md §1, §4–§7, §9).
//
// Combinatorics: secret kind (19) × user-data type (7) × keyslots (1, 2, 7)
// is covered exhaustively (399 requests); disable-dump × CUID × extension
// secret (12 combinations) is rotated so that every kind, every user-data
// type and every keyslot count meets all 12 of them.
import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import SEVocabulary
import RequestBuilding

/// The public host-key hash (PHKH) as add-secret-request.md §5.1 step 6
/// defines it, SHA-256(X80 ‖ Y80), computed here without the builder: X and
/// Y are cut from the key's SubjectPublicKeyInfo DER (an uncompressed P-521
/// point after a fixed 26-byte prefix) and hashed with libcrypto.
func independentHostKeyHash(_ key: PublicKey) -> [UInt8] {
    let body = key.publicKeyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    let der = [UInt8](Data(base64Encoded: body) ?? Data())
    let p521Prefix: [UInt8] = [0x30, 0x81, 0x9B, 0x30, 0x10, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                               0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00, 0x04]
    precondition(der.count == 158 && Array(der.prefix(26)) == p521Prefix, "not a P-521 SubjectPublicKeyInfo")
    let zeros = [UInt8](repeating: 0, count: 80 - 66)
    return libcryptoDigest(zeros + der[26..<92] + zeros + der[92..<158])
}

/// The public key of s390-tools' test host-key certificate
/// `rust/pv/tests/assets/keys/host.pem.crt` (ibm-s390-linux/s390-tools, MIT
/// license), extracted with `openssl x509 -pubkey`. Its PHKH is a verified
/// value of add-secret-request.md §5.3.
let s390ToolsTestHostKeyPEM = """
    -----BEGIN PUBLIC KEY-----
    MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQBdogc2EuLbecSPH6QDt945/e2hJmR
    RrEmO6i4bIRH8Iq21GnCsSjtnhw1AVgFrNPTAjPTkSL34viqHCsUe3iDtAYAw0VW
    wlz5LynOZr1EEU1rezx44To/kL25AED2h25SYvd4phqTfRs0gC6yV+NOBnLdXyo0
    et2qKCA1CSpww1wueXM=
    -----END PUBLIC KEY-----

    """
let s390ToolsTestHostKeyHash = "415c25a5d19c381e619733e1c1b7fbd88bdd1c31d882d5ade04b97043c5010f0"

enum SecretKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case meta, association
    case plain0, plain14, plain15, plain8190
    case aes128, aes192, aes256, aesXTS128, aesXTS256, hmacSHA256, hmacSHA512
    case ecP256, ecP384, ecP521, ed25519, ed448
    case updateCCK

    var testDescription: String { rawValue }
}

enum UserDataKind: String, CaseIterable, Sendable {
    case none, unsigned, ecP521
    case rsa2048Salt64, rsa2048SaltMax, rsa3072Salt64, rsa3072SaltMax

    var type: UserDataType {
        switch self {
        case .none: return .none
        case .unsigned: return .unsigned
        case .ecP521: return .ecP521
        case .rsa2048Salt64, .rsa2048SaltMax: return .rsa2048
        case .rsa3072Salt64, .rsa3072SaltMax: return .rsa3072
        }
    }

    var signer: PrivateKey? {
        switch self {
        case .none, .unsigned: return nil
        case .ecP521: return Keys.tenant
        case .rsa2048Salt64, .rsa2048SaltMax: return Keys.rsa2048
        case .rsa3072Salt64, .rsa3072SaltMax: return Keys.rsa3072
        }
    }

    /// The PSS salt length to sign with: 64 (OpenSSL ≥ 3.1) or the maximum
    /// (older OpenSSL): 256-64-2 = 190 for RSA-2048, 384-64-2 = 318 for RSA-3072.
    var pssSalt: Int? {
        switch self {
        case .rsa2048Salt64, .rsa3072Salt64: return 64
        case .rsa2048SaltMax: return 190
        case .rsa3072SaltMax: return 318
        default: return nil
        }
    }
}

enum ExtensionKind: String, CaseIterable, Sendable { case none, simple, derived }

/// A secret for the builder plus what the parser and the decryption must give back.
struct PreparedSecret {
    let secret: RequestBuilder.Secret
    let type: SecretType
    /// The ID the parser must report (nil for meta and update-CCK).
    let id: [UInt8]?
    /// The encoded value that is encrypted (test data: compared, never printed).
    let encoded: [UInt8]
    /// For plaintext secrets: the payload before encoding.
    let payload: [UInt8]?
}

/// Plaintext encoding written out here from §7: u16 BE n ‖ payload ‖ zeros to a multiple of 16.
func referencePlaintextEncoding(_ payload: [UInt8]) -> [UInt8] {
    let padded = (2 + payload.count + 15) / 16 * 16
    return ([UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload).rightPadded(to: padded)
}

func prepare(_ kind: SecretKind, index: Int) throws -> PreparedSecret {
    let id = index % 2 == 0 ? SecretID.hashed(name: "secret-\(index)", sha256: Digest.sha256)
                            : SecretID.rawName("secret-\(index)")!
    func key(_ type: SecretType, _ bytes: [UInt8]) -> PreparedSecret {
        PreparedSecret(secret: .retrievable(type, id: id, value: SecureBytes(copying: bytes)), type: type, id: id,
                       encoded: bytes, payload: nil)
    }
    func symmetric(_ family: String, _ length: Int, _ expected: SecretType) throws -> PreparedSecret {
        let t = try SecretValue.symmetricType(family: family, length: length)
        #expect(t == expected)
        return key(t, Random.bytes(length))
    }
    func plain(_ n: Int) throws -> PreparedSecret {
        let payload = Random.bytes(n)
        let enc = try SecretValue.plaintext(SecureBytes(copying: payload))
        let expected = referencePlaintextEncoding(payload)
        let ok = sameSecret(enc, expected)
        #expect(ok, "SecretValue.plaintext matches the §7 encoding for \(n) bytes")
        return PreparedSecret(secret: .retrievable(.plain, id: id, value: enc), type: .plain, id: id,
                              encoded: enc.unsafeCopyToArray(), payload: payload)
    }
    func ec(_ k: PrivateKey, _ expected: SecretType) throws -> PreparedSecret {
        let (t, v) = try SecretValue.privateKey(k)
        #expect(t == expected)
        return PreparedSecret(secret: .retrievable(t, id: id, value: v), type: t, id: id,
                              encoded: v.unsafeCopyToArray(), payload: nil)
    }
    func hmac(_ keyLength: Int, sha512: Bool, _ expected: SecretType) throws -> PreparedSecret {
        let k0 = SecretValue.hmacK0(Random.secureBytes(keyLength), sha512: sha512)
        let t = try SecretValue.symmetricType(family: "hmac-sha", length: k0.count)
        #expect(t == expected)
        return PreparedSecret(secret: .retrievable(t, id: id, value: k0), type: t, id: id,
                              encoded: k0.unsafeCopyToArray(), payload: nil)
    }

    switch kind {
    case .meta:
        return PreparedSecret(secret: .meta, type: .null, id: nil, encoded: [], payload: nil)
    case .association:
        let v = Random.bytes(32)
        let aid = SecretID.hashed(name: "association-\(index)", sha256: Digest.sha256)
        return PreparedSecret(secret: .association(id: aid, value: SecureBytes(copying: v)), type: .association,
                              id: aid, encoded: v, payload: nil)
    case .plain0: return try plain(0)
    case .plain14: return try plain(14)
    case .plain15: return try plain(15)
    case .plain8190: return try plain(8190)
    case .aes128: return try symmetric("aes", 16, .aes128)
    case .aes192: return try symmetric("aes", 24, .aes192)
    case .aes256: return try symmetric("aes", 32, .aes256)
    case .aesXTS128: return try symmetric("aes-xts", 32, .aesXTS128)
    case .aesXTS256: return try symmetric("aes-xts", 64, .aesXTS256)
    case .hmacSHA256: return try hmac(20, sha512: false, .hmacSHA256)
    case .hmacSHA512: return try hmac(200, sha512: true, .hmacSHA512)  // longer than the block: hashed
    case .ecP256: return try ec(Keys.secretP256, .ecP256)
    case .ecP384: return try ec(Keys.secretP384, .ecP384)
    case .ecP521: return try ec(Keys.secretP521, .ecP521)
    case .ed25519: return try ec(Keys.secretEd25519, .ed25519)
    case .ed448: return try ec(Keys.secretEd448, .ed448)
    case .updateCCK:
        let v = Random.bytes(32)
        return PreparedSecret(secret: .updateCCK(SecureBytes(copying: v)), type: .updateCCK, id: nil, encoded: v, payload: nil)
    }
}

struct Scenario: CustomStringConvertible {
    let kind: SecretKind
    let userData: UserDataKind
    let nks: Int
    let disableDump: Bool
    let boundToCUID: Bool
    let ext: ExtensionKind
    let index: Int

    var description: String {
        "\(kind.rawValue), user data \(userData.rawValue), \(nks) keyslot(s), disable-dump \(disableDump), " +
            "CUID \(boundToCUID ? "set" : "zero"), extension secret \(ext.rawValue)"
    }
}

func scenarios(for kind: SecretKind) -> [Scenario] {
    let k = SecretKind.allCases.firstIndex(of: kind)!
    var out: [Scenario] = []
    for (u, ud) in UserDataKind.allCases.enumerated() {
        for (n, nks) in [1, 2, 7].enumerated() {
            // 21 consecutive values per kind: all 12 secondary combinations occur.
            let j = (5 * k + 3 * u + n) % 12
            out.append(Scenario(kind: kind, userData: ud, nks: nks, disableDump: j & 1 == 1, boundToCUID: j & 2 == 2,
                                ext: ExtensionKind.allCases[j / 4], index: 3 * u + n))
        }
    }
    return out
}

@Suite struct RoundTripTests {
    @Test("every secondary combination meets every kind, user-data type and keyslot count")
    func coverage() {
        let all = SecretKind.allCases.flatMap(scenarios(for:))
        #expect(all.count == 19 * 7 * 3)
        func key(_ s: Scenario) -> String { "\(s.disableDump)/\(s.boundToCUID)/\(s.ext)" }
        for kind in SecretKind.allCases {
            #expect(Set(all.filter { $0.kind == kind }.map(key)).count == 12, "\(kind)")
        }
        for ud in UserDataKind.allCases {
            #expect(Set(all.filter { $0.userData == ud }.map(key)).count == 12, "\(ud)")
        }
        for nks in [1, 2, 7] {
            #expect(Set(all.filter { $0.nks == nks }.map(key)).count == 12, "\(nks)")
        }
    }

    @Test("build, parse, verify and decrypt", arguments: SecretKind.allCases)
    func roundTrip(kind: SecretKind) throws {
        for s in scenarios(for: kind) {
            try check(s)
        }
    }

    func check(_ s: Scenario) throws {
        let c = Comment(rawValue: s.description)
        let prepared = try prepare(s.kind, index: s.index)
        let hosts = Array(Keys.hosts.prefix(s.nks))
        let tags = randomTags()
        var b = RequestBuilder(secret: prepared.secret, hostKeys: hosts.map(\.publicKey), tags: tags)
        b.flags.disableDump = s.disableDump
        let cuid: [UInt8] = s.boundToCUID ? [0x42] + Random.bytes(15) : .repeating(0, 16)
        b.configUID = cuid

        let expectedExt: [UInt8]
        switch s.ext {
        case .none:
            expectedExt = .repeating(0, 32)
        case .simple:
            expectedExt = Random.bytes(32)
            b.extensionSecret = .simple(SecureBytes(copying: expectedExt))
        case .derived:
            let cck = Random.bytes(32)
            expectedExt = independentHKDFSHA512(ikm: cck, salt: tags.tag, info: extensionSecretInfo, length: 32)
            b.extensionSecret = .derived(cck: SecureBytes(copying: cck))
        }

        let udt = s.userData.type
        let data: [UInt8]
        switch s.userData {
        case .none:
            data = []
        case .unsigned:
            data = Random.bytes(s.index % 2 == 0 ? 512 : 37)
            b.userData = .unsigned(data)
        default:
            data = Random.bytes(s.index % 2 == 0 ? udt.dataCapacity : 5)
            b.userData = .signed(data, key: s.userData.signer!)
            b.pssSaltLength = s.userData.pssSalt
        }

        let iv = Random.bytes(12)
        b.iv = iv
        let customer: PrivateKey? = s.index % 2 == 0 ? try PrivateKey.generate(.ec(.p521)) : nil
        b.customerKey = customer

        let bytes = try b.build()
        let req = try AddSecretRequest.parse(bytes)

        // Lengths (formula of §1).
        let h = s.kind == .meta ? 16 : 48
        let l = prepared.encoded.count
        #expect(bytes.count == 0x4B8 + 80 * s.nks + h + (l + 32) + 16, c)
        #expect(req.length == bytes.count, c)
        #expect(bytes.readBE(UInt32.self, at: 0x0C) == UInt32(bytes.count), c)
        #expect(req.encryptedLength == l + 32, c)
        #expect(bytes.readBE(UInt32.self, at: 0x2C) == UInt32(l + 32), c)
        #expect(req.aadLength == bytes.count - (l + 32) - 16, c)
        #expect(req.ciphertext.count == l + 32, c)
        #expect(req.gcmTag == Array(bytes.suffix(16)), c)

        // Generic header and authenticated data.
        #expect(Array(bytes[0..<6]) == Array("asrcbM".utf8), c)
        #expect(req.version == 0x100, c)
        #expect(req.userDataType == udt, c)
        #expect(req.iv == iv, c)
        #expect(req.flags.disableDump == s.disableDump, c)
        #expect(req.flags.rawValue == (s.disableDump ? UInt64(0x8000_0000_0000_0000) : 0), c)
        #expect(bytes[0x30] == (s.disableDump ? 0x80 : 0), c)
        #expect(req.tags == tags, c)
        #expect(req.configUID == cuid, c)
        #expect(req.boundConfigUID == (s.boundToCUID ? cuid : nil), c)
        #expect(Int(bytes[0x27]) == s.nks, c)

        // Secret header.
        #expect(req.secretType == prepared.type, c)
        #expect(req.secretHeader.length == UInt32(l), c)
        #expect(req.secretID == prepared.id, c)
        #expect(req.isMeta == (s.kind == .meta), c)
        #expect(req.secretHeader.encodedSize == h, c)

        // Keyslots: one per host, in order, hashes as §5.1 defines them.
        let expectedHashes = hosts.map { independentHostKeyHash($0.publicKey) }
        #expect(req.keyslots.count == s.nks, c)
        #expect(req.keyslots.map(\.hostKeyHash) == expectedHashes, c)

        // Customer key: a valid P-521 point, the given one when fixed.
        #expect(throws: Never.self, c) { _ = try PublicKey.p521(x: req.customerKeyX, y: req.customerKeyY) }
        if let customer {
            let (x, y) = try customer.publicKey.ecCoordinates()
            #expect(req.customerKeyX == x.leftPadded(to: 80) && req.customerKeyY == y.leftPadded(to: 80), c)
        }

        // User data and signature.
        switch s.userData {
        case .none:
            #expect(req.userData.data.isEmpty && req.userData.signature.isEmpty, c)
            #expect(bytes[0x218..<0x418].allSatisfy { $0 == 0 }, c)
        case .unsigned:
            #expect(req.userData.data == data.rightPadded(to: 512), c)
            #expect(req.userData.signature.isEmpty, c)
        default:
            #expect(req.userData.data == data.rightPadded(to: udt.dataCapacity), c)
        }
        try checkSignature(req, s, c)

        // Decryption with every host's private key (what the UV does).
        for host in hosts {
            let p = try RequestDecryption.decrypt(req, hostKey: host)
            let valueOK = sameSecret(p.value, prepared.encoded)
            let extOK = sameSecret(p.extensionSecret, expectedExt)
            #expect(valueOK, "decrypted value is the encoded secret; \(s)")
            #expect(extOK, "decrypted extension secret is the expected one; \(s)")
            if let payload = prepared.payload {
                let decoded = SecretValue.decodePlaintext(p.value)
                let payloadOK = decoded.map { sameSecret($0, payload) } ?? false
                #expect(payloadOK, "plaintext payload decodes back; \(s)")
            }
        }
        let outsider = s.nks < 7 ? Keys.hosts[s.nks] : Keys.outsider
        #expect(throws: RequestDecryption.Failure.noKeyslotForHost, c) {
            _ = try RequestDecryption.decrypt(req, hostKey: outsider)
        }
    }

    func checkSignature(_ req: AddSecretRequest, _ s: Scenario, _ c: Comment) throws {
        guard let signer = s.userData.signer else {
            #expect(UserDataSignature.verify(req, with: Keys.tenant.publicKey) == .notSigned, c)
            #expect(UserDataSignature.verify(req, with: Keys.rsa2048.publicKey) == .notSigned, c)
            return
        }
        #expect(UserDataSignature.verify(req, with: signer.publicKey) == .valid, c)
        let sig = req.userData.signature
        switch s.userData {
        case .ecP521:
            #expect((8...139).contains(sig.count) && sig.first == 0x30, c)
            #expect(Int(req.bytes.readBE(UInt16.self, at: 0x3A8)) == sig.count, c)
            #expect(UserDataSignature.verify(req, with: Keys.stranger.publicKey) == .badSignature, c)
            #expect(UserDataSignature.verify(req, with: Keys.rsa3072.publicKey) == .keyTypeMismatch, c)
        case .rsa2048Salt64, .rsa2048SaltMax:
            #expect(sig.count == 256, c)
            #expect(UserDataSignature.verify(req, with: Keys.rsa3072.publicKey) == .keyTypeMismatch, c)
            #expect(UserDataSignature.verify(req, with: Keys.tenant.publicKey) == .keyTypeMismatch, c)
        default:
            #expect(sig.count == 384, c)
            #expect(UserDataSignature.verify(req, with: Keys.rsa2048.publicKey) == .keyTypeMismatch, c)
        }
        if let salt = s.userData.pssSalt {
            let bits = s.userData.type == .rsa2048 ? 2048 : 3072
            #expect(pssSaltLength(signature: sig, publicKeyDER: signer.publicKey.publicKeyDER, modulusBits: bits) == salt, c)
        }
    }

    @Test("the 7-keyslot meta request has the reference size (1832 bytes)")
    func referenceSizes() throws {
        #expect(try quickRequest(hosts: 1).count == 1352)
        #expect(try quickRequest(hosts: 7).count == 1832)
        let assoc = RequestBuilder.Secret.association(id: .repeating(0x11, 32), value: SecureBytes(copying: [UInt8].repeating(0x11, 32)))
        #expect(try quickRequest(secret: assoc).count == 1416)
    }

    @Test("host-key hash: the reference value for s390-tools' test host key")
    func hostKeyHashKnownValue() throws {
        let key = try PublicKey.load(Array(s390ToolsTestHostKeyPEM.utf8))
        #expect(try RequestKeys.hostKeyHash(key).hex == s390ToolsTestHostKeyHash)
        #expect(independentHostKeyHash(key).hex == s390ToolsTestHostKeyHash)
    }

    @Test("builder refuses what it cannot encode")
    func builderRefusals() throws {
        let host = Keys.hosts[0].publicKey
        let id = [UInt8].repeating(1, 32)
        func fails(_ secret: RequestBuilder.Secret, hosts: [PublicKey] = [Keys.hosts[0].publicKey],
                   _ configure: (inout RequestBuilder) -> Void = { _ in }) -> Bool {
            var b = RequestBuilder(secret: secret, hostKeys: hosts, tags: fixedTags)
            configure(&b)
            return (try? b.build()) == nil
        }
        #expect(fails(.meta, hosts: []))
        #expect(fails(.meta, hosts: [Keys.secretP256.publicKey]))
        #expect(fails(.meta, hosts: Array(repeating: host, count: 256)))
        #expect(fails(.retrievable(.aes256, id: id, value: SecureBytes(count: 16))))
        #expect(fails(.retrievable(.association, id: id, value: SecureBytes(count: 32))))
        #expect(fails(.retrievable(.plain, id: id, value: SecureBytes(count: 17))))
        #expect(fails(.retrievable(.aes128, id: [1], value: SecureBytes(count: 16))))
        #expect(fails(.association(id: id, value: SecureBytes(count: 31))))
        #expect(fails(.updateCCK(SecureBytes(count: 16))))
        #expect(fails(.meta) { $0.configUID = [1] })
        #expect(fails(.meta) { $0.userData = .unsigned(.repeating(1, 513)) })
        #expect(fails(.meta) { $0.userData = .signed(.repeating(1, 257), key: Keys.tenant) })
        #expect(fails(.meta) { $0.userData = .signed(.repeating(1, 129), key: Keys.rsa3072) })
        #expect(fails(.meta) { $0.userData = .signed([1], key: Keys.secretP256) })
        #expect(fails(.meta) { $0.extensionSecret = .simple(SecureBytes(count: 31)) })
        #expect(fails(.meta) { $0.extensionSecret = .derived(cck: SecureBytes(count: 33)) })
        #expect(fails(.meta) { $0.customerKey = Keys.secretP384 })
        #expect(fails(.meta) { $0.iv = [0] })
        #expect(fails(.meta) { $0.protectionKey = SecureBytes(count: 16) })
        // 255 keyslots is the maximum and still works.
        #expect(!fails(.meta, hosts: Array(repeating: host, count: 255)))
    }
}
