import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVSimulator
import BootRun
import RequestBuilding

@Suite struct BootRunSucceeds {
    @Test func wholeBootOnTheSimulator() throws {
        let g = try Guest("ok")
        let (result, stderr) = g.boot()
        #expect(result.succeeded, "\(stderr)")
        let s = try g.state()
        #expect(s.isLocked)
        #expect(s.store.count == g.example.secretNames.count)
        // The report's store hash is the one the ultravisor itself tracked.
        let r = try g.report()
        #expect(r["verdict"] == .string("ok"))
        #expect(r["store"]?["secret_store_hash"] == .string(s.secretStoreHash.hex))
        #expect(r["store"]?["locked"] == .bool(true))
        #expect(r["store"]?["verified"] == .bool(true))
        #expect(r["requests"]?.array.allSatisfy { $0["result"] == .string("added") } == true)
        #expect(r["policy"]?["sha256"] == .string(Digest.sha256(try FileIO.read(g.example.policyPath, limit: 1 << 20)).hex))
        // Report mode 0600, request copy 0700, kernel-log record with a priority prefix.
        var st = stat()
        stat(g.runDir + "/report.json", &st)
        #expect(st.st_mode & 0o777 == 0o600)
        stat(g.runDir + "/requests", &st)
        #expect(st.st_mode & 0o777 == 0o700)
        let kmsg = String(decoding: try FileIO.read(g.kmsg, limit: 1 << 20), as: UTF8.self)
        #expect(kmsg.hasPrefix("<13>se-secretd: ok:"))
        #expect(String(decoding: try FileIO.read(g.runDir + "/failure-action", limit: 64), as: UTF8.self) == "poweroff\n")
    }

    @Test func secretsReachNoLogReportOrOutput() throws {
        let g = try Guest("hygiene")
        let (result, stderr) = g.boot()
        #expect(result.succeeded)
        // Also a failing run (tampered request), whose messages name files and rules.
        let tampered = try g.copyOfRequests()
        var bytes = try FileIO.read(tampered + "/luks-root.asr", limit: 1 << 20)
        bytes[bytes.count - 40] ^= 0x55
        try FileIO.writeAtomically(tampered + "/luks-root.asr", bytes, mode: 0o644)
        let (failed, stderr2) = g.boot(g.config(requests: tampered))
        #expect(!failed.succeeded)
        var channels: [[UInt8]] = [Array(stderr.utf8), Array(stderr2.utf8), try FileIO.read(g.kmsg, limit: 1 << 20),
                                   try FileIO.read(g.runDir + "/report.json", limit: 1 << 22),
                                   Array(result.report.serialized().utf8)]
        for e in try FileIO.list(g.runDir + "/requests") { channels.append(try FileIO.read(g.runDir + "/requests/" + e.name, limit: 1 << 20)) }
        let values = try g.secretValues()
        #expect(values.count == g.example.secretNames.count)
        for v in values {
            for c in channels {
                #expect(!contains(c, v), "a secret value appears in an output channel")
                #expect(!contains(c, Array(v.hex.utf8)), "a secret value appears in hex in an output channel")
            }
        }
    }

    @Test func restartedRunConvergesWithoutDuplicates() throws {
        let g = try Guest("restart")
        #expect(g.boot().result.succeeded)
        let first = try g.state()
        let (again, stderr) = g.boot()
        #expect(again.succeeded, "\(stderr)")
        let second = try g.state()
        #expect(second.store.count == first.store.count)
        #expect(second.acceptedRequestTags == first.acceptedRequestTags)
        #expect(try g.report()["requests"]?.array.allSatisfy { $0["result"] == .string("already-added") } == true)
        #expect(try g.report()["store"]?["secret_store_hash"] == .string(second.secretStoreHash.hex))
    }

    @Test func storeThatAlreadyHoldsSomeSecretsGetsNoDuplicates() throws {
        let g = try Guest("partial")
        let c = try g.client()
        try c.addSecret(try FileIO.read(g.requests + "/luks-root.asr", limit: 1 << 20))
        try c.addSecret(try FileIO.read(g.requests + "/tls-server-key.asr", limit: 1 << 20))
        let (result, stderr) = g.boot()
        #expect(result.succeeded, "\(stderr)")
        let s = try g.state()
        #expect(s.store.count == g.example.secretNames.count)
        #expect(Set(s.store.map(\.id)).count == s.store.count)
        let results = Dictionary(uniqueKeysWithValues: try g.report()["requests"]!.array.map { ($0["file"]!.string!, $0["result"]!.string!) })
        #expect(results["luks-root.asr"] == "already-present")
        #expect(results["tls-server-key.asr"] == "already-present")
        #expect(results["ssh-host-ecdsa.asr"] == "added")
    }

    @Test func transientDumpInProgressIsRetried() throws {
        let g = try Guest("dump")
        try g.faults { $0.dumpInProgressAdds = 3 }
        let (result, stderr) = g.boot()
        #expect(result.succeeded, "\(stderr)")
        let first = try g.report()["requests"]!.array.first { $0["order"] == .int(1) }
        #expect(first?["retries"] == .int(3))
        #expect(stderr.contains("dump in progress (rc 0x010d); retry 3"))
    }

