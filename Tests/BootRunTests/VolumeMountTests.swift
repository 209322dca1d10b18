import Testing
import Foundation
import SEBase
import SecretPolicy
import SEDevices
import BootRun

/// The request volume through the `VolumeAccess` seam: libblkid probes real
/// ext4 images in a fake sysfs/dev tree (it reads regular files like
/// devices), and mount(2) is a recorder, so the tests need no root and no
/// loop device, yet see exactly which mount call the boot run makes.
final class MountRecorder: @unchecked Sendable {
    struct Call: Equatable { let device: String, target: String, type: String, flags: UInt, options: String? }
    var calls: [Call] = []
    /// What the fake mount answers: 0 (then it copies `content` into the
    /// mount point, as a real mount would show it) or an errno.
    var answer: Int32 = 0
    var content: String?
}

struct FakeVolumes {
    let root: String
    var sysfs: String { root + "/sys" }
    var dev: String { root + "/dev" }

    init(_ g: Guest) throws {
        root = g.dir + "/fake-devices"
        try FileManager.default.createDirectory(atPath: sysfs + "/class/block", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dev, withIntermediateDirectories: true)
    }

    /// Device NAME with an ext4 file system labelled `label`.
    func addExt4(_ name: String, label: String) throws {
        let sys = sysfs + "/class/block/" + name
        try FileManager.default.createDirectory(atPath: sys + "/holders", withIntermediateDirectories: true)
        try "8192\n".write(toFile: sys + "/size", atomically: true, encoding: .utf8)
        let image = dev + "/" + name
        #expect(sh(["/usr/bin/truncate", "-s", "4M", image]).status == 0)
        let mk = sh(["/usr/sbin/mkfs.ext4", "-q", "-F", "-L", label, image])
        try #require(mk.status == 0, "mkfs.ext4 failed: \(mk.out)")
    }

    func access(_ recorder: MountRecorder) -> VolumeAccess {
        VolumeAccess(
            devices: BlockDevices(sysfsRoot: sysfs, devRoot: dev),
            filesystemType: { BlockDevices.filesystemType(of: $0) },
            mount: { device, target, type, flags, options in
                recorder.calls.append(.init(device: device, target: target, type: type, flags: flags, options: options))
                guard recorder.answer == 0 else { return recorder.answer }
                if let c = recorder.content, let entries = try? FileIO.list(c) {
                    for e in entries {
                        try? FileIO.writeAtomically(target + "/" + e.name, (try? FileIO.read(c + "/" + e.name, limit: 1 << 20)) ?? [], mode: 0o644)
                    }
                }
                return 0
            },
            unmount: { target in
                for e in (try? FileIO.list(target)) ?? [] { unlink(target + "/" + e.name) }
            })
    }
}

let haveMkfsExt4 = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.ext4")

@Suite struct VolumeMount {
    static let readOnly: UInt = 1 | 2 | 4 | 8  // MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC

    func config(_ g: Guest, _ fake: FakeVolumes, _ recorder: MountRecorder, filesystems: [String]? = nil) throws -> BootConfiguration {
        let policy = try g.policyVariant("policy-fake-volume.json") { m in
            var req: [(String, JSON)] = [("volume", .string("LABEL=SE-SECRETS")), ("wait_seconds", .int(10))]
            if let f = filesystems { req.append(("filesystems", .array(f.map { .string($0) }))) }
            replacing(&m, "requests", .object(req))
        }
        var c = g.config(policy: policy)
        c.requestsDirectory = nil
        c.volumeAccess = fake.access(recorder)
        return c
    }

