#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CBlkid
import SEBase

/// Why the results device was refused or could not be written. `rule` is the
/// stable name (docs/results.md, "Writing the results device and the console").
public struct ResultsDeviceError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable, CaseIterable {
        /// Not a block device (a regular file, a character device, a FIFO, …).
        case notABlockDevice = "not-a-block-device"
        /// open(O_EXCL) said EBUSY: mounted, mapped by device-mapper, an md
        /// member, or held by another exclusive opener.
        case inUse = "in-use"
        /// Smaller than `ResultsDevice.minimumSize`.
        case tooSmall = "too-small"
        /// The first 4096 bytes are neither all zero nor start with the record's magic.
        case notBlank = "not-blank"
        /// libblkid finds a file-system, RAID, crypto or partition-table signature.
        case signatureFound = "signature-found"
        /// libblkid could not probe the device (an I/O error): refused, not guessed.
        case probeFailed = "probe-failed"
        /// What `write` was given does not start with the record's magic.
        case notARecord = "not-a-record"
        /// The record is larger than the device or than the record format's bound.
        case recordTooLarge = "record-too-large"
        /// The bytes read back after the write are not the bytes written.
        case verifyFailed = "verify-failed"
        /// A system call failed (open, read, write, fsync); `systemError` says which.
        case ioError = "io-error"
    }

    public let rule: Rule
    /// The device's path as given to `open`.
    public let device: String
    public let message: String
    public let systemError: SystemError?

    public init(_ rule: Rule, device: String, _ message: String, systemError: SystemError? = nil) {
        self.rule = rule
        self.device = device
        self.message = message
        self.systemError = systemError
    }

    public var description: String { "results device \(device): \(message) [\(rule.rawValue)]" }
}

/// The results device: a small raw disk the host attaches, on which a boot
/// run leaves its results record (docs/results.md). The host owns the disk
/// and chooses which disk the name points at, so the guest writes only to a
/// disk that is *not in use and blank or ours*:
///
/// - opened `O_RDWR | O_EXCL`: a block device that is mounted, mapped by
///   device-mapper (LUKS), an md member or held by another exclusive opener
///   fails with EBUSY (`in-use`); while this value lives, its descriptor
///   holds the claim, so nothing in the guest can mount or map the disk
///   under it;
/// - a block device (`not-a-block-device`), of at least `minimumSize`
///   (`too-small`);
/// - its first 4096 bytes all zero or starting with the record's magic
///   (`not-blank`);
/// - libblkid (superblocks with bad checksums allowed, partition tables, GPT
///   even without a protective MBR) finds no signature anywhere on it
///   (`signature-found`): a LUKS2 disk whose first header was zeroed still
///   has its second one at 16 KiB, a whole disk whose partition is mounted
///   is not itself claimed but has a partition table.
///
/// Nothing on the device is parsed beyond the 4096-byte check, and it is
/// never mounted. The record's magic and bound are parameters rather than an
/// import of ResultsRecord: SEDevices stays free of libcrypto
/// (scripts/check-architecture.py), and the caller passes
/// `ResultsRecord.magic` / `ResultsRecord.maxSize`, their one home.
///
///     let device = try ResultsDevice.open(path: path, magic: ResultsRecord.magic,
///                                         maxRecordSize: ResultsRecord.maxSize)
///     try device.clear()            // at the start of the run
///     ...
///     try device.write(record.bytes) // at its end
public final class ResultsDevice {
    /// The least a results device must hold. A report alone is a few KiB;
    /// a record with an attestation response about 1.1 MB, and the largest
    /// record `maxRecordSize` (4 MiB for ResultsRecord): a device smaller than
    /// the record is refused by `write` (`record-too-large`).
    public static let minimumSize = 1 << 20
    /// The block at the start that is checked for blankness, cleared at the
    /// start of a run and written last.
    public static let headerBlock = 4096

