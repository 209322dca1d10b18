import CFuzzing
import SEBase
import SECrypto
import ResultsRecord

// MARK: - results-record: ResultsRecord.parse, the round trip, its console lines

extension FuzzTarget {
    static let resultsRecord = FuzzTarget(
        name: "results-record", summary: "ResultsRecord.parse (a record at the start of the input), re-encoded to the parsed prefix, its console lines read back",
        maxLength: 16384, prepare: {},
        run: { bytes in
            let r: ResultsRecord
            do throws(ResultsRecordError) { r = try ResultsRecord.parse(bytes) } catch {
                invariant(offsetInside(error.offset, bytes.count), "\(error.rule) offset outside the input")
                switch error.rule {
                case .truncated:
                    invariant(bytes.count < ResultsRecord.headerSize || UInt64(bytes.count) < bytes.readBE(UInt64.self, at: 0x18),
                              "truncated, but not short")
                case .badMagic: invariant(Array(bytes.prefix(16)) != ResultsRecord.magic, "bad magic, but the magic is there")
                default: break
                }
                trace("results-record: refused: \(error.rule)")
                _ = error.description
                return
            }
            // The record is the input's first `total` bytes, as its header says.
            let total = Int(bytes.readBE(UInt64.self, at: 0x18))
            let again = r.bytes
            invariant(again.count == total && again[...] == bytes[0..<total], "the record does not encode back to the parsed prefix")
            invariant((1...ResultsRecord.maxEntries).contains(r.entries.count) && Set(r.entries.map(\.kind)).count == r.entries.count,
                      "entries")
            invariant(r.entries.allSatisfy { $0.payload.count <= ResultsRecord.maxPayload && r[$0.kind] == $0.payload }, "payloads")
            invariant((try? ResultsRecord(r.entries)) == r, "the entries do not make the same record")
            invariant((try? ResultsRecord.parse(again)) == r, "the re-encoded record does not read back")
            trace("results-record: \(r.entries.map { "\($0.kind) \($0.payload.count)" }), \(bytes.count - total) bytes after it")
            // The same record on the console.
            checkLinesReadBack(r, "results-record")
        },
        seeds: { try ResultsFixtures.records().map(\.bytes) + [ResultsFixtures.recordWithOlderTail()] },
        mutator: ResultsFieldMutator.mutate)
}

/// `ConsoleFrame.lines` of a record (one that fits the console: every
/// record of these targets' sizes) read back by `records(in:)` as exactly
/// that record.
func checkLinesReadBack(_ r: ResultsRecord, _ target: String) {
    let lines: [String]
    do throws(ResultsRecordError) { lines = try ConsoleFrame.lines(r) } catch {
        invariant(false, "\(target): no console lines for a record of \(r.bytes.count) bytes: \(error)")
        return
    }
    let log = Array(lines.joined(separator: "\n").utf8)
    invariant((try? ConsoleFrame.records(in: log)) == [r], "\(target): the record's console lines do not read back to it")
}

// MARK: - console-frame: ConsoleFrame.records(in:) on a console or kernel log

extension FuzzTarget {
    static let consoleFrame = FuzzTarget(
        name: "console-frame", summary: "ConsoleFrame.records(in:) of a fuzzed log (and of the same log with a prefix on every line), every record read back",
        maxLength: 16384, prepare: {},
        run: { bytes in
            let outcome = ConsoleFrameOracle.outcome(bytes)
            // A prefix on every line (a timestamp) changes nothing.
            invariant(ConsoleFrameOracle.outcome(ConsoleFrameOracle.prefixed(bytes)) == outcome, "a prefix on every line changes what is read")
            let records: [ResultsRecord]
            switch outcome {
            case let .failure(error):
                invariant((error.rule == .noFrame) == !ConsoleFrameOracle.hasMarker(bytes), "\(error.rule), but the marker is \(ConsoleFrameOracle.hasMarker(bytes) ? "" : "not ")there")
                invariant(error.offset == nil || error.rule != .noFrame && error.rule != .incompleteFrame, "an offset into no record")
                trace("console-frame: refused: \(error.rule)")
                _ = error.description
                return
            case let .success(r): records = r
            }
            invariant(!records.isEmpty && records.count <= ConsoleFrame.maxPending, "\(records.count) records")
            trace("console-frame: \(records.count) records, \(records.map { $0.entries.map(\.kind) })")
            for r in records {
                invariant((try? ResultsRecord.parse(r.bytes)) == r, "a record read from the log does not parse from its own bytes")
                checkLinesReadBack(r, "console-frame")
            }
        },
        seeds: { try ResultsFixtures.logs() },
        mutator: ConsoleFrameMutator.mutate)
}

