import SEBase
import SECrypto
import SEVocabulary

/// Encodings of secret values as they are encrypted into a request (before
/// the 32-byte extension secret), matching `pvsecret create`.
public enum SecretValue {
    public struct InvalidInput: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static let maxPlaintextPayload = 8190

    /// Plaintext: u16 BE payload length ‖ payload, zero-padded to a multiple of 16.
    public static func plaintext(_ payload: SecureBytes) throws(InvalidInput) -> SecureBytes {
        guard payload.count <= maxPlaintextPayload else {
            throw InvalidInput(message: "plaintext secret of \(payload.count) bytes exceeds the maximum of \(maxPlaintextPayload)")
        }
        let padded = (2 + payload.count + 15) / 16 * 16
        let out = SecureBytes(count: padded)
        out[0] = UInt8(payload.count >> 8)
        out[1] = UInt8(payload.count & 0xFF)
        out.withUnsafeMutableBytes { dst in
            payload.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: dst[2..<(2 + src.count)]).copyMemory(from: src)
            }
        }
        return out
    }

    /// Decodes a retrieved plaintext secret: the payload without its length
    /// prefix and padding. Nil if the buffer is not in that form.
    public static func decodePlaintext(_ stored: SecureBytes) -> SecureBytes? {
        guard stored.count >= 2 else { return nil }
        let n = Int(stored[0]) << 8 | Int(stored[1])
        guard n <= maxPlaintextPayload, 2 + n <= stored.count, stored.count - (2 + n) < 16 else { return nil }
        for i in (2 + n)..<stored.count where stored[i] != 0 { return nil }
        return stored.slice(2..<(2 + n))
    }

    /// The secret type for a symmetric key of `length` bytes of the given family.
    public static func symmetricType(family: String, length: Int) throws(InvalidInput) -> SecretType {
        let candidates: [SecretType]
        switch family {
        case "aes": candidates = [.aes128, .aes192, .aes256]
        case "aes-xts": candidates = [.aesXTS128, .aesXTS256]
        case "hmac-sha": candidates = [.hmacSHA256, .hmacSHA512]
        default: throw InvalidInput(message: "unknown key family \(family)")
        }
        guard let t = candidates.first(where: { $0.fixedLength == length }) else {
            let sizes = candidates.compactMap { $0.fixedLength }.map(String.init).joined(separator: ", ")
            throw InvalidInput(message: "a \(family) key must have \(sizes) bytes, not \(length)")
        }
        return t
    }

    /// HMAC key preprocessing K0 (FIPS 198-1): keys longer than the block are
    /// hashed, then zero-padded to the block size (64 for SHA-256, 128 for
    /// SHA-512). `pvsecret create --type hmac-sha` expects K0 as input.
    public static func hmacK0(_ key: SecureBytes, sha512: Bool) -> SecureBytes {
        let block = sha512 ? 128 : 64
        let out = SecureBytes(count: block)
        var k = key.count > block ? (sha512 ? Digest.sha512(key) : Digest.sha256(key)) : key.unsafeCopyToArray()
        for i in 0..<k.count { out[i] = k[i] }
        k.wipe()
        return out
    }

    /// An EC / Edwards private key as a retrievable secret: the scalar
    /// left-padded to the type's size (P-521: 80 bytes, Ed448: 64).
    public static func privateKey(_ key: PrivateKey) throws -> (SecretType, SecureBytes) {
        let type: SecretType
        switch key.keyType {
        case .ec(.p256): type = .ecP256
        case .ec(.p384): type = .ecP384
        case .ec(.p521): type = .ecP521
        case .ed25519: type = .ed25519
        case .ed448: type = .ed448
        default: throw InvalidInput(message: "\(key.keyType) cannot be a retrievable EC secret")
        }
        let raw = try key.rawPrivateKey()
        let size = type.fixedLength!
        let out = SecureBytes(count: size)
        out.withUnsafeMutableBytes { dst in
            raw.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: dst[(size - src.count)...]).copyMemory(from: src)
            }
        }
        return (type, out)
    }
}
