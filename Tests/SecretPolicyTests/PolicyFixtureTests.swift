import Foundation
import Testing
@testable import SecretPolicy

/// The policy corpus in Fixtures/policies is shared with
/// scripts/check-policy-schema.py: the JSON Schema must accept exactly the
/// valid-*.json documents, and so must the parser. A document on which the
/// two disagree is a bug in one of them.
enum PolicyFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures/policies", isDirectory: true)

    static let all: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    static let valid = all.filter { $0.hasPrefix("valid-") }
    static let invalid = all.filter { $0.hasPrefix("invalid-") }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// Why each invalid fixture is refused (invalid-expectations.tsv): the
    /// JSON path the parser must name and a part of its message.
    struct Refusal: Sendable { let path: String; let reason: String }

    static let refusals: [String: Refusal] = {
        let url = directory.appendingPathComponent("invalid-expectations.tsv")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [:] }  // refusalsAreComplete fails then
        var table: [String: Refusal] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            precondition(cols.count == 3 && table[cols[0]] == nil, "invalid-expectations.tsv: bad or repeated line \(line)")
            table[cols[0]] = Refusal(path: cols[1], reason: cols[2])
        }
        return table
    }()
}

@Suite struct PolicyFixtureTests {
    @Test func corpusIsComplete() {
        #expect(PolicyFixtures.valid.count >= 12, "at least 12 valid policies in \(PolicyFixtures.directory.path)")
        #expect(PolicyFixtures.invalid.count >= 25, "at least 25 invalid policies in \(PolicyFixtures.directory.path)")
        let misnamed = PolicyFixtures.all.filter { !$0.hasPrefix("valid-") && !$0.hasPrefix("invalid-") }
        #expect(misnamed.isEmpty, "fixture names start with valid- or invalid-: \(misnamed)")
    }

    @Test(arguments: PolicyFixtures.valid)
    func validPolicyParses(_ name: String) throws {
        let bytes = try PolicyFixtures.bytes(name)
        do {
            let policy = try Policy.parse(bytes, source: name)
            #expect(policy.version == Policy.currentVersion)
        } catch {
            Issue.record("\(name) should parse, but: \(error)")
        }
    }

    /// Each invalid fixture is refused for the reason it was written for: the
    /// parser's error names the expected JSON path and says the expected thing.
    @Test(arguments: PolicyFixtures.invalid)
    func invalidPolicyIsRefusedForItsReason(_ name: String) throws {
        let expected = try #require(PolicyFixtures.refusals[name], "\(name) has no line in invalid-expectations.tsv")
        let bytes = try PolicyFixtures.bytes(name)
        do {
            _ = try Policy.parse(bytes, source: name)
            Issue.record("\(name) should be refused")
        } catch let e as PolicyError {
            #expect(e.path == expected.path, "\(name): \(e)")
            #expect(e.message.contains(expected.reason), "\(name): \(e)")
        }
    }

    /// The table and the corpus name the same fixtures.
    @Test func refusalsAreComplete() {
        #expect(!PolicyFixtures.refusals.isEmpty, "invalid-expectations.tsv is missing or empty")
        let fixtures = Set(PolicyFixtures.invalid)
        let listed = Set(PolicyFixtures.refusals.keys)
        #expect(fixtures.subtracting(listed).sorted() == [], "invalid fixtures without a line in invalid-expectations.tsv")
        #expect(listed.subtracting(fixtures).sorted() == [], "lines in invalid-expectations.tsv without a fixture")
    }

    /// The example that `se-secretd example` writes, as kept in the corpus,
    /// says what docs/policy.md says it does.
    @Test func examplePolicyMeansWhatTheDocsSay() throws {
        let p = try Policy.parse(try PolicyFixtures.bytes("valid-example.json"))
        #expect(p.requests.volume == .label("SE-SECRETS"))
        #expect(p.requests.maxFileSize == 1 << 20 && p.requests.waitSeconds == 30 && p.requests.suffix == ".asr")
        #expect(p.trust.require == .any && p.trust.signers.map(\.name) == ["tenant"])
        #expect(p.trust.minEpoch == 1 && p.trust.sameEpoch)
        #expect(p.store.lock && p.store.allowMeta && !p.store.allowUpdateCCK && p.store.requiredFlags == ["disable-dump"])
        #expect(p.secrets.map(\.name) == ["luks-root", "ssh-host-ecdsa", "tls-server-key", "root-authorized-keys", "data-volume-key"])
        #expect(p.secrets.last?.required == false)
        #expect(p.onFailure == .poweroff)
    }

    /// null means "the default", everywhere an optional key is allowed.
    @Test func nullsMeanDefaults() throws {
        let p = try Policy.parse(try PolicyFixtures.bytes("valid-nulls-mean-defaults.json"))
        #expect(p.requests == Policy.RequestSource(volume: nil, directory: ".", suffix: ".asr", maxRequests: 64,
                                                   maxFileSize: 1 << 20, waitSeconds: 30))
        #expect(p.store == Policy.StoreRules(lock: true, allowMeta: false, allowUpdateCCK: false, requiredFlags: [], configUID: nil))
        #expect(p.trust.require == .any && p.onFailure == .poweroff)
        #expect(p.secrets[0].required && p.secrets[0].length == nil && p.secrets[0].signers == nil)
        guard case let .luks(l)? = p.secrets[0].actions.first else { Issue.record("expected a luks action"); return }
        #expect(l.keyUse == .passphrase && !l.readOnly && !l.discard && l.expectCipher == nil)
        #expect(p.secrets[2].actions == [.passwordHash(user: "root")])
    }

    @Test func ebcExampleForPvicsImages() throws {
        let p = try Policy.parse(try PolicyFixtures.bytes("valid-ebc-pvics.json"))
        #expect(p.requests.volume == .label("boot") && p.requests.directory == "sics")
        #expect(p.trust.ebc == Policy.EBCTrust(toc: "toc.asr", tocSHA256: nil, policySHA256: nil, allowUnpinnedTOC: true))
        #expect(p.store.allowUpdateCCK && p.secrets.contains { $0.type == .updateCCK })
    }

    /// The complete examples in docs/policy.md are the corpus documents named
    /// in their `<!-- fixture: NAME -->` markers, character for character.
    @Test func docsExamplesAreFixtures() throws {
        let docs = PolicyFixtures.directory
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/policy.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        var found = 0
        for part in text.components(separatedBy: "<!-- fixture: ").dropFirst() {
            guard let end = part.range(of: " -->") else { Issue.record("unterminated fixture marker"); continue }
            let name = String(part[..<end.lowerBound])
            let rest = part[end.upperBound...]
            guard let open = rest.range(of: "```json\n"), let close = rest.range(of: "\n```", range: open.upperBound..<rest.endIndex) else {
                Issue.record("no json block after the marker for \(name)"); continue
            }
            let block = String(rest[open.upperBound..<close.lowerBound]) + "\n"
            let fixture = String(decoding: try PolicyFixtures.bytes(name), as: UTF8.self)
            #expect(block == fixture, "the example in docs/policy.md differs from \(name)")
            found += 1
        }
        #expect(found == 2, "docs/policy.md should show the two complete examples")
    }
}
