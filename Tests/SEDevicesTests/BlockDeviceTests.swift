import Foundation
import Testing
import TestSupport
import SEBase
import SEVocabulary
@testable import SEDevices

func run(_ tool: String, _ args: [String]) -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return (-1, "") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func tool(_ name: String) -> String? {
    ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A fake sysfs class/block tree and /dev with ext4 image files in it: libblkid
/// probes regular files like devices, so resolution runs without root.
struct FakeDevices {
    let tmp: TempDir
    var root: String { tmp.path }
    var sysfs: String { root + "/sys" }
    var dev: String { root + "/dev" }

    init() throws {
        tmp = try TempDir("blk")
        try FileManager.default.createDirectory(atPath: root + "/sys/class/block", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/dev", withIntermediateDirectories: true)
    }

    /// A device NAME holding an ext4 file system with `label` and `uuid`.
    func add(_ name: String, label: String?, uuid: String, holders: [String] = [], size: Int = 8192) throws {
        let sys = sysfs + "/class/block/" + name
        try FileManager.default.createDirectory(atPath: sys + "/holders", withIntermediateDirectories: true)
        for h in holders { try FileManager.default.createDirectory(atPath: sys + "/holders/" + h, withIntermediateDirectories: true) }
        try "\(size)\n".write(toFile: sys + "/size", atomically: true, encoding: .utf8)
        let image = dev + "/" + name
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        let h = try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try h.truncate(atOffset: 4 << 20)
        try h.close()
        var args = ["-q", "-F", "-U", uuid]
        if let label { args += ["-L", label] }
        let r = run(tool("mkfs.ext4")!, args + [image])
        #expect(r.status == 0)
    }

    var devices: BlockDevices { BlockDevices(sysfsRoot: sysfs, devRoot: dev) }
}

let haveMkfs = tool("mkfs.ext4") != nil

@Suite struct BlockDeviceTests {
    @Test(.enabled(if: haveMkfs, "mkfs.ext4 (e2fsprogs) is needed to make test file systems"))
    func resolvesLabelsAndUUIDs() throws {
        let f = try FakeDevices()
        try f.add("vda1", label: "SE-SECRETS", uuid: "0f2a4b6c-1111-4222-8333-944455556666")
        try f.add("vda2", label: "root", uuid: "7d0b9d39-2f6c-4c1e-9a63-59c6b0d1a001")
        try f.add("vdb", label: nil, uuid: "11111111-2222-4333-8444-555555555555", size: 0)  // empty: skipped
        let d = f.devices
        #expect(try d.resolve(.label("SE-SECRETS")) == f.dev + "/vda1")
        #expect(try d.resolve(.label("root")) == f.dev + "/vda2")
        #expect(try d.resolve(.label("ROOT")) == nil, "labels are compared exactly")
        #expect(try d.resolve(.uuid("7D0B9D39-2F6C-4C1E-9A63-59C6B0D1A001")) == f.dev + "/vda2", "UUIDs ignore case")
        #expect(try d.resolve(.uuid("11111111-2222-4333-8444-555555555555")) == nil, "a device of size 0 is not probed")
        #expect(try d.resolve(.partLabel("root")) == nil)
        #expect(try d.waitFor(.label("root"), deadline: BlockDevices.deadline(afterSeconds: 0)) == f.dev + "/vda2")
    }

    @Test(.enabled(if: haveMkfs, "mkfs.ext4 (e2fsprogs) is needed to make test file systems"))
    func ambiguityAndHolders() throws {
        let f = try FakeDevices()
        try f.add("sda", label: "data", uuid: "aaaaaaaa-0000-4000-8000-000000000001", holders: ["dm-0"])
        try f.add("sdb", label: "data", uuid: "aaaaaaaa-0000-4000-8000-000000000001", holders: ["dm-0"])
        try f.add("dm-0", label: "data", uuid: "aaaaaaaa-0000-4000-8000-000000000001")
        // Multipath: the paths are held by the dm device that carries the same tag.
        #expect(try f.devices.resolve(.label("data")) == f.dev + "/dm-0")
        // Two unrelated devices with one label: refused, not guessed.
        try f.add("vdc", label: "twin", uuid: "bbbbbbbb-0000-4000-8000-000000000001")
        try f.add("vdd", label: "twin", uuid: "bbbbbbbb-0000-4000-8000-000000000002")
        #expect(throws: BlockDeviceError.ambiguous(.label("twin"), [f.dev + "/vdc", f.dev + "/vdd"])) {
            try f.devices.resolve(.label("twin"))
        }
    }

    @Test func pathsAndDeadlines() throws {
        let f = try FakeDevices()
        _ = FileManager.default.createFile(atPath: f.dev + "/file", contents: Data([1]))
        #expect(throws: BlockDeviceError.notABlockDevice(f.dev + "/file")) { try f.devices.resolve(.path(f.dev + "/file")) }
        #expect(try f.devices.resolve(.path(f.dev + "/missing")) == nil)
        var d = f.devices
        d.pollInterval = 0.05
        let start = Date()
        var timedOut = false
        do {
            _ = try d.waitFor(.label("never"), deadline: BlockDevices.deadline(afterSeconds: 0.3))
        } catch {
            if case let .timedOut(spec, _) = error { timedOut = spec == .label("never") }
            #expect(error.description.contains("LABEL=never"))
        }
        #expect(timedOut)
        #expect(Date().timeIntervalSince(start) >= 0.29 && Date().timeIntervalSince(start) < 5)
    }

    static let canUseLoop: Bool = getuid() == 0 && haveMkfs && tool("losetup") != nil &&
        FileManager.default.fileExists(atPath: "/dev/loop-control")

    /// The real thing: an ext4 image on a loop device, found by its label
    /// through the kernel's /sys and /dev.
    @Test(.enabled(if: canUseLoop, "needs root, losetup, mkfs.ext4 and /dev/loop-control"))
    func findsALoopDeviceByLabel() throws {
        let tmp = try TempDir("loop")
        let dir = tmp.path
        let image = dir + "/vol.img"
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        let h = try Foundation.FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try h.truncate(atOffset: 8 << 20)
        try h.close()
        let label = "SE-T-" + String(UUID().uuidString.prefix(8))
        #expect(run(tool("mkfs.ext4")!, ["-q", "-F", "-L", label, image]).status == 0)
        let attach = run(tool("losetup")!, ["-f", "--show", image])
        try #require(attach.status == 0, "losetup could not attach the image")
        let loop = attach.out.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = run(tool("losetup")!, ["-d", loop]) }
        let found = try BlockDevices().waitFor(.label(label), deadline: BlockDevices.deadline(afterSeconds: 5))
        #expect(found == loop)
        #expect(try BlockDevices().resolve(.path(loop)) == loop)
    }
}
