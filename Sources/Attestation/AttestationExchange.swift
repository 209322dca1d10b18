import SEBase

/// pvattest's exchange format (magic `pvattest`, version 0x100): a 0x40-byte
/// header with five (size, offset) entries — ARCB, measurement, additional
/// data, user data, config UID — followed by the blobs (docs/attestation.md).
///
/// An entry is absent (size 0), an expected size only (size > 0, offset 0:
/// the buffer the ATT call needs), or `size` bytes at `offset`.
public struct ExchangeFile: Equatable, Sendable {
    public static let magic: [UInt8] = Array("pvattest".utf8)
    public static let version: UInt32 = 0x0000_0100
    public static let headerSize = 0x40
    public static let arcbMax = 0x10_0000
    public static let measurementMax = 0x8000
    public static let additionalMax = 0x8000
    public static let userMax = 256
    public static let configUIDSize = 16
    /// The largest file the entries' limits allow.
    public static let maxSize = headerSize + arcbMax + measurementMax + additionalMax + userMax + configUIDSize

    public enum Entry: Equatable, Sendable {
        case absent
        case expected(size: Int)
        case data([UInt8])

        /// The size the entry states, data or expected.
        public var size: Int {
            switch self {
            case .absent: return 0
            case let .expected(n): return n
            case let .data(d): return d.count
            }
        }

        public var data: [UInt8]? {
            if case let .data(d) = self { return d }
            return nil
        }
    }

    /// The entries in header order.
    public enum Slot: Int, CaseIterable, Sendable, CustomStringConvertible {
        case arcb, measurement, additionalData, userData, configUID

        public var headerOffset: Int { 0x18 + 8 * rawValue }
        public var description: String {
            switch self {
            case .arcb: return "attestation request"
            case .measurement: return "measurement"
            case .additionalData: return "additional data"
            case .userData: return "user data"
            case .configUID: return "config UID"
            }
        }
    }

    public var arcb: Entry
    public var measurement: Entry
    public var additionalData: Entry
    public var userData: Entry
    public var configUID: Entry

    public init(arcb: Entry, measurement: Entry, additionalData: Entry = .absent, userData: Entry = .absent, configUID: Entry = .absent) {
        self.arcb = arcb
        self.measurement = measurement
        self.additionalData = additionalData
        self.userData = userData
        self.configUID = configUID
    }

    public subscript(slot: Slot) -> Entry {
        get {
            switch slot {
            case .arcb: return arcb
            case .measurement: return measurement
            case .additionalData: return additionalData
            case .userData: return userData
            case .configUID: return configUID
            }
        }
        set {
            switch slot {
            case .arcb: arcb = newValue
            case .measurement: measurement = newValue
            case .additionalData: additionalData = newValue
            case .userData: userData = newValue
            case .configUID: configUID = newValue
            }
        }
    }

    /// The file: the header, then the data blobs contiguously from 0x40 in
    /// entry order (as pvattest writes them).
    public var bytes: [UInt8] {
        var entries: [UInt8] = []
        var blobs: [UInt8] = []
        for slot in Slot.allCases {
            switch self[slot] {
            case .absent: entries += [UInt8](repeating: 0, count: 8)
            case let .expected(n):
                entries.appendBE(UInt32(n))
                entries.appendBE(UInt32(0))
            case let .data(d):
                entries.appendBE(UInt32(d.count))
                entries.appendBE(UInt32(d.isEmpty ? 0 : ExchangeFile.headerSize + blobs.count))
                blobs += d
            }
        }
        var out = ExchangeFile.magic
        out.appendBE(ExchangeFile.version)
        out.appendBE(UInt32(ExchangeFile.headerSize + blobs.count))
        out += [UInt8](repeating: 0, count: 8)
        return out + entries + blobs
    }

