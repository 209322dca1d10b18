import Foundation
import Testing
import SEBase
import SECrypto
import SEVocabulary
@testable import UVDevice
import UVCommands
import SecretdCLI
import SecretdWorkbench
import TestSupport

// `list` and `retrieve` in IBM pvsecret's formats (s390-tools v2.43.0):
// type names, the text, yaml and bin lists, PEM, --inform.

private func entry(_ index: UInt16, _ type: UInt16, _ length: UInt32, _ id: [UInt8]) -> SecretListEntry {
    SecretListEntry(index: index, typeCode: type, length: length, id: id)
}

private func report(_ entries: [SecretListEntry], total: Int? = nil, raw: [UInt8] = []) -> ListReport {
    let list = SecretList(entries: entries, totalCount: total ?? entries.count, nextIndex: 0)
    return ListReport(listing: SecretListing(list: list, isComplete: total == nil, pages: 1, fellBackToOnePage: false, raw: raw))
}

/// The i-th element of a JSON array.
private func item(_ j: JSON?, _ i: Int) -> JSON? {
    guard case let .array(a)? = j, i < a.count else { return nil }
    return a[i]
}

private func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

/// Base64 in 64-character lines, each ending in a newline (as OpenSSL's PEM writer).
private func pemBody(_ bytes: [UInt8]) -> String {
    let b64 = Array(Base64.encode(bytes).utf8)
    var s = ""
    var i = 0
    while i < b64.count {
        s += String(decoding: b64[i..<min(i + 64, b64.count)], as: UTF8.self) + "\n"
        i += 64
    }
    return s
}

