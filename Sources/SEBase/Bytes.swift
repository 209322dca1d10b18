// Byte-string helpers used everywhere: hex, big-endian integers, comparisons.

public typealias Bytes = [UInt8]

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

extension Sequence where Element == UInt8 {
    /// Lower-case hex, no separators.
    public var hex: String {
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for b in self {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Parses hex digits (upper or lower case) and nothing else: no prefix,
    /// no separators. An odd length or any other character yields nil.
    public init?(hex: String) {
        let u = Array(hex.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = hexValue(u[i]), let lo = hexValue(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }

    /// A new array of `count` copies of `byte`.
    public static func repeating(_ byte: UInt8, _ count: Int) -> [UInt8] {
        [UInt8](repeating: byte, count: count)
    }

    public var isAllZero: Bool { allSatisfy { $0 == 0 } }

    public mutating func appendBE<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        for i in 0..<size { append(UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - i)))) }
    }

    /// Reads a big-endian integer at `offset`; the caller guarantees bounds.
    public func readBE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v = v << 8 | T(self[offset + i]) }
        return v
    }

    public mutating func writeBE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        for i in 0..<size {
            self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - i)))
        }
    }

    /// Left-pads with zero bytes to `size` (a longer array is returned unchanged).
    public func leftPadded(to size: Int) -> [UInt8] {
        count >= size ? self : [UInt8](repeating: 0, count: size - count) + self
    }

    /// Right-pads with zero bytes to `size`.
    public func rightPadded(to size: Int) -> [UInt8] {
        count >= size ? self : self + [UInt8](repeating: 0, count: size - count)
    }

    /// Overwrites the contents with zeros in a way the optimizer keeps.
    public mutating func wipe() {
        withUnsafeMutableBytes { secureZero($0) }
    }
}

@inline(__always)
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
