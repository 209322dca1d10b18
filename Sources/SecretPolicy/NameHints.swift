import SEBase
import SECrypto
import SEVocabulary

/// Which policy secret a request the policy does not name was probably
/// meant for. A secret's ID is made from the name the request was created
/// with (SHA-256 of it, or with `pvsecret create --use-name` its bytes), so
/// a typo in `retrievable luks-rot` or the other ID form makes an ID no
/// policy entry has, and `not-whitelisted` alone does not say why.
///
/// The hints, in this order: the policy's name in the other ID form; a name
/// one edit (a character deleted, inserted, replaced, or two swapped) away
/// from a policy name whose SHA-256 is the ID (found by hashing those
/// edits, at most `maxCandidates` of them, once per evaluation); a raw-name
/// ID close to a policy name; a file named after a policy secret; a file
/// name close to one. Close: an edit distance of 1 for names of 4 to 7
/// bytes, 2 from 8 bytes (none below 4). Text from the volume (file names,
/// raw-name IDs) is escaped.
struct NameHints {
    struct Hint {
        let text: String
        /// The policy name the request was probably meant for.
        let meant: String
    }

    static let maxCandidates = 20_000
    static let maxEditedNameLength = 64
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".utf8)

    let suffix: String
    /// Policy secrets whose ID is made from their name (not given as "id"), with the form.
    let named: [(rule: Policy.SecretRule, raw: Bool)]
    /// SHA-256 IDs of one-edit variants of the hashed-form names: the variant and the secret.
    let edited: [[UInt8]: (typed: String, rule: Policy.SecretRule)]

    init(policy: Policy) {
        suffix = policy.requests.suffix
        var named: [(rule: Policy.SecretRule, raw: Bool)] = []
        for r in policy.secrets where r.type != .updateCCK {
            if SecretID.hashed(name: r.name, sha256: Digest.sha256) == r.id { named.append((r, false)) }
            else if SecretID.rawName(r.name) == r.id { named.append((r, true)) }
        }
        self.named = named
        var edited: [[UInt8]: (typed: String, rule: Policy.SecretRule)] = [:]
        var budget = Self.maxCandidates
        for (rule, raw) in named where !raw {
            guard budget > 0 else { break }  // no edits generated once the budget is spent
            let n = Array(rule.name.utf8)
            guard n.count <= Self.maxEditedNameLength, n.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { continue }
            var letters = Self.alphabet
            for b in n where !letters.contains(b) { letters.append(b) }
            for c in Self.edits(of: n, letters: letters) {
                guard budget > 0 else { break }
                budget -= 1
                let id = Digest.sha256(c)
                if edited[id] == nil { edited[id] = (String(decoding: c, as: UTF8.self), rule) }
            }
        }
        self.edited = edited
    }

    /// Every name one edit away from `n` (deletions, swaps of neighbours,
    /// replacements, insertions), not `n` itself and not empty.
    static func edits(of n: [UInt8], letters: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for i in n.indices where n.count > 1 {
            var c = n
            c.remove(at: i)
            out.append(c)
        }
        for i in n.indices.dropLast() where n[i] != n[i + 1] {
            var c = n
            c.swapAt(i, i + 1)
            out.append(c)
        }
        for i in n.indices {
            for l in letters where l != n[i] {
                var c = n
                c[i] = l
                out.append(c)
            }
        }
        for i in 0...n.count {
            for l in letters {
                var c = n
                c.insert(l, at: i)
                out.append(c)
            }
        }
        return out
    }

