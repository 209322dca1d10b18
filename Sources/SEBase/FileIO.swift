#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An owned file descriptor, closed when released.
public final class FileHandle: @unchecked Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

public enum FileKind: String, Sendable, Equatable {
    case regular, directory, symlink, characterDevice = "character device", blockDevice = "block device"
    case fifo, socket, unknown

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        default: self = .unknown
        }
    }
}

public struct DirectoryEntry: Sendable, Equatable {
    /// The name decoded as UTF-8 (invalid bytes replaced): for names that
    /// passed `isValidUTF8`; never use it to open a file otherwise.
    public let name: String
    public let kind: FileKind
    public let size: Int64
    /// The name's bytes as the directory holds them.
    public let rawName: [UInt8]

    public init(name: String, kind: FileKind, size: Int64, rawName: [UInt8]? = nil) {
        self.name = name
        self.kind = kind
        self.size = size
        self.rawName = rawName ?? Array(name.utf8)
    }

    /// True when `name` is exactly the directory's bytes.
    public var isValidUTF8: Bool { Array(name.utf8) == rawName }
    /// The name as shown in messages, reports and listings (`Printable.escape`).
    public var displayName: String { Printable.escape(rawName) }
}

/// File-system access for untrusted inputs: no symlink is ever followed in
/// the last component, every read is bounded, and only regular files are
/// read.
public enum FileIO {
    public struct TooLarge: Error, CustomStringConvertible {
        public let path: String
        public let limit: Int
        public var description: String { "\(path): larger than the limit of \(limit) bytes" }
    }

    public struct NotRegular: Error, CustomStringConvertible {
        public let path: String
        public let kind: FileKind
        public var description: String { "\(path): is a \(kind.rawValue), not a regular file" }
    }

    /// Reads a whole regular file of at most `limit` bytes. Symlinks are
    /// refused (ELOOP) unless `followSymlinks` is set.
    public static func read(_ path: String, limit: Int, followSymlinks: Bool = false) throws -> [UInt8] {
        try read(at: AT_FDCWD, path, displayPath: path, limit: limit, followSymlinks: followSymlinks)
    }

    /// Reads a regular file relative to a directory descriptor.
    public static func read(at dirfd: Int32, _ name: String, displayPath: String, limit: Int,
                            followSymlinks: Bool = false) throws -> [UInt8] {
        var flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
        if !followSymlinks { flags |= O_NOFOLLOW }
        let fd = openat(dirfd, name, flags)
        if fd < 0 {
            let e = SystemError.current("open", path: displayPath)
            if e.errno == ELOOP { throw NotRegular(path: displayPath, kind: .symlink) }
            throw e
        }
        let handle = FileHandle(fd: fd)
        return try readAll(handle, displayPath: displayPath, limit: limit)
    }

