// Independent cross-checks of the builder:
// (a) user-data signatures verify with the `openssl` command-line tool;
// (b) a request built from fixed keys decrypts with plain libcrypto calls
//     written here (no RequestDecryption, no SECrypto on that path).
import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import CLibcrypto
import SEVocabulary
import RequestBuilding

// MARK: - (a) openssl CLI

enum OpenSSLCLI {
    /// The `openssl` executable on PATH, or nil.
    static let path: String? = {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/openssl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs openssl with `arguments`; returns its exit status. Output is discarded.
    static func run(_ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

@Suite struct OpenSSLCLICrossCheck {
    enum Case: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case ecP521, rsa2048Salt64, rsa2048Salt190, rsa3072Salt64, rsa3072Salt318
        var testDescription: String { rawValue }

        var key: PrivateKey {
            switch self {
            case .ecP521: return Keys.tenant
            case .rsa2048Salt64, .rsa2048Salt190: return Keys.rsa2048
            case .rsa3072Salt64, .rsa3072Salt318: return Keys.rsa3072
            }
        }

        var salt: Int? {
            switch self {
            case .ecP521: return nil
            case .rsa2048Salt64, .rsa3072Salt64: return 64
            case .rsa2048Salt190: return 190
            case .rsa3072Salt318: return 318
            }
        }
    }

    // Skipped, with this reason, on machines without the openssl tool.
    @Test("builder signatures verify with `openssl dgst -verify`",
          .enabled(if: OpenSSLCLI.path != nil, "the openssl command-line tool is not on PATH"),
          arguments: Case.allCases)
    func opensslVerifies(_ c: Case) throws {
        let bytes = try quickRequest(secret: .association(id: .repeating(3, 32), value: Random.secureBytes(32)),
                                     hosts: 2, userData: .signed(Array("signed by \(c.rawValue)".utf8), key: c.key),
                                     pssSaltLength: c.salt, tags: randomTags())
        let req = try AddSecretRequest.parse(bytes)
        let message = UserDataSignature.signedMessage(bytes, type: req.userDataType)
        #expect(message.count == bytes.count - 16)
        // The signature area is zero in the signed message, and only there.
        let zeroed = UserDataSignature.zeroedRange(for: req.userDataType)!
        #expect(message[zeroed].allSatisfy { $0 == 0 })
        #expect(Array(message[..<zeroed.lowerBound]) == Array(bytes[..<zeroed.lowerBound]))
        #expect(Array(message[zeroed.upperBound...]) == Array(bytes[zeroed.upperBound..<(bytes.count - 16)]))

        let tmp = try TempDir("asrcodec-openssl")
        let dir = URL(fileURLWithPath: tmp.path)
        let pub = dir.appendingPathComponent("pub.pem")
        let sig = dir.appendingPathComponent("sig.bin")
        let msg = dir.appendingPathComponent("msg.bin")
        let bad = dir.appendingPathComponent("bad.bin")
        try Data(c.key.publicKey.publicKeyPEM.utf8).write(to: pub)
        try Data(req.userData.signature).write(to: sig)
        try Data(message).write(to: msg)
        var tampered = message
        tampered[tampered.count - 1] ^= 1  // last ciphertext byte
        try Data(tampered).write(to: bad)

        func verify(_ file: URL, saltOption: String? = nil) throws -> Int32 {
            var args = ["dgst", "-sha512", "-verify", pub.path, "-signature", sig.path]
            if let saltOption {
                args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:\(saltOption)",
                         "-sigopt", "rsa_mgf1_md:sha512"]
            }
            return try OpenSSLCLI.run(args + [file.path])
        }

        if let salt = c.salt {
            // -2: recover the salt length from the signature (auto).
            #expect(try verify(msg, saltOption: "-2") == 0)
            #expect(try verify(bad, saltOption: "-2") != 0)
            // The exact salt length the builder was asked for, and no other.
            #expect(try verify(msg, saltOption: String(salt)) == 0)
            #expect(try verify(msg, saltOption: String(salt == 64 ? 32 : 64)) != 0)
        } else {
            #expect(try verify(msg) == 0)
            #expect(try verify(bad) != 0)
        }
    }
}

// MARK: - (b) plain libcrypto decryption of a request built from fixed keys

/// Minimal libcrypto helpers written for this test only.
enum PlainLibcrypto {
    /// A P-521 key pair from a scalar: the public point is computed with
    /// EC_POINT_mul and both are imported with EVP_PKEY_fromdata.
    /// Returns the key and the uncompressed public point (04 ‖ X ‖ Y).
    static func p521KeyPair(scalar: [UInt8]) throws -> (OpaquePointer, [UInt8]) {
        struct Failed: Error, CustomStringConvertible { let description: String }
        guard let group = EC_GROUP_new_by_curve_name(NID_secp521r1) else { throw Failed(description: "EC_GROUP_new_by_curve_name") }
        defer { EC_GROUP_free(group) }
        guard let priv = BN_bin2bn(scalar, Int32(scalar.count), nil) else { throw Failed(description: "BN_bin2bn") }
        defer { BN_clear_free(priv) }
        guard let point = EC_POINT_new(group) else { throw Failed(description: "EC_POINT_new") }
        defer { EC_POINT_free(point) }
        guard EC_POINT_mul(group, point, priv, nil, nil, nil) == 1 else { throw Failed(description: "EC_POINT_mul") }
        var pub = [UInt8](repeating: 0, count: 133)
        guard EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, &pub, pub.count, nil) == 133 else {
            throw Failed(description: "EC_POINT_point2oct")
        }
        guard let key = importEC(pub: pub, priv: priv) else { throw Failed(description: "EVP_PKEY_fromdata") }
        return (key, pub)
    }

