import Glibc
@testable import SecretActions

/// A DM_TABLE_STATUS reply written byte by byte as the kernel writes it
/// (drivers/md/dm-ioctl.c, retrieve_status): struct dm_ioctl (312 bytes,
/// native byte order), data_start 312, then per target a struct
/// dm_target_spec (40 bytes) and its NUL-terminated parameters; `next` is
/// the 8-aligned offset of the following spec from the FIRST spec, and
/// data_size ends right after the last NUL (unaligned).
struct KernelTable {
    struct Target {
        var start: UInt64 = 0
        var length: UInt64 = 2_048_000
        var type = "crypt"
        var params: String
    }
    var name = "root"
    var uuid = ""
    var major: UInt32 = 253
    var minor: UInt32 = 0
    var targets: [Target]

    /// One crypt target: `<cipher> <key> 0 <backing> <offset>`.
    static func crypt(_ cipher: String, key: String = KernelTable.markerKey, backing: String = "252:16", offset: UInt64 = 32768,
                      name: String = "root", extra: String = "") -> KernelTable {
        KernelTable(name: name, targets: [Target(params: "\(cipher) \(key) 0 \(backing) \(offset)\(extra)")])
    }

    /// A recognisable "key": it must never show up in what the parser returns or throws.
    static let markerKey = "6b65796b65796b65796b65796b65796b" + "4d41524b45524d41524b45524d41524b"

    /// Overrides applied after layout (hostile replies).
    var nextOverride: [Int: UInt32] = [:]
    var dataSizeDelta = 0
    var targetCountOverride: UInt32? = nil
    var extraFlags: UInt32 = 0

    static func put<T: FixedWidthInteger>(_ v: T, _ b: inout [UInt8], at: Int) {
        withUnsafeBytes(of: v) { for (i, x) in $0.enumerated() { b[at + i] = x } }
    }

    /// The reply in a buffer of `capacity` bytes (DM_BUFFER_FULL_FLAG and
    /// fewer targets when it does not fit, as the kernel does).
    func bytes(capacity: Int = 16 << 10) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: capacity)
        let start = 312
        var flags: UInt32 = (1 << 4) | (1 << 15) | (1 << 5) | extraFlags   // STATUS_TABLE | SECURE_DATA in, ACTIVE_PRESENT out
        var out = 0, used = 0, count: UInt32 = 0
        var specAt: [Int] = []
        for t in targets {
            let params = Array(t.params.utf8) + [0]
            if start + out + 40 + params.count > capacity { flags |= 1 << 8; break }
            let at = start + out
            Self.put(t.start, &b, at: at)
            Self.put(t.length, &b, at: at + 8)
            Self.put(Int32(0), &b, at: at + 16)
            for (i, c) in Array(t.type.utf8).prefix(15).enumerated() { b[at + 24 + i] = c }
            for (i, c) in params.enumerated() { b[at + 40 + i] = c }
            out += 40 + params.count
            used = start + out
            out = (out + 7) & ~7
            Self.put(UInt32(out), &b, at: at + 20)
            specAt.append(at)
            count += 1
        }
        for (i, n) in nextOverride where i < specAt.count { Self.put(n, &b, at: specAt[i] + 20) }
        Self.put(UInt32(4), &b, at: 0)
        Self.put(UInt32(47), &b, at: 4)
        Self.put(UInt32((used == 0 ? start : used) + dataSizeDelta), &b, at: 12)
        Self.put(UInt32(start), &b, at: 16)
        Self.put(targetCountOverride ?? count, &b, at: 20)
        Self.put(flags, &b, at: 28)
        let dev = UInt64((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12))
        Self.put(dev, &b, at: 40)
        for (i, c) in Array(name.utf8).prefix(127).enumerated() { b[48 + i] = c }
        for (i, c) in Array(uuid.utf8).prefix(128).enumerated() { b[176 + i] = c }
        return b
    }

    /// A fake DM_TABLE_STATUS that answers with this table for any lookup
    /// (the reply's dev and name are the ones asked for, as the kernel's
    /// would be, unless `answerAs` says otherwise).
    func status(answerAsAsked: Bool = true) -> DMTable.TableStatus {
        let me = self
        return { lookup, buffer in
            var t = me
            if answerAsAsked {
                switch lookup {
                case let .name(n): t.name = n
                case let .device(major, minor): t.major = major; t.minor = minor
                }
            }
            let b = t.bytes(capacity: buffer.count)
            buffer.copyBytes(from: b)
            return 0
        }
    }

    /// What the kernel says for a device that is not a mapping.
    static let noSuchMapping: DMTable.TableStatus = { _, _ in -ENXIO }
}
