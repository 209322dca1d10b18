import SEBase
import SECrypto

/// An SSH public key in the wire form of RFC 4253 §6.6 (the base64 part of
/// a .pub or authorized_keys line).
public struct SSHPublicKey: Equatable, Sendable {
    public let type: String
    public let blob: [UInt8]

    /// "TYPE BASE64[ COMMENT]\n", as in a .pub file.
    public func line(comment: String? = nil) -> String {
        var s = type + " " + Base64.encode(blob)
        if let c = comment, !c.isEmpty { s += " " + c }
        return s + "\n"
    }
}

/// SSH wire encoding: uint32 lengths, strings, mpints.
enum SSHWire {
    static func string(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendBE(UInt32(bytes.count))
        return out + bytes
    }

    static func string(_ text: String) -> [UInt8] { string(Array(text.utf8)) }

    /// A non-negative mpint from big-endian magnitude bytes.
    static func mpint(_ magnitude: [UInt8]) -> [UInt8] {
        var m = Array(magnitude.drop { $0 == 0 })
        if let first = m.first, first & 0x80 != 0 { m.insert(0, at: 0) }
        return string(m)
    }

    /// A bounds-checked reader over bytes that may be secret (it never
    /// copies more than the field it returns).
    struct Reader {
        let base: UnsafeRawBufferPointer
        var offset = 0
        let what: String

        init(_ base: UnsafeRawBufferPointer, what: String) {
            self.base = base
            self.what = what
        }

        var remaining: Int { base.count - offset }

        func fail(_ field: String) -> ActionFailure {
            ActionFailure(.data, "\(what): truncated or malformed at byte \(offset) (\(field))")
        }

        mutating func u32(_ field: String) throws(ActionFailure) -> UInt32 {
            guard remaining >= 4 else { throw fail(field) }
            var v: UInt32 = 0
            for i in 0..<4 { v = v << 8 | UInt32(base[offset + i]) }
            offset += 4
            return v
        }

        mutating func bytes(_ count: Int, _ field: String) throws(ActionFailure) -> UnsafeRawBufferPointer {
            guard count >= 0, count <= remaining else { throw fail(field) }
            let out = UnsafeRawBufferPointer(rebasing: base[offset..<(offset + count)])
            offset += count
            return out
        }

        mutating func string(_ field: String) throws(ActionFailure) -> UnsafeRawBufferPointer {
            let n = Int(try u32(field))
            return try bytes(n, field)
        }

        mutating func text(_ field: String) throws(ActionFailure) -> String {
            String(decoding: try string(field), as: UTF8.self)
        }

        /// A public string field as an array (never use for private fields).
        mutating func publicBytes(_ field: String) throws(ActionFailure) -> [UInt8] { Array(try string(field)) }
    }
}

/// Private host keys as sshd reads them: OpenSSH's own "openssh-key-v1"
/// format (unencrypted) and PEM (PKCS#1 RSA, SEC1 EC, PKCS#8), for Ed25519,
/// ECDSA P-256/P-384/P-521 and RSA. The matching public key is derived from
/// the private key, the way `ssh-keygen -y` does.
public enum SSHHostKey {
    static let openSSHBegin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    static let openSSHEnd = "-----END OPENSSH PRIVATE KEY-----"
    static let magic = Array("openssh-key-v1".utf8) + [0]
    /// Cipher and KDF names of PROTOCOL.key that a message may name; any
    /// other text read from a secret stays out of messages.
    static let knownCiphers: Set<String> = ["none", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc", "aes192-cbc",
                                            "aes256-cbc", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                                            "chacha20-poly1305@openssh.com", "3des-cbc"]
    static let knownKDFs: Set<String> = ["none", "bcrypt"]

