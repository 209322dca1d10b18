import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
@testable import BootRun
import SEVocabulary
import TestSupport
import Attestation
import RequestBuilding

/// Attestation in the boot run (policy `attestation`): the tenant's request
/// is checked with the requests, the run attests after the store is locked
/// and verified, and the response binds the run (RunBinding, RunFacts).
/// The tenant's side here is the tenant's own code: decrypt with the
/// protection key, recompute the measurement.
@Suite struct AttestationBootTests {
    struct Tenant {
        let built: AttestationRequestBuilder.Built
        let file: [UInt8]
    }

    /// A request for the guest's host key, as `pvattest create` makes it.
    static func tenantRequest(_ g: Guest, flags: AttestationFlags = [.secretStoreHash, .imagePHKH],
                              hostKey: PublicKey? = nil) throws -> Tenant {
        let key = try hostKey ?? g.sim.requestTarget().hostKey
        let built = try AttestationRequestBuilder(hostKeys: [key], additionalData: flags).build()
        let exchange = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb))
        return Tenant(built: built, file: exchange.bytes)
    }

    /// The example's requests plus `attestation` (nil: none) in a new directory.
    static func requests(_ g: Guest, _ name: String, attestation: [UInt8]?, file: String = Policy.AttestationRules.defaultRequestFile) throws -> String {
        let dir = try g.copyOfRequests(name)
        if let attestation { try FileIO.writeAtomically(dir + "/" + file, attestation, mode: 0o644) }
        return dir
    }

    static func policy(_ g: Guest, _ name: String, _ attestation: [(String, JSON)]) throws -> String {
        try g.policyVariant(name) { replacing(&$0, "attestation", .object(attestation)) }
    }

    static func problems(_ report: JSON) -> [String] {
        (report["problems"]?.array ?? []).compactMap { $0["rule"]?.string }
    }

    @Test func aRequiredAttestationBindsTheRunAndTheTenantVerifiesIt() throws {
        let g = try Guest("attest-required")
        let t = try Self.tenantRequest(g)
        let policyPath = try Self.policy(g, "p.json", [("mode", .string("required"))])
        let (result, stderr) = g.boot(g.config(policy: policyPath, requests: try Self.requests(g, "rq", attestation: t.file)))
        #expect(result.succeeded, "\(stderr)")
        let report = try g.report()
        #expect(report["attestation"]?["performed"] == .bool(true))
        #expect(report["attestation"]?["mode"] == .string("required"))

        // What leaves the guest: the response and the facts it binds.
        let response = try AttestationExchangeResponse.parse(try FileIO.read(g.runDir + "/attestation-response.bin", limit: 1 << 20))
        let facts = try FileIO.read(g.runDir + "/facts.json", limit: 1 << 20)
        #expect(response.arcb == t.built.arcb)

        // The tenant: decrypt with the protection key, recompute the measurement.
        let arcb = try AttestationRequest.parse(response.arcb)
        let secret = try arcb.decrypt(protectionKey: t.built.protectionKey)
        let state = try g.state()
        let items = MeasuredItems(tags: state.config.imageTags, configUID: response.configUID, userData: response.userData ?? [],
                                  nonce: secret.nonce, additionalData: response.additionalData ?? [])
        #expect(try Measurement.verify(response.measurement, key: secret.measurementKey, items: items))
        var otherTags = state.config.imageTags
        otherTags.tag[0] ^= 1
        #expect(!(try Measurement.verify(response.measurement, key: secret.measurementKey,
                                         items: MeasuredItems(tags: otherTags, configUID: response.configUID, userData: response.userData ?? [],
                                                              nonce: secret.nonce, additionalData: response.additionalData ?? []))))

        // The binding: this policy, these facts.
        let policy = try Policy.load(path: policyPath)
        let binding = try RunBinding.parse(try #require(response.userData))
        #expect(binding.policySHA256 == policy.digest)
        #expect(binding.factsSHA256 == Digest.sha256(facts))
        let f = try RunFacts.parse(facts)
        #expect(f.policySHA256 == policy.digest)
        #expect(f.attestationRequestSHA256 == Digest.sha256(t.file))
        #expect(f.storeLocked)
        let check = Evaluator(policy: policy).evaluate(try RequestSet.load(directory: g.requests, policy: policy))
        #expect(f.requests.map(\.file) == check.submissionOrder)
        #expect(f.requests.allSatisfy { $0.result == "added" })
        // The attested secret-store hash is the locked store's, as predicted and as in the facts.
        let additional = try AdditionalData.parse(try #require(response.additionalData), flags: arcb.flags)
        #expect(additional.secretStoreHash == check.secretStoreHash)
        #expect(f.secretStoreHash == check.secretStoreHash)
        #expect(report["store"]?["secret_store_hash"] == .string(check.secretStoreHash.hex))
        #expect(report["attestation"]?["facts_sha256"] == .string(Digest.sha256(facts).hex))

        // Nothing secret in what leaves the guest.
        let response0 = try FileIO.read(g.runDir + "/attestation-response.bin", limit: 1 << 20)
        for value in try g.secretValues() {
            #expect(!contains(facts, value) && !contains(response0, value))
        }
        #expect(!contains(facts, t.built.protectionKey.unsafeCopyToArray()) && !contains(response0, t.built.protectionKey.unsafeCopyToArray()))
    }

    @Test func aMissingRequiredRequestStopsTheRunBeforeAnythingIsAdded() throws {
        let g = try Guest("attest-missing")
        let policyPath = try Self.policy(g, "p.json", [("mode", .string("required"))])
        let (result, _) = g.boot(g.config(policy: policyPath, requests: try Self.requests(g, "rq", attestation: nil)))
        #expect(!result.succeeded)
        #expect(result.failure?.step == "check")
        let report = try g.report()
        #expect(Self.problems(report).contains("attestation-missing"))
        #expect(try g.state().acceptedRequestTags.isEmpty)
        #expect(report["attestation"]?["performed"] == .bool(false))
    }

    @Test func anOptionalAttestationWithoutARequestBootsWithoutAttesting() throws {
        let g = try Guest("attest-optional")
        let policyPath = try Self.policy(g, "p.json", [("mode", .string("optional"))])
        let (result, stderr) = g.boot(g.config(policy: policyPath, requests: try Self.requests(g, "rq", attestation: nil)))
        #expect(result.succeeded, "\(stderr)")
        #expect(try g.report()["attestation"]?["performed"] == .bool(false))
        #expect(FileIO.kind(of: g.runDir + "/attestation-response.bin") == nil)
        #expect(stderr.contains("not attesting"))
    }

    @Test func aRequestFileIsNotReadWhenThePolicyDoesNotAttest() throws {
        let g = try Guest("attest-off")
        let (result, _) = g.boot(g.config(requests: try Self.requests(g, "rq", attestation: Array(repeating: 0xEE, count: 100))))
        #expect(result.succeeded)
        let report = try g.report()
        #expect(report["attestation"]?["mode"] == .string("off"))
        #expect(report["requests_source"]?["ignored_files"]?.array.contains(.string(Policy.AttestationRules.defaultRequestFile)) == true)
    }

    @Test func eachRuleOfTheAttestationRequestRefusesTheSet() throws {
        let g = try Guest("attest-rules")
        let policyPath = try Self.policy(g, "p.json", [("mode", .string("optional"))])
        func refused(_ name: String, _ file: [UInt8], policy: String? = nil) throws -> [String] {
            let (result, _) = g.boot(g.config(policy: policy ?? policyPath, requests: try Self.requests(g, name, attestation: file)))
            #expect(!result.succeeded)
            #expect(try g.state().acceptedRequestTags.isEmpty)
            return Self.problems(try g.report())
        }
        // Not the exchange format.
        #expect(try refused("rq-garbage", Array(repeating: 0x41, count: 200)) == ["attestation-malformed"])
        // A buffer size the ARCB does not need (the file's header is not authenticated).
        let t = try Self.tenantRequest(g)
        #expect(try refused("rq-inflated", ExchangeFileTweak.set(t.file, additionalSize: 72)) == ["attestation-malformed"])
        // No secret-store hash asked for.
        let noHash = try Self.tenantRequest(g, flags: [.imagePHKH])
        #expect(try refused("rq-nohash", noHash.file) == ["attestation-no-store-hash"])
        // For another machine.
        let other = try PrivateKey.generate(.ec(.p521)).publicKey
        let foreign = try Self.tenantRequest(g, hostKey: other)
        #expect(try refused("rq-foreign", foreign.file) == ["attestation-foreign-host"])
        // Pinned, and another file.
        let pinned = try Self.policy(g, "pinned.json", [("mode", .string("required")), ("trust", .string("pinned")),
                                                        ("sha256", .array([.string(Digest.sha256(t.file).hex)]))])
        #expect(try refused("rq-unpinned", Self.tenantRequest(g).file, policy: pinned) == ["attestation-not-pinned"])
        let (ok, stderr) = g.boot(g.config(policy: pinned, requests: try Self.requests(g, "rq-pinned", attestation: t.file)))
        #expect(ok.succeeded, "\(stderr)")
    }

    @Test func aRequestTheUltravisorCannotOpenFailsTheBootAfterTheLock() throws {
        let g = try Guest("attest-tampered")
        let t = try Self.tenantRequest(g)
        // One byte of the encrypted area: the format holds, the GCM tag does not.
        var arcb = t.built.arcb
        arcb[arcb.count - 20] ^= 1
        let tampered = try AttestationExchangeRequest(try AttestationRequest.parse(arcb)).bytes
        let policyPath = try Self.policy(g, "p.json", [("mode", .string("required"))])
        let (result, _) = g.boot(g.config(policy: policyPath, requests: try Self.requests(g, "rq", attestation: tampered)))
        #expect(!result.succeeded)
        #expect(result.failure?.step == "attest")
        #expect(result.failure?.failureClass == .ultravisor)
        #expect(result.failure?.message.contains("0x010c") == true)
        let report = try g.report()
        #expect(report["store"]?["locked"] == .bool(true))
        #expect(report["attestation"]?["performed"] == .bool(false))
        #expect(FileIO.kind(of: g.runDir + "/attestation-response.bin") == nil)
    }
}

