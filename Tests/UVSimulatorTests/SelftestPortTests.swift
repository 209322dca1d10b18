import Glibc
import Testing
import CUVDevice
import SEBase
import UVDevice
@testable import UVSimulator

/// Every case of the kernel selftest tools/testing/selftests/drivers/s390x/
/// uvdevice/test_uvdevice.c, run against the simulator for each kernel
/// generation (all of them know ATT). Each asserts the exact errno and that
/// the control block in user memory was not written.
@Suite struct SelftestPortTests {
    /// uvio_fixture, variant att: ATT with argument_len 0x138 pointing to
    /// a zero-filled 0x200-byte buffer.
    final class UvioFixture {
        let sim: Sim
        var cb = se_uvio_ioctl_cb()
        var buffer = [UInt8](repeating: 0, count: 0x200)
        let faultPage = FaultPage()
        let cmd = UVIoctl.attest.requestNumber

        init(_ kernel: KernelGeneration) throws {
            sim = try Sim(kernel: kernel)
            cb.argument_len = UInt32(MemoryLayout<se_uvio_attest>.size)
        }

        /// Runs the ioctl with the fixture's cb (argument = buffer unless set).
        func run(_ request: UInt? = nil, keepAddress: Bool = false) -> Int32 {
            buffer.withUnsafeMutableBytes { buf in
                if !keepAddress { cb.argument_addr = UInt64(UInt(bitPattern: buf.baseAddress)) }
                cb.uv_rc = 0xBEEF
                cb.uv_rrc = 0xCAFE
                let before = bytes(of: cb)
                let e = sim.ioctl(request ?? cmd, &cb)
                #expect(bytes(of: cb) == before, "control block must not be copied back on error")
                return e
            }
        }
    }

    // Cases 1–2: fault_ioctl_arg
    @Test(arguments: KernelGeneration.allCases)
    func faultIoctlArg(kernel: KernelGeneration) throws {
        let f = try UvioFixture(kernel)
        #expect(f.sim.ioctl(f.cmd, nil) == EFAULT)                                      // 1: NULL
        #expect(f.sim.ioctl(f.cmd, f.faultPage.address) == EFAULT)                      // 2: PROT_NONE page
        #expect(f.sim.ioctl(f.cmd, UnsafeMutableRawPointer(bitPattern: UInt(selftestFaultAddress))) == EFAULT)
    }

    // Cases 3–4: fault_uvio_arg
    @Test(arguments: KernelGeneration.allCases)
    func faultUvioArg(kernel: KernelGeneration) throws {
        let f = try UvioFixture(kernel)
        f.cb.argument_addr = 0
        #expect(f.run(keepAddress: true) == EFAULT)                                     // 3
        f.cb.argument_addr = f.faultPage.u64
        #expect(f.run(keepAddress: true) == EFAULT)                                     // 4
        f.cb.argument_addr = selftestFaultAddress
        #expect(f.run(keepAddress: true) == EFAULT)
    }

