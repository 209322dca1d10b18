import SEBase
import SEVocabulary

/// se-secretd's freshness record: a small, versioned record at the start of
/// a request's user data that carries the tenant's epoch (a 64-bit number
/// the tenant raises when it rotates secrets). When the request is signed
/// (`pvsecret create --user-data FILE --user-sign-key KEY`), the signature
/// covers it: the data part of the user-data area is inside the signed
/// message, only the signature part is zeroed. Layout (docs/formats.md):
///
///     offset  size  field
///     0       10    magic "SESD-FRESH"
///     10      1     format version, 0x01
///     11      5     reserved, zero
///     16      8     epoch, u64 big-endian, at most 2^63-1
///     24      ...   rest of the user-data data part: zero
///
/// No field binds the record to the secret: the signature (or a pin) covers
/// the secret header, with its type and ID, in the same message.
public struct FreshnessRecord: Equatable, Sendable {
    public static let magic: [UInt8] = Array("SESD-FRESH".utf8)
    public static let currentVersion: UInt8 = 1
    public static let size = 24
    /// The largest epoch: 2^63-1, so that every epoch is a JSON integer in
    /// policies and reports.
    public static let maxEpoch = UInt64(Int64.max)

    public var version: UInt8
    public var epoch: UInt64

    public init(epoch: UInt64) {
        self.version = FreshnessRecord.currentVersion
        self.epoch = epoch
    }

    /// The 24 bytes of the record (what a tenant puts into `--user-data`).
    public var bytes: [UInt8] {
        var out = FreshnessRecord.magic
        out.append(version)
        out += [UInt8](repeating: 0, count: 5)
        out.appendBE(epoch)
        return out
    }

    /// Parses the data part of a user-data area (for a signed request: the
    /// 256 or 128 bytes before the signature). Nil when the data does not
    /// start with the magic: no record. A record that starts with the magic
    /// but is anything else than exactly version 1, zero reserved bytes, an
    /// epoch ≤ 2^63-1 and zeros up to the end of `data` is refused
    /// (`bad-freshness-record`), with the offset relative to the user data.
    public static func parse(userData data: ArraySlice<UInt8>) throws(RequestFormatError) -> FreshnessRecord? {
        let d = Array(data)
        guard d.count >= magic.count, Array(d[0..<magic.count]) == magic else { return nil }
        func bad(_ message: String, _ offset: Int) -> RequestFormatError {
            RequestFormatError(RuleID.badFreshnessRecord.rawValue, "freshness record: " + message, offset: ASRLayout.userDataOffset + offset)
        }
        guard d.count >= size else {
            throw bad("the user data has room for \(d.count) bytes, the record needs \(size)", 0)
        }
        let version = d[10]
        guard version == currentVersion else {
            throw bad("unknown format version \(version) (this se-secretd reads version \(currentVersion))", 10)
        }
        if let i = d[11..<16].firstIndex(where: { $0 != 0 }) {
            throw bad("reserved byte is not zero", i)
        }
        let epoch = d.readBE(UInt64.self, at: 16)
        guard epoch <= maxEpoch else {
            throw bad("epoch \(epoch) is larger than 2^63-1 = \(maxEpoch)", 16)
        }
        if let i = d[size...].firstIndex(where: { $0 != 0 }) {
            throw bad("bytes after the record are not zero (version 1 has the user data to itself)", i)
        }
        var r = FreshnessRecord(epoch: epoch)
        r.version = version
        return r
    }
}

extension AddSecretRequest {
    /// The freshness record in the user data's data part, nil when there is
    /// none (no user data, or data that does not start with the magic). This
    /// says nothing about who wrote it: only a verified signature (or a pin)
    /// makes it count; see `Evaluator`.
    public func freshnessRecord() throws(RequestFormatError) -> FreshnessRecord? {
        guard userDataType != .none else { return nil }
        // With opaque parsing the data is the whole area; the record only
        // lives in the part the signature covers.
        return try FreshnessRecord.parse(userData: userData.data.prefix(userDataType.dataCapacity))
    }
}
