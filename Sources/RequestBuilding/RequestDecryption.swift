import SEBase
import SECrypto
import ASRCodec

/// What the ultravisor does with a request and its host private key: find
/// the keyslot for this host, unwrap the protection key and decrypt. Used by
/// the simulated ultravisor and by tests; the guest cannot do this.
public enum RequestDecryption {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noKeyslotForHost
        case keyslotUnwrapFailed
        case authenticationFailed
        case invalidCustomerKey

        public var description: String {
            switch self {
            case .noKeyslotForHost: return "no keyslot carries this host's key hash"
            case .keyslotUnwrapFailed: return "the keyslot for this host does not unwrap"
            case .authenticationFailed: return "the request does not authenticate (tampered, or wrong key)"
            case .invalidCustomerKey: return "the customer public key is not a valid P-521 point"
            }
        }
    }

    public struct Plaintext {
        /// The secret value as stored (encoded, e.g. with the plaintext prefix).
        public let value: SecureBytes
        public let extensionSecret: SecureBytes
    }

    public static func decrypt(_ request: AddSecretRequest, hostKey: PrivateKey,
                               hostKeyHash: [UInt8]? = nil) throws -> Plaintext {
        let protKey = try KeyslotCrypto.unwrap(keyslots: request.keyslots, customerKeyX: request.customerKeyX,
                                               customerKeyY: request.customerKeyY, hostKey: hostKey, hostKeyHash: hostKeyHash)
        let plain: SecureBytes
        do {
            plain = try request.aad.withUnsafeBytes { aad in
                try request.ciphertext.withUnsafeBytes { ct in
                    try AESGCM.open(key: protKey, iv: request.iv, aad: aad, ciphertext: ct, tag: request.gcmTag)
                }
            }
        } catch { throw Failure.authenticationFailed }
        let n = plain.count - ASRLayout.extensionSecretSize
        return Plaintext(value: plain.slice(0..<n), extensionSecret: plain.slice(n..<plain.count))
    }
}
