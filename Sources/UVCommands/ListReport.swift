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

    public var text: String {
        var s = "Total number of secrets: \(listing.list.totalCount)\n"
        if !listing.list.entries.isEmpty { s += "\n" }
        for e in listing.list.entries {
            s += "\(e.index) \(e.typeName):\n "
            if let n = name(of: e) { s += "\(n) | " }
            s += "0x\(e.id.hex)\n"
        }
        if !listing.isComplete {
            s += "\nwarning: the list is incomplete: \(listing.list.entries.count) of \(listing.list.totalCount) secrets shown (the kernel returns one page only)\n"
        }
        return s
    }

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
