import Glibc
import Testing
import ASRCodec
import CUVDevice
import SEBase
import SECrypto
import UVDevice
@testable import UVSimulator

/// The per-ioctl rules derived from the driver source (reference §4, §6 and
/// the second table of §12), each with its exact errno, and with proof that
/// the control block was not copied back on error.
@Suite struct DriverRuleTests {
    /// Calls and checks that an errno result left the cb untouched.
    func expectErrno(_ sim: Sim, _ ioctl: UVIoctl, _ arg: UnsafeMutableRawPointer?, _ len: Int, _ errno: Int32,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let (e, cb) = sim.call(ioctl, arg, len, rrc: 0xCAFE)
        #expect(e == errno, "\(ioctl.name) len \(len)", sourceLocation: sourceLocation)
        #expect(cb.uv_rc == 0 && cb.uv_rrc == 0xCAFE, "cb must not be copied back", sourceLocation: sourceLocation)
    }

    // MARK: Entry path

    @Test func numberBeyondTheDriversIoctlsIsENOTTY() throws {
        let new = try Sim(kernel: .linux6_13)
        var cb = se_uvio_ioctl_cb()
        #expect(new.ioctl(se_uvio_request(6), &cb) == ENOTTY)                    // LIST_SECRETS_EXT never merged
        let old = try Sim(kernel: .linux6_5)
        #expect(old.ioctl(UVIoctl.retrieveSecret.requestNumber, &cb) == ENOTTY)  // no RETR before 6.13
        #expect(old.ioctl(se_uvio_request(6), &cb) == ENOTTY)
        let oldest = try Sim(kernel: .linux5_19)
        for i in UVIoctl.allCases where i != .attest {
            #expect(oldest.ioctl(i.requestNumber, &cb) == ENOTTY, "\(i.name) on 5.19")
        }
    }

    @Test func checkOrderTypeBeforeCopyBeforeFlags() throws {
        let sim = try Sim()
        // A bad request number wins over a bad cb address.
        #expect(sim.ioctl(se_ioc_encode(SE_IOC_DIR_READ.rawValue, 0x75, 0, 64), nil) == ENOTTY)
        // An unreadable cb wins over anything inside it.
        #expect(sim.ioctl(UVIoctl.info.requestNumber, nil) == EFAULT)
        // Flags are checked before the per-ioctl rules.
        var cb = se_uvio_ioctl_cb()
        cb.flags = 1
        cb.argument_len = 0  // would be EINVAL for INFO too, but flags come first
        #expect(sim.ioctl(UVIoctl.lockSecrets.requestNumber, &cb) == EINVAL)
        #expect(sim.state.isLocked == false)
        // One non-zero reserved byte is enough.
        cb = se_uvio_ioctl_cb()
        cb.reserved14.43 = 1
        #expect(sim.ioctl(UVIoctl.lockSecrets.requestNumber, &cb) == EINVAL)
        #expect(sim.state.isLocked == false)
    }

    @Test func controlBlockCopyBackCanFailAfterTheUltravisorActed() throws {
        let sim = try Sim()
        let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        defer { munmap(page, 4096) }
        let cb = page.bindMemory(to: se_uvio_ioctl_cb.self, capacity: 1)
        cb.initialize(to: se_uvio_ioctl_cb())
        #expect(mprotect(page, 4096, PROT_READ) == 0)
        #expect(sim.ioctl(UVIoctl.lockSecrets.requestNumber, page) == EFAULT)
        #expect(sim.state.isLocked, "the lock happened although the ioctl failed")
    }

    // MARK: INFO

    @Test func infoRules() throws {
        let sim = try Sim()
        var buf = [UInt8](repeating: 0xEE, count: 32)
        buf.withUnsafeMutableBytes { expectErrno(sim, .info, $0.baseAddress, 15, EINVAL) }
        expectErrno(sim, .info, nil, 16, EFAULT)
        let fault = FaultPage()
        expectErrno(sim, .info, fault.address, 16, EFAULT)

        let (e, cb) = buf.withUnsafeMutableBytes { sim.call(.info, $0.baseAddress, 32, rrc: 0xBEEF) }
        #expect(e == 0)
        #expect(cb.uv_rc == 0x0001)
        #expect(cb.uv_rrc == 0xBEEF, "INFO leaves uv_rrc as sent")
        #expect(Array(buf[16...]) == [UInt8](repeating: 0xEE, count: 16), "exactly 16 bytes are written")
        #expect(buf.readLE64(0) == 0x3F)
        #expect(buf.readLE64(8) == 0x3E)  // bit 0 (INFO) never set
    }

