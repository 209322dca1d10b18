#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinuxExtras
import SEBase
import SECrypto

/// What a write did.
public enum WriteOutcome: String, Sendable, Equatable {
    case created, replaced
    /// The file already had exactly these contents, mode and owner.
    case unchanged
}

/// Ownership and permissions of a file to write.
public struct FileAttributes: Sendable, Equatable {
    public var mode: mode_t
    public var uid: uid_t
    public var gid: gid_t
    public init(mode: mode_t, uid: uid_t = 0, gid: gid_t = 0) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }
}

/// A directory tree that is written without ever following a symbolic link
/// below its top: every component is opened with openat(O_NOFOLLOW |
/// O_DIRECTORY) from the one above, so a link planted anywhere in a path
/// (at the target, or as a parent directory) makes the write fail instead of
/// sending a secret somewhere else. The top itself (e.g. /sysroot) is given
/// by the caller and opened normally.
public struct SafeTree {
    public let topPath: String
    let top: FileHandle

    public init(_ path: String) throws(ActionFailure) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ActionFailure(.io, "cannot open \(path): \(SystemError.current("open"))") }
        top = FileHandle(fd: fd)
        topPath = path
    }

    /// The components of an absolute path inside the tree.
    static func components(_ path: String) throws(ActionFailure) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard path.hasPrefix("/"), !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw ActionFailure(.config, "\(path) is not a clean absolute path")
        }
        return parts
    }

    func display(_ parts: ArraySlice<String>) -> String {
        (topPath == "/" ? "" : topPath) + "/" + parts.joined(separator: "/")
    }

    /// Opens the directory made of `parts` below the top; missing directories
    /// are created (root-owned, 0755) when `create` is set, else an error.
    func directory(_ parts: ArraySlice<String>, create: Bool) throws(ActionFailure) -> FileHandle {
        var current = top
        var done = parts.startIndex
        for name in parts {
            done += 1
            let shown = display(parts[parts.startIndex..<done])
            var fd = openat(current.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 && errno == ENOENT && create {
                if mkdirat(current.fd, name, 0o755) != 0 && errno != EEXIST {
                    throw ActionFailure(.io, "cannot create \(shown): \(SystemError.current("mkdir"))")
                }
                fd = openat(current.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if fd >= 0 {
                    _ = fchown(fd, 0, 0)
                    _ = fchmod(fd, 0o755)
                }
            }
            guard fd >= 0 else {
                let e = errno
                var st = stat()
                if fstatat(current.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                    let kind = FileKind(mode: st.st_mode)
                    if kind == .symlink {
                        throw ActionFailure(.io, "\(shown) is a symbolic link; refusing to follow it")
                    }
                    if kind != .directory { throw ActionFailure(.io, "\(shown) is a \(kind.rawValue), not a directory") }
                }
                if e == ENOENT {
                    throw ActionFailure(.io, "the directory \(shown)" + Self.missingDirectory)
                }
                throw ActionFailure(.io, "cannot open \(shown): \(SystemError(errno: e, operation: "open"))")
            }
            current = FileHandle(fd: fd)
        }
        return current
    }

    /// The end of the message for a missing directory. Matched with
    /// hasSuffix: String.contains(String) comes from _StringProcessing and
    /// links the whole regex engine (~0.95 MB) into the agent.
    static let missingDirectory = " does not exist (set \"create_parents\" to create it)"

    /// Reads a regular file of the tree (nil when it does not exist).
    public func read(_ path: String, limit: Int) throws(ActionFailure) -> [UInt8]? {
        let parts = try Self.components(path)
        let dir: FileHandle
        do { dir = try directory(parts.dropLast(), create: false) } catch {
            if error.message.hasSuffix(Self.missingDirectory) { return nil }
            throw error
        }
        var st = stat()
        if fstatat(dir.fd, parts.last!, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT { return nil }
        do {
            return try FileIO.read(at: dir.fd, parts.last!, displayPath: display(parts[...]), limit: limit)
        } catch {
            throw ActionFailure(.io, "cannot read \(display(parts[...])): \(error)")
        }
    }

    /// The attributes of an existing file (nil when it does not exist);
    /// symlinks are not followed.
    public func attributes(_ path: String) throws(ActionFailure) -> stat? {
        let parts = try Self.components(path)
        let dir = try directory(parts.dropLast(), create: false)
        var st = stat()
        guard fstatat(dir.fd, parts.last!, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return st
    }

    /// Writes `contents` to `path` inside the tree atomically (a temporary
    /// file in the same directory, fsync, rename, fsync of the directory),
    /// with the given owner and mode. An existing file is only replaced with
    /// `replace`; a file that already holds exactly these contents with this
    /// mode and owner is left as it is. Symlinks are refused everywhere.
    @discardableResult
    public func write(_ path: String, _ contents: UnsafeRawBufferPointer, attributes: FileAttributes,
                      replace: Bool, createParents: Bool) throws(ActionFailure) -> WriteOutcome {
        let parts = try Self.components(path)
        let dir = try directory(parts.dropLast(), create: createParents)
        return try SafeTree.write(in: dir, name: parts.last!, displayPath: display(parts[...]), contents,
                                  attributes: attributes, replace: replace)
    }

    /// The write of `write(_:…)` in an open directory.
    static func write(in dir: FileHandle, name: String, displayPath: String, _ contents: UnsafeRawBufferPointer,
                      attributes: FileAttributes, replace: Bool) throws(ActionFailure) -> WriteOutcome {
        var st = stat()
        var exists = false
        if fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            let kind = FileKind(mode: st.st_mode)
            if kind == .symlink { throw ActionFailure(.io, "\(displayPath) is a symbolic link; refusing to write through or over it") }
            guard kind == .regular else { throw ActionFailure(.io, "\(displayPath) is a \(kind.rawValue), not a regular file") }
            exists = true
            if sameFile(dir, name, st, contents, attributes) { return .unchanged }
            if !replace {
                throw ActionFailure(.io, "\(displayPath) exists with other contents or attributes; the policy does not allow replacing it (\"replace\": true)")
            }
        } else if errno != ENOENT {
            throw ActionFailure(.io, "cannot stat \(displayPath): \(SystemError.current("stat"))")
        }

        let (tmpName, handle): (String, FileHandle)
        do { (tmpName, handle) = try FileIO.createExclusive(in: dir) { _ in ".\(name.prefix(200)).se-secretd.\(Random.bytes(6).hex)" } } catch {
            throw ActionFailure(.io, "cannot create a temporary file beside \(displayPath): \(error)")
        }
        func fail(_ e: SystemError) -> ActionFailure {
            // What reached the temporary file is overwritten before the name goes.
            FileIO.zeroFill(handle.fd)
            unlinkat(dir.fd, tmpName, 0)
            return ActionFailure(.io, "cannot write \(displayPath): \(e)")
        }
        func fail(_ what: String) -> ActionFailure { fail(SystemError.current(what)) }
        do { try FileIO.writeAll(handle.fd, contents) } catch { throw fail(error) }
        // Owner first: chown clears set-user-ID bits that chmod then sets.
        guard fchown(handle.fd, attributes.uid, attributes.gid) == 0 else { throw fail("chown") }
        guard fchmod(handle.fd, attributes.mode) == 0 else { throw fail("chmod") }
        if exists { copySELinuxLabel(dir, name, to: handle) }
        guard fsync(handle.fd) == 0 else { throw fail("fsync") }
        if replace {
            guard renameat(dir.fd, tmpName, dir.fd, name) == 0 else { throw fail("rename") }
        } else {
            // link(2) never replaces: if the name appeared meanwhile, EEXIST.
            guard linkat(dir.fd, tmpName, dir.fd, name, 0) == 0 else { throw fail("link") }
            unlinkat(dir.fd, tmpName, 0)
        }
        guard fsync(dir.fd) == 0 else { throw ActionFailure(.io, "cannot fsync the directory of \(displayPath): \(SystemError.current("fsync"))") }
        return exists ? .replaced : .created
    }

    /// Whether the existing regular file already is what would be written.
    static func sameFile(_ dir: FileHandle, _ name: String, _ st: stat, _ contents: UnsafeRawBufferPointer,
                         _ a: FileAttributes) -> Bool {
        guard st.st_size == contents.count, st.st_mode & 0o7777 == a.mode, st.st_uid == a.uid, st.st_gid == a.gid else { return false }
        let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return false }
        let h = FileHandle(fd: fd)
        let existing = SecureBytes(count: contents.count)
        var off = 0
        let ok: Bool = existing.withUnsafeMutableBytes { buf in
            while off < buf.count {
                let n = Glibc.read(h.fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        guard ok else { return false }
        return existing.withUnsafeBytes { e in constantTimeEqual(e, contents) }
    }

    /// Keeps the SELinux label of a replaced file (the initrd has no policy
    /// loaded, so a new file would otherwise arrive unlabeled).
    static func copySELinuxLabel(_ dir: FileHandle, _ name: String, to handle: FileHandle) {
        let fd = openat(dir.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return }
        let old = FileHandle(fd: fd)
        var buf = [UInt8](repeating: 0, count: 512)
        let n = fgetxattr(old.fd, "security.selinux", &buf, buf.count)
        guard n > 0 else { return }
        _ = fsetxattr(handle.fd, "security.selinux", buf, n, 0)
    }
}

/// A directory for hand-off files (/run/cryptsetup-keys.d,
/// /run/credentials/@initrd): created if missing (parents 0755, the
/// directory itself with `mode`), owned by root, never a symlink, and — unless
/// the caller waives it for tests — on a memory file system (tmpfs or ramfs),
/// so that no secret reaches a disk.
public struct HandoffDirectory {
    public let path: String
    let handle: FileHandle

    public static let tmpfsMagic: Int = 0x0102_1994
    public static let ramfsMagic: Int = 0x8584_58f6

    public init(_ path: String, mode: mode_t, requireMemoryFileSystem: Bool = true) throws(ActionFailure) {
        guard path.hasPrefix("/"), path.count > 1 else { throw ActionFailure(.config, "\(path) is not an absolute directory path") }
        let parts = try SafeTree.components(path)
        // Parents may be symlinks on some systems (/var/run); the directory itself may not.
        let parentPath = "/" + parts.dropLast().joined(separator: "/")
        var parent = FileHandle(fd: open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
        if parent.fd < 0 {
            do { try FileIO.makeDirectories(parentPath, mode: 0o755) } catch {
                throw ActionFailure(.io, "cannot create \(parentPath): \(error)")
            }
            parent = FileHandle(fd: open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
            guard parent.fd >= 0 else { throw ActionFailure(.io, "cannot open \(parentPath): \(SystemError.current("open"))") }
        }
        let name = parts.last!
        if mkdirat(parent.fd, name, mode) != 0 && errno != EEXIST {
            throw ActionFailure(.io, "cannot create \(path): \(SystemError.current("mkdir"))")
        }
        let fd = openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw ActionFailure(.io, "cannot open \(path) (a symlink or not a directory?): \(SystemError.current("open"))")
        }
        handle = FileHandle(fd: fd)
        self.path = path
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ActionFailure(.io, "cannot stat \(path): \(SystemError.current("stat"))") }
        guard st.st_uid == geteuid() else { throw ActionFailure(.io, "\(path) is owned by uid \(st.st_uid), not by this process") }
        guard fchmod(fd, mode) == 0 else { throw ActionFailure(.io, "cannot chmod \(path): \(SystemError.current("chmod"))") }
        if requireMemoryFileSystem {
            var fs = statfs()
            guard fstatfs(fd, &fs) == 0 else { throw ActionFailure(.io, "cannot statfs \(path): \(SystemError.current("statfs"))") }
            let type = Int(fs.f_type)
            guard type == Self.tmpfsMagic || type == Self.ramfsMagic else {
                throw ActionFailure(.io, "\(path) is not on tmpfs or ramfs (file system type 0x\(String(type, radix: 16))); a secret written there could reach a disk")
            }
        }
    }

    /// Writes (or replaces) a file in the directory, atomically.
    @discardableResult
    public func write(_ name: String, _ contents: SecureBytes, mode: mode_t) throws(ActionFailure) -> WriteOutcome {
        try contents.withUnsafeBytes { (raw) throws(ActionFailure) in
            try SafeTree.write(in: handle, name: name, displayPath: path + "/" + name, raw,
                               attributes: FileAttributes(mode: mode, uid: geteuid(), gid: getegid()), replace: true)
        }
    }

    /// Overwrites a regular file with zeros, syncs it and unlinks it. Returns
    /// false when there was no such file. A symlink is only unlinked.
    @discardableResult
    public func wipeAndRemove(_ name: String) throws(ActionFailure) -> Bool {
        do { return try FileIO.wipeAndRemove(at: handle.fd, name) != .absent } catch {
            throw ActionFailure(.io, "cannot \(error.operation == "stat" ? "stat" : "remove") \(path)/\(name): \(error)")
        }
    }
}

/// Compares two buffers in time that depends only on their lengths.
func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
