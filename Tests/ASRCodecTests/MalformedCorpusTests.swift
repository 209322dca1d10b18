// The malformed-request corpus: each case states the exact
// `RequestFormatError.rule` (and offset) the strict parser must report
// (add-secret-request.md §1, §4.2, §6, §7, §15). A crash fails the run.
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec

struct MalformedCase: Sendable, CustomTestStringConvertible {
    enum Offset: Sendable, Equatable { case none, at(Int), unchecked }

    let name: String
    let bytes: [UInt8]
    let rule: String
    let offset: Offset

    var testDescription: String { name }
}

/// Valid requests the corpus is cut and patched from.
enum Bases {
    /// Association, EC-signed user data, 2 keyslots, CUID set, disable-dump.
    static let assocEC2: [UInt8] = try! quickRequest(
        secret: .association(id: .repeating(0x11, 32), value: Random.secureBytes(32)), hosts: 2,
        userData: .signed(Array("corpus".utf8), key: Keys.tenant), configUID: .repeating(0x42, 16), disableDump: true)
    /// Meta, no user data, 1 keyslot (1352 bytes).
    static let meta: [UInt8] = try! quickRequest()
    /// Plaintext secret of 20 bytes (stored as 32), unsigned user data, 1 keyslot.
    static let plain32: [UInt8] = try! quickRequest(
        secret: .retrievable(.plain, id: .repeating(0x22, 32), value: try! SecretValue.plaintext(Random.secureBytes(20))),
        userData: .unsigned([1, 2, 3]))
    /// Plaintext secret of 8190 bytes (stored as 8192), 1 keyslot.
    static let plainMax: [UInt8] = try! quickRequest(
        secret: .retrievable(.plain, id: .repeating(0x23, 32), value: try! SecretValue.plaintext(Random.secureBytes(8190))))
    /// Update-CCK, 1 keyslot.
    static let cck: [UInt8] = try! quickRequest(secret: .updateCCK(Random.secureBytes(32)))
}

func patched(_ base: [UInt8], _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
    var b = base
    edit(&b)
    return b
}

enum MalformedCorpus {
    static let all: [MalformedCase] = make()

