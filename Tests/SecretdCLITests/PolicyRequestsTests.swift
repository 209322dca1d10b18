import Testing
import Foundation
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import SEVocabulary
@testable import SecretdCLI
import SecretdWorkbench
import TestSupport

/// `se-secretd policy requests`: the pvsecret create lines for a policy,
/// run through the workbench's pvsecret-compatible builder with the same
/// arguments; the set they make must pass `check`.
@Suite struct PolicyRequestsTests {
    /// The lines as argument vectors (after "pvsecret"), with the relative
    /// files (-o, --user-data) put into `dir`.
    static func recipes(_ policy: String, _ extra: [String], dir: String) throws -> (argv: [[String]], json: JSON) {
        let r = cli(["policy", "requests", policy, "--json"] + extra)
        #expect(r.code == 0, "\(r.err)")
        let json = try JSON.parse(Array(r.out.utf8))
        guard case let .array(list)? = json["requests"] else { Issue.record("no requests"); return ([], json) }
        var out: [[String]] = []
        for item in list {
            guard case let .array(words)? = item["argv"] else { Issue.record("no argv"); continue }
            var argv = words.compactMap(text)
            #expect(argv.first == "pvsecret")
            argv.removeFirst()
            for i in argv.indices.dropLast() where ["-o", "--user-data"].contains(argv[i]) { argv[i + 1] = dir + "/" + argv[i + 1] }
            out.append(argv)
        }
        return (out, json)
    }

    /// Runs each line through `se-secretd-dev pvsecret create`.
    static func make(_ argv: [[String]]) {
        for a in argv {
            let r = cli(["pvsecret"] + a)
            #expect(r.code == 0, "pvsecret \(a.joined(separator: " ")): \(r.err)")
        }
    }

    @Test func theExamplesLinesMakeASetItsPolicyPasses() throws {
        let tmp = try TempDir("recipes")
        let base = tmp.path, sim = base + "/sim", ex = base + "/ex", set = base + "/set"
        #expect(cli("sim", "init", "--state", sim).code == 0)
        #expect(cli("example", ex, "--sim", sim).code == 0)
        mkdir(set, 0o755)
        let (argv, json) = try Self.recipes(ex + "/policy.json",
            ["-k", sim + "/host-key.crt", "--no-verify", "--hdr", sim + "/se-header.bin", "--values", ex + "/values",
             "--signer", "tenant=" + ex + "/tenant-signer.pem"], dir: set)
        // The example: a meta request and five secrets, each signed by the tenant, dump disabled, epoch 1.
        #expect(argv.count == 6)
        #expect(argv.allSatisfy { $0.contains("--user-sign-key") && $0.contains("disable-dump") && $0.contains("--user-data") })
        #expect(argv[0].last == "meta")
        #expect(argv[1].suffix(6) == ["retrievable", "--type", "plain", "--secret", ex + "/values/luks-root", "luks-root"])
        #expect(argv.last?.contains("aes-xts") == true)
        #expect(json["freshness"]?["epoch"] == .int(1))
        try FileIO.writeAtomically(set + "/fresh-1.bin", FreshnessRecord(epoch: 1).bytes, mode: 0o644)
        Self.make(argv)
        let check = cli("check", "-p", ex + "/policy.json", "-r", set, "-k", sim + "/host-key.crt")
        #expect(check.code == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("result: PASS"))
        // Without the freshness record the same set fails: the lines' --user-data is what makes it pass.
        let stale = base + "/stale"
        mkdir(stale, 0o755)
        Self.make(argv.map { a in
            var a = a.map { $0.replacingPrefix(set + "/", with: stale + "/") }
            if let i = a.firstIndex(of: "--user-data") { a.removeSubrange(i...(i + 1)) }
            return a
        })
        #expect(cli("check", "-p", ex + "/policy.json", "-r", stale, "-k", sim + "/host-key.crt").code == ExitCode.policyViolation.rawValue)
    }

