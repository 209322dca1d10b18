#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUVDevice
import SEBase
import SECrypto
import ASRCodec
import UVDevice
import UVSimulator
import SEVocabulary

/// User memory for the simulated driver: a 64 KiB arena between two
/// PROT_NONE guard pages, and a control-block page of its own.
///
/// Addresses in fuzzed control blocks are never used as they are. The
/// simulator reaches user memory only through process_vm_readv/writev on
/// its own process, which turns an unmapped address into EFAULT; but a
/// random address can also be mapped and writable — the heap, a stack, or
/// (under AddressSanitizer) the shadow memory that covers about a tenth of
/// the address space — and a process_vm_writev there would corrupt the
/// fuzzer itself. So the top byte of a fuzzed address picks a class, and
/// the rest an offset in it:
///
///   0x01         NULL
///   0x02         inside the guard page after the arena (EFAULT)
///   0x03         near the end of the arena, so that longer ranges run
///                into the guard page (partial copies, EFAULT)
///   0x04         below 64 KiB (under vm.mmap_min_addr, never mapped)
///   0x80...0xFF  kept: non-canonical or kernel-half addresses (EFAULT)
///   other        the arena, at the address modulo its size (0x00: the
///                argument bytes of the record start at offset 0)
///
/// That covers every outcome a wild pointer can have (NULL, unmapped,
/// partially mapped, overflowing, mapped) without ever writing outside
/// memory the harness owns.
final class UserArena: @unchecked Sendable {
    static let size = 64 * 1024
    static let pageSize = 4096
    let base: UnsafeMutableRawPointer
    let guardAfter: UnsafeMutableRawPointer
    let controlBlock: UnsafeMutableRawPointer

    init() {
        let page = Self.pageSize
        // [guard][arena][guard][control block][guard]
        let total = page + Self.size + page + page + page
        let m = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(m != MAP_FAILED, "mmap")
        base = m! + page
        guardAfter = base + Self.size
        controlBlock = guardAfter + page
        precondition(mprotect(base, Self.size, PROT_READ | PROT_WRITE) == 0, "mprotect")
        precondition(mprotect(controlBlock, page, PROT_READ | PROT_WRITE) == 0, "mprotect")
    }

    var baseAddress: UInt64 { UInt64(UInt(bitPattern: base)) }

    func map(_ raw: UInt64) -> UInt64 {
        let low = raw & 0x00FF_FFFF_FFFF_FFFF
        switch raw >> 56 {
        case 0x01: return 0
        case 0x02: return UInt64(UInt(bitPattern: guardAfter)) + (low & 0xFFF)
        case 0x03: return baseAddress + UInt64(Self.size) - 1 - (low & 0xFFF)
        case 0x04: return low & 0xFFFF
        case 0x80...0xFF: return raw
        default: return baseAddress + low % UInt64(Self.size)
        }
    }

    /// Offset of an address inside the arena, if it is there.
    func offset(of address: UInt64) -> Int? {
        address >= baseAddress && address < baseAddress + UInt64(Self.size) ? Int(address - baseAddress) : nil
    }

    /// Zeroes the arena and puts `bytes` at its start.
    func load(_ bytes: ArraySlice<UInt8>) {
        memset(base, 0, Self.size)
        let n = min(bytes.count, Self.size)
        bytes.prefix(n).withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
}

enum SimulatorFuzzing {
    static let arena = UserArena()
    static let cbSize = MemoryLayout<se_uvio_ioctl_cb>.size

    /// The ioctl a selector byte names: the six UV ioctls, numbers beyond
    /// them, and a malformed request number.
    static func request(_ selector: UInt8) -> UInt {
        switch selector {
        case 0xF0...0xFE: return se_uvio_request(UInt32(selector - 0xF0))
        case 0xFF: return UVIoctl.addSecret.requestNumber ^ (1 << 16)  // wrong size
        default: return UVIoctl(rawValue: selector % 6)!.requestNumber
        }
    }

    static func state(_ flags: UInt8) -> SimulatorState {
        var config = SimulatorConfig(imageTags: FuzzFixtures.tags, configUID: FuzzFixtures.configUID)
        config.kernel = KernelGeneration.allCases[Int(flags & 3) % KernelGeneration.allCases.count]
        var cck: SecureBytes? = nil
        if flags & 4 != 0 {
            cck = SecureBytes(copying: [UInt8].repeating(0xCC, 32))
            config.cckUpdateAllowed = true
            config.supportedSecretTypes |= UVQuery.secretTypeBitmap([SecretType.updateCCK.rawValue])
        } else if flags & 8 != 0 {
            cck = SecureBytes(copying: [UInt8].repeating(0xCC, 32))
            config.cckExtensionSecretEnforced = true
        }
        config.maxAssociationSecrets = 2
        config.maxRetrievableSecrets = 6
        return try! SimulatorState(config: config, hostKey: FuzzKeys.host, cck: cck)
    }

