import Testing
import Foundation
import SEBase
import BootRun

/// Why the real-volume test cannot run here, or nil when it can.
let loopSkipReason: String? = {
    if getuid() != 0 { return "needs root (to attach a loop device and mount)" }
    for tool in ["/usr/sbin/losetup", "/usr/sbin/mkfs.ext4"] where !FileManager.default.isExecutableFile(atPath: tool) {
        return "needs \(tool) (util-linux, e2fsprogs)"
    }
    if !FileManager.default.fileExists(atPath: "/dev/loop-control") { return "no /dev/loop-control: loop devices unavailable" }
    return nil
}()

@discardableResult
func sh(_ args: [String]) -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: args[0])
    p.arguments = Array(args.dropFirst())
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    do { try p.run() } catch { return (127, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// An ext4 image with `content`, labelled `label`, attached read-only to a
/// loop device; detached by the returned closure.
func attachVolume(_ g: Guest, content: String, label: String) throws -> (device: String, detach: () -> Void) {
    let image = g.dir + "/requests.img"
    #expect(sh(["/usr/bin/truncate", "-s", "16M", image]).status == 0)
    let mk = sh(["/usr/sbin/mkfs.ext4", "-q", "-L", label, "-d", content, image])
    try #require(mk.status == 0, "mkfs.ext4 failed: \(mk.out)")
    let attach = sh(["/usr/sbin/losetup", "--find", "--show", "--read-only", image])
    try #require(attach.status == 0, "losetup failed: \(attach.out)")
    let loop = attach.out.trimmingCharacters(in: .whitespacesAndNewlines)
    return (loop, { sh(["/usr/sbin/losetup", "-d", loop]) })
}

/// The guest's config reading from the volume `LABEL=label`, directory `dir`.
func volumeConfig(_ g: Guest, label: String, directory: String) throws -> BootConfiguration {
    let policy = try g.policyVariant("policy-volume.json") { m in
        replacing(&m, "requests", .object([("volume", .string("LABEL=\(label)")), ("directory", .string(directory)),
                                           ("wait_seconds", .int(10))]))
    }
    var c = g.config(policy: policy)
    c.requestsDirectory = nil
    return c
}

@Suite struct LoopVolumeTests {
    @Test(.enabled(if: loopSkipReason == nil, "real volume test skipped: \(loopSkipReason ?? "")"))
    func requestsOnAnExt4VolumeFoundByItsLabel() throws {
        let g = try Guest("loop")
        let label = "SE-T\(getpid() % 100000)"
        // The requests live in a subdirectory of the volume, as the policy says.
        let content = g.dir + "/volume-content"
        try FileManager.default.createDirectory(atPath: content + "/tenant/requests", withIntermediateDirectories: true)
        for e in try FileIO.list(g.requests) {
            try FileIO.writeAtomically(content + "/tenant/requests/" + e.name,
                                       try FileIO.read(g.requests + "/" + e.name, limit: 1 << 20), mode: 0o644)
        }
        let (loop, detach) = try attachVolume(g, content: content, label: label)
        defer { detach() }
        let (result, stderr) = g.boot(try volumeConfig(g, label: label, directory: "tenant/requests"))
        #expect(result.succeeded, "\(stderr)")
        #expect(stderr.contains("mounted \(loop) (ext4) read-only"))
        let source = try g.report()["requests_source"]
        #expect(source?["source"] == .string(loop))
        #expect(source?["filesystem"] == .string("ext4"))
        #expect(try g.state().isLocked)
        // Unmounted afterwards, and the private mount point is gone.
        #expect(!(try String(contentsOfFile: "/proc/mounts", encoding: .utf8)).contains(loop))
        #expect(FileIO.kind(of: g.runDir + "/volume") == nil)
    }

    @Test(.enabled(if: loopSkipReason == nil, "real volume test skipped: \(loopSkipReason ?? "")"))
    func aSymlinkedDirectoryOnTheVolumeIsRefused() throws {
        let g = try Guest("loop-link")
        let label = "SE-L\(getpid() % 100000)"
        let content = g.dir + "/volume-content"
        try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
        // The host points the request directory at the initrd's own files.
        try FileManager.default.createSymbolicLink(atPath: content + "/requests", withDestinationPath: "/etc")
        let (_, detach) = try attachVolume(g, content: content, label: label)
        defer { detach() }
        let (result, stderr) = g.boot(try volumeConfig(g, label: label, directory: "requests"))
        #expect(result.failure?.failureClass == .input, "\(stderr)")
        #expect(stderr.contains("a symlink or '..' on the way is refused"))
    }
}
