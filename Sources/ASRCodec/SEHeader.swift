import SEBase

/// Reads the tags a request binds to from a Secure Execution header (magic
/// `IBMSecEx`) or from an SE boot image that contains one.
public enum SEHeader {
    public static let magic: [UInt8] = Array("IBMSecEx".utf8)
    /// The header version at 0x08, the one version there is (pvimg writes
    /// it; IBM's readers refuse others).
    public static let version: UInt32 = 0x100
    static let imageMetadataOffset = 0xC000
    static let imageMetadataMagic: [UInt8] = Array("SeImgLnx".utf8)
    static let pageSize = 4096
    static let scanPages = 0x15

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Tags from a header at the start of `bytes`, or found inside an image.
    public static func tags(from bytes: [UInt8]) throws(Invalid) -> SEHeaderTags {
        if bytes.starts(with: magic) { return try tags(header: bytes, at: 0) }
        if bytes.count >= imageMetadataOffset + 24,
           Array(bytes[imageMetadataOffset..<(imageMetadataOffset + 8)]) == imageMetadataMagic {
            let off = bytes.readBE(UInt64.self, at: imageMetadataOffset + 8)
            if off < UInt64(bytes.count), Int(off) + magic.count <= bytes.count,
               Array(bytes[Int(off)..<(Int(off) + magic.count)]) == magic {
                return try tags(header: bytes, at: Int(off))
            }
        }
        for page in 0..<scanPages {
            let off = page * pageSize
            guard off + magic.count <= bytes.count else { break }
            if Array(bytes[off..<(off + magic.count)]) == magic { return try tags(header: bytes, at: off) }
        }
        throw Invalid(message: "no Secure Execution header (magic IBMSecEx) found")
    }

    static func tags(header bytes: [UInt8], at base: Int) throws(Invalid) -> SEHeaderTags {
        guard base + 0x1A0 <= bytes.count else { throw Invalid(message: "SE header is truncated") }
        let version = bytes.readBE(UInt32.self, at: base + 0x08)
        guard version == Self.version else {
            throw Invalid(message: "SE header version 0x\(String(version, radix: 16)) (only 0x100 is known; IBM's tools refuse others too)")
        }
        let size = Int(bytes.readBE(UInt32.self, at: base + 0x0C))
        guard size >= 0x1A0 + 16, base + size <= bytes.count else {
            throw Invalid(message: "SE header declares \(size) bytes, which does not fit the file")
        }
        return SEHeaderTags(pld: Array(bytes[(base + 0xE0)..<(base + 0x120)]),
                            ald: Array(bytes[(base + 0x120)..<(base + 0x160)]),
                            tld: Array(bytes[(base + 0x160)..<(base + 0x1A0)]),
                            tag: Array(bytes[(base + size - 16)..<(base + size)]))
    }
}

/// The attestation secret-store hash (`pvattest check --secret ...
/// --secret-store-locked ...`): SHA-512 over the GCM tags of the successfully
/// added requests in add order, followed by one byte, 1 if locked.
public enum SecretStoreHash {
    public static func compute(tags: [[UInt8]], locked: Bool, sha512: ([UInt8]) -> [UInt8]) -> [UInt8] {
        var input: [UInt8] = []
        for t in tags { input += t }
        input.append(locked ? 1 : 0)
        return sha512(input)
    }
}