    /// The public key of a private host key, and the comment an OpenSSH key
    /// carries (nil for PEM keys, which have none).
    public static func publicKey(of secret: SecureBytes) throws(ActionFailure) -> (SSHPublicKey, comment: String?) {
        if let body = try armoredBody(secret, begin: openSSHBegin, end: openSSHEnd) {
            defer { body.wipe() }
            return try body.withUnsafeBytes { (raw) throws(ActionFailure) in try parseOpenSSH(raw) }
        }
        if secret.withUnsafeBytes({ contains($0, "ENCRYPTED") }) {
            throw ActionFailure(.data, "the host key is encrypted; sshd cannot load it at boot without its passphrase")
        }
        var copy = secret.unsafeCopyToArray()
        defer { copy.wipe() }
        let key: PrivateKey
        do { key = try PrivateKey.load(copy) } catch {
            throw ActionFailure(.data, "the secret is neither an OpenSSH private key nor a PEM/DER private key")
        }
        return (try publicKey(of: key), nil)
    }

    /// The SSH public key of an OpenSSL key.
    public static func publicKey(of key: EVPKey) throws(ActionFailure) -> SSHPublicKey {
        do {
            switch key.keyType {
            case .ed25519:
                return SSHPublicKey(type: "ssh-ed25519", blob: SSHWire.string("ssh-ed25519") + SSHWire.string(try key.rawPublicKey()))
            case let .ec(curve):
                let (x, y) = try key.ecCoordinates()
                let name = curveName(curve)
                let type = "ecdsa-sha2-" + name
                return SSHPublicKey(type: type, blob: SSHWire.string(type) + SSHWire.string(name) + SSHWire.string([4] + x + y))
            case let .rsa(bits):
                guard bits >= 1024 else { throw ActionFailure(.data, "an RSA host key of \(bits) bits is too small for sshd (at least 1024)") }
                let (n, e) = try key.rsaPublicNumbers()
                return SSHPublicKey(type: "ssh-rsa", blob: SSHWire.string("ssh-rsa") + SSHWire.mpint(e) + SSHWire.mpint(n))
            default:
                throw ActionFailure(.data, "a \(key.keyType) key cannot be an SSH host key (Ed25519, ECDSA P-256/384/521 or RSA)")
            }
        } catch let e as ActionFailure {
            throw e
        } catch {
            throw ActionFailure(.data, "cannot read the host key's public part: \(error)")
        }
    }

    static func curveName(_ c: ECCurve) -> String {
        switch c {
        case .p256: return "nistp256"
        case .p384: return "nistp384"
        case .p521: return "nistp521"
        }
    }

    static func fieldSize(ofCurve name: String) -> Int? {
        switch name {
        case "nistp256": return 32
        case "nistp384": return 48
        case "nistp521": return 66
        default: return nil
        }
    }