    @Test(.enabled(if: haveMkfsExt4, "needs mkfs.ext4"))
    func ext4IsMountedOnceReadOnlyWithoutJournalReplay() throws {
        let g = try Guest("vol-ok")
        let fake = try FakeVolumes(g)
        try fake.addExt4("vda1", label: "SE-SECRETS")
        try fake.addExt4("vda2", label: "root")
        let rec = MountRecorder()
        rec.content = g.requests
        let (r, e) = g.boot(try config(g, fake, rec))
        #expect(r.succeeded, "\(e)")
        #expect(rec.calls == [.init(device: fake.dev + "/vda1", target: g.runDir + "/volume", type: "ext4",
                                    flags: Self.readOnly, options: "noload")])
        #expect(e.contains("mounted \(fake.dev)/vda1 (ext4) read-only, nosuid, nodev, noexec, noload"))
        #expect(try g.report()["requests_source"]?["filesystem"] == .string("ext4"))
    }

    @Test(.enabled(if: haveMkfsExt4, "needs mkfs.ext4"))
    func aFailedMountIsNotRetriedWithoutItsOptions() throws {
        let g = try Guest("vol-einval")
        let fake = try FakeVolumes(g)
        try fake.addExt4("vda1", label: "SE-SECRETS")
        let rec = MountRecorder()
        rec.answer = EINVAL
        let (r, e) = g.boot(try config(g, fake, rec))
        #expect(r.failure?.failureClass == .input, "\(e)")
        #expect(r.failure?.step == "fetch")
        #expect(rec.calls.count == 1, "one mount call, no fallback: \(rec.calls)")
        #expect(rec.calls.allSatisfy { $0.options == "noload" && $0.flags & 1 != 0 })
        #expect(r.failure?.message.contains("with noload") == true)
        #expect(r.failure?.message.contains("EINVAL") == true, "\(r.failure?.message ?? "")")
    }

    @Test(.enabled(if: haveMkfsExt4, "needs mkfs.ext4"))
    func aTypeOutsideTheAllowListIsNotMounted() throws {
        let g = try Guest("vol-type")
        let fake = try FakeVolumes(g)
        try fake.addExt4("vda1", label: "SE-SECRETS")
        let rec = MountRecorder()
        let (r, e) = g.boot(try config(g, fake, rec, filesystems: ["vfat", "iso9660"]))
        #expect(r.failure?.failureClass == .input, "\(e)")
        #expect(rec.calls.isEmpty)
        let m = r.failure?.message ?? ""
        #expect(m.contains(fake.dev + "/vda1") && m.contains("ext4") && m.contains("requests.filesystems"), "\(m)")
        #expect(try g.state().acceptedRequestTags.isEmpty)
    }

    @Test(.enabled(if: haveMkfsExt4, "needs mkfs.ext4"))
    func aLabelOnTwoDevicesIsItsOwnError() throws {
        let g = try Guest("vol-twice")
        let fake = try FakeVolumes(g)
        try fake.addExt4("vda1", label: "SE-SECRETS")
        try fake.addExt4("vdb", label: "SE-SECRETS")
        let rec = MountRecorder()
        let t0 = MonotonicClock.nanoseconds()
        let (r, e) = g.boot(try config(g, fake, rec))
        let seconds = Double(MonotonicClock.nanoseconds() - t0) / 1e9
        #expect(r.failure?.failureClass == .input, "\(e)")
        let m = r.failure?.message ?? ""
        #expect(m.contains("more than one block device") && m.contains(fake.dev + "/vda1") && m.contains(fake.dev + "/vdb"), "\(m)")
        #expect(!m.contains("did not appear"))
        #expect(seconds < 5, "an ambiguous label is known at the first look; no waiting for the deadline")
        #expect(rec.calls.isEmpty)
    }

    /// The no-replay option of each journalled type, from the kernel's
    /// file-system documentation (ext4.rst: noload; xfs.rst: norecovery;
    /// btrfs(5): nologreplay); types without a journal get none.
    @Test func noReplayOptionPerType() {
        #expect(RequestFetch.mountOptions(for: "ext4") == "noload")
        #expect(RequestFetch.mountOptions(for: "ext3") == "noload")
        #expect(RequestFetch.mountOptions(for: "xfs") == "norecovery")
        #expect(RequestFetch.mountOptions(for: "btrfs") == "nologreplay")
        for t in ["ext2", "vfat", "iso9660", "squashfs", "erofs"] { #expect(RequestFetch.mountOptions(for: t) == nil) }
        #expect(RequestFetch.mountFlags == Self.readOnly)
    }
}