    static func make() -> [MalformedCase] {
        var cases: [MalformedCase] = []
        func add(_ name: String, _ bytes: [UInt8], _ rule: String, _ offset: MalformedCase.Offset) {
            cases.append(MalformedCase(name: name, bytes: bytes, rule: rule, offset: offset))
        }
        let a = Bases.assocEC2
        let sh2 = secretHeaderOffset(nks: 2)
        let sh1 = secretHeaderOffset(nks: 1)

        // Empty and tiny files.
        add("empty file", [], "empty", .none)
        for n in 1...5 { add("\(n)-byte file", Array(a.prefix(n)), "truncated", .at(0)) }

        // Truncation at every field boundary of the layout table (§1), as cut
        // (rql still says the full length) and with rql patched to the cut
        // length (reaching the layout checks).
        //                label                         cut          rule with rql patched  offset
        let boundaries: [(String, Int, String, Int)] = [
            ("magic",                          0x006, "", 0),
            ("user-data type",                 0x008, "", 0),
            ("version",                        0x00C, "", 0),
            ("rql",                            0x010, "truncated", 0x010),
            ("IV",                             0x01C, "truncated", 0x01C),
            ("reserved 0x01C",                 0x020, "truncated", 0x020),
            ("reserved 0x020",                 0x027, "truncated", 0x027),
            ("nks",                            0x028, "truncated", 0x028),
            ("reserved 0x028",                 0x02C, "truncated", 0x02C),
            // sea = 64: a request shorter than sea + 16 = 80 bytes.
            ("sea",                            0x030, "bad-encrypted-size", 0x2C),
            ("flags",                          0x038, "bad-encrypted-size", 0x2C),
            // From here on the lengths leave no room for the keyslots and header.
            ("PLD",                            0x078, "bad-layout", 0x2C),
            ("ALD",                            0x0B8, "bad-layout", 0x2C),
            ("TLD",                            0x0F8, "bad-layout", 0x2C),
            ("SE header tag",                  0x108, "bad-layout", 0x2C),
            ("CUID",                           0x118, "bad-layout", 0x2C),
            ("reserved 256",                   0x218, "bad-layout", 0x2C),
            ("user data",                      0x418, "bad-layout", 0x2C),
            ("customer key X",                 0x468, "bad-layout", 0x2C),
            ("customer key Y",                 0x4B8, "bad-layout", 0x2C),
            ("keyslot 0 host-key hash",        0x4D8, "bad-layout", 0x2C),
            ("keyslot 0 wrapped key",          0x4F8, "bad-layout", 0x2C),
            ("keyslot 0 tag",                  0x508, "bad-layout", 0x2C),
            ("keyslot 1 host-key hash",        0x528, "bad-layout", 0x2C),
            ("keyslot 1 wrapped key",          0x548, "bad-layout", 0x2C),
            ("keyslot 1 tag",                  0x558, "bad-layout", 0x2C),
            ("secret header reserved u16",     sh2 + 2, "bad-layout", 0x2C),
            ("secret type",                    sh2 + 4, "bad-layout", 0x2C),
            ("secret length",                  sh2 + 8, "bad-layout", 0x2C),
            ("secret header reserved u64",     sh2 + 16, "bad-layout", 0x2C),
            ("secret ID",                      sh2 + 48, "bad-layout", 0x2C),
            ("ciphertext",                     a.count - 16, "bad-layout", 0x2C),
        ]
        for (label, cut, patchedRule, patchedOffset) in boundaries {
            precondition(cut < a.count)
            let piece = Array(a.prefix(cut))
            add("cut after \(label) (\(cut) bytes)", piece, "truncated", .at(cut < 16 ? cut : 0x0C))
            if !patchedRule.isEmpty {
                let p = patched(piece) { $0.writeBE(UInt32(cut), at: 0x0C) }
                add("cut after \(label), rql patched to \(cut)", p, patchedRule, .at(patchedOffset))
            }
        }
        // Cuts whose rql and sea are both patched, so that the layout holds and
        // the secret-header checks are reached.
        add("tag missing, rql and sea patched", patched(Array(a.prefix(a.count - 16))) {
            $0.writeBE(UInt32(a.count - 16), at: 0x0C); $0.writeBE(UInt32(48), at: 0x2C)
        }, "bad-encrypted-size", .at(0x2C))
        add("ciphertext cut to 40 bytes, rql and sea patched (sea 24)", patched(Array(a.prefix(sh2 + 48 + 40))) {
            $0.writeBE(UInt32(sh2 + 48 + 40), at: 0x0C); $0.writeBE(UInt32(24), at: 0x2C)
        }, "bad-encrypted-size", .at(0x2C))

        // Magic, user-data type, version (§1, §4.1).
        add("wrong magic asrcbN", patched(a) { $0[5] = UInt8(ascii: "N") }, "bad-magic", .at(0))
        add("SE header magic instead of a request", Array("IBMSecEx".utf8) + [UInt8](repeating: 0, count: 2000),
            "bad-magic", .at(0))
        add("user-data type 5", patched(a) { $0.writeBE(UInt16(5), at: 6) }, "bad-user-data-type", .at(6))
        add("user-data type 0xFFFF", patched(a) { $0.writeBE(UInt16(0xFFFF), at: 6) }, "bad-user-data-type", .at(6))
        add("version 0x200", patched(a) { $0.writeBE(UInt32(0x200), at: 8) }, "bad-version", .at(8))
        add("version 0", patched(a) { $0.writeBE(UInt32(0), at: 8) }, "bad-version", .at(8))

        // rql against the file length (§15 rule 3).
        add("rql one larger than the file", patched(a) { $0.writeBE(UInt32(a.count + 1), at: 0x0C) }, "truncated", .at(0x0C))
        add("rql 0xFFFFFFFF", patched(a) { $0.writeBE(UInt32.max, at: 0x0C) }, "truncated", .at(0x0C))
        add("rql one smaller than the file", patched(a) { $0.writeBE(UInt32(a.count - 1), at: 0x0C) },
            "trailing-bytes", .at(a.count - 1))
        add("rql 0", patched(a) { $0.writeBE(UInt32(0), at: 0x0C) }, "trailing-bytes", .at(0))
        add("one trailing byte", a + [0], "trailing-bytes", .at(a.count))
        add("a second request appended", a + a, "trailing-bytes", .at(a.count))

        // nks, sea and the layout (§15 rules 4-5).
        add("nks 0", patched(a) { $0[0x27] = 0 }, "no-keyslots", .at(0x27))
        add("nks 255 in a short file", patched(a) { $0[0x27] = 255 }, "bad-layout", .at(0x2C))
        add("nks 3 in a 2-keyslot file", patched(a) { $0[0x27] = 3 }, "bad-layout", .at(0x2C))
        add("nks 1 in a 2-keyslot file (80 bytes too many)", patched(a) { $0[0x27] = 1 }, "bad-layout", .at(0x2C))
        add("sea 0xFFFFFFFF", patched(a) { $0.writeBE(UInt32.max, at: 0x2C) }, "bad-encrypted-size", .at(0x2C))
        add("sea rql - 15", patched(a) { $0.writeBE(UInt32(a.count - 15), at: 0x2C) }, "bad-encrypted-size", .at(0x2C))
        add("sea 0", patched(a) { $0.writeBE(UInt32(0), at: 0x2C) }, "bad-encrypted-size", .at(0x2C))
        add("sea 31 (no room for the extension secret)", patched(a) { $0.writeBE(UInt32(31), at: 0x2C) },
            "bad-encrypted-size", .at(0x2C))
        add("header size 0 (meta, sea + 16)", patched(Bases.meta) { $0.writeBE(UInt32(48), at: 0x2C) }, "bad-layout", .at(0x2C))
        add("header size 32 (association, sea + 16)", patched(a) { $0.writeBE(UInt32(80), at: 0x2C) }, "bad-layout", .at(0x2C))
        add("header size 64 (association, sea - 16)", patched(a) { $0.writeBE(UInt32(48), at: 0x2C) }, "bad-layout", .at(0x2C))
        add("header size 17 (sea - 1)", patched(a) { $0.writeBE(UInt32(63), at: 0x2C) }, "bad-layout", .at(0x2C))

        // Secret header: type, length, consistency (§6, §7, §15 rules 6-7).
        for t: UInt16 in [0x0000, 0x000B, 0x0010, 0x0017, 0xFFFF] {
            add("unknown secret type 0x\(String(t, radix: 16))", patched(a) { $0.writeBE(t, at: sh2 + 2) },
                "bad-secret-type", .at(sh2 + 2))
        }
        add("meta type in a 48-byte header", patched(a) { $0.writeBE(UInt16(0x0001), at: sh2 + 2) }, "bad-layout", .at(sh2))
        add("association type in a 16-byte header", patched(Bases.meta) { $0.writeBE(UInt16(0x0002), at: sh1 + 2) },
            "bad-layout", .at(sh1))
        add("update-CCK type in a 16-byte header", patched(Bases.meta) { $0.writeBE(UInt16(0x0016), at: sh1 + 2) },
            "bad-layout", .at(sh1))
        add("meta with length 16", patched(Bases.meta) { $0.writeBE(UInt32(16), at: sh1 + 4) }, "bad-secret-length", .at(sh1 + 4))
        add("association with length 16", patched(a) { $0.writeBE(UInt32(16), at: sh2 + 4) }, "bad-secret-length", .at(sh2 + 4))
        add("association with length 33", patched(a) { $0.writeBE(UInt32(33), at: sh2 + 4) }, "bad-secret-length", .at(sh2 + 4))
        add("plaintext with length 17 (not a multiple of 16)", patched(Bases.plain32) { $0.writeBE(UInt32(17), at: sh1 + 4) },
            "bad-secret-length", .at(sh1 + 4))
        add("plaintext with length 0", patched(Bases.plain32) { $0.writeBE(UInt32(0), at: sh1 + 4) },
            "bad-secret-length", .at(sh1 + 4))
        add("plaintext of 8208 bytes, lengths consistent", plain8208(), "bad-secret-length", .at(sh1 + 4))
        add("AES-128 type with 32 bytes", patched(Bases.plain32) { $0.writeBE(UInt16(0x0004), at: sh1 + 2) },
            "bad-secret-length", .at(sh1 + 4))
        add("EC P-521 type with 32 bytes", patched(Bases.plain32) { $0.writeBE(UInt16(0x0013), at: sh1 + 2) },
            "bad-secret-length", .at(sh1 + 4))
        add("update-CCK with length 16", patched(Bases.cck) { $0.writeBE(UInt32(16), at: sh1 + 4) },
            "bad-secret-length", .at(sh1 + 4))
        add("sea inconsistent with the secret length (plaintext 32 → 16)",
            patched(Bases.plain32) { $0.writeBE(UInt32(16), at: sh1 + 4) }, "bad-encrypted-size", .at(0x2C))
        add("update-CCK with a non-zero ID field", patched(Bases.cck) { $0[sh1 + 16 + 31] = 1 },
            "reserved-not-zero", .at(sh1 + 16))

        // Reserved fields must be zero (§15 rule 8).
        for off in [0x1C, 0x1F, 0x20, 0x26, 0x28, 0x2B, 0x118, 0x190, 0x217] {
            add("reserved byte 0x\(String(off, radix: 16)) non-zero", patched(a) { $0[off] = 0x01 }, "reserved-not-zero", .at(off))
        }
        for rel in [0, 1, 8, 15] {
            add("secret header reserved byte +\(rel) non-zero", patched(a) { $0[sh2 + rel] = 0x80 }, "reserved-not-zero", .at(sh2 + rel))
        }
        add("meta secret header reserved u64 non-zero", patched(Bases.meta) { $0[sh1 + 12] = 1 }, "reserved-not-zero", .at(sh1 + 12))

        // User data (§4.2).
        add("user-data type none with non-zero user data (first byte)", patched(Bases.meta) { $0[0x218] = 1 },
            "reserved-not-zero", .at(0x218))
        add("user-data type none with non-zero user data (last byte)", patched(Bases.meta) { $0[0x417] = 0xFF },
            "reserved-not-zero", .at(0x417))
        for size in [0, 7, 140, 0xFFFF] {
            add("EC signature size \(size)", patched(a) { $0.writeBE(UInt16(size), at: 0x3A8) }, "bad-signature-size", .at(0x3A8))
        }
        add("EC signature followed by non-zero padding", ecSignatureWithPadding(), "reserved-not-zero", .at(0x318 + 105))
        add("EC user-data reserved 0x3A3 non-zero", patched(a) { $0[0x3A3] = 1 }, "reserved-not-zero", .at(0x3A3))
        add("EC user-data reserved 0x3A7 non-zero", patched(a) { $0[0x3A7] = 1 }, "reserved-not-zero", .at(0x3A7))
        add("EC user-data reserved 0x3AA non-zero", patched(a) { $0[0x3AA] = 1 }, "reserved-not-zero", .at(0x3AA))
        add("EC user-data reserved 0x417 non-zero", patched(a) { $0[0x417] = 1 }, "reserved-not-zero", .at(0x417))

        // Size limit (§15 rule 1).
        add("file larger than 1 MiB", [UInt8](repeating: 0, count: 0x10_0001), "oversize", .none)
        add("file of exactly 1 MiB is not oversize", [UInt8](repeating: 0, count: 0x10_0000), "bad-magic", .at(0))
        return cases
    }

