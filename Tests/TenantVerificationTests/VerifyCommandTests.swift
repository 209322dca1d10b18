import Testing
import Glibc
import SEBase
import SECrypto
import Attestation
import ResultsRecord
import TenantVerification
import SecretdCLI
import TestSupport

/// `se-secretd verify` end to end: the tenant's files on disk, the text and
/// the JSON output, the exit codes, and that nothing it prints holds the
/// protection key or a secret value.
@Suite struct VerifyCommandTests {
    /// The tenant's files for one run, in a directory of their own.
    struct Files {
        let tmp: TempDir
        let run: BootRunEvidence
        var request: String { tmp.appending("attreq.bin") }
        var arpk: String { tmp.appending("arp.key") }
        var header: String { tmp.appending("se.hdr") }
        var record: String { tmp.appending("results.img") }
        var log: String { tmp.appending("console.log") }
        var response: String { tmp.appending("attresp.bin") }
        var d: Deployment { run.deployment }

        init(_ run: BootRunEvidence) throws {
            self.run = run
            tmp = try TempDir("verify-cli")
            try FileIO.writeAtomically(request, run.requestBytes, mode: 0o644)
            try FileIO.writeAtomically(arpk, run.built.protectionKey.unsafeCopyToArray(), mode: 0o600)
            try FileIO.writeAtomically(header, run.deployment.seHeader + Random.bytes(8192), mode: 0o644)
            // A results device: the record, then an older record's tail.
            try FileIO.writeAtomically(record, try run.record.bytes + Random.bytes(1000), mode: 0o644)
            try FileIO.writeAtomically(log, try consoleLog([try run.record]), mode: 0o644)
            try FileIO.writeAtomically(response, run.response.bytes, mode: 0o644)
        }

        /// `verify` with the evidence option given and the rest of the tenant's inputs.
        func args(_ evidence: [String], arpk: String? = nil) -> [String] {
            ["verify"] + evidence + ["--request", request, "--arpk", arpk ?? self.arpk, "--se-header", header,
                                     "-p", d.example.policyPath, "-r", d.example.requestDirectory]
        }

        /// What no output may contain: the ARPK (raw, hex either case) and every secret value (raw, hex).
        func assertNoSecrets(_ r: CLIResult, _ label: String) throws {
            let text = Array((r.out + r.err).utf8)
            let key = run.built.protectionKey.unsafeCopyToArray()
            #expect(!contains(text, key), "\(label): the ARPK")
            #expect(!contains(text, Array(key.hex.utf8)) && !contains(text, Array(key.hex.uppercased().utf8)), "\(label): the ARPK's hex")
            for v in try d.secretValues() {
                #expect(!contains(text, v), "\(label): a secret value")
                #expect(!contains(text, Array(v.hex.utf8)), "\(label): a secret value's hex")
            }
        }
    }

    @Test func eachKindOfEvidenceVerifiesWithTextAndJSON() throws {
        let f = try Files(try BootRunEvidence())
        for evidence in [["--results", f.record], ["--console-log", f.log], ["--response", f.response]] {
            let r = cli(f.args(evidence))
            #expect(r.code == 0, "\(evidence): \(r.out)\(r.err)")
            #expect(r.out.hasSuffix("verdict: VERIFIED\n"), "\(r.out)")
            #expect(r.out.contains("PASS measurement: "))
            #expect(r.out.contains("PASS store-contents: "))
            #expect(r.out.contains("SKIP config-uid: "))
            #expect(r.err.isEmpty, "\(r.err)")
            try f.assertNoSecrets(r, "\(evidence)")
        }
        let text = cli(f.args(["--results", f.record]))
        let lines = text.out.split(separator: "\n").map(String.init)
        #expect(lines.count == CheckID.allCases.count + 2)  // the checks, the report, the verdict
        #expect(zip(lines, CheckID.allCases).allSatisfy { line, id in line.split(separator: " ").dropFirst().first == Substring(id.rawValue + ":") })
        #expect(lines.contains("report (unauthenticated, information only): ok"))

        let j = cli(f.args(["--results", f.record]) + ["--json", "-k", f.d.example.hostKeyDocument])
        #expect(j.code == 0, "\(j.out)\(j.err)")
        let doc = try JSON.parse(j.out)
        #expect(doc["format"] == .string("se-secretd-verify") && doc["version"] == .int(1))
        #expect(doc["verdict"] == .string("verified"))
        guard case let .array(checks)? = doc["checks"] else { Issue.record("no checks"); return }
        #expect(checks.map { $0["id"] } == CheckID.allCases.map { .string($0.rawValue) })
        #expect(checks.first { $0["id"] == .string("host-keys") }?["outcome"] == .string("pass"))
        #expect(doc["report"]?["verdict"] == .string("ok"))
        // The document -k names is matched, not verified (no --cert): said in JSON and in the text.
        #expect(doc["host_key_documents"]?["verified"] == .bool(false))
        let unverified = cli(f.args(["--results", f.record]) + ["-k", f.d.example.hostKeyDocument])
        #expect(unverified.code == 0 && unverified.out.contains("\nhost-key documents NOT verified"), "\(unverified.out)")
        // With --cert the document is verified first: the example's self-signed one is refused (65), naming it.
        let pki = try TestPKI()
        let pkiDir = f.tmp.appending("pki")
        try FileIO.makeDirectories(pkiDir, mode: 0o700)
        try pki.write(to: pkiDir)
        let refused = cli(f.args(["--results", f.record]) + ["-k", f.d.example.hostKeyDocument, "--cert", pkiDir + "/signing.crt",
                                                           "--cert", pkiDir + "/inter.crt", "--root-ca", pkiDir + "/root.crt",
                                                           "--crl", pkiDir + "/root.crl", "--crl", pkiDir + "/inter.crl", "--crl", pkiDir + "/signing.crl"])
        #expect(refused.code == 65, "\(refused.out)\(refused.err)")
        #expect(refused.err.contains(f.d.example.hostKeyDocument), "\(refused.err)")
        try f.assertNoSecrets(j, "--json")
        // The release agent has the command too (it needs no /dev/uv).
        #expect(cli(f.args(["--console-log", f.log]), edition: .agent).code == 0)
    }

