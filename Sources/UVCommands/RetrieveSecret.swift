import ASRCodec
import SEBase
import SECrypto
import UVDevice
import SEVocabulary

/// How `se-secretd retrieve` names a secret.
public enum SecretSelector: Equatable, Sendable {
    /// A name given to `pvsecret create` (its raw-name form first, then SHA-256, as pvsecret does).
    case name(String)
    /// A 32-byte ID (64 hex digits, optional 0x).
    case id([UInt8])
    /// An index from the list.
    case index(UInt16)

    /// NAME or ID (no --inform): 64 hex digits, with or without 0x, are an
    /// ID, anything else a name.
    public static func parse(_ text: String) -> SecretSelector {
        if let id = hexID(text) { return .id(id) }
        return .name(text)
    }

    /// A secret ID written as 64 hex digits, optionally after 0x (pvsecret
    /// writes and reads the 0x form).
    public static func hexID(_ text: String) -> [UInt8]? {
        var u = Array(text.utf8)
        if u.count == 2 * SecretListLayout.idSize + 2, u[0] == UInt8(ascii: "0"), u[1] | 0x20 == UInt8(ascii: "x") {
            u.removeFirst(2)
        }
        guard u.count == 2 * SecretListLayout.idSize,
              let id = [UInt8](hex: String(decoding: u, as: UTF8.self)) else { return nil }
        return id
    }
}

/// `retrieve --inform`: how the argument names the secret, as pvsecret
/// defines the forms.
public enum SecretInputForm: String, Sendable, CaseIterable {
    /// A name: its raw-name ID first, then the SHA-256 of the name.
    case name
    /// A secret ID: 0x and 64 hex digits (or the 64 digits alone).
    case hex
    /// A list index, base 10.
    case idx
    /// A file as `pvsecret create` writes it next to the request (NAME.yaml):
    /// a `!Retrievable` mapping whose `id:` is the secret's ID.
    case yaml

    /// The selector `text` gives in this form; a file for `yaml` is read by
    /// the caller and given to `PvsecretSecretYAML.id(in:file:)`.
    public func selector(_ text: String) throws(CommandFailure) -> SecretSelector {
        switch self {
        case .name: return .name(text)
        case .hex:
            guard let id = SecretSelector.hexID(text) else {
                throw CommandFailure(.usage, "--inform hex takes a secret ID of 64 hex digits (0x optional); the argument has \(text.utf8.count) characters\(text.utf8.allSatisfy(Self.isHexOrX) ? "" : " and not only hex digits")")
            }
            return .id(id)
        case .idx:
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let i = UInt16(text) else {
                throw CommandFailure(.usage, "--inform idx takes a list index from 0 to 65535 (base 10), not \"\(text)\"")
            }
            return .index(i)
        case .yaml:
            throw CommandFailure(.usage, "--inform yaml takes a file (a bug: the file was not read)")
        }
    }

    static func isHexOrX(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) || c | 0x20 == UInt8(ascii: "x")
    }
}

/// The secret ID in a yaml file as `pvsecret create` writes it (NAME.yaml):
///
///     !Retrievable
///     kind: 3 (PLAINTEXT)
///     name: my secret
///     id: 0x8b5f…
///
/// Also the untagged mapping (`Retrievable:` with the fields indented below
/// it, serde's other form) and a plain mapping with a top-level `id:`. An
/// `!Association` (or other) secret is refused: it is not retrievable. Only
/// top-level keys count, so a `list --format yaml` file (many IDs) is refused
/// too. Reads names and IDs only; the file never holds the secret.
public enum PvsecretSecretYAML {
    public static let maxSize = 64 * 1024

    public static func id(in bytes: [UInt8], file: String) throws(CommandFailure) -> [UInt8] {
        func bad(_ why: String) -> CommandFailure { CommandFailure(.invalidInput, "\(file): \(why)") }
        guard bytes.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw bad("not a yaml text file (control bytes)")
        }
        var tag: String? = nil
        var nested: String? = nil       // `Retrievable:` form: the variant
        var idText: String? = nil
        var sawListKeys = false
        var first = true
        for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            var line = Array(raw)
            if line.last == 0x0D { line.removeLast() }
            let content = line.drop(while: { $0 == 0x20 || $0 == 0x09 })
            if content.isEmpty || content.first == UInt8(ascii: "#") { continue }
            let indented = content.count != line.count
            var text = String(decoding: content, as: UTF8.self)
            if first {
                first = false
                if text == "---" { first = true; continue }
                if text.hasPrefix("--- ") { text = String(text.dropFirst(4)) }
                if text.hasPrefix("!") {
                    let word = text.dropFirst().prefix { $0 != " " }
                    tag = String(word)
                    let rest = text.dropFirst(1 + word.count).drop { $0 == " " }
                    if rest.isEmpty { continue }
                    text = String(rest)
                }
            }
            guard let colon = text.firstIndex(of: ":") else { continue }
            let key = String(text[..<colon])
            let value = String(text[text.index(after: colon)...].drop { $0 == " " })
            if !indented {
                if nested != nil { break }
                if key == "total_num_secrets" || key == "secrets" { sawListKeys = true }
                if value.isEmpty && tag == nil && idText == nil && ["Retrievable", "Association", "Null", "UpdateCck"].contains(key) {
                    nested = key
                    continue
                }
                if key == "id" { idText = value }
            } else if nested != nil, key == "id" {
                idText = value
            }
        }
        let variant = tag ?? nested
        if let variant, variant != "Retrievable" {
            let what = ["Association": "an association", "Null": "a meta (null)", "UpdateCck": "an update-CCK"][variant]
            throw bad(what.map { "the file describes \($0) secret, which is not retrievable" }
                      ?? "the file is tagged !\(Printable.line(String(variant.prefix(40)))), not !Retrievable")
        }
        guard var value = idText, !value.isEmpty else {
            throw bad(sawListKeys
                ? "a secret list (list --format yaml) names many secrets; give one of its IDs with --inform hex"
                : "no secret ID (an `id:` line) in the file, as pvsecret create writes it")
        }
        if let hash = value.firstIndex(of: "#") { value = String(value[..<hash]) }
        while value.last == " " || value.last == "\t" { value.removeLast() }
        if value.count >= 2, let q = value.first, q == "'" || q == "\"", value.last == q {
            value = String(value.dropFirst().dropLast())
        }
        guard let id = SecretSelector.hexID(value) else {
            throw bad("its id is not a secret ID (0x and 64 hex digits)")
        }
        return id
    }
}

