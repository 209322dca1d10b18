import Testing
import SEBase
@testable import SECrypto

@Suite struct DigestTests {
    @Test func sha256KnownAnswer() {
        #expect(Digest.sha256(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func sha512KnownAnswer() {
        #expect(Digest.sha512(Array("abc".utf8)).hex.hasPrefix("ddaf35a193617abacc417349ae204131"))
    }

    @Test func secretNameIDFromReference() {
        // The secret ID of the name "add_secret_request" (add-secret-request.md §8).
        #expect(Digest.sha256(Array("add_secret_request".utf8)).hex ==
            "70dc758d711fef605b1b1b1774a2a4ab701020ea4b2cb399ebbdd5a3971c76a9")
    }

    @Test func incrementalEqualsOneShot() {
        let h = Hasher(.sha512)
        h.update(Array("ab".utf8)); h.update(Array("c".utf8))
        #expect(h.finish() == Digest.sha512(Array("abc".utf8)))
    }
}

@Suite struct AESGCMTests {
    @Test func roundTripAndTamper() throws {
        let key = Random.secureBytes(32)
        let iv = Random.bytes(12)
        let aad = Array("header".utf8)
        let pt = SecureBytes(copying: Array("a secret value".utf8))
        let (ct, tag) = try AESGCM.seal(key: key, iv: iv, aad: aad, plaintext: pt)
        #expect(ct.count == pt.count)
        let back = try AESGCM.open(key: key, iv: iv, aad: aad, ciphertext: ct, tag: tag)
        #expect(back.equals(Array("a secret value".utf8)))
        var badAAD = aad; badAAD[0] ^= 1
        #expect(throws: AESGCM.AuthenticationFailure.self) {
            _ = try AESGCM.open(key: key, iv: iv, aad: badAAD, ciphertext: ct, tag: tag)
        }
        var badCT = ct; badCT[3] ^= 0x80
        #expect(throws: AESGCM.AuthenticationFailure.self) {
            _ = try AESGCM.open(key: key, iv: iv, aad: aad, ciphertext: badCT, tag: tag)
        }
    }

    @Test func emptyPlaintextStillAuthenticates() throws {
        let key = Random.secureBytes(32)
        let iv = [UInt8](repeating: 0, count: 12)
        let (ct, tag) = try AESGCM.seal(key: key, iv: iv, aad: [1, 2, 3], plaintext: SecureBytes(count: 0))
        #expect(ct.isEmpty)
        _ = try AESGCM.open(key: key, iv: iv, aad: [1, 2, 3], ciphertext: [], tag: tag)
        #expect(throws: AESGCM.AuthenticationFailure.self) {
            _ = try AESGCM.open(key: key, iv: iv, aad: [1, 2, 4], ciphertext: [], tag: tag)
        }
    }
}

@Suite struct HKDFTests {
    @Test func extensionSecretDerivationFromReference() throws {
        // CCK 0x00*32, salt = SE header tag 0x04*16 (add-secret-request.md §9).
        let out = try HKDF.sha512(ikm: SecureBytes(count: 32), salt: .repeating(0x04, 16),
                                  info: Array("IBM Z Ultravisor Add-Secret".utf8), length: 32)
        #expect(out.unsafeCopyToArray().hex == "b7e28c1ed1ecd063afe5eb9b54c6685aca5c193163e82e2071c3150ed6ff6473")
    }
}

@Suite struct KeyTests {
    @Test func ecdhIsSymmetricAndCoordinatesRoundTrip() throws {
        let a = try PrivateKey.generate(.ec(.p521))
        let b = try PrivateKey.generate(.ec(.p521))
        let z1 = try a.sharedSecret(with: b.publicKey)
        let z2 = try b.sharedSecret(with: a.publicKey)
        #expect(z1.count == 66)
        #expect(z1.equals(z2.unsafeCopyToArray()))
        let (x, y) = try a.publicKey.ecCoordinates()
        #expect(x.count == 66 && y.count == 66)
        let rebuilt = try PublicKey.p521(x: x.leftPadded(to: 80), y: y.leftPadded(to: 80))
        #expect(rebuilt == a.publicKey)
    }

    @Test func offCurvePointIsRejected() throws {
        let a = try PrivateKey.generate(.ec(.p521))
        var (x, y) = try a.publicKey.ecCoordinates()
        y[65] ^= 1
        #expect(throws: CryptoError.self) { _ = try PublicKey.p521(x: x, y: y) }
    }

