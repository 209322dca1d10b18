import SEVocabulary
import CUVDevice
import SEBase

/// Layout of the secret list (big-endian, produced by the ultravisor); the
/// numbers come from the C header.
public enum SecretListLayout {
    public static let pageSize = Int(SE_UV_LIST_PAGE_LEN.rawValue)
    public static let headerSize = Int(SE_UV_LIST_HDR_LEN.rawValue)
    public static let entrySize = Int(SE_UV_LIST_ENTRY_LEN.rawValue)
    public static let entriesPerPage = Int(SE_UV_LIST_ENTRIES_PER_PAGE.rawValue)
    public static let storedCountOffset = Int(SE_UV_LIST_HDR_NUM_STORED.rawValue)
    public static let totalOffset = Int(SE_UV_LIST_HDR_TOTAL.rawValue)
    public static let nextIndexOffset = Int(SE_UV_LIST_HDR_NEXT_INDEX.rawValue)
    static let indexOffset = Int(SE_UV_LIST_ENTRY_INDEX.rawValue)
    static let typeOffset = Int(SE_UV_LIST_ENTRY_TYPE.rawValue)
    static let lengthOffset = Int(SE_UV_LIST_ENTRY_LENGTH.rawValue)
    static let idOffset = Int(SE_UV_LIST_ENTRY_ID.rawValue)
    public static let idSize = Int(SE_UV_LIST_ENTRY_ID_LEN.rawValue)

    /// Pages a LIST buffer needs so that a 6.13+ kernel returns `secrets`
    /// entries in one ioctl (one ultravisor call per page, 85 entries each).
    public static func pages(forSecrets secrets: Int) -> Int {
        max(1, (max(0, secrets) + entriesPerPage - 1) / entriesPerPage)
    }
}

/// One entry of the secret list.
public struct SecretListEntry: Equatable, Sendable {
    /// The index RETR_SECRET takes.
    public let index: UInt16
    /// The raw type code (unknown codes are kept, not dropped).
    public let typeCode: UInt16
    /// The stored length: the buffer size RETR_SECRET needs.
    public let length: UInt32
    /// The 32-byte secret ID (an identifier, not the secret).
    public let id: [UInt8]

    public init(index: UInt16, typeCode: UInt16, length: UInt32, id: [UInt8]) {
        precondition(id.count == SecretListLayout.idSize)
        self.index = index
        self.typeCode = typeCode
        self.length = length
        self.id = id
    }

    public var type: SecretType? { SecretType(rawValue: typeCode) }

    /// The name of the type, or "unknown (0x…)".
    public var typeName: String { type?.name ?? "unknown (\(rcHex(typeCode)))" }

    /// The type as pvsecret names it (PLAINTEXT, AES-256-KEY, Unknown(0x0030), ...).
    public var pvsecretTypeName: String { SecretType.pvsecretName(code: typeCode) }

    /// The printable name of a raw-name ID (`pvsecret create --use-name`).
    public var rawName: String? { SecretID.asRawName(id) }

    /// Writes the entry in the list's big-endian form.
    public func encode(into page: inout [UInt8], at offset: Int) {
        page.writeBE(index, at: offset + SecretListLayout.indexOffset)
        page.writeBE(typeCode, at: offset + SecretListLayout.typeOffset)
        page.writeBE(length, at: offset + SecretListLayout.lengthOffset)
        let id0 = offset + SecretListLayout.idOffset
        page.replaceSubrange(id0..<(id0 + SecretListLayout.idSize), with: id)
    }
}

/// The decoded answer of LIST_SECRETS.
public struct SecretList: Equatable, Sendable {
    public var entries: [SecretListEntry]
    /// Secrets in the store according to the ultravisor.
    public var totalCount: Int
    /// Where a continuation would start (meaningless when complete).
    public var nextIndex: UInt16

    public init(entries: [SecretListEntry], totalCount: Int, nextIndex: UInt16) {
        self.entries = entries
        self.totalCount = totalCount
        self.nextIndex = nextIndex
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Decodes a list buffer: a header and `num_secr_stored` contiguous
    /// entries. The count is never trusted beyond the buffer.
    public static func decode(_ buffer: [UInt8]) throws(Malformed) -> SecretList {
        let header = SecretListLayout.headerSize
        guard buffer.count >= header else {
            throw Malformed(message: "list buffer of \(buffer.count) bytes is shorter than its header")
        }
        let stored = Int(buffer.readBE(UInt16.self, at: SecretListLayout.storedCountOffset))
        let total = Int(buffer.readBE(UInt16.self, at: SecretListLayout.totalOffset))
        let next = buffer.readBE(UInt16.self, at: SecretListLayout.nextIndexOffset)
        let capacity = (buffer.count - header) / SecretListLayout.entrySize
        guard stored <= capacity else {
            throw Malformed(message: "list header claims \(stored) entries, the \(buffer.count)-byte buffer holds at most \(capacity)")
        }
        var entries: [SecretListEntry] = []
        entries.reserveCapacity(stored)
        for i in 0..<stored {
            let off = header + i * SecretListLayout.entrySize
            let id0 = off + SecretListLayout.idOffset
            entries.append(SecretListEntry(
                index: buffer.readBE(UInt16.self, at: off + SecretListLayout.indexOffset),
                typeCode: buffer.readBE(UInt16.self, at: off + SecretListLayout.typeOffset),
                length: buffer.readBE(UInt32.self, at: off + SecretListLayout.lengthOffset),
                id: Array(buffer[id0..<(id0 + SecretListLayout.idSize)])))
        }
        return SecretList(entries: entries, totalCount: total, nextIndex: next)
    }

    /// Writes a list header (big-endian) at the start of `page`.
    public static func encodeHeader(storedCount: UInt16, totalCount: UInt16, nextIndex: UInt16,
                                    into page: inout [UInt8]) {
        page.writeBE(storedCount, at: SecretListLayout.storedCountOffset)
        page.writeBE(totalCount, at: SecretListLayout.totalOffset)
        page.writeBE(nextIndex, at: SecretListLayout.nextIndexOffset)
    }

    /// Entries whose ID equals `id` (the store may hold duplicates).
    public func entries(withID id: [UInt8]) -> [SecretListEntry] { entries.filter { $0.id == id } }

    /// How often a secret ID is in the list. The boot run adds each of the
    /// policy's secrets once, so two entries with one ID mean someone else
    /// added one: the verification and the actions both refuse to choose.
    public enum Occurrence: Equatable, Sendable {
        case absent
        case once(SecretListEntry)
        case repeated([SecretListEntry])
    }

    public func occurrence(ofID id: [UInt8]) -> Occurrence {
        let found = entries(withID: id)
        switch found.count {
        case 0: return .absent
        case 1: return .once(found[0])
        default: return .repeated(found)
        }
    }

    public func entry(atIndex index: UInt16) -> SecretListEntry? { entries.first { $0.index == index } }
}
