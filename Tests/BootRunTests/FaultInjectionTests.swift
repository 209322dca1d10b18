import Testing
import Foundation
import SEBase
import SECrypto
import ASRCodec
import UVDevice
import UVSimulator
import BootRun
import SecretPolicy

/// Faults mid-run, then a clean rerun: the end state must be exactly that of
/// an uninterrupted run — every secret once, locked, the same accepted
/// requests in the same order, the same secret-store hash in the report.
@Suite struct FaultInjection {
    /// The tags an uninterrupted run would have the ultravisor accept, in order.
    func expectedTags(_ g: Guest) throws -> [[UInt8]] {
        let order = try g.report()["store"]?["submission_order"]?.array.compactMap(\.string) ?? []
        return try order.map { Array(try FileIO.read(g.requests + "/" + $0, limit: 1 << 20).suffix(16)) }
    }

    func expectConverged(_ g: Guest, locked: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try g.state()
        #expect(s.isLocked == locked)
        #expect(s.store.count == g.example.secretNames.count)
        #expect(Set(s.store.map(\.id)).count == s.store.count, "a secret is in the store twice")
        #expect(s.acceptedRequestTags == (try expectedTags(g)), "the ultravisor's history differs from an uninterrupted run")
        #expect(try g.report()["store"]?["secret_store_hash"] == .string(s.secretStoreHash.hex))
        #expect(try g.report()["verdict"] == .string("ok"))
    }

    /// With `store.lock: false` a failed run leaves the store open (the
    /// default locks it on the failure path, see FailClosedTests), so a
    /// rerun can complete it.
    @Test(arguments: [EIO, EFAULT])
    func deviceFailsMidSubmissionThenRerun(_ code: Int32) throws {
        let g = try Guest("mid-\(code)")
        let open = try g.policyVariant("open.json") { m in
            guard case var .object(store)? = m.first(where: { $0.0 == "store" })?.1 else { return }
            replacing(&store, "lock", .bool(false))
            replacing(&m, "store", .object(store))
        }
        // The third ADD fails in the driver; two went through before it.
        try g.faults { $0.errnoFaults = [.init(ioctl: .addSecret, errno: code, count: 1, after: 2)] }
        let (r1, e1) = g.boot(g.config(policy: open))
        #expect(r1.failure?.failureClass == .device, "\(e1)")
        #expect(e1.contains(SystemError.name(of: code)))
        #expect(try g.state().acceptedRequestTags.count == 2)
        #expect(!(try g.state().isLocked))
        let results = try g.report()["requests"]!.array.compactMap { $0["result"]?.string }
        #expect(results.filter { $0 == "added" }.count == 2 && results.contains("failed"))
        let (r2, e2) = g.boot(g.config(policy: open))
        #expect(r2.succeeded, "\(e2)")
        try expectConverged(g, locked: false)
    }

    @Test func efaultOnListIsADeviceFailureAndNothingIsAdded() throws {
        let g = try Guest("efault")
        try g.faults { $0.errnoFaults = [.init(ioctl: .listSecrets, errno: EFAULT, count: 1)] }
        let (r, e) = g.boot()
        #expect(r.failure?.failureClass == .device, "\(e)")
        #expect(try g.state().store.isEmpty)
        #expect(g.boot().result.succeeded)
        try expectConverged(g)
    }

