import CFuzzing
import ASRCodec
import SEVocabulary
import Attestation

/// Field-aware mutations for add-secret requests.
///
/// libFuzzer rarely produces an exact value in one of the request's
/// big-endian length fields: the parser assembles them byte by byte, so its
/// comparisons do not map back to input bytes (no CMP hints), and a
/// boundary such as 140 in the 2-byte EC signature size — one field among
/// 1400 bytes — takes millions of random byte changes. So after libFuzzer's
/// own mutation, every other input also gets one of:
///
/// - a known field (user-data type, version, declared length, keyslot
///   count, encrypted size, flags, EC signature size, secret type and
///   length) set to a value near a limit: 0, 1, the field's maximum, its
///   current value ±1 or ±2, the format's limits and their neighbours;
/// - the declared length set to the input's real length, so that inserted
///   or erased bytes get past the first check.
enum RequestFieldMutator {
    struct Field {
        let offset: Int
        let width: Int
        let interesting: [UInt64]
    }

    /// Choices drawn from libFuzzer's seed (the same seed, the same
    /// mutation): successive remainders of the seed, mixed over 64 bits.
    /// The mixing matters: a plain odd multiple of the seed is always odd,
    /// so `below(2)` was always 1 and the field mutations never ran (found
    /// when the planted bug of docs/hardening.md went unfound).
    struct Choices {
        var bits: UInt64
        init(seed: UInt32) {
            var x = UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15
            x = (x ^ (x >> 31)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            bits = x ^ (x >> 31)
        }
        mutating func below(_ n: Int) -> Int {
            let r = Int(bits % UInt64(n))
            bits /= UInt64(n)
            return r
        }
    }

    static func fields(_ data: UnsafeMutableBufferPointer<UInt8>) -> [Field] {
        let n = UInt64(data.count)
        let ecSize = ASRLayout.userDataOffset + 0x190
        var fields = [
            Field(offset: 6, width: 2, interesting: [0, 1, 2, 3, 4, 5]),
            Field(offset: 8, width: 4, interesting: [0, 0xFF, 0x100, 0x101, 0x200]),
            Field(offset: 12, width: 4, interesting: [0, 16, UInt64(ASRLayout.minSize), UInt64(ASRLayout.maxSize),
                                                      UInt64(ASRLayout.maxSize) + 1, n, n + 1, n &- 1]),
            Field(offset: 0x27, width: 1, interesting: [0, 1, 2, 7, 255]),
            Field(offset: 0x2C, width: 4, interesting: [0, 31, 32, 33, n &- 16, n &- 15, n, 8190 + 32, 8192 + 32]),
            Field(offset: 0x30, width: 8, interesting: [0, 1, 1 << 62, 1 << 63]),
            Field(offset: ecSize, width: 2, interesting: [0, 7, 8, 9, 137, 138, 139, 140, 141, 0x100]),
        ]
        if data.count > 0x27 {
            // The secret header follows the keyslots.
            let header = ASRLayout.keyslotsOffset + Keyslot.size * Int(data[0x27])
            fields.append(Field(offset: header + 2, width: 2, interesting: SecretType.allCases.map { UInt64($0.rawValue) } + [0, 0x17]))
            fields.append(Field(offset: header + 4, width: 4, interesting: [0, 1, 15, 16, 17, 24, 32, 48, 64, 65, 80, 160,
                                                                            8190, 8191, 8192, 8193]))
        }
        return fields.filter { $0.offset + $0.width <= data.count }
    }

    static func read(_ data: UnsafeMutableBufferPointer<UInt8>, _ f: Field) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<f.width { v = v << 8 | UInt64(data[f.offset + i]) }
        return v
    }

    static func write(_ data: UnsafeMutableBufferPointer<UInt8>, _ f: Field, _ value: UInt64) {
        for i in 0..<f.width { data[f.offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(f.width - 1 - i))) }
    }

    static let mutate: se_fuzz_mutator = { data, size, maxSize, seed in
        guard let data else { return size }
        let n = se_fuzz_default_mutate(data, size, maxSize)
        var random = Choices(seed: seed)
        guard random.below(2) == 0 else { return n }
        let buffer = UnsafeMutableBufferPointer(start: data, count: n)
        let fields = fields(buffer)
        guard !fields.isEmpty else { return n }
        if random.below(4) == 0 {
            write(buffer, fields.first { $0.offset == 12 } ?? fields[0], UInt64(n))
            return n
        }
        let f = fields[random.below(fields.count)]
        let current = read(buffer, f)
        let max = f.width == 8 ? UInt64.max : (1 << UInt64(8 * f.width)) - 1
        let choices = f.interesting + [max, current &+ 1, current &+ 2, current &- 1, current &- 2]
        write(buffer, f, choices[random.below(choices.count)])
        return n
    }
}

