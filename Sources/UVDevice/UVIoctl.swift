import CUVDevice

/// The ioctls of /dev/uv, by number. Each (but INFO) issues one ultravisor call.
public enum UVIoctl: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    case info = 0
    case attest = 1
    case addSecret = 2
    case listSecrets = 3
    case lockSecrets = 4
    case retrieveSecret = 5

    /// The number from the C header (checked there against the UAPI values).
    public var nr: UInt32 {
        switch self {
        case .info: return SE_UVIO_NR_INFO.rawValue
        case .attest: return SE_UVIO_NR_ATT.rawValue
        case .addSecret: return SE_UVIO_NR_ADD_SECRET.rawValue
        case .listSecrets: return SE_UVIO_NR_LIST_SECRETS.rawValue
        case .lockSecrets: return SE_UVIO_NR_LOCK_SECRETS.rawValue
        case .retrieveSecret: return SE_UVIO_NR_RETR_SECRET.rawValue
        }
    }

    /// `_IOWR('u', nr, struct uvio_ioctl_cb)`, e.g. 0xC0407500 for INFO.
    public var requestNumber: UInt { se_uvio_request(nr) }

    /// The UAPI name without its prefix.
    public var name: String {
        switch self {
        case .info: return "UVDEV_INFO"
        case .attest: return "ATT"
        case .addSecret: return "ADD_SECRET"
        case .listSecrets: return "LIST_SECRETS"
        case .lockSecrets: return "LOCK_SECRETS"
        case .retrieveSecret: return "RETR_SECRET"
        }
    }

    public var description: String { name }

    /// The ultravisor call behind the ioctl (none for INFO, which the
    /// driver answers itself).
    public var ultravisorCall: UInt16? {
        switch self {
        case .info: return nil
        case .attest: return 0x1020
        case .addSecret: return 0x1031
        case .listSecrets: return 0x1033
        case .lockSecrets: return 0x1034
        case .retrieveSecret: return 0x1035
        }
    }

    /// The first kernel release with this ioctl.
    public var since: String {
        switch self {
        case .attest: return "5.19"
        case .retrieveSecret: return "6.13"
        default: return "6.5"
        }
    }

    /// The bit for this ioctl in the INFO bitmaps (LSB0).
    public var infoBit: UInt64 { 1 << UInt64(rawValue) }
}

/// Installed-call bits of /sys/firmware/uv/query/facilities (MSB0 over the
/// 256-bit list) that matter here.
public enum UVFacility: Int, CaseIterable, Sendable {
    case retrieveAttestation = 28
    case addSecret = 29
    case listSecrets = 30
    case lockSecrets = 31
    case verifyLargeFrame = 32
    case retrieveSecret = 33
    case queryKeys = 34

    public var name: String {
        switch self {
        case .retrieveAttestation: return "Retrieve Attestation Measurement"
        case .addSecret: return "Add Secret"
        case .listSecrets: return "List Secrets"
        case .lockSecrets: return "Lock Secret Store"
        case .verifyLargeFrame: return "Verify Large Frame"
        case .retrieveSecret: return "Retrieve Secret"
        case .queryKeys: return "Query Keys"
        }
    }

    /// The facility the kernel driver consults for the INFO bit of `ioctl`.
    /// RETR is derived from the attestation bit (a driver quirk, see
    /// docs/uv-device.md), not from Retrieve Secret.
    public static func reportedByDriver(for ioctl: UVIoctl) -> UVFacility? {
        switch ioctl {
        case .info: return nil
        case .attest, .retrieveSecret: return .retrieveAttestation
        case .addSecret: return .addSecret
        case .listSecrets: return .listSecrets
        case .lockSecrets: return .lockSecrets
        }
    }

    /// The facility the ultravisor call behind `ioctl` needs.
    public static func needed(by ioctl: UVIoctl) -> UVFacility? {
        switch ioctl {
        case .info: return nil
        case .attest: return .retrieveAttestation
        case .addSecret: return .addSecret
        case .listSecrets: return .listSecrets
        case .lockSecrets: return .lockSecrets
        case .retrieveSecret: return .retrieveSecret
        }
    }
}

/// A 256-bit facility list as four u64 words, MSB0 numbered.
public struct FacilityList: Equatable, Sendable {
    public var words: [UInt64]

    public init(words: [UInt64]) {
        precondition(words.count == 4)
        self.words = words
    }

    public init(installed: [Int]) {
        var w = [UInt64](repeating: 0, count: 4)
        for bit in installed where bit >= 0 && bit < 256 { w[bit / 64] |= 1 << UInt64(63 - bit % 64) }
        self.words = w
    }

    public func isInstalled(_ bit: Int) -> Bool {
        guard bit >= 0, bit < 256 else { return false }
        return words[bit / 64] & (1 << UInt64(63 - bit % 64)) != 0
    }

    public func isInstalled(_ facility: UVFacility) -> Bool { isInstalled(facility.rawValue) }
}