    @Test func aFileSwappedAfterTheCopyHasNoEffect() throws {
        let g = try Guest("swap")
        let dir = try g.copyOfRequests()
        let original = try FileIO.read(dir + "/luks-root.asr", limit: 1 << 20)
        let attacker = try Guest("swap-attacker")
        var config = g.config(requests: dir)
        let source = dir
        let replacement = try FileIO.read(attacker.requests + "/luks-root.asr", limit: 1 << 20)
        config.afterFetch = {
            try? FileIO.writeAtomically(source + "/luks-root.asr", replacement, mode: 0o644)
        }
        let (result, stderr) = g.boot(config)
        #expect(result.succeeded, "\(stderr)")
        #expect(try FileIO.read(dir + "/luks-root.asr", limit: 1 << 20) == replacement)  // the swap happened
        let luks = try g.report()["requests"]!.array.first { $0["file"] == .string("luks-root.asr") }
        #expect(luks?["sha256"] == .string(Digest.sha256(original).hex))
        #expect(try g.state().acceptedRequestTags.contains(Array(original.suffix(16))))
        #expect(try FileIO.read(g.runDir + "/requests/luks-root.asr", limit: 1 << 20) == original)
    }
}

@Suite struct BootRunFailsClosed {
    func expectNothingAdded(_ g: Guest) throws {
        let s = try g.state()
        #expect(s.store.isEmpty && s.acceptedRequestTags.isEmpty && !s.isLocked, "something was added")
    }

    func failure(_ r: BootResult) -> BootFailure.Class? { r.failure?.failureClass }

    @Test(arguments: ["missing", "extra", "duplicate", "tampered", "unsigned"])
    func policyViolationsStopBeforeAnythingIsAdded(_ kind: String) throws {
        let g = try Guest("viol-\(kind)")
        let dir = try g.copyOfRequests()
        let other = try Guest("viol-other-\(kind)")
        switch kind {
        case "missing": unlink(dir + "/ssh-host-ecdsa.asr")
        case "extra":
            // Valid in every other way: for this machine and image, signed by
            // the tenant, disable-dump set, but for a secret the policy does not name.
            let tenant = try PrivateKey.load(try FileIO.read(g.example.directory + "/tenant-signer.pem", limit: 1 << 16))
            let target = try g.sim.requestTarget()
            var rb = RequestBuilder(secret: .retrievable(.plain, id: Digest.sha256(Array("not-in-policy".utf8)),
                                                         value: try SecretValue.plaintext(SecureBytes(copying: Array("x".utf8)))),
                                    hostKeys: [target.hostKey], tags: target.imageTags)
            rb.flags.disableDump = true
            rb.userData = .signed([], key: tenant)
            _ = other
            try FileIO.writeAtomically(dir + "/zz-extra.asr", try rb.build(), mode: 0o644)
        case "duplicate":
            try FileIO.writeAtomically(dir + "/luks-root-2.asr", try FileIO.read(dir + "/luks-root.asr", limit: 1 << 20), mode: 0o644)
        case "tampered":
            var b = try FileIO.read(dir + "/tls-server-key.asr", limit: 1 << 20)
            b[0x4C0] ^= 1
            try FileIO.writeAtomically(dir + "/tls-server-key.asr", b, mode: 0o644)
        default:
            var rb = RequestBuilder(secret: .retrievable(.plain, id: Digest.sha256(Array("luks-root".utf8)),
                                                         value: try SecretValue.plaintext(SecureBytes(copying: Array("x".utf8)))),
                                    hostKeys: [try g.sim.requestTarget().hostKey], tags: try g.sim.requestTarget().imageTags)
            rb.flags.disableDump = true
            try FileIO.writeAtomically(dir + "/luks-root.asr", try rb.build(), mode: 0o644)
        }
        // Room for more requests, so that an extra one meets the whitelist (the
        // example's own cap of exactly its 6 requests would catch it first).
        let policy = try g.policyVariant("roomy.json") { m in
            replacing(&m, "requests", .object([("volume", .string("LABEL=SE-SECRETS")), ("max_requests", .int(20))]))
        }
        let (result, stderr) = g.boot(g.config(policy: policy, requests: dir))
        #expect(failure(result) == .policy, "\(stderr)")
        try expectNothingAdded(g)
        let expectedRule = ["missing": "missing-required", "extra": "not-whitelisted", "duplicate": "duplicate-id",
                            "tampered": "bad-signature", "unsigned": "unsigned"][kind]!
        #expect(stderr.contains("[\(expectedRule)]"), "\(stderr)")
        #expect(try g.report()["verdict"] == .string("failed"))
    }

