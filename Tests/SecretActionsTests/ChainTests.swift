import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
@testable import SecretActions
import SecretdCLI
import ResultsRecord

/// A simulated guest after its boot run: a simulated ultravisor whose store
/// holds a request set's secrets and is locked, LUKS2 images, a policy, and a
/// new root. The add and lock go through `se-secretd add` and `lock`, the
/// same calls the boot run makes.
struct Guest {
    let uv: SimulatedUltravisor
    var work: String { uv.dir.path }
    var backend: [String] { uv.backend }
    /// The hand-off directory on /dev/shm, when there is a tmpfs there.
    let memoryHandoff: TempDir?
    let handoff: String
    let handoffArgs: [String]
    let policy: String
    let root: String
    let run: String
    let images: [String: String]
    /// Every secret value used, for the "never printed, never reported" check.
    let secrets: [String: [UInt8]]
    let deviceArgs: [String]

    static let rootHash = "$y$j9T$0123456789abcdef$ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210./zyx"

    init() throws {
        let uv = try SimulatedUltravisor("chain")
        let work = uv.dir.path
        self.uv = uv
        memoryHandoff = try TempDir.inMemory("chain")
        if let shm = memoryHandoff {
            handoff = shm.path
            handoffArgs = []
        } else {
            handoff = work + "/run-handoff"
            handoffArgs = ["--no-tmpfs-check"]
        }
        run = work + "/run"
        self.root = try makeRoot(at: work + "/root")

        // The secret values.
        var values: [String: [UInt8]] = [:]
        values["luks-root"] = Array(Random.bytes(32).hex.utf8)
        values["data-volume-key"] = Random.bytes(64)
        values["paes-disk"] = Random.bytes(64)
        values["ssh-host-ecdsa"] = Array(try PrivateKey.generate(.ec(.p256)).privateKeyPEM.utf8)
        values["tls-server-key"] = Array(try PrivateKey.generate(.ec(.p384)).privateKeyPEM.utf8)
        let admin = try SSHHostKey.publicKey(of: try PrivateKey.generate(.ed25519)).line(comment: "admin@example")
        values["root-authorized-keys"] = Array(admin.utf8)
        values["root-password"] = Array((Guest.rootHash + "\n").utf8)
        secrets = values

        // Requests for the simulator, added and locked as the boot run would.
        try write(work + "/ext", Random.bytes(32))
        var files: [String] = []
        func request(_ name: String, _ args: [String]) {
            let out = work + "/\(name).asr"
            let r = cli(["sim", "create-request", "--state", uv.sim.path, "--output", out, "--extension-secret", work + "/ext"] + args)
            #expect(r.code == 0, "\(r.err)")
            files.append(out)
        }
        request("00-meta", ["-t", "meta", "--disable-dump"])
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            try write(work + "/value-" + name, value, mode: 0o600)
            request(name, ["-t", name == "paes-disk" ? "aes-xts" : "plain", "-n", name, "--value-file", work + "/value-" + name])
        }
        let added = cli(["add"] + uv.backend + files)
        #expect(added.code == 0, "\(added.err)")
        #expect(cli(["lock"] + uv.backend).code == 0)

        // The encrypted volumes: a passphrase keyslot, a volume key, and a paes
        // volume whose volume key is the UV secret token of paes-disk.
        var imgs: [String: String] = [:]
        imgs["root"] = work + "/root.img"
        try LUKSImage.format(imgs["root"]!, volumeKey: Random.bytes(64), passphrase: values["luks-root"]!, label: "root")
        imgs["data"] = work + "/data.img"
        try LUKSImage.format(imgs["data"]!, volumeKey: values["data-volume-key"]!, passphrase: nil)
        imgs["paes"] = work + "/paes.img"
        let token = try PaesToken.make(type: .aesXTS256, id: Digest.sha256(Array("paes-disk".utf8)))
        try LUKSImage.format(imgs["paes"]!, cipher: "paes", volumeKey: token, passphrase: nil)
        images = imgs
        deviceArgs = ["--device", "LABEL=root=" + imgs["root"]!, "--device", "UUID=2f1c0b7e-8d3a-4c55-9e61-0a7d2b3c4d5e=" + imgs["data"]!,
                      "--device", "PARTLABEL=paes=" + imgs["paes"]!]

