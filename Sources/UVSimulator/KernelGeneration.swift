import CUVDevice
import UVDevice

/// The uvdevice driver generations the simulator can play.
public enum KernelGeneration: String, CaseIterable, Sendable {
    /// 5.19–6.4: only ATT; any other request number is ENOTTY.
    case linux5_19 = "5.19"
    /// 6.5–6.12: INFO, ATT, ADD, LIST (exactly one page), LOCK. ATT writes
    /// add_data_len back as 6.8+ does.
    case linux6_5 = "6.5"
    /// 6.13+: also RETR, and LIST takes any number of pages.
    case linux6_13 = "6.13"

    /// Ioctl numbers the driver accepts (nil: 5.19 matches the whole
    /// request number of ATT instead).
    var ioctlCount: UInt32? {
        switch self {
        case .linux5_19: return nil
        case .linux6_5: return UInt32(SE_UVIO_NUM_IOCTLS_6_5)
        case .linux6_13: return UInt32(SE_UVIO_NUM_IOCTLS_6_13)
        }
    }

    public var ioctls: [UVIoctl] {
        guard let n = ioctlCount else { return [.attest] }
        return UVIoctl.allCases.filter { UInt32($0.rawValue) < n }
    }

    var listTakesPages: Bool { self == .linux6_13 }
    var writesBackAddDataLength: Bool { self != .linux5_19 }
    /// query/supp_secret_types, max_secrets, supp_add_secret_* (6.5+).
    var hasSecretSysfs: Bool { self != .linux5_19 }
    /// query/max_assoc_secrets, max_retr_secrets and keys/ (6.13+).
    var hasKeysSysfs: Bool { self == .linux6_13 }
}
