// SecretValue encodings and SecretID forms (add-secret-request.md §7, §8).
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import SEVocabulary

@Suite struct SecretValueTests {
    @Test("plaintext encoding: u16 length, payload, zero padding to 16",
          arguments: [(0, 16), (1, 16), (13, 16), (14, 16), (15, 32), (30, 32), (31, 48), (4000, 4016), (8189, 8192), (8190, 8192)])
    func plaintextEncoding(payloadSize: Int, storedSize: Int) throws {
        let payload = Random.bytes(payloadSize)
        let enc = try SecretValue.plaintext(SecureBytes(copying: payload))
        #expect(enc.count == storedSize)
        #expect(enc.count % 16 == 0)
        #expect(enc[0] == UInt8(payloadSize >> 8) && enc[1] == UInt8(payloadSize & 0xFF))
        let bodyOK = sameSecret(enc, referencePlaintextEncoding(payload))
        #expect(bodyOK, "payload follows the length, then zeros")
        #expect(SecretType.plain.isValidLength(enc.count))
        let decoded = SecretValue.decodePlaintext(enc)
        let roundTrip = decoded.map { sameSecret($0, payload) } ?? false
        #expect(roundTrip)
    }

    @Test("plaintext payloads over 8190 bytes are refused")
    func plaintextTooLong() {
        #expect(SecretValue.maxPlaintextPayload == 8190)
        #expect(throws: SecretValue.InvalidInput.self) { _ = try SecretValue.plaintext(SecureBytes(count: 8191)) }
        #expect(throws: SecretValue.InvalidInput.self) { _ = try SecretValue.plaintext(SecureBytes(count: 65535)) }
    }

    @Test("decoding refuses buffers that are not in the plaintext form")
    func plaintextDecodingRefusals() {
        func decodes(_ b: [UInt8]) -> Bool { SecretValue.decodePlaintext(SecureBytes(copying: b)) != nil }
        #expect(!decodes([]))
        #expect(!decodes([0]))
        #expect(decodes([0, 0]))                                           // empty payload, no padding
        #expect(decodes([0, 3, 1, 2, 3] + .repeating(0, 11)))              // 16 bytes
        #expect(!decodes([0, 3, 1, 2, 3] + .repeating(0, 10) + [1]))       // non-zero padding
        #expect(!decodes([0, 3, 1, 2, 3] + .repeating(0, 27)))             // 16 or more bytes of padding
        #expect(!decodes([0, 20] + .repeating(1, 14)))                     // length beyond the buffer
        #expect(!decodes([0x20, 0x00] + .repeating(0, 8192)))              // 8192 > 8190
        #expect(decodes([0x1F, 0xFE] + .repeating(7, 8190)))               // 8190, exactly 8192 bytes
        #expect(!decodes([0xFF, 0xFF] + .repeating(0, 14)))
    }

    @Test("symmetric key types by family and size")
    func symmetricTypes() throws {
        let good: [(String, Int, SecretType)] = [
            ("aes", 16, .aes128), ("aes", 24, .aes192), ("aes", 32, .aes256),
            ("aes-xts", 32, .aesXTS128), ("aes-xts", 64, .aesXTS256),
            ("hmac-sha", 64, .hmacSHA256), ("hmac-sha", 128, .hmacSHA512),
        ]
        for (family, size, type) in good {
            #expect(try SecretValue.symmetricType(family: family, length: size) == type)
            #expect(type.fixedLength == size)
        }
        let bad: [(String, Int)] = [("aes", 0), ("aes", 20), ("aes", 64), ("aes-xts", 16), ("aes-xts", 48),
                                    ("hmac-sha", 32), ("hmac-sha", 100), ("des", 8), ("", 16), ("AES", 16)]
        for (family, size) in bad {
            #expect(throws: SecretValue.InvalidInput.self, "\(family) \(size)") {
                _ = try SecretValue.symmetricType(family: family, length: size)
            }
        }
    }

    @Test("HMAC K0: short keys zero-padded, long keys hashed then padded (FIPS 198-1)")
    func hmacK0() {
        for (sha512, block) in [(false, 64), (true, 128)] {
            let short = Random.bytes(20)
            let k0 = SecretValue.hmacK0(SecureBytes(copying: short), sha512: sha512)
            let padOK = sameSecret(k0, short.rightPadded(to: block))
            #expect(k0.count == block)
            #expect(padOK)

            let exact = Random.bytes(block)
            let exactOK = sameSecret(SecretValue.hmacK0(SecureBytes(copying: exact), sha512: sha512), exact)
            #expect(exactOK, "a key of exactly the block size is used as is")

            let long = Random.bytes(block + 1)
            let hashed = libcryptoDigest(long, sha512: sha512).rightPadded(to: block)
            let longOK = sameSecret(SecretValue.hmacK0(SecureBytes(copying: long), sha512: sha512), hashed)
            #expect(longOK, "a longer key is hashed first")

            let empty = SecretValue.hmacK0(SecureBytes(count: 0), sha512: sha512)
            #expect(empty.count == block && empty.equals(.repeating(0, block)))
        }
    }

    @Test("EC and Edwards private keys are left-padded to the type's size")
    func privateKeyEncoding() throws {
        let cases: [(PrivateKey, SecretType, Int, Int)] = [
            (Keys.secretP256, .ecP256, 32, 32), (Keys.secretP384, .ecP384, 48, 48), (Keys.secretP521, .ecP521, 80, 66),
            (Keys.secretEd25519, .ed25519, 32, 32), (Keys.secretEd448, .ed448, 64, 57),
        ]
        for (key, type, size, raw) in cases {
            let (t, v) = try SecretValue.privateKey(key)
            #expect(t == type)
            #expect(v.count == size)
            let bytes = v.unsafeCopyToArray()
            let paddingZero = bytes.prefix(size - raw).allSatisfy { $0 == 0 }
            let rawOK = sameSecret(try key.rawPrivateKey(), Array(bytes.suffix(raw)))
            #expect(paddingZero && rawOK, "\(type.name)")
        }
        // The P-521 value rebuilds the same key.
        let (_, v) = try SecretValue.privateKey(Keys.secretP521)
        #expect(try PrivateKey.p521(scalar: v).publicKey == Keys.secretP521.publicKey)
        // Keys that cannot be retrievable secrets.
        #expect(throws: (any Error).self) { _ = try SecretValue.privateKey(Keys.rsa2048) }
    }

    @Test("secret type table (§7)")
    func secretTypeTable() {
        #expect(SecretType.allCases.count == 16)
        #expect(SecretType.null.rawValue == 1 && SecretType.updateCCK.rawValue == 0x16)
        #expect(SecretType(rawValue: 0x0B) == nil && SecretType(rawValue: 0x10) == nil && SecretType(rawValue: 0x17) == nil)
        #expect(!SecretType.null.isListable && !SecretType.updateCCK.isListable)
        #expect(SecretType.association.isListable && !SecretType.association.isRetrievable)
        #expect(SecretType.plain.isRetrievable && !SecretType.plain.isKey)
        for t in SecretType.allCases {
            #expect(SecretType(name: t.name) == t)
        }
    }
}

