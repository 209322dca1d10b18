import Foundation
import Testing
import TestSupport
import SEBase
@testable import SEDevices

/// ResultsRecord's magic, written out (this test target does not link ResultsRecord).
let recordMagic: [UInt8] = Array("SE-SECRETD-RSLT1".utf8)
let MiB = 1 << 20

/// An image file of `size` zero bytes with `patches` written over it.
func makeImage(_ tmp: TempDir, _ name: String, size: Int = MiB, _ patches: [(Int, [UInt8])] = []) -> String {
    var bytes = [UInt8](repeating: 0, count: size)
    for (offset, patch) in patches { bytes.replaceSubrange(offset..<offset + patch.count, with: patch) }
    let path = tmp.appending(name)
    #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    return path
}

func contents(_ path: String) -> [UInt8] { (FileManager.default.contents(atPath: path)).map { [UInt8]($0) } ?? [] }

/// A regular file standing in for the device (the internal, test-only option).
func openFile(_ path: String, maxRecordSize: Int = 4 * MiB, io: ResultsDevice.IO = .system) throws(ResultsDeviceError) -> ResultsDevice {
    try ResultsDevice.open(path: path, magic: recordMagic, maxRecordSize: maxRecordSize, allowRegularFile: true, io: io)
}

/// The error `body` throws, nil when it throws none (another error type is a failure).
func refusal(_ body: () throws -> Void) -> ResultsDeviceError? {
    do { try body(); return nil } catch let e as ResultsDeviceError { return e } catch {
        Issue.record("not a ResultsDeviceError: \(error)")
        return nil
    }
}

/// Deterministic bytes that look like an attestation response (no structure).
func pseudoRandom(_ count: Int, seed: UInt64 = 0x5EC2E7D) -> [UInt8] {
    var x = seed
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}

/// A minimal ext2 superblock at 1024: counts, a 1 KiB block size, the magic 0xEF53 at 1080.
let ext2Superblock: [(Int, [UInt8])] = [
    (1024, [128, 0, 0, 0]),        // s_inodes_count
    (1028, [0, 4, 0, 0]),          // s_blocks_count 1024
    (1080, [0x53, 0xEF]),          // s_magic
]

@Suite struct ResultsDeviceTests {
    @Test func blankAndOwnDevicesAreAccepted() throws {
        let tmp = try TempDir("results")
        let blank = try openFile(makeImage(tmp, "blank"))
        #expect(blank.size == MiB)
        // An earlier run's record: the magic, then anything in the first 4096 bytes.
        let ours = makeImage(tmp, "ours", [(0, recordMagic + pseudoRandom(4000))])
        #expect(try openFile(ours).size == MiB)
        // Only the first 4096 bytes must be blank.
        #expect(try openFile(makeImage(tmp, "tail", [(4096, [0xFF])])).size == MiB)
    }

    @Test func anyNonZeroByteInTheFirstBlockIsRefused() throws {
        let tmp = try TempDir("results")
        for offset in [0, 1, 15, 511, 1080, 4095] {
            let path = makeImage(tmp, "dirty-\(offset)", [(offset, [0x01])])
            let e = refusal { _ = try openFile(path) }
            #expect(e?.rule == .notBlank, "a byte at \(offset)")
            #expect(e?.description == "results device \(path): its first 4096 bytes are neither zero nor a results record; refusing to overwrite them [not-blank]")
        }
        // The magic anywhere but at 0 is not ours.
        let shifted = makeImage(tmp, "shifted", [(1, recordMagic)])
        #expect(refusal { _ = try openFile(shifted) }?.rule == .notBlank)
        let partial = makeImage(tmp, "partial", [(0, Array(recordMagic.dropLast()) + [0x30])])
        #expect(refusal { _ = try openFile(partial) }?.rule == .notBlank)
    }