    @Test func aRefusalExits65AndSaysWhy() throws {
        let f = try Files(try BootRunEvidence())
        let other = f.tmp.appending("other.key")
        try FileIO.writeAtomically(other, Random.bytes(32), mode: 0o600)
        let r = cli(f.args(["--results", f.record], arpk: other))
        #expect(r.code == 65, "\(r.out)\(r.err)")
        #expect(r.out.contains("FAIL measurement: your protection key does not open the attestation request"))
        #expect(r.out.contains("[wrong-protection-key]"))
        #expect(r.out.hasSuffix("verdict: REFUSED (failed: measurement)\n"), "\(r.out)")
        try f.assertNoSecrets(r, "refused")
        let j = cli(f.args(["--results", f.record], arpk: other) + ["--json"])
        #expect(j.code == 65)
        #expect(try JSON.parse(j.out)["verdict"] == .string("refused"))
        // Another boot's response.
        let theirs = try Files(try BootRunEvidence())
        let replay = cli(f.args(["--response", theirs.response]))
        #expect(replay.code == 65)
        #expect(replay.out.contains("FAIL request-match: ") && replay.out.contains("[other-request]"))
    }

    @Test func inputsAndUsage() throws {
        let f = try Files(try BootRunEvidence())
        // Usage: no evidence, two kinds, a required option missing.
        let none = cli(["verify", "--request", f.request, "--arpk", f.arpk, "--se-header", f.header, "-p", f.d.example.policyPath,
                        "-r", f.d.example.requestDirectory])
        #expect(none.code == 64)
        #expect(none.err.contains("missing required option --response, --results or --console-log"))
        let two = cli(f.args(["--results", f.record, "--response", f.response]))
        #expect(two.code == 64 && two.err.contains("exclude each other"))
        let noKey = cli(["verify", "--results", f.record, "--request", f.request, "--se-header", f.header, "-p", f.d.example.policyPath,
                         "-r", f.d.example.requestDirectory])
        #expect(noKey.code == 64 && noKey.err.contains("missing required option --arpk"))
        // Unreadable inputs: 66.
        #expect(cli(f.args(["--results", f.tmp.appending("nonexistent")])).code == 66)
        #expect(cli(f.args(["--console-log", f.tmp.path])).code == 66)
        #expect(cli(f.args(["--results", f.record], arpk: f.tmp.appending("no-key"))).code == 66)
        // A protection key of another size, a request that is none, no SE header: 65, named.
        let short = f.tmp.appending("short.key")
        try FileIO.writeAtomically(short, Random.bytes(31), mode: 0o600)
        let s = cli(f.args(["--results", f.record], arpk: short))
        #expect(s.code == 65 && s.err.contains("has exactly 32 bytes, this file has 31"), "\(s.err)")
        try FileIO.writeAtomically(f.tmp.appending("bad-req"), Array(repeating: 7, count: 100), mode: 0o644)
        var args = f.args(["--results", f.record])
        args[args.firstIndex(of: f.request)!] = f.tmp.appending("bad-req")
        let badReq = cli(args)
        #expect(badReq.code == 65 && badReq.err.contains("not an attestation request in pvattest's exchange format"), "\(badReq.err)")
        args = f.args(["--results", f.record])
        args[args.firstIndex(of: f.header)!] = f.request
        let badHeader = cli(args)
        #expect(badHeader.code == 65 && badHeader.err.contains("no Secure Execution header"), "\(badHeader.err)")
        // A protection key others can read: verified, with a warning (and no key in it).
        chmod(f.arpk, 0o644)
        let open = cli(f.args(["--results", f.record]))
        #expect(open.code == 0)
        #expect(open.err.contains("warning: the protection key \(f.arpk) is accessible to group or others (mode 644)"), "\(open.err)")
        try f.assertNoSecrets(open, "warning")
        // The help teaches the checks.
        let help = cli(["verify", "--help"])
        #expect(help.code == 0)
        for id in CheckID.allCases { #expect(help.out.contains(id.rawValue), "\(id)") }
        #expect(help.out.contains("not authenticated"))
    }
}