@Suite struct PvsecretFormatTests {
    @Test func everyTypeHasPvsecretsName() {
        let expected: [UInt16: String] = [
            0x0000: "Invalid(0x0000)", 0x0001: "Invalid(0x0001)", 0x0002: "Association", 0x0003: "PLAINTEXT",
            0x0004: "AES-128-KEY", 0x0005: "AES-192-KEY", 0x0006: "AES-256-KEY",
            0x0007: "AES-XTS-128-KEY", 0x0008: "AES-XTS-256-KEY",
            0x0009: "HMAC-SHA-256-KEY", 0x000A: "HMAC-SHA-512-KEY",
            0x000B: "Unknown(0x000b)", 0x0010: "Unknown(0x0010)",
            0x0011: "EC-SECP256R1-PRIVATE-KEY", 0x0012: "EC-SECP384R1-PRIVATE-KEY", 0x0013: "EC-SECP521R1-PRIVATE-KEY",
            0x0014: "EC-ED25519-PRIVATE-KEY", 0x0015: "EC-ED448-PRIVATE-KEY",
            0x0016: "Invalid(0x0016)", 0x0017: "Unknown(0x0017)", 0xABCD: "Unknown(0xabcd)",
        ]
        for (code, name) in expected {
            #expect(SecretType.pvsecretName(code: code) == name, "type 0x\(String(code, radix: 16))")
            #expect(entry(0, code, 32, [UInt8](repeating: 1, count: 32)).pvsecretTypeName == name)
        }
        // Every type se-secretd knows is in the table above.
        for t in SecretType.allCases { #expect(expected[t.rawValue] == t.pvsecretName, "\(t.name)") }
    }

    @Test func theTextListIsPvsecrets() throws {
        let raw = try #require(SecretID.rawName("my-pass"))
        let hashed = Digest.sha256(Array("disk".utf8))
        let r = report([entry(0, 3, 32, raw), entry(1, 6, 32, hashed), entry(7, 2, 32, [UInt8](repeating: 0xAB, count: 32))])
        #expect(r.text == """
        Total number of secrets: 3

        0 PLAINTEXT:
         my-pass | 0x6d792d7061737300000000000000000000000000000000000000000000000000
        1 AES-256-KEY:
         0x\(hashed.hex)
        7 Association:
         0xabababababababababababababababababababababababababababababababab

        """)
        #expect(report([]).text == "Total number of secrets: 0\n")
        // Every kind gets its name in the text.
        let all = SecretType.allCases.filter(\.isListable).enumerated().map { entry(UInt16($0.offset), $0.element.rawValue, 32, hashed) }
        let lines = report(all).text.split(separator: "\n").map(String.init)
        for e in all { #expect(lines.contains("\(e.index) \(e.pvsecretTypeName):"), "\(e.pvsecretTypeName)") }
        // An incomplete list says so on standard error only, not in pvsecret's text.
        let partial = report([entry(0, 3, 32, hashed)], total: 90)
        #expect(partial.text == "Total number of secrets: 90\n\n0 PLAINTEXT:\n 0x\(hashed.hex)\n")
        #expect(partial.incompleteWarning == "warning: the list is incomplete: 1 of 90 secrets shown (the kernel returns one page only)")
        #expect(report([]).incompleteWarning == nil)
    }

    @Test func theYAMLAndJSONListsHavePvsecretsShape() throws {
        let hashed = Digest.sha256(Array("disk".utf8))
        var small = [UInt8](repeating: 0, count: 32)
        small[31] = 1
        small[16] = 0xFF
        let r = report([entry(0, 3, 32, hashed), entry(1, 0x11, 32, small), entry(2, 0x30, 64, [UInt8](repeating: 0, count: 32))], total: 5)
        // serde_yaml quotes an ID that reads as a number (its value fits 128 bits).
        #expect(r.pvsecretYAML == """
        total_num_secrets: 5
        secrets:
        - index: 0
          stype: 3
          len: 32
          id: 0x\(hashed.hex)
        - index: 1
          stype: 17
          len: 32
          id: '0x00000000000000000000000000000000ff000000000000000000000000000001'
        - index: 2
          stype: 48
          len: 64
          id: '0x0000000000000000000000000000000000000000000000000000000000000000'

        """)
        #expect(report([]).pvsecretYAML == "total_num_secrets: 0\nsecrets: []\n")
        #expect(r.pvsecretJSON.serialized(pretty: false) == """
        {"total_num_secrets":5,"secrets":[{"index":0,"stype":3,"len":32,"id":"0x\(hashed.hex)"},\
        {"index":1,"stype":17,"len":32,"id":"0x00000000000000000000000000000000ff000000000000000000000000000001"},\
        {"index":2,"stype":48,"len":64,"id":"0x0000000000000000000000000000000000000000000000000000000000000000"}]}
        """)
        // Every listable kind, by its code.
        let all = SecretType.allCases.filter(\.isListable).enumerated().map { entry(UInt16($0.offset), $0.element.rawValue, 32, hashed) }
        let yaml = report(all).pvsecretYAML
        let json = try JSON.parse(report(all).pvsecretJSON.serialized())
        guard case let .array(items)? = json["secrets"] else { Issue.record("no secrets array"); return }
        #expect(items.count == all.count)
        for (e, item) in zip(all, items) {
            #expect(yaml.contains("- index: \(e.index)\n  stype: \(e.typeCode)\n  len: 32\n  id: 0x\(hashed.hex)\n"))
            #expect(item["stype"] == .int(Int64(e.typeCode)) && item["index"] == .int(Int64(e.index)))
        }
        // se-secretd's --json report is unchanged: its names and keys.
        let own = report([entry(0, 0x12, 80, hashed)]).json
        #expect(own.serialized(pretty: false) == """
        {"total":1,"complete":true,"secrets":[{"index":0,"type":"ec-p384","type_code":18,"length":80,"id":"\(hashed.hex)","name":null,"retrievable":true}]}
        """)
    }

    @Test func pemIsPvsecrets() {
        // IBM's own vectors (pv/src/uvsecret/retr_secret.rs tests).
        let eleven = SecureBytes(copying: [UInt8](repeating: 17, count: 48))
        let line = String(repeating: "ERER", count: 16)
        let plain = PvsecretPEM.encode(label: "PLAINTEXT SECRET", header: nil, data: eleven)
        #expect(plain.equals(Array("-----BEGIN PLAINTEXT SECRET-----\n\(line)\n-----END PLAINTEXT SECRET-----\n".utf8)))
        let key = PvsecretPEM.encode(label: "IBM PROTECTED KEY", header: "kind: AES-128-KEY", data: eleven)
        #expect(key.equals(Array("-----BEGIN IBM PROTECTED KEY-----\nkind: AES-128-KEY\n\n\(line)\n-----END IBM PROTECTED KEY-----\n".utf8)))
        // Lines of 64 characters, the last one shorter; empty data has no body line.
        for n in [0, 1, 2, 3, 47, 49, 100, 8190] {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            let pem = PvsecretPEM.encode(label: "X", header: nil, data: SecureBytes(copying: data))
            #expect(pem.equals(Array("-----BEGIN X-----\n\(pemBody(data))-----END X-----\n".utf8)), "\(n) bytes")
        }
        // The label and header follow the entry's type.
        let id = [UInt8](repeating: 1, count: 32)
        #expect(PvsecretPEM.labelAndHeader(for: entry(0, 3, 32, id)) == ("PLAINTEXT SECRET", nil))
        #expect(PvsecretPEM.labelAndHeader(for: entry(0, 0x14, 32, id)) == ("IBM PROTECTED KEY", "kind: EC-ED25519-PRIVATE-KEY"))
        #expect(PvsecretPEM.labelAndHeader(for: entry(0, 8, 64, id)) == ("IBM PROTECTED KEY", "kind: AES-XTS-256-KEY"))
    }

    // What `pvsecret create` wrote (v2.43.0, NAME.yaml next to the request): names and IDs only.
    static let createdPlain = "!Retrievable\nkind: 3 (PLAINTEXT)\nname: my plain secret\nid: 0x8b5f90d449a2e8af90a415220e71ce7fa95e5813335b9992efaccbf9542443d1\n"
    static let createdRawName = "!Retrievable\nkind: 4 (AES-128-KEY)\nname: aeskey\nid: 0x6165736b65790000000000000000000000000000000000000000000000000000\n"
    static let createdAssociation = "!Association\nname: assoc\nid: 0xa0683526da2dcfc9ac9a5ab546b35a379c49c0609e5aeb9bdb483052a63170f4\n"

    @Test func theYAMLOfPvsecretCreateGivesTheID() throws {
        func id(_ text: String) throws -> [UInt8] { try PvsecretSecretYAML.id(in: Array(text.utf8), file: "s.yaml") }
        #expect(try id(Self.createdPlain) == Digest.sha256(Array("my plain secret".utf8)))
        #expect(try id(Self.createdRawName) == SecretID.rawName("aeskey"))
        // serde's other enum form, quotes, a document marker, CRLF.
        let hashed = Digest.sha256(Array("x".utf8))
        #expect(try id("Retrievable:\n  kind: 3 (PLAINTEXT)\n  name: x\n  id: '0x\(hashed.hex)'\n") == hashed)
        #expect(try id("---\n!Retrievable\r\nname: x\r\nid: \"0x\(hashed.hex)\"  # the ID\r\n") == hashed)
        #expect(try id("--- !Retrievable\nname: x\nid: \(hashed.hex)\n") == hashed)
        func refusal(_ text: String) -> CommandFailure? {
            do { _ = try PvsecretSecretYAML.id(in: Array(text.utf8), file: "s.yaml"); return nil } catch { return error }
        }
        let assoc = refusal(Self.createdAssociation)
        #expect(assoc?.kind == .invalidInput)
        #expect(assoc?.message == "s.yaml: the file describes an association secret, which is not retrievable")
        #expect(refusal("!Retrievable\nkind: 3 (PLAINTEXT)\nname: x\n")?.message
                == "s.yaml: no secret ID (an `id:` line) in the file, as pvsecret create writes it")
        #expect(refusal("")?.message == "s.yaml: no secret ID (an `id:` line) in the file, as pvsecret create writes it")
        #expect(refusal("total_num_secrets: 1\nsecrets:\n- index: 0\n  stype: 3\n  len: 32\n  id: 0x\(hashed.hex)\n")?.message
                == "s.yaml: a secret list (list --format yaml) names many secrets; give one of its IDs with --inform hex")
        #expect(refusal("!Retrievable\nid: 0x1234\n")?.message == "s.yaml: its id is not a secret ID (0x and 64 hex digits)")
        #expect(refusal("!Other\nid: 0x\(hashed.hex)\n")?.message == "s.yaml: the file is tagged !Other, not !Retrievable")
        #expect(refusal("!Retrievable\nid: 0x\(hashed.hex)\u{1B}\n")?.message == "s.yaml: not a yaml text file (control bytes)")
        for text in [Self.createdAssociation, "", "!Retrievable\nid: 0x1234\n"] { #expect(refusal(text)?.failureClass == .policy) }
    }
}

/// The commands on a simulated ultravisor.
@Suite struct PvsecretCommandTests {
    @Test func listFormatsOnTheDevice() throws {
        let sim = try SimDir()
        let aes = try sim.file("aes", Random.bytes(32))
        let files = [
            sim.request("p", ["-t", "plain", "-n", "my-pass", "--use-name", "--value-file", try sim.file("v", [1, 2, 3])]),
            sim.request("disk", ["-t", "aes", "-n", "disk", "--value-file", aes]),
            sim.request("ap", ["-t", "association", "-n", "ap"]),
        ]
        #expect(cli(["add"] + sim.backend + files).code == 0)
        let disk = Digest.sha256(Array("disk".utf8)), ap = Digest.sha256(Array("ap".utf8))

        let human = cli(["list"] + sim.backend)
        #expect(human.code == 0 && human.err.isEmpty)
        #expect(human.out == """
        Total number of secrets: 3

        0 PLAINTEXT:
         my-pass | 0x6d792d7061737300000000000000000000000000000000000000000000000000
        1 AES-256-KEY:
         0x\(disk.hex)
        2 Association:
         0x\(ap.hex)

        """)
        #expect(cli(["list", "--format", "human"] + sim.backend).out == human.out)
        let yaml = cli(["list", "--format", "yaml"] + sim.backend)
        #expect(yaml.code == 0)
        #expect(yaml.out.hasPrefix("total_num_secrets: 3\nsecrets:\n- index: 0\n  stype: 3\n  len: 16\n  id: 0x6d792d70617373"))
        #expect(yaml.out.hasSuffix("- index: 2\n  stype: 2\n  len: 32\n  id: 0x\(ap.hex)\n"))
        let json = try JSON.parse(cli(["list", "--format", "json"] + sim.backend).out)
        #expect(json["total_num_secrets"] == .int(3))
        #expect(item(json["secrets"], 1)?["stype"] == .int(6) && item(json["secrets"], 1)?["id"] == .string("0x" + disk.hex))
        // --json is se-secretd's report, as before.
        let own = try JSON.parse(cli(["list", "--json"] + sim.backend).out)
        #expect(item(own["secrets"], 1)?["type"] == .string("aes-256") && item(own["secrets"], 1)?["id"] == .string(disk.hex))
        #expect(item(own["secrets"], 0)?["name"] == .string("my-pass"))

        // bin: the bytes the ultravisor returns, header and entries.
        let out = sim.root + "/list.bin"
        let bin = cli(["list", "--format", "bin", "-o", out] + sim.backend)
        #expect(bin.code == 0 && bin.out.isEmpty, "\(bin.err)")
        let written = try read(out)
        let client = try UVBackend.simulator(sim.state).client(sysfs: UVSysfs(root: sim.state + "/sysfs"), links: Workbench.simulatorLinks)
        var page = [UInt8](repeating: 0xEE, count: SecretListLayout.pageSize)
        let result = try page.withUnsafeMutableBytes { try client.transport.call(.listSecrets, argument: $0.baseAddress, length: $0.count) }
        #expect(result.rc == UVReturnCode.success)
        #expect(written == Array(page[0..<(16 + 3 * 48)]))
        #expect(written.count == 16 + 3 * 48)
        let decoded = try SecretList.decode(written)
        #expect(decoded.entries.map(\.id) == [SecretID.rawName("my-pass")!, disk, ap])
        #expect(decoded.entries.map(\.typeCode) == [3, 6, 2] && decoded.totalCount == 3)
        // Other formats to a file too.
        #expect(cli(["list", "--format", "yaml", "-o", sim.root + "/l.yaml"] + sim.backend).code == 0)
        #expect(String(decoding: try read(sim.root + "/l.yaml"), as: UTF8.self) == yaml.out)
        #expect(cli(["list", "--json", "--format", "yaml"] + sim.backend).code == ExitCode.usage.rawValue)
        #expect(cli(["list", "--format", "xml"] + sim.backend).code == ExitCode.usage.rawValue)
    }

    @Test func theIncompleteListWarnsOnStandardError() throws {
        let old = try SimDir(["--kernel", "6.5", "--max-secrets", "200"])
        let value = try old.file("v", [7])
        let files = (0..<86).map { old.request("s\($0)", ["-t", "plain", "-n", "s\($0)", "--value-file", value]) }
        #expect(cli(["add"] + old.backend + files).code == 0)
        let r = cli(["list"] + old.backend)
        #expect(r.code == ExitCode.device.rawValue)
        #expect(r.out.hasPrefix("Total number of secrets: 86\n\n0 PLAINTEXT:\n") && !r.out.contains("incomplete"))
        #expect(r.err.contains("warning: the list is incomplete: 85 of 86 secrets shown"))
        let bin = cli(["list", "--format", "bin", "-o", old.root + "/l.bin"] + old.backend)
        #expect(bin.code == ExitCode.device.rawValue && bin.err.contains("incomplete"))
        #expect(try read(old.root + "/l.bin").count == 16 + 85 * 48)
    }

    @Test func retrieveWritesPvsecretsPEMOrTheBytes() throws {
        let sim = try SimDir()
        let payload = Array("a passphrase of some length, more than forty-eight bytes long".utf8)
        let aes = try sim.file("aes", Random.bytes(32))
        let files = [
            sim.request("p", ["-t", "plain", "-n", "my plain secret", "--value-file", try sim.file("v", payload)]),
            sim.request("disk", ["-t", "aes", "-n", "aeskey", "--use-name", "--value-file", aes]),
            sim.request("ap", ["-t", "association", "-n", "assoc"]),
        ]
        #expect(cli(["add"] + sim.backend + files).code == 0)

        // Plaintext: PEM by default, PLAINTEXT SECRET without header.
        let pem = sim.root + "/p.pem"
        let r = cli(["retrieve"] + sim.backend + ["my plain secret", "-o", pem])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err == "wrote plaintext secret at index 0 (\(payload.count) bytes, as PEM) to \(pem)\n")
        #expect(try read(pem) == Array("-----BEGIN PLAINTEXT SECRET-----\n\(pemBody(payload))-----END PLAINTEXT SECRET-----\n".utf8))
        let raw = sim.root + "/p.bin"
        #expect(cli(["retrieve"] + sim.backend + ["my plain secret", "--outform", "bin", "-o", raw]).code == 0)
        #expect(try read(raw) == payload)

        // A key: IBM PROTECTED KEY with its kind; the body is the --outform bin blob.
        let keyPEM = sim.root + "/k.pem", keyBin = sim.root + "/k.bin"
        #expect(cli(["retrieve"] + sim.backend + ["--inform", "name", "aeskey", "-o", keyPEM]).code == 0)
        #expect(cli(["retrieve"] + sim.backend + ["--inform", "idx", "1", "--outform", "bin", "-o", keyBin]).code == 0)
        let blob = try read(keyBin)
        #expect(blob.count == 64)
        #expect(try read(keyPEM) == Array("-----BEGIN IBM PROTECTED KEY-----\nkind: AES-256-KEY\n\n\(pemBody(blob))-----END IBM PROTECTED KEY-----\n".utf8))
    }

    @Test func everyInformFindsTheSecret() throws {
        let sim = try SimDir()
        let payload = Array("the value".utf8)
        let aes = try sim.file("aes", Random.bytes(16))
        let files = [
            sim.request("p", ["-t", "plain", "-n", "my plain secret", "--value-file", try sim.file("v", payload)]),
            sim.request("k", ["-t", "aes", "-n", "aeskey", "--use-name", "--value-file", aes]),
            sim.request("ap", ["-t", "association", "-n", "assoc"]),
        ]
        #expect(cli(["add"] + sim.backend + files).code == 0)
        let id = Digest.sha256(Array("my plain secret".utf8))
        let yaml = try sim.file("my_plain_secret.yaml", Array(PvsecretFormatTests.createdPlain.utf8))
        let ways: [[String]] = [
            ["my plain secret"], ["0x" + id.hex], [id.hex], ["0X" + id.hex.uppercased()],
            ["--inform", "name", "my plain secret"], ["--inform", "hex", "0x" + id.hex], ["--inform", "hex", id.hex],
            ["--inform", "idx", "0"], ["--index", "0"], ["--inform", "yaml", yaml],
        ]
        for (k, way) in ways.enumerated() {
            let out = sim.root + "/out\(k)"
            let r = cli(["retrieve"] + sim.backend + way + ["--outform", "bin", "-o", out])
            #expect(r.code == 0, "\(way): \(r.err)")
            #expect(try read(out) == payload, "\(way)")
        }
        // The raw-name yaml of pvsecret create --use-name, and the hash fallback
        // for a raw-name ID (as pvsecret): 0x<"my plain secret" as a raw name>.
        let rawYAML = try sim.file("aeskey.yaml", Array(PvsecretFormatTests.createdRawName.utf8))
        let k = cli(["retrieve"] + sim.backend + ["--inform", "yaml", rawYAML, "--outform", "bin", "-o", sim.root + "/k"])
        #expect(k.code == 0, "\(k.err)")
        #expect(try read(sim.root + "/k").count == 48)
        let asRawName = try #require(SecretID.rawName("my plain secret"))
        let fallback = cli(["retrieve"] + sim.backend + ["--inform", "hex", "0x" + asRawName.hex, "--outform", "bin", "-o", sim.root + "/f"])
        #expect(fallback.code == 0, "\(fallback.err)")
        #expect(try read(sim.root + "/f") == payload)
    }

    @Test func badInputsFailClearly() throws {
        let sim = try SimDir()
        let marker = "horse battery staple correct"
        let f = sim.request("p", ["-t", "plain", "-n", "p", "--value-file", try sim.file("v", Array(marker.utf8))])
        #expect(cli(["add"] + sim.backend + [f, sim.request("ap", ["-t", "association", "-n", "assoc"])]).code == 0)
        let out = sim.root + "/out"
        func run(_ args: [String]) -> CLIResult { cli(["retrieve"] + sim.backend + args + ["-o", out]) }

        let noIndex = run(["--inform", "idx", "9"])
        #expect(noIndex.code == ExitCode.noInput.rawValue && noIndex.err.contains("no secret has index 9"), "\(noIndex.err)")
        let noID = run(["--inform", "hex", "0x" + String(repeating: "ab", count: 32)])
        #expect(noID.code == ExitCode.noInput.rawValue && noID.err.contains("no secret with ID 0x" + String(repeating: "ab", count: 32)))
        let hex = run(["--inform", "hex", "0x1234"])
        #expect(hex.code == ExitCode.usage.rawValue && hex.err.contains("--inform hex takes a secret ID of 64 hex digits"))
        let idx = run(["--inform", "idx", "first"])
        #expect(idx.code == ExitCode.usage.rawValue && idx.err.contains("--inform idx takes a list index"))
        let noName = run(["--inform", "name", "0x" + Digest.sha256(Array("p".utf8)).hex])
        #expect(noName.code == ExitCode.noInput.rawValue && noName.err.contains("no secret with name"))
        let noIDYAML = try sim.file("noid.yaml", Array("!Retrievable\nkind: 3 (PLAINTEXT)\nname: p\n".utf8))
        let y = run(["--inform", "yaml", noIDYAML])
        #expect(y.code == ExitCode.policyViolation.rawValue && y.err.contains("no secret ID (an `id:` line)"), "\(y.err)")
        let assoc = try sim.file("assoc.yaml", Array(PvsecretFormatTests.createdAssociation.utf8))
        let a = run(["--inform", "yaml", assoc])
        #expect(a.code == ExitCode.policyViolation.rawValue && a.err.contains("association secret, which is not retrievable"))
        let missing = run(["--inform", "yaml", sim.root + "/missing.yaml"])
        #expect(missing.code == ExitCode.noInput.rawValue && missing.err.contains("cannot read"))
        #expect(run(["--inform", "pem", "p"]).code == ExitCode.usage.rawValue)
        #expect(run(["p", "--outform", "der"]).code == ExitCode.usage.rawValue)
        #expect(!FileManager.default.fileExists(atPath: out))

        // No output but the retrieve output carries the secret, in any form.
        var all = (out: "", err: "")
        for args in [["list"], ["list", "--format", "yaml"], ["list", "--format", "json"], ["list", "--json"]] {
            let r = cli(args + sim.backend)
            all.out += r.out; all.err += r.err
        }
        for args in [["p"], ["p", "--outform", "bin"], ["--inform", "idx", "0"]] {
            let r = run(args)
            #expect(r.code == 0)
            all.out += r.out; all.err += r.err
        }
        let list = sim.root + "/l.bin"
        #expect(cli(["list", "--format", "bin", "-o", list] + sim.backend).code == 0)
        let listBytes = try read(list)
        for needle in [marker, Base64.encode(Array(marker.utf8)), Array(marker.utf8).hex] {
            #expect(!all.out.contains(needle) && !all.err.contains(needle))
        }
        #expect(listBytes.count == 16 + 2 * 48 && !String(decoding: listBytes, as: UTF8.self).contains(marker))
    }
}
