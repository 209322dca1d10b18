import SEBase
import SECrypto

/// A results record as lines of text for the serial console and the kernel
/// log, and back. A console log is lossy: the kernel's and systemd's
/// messages interleave with ours, and the kernel log repeats what the
/// console shows. So every line stands alone:
///
///     SESD-RESULT <id> <n>/<total> <check> <base64>
///
/// `id` is the first 16 hex digits of the record's SHA-256 (it tells the
/// records of two runs apart), `n` counts from 1, `check` is the first 8
/// hex digits of the SHA-256 of "<id> <n>/<total> <base64>": a changed digit
/// of the position is caught as well as a changed character of the text.
/// Each line carries 64 base64 characters, the last one 1 to 64. A reader
/// takes, for each record, any copy of each line whose check holds, anywhere
/// in the text, and returns every record it can complete, the last
/// completed first; the record's own checksum and id have the final word.
/// A serial console's commonest damage is a byte written twice: a line
/// whose check fails is tried again with each one of its bytes left out
/// (`repair`), and the writer puts every record on the console twice, so
/// a line lost in one copy is found in the other.
/// Nothing in a record is secret, and nothing in it is authenticated but
/// the attestation response it carries (docs/results.md).
public enum ConsoleFrame {
    public static let marker = "SESD-RESULT"
    /// base64 characters per line (48 bytes): short enough for any console.
    public static let charactersPerLine = 64
    /// A console frame is far smaller than a device record: a few KB of
    /// report and a response take a few hundred lines.
    public static let maxRecordSize = 256 << 10
    static var maxLines: Int { (maxRecordSize * 4 / 3 + charactersPerLine + 3) / charactersPerLine + 1 }
    /// Records a reader keeps track of at once (a log a host stuffed with
    /// forged starts does not grow the reader without bound).
    public static let maxPending = 64
    /// The longest log `extract` reads.
    public static let maxLogSize = 512 << 20
    /// Broken lines a reader tries to repair in one log (each try is up to
    /// `maxRepairLength` candidates and their checks): a log full of broken
    /// lines costs bounded work.
    public static let maxRepairs = 4096
    /// The longest stretch, from just before the marker to the end of the
    /// line, that a repair works on (a whole line is about 120 bytes).
    static let maxRepairLength = 160
    /// How often the writer puts a record on the console.
    public static let copies = 2

    public static func lines(_ record: ResultsRecord) throws(ResultsRecordError) -> [String] {
        let bytes = record.bytes
        guard bytes.count <= maxRecordSize else {
            throw ResultsRecordError(.tooLarge, "a record of \(bytes.count) bytes is too long for the console (at most \(maxRecordSize))")
        }
        let id = String(Digest.sha256(bytes).hex.prefix(16))
        let text = Array(Base64.encode(bytes).utf8)
        let total = (text.count + charactersPerLine - 1) / charactersPerLine
        var out: [String] = []
        for n in 0..<total {
            let chunk = String(decoding: text[(n * charactersPerLine)..<min(text.count, (n + 1) * charactersPerLine)], as: UTF8.self)
            out.append("\(marker) \(id) \(n + 1)/\(total) \(check(id: id, n: n + 1, total: total, chunk)) \(chunk)")
        }
        return out
    }

    static func check(id: String, n: Int, total: Int, _ chunk: String) -> String {
        String(Digest.sha256(Array("\(id) \(n)/\(total) \(chunk)".utf8)).hex.prefix(8))
    }

