import SEBase

/// The user-data type in bytes 6–7 of a request (part of the magic, so it is
/// authenticated by the request's GCM tag).
public enum UserDataType: UInt16, Sendable, CaseIterable {
    case none = 0
    case unsigned = 1
    case ecP521 = 2
    case rsa2048 = 3
    case rsa3072 = 4

    /// The name used in JSON output and in the policy.
    public var name: String {
        switch self {
        case .none: return "none"
        case .unsigned: return "unsigned"
        case .ecP521: return "ec-p521"
        case .rsa2048: return "rsa-2048"
        case .rsa3072: return "rsa-3072"
        }
    }

    public init?(name: String) {
        guard let t = UserDataType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    public var isSigned: Bool { self == .ecP521 || self == .rsa2048 || self == .rsa3072 }

    /// Capacity of the data part of the 512-byte user-data area.
    public var dataCapacity: Int {
        switch self {
        case .none: return 0
        case .unsigned: return 512
        case .ecP521, .rsa2048: return 256
        case .rsa3072: return 128
        }
    }
}

/// Secret types, as coded in the secret header, the secret list and sysfs.
public enum SecretType: UInt16, Sendable, CaseIterable {
    case null = 0x0001
    case association = 0x0002
    case plain = 0x0003
    case aes128 = 0x0004
    case aes192 = 0x0005
    case aes256 = 0x0006
    case aesXTS128 = 0x0007
    case aesXTS256 = 0x0008
    case hmacSHA256 = 0x0009
    case hmacSHA512 = 0x000A
    case ecP256 = 0x0011
    case ecP384 = 0x0012
    case ecP521 = 0x0013
    case ed25519 = 0x0014
    case ed448 = 0x0015
    case updateCCK = 0x0016

    /// The name used in JSON output and in the policy.
    public var name: String {
        switch self {
        case .null: return "null"
        case .association: return "association"
        case .plain: return "plain"
        case .aes128: return "aes-128"
        case .aes192: return "aes-192"
        case .aes256: return "aes-256"
        case .aesXTS128: return "aes-xts-128"
        case .aesXTS256: return "aes-xts-256"
        case .hmacSHA256: return "hmac-sha-256"
        case .hmacSHA512: return "hmac-sha-512"
        case .ecP256: return "ec-p256"
        case .ecP384: return "ec-p384"
        case .ecP521: return "ec-p521"
        case .ed25519: return "ed25519"
        case .ed448: return "ed448"
        case .updateCCK: return "update-cck"
        }
    }

    public init?(name: String) {
        guard let t = SecretType.allCases.first(where: { $0.name == name }) else { return nil }
        self = t
    }

    /// The fixed value length, or nil for plaintext (variable).
    public var fixedLength: Int? {
        switch self {
        case .null: return 0
        case .association: return 32
        case .plain: return nil
        case .aes128: return 16
        case .aes192: return 24
        case .aes256: return 32
        case .aesXTS128: return 32
        case .aesXTS256: return 64
        case .hmacSHA256: return 64
        case .hmacSHA512: return 128
        case .ecP256: return 32
        case .ecP384: return 48
        case .ecP521: return 80
        case .ed25519: return 32
        case .ed448: return 64
        case .updateCCK: return 32
        }
    }

    /// Whether `length` is a valid stored length for this type.
    public func isValidLength(_ length: Int) -> Bool {
        if let fixed = fixedLength { return length == fixed }
        // plaintext: 2-byte length + payload, padded to 16, at most 8192
        return length >= 16 && length <= 8192 && length % 16 == 0
    }

    /// Listed by LIST_SECRETS (meta and update-CCK are not).
    public var isListable: Bool { self != .null && self != .updateCCK }

    /// Retrievable with RETR_SECRET.
    public var isRetrievable: Bool { isListable && self != .association }

    /// Size of the protected key RETR returns for the key types (raw key plus
    /// a 32-byte wrapping-key verification pattern); nil for plaintext and
    /// non-retrievable types.
    public var protectedKeySize: Int? {
        switch self {
        case .aes128: return 48
        case .aes192: return 56
        case .aes256: return 64
        case .aesXTS128: return 64
        case .aesXTS256: return 96
        case .hmacSHA256: return 96
        case .hmacSHA512: return 160
        case .ecP256: return 64
        case .ecP384: return 80
        case .ecP521: return 112
        case .ed25519: return 64
        case .ed448: return 96
        default: return nil
        }
    }

    public var isKey: Bool { protectedKeySize != nil }
}

/// Add-secret flags (a u64 with MSB0 bit numbering).
public struct RequestFlags: Equatable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// MSB0 bit 0: after the request is accepted the ultravisor no longer
    /// provides dump decryption data for this guest.
    public static let disableDumpBit: UInt64 = 1 << 63
    public static let known: UInt64 = disableDumpBit

    public var disableDump: Bool {
        get { rawValue & RequestFlags.disableDumpBit != 0 }
        set { rawValue = newValue ? rawValue | RequestFlags.disableDumpBit : rawValue & ~RequestFlags.disableDumpBit }
    }

    public var unknownBits: UInt64 { rawValue & ~RequestFlags.known }

    /// Flag names as used in the policy.
    public var names: [String] { disableDump ? ["disable-dump"] : [] }
}

/// The SE-header values a request binds to: page-list, address-list and
/// tweak-list digests and the header's tag.
public struct SEHeaderTags: Equatable, Sendable {
    public var pld: [UInt8]
    public var ald: [UInt8]
    public var tld: [UInt8]
    public var tag: [UInt8]

    public static let size = 64 * 3 + 16

    public init(pld: [UInt8], ald: [UInt8], tld: [UInt8], tag: [UInt8]) {
        precondition(pld.count == 64 && ald.count == 64 && tld.count == 64 && tag.count == 16)
        self.pld = pld
        self.ald = ald
        self.tld = tld
        self.tag = tag
    }

    public var bytes: [UInt8] { pld + ald + tld + tag }
}

/// One V1 keyslot (80 bytes).
public struct Keyslot: Equatable, Sendable {
    public static let size = 80
    /// SHA-256 of the target host's public key (X‖Y, 80 bytes each).
    public var hostKeyHash: [UInt8]
    public var wrappedKey: [UInt8]
    public var tag: [UInt8]

    public var bytes: [UInt8] { hostKeyHash + wrappedKey + tag }
}

/// A 32-byte secret ID.
public enum SecretID {
    /// The default: SHA-256 of the UTF-8 name.
    public static func hashed(name: String, sha256: ([UInt8]) -> [UInt8]) -> [UInt8] {
        sha256(Array(name.utf8))
    }

    /// The `--use-name` form: the name's bytes, NUL-padded to 32. The name
    /// must have 1 to 31 bytes (pvsecret silently truncates; we refuse).
    public static func rawName(_ name: String) -> [UInt8]? {
        let u = Array(name.utf8)
        guard !u.isEmpty, u.count <= 31, !u.contains(0) else { return nil }
        return u.rightPadded(to: 32)
    }

    /// The printable form of a raw-name ID, if it is one.
    public static func asRawName(_ id: [UInt8]) -> String? {
        guard let end = id.firstIndex(of: 0), end > 0, id[end...].allSatisfy({ $0 == 0 }) else { return nil }
        let name = id[..<end]
        guard name.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: name, as: UTF8.self)
    }
}