    // Cases 5–9: inval_ioctl_cb
    @Test(arguments: KernelGeneration.allCases)
    func invalIoctlCb(kernel: KernelGeneration) throws {
        let f = try UvioFixture(kernel)
        f.cb.argument_len = 0
        #expect(f.run() == EINVAL)                                                      // 5
        f.cb.argument_len = 0xFFFF_FFFF
        #expect(f.run() == EINVAL)                                                      // 6
        f.cb.argument_len = UInt32(MemoryLayout<se_uvio_attest>.size)

        f.cb.flags = 0xFFFF_FFFF
        #expect(f.run() == EINVAL)                                                      // 7
        f.cb.flags = 0

        withUnsafeMutableBytes(of: &f.cb.reserved14) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
        #expect(f.run() == EINVAL)                                                      // 8

        withUnsafeMutableBytes(of: &f.cb) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0x11) }
        let before = bytes(of: f.cb)
        #expect(f.sim.ioctl(f.cmd, &f.cb) == EINVAL)                                    // 9 (selftest: -1 only)
        #expect(bytes(of: f.cb) == before)
    }

    // Cases 10–14: inval_ioctl_cmd
    @Test(arguments: KernelGeneration.allCases)
    func invalIoctlCmd(kernel: KernelGeneration) throws {
        let f = try UvioFixture(kernel)
        let nr = UInt32(UVIoctl.attest.nr)
        let cbSize = UInt32(MemoryLayout<se_uvio_ioctl_cb>.size)
        let u = UInt32(UInt8(ascii: "u"))
        let cmds: [UInt] = [
            se_ioc_encode(SE_IOC_DIR_READ_WRITE.rawValue, UInt32(UInt8(ascii: "a")), nr, cbSize),   // 10
            se_ioc_encode(SE_IOC_DIR_READ_WRITE.rawValue, u, nr, UInt32(MemoryLayout<Int32>.size)), // 11
            se_ioc_encode(SE_IOC_DIR_NONE.rawValue, u, nr, 0),                                       // 12
            se_ioc_encode(SE_IOC_DIR_READ.rawValue, u, nr, cbSize),                                  // 13
            se_ioc_encode(SE_IOC_DIR_WRITE.rawValue, u, nr, cbSize),                                 // 14
        ]
        for c in cmds {
            #expect(f.run(c) == ENOTTY, "request \(String(c, radix: 16))")
        }
    }

    /// attest_fixture: a valid uvio_attest with a zero 0x180-byte ARCB,
    /// a 64-byte measurement and 32 bytes of additional data.
    final class AttestFixture {
        let sim: Sim
        let faultPage = FaultPage()
        let cb: UnsafeMutablePointer<se_uvio_ioctl_cb>
        let attest: UnsafeMutablePointer<se_uvio_attest>
        let arcb = UnsafeMutableRawBufferPointer.allocate(byteCount: 0x180, alignment: 8)
        let meas = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        let add = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)

        init(_ kernel: KernelGeneration) throws {
            sim = try Sim(kernel: kernel)
            cb = .allocate(capacity: 1)
            cb.initialize(to: se_uvio_ioctl_cb())
            attest = .allocate(capacity: 1)
            attest.initialize(to: se_uvio_attest())
            for b in [arcb, meas, add] { b.initializeMemory(as: UInt8.self, repeating: 0) }
            cb.pointee.argument_addr = UInt64(UInt(bitPattern: attest))
            cb.pointee.argument_len = UInt32(MemoryLayout<se_uvio_attest>.size)
            attest.pointee.arcb_addr = UInt64(UInt(bitPattern: arcb.baseAddress))
            attest.pointee.arcb_len = UInt32(arcb.count)
            attest.pointee.meas_addr = UInt64(UInt(bitPattern: meas.baseAddress))
            attest.pointee.meas_len = UInt32(meas.count)
            attest.pointee.add_data_addr = UInt64(UInt(bitPattern: add.baseAddress))
            attest.pointee.add_data_len = UInt32(add.count)
        }

        deinit {
            cb.deallocate(); attest.deallocate(); arcb.deallocate(); meas.deallocate(); add.deallocate()
        }

        func run() -> Int32 {
            cb.pointee.uv_rc = 0xBEEF
            let before = bytes(of: cb.pointee)
            let e = sim.ioctl(UVIoctl.attest.requestNumber, UnsafeMutableRawPointer(cb))
            if e != 0 { #expect(bytes(of: cb.pointee) == before, "control block must not be copied back on error") }
            return e
        }
    }

    // Cases 15–21: att_inval_request
    @Test(arguments: KernelGeneration.allCases)
    func attInvalRequest(kernel: KernelGeneration) throws {
        let f = try AttestFixture(kernel)
        func sizes(_ kp: WritableKeyPath<se_uvio_attest, UInt32>, max: Int32, testZero: Bool) {
            let keep = f.attest.pointee[keyPath: kp]
            if testZero {
                f.attest.pointee[keyPath: kp] = 0
                #expect(f.run() == EINVAL)
            }
            f.attest.pointee[keyPath: kp] = UInt32(max) + 1
            #expect(f.run() == EINVAL)
            f.attest.pointee[keyPath: kp] = keep
        }
        sizes(\.add_data_len, max: SE_UVIO_ATT_ADDITIONAL_MAX_LEN, testZero: false)     // 15
        sizes(\.meas_len, max: SE_UVIO_ATT_MEASUREMENT_MAX_LEN, testZero: true)         // 16, 17
        sizes(\.arcb_len, max: SE_UVIO_ATT_ARCB_MAX_LEN, testZero: true)                // 18, 19

        f.attest.pointee.reserved136 = 0xFFFF
        #expect(f.run() == EINVAL)                                                      // 20
        f.attest.pointee.reserved136 = 0

        UnsafeMutableRawPointer(f.attest).initializeMemory(as: UInt8.self, repeating: 0x11,
                                                           count: MemoryLayout<se_uvio_attest>.size)
        #expect(f.run() == EINVAL)                                                      // 21 (arcb_len too large)
    }

    // Cases 22–27: att_inval_addr
    @Test(arguments: KernelGeneration.allCases)
    func attInvalAddr(kernel: KernelGeneration) throws {
        let f = try AttestFixture(kernel)
        func addr(_ kp: WritableKeyPath<se_uvio_attest, UInt64>, afterUVCall: Bool) {
            let keep = f.attest.pointee[keyPath: kp]
            for bad in [UInt64(0), f.faultPage.u64, selftestFaultAddress] {
                f.meas.initializeMemory(as: UInt8.self, repeating: 0xAA)
                f.attest.pointee[keyPath: kp] = bad
                #expect(f.run() == EFAULT)
                // After the ultravisor call the driver copies the measurement
                // out first, whatever the UV said: it shows up as zeros.
                if afterUVCall && kp != \se_uvio_attest.meas_addr {
                    #expect(f.meas.allSatisfy { $0 == 0 })
                } else {
                    #expect(f.meas.allSatisfy { $0 == 0xAA })
                }
            }
            f.attest.pointee[keyPath: kp] = keep
        }
        addr(\.arcb_addr, afterUVCall: false)       // 22, 23: before the UV call
        addr(\.add_data_addr, afterUVCall: true)    // 24, 25
        addr(\.meas_addr, afterUVCall: true)        // 26, 27
    }

    /// With valid addresses the ioctl succeeds and the UV refuses the zero
    /// ARCB with an rc (not an errno); results are copied out anyway.
    @Test(arguments: KernelGeneration.allCases)
    func attestationFailsAtTheUltravisorLevel(kernel: KernelGeneration) throws {
        let f = try AttestFixture(kernel)
        f.meas.initializeMemory(as: UInt8.self, repeating: 0xAA)
        f.attest.pointee.add_data_len = 32
        #expect(f.run() == 0)
        #expect(f.cb.pointee.uv_rc == 0x0106)
        #expect(f.meas.allSatisfy { $0 == 0 })
        #expect(f.attest.pointee.add_data_len == 32)
    }
}
