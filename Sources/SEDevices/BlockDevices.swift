#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CBlkid
import SEBase
import SEVocabulary

/// Why a volume could not be found.
public enum BlockDeviceError: Error, Equatable, CustomStringConvertible {
    /// More than one block device carries the tag (after dropping devices
    /// that are only paths or members of another match, e.g. multipath).
    case ambiguous(VolumeSpec, [String])
    /// A `/dev/...` path that exists but is not a block device.
    case notABlockDevice(String)
    /// The deadline passed and the volume had not appeared.
    case timedOut(VolumeSpec, seconds: Double)

    public var description: String {
        switch self {
        case let .ambiguous(spec, paths):
            return "\(spec) names more than one block device (\(paths.joined(separator: ", "))); refusing to guess which one is meant"
        case let .notABlockDevice(path):
            return "\(path) is not a block device"
        case let .timedOut(spec, seconds):
            return "no block device with \(spec) appeared within \(formatSeconds(seconds))"
        }
    }
}

/// Finds block devices by `LABEL=`, `UUID=`, `PARTLABEL=`, `PARTUUID=` or a
/// `/dev` path, the way the policy names them, with libblkid.
///
/// Every block device the kernel lists in `<sysfs>/class/block` is probed
/// directly (no udev symlinks, no blkid cache file), so it works in an
/// initramfs with or without udev. Labels are compared exactly, UUIDs
/// without regard to letter case. A tag on two devices is an error
/// (`.ambiguous`), except that a device held by another matching device is
/// dropped: the paths of a multipath device carry the same UUID as the
/// device-mapper device on top of them, and that one is meant.
///
/// Typical use (the request volume of the boot run, the LUKS devices of
/// `se-secretd unlock`):
///
///     let devices = BlockDevices()
///     let path = try devices.waitFor(.label("SE-SECRETS"),
///                                    deadline: BlockDevices.deadline(afterSeconds: 30))
public struct BlockDevices: Sendable {
    /// Where the kernel's sysfs is (`/sys`).
    public let sysfsRoot: String
    /// Where device nodes are (`/dev`).
    public let devRoot: String
    /// How often `waitFor` looks again.
    public var pollInterval: Double = 0.2

    public init(sysfsRoot: String = "/sys", devRoot: String = "/dev") {
        self.sysfsRoot = sysfsRoot
        self.devRoot = devRoot
    }

    /// A deadline `seconds` from now, on the monotonic clock (nanoseconds of
    /// `MonotonicClock`), for `waitFor`.
    public static func deadline(afterSeconds seconds: Double) -> UInt64 {
        MonotonicClock.nanoseconds() + UInt64(max(0, seconds) * 1e9)
    }

    /// The device path for `spec` now, or nil when no device carries it (yet).
    /// A `.path` spec is returned as given when it is a block device (symlinks
    /// such as /dev/disk/by-id/… are followed).
    public func resolve(_ spec: VolumeSpec) throws(BlockDeviceError) -> String? {
        if case let .path(path) = spec {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            guard st.st_mode & S_IFMT == S_IFBLK else { throw .notABlockDevice(path) }
            return path
        }
        let found = candidates().filter { matches(spec, $0) }
        switch found.count {
        case 0: return nil
        case 1: return found[0].path
        default:
            let names = Set(found.map { $0.name })
            // Drop devices held by another match (multipath paths, members).
            let top = found.filter { m in !m.holders.contains(where: { names.contains($0) }) }
            if top.count == 1 { return top[0].path }
            throw .ambiguous(spec, found.map { $0.path }.sorted())
        }
    }

    /// Waits until `spec` resolves or the monotonic `deadline` (see
    /// `deadline(afterSeconds:)`) passes. Looks at least once.
    public func waitFor(_ spec: VolumeSpec, deadline: UInt64) throws(BlockDeviceError) -> String {
        let start = MonotonicClock.nanoseconds()
        while true {
            if let path = try resolve(spec) { return path }
            let now = MonotonicClock.nanoseconds()
            guard now < deadline else {
                throw .timedOut(spec, seconds: Double(now - start) / 1e9)
            }
            let nap = min(pollInterval, Double(deadline - now) / 1e9)
            var ts = timespec(tv_sec: Int(nap), tv_nsec: Int((nap - Double(Int(nap))) * 1e9))
            var left = timespec()
            while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
        }
    }

    // MARK: - The system's devices, without errors

    /// The device node for `spec` on this system (/sys, /dev), or nil when
    /// none carries it now — or more than one does (use the instance method
    /// to tell the two apart).
    public static func resolve(_ spec: VolumeSpec) -> String? {
        (try? BlockDevices().resolve(spec)) ?? nil
    }

