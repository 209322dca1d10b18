import SEBase
import SecretPolicy

/// User and group names of the new root, read from its /etc/passwd and
/// /etc/group (not the initrd's, which knows other users or none).
public struct Accounts {
    public static let maxFileSize = 4 << 20
    var users: [String: (uid: UInt32, gid: UInt32)] = [:]
    var groups: [String: UInt32] = [:]

    public init(tree: SafeTree) throws(ActionFailure) {
        if let passwd = try tree.read("/etc/passwd", limit: Self.maxFileSize) {
            for fields in Self.records(passwd) where fields.count >= 4 {
                if let uid = UInt32(fields[2]), let gid = UInt32(fields[3]), users[fields[0]] == nil {
                    users[fields[0]] = (uid, gid)
                }
            }
        }
        if let group = try tree.read("/etc/group", limit: Self.maxFileSize) {
            for fields in Self.records(group) where fields.count >= 3 {
                if let gid = UInt32(fields[2]), groups[fields[0]] == nil { groups[fields[0]] = gid }
            }
        }
    }

    /// The colon-separated fields of each non-comment line.
    static func records(_ bytes: [UInt8]) -> [[String]] {
        bytes.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard line.first != UInt8(ascii: "#") else { return nil }
            return line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self) }
        }
    }

    public func uid(_ owner: Action.File.Owner) throws(ActionFailure) -> UInt32 {
        switch owner {
        case let .id(v): return v
        case let .name(n):
            guard let u = users[n] else { throw ActionFailure(.data, "the new root's /etc/passwd has no user \"\(n)\"") }
            return u.uid
        }
    }

    public func gid(_ group: Action.File.Owner) throws(ActionFailure) -> UInt32 {
        switch group {
        case let .id(v): return v
        case let .name(n):
            guard let g = groups[n] else { throw ActionFailure(.data, "the new root's /etc/group has no group \"\(n)\"") }
            return g
        }
    }
}

/// Setting a password hash in the new root's /etc/shadow: only the second
/// field of that user's line changes; every other byte of the file stays as
/// it was, and the file keeps its mode, owner and SELinux label.
public enum ShadowFile {
    public static let path = "/etc/shadow"

    /// Checks that the secret is a crypt(3) hash (`$id$…`, e.g. yescrypt
    /// `$y$…` or SHA-512 `$6$…`) and returns it without trailing newlines.
    /// A clear-text password is refused: it must never land in /etc/shadow.
    public static func hash(from secret: SecureBytes) throws(ActionFailure) -> SecureBytes {
        var n = secret.count
        while n > 0 && (secret[n - 1] == 0x0A || secret[n - 1] == 0x0D) { n -= 1 }
        let allowed: (UInt8) -> Bool = { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "./$=,-".utf8.contains(c)
        }
        guard n >= 4, n <= 1024, secret[0] == UInt8(ascii: "$") else {
            throw ActionFailure(.data, "the secret is not a crypt(3) password hash (it must start with $id$, e.g. from `mkpasswd -m yescrypt`)")
        }
        var dollars = 0
        for i in 0..<n {
            guard allowed(secret[i]) else {
                throw ActionFailure(.data, "the password hash contains a character crypt(3) hashes never have (byte \(i))")
            }
            if secret[i] == UInt8(ascii: "$") { dollars += 1 }
        }
        guard dollars >= 3 else { throw ActionFailure(.data, "the secret is not a crypt(3) password hash ($id$salt$hash)") }
        return secret.slice(0..<n)
    }

    /// The new contents of the shadow file with `user`'s hash replaced.
    static func update(_ shadow: [UInt8], user: String, hash: SecureBytes) throws(ActionFailure) -> SecureBytes {
        let name = Array(user.utf8)
        var start = 0
        var found: (lineStart: Int, fieldStart: Int, fieldEnd: Int)? = nil
        while start < shadow.count {
            var end = start
            while end < shadow.count && shadow[end] != 0x0A { end += 1 }
            if end - start > name.count, Array(shadow[start..<(start + name.count)]) == name,
               shadow[start + name.count] == UInt8(ascii: ":") {
                if found != nil { throw ActionFailure(.data, "the new root's /etc/shadow has more than one line for \(user)") }
                let f0 = start + name.count + 1
                var f1 = f0
                while f1 < end && shadow[f1] != UInt8(ascii: ":") { f1 += 1 }
                guard f1 < end else { throw ActionFailure(.data, "the /etc/shadow line of \(user) has no third field") }
                found = (start, f0, f1)
            }
            start = end + 1
        }
        guard let f = found else { throw ActionFailure(.data, "the new root's /etc/shadow has no line for user \(user)") }
        let out = SecureBytes(count: shadow.count - (f.fieldEnd - f.fieldStart) + hash.count)
        out.withUnsafeMutableBytes { dst in
            var o = 0
            func put(_ src: UnsafeRawBufferPointer) {
                UnsafeMutableRawBufferPointer(rebasing: dst[o..<(o + src.count)]).copyMemory(from: src)
                o += src.count
            }
            shadow.withUnsafeBytes { s in
                put(UnsafeRawBufferPointer(rebasing: s[0..<f.fieldStart]))
                hash.withUnsafeBytes { put($0) }
                put(UnsafeRawBufferPointer(rebasing: s[f.fieldEnd...]))
            }
        }
        return out
    }

    /// Sets `user`'s password hash in the tree's /etc/shadow.
    public static func set(user: String, hash: SecureBytes, in tree: SafeTree) throws(ActionFailure) -> WriteOutcome {
        guard let st = try tree.attributes(path) else {
            throw ActionFailure(.io, "the new root has no /etc/shadow")
        }
        guard FileKind(mode: st.st_mode) == .regular else { throw ActionFailure(.io, "\(tree.topPath)/etc/shadow is not a regular file") }
        guard var old = try tree.read(path, limit: Accounts.maxFileSize) else {
            throw ActionFailure(.io, "the new root has no /etc/shadow")
        }
        defer { old.wipe() }
        let new = try update(old, user: user, hash: hash)
        defer { new.wipe() }
        return try new.withUnsafeBytes { (raw) throws(ActionFailure) in
            try tree.write(path, raw, attributes: FileAttributes(mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid),
                           replace: true, createParents: false)
        }
    }
}
