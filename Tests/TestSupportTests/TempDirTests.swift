import Testing
import Glibc
import TestSupport

/// The tests' temporary directories go away with the value, whatever a test
/// left in them, and nothing outside them goes with them.
@Suite struct TempDirTests {
    func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    @Test func removedWithEverythingInItAndNothingOutside() throws {
        let outside = try TempDir("outside")
        let kept = outside.appending("kept")
        #expect(creat(kept, 0o600) >= 0)
        var path = ""
        do {
            let tmp = try TempDir("removal")
            path = tmp.path
            #expect(tmp.path.hasPrefix("/") && exists(tmp.path))
            // A name that is not UTF-8 (as the file-name tests make), a
            // directory without write permission, a symlink out of it.
            let odd: [CChar] = Array((tmp.path + "/bad-").utf8CString.dropLast()) + [CChar(bitPattern: 0xFF), 0x1B, 0]
            #expect(creat(odd, 0o600) >= 0)
            #expect(mkdir(tmp.appending("locked"), 0o700) == 0)
            #expect(creat(tmp.appending("locked/key"), 0o400) >= 0)
            #expect(chmod(tmp.appending("locked"), 0o500) == 0)
            #expect(symlink(outside.path, tmp.appending("link")) == 0)
            #expect(symlink(kept, tmp.appending("link-file")) == 0)
        }
        #expect(!path.isEmpty && !exists(path), "\(path) is left behind")
        #expect(exists(kept), "a file outside went with it")
    }

    @Test(.enabled(if: TempDir.hasMemoryFilesystem, "no tmpfs at /dev/shm"))
    func inMemoryIsRemovedToo() throws {
        var path = ""
        do {
            let tmp = try #require(try TempDir.inMemory("shm"))
            path = tmp.path
            #expect(path.hasPrefix("/dev/shm/"))
            #expect(creat(tmp.appending("handoff.key"), 0o400) >= 0)
        }
        #expect(!path.isEmpty && !exists(path))
    }
}
