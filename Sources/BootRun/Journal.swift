#if canImport(Glibc)
import Glibc
#endif
import SEBase

/// Which requests this boot's ultravisor has accepted, kept in the run
/// directory (tmpfs: it lives exactly as long as the ultravisor's store).
/// A boot run that is restarted — by systemd, or after being killed between
/// submission and lock — reads it and does not add anything twice, so the
/// store and the secret-store hash converge to those of an uninterrupted run.
///
/// Write-ahead: a request's line is written and synced *before* it is
/// submitted, with the state `?`, and its first byte is overwritten in place
/// with `+` (accepted) or `-` (not accepted) afterwards. Writing the whole
/// line first means that a full /run (ENOSPC) or any other write error stops
/// the run before the ultravisor has acted, never after; overwriting one byte
/// of an existing line needs no new space. A `?` line is left only when the
/// process died between the ioctl and that one-byte write.
///
/// Each line: the state, the request's GCM tag in hex, a space, the file name.
public struct Journal: Sendable {
    public enum State: UInt8, Sendable {
        case pending = 0x3F   // "?"
        case added = 0x2B     // "+"
        case notAdded = 0x2D  // "-"
    }

    /// A reserved line, to be completed with `complete(_:as:)`.
    public struct Slot: Sendable {
        let offset: Int
        let index: Int
    }

    public let path: String
    public private(set) var entries: [(tag: [UInt8], state: State)] = []

    static let maxSize = 1 << 20

    public init(runDirectory: String) {
        path = runDirectory + "/journal"
        guard let bytes = try? FileIO.read(path, limit: Journal.maxSize) else { return }
        for line in bytes.split(separator: 0x0A) {
            guard let first = line.first, let state = State(rawValue: first) else { continue }
            let hex = line.dropFirst().prefix { $0 != 0x20 }
            if hex.count == 32, let tag = [UInt8](hex: String(decoding: hex, as: UTF8.self)) {
                entries.append((tag, state))
            }
        }
    }

    /// The last recorded state of a request, or nil when it was never tried.
    public func state(of tag: [UInt8]) -> State? {
        entries.last { $0.tag == tag }?.state
    }

    /// Appends and syncs a pending line for a request about to be
    /// submitted. On any error nothing of the line is left in the file.
    public mutating func reserve(tag: [UInt8], file: String) throws -> Slot {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SystemError.current("open", path: path) }
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw SystemError.current("seek", path: path) }
        guard end < Journal.maxSize else { throw SystemError(errno: EFBIG, operation: "append", path: path) }
        // File names come from the request volume: keep the line one line.
        let safeName = String(decoding: file.utf8.map { $0 < 0x20 || $0 == 0x7F ? 0x3F : $0 }, as: UTF8.self)
        let line = [State.pending.rawValue] + Array("\(tag.hex) \(safeName)\n".utf8)
        do { try line.withUnsafeBytes { try FileIO.writeAll(fd, $0, at: Int(end), path: path) } } catch {
            _ = ftruncate(fd, end)
            throw error
        }
        guard fsync(fd) == 0 else {
            let failure = SystemError.current("fsync", path: path)
            _ = ftruncate(fd, end)
            throw failure
        }
        entries.append((tag, .pending))
        return Slot(offset: Int(end), index: entries.count - 1)
    }

    /// Marks a reserved line as accepted or not; one byte overwritten in
    /// place, then synced.
    public mutating func complete(_ slot: Slot, as state: State) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw SystemError.current("open", path: path) }
        defer { close(fd) }
        try withUnsafeBytes(of: state.rawValue) { try FileIO.writeAll(fd, $0, at: slot.offset, path: path) }
        guard fsync(fd) == 0 else { throw SystemError.current("fsync", path: path) }
        entries[slot.index].state = state
    }
}