        let policy = work + "/policy.json"
        self.policy = policy
        let text = """
        {
          "version": 1,
          "trust": {"require": "none"},
          "store": {"allow_meta": true, "required_flags": ["disable-dump"]},
          "secrets": [
            {"name": "luks-root", "type": "plain", "actions": [
              {"type": "luks", "device": "LABEL=root", "name": "root", "expect_cipher": "aes-xts-plain64"},
              {"type": "keyfile", "volume": "root"},
              {"type": "keyscript", "volume": "root"}]},
            {"name": "data-volume-key", "type": "plain", "actions": [
              {"type": "luks", "device": "UUID=2f1c0b7e-8d3a-4c55-9e61-0a7d2b3c4d5e", "name": "data", "key": "volume-key",
               "read_only": true, "discard": true}]},
            {"name": "paes-disk", "type": "aes-xts-256", "actions": [
              {"type": "luks", "device": "PARTLABEL=paes", "name": "paes_root", "key": "paes-token", "expect_cipher": "paes-xts-plain64"}]},
            {"name": "ssh-host-ecdsa", "type": "plain", "actions": [
              {"type": "file", "path": "/etc/ssh/ssh_host_ecdsa_key", "format": "ssh-host-key"}]},
            {"name": "tls-server-key", "type": "plain", "actions": [
              {"type": "file", "path": "/etc/ssl/private/server.key", "format": "tls-key", "mode": "0600",
               "owner": "www-data", "group": "ssl-cert"}]},
            {"name": "root-authorized-keys", "type": "plain", "actions": [
              {"type": "credential", "name": "ssh.authorized_keys.root"},
              {"type": "file", "path": "/home/alice/.ssh/authorized_keys", "format": "authorized-keys", "mode": "0600",
               "owner": "alice", "group": "alice", "create_parents": true}]},
            {"name": "root-password", "type": "plain", "actions": [{"type": "password-hash", "user": "root"}]},
            {"name": "not-deployed", "type": "plain", "required": false, "actions": [{"type": "credential", "name": "extra"}]}
          ],
          "root": {"type": "any"}
        }
        """
        try write(policy, Array(text.utf8))
    }

    var keyDir: String { handoff + "/cryptsetup-keys.d" }
    var credDir: String { handoff + "/credentials/@initrd" }

    func phase(_ name: String, _ extra: [String]) -> (code: Int32, out: String, err: String) {
        cli([name, "--policy", policy, "--run-dir", run] + (name == "remove-key-files" ? [] : backend) + handoffArgs + extra)
    }

    /// Fails the test if any secret value shows up in `text`.
    func expectNoSecret(in text: String, _ what: String) {
        for (name, value) in secrets {
            let s = String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if s.count >= 16, value.allSatisfy({ $0 >= 0x09 && $0 < 0x7F }) {
                // Every line of a PEM body, the base64 of a key line, the hash itself.
                for piece in s.split(whereSeparator: { $0 == "\n" || $0 == " " }) where piece.count >= 16 && !piece.hasPrefix("-----") {
                    #expect(!text.contains(piece), "\(what) contains a piece of \(name)")
                }
            }
            #expect(!text.contains(value.hex), "\(what) contains \(name) in hex")
        }
    }
}