    /// The device operations `write` and `clear` use; a seam for the tests
    /// (a failure between the two writes, the order of writes and syncs).
    struct IO {
        var pwrite: (_ fd: Int32, _ bytes: [UInt8], _ offset: Int) throws(SystemError) -> Void
        var fsync: (_ fd: Int32) throws(SystemError) -> Void

        static var system: IO {
            IO(pwrite: { (fd, bytes, offset) throws(SystemError) in
                var failure: SystemError? = nil
                bytes.withUnsafeBytes { b in
                    do throws(SystemError) { try FileIO.writeAll(fd, b, at: offset) } catch { failure = error }
                }
                if let failure { throw failure }
            },
            fsync: { (fd) throws(SystemError) in
                while Glibc.fsync(fd) != 0 {
                    if errno == EINTR { continue }
                    throw SystemError.current("fsync")
                }
            })
        }
    }

    public let path: String
    /// The device's size in bytes.
    public let size: Int
    /// The magic a record starts with.
    public let magic: [UInt8]
    /// The largest record `write` accepts (besides the device's size).
    public let maxRecordSize: Int
    let handle: FileHandle
    var io: IO

    init(path: String, handle: FileHandle, size: Int, magic: [UInt8], maxRecordSize: Int, io: IO) {
        self.path = path
        self.handle = handle
        self.size = size
        self.magic = magic
        self.maxRecordSize = maxRecordSize
        self.io = io
    }

    /// Opens the results device at `path` (a block device; symlinks such as
    /// /dev/disk/by-id/… are followed) and checks it (see the type's
    /// documentation). `magic`: the record's magic (1 to 4096 bytes);
    /// `maxRecordSize`: the record format's bound.
    public static func open(path: String, magic: [UInt8], maxRecordSize: Int) throws(ResultsDeviceError) -> ResultsDevice {
        try open(path: path, magic: magic, maxRecordSize: maxRecordSize, allowRegularFile: false)
    }

