import Testing
import SEBase
import SECrypto
import SecretPolicy
import BootRun
import TestSupport
import Attestation
import ResultsRecord
import TenantVerification
import Glibc

/// The boot run's own output, checked by the tenant's verifier: the guest's
/// facts, binding and record (BootRunner, AttestStep, ResultsOutput) are
/// what `se-secretd verify` expects, not a re-implementation of them.
@Suite struct BootToVerifyTests {
    struct Run {
        let g: Guest
        let tenant: AttestationBootTests.Tenant
        let policy: Policy
        let requests: String
        let image: String
    }

    static func boot(_ label: String) throws -> Run {
        let g = try Guest(label)
        let t = try AttestationBootTests.tenantRequest(g)
        let image = try ResultsBootTests.image(g, "results.img")
        let requests = try AttestationBootTests.requests(g, "rq", attestation: t.file)
        let policyPath = try ResultsBootTests.policy(g, attest: true)
        let (result, stderr) = g.boot(ResultsBootTests.config(g, policy: policyPath, requests: requests, image: image))
        #expect(result.succeeded, "\(stderr)")
        return Run(g: g, tenant: t, policy: try Policy.load(path: policyPath), requests: requests, image: image)
    }

    static func verify(_ run: Run, _ evidence: Evidence, hostKeys: [[UInt8]]? = nil) throws -> VerificationResult {
        TenantVerifier.verify(VerificationInput(
            evidence: evidence, request: try TenantRequest.parse(run.tenant.file),
            protectionKey: SecureBytes(copying: run.tenant.built.protectionKey.unsafeCopyToArray()),
            imageTags: try run.g.state().config.imageTags, policy: run.policy,
            requests: try RequestSet.load(directory: run.requests, policy: run.policy), hostKeyHashes: hostKeys))
    }

    @Test func theTenantVerifiesWhatTheBootRunHandedOut() throws {
        let run = try Self.boot("verify-e2e")
        let hosts = [try run.g.state().hostKeyHash]
        let device = try FileIO.read(run.image, limit: ResultsRecord.maxSize)
        let console = try FileIO.read(run.g.dir + "/console.log", limit: 1 << 24)
        for (what, evidence) in [("device", Evidence.resultsRecord(device)), ("console", .consoleLog(console))] {
            let r = try Self.verify(run, evidence, hostKeys: hosts)
            #expect(r.verdict == .verified, "\(what): \(r.text)")
            for id in CheckID.allCases where id != .configUID {
                #expect(r.check(id)?.outcome == .pass, "\(what): \(id): \(r.check(id)?.message ?? "-")")
            }
        }
        // The tenant's copy of the directory without the attestation request: --request fills it in.
        let bare = try FileIO.read(run.g.runDir + "/attestation-response.bin", limit: 1 << 20)
        let r = try Self.verify(run, .response(bare))
        #expect(r.verdict == .verified, "\(r.text)")
    }

    /// A boot that fails at the check (a stray request) with `request` on the volume;
    /// returns its console log.
    static func failedBoot(_ g: Guest, _ name: String, request: [UInt8]) throws -> [UInt8] {
        unlink(g.dir + "/console.log")
        let requests = try AttestationBootTests.requests(g, name, attestation: request)
        try FileIO.writeAtomically(requests + "/zz-stray.asr", Array(repeating: 0xEE, count: 2000), mode: 0o644)
        let image = try ResultsBootTests.image(g, name + ".img")
        let (result, _) = g.boot(ResultsBootTests.config(g, policy: try ResultsBootTests.policy(g, attest: true), requests: requests, image: image))
        #expect(!result.succeeded)
        #expect(result.failure?.step == "check")
        let log = try FileIO.read(g.dir + "/console.log", limit: 1 << 24)
        unlink(g.dir + "/console.log")
        return log
    }

    @Test func anEarlierFailedBootsRecordIsNotShownAsThisBootsFailure() throws {
        let run = try Self.boot("verify-stale-failed")
        let g = run.g
        // Yesterday's boot with another request failed at the check; today's boot with the
        // tenant's request failed at the check too. The host's log has both, today's first.
        let other = try AttestationBootTests.tenantRequest(g)
        let yesterday = try Self.failedBoot(g, "rq-yesterday", request: other.file)
        let today = try Self.failedBoot(g, "rq-today", request: run.tenant.file)
        let r = try Self.verify(run, .consoleLog(yesterday + today))
        #expect(r.verdict == .refused)
        #expect(r.rule(.attestationResponse) == "no-attestation-response")
        #expect(r.message(.attestationResponse).contains("names your attestation request"), "\(r.text)")
        let r2 = try Self.verify(run, .consoleLog(today + yesterday))
        #expect(r2.message(.attestationResponse).contains("names your attestation request"), "\(r2.text)")
        // Only yesterday's: shown, but said to be for another request.
        let y = try Self.verify(run, .consoleLog(yesterday))
        #expect(y.verdict == .refused)
        #expect(y.message(.attestationResponse).contains("names another attestation request"), "\(y.text)")
        // The same on a results device that kept an earlier boot's record.
        let image = try FileIO.read(g.dir + "/rq-yesterday.img", limit: ResultsRecord.maxSize)
        let d = try Self.verify(run, .resultsRecord(image))
        #expect(d.message(.attestationResponse).contains("names another attestation request"), "\(d.text)")
    }
}

extension VerificationResult {
    func rule(_ id: CheckID) -> String? { check(id)?.rule }
    func message(_ id: CheckID) -> String { check(id)?.message ?? "" }
}
