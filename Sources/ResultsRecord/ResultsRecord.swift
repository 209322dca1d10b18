import SEBase
import SECrypto

/// What a boot run hands out of the guest: the report and, when the policy
/// asks for attestation, the attestation response. One record, the same
/// bytes on a results device (written raw, no file system) and, base64 in
/// numbered lines, on the console and in the kernel log. Nothing in it is
/// secret. Layout (docs/results.md; all integers big-endian):
///
///     0x00  16   magic "SE-SECRETD-RSLT1"
///     0x10   4   version (1)
///     0x14   4   number of entries n (1…8)
///     0x18   8   total length of the record, checksum included
///     0x20  n×56 entries: kind u32, reserved u32 (0), offset u64, length u64,
///                SHA-256 of the payload (32)
///     …          the payloads, in entry order, back to back
///     end−32 32  SHA-256 of everything before it
public struct ResultsRecord: Equatable, Sendable {
    public enum Kind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
        /// report.json as the boot run wrote it.
        case report = 1
        /// The attestation response in pvattest's exchange format.
        case attestationResponse = 2
        /// The run's facts document (Attestation's `RunFacts`), whose SHA-256
        /// the attestation's user data binds.
        case facts = 3

        public var description: String {
            switch self {
            case .report: return "report"
            case .attestationResponse: return "attestation-response"
            case .facts: return "facts"
            }
        }
    }

    public struct Entry: Equatable, Sendable {
        public let kind: Kind
        public let payload: [UInt8]
        public init(_ kind: Kind, _ payload: [UInt8]) {
            self.kind = kind
            self.payload = payload
        }
    }

    public static let magic: [UInt8] = Array("SE-SECRETD-RSLT1".utf8)
    public static let version: UInt32 = 1
    public static let headerSize = 0x20
    /// kind u32, reserved u32, offset u64, length u64 (24 bytes), then the
    /// payload's SHA-256 (32 bytes).
    public static let entrySize = 56
    public static let checksumSize = 32
    public static let maxEntries = 8
    /// A payload's bound: a report is far smaller, an exchange response at
    /// most about 1.1 MB.
    public static let maxPayload = 2 << 20
    /// The record's bound: a results device of this size holds any record (the
    /// device must have at least 1 MiB; a larger record than it holds is refused).
    public static let maxSize = 4 << 20

    public let entries: [Entry]

    public init(_ entries: [Entry]) throws(ResultsRecordError) {
        guard (1...Self.maxEntries).contains(entries.count) else {
            throw ResultsRecordError(.badEntryCount, "a record holds 1 to \(Self.maxEntries) entries, not \(entries.count)")
        }
        var seen: Set<UInt32> = []
        for e in entries {
            guard seen.insert(e.kind.rawValue).inserted else {
                throw ResultsRecordError(.duplicateKind, "the record holds two \(e.kind) entries")
            }
            guard e.payload.count <= Self.maxPayload else {
                throw ResultsRecordError(.entryTooLarge, "the \(e.kind) has \(e.payload.count) bytes, more than \(Self.maxPayload)")
            }
        }
        let total = Self.headerSize + entries.count * Self.entrySize + entries.reduce(0) { $0 + $1.payload.count } + Self.checksumSize
        guard total <= Self.maxSize else {
            throw ResultsRecordError(.tooLarge, "the record would have \(total) bytes, more than \(Self.maxSize)")
        }
        self.entries = entries
    }

    public subscript(kind: Kind) -> [UInt8]? { entries.first { $0.kind == kind }?.payload }

    /// The record's bytes.
    public var bytes: [UInt8] {
        var out = Self.magic
        out.appendBE(Self.version)
        out.appendBE(UInt32(entries.count))
        let tableEnd = Self.headerSize + entries.count * Self.entrySize
        let total = tableEnd + entries.reduce(0) { $0 + $1.payload.count } + Self.checksumSize
        out.appendBE(UInt64(total))
        var offset = tableEnd
        for e in entries {
            out.appendBE(e.kind.rawValue)
            out.appendBE(UInt32(0))
            out.appendBE(UInt64(offset))
            out.appendBE(UInt64(e.payload.count))
            out += Digest.sha256(e.payload)
            offset += e.payload.count
        }
        for e in entries { out += e.payload }
        out += Digest.sha256(out)
        return out
    }

    /// Reads a record at the start of `bytes` (a results device may hold
    /// more after it: an older, longer record's tail). Strict: magic,
    /// version, bounds, entries back to back in order, each payload's digest
    /// and the record's checksum.
    public static func parse(_ bytes: [UInt8]) throws(ResultsRecordError) -> ResultsRecord {
        guard bytes.count >= headerSize else { throw ResultsRecordError(.truncated, "\(bytes.count) bytes are not a results record") }
        guard Array(bytes[0..<16]) == magic else {
            throw ResultsRecordError(.badMagic, "no results record here (magic \(String(Array(bytes[0..<16]).hex.prefix(32))))", offset: 0)
        }
        let version = bytes.readBE(UInt32.self, at: 0x10)
        guard version == Self.version else { throw ResultsRecordError(.badVersion, "results record version \(version), expected 1", offset: 0x10) }
        let count = Int(bytes.readBE(UInt32.self, at: 0x14))
        guard (1...maxEntries).contains(count) else {
            throw ResultsRecordError(.badEntryCount, "\(count) entries, expected 1 to \(maxEntries)", offset: 0x14)
        }
        let total64 = bytes.readBE(UInt64.self, at: 0x18)
        let tableEnd = headerSize + count * entrySize
        guard total64 <= UInt64(maxSize), Int(total64) >= tableEnd + checksumSize else {
            throw ResultsRecordError(.badLength, "a total length of \(total64) bytes", offset: 0x18)
        }
        let total = Int(total64)
        guard bytes.count >= total else {
            throw ResultsRecordError(.truncated, "the record says \(total) bytes, \(bytes.count) are there")
        }
        let body = Array(bytes[0..<(total - checksumSize)])
        guard Digest.sha256(body) == Array(bytes[(total - checksumSize)..<total]) else {
            throw ResultsRecordError(.badChecksum, "the record's checksum does not match (torn or changed)", offset: total - checksumSize)
        }
        var entries: [Entry] = []
        var expected = tableEnd
        for i in 0..<count {
            let at = headerSize + i * entrySize
            let rawKind = bytes.readBE(UInt32.self, at: at)
            guard let kind = Kind(rawValue: rawKind) else {
                throw ResultsRecordError(.unknownKind, "entry \(i) has the unknown kind \(rawKind)", offset: at)
            }
            guard bytes.readBE(UInt32.self, at: at + 4) == 0 else {
                throw ResultsRecordError(.reservedNotZero, "entry \(i)'s reserved field is not zero", offset: at + 4)
            }
            let offset = bytes.readBE(UInt64.self, at: at + 8), length = bytes.readBE(UInt64.self, at: at + 16)
            guard offset == UInt64(expected), length <= UInt64(maxPayload), offset + length <= UInt64(total - checksumSize) else {
                throw ResultsRecordError(.badEntry, "entry \(i) (\(kind)) at \(offset), \(length) bytes: not where the previous one ended, or out of bounds", offset: at + 8)
            }
            let payload = Array(bytes[Int(offset)..<Int(offset + length)])
            guard Digest.sha256(payload) == Array(bytes[(at + 24)..<(at + 56)]) else {
                throw ResultsRecordError(.badEntryDigest, "the \(kind)'s digest does not match", offset: at + 24)
            }
            entries.append(Entry(kind, payload))
            expected += Int(length)
        }
        guard expected == total - checksumSize else {
            throw ResultsRecordError(.badLength, "\(total - checksumSize - expected) bytes between the last payload and the checksum")
        }
        return try ResultsRecord(entries)
    }
}

public typealias ResultsRecordError = FormatError<ResultsRecordRule>

/// The results record's and the console frame's rules (`ResultsRecordError.Rule`).
public enum ResultsRecordRule: String, FormatRule {
    case truncated, badMagic = "bad-magic", badVersion = "bad-version", badEntryCount = "bad-entry-count"
    case badLength = "bad-length", badChecksum = "bad-checksum", unknownKind = "unknown-kind"
    case reservedNotZero = "reserved-not-zero", badEntry = "bad-entry", badEntryDigest = "bad-entry-digest"
    case duplicateKind = "duplicate-kind", entryTooLarge = "entry-too-large", tooLarge = "too-large"
    case noFrame = "no-frame", incompleteFrame = "incomplete-frame"

    /// "(at 0x2c)": the record's offsets are given in hex only.
    public static var offsetStyle: FormatOffsetStyle { .hex }
}