    /// Parses an unencrypted openssh-key-v1 container (PROTOCOL.key) holding
    /// one key, checks that its public and private sections agree, and
    /// derives the public key from the private section.
    static func parseOpenSSH(_ raw: UnsafeRawBufferPointer) throws(ActionFailure) -> (SSHPublicKey, comment: String?) {
        var r = SSHWire.Reader(raw, what: "OpenSSH private key")
        let m = try r.bytes(magic.count, "magic")
        guard m.elementsEqual(magic) else { throw ActionFailure(.data, "not an openssh-key-v1 private key") }
        let cipher = try r.text("ciphername")
        let kdf = try r.text("kdfname")
        _ = try r.string("kdfoptions")
        guard cipher == "none", kdf == "none" else {
            // The names come from the secret: only known ones are shown.
            let shown = knownCiphers.contains(cipher) && knownKDFs.contains(kdf) ? " (\(cipher)/\(kdf))" : ""
            throw ActionFailure(.data, "the OpenSSH host key is encrypted\(shown); sshd cannot load it at boot without its passphrase")
        }
        let count = try r.u32("number of keys")
        guard count == 1 else { throw ActionFailure(.data, "the OpenSSH key file holds \(count) keys; a host key file holds one") }
        let outerPublic = try r.publicBytes("public key")
        let privateSection = try r.string("private keys")
        guard r.remaining == 0 else { throw ActionFailure(.data, "OpenSSH private key: \(r.remaining) bytes after the private section") }
        guard privateSection.count % 8 == 0 else { throw ActionFailure(.data, "OpenSSH private key: the private section is not padded to 8 bytes") }

        var p = SSHWire.Reader(privateSection, what: "OpenSSH private key")
        let check1 = try p.u32("checkint")
        let check2 = try p.u32("checkint")
        guard check1 == check2 else { throw ActionFailure(.data, "OpenSSH private key: the check integers differ (a damaged or encrypted key)") }
        let type = try p.text("key type")
        let blob: [UInt8]
        switch type {
        case "ssh-ed25519":
            let pub = try p.string("ed25519 public key")
            let priv = try p.string("ed25519 private key")
            guard pub.count == 32, priv.count == 64,
                  UnsafeRawBufferPointer(rebasing: priv[32...]).elementsEqual(pub) else {
                throw ActionFailure(.data, "OpenSSH private key: malformed Ed25519 key")
            }
            blob = SSHWire.string(type) + SSHWire.string(Array(pub))
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            let curve = try p.text("curve")
            let q = try p.string("public point")
            let d = try p.string("private scalar")
            guard "ecdsa-sha2-" + curve == type, let size = fieldSize(ofCurve: curve), q.count == 1 + 2 * size, q[0] == 4,
                  d.count >= 1, d.count <= size + 1 else {
                throw ActionFailure(.data, "OpenSSH private key: malformed ECDSA key")
            }
            blob = SSHWire.string(type) + SSHWire.string(curve) + SSHWire.string(Array(q))
        case "ssh-rsa":
            let n = try p.string("rsa n")
            let e = try p.string("rsa e")
            for field in ["rsa d", "rsa iqmp", "rsa p", "rsa q"] { _ = try p.string(field) }
            let nBits = (n.drop { $0 == 0 }.count) * 8
            guard nBits >= 1024 else { throw ActionFailure(.data, "an RSA host key of about \(nBits) bits is too small for sshd (at least 1024)") }
            blob = SSHWire.string(type) + SSHWire.string(Array(e)) + SSHWire.string(Array(n))
        default:
            let shown = SSHKeyList.plainTypes.union(SSHKeyList.certificateTypes).contains(type) ? type : "unknown-type"
            throw ActionFailure(.data, "an OpenSSH \(shown) key cannot be used as a host key here (Ed25519, ECDSA P-256/384/521 or RSA)")
        }
        let comment = try p.text("comment")
        var pad: UInt8 = 1
        while p.remaining > 0 {
            let b = try p.bytes(1, "padding")
            guard b[0] == pad else { throw ActionFailure(.data, "OpenSSH private key: bad padding") }
            pad &+= 1
        }
        guard blob == outerPublic else {
            throw ActionFailure(.data, "OpenSSH private key: the public key in the file does not match the private key")
        }
        return (SSHPublicKey(type: type, blob: blob), comment.isEmpty ? nil : comment)
    }

    /// The decoded body between PEM-style armor lines, or nil when `begin`
    /// is not in the text.
    static func armoredBody(_ secret: SecureBytes, begin: String, end: String) throws(ActionFailure) -> SecureBytes? {
        try secret.withUnsafeBytes { (raw) throws(ActionFailure) -> SecureBytes? in
            guard let b = find(raw, begin, from: 0) else { return nil }
            let start = b + begin.utf8.count
            guard let e = find(raw, end, from: start) else {
                throw ActionFailure(.data, "the key has a BEGIN line but no \(end)")
            }
            guard let decoded = Base64.decode(UnsafeRawBufferPointer(rebasing: raw[start..<e])) else {
                throw ActionFailure(.data, "the key's base64 body is malformed")
            }
            return decoded
        }
    }