    @Test func fileSystemsAndLUKSAndPartitionTablesAreRefused() throws {
        let tmp = try TempDir("results")
        // A hand-made ext2 superblock: not blank (it is inside the first block).
        let ext2 = makeImage(tmp, "ext2", ext2Superblock)
        #expect(refusal { _ = try openFile(ext2) }?.rule == .notBlank)
        // Our magic over its first bytes: the blank check passes, libblkid does not.
        let ext2Ours = makeImage(tmp, "ext2-ours", [(0, recordMagic)] + ext2Superblock)
        let e = refusal { _ = try openFile(ext2Ours) }
        #expect(e?.rule == .signatureFound)
        #expect(e?.description == "results device \(ext2Ours): libblkid finds ext2 (filesystem) on it; refusing to overwrite it [signature-found]")
        // A LUKS2 disk whose first header was zeroed: its second header at 16 KiB.
        var luks2: [UInt8] = Array("SKUL".utf8) + [0xBA, 0xBE, 0, 2]  // magic, version 2
        luks2 += [0, 0, 0, 0, 0, 0, 0x40, 0]                              // hdr_size
        let luks = makeImage(tmp, "luks2", [(0x4000, luks2), (0x4000 + 256, [0, 0, 0, 0, 0, 0, 0x40, 0])])  // hdr_offset
        let l = refusal { _ = try openFile(luks) }
        #expect(l?.rule == .signatureFound)
        #expect(l?.message.contains("crypto_LUKS (crypto)") == true)
        // A whole disk with a partition table (its partitions may be in use
        // while the disk itself is not claimed).
        let mbr = makeImage(tmp, "mbr", [(0, recordMagic), (510, [0x55, 0xAA])])
        let m = refusal { _ = try openFile(mbr) }
        #expect(m?.rule == .signatureFound)
        #expect(m?.message.contains("a dos partition table") == true)
    }

    @Test(.enabled(if: tool("mkfs.ext4") != nil, "mkfs.ext4 (e2fsprogs) makes a real file system; the hand-made superblocks run anyway"))
    func aRealExt4IsRefused() throws {
        let tmp = try TempDir("results")
        let image = makeImage(tmp, "ext4", size: 4 * MiB)
        #expect(run(tool("mkfs.ext4")!, ["-q", "-F", image]).status == 0)
        #expect(refusal { _ = try openFile(image) }?.rule == .notBlank)
        // Even with the first block made to look ours.
        let h = try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try h.write(contentsOf: Data(recordMagic))
        try h.close()
        let e = refusal { _ = try openFile(image) }
        #expect(e?.rule == .signatureFound)
        #expect(e?.message.contains("ext4 (filesystem)") == true)
    }

    @Test func sizeAndKind() throws {
        let tmp = try TempDir("results")
        let small = makeImage(tmp, "small", size: MiB - 512)
        let e = refusal { _ = try openFile(small) }
        #expect(e?.rule == .tooSmall)
        #expect(e?.message == "has \(MiB - 512) bytes, fewer than the \(MiB) a results device must have")
        // The public entry takes block devices only: a regular file, a character device, a directory.
        let file = makeImage(tmp, "file")
        let r = refusal { _ = try ResultsDevice.open(path: file, magic: recordMagic, maxRecordSize: 4 * MiB) }
        #expect(r?.rule == .notABlockDevice)
        #expect(r?.description == "results device \(file): is a regular file, not a block device; refusing to write to it [not-a-block-device]")
        let null = refusal { _ = try ResultsDevice.open(path: "/dev/null", magic: recordMagic, maxRecordSize: 4 * MiB) }
        #expect(null?.rule == .notABlockDevice)
        #expect(refusal { _ = try ResultsDevice.open(path: tmp.path, magic: recordMagic, maxRecordSize: 4 * MiB) }?.rule == .notABlockDevice)
        let missing = refusal { _ = try openFile(tmp.appending("missing")) }
        #expect(missing?.rule == .ioError)
        #expect(missing?.systemError?.errno == ENOENT)
        #expect(missing?.message == "cannot stat it: stat: No such file or directory (ENOENT)")
    }

    @Test func clearZeroesOnlyTheFirstBlock() throws {
        let tmp = try TempDir("results")
        let old = recordMagic + pseudoRandom(8192 - recordMagic.count)
        let path = makeImage(tmp, "old", [(0, old)])
        let device = try openFile(path)
        try device.clear()
        let after = contents(path)
        #expect(after.count == MiB)
        #expect(after[0..<4096].allSatisfy { $0 == 0 })
        let tailKept = after[4096..<8192].elementsEqual(old[4096...])  // a Bool: a failing comparison would print the bytes
        #expect(tailKept)
        #expect(after[8192...].allSatisfy { $0 == 0 })
    }