    /// Reads an exchange file. Strict and bounded: the whole header, the
    /// magic, version 0x100, zero reserved bytes, a size field equal to the
    /// file's length, data entries inside [0x40, size) and not overlapping
    /// each other, no entry larger than its limit. Which entries must be
    /// data is the request's and the response's business.
    public static func parse(_ bytes: [UInt8]) throws(ExchangeFormatError) -> ExchangeFile {
        guard bytes.count >= headerSize else {
            throw ExchangeFormatError(.truncatedHeader, "file has \(bytes.count) bytes, less than the \(headerSize)-byte header")
        }
        guard bytes.count <= maxSize else {
            throw ExchangeFormatError(.oversize, "file has \(bytes.count) bytes, more than an exchange file can hold (\(maxSize))")
        }
        guard Array(bytes[0..<8]) == magic else {
            throw ExchangeFormatError(.badMagic, "not a pvattest exchange file (magic is not 'pvattest')", offset: 0)
        }
        let version = bytes.readBE(UInt32.self, at: 8)
        guard version == ExchangeFile.version else {
            throw ExchangeFormatError(.badVersion, "unsupported exchange format version 0x\(String(version, radix: 16)) (supported: 0x100)", offset: 8)
        }
        let size = Int(bytes.readBE(UInt32.self, at: 0x0C))
        guard size >= headerSize else {
            throw ExchangeFormatError(.badSize, "the size field (\(size)) is smaller than the header", offset: 0x0C)
        }
        guard size <= bytes.count else {
            throw ExchangeFormatError(.truncated, "file is truncated: the header declares \(size) bytes, the file has \(bytes.count)", offset: 0x0C)
        }
        guard size == bytes.count else {
            throw ExchangeFormatError(.trailingBytes, "file has \(bytes.count - size) bytes after the declared size of \(size)", offset: size)
        }
        if let i = bytes[0x10..<0x18].firstIndex(where: { $0 != 0 }) {
            throw ExchangeFormatError(.reservedNotZero, "the reserved header field is not zero", offset: i)
        }
        var file = ExchangeFile(arcb: .absent, measurement: .absent)
        var used: [(range: Range<Int>, slot: Slot)] = []
        for slot in Slot.allCases {
            let n = Int(bytes.readBE(UInt32.self, at: slot.headerOffset))
            let off = Int(bytes.readBE(UInt32.self, at: slot.headerOffset + 4))
            guard n > 0 else { continue }
            guard n <= slot.limit else {
                throw ExchangeFormatError(.entryTooLarge, "the \(slot) entry has \(n) bytes, more than its limit of \(slot.limit)",
                                          offset: slot.headerOffset)
            }
            guard off != 0 else {
                file[slot] = .expected(size: n)
                continue
            }
            guard off >= headerSize else {
                throw ExchangeFormatError(.entryInHeader, "the \(slot) entry's offset \(off) points into the header",
                                          offset: slot.headerOffset + 4)
            }
            guard off + n <= size else {
                throw ExchangeFormatError(.entryOutOfBounds, "the \(slot) entry (\(n) bytes at \(off)) ends after the file's \(size) bytes",
                                          offset: slot.headerOffset)
            }
            let range = off..<(off + n)
            if let other = used.first(where: { $0.range.overlaps(range) }) {
                throw ExchangeFormatError(.entriesOverlap, "the \(slot) entry overlaps the \(other.slot) entry", offset: slot.headerOffset)
            }
            used.append((range, slot))
            file[slot] = .data(Array(bytes[range]))
        }
        return file
    }
}

extension ExchangeFile.Slot {
    public var limit: Int {
        switch self {
        case .arcb: return ExchangeFile.arcbMax
        case .measurement: return ExchangeFile.measurementMax
        case .additionalData: return ExchangeFile.additionalMax
        case .userData: return ExchangeFile.userMax
        case .configUID: return ExchangeFile.configUIDSize
        }
    }
}

/// Why bytes are not an acceptable exchange file, request or response.
public typealias ExchangeFormatError = FormatError<ExchangeRule>

/// The exchange format reader's rules (`ExchangeFormatError.Rule`).
public enum ExchangeRule: String, FormatRule {
    case truncatedHeader = "truncated-header"
    case oversize
    case badMagic = "bad-magic"
    case badVersion = "bad-version"
    /// The size field is smaller than the header.
    case badSize = "bad-size"
    /// The file is shorter than its size field.
    case truncated
    /// The file is longer than its size field.
    case trailingBytes = "trailing-bytes"
    case reservedNotZero = "reserved-not-zero"
    case entryTooLarge = "entry-too-large"
    case entryInHeader = "entry-in-header"
    case entryOutOfBounds = "entry-out-of-bounds"
    case entriesOverlap = "entries-overlap"
    /// No ARCB data (request and response).
    case noARCB = "no-arcb"
    /// A request's measurement size is 0; a response has no measurement data.
    case noMeasurement = "no-measurement"
    /// A response has no config UID data.
    case noConfigUID = "no-config-uid"
    /// A response's config UID is not 16 bytes.
    case badConfigUIDSize = "bad-config-uid-size"
}

/// An exchange request (`pvattest create`'s output, `perform`'s input): the
/// ARCB and the sizes of the buffers the ATT call needs.
public struct AttestationExchangeRequest: Equatable, Sendable {
    public let arcb: [UInt8]
    public let measurementSize: Int
    public let additionalDataSize: Int

    public init(arcb: [UInt8], measurementSize: Int, additionalDataSize: Int) throws(ExchangeFormatError) {
        guard !arcb.isEmpty else { throw ExchangeFormatError(.noARCB, "an exchange request needs an attestation request") }
        guard arcb.count <= ExchangeFile.arcbMax else {
            throw ExchangeFormatError(.entryTooLarge, "the attestation request has \(arcb.count) bytes, more than \(ExchangeFile.arcbMax)")
        }
        guard measurementSize >= 1 else { throw ExchangeFormatError(.noMeasurement, "the expected measurement size is 0") }
        guard measurementSize <= ExchangeFile.measurementMax else {
            throw ExchangeFormatError(.entryTooLarge, "the expected measurement size \(measurementSize) is more than \(ExchangeFile.measurementMax)")
        }
        guard (0...ExchangeFile.additionalMax).contains(additionalDataSize) else {
            throw ExchangeFormatError(.entryTooLarge, "the expected additional-data size \(additionalDataSize) is not in 0...\(ExchangeFile.additionalMax)")
        }
        self.arcb = arcb
        self.measurementSize = measurementSize
        self.additionalDataSize = additionalDataSize
    }

