import Foundation
import Testing
import ASRCodec
import SEBase
import SECrypto
import UVDevice
import UVSimulator
import UVCommands
@testable import SecretdCLI
import SecretdWorkbench
import TestSupport

/// A simulator state directory made through `sim init`, plus helpers.
struct SimDir {
    let dir: TempDir
    var root: String { dir.path }
    var state: String { root + "/state" }
    var backend: [String] { ["--uv-sim", state, "--sysfs", state + "/sysfs"] }

    init(_ extra: [String] = []) throws {
        dir = try TempDir("uvcommands")
        let r = cli(["sim", "init", "--state", root + "/state"] + extra)
        #expect(r.code == 0, "\(r.err)")
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = root + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// `sim create-request`; returns the request path.
    func request(_ name: String, _ args: [String]) -> String {
        let out = root + "/\(name).asr"
        let r = cli(["sim", "create-request", "--state", state, "--output", out] + args)
        #expect(r.code == 0, "\(r.err)")
        return out
    }
}

@Suite struct DeviceCommandTests {
    @Test func endToEndThroughTheCommands() throws {
        let sim = try SimDir(["--max-secrets", "256"])
        let ext = try sim.file("ext", Array(repeating: 0x5A, count: 32))
        var files = [sim.request("00-meta", ["-t", "meta", "--extension-secret", ext, "--disable-dump"])]
        var payloads: [String: [UInt8]] = [:]
        for i in 0..<90 {
            let payload = Array("passphrase number \(i) ".utf8) + Random.bytes(i % 40)
            payloads["p\(i)"] = payload
            files.append(sim.request("p\(i)", ["-t", "plain", "-n", "p\(i)", "--value-file", try sim.file("v\(i)", payload),
                                               "--extension-secret", ext]))
        }
        let aes = try sim.file("aes", Random.bytes(32))
        files.append(sim.request("disk", ["-t", "aes", "-n", "disk", "--value-file", aes, "--extension-secret", ext, "--bind-cuid"]))
        files.append(sim.request("ap", ["-t", "association", "-n", "ap", "--extension-secret", ext]))
        let ecKey = try PrivateKey.generate(.ec(.p384))
        files.append(sim.request("ec", ["-t", "ec", "-n", "ec", "--value-file", try sim.file("ec.pem", Array(ecKey.privateKeyPEM.utf8)),
                                        "--extension-secret", ext]))

        let added = cli(["add"] + sim.backend + files)
        #expect(added.code == 0, "\(added.err)")
        #expect(added.out.split(separator: "\n").count == files.count)

        let listed = cli(["list", "--json"] + sim.backend)
        #expect(listed.code == 0)
        let json = try JSON.parse(listed.out)
        #expect(json["total"] == .int(93) && json["complete"] == .bool(true))
        guard case let .array(entries)? = json["secrets"] else { Issue.record("no secrets"); return }
        #expect(entries.count == 93)
        #expect(entries.last?["type"] == .string("ec-p384") && entries.last?["length"] == .int(80))

        #expect(cli(["lock"] + sim.backend).code == 0)
        let late = cli(["add"] + sim.backend + [files[1]])
        #expect(late.code == ExitCode.ultravisor.rawValue && late.err.contains("0x0102"))

        // Every plaintext comes back byte-exact, without prefix and padding.
        for (name, payload) in payloads {
            let out = sim.root + "/out-\(name)"
            let r = cli(["retrieve"] + sim.backend + [name, "--outform", "bin", "--output", out])
            #expect(r.code == 0, "\(r.err)")
            let back = Array(try Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(back == payload ? true : false, "\(name) comes back byte-exact")
        }
        let blob = sim.root + "/disk.blob"
        #expect(cli(["retrieve"] + sim.backend + ["disk", "--outform", "bin", "-o", blob]).code == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: blob)).count == 64)
        let byIndex = cli(["retrieve"] + sim.backend + ["--index", "92", "--outform", "bin", "-o", sim.root + "/ec.blob"])
        #expect(byIndex.code == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: sim.root + "/ec.blob")).count == 80)
        let assoc = cli(["retrieve"] + sim.backend + ["ap", "-o", sim.root + "/ap"])
        #expect(assoc.code == ExitCode.ultravisor.rawValue && assoc.err.contains("0x0111"))

        // The store hash the simulator reports is the one pvattest would check.
        let status = try JSON.parse(cli(["sim", "status", "--state", sim.state, "--json"]).out)
        let tags = try files.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0)).suffix(16)) }
        let expected = SecretStoreHash.compute(tags: tags, locked: true, sha512: { Digest.sha512($0) })
        #expect(status["secret_store_hash"] == .string(expected.hex))
        #expect(status["locked"] == .bool(true) && status["extension_secret_pinned"] == .bool(true))
    }

    @Test func refusalsAndPrechecks() throws {
        let sim = try SimDir()
        // Another host: refused before submission, from the sysfs key hashes.
        let other = try SimDir()
        let foreign = other.request("foreign", ["-t", "plain", "-n", "x", "--value-file", try sim.file("v", [1, 2, 3])])
        let r = cli(["add"] + sim.backend + [foreign])
        #expect(r.code == ExitCode.policyViolation.rawValue && r.err.contains("keyslot"))
        // Without the sysfs keys the ultravisor decides: 0x0108.
        let r2 = cli(["add", "--uv-sim", sim.state, foreign])
        #expect(r2.code == ExitCode.ultravisor.rawValue && r2.err.contains("0x0108"))
        // Not a request at all.
        let junk = try sim.file("junk.asr", Array(repeating: 0x41, count: 2000))
        #expect(cli(["add"] + sim.backend + [junk]).code == ExitCode.policyViolation.rawValue)
        #expect(cli(["add"] + sim.backend + [sim.root + "/missing.asr"]).code == ExitCode.noInput.rawValue)
        // A tampered copy.
        let good = sim.request("good", ["-t", "plain", "-n", "good", "--value-file", try sim.file("g", [4])])
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: good)))
        bytes[bytes.count - 1] ^= 1
        let bad = try sim.file("bad.asr", bytes)
        let r3 = cli(["add"] + sim.backend + [bad])
        #expect(r3.code == ExitCode.ultravisor.rawValue && r3.err.contains("0x0108"))
        // Dump in progress is reported as retryable; the next attempt works.
        #expect(cli(["sim", "fault", "--state", sim.state, "--dump-in-progress", "1"]).code == 0)
        let r4 = cli(["add"] + sim.backend + [good])
        #expect(r4.code == ExitCode.ultravisor.rawValue && r4.err.contains("0x010d") && r4.err.contains("retryable"))
        #expect(cli(["add"] + sim.backend + [good]).code == 0)
        // An injected EIO is a device error.
        #expect(cli(["sim", "fault", "--state", sim.state, "--errno", "LIST_SECRETS:5:1"]).code == 0)
        #expect(cli(["list"] + sim.backend).code == ExitCode.device.rawValue)
        #expect(cli(["list"] + sim.backend).code == 0)
        // Bad arguments.
        #expect(cli(["list", "--uv", "/dev/null"] + sim.backend).code == ExitCode.usage.rawValue)
        #expect(cli(["retrieve"] + sim.backend + ["good", "--index", "0", "-o", "/dev/null"]).code == ExitCode.usage.rawValue)
        #expect(cli(["sim", "init", "--state", sim.root + "/x", "--config-uid", "12"]).code == ExitCode.usage.rawValue)
    }

    @Test func simulatorRefusedInARealGuest() throws {
        let sim = try SimDir(["--secure-guest"])
        let r = cli(["list"] + sim.backend)
        #expect(r.code == ExitCode.device.rawValue && r.err.contains("real Secure Execution guest"))
    }

    @Test func olderKernels() throws {
        let old = try SimDir(["--kernel", "6.5", "--max-secrets", "200"])
        let value = try old.file("v", [7])
        var files: [String] = []
        for i in 0..<86 { files.append(old.request("s\(i)", ["-t", "plain", "-n", "s\(i)", "--value-file", value])) }
        #expect(cli(["add"] + old.backend + files).code == 0)
        let r = cli(["list"] + old.backend)
        #expect(r.code == ExitCode.device.rawValue)
        #expect(r.out.contains("Total number of secrets: 86") && r.err.contains("incomplete"))
        let ret = cli(["retrieve"] + old.backend + ["s0", "-o", old.root + "/o"])
        #expect(ret.code == ExitCode.device.rawValue && ret.err.contains("ENOTTY"))

        let oldest = try SimDir(["--kernel", "5.19"])
        let info = cli(["info", "--json"] + oldest.backend)
        #expect(info.code == 0)
        let j = try JSON.parse(info.out)
        #expect(j["driver"]?["legacy"] == .bool(true))
        #expect(j["query"]?["max_secrets"] == .null)
    }

    @Test func outputsNeverCarryTheSecret() throws {
        let sim = try SimDir()
        let marker = "correct horse battery staple"
        let f = sim.request("p", ["-t", "plain", "-n", "p", "--value-file", try sim.file("v", Array(marker.utf8))])
        var all = cli(["add"] + sim.backend + [f])
        for args in [["list"], ["list", "--json"], ["info"], ["info", "--json"], ["lock"]] {
            let r = cli(args + sim.backend)
            all.out += r.out; all.err += r.err
        }
        for args in [["sim", "status", "--state", sim.state], ["sim", "status", "--json", "--state", sim.state]] {
            let r = cli(args)
            all.out += r.out; all.err += r.err
        }
        let r = cli(["retrieve"] + sim.backend + ["p", "-o", sim.root + "/out"])
        all.out += r.out; all.err += r.err
        #expect(!all.out.contains(marker) && !all.err.contains(marker))
        let json = try String(contentsOfFile: sim.state + "/state.json", encoding: .utf8)
        #expect(!json.contains(Array(marker.utf8).hex))
    }

    @Test func separateProcessesShareOneStore() throws {
        let binary = try #require(BuiltBinary.agentWithSimulator.path, "se-secretd-test next to the tests")
        let sim = try SimDir()
        let value = try sim.file("v", [1])
        let files = (0..<12).map { sim.request("r\($0)", ["-t", "plain", "-n", "r\($0)", "--value-file", value]) }
        // Four processes add three requests each, at the same time.
        var procs: [Process] = []
        for k in 0..<4 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["add"] + sim.backend + Array(files[(k * 3)..<(k * 3 + 3)])
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            procs.append(p)
        }
        for p in procs {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let state = try SimulatorStateDirectory(path: sim.state).loadState()
        #expect(state.store.count == 12)
        #expect(Set(state.store.map(\.index)) == Set(0..<12))
        #expect(Set(state.store.map(\.id)) == Set((0..<12).map { Digest.sha256(Array("r\($0)".utf8)) }))
    }
}
