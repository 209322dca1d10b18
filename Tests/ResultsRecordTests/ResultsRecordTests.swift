import Testing
import SEBase
import SECrypto
import ResultsRecord

@Suite struct ResultsRecordTests {
    static let report = Array(#"{"report_version":1,"verdict":"ok"}"#.utf8)
    static let response = (0..<300).map { UInt8(($0 * 7) & 0xFF) }

    func record() throws -> ResultsRecord {
        try ResultsRecord([.init(.report, Self.report), .init(.attestationResponse, Self.response)])
    }

    @Test func theLayoutIsTheDocumentedOne() throws {
        let r = try ResultsRecord([.init(.report, Array("{}".utf8))])
        // Written out by hand from docs/results.md.
        var expected = Array("SE-SECRETD-RSLT1".utf8)
        expected += [0, 0, 0, 1] + [0, 0, 0, 1]
        let total = 0x20 + 56 + 2 + 32
        expected += [0, 0, 0, 0, 0, 0, 0, UInt8(total)]
        expected += [0, 0, 0, 1] + [0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0x58] + [0, 0, 0, 0, 0, 0, 0, 2]
        expected += Digest.sha256(Array("{}".utf8))
        expected += Array("{}".utf8)
        expected += Digest.sha256(expected)
        #expect(r.bytes == expected)
        #expect(r.bytes.count == total)
    }

    @Test func aRecordReadsBackAndAnOlderTailAfterItDoesNotMatter() throws {
        let r = try record()
        #expect(try ResultsRecord.parse(r.bytes) == r)
        #expect(try ResultsRecord.parse(r.bytes + Array(repeating: 0xAA, count: 1000)) == r)
        #expect(try ResultsRecord.parse(r.bytes)[.attestationResponse] == Self.response)
    }

    @Test func everyChangedByteIsRefused() throws {
        let bytes = try ResultsRecord([.init(.report, Array("{\"a\":1}".utf8))]).bytes
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 0x01
            #expect(throws: ResultsRecordError.self, "byte \(i)") { try ResultsRecord.parse(b) }
        }
        #expect(throws: ResultsRecordError.self) { try ResultsRecord.parse(Array(bytes.dropLast())) }
    }

    @Test func namedRulesForWhatIsNotARecord() throws {
        func rule(_ b: [UInt8]) -> ResultsRecordError.Rule? {
            do { _ = try ResultsRecord.parse(b); return nil } catch { return error.rule }
        }
        let good = try record().bytes
        #expect(rule([]) == .truncated)
        #expect(rule(Array(repeating: 0, count: 4096)) == .badMagic)
        var v = good; v[0x13] = 2
        #expect(rule(v) == .badVersion)
        var n = good; n[0x17] = 9
        #expect(rule(n) == .badEntryCount)
        #expect(rule(Array(good.prefix(good.count - 1))) == .truncated)
        var c = good; c[c.count - 1] ^= 1
        #expect(rule(c) == .badChecksum)
    }

    @Test func theBoundsHold() throws {
        #expect(throws: ResultsRecordError.self) { try ResultsRecord([]) }
        #expect(throws: ResultsRecordError.self) { try ResultsRecord([.init(.report, []), .init(.report, [])]) }
        #expect(throws: ResultsRecordError.self) {
            try ResultsRecord([.init(.report, Array(repeating: 0, count: ResultsRecord.maxPayload + 1))])
        }
    }
}

@Suite struct ConsoleFrameTests {
    func record(_ verdict: String = "ok") throws -> ResultsRecord {
        try ResultsRecord([.init(.report, Array("{\"verdict\":\"\(verdict)\",\"pad\":\"\(String(repeating: "x", count: 500))\"}".utf8)),
                           .init(.attestationResponse, (0..<448).map { UInt8($0 & 0xFF) })])
    }

    func log(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\n") + "\n").utf8) }

    @Test func linesReadBack() throws {
        let r = try record()
        let lines = ConsoleFrame.lines(r)
        #expect(lines.count > 10)
        #expect(lines.allSatisfy { $0.hasPrefix("SESD-RESULT ") && $0.utf8.count <= 120 })
        #expect(try ConsoleFrame.extract(from: log(lines)) == r)
    }

    @Test func aConsoleLogWithPrefixesInterleavingAndGarbledCopiesStillGivesTheRecord() throws {
        let r = try record()
        var out: [String] = ["[    1.234] systemd[1]: Starting something..."]
        for (i, l) in ConsoleFrame.lines(r).enumerated() {
            // The console copy: garbled on every third line (a kernel message cut into it).
            if i % 3 == 0 {
                let cut = l.utf8.count / 2
                out.append(String(decoding: Array(l.utf8.prefix(cut)) + Array("[ 2.5] usb 1-1: new device".utf8), as: UTF8.self))
            } else {
                out.append("[    2.\(i)] se-secretd: " + l + "\r")
            }
            out.append("[    3.0] random kernel line \(i)")
        }
        // The kernel log's copy, later, intact.
        for l in ConsoleFrame.lines(r) { out.append("<10>se-secretd: " + l) }
        #expect(try ConsoleFrame.extract(from: log(out)) == r)
    }

    @Test func aMissingLineIsAnIncompleteFrameAndTheLastCompleteRunWins() throws {
        let first = try record("first"), second = try record("second")
        var lines = ConsoleFrame.lines(first)
        lines.remove(at: 3)
        #expect(throws: ResultsRecordError.self) { try ConsoleFrame.extract(from: log(lines)) }
        do { _ = try ConsoleFrame.extract(from: log(lines)) } catch { #expect(error.rule == .incompleteFrame) }
        #expect(try ConsoleFrame.extract(from: log(ConsoleFrame.lines(first) + ConsoleFrame.lines(second))) == second)
        #expect(try ConsoleFrame.extract(from: log(ConsoleFrame.lines(second) + lines)) == second)
        do { _ = try ConsoleFrame.extract(from: log(["nothing here"])) } catch { #expect(error.rule == .noFrame) }
    }

    @Test func aLineWhoseCheckDoesNotHoldIsIgnored() throws {
        let r = try record()
        var lines = ConsoleFrame.lines(r)
        // Same length, one base64 character changed: its check no longer holds.
        var bytes = Array(lines[2].utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        lines[2] = String(decoding: bytes, as: UTF8.self)
        do { _ = try ConsoleFrame.extract(from: log(lines)); Issue.record("a changed line was taken") } catch {
            #expect(error.rule == .incompleteFrame)
        }
    }
}
