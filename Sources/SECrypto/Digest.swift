import CLibcrypto
import SEBase

nonisolated(unsafe) let fetchedSHA256: OpaquePointer = EVP_MD_fetch(nil, "SHA2-256", nil) ?? EVP_sha256()
nonisolated(unsafe) let fetchedSHA512: OpaquePointer = EVP_MD_fetch(nil, "SHA2-512", nil) ?? EVP_sha512()

public enum DigestAlgorithm: Sendable {
    case sha256, sha512

    /// Fetched once: OpenSSL 3's implicit fetch on every use is costly.
    var md: OpaquePointer { self == .sha256 ? fetchedSHA256 : fetchedSHA512 }
    public var size: Int { self == .sha256 ? 32 : 64 }
}

/// Incremental hashing (SHA-256 / SHA-512).
public final class Hasher {
    private let ctx: OpaquePointer
    public let algorithm: DigestAlgorithm

    public init(_ algorithm: DigestAlgorithm) {
        self.algorithm = algorithm
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, algorithm.md, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    public func update(_ bytes: ArraySlice<UInt8>) { bytes.withUnsafeBytes { update($0) } }

    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: algorithm.size)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &out, &len)
        return out
    }
}

public enum Digest {
    public static func hash(_ algorithm: DigestAlgorithm, _ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let h = Hasher(algorithm)
        h.update(bytes)
        return h.finish()
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha256, $0) } }
    public static func sha256(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha256, $0) } }
    public static func sha512(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha512, $0) } }
    public static func sha512(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha512, $0) } }
    public static func sha256(_ bytes: SecureBytes) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha256, $0) } }
    public static func sha512(_ bytes: SecureBytes) -> [UInt8] { bytes.withUnsafeBytes { hash(.sha512, $0) } }
}

public enum Random {
    /// Cryptographically strong random bytes from OpenSSL's DRBG.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        if count > 0 { precondition(RAND_bytes(&out, Int32(count)) == 1, "RAND_bytes failed") }
        return out
    }

    public static func secureBytes(_ count: Int) -> SecureBytes {
        let out = SecureBytes(count: count)
        if count > 0 {
            out.withUnsafeMutableBytes { raw in
                precondition(RAND_bytes(raw.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) == 1)
            }
        }
        return out
    }
}
