// IBM's known-answer vectors for attestation, rebuilt with se-secretd's code
// from IBM's fixed inputs and compared by digest (assets) or exactly (the
// HMAC constants of the unit tests).
//
// Source: ibm-s390-linux/s390-tools, read at commit
// c66495888dc82070512655ab81ae2c9a13713e9f (v2.43.0-1), MIT license
// (Copyright IBM Corp.; the license text is s390-tools' LICENSE file):
// - rust/pv/tests/assets/exp/arcb.bin — the expected ARCB, made by
//   rust/pv/src/uvattest/arcb.rs's `mk_arcb` from IV 0x55×12, ARPK 0x17×32,
//   measurement key 0x77×64, nonce 0xAB×16, flags image PHKH + attestation
//   PHKH (+ nonce, always), one keyslot for keys/host.pem.crt, customer key
//   keys/private_cust.bin (TestSupport's IBMInputs); its tamper tests
//   (byte 0 = 17, byte 0x3B = 17, byte 0x3C = 17);
// - rust/pv/tests/assets/exp/keyslot.bin — the keyslot for ARPK 0x17×32 (=
//   bytes 0xE0..<0x130 of arcb.bin);
// - rust/pv/src/uvattest/attest.rs — the four HMAC-SHA512 measurement
//   constants (key 0x41×64, tags 1×64/2×64/3×64/4×16, CUID 5×16, user
//   7×256, nonce 8×16, additional 9×128), written below as hex;
// - rust/pvattest/tests/assets/exp/exchange/*.bin and
//   rust/pv/tests/assets/exp/exchange.bin — exchange files made by
//   rust/pvattest/src/exchange.rs's tests from ARCB 0x11×16, measurement
//   0x12×64, additional 0x13×32, CUID 0x14×16, user 0x15×256 (exchange.bin:
//   user 0x13×256); the eight negative tests of exchange.rs.
// Only SHA-256 digests and lengths of the asset files are written here
// (computed with sha256sum on the files at that commit).
import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import RequestBuilding
import TestSupport

enum IBMAttestationInputs {
    static let arcbSHA256 = "8eefb020aea5b26d6da24d601636cb3cf034825f71e81c7b1f29c4dfffcaa8a7"
    static let arcbLength = 400
    static let keyslotSHA256 = "26da705b572e6578c679e75f152268ae720145b15b00728dc84533a5816b235c"
    static let iv: [UInt8] = [UInt8].repeating(0x55, 12)
    static let arpk: [UInt8] = [UInt8].repeating(0x17, 32)
    static let measurementKey: [UInt8] = [UInt8].repeating(0x77, 64)
    static let nonce: [UInt8] = [UInt8].repeating(0xAB, 16)
    static let flags: AttestationFlags = [.imagePHKH, .attestationPHKH]

    static func builder() throws -> AttestationRequestBuilder {
        var b = AttestationRequestBuilder(hostKeys: [try IBMInputs.hostPublicKey], additionalData: flags)
        b.customerKey = try PrivateKey.p521(scalar: SecureBytes(copying: IBMInputs.customerScalar))
        b.protectionKey = SecureBytes(copying: arpk)
        b.iv = iv
        b.measurementKey = SecureBytes(copying: measurementKey)
        b.nonce = SecureBytes(copying: nonce)
        return b
    }

    /// exp/arcb.bin, rebuilt; checked against IBM's digest before use.
    static func arcb() throws -> [UInt8] {
        let bytes = try builder().build().arcb
        try #require(sha256Hex(bytes) == arcbSHA256, "SHA-256 of rust/pv/tests/assets/exp/arcb.bin")
        return bytes
    }
}

@Suite struct IBMARCBVector {
    @Test("the builder rebuilds exp/arcb.bin byte for byte; its keyslot is exp/keyslot.bin")
    func rebuildsARCB() throws {
        let bytes = try IBMAttestationInputs.builder().build().arcb
        #expect(bytes.count == IBMAttestationInputs.arcbLength)
        #expect(sha256Hex(bytes) == IBMAttestationInputs.arcbSHA256)
        #expect(sha256Hex(Array(bytes[0xE0..<0x130])) == IBMAttestationInputs.keyslotSHA256)
    }