    /// A plaintext request whose stored length is 8208 (> 8192) with rql,
    /// sea and the length field all consistent, so only the length rule objects.
    static func plain8208() -> [UInt8] {
        let base = Bases.plainMax
        let sh = secretHeaderOffset(nks: 1)
        var b = Array(base[0..<(base.count - 16)]) + [UInt8](repeating: 0xA5, count: 16) + Array(base.suffix(16))
        b.writeBE(UInt32(b.count), at: 0x0C)
        b.writeBE(UInt32(8208 + 32), at: 0x2C)
        b.writeBE(UInt32(8208), at: sh + 4)
        return b
    }

    /// EC signed request with size field 100, a 100-byte "signature" and a
    /// non-zero byte 5 bytes into the padding.
    static func ecSignatureWithPadding() -> [UInt8] {
        patched(Bases.assocEC2) { b in
            for i in 0x318..<0x3A3 { b[i] = 0 }
            for i in 0x318..<(0x318 + 100) { b[i] = 0x30 }
            b[0x318 + 105] = 0x01
            b.writeBE(UInt16(100), at: 0x3A8)
        }
    }
}

@Suite struct MalformedCorpusTests {
    @Test("the corpus has at least 30 cases and the bases are valid")
    func corpusSize() throws {
        #expect(MalformedCorpus.all.count >= 30)
        #expect(Set(MalformedCorpus.all.map(\.name)).count == MalformedCorpus.all.count, "case names are unique")
        for base in [Bases.assocEC2, Bases.meta, Bases.plain32, Bases.plainMax, Bases.cck] {
            _ = try AddSecretRequest.parse(base)
        }
        #expect(UserDataSignature.verify(try AddSecretRequest.parse(Bases.assocEC2), with: Keys.tenant.publicKey) == .valid)
    }

