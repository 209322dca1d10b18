/// A bounded, forward-only reader over a byte string. Every read states the
/// field it reads, so a truncated input is reported with the field's name and
/// offset instead of crashing.
@frozen
public struct ByteReader {
    public let bytes: [UInt8]
    public var offset: Int

    public struct Truncated: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let offset: Int
        public let needed: Int
        public let available: Int

        @inlinable
        public init(field: String, offset: Int, needed: Int, available: Int) {
            self.field = field
            self.offset = offset
            self.needed = needed
            self.available = available
        }
        public var description: String {
            "truncated at byte \(offset) in field '\(field)': \(needed) bytes needed, \(available) left"
        }
    }

    @inlinable
    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    @inlinable
    public var remaining: Int { bytes.count - offset }

    @inlinable
    public mutating func read(_ count: Int, _ field: String) throws(Truncated) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw Truncated(field: field, offset: offset, needed: count, available: max(0, remaining))
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    @inlinable
    public mutating func readBE<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws(Truncated) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else {
            throw Truncated(field: field, offset: offset, needed: size, available: max(0, remaining))
        }
        defer { offset += size }
        return bytes.readBE(T.self, at: offset)
    }

    @inlinable
    public mutating func skip(_ count: Int, _ field: String) throws(Truncated) {
        guard count >= 0, count <= remaining else {
            throw Truncated(field: field, offset: offset, needed: count, available: max(0, remaining))
        }
        offset += count
    }
}
