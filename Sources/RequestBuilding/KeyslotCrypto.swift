import SEBase
import SECrypto
import ASRCodec

/// The keyslot cryptography add-secret requests and attestation requests
/// share: the tenant wraps the protection key for each host key, the
/// ultravisor unwraps it with its host private key.
///
///     Z = ECDH(customer private, host public) = ECDH(host private, customer public)
///     KEK = SHA-256(Z ‖ 00 00 00 01)
///     keyslot = PHKH ‖ AES-256-GCM(KEK, IV 0×12, no AAD, protection key) (32 ‖ 16-byte tag)
public enum KeyslotCrypto {
    static let zeroIV = [UInt8](repeating: 0, count: 12)

    /// The 80-byte keyslot for `host`.
    public static func wrap(protectionKey: SecureBytes, customerKey: PrivateKey, hostKey: PublicKey) throws -> Keyslot {
        let kek = RequestKeys.keyEncryptionKey(sharedSecret: try customerKey.sharedSecret(with: hostKey))
        let (wrapped, tag) = try AESGCM.seal(key: kek, iv: zeroIV, aad: [], plaintext: protectionKey)
        return Keyslot(hostKeyHash: try RequestKeys.hostKeyHash(hostKey), wrappedKey: wrapped, tag: tag)
    }

    /// The ultravisor's side: the keyslot carrying `hostKeyHash` (by default
    /// the hash of `hostKey`'s public key), unwrapped with the shared secret
    /// of `hostKey` and the request's customer public key.
    public static func unwrap(keyslots: [Keyslot], customerKeyX: [UInt8], customerKeyY: [UInt8], hostKey: PrivateKey,
                              hostKeyHash: [UInt8]? = nil) throws -> SecureBytes {
        let phkh = try hostKeyHash ?? RequestKeys.hostKeyHash(hostKey.publicKey)
        guard let slot = keyslots.first(where: { $0.hostKeyHash == phkh }) else { throw RequestDecryption.Failure.noKeyslotForHost }
        let customer: PublicKey
        do { customer = try PublicKey.p521(x: customerKeyX, y: customerKeyY) } catch { throw RequestDecryption.Failure.invalidCustomerKey }
        return try unwrap(slot, sharedSecret: try hostKey.sharedSecret(with: customer))
    }

    /// Unwraps one keyslot with the ECDH shared secret Z (either side's).
    public static func unwrap(_ slot: Keyslot, sharedSecret z: SecureBytes) throws(RequestDecryption.Failure) -> SecureBytes {
        let kek = RequestKeys.keyEncryptionKey(sharedSecret: z)
        let key: SecureBytes
        do { key = try AESGCM.open(key: kek, iv: zeroIV, aad: [], ciphertext: slot.wrappedKey, tag: slot.tag) } catch {
            throw .keyslotUnwrapFailed
        }
        guard key.count == AESGCM.keySize else { throw .keyslotUnwrapFailed }
        return key
    }
}