    @Test("malformed request is refused with the exact rule", arguments: MalformedCorpus.all)
    func refused(_ c: MalformedCase) {
        do {
            _ = try AddSecretRequest.parse(c.bytes)
            Issue.record("parsed, expected rule \(c.rule)")
        } catch {
            #expect(error.rule == c.rule, "\(error.description)")
            switch c.offset {
            case .none: #expect(error.offset == nil)
            case let .at(o): #expect(error.offset == o, "\(error.description)")
            case .unchecked: break
            }
            #expect(!error.message.isEmpty)
        }
    }

    enum TruncationBase: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case assocEC2, meta, cck
        var bytes: [UInt8] {
            switch self {
            case .assocEC2: return Bases.assocEC2
            case .meta: return Bases.meta
            case .cck: return Bases.cck
            }
        }
        var testDescription: String { rawValue }
    }

    @Test("truncation at every length is refused", arguments: TruncationBase.allCases)
    func everyTruncation(_ which: TruncationBase) {
        let base = which.bytes
        for n in 0..<base.count {
            let piece = Array(base.prefix(n))
            do {
                _ = try AddSecretRequest.parse(piece)
                Issue.record("a \(n)-byte prefix parsed")
            } catch {
                #expect(error.rule == (n == 0 ? "empty" : "truncated"), "\(n) bytes: \(error.description)")
            }
            guard n >= 16 else { continue }
            // The same prefix with rql patched to its length: refused by a
            // length or layout rule, never parsed, never a crash.
            let p = patched(piece) { $0.writeBE(UInt32(n), at: 0x0C) }
            do {
                _ = try AddSecretRequest.parse(p)
                Issue.record("a \(n)-byte prefix with patched rql parsed")
            } catch {
                #expect(["truncated", "bad-encrypted-size", "bad-layout"].contains(error.rule), "\(n) bytes: \(error.description)")
            }
        }
    }

    /// Seeded random mutations of valid requests: the parser either refuses
    /// with a rule or returns a request consistent with the file; it never traps.
    @Test("random mutations never crash the parser")
    func mutationFuzz() {
        var rng = SplitMix64(seed: 0x5EC_5EC)
        let bases = [Bases.assocEC2, Bases.meta, Bases.plain32, Bases.cck]
        var parsed = 0, refused = 0
        for i in 0..<4000 {
            var b = bases[i % bases.count]
            let edits = Int.random(in: 1...4, using: &rng)
            for _ in 0..<edits {
                // Bias towards the structural fields at the start and the secret header.
                let off: Int
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: off = Int.random(in: 0..<0x30, using: &rng)
                case 1: off = Int.random(in: 0x4B8..<min(b.count, 0x4B8 + 80 * 2 + 48), using: &rng)
                default: off = Int.random(in: 0..<b.count, using: &rng)
                }
                b[off] = UInt8.random(in: 0...255, using: &rng)
            }
            if Int.random(in: 0..<8, using: &rng) == 0 {
                b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
            }
            do {
                let r = try AddSecretRequest.parse(b)
                parsed += 1
                #expect(r.length == b.count)
                #expect(r.aadLength + r.encryptedLength + 16 == b.count)
                #expect(r.aadLength == 0x4B8 + 80 * r.keyslots.count + r.secretHeader.encodedSize)
                #expect(r.secretType.isValidLength(Int(r.secretHeader.length)))
            } catch {
                refused += 1
                #expect(!error.rule.isEmpty)
            }
        }
        #expect(parsed + refused == 4000)
    }
}
