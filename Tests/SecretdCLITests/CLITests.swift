import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
@testable import SecretdCLI
import SecretdWorkbench
import TestSupport

/// One example deployment shared by the tests (key generation is the slow
/// part), in a directory removed when the test process exits.
let exampleDirectory = try! TempDir("cli-example")
let example: ExampleSet.Written = try! ExampleSet().write(to: exampleDirectory.appending("example"))

@Suite struct CheckCommandTests {
    @Test func examplePasses() {
        let r = cli("check", "--policy", example.policyPath, "--requests", example.requestDirectory,
                    "--host-key-document", example.hostKeyDocument)
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("result: PASS"))
        #expect(r.out.contains("luks-root"))
    }

    @Test func jsonOutputIsAnInterface() throws {
        let r = cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "--json")
        #expect(r.code == 0)
        let j = try JSON.parse(r.out)
        #expect(j["result"] == .string("pass"))
        guard case let .array(reqs)? = j["requests"] else { Issue.record("no requests"); return }
        #expect(reqs.count == example.secretNames.count + 1)
        for key in ["file", "sha256", "role", "secret_name", "secret_type", "signer", "trusted_by", "verdict", "problems"] {
            #expect(reqs.allSatisfy { $0[key] != nil }, "missing \(key)")
        }
        guard case let .array(order)? = j["submission_order"] else { Issue.record("no order"); return }
        #expect(order.first == .string("00-meta.asr"))
        guard case let .string(hash)? = j["secret_store_hash"] else { Issue.record("no hash"); return }
        #expect(hash.count == 128)
    }

    @Test func violationExitCodeAndMessageNameFileAndRule() throws {
        let tmp = try TempDir("cli")
        let dir = tmp.path
        for name in try FileIO.list(example.requestDirectory).map(\.name) {
            try FileIO.writeAtomically(dir + "/" + name, try FileIO.read(example.requestDirectory + "/" + name, limit: 1 << 20), mode: 0o644)
        }
        unlink(dir + "/luks-root.asr")
        let r = cli("check", "-p", example.policyPath, "-r", dir)
        #expect(r.code == 65)
        #expect(r.out.contains("required secret \"luks-root\" (plain) has no request [missing-required]"))
        // A request for another host is named as such.
        let other = Keys.outsider
        let doc = dir + "/other.crt"
        try FileIO.writeAtomically(doc, Array(try Certificate.selfSigned(key: other, commonName: "x", organization: "y", days: 1).pem.utf8), mode: 0o644)
        let h = cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "-k", doc, "--json")
        #expect(h.code == 65)
        #expect(h.out.contains("no-keyslot-for-host"))
        #expect(cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "-q").out.isEmpty)
    }

    @Test func unusableInputHasItsOwnExitCodes() throws {
        #expect(cli("check", "-p", "/nonexistent/policy.json", "-r", "/tmp").code == 78)
        let tmp = try TempDir("cli")
        let bad = tmp.appending("bad.json")
        try FileIO.writeAtomically(bad, Array(#"{"version": 1, "trust": {}}"#.utf8), mode: 0o644)
        let r = cli("check", "-p", bad, "-r", "/tmp")
        #expect(r.code == 78)
        #expect(r.err.contains("$.trust"))
        #expect(cli("check", "-p", example.policyPath, "-r", "/nonexistent-dir").code == 66)
        #expect(cli("check", "-p", example.policyPath).code == 64)
        #expect(cli("check", "--polcy", "x").err.contains("did you mean --policy"))
        #expect(cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "-k", "/nonexistent.crt").code == 66)
    }
}

@Suite struct InspectCommandTests {
    @Test func jsonKeysForOneFile() throws {
        let r = cli("inspect", "--json", example.requestDirectory + "/luks-root.asr")
        #expect(r.code == 0)
        let j = try JSON.parse(r.out)
        #expect(j["user_data_type"] == .string("ec-p521"))
        #expect(j["secret_type"] == .string("plain"))
        #expect(j["secret_id"] == .string(Digest.sha256(Array("luks-root".utf8)).hex))
        #expect(j["disable_dump"] == .bool(true))
        #expect(j["config_uid"] == .null)
        #expect(j["version"] == .int(256))
        let bytes = try FileIO.read(example.requestDirectory + "/luks-root.asr", limit: 1 << 20)
        #expect(j["sha256"] == .string(Digest.sha256(bytes).hex))
        #expect(j["tag"] == .string(Array(bytes.suffix(16)).hex))
        #expect(j["length"] == .int(Int64(bytes.count)))
        guard case let .array(slots)? = j["keyslots"], case let .string(h)? = slots.first?["host_key_hash"] else {
            Issue.record("no keyslots"); return
        }
        #expect(h == h.lowercased() && h.count == 64)
    }

    @Test func severalFilesGiveAnArrayAndErrorsAreReported() throws {
        let tmp = try TempDir("cli")
        let junk = tmp.appending("junk.asr")
        try FileIO.writeAtomically(junk, Array("asrcbM-not-really".utf8), mode: 0o644)
        let r = cli("inspect", "--json", example.requestDirectory + "/00-meta.asr", junk)
        #expect(r.code == 65)
        guard case let .array(items) = try JSON.parse(r.out) else { Issue.record("not an array"); return }
        #expect(items.count == 2)
        #expect(items[0]["secret_id"] == .null)
        #expect(items[1]["error"]?["rule"] != nil)
        let text = cli("inspect", junk)
        #expect(text.code == 65)
        #expect(text.err.contains("junk.asr: not a valid add-secret request"))
        #expect(cli("inspect", "/nonexistent.asr").code == 66)
    }
}

@Suite struct PolicyCommandTests {
    @Test func initFromRequestsPinsDigestsAndPasses() throws {
        let tmp = try TempDir("cli")
        let out = tmp.appending("policy.json")
        let r = cli("policy", "init", "-r", example.requestDirectory, "-n", "luks-root", "-n", "ssh-host-ecdsa", "-o", out)
        #expect(r.code == 0, "\(r.err)")
        let p = try Policy.load(path: out)
        #expect(p.trust.pinned.count == example.secretNames.count + 1)
        #expect(p.store.allowMeta)
        #expect(p.store.requiredFlags == ["disable-dump"])
        #expect(p.secrets.contains { $0.name == "luks-root" && $0.type == .plain })
        #expect(cli("check", "-p", out, "-r", example.requestDirectory).code == 0)
        #expect(cli("policy", "init", "-r", example.requestDirectory, "-o", out).code == 64)  // exists
    }

    @Test func initWithSignerTrustsSignatures() throws {
        let tmp = try TempDir("cli")
        let out = tmp.appending("policy.json")
        let signer = example.directory + "/tenant-signer.pub.pem"
        let r = cli("policy", "init", "-r", example.requestDirectory, "-s", "tenant=" + signer, "-o", out)
        #expect(r.code == 0, "\(r.err)")
        let p = try Policy.load(path: out)
        #expect(p.trust.signers.map(\.name) == ["tenant"])
        #expect(p.trust.pinned.isEmpty)
        #expect(cli("check", "-p", out, "-r", example.requestDirectory).code == 0)
        // A signer that signed nothing here is refused.
        let stranger = tmp.appending("s.pem")
        try FileIO.writeAtomically(stranger, Array(Keys.stranger.publicKey.publicKeyPEM.utf8), mode: 0o644)
        #expect(cli("policy", "init", "-r", example.requestDirectory, "-s", "x=" + stranger).code == 65)
    }

    @Test func validate() {
        let r = cli("policy", "validate", example.policyPath)
        #expect(r.code == 0)
        #expect(r.out.contains("is valid"))
        #expect(r.out.contains("luks LABEL=root as root (passphrase)"))
        #expect(r.out.contains("mode 0600"))
        #expect(cli("policy", "validate", "/nonexistent").code == 78)
        #expect(cli("policy").code == 64)
    }
}

@Suite struct HelpTests {
    @Test func everyCommandHasHelpThatTeaches() {
        // Each edition's help names its own program: the agent's commands
        // as `se-secretd`, the workbench's (all of them) as `se-secretd-dev`.
        for (edition, commands) in [(Edition.agent, CLI.commands), (Workbench.edition, Workbench.edition.commands)] {
            for c in commands {
                let r = cli(c.path + ["--help"], edition: edition)
                #expect(r.code == 0)
                #expect(r.out.contains("USAGE: \(edition.name) \(c.name)"), "\(edition.name) \(c.name)")
                #expect(r.out.contains("--help"))
                #expect(r.out.count > 300, "\(c.name) help is too thin")
            }
        }
        let top = cli(["--help"])
        #expect(top.code == 0)
        #expect(top.out.contains("EXIT CODES"))
        #expect(cli([]).code == 64)
        #expect(cli(["frobnicate"]).code == 64)
        #expect(cli(["--version"]).out == "se-secretd-dev \(CLI.version)\n")
    }
}

/// One failure vocabulary: every class has its own exit code, the CLI's
/// exit codes are exactly those (and 0), and an error no layer classified
/// exits 70 ("internal error"), never 1.
@Suite struct FailureClassTests {
    struct Unclassified: Error {}

    @Test func oneExitCodePerClassAndNoneIsOne() {
        let codes = FailureClass.allCases.map(\.exitCode)
        #expect(Set(codes).count == codes.count, "two classes share an exit code")
        #expect(!codes.contains(1) && !codes.contains(0))
        #expect(Set(ExitCode.allCases.map(\.rawValue)) == Set(codes + [0]))
        for c in FailureClass.allCases { #expect(ExitCode(c).failureClass == c) }
    }

    @Test func anUnclassifiedErrorIsAnInternalError() {
        let boom = Command(["boom"], summary: "fails", options: NoOptions.self, discussion: "") { _, _, _ in throw Unclassified() }
        final class Box: @unchecked Sendable { var err = "" }
        let box = Box()
        let code = CLI.run(["boom"], output: Output(out: { _ in }, err: { box.err += $0 }),
                           edition: Edition(name: "t", extraCommands: [boom]))
        #expect(code == 70)
        #expect(box.err.contains("internal error"))
    }
}

/// The two products: the agent (what goes into the initramfs) has neither
/// the simulated ultravisor nor the workbench's commands; the workbench has both.
@Suite struct EditionTests {
    @Test func theAgentHasNoWorkbenchCommands() {
        let agent = Set(Edition.agent.commands.map(\.name))
        let bench = Set(Workbench.edition.commands.map(\.name))
        for dev in ["sim init", "sim status", "sim create-request", "sim fault", "example"] {
            #expect(!agent.contains(dev), "the agent has `\(dev)`")
            #expect(bench.contains(dev), "the workbench lacks `\(dev)`")
        }
        #expect(agent.isSubset(of: bench))
        #expect(cli(["sim", "init", "--state", "/nonexistent/x"], edition: .agent).code == 64)
        #expect(cli(["--version"], edition: .agent).out == "se-secretd \(CLI.version)\n")
        #expect(!cli(["--help"], edition: .agent).out.contains("sim init"))
    }

    @Test func theAgentRefusesASimulatedUltravisor() throws {
        let tmp = try TempDir("cli")
        let dir = tmp.path
        #expect(cli(["sim", "init", "--state", dir + "/sim"]).code == 0)
        for args in [["list", "--uv-sim", dir + "/sim"], ["lock", "--uv-sim", dir + "/sim"]] {
            let agent = cli(args, edition: .agent)
            #expect(agent.code == ExitCode.usage.rawValue, "\(args): \(agent.err)")
            #expect(agent.err.contains("has no simulated ultravisor"))
        }
        #expect(cli(["list", "--uv-sim", dir + "/sim", "--sysfs", dir + "/sim/sysfs"]).code == 0)
    }

    /// The boot run and the action phases refuse it the same way: a usage
    /// error (64), not a broken device (69), and nothing reaches the store.
    @Test func theBootRunAndThePhasesRefuseItAsAUsageError() throws {
        let tmp = try TempDir("cli")
        let dir = tmp.path
        #expect(cli(["sim", "init", "--state", dir + "/sim"]).code == 0)
        #expect(cli(["example", dir + "/ex", "--sim", dir + "/sim"]).code == 0)
        let sim = ["--uv-sim", dir + "/sim", "--sysfs", dir + "/sim/sysfs"]
        let boot = cli(["boot", "-p", dir + "/ex/policy.json", "-r", dir + "/ex/requests", "--run-dir", dir + "/run",
                        "--kmsg", "none"] + sim, edition: .agent)
        #expect(boot.code == ExitCode.usage.rawValue, "\(boot.err)")
        #expect(boot.err.contains("has no simulated ultravisor"))
        let unlock = cli(["unlock", "-p", dir + "/ex/policy.json", "--run-dir", dir + "/run"] + sim, edition: .agent)
        #expect(unlock.code == ExitCode.usage.rawValue, "\(unlock.err)")
        #expect(cli(["sim", "status", "--state", dir + "/sim"]).out.contains("0 of 256 secrets, not locked"))
    }
}

/// The freshness record through the CLI: `example` writes epoch-1 requests
/// and a policy with min_epoch 1; `sim create-request --user-sign-key
/// --epoch` makes a stale or a fresh replacement; `check --json` and
/// `inspect --json` show the epoch.
@Suite struct FreshnessCommandTests {
    @Test func staleAndFreshRequestsFromTheCommandLine() throws {
        let tmp = try TempDir("cli")
        let base = tmp.path
        let sim = base + "/sim", dir = base + "/ex"
        #expect(cli("sim", "init", "--state", sim).code == 0)
        #expect(cli("example", dir, "--sim", sim).code == 0)
        let check = { cli(["check", "-p", dir + "/policy.json", "-r", dir + "/requests", "--json"]) }
        let first = check()
        #expect(first.code == 0, "\(first.out)\(first.err)")
        #expect(try JSON.parse(first.out)["epochs"] == .array([.int(1)]))

        try FileIO.writeAtomically(base + "/pass", Array("new passphrase".utf8), mode: 0o600)
        func replace(epoch: String) -> (code: Int32, out: String, err: String) {
            cli(["sim", "create-request", "-s", sim, "-t", "plain", "-n", "luks-root", "--value-file", base + "/pass",
                     "--disable-dump", "--user-sign-key", dir + "/tenant-signer.pem", "--epoch", epoch,
                     "-o", dir + "/requests/luks-root.asr"])
        }
        #expect(replace(epoch: "0").code == 0)
        let stale = check()
        #expect(stale.code == 65)
        let j = try JSON.parse(stale.out)
        guard case let .array(problems)? = j["problems"] else { Issue.record("no problems"); return }
        #expect(problems.map { $0["rule"] } == [.string("stale-request")], "\(stale.out)")
        #expect(problems.first?["file"] == .string("luks-root.asr"))
        guard case let .array(reqs)? = j["requests"],
              let luks = reqs.first(where: { $0["file"] == .string("luks-root.asr") }) else { Issue.record("no request"); return }
        #expect(luks["freshness"]?["epoch"] == .int(0))
        #expect(luks["freshness"]?["vouched_by"] == .string("signed:tenant"))

        let insp = cli("inspect", "--json", dir + "/requests/luks-root.asr")
        #expect(try JSON.parse(insp.out)["freshness"] == .object([("version", .int(1)), ("epoch", .int(0))]))
        #expect(cli("inspect", dir + "/requests/luks-root.asr").out.contains("epoch 0 (record version 1, under the signature)"))

        // Epoch 1 again: fresh, and the same as the rest of the set.
        #expect(replace(epoch: "1").code == 0)
        #expect(check().code == 0)
        // Out of range, or not a number.
        #expect(replace(epoch: "9223372036854775808").code == 64)
        #expect(replace(epoch: "-1").code == 64)
    }
}

/// What `check` could not check is said, with and without --json; the image
/// binding with --se-header; requests under other names are named.
@Suite struct CheckHonestyCommandTests {
    /// A bare SE header as `pvsecret create --hdr` takes it (written here,
    /// independently of the simulator's): magic, version 0x100, size,
    /// PLD/ALD/TLD at 0xE0, the tag in its last 16 bytes.
    static func seHeader(_ t: SEHeaderTags) -> [UInt8] {
        var h = Array("IBMSecEx".utf8) + [0, 0, 1, 0, 0, 0, 0x01, 0xB0]
        h += [UInt8](repeating: 0, count: 0xE0 - h.count)
        return h + t.pld + t.ald + t.tld + t.tag
    }

    func exampleTags() throws -> SEHeaderTags {
        try AddSecretRequest.parse(try FileIO.read(example.requestDirectory + "/luks-root.asr", limit: 1 << 20)).tags
    }

    func copyOfExample(_ tmp: TempDir) throws -> String {
        let dir = tmp.appending("requests")
        mkdir(dir, 0o755)
        for name in try FileIO.list(example.requestDirectory).map(\.name) {
            try FileIO.writeAtomically(dir + "/" + name, try FileIO.read(example.requestDirectory + "/" + name, limit: 1 << 20), mode: 0o644)
        }
        return dir
    }

    @Test func notCheckedIsSaidWithoutHostKeysAndSEHeaderAndNotWithThem() throws {
        let tmp = try TempDir("cli")
        let hdr = tmp.appending("se.hdr")
        try FileIO.writeAtomically(hdr, Self.seHeader(try exampleTags()), mode: 0o644)
        let base = ["check", "-p", example.policyPath, "-r", example.requestDirectory]

        let bare = cli(base)
        #expect(bare.code == 0, "\(bare.out)\(bare.err)")
        #expect(bare.out.contains("\nnot checked:\n  host binding: no host-key document given (-k, --host-key-hash)"))
        #expect(bare.out.contains("\n  image binding: no SE header given (--se-header)"))
        #expect(bare.out.contains("\nresult: PASS — 2 not checked: host binding, image binding ("), "\(bare.out)")
        let bareJSON = try JSON.parse(cli(base + ["--json"]).out)
        #expect(bareJSON["result"] == .string("pass"))
        guard case let .array(items)? = bareJSON["not_checked"] else { Issue.record("no not_checked"); return }
        #expect(items.map { $0["check"] } == [.string("host-binding"), .string("image-binding")])
        #expect(bareJSON["se_header"] == .null)

        let hostOnly = cli(base + ["-k", example.hostKeyDocument])
        #expect(hostOnly.code == 0)
        #expect(!hostOnly.out.contains("host binding:"))
        // A host-key document given without --cert is matched, not verified: said as not checked too.
        #expect(hostOnly.out.contains("\n  host-key verification: host-key documents NOT verified"), "\(hostOnly.out)")
        #expect(hostOnly.out.contains("\nresult: PASS — 2 not checked: image binding, host key verification ("), "\(hostOnly.out)")

        // The machine's host-key hash (from its sysfs) needs no document to verify.
        let hash = try RequestKeys.hostKeyHash(try PublicKey.load(try FileIO.read(example.hostKeyDocument, limit: 1 << 20)))
        let complete = base + ["--host-key-hash", hash.hex, "--se-header", hdr]
        let all = cli(complete)
        #expect(all.code == 0, "\(all.out)\(all.err)")
        #expect(!all.out.contains("not checked"))
        #expect(all.out.contains("\nresult: PASS ("))
        #expect(all.out.contains("image     \(hdr) (SE-header tag \(try exampleTags().tag.hex))"))
        let allJSON = try JSON.parse(cli(complete + ["--json"]).out)
        #expect(allJSON["not_checked"] == .array([]))
        #expect(allJSON["se_header"]?["tag"] == .string(try exampleTags().tag.hex))
    }

    @Test func aWrongImageIsRefusedNamingEveryFile() throws {
        let tmp = try TempDir("cli")
        let hdr = tmp.appending("other.hdr")
        var other = try exampleTags()
        other.tag[0] ^= 1
        try FileIO.writeAtomically(hdr, Self.seHeader(other), mode: 0o644)
        let r = cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "--se-header", hdr)
        #expect(r.code == 65)
        let files = try FileIO.list(example.requestDirectory).map(\.name)
        for f in files {
            #expect(r.out.contains("\n  \(f): the request is bound to another SE image"), "\(f)")
        }
        let j = try JSON.parse(cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "--se-header", hdr, "--json").out)
        guard case let .array(problems)? = j["problems"] else { Issue.record("no problems"); return }
        #expect(problems.allSatisfy { $0["rule"] == .string("other-image") }, "\(problems)")
        #expect(problems.compactMap { p -> String? in if case let .string(f)? = p["file"] { return f } else { return nil } }.sorted() == files.sorted())
        // Not an SE header at all: an input that cannot be used (66), named.
        let junk = tmp.appending("junk.img")
        try FileIO.writeAtomically(junk, [UInt8](repeating: 0, count: 8192), mode: 0o644)
        let bad = cli("check", "-p", example.policyPath, "-r", example.requestDirectory, "--se-header", junk)
        #expect(bad.code == 66)
        #expect(bad.err.contains("junk.img is not an SE image or SE header"))
    }

    @Test func aRequestSavedAsBinIsNamed() throws {
        let tmp = try TempDir("cli")
        let dir = try copyOfExample(tmp)
        rename(dir + "/luks-root.asr", dir + "/luks-root.bin")
        let r = cli("check", "-p", example.policyPath, "-r", dir)
        #expect(r.code == 65)
        #expect(r.out.contains("\nnote: luks-root.bin looks like an add-secret request (secret luks-root, plain), but request files end in .asr: it is ignored, here and at boot\n"), "\(r.out)")
        #expect(r.out.contains("required secret \"luks-root\" (plain) has no request; luks-root.bin holds a request for it, but request files end in .asr: it is ignored [missing-required]"))
        let j = try JSON.parse(cli("check", "-p", example.policyPath, "-r", dir, "--json").out)
        guard case let .array(m)? = j["misnamed_requests"] else { Issue.record("no misnamed_requests"); return }
        #expect(m.count == 1)
        #expect(m.first?["file"] == .string("luks-root.bin"))
        #expect(m.first?["secret_name"] == .string("luks-root"))
        #expect(j["ignored_files"] == .array([.string("luks-root.bin")]))
    }
}