    /// Polls until `spec` resolves or `timeout` seconds passed (udev may
    /// create the device late); nil on a timeout or an ambiguous tag.
    public static func waitFor(_ spec: VolumeSpec, timeout: Double, interval: Double = 0.25) -> String? {
        var devices = BlockDevices()
        devices.pollInterval = interval
        return try? devices.waitFor(spec, deadline: deadline(afterSeconds: timeout))
    }

    /// The file-system type libblkid detects on `device` ("ext4", "vfat", ...).
    public static func filesystemType(of device: String) -> String? {
        guard let probe = blkid_new_probe_from_filename(device) else { return nil }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, Int32(BLKID_SUBLKS_TYPE))
        guard blkid_do_safeprobe(probe) == 0 else { return nil }
        var value: UnsafePointer<CChar>? = nil
        var len = 0
        guard blkid_probe_lookup_value(probe, "TYPE", &value, &len) == 0, let v = value else { return nil }
        return String(cString: v)
    }

    // MARK: - Probing

    /// What libblkid says about one device.
    struct Probed {
        let name: String
        let path: String
        let holders: [String]
        var label: String?
        var uuid: String?
        var partLabel: String?
        var partUUID: String?
    }

    func matches(_ spec: VolumeSpec, _ p: Probed) -> Bool {
        func same(_ a: String?, _ b: String) -> Bool { a.map { $0.lowercased() == b.lowercased() } ?? false }
        switch spec {
        case let .label(v): return p.label == v
        case let .uuid(v): return same(p.uuid, v)
        case let .partLabel(v): return p.partLabel == v
        case let .partUUID(v): return same(p.partUUID, v)
        case let .path(v): return p.path == v
        }
    }

    /// Every non-empty block device of sysfs, probed.
    func candidates() -> [Probed] {
        let classDir = sysfsRoot + "/class/block"
        guard let entries = try? FileIO.list(classDir, limit: 16384) else { return [] }
        var out: [Probed] = []
        for e in entries {
            let name = e.name
            guard PathRules.isPlainFileName(name) else { continue }
            let sys = classDir + "/" + name
            // A size of 0 sectors: an empty loop device or a drive without media.
            if let size = readSmallFile(sys + "/size").flatMap({ Int($0) }), size == 0 { continue }
            let holders = (try? FileIO.list(sys + "/holders", limit: 4096))?.map(\.name) ?? []
            // sysfs writes '/' in device names as '!' (cciss!c0d0 is /dev/cciss/c0d0).
            let path = devRoot + "/" + name.replacingAll("!", with: "/")
            if var p = probe(path) {
                p = Probed(name: name, path: path, holders: holders, label: p.label, uuid: p.uuid,
                           partLabel: p.partLabel, partUUID: p.partUUID)
                out.append(p)
            }
        }
        return out
    }

    /// Reads LABEL, UUID, PART_ENTRY_NAME and PART_ENTRY_UUID of one device.
    func probe(_ path: String) -> Probed? {
        guard let pr = blkid_new_probe_from_filename(path) else { return nil }
        defer { blkid_free_probe(pr) }
        blkid_probe_enable_superblocks(pr, 1)
        blkid_probe_set_superblocks_flags(pr, Int32(BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE))
        blkid_probe_enable_partitions(pr, 1)
        blkid_probe_set_partitions_flags(pr, Int32(BLKID_PARTS_ENTRY_DETAILS))
        // 0: found something, 1: nothing, -2: ambiguous superblocks, -1: error.
        guard blkid_do_safeprobe(pr) == 0 else { return nil }
        func value(_ key: String) -> String? {
            var data: UnsafePointer<CChar>? = nil
            var len = 0
            guard blkid_probe_lookup_value(pr, key, &data, &len) == 0, let d = data else { return nil }
            return String(cString: d)
        }
        return Probed(name: "", path: path, holders: [], label: value("LABEL"), uuid: value("UUID"),
                      partLabel: value("PART_ENTRY_NAME"), partUUID: value("PART_ENTRY_UUID"))
    }

    func readSmallFile(_ path: String) -> String? {
        guard let bytes = try? FileIO.read(path, limit: 4096) else { return nil }
        var s = String(decoding: bytes, as: UTF8.self)
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}

func formatSeconds(_ s: Double) -> String {
    let tenths = Int((s * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}

extension String {
    func replacingAll(_ c: Character, with replacement: String) -> String {
        var out = ""
        for ch in self { if ch == c { out += replacement } else { out.append(ch) } }
        return out
    }
}