    static func find(_ raw: UnsafeRawBufferPointer, _ text: String, from: Int) -> Int? {
        let needle = Array(text.utf8)
        guard raw.count >= needle.count, from <= raw.count - needle.count else { return nil }
        var i = from
        while i <= raw.count - needle.count {
            var match = true
            for j in 0..<needle.count where raw[i + j] != needle[j] { match = false; break }
            if match { return i }
            i += 1
        }
        return nil
    }

    static func contains(_ raw: UnsafeRawBufferPointer, _ text: String) -> Bool { find(raw, text, from: 0) != nil }
}

/// Lines of public SSH keys: authorized_keys files and sshd's
/// TrustedUserCAKeys file.
public enum SSHKeyList {
    static let plainTypes: Set<String> = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ]
    static let certificateTypes: Set<String> = [
        "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    ]

    /// Checks every non-empty, non-comment line: `[options] TYPE BASE64
    /// [comment]` for authorized_keys (`allowOptions`), `TYPE BASE64
    /// [comment]` for a CA key list. The base64 must decode to a key blob of
    /// the named type. Private key material is refused outright. Returns the
    /// number of keys.
    @discardableResult
    public static func validate(_ secret: SecureBytes, allowOptions: Bool, what: String) throws(ActionFailure) -> Int {
        try secret.withUnsafeBytes { (raw) throws(ActionFailure) -> Int in
            if SSHHostKey.contains(raw, "PRIVATE KEY") {
                throw ActionFailure(.data, "the \(what) contains a private key; only public keys belong there")
            }
            let text = String(decoding: raw, as: UTF8.self)
            var keys = 0
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let l = line.hasSuffix("\r") ? line.dropLast() : line[...]
                let trimmed = l.drop { $0 == " " || $0 == "\t" }
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                try validateLine(String(trimmed), allowOptions: allowOptions, what: "\(what) line \(i + 1)")
                keys += 1
            }
            guard keys > 0 else { throw ActionFailure(.data, "the \(what) holds no key") }
            return keys
        }
    }

    static func validateLine(_ line: String, allowOptions: Bool, what: String) throws(ActionFailure) {
        var rest = Substring(line)
        func token() -> Substring {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            let t = rest.prefix { $0 != " " && $0 != "\t" }
            rest = rest.dropFirst(t.count)
            return t
        }
        var type = token()
        let allTypes = plainTypes.union(allowOptions ? certificateTypes : [])
        if !allTypes.contains(String(type)) {
            // The line is part of the secret: say where, never what.
            guard allowOptions else { throw ActionFailure(.data, "\(what): the first word (\(type.utf8.count) bytes) is not a known SSH public key type") }
            // Options: up to the first unquoted blank.
            rest = Substring(line)
            var inQuotes = false
            var idx = rest.startIndex
            while idx < rest.endIndex {
                let c = rest[idx]
                if c == "\\" && inQuotes { idx = rest.index(after: idx); if idx < rest.endIndex { idx = rest.index(after: idx) }; continue }
                if c == "\"" { inQuotes.toggle() }
                if !inQuotes && (c == " " || c == "\t") { break }
                idx = rest.index(after: idx)
            }
            guard !inQuotes else { throw ActionFailure(.data, "\(what): unbalanced quotes in the options") }
            rest = rest[idx...]
            type = token()
            guard allTypes.contains(String(type)) else {
                throw ActionFailure(.data, "\(what): no known SSH public key type after the options")
            }
        }
        let b64 = token()
        guard let blob = Base64.decode(Array(b64.utf8)) else { throw ActionFailure(.data, "\(what): the key is not valid base64") }
        let inner: String? = blob.withUnsafeBytes { raw in
            var r = SSHWire.Reader(raw, what: what)
            return try? r.text("key type")
        }
        guard inner == String(type) else { throw ActionFailure(.data, "\(what): the key blob is not a \(type) key") }
    }
}