    @Test("the parser reads IBM's ARCB as IBM made it")
    func parsesARCB() throws {
        let r = try AttestationRequest.parse(try IBMAttestationInputs.arcb())
        #expect(r.version == 0x100)
        #expect(r.length == 400)
        #expect(r.iv == IBMAttestationInputs.iv)
        #expect(r.flags.rawValue == 0x7000_0000_0000_0000)
        #expect(r.flags == [.nonce, .imagePHKH, .attestationPHKH])
        #expect(r.hasNonce)
        #expect(r.measurementAlgorithm == .hmacSHA512)
        #expect(r.encryptedSize == 80)
        #expect(r.aadLength == 0x130)
        #expect(r.keyslots.count == 1)
        #expect(r.keyslots[0].hostKeyHash.hex == IBMInputs.hostKeyHash)
        #expect(r.hasKeyslot(forAnyOf: [[UInt8](hex: IBMInputs.hostKeyHash)!]))
        #expect(r.requestedAdditionalData == [.imagePHKH, .attestationPHKH])
        #expect(r.additionalDataSize == 64)
        #expect(r.measurementSize == 64)
        let (x, y) = try PrivateKey.p521(scalar: SecureBytes(copying: IBMInputs.customerScalar)).publicKey.ecCoordinates()
        #expect(r.customerKeyX == x.leftPadded(to: 80) && r.customerKeyY == y.leftPadded(to: 80))
    }

    @Test("IBM's ARCB decrypts with the ARPK to IBM's measurement key and nonce")
    func decryptsWithARPK() throws {
        let r = try AttestationRequest.parse(try IBMAttestationInputs.arcb())
        let c = try r.decrypt(protectionKey: SecureBytes(copying: IBMAttestationInputs.arpk))
        let keyOK = same(c.measurementKey, IBMAttestationInputs.measurementKey)
        let nonceOK = same(c.nonce, IBMAttestationInputs.nonce)
        #expect(keyOK, "measurement key 0x77×64")
        #expect(nonceOK, "nonce 0xAB×16")
        #expect(throws: AttestationRequest.DecryptionFailure.authenticationFailed) {
            _ = try r.decrypt(protectionKey: SecureBytes(copying: [UInt8].repeating(0x18, 32)))
        }
        #expect(throws: AttestationRequest.DecryptionFailure.badProtectionKeySize(31)) {
            _ = try r.decrypt(protectionKey: SecureBytes(copying: [UInt8].repeating(0x17, 31)))
        }
    }

    /// IBM publishes no host private key. ECDH(host private, customer public)
    /// = ECDH(customer private, host public), so the ultravisor's path — find
    /// the slot by PHKH, unwrap the ARPK with Z, decrypt — runs with Z from
    /// the customer side.
    @Test("the keyslot unwraps \"as the ultravisor\" via ECDH symmetry")
    func unwrapsAsUltravisor() throws {
        let r = try AttestationRequest.parse(try IBMAttestationInputs.arcb())
        let customer = try PrivateKey.p521(scalar: SecureBytes(copying: IBMInputs.customerScalar))
        let z = try customer.sharedSecret(with: try IBMInputs.hostPublicKey)
        #expect(z.count == 66)
        let kekOK = RequestKeys.keyEncryptionKey(sharedSecret: z).equals([UInt8](hex: IBMInputs.kek)!)
        #expect(kekOK, "KEK of rust/pv/src/crypto.rs")
        let arpk = try KeyslotCrypto.unwrap(r.keyslots[0], sharedSecret: z)
        let arpkOK = same(arpk, IBMAttestationInputs.arpk)
        #expect(arpkOK, "ARPK 0x17×32")
        let c = try AttestationRequestDecryption.decrypt(r, sharedSecret: z, hostKeyHash: [UInt8](hex: IBMInputs.hostKeyHash)!)
        let keyOK = same(c.measurementKey, IBMAttestationInputs.measurementKey)
        #expect(keyOK)
        // Another host's hash finds no slot; another Z does not unwrap.
        #expect(throws: RequestDecryption.Failure.noKeyslotForHost) {
            _ = try AttestationRequestDecryption.decrypt(r, sharedSecret: z, hostKeyHash: [UInt8].repeating(0, 32))
        }
        let otherZ = try customer.sharedSecret(with: Keys.host.publicKey)
        #expect(throws: RequestDecryption.Failure.keyslotUnwrapFailed) {
            _ = try KeyslotCrypto.unwrap(r.keyslots[0], sharedSecret: otherZ)
        }
        // A host private key whose hash is in no slot.
        #expect(throws: RequestDecryption.Failure.noKeyslotForHost) {
            _ = try AttestationRequestDecryption.decrypt(r, hostKey: Keys.host)
        }
    }

    /// arcb.rs's three tamper tests. Byte 0x3C is reserved: IBM's looser
    /// parser lets GCM catch it; the strict parser refuses it first. That the
    /// GCM tag covers it too is checked by opening with the raw AAD.
    @Test("IBM's three ARCB tamper cases are refused")
    func tamperCases() throws {
        let good = try IBMAttestationInputs.arcb()
        var magic = good; magic[0] = 17
        expectARCBRule(magic, .notARCB)
        var mai = good; mai[0x3B] = 17
        let e = expectARCBRule(mai, .badMeasurementAlgorithm)
        #expect(e?.message.hasPrefix("unknown measurement algorithm 17") == true)
        var aad = good; aad[0x3C] = 17
        expectARCBRule(aad, .reservedNotZero)
        let tamperedAADFails = (try? AESGCM.open(key: SecureBytes(copying: IBMAttestationInputs.arpk), iv: IBMAttestationInputs.iv,
                                                 aad: Array(aad[0..<0x130]), ciphertext: Array(aad[0x130..<0x180]),
                                                 tag: Array(aad[0x180...]))) == nil
        #expect(tamperedAADFails, "GCM over the AAD with byte 0x3C changed")
    }
}