/// Changes the buffer sizes in an exchange file's header.
enum ExchangeFileTweak {
    static func set(_ file: [UInt8], additionalSize: UInt32) -> [UInt8] {
        var f = file
        let at = 0x28   // additional data entry: size (u32), offset (u32)
        f[at] = UInt8(additionalSize >> 24); f[at + 1] = UInt8((additionalSize >> 16) & 0xff)
        f[at + 2] = UInt8((additionalSize >> 8) & 0xff); f[at + 3] = UInt8(additionalSize & 0xff)
        return f
    }
}

/// A second run of the same boot (same run directory) that does not attest
/// leaves nothing of the first run's attestation behind.
@Suite struct AttestationRerunTests {
    @Test func aLaterRunThatFailsBeforeAttestingLeavesNoEarlierResponseOrFacts() throws {
        let g = try Guest("attest-rerun")
        let t = try AttestationBootTests.tenantRequest(g)
        let policyPath = try AttestationBootTests.policy(g, "p.json", [("mode", .string("required"))])
        let good = try AttestationBootTests.requests(g, "rq", attestation: t.file)
        let (first, stderr) = g.boot(g.config(policy: policyPath, requests: good))
        #expect(first.succeeded, "\(stderr)")
        #expect(FileIO.kind(of: g.runDir + "/attestation-response.bin") == .regular)
        #expect(FileIO.kind(of: g.runDir + "/facts.json") == .regular)
        // The second run's set fails the check: it never reaches the attest step.
        let bad = try AttestationBootTests.requests(g, "rq-bad", attestation: t.file)
        try FileIO.writeAtomically(bad + "/zz-stray.asr", Array(repeating: 0xEE, count: 2000), mode: 0o644)
        let (second, _) = g.boot(g.config(policy: policyPath, requests: bad))
        #expect(!second.succeeded)
        #expect(second.failure?.step == "check")
        #expect(FileIO.kind(of: g.runDir + "/attestation-response.bin") == nil)
        #expect(FileIO.kind(of: g.runDir + "/facts.json") == nil)
        #expect(try g.report()["attestation"]?["performed"] == .bool(false))
    }
}

