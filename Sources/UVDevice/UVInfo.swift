/// What UVDEV_INFO reports: the ioctls the driver implements and the
/// ultravisor calls behind them that are available to this guest.
public struct UVInfo: Equatable, Sendable {
    /// supp_uvio_cmds: bit n (LSB0) set ⇔ the driver implements ioctl nr n.
    public let driverIoctls: UInt64
    /// supp_uv_cmds: bit n set ⇔ the ultravisor offers the call behind
    /// ioctl nr n; nil when the driver predates INFO (Linux 5.19–6.4).
    public let ultravisorCalls: UInt64?

    public init(driverIoctls: UInt64, ultravisorCalls: UInt64?) {
        self.driverIoctls = driverIoctls
        self.ultravisorCalls = ultravisorCalls
    }

    /// A driver that answers INFO with ENOTTY only knows attestation.
    public static let legacyDriver = UVInfo(driverIoctls: UVIoctl.attest.infoBit, ultravisorCalls: nil)

    public var isLegacyDriver: Bool { ultravisorCalls == nil }

    public func driverImplements(_ ioctl: UVIoctl) -> Bool { driverIoctls & ioctl.infoBit != 0 }

    /// Whether the ultravisor offers the call (nil: unknown). Only
    /// meaningful where the driver implements the ioctl. For RETR the driver
    /// reports the attestation facility (a kernel quirk): check
    /// `UVQuery.facilities` bit 33 for Retrieve Secret itself.
    public func ultravisorOffers(_ ioctl: UVIoctl) -> Bool? {
        guard let calls = ultravisorCalls else { return nil }
        return driverImplements(ioctl) && calls & ioctl.infoBit != 0
    }

    /// The kernel generation these bits indicate.
    public var kernelGeneration: String {
        if isLegacyDriver { return "5.19–6.4 (attestation only)" }
        if driverImplements(.retrieveSecret) { return "6.13 or later" }
        if driverImplements(.lockSecrets) { return "6.5–6.12" }
        return "unknown"
    }

    /// LIST accepts more than one page from Linux 6.13 on, which is also
    /// when RETR appeared.
    public var listTakesSeveralPages: Bool { driverImplements(.retrieveSecret) }
}
