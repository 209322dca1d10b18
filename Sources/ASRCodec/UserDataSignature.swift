import SEBase
import SECrypto

/// User-data signatures, exactly as `pvsecret verify` defines them: SHA-512
/// over the whole request except the GCM tag, with the signature part of the
/// user-data area zeroed.
public enum UserDataSignature {
    /// Absolute byte range zeroed before signing/verifying.
    public static func zeroedRange(for type: UserDataType) -> Range<Int>? {
        switch type {
        case .none, .unsigned: return nil
        case .ecP521, .rsa2048: return 0x318..<0x418
        case .rsa3072: return 0x298..<0x418
        }
    }

    public static func scheme(for type: UserDataType) -> SignatureScheme? {
        switch type {
        case .ecP521: return .ecdsaSHA512
        case .rsa2048, .rsa3072: return .rsaPSSSHA512(saltLength: nil)
        default: return nil
        }
    }

    /// The user-data type a signing key produces, or nil for keys s390-tools refuses.
    public static func userDataType(for key: KeyType) -> UserDataType? {
        switch key {
        case .ec(.p521): return .ecP521
        case .rsa(bits: 2048): return .rsa2048
        case .rsa(bits: 3072): return .rsa3072
        default: return nil
        }
    }

    /// The message that is signed: bytes [0, rql-16) with the signature area zeroed.
    public static func signedMessage(_ bytes: [UInt8], type: UserDataType) -> [UInt8] {
        var msg = Array(bytes[0..<(bytes.count - ASRLayout.tagSize)])
        if let z = zeroedRange(for: type) {
            for i in z { msg[i] = 0 }
        }
        return msg
    }

    public enum Verdict: Equatable, Sendable {
        /// Signed with this key's type and the signature checks out.
        case valid
        /// The request is not signed at all (type none or unsigned). Never a
        /// pass when signers are required — unlike `pvsecret verify`, which
        /// accepts type "none" even when a key is given.
        case notSigned
        /// Signed, but with another key type than this key's.
        case keyTypeMismatch
        /// The signature does not verify with this key.
        case badSignature
    }

    public static func verify(_ request: AddSecretRequest, with key: PublicKey) -> Verdict {
        guard request.userDataType.isSigned else { return .notSigned }
        guard userDataType(for: key.keyType) == request.userDataType,
              let scheme = scheme(for: request.userDataType) else { return .keyTypeMismatch }
        let msg = signedMessage(request.bytes, type: request.userDataType)
        return key.verify(signature: request.userData.signature, message: msg, scheme: scheme) ? .valid : .badSignature
    }
}

extension AddSecretRequest {
    /// SHA-256 of `pinnedBytes`: what a policy's `pinned_sha256` lists.
    public var pinDigest: [UInt8] { Digest.sha256(pinnedBytes) }
}
