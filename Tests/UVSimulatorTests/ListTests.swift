import Glibc
import Testing
import ASRCodec
import CUVDevice
import SEBase
import SECrypto
import UVDevice
@testable import UVSimulator

/// LIST semantics at the ioctl level: 85 entries a page, header counts,
/// more-data and next index, the 6.13 multi-page loop.
@Suite struct ListTests {
    /// A simulator with `n` plaintext secrets named s0, s1, ….
    static func filled(_ n: Int, kernel: KernelGeneration) throws -> Sim {
        let sim = try Sim(kernel: kernel) { $0.maxRetrievableSecrets = 300 }
        for i in 0..<n { #expect(sim.add(try sim.plaintext("s\(i)", "value \(i)")) == 0x0001) }
        return sim
    }

    func list(_ sim: Sim, pages: Int) -> (Int32, UInt16, [UInt8]) {
        var buf = [UInt8](repeating: 0xEE, count: pages * 4096)
        let (e, cb) = buf.withUnsafeMutableBytes { sim.call(.listSecrets, $0.baseAddress, $0.count) }
        return (e, cb.uv_rc, buf)
    }

    @Test func pagesOnAMultiPageKernel() throws {
        let sim = try Self.filled(200, kernel: .linux6_13)
        // One page: 85 entries, more data, continuation at index 85.
        var (e, rc, buf) = list(sim, pages: 1)
        #expect(e == 0 && rc == 0x0100)
        var l = try SecretList.decode(buf)
        #expect(l.entries.count == 85 && l.totalCount == 200 && l.nextIndex == 85)
        // Two pages: 170 entries, still more.
        (e, rc, buf) = list(sim, pages: 2)
        #expect(e == 0 && rc == 0x0100)
        l = try SecretList.decode(buf)
        #expect(l.entries.count == 170 && l.nextIndex == 170)
        #expect(l.entries.map(\.index) == Array(0..<170))
        // Three pages: everything, contiguous after one header.
        (e, rc, buf) = list(sim, pages: 3)
        #expect(e == 0 && rc == 0x0001)
        l = try SecretList.decode(buf)
        #expect(l.entries.count == 200 && l.totalCount == 200 && l.nextIndex == 0)
        let expectedIDs = (0..<200).map { Digest.sha256(Array("s\($0)".utf8)) }
        #expect(l.entries.map(\.id) == expectedIDs ? true : false, "IDs in add order")
        #expect(buf[(16 + 200 * 48)...].allSatisfy { $0 == 0xEE }, "tail of the user buffer untouched")
    }

    @Test func onePageKernelReportsMoreData() throws {
        let sim = try Self.filled(90, kernel: .linux6_5)
        let (e, rc, buf) = list(sim, pages: 1)
        #expect(e == 0 && rc == 0x0100)
        let l = try SecretList.decode(buf)
        #expect(l.entries.count == 85 && l.totalCount == 90 && l.nextIndex == 85)
    }

    @Test func exactlyOnePageOfSecretsIsComplete() throws {
        let sim = try Self.filled(85, kernel: .linux6_13)
        let (e, rc, buf) = list(sim, pages: 1)
        #expect(e == 0 && rc == 0x0001)
        #expect(try SecretList.decode(buf).entries.count == 85)
    }

    @Test func emptyStoreAndMissingFacility() throws {
        let sim = try Sim()
        let (e, rc, buf) = list(sim, pages: 2)
        #expect(e == 0 && rc == 0x0001)
        #expect(Array(buf[0..<16]) == [UInt8](repeating: 0, count: 16))
        #expect(buf[16...].allSatisfy { $0 == 0xEE })
        let none = try Sim { $0.facilities = FacilityList(installed: [28, 29, 31]) }
        let (e2, rc2, buf2) = list(none, pages: 1)
        #expect(e2 == 0 && rc2 == 0x0002)
        #expect(Array(buf2[0..<16]) == [UInt8](repeating: 0, count: 16), "header written with the count so far")
    }

    @Test func entryFieldsAreBigEndian() throws {
        let sim = try Sim()
        #expect(sim.add(try sim.request(SimulatedRequest(.key(.aes256, Random.secureBytes(32)), name: "k"))) == 1)
        let (_, _, buf) = list(sim, pages: 1)
        #expect(Array(buf[0..<6]) == [0, 1, 0, 1, 0, 0])
        #expect(Array(buf[16..<24]) == [0, 0, 0, 0x06, 0, 0, 0, 64])
        #expect(Array(buf[32..<64]) == Digest.sha256(Array("k".utf8)))
    }

    /// A header that claims one entry more than the buffer holds is refused,
    /// for a whole and a partial last entry; exactly full decodes. (The
    /// fuzzer's planted-bug run B of docs/hardening.md: no test had this edge.)
    @Test(arguments: [0, 1, 47])
    func headerClaimingOneEntryTooManyIsRefused(partial: Int) throws {
        let entries = 3
        var buf = [UInt8](repeating: 0, count: SecretListLayout.headerSize + entries * SecretListLayout.entrySize + partial)
        SecretList.encodeHeader(storedCount: UInt16(entries), totalCount: UInt16(entries), nextIndex: 0, into: &buf)
        #expect(try SecretList.decode(buf).entries.count == entries)
        SecretList.encodeHeader(storedCount: UInt16(entries + 1), totalCount: UInt16(entries + 1), nextIndex: 0, into: &buf)
        #expect(throws: SecretList.Malformed.self) { try SecretList.decode(buf) }
    }
}
