import SEBase
import SEVocabulary
import UVDevice

/// The PEM form `pvsecret retrieve` writes by default (--outform pem), as
/// OpenSSL's PEM_write_bio lays it out: the BEGIN line, an optional header
/// followed by an empty line, the data in base64 lines of 64 characters, the
/// END line.
///
///   plaintext:   -----BEGIN PLAINTEXT SECRET-----          (no header)
///   other types: -----BEGIN IBM PROTECTED KEY-----
///                kind: AES-256-KEY                          (pvsecret's type name)
///
/// The result is built in a wiped buffer: it holds the secret.
public enum PvsecretPEM {
    public static let plaintextLabel = "PLAINTEXT SECRET"
    public static let protectedKeyLabel = "IBM PROTECTED KEY"

    /// The label and header pvsecret uses for a secret of this list entry:
    /// a plaintext secret is a PLAINTEXT SECRET (also when its length prefix
    /// did not decode, as pvsecret does), everything else an IBM PROTECTED
    /// KEY whose header names the type.
    public static func labelAndHeader(for entry: SecretListEntry) -> (label: String, header: String?) {
        entry.type == .plain ? (plaintextLabel, nil) : (protectedKeyLabel, "kind: \(entry.pvsecretTypeName)")
    }

    /// PEM of `data` under `label`, with `header` (one line, no newline) when given.
    public static func encode(label: String, header: String?, data: SecureBytes) -> SecureBytes {
        let begin = Array("-----BEGIN \(label)-----\n".utf8)
        let end = Array("-----END \(label)-----\n".utf8)
        var head: [UInt8] = []
        if let h = header, !h.isEmpty {
            head = Array(h.utf8)
            if head.last != 0x0A { head.append(0x0A) }
            head.append(0x0A)
        }
        let b64 = (data.count + 2) / 3 * 4
        let lines = (b64 + 63) / 64
        let out = SecureBytes(count: begin.count + head.count + b64 + lines + end.count)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        out.withUnsafeMutableBytes { o in
            var at = 0
            func put(_ b: UInt8) { o[at] = b; at += 1 }
            for b in begin { put(b) }
            for b in head { put(b) }
            data.withUnsafeBytes { d in
                var i = 0, column = 0
                func sextet(_ b: UInt8) {
                    put(b)
                    column += 1
                    if column == 64 { put(0x0A); column = 0 }
                }
                while i < d.count {
                    let b0 = d[i], b1 = i + 1 < d.count ? d[i + 1] : 0, b2 = i + 2 < d.count ? d[i + 2] : 0
                    sextet(alphabet[Int(b0 >> 2)])
                    sextet(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
                    sextet(i + 1 < d.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
                    sextet(i + 2 < d.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
                    i += 3
                }
                if column != 0 { put(0x0A) }
            }
            for b in end { put(b) }
            precondition(at == o.count)
        }
        return out
    }
}