    @Test func writeThenReadBack() throws {
        let tmp = try TempDir("results")
        // An older, longer record's tail beyond the new one's padding.
        let path = makeImage(tmp, "dev", [(4096, [UInt8](repeating: 0x77, count: 12288))])
        let device = try openFile(path)
        try device.clear()
        let record = recordMagic + pseudoRandom(10_000 - recordMagic.count)
        try device.write(record)
        let back = try device.read()
        #expect(back.count == MiB, "read() reads up to the record bound, at most the device")
        let recordBack = back[..<record.count].elementsEqual(record)
        #expect(recordBack)
        #expect(back[record.count..<12288].allSatisfy { $0 == 0 }, "zero-padded to a multiple of 4096")
        #expect(back[12288..<16384].allSatisfy { $0 == 0x77 }, "nothing beyond the padding is touched")
        #expect(try device.read(limit: 100) == Array(record[..<100]))
        let recordOnDisk = contents(path)[..<record.count].elementsEqual(record)
        #expect(recordOnDisk)
        // The device with this run's record is still ours for the next run.
        let again = try openFile(path)
        let recordAgain = try again.read(limit: record.count).elementsEqual(record)
        #expect(recordAgain)
        // A record filling the whole device.
        let full = recordMagic + pseudoRandom(MiB - recordMagic.count, seed: 7)
        try again.write(full)
        let fullBack = try again.read().elementsEqual(full)
        #expect(fullBack)
    }

    enum Op: Equatable { case write(offset: Int, count: Int), fsync }

    @Test func theHeaderIsWrittenLastAndSynced() throws {
        let tmp = try TempDir("results")
        let path = makeImage(tmp, "dev")
        var ops: [Op] = []
        let system = ResultsDevice.IO.system
        let recording = ResultsDevice.IO(
            pwrite: { (fd, bytes, offset) throws(SystemError) in
                ops.append(.write(offset: offset, count: bytes.count))
                try system.pwrite(fd, bytes, offset)
            },
            fsync: { (fd) throws(SystemError) in
                ops.append(.fsync)
                try system.fsync(fd)
            })
        let device = try openFile(path, io: recording)
        try device.write(recordMagic + pseudoRandom(10_000 - recordMagic.count))
        #expect(ops == [.write(offset: 4096, count: 8192), .fsync, .write(offset: 0, count: 4096), .fsync])
        ops = []
        // A record within one block: one write of the whole (padded) block.
        try device.write(recordMagic + [1, 2, 3])
        #expect(ops == [.write(offset: 0, count: 4096), .fsync])
        ops = []
        try device.clear()
        #expect(ops == [.write(offset: 0, count: 4096), .fsync])
    }

    @Test func aFailureBetweenTheWritesLeavesTheFirstBlockZero() throws {
        let tmp = try TempDir("results")
        let path = makeImage(tmp, "dev", [(0, recordMagic + pseudoRandom(100))])  // an earlier run's record
        var calls = 0
        let system = ResultsDevice.IO.system
        let failingSecond = ResultsDevice.IO(
            pwrite: { (fd, bytes, offset) throws(SystemError) in
                calls += 1
                if calls == 3 { throw SystemError(errno: EIO, operation: "write") }  // clear, tail, then the header
                try system.pwrite(fd, bytes, offset)
            },
            fsync: system.fsync)
        let device = try openFile(path, io: failingSecond)
        try device.clear()
        let record = recordMagic + pseudoRandom(10_000 - recordMagic.count)
        let e = refusal { try device.write(record) }
        #expect(e?.rule == .ioError)
        #expect(e?.systemError?.errno == EIO)
        let after = contents(path)
        #expect(after[..<4096].allSatisfy { $0 == 0 }, "no header without the record behind it")
        let tailFirst = after[4096..<record.count].elementsEqual(record[4096...])
        #expect(tailFirst, "the tail was written first")
    }

    @Test func aDifferenceOnReadBackIsAnError() throws {
        let tmp = try TempDir("results")
        let path = makeImage(tmp, "dev")
        let system = ResultsDevice.IO.system
        // A lost write: one byte of the tail does not reach the disk as written.
        let lossy = ResultsDevice.IO(
            pwrite: { (fd, bytes, offset) throws(SystemError) in
                var b = bytes
                if offset == 4096 { b[100] ^= 0xFF }
                try system.pwrite(fd, b, offset)
            },
            fsync: system.fsync)
        let device = try openFile(path, io: lossy)
        let e = refusal { try device.write(recordMagic + pseudoRandom(9000)) }
        #expect(e?.rule == .verifyFailed)
        #expect(e?.message == "the bytes read back differ from the record written (first at offset 4196)")
    }