    @Test func infoBitmapsPerGenerationAndFacilities() throws {
        let old = try Sim(kernel: .linux6_5)
        var info = se_uvio_uvdev_info()
        let (e, _) = withUnsafeMutableBytes(of: &info) { old.call(.info, $0.baseAddress, 16) }
        #expect(e == 0)
        #expect(info.supp_uvio_cmds == 0x1F)
        // RETR's UV bit follows the attestation facility (kernel quirk), not Retrieve Secret.
        let quirky = try Sim { $0.facilities = FacilityList(installed: [28, 29, 30, 31]) }
        let (e2, _) = withUnsafeMutableBytes(of: &info) { quirky.call(.info, $0.baseAddress, 16) }
        #expect(e2 == 0)
        #expect(info.supp_uv_cmds & UVIoctl.retrieveSecret.infoBit != 0)
        let noAttest = try Sim { $0.facilities = FacilityList(installed: [29, 30, 31, 33]) }
        _ = withUnsafeMutableBytes(of: &info) { noAttest.call(.info, $0.baseAddress, 16) }
        #expect(info.supp_uv_cmds == UVIoctl.addSecret.infoBit | UVIoctl.listSecrets.infoBit | UVIoctl.lockSecrets.infoBit)
    }

    // MARK: ADD_SECRET

    @Test func addRules() throws {
        let sim = try Sim()
        sim.state.faults.dumpInProgressAdds = 1
        var buf = [UInt8](repeating: 0, count: 16)
        buf.withUnsafeMutableBytes { b in
            expectErrno(sim, .addSecret, b.baseAddress, 0, EINVAL)
            expectErrno(sim, .addSecret, b.baseAddress, 0x100001, EINVAL)
            expectErrno(sim, .addSecret, b.baseAddress, 0xFFFF_FFFF, EINVAL)
        }
        expectErrno(sim, .addSecret, nil, 16, EFAULT)
        let fault = FaultPage()
        expectErrno(sim, .addSecret, fault.address, 16, EFAULT)
        #expect(sim.state.faults.dumpInProgressAdds == 1, "no ultravisor call happened")
        // Garbage is the ultravisor's business: ioctl 0, rc set.
        sim.state.faults.dumpInProgressAdds = 0
        #expect(sim.add([UInt8](repeating: 0x41, count: 64)) == 0x0104)
        #expect(sim.add(Array("asrcbM".utf8) + [0, 0, 0, 0, 2, 0] + [UInt8](repeating: 0, count: 8)) == 0x0104)
        var header = Array("asrcbM".utf8) + [0, 0, 0, 0, 1, 0, 0, 0, 0x10, 0]
        #expect(sim.add(header) == 0x0105)  // claims more bytes than were handed over
        header = try sim.plaintext("x", "y")
        header[0x400] ^= 1
        #expect(sim.add(header) == 0x0108)
    }

    /// Bytes after `rql` are accepted, as on the real system: the driver
    /// hands the ultravisor only the address of its copy (`struct
    /// uv_cb_guest_addr` has no length; linux drivers/s390/char/uvdevice.c,
    /// uvio_add_secret), so the ultravisor reads `rql` bytes and cannot see
    /// the rest. Refusing them is the client's business: se-secretd's parser
    /// does (rule "trailing-bytes"), and so does `pvsecret add`, whose
    /// duplicate-ID check splits the request first (s390-tools
    /// rust/pv/src/req/request.rs, BinReqValues::get: rql < length → error).
    /// What counts is the request's own part: its tag (not the buffer's last
    /// 16 bytes) goes into the secret-store hash, its value into the store.
    @Test func readsOnlyTheDeclaredLengthOfARequest() throws {
        let sim = try Sim()
        let request = try sim.plaintext("trailing", "value")
        let trailing: [UInt8] = .repeating(0xEE, 16)
        #expect(sim.add(request + trailing) == 0x0001)
        #expect(sim.state.store.count == 1)
        #expect(sim.state.store.first?.listedLength == 16)
        #expect(sim.state.acceptedRequestTags == [Array(request.suffix(16))])
    }

