import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVSimulator
import BootRun

/// `check`, the report and the store agree on what the store received.
@Suite struct DuplicatesAndTheStoreHash {
    /// SHA-512 over the tags the simulator accepted, in order, and the lock
    /// byte (attestation.md), computed here from the simulator's own record.
    func hashOfWhatTheStoreReceived(_ s: SimulatorState) -> String {
        Digest.sha512(s.acceptedRequestTags.flatMap { $0 } + [s.isLocked ? 1 : 0]).hex
    }

    @Test func checkReportAndStoreAgreeOnAPassingSet() throws {
        let g = try Guest("hash-agree")
        let policy = try Policy.load(path: g.example.policyPath)
        let check = Evaluator(policy: policy).evaluate(try RequestSet.load(directory: g.requests, rules: policy.requests, includeEBC: false))
        #expect(check.passed, "\(check.allProblems)")
        let (r, e) = g.boot()
        #expect(r.succeeded, "\(e)")
        let s = try g.state()
        #expect(s.acceptedRequestTags.count == g.example.secretNames.count + 1)
        let received = hashOfWhatTheStoreReceived(s)
        #expect(check.secretStoreHash.hex == received)
        #expect(try g.report()["store"]?["secret_store_hash"] == .string(received))
    }

    @Test func aCopiedMetaRequestStopsTheBootBeforeAnythingIsAdded() throws {
        let g = try Guest("hash-dup")
        let dir = try g.copyOfRequests()
        try FileIO.writeAtomically(dir + "/01-meta-again.asr", try FileIO.read(dir + "/00-meta.asr", limit: 1 << 20), mode: 0o644)
        let (r, e) = g.boot(g.config(requests: dir))
        #expect(r.failure?.step == "check", "\(e)")
        #expect(e.contains("01-meta-again.asr") && e.contains("[duplicate-request]"))
        #expect(try g.state().acceptedRequestTags.isEmpty)
        let problems = try g.report()["problems"]!.array
        #expect(problems.contains { $0["rule"] == .string("duplicate-request") && $0["file"] == .string("00-meta.asr") })
        #expect(problems.contains { $0["rule"] == .string("duplicate-request") && $0["file"] == .string("01-meta-again.asr") })
    }
}