/// The attest step's second line: a required attestation without a checked
/// request fails the run (the check stops such a set first).
@Suite struct AttestStepRequestTests {
    @Test func aRequiredAttestationWithoutACheckedRequestFails() throws {
        let g = try Guest("attest-second-line")
        let t = try AttestationBootTests.tenantRequest(g)
        let required = try Policy.load(path: try AttestationBootTests.policy(g, "r.json", [("mode", .string("required"))]))
        let optional = try Policy.load(path: try AttestationBootTests.policy(g, "o.json", [("mode", .string("optional"))]))
        let dir = try AttestationBootTests.requests(g, "rq", attestation: t.file)
        var e = Evaluator(policy: required).evaluate(try RequestSet.load(directory: dir, policy: required))
        #expect(e.passed, "\(e.allProblems)")
        #expect(try AttestStep.request(policy: required, evaluation: e)?.sha256 == Digest.sha256(t.file))
        e.attestation = nil
        #expect(throws: BootFailure.self) { try AttestStep.request(policy: required, evaluation: e) }
        #expect(try AttestStep.request(policy: optional, evaluation: e) == nil)
    }
}

/// A required attestation that the ultravisor cannot do stops the run
/// before anything is added (the probe, and the check of the request's
/// version and flags against sysfs), not after the store is filled and locked.
@Suite struct AttestationSupportTests {
    /// The guest's simulated sysfs, with one query file replaced.
    static func sysfs(_ g: Guest, _ name: String, _ file: String, _ value: UInt64) throws -> String {
        let root = g.dir + "/" + name
        try FileIO.makeDirectories(root + "/firmware/uv/query", mode: 0o755)
        for f in ["prot_virt_guest"] {
            if let b = try? FileIO.read(g.sim.sysfsRoot + "/firmware/uv/" + f, limit: 4096) {
                try FileIO.writeAtomically(root + "/firmware/uv/" + f, b, mode: 0o644)
            }
        }
        for e in try FileIO.list(g.sim.sysfsRoot + "/firmware/uv/query") {
            try FileIO.writeAtomically(root + "/firmware/uv/query/" + e.name,
                                       try FileIO.read(g.sim.sysfsRoot + "/firmware/uv/query/" + e.name, limit: 4096), mode: 0o644)
        }
        let hex = String(value, radix: 16)
        try FileIO.writeAtomically(root + "/firmware/uv/query/" + file,
                                   Array((String(repeating: "0", count: 16 - hex.count) + hex + "\n").utf8), mode: 0o644)
        return root
    }

