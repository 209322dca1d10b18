import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
@testable import SecretPolicy
import RequestBuilding
import TestSupport

/// Builds requests and policies for a scenario in a temporary directory.
/// The directory goes away with the last copy of the value.
struct Scenario {
    let tmp: TempDir
    var dir: String { tmp.path }
    var requestDir: String { dir + "/requests" }

    init(_ label: String = "s") throws {
        tmp = try TempDir("policy-" + label)
        mkdir(dir + "/requests", 0o755)
    }

    static func request(_ secret: RequestBuilder.Secret, signer: PrivateKey? = Keys.tenant, host: PrivateKey = Keys.host,
                        tags: SEHeaderTags = fixedTags, dump: Bool = false, cuid: [UInt8]? = nil,
                        unsignedData: [UInt8]? = nil) -> [UInt8] {
        var b = RequestBuilder(secret: secret, hostKeys: [host.publicKey], tags: tags)
        if let s = signer { b.userData = .signed(Array("ud".utf8), key: s) }
        if let u = unsignedData { b.userData = .unsigned(u) }
        b.flags.disableDump = dump
        if let c = cuid { b.configUID = c }
        return try! b.build()
    }

    static func plain(_ name: String, _ payload: String = "value") -> RequestBuilder.Secret {
        .retrievable(.plain, id: Digest.sha256(Array(name.utf8)),
                     value: try! SecretValue.plaintext(SecureBytes(copying: Array(payload.utf8))))
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> RequestFile {
        try! FileIO.writeAtomically(requestDir + "/" + name, bytes, mode: 0o644)
        return RequestFile(name: name, bytes: bytes)
    }

    func load(_ policy: Policy) throws -> RequestSet {
        try RequestSet.load(directory: requestDir, rules: policy.requests, includeEBC: policy.trust.ebc != nil)
    }

    func evaluate(_ policy: Policy, hosts: [[UInt8]]? = nil) throws -> Evaluation {
        Evaluator(policy: policy, hostKeyHashes: hosts).evaluate(try load(policy))
    }
}

/// Policy documents as JSON text, with the pieces tests vary.
struct PolicyDoc {
    var secrets: [String] = [#"{"name": "luks-root", "type": "plain"}"#]
    var trust = PolicyDoc.signedBy(Keys.tenant)
    var store = #"{"lock": true}"#
    var requests = #"{"volume": "LABEL=SE-SECRETS", "max_requests": 8}"#

    static func signedBy(_ keys: PrivateKey..., names: [String]? = nil) -> String {
        let signers = keys.enumerated().map { i, k in
            let name = names?[i] ?? (i == 0 ? "tenant" : "signer\(i)")
            return #"{"name": "\#(name)", "key": \#(JSON.string(k.publicKey.publicKeyPEM).serialized(pretty: false))}"#
        }
        return #"{"signers": [\#(signers.joined(separator: ","))]}"#
    }

    var text: String {
        #"{"version": 1, "requests": \#(requests), "trust": \#(trust), "store": \#(store), "secrets": [\#(secrets.joined(separator: ","))]}"#
    }

    func parse() throws -> Policy { try Policy.parse(Array(text.utf8)) }
}

extension Evaluation {
    var rules: Set<String> { Set(allProblems.map(\.rule)) }
}

/// Expects exactly these problems, each rule once and naming that file
/// (nil: a problem of the whole set).
func expectProblems(_ e: Evaluation, _ expected: [String: String?], sourceLocation: SourceLocation = #_sourceLocation) {
    let got = Dictionary(grouping: e.allProblems, by: \.rule).mapValues { $0.map(\.file) }
    #expect(got == expected.mapValues { [$0] }, "\(e.allProblems)", sourceLocation: sourceLocation)
}
