import CLibcrypto
import SEBase

public enum ECCurve: String, Sendable, CaseIterable {
    case p256 = "prime256v1"
    case p384 = "secp384r1"
    case p521 = "secp521r1"

    public var nid: Int32 {
        switch self {
        case .p256: return NID_X9_62_prime256v1
        case .p384: return NID_secp384r1
        case .p521: return NID_secp521r1
        }
    }

    /// Bytes of a field element / scalar.
    public var fieldSize: Int {
        switch self {
        case .p256: return 32
        case .p384: return 48
        case .p521: return 66
        }
    }

    public var displayName: String {
        switch self {
        case .p256: return "EC P-256"
        case .p384: return "EC P-384"
        case .p521: return "EC P-521"
        }
    }
}

/// What kind of key an EVP_PKEY is.
public enum KeyType: Equatable, Sendable, CustomStringConvertible {
    case ec(ECCurve)
    case rsa(bits: Int)
    case ed25519
    case ed448
    case unsupported(String)

    public var description: String {
        switch self {
        case let .ec(c): return c.displayName
        case let .rsa(bits): return "RSA-\(bits)"
        case .ed25519: return "Ed25519"
        case .ed448: return "Ed448"
        case let .unsupported(s): return "unsupported key (\(s))"
        }
    }
}

/// Signature schemes used for add-secret request user data.
public enum SignatureScheme: Sendable, Equatable {
    /// ECDSA over SHA-512 with a DER-encoded signature.
    case ecdsaSHA512
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512. For signing, `saltLength`
    /// is used (nil: the digest length); verification accepts any valid salt.
    case rsaPSSSHA512(saltLength: Int?)
}

/// Shared wrapper around an EVP_PKEY.
public class EVPKey: @unchecked Sendable {
    let pkey: OpaquePointer

    init(taking pkey: OpaquePointer) { self.pkey = pkey }
    deinit { EVP_PKEY_free(pkey) }

    public var keyType: KeyType {
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_EC:
            var buf = [CChar](repeating: 0, count: 64)
            var len = 0
            guard EVP_PKEY_get_utf8_string_param(pkey, "group", &buf, buf.count, &len) == 1 else {
                return .unsupported("EC with unknown group")
            }
            let name = String(decoding: buf.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return ECCurve(rawValue: name).map { .ec($0) } ?? .unsupported("EC \(name)")
        case EVP_PKEY_RSA:
            return .rsa(bits: Int(EVP_PKEY_get_bits(pkey)))
        case EVP_PKEY_ED25519: return .ed25519
        case EVP_PKEY_ED448: return .ed448
        case let id: return .unsupported("type \(id)")
        }
    }

    /// DER SubjectPublicKeyInfo of the public part.
    public var publicKeyDER: [UInt8] {
        var ptr: UnsafeMutablePointer<UInt8>? = nil
        let len = i2d_PUBKEY(pkey, &ptr)
        guard len > 0, let p = ptr else { return [] }
        defer { CRYPTO_free(p, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: p, count: Int(len)))
    }

    /// PEM "PUBLIC KEY" of the public part.
    public var publicKeyPEM: String {
        let bio = MemoryBIO()
        PEM_write_bio_PUBKEY(bio.bio, pkey)
        return String(decoding: bio.contents(), as: UTF8.self)
    }

    /// SHA-256 over the DER SubjectPublicKeyInfo: a stable fingerprint.
    public var fingerprint: [UInt8] { Digest.sha256(publicKeyDER) }

    /// The affine coordinates of an EC public key, each left-padded to the
    /// curve's field size.
    public func ecCoordinates() throws(CryptoError) -> (x: [UInt8], y: [UInt8]) {
        guard case let .ec(curve) = keyType else { throw CryptoError("not an EC key", detail: "") }
        return (try bnParam("qx", size: curve.fieldSize), try bnParam("qy", size: curve.fieldSize))
    }

    func bnParam(_ name: String, size: Int) throws(CryptoError) -> [UInt8] {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let b = bn else { throw CryptoError("read key parameter \(name)") }
        defer { BN_clear_free(b) }
        var out = [UInt8](repeating: 0, count: size)
        guard BN_bn2binpad(b, &out, Int32(size)) == Int32(size) else { throw CryptoError("key parameter \(name) too large") }
        return out
    }
}

public final class PublicKey: EVPKey, @unchecked Sendable, Equatable {
    public static func == (a: PublicKey, b: PublicKey) -> Bool { EVP_PKEY_eq(a.pkey, b.pkey) == 1 }