    // OSSL_PARAM_BLD keeps pointers to the names and values until
    // OSSL_PARAM_BLD_to_param (values) or for the life of the OSSL_PARAM
    // array (names), so names are static strings and everything happens
    // inside the closures that pin the buffers.
    static let groupKey: StaticString = "group"
    static let pubKey: StaticString = "pub"
    static let privKey: StaticString = "priv"
    static func cName(_ s: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
    }

    /// Imports an EC P-521 key with EVP_PKEY_fromdata: the public point
    /// (04 ‖ X ‖ Y) and, if given, the private scalar.
    static func importEC(pub: [UInt8], priv: OpaquePointer?) -> OpaquePointer? {
        guard let bld = OSSL_PARAM_BLD_new() else { return nil }
        defer { OSSL_PARAM_BLD_free(bld) }
        return "secp521r1".withCString { group in
            pub.withUnsafeBytes { p -> OpaquePointer? in
                guard OSSL_PARAM_BLD_push_utf8_string(bld, cName(groupKey), group, 0) == 1,
                      OSSL_PARAM_BLD_push_octet_string(bld, cName(pubKey), p.baseAddress, p.count) == 1 else { return nil }
                if let priv { guard OSSL_PARAM_BLD_push_BN(bld, cName(privKey), priv) == 1 else { return nil } }
                guard let params = OSSL_PARAM_BLD_to_param(bld) else { return nil }
                defer { OSSL_PARAM_free(params) }
                // EVP_PKEY_KEYPAIR (0x87) / EVP_PKEY_PUBLIC_KEY (0x86), see openssl/evp.h.
                return fromData(params, selection: priv == nil ? 0x86 : 0x87)
            }
        }
    }

    /// A P-521 public key from the request's 80-byte padded coordinates.
    static func p521PublicKey(x80: [UInt8], y80: [UInt8]) -> OpaquePointer? {
        guard x80[0..<14].allSatisfy({ $0 == 0 }), y80[0..<14].allSatisfy({ $0 == 0 }) else { return nil }
        return importEC(pub: [0x04] + x80[14...] + y80[14...], priv: nil)
    }

    static func fromData(_ params: UnsafeMutablePointer<OSSL_PARAM>, selection: Int32) -> OpaquePointer? {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_fromdata_init(ctx) == 1, EVP_PKEY_fromdata(ctx, &key, selection, params) == 1 else { return nil }
        return key
    }

