import Foundation
import Testing
import SEVocabulary
import SecretPolicy

/// docs/policy.md's rule tables ("Rules reported by `se-secretd check`", up
/// to the next section) list exactly the rules the code can report: no rule
/// without its documentation, no documented rule the code cannot raise.
@Suite struct RuleIDTests {
    static let policyDoc = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/policy.md")

    static func documentedRules() throws -> [String] {
        let text = try String(contentsOf: policyDoc, encoding: .utf8)
        guard let start = text.range(of: "## Rules reported") else { return [] }
        var section = text[start.upperBound...]
        if let next = section.range(of: "\n## ") { section = section[..<next.lowerBound] }
        return section.split(separator: "\n").compactMap { line -> String? in
            // | `rule-id` | ... |
            guard line.hasPrefix("| `"), let end = line.dropFirst(3).firstIndex(of: "`") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 3)..<end])
        }
    }

    @Test func docsListExactlyTheRuleIDs() throws {
        let documented = try Self.documentedRules()
        #expect(documented.count >= 40, "the rule tables of docs/policy.md were not found")
        let code = RuleID.allCases.map(\.rawValue)
        #expect(Set(code).subtracting(documented).sorted() == [], "rules the code reports that docs/policy.md does not list")
        #expect(Set(documented).subtracting(code).sorted() == [], "rules docs/policy.md lists that the code cannot report")
        #expect(documented.count == Set(documented).count, "a rule listed twice")
    }
}

/// HandoffPaths and Action.handoffFile: where each action hands a secret
/// over, the list a failed boot wipes.
@Suite struct HandoffFileTests {
    @Test func keyFilesAndCredentialsAreHandOffFilesAndNothingElseIs() {
        var paths = HandoffPaths()
        paths.keyFileDirectory = "/k"
        paths.credentialDirectory = "/c"
        #expect(Action.keyFile(volume: "root").handoffFile(in: paths) == "/k/root.key")
        #expect(Action.credential(name: "db").handoffFile(in: paths) == "/c/db")
        #expect(Action.keyscript(volume: "root").handoffFile(in: paths) == nil)
        #expect(Action.passwordHash(user: "root").handoffFile(in: paths) == nil)
        #expect(Action.keyFile(volume: "root").summary == "keyfile /run/cryptsetup-keys.d/root.key")
    }
}
