#if canImport(Glibc)
import Glibc
#endif
import CBlkid
import SEBase

/// The results device: a small blank disk the host attaches, onto which the
/// boot run writes its results record raw (docs/results.md). The disk is
/// the host's, so the guest writes it only when it holds nothing: all zero,
/// or an earlier results record. It never mounts it and never parses more
/// of it than the first sector's blank check.
///
/// - `open`: exclusive (O_EXCL on a block device fails while it is mounted
///   or held by device-mapper, md, another O_EXCL opener), a block device,
///   at least `minimumSize`, the first 4096 bytes all zero or starting with
///   the record's magic, and no signature libblkid knows (file system, RAID,
///   partition table) anywhere it looks.
/// - `clear`: zero the first 4096 bytes, fsync (at the start of the boot).
/// - `write`: bytes after the first sector first, fsync, then the first
///   sector (the header), fsync, read back and compare. A torn write leaves
///   no header, so no record at all rather than a half one.
public final class ResultsDevice: @unchecked Sendable {
    public static let sectorSize = 4096
    public static let minimumSize = 1 << 20
    /// The results record's magic (`ResultsRecord.magic`; SEDevices does not
    /// depend on that module, the test checks the two agree).
    public static let recordMagic: [UInt8] = Array("SE-SECRETD-RSLT1".utf8)

    public struct Refused: Error, Equatable, Sendable, CustomStringConvertible {
        public enum Rule: String, Sendable {
            case notABlockDevice = "not-a-block-device"
            case inUse = "in-use"
            case tooSmall = "too-small"
            case notBlank = "not-blank"
            case signatureFound = "signature-found"
            case unreadable
            case writeFailed = "write-failed"
            case readBackMismatch = "read-back-mismatch"
            case tooLarge = "too-large"
        }
        public let rule: Rule
        public let message: String
        public var description: String { "\(message) [\(rule.rawValue)]" }
    }

    /// The low-level I/O, replaceable by tests (a failure between the two writes).
    public struct IO: Sendable {
        public var pwrite: @Sendable (Int32, UnsafeRawBufferPointer, Int) -> Int
        public var fsync: @Sendable (Int32) -> Int32
        public init(pwrite: @escaping @Sendable (Int32, UnsafeRawBufferPointer, Int) -> Int,
                    fsync: @escaping @Sendable (Int32) -> Int32) {
            self.pwrite = pwrite
            self.fsync = fsync
        }
        public static let system = IO(pwrite: { fd, buf, off in Glibc.pwrite(fd, buf.baseAddress, buf.count, off_t(off)) },
                                      fsync: { Glibc.fsync($0) })
    }

    public let path: String
    public let size: Int
    let handle: FileHandle
    let io: IO

    init(path: String, handle: FileHandle, size: Int, io: IO) {
        self.path = path
        self.handle = handle
        self.size = size
        self.io = io
    }