    @Test func everyKindOfSecretHasItsLineAndItsValue() throws {
        let tmp = try TempDir("recipes-kinds")
        let base = tmp.path, sim = base + "/sim", set = base + "/set", values = base + "/values"
        #expect(cli("sim", "init", "--state", sim).code == 0)
        mkdir(set, 0o755)
        mkdir(values, 0o700)
        let cuid = String(repeating: "ab", count: 16)
        let policy = base + "/policy.json"
        try FileIO.writeAtomically(policy, Array("""
            {"version": 1, "requests": {"volume": "LABEL=SE-SECRETS"},
             "trust": {"require": "none"},
             "store": {"allow_meta": false, "allow_update_cck": true, "config_uid": "\(cuid)"},
             "secrets": [
               {"name": "disk", "type": "aes-256"},
               {"name": "mac", "type": "hmac-sha-512"},
               {"name": "tls", "type": "ec-p384"},
               {"name": "short", "id_form": "raw-name", "type": "plain"},
               {"name": "apqn", "type": "association"},
               {"type": "update-cck"}
             ]}
            """.utf8), mode: 0o644)
        try FileIO.writeAtomically(values + "/disk", Random.bytes(32), mode: 0o600)
        try FileIO.writeAtomically(values + "/mac", Random.bytes(128), mode: 0o600)
        try FileIO.writeAtomically(values + "/tls", Array(try PrivateKey.generate(.ec(.p384)).privateKeyPEM.utf8), mode: 0o600)
        try FileIO.writeAtomically(values + "/short", Array("no newline".utf8), mode: 0o600)
        try FileIO.writeAtomically(values + "/apqn", Random.bytes(32), mode: 0o600)
        try FileIO.writeAtomically(values + "/new-cck.bin", Random.bytes(32), mode: 0o600)
        let (argv, json) = try Self.recipes(policy, ["-k", sim + "/host-key.crt", "--no-verify", "--hdr", sim + "/se-header.bin",
                                                     "--values", values], dir: set)
        #expect(argv.count == 6, "no meta request: the policy allows none")
        #expect(argv.allSatisfy { $0.contains("--cuid-hex") && $0.contains("0x" + cuid) && !$0.contains("--user-sign-key") })
        func line(_ file: String) -> [String] { argv.first { a in a.firstIndex(of: "-o").map { a[$0 + 1] == set + "/" + file } ?? false } ?? [] }
        #expect(line("disk.asr").suffix(5) == ["--type", "aes", "--secret", values + "/disk", "disk"])
        #expect(line("mac.asr").contains("hmac-sha"))
        #expect(line("tls.asr").contains("ec"))
        #expect(line("short.asr").contains("--use-name"))
        #expect(line("apqn.asr").suffix(4) == ["association", "--input-secret", values + "/apqn", "apqn"])
        #expect(line("update-cck.asr").suffix(3) == ["update-cck", "--secret", values + "/new-cck.bin"])
        guard case let .array(items)? = json["requests"] else { Issue.record("no requests"); return }
        let shapes = items.compactMap { text($0["value"]) }
        #expect(shapes.contains { $0.contains("exactly 32 bytes") && $0.contains("raw key") })
        #expect(shapes.contains { $0.contains("secp384r1") })
        #expect(shapes.contains { $0.contains("a trailing newline is part of the secret") })
        guard case let .array(notes)? = json["notes"] else { Issue.record("no notes"); return }
        #expect(notes.contains { text($0)?.contains("vouches for no request") == true })
        Self.make(argv)
        let check = cli("check", "-p", policy, "-r", set, "-k", sim + "/host-key.crt")
        #expect(check.code == 0, "\(check.out)\(check.err)")
    }

