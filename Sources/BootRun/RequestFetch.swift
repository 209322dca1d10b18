#if canImport(Glibc)
import Glibc
#endif
import SEBase
import SecretPolicy
import SEDevices
import SEVocabulary

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

/// How the boot run reaches the request volume: libblkid for finding it and
/// telling its type, mount(2) and umount2(2). A seam for tests, which cannot
/// mount (no root, no loop devices) but must see exactly what would be
/// mounted, and how.
public struct VolumeAccess: Sendable {
    public var devices: BlockDevices
    public var filesystemType: @Sendable (String) -> String?
    /// mount(device, target, type, flags, options): 0, or the errno.
    public var mount: @Sendable (String, String, String, UInt, String?) -> Int32
    public var unmount: @Sendable (String) -> Void

    public init(devices: BlockDevices, filesystemType: @escaping @Sendable (String) -> String?,
                mount: @escaping @Sendable (String, String, String, UInt, String?) -> Int32,
                unmount: @escaping @Sendable (String) -> Void) {
        self.devices = devices
        self.filesystemType = filesystemType
        self.mount = mount
        self.unmount = unmount
    }

    public static let system = VolumeAccess(
        devices: BlockDevices(),
        filesystemType: { BlockDevices.filesystemType(of: $0) },
        mount: { device, target, type, flags, options in
            Glibc.mount(device, target, type, flags, options) == 0 ? 0 : errno
        },
        unmount: { target in if umount2(target, 0) != 0 { _ = umount2(target, 2 /* MNT_DETACH */) } })
}

public enum RequestFetch {
    /// Mount flags: read-only, and nothing on the volume may become a device,
    /// a set-uid program or an executable.
    public static let mountFlags: UInt = 1 /* MS_RDONLY */ | 2 /* MS_NOSUID */ | 4 /* MS_NODEV */ | 8 /* MS_NOEXEC */

    /// The mount options of each type se-secretd mounts: with a journal (or
    /// a log tree), never replay it — a replay writes to the host's volume
    /// even on a read-only mount. There is no second try without them.
    public static func mountOptions(for type: String) -> String? {
        switch type {
        case "ext3", "ext4": return "noload"          // ext4: do not load (replay) the journal
        case "xfs": return "norecovery"               // xfs: no log recovery (needs ro)
        case "btrfs": return "nologreplay"            // btrfs: no log-tree replay (needs ro)
        default: return nil                           // ext2, vfat, iso9660, squashfs, erofs: nothing to replay
        }
    }

    /// Reads the requests straight from a directory (`--requests DIR`, or a
    /// directory that stands in for the volume).
    public static func fromDirectory(_ path: String, policy: Policy, runDirectory: String,
                                     beforeRead: (String) -> Void = { _ in }) throws -> FetchedRequests {
        let dir: FileHandle
        do { dir = try FileIO.openDirectory(path) } catch {
            throw BootFailure(.input, step: "fetch", "cannot open the request directory \(path): \(error)")
        }
        return try read(dir, displayPath: path, source: path, filesystem: nil, policy: policy, runDirectory: runDirectory,
                        beforeRead: beforeRead)
    }

    /// Finds, mounts, reads and unmounts the policy's request volume.
    public static func fromVolume(_ spec: VolumeSpec, policy: Policy, runDirectory: String, wait: Double,
                                  log: BootLog, access: VolumeAccess = .system,
                                  beforeRead: (String) -> Void = { _ in }) throws -> FetchedRequests {
        log.info("waiting up to \(Int(wait)) s for the request volume \(spec)")
        let device: String
        do {
            var devices = access.devices
            devices.pollInterval = 0.25
            device = try devices.waitFor(spec, deadline: BlockDevices.deadline(afterSeconds: wait))
        } catch {
            switch error {
            case .timedOut:
                throw BootFailure(.timeout, step: "fetch",
                    "the request volume \(spec) did not appear within \(Int(wait)) s (is the disk attached? check `blkid`)")
            case .ambiguous, .notABlockDevice:
                // Two volumes with the policy's label: the host offers a
                // choice, and se-secretd does not take it.
                throw BootFailure(.input, step: "fetch", "the request volume: \(error)")
            }
        }
        let mountPoint = runDirectory + "/volume"
        mkdir(mountPoint, 0o700)
        var mounted = false
        defer {
            if mounted { access.unmount(mountPoint) }
            rmdir(mountPoint)
        }
        let fs = try mountReadOnly(device, at: mountPoint, allowed: policy.requests.filesystems, access: access)
        mounted = true
        log.info("mounted \(device) (\(fs)) read-only, nosuid, nodev, noexec\(mountOptions(for: fs).map { ", " + $0 } ?? "")")
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
                        policy: policy, runDirectory: runDirectory, beforeRead: beforeRead)
    }

    static func read(_ dir: FileHandle, displayPath: String, source: String, filesystem: String?, policy: Policy,
                     runDirectory: String, beforeRead: (String) -> Void) throws -> FetchedRequests {
        let set: RequestSet
        do {
            set = try RequestSet.load(directory: dir, displayPath: displayPath, rules: policy.requests,
                                      includeEBC: policy.trust.ebc != nil, attestation: policy.attestation, beforeRead: beforeRead)
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

    /// Mounts `device` with the type libblkid detects, if the policy allows
    /// that type: read-only, nosuid, nodev, noexec and the type's no-replay
    /// option. Exactly one mount call: no guessing of types, no retry
    /// without the options.
    static func mountReadOnly(_ device: String, at target: String, allowed: [String], access: VolumeAccess) throws -> String {
        guard let detected = access.filesystemType(device) else {
            throw BootFailure(.input, step: "fetch",
                "libblkid finds no (or more than one) file-system signature on the request volume \(device); not mounting it")
        }
        let fs = Printable.escape(detected)
        guard allowed.contains(detected), Policy.RequestSource.knownFilesystems.contains(detected) else {
            throw BootFailure(.input, step: "fetch",
                "the request volume \(device) holds a \(fs) file system, which the policy does not allow (requests.filesystems: \(allowed.joined(separator: ", "))); not mounting it")
        }
        let options = mountOptions(for: detected)
        let rc = access.mount(device, target, detected, mountFlags, options)
        guard rc == 0 else {
            throw BootFailure(.input, step: "fetch",
                "cannot mount \(device) (\(fs)) read-only\(options.map { " with " + $0 } ?? ""): \(SystemError(errno: rc, operation: "mount"))")
        }
        return detected
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
