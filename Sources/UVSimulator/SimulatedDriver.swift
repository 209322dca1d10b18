#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUVDevice
import SEBase
import UVDevice

/// The kernel's uvdevice driver, call for call: the same checks in the same
/// order with the same errnos, the same copies to and from user memory (at
/// the addresses the control block names, through `UserMemory`), and the
/// control block copied back only on success.
struct SimulatedDriver {
    let state: SimulatorState
    var uv: SimulatedUltravisor { SimulatedUltravisor(state: state) }
    var generation: KernelGeneration { state.config.kernel }

    /// ioctl(fd, request, cbAddress): 0 or an errno.
    func ioctl(_ request: UInt, _ cbAddress: UInt64) -> Int32 {
        guard let ioctl = decode(request) else { return ENOTTY }

        // Copy and check the control block.
        var cb = se_uvio_ioctl_cb()
        guard UserMemory.read(&cb, from: cbAddress) else { return EFAULT }
        guard cb.flags == 0 else { return EINVAL }
        let reservedZero = withUnsafeBytes(of: cb.reserved14) { $0.allSatisfy { $0 == 0 } }
        guard reservedZero else { return EINVAL }

        if let e = state.faults.consumeErrno(for: ioctl, at: .entry) { return e }

        let ret: Int32
        switch ioctl {
        case .info: ret = info(&cb)
        case .attest: ret = attest(&cb)
        case .addSecret: ret = addSecret(&cb)
        case .listSecrets: ret = generation.listTakesPages ? listPages(&cb) : listOnePage(&cb)
        case .lockSecrets: ret = lock(&cb)
        case .retrieveSecret: ret = retrieve(&cb)
        }
        guard ret == 0 else { return ret }
        if let e = state.faults.consumeErrno(for: ioctl, at: .copyBack) { return e }
        return UserMemory.write(cb, to: cbAddress) ? 0 : EFAULT
    }

    /// Direction, type, number and size of the request (6.5+); the whole
    /// number of ATT (5.19). ENOTTY for anything else.
    private func decode(_ request: UInt) -> UVIoctl? {
        guard let count = generation.ioctlCount else {
            return request == UVIoctl.attest.requestNumber ? .attest : nil
        }
        guard se_ioc_dir(request) == SE_IOC_DIR_READ_WRITE.rawValue,
              se_ioc_type(request) == UInt32(UInt8(ascii: "u")),
              se_ioc_nr(request) < count,
              se_ioc_size(request) == UInt32(MemoryLayout<se_uvio_ioctl_cb>.size) else { return nil }
        return UVIoctl(rawValue: UInt8(se_ioc_nr(request)))
    }

    // MARK: INFO

    private func info(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        guard cb.argument_len >= UInt32(MemoryLayout<se_uvio_uvdev_info>.size) else { return EINVAL }
        var answer = se_uvio_uvdev_info()
        for ioctl in generation.ioctls {
            answer.supp_uvio_cmds |= ioctl.infoBit
            if let facility = UVFacility.reportedByDriver(for: ioctl), state.config.facilities.isInstalled(facility) {
                answer.supp_uv_cmds |= ioctl.infoBit
            }
        }
        guard UserMemory.write(answer, to: cb.argument_addr) else { return EFAULT }
        cb.uv_rc = UVReturnCode.success  // uv_rrc stays as the caller sent it
        return 0
    }

    // MARK: ATT

    private func attest(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        guard cb.argument_len == UInt32(MemoryLayout<se_uvio_attest>.size) else { return EINVAL }
        var att = se_uvio_attest()
        guard UserMemory.read(&att, from: cb.argument_addr) else { return EFAULT }
        guard att.arcb_len <= UInt32(SE_UVIO_ATT_ARCB_MAX_LEN), att.arcb_len != 0,
              att.meas_len <= UInt32(SE_UVIO_ATT_MEASUREMENT_MAX_LEN), att.meas_len != 0,
              att.add_data_len <= UInt32(SE_UVIO_ATT_ADDITIONAL_MAX_LEN),
              att.reserved136 == 0 else { return EINVAL }
        guard let arcb = UserMemory.copyFromUser(att.arcb_addr, count: Int(att.arcb_len)) else { return EFAULT }

        // The kernel passes the whole 256-byte array and the length as given.
        let userData = withUnsafeBytes(of: att.user_data) { Array($0) }
        let answer = uv.attest(arcb: arcb, userDataArea: userData, userDataLength: att.user_data_len,
                               measurementLength: Int(att.meas_len), additionalDataLength: Int(att.add_data_len))
        cb.uv_rc = answer.result.rc
        cb.uv_rrc = answer.result.rrc
        let configUID = answer.configUID

        // The kernel copies its (zeroed) buffers out whatever the ultravisor
        // said; the ultravisor wrote its answer at their start.
        var measurement = [UInt8](repeating: 0, count: Int(att.meas_len))
        measurement.replaceSubrange(0..<min(answer.measurement.count, measurement.count), with: answer.measurement.prefix(measurement.count))
        guard UserMemory.copyToUser(att.meas_addr, measurement) else { return EFAULT }
        if att.add_data_len != 0 {
            var additional = [UInt8](repeating: 0, count: Int(att.add_data_len))
            additional.replaceSubrange(0..<min(answer.additionalData.count, additional.count),
                                       with: answer.additionalData.prefix(additional.count))
            guard UserMemory.copyToUser(att.add_data_addr, additional) else { return EFAULT }
        }
        if generation.writesBackAddDataLength {
            // The input value, not the produced length (see docs/uv-device.md).
            let at = cb.argument_addr &+ UInt64(MemoryLayout<se_uvio_attest>.offset(of: \.add_data_len)!)
            guard UserMemory.write(att.add_data_len, to: at) else { return EFAULT }
        }
        let uidAt = cb.argument_addr &+ UInt64(MemoryLayout<se_uvio_attest>.offset(of: \.config_uid)!)
        guard UserMemory.copyToUser(uidAt, configUID) else { return EFAULT }
        return 0
    }

