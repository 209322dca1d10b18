import ASRCodec
import SEBase
import UVDevice

/// What `se-secretd list` prints, in the style of `pvsecret list`, with
/// names resolved where the caller knows them (from the policy) or where
/// the ID is a raw name.
public struct ListReport {
    public let listing: SecretListing
    /// ID → name, e.g. from the policy.
    public let names: [[UInt8]: String]

    public init(listing: SecretListing, names: [[UInt8]: String] = [:]) {
        self.listing = listing
        self.names = names
    }

    public func name(of entry: SecretListEntry) -> String? { names[entry.id] ?? entry.rawName }

    /// The list as `pvsecret list` prints it: a header line, and for each
    /// entry "INDEX TYPE:" and the ID (0x + 64 lowercase hex digits), after
    /// "NAME | " when the ID is a raw name or the policy names it.
    public var text: String {
        var s = "Total number of secrets: \(listing.list.totalCount)\n"
        if !listing.list.entries.isEmpty { s += "\n" }
        for e in listing.list.entries {
            s += "\(e.index) \(e.pvsecretTypeName):\n "
            if let n = name(of: e) { s += "\(n) | " }
            s += "0x\(e.id.hex)\n"
        }
        return s
    }

    /// For standard error when the list is incomplete (pvsecret warns there too).
    public var incompleteWarning: String? {
        listing.isComplete ? nil
            : "warning: the list is incomplete: \(listing.list.entries.count) of \(listing.list.totalCount) secrets shown (the kernel returns one page only)"
    }

    /// `pvsecret list --format yaml`: total_num_secrets, then secrets with
    /// index, stype (the type code), len and id, as pvsecret's serde_yaml
    /// writes them (an ID whose value fits 128 bits is quoted, as serde_yaml
    /// quotes a string that reads as a number).
    public var pvsecretYAML: String {
        var s = "total_num_secrets: \(listing.list.totalCount)\n"
        guard !listing.list.entries.isEmpty else { return s + "secrets: []\n" }
        s += "secrets:\n"
        for e in listing.list.entries {
            let id = "0x" + e.id.hex
            let quoted = e.id.prefix(16).allSatisfy { $0 == 0 }
            s += "- index: \(e.index)\n  stype: \(e.typeCode)\n  len: \(e.length)\n  id: \(quoted ? "'" + id + "'" : id)\n"
        }
        return s
    }

    /// The same shape as JSON (pvsecret v2.43.0 has no JSON list; this is
    /// its yaml's structure, keys in the same order).
    public var pvsecretJSON: JSON {
        .object([
            ("total_num_secrets", .int(Int64(listing.list.totalCount))),
            ("secrets", .array(listing.list.entries.map { e in
                .object([
                    ("index", .int(Int64(e.index))),
                    ("stype", .int(Int64(e.typeCode))),
                    ("len", .int(Int64(e.length))),
                    ("id", .string("0x" + e.id.hex)),
                ])
            })),
        ])
    }

    /// `pvsecret list --format bin`: the list as the ultravisor returned it.
    public var bin: [UInt8] { listing.raw }

    public var json: JSON {
        .object([
            ("total", .int(Int64(listing.list.totalCount))),
            ("complete", .bool(listing.isComplete)),
            ("secrets", .array(listing.list.entries.map { e in
                .object([
                    ("index", .int(Int64(e.index))),
                    ("type", .string(e.typeName)),
                    ("type_code", .int(Int64(e.typeCode))),
                    ("length", .int(Int64(e.length))),
                    ("id", .string(e.id.hex)),
                    ("name", name(of: e).map { .string($0) } ?? .null),
                    ("retrievable", .bool(e.type?.isRetrievable ?? false)),
                ])
            })),
        ])
    }
}