@Suite struct SecretIDTests {
    @Test("hashed ID is SHA-256 of the UTF-8 name (§8 vector)")
    func hashed() {
        #expect(SecretID.hashed(name: "add_secret_request", sha256: Digest.sha256).hex ==
            "70dc758d711fef605b1b1b1774a2a4ab701020ea4b2cb399ebbdd5a3971c76a9")
        #expect(SecretID.hashed(name: "add_secret_request", sha256: { libcryptoDigest($0) }) ==
            libcryptoDigest(Array("add_secret_request".utf8)))
        // A hashed ID is no raw name.
        #expect(SecretID.asRawName(SecretID.hashed(name: "add_secret_request", sha256: Digest.sha256)) == nil)
        // Names too long for the raw form still hash.
        #expect(SecretID.hashed(name: String(repeating: "x", count: 100), sha256: Digest.sha256).count == 32)
    }

    @Test("raw-name IDs: 1 to 31 bytes, NUL-padded to 32")
    func rawName() {
        let id = SecretID.rawName("luks-rfs-passphrase")!
        #expect(id.count == 32)
        #expect(id == Array("luks-rfs-passphrase".utf8).rightPadded(to: 32))
        #expect(SecretID.asRawName(id) == "luks-rfs-passphrase")

        let name31 = String(repeating: "a", count: 31)
        let id31 = SecretID.rawName(name31)!
        #expect(id31.count == 32 && id31[31] == 0)
        #expect(SecretID.asRawName(id31) == name31)

        #expect(SecretID.rawName(String(repeating: "a", count: 32)) == nil, "32 bytes leave no room for the NUL")
        #expect(SecretID.rawName("") == nil)
        #expect(SecretID.rawName("a\u{0}b") == nil)
        // 31 bytes of UTF-8 (15 × 2 + 1) fit; 32 bytes do not.
        #expect(SecretID.rawName(String(repeating: "é", count: 15) + "a")?.count == 32)
        #expect(SecretID.rawName(String(repeating: "é", count: 16)) == nil)
    }

    @Test("asRawName only accepts printable, NUL-terminated, zero-padded IDs")
    func asRawName() {
        #expect(SecretID.asRawName(.repeating(0, 32)) == nil, "all zero: no name")
        #expect(SecretID.asRawName(.repeating(0x41, 32)) == nil, "no terminating NUL")
        #expect(SecretID.asRawName([0x41, 0, 0x42] + .repeating(0, 29)) == nil, "bytes after the NUL")
        #expect(SecretID.asRawName([0x41, 0x0A] + .repeating(0, 30)) == nil, "control character")
        #expect(SecretID.asRawName([0xC3, 0xA9] + .repeating(0, 30)) == nil, "non-ASCII")
        #expect(SecretID.asRawName([0x20] + .repeating(0, 31)) == " ")
        #expect(SecretID.asRawName(Array("x".utf8) + .repeating(0, 31)) == "x")
    }
}