    @Test func recordsTooLargeOrNotRecordsAreRefused() throws {
        let tmp = try TempDir("results")
        let path = makeImage(tmp, "dev")
        let device = try openFile(path, maxRecordSize: 4 * MiB)
        let larger = recordMagic + [UInt8](repeating: 1, count: MiB + 1 - recordMagic.count)
        let e = refusal { try device.write(larger) }
        #expect(e?.rule == .recordTooLarge)
        #expect(e?.message == "the record has \(MiB + 1) bytes, more than the device's \(MiB)")
        let bounded = try openFile(path, maxRecordSize: 1000)
        let b = refusal { try bounded.write(recordMagic + [UInt8](repeating: 1, count: 1000)) }
        #expect(b?.rule == .recordTooLarge)
        #expect(b?.message == "the record has 1016 bytes, more than the 1000 a record may have")
        // Anything but a record would make the device "not blank" for the next run.
        #expect(refusal { try device.write([UInt8](repeating: 0x41, count: 100)) }?.rule == .notARecord)
        #expect(refusal { try device.write([]) }?.rule == .notARecord)
        #expect(contents(path).allSatisfy { $0 == 0 }, "nothing written by a refused record")
    }

    static let canUseLoop: Bool = getuid() == 0 && tool("losetup") != nil &&
        FileManager.default.fileExists(atPath: "/dev/loop-control")

    /// O_EXCL on a real block device: a second exclusive opener (here, the
    /// test itself; in the guest, a mount, a dm mapping or md) gets EBUSY.
    @Test(.enabled(if: canUseLoop, "needs root, losetup and /dev/loop-control (O_EXCL means something on block devices only)"))
    func exclusiveOpenOfALoopDevice() throws {
        let tmp = try TempDir("results-loop")
        let image = makeImage(tmp, "dev.img", size: 2 * MiB)
        let attach = run(tool("losetup")!, ["-f", "--show", image])
        try #require(attach.status == 0, "losetup could not attach the image")
        let loop = attach.out.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = run(tool("losetup")!, ["-d", loop]) }
        do {
            let device = try ResultsDevice.open(path: loop, magic: recordMagic, maxRecordSize: 4 * MiB)
            #expect(device.size == 2 * MiB)
            // Held by this value: a second exclusive open is refused.
            let e = refusal { _ = try ResultsDevice.open(path: loop, magic: recordMagic, maxRecordSize: 4 * MiB) }
            #expect(e?.rule == .inUse)
            #expect(e?.systemError?.errno == EBUSY)
            try device.clear()
            let record = recordMagic + pseudoRandom(6000)
            try device.write(record)
            let recordOnLoop = try device.read(limit: record.count).elementsEqual(record)
            #expect(recordOnLoop)
        }
        // Released: open again, and the record is ours.
        let again = try ResultsDevice.open(path: loop, magic: recordMagic, maxRecordSize: 4 * MiB)
        #expect(try again.read(limit: 16) == recordMagic)
        // While `again` lives, the claim holds for any other opener too.
        withExtendedLifetime(again) {
            let fd = open(loop, O_RDONLY | O_EXCL | O_CLOEXEC)
            let err = errno
            #expect(fd < 0 && err == EBUSY)
            if fd >= 0 { close(fd) }
        }
    }

    @Test(.enabled(if: canUseLoop, "needs root, losetup and /dev/loop-control"))
    func anExclusiveHolderMakesItInUse() throws {
        let tmp = try TempDir("results-loop")
        let image = makeImage(tmp, "dev.img", size: 2 * MiB)
        let attach = run(tool("losetup")!, ["-f", "--show", image])
        try #require(attach.status == 0, "losetup could not attach the image")
        let loop = attach.out.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = run(tool("losetup")!, ["-d", loop]) }
        let fd = open(loop, O_RDONLY | O_EXCL | O_CLOEXEC)
        try #require(fd >= 0)
        let e = refusal { _ = try ResultsDevice.open(path: loop, magic: recordMagic, maxRecordSize: 4 * MiB) }
        #expect(e?.rule == .inUse)
        #expect(e?.description.hasSuffix("[in-use]") == true)
        close(fd)
        #expect(try ResultsDevice.open(path: loop, magic: recordMagic, maxRecordSize: 4 * MiB).size == 2 * MiB)
    }
}
