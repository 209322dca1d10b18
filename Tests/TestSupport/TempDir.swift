import Foundation
import Glibc

/// A new private directory (mode 0700) for one test, removed with
/// everything in it when the value goes away. One a global or a static
/// holds (a fixture shared by tests, never deinitialised) is removed when
/// the test process exits.
///
/// Keep the value in a `let` for as long as the directory is used:
/// `let tmp = try TempDir("luks")`, then `tmp.path`.
public final class TempDir: @unchecked Sendable {
    public let path: String

    /// `$TMPDIR/se-secretd-LABEL-XXXXXX` (or under `parent`).
    public init(_ label: String = "test", under parent: String? = nil) throws {
        let base = parent ?? TempDir.systemTemporaryDirectory
        var template = Array("\(base)/se-secretd-\(label)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        path = String(cString: made)
        Live.shared.add(path)
    }

    deinit {
        TempDir.removeTree(path)
        Live.shared.remove(path)
    }

    /// `path + "/" + name`.
    public func appending(_ name: String) -> String { path + "/" + name }

    /// A directory on the tmpfs at /dev/shm (memory-backed files, as the
    /// hand-off directories need), or nil where there is none.
    public static func inMemory(_ label: String) throws -> TempDir? {
        guard hasMemoryFilesystem else { return nil }
        return try TempDir(label, under: "/dev/shm")
    }

    public static let hasMemoryFilesystem: Bool = {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { $0.hasPrefix("tmpfs /dev/shm ") }
    }()

    static var systemTemporaryDirectory: String {
        let env = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        let dir = env.isEmpty ? "/tmp" : env
        return dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
    }

    /// Removes `path` and everything below it, by the names' bytes (a test
    /// may leave names that are not UTF-8), without following symlinks or
    /// crossing into another filesystem: a mount a test left below it is
    /// detached first (and skipped if it cannot be). Directories a test made
    /// unwritable are opened up.
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { unlink(path); return }
        chmod(path, 0o700)
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            removeEntries(of: fd, device: st.st_dev)
            close(fd)
        }
        // A mount on the directory itself: what it covers goes too.
        if rmdir(path) != 0 && errno == EBUSY && umount2(path, Int32(MNT_DETACH)) == 0 { removeTree(path) }
    }

    private static func removeEntries(of fd: Int32, device: dev_t) {
        guard let dir = fdopendir(dup(fd)) else { return }
        var names: [[CChar]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
            }
            if name != [46, 0] && name != [46, 46, 0] { names.append(name) }  // "." and ".."
        }
        closedir(dir)
        for name in names {
            var st = stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            guard st.st_mode & S_IFMT == S_IFDIR else { unlinkat(fd, name, 0); continue }
            if st.st_dev != device {
                let viaProc = Array("/proc/self/fd/\(fd)/".utf8CString.dropLast()) + name
                guard umount2(viaProc, Int32(MNT_DETACH)) == 0, fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0,
                      st.st_dev == device else { continue }
            }
            fchmodat(fd, name, 0o700, 0)
            let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub >= 0 {
                removeEntries(of: sub, device: device)
                close(sub)
            }
            unlinkat(fd, name, AT_REMOVEDIR)
        }
    }

    /// The directories not yet removed, removed at exit.
    final class Live: @unchecked Sendable {
        static let shared = Live()
        private var paths: Set<String> = []
        private let lock = NSLock()

        private init() { atexit { Live.shared.removeAll() } }

        func add(_ path: String) { lock.withLock { _ = paths.insert(path) } }
        func remove(_ path: String) { lock.withLock { _ = paths.remove(path) } }
        func removeAll() {
            let left = lock.withLock { paths }
            for p in left { TempDir.removeTree(p) }
        }
    }
}
