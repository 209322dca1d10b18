import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVSimulator
import BootRun
import SEVocabulary
import RequestBuilding

/// A failure after the first request reached the ultravisor locks the
/// store: the host cannot add requests of its own next to this boot's.
@Suite struct LockOnFailure {
    /// A copy of the example's requests in which `file` (a plain secret) is
    /// rebuilt with another extension secret: it passes the policy (signed by
    /// the tenant, right host key, right image), but the ultravisor refuses it
    /// (0x010C) because the first request fixed a different extension secret.
    func setWithForeignExtensionSecret(_ g: Guest, _ name: String) throws -> String {
        let dir = try g.copyOfRequests()
        let target = try g.sim.requestTarget()
        let signer = try PrivateKey.load(try FileIO.read(g.example.directory + "/tenant-signer.pem", limit: 1 << 20))
        let clear = SecureBytes(copying: try FileIO.read(g.example.directory + "/values/" + name, limit: 1 << 20))
        var b = RequestBuilder(secret: .retrievable(.plain, id: SecretID.hashed(name: name, sha256: Digest.sha256),
                                                    value: try SecretValue.plaintext(clear)),
                               hostKeys: [target.hostKey], tags: target.imageTags)
        b.flags.disableDump = true
        b.extensionSecret = .simple(Random.secureBytes(32))
        // Signed with the example's freshness record (epoch 1), as its other requests.
        b.userData = .signed([], key: signer)
        b.epoch = 1
        try FileIO.writeAtomically(dir + "/" + name + ".asr", try b.build(), mode: 0o644)
        return dir
    }

    func results(_ g: Guest) throws -> [String: String] {
        var m: [String: String] = [:]
        for r in try g.report()["requests"]!.array { m[r["file"]!.string!] = r["result"]?.string }
        return m
    }

    @Test func thirdRequestRefusedByTheUltravisorLocksTheStore() throws {
        let g = try Guest("lock-refused")
        let dir = try setWithForeignExtensionSecret(g, "ssh-host-ecdsa")
        let (r, e) = g.boot(g.config(requests: dir))
        #expect(r.failure?.failureClass == .ultravisor, "\(e)")
        #expect(r.failure?.step == "submit")
        // The simulator, asked on its own: locked, holding what was added.
        let s = try g.state()
        #expect(s.isLocked)
        #expect(s.acceptedRequestTags.count == 2)
        let c = try g.client()
        do { try c.lock(); Issue.record("the store could still be locked") } catch {
            #expect(error.callFailure?.rc == UVReturnCode.storeLocked)
        }
        let late = try FileIO.read(g.requests + "/tls-server-key.asr", limit: 1 << 20)
        do { try c.addSecret(late); Issue.record("the store accepted a request after the failure") } catch {
            #expect(error.callFailure?.rc == UVReturnCode.storeLocked)
        }
        // The report: what was added, and that the failure path locked.
        let rep = try g.report()
        #expect(rep["verdict"] == .string("failed"))
        #expect(rep["store"]?["locked"] == .bool(true))
        #expect(rep["store"]?["locked_on_failure"] == .bool(true))
        #expect(rep["store"]?["added_by_this_run"] == .int(2))
        let res = try results(g)
        #expect(res["00-meta.asr"] == "added" && res["luks-root.asr"] == "added")
        #expect(res["ssh-host-ecdsa.asr"] == "refused")
        #expect(res["tls-server-key.asr"] == "not-submitted")
        #expect(e.contains("store locked"), "\(e)")
    }

