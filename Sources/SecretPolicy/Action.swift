import SEBase
import ASRCodec
import SEVocabulary

/// What se-secretd does with a retrieved secret. The policy declares them;
/// `se-secretd unlock` carries out the early ones (LUKS, key hand-off) and
/// `se-secretd install` the ones that write into the new root.
public enum Action: Sendable, Equatable {
    case luks(LUKS)
    /// systemd-cryptsetup hand-off: /run/cryptsetup-keys.d/<volume>.key (0400).
    case keyFile(volume: String)
    /// Debian crypttab keyscript= hand-off: `se-secretd keyscript` prints it.
    case keyscript(volume: String)
    case file(File)
    /// A systemd credential in /run/credentials/@initrd/<name>.
    case credential(name: String)
    /// A password hash for a user, set in the new root's /etc/shadow.
    case passwordHash(user: String)

    public struct LUKS: Sendable, Equatable {
        public enum KeyUse: String, Sendable, CaseIterable {
            case passphrase
            case volumeKey = "volume-key"
            /// The 44-byte UV secret token for a paes-xts-plain64 volume.
            case paesToken = "paes-token"
        }
        public var device: VolumeSpec
        public var mapping: String
        public var keyUse: KeyUse
        public var readOnly: Bool
        public var discard: Bool
        public var expectCipher: String?

        public init(device: VolumeSpec, mapping: String, keyUse: KeyUse, readOnly: Bool = false, discard: Bool = false,
                    expectCipher: String? = nil) {
            self.device = device
            self.mapping = mapping
            self.keyUse = keyUse
            self.readOnly = readOnly
            self.discard = discard
            self.expectCipher = expectCipher
        }
    }

    public struct File: Sendable, Equatable {
        public enum Format: String, Sendable, CaseIterable {
            case raw
            /// OpenSSH/PEM private host key; the matching .pub is derived.
            case sshHostKey = "ssh-host-key"
            case tlsKey = "tls-key"
            case tlsCertificate = "tls-certificate"
            case authorizedKeys = "authorized-keys"
            /// A CA public key for sshd's TrustedUserCAKeys.
            case sshUserCA = "ssh-user-ca"
        }
        public enum Owner: Sendable, Equatable { case id(UInt32), name(String) }
        /// Absolute path inside the new root.
        public var path: String
        public var format: Format
        public var mode: UInt32
        public var owner: Owner
        public var group: Owner
        /// Replace an existing file (default: refuse to overwrite).
        public var replace: Bool
        /// Create missing parent directories (root-owned, 0755); default:
        /// a missing parent is an error.
        public var createParents: Bool = false
    }

    public var kind: String {
        switch self {
        case .luks: return "luks"
        case .keyFile: return "keyfile"
        case .keyscript: return "keyscript"
        case .file: return "file"
        case .credential: return "credential"
        case .passwordHash: return "password-hash"
        }
    }

    /// Which phase carries it out.
    public var phase: String {
        switch self {
        case .luks, .keyFile, .keyscript: return "unlock"
        case .file, .credential, .passwordHash: return "install"
        }
    }

    /// A one-line description for reports (names targets, never values).
    public var summary: String {
        switch self {
        case let .luks(l): return "luks \(l.device) as \(l.mapping) (\(l.keyUse.rawValue))"
        case let .keyFile(v): return "keyfile \(HandoffPaths().keyFile(volume: v))"
        case let .keyscript(v): return "keyscript for \(v)"
        case let .file(f):
            let m = String(f.mode, radix: 8)
            return "file \(f.path) (\(f.format.rawValue), mode \(String(repeating: "0", count: max(0, 4 - m.count)) + m))"
        case let .credential(n): return "credential \(n)"
        case let .passwordHash(u): return "password hash for \(u)"
        }
    }

    /// The file this action hands a secret over in (a key file for
    /// systemd-cryptsetup, a credential for systemd), or nil: the files a
    /// failed boot must wipe.
    public func handoffFile(in paths: HandoffPaths) -> String? {
        switch self {
        case let .keyFile(v): return paths.keyFile(volume: v)
        case let .credential(n): return paths.credential(n)
        case .luks, .keyscript, .file, .passwordHash: return nil
        }
    }

    /// Secret types this action can consume.
    public func accepts(_ type: SecretType) -> Bool {
        switch self {
        case let .luks(l):
            return l.keyUse == .paesToken ? (type == .aesXTS128 || type == .aesXTS256) : type == .plain
        default:
            return type == .plain
        }
    }
}

/// Which data ciphers a LUKS volume may use (the header's
/// `crypt_get_cipher`-`crypt_get_cipher_mode`, e.g. "aes-xts-plain64").
/// The host owns the disks and can write any header it likes, so the
/// cipher is checked before anything is activated.
public enum LUKSCiphers {
    /// What LUKS2 volumes use: XTS with a 64-bit sector IV (cryptsetup's
    /// default since 1.6, IBM's paes for protected keys). Serpent and
    /// Twofish are cryptsetup's other XTS choices. Everything else (ECB;
    /// CBC with a plain IV, open to watermarking; the LUKS1-era
    /// cbc-essiv; a 32-bit "plain" IV that repeats after 2 TiB; AEAD modes
    /// that need dm-integrity) is refused unless the action's
    /// `expect_cipher` names it.
    public static let allowed = ["aes-xts-plain64", "paes-xts-plain64", "serpent-xts-plain64", "twofish-xts-plain64"]

    /// A cipher spec that does not encrypt (`cipher_null-ecb`,
    /// `capi:ecb(cipher_null)-plain`, ...). Never allowed, not even by name.
    /// (A byte search: String.contains(String) would link Swift's regex
    /// engine, ~1.3 MB, into the agent.)
    public static func isNull(_ spec: String) -> Bool {
        let s = Array(spec.lowercased().utf8), null = Array("null".utf8)
        guard s.count >= null.count else { return false }
        return (0...(s.count - null.count)).contains { s[$0..<($0 + null.count)].elementsEqual(null) }
    }

    /// Whether a header's cipher is acceptable for an action that expects
    /// `expected` (or nothing).
    public static func isAllowed(_ spec: String, expected: String?) -> Bool {
        if isNull(spec) { return false }
        if let expected { return spec == expected }
        return allowed.contains(spec)
    }

    /// Why `spec` is refused, naming the rule, for messages.
    public static func refusal(_ spec: String, expected: String?) -> String {
        if isNull(spec) { return "\(spec) does not encrypt at all [\(RuleID.luksCipherNull)]" }
        if let expected { return "the policy expects \(expected) (expect_cipher) [\(RuleID.luksCipherMismatch)]" }
        return "\(spec) is not allowed without expect_cipher (allowed: \(allowed.joined(separator: ", "))) [\(RuleID.luksCipherNotAllowed)]"
    }
}

enum NameRules {
    /// dm / crypttab volume names.
    static func isVolumeName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return !u.isEmpty && u.count <= 127 && u.allSatisfy { isAlnum($0) || "-_.+".utf8.contains($0) } && s != "." && s != ".."
    }

    /// systemd credential names.
    static func isCredentialName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return !u.isEmpty && u.count <= 255 && u.allSatisfy { isAlnum($0) || "-_.@:".utf8.contains($0) } && s != "." && s != ".."
    }

    /// User and group names.
    static func isUserName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return !u.isEmpty && u.count <= 32 && u.allSatisfy { isAlnum($0) || "-_.".utf8.contains($0) } && u[0] != UInt8(ascii: "-")
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