    /// Opens the policy's results device. `allowRegularFile` is for tests
    /// (a file stands in for the disk); nothing the policy says reaches it.
    public static func open(path: String, allowRegularFile: Bool = false, io: IO = .system) throws(Refused) -> ResultsDevice {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_EXCL | O_NOCTTY)
        guard fd >= 0 else {
            let e = errno
            if e == EBUSY {
                throw Refused(rule: .inUse, message: "\(path) is in use (mounted, held by device-mapper or another opener); not writing it")
            }
            throw Refused(rule: .unreadable, message: "cannot open \(path): \(SystemError(errno: e, operation: "open"))")
        }
        let handle = FileHandle(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw Refused(rule: .unreadable, message: "cannot stat \(path): \(SystemError.current("fstat"))")
        }
        let size: Int
        switch st.st_mode & S_IFMT {
        case S_IFBLK:
            var bytes: UInt64 = 0
            guard ioctl(fd, 0x8008_1272 /* BLKGETSIZE64 */, &bytes) == 0 else {
                throw Refused(rule: .unreadable, message: "cannot read the size of \(path): \(SystemError.current("ioctl BLKGETSIZE64"))")
            }
            size = Int(clamping: bytes)
        case S_IFREG where allowRegularFile:
            size = Int(st.st_size)
        default:
            throw Refused(rule: .notABlockDevice, message: "\(path) is not a block device")
        }
        guard size >= minimumSize else {
            throw Refused(rule: .tooSmall, message: "\(path) has \(size) bytes; a results device needs at least \(minimumSize)")
        }
        let device = ResultsDevice(path: path, handle: handle, size: size, io: io)
        let first = try device.readAt(0, count: sectorSize)
        let blank = first.allSatisfy { $0 == 0 }
        guard blank || first.starts(with: recordMagic) else {
            throw Refused(rule: .notBlank, message: "\(path) is neither blank nor an earlier results record (its first 4096 bytes hold data); not writing it")
        }
        if let what = signature(path) {
            throw Refused(rule: .signatureFound, message: "\(path) carries a \(Printable.escape(what)) signature; a results device must be blank")
        }
        return device
    }

    /// What libblkid recognizes on `path` (a file system, RAID member or
    /// partition table), or nil.
    static func signature(_ path: String) -> String? {
        guard let probe = blkid_new_probe_from_filename(path) else { return nil }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, Int32(BLKID_SUBLKS_TYPE | BLKID_SUBLKS_BADCSUM))
        blkid_probe_enable_partitions(probe, 1)
        blkid_probe_set_partitions_flags(probe, Int32(BLKID_PARTS_MAGIC))
        // 0: found something, 1: nothing, -2: ambiguous (two signatures), -1: error.
        let rc = blkid_do_fullprobe(probe)
        if rc == 1 { return nil }
        if rc < 0 { return "unreadable or ambiguous" }
        for key in ["TYPE", "PTTYPE"] {
            var value: UnsafePointer<CChar>? = nil
            var len = 0
            if blkid_probe_lookup_value(probe, key, &value, &len) == 0, let v = value { return String(cString: v) }
        }
        return "unknown"
    }

    /// Zeroes the first sector and flushes: no record of an earlier boot
    /// stays readable.
    public func clear() throws(Refused) {
        try writeAt(0, [UInt8](repeating: 0, count: Self.sectorSize))
        try flush()
    }

    /// Writes `record` (padded with zeros to whole sectors): the body first,
    /// the header last, each flushed; then reads it back.
    public func write(_ record: [UInt8]) throws(Refused) {
        let padded = record + [UInt8](repeating: 0, count: (Self.sectorSize - record.count % Self.sectorSize) % Self.sectorSize)
        guard padded.count <= size else {
            throw Refused(rule: .tooLarge, message: "the record has \(record.count) bytes, more than \(path) holds (\(size))")
        }
        if padded.count > Self.sectorSize {
            try writeAt(Self.sectorSize, Array(padded[Self.sectorSize...]))
            try flush()
        }
        try writeAt(0, Array(padded[0..<Self.sectorSize]))
        try flush()
        // The page cache may answer the read; the flush has reached the disk.
        _ = posix_fadvise(handle.fd, 0, off_t(padded.count), Int32(POSIX_FADV_DONTNEED))
        let back = try readAt(0, count: record.count)
        guard back == record else {
            throw Refused(rule: .readBackMismatch, message: "\(path) does not read back what was written")
        }
    }

    /// The first `limit` bytes (at most the device's size).
    public func read(limit: Int) throws(Refused) -> [UInt8] { try readAt(0, count: min(limit, size)) }

    func readAt(_ offset: Int, count: Int) throws(Refused) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(handle.fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw Refused(rule: .unreadable, message: "cannot read \(path) at \(offset + done): \(n == 0 ? "end of device" : "\(SystemError.current("pread"))")")
            }
            done += n
        }
        return out
    }

    func writeAt(_ offset: Int, _ bytes: [UInt8]) throws(Refused) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { io.pwrite(handle.fd, UnsafeRawBufferPointer(rebasing: $0[done...]), offset + done) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw Refused(rule: .writeFailed, message: "cannot write \(path) at \(offset + done): \(SystemError.current("pwrite"))")
            }
            done += n
        }
    }

    func flush() throws(Refused) {
        guard io.fsync(handle.fd) == 0 else {
            throw Refused(rule: .writeFailed, message: "cannot flush \(path): \(SystemError.current("fsync"))")
        }
    }
}

/// Lines to the console: /dev/console at boot (a file in tests), one write
/// per line, a short pause between lines so a slow serial line and the
/// host's log collector keep up.
public enum ConsoleOutput {
    /// Writes each line and "\n"; returns how many were written.
    public static func write(lines: [String], path: String, pause: () -> Void) throws(SystemError) -> Int {
        let fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | O_APPEND)
        guard fd >= 0 else { throw SystemError.current("open", path: path) }
        let handle = FileHandle(fd: fd)
        var written = 0
        for (i, line) in lines.enumerated() {
            if i > 0 { pause() }
            let bytes = Array((line + "\n").utf8)
            do {
                try bytes.withUnsafeBytes { try FileIO.writeAll(handle.fd, $0) }
            } catch {
                throw SystemError(errno: EIO, operation: "write", path: path)
            }
            written += 1
        }
        return written
    }

    /// Whether user-space writes to /dev/kmsg are not rate-limited
    /// (`printk.devkmsg=on`, /proc/sys/kernel/printk_devkmsg = "on"); by
    /// default ("ratelimit") a burst of lines loses most of them.
    public static func kmsgAcceptsBursts(procRoot: String = "/proc") -> Bool {
        guard let bytes = try? FileIO.read(procRoot + "/sys/kernel/printk_devkmsg", limit: 64) else { return false }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text == "on"
    }
}