    // MARK: LIST_SECRETS

    @Test(arguments: [KernelGeneration.linux6_5, .linux6_13])
    func listLengthRules(kernel: KernelGeneration) throws {
        let sim = try Sim(kernel: kernel)
        var buf = [UInt8](repeating: 0, count: 0x3000)
        buf.withUnsafeMutableBytes { b in
            for len in [0, 0x0FFF, 0x1001, 0x1800] { expectErrno(sim, .listSecrets, b.baseAddress, len, EINVAL) }
            if kernel == .linux6_5 {
                expectErrno(sim, .listSecrets, b.baseAddress, 0x2000, EINVAL)
            } else {
                #expect(sim.call(.listSecrets, b.baseAddress, 0x2000).errno == 0)
            }
        }
        expectErrno(sim, .listSecrets, nil, 0x1000, EFAULT)
    }

    @Test func listOnOneOrSeveralPagesWritesWhatTheKernelWrites() throws {
        // 6.13: header + entries only, the tail keeps its bytes.
        let new = try Sim(kernel: .linux6_13)
        #expect(new.add(try new.plaintext("a", "1")) == 1)
        var buf = [UInt8](repeating: 0xEE, count: 0x2000)
        let (e, cb) = buf.withUnsafeMutableBytes { new.call(.listSecrets, $0.baseAddress, $0.count) }
        #expect(e == 0 && cb.uv_rc == 0x0001)
        #expect(buf.readBE(UInt16.self, at: 0) == 1)
        #expect(buf[(16 + 48)...].allSatisfy { $0 == 0xEE })
        // 6.5: the whole page is overwritten.
        let old = try Sim(kernel: .linux6_5)
        #expect(old.add(try old.plaintext("a", "1")) == 1)
        var page = [UInt8](repeating: 0xEE, count: 0x1000)
        let (e2, cb2) = page.withUnsafeMutableBytes { old.call(.listSecrets, $0.baseAddress, $0.count) }
        #expect(e2 == 0 && cb2.uv_rc == 0x0001)
        #expect(page[(16 + 48)...].allSatisfy { $0 == 0 })
    }

    // MARK: LOCK_SECRETS

    @Test func lockRules() throws {
        let sim = try Sim()
        var byte: UInt8 = 0
        withUnsafeMutableBytes(of: &byte) { b in
            expectErrno(sim, .lockSecrets, nil, 1, EINVAL)
            expectErrno(sim, .lockSecrets, b.baseAddress, 0, EINVAL)
        }
        #expect(sim.state.isLocked == false)
        let first = sim.call(.lockSecrets, nil, 0)
        #expect(first.errno == 0 && first.cb.uv_rc == 0x0001)
        let second = sim.call(.lockSecrets, nil, 0)
        #expect(second.errno == 0 && second.cb.uv_rc == 0x0102)
        #expect(sim.add(try sim.plaintext("late", "x")) == 0x0102)
    }

    // MARK: RETR_SECRET

    @Test func retrieveLengthAndAddressRules() throws {
        let sim = try Sim()
        var buf = [UInt8](repeating: 0, count: 0x2001)
        buf.withUnsafeMutableBytes { b in
            for len in [0, 1, 0x2001] { expectErrno(sim, .retrieveSecret, b.baseAddress, len, EINVAL) }
        }
        expectErrno(sim, .retrieveSecret, nil, 2, EFAULT)
        let fault = FaultPage()
        expectErrno(sim, .retrieveSecret, fault.address, 2, EFAULT)
    }

