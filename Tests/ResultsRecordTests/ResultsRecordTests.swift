import Foundation
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

    /// A record changed and its checksum made right again: what a host that
    /// rewrites the device can produce. Each inner rule must then hold on its own.
    func resealed(_ change: (inout [UInt8]) -> Void) throws -> ResultsRecordError.Rule? {
        var b = try record().bytes
        change(&b)
        let total = Int(b.readBE(UInt64.self, at: 0x18))
        let sum = Digest.sha256(Array(b[0..<(total - 32)]))
        b.replaceSubrange((total - 32)..<total, with: sum)
        do { _ = try ResultsRecord.parse(b); return nil } catch { return error.rule }
    }

    /// Rewrites the entry table's digest of entry `i` from its payload.
    func redigest(_ b: inout [UInt8], _ i: Int) {
        let at = 0x20 + 56 * i
        let off = Int(b.readBE(UInt64.self, at: at + 8)), len = Int(b.readBE(UInt64.self, at: at + 16))
        b.replaceSubrange((at + 24)..<(at + 56), with: Digest.sha256(Array(b[off..<(off + len)])))
    }

    @Test func eachInnerRuleHoldsUnderAValidChecksum() throws {
        #expect(try resealed { _ in } == nil)
        #expect(try resealed { $0[0x20 + 3] = 7 } == .unknownKind)
        #expect(try resealed { $0[0x20 + 7] = 1 } == .reservedNotZero)
        // The second entry's offset one byte later: not where the first ended.
        #expect(try resealed { $0[0x20 + 56 + 15] &+= 1 } == .badEntry)
        // A payload byte changed, its table digest not.
        #expect(try resealed { $0[0x20 + 2 * 56] ^= 1 } == .badEntryDigest)
        // Both entries of kind 1, digests right: a duplicate.
        #expect(try resealed { $0[0x20 + 56 + 3] = 1 } == .duplicateKind)
        // The first payload one byte shorter (digest redone): a gap before the checksum.
        #expect(try resealed { b in
            b[0x20 + 16 + 7] &-= 1
            b[0x20 + 56 + 15] &-= 1
            redigest(&b, 0)
            // The second entry now starts one byte earlier and keeps its length: it ends one byte early.
            redigest(&b, 1)
        } == .badLength)
        // A total that leaves no room for the table (checked before the checksum).
        var short = try record().bytes
        short.replaceSubrange(0x18..<0x20, with: [0, 0, 0, 0, 0, 0, 0, 0x30])
        do { _ = try ResultsRecord.parse(short); Issue.record("a short total was taken") } catch { #expect(error.rule == .badLength) }
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
        let lines = try ConsoleFrame.lines(r)
        #expect(lines.count > 10)
        #expect(lines.allSatisfy { $0.hasPrefix("SESD-RESULT ") && $0.utf8.count <= 120 })
        #expect(try ConsoleFrame.extract(from: log(lines)) == r)
    }

    @Test func aConsoleLogWithPrefixesInterleavingAndGarbledCopiesStillGivesTheRecord() throws {
        let r = try record()
        var out: [String] = ["[    1.234] systemd[1]: Starting something..."]
        for (i, l) in try ConsoleFrame.lines(r).enumerated() {
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
        for l in try ConsoleFrame.lines(r) { out.append("<10>se-secretd: " + l) }
        #expect(try ConsoleFrame.extract(from: log(out)) == r)
    }

    @Test func aMissingLineIsAnIncompleteFrameAndTheLastCompleteRunWins() throws {
        let first = try record("first"), second = try record("second")
        var lines = try ConsoleFrame.lines(first)
        lines.remove(at: 3)
        do { _ = try ConsoleFrame.extract(from: log(lines)); Issue.record("an incomplete frame was taken") } catch {
            #expect(error.rule == .incompleteFrame)
        }
        #expect(try ConsoleFrame.extract(from: log((try ConsoleFrame.lines(first)) + (try ConsoleFrame.lines(second)))) == second)
        #expect(try ConsoleFrame.extract(from: log(try ConsoleFrame.lines(second) + lines)) == second)
        do { _ = try ConsoleFrame.extract(from: log(["nothing here"])); Issue.record("a frame out of nothing") } catch {
            #expect(error.rule == .noFrame)
        }
    }

    @Test func aChangedPositionDigitIsCaughtAndTheIntactCopyIsUsed() throws {
        let r = try record()
        let lines = try ConsoleFrame.lines(r)
        // "12/N" → "2/N" on the console copy: its check covers the position, so it is ignored,
        // and the kernel log's intact copy completes the record.
        var garbled = lines
        garbled[11] = garbled[11].replacingFirst(" 12/", with: " 2/")
        #expect(garbled[11] != lines[11])
        #expect(try ConsoleFrame.extract(from: log(garbled + lines)) == r)
        // A forged first line with another total does not lock the record out either.
        let forged = "SESD-RESULT " + lines[0].split(separator: " ")[1] + " 1/3 00000000 AAAA"
        #expect(try ConsoleFrame.extract(from: log([forged] + lines)) == r)
    }

    @Test func everyCompleteRecordIsOfferedTheLastFirst() throws {
        let first = try record("first"), second = try record("second")
        let all = try ConsoleFrame.records(in: log(try ConsoleFrame.lines(first) + (try ConsoleFrame.lines(second))))
        #expect(all == [second, first])
    }

    @Test func linesOfTheWrongLengthAreIgnored() throws {
        let r = try record()
        var lines = try ConsoleFrame.lines(r)
        // A middle line cut short keeps its check only if the check were of the cut text: it is not.
        lines[1] = String(lines[1].dropLast(4))
        do { _ = try ConsoleFrame.extract(from: log(lines)); Issue.record("a short line was taken") } catch {
            #expect(error.rule == .incompleteFrame)
        }
    }

    /// The line with its byte at `i` written twice (a serial console's commonest damage).
    func doubled(_ line: String, at i: Int) -> String {
        var b = Array(line.utf8)
        b.insert(b[i], at: i)
        return String(decoding: b, as: UTF8.self)
    }

    @Test func aByteWrittenTwiceAnywhereInALineIsRepaired() throws {
        let r = try record()
        let lines = try ConsoleFrame.lines(r)
        // Every line damaged, at a different place each: the marker, the id, the
        // position, the check, the base64, its last character.
        let damaged = lines.enumerated().map { i, l in doubled(l, at: [0, 4, 7, 8, 13, 30, 33, 40, 60, l.utf8.count - 1][i % 10] % l.utf8.count) }
        #expect(zip(damaged, lines).allSatisfy { $0 != $1 })
        #expect(try ConsoleFrame.extract(from: log(damaged.map { "[  12.5] " + $0 + "\r" })) == r)
        // Two doubled bytes in one line are more than a repair takes: that line is lost.
        var twice = lines
        twice[5] = doubled(doubled(lines[5], at: 50), at: 70)
        do { _ = try ConsoleFrame.extract(from: log(twice)); Issue.record("a line with two faults was taken") } catch {
            #expect(error.rule == .incompleteFrame)
        }
        // ... unless the other copy the writer puts out is intact.
        #expect(try ConsoleFrame.extract(from: log(twice + lines)) == r)
    }

    @Test func repairsAreBoundedPerLog() throws {
        let r = try record()
        let lines = try ConsoleFrame.lines(r)
        let broken = [doubled(lines[0], at: 20)] + lines.dropFirst()
        let junk = (0..<ConsoleFrame.maxRepairs).map { "SESD-RESULT junk \($0) RESULT x" }
        // The budget spent on junk first: the real broken line is not repaired.
        do { _ = try ConsoleFrame.extract(from: log(junk + broken)); Issue.record("a repair past the budget") } catch {
            #expect(error.rule == .incompleteFrame)
        }
        #expect(try ConsoleFrame.extract(from: log(broken + junk)) == r)
    }

    @Test func aRecordTooLongForTheConsoleIsRefused() throws {
        let big = try ResultsRecord([.init(.report, Array(repeating: 0x20, count: ConsoleFrame.maxRecordSize))])
        #expect(throws: ResultsRecordError.self) { try ConsoleFrame.lines(big) }
    }

    @Test func aLineWhoseCheckDoesNotHoldIsIgnored() throws {
        let r = try record()
        var lines = try ConsoleFrame.lines(r)
        // Same length, one base64 character changed: its check no longer holds.
        var bytes = Array(lines[2].utf8)
        bytes[bytes.count - 5] = bytes[bytes.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        lines[2] = String(decoding: bytes, as: UTF8.self)
        do { _ = try ConsoleFrame.extract(from: log(lines)); Issue.record("a changed line was taken") } catch {
            #expect(error.rule == .incompleteFrame)
        }
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}
