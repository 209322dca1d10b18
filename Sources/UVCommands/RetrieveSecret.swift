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

    /// NAME or ID: 64 hex digits are an ID, anything else a name.
    public static func parse(_ text: String) -> SecretSelector {
        if text.utf8.count == 64 || (text.utf8.count == 66 && (text.hasPrefix("0x") || text.hasPrefix("0X"))),
           let id = [UInt8](hex: text), id.count == 32 {
            return .id(id)
        }
        return .name(text)
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
            what = "ID \(id.hex)"
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