    /// Loads a public key from PEM or DER: a SubjectPublicKeyInfo ("PUBLIC
    /// KEY") or an X.509 certificate, whose key is taken (no chain is checked).
    public static func load(_ data: [UInt8]) throws(CryptoError) -> PublicKey {
        CryptoError.clearErrorQueue()
        if let cert = try? Certificate.load(data) { return cert.publicKey }
        if data.starts(with: Array("-----BEGIN".utf8)) || data.contains(UInt8(ascii: "-")) && data.count < 1_000_000 {
            let bio = MemoryBIO(data)
            if let k = PEM_read_bio_PUBKEY(bio.bio, nil, nil, nil) {
                CryptoError.clearErrorQueue()
                return PublicKey(taking: k)
            }
        }
        let k: OpaquePointer? = data.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        guard let key = k else { throw CryptoError("not a PEM or DER public key or certificate") }
        CryptoError.clearErrorQueue()
        return PublicKey(taking: key)
    }

    /// A P-521 public key from its affine coordinates (each up to 66 bytes;
    /// left zero padding, e.g. to 80 bytes as in requests, is accepted). The
    /// point must lie on the curve.
    public static func p521(x: [UInt8], y: [UInt8]) throws(CryptoError) -> PublicKey {
        func strip(_ v: [UInt8]) throws(CryptoError) -> [UInt8] {
            let lead = v.count - 66
            guard lead >= 0 ? v[0..<lead].allSatisfy({ $0 == 0 }) : true else {
                throw CryptoError("P-521 coordinate larger than 66 bytes", detail: "")
            }
            return lead >= 0 ? Array(v[lead...]) : v.leftPadded(to: 66)
        }
        // SubjectPublicKeyInfo: id-ecPublicKey, secp521r1, uncompressed point.
        let prefix: [UInt8] = [0x30, 0x81, 0x9B, 0x30, 0x10, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
                               0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00, 0x04]
        let der = prefix + (try strip(x)) + (try strip(y))
        return try load(der)
    }

    /// Verifies `signature` over `message` (hashed with SHA-512 here).
    public func verify(signature: [UInt8], message: UnsafeRawBufferPointer, scheme: SignatureScheme) -> Bool {
        guard let md = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(md); CryptoError.clearErrorQueue() }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestVerifyInit(md, &pctx, fetchedSHA512, nil, pkey) == 1 else { return false }
        if case .rsaPSSSHA512 = scheme {
            guard EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, fetchedSHA512) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) == 1 else { return false }
        }
        let rc = signature.withUnsafeBufferPointer { sig in
            EVP_DigestVerify(md, sig.baseAddress, sig.count,
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        return rc == 1
    }

    public func verify(signature: [UInt8], message: [UInt8], scheme: SignatureScheme) -> Bool {
        message.withUnsafeBytes { verify(signature: signature, message: $0, scheme: scheme) }
    }
}

