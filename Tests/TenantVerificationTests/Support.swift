import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import SecretPolicy
import ResultsRecord
import UVDevice
import UVSimulator
import UVCommands
import BootRun
import RequestBuilding
import SecretdWorkbench
import TenantVerification
import TestSupport

/// The tenant's deployment: an example set (signed requests and the policy
/// that accepts exactly them) for one fixed host key and image, written once.
final class Deployment: Sendable {
    let dir: TempDir
    let example: ExampleSet.Written
    let tags: SEHeaderTags
    let configUID: [UInt8]
    /// An SE header with `tags` (what the tenant's image carries).
    let seHeader: [UInt8]
    let policy: Policy
    let set: RequestSet
    let evaluation: Evaluation

    init(pinConfigUID: Bool) throws {
        dir = try TempDir("verify-deployment")
        tags = SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
        configUID = Random.bytes(16)
        seHeader = Deployment.header(tags)
        var ex = ExampleSet()
        ex.hostKey = Keys.host.publicKey
        ex.hostKeyDocumentPEM = try Certificate.selfSigned(key: Keys.host, commonName: "verify test host", organization: "se-secretd tests",
                                                           days: 30).pem
        ex.tags = tags
        if pinConfigUID { ex.configUID = configUID }
        example = try ex.write(to: dir.appending("example"))
        policy = try Policy.load(path: example.policyPath)
        set = try RequestSet.load(directory: example.requestDirectory, rules: policy.requests, includeEBC: false)
        evaluation = Evaluator(policy: policy).evaluate(set)
    }

    static let shared = try! Deployment(pinConfigUID: false)
    static let pinned = try! Deployment(pinConfigUID: true)

    /// A minimal SE header: magic, version, size, PLD/ALD/TLD at 0xE0, the tag last.
    static func header(_ t: SEHeaderTags) -> [UInt8] {
        var h = SEHeader.magic
        h.appendBE(UInt32(0x100))
        h.appendBE(UInt32(0x1A0 + 16))
        h += [UInt8](repeating: 0, count: 0xE0 - h.count)
        return h + t.pld + t.ald + t.tld + t.tag
    }

    func file(_ name: String) -> RequestFile { set.requests.first { $0.name == name }! }

    /// The example's secret values as stored (what no output may show).
    func secretValues() throws -> [[UInt8]] {
        try FileIO.list(example.directory + "/values").map { try FileIO.read(example.directory + "/values/" + $0.name, limit: 1 << 20) }
    }

    /// The request set without one file.
    func requests(without name: String) -> RequestSet { RequestSet(requests: set.requests.filter { $0.name != name }) }
}

/// One boot run of the deployment on a fresh simulated machine (in
/// memory), done as the boot run does it: the requests added in the order
/// given (default: the policy's), the store locked, the facts document
/// written, ATT with the tenant's request and the run binding as user data
/// (through PerformAttestation, as `se-secretd attest` and the boot run),
/// and the results record assembled.
struct BootRunEvidence {
    let deployment: Deployment
    let state: SimulatorState
    let client: UVClient
    /// The tenant's attestation request (exchange file) and what it keeps.
    let requestBytes: [UInt8]
    let built: AttestationRequestBuilder.Built
    let order: [String]
    let facts: [UInt8]
    let response: AttestationExchangeResponse
    let report: [UInt8]

    struct Options {
        var order: [String]? = nil
        var lock = true
        var flags: AttestationFlags = [.imagePHKH, .attestationPHKH, .secretStoreHash]
        /// A change to the facts before they are bound (a run that lies in its facts).
        var facts: (inout RunFacts) -> Void = { _ in }
        /// User data instead of the run binding.
        var userData: [UInt8]? = nil
        /// The policy digest to bind instead of the deployment's.
        var policyDigest: [UInt8]? = nil
    }

