import Testing
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
@testable import SecretActions

/// Every parser that looks at a secret's bytes, fed secrets made of
/// distinctive marker bytes: no error description and no summary for the
/// report may contain a piece of the marker — as text, hex, \x escapes or
/// base64.
@Suite struct MarkerSecrets {
    static let textMarker = Array("MARKERSECRET-7f3a9c1e-QWERTYUIOP-zxcvbnm-0042".utf8)
    /// Binary, with NUL, high bytes and control bytes.
    static let binaryMarker: [UInt8] = [0xF1, 0x00, 0x9C, 0x4D, 0x41, 0x52, 0x4B, 0xE2, 0x80, 0xAE, 0x1B, 0x5B,
                                        0x32, 0x4A, 0xC3, 0x28, 0xFF, 0xFE, 0x07, 0x7F, 0x9A, 0x31, 0x58, 0xA5,
                                        0x0A, 0xB7, 0x66, 0xD4, 0x13, 0x8E, 0x55, 0xC0]

    /// The pieces that must not show: every 8-byte window as bytes, lower
    /// and upper hex and \xNN escapes, and the base64 of the marker at each
    /// of the three alignments, in aligned 12-character chunks (9 bytes).
    static func forbidden(_ marker: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        if marker.count >= 8 {
            for i in 0...(marker.count - 8) {
                let w = Array(marker[i..<(i + 8)])
                out.append(w)
                out.append(Array(w.hex.utf8))
                out.append(Array(w.hex.uppercased().utf8))
                out.append(Array(w.map { "\\x" + [$0].hex }.joined().utf8))
            }
        }
        for shift in 0..<3 where marker.count > shift {
            let b64 = Array(Base64.encode(Array(marker[shift...])).utf8)
            var i = 0
            while i + 12 <= b64.count { out.append(Array(b64[i..<(i + 12)])); i += 4 }
        }
        return out
    }

    static func leaks(_ text: String, _ marker: [UInt8]) -> Bool {
        let bytes = Array(text.utf8)
        return forbidden(marker).contains { contains(bytes, $0) }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return true }
        }
        return false
    }

    static func wire(_ s: [UInt8]) -> [UInt8] {
        let n = UInt32(s.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + s
    }

    static func armored(_ label: String, _ body: [UInt8]) -> [UInt8] {
        Array("-----BEGIN \(label)-----\n\(Base64.encode(body))\n-----END \(label)-----\n".utf8)
    }

    /// Secrets built around `m`, each aimed at one parser's error paths.
    static func secrets(around m: [UInt8]) -> [(String, [UInt8])] {
        let magic = Array("openssh-key-v1".utf8) + [0]
        let none = Array("none".utf8)
        // An unencrypted OpenSSH container whose key type is the marker.
        let priv = [0, 0, 0, 7, 0, 0, 0, 7] + wire(m) + wire([])
        let padded = priv + (0..<((8 - priv.count % 8) % 8)).map { UInt8($0 + 1) }
        let typeIsMarker = magic + wire(none) + wire(none) + wire([]) + [0, 0, 0, 1] + wire(wire(Array("ssh-ed25519".utf8))) + wire(padded)
        return [
            ("bare", m),
            ("with newline", m + [0x0A]),
            ("openssh: cipher is the marker", armored("OPENSSH PRIVATE KEY", magic + wire(m) + wire(m) + wire([]) + [0, 0, 0, 1])),
            ("openssh: key type is the marker", armored("OPENSSH PRIVATE KEY", typeIsMarker)),
            ("openssh: body is the marker", armored("OPENSSH PRIVATE KEY", m)),
            ("openssh: no END", Array("-----BEGIN OPENSSH PRIVATE KEY-----\n".utf8) + m),
            ("pem private key", armored("PRIVATE KEY", m)),
            ("pem encrypted", Array("-----BEGIN ENCRYPTED PRIVATE KEY-----\n".utf8) + m),
            ("certificate", armored("CERTIFICATE", m)),
            ("certificate and more", armored("CERTIFICATE", m) + armored("PUBLIC KEY", m)),
            ("authorized key type", m + Array(" AAAAC3NzaC1lZDI1NTE5 c\n".utf8)),
            ("authorized key options", m + Array("=\"x\" ssh-ed25519 \(Base64.encode(m)) c\n".utf8)),
            ("authorized key blob", Array("ssh-ed25519 \(Base64.encode(m)) c\n".utf8)),
            ("authorized key base64", Array("ssh-ed25519 ".utf8) + m + Array(" comment\n".utf8)),
            ("authorized key quotes", Array("from=\"".utf8) + m + Array(" ssh-ed25519 AAAA\n".utf8)),
            ("password hash", Array("$".utf8) + m + Array("$salt$hash\n".utf8)),
            ("password hash bad byte", Array("$y$".utf8) + m + Array("$".utf8)),
        ]
    }

    static let markers: [(String, [UInt8])] = [("text", textMarker), ("binary", binaryMarker)]

    @Test(arguments: markers.map(\.0))
    func noParserErrorOrSummaryContainsTheSecret(_ markerName: String) throws {
        let marker = Self.markers.first { $0.0 == markerName }!.1
        var checked = 0
        for (label, bytes) in Self.secrets(around: marker) {
            var texts: [String] = []
            let secret = SecureBytes(copying: bytes)
            for format in Action.File.Format.allCases {
                do { texts.append(try FileFormats.check(format, secret).summary) } catch { texts.append(error.description) }
            }
            do { _ = try SSHHostKey.publicKey(of: secret) } catch { texts.append(error.description) }
            for options in [true, false] {
                do { _ = try SSHKeyList.validate(secret, allowOptions: options, what: "keys") } catch { texts.append(error.description) }
            }
            do { _ = try ShadowFile.hash(from: secret) } catch { texts.append(error.description) }
            // The retrieved-form decoding that LUKS passphrases, key files and
            // files go through, and the encoder of `pvsecret`-style values.
            if SecretValue.decodePlaintext(secret) != nil { texts.append("decoded") }
            do { _ = try SecretValue.plaintext(SecureBytes(copying: bytes + [UInt8](repeating: 0x41, count: 9000))) } catch {
                texts.append(error.description)
            }
            for t in texts {
                checked += 1
                #expect(!Self.leaks(t, marker), "\(markerName) marker, \(label): \(t)")
            }
        }
        #expect(checked > 100)
    }

    /// The forbidden-pieces check itself finds a marker piece in each form.
    @Test func theLeakCheckFindsEachForm() {
        let m = Self.textMarker
        let w = Array(m[3..<11])
        #expect(Self.leaks("x \(String(decoding: w, as: UTF8.self)) y", m))
        #expect(Self.leaks("x \(w.hex) y", m))
        #expect(Self.leaks("x \(Base64.encode(m)) y", m))
        #expect(Self.leaks("x \(Base64.encode(Array(m[1...]))) y", m))
        #expect(Self.leaks(Array(Self.binaryMarker[4..<12]).map { "\\x" + [$0].hex }.joined(), Self.binaryMarker))
        #expect(!Self.leaks("the first word (44 bytes) is not a known SSH public key type", m))
    }
}