    @Test func p521FromScalarMatchesGeneratedKey() throws {
        let a = try PrivateKey.generate(.ec(.p521))
        let scalar = try a.rawPrivateKey()
        let b = try PrivateKey.p521(scalar: SecureBytes(copying: scalar.unsafeCopyToArray().leftPadded(to: 80)))
        #expect(b.publicKey == a.publicKey)
    }

    @Test(arguments: [2048, 3072]) func rsaPSSAcceptsAnySaltLength(bits: Int) throws {
        let k = try PrivateKey.generate(.rsa(bits: bits))
        #expect(k.keyType == .rsa(bits: bits))
        let msg = Array("message".utf8)
        let maxSalt = bits / 8 - 64 - 2
        for salt in [0, 20, 64, maxSalt] {
            let sig = try k.sign(msg, scheme: .rsaPSSSHA512(saltLength: salt))
            #expect(k.publicKey.verify(signature: sig, message: msg, scheme: .rsaPSSSHA512(saltLength: nil)))
            #expect(!k.publicKey.verify(signature: sig, message: msg + [0], scheme: .rsaPSSSHA512(saltLength: nil)))
        }
    }

    @Test func ecdsaSignVerifyAndPEMRoundTrip() throws {
        let k = try PrivateKey.generate(.ec(.p521))
        let sig = try k.sign([1, 2, 3], scheme: .ecdsaSHA512)
        let pub = try PublicKey.load(Array(k.publicKey.publicKeyPEM.utf8))
        #expect(pub.keyType == .ec(.p521))
        #expect(pub.verify(signature: sig, message: [1, 2, 3], scheme: .ecdsaSHA512))
        #expect(!pub.verify(signature: sig, message: [1, 2, 4], scheme: .ecdsaSHA512))
        let priv = try PrivateKey.load(Array(k.privateKeyPEM.utf8))
        #expect(priv.publicKey == k.publicKey)
        #expect(try PublicKey.load(k.publicKeyDER) == k.publicKey)
    }

    @Test func selfSignedCertificateCarriesTheKey() throws {
        let k = try PrivateKey.generate(.ec(.p521))
        let cert = try Certificate.selfSigned(key: k, commonName: "test host", organization: "se-secretd", days: 1)
        #expect(cert.subject.contains("CN=test host"))
        let loaded = try PublicKey.load(Array(cert.pem.utf8))
        #expect(loaded == k.publicKey)
    }

    @Test func garbageIsNotAKey() {
        #expect(throws: CryptoError.self) { _ = try PublicKey.load(Array("hello".utf8)) }
        #expect(throws: CryptoError.self) { _ = try PrivateKey.load([0x30, 0x03, 0x02, 0x01, 0x01]) }
    }

    @Test func edwardsRawKeys() throws {
        let e = try PrivateKey.generate(.ed25519)
        #expect(try e.rawPrivateKey().count == 32)
        let f = try PrivateKey.generate(.ed448)
        #expect(try f.rawPrivateKey().count == 57)
    }
}

@Suite struct HMACTests {
    /// RFC 4868 §2.7.2.3, test case AUTH512-1 (the vector of s390-tools'
    /// rust/pv/src/crypto.rs `hmac_sha512_rfc_4868`): 64-byte key.
    @Test func rfc4868Auth512() throws {
        let mac = try HMAC.sha512(key: SecureBytes(copying: [UInt8](repeating: 0x0b, count: 64)), message: Array("Hi There".utf8))
        #expect(mac.hex == "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b")
    }

    /// RFC 4231 test cases 1 (20-byte key, padded) and 6 (131-byte key,
    /// hashed first): the key handling on both sides of the block size.
    @Test func rfc4231ShortAndLongKeys() throws {
        let short = try HMAC.sha512(key: SecureBytes(copying: [UInt8](repeating: 0x0b, count: 20)), message: Array("Hi There".utf8))
        #expect(short.hex == "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")
        let long = try HMAC.sha512(key: SecureBytes(copying: [UInt8](repeating: 0xaa, count: 131)),
                                   message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(long.hex == "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598")
    }

    @Test func emptyMessageAndKeyDiffer() throws {
        let k = SecureBytes(copying: [UInt8](repeating: 0x41, count: 64))
        let a = try HMAC.sha512(key: k, message: [])
        let b = try HMAC.sha512(key: k, message: [0])
        #expect(a.count == 64 && a != b)
        #expect(try HMAC.sha512(key: SecureBytes(copying: [UInt8](repeating: 0x42, count: 64)), message: []) != a)
    }
}