/// What the harness knows of the console format without the reader: where
/// the marker is, the fields after it, the line check.
enum ConsoleFrameOracle {
    static let needle = Array((ConsoleFrame.marker + " ").utf8)
    /// Has no "S": it cannot complete a marker that begins inside it.
    static let prefix = Array("<6>[   12.500000] ".utf8)

    static func outcome(_ log: [UInt8]) -> Result<[ResultsRecord], ResultsRecordError> {
        do throws(ResultsRecordError) { return .success(try ConsoleFrame.records(in: log)) } catch { return .failure(error) }
    }

    static func prefixed(_ log: [UInt8]) -> [UInt8] {
        var out = prefix
        for b in log {
            out.append(b)
            if b == 0x0A { out += prefix }
        }
        return out
    }

    /// The needle cannot span a line break, so any occurrence is inside a line.
    static func hasMarker(_ log: [UInt8]) -> Bool { find(needle, in: log, from: 0, to: log.count) != nil }

    static func find(_ needle: [UInt8], in log: [UInt8], from start: Int, to end: Int) -> Int? {
        var i = start
        while i + needle.count <= end {
            if log[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// For each line with the marker, the byte ranges of the four
    /// space-separated fields after it (id, position, check, text), split as
    /// the reader splits them; lines with fewer fields are left out.
    static func markedLines(_ log: [UInt8]) -> [[Range<Int>]] {
        var out: [[Range<Int>]] = []
        var lineStart = 0
        while lineStart < log.count {
            var end = lineStart
            while end < log.count && log[end] != 0x0A { end += 1 }
            defer { lineStart = end + 1 }
            guard let at = find(needle, in: log, from: lineStart, to: end) else { continue }
            var fields: [Range<Int>] = []
            var i = at + needle.count
            while i < end && fields.count < 4 {
                while i < end && log[i] == 0x20 { i += 1 }
                let f = i
                while i < end && log[i] != 0x20 { i += 1 }
                if i > f { fields.append(f..<i) }
            }
            if fields.count == 4 { out.append(fields) }
        }
        return out
    }

    static func isBase64(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F || c == 0x3D
    }

    /// The position field as numbers, when it is "<digits>/<digits>".
    static func position(_ log: [UInt8], _ field: Range<Int>) -> (n: Int, total: Int)? {
        let parts = log[field].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ (1...7).contains($0.count) && $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let n = Int(String(decoding: parts[0], as: UTF8.self)), let total = Int(String(decoding: parts[1], as: UTF8.self)) else { return nil }
        return (n, total)
    }

    /// The check the line's other fields call for (docs/results.md).
    static func check(_ log: [UInt8], _ fields: [Range<Int>]) -> [UInt8] {
        let id = String(decoding: log[fields[0]], as: UTF8.self)
        let position = self.position(log, fields[1]).map { "\($0.n)/\($0.total)" } ?? String(decoding: log[fields[1]], as: UTF8.self)
        let chunk = String(decoding: log[fields[3]].prefix(while: isBase64), as: UTF8.self)
        return Array(Digest.sha256(Array("\(id) \(position) \(chunk)".utf8)).hex.prefix(8).utf8)
    }
}

// MARK: - Mutators

/// Field-aware mutations for results records. Every byte of a record is
/// under a SHA-256 (its payload's digest, the record's checksum), so a
/// random change stops at `bad-checksum` and the entry table is never
/// reached. After libFuzzer's mutation, every other input also gets one of
/// - a field (version, entry count, total length; an entry's kind,
///   reserved field, offset, length) set to a boundary: 0, 1, the limits
///   and their neighbours, where the previous entry ended ±1, the input's
///   end, the field's current value ±1 or ±2;
/// - the layout repaired: entries back to back after the table, the last
///   one up to a checksum at the input's end, the total length the input's;
/// and then the digests made to match (one time in four the record's
/// checksum only, so that a payload's digest can be wrong under a valid
/// checksum).
enum ResultsFieldMutator {
    typealias Field = RequestFieldMutator.Field
    static let headerSize = ResultsRecord.headerSize, entrySize = ResultsRecord.entrySize, checksumSize = ResultsRecord.checksumSize

    static func u64(_ data: UnsafeMutableBufferPointer<UInt8>, _ at: Int, _ width: Int = 8) -> UInt64 {
        RequestFieldMutator.read(data, Field(offset: at, width: width, interesting: []))
    }

    static func write(_ data: UnsafeMutableBufferPointer<UInt8>, _ at: Int, _ width: Int, _ value: UInt64) {
        RequestFieldMutator.write(data, Field(offset: at, width: width, interesting: []), value)
    }

    /// Entries the header announces whose table slot lies in the input.
    static func entryCount(_ data: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let announced = Int(min(u64(data, 0x14, 4), UInt64(ResultsRecord.maxEntries)))
        return min(announced, (data.count - headerSize) / entrySize)
    }

    static func fields(_ data: UnsafeMutableBufferPointer<UInt8>) -> [Field] {
        let n = UInt64(data.count)
        let entries = entryCount(data)
        let tableEnd = UInt64(headerSize + entries * entrySize)
        let maxSize = UInt64(ResultsRecord.maxSize), maxPayload = UInt64(ResultsRecord.maxPayload), sum = UInt64(checksumSize)
        var fields = [
            Field(offset: 0x10, width: 4, interesting: [0, 1, 2]),
            Field(offset: 0x14, width: 4, interesting: [0, 1, 2, 3, UInt64(ResultsRecord.maxEntries), UInt64(ResultsRecord.maxEntries) + 1]),
            Field(offset: 0x18, width: 8, interesting: [0, n, n - 1, n + 1, tableEnd + sum, tableEnd + sum - 1, maxSize, maxSize + 1]),
        ]
        var previousEnd = tableEnd
        for i in 0..<entries {
            let at = headerSize + i * entrySize
            let offset = u64(data, at + 8), length = u64(data, at + 16)
            fields += [
                Field(offset: at, width: 4, interesting: [0, 1, 2, 3, 4]),
                Field(offset: at + 4, width: 4, interesting: [0, 1]),
                Field(offset: at + 8, width: 8, interesting: [tableEnd, previousEnd, previousEnd &- 1, previousEnd &+ 1, n &- sum]),
                Field(offset: at + 16, width: 8, interesting: [0, maxPayload, maxPayload + 1, n &- sum &- offset, n &- sum &- offset &+ 1]),
            ]
            previousEnd = offset &+ length
        }
        return fields
    }

    /// Entries back to back after the table (each keeps its length while it
    /// fits), the last one up to the checksum at the input's end.
    static func layout(_ data: UnsafeMutableBufferPointer<UInt8>) {
        let entries = entryCount(data)
        guard entries > 0 else { return }
        let end = data.count - checksumSize
        var offset = headerSize + entries * entrySize
        guard offset <= end else { return }
        for i in 0..<entries {
            let at = headerSize + i * entrySize
            let length = i == entries - 1 ? end - offset : Int(min(u64(data, at + 16), UInt64(end - offset)))
            write(data, at + 8, 8, UInt64(offset))
            write(data, at + 16, 8, UInt64(length))
            offset += length
        }
        write(data, 0x18, 8, UInt64(data.count))
    }

    /// Each entry's digest over the bytes it names, then the record's
    /// checksum, wherever they lie in the input.
    static func seal(_ data: UnsafeMutableBufferPointer<UInt8>, entries sealEntries: Bool) {
        if sealEntries {
            for i in 0..<entryCount(data) {
                let at = headerSize + i * entrySize
                let offset = u64(data, at + 8), length = u64(data, at + 16)
                guard offset <= UInt64(data.count), length <= UInt64(data.count) - offset else { continue }
                let digest = Digest.sha256(Array(data[Int(offset)..<Int(offset + length)]))
                for (k, b) in digest.enumerated() { data[at + 24 + k] = b }
            }
        }
        let total = u64(data, 0x18)
        guard total >= UInt64(checksumSize), total <= UInt64(data.count) else { return }
        let end = Int(total) - checksumSize
        for (k, b) in Digest.sha256(Array(data[0..<end])).enumerated() { data[end + k] = b }
    }

    static let mutate: se_fuzz_mutator = { data, size, maxSize, seed in
        guard let data else { return size }
        let n = se_fuzz_default_mutate(data, size, maxSize)
        var random = RequestFieldMutator.Choices(seed: seed)
        guard random.below(2) == 0, n >= headerSize else { return n }
        let buffer = UnsafeMutableBufferPointer(start: data, count: n)
        switch random.below(4) {
        case 0: layout(buffer)
        case 1, 2:
            let fields = fields(buffer)
            let f = fields[random.below(fields.count)]
            let current = RequestFieldMutator.read(buffer, f)
            let max = f.width == 8 ? UInt64.max : (1 << UInt64(8 * f.width)) - 1
            let choices = f.interesting + [max, current &+ 1, current &+ 2, current &- 1, current &- 2]
            RequestFieldMutator.write(buffer, f, choices[random.below(choices.count)])
        default: break
        }
        seal(buffer, entries: random.below(4) != 0)
        return n
    }
}

/// Mutations for console logs. Every line carries a check (a SHA-256 over
/// its id, position and text), so a random change makes a line the reader
/// ignores, and the reader's handling of ids, positions and totals is never
/// reached. After libFuzzer's mutation, every other input also gets one of
/// - one line's position (n or total) set to a boundary: 0, 1, n ± 1,
///   total ± 1, the most lines a record can have and one more;
/// - every line's check repaired (in place: the check keeps its 8 bytes);
/// in both cases a line keeps its changed text, id or position with a
/// check that holds.
enum ConsoleFrameMutator {
    /// The reader's bound on a record's lines (ConsoleFrame.maxLines).
    static let maxLines = (ConsoleFrame.maxRecordSize * 4 / 3 + ConsoleFrame.charactersPerLine + 3) / ConsoleFrame.charactersPerLine + 1

    static func repairCheck(_ log: inout [UInt8], _ fields: [Range<Int>]) {
        guard fields[2].count == 8 else { return }
        log.replaceSubrange(fields[2], with: ConsoleFrameOracle.check(log, fields))
    }

    static let mutate: se_fuzz_mutator = { data, size, maxSize, seed in
        guard let data else { return size }
        let n = se_fuzz_default_mutate(data, size, maxSize)
        var random = RequestFieldMutator.Choices(seed: seed)
        guard random.below(2) == 0 else { return n }
        var log = Array(UnsafeBufferPointer(start: data, count: n))
        let lines = ConsoleFrameOracle.markedLines(log)
        guard !lines.isEmpty else { return n }
        if random.below(4) == 0 {
            let fields = lines[random.below(lines.count)]
            let (k, total) = ConsoleFrameOracle.position(log, fields[1]) ?? (1, 1)
            let values = [0, 1, k - 1, k + 1, total - 1, total, total + 1, maxLines, maxLines + 1]
            let v = values[random.below(values.count)]
            let text = Array((random.below(2) == 0 ? "\(v)/\(total)" : "\(k)/\(v)").utf8)
            log.replaceSubrange(fields[1], with: text)
            let shift = text.count - fields[1].count
            repairCheck(&log, [fields[0], fields[1].lowerBound..<(fields[1].lowerBound + text.count),
                               (fields[2].lowerBound + shift)..<(fields[2].upperBound + shift),
                               (fields[3].lowerBound + shift)..<(fields[3].upperBound + shift)])
        } else {
            for fields in lines { repairCheck(&log, fields) }
        }
        guard log.count <= maxSize else { return n }
        for (i, b) in log.enumerated() { data[i] = b }
        return log.count
    }
}

// MARK: - Seeds

/// Records and logs a boot run would write: a report alone (four console
/// lines), report and facts, report and a verifying attestation response
/// (the `exchange` target's), all three kinds, an empty payload.
enum ResultsFixtures {
    static let report = Array(#"{"format":"se-secretd-report","verdict":"ok"}"#.utf8)
    static let facts = Array(#"{"format":"se-secretd-run-facts","version":1,"requests":[{"file":"ssh.asr"}]}"#.utf8)

    static func records() throws -> [ResultsRecord] {
        let response = try AttestationFixtures.exchangeFiles()[1]
        return [
            try ResultsRecord([.init(.report, report)]),
            try ResultsRecord([.init(.report, report), .init(.facts, facts)]),
            try ResultsRecord([.init(.report, report), .init(.attestationResponse, response)]),
            try ResultsRecord([.init(.facts, facts), .init(.attestationResponse, response), .init(.report, report)]),
            try ResultsRecord([.init(.report, []), .init(.facts, facts)]),
        ]
    }

    /// A results device after a shorter record replaced a longer one.
    static func recordWithOlderTail() throws -> [UInt8] {
        let r = try records()
        return r[0].bytes + Array(r[3].bytes.dropFirst(r[0].bytes.count))
    }

    static func log(_ lines: [String], separator: String = "\n") -> [UInt8] { Array((lines.joined(separator: separator) + separator).utf8) }

    /// Console and kernel logs: the lines alone; with timestamps, messages
    /// between them and the kernel log's repeat; two runs; a run with a line
    /// missing, then a complete one; carriage returns; no frame at all.
    static func logs() throws -> [[UInt8]] {
        let r = try records()
        let small = try ConsoleFrame.lines(r[0]), pair = try ConsoleFrame.lines(r[1]), full = try ConsoleFrame.lines(r[2])
        var console: [String] = ["[    1.234567] systemd[1]: Starting se-secretd.service..."]
        for (i, l) in pair.enumerated() {
            console.append("[    2.\(100000 + i)] se-secretd: " + l)
            console.append("[    2.\(200000 + i)] random: crng init done")
        }
        console += pair.map { "<6>se-secretd: " + $0 }
        var incomplete = small
        incomplete.remove(at: 1)
        return [
            log(small),
            log(console),
            log(full + pair),
            log(incomplete + pair),
            log(small, separator: "\r\n"),
            log(["[    0.000000] Linux version 6.13", "se-secretd: no results"]),
        ]
    }
}