    /// ECDH with EVP_PKEY_derive: the raw shared X coordinate.
    static func ecdh(_ priv: OpaquePointer, _ peer: OpaquePointer) -> [UInt8]? {
        guard let ctx = EVP_PKEY_CTX_new(priv, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(ctx) }
        var len = 0
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_derive_set_peer(ctx, peer) == 1,
              EVP_PKEY_derive(ctx, nil, &len) == 1 else { return nil }
        var z = [UInt8](repeating: 0, count: len)
        guard EVP_PKEY_derive(ctx, &z, &len) == 1 else { return nil }
        return Array(z[0..<len])
    }

    /// AES-256-GCM decryption with a 12-byte IV; nil if the tag does not match.
    static func aes256GCMOpen(key: [UInt8], iv: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) -> [UInt8]? {
        guard let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var outl: Int32 = 0
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, iv) == 1 else { return nil }
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &outl, aad, Int32(aad.count)) == 1 else { return nil }
        }
        var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var total = 0
        if !ciphertext.isEmpty {
            guard EVP_DecryptUpdate(ctx, &out, &outl, ciphertext, Int32(ciphertext.count)) == 1 else { return nil }
            total = Int(outl)
        }
        var t = tag
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, &t) == 1 else { return nil }
        let ok = out.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(ctx, $0.baseAddress! + total, &outl) }
        guard ok == 1 else { return nil }
        return Array(out[0..<(total + Int(outl))])
    }
}

@Suite struct PlainLibcryptoCrossCheck {
    /// A valid P-521 scalar: 0x00 ‖ SHA-512(label) (65 bytes, below the group order).
    static func fixedScalar(_ label: String) -> [UInt8] {
        [0] + libcryptoDigest(Array(label.utf8), sha512: true)
    }