    @Test func theTextFormIsShellQuotedAndSaysWhatItCannotExpress() throws {
        let tmp = try TempDir("recipes-text")
        let policy = tmp.path + "/policy.json"
        try FileIO.writeAtomically(policy, Array("""
            {"version": 1, "requests": {"volume": "LABEL=SE-SECRETS"},
             "trust": {"pinned_sha256": ["\(String(repeating: "11", count: 32))"]},
             "secrets": [{"name": "it's", "type": "plain"}]}
            """.utf8), mode: 0o644)
        let r = cli("policy", "requests", policy, "-k", "my hosts/a.crt")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("pvsecret create -k 'my hosts/a.crt' --cert ibm-z-host-key-signing-key.crt --cert DigiCertCA.crt --hdr SE-IMAGE"))
        #expect(r.out.contains("-o it_s.asr retrievable --type plain --secret it_s 'it'\\''s'"), "\(r.out)")
        #expect(r.out.contains("# note: the policy trusts pinned digests"))
        // A signer the policy does not have is a usage error, naming the ones it has.
        let bad = cli("policy", "requests", policy, "--signer", "nobody=x.key")
        #expect(bad.code == ExitCode.usage.rawValue && bad.err.contains("no signer \"nobody\""))
    }

    /// The policy's names are any text: none may become a command, an option or a path.
    @Test func namesCannotInjectCommandsOptionsOrPaths() throws {
        let tmp = try TempDir("recipes-hostile")
        let policy = tmp.path + "/policy.json"
        let names = ["x\ntouch /tmp/PWNED\n", "x'\u{301}; touch /tmp/PWNED2; : '\u{301}", "/home/user/.ssh/id_rsa", "--no-verify", ".hidden"]
        let secrets = names.map { JSON.object([("name", .string($0)), ("type", .string("plain"))]) }
        let doc = JSON.object([("version", .int(1)), ("requests", .object([("volume", .string("LABEL=SE-SECRETS"))])),
                               ("trust", .object([("require", .string("none"))])), ("secrets", .array(secrets))])
        try FileIO.writeAtomically(policy, Array(doc.serialized().utf8), mode: 0o644)
        let r = cli("policy", "requests", policy)
        #expect(r.code == 0, "\(r.err)")
        // Every line is a comment, empty, or a pvsecret command: a newline in a name starts no line of its own.
        for line in r.out.split(separator: "\n", omittingEmptySubsequences: true) {
            #expect(line.hasPrefix("#") || line.hasPrefix("pvsecret create ") || line.hasPrefix("printf "), "\(line)")
        }
        // Run as a shell script (pvsecret a function that records its words): one call per secret,
        // its words as the argument vector says, nothing else runs.
        let script = tmp.path + "/lines.sh", calls = tmp.path + "/calls"
        try FileIO.writeAtomically(script, Array(("pvsecret() { printf '%s\\n' \"$#\" >> \(calls); }\n" + r.out).utf8), mode: 0o644)
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = [script]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(FileIO.kind(of: "/tmp/PWNED") == nil && FileIO.kind(of: "/tmp/PWNED2") == nil)
        // The name with a newline gets no line, a note instead; the four others one call each.
        #expect(String(decoding: try FileIO.read(calls, limit: 4096), as: UTF8.self).split(separator: "\n").count == names.count - 1)
        #expect(r.out.contains("# note: secret x\\x0atouch /tmp/PWNED\\x0a: its name has control or invisible characters"), "\(r.out)")
        // The files are named from a safe form; a name that looks like an option comes after "--".
        let j = try JSON.parse(Array(cli("policy", "requests", policy, "--json").out.utf8))
        guard case let .array(items)? = j["requests"] else { Issue.record("no requests"); return }
        let argvs: [[String]] = items.map { item in
            guard case let .array(w)? = item["argv"] else { return [] }
            return w.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
        }
        for a in argvs {
            let out = a[a.firstIndex(of: "-o")! + 1], value = a[a.firstIndex(of: "--secret")! + 1]
            for f in [out, value] { #expect(!f.hasPrefix("/") && !f.hasPrefix("-") && !f.hasPrefix(".") && !f.contains("/"), "\(f)") }
        }
        #expect(argvs.contains { $0.suffix(2) == ["--", "--no-verify"] })
        #expect(argvs.contains { $0.contains("-o") && $0.contains("_home_user_.ssh_id_rsa.asr") })
    }

    @Test func shellWords() {
        // An apostrophe joined into one grapheme by a combining mark is still the byte the shell sees.
        #expect(ShellWords.quote("a'\u{301}b") == "'a'\\''\u{301}b'")
        #expect(ShellWords.quote("a\r\nb") == "'a\r\nb'")
        #expect(ShellWords.quote("plain-word_1.asr") == "plain-word_1.asr")
        #expect(ShellWords.quote("") == "''")
        #expect(ShellWords.quote("a b") == "'a b'")
        #expect(ShellWords.quote("$(x)") == "'$(x)'")
        #expect(ShellWords.quote("it's") == "'it'\\''s'")
    }
}

private func text(_ j: JSON?) -> String? {
    if case let .string(s)? = j { return s }
    return nil
}

extension String {
    func replacingPrefix(_ prefix: String, with other: String) -> String {
        hasPrefix(prefix) ? other + dropFirst(prefix.count) : self
    }
}
