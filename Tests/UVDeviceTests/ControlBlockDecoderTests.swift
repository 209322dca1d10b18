import Testing
import ASRCodec
import SEBase
import SECrypto
import UVDevice
import UVSimulator

/// What the client hands the driver, decoded here from the raw bytes with the
/// offsets of uv-device.md §2–§6 written out in this file — not with
/// CUVDevice's structs or UVIoctl's numbers — so that a wrong field, length or
/// request number in the client's encoding fails here even though the
/// simulator (which shares the C header) would agree with it.
@Suite struct ControlBlockDecoder {
    /// One ioctl as it reached the transport.
    struct Recorded {
        let request: UInt
        let cbAddress: UInt
        /// The 64 bytes of `struct uvio_ioctl_cb` before the call.
        let cb: [UInt8]
        /// `argument_len` bytes at `argument_addr` before and after the call.
        let argumentBefore: [UInt8]?
        let argumentAfter: [UInt8]?

        // uv-device.md §3: flags u32 @0x00, uv_rc u16 @0x04, uv_rrc u16 @0x06,
        // argument_addr u64 @0x08, argument_len u32 @0x10, reserved 44 bytes @0x14;
        // native byte order.
        func native<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            cb.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        }
        var flags: UInt32 { native(UInt32.self, at: 0x00) }
        var uvRC: UInt16 { native(UInt16.self, at: 0x04) }
        var uvRRC: UInt16 { native(UInt16.self, at: 0x06) }
        var argumentAddress: UInt64 { native(UInt64.self, at: 0x08) }
        var argumentLength: UInt32 { native(UInt32.self, at: 0x10) }
        var reserved: ArraySlice<UInt8> { cb[0x14..<0x40] }
    }

    /// A transport that copies what it is handed, then lets the simulator answer.
    final class Recorder: UVTransport {
        let name = "recorder"
        let inner: UVTransport
        var calls: [Recorded] = []
        init(_ inner: UVTransport) { self.inner = inner }

        func ioctl(_ request: UInt, _ controlBlock: UnsafeMutableRawPointer?) -> Int32 {
            guard let controlBlock else { return inner.ioctl(request, nil) }
            let cb = Array(UnsafeRawBufferPointer(start: controlBlock, count: 64))
            let address = cb.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0x08, as: UInt64.self) }
            let length = Int(cb.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0x10, as: UInt32.self) })
            let argument = UnsafeRawPointer(bitPattern: UInt(address))
            let before = argument.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) }
            let rc = inner.ioctl(request, controlBlock)
            let after = argument.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) }
            calls.append(Recorded(request: request, cbAddress: UInt(bitPattern: controlBlock), cb: cb,
                                  argumentBefore: before, argumentAfter: after))
            return rc
        }
    }

    /// `_IOWR('u', nr, 64 bytes)` from the generic Linux encoding (§2):
    /// direction 3 in bits 30–31, size in bits 16–29, type in 8–15, nr in 0–7.
    static func iowr(_ nr: UInt) -> UInt { (3 << 30) | (64 << 16) | (UInt(UInt8(ascii: "u")) << 8) | nr }

    /// Checks the parts every control block shares: the request number, a
    /// zero flags word and reserved area, uv_rc preset to 0x0000 (never a
    /// valid rc), uv_rrc 0, an 8-byte aligned block.
    func expectCommon(_ c: Recorded, nr: UInt, literal: UInt, _ what: String) {
        #expect(c.request == Self.iowr(nr), "\(what): request number")
        #expect(c.request == literal, "\(what): request number as the reference lists it")
        #expect(c.flags == 0, "\(what): flags")
        #expect(c.reserved.allSatisfy { $0 == 0 }, "\(what): reserved14")
        #expect(c.uvRC == 0 && c.uvRRC == 0, "\(what): uv_rc/uv_rrc preset")
        #expect(c.cbAddress % 8 == 0, "\(what): alignment")
    }

    @Test func infoAddListLockRetrieveAsTheDriverSeesThem() throws {
        var o = SimulatorOptions()
        o.kernel = .linux6_13
        let state = try SimulatorState(options: o)
        let recorder = Recorder(SimulatedUVTransport(state: state))
        let client = UVClient(transport: recorder)
        client.listPages = 2

        _ = try client.info()
        let payload = Array("what the driver sees".utf8)
        let request = try state.requestTarget.makeRequest(SimulatedRequest(.plaintext(SecureBytes(copying: payload)),
                                                                           name: "cb"))
        // Two secrets before it, so that its index (2) differs from its byte swap.
        for name in ["cb-0", "cb-1"] {
            try client.addSecret(try state.requestTarget.makeRequest(SimulatedRequest(.plaintext(SecureBytes(count: 4)), name: name)))
        }
        try client.addSecret(request)
        let list = try client.listAllSecrets()
        let entry = try #require(list.entries.last)
        #expect(entry.index == 2)
        let secret = try client.retrieve(entry)
        try client.lock()

        let calls = recorder.calls
        try #require(calls.count == 7)
        let (info, add, listCall, retr, lock) = (calls[0], calls[3], calls[4], calls[5], calls[6])

        // INFO (§6.1): a 16-byte output buffer.
        expectCommon(info, nr: 0, literal: 0xC040_7500, "INFO")
        #expect(info.argumentLength == 16 && info.argumentAddress != 0)

        // ADD_SECRET (§6.3): the request itself, every byte, its own length.
        expectCommon(add, nr: 2, literal: 0xC040_7502, "ADD_SECRET")
        #expect(Int(add.argumentLength) == request.count)
        let addBytesMatch = add.argumentBefore == request
        #expect(addBytesMatch, "the argument holds the request, byte for byte")

        // LIST_SECRETS (§6.4): listPages × 4096 zeroed bytes.
        expectCommon(listCall, nr: 3, literal: 0xC040_7503, "LIST_SECRETS")
        #expect(listCall.argumentLength == 2 * 4096)
        #expect(listCall.argumentBefore?.allSatisfy { $0 == 0 } == true)
        // The page the simulator wrote, read with §7's offsets: three entries, BE;
        // the third (at 0x10 + 2 × 48) is ours.
        let page = try #require(listCall.argumentAfter)
        #expect(page.readBE(UInt16.self, at: 0) == 3 && page.readBE(UInt16.self, at: 2) == 3)
        let third = 0x10 + 2 * 48
        #expect(page.readBE(UInt16.self, at: third) == 2 && page.readBE(UInt16.self, at: third + 2) == 0x0003)
        #expect(page.readBE(UInt32.self, at: third + 4) == entry.length)
        #expect(Array(page[(third + 16)..<(third + 48)]) == Digest.sha256(Array("cb".utf8)), "the ID: SHA-256 of the name")

        // RETR_SECRET (§6.6): the listed length, the index big-endian in the
        // first two bytes, the rest zero; afterwards the secret.
        expectCommon(retr, nr: 5, literal: 0xC040_7505, "RETR_SECRET")
        #expect(Int(retr.argumentLength) == Int(entry.length))
        let before = try #require(retr.argumentBefore)
        #expect(before.readBE(UInt16.self, at: 0) == entry.index)
        #expect(before[2...].allSatisfy { $0 == 0 })
        var stored = [UInt8](repeating: 0, count: Int(entry.length))  // §7 plaintext: u16 length ‖ payload ‖ zeros
        stored.writeBE(UInt16(payload.count), at: 0)
        stored.replaceSubrange(2..<(2 + payload.count), with: payload)
        let retrievedMatches = retr.argumentAfter == stored && secret.equals(stored)
        #expect(retrievedMatches, "the buffer holds the stored plaintext after the call")

        // LOCK_SECRETS (§6.5): no argument at all.
        expectCommon(lock, nr: 4, literal: 0xC040_7504, "LOCK_SECRETS")
        #expect(lock.argumentAddress == 0 && lock.argumentLength == 0)
    }
}