    // MARK: ADD_SECRET

    private func addSecret(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        guard cb.argument_len <= UInt32(SE_UVIO_ADD_SECRET_MAX_LEN) else { return EINVAL }
        guard cb.argument_len != 0 else { return EINVAL }
        guard var request = UserMemory.copyFromUser(cb.argument_addr, count: Int(cb.argument_len)) else { return EFAULT }
        defer { request.wipe() }
        let result = uv.addSecret(request)
        cb.uv_rc = result.rc
        cb.uv_rrc = result.rrc
        return 0
    }

    // MARK: LIST_SECRETS

    /// 6.5–6.12: exactly one page, copied out whole whatever the rc.
    private func listOnePage(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        guard cb.argument_len == UInt32(SE_UVIO_LIST_SECRETS_LEN) else { return EINVAL }
        let (result, page) = uv.listSecrets(startIndex: 0)
        cb.uv_rc = result.rc
        cb.uv_rrc = result.rrc
        return UserMemory.copyToUser(cb.argument_addr, page) ? 0 : EFAULT
    }

    /// 6.13+: any non-zero multiple of a page. One ultravisor call per page
    /// as long as there is more data and another page fits; only the
    /// header and the entries are written, the rest of the buffer is left
    /// as it was. The header's count is the sum, the rest is the last
    /// call's.
    private func listPages(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        let pageSize = SecretListLayout.pageSize
        guard cb.argument_len != 0, cb.argument_len % UInt32(SE_UVIO_LIST_SECRETS_LEN) == 0 else { return EINVAL }
        let header = SecretListLayout.headerSize
        var page = [UInt8](repeating: 0, count: pageSize)
        var written = header
        var stored = 0
        repeat {
            let start = page.readBE(UInt16.self, at: SecretListLayout.nextIndexOffset)
            let (result, next) = uv.listSecrets(startIndex: start)
            page = next
            cb.uv_rc = result.rc
            cb.uv_rrc = result.rrc
            guard result.rc == UVReturnCode.success || result.rc == UVReturnCode.moreData else { break }
            let count = Int(page.readBE(UInt16.self, at: SecretListLayout.storedCountOffset))
            let bytes = Array(page[header..<(header + count * SecretListLayout.entrySize)])
            guard UserMemory.copyToUser(cb.argument_addr &+ UInt64(written), bytes) else { return EFAULT }
            written += bytes.count
            stored += count
        } while cb.uv_rc == UVReturnCode.moreData && written + pageSize <= Int(cb.argument_len)
        page.writeBE(UInt16(truncatingIfNeeded: stored), at: SecretListLayout.storedCountOffset)
        return UserMemory.copyToUser(cb.argument_addr, Array(page[0..<header])) ? 0 : EFAULT
    }

    // MARK: LOCK_SECRETS

    private func lock(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        guard cb.argument_addr == 0, cb.argument_len == 0 else { return EINVAL }
        let result = uv.lockSecretStore()
        cb.uv_rc = result.rc
        cb.uv_rrc = result.rrc
        return 0
    }

    // MARK: RETR_SECRET

    /// The index is read from the buffer's first two bytes (big-endian, as
    /// on s390x); the whole buffer is copied back whatever the rc, and the
    /// rc is only reported when that copy worked.
    private func retrieve(_ cb: inout se_uvio_ioctl_cb) -> Int32 {
        let length = Int(cb.argument_len)
        guard length <= Int(SE_UVIO_RETR_SECRET_MAX_LEN), length >= Int(SE_UVIO_RETR_INDEX_LEN) else { return EINVAL }
        let buffer = SecureBytes(count: length)
        defer { buffer.wipe() }
        guard let indexBytes = UserMemory.copyFromUser(cb.argument_addr, count: Int(SE_UVIO_RETR_INDEX_LEN)) else {
            return EFAULT
        }
        let index = indexBytes.readBE(UInt16.self, at: 0)
        let result = uv.retrieveSecret(index: index, into: buffer)
        let copied = buffer.withUnsafeBytes { UserMemory.copyToUser(cb.argument_addr, $0) }
        guard copied else { return EFAULT }
        cb.uv_rc = result.rc
        cb.uv_rrc = result.rrc
        return 0
    }
}