    @Test func symlinkOrDeviceNodePlantedInTheDirectory() throws {
        let g = try Guest("planted")
        let dir = try g.copyOfRequests()
        symlink("/etc/shadow", dir + "/shadow.asr")
        mknod(dir + "/null.asr", S_IFCHR | 0o644, dev_t(0x103))
        let (result, stderr) = g.boot(g.config(requests: dir))
        #expect(failure(result) == .policy)
        #expect(stderr.contains("shadow.asr: is a symlink"))
        if FileIO.kind(of: dir + "/null.asr") == .characterDevice { #expect(stderr.contains("null.asr: is a character device")) }
        try expectNothingAdded(g)
    }

    @Test func requestForAnotherHostIsNamedBeforeTheUltravisorSeesIt() throws {
        let g = try Guest("host")
        let other = try Guest("host-other")
        let dir = try g.copyOfRequests()
        // The other guest's request set, signed by that tenant: use its policy.
        _ = dir
        let (result, stderr) = g.boot(g.config(policy: other.example.policyPath, requests: other.requests))
        #expect(failure(result) == .policy)
        #expect(stderr.contains("[no-keyslot-for-host]"))
        try expectNothingAdded(g)
        // Without host-key hashes in sysfs the ultravisor refuses it: 0x0108, named.
        let emptySysfs = g.dir + "/empty-sysfs"
        mkdir(emptySysfs, 0o755)
        let (r2, e2) = g.boot(g.config(policy: other.example.policyPath, requests: other.requests, sysfs: emptySysfs))
        #expect(failure(r2) == .ultravisor, "\(e2)")
        #expect(e2.contains("rc 0x0108") && e2.contains("other host keys or another image"))
    }

    @Test func dumpInProgressThatNeverClearsTimesOut() throws {
        let g = try Guest("dump-forever")
        try g.faults { $0.dumpInProgressAdds = 100_000 }
        var c = g.config()
        c.timeout = 0.5
        let (result, stderr) = g.boot(c)
        #expect(failure(result) == .timeout, "\(stderr)")
        #expect(stderr.contains("deadline"))
        #expect(try g.state().store.isEmpty)
    }

    @Test func fullStore() throws {
        let g = try Guest("full")
        try g.faults { $0.storeFull = true }
        let (result, stderr) = g.boot()
        #expect(failure(result) == .ultravisor)
        #expect(stderr.contains("rc 0x010b"))
    }

    @Test func storeLockedByAnEarlierRunWithOtherContent() throws {
        let g = try Guest("locked")
        let c = try g.client()
        try c.addSecret(try FileIO.read(g.requests + "/00-meta.asr", limit: 1 << 20))
        try c.addSecret(try FileIO.read(g.requests + "/luks-root.asr", limit: 1 << 20))
        try c.lock()
        let (result, stderr) = g.boot()
        #expect(failure(result) == .ultravisor, "\(stderr)")
        #expect(stderr.contains("rc 0x0102") && stderr.contains("locked"))
        // The secrets that were there are not added again.
        #expect(try g.state().store.count == 1)
    }

    @Test func volumeMissingPastTheDeadline() throws {
        let g = try Guest("novolume")
        let policy = try g.policyVariant("policy-volume.json") { m in
            replacing(&m, "requests", .object([("volume", .string("LABEL=SE-NO-SUCH-\(getpid())")), ("wait_seconds", .int(1))]))
        }
        var c = g.config(policy: policy)
        c.requestsDirectory = nil
        let t0 = MonotonicClock.nanoseconds()
        let (result, stderr) = g.boot(c)
        #expect(failure(result) == .timeout, "\(stderr)")
        #expect(stderr.contains("did not appear within 1 s"))
        #expect(Double(MonotonicClock.nanoseconds() - t0) / 1e9 < 8)
    }

    @Test func deviceProblemsAreClassified() throws {
        let g = try Guest("device")
        var c = g.config()
        c.backend = .device("/nonexistent/uv")
        #expect(failure(g.boot(c).result) == .device)
        var old = SimulatorOptions()
        old.kernel = .linux5_19
        let legacy = try Guest("legacy", options: old)
        let (r, e) = legacy.boot()
        #expect(failure(r) == .device)
        #expect(e.contains("only knows attestation"))
        #expect(failure(g.boot(g.config(policy: g.dir + "/no-policy.json")).result) == .config)
    }

    @Test func handOffFilesAreWipedOnFailure() throws {
        let g = try Guest("wipe")
        let policy = try g.policyVariant("policy-keyfile.json") { m in
            guard case var .array(secrets)? = m.first(where: { $0.0 == "secrets" })?.1,
                  case var .object(first) = secrets[0] else { return }
            replacing(&first, "actions", .array([.object([("type", .string("keyfile")), ("volume", .string("root"))])]))
            secrets[0] = .object(first)
            replacing(&m, "secrets", .array(secrets))
        }
        mkdir(g.dir + "/keys", 0o700)
        try FileIO.writeAtomically(g.dir + "/keys/root.key", Array("left over from an earlier phase".utf8), mode: 0o400)
        let dir = try g.copyOfRequests()
        unlink(dir + "/luks-root.asr")
        let (result, _) = g.boot(g.config(policy: policy, requests: dir))
        #expect(!result.succeeded)
        #expect(FileIO.kind(of: g.dir + "/keys/root.key") == nil)
    }
}
