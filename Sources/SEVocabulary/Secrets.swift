import SEBase

// The words the device layer and the request codec share: what a secret's
// type and ID are. No crypto here (a hashed ID takes the SHA-256 function).

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

    /// The name IBM's pvsecret prints for the type (`pvsecret list`, the
    /// `kind:` header of a retrieved key's PEM): PLAINTEXT, AES-128-KEY,
    /// EC-SECP256R1-PRIVATE-KEY, Association, ...
    public var pvsecretName: String {
        switch self {
        case .association: return "Association"
        case .plain: return "PLAINTEXT"
        case .aes128: return "AES-128-KEY"
        case .aes192: return "AES-192-KEY"
        case .aes256: return "AES-256-KEY"
        case .aesXTS128: return "AES-XTS-128-KEY"
        case .aesXTS256: return "AES-XTS-256-KEY"
        case .hmacSHA256: return "HMAC-SHA-256-KEY"
        case .hmacSHA512: return "HMAC-SHA-512-KEY"
        case .ecP256: return "EC-SECP256R1-PRIVATE-KEY"
        case .ecP384: return "EC-SECP384R1-PRIVATE-KEY"
        case .ecP521: return "EC-SECP521R1-PRIVATE-KEY"
        case .ed25519: return "EC-ED25519-PRIVATE-KEY"
        case .ed448: return "EC-ED448-PRIVATE-KEY"
        // Types that never belong in a list, as pvsecret names them there.
        case .null, .updateCCK: return Self.pvsecretName(code: rawValue)
        }
    }

    /// pvsecret's name for a type code as a list may carry it: the known
    /// types by name, the reserved code 0 and the unlistable null and
    /// update-CCK types as "Invalid(0x....)", any other code as
    /// "Unknown(0x....)" (four lowercase hex digits).
    public static func pvsecretName(code: UInt16) -> String {
        switch code {
        case 0x0000, SecretType.null.rawValue, SecretType.updateCCK.rawValue:
            return "Invalid(0x\(hex4(code)))"
        default:
            if let t = SecretType(rawValue: code) { return t.pvsecretName }
            return "Unknown(0x\(hex4(code)))"
        }
    }

    private static func hex4(_ v: UInt16) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: (0..<4).map { digits[Int((v >> (12 - 4 * UInt16($0))) & 0xF)] }, as: UTF8.self)
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
