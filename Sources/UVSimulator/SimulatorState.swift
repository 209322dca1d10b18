import ASRCodec
import SEBase
import SECrypto
import UVDevice
import SEVocabulary

/// One secret in the simulated store, as the ultravisor keeps it.
public struct StoredSecret: Sendable {
    public let index: UInt16
    public let type: SecretType
    public let id: [UInt8]
    /// The value as decrypted from the request (plaintext with its length
    /// prefix and padding, raw keys, association value).
    let value: SecureBytes

    /// The length LIST reports: what RETR returns for this entry
    /// (protected-key size for key types).
    public var listedLength: UInt32 {
        UInt32(type.protectedKeySize ?? value.count)
    }
}

/// The whole simulated ultravisor: configuration, host key, secret store,
/// lock, pinned extension secret, faults. Secret material lives only in
/// `SecureBytes`.
public final class SimulatorState: @unchecked Sendable {
    public internal(set) var config: SimulatorConfig
    /// Injected faults; tests may change them at any time.
    public var faults: SimulatorFaults { didSet { modified = true } }

    let hostKey: PrivateKey
    /// PHKH of the host key: what keyslots and /sys/firmware/uv/keys carry.
    public let hostKeyHash: [UInt8]
    public internal(set) var store: [StoredSecret] = []
    public internal(set) var isLocked = false
    /// A request with the disable-dump flag was accepted.
    public internal(set) var dumpDisabled = false
    /// GCM tags of every accepted request in add order (meta included).
    public internal(set) var acceptedRequestTags: [[UInt8]] = []
    /// The extension secret fixed by the first accepted request.
    var extensionSecret: SecureBytes?
    /// The customer communication key of the image (for the derived
    /// extension secret and update-CCK).
    var cck: SecureBytes?
    /// Wraps simulated protected keys (see SimulatedProtectedKey).
    let wrappingKey: SecureBytes
    /// Increases with every saved change (persistence consistency check).
    var revision: UInt64 = 0
    var modified = false

    init(config: SimulatorConfig, hostKey: PrivateKey, cck: SecureBytes?, wrappingKey: SecureBytes,
         faults: SimulatorFaults = SimulatorFaults()) throws {
        self.config = config
        self.hostKey = hostKey
        self.hostKeyHash = try RequestKeys.hostKeyHash(hostKey.publicKey)
        self.cck = cck
        self.wrappingKey = wrappingKey
        self.faults = faults
    }

    /// A state that lives only in memory (tests).
    public convenience init(config: SimulatorConfig, hostKey: PrivateKey, cck: SecureBytes? = nil) throws {
        try self.init(config: config, hostKey: hostKey, cck: cck, wrappingKey: Random.secureBytes(32))
    }

    public var hostPublicKey: PublicKey { hostKey.publicKey }

    /// The attestation secret-store hash the ultravisor would report now.
    public var secretStoreHash: [UInt8] {
        SecretStoreHash.compute(tags: acceptedRequestTags, locked: isLocked, sha512: { Digest.sha512($0) })
    }

    public var isExtensionSecretPinned: Bool { extensionSecret != nil }

    var associationCount: Int { store.filter { $0.type == .association }.count }
    var retrievableCount: Int { store.filter { $0.type.isRetrievable }.count }

    /// What RETR returns for a stored secret.
    func retrievedForm(_ secret: StoredSecret) throws -> SecureBytes {
        if secret.type == .plain { return secret.value }
        return try SimulatedProtectedKey.wrap(secret.value, type: secret.type, index: secret.index, id: secret.id,
                                              wrappingKey: wrappingKey)
    }

    /// For tests: the raw key inside a protected key RETR returned, if it
    /// was made by this state for that entry.
    public func unwrapProtectedKey(_ blob: SecureBytes, entry: SecretListEntry) -> SecureBytes? {
        guard let type = entry.type else { return nil }
        return SimulatedProtectedKey.unwrap(blob, type: type, index: entry.index, id: entry.id, wrappingKey: wrappingKey)
    }
}

/// The simulator's stand-in for a CPACF protected key: the raw key
/// encrypted with AES-256 in counter mode (the keystream of AES-GCM) under a
/// per-state wrapping key, followed by a 32-byte verification pattern.
/// IV = first 12 bytes of SHA-256(label ‖ index ‖ type ‖ ID);
/// pattern = SHA-256(label ‖ wrapping key). Deterministic for one state, of
/// the size the kernel expects (raw size + 32), and useless outside it.
enum SimulatedProtectedKey {
    static let ivLabel = Array("se-secretd simulated UV: protected-key IV".utf8)
    static let patternLabel = Array("se-secretd simulated UV: wrapping-key verification pattern".utf8)

    static func verificationPattern(_ wrappingKey: SecureBytes) -> [UInt8] {
        let h = Hasher(.sha256)
        h.update(patternLabel)
        wrappingKey.withUnsafeBytes { h.update($0) }
        return h.finish()
    }

    static func iv(type: SecretType, index: UInt16, id: [UInt8]) -> [UInt8] {
        var input = ivLabel
        input.appendBE(index)
        input.appendBE(type.rawValue)
        input += id
        return Array(Digest.sha256(input)[0..<12])
    }

    static func wrap(_ raw: SecureBytes, type: SecretType, index: UInt16, id: [UInt8],
                     wrappingKey: SecureBytes) throws -> SecureBytes {
        let (ct, _) = try AESGCM.seal(key: wrappingKey, iv: iv(type: type, index: index, id: id), aad: [], plaintext: raw)
        let out = SecureBytes(copying: ct + verificationPattern(wrappingKey))
        return out
    }

    static func unwrap(_ blob: SecureBytes, type: SecretType, index: UInt16, id: [UInt8],
                       wrappingKey: SecureBytes) -> SecureBytes? {
        guard let size = type.protectedKeySize, blob.count == size else { return nil }
        let rawSize = size - 32
        let pattern = blob.slice(rawSize..<size)
        guard pattern.equals(verificationPattern(wrappingKey)) else { return nil }
        // CTR is its own inverse: encrypting the wrapped bytes gives the raw key.
        let wrapped = blob.slice(0..<rawSize)
        guard let (raw, _) = try? AESGCM.seal(key: wrappingKey, iv: iv(type: type, index: index, id: id), aad: [],
                                               plaintext: wrapped) else { return nil }
        var r = raw
        return SecureBytes(consuming: &r)
    }
}

/// Compares two secret buffers in time that depends only on their lengths.
func secureEqual(_ a: SecureBytes, _ b: SecureBytes) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in
            var diff: UInt8 = 0
            for i in 0..<pa.count { diff |= pa[i] ^ pb[i] }
            return diff == 0
        }
    }
}
