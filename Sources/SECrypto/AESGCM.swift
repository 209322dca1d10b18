import CLibcrypto
import SEBase

/// AES-256-GCM with a 12-byte IV and a 16-byte tag, as used by add-secret
/// requests (both the request body and the keyslots).
public enum AESGCM {
    public static let keySize = 32
    public static let ivSize = 12
    public static let tagSize = 16

    public struct AuthenticationFailure: Error, Equatable, CustomStringConvertible {
        public var description: String { "AES-GCM authentication failed (wrong key, or tampered data)" }
    }

    /// Encrypts; returns the ciphertext (same length as the plaintext) and the tag.
    public static func seal(key: SecureBytes, iv: [UInt8], aad: UnsafeRawBufferPointer,
                            plaintext: SecureBytes) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        precondition(key.count == keySize && iv.count == ivSize)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        try check(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil), "AES-GCM init")
        try check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(ivSize), nil), "AES-GCM IV length")
        try key.withUnsafeBytes { (k) throws(CryptoError) in
            try check(EVP_EncryptInit_ex(ctx, nil, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self), iv),
                      "AES-GCM key")
        }
        var outl: Int32 = 0
        if aad.count > 0 {
            try check(EVP_EncryptUpdate(ctx, nil, &outl, aad.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        Int32(aad.count)), "AES-GCM AAD")
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var total = 0
        if plaintext.count > 0 {
            try plaintext.withUnsafeBytes { (p) throws(CryptoError) in
                try check(EVP_EncryptUpdate(ctx, &ciphertext, &outl, p.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            Int32(p.count)), "AES-GCM encrypt")
            }
            total = Int(outl)
        }
        try ciphertext.withUnsafeMutableBufferPointer { buf in
            try check(EVP_EncryptFinal_ex(ctx, buf.baseAddress! + total, &outl), "AES-GCM final")
        }
        total += Int(outl)
        var tag = [UInt8](repeating: 0, count: tagSize)
        try check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), &tag), "AES-GCM tag")
        return (Array(ciphertext[0..<total]), tag)
    }

    public static func seal(key: SecureBytes, iv: [UInt8], aad: [UInt8],
                            plaintext: SecureBytes) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        try aad.withUnsafeBytes { a in try seal(key: key, iv: iv, aad: a, plaintext: plaintext) }
    }

    /// Decrypts and authenticates. Throws `AuthenticationFailure` when the
    /// tag does not match; nothing of the plaintext escapes in that case.
    public static func open(key: SecureBytes, iv: [UInt8], aad: UnsafeRawBufferPointer,
                            ciphertext: UnsafeRawBufferPointer, tag: [UInt8]) throws -> SecureBytes {
        precondition(key.count == keySize && iv.count == ivSize && tag.count == tagSize)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        try check(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, nil, nil), "AES-GCM init")
        try check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(ivSize), nil), "AES-GCM IV length")
        try key.withUnsafeBytes { (k) throws(CryptoError) in
            try check(EVP_DecryptInit_ex(ctx, nil, nil, k.baseAddress!.assumingMemoryBound(to: UInt8.self), iv),
                      "AES-GCM key")
        }
        var outl: Int32 = 0
        if aad.count > 0 {
            try check(EVP_DecryptUpdate(ctx, nil, &outl, aad.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        Int32(aad.count)), "AES-GCM AAD")
        }
        // One spare block: OpenSSL may touch up to a block beyond the input.
        let out = SecureBytes(count: ciphertext.count + 16)
        var total = 0
        if ciphertext.count > 0 {
            try out.withUnsafeMutableBytes { (o) throws(CryptoError) in
                try check(EVP_DecryptUpdate(ctx, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &outl,
                                            ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                            Int32(ciphertext.count)), "AES-GCM decrypt")
            }
            total = Int(outl)
        }
        var t = tag
        try check(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), &t), "AES-GCM set tag")
        let ok = out.withUnsafeMutableBytes { o in
            EVP_DecryptFinal_ex(ctx, o.baseAddress!.assumingMemoryBound(to: UInt8.self) + total, &outl)
        }
        guard ok > 0 else {
            CryptoError.clearErrorQueue()
            out.wipe()
            throw AuthenticationFailure()
        }
        total += Int(outl)
        return out.slice(0..<total)
    }

    public static func open(key: SecureBytes, iv: [UInt8], aad: [UInt8], ciphertext: [UInt8],
                            tag: [UInt8]) throws -> SecureBytes {
        try aad.withUnsafeBytes { a in
            try ciphertext.withUnsafeBytes { c in try open(key: key, iv: iv, aad: a, ciphertext: c, tag: tag) }
        }
    }
}

/// HKDF (RFC 5869, extract-then-expand) with SHA-512.
public enum HKDF {
    public static func sha512(ikm: SecureBytes, salt: [UInt8], info: [UInt8], length: Int) throws(CryptoError) -> SecureBytes {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw CryptoError("HKDF context") }
        defer { EVP_PKEY_CTX_free(ctx) }
        try check(EVP_PKEY_derive_init(ctx), "HKDF init")
        try check(EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha512()), "HKDF digest")
        try check(EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, Int32(salt.count)), "HKDF salt")
        try ikm.withUnsafeBytes { (k) throws(CryptoError) in
            try check(EVP_PKEY_CTX_set1_hkdf_key(ctx, k.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(k.count)),
                      "HKDF key")
        }
        try check(EVP_PKEY_CTX_add1_hkdf_info(ctx, info, Int32(info.count)), "HKDF info")
        let out = SecureBytes(count: length)
        var len = length
        try out.withUnsafeMutableBytes { (o) throws(CryptoError) in
            try check(EVP_PKEY_derive(ctx, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &len), "HKDF derive")
        }
        return out
    }
}
