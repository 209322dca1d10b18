import SEBase
import SECrypto
import SEVocabulary
import ASRCodec

/// Builds add-secret requests byte-compatible with `pvsecret create`. Used
/// by tests, by `se-secretd sim create-request` and by the examples; the
/// guest itself never builds requests.
public struct RequestBuilder {
    public enum Secret {
        /// A meta request: flags and extension secret only, nothing stored.
        case meta
        case association(id: [UInt8], value: SecureBytes)
        /// A retrievable secret; `value` is already encoded (see `SecretValue`).
        case retrievable(SecretType, id: [UInt8], value: SecureBytes)
        /// A new customer communication key (32 bytes).
        case updateCCK(SecureBytes)
    }

    public enum ExtensionSecret {
        case none
        /// `--extension-secret FILE`: 32 bytes.
        case simple(SecureBytes)
        /// `--cck FILE`: HKDF-SHA-512(CCK, salt: SE-header tag, info: "IBM Z Ultravisor Add-Secret").
        case derived(cck: SecureBytes)
    }

    public enum UserData {
        case none
        case unsigned([UInt8])
        case signed([UInt8], key: PrivateKey)
    }

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public var secret: Secret
    public var hostKeys: [PublicKey]
    public var tags: SEHeaderTags
    public var configUID: [UInt8] = [UInt8](repeating: 0, count: 16)
    public var flags = RequestFlags(rawValue: 0)
    public var extensionSecret: ExtensionSecret = .none
    public var userData: UserData = .none
    /// Write se-secretd's freshness record with this epoch as the user data
    /// (docs/formats.md). The record has the user data to itself: `userData`
    /// must then carry no data of its own; `.none` becomes unsigned user
    /// data, `.signed([], key:)` a signed record.
    public var epoch: UInt64? = nil
    /// RSA-PSS salt length for signing (nil: 64, the digest length, as
    /// OpenSSL ≥ 3.1 does by default).
    public var pssSaltLength: Int? = nil

    // Deterministic inputs for tests; random when nil.
    public var customerKey: PrivateKey? = nil
    public var protectionKey: SecureBytes? = nil
    public var iv: [UInt8]? = nil

    public init(secret: Secret, hostKeys: [PublicKey], tags: SEHeaderTags) {
        self.secret = secret
        self.hostKeys = hostKeys
        self.tags = tags
    }

    /// The extension secret value this builder encrypts.
    public func extensionSecretValue() throws -> SecureBytes {
        switch extensionSecret {
        case .none: return SecureBytes(count: 32)
        case let .simple(v):
            guard v.count == 32 else { throw Invalid(message: "an extension secret must have 32 bytes, not \(v.count)") }
            return v
        case let .derived(cck):
            guard cck.count == 32 else { throw Invalid(message: "a CCK must have 32 bytes, not \(cck.count)") }
            return try HKDF.sha512(ikm: cck, salt: tags.tag, info: RequestKeys.extensionSecretInfo, length: 32)
        }
    }

