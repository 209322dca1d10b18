import SEBase
import SECrypto
import ASRCodec
import SEVocabulary

/// The policy embedded in the initrd (integrity-protected by Secure
/// Execution). It says where the requests are, how they are trusted, which
/// secrets must and may be present, what to do with each, and how the boot
/// fails. Reference: docs/policy.md; schema: schema/policy.schema.json.
public struct Policy: Sendable {
    public static let currentVersion: Int64 = 1

    public var version: Int64
    public var description: String?
    public var requests: RequestSource
    public var trust: Trust
    public var store: StoreRules
    public var secrets: [SecretRule]
    public var onFailure: FailureAction
    /// SHA-256 of the policy file as read (for the report).
    public var digest: [UInt8]
    /// What the new root that `install` writes into must be (nil: the
    /// policy has no install actions). See `RootBinding`.
    public var root: RootBinding? = nil
    /// Whether the boot run attests, and how it trusts the tenant's
    /// attestation request (`"attestation"`; default off).
    public var attestation = AttestationRules()
    /// Where the run's results record goes besides /run (`"results"`).
    public var results = ResultsRules()

    /// `"attestation"`: after the store is locked and verified, the run
    /// performs attestation with the tenant's request (pvattest's exchange
    /// format, read from the request directory with the requests) and binds
    /// itself into the user data (docs/attestation.md).
    public struct AttestationRules: Sendable, Equatable {
        public enum Mode: String, Sendable, CaseIterable {
            /// No attestation; an attestation request file is not read.
            case off
            /// Attest when the request file is there; a file that is there
            /// must pass every rule (a broken one fails the boot).
            case optional
            /// No boot without the request and a successful attestation.
            case required
        }

        public enum TrustMode: String, Sendable, CaseIterable {
            /// The request is bounded and strictly parsed, nothing more: only
            /// the tenant's protection key can check the answer, so a request
            /// the host substituted yields a response the tenant refuses.
            case measurementKey = "measurement-key"
            /// The request file's SHA-256 must be one of `sha256` (a request
            /// fixed in the image: its nonce is then the same on every boot,
            /// so a response can be replayed; see docs/attestation.md).
            case pinned
        }

        public static let defaultRequestFile = "attestation-request.bin"
        public static let defaultMaxSize = 64 << 10
        /// The least `max_size` (schema and docs/policy.md: 512 to 1 MiB).
        public static let minimumMaxSize = 512

        public var mode: Mode = .off
        /// The request's file name in the request directory.
        public var requestFile: String = AttestationRules.defaultRequestFile
        public var trust: TrustMode = .measurementKey
        public var pinned: [[UInt8]] = []
        public var maxSize: Int = AttestationRules.defaultMaxSize

        public init() {}
        public var enabled: Bool { mode != .off }
    }

    /// `"results"`: the run's results record (report, attestation response,
    /// facts) also goes to a raw results device and/or the console
    /// (docs/results.md). /run always has the files.
    public struct ResultsRules: Sendable, Equatable {
        /// A blank disk the host attaches (LABEL= cannot name a raw disk:
        /// PARTLABEL=, PARTUUID= or a /dev path such as /dev/disk/by-id/…).
        public var device: VolumeSpec?
        /// Framed base64 lines on /dev/console (and the kernel log when it
        /// takes bursts).
        public var console: Bool = false

        public init() {}
    }

    /// The new root's binding to the policy (`"root"` in the policy). A
    /// policy with install actions always has one: without the key, the
    /// root must be a dm-crypt mapping of one of the policy's own volumes.
    public enum RootBinding: Sendable, Equatable {
        /// A LUKS dm-crypt mapping named `volume` (nil: any of the policy's
        /// volumes), opened by the policy's own `luks` action in this boot,
        /// or by cryptsetup with the key of its `keyfile`/`keyscript` action.
        case luks(volume: String?)
        /// A tmpfs or ramfs (guest memory only).
        case tmpfs
        /// Not checked at all: unsafe, for demos and tests only.
        case any
    }

    /// The dm / crypttab names of the volumes whose keys the policy holds:
    /// `luks` mapping names and `keyfile`/`keyscript` volumes.
    public var volumeNames: [String] {
        var names: [String] = []
        for s in secrets {
            for a in s.actions {
                let n: String
                switch a {
                case let .luks(l): n = l.mapping
                case let .keyFile(v), let .keyscript(v): n = v
                default: continue
                }
                if !names.contains(n) { names.append(n) }
            }
        }
        return names
    }

