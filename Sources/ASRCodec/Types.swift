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

    public init(hostKeyHash: [UInt8], wrappedKey: [UInt8], tag: [UInt8]) {
        precondition(hostKeyHash.count == 32 && wrappedKey.count == 32 && tag.count == 16)
        self.hostKeyHash = hostKeyHash
        self.wrappedKey = wrappedKey
        self.tag = tag
    }

    public var bytes: [UInt8] { hostKeyHash + wrappedKey + tag }
}