    public func build() throws -> [UInt8] {
        guard !hostKeys.isEmpty else { throw Invalid(message: "at least one host key is needed") }
        guard hostKeys.count <= 255 else { throw Invalid(message: "at most 255 host keys fit a request") }
        for k in hostKeys where k.keyType != .ec(.p521) {
            throw Invalid(message: "host keys must be EC P-521 keys, not \(k.keyType)")
        }
        guard configUID.count == 16 else { throw Invalid(message: "a config UID has 16 bytes") }

        // Secret header and value.
        let header: SecretHeader
        let value: SecureBytes
        switch secret {
        case .meta:
            header = SecretHeader(type: .null, length: 0, id: nil)
            value = SecureBytes(count: 0)
        case let .association(id, v):
            guard id.count == 32, v.count == 32 else { throw Invalid(message: "an association secret has a 32-byte ID and value") }
            header = SecretHeader(type: .association, length: 32, id: id)
            value = v
        case let .retrievable(type, id, v):
            guard type.isRetrievable else { throw Invalid(message: "\(type.name) is not a retrievable secret type") }
            guard id.count == 32 else { throw Invalid(message: "a secret ID has 32 bytes") }
            guard type.isValidLength(v.count) else { throw Invalid(message: "\(v.count) bytes is not a valid \(type.name) value") }
            header = SecretHeader(type: type, length: UInt32(v.count), id: id)
            value = v
        case let .updateCCK(v):
            guard v.count == 32 else { throw Invalid(message: "a CCK has 32 bytes") }
            header = SecretHeader(type: .updateCCK, length: 32, id: nil)
            value = v
        }

        // User data area (signature part left zero for now).
        let udt: UserDataType
        var area = [UInt8](repeating: 0, count: ASRLayout.userDataSize)
        var signingKey: PrivateKey? = nil
        var userData = self.userData
        if let epoch {
            guard epoch <= FreshnessRecord.maxEpoch else {
                throw Invalid(message: "an epoch is at most 2^63-1 = \(FreshnessRecord.maxEpoch), not \(epoch)")
            }
            let record = FreshnessRecord(epoch: epoch).bytes
            switch userData {
            case .none: userData = .unsigned(record)
            case let .unsigned(d) where d.isEmpty: userData = .unsigned(record)
            case let .signed(d, key) where d.isEmpty: userData = .signed(record, key: key)
            default: throw Invalid(message: "a freshness record has the user data to itself; give no other user data with an epoch")
            }
        }
        switch userData {
        case .none:
            udt = .none
        case let .unsigned(data):
            guard data.count <= 512 else { throw Invalid(message: "unsigned user data is limited to 512 bytes") }
            udt = .unsigned
            area.replaceSubrange(0..<data.count, with: data)
        case let .signed(data, key):
            guard let t = UserDataSignature.userDataType(for: key.keyType) else {
                throw Invalid(message: "user data cannot be signed with \(key.keyType) (EC P-521, RSA-2048 or RSA-3072 only)")
            }
            guard data.count <= t.dataCapacity else {
                throw Invalid(message: "\(t.name) signed user data is limited to \(t.dataCapacity) bytes")
            }
            udt = t
            signingKey = key
            area.replaceSubrange(0..<data.count, with: data)
        }

        let cust = try customerKey ?? PrivateKey.generate(.ec(.p521))
        guard cust.keyType == .ec(.p521) else { throw Invalid(message: "the customer key must be EC P-521") }
        let (cx, cy) = try cust.publicKey.ecCoordinates()
        let protKey = protectionKey ?? Random.secureBytes(32)
        guard protKey.count == 32 else { throw Invalid(message: "the protection key has 32 bytes") }
        let reqIV = iv ?? Random.bytes(12)
        guard reqIV.count == 12 else { throw Invalid(message: "the IV has 12 bytes") }

        var slots: [UInt8] = []
        for host in hostKeys {
            slots += try KeyslotCrypto.wrap(protectionKey: protKey, customerKey: cust, hostKey: host).bytes
        }

        let sea = value.count + ASRLayout.extensionSecretSize
        let rql = ASRLayout.size(keyslots: hostKeys.count, secretHeader: header.encodedSize, secretLength: value.count)
        var magic: [UInt8] = ASRLayout.magic
        magic.appendBE(udt.rawValue)
        var aad = RequestHeader.encode(magic: magic, length: rql, iv: reqIV, keyslotCount: hostKeys.count, encryptedSize: sea)
        aad.appendBE(flags.rawValue)
        aad += tags.bytes
        aad += configUID
        aad += [UInt8](repeating: 0, count: 256)
        aad += area
        aad += cx.leftPadded(to: 80) + cy.leftPadded(to: 80)
        aad += slots
        aad += header.bytes

        let ext = try extensionSecretValue()
        let plaintext = SecureBytes(count: sea)
        plaintext.withUnsafeMutableBytes { dst in
            value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[0..<value.count]).copyMemory(from: $0) }
            ext.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[value.count...]).copyMemory(from: $0) }
        }
        var (ct, tag) = try AESGCM.seal(key: protKey, iv: reqIV, aad: aad, plaintext: plaintext)

        if let key = signingKey {
            // Sign everything but the tag (signature area zero), insert the
            // signature, and authenticate again: the ciphertext is unchanged,
            // only the tag depends on the new AAD.
            let scheme: SignatureScheme = udt == .ecP521 ? .ecdsaSHA512 : .rsaPSSSHA512(saltLength: pssSaltLength)
            let sig = try key.sign(aad + ct, scheme: scheme)
            let base = ASRLayout.userDataOffset
            switch udt {
            case .ecP521:
                guard sig.count <= 139 else { throw Invalid(message: "EC signature longer than 139 bytes") }
                aad.replaceSubrange((base + 0x100)..<(base + 0x100 + sig.count), with: sig)
                aad.writeBE(UInt16(sig.count), at: base + 0x190)
            case .rsa2048:
                aad.replaceSubrange((base + 0x100)..<(base + 0x200), with: sig)
            default:
                aad.replaceSubrange((base + 0x80)..<(base + 0x200), with: sig)
            }
            (ct, tag) = try AESGCM.seal(key: protKey, iv: reqIV, aad: aad, plaintext: plaintext)
        }
        return aad + ct + tag
    }
}