@Suite(.serialized) struct ChainTests {
    @Test func bootUnlockInstallChainOnTheSimulator() throws {
        let g = try Guest()
        let activate = deviceMapperReason == nil
        if !activate { print("NOTE: LUKS keys are checked against the LUKS2 headers only (--check-only): \(deviceMapperReason!)") }
        var printed = ""

        // unlock: three volumes, the key file and the keyscript's secret.
        let unlock = g.phase("unlock", ["--key-file-dir", g.keyDir, "--json", "--device-timeout", "1"] + g.deviceArgs +
                                       (activate ? [] : ["--check-only"]))
        printed += unlock.out + unlock.err
        #expect(unlock.code == 0, "\(unlock.out)\(unlock.err)")
        let u = try JSON.parse(unlock.out)
        guard case let .array(ur)? = u["actions"] else { Issue.record("no records"); return }
        #expect(ur.count == 5 && ur.allSatisfy { $0["result"] == .string("ok") && $0["phase"] == .string("unlock") })
        #expect(ur.map { $0["action"] } == ["luks", "keyfile", "keyscript", "luks", "luks"].map { JSON.string($0) })
        if case let .string(m)? = ur[4]["message"] { #expect(m.contains("paes-xts-plain64")) }
        // The records name the volume: the passphrase opened keyslot 0 (LUKSImage adds one keyslot); a volume key none.
        #expect(ur[0]["volume"]?["mapping"] == .string("root") && ur[0]["volume"]?["keyslot"] == .int(0))
        #expect(ur[0]["volume"]?["cipher"] == .string("aes-xts-plain64") && ur[0]["volume"]?["luks_uuid"] != nil)
        #expect(ur[3]["volume"]?["mapping"] == .string("data") && ur[3]["volume"]?["keyslot"] == nil)
        #expect((ur[0]["volume"]?["dev"] != nil) == activate, "a device number only for an activated mapping")
        defer { if activate { for n in ["root", "data", "paes_root"] { LUKSVolume.deactivate(n) } } }

        // The key file, as systemd-cryptsetup finds it: /run/cryptsetup-keys.d/root.key, 0400, every byte the key.
        let keyFile = g.keyDir + "/root.key"
        #expect(fileMode(keyFile)?.mode == 0o400 && fileMode(g.keyDir)?.mode == 0o700)
        #expect(try read(keyFile) == g.secrets["luks-root"]!)
        #expect(LUKSImage.keyFileOpens(g.images["root"]!, keyFile: keyFile) >= 0)

        // The keyscript, as Debian's cryptroot runs it.
        if let bin = BuiltBinary.agentWithSimulator.path {
            var env = ProcessInfo.processInfo.environment
            env["CRYPTTAB_NAME"] = "root"; env["CRYPTTAB_KEY"] = "none"; env["CRYPTTAB_TRIED"] = "0"
            env["CRYPTTAB_SOURCE"] = "LABEL=root"; env["CRYPTTAB_OPTIONS"] = "luks,keyscript=se-secretd-keyscript"
            let r = run(bin, ["keyscript", "--policy", g.policy, "--run-dir", g.run] + g.backend, environment: env)
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out == g.secrets["luks-root"]!, "exactly the key, no newline")
            printed += r.err
        }

        // install: files, the derived .pub, credentials and root's hash in the new root.
        let install = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir])
        printed += install.out + install.err
        #expect(install.code == 0, "\(install.out)\(install.err)")
        // The policy opts out of the root check ("root": any): a plain directory stands in for the root here.
        #expect(install.out.contains("install: 7 action(s): 6 ok, 0 failed, 1 skipped"), "\(install.out)")
        #expect(install.out.contains("not checked: the policy says \"root\": {\"type\": \"any\"}"))
        let key = g.root + "/etc/ssh/ssh_host_ecdsa_key"
        #expect(try read(key) == g.secrets["ssh-host-ecdsa"]! && fileMode(key)?.mode == 0o600)
        let pub = try String(contentsOfFile: key + ".pub", encoding: .utf8)
        #expect(pub.hasPrefix("ecdsa-sha2-nistp256 AAAA") && fileMode(key + ".pub")?.mode == 0o644)
        if sshKeygen != nil { #expect(fields(pub) == fields(sshKeygenPublic(key) ?? "")) }
        let tls = fileMode(g.root + "/etc/ssl/private/server.key")
        #expect(tls?.mode == 0o600 && tls?.uid == 33 && tls?.gid == 111)
        let ak = fileMode(g.root + "/home/alice/.ssh/authorized_keys")
        #expect(ak?.mode == 0o600 && ak?.uid == 1234 && ak?.gid == 1234)
        #expect(fileMode(g.root + "/home/alice/.ssh")?.mode == 0o755)
        let cred = g.credDir + "/ssh.authorized_keys.root"
        #expect(try read(cred) == g.secrets["root-authorized-keys"]! && fileMode(cred)?.mode == 0o400 && fileMode(g.credDir)?.mode == 0o700)
        #expect(!FileManager.default.fileExists(atPath: g.credDir + "/extra"))
        let shadow = try String(contentsOfFile: g.root + "/etc/shadow", encoding: .utf8)
        #expect(shadow == shadowText.replacingOccurrences(of: "root:*:", with: "root:\(Guest.rootHash):"))

        // Running install again changes nothing.
        let again = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir])
        #expect(again.code == 0 && again.out.contains("unchanged"), "\(again.out)\(again.err)")

        // After cryptsetup: the key file is overwritten and removed.
        let cleanup = g.phase("remove-key-files", ["--key-file-dir", g.keyDir])
        #expect(cleanup.code == 0 && !FileManager.default.fileExists(atPath: keyFile), "\(cleanup.out)\(cleanup.err)")

        // The report: the boot run's keys kept, one record per action and phase, no secret.
        let reportText = try String(contentsOfFile: g.run + "/report.json", encoding: .utf8)
        let report = try JSON.parse(reportText)
        guard case let .array(records)? = report["actions"] else { Issue.record("no actions in the report"); return }
        func count(_ phase: String) -> Int { records.filter { $0["phase"] == .string(phase) }.count }
        #expect(count("unlock") == 5 && count("install") == 7 && count("keyscript") == (BuiltBinary.agentWithSimulator.path == nil ? 0 : 1) && count("cleanup") == 1)
        #expect(records.filter { $0["result"] == .string("skipped") }.count == 1)
        #expect(fileMode(g.run + "/report.json")?.mode == 0o600)
        g.expectNoSecret(in: reportText, "the report")
        g.expectNoSecret(in: printed + again.out + cleanup.out, "the output")
    }

    @Test func failuresAreRecordedAndClassified() throws {
        let g = try Guest()
        // A wrong passphrase: the root image made for another passphrase.
        try LUKSImage.format(g.images["root"]!, volumeKey: Random.bytes(64), passphrase: Array("something else".utf8))
        // The data volume's device never appears; paes-disk's image is a plain file.
        try write(g.images["paes"]!, [UInt8](repeating: 0, count: 1 << 20))
        let r = g.phase("unlock", ["--key-file-dir", g.keyDir, "--check-only", "--json", "--device-timeout", "0",
                                   "--device", "LABEL=root=" + g.images["root"]!, "--device", "PARTLABEL=paes=" + g.images["paes"]!])
        #expect(r.code == ExitCode.policyViolation.rawValue, "the first failure (a wrong key) decides: \(r.err)")
        let records = try JSON.parse(r.out)["actions"]
        guard case let .array(rs)? = records else { Issue.record("no records"); return }
        #expect(rs[0]["result"] == .string("failed") && rs[0]["failure"] == .string("data"))
        #expect(rs[1]["result"] == .string("ok") && rs[2]["result"] == .string("ok"), "the hand-offs still happen")
        #expect(rs[3]["failure"] == .string("timeout"))
        #expect(rs[4]["failure"] == .string("data"))
        g.expectNoSecret(in: r.out + r.err, "the output")

        // A planted symlink in the new root: install fails for that file only.
        let outsideDir = try TempDir("outside")
        let outside = outsideDir.path
        try FileManager.default.removeItem(atPath: g.root + "/etc/ssl/private")
        try FileManager.default.createSymbolicLink(atPath: g.root + "/etc/ssl/private", withDestinationPath: outside)
        let i = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir])
        #expect(i.code == ExitCode.ioError.rawValue && i.out.contains("symbolic link"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(FileManager.default.fileExists(atPath: g.root + "/etc/ssh/ssh_host_ecdsa_key"))

        // The keyscript refuses a volume the policy does not serve and a crypttab key that disagrees.
        if let bin = BuiltBinary.agentWithSimulator.path {
            var env = ProcessInfo.processInfo.environment
            env["CRYPTTAB_NAME"] = "data"
            let other = run(bin, ["keyscript", "--policy", g.policy, "--run-dir", g.run] + g.backend, environment: env)
            #expect(other.status == ExitCode.config.rawValue && other.out.isEmpty)
            env["CRYPTTAB_NAME"] = "root"
            let mismatch = run(bin, ["keyscript", "--policy", g.policy, "--run-dir", g.run] + g.backend + ["--", "tls-server-key"], environment: env)
            #expect(mismatch.status == ExitCode.config.rawValue && mismatch.out.isEmpty)
            // Named as se-secretd-keyscript, the binary is the keyscript itself (the crypttab key field is its argument).
            let link = g.work + "/se-secretd-keyscript"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: bin)
            env["CRYPTTAB_NAME"] = "root"
            // The default policy path does not exist here, so it fails as "invalid policy": proof that keyscript ran.
            let multi = run(link, ["none"], environment: env)
            #expect(multi.status == ExitCode.config.rawValue && multi.err.contains("keyscript"))
        }
    }

    /// A failed install with `results.console`: the phase hands the results
    /// record out on the console, its report with the failed action in it.
    @Test func aFailedInstallPutsTheRecordOnTheConsole() throws {
        let g = try Guest()
        var policy = try JSON.parse(try read(g.policy))
        guard case var .object(m) = policy else { Issue.record("the policy is not an object"); return }
        m.append(("results", .object([("console", .bool(true))])))
        policy = .object(m)
        try write(g.policy, Array(policy.serialized().utf8))
        try FileManager.default.removeItem(atPath: g.root + "/etc/ssl/private")
        try FileManager.default.createSymbolicLink(atPath: g.root + "/etc/ssl/private", withDestinationPath: "/tmp")
        let console = g.work + "/console.log"
        try write(console, Array("earlier console output\n".utf8))
        // Without this boot's record in the run directory (no boot run), a failed phase writes nothing.
        let none = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir, "--console", console])
        #expect(none.code == ExitCode.ioError.rawValue)
        #expect(try read(console) == Array("earlier console output\n".utf8))
        // The boot run's record (here one with a report only, as a run that did not attest writes it).
        try FileManager.default.createDirectory(atPath: g.run, withIntermediateDirectories: true)
        try write(g.run + "/results.bin", try ResultsRecord([.init(.report, Array("{\"verdict\":\"ok\"}".utf8))]).bytes)
        let i = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir, "--console", console])
        #expect(i.code == ExitCode.ioError.rawValue, "\(i.out)\(i.err)")
        let log = try read(console)
        #expect(log.starts(with: Array("earlier console output\n".utf8)))
        let record = try ConsoleFrame.extract(from: log)
        let report = try JSON.parse(try #require(record[.report]))
        guard case let .array(actions)? = report["actions"] else { Issue.record("no actions in the record's report"); return }
        #expect(actions.contains { $0["phase"] == .string("install") && $0["result"] == .string("failed") })
        #expect(record[.attestationResponse] == nil, "no boot run attested here")
        g.expectNoSecret(in: String(decoding: log, as: UTF8.self), "the console")
        // A successful phase writes nothing there.
        try FileManager.default.removeItem(atPath: g.root + "/etc/ssl/private")
        try FileManager.default.createDirectory(atPath: g.root + "/etc/ssl/private", withIntermediateDirectories: false)
        let before = try read(console)
        let ok = g.phase("install", ["--root", g.root, "--credentials-dir", g.credDir, "--console", console])
        #expect(ok.code == 0, "\(ok.out)\(ok.err)")
        #expect(try read(console) == before)
    }

    /// unlock finds a LUKS volume by its LABEL through libblkid, on a real loop device.
    @Test(.enabled(if: isRoot && tool("losetup") != nil && FileManager.default.fileExists(atPath: "/dev/loop-control"),
                   "needs root, losetup and loop devices"))
    func findsTheLUKSVolumeByLabel() throws {
        let g = try Guest()
        let label = "se-t-" + String(UUID().uuidString.prefix(8)).lowercased()
        let image = g.work + "/labelled.img"
        try LUKSImage.format(image, volumeKey: Random.bytes(64), passphrase: g.secrets["luks-root"]!, label: label)
        let attach = run(tool("losetup")!, ["-f", "--show", image])
        try #require(attach.status == 0)
        let loop = String(decoding: attach.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { run(tool("losetup")!, ["-d", loop]) }
        let text = try String(contentsOfFile: g.policy, encoding: .utf8).replacingOccurrences(of: "\"LABEL=root\"", with: "\"LABEL=\(label)\"")
        try write(g.policy, Array(text.utf8))
        let r = g.phase("unlock", ["--key-file-dir", g.keyDir, "--check-only", "--device-timeout", "5",
                                   "--device", "UUID=2f1c0b7e-8d3a-4c55-9e61-0a7d2b3c4d5e=" + g.images["data"]!,
                                   "--device", "PARTLABEL=paes=" + g.images["paes"]!])
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("header of \(loop)"))
    }
}
