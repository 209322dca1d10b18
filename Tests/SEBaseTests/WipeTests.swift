import Testing
import Glibc
import SEBase
import TestSupport

/// FileIO.wipeAndRemove, the one routine that removes files which held a
/// secret (the action phases' hand-off directory, the boot run's failure path).
@Suite struct WipeTests {
    func write(_ path: String, _ bytes: [UInt8]) throws {
        try FileIO.writeAtomically(path, bytes, mode: 0o600)
    }

    @Test func aRegularFileIsOverwrittenBeforeItIsRemoved() throws {
        let tmp = try TempDir("wipe")
        let path = tmp.appending("key")
        let secret: [UInt8] = Array(repeating: 0x5A, count: 5000)
        try write(path, secret)
        // A second name for the same inode shows what the wipe left in it.
        #expect(link(path, tmp.appending("witness")) == 0)
        #expect(try FileIO.wipeAndRemove(path) == .overwritten(truncated: false))
        #expect(FileIO.kind(of: path) == nil)
        let left = try FileIO.read(tmp.appending("witness"), limit: 1 << 20)
        #expect(left == Array(repeating: 0, count: secret.count))
    }

    @Test func aSymlinkIsRemovedAndItsTargetLeftAlone() throws {
        let tmp = try TempDir("wipe-link")
        let target = tmp.appending("target")
        try write(target, [1, 2, 3])
        #expect(symlink(target, tmp.appending("key")) == 0)
        #expect(try FileIO.wipeAndRemove(tmp.appending("key")) == .unlinked)
        #expect(FileIO.kind(of: tmp.appending("key")) == nil)
        #expect(try FileIO.read(target, limit: 16) == [1, 2, 3])
    }

    @Test func aMissingFileOrDirectoryIsNoError() throws {
        let tmp = try TempDir("wipe-none")
        #expect(try FileIO.wipeAndRemove(tmp.appending("nothing")) == .absent)
        #expect(try FileIO.wipeAndRemove(tmp.appending("no-dir/nothing")) == .absent)
    }

    @Test func aFileBeyondTheLimitIsOverwrittenUpToItAndSaysSo() throws {
        let tmp = try TempDir("wipe-big")
        let path = tmp.appending("big")
        try write(path, Array(repeating: 0x77, count: 300))
        #expect(link(path, tmp.appending("witness")) == 0)
        #expect(try FileIO.wipeAndRemove(path, limit: 256) == .overwritten(truncated: true))
        let left = try FileIO.read(tmp.appending("witness"), limit: 1 << 20)
        #expect(left == Array(repeating: 0, count: 256) + Array(repeating: 0x77, count: 44))
    }

    @Test func aFIFOIsUnlinkedWithoutBeingOpened() throws {
        let tmp = try TempDir("wipe-fifo")
        // Opening a FIFO for writing without a reader would block (or fail): it must not be opened.
        #expect(mkfifo(tmp.appending("fifo"), 0o600) == 0)
        #expect(try FileIO.wipeAndRemove(tmp.appending("fifo")) == .unlinked)
        #expect(FileIO.kind(of: tmp.appending("fifo")) == nil)
    }

    @Test func aSymlinkedDirectoryIsNotFollowed() throws {
        let tmp = try TempDir("wipe-dir")
        mkdir(tmp.appending("real"), 0o700)
        try write(tmp.appending("real/key"), [9, 9])
        #expect(symlink(tmp.appending("real"), tmp.appending("via")) == 0)
        #expect(throws: SystemError.self) { try FileIO.wipeAndRemove(tmp.appending("via/key")) }
        #expect(try FileIO.read(tmp.appending("real/key"), limit: 16) == [9, 9])
    }
}