    @Test("a request from fixed keys decrypts with plain libcrypto calls")
    func decryptWithPlainLibcrypto() throws {
        let customerScalar = Self.fixedScalar("se-secretd test customer key")
        let hostScalar = Self.fixedScalar("se-secretd test host key")
        let protectionKey = libcryptoDigest(Array("se-secretd test protection key".utf8))
        let iv = Array(libcryptoDigest(Array("se-secretd test IV".utf8)).prefix(12))
        let payload = Array("correct horse battery staple".utf8)
        let cck = libcryptoDigest(Array("se-secretd test CCK".utf8))
        let tags = randomTags()

        // Build (this side may use SECrypto: it is the code under test).
        let hostKey = try PrivateKey.p521(scalar: SecureBytes(copying: hostScalar))
        let value = try SecretValue.plaintext(SecureBytes(copying: payload))
        var b = RequestBuilder(secret: .retrievable(.plain, id: SecretID.rawName("fixed")!, value: value),
                               hostKeys: [hostKey.publicKey], tags: tags)
        b.customerKey = try PrivateKey.p521(scalar: SecureBytes(copying: customerScalar))
        b.protectionKey = SecureBytes(copying: protectionKey)
        b.iv = iv
        b.extensionSecret = .derived(cck: SecureBytes(copying: cck))
        b.userData = .unsigned(Array("plain libcrypto".utf8))
        let bytes = try b.build()
        #expect(try b.build() == bytes, "fixed inputs give identical requests")

        // Everything below reads the raw bytes with offsets from the reference
        // and calls libcrypto directly.
        let rql = Int(bytes.readBE(UInt32.self, at: 0x0C))
        let sea = Int(bytes.readBE(UInt32.self, at: 0x2C))
        let nks = Int(bytes[0x27])
        #expect(rql == bytes.count && nks == 1)
        #expect(Array(bytes[0x10..<0x1C]) == iv)

        let (customerPair, customerPub) = try PlainLibcrypto.p521KeyPair(scalar: customerScalar)
        let (hostPair, hostPub) = try PlainLibcrypto.p521KeyPair(scalar: hostScalar)
        defer { EVP_PKEY_free(customerPair); EVP_PKEY_free(hostPair) }

        // Customer public key at 0x418: X and Y, each left-padded to 80 bytes.
        let cx = Array(bytes[0x418..<0x468]), cy = Array(bytes[0x468..<0x4B8])
        #expect(cx == Array(customerPub[1..<67]).leftPadded(to: 80))
        #expect(cy == Array(customerPub[67..<133]).leftPadded(to: 80))

        // Keyslot 0: PHKH = SHA-256(X80 ‖ Y80) of the host key.
        let slot = Array(bytes[0x4B8..<0x508])
        let phkh = libcryptoDigest(Array(hostPub[1..<67]).leftPadded(to: 80) + Array(hostPub[67..<133]).leftPadded(to: 80))
        #expect(Array(slot[0..<32]) == phkh)

        // UV side: ECDH(host private, customer public) → KEK → unwrap the keyslot.
        guard let customerPublic = PlainLibcrypto.p521PublicKey(x80: cx, y80: cy) else {
            Issue.record("the customer key in the request is not a P-521 point")
            return
        }
        defer { EVP_PKEY_free(customerPublic) }
        guard let z = PlainLibcrypto.ecdh(hostPair, customerPublic) else {
            Issue.record("ECDH failed")
            return
        }
        #expect(z.count == 66)
        // Both sides of the exchange agree.
        #expect(PlainLibcrypto.ecdh(customerPair, hostPair).map { $0 == z } == true)
        let kek = libcryptoDigest(z + [0, 0, 0, 1])
        let unwrapped = PlainLibcrypto.aes256GCMOpen(key: kek, iv: .repeating(0, 12), aad: [],
                                                     ciphertext: Array(slot[32..<64]), tag: Array(slot[64..<80]))
        let unwrapOK = unwrapped == protectionKey
        #expect(unwrapOK, "keyslot unwraps to the protection key")

        // Body: AAD = [0, rql − sea − 16), ciphertext, tag.
        let aadLength = rql - sea - 16
        let plaintext = PlainLibcrypto.aes256GCMOpen(key: unwrapped ?? [], iv: iv, aad: Array(bytes[0..<aadLength]),
                                                     ciphertext: Array(bytes[aadLength..<(rql - 16)]),
                                                     tag: Array(bytes[(rql - 16)...]))
        let encoded = referencePlaintextEncoding(payload)
        let ext = independentHKDFSHA512(ikm: cck, salt: tags.tag, info: extensionSecretInfo, length: 32)
        let plaintextOK = plaintext == encoded + ext
        #expect(plaintextOK, "plaintext is value ‖ extension secret")
        #expect(sea == encoded.count + 32)

        // And a wrong AAD byte is refused by plain libcrypto as well.
        var badAAD = Array(bytes[0..<aadLength])
        badAAD[0x30] ^= 0x80
        let refused = PlainLibcrypto.aes256GCMOpen(key: unwrapped ?? [], iv: iv, aad: badAAD,
                                                   ciphertext: Array(bytes[aadLength..<(rql - 16)]),
                                                   tag: Array(bytes[(rql - 16)...])) == nil
        #expect(refused)
    }

    @Test("the independent HKDF reproduces the reference vector (§9)")
    func hkdfReferenceVector() {
        let out = independentHKDFSHA512(ikm: .repeating(0, 32), salt: .repeating(4, 16), info: extensionSecretInfo, length: 32)
        #expect(out.hex == "b7e28c1ed1ecd063afe5eb9b54c6685aca5c193163e82e2071c3150ed6ff6473")
    }

    @Test("a derived extension secret matches the reference vector end to end")
    func derivedExtensionSecretVector() throws {
        var b = RequestBuilder(secret: .meta, hostKeys: [Keys.hosts[0].publicKey], tags: fixedTags)  // tag = 0x04×16
        b.extensionSecret = .derived(cck: SecureBytes(count: 32))
        let req = try AddSecretRequest.parse(try b.build())
        let p = try RequestDecryption.decrypt(req, hostKey: Keys.hosts[0])
        let ok = sameSecret(p.extensionSecret, [UInt8](hex: "b7e28c1ed1ecd063afe5eb9b54c6685aca5c193163e82e2071c3150ed6ff6473")!)
        #expect(ok)
        #expect(p.value.count == 0)
    }
}
