import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import BootRun
import SEVocabulary
import TestSupport
import Attestation
import RequestBuilding

/// The boot run's steps as values, each tested without the others: the
/// plan a checked set becomes, the store's verification against a list,
/// the report rendered from a record.
@Suite struct PipelineTests {
    struct Checked {
        let policy: Policy
        let evaluation: Evaluation
    }

    static func checked(_ g: Guest, policy: String? = nil) throws -> Checked {
        let p = try Policy.load(path: policy ?? g.example.policyPath)
        let set = try RequestSet.load(directory: g.requests, rules: p.requests, includeEBC: false)
        return Checked(policy: p, evaluation: Evaluator(policy: p).evaluate(set))
    }

    func failure(_ body: () throws -> Any) -> BootFailure? {
        do { _ = try body(); return nil } catch { return error as? BootFailure }
    }

    // MARK: check → plan

    @Test func aPassingSetBecomesAPlanInSubmissionOrder() throws {
        let g = try Guest("plan")
        let c = try Self.checked(g)
        let plan = try SubmissionPlan(c.evaluation, maxSecrets: nil)
        #expect(plan.items.map(\.file) == c.evaluation.submissionOrder)
        #expect(plan.items.map(\.order) == Array(1...plan.items.count))
        #expect(plan.tags == plan.items.map(\.request.gcmTag))
        // The hash for the policy's own lock state is the check's; the other is computed.
        #expect(plan.storeHash(locked: c.evaluation.lockStore) == c.evaluation.secretStoreHash)
        #expect(plan.storeHash(locked: !c.evaluation.lockStore)
                == SecretStoreHash.compute(tags: plan.tags, locked: !c.evaluation.lockStore, sha512: Digest.sha512))
        #expect(plan.storeHash(locked: true) != plan.storeHash(locked: false))
    }

    @Test func aRefusedSetIsNoPlan() throws {
        let g = try Guest("plan-refused")
        let dir = try g.copyOfRequests()
        try FileIO.writeAtomically(dir + "/stray.asr", Array(repeating: 0xEE, count: 64), mode: 0o644)
        let p = try Policy.load(path: g.example.policyPath)
        let e = Evaluator(policy: p).evaluate(try RequestSet.load(directory: dir, rules: p.requests, includeEBC: false))
        #expect(!e.passed)
        let f = try #require(failure { try SubmissionPlan(e, maxSecrets: nil) })
        #expect(f.failureClass == .policy && f.step == "check")
        #expect(f.message.hasPrefix("the requests violate the policy (\(e.allProblems.count) problem"))
    }

    @Test func aPlanMustFitTheStore() throws {
        let g = try Guest("plan-full")
        let c = try Self.checked(g)
        let listable = c.evaluation.verdicts.filter { $0.request?.secretType.isListable == true }.count
        #expect(try SubmissionPlan(c.evaluation, maxSecrets: listable).items.count == c.evaluation.submissionOrder.count)
        let f = try #require(failure { try SubmissionPlan(c.evaluation, maxSecrets: listable - 1) })
        #expect(f.failureClass == .device)
        #expect(f.message == "\(listable) secrets do not fit a store of \(listable - 1)")
    }

    // MARK: verify

    /// A booted guest's list, and the plan it came from.
    static func booted(_ label: String) throws -> (Guest, SubmissionPlan, Policy, SecretList, JSON) {
        let g = try Guest(label)
        let (result, _) = g.boot()
        #expect(result.succeeded)
        let c = try checked(g)
        return (g, try SubmissionPlan(c.evaluation, maxSecrets: nil), c.policy, try g.client().listAllSecrets(), result.report)
    }

    @Test func theStoreAsBootedVerifiesWithTheReportedHash() throws {
        let (_, plan, policy, list, report) = try Self.booted("verify-ok")
        let v = try StoreVerifier.verify(list, plan: plan, policy: policy, locked: true)
        #expect(v.secrets == list.entries.count)
        #expect(report["store"]?["secret_store_hash"] == .string(v.storeHash.hex))
    }

    @Test func eachWrongStoreIsRefusedWithItsReason() throws {
        let (_, plan, policy, list, _) = try Self.booted("verify-bad")
        let first = try #require(list.entries.first)
        let name = policy.secret(withID: first.id)?.name ?? first.id.hex
        func refused(_ entries: [SecretListEntry]) -> String? {
            let l = SecretList(entries: entries, totalCount: entries.count, nextIndex: 0)
            return failure { try StoreVerifier.verify(l, plan: plan, policy: policy, locked: true) }.map {
                #expect($0.failureClass == .ultravisor && $0.step == "verify")
                return $0.message
            }
        }
        #expect(refused(Array(list.entries.dropFirst())) == "secret \"\(name)\" is in the store 0 times, expected once")
        let twice = SecretListEntry(index: 200, typeCode: first.typeCode, length: first.length, id: first.id)
        #expect(refused(list.entries + [twice]) == "secret \"\(name)\" is in the store 2 times, expected once")
        let otherType: UInt16 = first.typeCode == SecretType.plain.rawValue ? SecretType.aes256.rawValue : SecretType.plain.rawValue
        let retyped = SecretListEntry(index: first.index, typeCode: otherType, length: first.length, id: first.id)
        #expect(refused([retyped] + list.entries.dropFirst())?.hasPrefix("secret \"\(name)\" is listed as ") == true)
        let resized = SecretListEntry(index: first.index, typeCode: first.typeCode, length: first.length + 1, id: first.id)
        #expect(refused([resized] + list.entries.dropFirst())?.hasPrefix("secret \"\(name)\" is listed with \(first.length + 1) bytes") == true)
        let stranger = SecretListEntry(index: 201, typeCode: SecretType.plain.rawValue, length: 32, id: Array(repeating: 0xA5, count: 32))
        #expect(refused(list.entries + [stranger])
                == "the store holds a secret the policy does not name (ID \(stranger.id.hex), plain); refusing to go on")
    }

    /// The ultravisor vouches for what the report and `check` say: after a
    /// boot run, the secret-store hash in the simulated ultravisor's
    /// attestation equals the report's and the check's prediction.
    @Test func theAttestedStoreHashIsTheReportedAndThePredictedOne() throws {
        let (g, plan, _, _, report) = try Self.booted("attest-hash")
        let built = try AttestationRequestBuilder(hostKeys: [try g.sim.requestTarget().hostKey],
                                                  additionalData: [.secretStoreHash]).build()
        let answer = try g.client().attest(request: built.arcb, measurementLength: 64, additionalDataLength: 64)
        let attested = try AdditionalData.parse(answer.additionalData, flags: try AttestationRequest.parse(built.arcb).flags).secretStoreHash
        #expect(attested == plan.evaluation.secretStoreHash)
        #expect(report["store"]?["secret_store_hash"] == .string(try #require(attested).hex))
    }

    // MARK: report

    @Test func aRecordOfARunThatStoppedAtOnceRendersNothingItDidNotDo() throws {
        var r = BootRecord(policyPath: "/etc/se-secretd/policy.json")
        r.failure = BootFailure(.io, step: "prepare", "cannot prepare the run directory")
        let j = BootReport.json(r, totalMilliseconds: 1.5)
        #expect(j["verdict"] == .string("failed"))
        #expect(j["failure"]?["class"] == .string("io"))
        #expect(j["on_failure"] == .string("poweroff"))
        #expect(j["policy"]?["sha256"] == .null)
        #expect(j["store"]?["locked"] == .null)
        #expect(j["store"]?["verified"] == .bool(false))
        #expect(j["store"]?["secret_store_hash"] == nil)
        #expect(j["requests"] == .array([]))
        #expect(j["timings_ms"]?["total"] == .double(1.5))
        let (level, line) = BootReport.summary(r, reportPath: nil)
        #expect(level == .error)
        #expect(line == "FAILED (io) at prepare; the boot must stop: poweroff. Report: none")
    }

    @Test func aRecordWithADeviceButNoLockReportsTheStoreUnlocked() throws {
        var r = BootRecord(policyPath: "p.json")
        r.hadDevice = true
        r.failure = BootFailure(.policy, step: "check", "x")
        #expect(BootReport.json(r, totalMilliseconds: 0)["store"]?["locked"] == .bool(false))
    }
}