@Suite struct IBMMeasurementVectors {
    static let key: [UInt8] = [UInt8].repeating(0x41, 64)
    static let tags = SEHeaderTags(pld: [UInt8].repeating(1, 64), ald: [UInt8].repeating(2, 64), tld: [UInt8].repeating(3, 64), tag: [UInt8].repeating(4, 16))
    static let cuid: [UInt8] = [UInt8].repeating(5, 16)
    static let user: [UInt8] = [UInt8].repeating(7, 256)
    static let nonce: [UInt8] = [UInt8].repeating(8, 16)
    static let additional: [UInt8] = [UInt8].repeating(9, 128)

    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let user: Bool, nonce: Bool, additional: Bool
        let hmac: String
        var testDescription: String { name }
    }

    /// attest.rs: measurement_all, measurement_user_add, measurement_add, measurement_minimal.
    static let vectors = [
        Vector(name: "all", user: true, nonce: true, additional: true,
               hmac: "88794c62cce7bcf26216deb3f48f13fea6374b6d7e35bcc5c2ce68121db6f45d" +
                     "fc8c171856463549408bf8e7d1aca11efad0a878af97dc9e21a1fc2a32f3a675"),
        Vector(name: "user+additional", user: true, nonce: false, additional: true,
               hmac: "fbd4f738a390edd947cd4f11af3a2f3bab2fdf8bf89bf81beb495117f4382cf4" +
                     "2f0730c8c7d9e3ca27fb25adfceb21224f57fdb398dcf41a83c146e6a23db760"),
        Vector(name: "additional", user: false, nonce: false, additional: true,
               hmac: "63671fbf295036eb1023ea71f7182e7d6343dc7b2da584e824d0a7d198ab9cde" +
                     "d756c93b39050ffb764555b01f88cb82017a6a15c7e0bafc6005f1e4f78aa124"),
        Vector(name: "minimal", user: false, nonce: false, additional: false,
               hmac: "c5c34c93835d1ec23f5c2d778dfa20129b11b305601742cb2f38e0ed9894dcdb" +
                     "73fc8695ab6a8dbad0744073ddc81a5eaafa52e4a15af8deb8d761091922847f"),
    ]

    func items(_ v: Vector) -> MeasuredItems {
        MeasuredItems(tags: Self.tags, configUID: Self.cuid, userData: v.user ? Self.user : [],
                      nonce: v.nonce ? SecureBytes(copying: Self.nonce) : nil, additionalData: v.additional ? Self.additional : [])
    }

    @Test("the measurement is IBM's HMAC", arguments: vectors)
    func computes(_ v: Vector) throws {
        let m = try Measurement.compute(key: SecureBytes(copying: Self.key), items: items(v))
        #expect(m.hex == v.hmac)
        #expect(try Measurement.verify([UInt8](hex: v.hmac)!, key: SecureBytes(copying: Self.key), items: items(v)))
    }

    @Test("the measured message has the documented layout")
    func messageLayout() throws {
        let m = try Measurement.message(items(Self.vectors[0])).unsafeCopyToArray()
        #expect(m.count == 0xE8 + 256 + 16 + 128)
        #expect(Array(m[0..<0xD0]) == Self.tags.bytes)
        #expect(Array(m[0xD0..<0xE0]) == Self.cuid)
        #expect(Array(m[0xE0..<0xE8]) == [0x01, 0x00, 0, 0, 0, 0, 0, 0x80])
        #expect(Array(m[0xE8..<0x1E8]) == Self.user)
        #expect(Array(m[0x1E8..<0x1F8]) == Self.nonce)
        #expect(Array(m[0x1F8...]) == Self.additional)
    }
}
