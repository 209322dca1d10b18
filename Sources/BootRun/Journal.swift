#if canImport(Glibc)
import Glibc
#endif
import SEBase

/// Which requests this boot's ultravisor has accepted, kept in the run
/// directory (tmpfs: it lives exactly as long as the ultravisor's store).
/// A boot run that is restarted — by systemd, or after being killed between
/// submission and lock — reads it and does not add anything twice, so the
/// store and the secret-store hash converge to those of an uninterrupted run.
/// Each line: the request's GCM tag in hex, a space, the file name.
public struct Journal: Sendable {
    public let path: String
    public private(set) var tags: [[UInt8]] = []

    static let maxSize = 1 << 20

    public init(runDirectory: String) {
        path = runDirectory + "/journal"
        guard let bytes = try? FileIO.read(path, limit: Journal.maxSize) else { return }
        for line in bytes.split(separator: 0x0A) {
            let hex = line.prefix { $0 != 0x20 }
            if hex.count == 32, let tag = [UInt8](hex: String(decoding: hex, as: UTF8.self)) { tags.append(tag) }
        }
    }

    public func contains(_ tag: [UInt8]) -> Bool { tags.contains(tag) }

    /// Appends and syncs one accepted request.
    public mutating func record(tag: [UInt8], file: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SystemError.current("open", path: path) }
        defer { close(fd) }
        let line = Array("\(tag.hex) \(file)\n".utf8)
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == line.count else { throw SystemError.current("write", path: path) }
        guard fsync(fd) == 0 else { throw SystemError.current("fsync", path: path) }
        tags.append(tag)
    }
}