    static func readAll(_ handle: FileHandle, displayPath: String, limit: Int) throws -> [UInt8] {
        var st = stat()
        guard fstat(handle.fd, &st) == 0 else { throw SystemError.current("stat", path: displayPath) }
        let kind = FileKind(mode: st.st_mode)
        guard kind == .regular else { throw NotRegular(path: displayPath, kind: kind) }
        guard st.st_size <= limit else { throw TooLarge(path: displayPath, limit: limit) }
        // Read into a buffer sized from fstat, one byte larger so that a file
        // that grew since is noticed; then continue in chunks up to the limit.
        let expected = Int(st.st_size)
        var failure: SystemError? = nil
        var out = [UInt8](unsafeUninitializedCapacity: expected + 1) { buf, count in
            count = 0
            while count < buf.count {
                let n = Glibc.read(handle.fd, buf.baseAddress! + count, buf.count - count)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = SystemError.current("read", path: displayPath)
                    return
                }
                if n == 0 { break }
                count += n
            }
        }
        if let failure { throw failure }
        if out.count > expected {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                guard out.count <= limit else { throw TooLarge(path: displayPath, limit: limit) }
                let n = chunk.withUnsafeMutableBytes { Glibc.read(handle.fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SystemError.current("read", path: displayPath)
                }
                if n == 0 { break }
                out.append(contentsOf: chunk[0..<n])
            }
            guard out.count <= limit else { throw TooLarge(path: displayPath, limit: limit) }
        }
        return out
    }

    /// Opens a directory without following a symlink at its last component.
    public static func openDirectory(_ path: String, at dirfd: Int32 = AT_FDCWD) throws -> FileHandle {
        let fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw SystemError.current("open directory", path: path) }
        return FileHandle(fd: fd)
    }

    /// Opens `relativePath` below `base` one component at a time, refusing
    /// a symlink at any component ("a/b/c" with b a symlink fails with
    /// ELOOP) and any "..", so the result is always inside `base`.
    public static func openDirectory(beneath base: FileHandle, relativePath: String, displayPath: String) throws -> FileHandle {
        var current = FileHandle(fd: dup(base.fd))
        guard current.fd >= 0 else { throw SystemError.current("dup", path: displayPath) }
        for part in relativePath.split(separator: "/") where part != "." {
            guard part != ".." else { throw SystemError(errno: EPERM, operation: "refuse '..' in", path: displayPath) }
            let fd = openat(current.fd, String(part), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw SystemError.current("open directory", path: displayPath) }
            current = FileHandle(fd: fd)
        }
        return current
    }

    /// Lists a directory's entries (without "." and ".."), sorted by name,
    /// each with the kind of the entry itself (symlinks are not followed).
    /// At most `limit` entries are read; more is an error.
    public static func list(_ dir: FileHandle, displayPath: String, limit: Int = 4096) throws -> [DirectoryEntry] {
        let dupfd = dup(dir.fd)
        guard dupfd >= 0 else { throw SystemError.current("dup", path: displayPath) }
        guard let d = fdopendir(dupfd) else {
            let e = SystemError.current("opendir", path: displayPath)
            close(dupfd)
            throw e
        }
        defer { closedir(d) }
        rewinddir(d)
        var entries: [DirectoryEntry] = []
        while true {
            errno = 0
            guard let ent = readdir(d) else {
                if errno != 0 { throw SystemError.current("readdir", path: displayPath) }
                break
            }
            let rawName = withUnsafeBytes(of: ent.pointee.d_name) { raw -> [UInt8] in Array(raw.prefix { $0 != 0 }) }
            let name = String(decoding: rawName, as: UTF8.self)
            if rawName == [0x2E] || rawName == [0x2E, 0x2E] { continue }
            guard entries.count < limit else {
                throw SystemError(errno: EFBIG, operation: "list more than \(limit) entries in", path: displayPath)
            }
            var st = stat()
            // By the directory's own bytes: a name that is not UTF-8 must
            // not be looked up by its (lossy) decoded form.
            let statted = (rawName + [0]).withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { fstatat(dir.fd, $0.baseAddress!, &st, AT_SYMLINK_NOFOLLOW) }
            }
            guard statted == 0 else {
                throw SystemError.current("stat", path: displayPath + "/" + Printable.escape(rawName))
            }
            entries.append(DirectoryEntry(name: name, kind: FileKind(mode: st.st_mode), size: Int64(st.st_size), rawName: rawName))
        }
        return entries.sorted { $0.rawName.lexicographicallyPrecedes($1.rawName) }
    }

    public static func list(_ path: String, limit: Int = 4096) throws -> [DirectoryEntry] {
        try list(try openDirectory(path), displayPath: path, limit: limit)
    }

    /// The kind of a path's last component (not following a symlink), or nil
    /// when it does not exist.
    public static func kind(of path: String) -> FileKind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileKind(mode: st.st_mode)
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same
    /// directory, written, fsynced, given `mode`, renamed over the target,
    /// and the directory fsynced. The target's directory must exist.
    /// `durable: false` skips the fsyncs: readers still see the old or the
    /// new file, never a mix, but a power loss may lose the change (for
    /// state that dies with the machine anyway, like the simulated store).
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t, durable: Bool = true) throws {
        let (dirPath, base) = splitPath(path)
        let dir = try openDirectory(dirPath)
        try writeAtomically(at: dir, name: base, displayPath: path, bytes, mode: mode, durable: durable)
    }

    public static func writeAtomically(at dir: FileHandle, name: String, displayPath: String,
                                       _ bytes: [UInt8], mode: mode_t, durable: Bool = true) throws {
        let (tmpName, handle): (String, FileHandle)
        do { (tmpName, handle) = try createExclusive(in: dir) { ".\(name).tmp.\(getpid()).\($0)" } } catch {
            throw SystemError(errno: error.errno, operation: "create", path: displayPath)
        }
        func cleanup() { unlinkat(dir.fd, tmpName, 0) }
        do {
            try bytes.withUnsafeBytes { try writeAll(handle.fd, $0, path: displayPath) }
            guard fchmod(handle.fd, mode) == 0 else { throw SystemError.current("chmod", path: displayPath) }
            if durable { guard fsync(handle.fd) == 0 else { throw SystemError.current("fsync", path: displayPath) } }
            guard renameat(dir.fd, tmpName, dir.fd, name) == 0 else { throw SystemError.current("rename", path: displayPath) }
        } catch {
            cleanup()
            throw error
        }
        if durable { _ = fsync(dir.fd) }
    }

    /// Creates a new file in `dir` (O_EXCL, O_NOFOLLOW, mode 0600), trying
    /// up to 16 names `name(attempt)` while the name is taken.
    public static func createExclusive(in dir: FileHandle, name: (Int) -> String) throws(SystemError) -> (name: String, handle: FileHandle) {
        for attempt in 0..<16 {
            let candidate = name(attempt)
            let fd = openat(dir.fd, candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
            if fd >= 0 { return (candidate, FileHandle(fd: fd)) }
            if errno != EEXIST { break }
        }
        throw SystemError.current("create")
    }

    /// Writes all of `bytes` to `fd` — at `offset`, or at the file position —
    /// retrying short writes and EINTR; a write that makes no progress is EIO.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int? = nil,
                                path: String? = nil) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let rest = bytes.count - done
            let n = offset.map { pwrite(fd, bytes.baseAddress! + done, rest, off_t($0 + done)) }
                ?? write(fd, bytes.baseAddress! + done, rest)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SystemError.current("write", path: path) }
            if n == 0 { throw SystemError(errno: EIO, operation: "write", path: path) }
            done += n
        }
    }

    /// Overwrites the first `limit` bytes of an open file (all of it by
    /// default) with zeros and syncs it; best effort. For a file that held a
    /// secret, before its name goes: unlinked blocks keep their bytes on a
    /// disk, and an overwrite in place needs no new space (it works on ENOSPC).
    public static func zeroFill(_ fd: Int32, limit: Int = .max) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        let count = min(Int(st.st_size), limit)
        let zeros = [UInt8](repeating: 0, count: 4096)
        var done = 0
        while done < count {
            let chunk = min(count - done, zeros.count)
            let ok = zeros.withUnsafeBytes { z in
                (try? writeAll(fd, UnsafeRawBufferPointer(rebasing: z[..<chunk]), at: done)) != nil
            }
            guard ok else { break }
            done += chunk
        }
        _ = fsync(fd)
    }

    /// What `wipeAndRemove` found and did.
    public enum WipeOutcome: Sendable, Equatable {
        /// There was no such file.
        case absent
        /// A regular file: overwritten with zeros (all of it, or its first
        /// `limit` bytes: `truncated`), synced, removed.
        case overwritten(truncated: Bool)
        /// Not a regular file (a symlink, a FIFO, a device node): removed
        /// without opening it.
        case unlinked
    }

    /// Removes a file that held a secret: a regular file is overwritten with
    /// zeros (up to `limit` bytes) and synced first (on tmpfs the overwrite
    /// is what clears the pages); anything else is only unlinked, never
    /// opened or followed. The one home of this rule: the action phases'
    /// hand-off directory and the boot run's failure path call it. Errors
    /// name the operation (stat, unlink) but not the path: callers do.
    public static func wipeAndRemove(at dirfd: Int32, _ name: String,
                                     limit: Int = 1 << 20) throws(SystemError) -> WipeOutcome {
        var st = stat()
        guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return .absent }
            throw SystemError.current("stat")
        }
        var outcome = WipeOutcome.unlinked
        if FileKind(mode: st.st_mode) == .regular {
            let fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 {
                let h = FileHandle(fd: fd)
                zeroFill(h.fd, limit: limit)
                outcome = .overwritten(truncated: Int(st.st_size) > limit)
            }
        }
        guard unlinkat(dirfd, name, 0) == 0 else { throw SystemError.current("unlink") }
        _ = fsync(dirfd)
        return outcome
    }

    /// `wipeAndRemove` by path; the directory is opened without following a
    /// symlink in its last component.
    public static func wipeAndRemove(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> WipeOutcome {
        let (dir, name) = splitPath(path)
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .absent }
            throw SystemError.current("open", path: dir)
        }
        let h = FileHandle(fd: fd)
        return try wipeAndRemove(at: h.fd, name, limit: limit)
    }

    /// Splits "a/b/c" into ("a/b", "c"); "c" into (".", "c"); "/c" into ("/", "c").
    public static func splitPath(_ path: String) -> (String, String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    /// Creates a directory (and its parents) with `mode`; existing ones are kept.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError.current("mkdir", path: current)
            }
        }
    }
}
