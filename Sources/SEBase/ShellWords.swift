/// Words for a POSIX shell command line: left as they are when they hold
/// only characters no shell treats specially, else in single quotes (a
/// single quote inside as `'\''`). For printing command lines a user copies.
public enum ShellWords {
    public static func quote(_ word: String) -> String {
        let plain = !word.isEmpty && word.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "_./=:,+@%-".utf8.contains(c)
        }
        if plain { return word }
        // By bytes: a Character compare would miss an apostrophe that a
        // combining mark joins into one grapheme ("'\u{301}"), and the shell
        // sees the byte.
        var out: [UInt8] = [0x27]
        for b in word.utf8 {
            if b == 0x27 { out += Array("'\\''".utf8) } else { out.append(b) }
        }
        out.append(0x27)
        return String(decoding: out, as: UTF8.self)
    }
}