    /// One input: a header byte (kernel generation, CCK settings), then
    /// records split by FileSplitter: selector byte = ioctl, then the
    /// 64-byte control block, then the argument bytes.
    static func run(_ bytes: [UInt8]) {
        let (header, records) = FileSplitter.split(bytes)
        let state = state(header.first ?? 2)
        let transport = SimulatedUVTransport(state: state)
        for (selector, record) in records.prefix(16) {
            var cb = se_uvio_ioctl_cb()
            withUnsafeMutableBytes(of: &cb) { dst in
                record.prefix(cbSize).withUnsafeBytes { dst.copyMemory(from: $0) }
            }
            arena.load(record.dropFirst(cbSize))
            cb.argument_addr = arena.map(cb.argument_addr)
            let request = request(selector)
            if request == UVIoctl.attest.requestNumber, let off = arena.offset(of: cb.argument_addr),
               off + MemoryLayout<se_uvio_attest>.size <= UserArena.size {
                // The attestation argument holds three more user addresses.
                let att = (arena.base + off).bindMemory(to: se_uvio_attest.self, capacity: 1)
                att.pointee.arcb_addr = arena.map(att.pointee.arcb_addr)
                att.pointee.meas_addr = arena.map(att.pointee.meas_addr)
                att.pointee.add_data_addr = arena.map(att.pointee.add_data_addr)
            }
            arena.controlBlock.storeBytes(of: cb, as: se_uvio_ioctl_cb.self)
            let before = Array(UnsafeRawBufferPointer(start: arena.controlBlock, count: cbSize))
            let storedBefore = state.store.count, lockedBefore = state.isLocked

            let pointer: UnsafeMutableRawPointer? = switch cb.reserved14.0 {
            case 0xEE where selector & 0x80 != 0: nil
            case 0xEF where selector & 0x80 != 0: arena.guardAfter
            default: arena.controlBlock
            }
            let rc = transport.ioctl(request, pointer)

            trace("ioctl \(selector) len \(cb.argument_len): errno \(rc), rc 0x\(String(arena.controlBlock.load(as: se_uvio_ioctl_cb.self).uv_rc, radix: 16)), stored \(state.store.count), locked \(state.isLocked)")
            let after = Array(UnsafeRawBufferPointer(start: arena.controlBlock, count: cbSize))
            invariant([0, EINVAL, EFAULT, ENOTTY].contains(rc), "ioctl returned errno \(rc)")
            if rc != 0 { invariant(before == after, "control block changed by a failed ioctl (errno \(rc))") }
            invariant(state.store.count <= state.config.maxSecrets, "store over its capacity")
            if lockedBefore { invariant(state.store.count == storedBefore && state.isLocked, "locked store changed") }
        }
    }

    // MARK: seeds

    static func record(_ ioctl: UVIoctl, address: UInt64 = 0, length: Int, argument: [UInt8] = []) -> (UInt8, [UInt8]) {
        var cb = se_uvio_ioctl_cb()
        cb.argument_addr = address
        cb.argument_len = UInt32(length)
        return (ioctl.rawValue, withUnsafeBytes(of: cb) { Array($0) } + argument)
    }

    static func seeds() throws -> [[UInt8]] {
        let files = try FuzzFixtures.requestFiles().filter { $0.name.hasSuffix(".asr") }
        let luks = files.first { $0.name == "luks-root.asr" }!.bytes
        let storedLength = try FuzzFixtures.plain("passphrase").count
        var att = se_uvio_attest()
        att.arcb_addr = 0x400
        att.arcb_len = 64
        att.meas_addr = 0x800
        att.meas_len = 64
        let attest = withUnsafeBytes(of: att) { Array($0) } + [UInt8](repeating: 0, count: 0x400 - MemoryLayout<se_uvio_attest>.size)
            + [UInt8](repeating: 0xA7, count: 64)
        let lockAddress: UInt64 = 0x0100_0000_0000_0000  // NULL (see UserArena.map)

        var seeds: [[UInt8]] = []
        // Every request added, then list, retrieve, lock and an add after the lock.
        var all = files.map { record(.addSecret, length: $0.bytes.count, argument: $0.bytes) }
        all += [record(.listSecrets, length: SecretListLayout.pageSize),
                record(.retrieveSecret, length: storedLength, argument: [0, 0]),
                record(.lockSecrets, address: lockAddress, length: 0),
                record(.addSecret, length: luks.count, argument: luks)]
        for kernel: UInt8 in [0, 1, 2] { seeds.append(FileSplitter.join(header: [kernel], files: all)) }
        seeds.append(FileSplitter.join(header: [2 | 4], files: all))
        seeds.append(FileSplitter.join(header: [2 | 8], files: all))
        seeds.append(FileSplitter.join(header: [2], files: [
            record(.info, length: 16), record(.attest, length: MemoryLayout<se_uvio_attest>.size, argument: attest),
            record(.listSecrets, length: 2 * SecretListLayout.pageSize),
            record(.addSecret, address: 0x0300_0000_0000_0100, length: luks.count, argument: luks),
            record(.retrieveSecret, address: 0x0200_0000_0000_0000, length: 64),
        ]))
        return seeds
    }
}

extension FuzzTarget {
    static let simulator = FuzzTarget(
        name: "simulator", summary: "SimulatedUVTransport.ioctl: fuzzed control blocks and arguments, addresses confined (UserArena)",
        maxLength: 32768, prepare: { _ = SimulatorFuzzing.arena; _ = FuzzKeys.host },
        run: SimulatorFuzzing.run, seeds: SimulatorFuzzing.seeds)
}
