import SEBase

/// The generic ultravisor request header (0x30 bytes) that add-secret
/// requests and attestation requests (ARCB) share, and the V1 keyslots that
/// follow their request-specific authenticated data. Big-endian:
///
///     0x00  8  magic (`asrcbM` + user-data type; ARCB: 8 zero bytes)
///     0x08  4  version (0x100)
///     0x0C  4  rql: request length
///     0x10 12  AES-GCM IV
///     0x1C 11  reserved (zero)
///     0x27  1  nks: number of keyslots
///     0x28  4  reserved (zero)
///     0x2C  4  sea: size of the encrypted area
///
/// The magic is the caller's: each request kind checks its own. The checks
/// here are the ones every kind shares, in this order, with the same rules
/// and messages for both: version, length (the whole file, no more and no
/// less), reserved bytes, at least one keyslot. `sea` is returned unchecked:
/// what it must be depends on the request kind.
public struct RequestHeader: Equatable, Sendable {
    public static let size = 0x30
    public static let version: UInt32 = 0x0000_0100
    public static let ivOffset = 0x10
    public static let keyslotCountOffset = 0x27
    public static let encryptedSizeOffset = 0x2C

    public let version: UInt32
    /// `rql`, equal to the length of the bytes parsed.
    public let length: Int
    public let iv: [UInt8]
    public let keyslotCount: Int
    /// `sea`, unchecked.
    public let encryptedSize: Int

    /// Reads the header's fields after the 8-byte magic, which the caller
    /// has read with `reader` (so `reader.offset` is 8).
    public static func parseAfterMagic(_ reader: inout ByteReader) throws(RequestFormatError) -> RequestHeader {
        let total = reader.bytes.count
        func read(_ n: Int, _ field: String) throws(RequestFormatError) -> [UInt8] {
            do { return try reader.read(n, field) } catch { throw RequestFormatError.truncation(error) }
        }
        func readBE<T: FixedWidthInteger>(_ t: T.Type, _ field: String) throws(RequestFormatError) -> T {
            do { return try reader.readBE(t, field) } catch { throw RequestFormatError.truncation(error) }
        }
        let version = try readBE(UInt32.self, "version")
        guard version == RequestHeader.version else {
            throw RequestFormatError("bad-version", "unsupported request version 0x\(String(version, radix: 16)) (supported: 0x100)", offset: 8)
        }
        let rql = Int(try readBE(UInt32.self, "request length"))
        guard rql == total else {
            if rql > total {
                throw RequestFormatError("truncated", "file is truncated: the header declares \(rql) bytes, the file has \(total)", offset: 12)
            }
            throw RequestFormatError("trailing-bytes", "file has \(total - rql) bytes after the declared length of \(rql)", offset: rql)
        }
        let iv = try read(12, "IV")
        try RequestFormatError.requireZero(try read(4, "reserved 0x1c"), "reserved 0x1c", at: 0x1C)
        try RequestFormatError.requireZero(try read(7, "reserved 0x20"), "reserved 0x20", at: 0x20)
        let nks = Int(try read(1, "number of keyslots")[0])
        guard nks >= 1 else { throw RequestFormatError("no-keyslots", "request has no keyslot (no host key)", offset: keyslotCountOffset) }
        try RequestFormatError.requireZero(try read(4, "reserved 0x28"), "reserved 0x28", at: 0x28)
        let sea = Int(try readBE(UInt32.self, "encrypted size"))
        return RequestHeader(version: version, length: rql, iv: iv, keyslotCount: nks, encryptedSize: sea)
    }

    /// The 0x30 header bytes.
    public static func encode(magic: [UInt8], length: Int, iv: [UInt8], keyslotCount: Int, encryptedSize: Int) -> [UInt8] {
        precondition(magic.count == 8 && iv.count == 12 && (1...255).contains(keyslotCount))
        var out = magic
        out.reserveCapacity(size)
        out.appendBE(version)
        out.appendBE(UInt32(length))
        out += iv
        out += [UInt8](repeating: 0, count: 11)
        out.append(UInt8(keyslotCount))
        out += [UInt8](repeating: 0, count: 4)
        out.appendBE(UInt32(encryptedSize))
        return out
    }
}

extension Keyslot {
    /// Reads `count` V1 keyslots.
    public static func read(_ count: Int, from reader: inout ByteReader) throws(RequestFormatError) -> [Keyslot] {
        var slots: [Keyslot] = []
        slots.reserveCapacity(count)
        do {
            for i in 0..<count {
                slots.append(Keyslot(hostKeyHash: try reader.read(32, "keyslot \(i) host-key hash"),
                                     wrappedKey: try reader.read(32, "keyslot \(i) wrapped key"),
                                     tag: try reader.read(16, "keyslot \(i) tag")))
            }
        } catch { throw RequestFormatError.truncation(error) }
        return slots
    }
}

extension RequestFormatError {
    /// A read past the end of the file.
    public static func truncation(_ e: ByteReader.Truncated) -> RequestFormatError {
        RequestFormatError("truncated", "file ends inside field '\(e.field)'", offset: e.offset)
    }

    /// `bytes`, read at `offset`, are all zero.
    public static func requireZero(_ bytes: [UInt8], _ field: String, at offset: Int) throws(RequestFormatError) {
        if let i = bytes.firstIndex(where: { $0 != 0 }) {
            throw RequestFormatError("reserved-not-zero", "reserved field '\(field)' is not zero", offset: offset + i)
        }
    }
}
