/// Text from outside (file names on the request volume, above all) made safe
/// for every place se-secretd writes to: the console, the kernel log, the
/// report and `check`'s output. One escape form everywhere: C-style `\xNN`,
/// one per byte, so that what is shown can be mapped back to the bytes.
///
/// Nothing from outside may reach an output raw: a newline would let a file
/// name forge a log line ("se-secretd: ok: ..."), an ESC would drive the
/// operator's terminal, a bidi override would make a name read differently
/// than it is.
public enum Printable {
    /// Strict form, for names: printable ASCII (0x21–0x7E) except the
    /// backslash is kept, every other byte (space, controls, DEL, bytes of
    /// non-ASCII characters, invalid UTF-8) becomes `\xNN`.
    public static func escape<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            if b > 0x20 && b < 0x7F && b != UInt8(ascii: "\\") { out.append(b) } else { appendEscape(b, to: &out) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func escape(_ name: String) -> String { escape(name.utf8) }

    /// Message form, for whole lines of the console and the kernel log:
    /// characters stay, except control characters (C0, DEL, C1) and the
    /// invisible format characters that reorder or hide text (bidi
    /// embeddings, overrides and isolates, zero-width marks), which become
    /// `\xNN` per UTF-8 byte. With `keepNewlines`, `\n` and `\t` stay (text
    /// output that is meant to have several lines).
    public static func line(_ text: String, keepNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepNewlines: keepNewlines) }) else { return text }
        var out: [UInt8] = []
        for u in text.unicodeScalars {
            if needsEscape(u, keepNewlines: keepNewlines) {
                for b in String(u).utf8 { appendEscape(b, to: &out) }
            } else {
                out += Array(String(u).utf8)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True when `bytes` are valid UTF-8 without control or invisible
    /// format characters (the test for a name that may be shown as is).
    public static func isPrintableUTF8<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case let .scalarValue(u): if needsEscape(u, keepNewlines: false) { return false }
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    static func needsEscape(_ u: Unicode.Scalar, keepNewlines: Bool) -> Bool {
        switch u.value {
        case 0x0A, 0x09: return !keepNewlines
        case 0x00...0x1F, 0x7F...0x9F: return true
        // Format characters (general category Cf) that hide or reorder text:
        // soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width
        // and bidi marks, embeddings, overrides, isolates, invisible operators,
        // BOM, interlinear annotation, tag characters.
        case 0x00AD, 0x061C, 0x180E, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F, 0xFEFF,
             0xFFF9...0xFFFB, 0xE0000...0xE007F: return true
        default: return false
        }
    }

    static func appendEscape(_ b: UInt8, to out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(b >> 4)], digits[Int(b & 0x0F)]]
    }
}
