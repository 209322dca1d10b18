#if canImport(Glibc)
import Glibc
#endif

/// Standard base64 (RFC 4648 §4) without line-length rules; whitespace is
/// skipped when decoding.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// Decodes into a wiped buffer; nil on any character outside the
    /// alphabet, misplaced padding or a bad length.
    public static func decode(_ text: UnsafeRawBufferPointer) -> SecureBytes? {
        var sextets = 0
        var padding = 0
        for c in text {
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { continue }
            if c == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0, value(c) != nil else { return nil }
            sextets += 1
        }
        guard (sextets + padding) % 4 == 0, padding <= 2, sextets % 4 != 1 else { return nil }
        let out = SecureBytes(count: sextets * 6 / 8)
        var acc: UInt32 = 0
        var bits = 0
        var o = 0
        for c in text {
            guard let v = value(c) else { continue }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                if o < out.count { out[o] = UInt8((acc >> UInt32(bits)) & 0xFF) }
                o += 1
            }
        }
        acc = 0
        return out
    }

    public static func decode(_ bytes: [UInt8]) -> SecureBytes? {
        bytes.withUnsafeBytes { decode($0) }
    }
}