    @Test func retrieveUltravisorCodesAndBufferContents() throws {
        let sim = try Sim()
        func retrieve(_ index: UInt16, _ len: Int) -> (UInt16, [UInt8]) {
            var buf = [UInt8](repeating: 0xEE, count: len)
            buf.writeBE(index, at: 0)
            let (e, cb) = buf.withUnsafeMutableBytes { sim.call(.retrieveSecret, $0.baseAddress, len) }
            #expect(e == 0)
            return (cb.uv_rc, buf)
        }
        #expect(retrieve(0, 16).0 == 0x010F)                                       // empty store
        #expect(sim.add(try sim.request(SimulatedRequest(.association(nil), name: "assoc"))) == 1)
        #expect(sim.add(try sim.plaintext("plain", "hello")) == 1)
        let (rcAssoc, bufAssoc) = retrieve(0, 32)
        #expect(rcAssoc == 0x0111)
        #expect(bufAssoc.allSatisfy { $0 == 0 }, "buffer comes back zero-filled, index bytes included")
        #expect(retrieve(7, 16).0 == 0x0110)
        let (rcSmall, bufSmall) = retrieve(1, 8)
        #expect(rcSmall == 0x0109)
        #expect(bufSmall.allSatisfy { $0 == 0 })
        let (rcOK, bufOK) = retrieve(1, 20)
        #expect(rcOK == 0x0001)
        #expect(Array(bufOK[0..<7]) == [0, 5] + Array("hello".utf8))
        #expect(bufOK[7...].allSatisfy { $0 == 0 }, "padding and the rest of the buffer are zero")
    }

    @Test func retrieveCopiesBackEvenWhenTheCopyFaultsLate() throws {
        // Index readable, buffer not writable: EFAULT after the UV call, rc not reported.
        let sim = try Sim()
        #expect(sim.add(try sim.plaintext("p", "v")) == 1)
        let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
        defer { munmap(page, 4096) }
        page.storeBytes(of: UInt16(0).bigEndian, as: UInt16.self)
        #expect(mprotect(page, 4096, PROT_READ) == 0)
        expectErrno(sim, .retrieveSecret, page, 16, EFAULT)
    }

    // MARK: Injected errno faults

    /// A fault at the copy-back: the ultravisor acted, the ioctl says
    /// EFAULT, and the caller's control block keeps what the caller put
    /// there (uv-device.md §4 step 9).
    @Test func copyBackFaultComesAfterTheUltravisorActed() throws {
        let sim = try Sim()
        sim.state.faults.errnoFaults = [.init(ioctl: .addSecret, errno: EFAULT, count: 1, after: 1, stage: .copyBack),
                                        .init(ioctl: .lockSecrets, errno: EFAULT, count: 1, stage: .copyBack)]
        #expect(sim.add(try sim.plaintext("first", "v")) == 0x0001, "one call let through")
        var request = try sim.plaintext("second", "v")
        var cb = se_uvio_ioctl_cb()
        cb.uv_rc = 0xBEEF
        cb.uv_rrc = 0xCAFE
        let e = request.withUnsafeMutableBytes { raw -> Int32 in
            cb.argument_addr = UInt64(UInt(bitPattern: raw.baseAddress))
            cb.argument_len = UInt32(raw.count)
            return sim.ioctl(UVIoctl.addSecret.requestNumber, &cb)
        }
        #expect(e == EFAULT)
        #expect(cb.uv_rc == 0xBEEF && cb.uv_rrc == 0xCAFE, "rc and rrc not reported")
        #expect(sim.state.store.map(\.id) == ["first", "second"].map { Digest.sha256(Array($0.utf8)) }, "but the secret was added")
        #expect(sim.state.acceptedRequestTags.last == Array(request.suffix(16)))
        expectErrno(sim, .lockSecrets, nil, 0, EFAULT)
        #expect(sim.state.isLocked, "and the store was locked")
        #expect(sim.state.faults.errnoFaults.isEmpty)
        #expect(sim.call(.lockSecrets, nil, 0).cb.uv_rc == 0x0102)
    }

    @Test func injectedErrnoHitsTheNextCallsOfOneKind() throws {
        let sim = try Sim()
        sim.state.faults.errnoFaults = [.init(ioctl: .lockSecrets, errno: EIO, count: 2)]
        expectErrno(sim, .lockSecrets, nil, 0, EIO)
        expectErrno(sim, .lockSecrets, nil, 0, EIO)
        #expect(sim.state.isLocked == false)
        #expect(sim.call(.lockSecrets, nil, 0).cb.uv_rc == 0x0001)
    }
}

extension Array where Element == UInt8 {
    /// A native (little-endian here) u64, for reading C structs back.
    func readLE64(_ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(self[at + i]) }
        return v
    }
}