/// Field-aware mutations for attestation requests (ARCBs), as for add-secret
/// requests: the strict parser's fields are big-endian and assembled byte by
/// byte, and an ARCB parses only when four of them agree (`rql`, `nks`, `sea`
/// and the nonce flag) with the real length. After libFuzzer's mutation,
/// every other input also gets one of:
///
/// - a known field (version, `rql`, `nks`, `sea`, flags, MAI) set near a
///   limit: the format's values and their neighbours, the field's maximum,
///   its current value ±1 or ±2, each MSB0 flag bit alone;
/// - `rql` set to the input's real length;
/// - the structure repaired: `sea` set for the nonce flag, the input cut or
///   zero-extended to 0xE0 + 80·nks + sea + 16 and `rql` set to that, so
///   that a changed keyslot count or flag still parses (and reaches the
///   accessors and decryption).
enum ARCBFieldMutator {
    typealias Field = RequestFieldMutator.Field

    static func fields(_ data: UnsafeMutableBufferPointer<UInt8>) -> [Field] {
        let n = UInt64(data.count)
        let nks = data.count > RequestHeader.keyslotCountOffset ? Int(data[RequestHeader.keyslotCountOffset]) : 1
        let sizes = [nks - 1, nks, nks + 1].filter { $0 >= 0 }.flatMap { k in
            [false, true].map { UInt64(ARCBLayout.size(keyslots: k, nonce: $0)) }
        }
        return [
            Field(offset: 8, width: 4, interesting: [0, 0xFF, 0x100, 0x101, 0x200, 0x1_0000]),
            Field(offset: 0x0C, width: 4, interesting: [0, 0x30, 0x40, 0xE0, UInt64(ARCBLayout.maxSize), UInt64(ARCBLayout.maxSize) + 1,
                                                         n, n + 1, n &- 1, n + 16, n &- 16, n + 80, n &- 80] + sizes),
            Field(offset: RequestHeader.keyslotCountOffset, width: 1, interesting: [0, 1, 2, 3, 254, 255]),
            Field(offset: RequestHeader.encryptedSizeOffset, width: 4, interesting: [0, 16, 63, 64, 65, 79, 80, 81, 96, n]),
            Field(offset: ARCBLayout.flagsOffset, width: 8,
                  interesting: (0..<7).map { AttestationFlags.bit($0) } + [0, 1, AttestationFlags.bit(63), AttestationFlags.known.rawValue,
                                                                         AttestationFlags.known.rawValue | AttestationFlags.bit(0),
                                                                         AttestationFlags.nonce.rawValue | AttestationFlags.bit(6)]),
            Field(offset: ARCBLayout.measurementAlgorithmOffset, width: 4, interesting: [0, 1, 2, 0x100]),
        ].filter { $0.offset + $0.width <= data.count }
    }

