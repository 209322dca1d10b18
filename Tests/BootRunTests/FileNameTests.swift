import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVSimulator
import BootRun
import SecretdCLI
import SecretdWorkbench

/// File names on the request volume that are not printable: refused as
/// `bad-file-name`, and never printed raw — not to stderr, the kernel log,
/// the report, nor `check`'s text or JSON output.
@Suite struct HostileFileNames {
    static let names: [[UInt8]] = [
        Array("a\nse-secretd: ok: 6 requests checked and in the store, store locked.asr".utf8),
        Array("\u{1b}[2J.asr".utf8),
        [0x62, 0xFF, 0xFE, 0xC3, 0x28] + Array(".asr".utf8),
        Array("\u{7f}del.asr".utf8),
        Array("evil\u{202e}rsa.txt".utf8),   // a bidi override, even with another suffix
    ]

    static func create(_ dir: String, _ name: [UInt8], _ bytes: [UInt8]) {
        let path = Array(dir.utf8) + [UInt8(ascii: "/")] + name + [0]
        let fd = path.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        }
        precondition(fd >= 0, "cannot create a test file: errno \(errno)")
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func hostileCopy(_ g: Guest) throws -> String {
        let dir = try g.copyOfRequests()
        let meta = try FileIO.read(dir + "/00-meta.asr", limit: 1 << 20)
        for n in Self.names { Self.create(dir, n, meta) }
        return dir
    }

    /// Raw control bytes (other than a newline), DEL, a bidi override, or a
    /// line that starts like se-secretd's own summary: nothing of that may
    /// be in an output.
    static func rawControl(_ channel: [UInt8]) -> String? {
        for (i, b) in channel.enumerated() where (b < 0x20 && b != 0x0A) || b == 0x7F {
            return "byte 0x\([b].hex) at \(i)"
        }
        let text = String(decoding: channel, as: UTF8.self)
        if text.unicodeScalars.contains(where: { $0.value == 0x202E }) { return "a bidi override" }
        for line in text.split(separator: "\n") {
            let l = line.drop { $0 == " " }
            if l.hasPrefix("se-secretd: ok") || l.hasPrefix("<13>se-secretd: ok") || l.hasPrefix("ok: 6") { return "a forged line: \(l)" }
        }
        return nil
    }

    @Test func bootRunRefusesAndEscapesThem() throws {
        let g = try Guest("names")
        let dir = try hostileCopy(g)
        let (r, stderr) = g.boot(g.config(requests: dir))
        #expect(r.failure?.step == "check", "\(stderr)")
        #expect(try g.state().acceptedRequestTags.isEmpty)
        let report = try g.report()
        let bad = report["problems"]!.array.filter { $0["rule"] == .string("bad-file-name") }.compactMap { $0["file"]?.string }
        #expect(bad.count == Self.names.count, "\(bad)")
        #expect(bad.contains("a\\x0ase-secretd:\\x20ok:\\x206\\x20requests\\x20checked\\x20and\\x20in\\x20the\\x20store,\\x20store\\x20locked.asr"))
        #expect(bad.contains("\\x1b[2J.asr"))
        #expect(bad.contains("b\\xff\\xfe\\xc3(.asr"))
        #expect(bad.contains("\\x7fdel.asr"))
        #expect(bad.contains("evil\\xe2\\x80\\xaersa.txt"))
        // The report's strings, parsed back: no raw control anywhere in them.
        var strings: [String] = []
        func walk(_ j: JSON) {
            switch j {
            case let .string(s): strings.append(s)
            case let .array(a): a.forEach(walk)
            case let .object(o): o.forEach { walk($0.1) }
            default: break
            }
        }
        walk(report)
        for (label, channel) in [("stderr", Array(stderr.utf8)), ("kmsg", try FileIO.read(g.kmsg, limit: 1 << 20)),
                                 ("report file", try FileIO.read(g.runDir + "/report.json", limit: 1 << 22)),
                                 ("report strings", Array(strings.joined(separator: "\n").utf8))] {
            #expect(Self.rawControl(channel) == nil, "\(label): \(Self.rawControl(channel) ?? "")")
        }
        #expect(stderr.contains("\\x1b[2J.asr") && stderr.contains("[bad-file-name]"))
    }

    @Test func checkRefusesAndEscapesThem() throws {
        let g = try Guest("names-check")
        let dir = try hostileCopy(g)
        for json in [false, true] {
            let r = cli(["check", "-p", g.example.policyPath, "-r", dir] + (json ? ["--json"] : []))
            #expect(r.code == 65, "\(r.err)")
            #expect(Self.rawControl(Array(r.out.utf8)) == nil, "check\(json ? " --json" : ""): \(Self.rawControl(Array(r.out.utf8)) ?? "")")
            #expect(Self.rawControl(Array(r.err.utf8)) == nil)
            #expect(r.out.contains("\\x1b[2J.asr") && r.out.contains("bad-file-name"))
            if json {
                let parsed = try JSON.parse(Array(r.out.utf8))
                let bad = parsed["problems"]!.array.filter { $0["rule"] == .string("bad-file-name") }
                #expect(bad.count == Self.names.count)
                for p in bad { #expect(Self.rawControl(Array((p["file"]?.string ?? "").utf8)) == nil) }
            }
        }
    }

    @Test func escapingIsOneFormEverywhere() {
        #expect(Printable.escape(Array("a\n\u{1b}b\\".utf8)) == "a\\x0a\\x1bb\\x5c")
        #expect(Printable.escape([0xFF, 0x41]) == "\\xffA")
        #expect(Printable.line("x\ny\u{1b}[2J\u{202e}— ok") == "x\\x0ay\\x1b[2J\\xe2\\x80\\xae— ok")
        #expect(Printable.line("two\nlines\t", keepNewlines: true) == "two\nlines\t")
        #expect(Printable.isPrintableUTF8(Array("luks-root.asr".utf8)))
        #expect(Printable.isPrintableUTF8(Array("café.asr".utf8)))
        #expect(!Printable.isPrintableUTF8([0x61, 0xFF]))
        #expect(!Printable.isPrintableUTF8(Array("a\u{7f}".utf8)))
        #expect(!Printable.isPrintableUTF8(Array("a\u{2066}b".utf8)))
        // Other invisible format characters: soft hyphen, Mongolian vowel
        // separator, invisible operators, interlinear annotation, tag characters.
        for hidden in ["\u{ad}", "\u{180e}", "\u{2062}", "\u{fff9}", "\u{e0041}"] {
            #expect(!Printable.isPrintableUTF8(Array("a\(hidden)b".utf8)), "U+\(String(hidden.unicodeScalars.first!.value, radix: 16))")
        }
        #expect(Printable.line("a\u{e0041}b") == "a\\xf3\\xa0\\x81\\x81b")
    }
}
