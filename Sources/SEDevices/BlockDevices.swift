#if canImport(Glibc)
import Glibc
#endif
import CBlkid
import SEBase
import SecretPolicy

/// Finds block devices the way the policy names them (LABEL=, UUID=,
/// PARTLABEL=, PARTUUID= or a /dev path) with libblkid, which probes the
/// devices itself when udev's /dev/disk/by-* links are not there (early boot,
/// containers).
public enum BlockDevices {
    /// The device node for `spec`, or nil if no such device exists now.
    public static func resolve(_ spec: VolumeSpec) -> String? {
        switch spec {
        case let .path(p):
            return FileIO.kind(of: p) == .blockDevice || isBlockDeviceFollowingLinks(p) ? p : nil
        case let .label(v): return evaluate("LABEL", v)
        case let .uuid(v): return evaluate("UUID", v)
        case let .partLabel(v): return evaluate("PARTLABEL", v)
        case let .partUUID(v): return evaluate("PARTUUID", v)
        }
    }

    /// Polls `resolve` until the device appears or `timeout` seconds passed
    /// (udev may create it late). Waits `interval` between attempts.
    public static func waitFor(_ spec: VolumeSpec, timeout: Double, interval: Double = 0.25) -> String? {
        let deadline = MonotonicClock.nanoseconds() + UInt64(max(0, timeout) * 1e9)
        while true {
            if let d = resolve(spec) { return d }
            if MonotonicClock.nanoseconds() >= deadline { return nil }
            var ts = timespec(tv_sec: Int(interval), tv_nsec: Int((interval - Double(Int(interval))) * 1e9))
            nanosleep(&ts, nil)
        }
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

    static func evaluate(_ tag: String, _ value: String) -> String? {
        // No cache file: a fresh probe every time (a stale cache could name
        // a device that is gone or one the host swapped).
        var cache: blkid_cache? = nil
        guard blkid_get_cache(&cache, "/dev/null") == 0 else { return nil }
        defer { blkid_put_cache(cache) }
        blkid_probe_all_new(cache)
        guard let dev = blkid_evaluate_tag(tag, value, &cache) else { return nil }
        defer { free(dev) }
        let path = String(cString: dev)
        return isBlockDeviceFollowingLinks(path) ? path : nil
    }

    static func isBlockDeviceFollowingLinks(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK
    }
}
