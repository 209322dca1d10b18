import Foundation
import Glibc
import Testing
import ASRCodec
import CUVDevice
import SEBase
import SECrypto
import UVDevice
@testable import UVSimulator

/// A simulator in memory plus helpers to issue raw ioctls the way the
/// kernel selftest does.
final class Sim {
    let state: SimulatorState
    let transport: SimulatedUVTransport

    init(kernel: KernelGeneration = .linux6_13, configure: (inout SimulatorOptions) -> Void = { _ in }) throws {
        var o = SimulatorOptions()
        o.kernel = kernel
        configure(&o)
        state = try SimulatorState(options: o)
        transport = SimulatedUVTransport(state: state)
    }

    var target: RequestTarget { state.requestTarget }

    func ioctl(_ request: UInt, _ cb: UnsafeMutableRawPointer?) -> Int32 { transport.ioctl(request, cb) }

    func ioctl(_ request: UInt, _ cb: inout se_uvio_ioctl_cb) -> Int32 {
        withUnsafeMutablePointer(to: &cb) { transport.ioctl(request, UnsafeMutableRawPointer($0)) }
    }

    /// ioctl with a control block whose argument is `argument`.
    func call(_ ioctl: UVIoctl, _ argument: UnsafeMutableRawPointer?, _ length: Int,
              rrc: UInt16 = 0) -> (errno: Int32, cb: se_uvio_ioctl_cb) {
        var cb = se_uvio_ioctl_cb()
        cb.argument_addr = UInt64(UInt(bitPattern: argument))
        cb.argument_len = UInt32(truncatingIfNeeded: length)
        cb.uv_rrc = rrc
        let e = self.ioctl(ioctl.requestNumber, &cb)
        return (e, cb)
    }

    /// Adds request bytes through a raw ADD_SECRET ioctl; returns the rc.
    func add(_ request: [UInt8]) -> UInt16 {
        var copy = request
        let (e, cb) = copy.withUnsafeMutableBytes { call(.addSecret, $0.baseAddress, $0.count) }
        #expect(e == 0)
        return cb.uv_rc
    }

    func request(_ r: SimulatedRequest) throws -> [UInt8] { try target.makeRequest(r) }

    func plaintext(_ name: String, _ payload: String) throws -> [UInt8] {
        try request(SimulatedRequest(.plaintext(SecureBytes(copying: Array(payload.utf8))), name: name))
    }
}

/// An inaccessible page (PROT_NONE), unmapped on release.
final class FaultPage {
    let address: UnsafeMutableRawPointer
    init() {
        let p = mmap(nil, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(p != MAP_FAILED)
        address = p!
    }
    deinit { munmap(address, 4096) }
    var u64: UInt64 { UInt64(UInt(bitPattern: address)) }
}

/// The "fault page" the kernel selftest really gets: its mmap call passes
/// neither MAP_PRIVATE nor MAP_SHARED and fails, so the address is MAP_FAILED.
let selftestFaultAddress = UInt64.max

/// The bytes of a value (to prove that something was not touched).
func bytes<T>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