    /// Every record that can be completed from a console or kernel log (any
    /// bytes; lines may carry prefixes such as timestamps), the one whose
    /// last line came last first. A caller that knows what it expects (the
    /// verifier: this boot's attestation request) picks among them; a host
    /// that owns the console can always add records of its own.
    public static func records(in log: [UInt8]) throws(ResultsRecordError) -> [ResultsRecord] {
        guard log.count <= maxLogSize else {
            throw ResultsRecordError(.tooLarge, "a log of \(log.count) bytes; at most \(maxLogSize) are read")
        }
        struct Key: Hashable { let id: String; let total: Int }
        struct Pending { var chunks: [Int: String] = [:]; var completedAt: Int? }
        var pending: [Key: Pending] = [:]
        var order = 0
        var sawMarker = false
        var repairs = 0
        let needle = Array((marker + " ").utf8)
        var lineStart = 0
        while lineStart < log.count {
            var lineEnd = lineStart
            while lineEnd < log.count && log[lineEnd] != 0x0A { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var parsed: Line? = nil
            if let at = find(needle, in: log, from: lineStart, to: lineEnd) {
                sawMarker = true
                parsed = parseLine(log, from: at + needle.count, to: lineEnd)
            }
            if parsed == nil, repairs < maxRepairs, let start = repairStart(log, lineStart: lineStart, lineEnd: lineEnd) {
                repairs += 1
                parsed = repair(log, from: start, to: lineEnd)
                if parsed != nil { sawMarker = true }
            }
            guard let line = parsed else { continue }
            let key = Key(id: line.id, total: line.total)
            if pending[key] == nil {
                guard pending.count < maxPending else { continue }
                pending[key] = Pending()
            }
            var p = pending[key]!
            guard p.chunks[line.n] == nil else { continue }  // intact copies of one line are the same
            p.chunks[line.n] = line.chunk
            order += 1
            if p.chunks.count == line.total { p.completedAt = order }
            pending[key] = p
        }
        guard sawMarker else { throw ResultsRecordError(.noFrame, "no \(marker) lines in the log") }
        var out: [ResultsRecord] = []
        var lastError: ResultsRecordError? = nil
        for (key, p) in pending.filter({ $0.value.completedAt != nil }).sorted(by: { $0.value.completedAt! > $1.value.completedAt! }) {
            let text = (1...key.total).map { p.chunks[$0]! }.joined()
            guard let decoded = Base64.decode(Array(text.utf8)) else { continue }
            let raw = decoded.unsafeCopyToArray()
            guard String(Digest.sha256(raw).hex.prefix(16)) == key.id else { continue }
            do { out.append(try ResultsRecord.parse(raw)) } catch { lastError = error }
        }
        if out.isEmpty {
            if let lastError { throw lastError }
            let incomplete = pending.count
            throw ResultsRecordError(.incompleteFrame, "no complete record in the log (\(incomplete) incomplete)")
        }
        return out
    }

    /// The last complete, intact record in a log.
    public static func extract(from log: [UInt8]) throws(ResultsRecordError) -> ResultsRecord {
        try records(in: log)[0]
    }

    struct Line { let id: String; let n: Int; let total: Int; let chunk: String }

    /// Where a damaged marker starts: found by either half of it, which a
    /// doubled byte cannot both break ("RESULT " from 6 bytes before it for
    /// "SESD-" and one extra byte, or "SESD-" from one byte before); nil if
    /// the line has neither.
    static func repairStart(_ log: [UInt8], lineStart: Int, lineEnd: Int) -> Int? {
        if let at = find(Array("RESULT ".utf8), in: log, from: lineStart, to: lineEnd) { return max(lineStart, at - 6) }
        if let at = find(Array("SESD-".utf8), in: log, from: lineStart, to: lineEnd) { return max(lineStart, at - 1) }
        return nil
    }

    /// The line whose check holds with one byte of `log[start..<end]` (from
    /// just before the marker to the end of the line) left out; nil if none.
    /// The check (32 bits) and, in the end, the record's SHA-256 keep a
    /// wrong repair out.
    static func repair(_ log: [UInt8], from start: Int, to lineEnd: Int) -> Line? {
        guard lineEnd - start <= maxRepairLength else { return nil }
        let stretch = Array(log[start..<lineEnd])
        let needle = Array((marker + " ").utf8)
        var candidate = [UInt8]()
        candidate.reserveCapacity(stretch.count)
        for k in 0..<stretch.count {
            candidate.removeAll(keepingCapacity: true)
            candidate += stretch[..<k]
            candidate += stretch[(k + 1)...]
            if let at = find(needle, in: candidate, from: 0, to: candidate.count),
               let line = parseLine(candidate, from: at + needle.count, to: candidate.count) {
                return line
            }
        }
        return nil
    }

    /// "<id> <n>/<total> <check> <base64>" after the marker; nil unless every
    /// field has its form and the check holds.
    static func parseLine(_ log: [UInt8], from start: Int, to end: Int) -> Line? {
        var fields: [ArraySlice<UInt8>] = []
        var i = start
        while i < end && fields.count < 4 {
            while i < end && log[i] == 0x20 { i += 1 }
            let f = i
            while i < end && log[i] != 0x20 { i += 1 }
            if i > f { fields.append(log[f..<i]) }
        }
        guard fields.count == 4 else { return nil }
        let isLowerHex: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        guard fields[0].count == 16, fields[0].allSatisfy(isLowerHex),
              fields[2].count == 8, fields[2].allSatisfy(isLowerHex) else { return nil }
        let position = fields[1].split(separator: UInt8(ascii: "/"))
        guard position.count == 2, position.allSatisfy({ (1...7).contains($0.count) && $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let n = Int(String(decoding: position[0], as: UTF8.self)),
              let total = Int(String(decoding: position[1], as: UTF8.self)),
              total >= 1, total <= maxLines, n >= 1, n <= total else { return nil }
        // The base64 text ends at the first byte outside its alphabet (a
        // carriage return, an interleaved message).
        let chunkBytes = fields[3].prefix { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F || c == 0x3D
        }
        guard n == total ? (1...charactersPerLine).contains(chunkBytes.count) : chunkBytes.count == charactersPerLine else { return nil }
        let id = String(decoding: fields[0], as: UTF8.self), chunk = String(decoding: chunkBytes, as: UTF8.self)
        guard check(id: id, n: n, total: total, chunk) == String(decoding: fields[2], as: UTF8.self) else { return nil }
        return Line(id: id, n: n, total: total, chunk: chunk)
    }

    static func find(_ needle: [UInt8], in log: [UInt8], from start: Int, to end: Int) -> Int? {
        guard end - start >= needle.count else { return nil }
        var i = start
        while i + needle.count <= end {
            if log[i] == needle[0] {
                var j = 1
                while j < needle.count && log[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
