import Testing
import Glibc
import SEBase
import SEDevices
import ResultsRecord
import TestSupport

/// The results device: written only when blank or ours, header last, read
/// back. Regular files stand in for the disk (`allowRegularFile`, which no
/// policy reaches); O_EXCL's refusal of a mounted or mapped disk needs root
/// and a loop device (the QEMU boot tests).
@Suite struct ResultsDeviceTests {
    static func image(_ dir: TempDir, _ name: String, size: Int = 2 << 20, _ change: (inout [UInt8]) -> Void = { _ in }) throws -> String {
        var bytes = [UInt8](repeating: 0, count: size)
        change(&bytes)
        let path = dir.appending(name)
        try FileIO.writeAtomically(path, bytes, mode: 0o600)
        return path
    }

    static func rule(_ body: () throws -> Void) -> ResultsDevice.Refused.Rule? {
        do { try body(); return nil } catch let e as ResultsDevice.Refused { return e.rule } catch { return nil }
    }

    @Test func theMagicIsTheRecordsMagic() {
        #expect(ResultsDevice.recordMagic == ResultsRecord.magic)
    }

    @Test func aBlankDiskOrAnEarlierRecordIsAccepted() throws {
        let dir = try TempDir("results-dev")
        let blank = try Self.image(dir, "blank.img")
        #expect(try ResultsDevice.open(path: blank, allowRegularFile: true).size == 2 << 20)
        let ours = try Self.image(dir, "ours.img") { $0.replaceSubrange(0..<16, with: ResultsRecord.magic) }
        #expect(Self.rule { _ = try ResultsDevice.open(path: ours, allowRegularFile: true) } == nil)
    }

    @Test func aDiskThatHoldsAnythingIsRefused() throws {
        let dir = try TempDir("results-dev-refused")
        // One byte of data in the first sector.
        let data = try Self.image(dir, "data.img") { $0[4095] = 1 }
        #expect(Self.rule { _ = try ResultsDevice.open(path: data, allowRegularFile: true) } == .notBlank)
        // An ext2 superblock (magic 0xEF53 at 1080) is in the first sector too.
        let ext = try Self.image(dir, "ext.img") { $0[1080] = 0x53; $0[1081] = 0xEF }
        #expect(Self.rule { _ = try ResultsDevice.open(path: ext, allowRegularFile: true) } == .notBlank)
        // An ISO 9660 volume descriptor at 32 KiB: the first sector is blank,
        // libblkid still finds the file system.
        let iso = try Self.image(dir, "iso.img") { b in
            b[0x8000] = 1
            b.replaceSubrange(0x8001..<0x8006, with: Array("CD001".utf8))
            b[0x8006] = 1
            b[0x8800] = 0xFF   // the descriptor set's terminator
            b.replaceSubrange(0x8801..<0x8806, with: Array("CD001".utf8))
            b[0x8806] = 1
        }
        #expect(Self.rule { _ = try ResultsDevice.open(path: iso, allowRegularFile: true) } == .signatureFound)
        // Too small, and not a device at all.
        let small = try Self.image(dir, "small.img", size: 64 << 10)
        #expect(Self.rule { _ = try ResultsDevice.open(path: small, allowRegularFile: true) } == .tooSmall)
        let blank = try Self.image(dir, "blank.img")
        #expect(Self.rule { _ = try ResultsDevice.open(path: blank) } == .notABlockDevice)
        #expect(Self.rule { _ = try ResultsDevice.open(path: dir.appending("missing.img"), allowRegularFile: true) } == .unreadable)
    }

    @Test func clearZeroesTheFirstSectorOnly() throws {
        let dir = try TempDir("results-dev-clear")
        let path = try Self.image(dir, "ours.img") { b in
            b.replaceSubrange(0..<16, with: ResultsRecord.magic)
            b[4096] = 7
        }
        try ResultsDevice.open(path: path, allowRegularFile: true).clear()
        let after = try FileIO.read(path, limit: 4 << 20)
        #expect(after[0..<4096].allSatisfy { $0 == 0 })
        #expect(after[4096] == 7)
    }

    @Test func aRecordIsWrittenHeaderLastAndReadsBack() throws {
        let dir = try TempDir("results-dev-write")
        let path = try Self.image(dir, "disk.img")
        let record = try ResultsRecord([.init(.report, Array(repeating: 0x41, count: 10_000))])
        let device = try ResultsDevice.open(path: path, allowRegularFile: true)
        try device.write(record.bytes)
        #expect(try ResultsRecord.parse(try device.read(limit: ResultsRecord.maxSize)) == record)
        #expect(try ResultsRecord.parse(try FileIO.read(path, limit: 4 << 20)) == record)

        // A write that stops after the body leaves the first sector as it was (cleared): no record.
        let torn = try Self.image(dir, "torn.img")
        let calls = Counter()
        let failing = ResultsDevice.IO(pwrite: { fd, buf, off in
            calls.n += 1
            if off == 0 { errno = EIO; return -1 }
            return Glibc.pwrite(fd, buf.baseAddress, buf.count, off_t(off))
        }, fsync: { Glibc.fsync($0) })
        let d2 = try ResultsDevice.open(path: torn, allowRegularFile: true, io: failing)
        #expect(Self.rule { try d2.write(record.bytes) } == .writeFailed)
        let after = try FileIO.read(torn, limit: 4 << 20)
        #expect(after[0..<4096].allSatisfy { $0 == 0 })
        #expect(after[4096] != 0)     // the body went first
        #expect(calls.n >= 2)

        // Larger than the device.
        let small = try Self.image(dir, "small.img", size: 1 << 20)
        let big = [UInt8](repeating: 1, count: (1 << 20) + 1)
        #expect(Self.rule { try ResultsDevice.open(path: small, allowRegularFile: true).write(big) } == .tooLarge)
    }

    @Test func consoleLinesArriveInOrderWithAPauseBetween() throws {
        let dir = try TempDir("console-out")
        let path = dir.appending("console")
        try FileIO.writeAtomically(path, [], mode: 0o600)
        let pauses = Counter()
        let n = try ConsoleOutput.write(lines: ["one", "two", "three"], path: path, pause: { pauses.n += 1 })
        #expect(n == 3)
        #expect(pauses.n == 2)
        #expect(try FileIO.read(path, limit: 1024) == Array("one\ntwo\nthree\n".utf8))
        #expect(throws: SystemError.self) { try ConsoleOutput.write(lines: ["x"], path: dir.appending("no/such"), pause: {}) }
    }

    @Test func theKernelLogTakesBurstsOnlyWhenItSaysOn() throws {
        let dir = try TempDir("devkmsg")
        try FileIO.makeDirectories(dir.appending("sys/kernel"), mode: 0o755)
        func with(_ text: String?) throws -> Bool {
            let p = dir.appending("sys/kernel/printk_devkmsg")
            unlink(p)
            if let text { try FileIO.writeAtomically(p, Array(text.utf8), mode: 0o644) }
            return ConsoleOutput.kmsgAcceptsBursts(procRoot: dir.path)
        }
        #expect(try with("on\n"))
        #expect(!(try with("ratelimit\n")))
        #expect(!(try with("off\n")))
        #expect(!(try with(nil)))
        #expect(!(try with("on and on")))
    }
}

final class Counter: @unchecked Sendable { var n = 0 }
