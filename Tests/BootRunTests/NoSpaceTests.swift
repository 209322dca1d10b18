import Testing
import Glibc
import SEBase
import SECrypto
import UVSimulator
import BootRun
import SecretActions
import SecretdCLI
import SecretdWorkbench
import TestSupport

/// A tmpfs of a few pages mounted for one test, which the test fills to
/// provoke ENOSPC exactly where it wants it. Needs mount(2) (root).
final class SmallTmpfs: @unchecked Sendable {
    let path: String
    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    init(at path: String, pages: Int) throws {
        mkdir(path, 0o700)
        guard mount("tmpfs", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV),
                    "size=\(pages * SmallTmpfs.page),nr_inodes=256,mode=0700") == 0 else {
            throw SystemError.current("mount tmpfs", path: path)
        }
        self.path = path
    }

    deinit { umount2(path, Int32(MNT_DETACH)) }

    /// Whether this process can mount a tmpfs (root, or CAP_SYS_ADMIN).
    static let available: Bool = {
        guard let dir = try? TempDir("boot-tmpfs-probe") else { return false }
        guard mount("tmpfs", dir.path, "tmpfs", 0, "size=4096") == 0 else { return false }
        umount2(dir.path, Int32(MNT_DETACH))
        return true
    }()

    var freePages: Int {
        var s = statvfs()
        return statvfs(path, &s) == 0 ? Int(s.f_bavail) : -1
    }

    /// Writes whole pages to `.filler` until `leaving` pages are free.
    func fill(leaving: Int = 0) {
        let fd = open(path + "/.filler", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xA5, count: SmallTmpfs.page)
        while freePages > leaving {
            guard chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == chunk.count else { break }
        }
    }

    /// Frees every page the filler holds.
    func free() { unlink(path + "/.filler") }

    /// The names in a directory below the mount, the filler left out.
    func names(_ sub: String = "") -> [String] {
        ((try? FileIO.list(path + sub)) ?? []).map(\.name).filter { $0 != ".filler" }.sorted()
    }
}

let tmpfsNeeded = "needs mount(2) to provoke ENOSPC on a small tmpfs: run as root (CI does)"

/// A full /run: whatever the moment, the run stops before the ultravisor is
/// asked for anything it cannot record, nothing half-written is left, no
/// report of an earlier run stays in place, and a rerun with space
/// converges to the uninterrupted end state.
@Suite(.serialized, .enabled(if: SmallTmpfs.available, Comment(rawValue: tmpfsNeeded)))
struct NoSpaceOnRun {
    func fileExists(_ path: String) -> Bool { FileIO.kind(of: path) != nil }

    func expectConverged(_ g: Guest) throws {
        let s = try g.state()
        #expect(s.isLocked)
        #expect(s.store.count == g.example.secretNames.count)
        #expect(s.acceptedRequestTags.count == Set(s.acceptedRequestTags).count, "a request was accepted twice")
        #expect(s.acceptedRequestTags.count == g.example.secretNames.count + 1, "meta + one per secret")
        #expect(try g.report()["verdict"] == .string("ok"))
        #expect(try g.report()["store"]?["secret_store_hash"] == .string(s.secretStoreHash.hex))
    }

    @Test func fullBeforeTheRunStopsItAtTheCopyWithNothingSubmitted() throws {
        let g = try Guest("enospc-fetch")
        let fs = try SmallTmpfs(at: g.runDir, pages: 32)
        fs.fill()
        let (r, e) = g.boot()
        #expect(r.failure?.failureClass == .io, "\(e)")
        #expect(r.failure?.step == "fetch")
        #expect(e.contains("ENOSPC"))
        #expect(try g.state().acceptedRequestTags.isEmpty)
        #expect(!(try g.state().isLocked))
        // No report and no failure action: the failure handlers then power
        // off whatever the policy says (fail closed).
        #expect(r.reportPath == nil)
        #expect(fs.names() == ["requests"], "only the (empty) request copy directory: \(fs.names())")
        #expect(fs.names("/requests").isEmpty, "no request copy, complete or partial: \(fs.names("/requests"))")

        fs.free()
        let (r2, e2) = g.boot()
        #expect(r2.succeeded, "\(e2)")
        try expectConverged(g)
    }

    @Test func fullAfterTheCopyStopsTheRunBeforeTheFirstSubmission() throws {
        let g = try Guest("enospc-journal")
        let fs = try SmallTmpfs(at: g.runDir, pages: 32)
        var c = g.config()
        c.afterFetch = { fs.fill() }
        let (r, e) = g.boot(c)
        #expect(r.failure?.failureClass == .io, "\(e)")
        #expect(r.failure?.step == "submit")
        #expect(e.contains("journal") && e.contains("ENOSPC") && e.contains("it was not submitted"))
        // Write-ahead: the journal could not take the line, so the
        // ultravisor was never asked.
        #expect(try g.state().acceptedRequestTags.isEmpty)
        #expect(try FileIO.read(g.runDir + "/journal", limit: 4096).isEmpty, "no partial journal line")
        #expect(r.reportPath == nil && !fileExists(g.runDir + "/report.json"))
        #expect(!fs.names().contains { $0.hasPrefix(".") }, "a temporary file was left: \(fs.names())")

        fs.free()
        let (r2, e2) = g.boot()
        #expect(r2.succeeded, "\(e2)")
        try expectConverged(g)
    }