public final class PrivateKey: EVPKey, @unchecked Sendable {
    /// Loads a private key from PEM (any OpenSSL-supported form) or DER.
    public static func load(_ data: [UInt8]) throws(CryptoError) -> PrivateKey {
        CryptoError.clearErrorQueue()
        let bio = MemoryBIO(data)
        // An encrypted PEM key fails here instead of making OpenSSL's default
        // callback ask for a passphrase on the terminal (there is none at boot).
        if let k = PEM_read_bio_PrivateKey(bio.bio, nil, { _, _, _, _ in -1 }, nil) {
            CryptoError.clearErrorQueue()
            return PrivateKey(taking: k)
        }
        let k: OpaquePointer? = data.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_AutoPrivateKey(nil, &p, buf.count)
        }
        guard let key = k else { throw CryptoError("not a PEM or DER private key") }
        CryptoError.clearErrorQueue()
        return PrivateKey(taking: key)
    }

    /// A P-521 private key from its scalar (up to 80 bytes, big-endian,
    /// left-padded); the public point is computed.
    public static func p521(scalar: SecureBytes) throws(CryptoError) -> PrivateKey {
        var s = scalar.unsafeCopyToArray()
        defer { s.wipe() }
        let lead = s.count - 66
        guard lead <= 0 || s[0..<lead].allSatisfy({ $0 == 0 }) else {
            throw CryptoError("P-521 scalar larger than 66 bytes", detail: "")
        }
        var body = lead >= 0 ? Array(s[lead...]) : s.leftPadded(to: 66)
        // SEC1 ECPrivateKey { version 1, privateKey, [0] secp521r1 } without
        // the public key, which OpenSSL derives.
        var der: [UInt8] = [0x30, 0x50, 0x02, 0x01, 0x01, 0x04, 0x42] + body +
            [0xA0, 0x07, 0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23]
        body.wipe()
        defer { der.wipe() }
        let k: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PrivateKey(EVP_PKEY_EC, nil, &p, buf.count)
        }
        guard let key = k else { throw CryptoError("invalid P-521 scalar") }
        return PrivateKey(taking: key)
    }

    public enum GenerateType: Sendable { case ec(ECCurve), rsa(bits: Int), ed25519, ed448 }

    public static func generate(_ type: GenerateType) throws(CryptoError) -> PrivateKey {
        let id: Int32
        switch type {
        case .ec: id = EVP_PKEY_EC
        case .rsa: id = EVP_PKEY_RSA
        case .ed25519: id = EVP_PKEY_ED25519
        case .ed448: id = EVP_PKEY_ED448
        }
        guard let ctx = EVP_PKEY_CTX_new_id(id, nil) else { throw CryptoError("key generation context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try check(EVP_PKEY_keygen_init(ctx), "key generation init")
        switch type {
        case let .ec(curve): try check(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, curve.nid), "curve")
        case let .rsa(bits): try check(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)), "RSA size")
        default: break
        }
        var key: OpaquePointer? = nil
        try check(EVP_PKEY_keygen(ctx, &key), "key generation")
        return PrivateKey(taking: key!)
    }

    /// The public half.
    public var publicKey: PublicKey {
        // Round-trip through DER SPKI: a key object that holds no private part.
        try! PublicKey.load(publicKeyDER)
    }

    /// Unencrypted PKCS#8 PEM of the private key. For test fixtures and the
    /// simulator's own key only.
    public var privateKeyPEM: String {
        let bio = MemoryBIO()
        PEM_write_bio_PrivateKey(bio.bio, pkey, nil, nil, 0, nil, nil)
        return String(decoding: bio.contents(), as: UTF8.self)
    }

    /// The raw private key: an EC scalar left-padded to the field size, or
    /// the raw Ed25519/Ed448 key.
    public func rawPrivateKey() throws(CryptoError) -> SecureBytes {
        switch keyType {
        case let .ec(curve):
            var s = try bnParam("priv", size: curve.fieldSize)
            return SecureBytes(consuming: &s)
        case .ed25519, .ed448:
            var len = 0
            guard EVP_PKEY_get_raw_private_key(pkey, nil, &len) == 1 else { throw CryptoError("raw private key") }
            let out = SecureBytes(count: len)
            try out.withUnsafeMutableBytes { (o) throws(CryptoError) in
                try check(EVP_PKEY_get_raw_private_key(pkey, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len),
                          "raw private key")
            }
            return out
        default:
            throw CryptoError("no raw form for \(keyType)", detail: "")
        }
    }

    /// ECDH: the raw X coordinate of the shared point (66 bytes on P-521).
    public func sharedSecret(with peer: PublicKey) throws(CryptoError) -> SecureBytes {
        guard let ctx = EVP_PKEY_CTX_new(pkey, nil) else { throw CryptoError("ECDH context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try check(EVP_PKEY_derive_init(ctx), "ECDH init")
        try check(EVP_PKEY_derive_set_peer(ctx, peer.pkey), "ECDH peer")
        var len = 0
        try check(EVP_PKEY_derive(ctx, nil, &len), "ECDH size")
        let out = SecureBytes(count: len)
        try out.withUnsafeMutableBytes { (o) throws(CryptoError) in
            try check(EVP_PKEY_derive(ctx, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len), "ECDH derive")
        }
        return len == out.count ? out : out.slice(0..<len)
    }

    /// Signs `message` (hashed with SHA-512 here).
    public func sign(_ message: UnsafeRawBufferPointer, scheme: SignatureScheme) throws(CryptoError) -> [UInt8] {
        guard let md = EVP_MD_CTX_new() else { throw CryptoError("sign context") }
        defer { EVP_MD_CTX_free(md) }
        var pctx: OpaquePointer? = nil
        try check(EVP_DigestSignInit(md, &pctx, EVP_sha512(), nil, pkey), "sign init")
        if case let .rsaPSSSHA512(salt) = scheme {
            try check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), "PSS padding")
            try check(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha512()), "PSS MGF1")
            try check(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, Int32(salt ?? 64)), "PSS salt length")
        }
        let msg = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var len = 0
        try check(EVP_DigestSign(md, nil, &len, msg, message.count), "sign size")
        var sig = [UInt8](repeating: 0, count: len)
        try check(EVP_DigestSign(md, &sig, &len, msg, message.count), "sign")
        return Array(sig[0..<len])
    }

    public func sign(_ message: [UInt8], scheme: SignatureScheme) throws -> [UInt8] {
        try message.withUnsafeBytes { m in try sign(m, scheme: scheme) }
    }
}

/// An OpenSSL memory BIO.
final class MemoryBIO {
    let bio: OpaquePointer
    private var source: [UInt8]?

    init() { bio = BIO_new(BIO_s_mem())! }

    init(_ data: [UInt8]) {
        source = data
        bio = source!.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }!
    }

    deinit { BIO_free(bio) }

    func contents() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = BIO_read(bio, &buf, Int32(buf.count))
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<Int(n)])
        }
        return out
    }
}
