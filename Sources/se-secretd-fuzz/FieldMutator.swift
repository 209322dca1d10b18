import CFuzzing
import ASRCodec
import SEVocabulary

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