    @Test func lockThatFailsThenRerunConverges() throws {
        // Models "killed between submission and lock" deterministically: all
        // adds went through, the lock did not.
        let g = try Guest("lockfail")
        try g.faults { $0.errnoFaults = [.init(ioctl: .lockSecrets, errno: EIO, count: 1)] }
        let (r1, e1) = g.boot()
        #expect(r1.failure?.failureClass == .device, "\(e1)")
        #expect(r1.failure?.step == "lock")
        // The failure path tries the lock once more (fail closed); here the
        // fault was a single one, so that second try locks the store.
        #expect(try g.state().isLocked)
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(true))
        #expect(try g.state().store.count == g.example.secretNames.count)
        let (r2, e2) = g.boot()
        #expect(r2.succeeded, "\(e2)")
        #expect(try g.report()["requests"]?.array.allSatisfy { $0["result"] == .string("already-added") } == true)
        try expectConverged(g)
    }

    @Test func transientFaultsDoNotChangeTheResult() throws {
        let g = try Guest("transient")
        try g.faults { $0.dumpInProgressAdds = 2 }
        #expect(g.boot().result.succeeded)
        try expectConverged(g)
    }

    /// An earlier run of this boot died between writing the meta request's
    /// journal line (write-ahead, state "?") and its ioctl. The meta secret
    /// is not listable, so the rerun cannot tell; it submits it again, says
    /// so, and converges.
    @Test func pendingJournalLineOfADeadRunIsSubmittedAgain() throws {
        let g = try Guest("pending")
        let meta = try AddSecretRequest.parse(try FileIO.read(g.requests + "/00-meta.asr", limit: 1 << 20))
        try FileIO.makeDirectories(g.runDir, mode: 0o700)
        try FileIO.writeAtomically(g.runDir + "/journal", Array("?\(meta.gcmTag.hex) 00-meta.asr\n".utf8), mode: 0o600)
        #expect(Journal(runDirectory: g.runDir).state(of: meta.gcmTag) == .pending)
        let (r, e) = g.boot()
        #expect(r.succeeded, "\(e)")
        #expect(e.contains("00-meta.asr: an earlier run of this boot stopped between submitting it and recording the answer"))
        try expectConverged(g)
        let journal = Journal(runDirectory: g.runDir)
        #expect(journal.state(of: meta.gcmTag) == .added)
        #expect(journal.entries.count == g.example.secretNames.count + 2, "the old pending line, then one line per request")
    }

    /// A real SIGKILL of the se-secretd process at an arbitrary point of a
    /// long submission, then a rerun. Whatever the point, the end state is
    /// the uninterrupted one.
    @Test(.enabled(if: seSecretdBinary != nil, "needs the se-secretd binary next to the test bundle (swift build)"))
    func sigkillDuringSubmissionThenRerun() throws {
        let g = try Guest("kill", extra: 40)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: seSecretdBinary!)
        p.arguments = ["boot", "-p", g.example.policyPath, "--uv-sim", g.sim.path, "--sysfs", g.sim.sysfsRoot,
                       "-r", g.requests, "--run-dir", g.runDir, "--kmsg", "none"]
        p.standardError = FileHandle.nullDevice
        // Slow the adds down a little so the kill lands inside the submission.
        try g.faults { $0.dumpInProgressAdds = 6 }
        try p.run()
        usleep(useconds_t(150_000 + Int.random(in: 0..<250_000)))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let before = try g.state()
        let (r, e) = g.boot()
        #expect(r.succeeded, "\(e)")
        try expectConverged(g)
        #expect(before.store.count <= (try g.state()).store.count)
    }
}

/// The se-secretd binary of the same build, for process-level tests.
let seSecretdBinary: String? = {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("se-secretd").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}()

@Suite(.serialized) struct VolumeVanishes {
    @Test func requestDirectoryDisappearsMidCopy() throws {
        let g = try Guest("vanish")
        let dir = try g.copyOfRequests()
        var seen = 0
        RequestSet.beforeRead = { path in
            guard path.hasPrefix(dir + "/") else { return }  // other tests run in parallel
            seen += 1
            if seen == 3 {
                // The host pulls the volume: every file not yet read is gone.
                for e in (try? FileIO.list(dir)) ?? [] { unlink(dir + "/" + e.name) }
            }
        }
        defer { RequestSet.beforeRead = nil }
        let (r, e) = g.boot(g.config(requests: dir))
        RequestSet.beforeRead = nil
        #expect(r.failure?.failureClass == .policy, "\(e)")
        #expect(e.contains("[unreadable]") && e.contains("ENOENT"))
        // Nothing was submitted, nothing half-written is left: the copy holds
        // only complete files that were read, and the report says why.
        #expect(try g.state().store.isEmpty)
        let copies = try FileIO.list(g.runDir + "/requests")
        #expect(copies.count == 2)
        for c in copies {
            #expect(try FileIO.read(g.runDir + "/requests/" + c.name, limit: 1 << 20) ==
                    (try FileIO.read(g.requests + "/" + c.name, limit: 1 << 20)))
        }
        #expect(try g.report()["verdict"] == .string("failed"))
    }
}
