import CLibcrypto
import SEBase

/// HMAC (RFC 2104) with SHA-512, through libcrypto's one-shot HMAC(). The
/// attestation measurement (docs/attestation.md) is an HMAC-SHA512.
public enum HMAC {
    public static let sha512Size = 64

    /// HMAC-SHA512 of `message` under `key` (any length; FIPS 198-1 hashes a
    /// key longer than the 128-byte block, pads a shorter one).
    public static func sha512(key: SecureBytes, message: UnsafeRawBufferPointer) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: sha512Size)
        var len: UInt32 = 0
        // HMAC() wants non-NULL pointers even for empty inputs.
        var empty: UInt8 = 0
        let ok = withUnsafePointer(to: &empty) { e in
            key.withUnsafeBytes { k in
                let kp = k.count > 0 ? UnsafeRawPointer(k.baseAddress!) : UnsafeRawPointer(e)
                let data = message.count > 0 ? message.baseAddress!.assumingMemoryBound(to: UInt8.self) : e
                return CLibcrypto.HMAC(EVP_sha512(), kp, Int32(k.count), data, message.count, &out, &len) != nil
            }
        }
        guard ok, len == UInt32(sha512Size) else { throw CryptoError("HMAC-SHA512") }
        return out
    }

    public static func sha512(key: SecureBytes, message: [UInt8]) throws(CryptoError) -> [UInt8] {
        // Array.withUnsafeBytes rethrows untyped: carry the typed error out in a Result.
        let result = message.withUnsafeBytes { m in Result { () throws(CryptoError) in try sha512(key: key, message: m) } }
        return try result.get()
    }
}
