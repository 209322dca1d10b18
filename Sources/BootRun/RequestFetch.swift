#if canImport(Glibc)
import Glibc
#endif
import SEBase
import SecretPolicy
import SEDevices

/// Step 2 of the boot run: find the request volume, mount it read-only into
/// a private directory, read the request directory once (no symlinks,
/// bounded), keep a copy on tmpfs, unmount. Everything after this step works
/// on the bytes read here, so the host cannot swap a file between the check
/// and the submission.
public struct FetchedRequests: Sendable {
    public var set: RequestSet
    /// The device (volume) or directory the requests came from.
    public var source: String
    public var filesystem: String?
    /// The tmpfs copy (mode 0700), in the run directory.
    public var copyDirectory: String
}

public enum RequestFetch {
    /// Mount flags: read-only, and nothing on the volume may become a device,
    /// a set-uid program or an executable.
    static let mountFlags: UInt = 1 /* MS_RDONLY */ | 2 /* MS_NOSUID */ | 4 /* MS_NODEV */ | 8 /* MS_NOEXEC */
    static let fallbackTypes = ["ext4", "ext3", "ext2", "vfat", "iso9660", "xfs", "btrfs", "squashfs", "erofs"]

    /// Reads the requests straight from a directory (`--requests DIR`, or a
    /// directory that stands in for the volume).
    public static func fromDirectory(_ path: String, policy: Policy, runDirectory: String) throws -> FetchedRequests {
        let dir: FileHandle
        do { dir = try FileIO.openDirectory(path) } catch {
            throw BootFailure(.input, step: "fetch", "cannot open the request directory \(path): \(error)")
        }
        return try read(dir, displayPath: path, source: path, filesystem: nil, policy: policy, runDirectory: runDirectory)
    }

    /// Finds, mounts, reads and unmounts the policy's request volume.
    public static func fromVolume(_ spec: VolumeSpec, policy: Policy, runDirectory: String, wait: Double,
                                  log: BootLog) throws -> FetchedRequests {
        log.info("waiting up to \(Int(wait)) s for the request volume \(spec)")
        guard let device = BlockDevices.waitFor(spec, timeout: wait) else {
            throw BootFailure(.timeout, step: "fetch",
                "the request volume \(spec) did not appear within \(Int(wait)) s (is the disk attached? check `blkid`)")
        }
        let mountPoint = runDirectory + "/volume"
        mkdir(mountPoint, 0o700)
        var mounted = false
        defer {
            if mounted && umount2(mountPoint, 0) != 0 { _ = umount2(mountPoint, 2 /* MNT_DETACH */) }
            rmdir(mountPoint)
        }
        let fs = try mountReadOnly(device, at: mountPoint)
        mounted = true
        log.info("mounted \(device) (\(fs)) read-only, nosuid, nodev, noexec")
        let root: FileHandle
        let dir: FileHandle
        do {
            root = try FileIO.openDirectory(mountPoint)
            dir = try FileIO.openDirectory(beneath: root, relativePath: policy.requests.directory,
                                           displayPath: "\(spec):\(policy.requests.directory)")
        } catch {
            throw BootFailure(.input, step: "fetch",
                "cannot open \(policy.requests.directory) on \(spec) (a symlink or '..' on the way is refused): \(error)")
        }
        return try read(dir, displayPath: "\(spec):\(policy.requests.directory)", source: device, filesystem: fs,
                        policy: policy, runDirectory: runDirectory)
    }

    static func read(_ dir: FileHandle, displayPath: String, source: String, filesystem: String?, policy: Policy,
                     runDirectory: String) throws -> FetchedRequests {
        let set: RequestSet
        do {
            set = try RequestSet.load(directory: dir, displayPath: displayPath, rules: policy.requests,
                                      includeEBC: policy.trust.ebc != nil)
        } catch {
            throw BootFailure(.input, step: "fetch", "cannot read the request directory \(displayPath): \(error)")
        }
        let copy = runDirectory + "/requests"
        do {
            try RunDirectory.recreatePrivateDirectory(copy)
            for f in set.requests + set.policyFiles {
                // tmpfs in the initramfs: atomic is needed, durable is not.
                try FileIO.writeAtomically(copy + "/" + f.name, f.bytes, mode: 0o600, durable: false)
            }
        } catch {
            throw BootFailure(.io, step: "fetch", "cannot copy the requests to \(copy): \(error)")
        }
        return FetchedRequests(set: set, source: source, filesystem: filesystem, copyDirectory: copy)
    }

    static func mountReadOnly(_ device: String, at target: String) throws -> String {
        var candidates = fallbackTypes
        if let detected = BlockDevices.filesystemType(of: device) { candidates = [detected] }
        var lastErrno: Int32 = 0
        for fs in candidates {
            // Journalled file systems must not replay their journal: that
            // would write to the host's volume.
            let optionSets = ["ext3", "ext4", "xfs"].contains(fs) ? ["norecovery", ""] : [""]
            for opts in optionSets {
                if mount(device, target, fs, mountFlags, opts.isEmpty ? nil : opts) == 0 { return fs }
                lastErrno = errno
            }
        }
        throw BootFailure(.input, step: "fetch",
            "cannot mount \(device) read-only (tried \(candidates.joined(separator: ", "))): \(SystemError(errno: lastErrno, operation: "mount"))")
    }
}

/// The run directory (/run/se-secretd by default): on tmpfs, owned by root,
/// mode 0700. Holds the request copy, the journal and the report.
public enum RunDirectory {
    public static let defaultPath = "/run/se-secretd"

    public static func prepare(_ path: String) throws {
        try FileIO.makeDirectories(path, mode: 0o700)
        guard FileIO.kind(of: path) == .directory else {
            throw SystemError(errno: ENOTDIR, operation: "use as run directory", path: path)
        }
        chmod(path, 0o700)
    }

    /// Removes `path` and its files (one level) and creates it empty, 0700.
    static func recreatePrivateDirectory(_ path: String) throws {
        if let entries = try? FileIO.list(path) {
            for e in entries { unlink(path + "/" + e.name) }
            rmdir(path)
        }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw SystemError.current("mkdir", path: path) }
        chmod(path, 0o700)
    }
}