    public struct RequestSource: Sendable, Equatable {
        /// LABEL=, UUID=, PARTLABEL=, PARTUUID= or an absolute device path.
        public var volume: VolumeSpec?
        /// Directory on the volume, relative to its root.
        public var directory: String
        /// File-name suffix of request files; other names are ignored.
        public var suffix: String
        public var maxRequests: Int
        public var maxFileSize: Int
        /// How long to wait for the volume to appear.
        public var waitSeconds: Int
        /// File-system types (as libblkid names them) the volume may have;
        /// any other type is not mounted.
        public var filesystems: [String]

        /// Types se-secretd knows how to mount without writing (read-only,
        /// and no journal replay where the type has a journal).
        public static let knownFilesystems = ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "iso9660", "squashfs", "erofs"]
        /// The default allow-list: what tools make request volumes with
        /// (mkfs.ext4 -d, mkfs.vfat + mcopy, genisoimage), all served by two
        /// kernel drivers plus isofs.
        public static let defaultFilesystems = ["ext4", "ext3", "ext2", "vfat", "iso9660"]

        public init(volume: VolumeSpec?, directory: String, suffix: String, maxRequests: Int, maxFileSize: Int, waitSeconds: Int,
                    filesystems: [String] = RequestSource.defaultFilesystems) {
            self.volume = volume
            self.directory = directory
            self.suffix = suffix
            self.maxRequests = maxRequests
            self.maxFileSize = maxFileSize
            self.waitSeconds = waitSeconds
            self.filesystems = filesystems
        }
    }

    public struct Signer: Sendable {
        public var name: String
        public var key: PublicKey
        public var fingerprint: [UInt8] { key.fingerprint }
    }

    public enum Requirement: String, Sendable {
        /// A request is trusted if any configured method vouches for it.
        case any
        /// Every configured method must vouch for it.
        case all
        /// No trust check (completeness and whitelisting still apply). Must be explicit.
        case none
    }

    public struct EBCTrust: Sendable, Equatable {
        /// The table-of-contents request (a meta request with a policy reference).
        public var toc: String
        /// Optional pin of the toc request file's SHA-256.
        public var tocSHA256: [UInt8]?
        /// Optional pin of the referenced toc.pol's SHA-256.
        public var policySHA256: [UInt8]?
        /// IBM's own model, where toc.asr is not authenticated. Needed when neither pin is set.
        public var allowUnpinnedTOC: Bool
    }

    public struct Trust: Sendable {
        public var signers: [Signer]
        public var pinned: [[UInt8]]
        public var ebc: EBCTrust?
        public var require: Requirement
        /// Freshness floor: every request a signature vouches for must carry
        /// a freshness record (in its signed user data) with an epoch at
        /// least this. Nil: no floor. See docs/rotation.md.
        public var minEpoch: UInt64? = nil
        /// The requests' freshness records must all carry the same epoch
        /// (default true): old and new requests cannot be mixed.
        public var sameEpoch: Bool = true

        public var usesSignatures: Bool { !signers.isEmpty }
        public var usesPins: Bool { !pinned.isEmpty }
        public var methodCount: Int { (usesSignatures ? 1 : 0) + (usesPins ? 1 : 0) + (ebc != nil ? 1 : 0) }
    }

    public struct StoreRules: Sendable, Equatable {
        public var lock: Bool
        public var allowMeta: Bool
        public var allowUpdateCCK: Bool
        public var requiredFlags: [String]
        /// Expected config UID; requests must carry exactly this one.
        public var configUID: [UInt8]?
    }

    public enum IDForm: String, Sendable { case sha256, rawName = "raw-name" }

    public struct SecretRule: Sendable {
        /// Display name (the name the ID is made from, or the ID's hex).
        public var name: String
        public var id: [UInt8]
        public var type: SecretType
        public var required: Bool
        /// Exact stored length, if constrained.
        public var length: Int?
        /// Names of the signers allowed for this secret (nil: any configured signer).
        public var signers: [String]?
        public var actions: [Action]
        /// A freshness floor for this secret alone (the higher of this and
        /// `trust.min_epoch` applies).
        public var minEpoch: UInt64? = nil
    }

    public enum FailureAction: String, Sendable, CaseIterable {
        case poweroff, reboot
        case emergencyShell = "emergency-shell"
        case `continue`
    }

    public func secret(withID id: [UInt8]) -> SecretRule? { secrets.first { $0.id == id } }
}

