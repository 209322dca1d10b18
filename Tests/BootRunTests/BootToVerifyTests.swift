import Testing
import SEBase
import SECrypto
import SecretPolicy
import BootRun
import TestSupport
import Attestation
import ResultsRecord
import TenantVerification

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
}