    static func run(_ g: Guest, sysfs: String, flags: AttestationFlags = [.secretStoreHash, .imagePHKH])
        throws -> (BootResult, String) {
        let t = try AttestationBootTests.tenantRequest(g, flags: flags)
        let policy = try AttestationBootTests.policy(g, "p.json", [("mode", .string("required"))])
        return g.boot(g.config(policy: policy, requests: try AttestationBootTests.requests(g, "rq", attestation: t.file), sysfs: sysfs))
    }

    @Test func anUltravisorWithoutTheStoreHashStopsARequiredAttestationAtTheProbe() throws {
        let g = try Guest("attest-no-store-hash")
        let offered: AttestationFlags = [.nonce, .imagePHKH, .attestationPHKH]
        let (r, e) = try Self.run(g, sysfs: try Self.sysfs(g, "s", "supp_att_pflags", offered.rawValue))
        #expect(r.failure?.step == "probe", "\(e)")
        #expect(r.failure?.message.contains("cannot report the secret-store hash") == true)
        #expect(try g.state().store.isEmpty)
        #expect(!(try g.state().isLocked))
    }

    @Test func aRequestAskingForWhatTheUltravisorDoesNotOfferStopsAtTheCheck() throws {
        let g = try Guest("attest-flag-not-offered")
        let offered: AttestationFlags = [.nonce, .imagePHKH, .secretStoreHash]
        let sysfs = try Self.sysfs(g, "s", "supp_att_pflags", offered.rawValue)
        let (r, e) = try Self.run(g, sysfs: sysfs, flags: [.secretStoreHash, .firmwareState])
        #expect(r.failure?.step == "check", "\(e)")
        #expect(r.failure?.message.contains("asks for firmware-state, which this ultravisor does not offer") == true)
        #expect(try g.state().store.isEmpty)
        // What it offers passes, on the same sysfs.
        let g2 = try Guest("attest-flag-offered")
        let (ok, e2) = try Self.run(g2, sysfs: try Self.sysfs(g2, "s", "supp_att_pflags", offered.rawValue),
                                    flags: [.secretStoreHash])
        #expect(ok.succeeded, "\(e2)")
    }

    @Test func aRequestVersionTheUltravisorDoesNotTakeStopsAtTheCheck() throws {
        let g = try Guest("attest-version")
        // MSB0 bit 1: version 0x200 only.
        let (r, e) = try Self.run(g, sysfs: try Self.sysfs(g, "s", "supp_att_req_hdr_ver", 1 << 62))
        #expect(r.failure?.step == "check", "\(e)")
        #expect(r.failure?.message.contains("has version 0x100, which this ultravisor does not take") == true)
        #expect(try g.state().store.isEmpty)
    }
}