    func hint(file: String, id: [UInt8], type: SecretType) -> Hint? {
        guard !named.isEmpty else { return nil }
        let verb = type == .association ? "association" : "retrievable"
        func idRule(_ raw: Bool) -> String {
            raw ? "a raw-name secret's ID is the bytes of its name" : "a secret's ID is SHA-256 of its name"
        }
        let rawID = SecretID.asRawName(id)
        // The right name in the other ID form.
        if let raw = rawID, case let (rule, _)? = named.first(where: { !$0.raw && $0.rule.name == raw }) {
            return Hint(text: "its ID is the raw name \"\(Printable.line(raw))\" (pvsecret create --use-name), but the policy's secret \"\(rule.name)\" has the SHA-256 ID of its name: make the request without --use-name, or give the secret \"id_form\": \"raw-name\"", meant: rule.name)
        }
        if case let (rule, _)? = named.first(where: { $0.raw && Digest.sha256(Array($0.rule.name.utf8)) == id }) {
            return Hint(text: "its ID is SHA-256 of \"\(rule.name)\", but the policy's secret \"\(rule.name)\" has \"id_form\": \"raw-name\": make the request with --use-name, or drop the id_form", meant: rule.name)
        }
        // A typo, proven: the ID is SHA-256 of a name one edit away.
        if let found = edited[id] {
            let (typed, rule) = (found.typed, found.rule)
            let t = Printable.line(typed)
            return Hint(text: "its ID is SHA-256 of \"\(t)\": did you mean \"\(rule.name)\"? \(idRule(false).capitalizedFirst), so a request made with `\(verb) \(t)` has another ID than the policy's; make it again with `\(verb) \(rule.name)`", meant: rule.name)
        }
        if let raw = rawID, case let (rule, isRaw)? = closest(raw) {
            let t = Printable.line(raw)
            return Hint(text: "its ID is the raw name \"\(t)\": did you mean \"\(rule.name)\"? \(idRule(isRaw).capitalizedFirst), so a request made with `\(verb) \(t)` has another ID than the policy's; make it again with `\(verb) \(rule.name)`\(isRaw ? "" : " (without --use-name)")", meant: rule.name)
        }
        // The file's name.
        let stem = Self.stem(file, suffix: suffix)
        let shownFile = Printable.escape(file), shownStem = Printable.escape(stem)
        if case let (rule, isRaw)? = named.first(where: { $0.rule.name == stem }) {
            return Hint(text: "the file is named after the policy's secret \"\(rule.name)\", but its request is not for that secret: \(idRule(isRaw)), so the request was made with another name (`pvsecret create … \(verb) NAME`); make it again with `\(verb) \(rule.name)`", meant: rule.name)
        }
        if case let (rule, isRaw)? = closest(stem) {
            return Hint(text: "the file is named \(shownFile): did you mean \"\(rule.name)\"? \(idRule(isRaw).capitalizedFirst), so a request made with `\(verb) \(shownStem)` has another ID than the policy's", meant: rule.name)
        }
        return nil
    }

    /// The policy secret whose name is closest to `text` within the allowed distance (0 excluded).
    func closest(_ text: String) -> (Policy.SecretRule, Bool)? {
        let t = Array(text.utf8)
        var best: (Policy.SecretRule, Bool, Int)? = nil
        for (rule, raw) in named {
            let n = Array(rule.name.utf8)
            let limit = Self.allowedDistance(n.count)
            guard limit > 0, let d = Self.distance(t, n, limit: limit), d > 0 else { continue }
            if best == nil || d < best!.2 { best = (rule, raw, d) }
        }
        return best.map { ($0.0, $0.1) }
    }

    static func allowedDistance(_ length: Int) -> Int { length >= 8 ? 2 : length >= 4 ? 1 : 0 }

    /// The optimal-string-alignment distance of `a` and `b` (edits:
    /// delete, insert, replace, swap neighbours), nil above `limit` or for
    /// names longer than 256 bytes.
    static func distance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int? {
        guard a.count <= 256, b.count <= 256, abs(a.count - b.count) <= limit else { return nil }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) <= limit ? max(a.count, b.count) : nil }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d = min(d, before[j - 2] + 1) }
                current[j] = d
            }
            (before, previous, current) = (previous, current, before)
        }
        let d = previous[b.count]
        return d <= limit ? d : nil
    }

    /// The file name without the request suffix (or, when it lacks the
    /// suffix, without its last extension): what the file is named after.
    static func stem(_ file: String, suffix: String) -> String {
        let u = Array(file.utf8), s = Array(suffix.utf8)
        if !s.isEmpty, u.count > s.count, Array(u.suffix(s.count)) == s {
            return String(decoding: u.dropLast(s.count), as: UTF8.self)
        }
        if let dot = u.lastIndex(of: UInt8(ascii: ".")), dot > 0 {
            return String(decoding: u[..<dot], as: UTF8.self)
        }
        return file
    }
}

extension String {
    /// The text with its first character in upper case (ASCII).
    var capitalizedFirst: String {
        guard let f = utf8.first, f >= UInt8(ascii: "a"), f <= UInt8(ascii: "z") else { return self }
        return String(decoding: [f - 32] + Array(utf8.dropFirst()), as: UTF8.self)
    }
}