    /// The repair: a size that matches `nks` and the nonce flag; nil when the
    /// header is not there or the size exceeds `maxSize`.
    static func repair(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int? {
        guard size >= ARCBLayout.customerKeyOffset else { return nil }
        let buffer = UnsafeMutableBufferPointer(start: data, count: size)
        let flags = AttestationFlags(rawValue: RequestFieldMutator.read(buffer, Field(offset: ARCBLayout.flagsOffset, width: 8, interesting: [])))
        let sea = ARCBLayout.encryptedSize(nonce: flags.contains(.nonce))
        let nks = max(1, Int(buffer[RequestHeader.keyslotCountOffset]))
        let n = ARCBLayout.size(keyslots: nks, nonce: flags.contains(.nonce))
        guard n <= maxSize else { return nil }
        if n > size { (data + size).initialize(repeating: 0, count: n - size) }
        let whole = UnsafeMutableBufferPointer(start: data, count: n)
        whole[RequestHeader.keyslotCountOffset] = UInt8(nks)
        RequestFieldMutator.write(whole, Field(offset: RequestHeader.encryptedSizeOffset, width: 4, interesting: []), UInt64(sea))
        RequestFieldMutator.write(whole, Field(offset: 0x0C, width: 4, interesting: []), UInt64(n))
        return n
    }

    static let mutate: se_fuzz_mutator = { data, size, maxSize, seed in
        guard let data else { return size }
        let n = se_fuzz_default_mutate(data, size, maxSize)
        var random = RequestFieldMutator.Choices(seed: seed)
        guard random.below(2) == 0 else { return n }
        let buffer = UnsafeMutableBufferPointer(start: data, count: n)
        let fields = fields(buffer)
        guard !fields.isEmpty else { return n }
        switch random.below(8) {
        case 0:
            RequestFieldMutator.write(buffer, fields.first { $0.offset == 0x0C } ?? fields[0], UInt64(n))
            return n
        case 1:
            return repair(data, n, maxSize) ?? n
        default:
            let f = fields[random.below(fields.count)]
            let current = RequestFieldMutator.read(buffer, f)
            let max = f.width == 8 ? UInt64.max : (1 << UInt64(8 * f.width)) - 1
            let choices = f.interesting + [max, current &+ 1, current &+ 2, current &- 1, current &- 2]
            RequestFieldMutator.write(buffer, f, choices[random.below(choices.count)])
            return n
        }
    }
}

/// Field-aware mutations for pvattest exchange files: the size field and
/// the five (size, offset) entries decide everything the reader checks, and
/// its comparisons are on assembled u32 values (no CMP hints). After
/// libFuzzer's mutation, every other input also gets one of:
///
/// - an entry's size or offset, or the size field, set to a boundary: 0,
///   the header's end, the entry's limit and its neighbours, the input's
///   end (for this entry: the size that ends there, the offset it ends at),
///   the start and end of another entry ±1 (overlaps), the field's maximum,
///   its current value ±1 or ±2;
/// - the size field set to the input's real length.
enum ExchangeFieldMutator {
    typealias Field = RequestFieldMutator.Field

    static func fields(_ data: UnsafeMutableBufferPointer<UInt8>) -> [Field] {
        guard data.count >= ExchangeFile.headerSize else { return [] }
        let n = UInt64(data.count)
        func u32(_ at: Int) -> UInt64 { RequestFieldMutator.read(data, Field(offset: at, width: 4, interesting: [])) }
        let entries = ExchangeFile.Slot.allCases.map { (slot: $0, size: u32($0.headerOffset), offset: u32($0.headerOffset + 4)) }
        let edges = entries.filter { $0.offset != 0 }.flatMap { e in [e.offset, e.offset &+ e.size] }.flatMap { [$0 &- 1, $0, $0 &+ 1] }
        let header = UInt64(ExchangeFile.headerSize)
        var fields = [Field(offset: 0x0C, width: 4, interesting: [0, header - 1, header, n, n + 1, n &- 1])]
        for e in entries {
            let limit = UInt64(e.slot.limit)
            fields.append(Field(offset: e.slot.headerOffset, width: 4,
                                interesting: [0, 1, 16, 64, 256, limit - 1, limit, limit + 1, n &- e.offset, n &- e.offset &+ 1]))
            fields.append(Field(offset: e.slot.headerOffset + 4, width: 4,
                                interesting: [0, 1, header - 1, header, n, n &- e.size, n &- e.size &+ 1] + edges))
        }
        return fields
    }

    static let mutate: se_fuzz_mutator = { data, size, maxSize, seed in
        guard let data else { return size }
        let n = se_fuzz_default_mutate(data, size, maxSize)
        var random = RequestFieldMutator.Choices(seed: seed)
        guard random.below(2) == 0 else { return n }
        let buffer = UnsafeMutableBufferPointer(start: data, count: n)
        let fields = fields(buffer)
        guard !fields.isEmpty else { return n }
        if random.below(4) == 0 {
            RequestFieldMutator.write(buffer, fields[0], UInt64(n))
            return n
        }
        let f = fields[random.below(fields.count)]
        let current = RequestFieldMutator.read(buffer, f)
        let choices = f.interesting + [UInt64(UInt32.max), current &+ 1, current &+ 2, current &- 1, current &- 2]
        RequestFieldMutator.write(buffer, f, choices[random.below(choices.count)])
        return n
    }
}
