import SEBase
import SECrypto

/// The key derivations of an add-secret request that every side needs: the
/// host-key hash (PHKH) a keyslot names (the guest compares it with the
/// host-key documents and /sys/firmware/uv/keys), the key-encryption key
/// and the extension secret's HKDF info.
public enum RequestKeys {
    static let kdfCounter: [UInt8] = [0, 0, 0, 1]
    public static let extensionSecretInfo = Array("IBM Z Ultravisor Add-Secret".utf8)

    /// The host-key hash (PHKH) a keyslot carries: SHA-256 over X‖Y, each
    /// left-padded to 80 bytes. Equals the kernel's /sys/firmware/uv/keys hashes.
    public static func hostKeyHash(_ key: PublicKey) throws -> [UInt8] {
        let (x, y) = try key.ecCoordinates()
        return Digest.sha256(x.leftPadded(to: 80) + y.leftPadded(to: 80))
    }

    /// KEK = SHA-256(Z ‖ 00 00 00 01), Z the raw ECDH X coordinate.
    public static func keyEncryptionKey(sharedSecret z: SecureBytes) -> SecureBytes {
        let h = Hasher(.sha256)
        z.withUnsafeBytes { h.update($0) }
        h.update(kdfCounter)
        var k = h.finish()
        return SecureBytes(consuming: &k)
    }
}