    /// `allowRegularFile`: a regular file stands in for the device (tests
    /// only; internal, so no policy or command can reach it).
    static func open(path: String, magic: [UInt8], maxRecordSize: Int, allowRegularFile: Bool,
                     minimumSize: Int = ResultsDevice.minimumSize, io: IO = .system) throws(ResultsDeviceError) -> ResultsDevice {
        precondition(!magic.isEmpty && magic.count <= headerBlock, "a record's magic is 1 to 4096 bytes")
        func refuse(_ rule: ResultsDeviceError.Rule, _ message: String, _ e: SystemError? = nil) -> ResultsDeviceError {
            ResultsDeviceError(rule, device: path, message, systemError: e)
        }
        func allowed(_ mode: mode_t) -> Bool {
            let kind = FileKind(mode: mode)
            return kind == .blockDevice || (allowRegularFile && kind == .regular)
        }
        func failed(_ what: String, _ operation: String) -> ResultsDeviceError {
            let e = SystemError.current(operation)
            return refuse(.ioError, "cannot \(what): \(e)", SystemError(errno: e.errno, operation: operation, path: path))
        }
        func kindName(_ mode: mode_t) -> String {
            let kind = FileKind(mode: mode)
            return kind == .regular ? "regular file" : kind.rawValue
        }

        // Look before opening: opening a character device or a FIFO can
        // have effects of its own (a tty, /dev/uv, a FIFO's writer).
        var st = stat()
        guard stat(path, &st) == 0 else { throw failed("stat it", "stat") }
        guard allowed(st.st_mode) else {
            throw refuse(.notABlockDevice, "is a \(kindName(st.st_mode)), not a block device; refusing to write to it")
        }
        // O_EXCL without O_CREAT: on a block device, an exclusive claim
        // (EBUSY when mounted, mapped or claimed); ignored on regular files.
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC | O_EXCL | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            let e = SystemError.current("open", path: path)
            if e.errno == EBUSY {
                throw refuse(.inUse, "is in use (mounted, mapped by device-mapper, a RAID member or opened exclusively); refusing to write to it", e)
            }
            throw refuse(.ioError, "cannot open it: \(SystemError(errno: e.errno, operation: "open"))", e)
        }
        let handle = FileHandle(fd: fd)
        // The same check on what was opened (the name may have moved).
        guard fstat(fd, &st) == 0 else { throw failed("stat it", "stat") }
        guard allowed(st.st_mode) else {
            throw refuse(.notABlockDevice, "is a \(kindName(st.st_mode)), not a block device; refusing to write to it")
        }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw failed("find its size", "seek") }
        let size = Int(end)
        guard size >= minimumSize else {
            throw refuse(.tooSmall, "has \(size) bytes, fewer than the \(minimumSize) a results device must have")
        }

        let head: [UInt8]
        do { head = try readExactly(fd, count: headerBlock, at: 0) } catch {
            throw refuse(.ioError, "cannot read its first \(headerBlock) bytes: \(error)", error)
        }
        let blank = head.allSatisfy { $0 == 0 }
        guard blank || head.starts(with: magic) else {
            throw refuse(.notBlank, "its first \(headerBlock) bytes are neither zero nor a results record; refusing to overwrite them")
        }
        if let found = try signature(fd, path: path) {
            throw refuse(.signatureFound, "libblkid finds \(found) on it; refusing to overwrite it")
        }
        return ResultsDevice(path: path, handle: handle, size: size, magic: magic, maxRecordSize: maxRecordSize, io: io)
    }

    /// Zeroes the first 4096 bytes and syncs: at the start of a run, so that
    /// an earlier run's record (honest, but old) is not taken for this one's
    /// if this run never writes its own.
    public func clear() throws(ResultsDeviceError) {
        do {
            try io.pwrite(handle.fd, [UInt8](repeating: 0, count: Self.headerBlock), 0)
            try io.fsync(handle.fd)
        } catch {
            throw ResultsDeviceError(.ioError, device: path, "cannot clear its first \(Self.headerBlock) bytes: \(error)", systemError: error)
        }
    }

    /// Writes `record` at offset 0, header last, and reads it back.
    ///
    /// The record is zero-padded to a multiple of 4096 bytes (whole sectors
    /// of any logical sector size; no older bytes left in its last block),
    /// at most to the device's end. Bytes 4096… are written first and
    /// synced, then the first 4096 bytes, synced: after `clear()`, a write
    /// torn anywhere leaves the first block zero (or, torn inside it, a
    /// header whose checksum fails), never a valid header over a partial
    /// record. Then the page cache for the range is dropped
    /// (posix_fadvise DONTNEED: clean pages only, which they are after the
    /// sync) and the range is read back with pread and compared; a
    /// difference is `verify-failed`. This checks the guest's own path to
    /// the disk (a failed or lost write), not the host: the host can change
    /// the disk at any time after, which is why the tenant verifies the
    /// record's contents rather than trusting the device.
    public func write(_ record: [UInt8]) throws(ResultsDeviceError) {
        guard record.starts(with: magic) else {
            throw ResultsDeviceError(.notARecord, device: path, "what was to be written is not a results record (no magic); refusing to write it")
        }
        guard record.count <= maxRecordSize else {
            throw ResultsDeviceError(.recordTooLarge, device: path, "the record has \(record.count) bytes, more than the \(maxRecordSize) a record may have")
        }
        guard record.count <= size else {
            throw ResultsDeviceError(.recordTooLarge, device: path, "the record has \(record.count) bytes, more than the device's \(size)")
        }
        let block = Self.headerBlock
        let padded = min(size, (record.count + block - 1) / block * block)
        var bytes = record
        bytes.append(contentsOf: repeatElement(0, count: padded - record.count))
        do {
            if bytes.count > block {
                try io.pwrite(handle.fd, Array(bytes[block...]), block)
                try io.fsync(handle.fd)
            }
            try io.pwrite(handle.fd, Array(bytes[..<min(block, bytes.count)]), 0)
            try io.fsync(handle.fd)
        } catch {
            throw ResultsDeviceError(.ioError, device: path, "cannot write the record: \(error)", systemError: error)
        }
        _ = posix_fadvise(handle.fd, 0, off_t(bytes.count), POSIX_FADV_DONTNEED)
        let back: [UInt8]
        do { back = try Self.readExactly(handle.fd, count: bytes.count, at: 0) } catch {
            throw ResultsDeviceError(.ioError, device: path, "cannot read the record back: \(error)", systemError: error)
        }
        if let at = bytes.indices.first(where: { back[$0] != bytes[$0] }) {
            throw ResultsDeviceError(.verifyFailed, device: path,
                                     "the bytes read back differ from the record written (first at offset \(at))")
        }
    }

    /// The device's first `min(limit, size)` bytes (a record and whatever
    /// follows it; `ResultsRecord.parse` reads the record and ignores the
    /// rest). For tests and tools; the boot run only writes.
    public func read(limit: Int? = nil) throws(ResultsDeviceError) -> [UInt8] {
        let count = min(limit ?? maxRecordSize, size)
        do { return try Self.readExactly(handle.fd, count: max(0, count), at: 0) } catch {
            throw ResultsDeviceError(.ioError, device: path, "cannot read it: \(error)", systemError: error)
        }
    }

    // MARK: - Helpers

    /// `count` bytes at `offset` with pread, retrying short reads and EINTR;
    /// the end of the file before `count` bytes is EIO.
    static func readExactly(_ fd: Int32, count: Int, at offset: Int) throws(SystemError) -> [UInt8] {
        var failure: SystemError? = nil
        let out = [UInt8](unsafeUninitializedCapacity: count) { buf, done in
            done = 0
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = SystemError.current("read"); return }
                if n == 0 { failure = SystemError(errno: EIO, operation: "read (short)"); return }
                done += n
            }
        }
        if let failure { throw failure }
        return out
    }

    /// What libblkid finds on the open device ("crypto_LUKS (crypto)", "a
    /// dos partition table"), or nil when nothing. Names come from libblkid's
    /// own list of types, never from the device's bytes (no label, no UUID).
    static func signature(_ fd: Int32, path: String) throws(ResultsDeviceError) -> String? {
        guard let pr = blkid_new_probe() else {
            throw ResultsDeviceError(.probeFailed, device: path, "libblkid could not start a probe; refusing to write to it")
        }
        defer { blkid_free_probe(pr) }
        guard blkid_probe_set_device(pr, fd, 0, 0) == 0 else {
            throw ResultsDeviceError(.probeFailed, device: path, "libblkid could not probe it; refusing to write to it")
        }
        blkid_probe_enable_superblocks(pr, 1)
        blkid_probe_set_superblocks_flags(pr, Int32(BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_BADCSUM))
        blkid_probe_enable_partitions(pr, 1)
        blkid_probe_set_partitions_flags(pr, Int32(BLKID_PARTS_FORCE_GPT))
        // 0: found something, 1: nothing, -2: more than one signature, -1: error.
        let rc = blkid_do_safeprobe(pr)
        func value(_ key: String) -> String? {
            var data: UnsafePointer<CChar>? = nil
            var len = 0
            guard blkid_probe_lookup_value(pr, key, &data, &len) == 0, let d = data else { return nil }
            return String(cString: d)
        }
        switch rc {
        case 1:
            return nil
        case 0:
            if let type = value("TYPE") { return type + (value("USAGE").map { " (\($0))" } ?? "") }
            if let pt = value("PTTYPE") { return "a \(pt) partition table" }
            return "a signature"
        case -2:
            return "more than one file-system signature"
        default:
            throw ResultsDeviceError(.probeFailed, device: path, "libblkid could not probe it (a read failed); refusing to write to it")
        }
    }
}
