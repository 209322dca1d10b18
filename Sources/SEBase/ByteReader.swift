/// A bounded, forward-only reader over a byte string. Every read states the
/// field it reads, so a truncated input is reported with the field's name and
/// offset instead of crashing.
public struct ByteReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public struct Truncated: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let offset: Int
        public let needed: Int
        public let available: Int
        public var description: String {
            "truncated at byte \(offset) in field '\(field)': \(needed) bytes needed, \(available) left"
        }
    }

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func read(_ count: Int, _ field: String) throws(Truncated) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw Truncated(field: field, offset: offset, needed: count, available: max(0, remaining))
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    public mutating func readBE<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws(Truncated) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else {
            throw Truncated(field: field, offset: offset, needed: size, available: max(0, remaining))
        }
        defer { offset += size }
        return bytes.readBE(T.self, at: offset)
    }

    public mutating func skip(_ count: Int, _ field: String) throws(Truncated) {
        guard count >= 0, count <= remaining else {
            throw Truncated(field: field, offset: offset, needed: count, available: max(0, remaining))
        }
        offset += count
    }
}
