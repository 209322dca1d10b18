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
/// hex digits of the SHA-256 of the line's base64 text. A reader takes, for
/// each id, any copy of each line whose check holds, anywhere in the text,
/// and the record whose last line comes last; the record's own checksum has
/// the final word. Nothing in a record is secret (docs/results.md).
public enum ConsoleFrame {
    public static let marker = "SESD-RESULT"
    /// base64 characters per line (48 bytes): short enough for any console.
    public static let charactersPerLine = 64

    public static func lines(_ record: ResultsRecord) -> [String] {
        let bytes = record.bytes
        let id = String(Digest.sha256(bytes).hex.prefix(16))
        let text = Array(Base64.encode(bytes).utf8)
        let total = (text.count + charactersPerLine - 1) / charactersPerLine
        var out: [String] = []
        for n in 0..<total {
            let chunk = String(decoding: text[(n * charactersPerLine)..<min(text.count, (n + 1) * charactersPerLine)], as: UTF8.self)
            out.append("\(marker) \(id) \(n + 1)/\(total) \(check(chunk)) \(chunk)")
        }
        return out
    }

    static func check(_ chunk: String) -> String { String(Digest.sha256(Array(chunk.utf8)).hex.prefix(8)) }

    /// The last complete, intact record in a console or kernel log (any
    /// bytes; lines may carry prefixes such as timestamps).
    public static func extract(from log: [UInt8], limit: Int = ResultsRecord.maxSize * 2) throws(ResultsRecordError) -> ResultsRecord {
        struct Pending { var total: Int; var chunks: [Int: String]; var completedAt: Int? }
        var records: [String: Pending] = [:]
        var order = 0
        var sawMarker = false
        let maxLines = (limit + charactersPerLine - 1) / charactersPerLine
        for rawLine in log.split(separator: 0x0A, omittingEmptySubsequences: true) {
            guard let start = find(Array(marker.utf8) + [0x20], in: rawLine) else { continue }
            sawMarker = true
            let fields = rawLine[start...].split(separator: 0x20, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { continue }
            let id = String(decoding: fields[1], as: UTF8.self)
            let position = fields[2].split(separator: UInt8(ascii: "/"))
            guard id.utf8.count == 16, position.count == 2,
                  let n = Int(String(decoding: position[0], as: UTF8.self)),
                  let total = Int(String(decoding: position[1], as: UTF8.self)),
                  total >= 1, total <= maxLines, n >= 1, n <= total else { continue }
            // The base64 text ends at the first byte outside its alphabet (a
            // carriage return, an interleaved message).
            let chunkBytes = fields[4].prefix { c in
                (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2B || c == 0x2F || c == 0x3D
            }
            let chunk = String(decoding: chunkBytes, as: UTF8.self)
            guard check(chunk) == String(decoding: fields[3], as: UTF8.self) else { continue }
            var p = records[id] ?? Pending(total: total, chunks: [:], completedAt: nil)
            guard p.total == total else { continue }
            p.chunks[n] = chunk
            order += 1
            if p.chunks.count == total { p.completedAt = order }
            records[id] = p
        }
        guard sawMarker else { throw ResultsRecordError(.noFrame, "no \(marker) lines in the log") }
        let complete = records.filter { $0.value.completedAt != nil }.sorted { $0.value.completedAt! > $1.value.completedAt! }
        var lastError: ResultsRecordError? = nil
        for (id, p) in complete {
            let text = (1...p.total).map { p.chunks[$0]! }.joined()
            guard let bytes = Base64.decode(Array(text.utf8)) else { continue }
            let raw = bytes.unsafeCopyToArray()
            guard String(Digest.sha256(raw).hex.prefix(16)) == id else { continue }
            do { return try ResultsRecord.parse(raw) } catch { lastError = error }
        }
        if let lastError { throw lastError }
        let partial = records.map { "\($0.key): \($0.value.chunks.count) of \($0.value.total) lines" }.sorted().joined(separator: ", ")
        throw ResultsRecordError(.incompleteFrame, "no complete record in the log (\(partial))")
    }

    static func find(_ needle: [UInt8], in line: ArraySlice<UInt8>) -> Int? {
        guard line.count >= needle.count else { return nil }
        var i = line.startIndex
        while i + needle.count <= line.endIndex {
            if line[i] == needle[0], Array(line[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