    /// The request for a parsed ARCB: the buffers its flags and algorithm need.
    public init(_ request: AttestationRequest) throws(ExchangeFormatError) {
        try self.init(arcb: request.bytes, measurementSize: request.measurementSize, additionalDataSize: request.additionalDataSize)
    }

    public var file: ExchangeFile {
        ExchangeFile(arcb: .data(arcb), measurement: .expected(size: measurementSize),
                     additionalData: additionalDataSize == 0 ? .absent : .expected(size: additionalDataSize))
    }

    public var bytes: [UInt8] { file.bytes }

    /// Reads a request. The ARCB must be data; the measurement and additional
    /// sizes count in either form (so a response is also a valid request, as
    /// for pvattest); user data and config UID are ignored.
    public static func parse(_ bytes: [UInt8]) throws(ExchangeFormatError) -> AttestationExchangeRequest {
        let f = try ExchangeFile.parse(bytes)
        guard let arcb = f.arcb.data else { throw ExchangeFormatError(.noARCB, "the file contains no attestation request", offset: 0x18) }
        return try AttestationExchangeRequest(arcb: arcb, measurementSize: f.measurement.size, additionalDataSize: f.additionalData.size)
    }
}

/// An exchange response (`pvattest perform`'s output, `verify`'s input).
public struct AttestationExchangeResponse: Equatable, Sendable {
    public let arcb: [UInt8]
    public let measurement: [UInt8]
    public let additionalData: [UInt8]?
    public let userData: [UInt8]?
    public let configUID: [UInt8]

    /// Empty additional or user data is the same as none (a size-0 entry is absent).
    public init(arcb: [UInt8], measurement: [UInt8], additionalData: [UInt8]?, userData: [UInt8]?,
                configUID: [UInt8]) throws(ExchangeFormatError) {
        guard !arcb.isEmpty else { throw ExchangeFormatError(.noARCB, "a response needs the attestation request") }
        guard !measurement.isEmpty else { throw ExchangeFormatError(.noMeasurement, "a response needs a measurement") }
        let sized: [(ExchangeFile.Slot, [UInt8])] = [(.arcb, arcb), (.measurement, measurement), (.additionalData, additionalData ?? []),
                                                     (.userData, userData ?? [])]
        for (slot, v) in sized where v.count > slot.limit {
            throw ExchangeFormatError(.entryTooLarge, "the \(slot) has \(v.count) bytes, more than \(slot.limit)")
        }
        guard configUID.count == ExchangeFile.configUIDSize else {
            throw ExchangeFormatError(.badConfigUIDSize, "a config UID has 16 bytes, not \(configUID.count)")
        }
        self.arcb = arcb
        self.measurement = measurement
        self.additionalData = additionalData?.isEmpty == false ? additionalData : nil
        self.userData = userData?.isEmpty == false ? userData : nil
        self.configUID = configUID
    }

    public var file: ExchangeFile {
        ExchangeFile(arcb: .data(arcb), measurement: .data(measurement), additionalData: additionalData.map { .data($0) } ?? .absent,
                     userData: userData.map { .data($0) } ?? .absent, configUID: .data(configUID))
    }

    public var bytes: [UInt8] { file.bytes }

    /// Reads a response: ARCB, measurement and config UID (16 bytes) must be
    /// data; additional and user data are data or absent (an expected-size
    /// entry counts as absent, as for pvattest).
    public static func parse(_ bytes: [UInt8]) throws(ExchangeFormatError) -> AttestationExchangeResponse {
        let f = try ExchangeFile.parse(bytes)
        guard let arcb = f.arcb.data else { throw ExchangeFormatError(.noARCB, "the file contains no attestation request", offset: 0x18) }
        guard let m = f.measurement.data else {
            throw ExchangeFormatError(.noMeasurement, "the file contains no attestation response (measurement missing)", offset: 0x20)
        }
        guard let cuid = f.configUID.data else {
            throw ExchangeFormatError(.noConfigUID, "the file contains no attestation response (config UID missing)", offset: 0x38)
        }
        guard cuid.count == ExchangeFile.configUIDSize else {
            throw ExchangeFormatError(.badConfigUIDSize, "the config UID has \(cuid.count) bytes, not 16", offset: 0x38)
        }
        return try AttestationExchangeResponse(arcb: arcb, measurement: m, additionalData: f.additionalData.data,
                                               userData: f.userData.data, configUID: cuid)
    }
}