    @Test func noRoomForTheReportFailsTheRunAndRemovesAStaleReport() throws {
        let g = try Guest("enospc-report")
        let fs = try SmallTmpfs(at: g.runDir, pages: 32)
        var c = g.config()
        // One page left: the journal takes it; the report finds none.
        c.afterFetch = { fs.fill(leaving: 1) }
        let (r, e) = g.boot(c)
        #expect(r.failure?.failureClass == .io, "\(e)")
        #expect(r.failure?.step == "report")
        #expect(e.contains("cannot write the report") && e.contains("ENOSPC"))
        // The ultravisor's side is complete; the evidence is not, so the boot stops.
        #expect(try g.state().isLocked)
        #expect(try g.state().store.count == g.example.secretNames.count)
        #expect(!fileExists(g.runDir + "/report.json") && !fileExists(g.runDir + "/failure-action"))
        #expect(!fs.names().contains { $0.hasPrefix(".") }, "a temporary file was left: \(fs.names())")

        fs.free()
        let (r2, e2) = g.boot()
        #expect(r2.succeeded, "\(e2)")
        #expect(try g.report()["requests"]?.array.allSatisfy { $0["result"] == .string("already-added") } == true)
        try expectConverged(g)

        // A third run of the same boot finds /run full: the good report of
        // the second run must not outlive the failed third. (The run removes
        // the second run's results record first, which would free pages.)
        unlink(g.runDir + "/results.bin")
        fs.fill()
        let (r3, e3) = g.boot()
        #expect(r3.failure?.step == "report", "\(e3)")
        #expect(!fileExists(g.runDir + "/report.json"), "a stale report stayed in place")
        #expect(try FileIO.read(g.runDir + "/failure-action", limit: 64) == Array("poweroff\n".utf8))
    }
}

/// Hand-off files (key files, credentials) on a full tmpfs: the write fails
/// with a message naming the file and ENOSPC, the file that was there stays
/// as it was, and no temporary file is left — also when the write stopped
/// half way.
@Suite(.serialized, .enabled(if: SmallTmpfs.available, Comment(rawValue: tmpfsNeeded)))
struct NoSpaceForHandoffs {
    @Test func keyFileWritesFailCleanly() throws {
        let tmp = try TempDir("boot-enospc-handoff")
        let fs = try SmallTmpfs(at: tmp.appending("tmpfs"), pages: 16)
        let h = try HandoffDirectory(fs.path + "/cryptsetup-keys.d", mode: 0o700)
        let old = Random.bytes(64)
        try h.write("root.key", SecureBytes(copying: old), mode: 0o400)
        fs.fill()

        func expectENOSPC(_ name: String, _ value: [UInt8]) {
            do {
                try h.write(name, SecureBytes(copying: value), mode: 0o400)
                Issue.record("writing \(name) on a full tmpfs succeeded")
            } catch {
                #expect(error.kind == .io)
                #expect(error.message.contains(h.path + "/" + name) && error.message.contains("ENOSPC"), "\(error.message)")
                #expect(!error.message.contains(value.hex))
            }
        }
        expectENOSPC("root.key", Random.bytes(64))   // replacing
        expectENOSPC("data.key", Random.bytes(64))   // creating
        #expect(fs.names("/cryptsetup-keys.d") == ["root.key"])
        #expect(try FileIO.read(h.path + "/root.key", limit: 4096) == old, "the replaced key file changed")

        // A write that stops half way: one page free, a two-page secret.
        fs.free()
        fs.fill(leaving: 1)
        expectENOSPC("big.key", Random.bytes(SmallTmpfs.page + 100))
        #expect(fs.names("/cryptsetup-keys.d") == ["root.key"])
        #expect(fs.freePages == 1, "the partial temporary file's page was not released")
    }

    @Test func installOnAFullCredentialDirectory() throws {
        let g = try Guest("enospc-install")
        #expect(g.boot().result.succeeded)
        let fs = try SmallTmpfs(at: g.dir + "/handoff", pages: 16)
        let root = g.dir + "/root"
        try FileIO.makeDirectories(root + "/etc/ssh")
        try FileIO.makeDirectories(root + "/etc/ssl/private")
        mkdir(fs.path + "/credentials", 0o700)
        fs.fill()

        // A plain directory stands in for the new root: the policy must opt out of the root check.
        let policy = try g.policyVariant("policy-root-any.json") { m in
            m.removeAll { $0.0 == "root" }
            m.append(("root", .object([("type", .string("any"))])))
        }
        let r = cli(["install", "--policy", policy, "--run-dir", g.runDir,
                     "--uv-sim", g.sim.path, "--sysfs", g.sim.sysfsRoot,
                     "--root", root, "--credentials-dir", fs.path + "/credentials"])
        let output = r.out + r.err
        #expect(r.code == ExitCode.ioError.rawValue, "\(output)")
        #expect(output.contains("ssh.authorized_keys.root") && output.contains("ENOSPC"), "\(output)")
        #expect(fs.names("/credentials").isEmpty, "\(fs.names("/credentials"))")
        // The files of the new root were installed all the same.
        #expect(FileIO.kind(of: root + "/etc/ssh/ssh_host_ecdsa_key") == .regular)
        #expect(FileIO.kind(of: root + "/etc/ssl/private/server.key") == .regular)
        // The failure is in the report, and no secret is in the output.
        let actions = try g.report()["actions"]?.array ?? []
        #expect(actions.contains { $0["secret"] == .string("root-authorized-keys") && $0["result"] == .string("failed") },
                "\(actions)")
        for value in try g.secretValues() {
            for line in String(decoding: value, as: UTF8.self).split(separator: "\n") where line.count >= 16 && !line.hasPrefix("-----") {
                #expect(!output.contains(line), "a secret is in the output")
            }
            #expect(!output.contains(value.hex))
        }
    }
}