    init(_ d: Deployment = .shared, _ o: Options = Options()) throws {
        deployment = d
        var so = SimulatorOptions()
        so.hostKey = Array(Keys.host.privateKeyPEM.utf8)
        so.imageTags = d.tags
        so.configUID = d.configUID
        state = try SimulatorState(options: so)
        client = UVClient(transport: SimulatedUVTransport(state: state))
        #expect(d.evaluation.passed, "\(d.evaluation.allProblems)")
        order = o.order ?? d.evaluation.submissionOrder
        for name in order { try client.addSecret(d.file(name).bytes) }
        if o.lock { try client.lock() }

        built = try AttestationRequestBuilder(hostKeys: [Keys.host.publicKey], additionalData: o.flags).build()
        requestBytes = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb)).bytes

        var f = RunFacts(policySHA256: d.policy.digest, attestationRequestSHA256: Digest.sha256(requestBytes),
                         hostKeyHashes: [state.hostKeyHash],
                         requests: order.enumerated().map { i, name in
                             let v = d.evaluation.verdict(for: name)!
                             return RunFacts.Request(order: i + 1, file: name, sha256: v.sha256, secretID: v.request?.secretID,
                                                     secretType: v.request!.secretType.name, result: "added")
                         },
                         storeLocked: state.isLocked, storeSecrets: state.store.count, secretStoreHash: state.secretStoreHash)
        o.facts(&f)
        facts = f.bytes
        let userData = try o.userData ?? RunBinding(policySHA256: o.policyDigest ?? d.policy.digest, facts: facts).userData
        let parsed = try PerformAttestation.parse(requestBytes, file: "attestation-request.bin")
        response = try PerformAttestation.perform(parsed, userData: userData, client: client)
        report = Array(BootReport.json(BootRecord(policyPath: "/etc/se-secretd/policy.json"), totalMilliseconds: 1).serialized().utf8)
    }

    /// The results record as the boot run writes it: report, response, facts.
    var record: ResultsRecord {
        get throws {
            try ResultsRecord([.init(.report, report), .init(.attestationResponse, response.bytes), .init(.facts, facts)])
        }
    }

    /// The tenant's verification of `evidence` with this run's request and key
    /// (or others given).
    func verify(_ evidence: Evidence, request: [UInt8]? = nil, protectionKey: SecureBytes? = nil, tags: SEHeaderTags? = nil,
                policy: Policy? = nil, set: RequestSet? = nil, hostKeyHashes: [[UInt8]]? = nil) throws -> VerificationResult {
        let imageTags = try tags ?? SEHeader.tags(from: deployment.seHeader)
        return TenantVerifier.verify(VerificationInput(
            evidence: evidence, request: try TenantRequest.parse(request ?? requestBytes),
            protectionKey: protectionKey ?? SecureBytes(copying: built.protectionKey.unsafeCopyToArray()),
            imageTags: imageTags, policy: policy ?? deployment.policy,
            requests: set ?? deployment.set, hostKeyHashes: hostKeyHashes))
    }

    /// The response with one change.
    func response(_ change: (inout [UInt8]?, inout [UInt8]?, inout [UInt8]) -> Void) throws -> AttestationExchangeResponse {
        var user = response.userData, add = response.additionalData, cuid = response.configUID
        change(&user, &add, &cuid)
        return try AttestationExchangeResponse(arcb: response.arcb, measurement: response.measurement, additionalData: add,
                                               userData: user, configUID: cuid)
    }
}

/// A results record of a boot run that failed before it attested: its report only.
func failedBootRecord(_ message: String) throws -> ResultsRecord {
    var r = BootRecord(policyPath: "/etc/se-secretd/policy.json")
    r.failure = BootFailure(.policy, step: "check", message)
    let report = Array(BootReport.json(r, totalMilliseconds: 2).serialized().utf8)
    return try ResultsRecord([.init(.report, report)])
}

/// A console log as a serial console shows it: boot noise, timestamps,
/// carriage returns, and each record's lines (in the order given).
func consoleLog(_ records: [ResultsRecord]) throws -> [UInt8] {
    var text = "[    0.000000] Linux version 6.13.0 (s390x)\r\n[    1.100000] systemd[1]: Starting se-secretd boot run...\r\n"
    for (n, r) in records.enumerated() {
        for line in try ConsoleFrame.lines(r) {
            text += "[    \(2 + n).\(String(line.count).padding(6))] se-secretd: \(line)\r\n"
        }
        text += "[    \(2 + n).999999] systemd[1]: Finished something else.\r\n"
    }
    return Array(text.utf8)
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

extension VerificationResult {
    /// The outcome of each check, by id.
    var outcomes: [CheckID: VerificationCheck.Outcome] {
        Dictionary(uniqueKeysWithValues: checks.map { ($0.id, $0.outcome) })
    }
    func rule(_ id: CheckID) -> String? { check(id)?.rule }
    func message(_ id: CheckID) -> String { check(id)?.message ?? "" }
}

/// True when `haystack` contains `needle` as bytes.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, needle.count <= haystack.count else { return false }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if Array(haystack[i..<(i + needle.count)]) == needle { return true }
    }
    return false
}
