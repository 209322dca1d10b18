import Glibc
import Testing
import CUVDevice
import SEBase
@testable import UVDevice
import UVSimulator

/// UVClient.attest: the ATT argument it builds, what it returns, and the
/// kernel's limits, checked before any ioctl.
@Suite struct AttestCallTests {
    /// An ultravisor that answers ATT by filling the buffers with marks and
    /// records the argument it was handed.
    final class MarkingUltravisor: UVTransport {
        let name = "marking"
        var calls = 0
        var seen: [UInt8] = []
        var arcbSeen: [UInt8] = []
        var userDataLength: UInt16 = 0
        func ioctl(_ request: UInt, _ controlBlock: UnsafeMutableRawPointer?) -> Int32 {
            calls += 1
            guard request == UVIoctl.attest.requestNumber, let controlBlock else { return ENOTTY }
            var cb = controlBlock.load(as: se_uvio_ioctl_cb.self)
            guard cb.argument_len == UInt32(MemoryLayout<se_uvio_attest>.size),
                  let p = UnsafeMutableRawPointer(bitPattern: UInt(cb.argument_addr)) else { return EINVAL }
            var att = p.load(as: se_uvio_attest.self)
            seen = Array(UnsafeRawBufferPointer(start: p, count: MemoryLayout<se_uvio_attest>.size))
            arcbSeen = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(att.arcb_addr)), count: Int(att.arcb_len)))
            userDataLength = att.user_data_len
            guard let meas = UnsafeMutableRawPointer(bitPattern: UInt(att.meas_addr)) else { return EFAULT }
            memset(meas, 0x12, Int(att.meas_len))
            if att.add_data_len > 0, let add = UnsafeMutableRawPointer(bitPattern: UInt(att.add_data_addr)) {
                memset(add, 0x13, Int(att.add_data_len))
            }
            withUnsafeMutableBytes(of: &att.config_uid) { $0.initializeMemory(as: UInt8.self, repeating: 0x14) }
            p.storeBytes(of: att, as: se_uvio_attest.self)
            cb.uv_rc = UVReturnCode.success
            controlBlock.storeBytes(of: cb, as: se_uvio_ioctl_cb.self)
            return 0
        }
    }

    @Test func theArgumentCarriesTheBuffersAndTheAnswerComesBack() throws {
        let uv = MarkingUltravisor()
        let client = UVClient(transport: uv)
        let arcb = (0..<400).map { UInt8($0 & 0xFF) }
        let user: [UInt8] = Array(repeating: 0x15, count: 40)
        let answer = try client.attest(request: arcb, measurementLength: 64, additionalDataLength: 32, userData: user)
        #expect(answer.measurement == Array(repeating: 0x12, count: 64))
        #expect(answer.additionalData == Array(repeating: 0x13, count: 32))
        #expect(answer.configUID == Array(repeating: 0x14, count: 16))
        #expect(uv.arcbSeen == arcb)
        #expect(uv.userDataLength == 40)
        // user_data at 0x018: the 40 bytes, then zeros; lengths at 0x128…; reserved136 zero.
        #expect(Array(uv.seen[0x18..<0x40]) == user)
        #expect(uv.seen[0x40..<0x118].allSatisfy { $0 == 0 })
        #expect(uv.seen.loadNative(UInt32.self, at: 0x128) == 400)
        #expect(uv.seen.loadNative(UInt32.self, at: 0x12C) == 64)
        #expect(uv.seen.loadNative(UInt32.self, at: 0x130) == 32)
        #expect(uv.seen[0x136] == 0 && uv.seen[0x137] == 0)
    }

    @Test func noAdditionalDataAsksForNone() throws {
        let uv = MarkingUltravisor()
        let answer = try UVClient(transport: uv).attest(request: [1, 2, 3], measurementLength: 64, additionalDataLength: 0)
        #expect(answer.additionalData.isEmpty)
        #expect(uv.seen.loadNative(UInt32.self, at: 0x130) == 0)
    }

    @Test func theKernelsLimitsAreCheckedBeforeAnyIoctl() {
        let uv = MarkingUltravisor()
        let client = UVClient(transport: uv)
        func refused(_ body: () throws -> Void) -> Bool {
            do { try body(); return false } catch {
                if case .invalidArgument? = error as? UVError { return true }
                return false
            }
        }
        #expect(refused { _ = try client.attest(request: [], measurementLength: 64, additionalDataLength: 0) })
        #expect(refused { _ = try client.attest(request: [UInt8](repeating: 0, count: 0x100001), measurementLength: 64, additionalDataLength: 0) })
        #expect(refused { _ = try client.attest(request: [1], measurementLength: 0, additionalDataLength: 0) })
        #expect(refused { _ = try client.attest(request: [1], measurementLength: 0x8001, additionalDataLength: 0) })
        #expect(refused { _ = try client.attest(request: [1], measurementLength: 64, additionalDataLength: 0x8001) })
        #expect(refused { _ = try client.attest(request: [1], measurementLength: 64, additionalDataLength: 0, userData: [UInt8](repeating: 0, count: 257)) })
        #expect(uv.calls == 0)
        #expect(!refused { _ = try client.attest(request: [1], measurementLength: 0x8000, additionalDataLength: 0x8000, userData: [UInt8](repeating: 0, count: 256)) })
        #expect(uv.calls == 1)
    }

    @Test func theSimulatedUltravisorRefusesARequestOfAnotherVersion() throws {
        let state = try SimulatorState(options: SimulatorOptions())
        let client = UVClient(transport: SimulatedUVTransport(state: state))
        #expect(throws: UVError.ultravisor(UVCallFailure(ioctl: .attest, rc: 0x0106, rrc: 0))) {
            _ = try client.attest(request: [UInt8](repeating: 0, count: 64), measurementLength: 64, additionalDataLength: 0)
        }
    }
}

extension Array where Element == UInt8 {
    func loadNative<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
