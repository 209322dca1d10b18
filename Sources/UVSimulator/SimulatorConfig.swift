import ASRCodec
import SEBase
import UVDevice
import SEVocabulary

/// What the simulated machine, ultravisor and image are: fixed when a state
/// is created.
public struct SimulatorConfig: Equatable, Sendable {
    public var kernel: KernelGeneration = .linux6_13
    /// Installed ultravisor calls (query/facilities).
    public var facilities = FacilityList(installed: UVFacility.allCases.map(\.rawValue))
    /// MSB0 bitmap of secret type codes (query/supp_secret_types).
    public var supportedSecretTypes: UInt64 = SimulatorConfig.defaultSecretTypes
    /// MSB0 bit 0 ⇒ request version 0x100.
    public var supportedAddSecretVersions: UInt64 = 1 << 63
    /// MSB0 bit 0 = disable dumping.
    public var supportedAddSecretFlags: UInt64 = 1 << 63
    public var maxAssociationSecrets: Int = 64
    public var maxRetrievableSecrets: Int = 192
    /// The tags of the running image (PLD, ALD, TLD, SE-header tag).
    public var imageTags: SEHeaderTags
    /// The configuration unique ID of this guest instance.
    public var configUID: [UInt8]
    /// SE-header secret-control flag bit 2: update-CCK requests allowed.
    public var cckUpdateAllowed = false
    /// SE-header secret-control flag bit 1: every request must carry the
    /// CCK-derived extension secret (needs a CCK).
    public var cckExtensionSecretEnforced = false
    /// What prot_virt_guest says in the generated sysfs tree. Off by
    /// default so the "refuse the simulator in a real guest" rule does not
    /// trip on the simulator's own tree.
    public var protVirtGuest = false

    public init(imageTags: SEHeaderTags, configUID: [UInt8]) {
        self.imageTags = imageTags
        self.configUID = configUID
    }

    /// Every listable type, meta; update-CCK only when allowed.
    public static let defaultSecretTypes: UInt64 =
        UVQuery.secretTypeBitmap(SecretType.allCases.filter { $0 != .updateCCK }.map(\.rawValue))

    public var maxSecrets: Int { maxAssociationSecrets + maxRetrievableSecrets }

    public func supports(_ type: SecretType) -> Bool {
        type.rawValue < 64 && supportedSecretTypes & (1 << UInt64(63 - Int(type.rawValue))) != 0
    }

    /// Highest store size the list format can express.
    static let maxStoreSize = Int(UInt16.max)
}

/// Faults the tests inject; each counter is consumed by the calls it hits.
public struct SimulatorFaults: Equatable, Sendable {
    /// The next N Add Secret calls fail with 0x010D (dump in progress).
    public var dumpInProgressAdds = 0
    /// The store reports full (0x010B) regardless of the limits.
    public var storeFull = false
    /// After `after` more calls of `ioctl` went through, the next `count`
    /// fail with `errno` — at `stage`: a device failing mid-run.
    public var errnoFaults: [ErrnoFault] = []

    public struct ErrnoFault: Equatable, Sendable {
        /// Where in the driver's path the fault strikes.
        public enum Stage: String, Sendable, CaseIterable {
            /// After the control block was read and checked, before the
            /// handler runs: nothing reached the ultravisor.
            case entry
            /// After the handler ran (the ultravisor acted: a secret may
            /// have been added, the store locked), when the driver copies
            /// the control block back: rc and rrc are lost (uv-device.md §4
            /// step 9). Real drivers fail here with EFAULT.
            case copyBack = "copy-back"
        }
        public var ioctl: UVIoctl
        public var errno: Int32
        public var count: Int
        /// Calls of this ioctl to let through (past `stage`) before failing.
        public var after: Int
        public var stage: Stage
        public init(ioctl: UVIoctl, errno: Int32, count: Int, after: Int = 0, stage: Stage = .entry) {
            self.ioctl = ioctl
            self.errno = errno
            self.count = count
            self.after = after
            self.stage = stage
        }
    }

    public init() {}

    mutating func consumeErrno(for ioctl: UVIoctl, at stage: ErrnoFault.Stage) -> Int32? {
        guard let i = errnoFaults.firstIndex(where: { $0.ioctl == ioctl && $0.stage == stage && $0.count > 0 }) else { return nil }
        if errnoFaults[i].after > 0 {
            errnoFaults[i].after -= 1
            return nil
        }
        errnoFaults[i].count -= 1
        let e = errnoFaults[i].errno
        if errnoFaults[i].count == 0 { errnoFaults.remove(at: i) }
        return e
    }
}