    @Test func driverErrorMidSubmissionLocksTheStore() throws {
        let g = try Guest("lock-eio")
        try g.faults { $0.errnoFaults = [.init(ioctl: .addSecret, errno: EIO, count: 1, after: 2)] }
        let (r, e) = g.boot()
        #expect(r.failure?.failureClass == .device, "\(e)")
        #expect(try g.state().isLocked)
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(true))
        // A rerun cannot complete a store locked half way: it fails, adds nothing.
        let before = try g.state().acceptedRequestTags
        let (r2, e2) = g.boot()
        #expect(r2.failure?.failureClass == .ultravisor, "\(e2)")
        #expect(e2.contains("0x0102"))
        #expect(try g.state().acceptedRequestTags == before)
    }

    @Test func verifyFailureKeepsTheStoreLocked() throws {
        let g = try Guest("lock-verify")
        // A secret the policy does not name, put there before the run.
        let foreign = try g.copyOfRequests("foreign")
        try g.client().addSecret(try FileIO.read(foreign + "/luks-root.asr", limit: 1 << 20))
        let policy = try g.policyVariant("no-luks.json") { m in
            guard case var .array(secrets)? = m.first(where: { $0.0 == "secrets" })?.1 else { return }
            secrets.removeAll { $0["name"] == .string("luks-root") }
            replacing(&m, "secrets", .array(secrets))
            // Without luks-root no volume of the policy can hold the root.
            replacing(&m, "root", .object([("type", .string("tmpfs"))]))
        }
        let reqs = try g.copyOfRequests("without-luks")
        unlink(reqs + "/luks-root.asr")
        let (r, e) = g.boot(g.config(policy: policy, requests: reqs))
        #expect(r.failure?.step == "verify", "\(e)")
        #expect(try g.state().isLocked)
        #expect(try g.report()["store"]?["locked"] == .bool(true))
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(false), "the lock step had already locked it")
    }

    @Test func policyWithoutLockLeavesTheStoreOpenAndSaysSo() throws {
        let g = try Guest("lock-off")
        let policy = try g.policyVariant("open.json") { m in
            guard case var .object(store)? = m.first(where: { $0.0 == "store" })?.1 else { return }
            replacing(&store, "lock", .bool(false))
            replacing(&m, "store", .object(store))
        }
        let dir = try setWithForeignExtensionSecret(g, "ssh-host-ecdsa")
        let (r, e) = g.boot(g.config(policy: policy, requests: dir))
        #expect(r.failure?.failureClass == .ultravisor, "\(e)")
        #expect(!(try g.state().isLocked))
        #expect(try g.report()["store"]?["locked"] == .bool(false))
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(false))
        #expect(e.contains("more requests can be added until the next reboot"))
    }

    /// An earlier run of this boot added the meta request (store and
    /// journal say so) and was killed before the lock.
    func earlierRunAddedMetaAndWasKilled(_ g: Guest) throws {
        let metaBytes = try FileIO.read(g.requests + "/00-meta.asr", limit: 1 << 20)
        let meta = try AddSecretRequest.parse(metaBytes)
        try g.client().addSecret(metaBytes)
        try FileIO.makeDirectories(g.runDir, mode: 0o700)
        try FileIO.writeAtomically(g.runDir + "/journal", Array("+\(meta.gcmTag.hex) 00-meta.asr\n".utf8), mode: 0o600)
    }

    @Test func aFailedCheckAfterAKilledRunOfThisBootLocksTheStore() throws {
        // An earlier run of this boot added the meta request and was killed
        // before the lock; now the host offers a set that fails the check.
        let g = try Guest("lock-killed")
        try earlierRunAddedMetaAndWasKilled(g)
        let reqs = try g.copyOfRequests()
        unlink(reqs + "/luks-root.asr")
        let (r, e) = g.boot(g.config(requests: reqs))
        #expect(r.failure?.step == "check", "\(e)")
        #expect(try g.state().isLocked)
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(true))
        #expect(try g.report()["store"]?["added_by_this_run"] == .int(0))
    }

    @Test func aProbeThatRefusesTheDeviceAfterAKilledRunOfThisBootLocksTheStore() throws {
        // As above, but this run stops at the probe: the device is open, and
        // sysfs says the ultravisor supports none of the policy's secret
        // types. The earlier run's request is in the store: lock it.
        let g = try Guest("lock-killed-probe")
        try earlierRunAddedMetaAndWasKilled(g)
        let sysfs = g.dir + "/no-types-sysfs"
        try FileIO.makeDirectories(sysfs + "/firmware/uv/query", mode: 0o755)
        try FileIO.writeAtomically(sysfs + "/firmware/uv/query/supp_secret_types", Array("0000000000000000\n".utf8), mode: 0o644)
        let (r, e) = g.boot(g.config(sysfs: sysfs))
        #expect(r.failure?.step == "probe", "\(e)")
        #expect(r.failure?.message.contains("does not support") == true)
        #expect(try g.state().isLocked)
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(true))
        #expect(try g.report()["store"]?["earlier_run_may_have_added"] == .bool(true))
        #expect(try g.report()["store"]?["added_by_this_run"] == .int(0))
    }

    @Test func theFailurePathLocksExactlyWhenSomethingMayBeInTheStore() {
        func decide(_ locked: Bool?, this: Bool, earlier: Bool, policy: Bool) -> FailureLock {
            FailureLock.decide(locked: locked, thisRunMayHaveAdded: this, earlierRunMayHaveAdded: earlier, policyLocks: policy)
        }
        #expect(decide(nil, this: false, earlier: false, policy: true) == FailureLock.none)
        #expect(decide(nil, this: true, earlier: false, policy: true) == .lock)
        #expect(decide(nil, this: false, earlier: true, policy: true) == .lock)
        #expect(decide(false, this: true, earlier: true, policy: true) == .lock)
        #expect(decide(true, this: true, earlier: true, policy: true) == FailureLock.none)
        #expect(decide(nil, this: true, earlier: false, policy: false) == .keepOpen)
        #expect(decide(nil, this: false, earlier: false, policy: false) == FailureLock.none)
    }

    @Test func aRefusedFirstRequestLeavesTheStoreOpen() throws {
        // Nothing reached the store: no reason to lock it, and a corrected
        // set can still be added in this boot.
        let g = try Guest("lock-first")
        try g.faults { $0.storeFull = true }
        let reqs = try g.copyOfRequests()
        unlink(reqs + "/00-meta.asr")
        let (r, e) = g.boot(g.config(requests: reqs))
        #expect(r.failure?.failureClass == .ultravisor, "\(e)")
        #expect(try g.state().acceptedRequestTags.isEmpty)
        #expect(!(try g.state().isLocked))
        #expect(try g.report()["store"]?["locked_on_failure"] == .bool(false))
    }
}