/// A retrieved secret: plaintext without its length prefix and padding,
/// other kinds as the protected-key blob the ultravisor returns.
public struct RetrievedSecret {
    public let entry: SecretListEntry
    public let value: SecureBytes
    /// True when `value` is a decoded plaintext payload.
    public let isPlaintext: Bool
    public let warnings: [String]
}

public enum RetrieveSecret {
    /// Finds the entry (by name, ID or index) in a fresh list.
    public static func find(_ selector: SecretSelector, in list: SecretList,
                            names: [[UInt8]: String] = [:]) throws -> (SecretListEntry, [String]) {
        var candidates: [SecretListEntry]
        let what: String
        switch selector {
        case let .index(i):
            guard let e = list.entry(atIndex: i) else {
                throw CommandFailure(.input, "no secret has index \(i)")
            }
            return (e, [])
        case let .id(id):
            candidates = list.entries(withID: id)
            // As pvsecret: an ID that is a raw name and not in the store is
            // looked up as that name's SHA-256 too.
            if candidates.isEmpty, let n = SecretID.asRawName(id) {
                candidates = list.entries(withID: Digest.sha256(Array(n.utf8)))
            }
            what = "ID 0x\(id.hex)"
        case let .name(name):
            candidates = SecretID.rawName(name).map { list.entries(withID: $0) } ?? []
            if candidates.isEmpty { candidates = list.entries(withID: Digest.sha256(Array(name.utf8))) }
            if candidates.isEmpty, let id = names.first(where: { $0.value == name })?.key {
                candidates = list.entries(withID: id)
            }
            what = "name \"\(name)\""
        }
        guard let first = candidates.first else { throw CommandFailure(.input, "no secret with \(what) is in the store") }
        var warnings: [String] = []
        if candidates.count > 1 {
            warnings.append("\(candidates.count) secrets have the \(what) (indexes \(candidates.map { String($0.index) }.joined(separator: ", "))); took index \(first.index), use --index to choose")
        }
        return (first, warnings)
    }

    public static func retrieve(_ selector: SecretSelector, client: UVClient,
                                names: [[UInt8]: String] = [:]) throws -> RetrievedSecret {
        let listing = try CommandFailure.checking("list secrets") { () throws(UVError) in try client.listSecrets() }
        var (entry, warnings) = try find(selector, in: listing.list, names: names)
        if !listing.isComplete && selector != .index(entry.index) {
            warnings.append("the secret list is incomplete; a secret further down may share this ID")
        }
        let raw = try CommandFailure.checking("retrieve index \(entry.index)") { () throws(UVError) in try client.retrieve(entry) }
        if entry.type == .plain {
            if let payload = SecretValue.decodePlaintext(raw) {
                raw.wipe()
                return RetrievedSecret(entry: entry, value: payload, isPlaintext: true, warnings: warnings)
            }
            warnings.append("the plaintext secret is not in its usual form (length prefix and zero padding); returning it as stored")
        }
        return RetrievedSecret(entry: entry, value: raw, isPlaintext: false, warnings: warnings)
    }
}

/// `retrieve --outform`: as pvsecret, PEM (the default) or the bytes alone.
public enum SecretOutputForm: String, Sendable, CaseIterable {
    case pem
    case bin
}

extension RetrievedSecret {
    /// The secret in `form`: the bytes alone (`value`, a new buffer), or
    /// pvsecret's PEM of them. The caller wipes the result.
    public func output(_ form: SecretOutputForm) -> SecureBytes {
        switch form {
        case .bin: return value.slice(0..<value.count)
        case .pem:
            let (label, header) = PvsecretPEM.labelAndHeader(for: entry)
            return PvsecretPEM.encode(label: label, header: header, data: value)
        }
    }
}
