// EBC policy references and toc.pol (§16), SE-header tags (§10), the
// secret-store hash (§12) and the inspection JSON interface.
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import SEVocabulary
import RequestBuilding

@Suite struct EBCPolicyReferenceTests {
    func area(hash: [UInt8] = .repeating(0xAB, 32), path: [UInt8]) -> [UInt8] {
        (hash + path).rightPadded(to: 512)
    }

    @Test("a plain file name is accepted")
    func goodName() throws {
        let ref = try EBC.PolicyReference.parse(area(path: Array("toc.pol".utf8)))
        #expect(ref.path == "toc.pol")
        #expect(ref.sha256 == .repeating(0xAB, 32))
        // Leading and trailing NULs are trimmed, as pvebc does.
        let padded = try EBC.PolicyReference.parse(area(path: [0, 0] + Array("toc.pol".utf8)))
        #expect(padded.path == "toc.pol")
    }

    @Test("bytes round trip")
    func roundTrip() throws {
        let ref = EBC.PolicyReference(sha256: libcryptoDigest(Array("policy".utf8)), path: "my-policy_1.pol")
        let bytes = ref.bytes
        #expect(bytes.count == 512)
        #expect(Array(bytes[0..<32]) == ref.sha256)
        #expect(Array(bytes[32..<47]) == Array("my-policy_1.pol".utf8))
        #expect(bytes[47...].allSatisfy { $0 == 0 })
        #expect(try EBC.PolicyReference.parse(bytes) == ref)
        // A path longer than 480 bytes is truncated (then has no NUL).
        let long = EBC.PolicyReference(sha256: .repeating(1, 32), path: String(repeating: "p", count: 500))
        #expect(long.bytes.count == 512)
        #expect(try EBC.PolicyReference.parse(long.bytes).path == String(repeating: "p", count: 480))
    }

    @Test("what pvebc refuses is refused: '..' anywhere, a leading '/', odd bytes",
          arguments: ["../x", "/etc/passwd", "..", "x/..", "./../toc.pol", "toc..pol", "a b", "a\u{7F}"])
    func traversal(_ name: String) {
        let error = #expect(throws: EBC.PolicyReference.Invalid.self, "\(name)") {
            _ = try EBC.PolicyReference.parse(area(path: Array(name.utf8)))
        }
        #expect(error?.rule.rawValue == "ebc-path-traversal", "\(name)")
    }

    @Test("./ as people type it is taken, as pvebc takes it; the name looked up has none",
          arguments: [("./toc.pol", "toc.pol"), ("././toc.pol", "toc.pol"), (".//toc.pol", "toc.pol"), ("toc.pol", "toc.pol")])
    func leadingDotSlash(_ written: String, _ path: String) throws {
        let ref = try EBC.PolicyReference.parse(area(path: Array(written.utf8)))
        #expect(ref.path == path && ref.written == written)
        // Written back as the reference wrote it (the digest covers the bytes, not the name).
        #expect(Array(ref.bytes[32..<(32 + written.utf8.count)]) == Array(written.utf8))
        #expect(try EBC.PolicyReference.parse(ref.bytes) == ref)
    }

    @Test("a subdirectory (pvebc would look there) and a name that is no file are refused, saying why",
          arguments: ["a/b", "./sub/toc.pol", "toc.pol/", ".", "./", "././"])
    func notAFileHere(_ name: String) {
        let error = #expect(throws: EBC.PolicyReference.Invalid.self, "\(name)") {
            _ = try EBC.PolicyReference.parse(area(path: Array(name.utf8)))
        }
        #expect(error?.rule.rawValue == "ebc-reference", "\(name)")
        let subdirectory = ["a/b", "./sub/toc.pol", "toc.pol/"].contains(name)
        #expect(error?.message.contains(subdirectory ? "names a file in a subdirectory" : "names no file") == true, "\(name): \(error?.message ?? "")")
    }

    @Test("non-printable bytes, empty names and wrong sizes are refused")
    func otherRefusals() {
        func rule(_ bytes: [UInt8]) -> String? {
            do { _ = try EBC.PolicyReference.parse(bytes); return nil } catch { return error.rule.rawValue }
        }
        #expect(rule(area(path: [0x61, 0x01, 0x62])) == "ebc-path-traversal")
        #expect(rule(area(path: [0x61, 0x0A])) == "ebc-path-traversal")
        #expect(rule(area(path: [0x61, 0xC3, 0xA9])) == "ebc-path-traversal")
        #expect(rule(area(path: [0x61, 0, 0x62])) == "ebc-path-traversal", "an inner NUL")
        #expect(rule(area(path: [])) == "ebc-reference")
        #expect(rule(.repeating(0, 512)) == "ebc-reference")
        #expect(rule(.repeating(0x61, 511)) == "ebc-reference")
        #expect(rule(.repeating(0x61, 513)) == "ebc-reference")
        #expect(rule([]) == "ebc-reference")
    }
}

@Suite struct EBCTOCPolicyTests {
    let t1 = "00112233445566778899aabbccddeeff"
    let t2 = "ffeeddccbbaa99887766554433221100"

    func parse(_ s: String) throws(EBC.InvalidTOC) -> [[UInt8]] { try EBC.parseTOCPolicy(Array(s.utf8)) }

    @Test("one tag per line, in order")
    func good() throws {
        #expect(try parse("\(t1)\n\(t2)\n") == [[UInt8](hex: t1)!, [UInt8](hex: t2)!])
        #expect(try parse("\(t1)\n\(t2)") == [[UInt8](hex: t1)!, [UInt8](hex: t2)!], "no final newline")
        #expect(try parse("\(t1)\r\n\(t2)\r\n") == [[UInt8](hex: t1)!, [UInt8](hex: t2)!], "CRLF")
        #expect(try parse(t1.uppercased() + "\n") == [[UInt8](hex: t1)!], "upper-case hex")
        #expect(try parse("") == [], "an empty file lists nothing")
    }

    func failingLine(_ s: String) -> Int? {
        do { _ = try parse(s); return nil } catch { return error.line }
    }

    @Test("malformed lines are refused with their line number")
    func bad() {
        #expect(failingLine("\(t1)\n0011223344556677889900aabbccddXX\n") == 2, "bad hex")
        #expect(failingLine("\(t1)\n\(t2.dropLast())\n") == 2, "31 digits")
        #expect(failingLine("\(t1)0\n") == 1, "33 digits")
        #expect(failingLine("\(t1)\n\n\(t2)\n") == 2, "empty line")
        #expect(failingLine("\(t1)\n\n") == 2, "two final newlines")
        #expect(failingLine("\n") == 1, "a lone newline is an empty line")
        #expect(failingLine(" \(t1)\n") == 1, "leading space")
        #expect(failingLine("\(t1) \n") == 1, "trailing space")
        #expect(failingLine("\(t1)\r\r\n") == 1, "stray carriage return")
        #expect(failingLine("0x" + t1.dropFirst(2) + "\n") == 1, "0x prefix: 32 characters but only 15 bytes")
        #expect(failingLine("0X" + t1.dropFirst(2) + "\n") == 1, "0X prefix")
    }

    @Test("the entry limit is enforced")
    func limit() throws {
        let three = "\(t1)\n\(t2)\n\(t1)\n"
        #expect(try EBC.parseTOCPolicy(Array(three.utf8), maxEntries: 3).count == 3)
        do {
            _ = try EBC.parseTOCPolicy(Array(three.utf8), maxEntries: 2)
            Issue.record("a third entry was accepted with maxEntries 2")
        } catch {
            #expect(error.line == 3)
        }
    }

    @Test("every parsed tag has 16 bytes")
    func tagSize() throws {
        for tag in try parse("\(t1)\n\(t2)\n") { #expect(tag.count == 16) }
    }
}

@Suite struct SEHeaderTests {
    /// A synthetic SE header: magic, version, size, PLD/ALD/TLD at
    /// 0xE0/0x120/0x160 and the tag in the last 16 bytes (§10).
    static func header(size: Int = 640) -> ([UInt8], SEHeaderTags) {
        let tags = randomTags()
        var h = Random.bytes(size)  // noise everywhere else
        h.replaceSubrange(0..<8, with: Array("IBMSecEx".utf8))
        h.writeBE(UInt32(0x100), at: 0x08)
        h.writeBE(UInt32(size), at: 0x0C)
        h.replaceSubrange(0xE0..<0x120, with: tags.pld)
        h.replaceSubrange(0x120..<0x160, with: tags.ald)
        h.replaceSubrange(0x160..<0x1A0, with: tags.tld)
        h.replaceSubrange((size - 16)..<size, with: tags.tag)
        return (h, tags)
    }

    func tags(_ b: [UInt8]) -> SEHeaderTags? { try? SEHeader.tags(from: b) }

    @Test("tags from a bare header")
    func bareHeader() throws {
        let (h, t) = Self.header()
        #expect(try SEHeader.tags(from: h) == t)
        let (h2, t2) = Self.header(size: 0x1B0)  // smallest: tags, then the tag
        #expect(try SEHeader.tags(from: h2) == t2)
        // Extra bytes after the header are ignored; the size field decides where the tag is.
        #expect(try SEHeader.tags(from: h + Random.bytes(100)) == t)
        // Only version 0x100 (as IBM's readers): 0 and 0x200 are refused, saying so.
        for v: UInt32 in [0, 0x200, 0x101] {
            var other = h
            other.writeBE(v, at: 0x08)
            let error = #expect(throws: SEHeader.Invalid.self) { try SEHeader.tags(from: other) }
            #expect(error?.message == "SE header version 0x\(String(v, radix: 16)) (only 0x100 is known; IBM's tools refuse others too)")
        }
    }

    @Test("tags from a header at a page boundary inside an image")
    func embeddedAtPage() throws {
        let (h, t) = Self.header()
        var image = [UInt8](repeating: 0, count: 0x8000)
        image.replaceSubrange(0x3000..<(0x3000 + h.count), with: h)
        #expect(try SEHeader.tags(from: image) == t)
        // The scan covers 0x15 pages: page 0x14 is found, page 0x15 is not.
        var late = [UInt8](repeating: 0, count: 0x17000)
        late.replaceSubrange(0x14000..<(0x14000 + h.count), with: h)
        #expect(tags(late) == t)
        var tooLate = [UInt8](repeating: 0, count: 0x17000)
        tooLate.replaceSubrange(0x15000..<(0x15000 + h.count), with: h)
        #expect(tags(tooLate) == nil)
        // Not at a page boundary and no metadata: not found.
        var odd = [UInt8](repeating: 0, count: 0x8000)
        odd.replaceSubrange(0x3010..<(0x3010 + h.count), with: h)
        #expect(tags(odd) == nil)
    }

    @Test("tags via the SeImgLnx metadata at 0xC000")
    func viaMetadata() throws {
        let (h, t) = Self.header()
        let (decoy, decoyTags) = Self.header()
        var image = [UInt8](repeating: 0, count: 0x30000)
        image.replaceSubrange(0x1000..<(0x1000 + decoy.count), with: decoy)  // found by the scan otherwise
        let at = 0x20010  // beyond the scanned pages and not page-aligned
        image.replaceSubrange(at..<(at + h.count), with: h)
        image.replaceSubrange(0xC000..<0xC008, with: Array("SeImgLnx".utf8))
        image.writeBE(UInt64(at), at: 0xC008)
        image.writeBE(UInt32(1), at: 0xC010)
        #expect(try SEHeader.tags(from: image) == t, "the metadata wins over the page scan")

        // Metadata pointing outside the file or at no header: fall back to the scan.
        var bad = image
        bad.writeBE(UInt64(0x40000), at: 0xC008)
        #expect(tags(bad) == decoyTags)
        bad.writeBE(UInt64.max, at: 0xC008)
        #expect(tags(bad) == decoyTags)
        bad.writeBE(UInt64(0x2F000), at: 0xC008)
        #expect(tags(bad) == decoyTags)
    }

    @Test("truncated or inconsistent headers are refused")
    func refusals() {
        let (h, _) = Self.header()
        #expect(tags(Array(h.prefix(0x19F))) == nil, "cut before the end of the TLD")
        #expect(tags(Array(h.prefix(639))) == nil, "cut before the tag")
        #expect(tags(Array(h.prefix(8))) == nil)
        var small = h
        small.writeBE(UInt32(0x1AF), at: 0x0C)
        #expect(tags(small) == nil, "size too small to hold a tag after the TLD")
        var huge = h
        huge.writeBE(UInt32.max, at: 0x0C)
        #expect(tags(huge) == nil)
        #expect(tags([]) == nil)
        #expect(tags(.repeating(0, 0x20000)) == nil)
        // An image whose header at a page boundary is cut.
        var image = [UInt8](repeating: 0, count: 0x2100)
        image.replaceSubrange(0x2000..<0x2100, with: h.prefix(0x100))
        #expect(tags(image) == nil)
    }
}

@Suite struct SecretStoreHashTests {
    @Test("empty store (§12 vectors)")
    func emptyStore() {
        let locked = SecretStoreHash.compute(tags: [], locked: true, sha512: Digest.sha512)
        let unlocked = SecretStoreHash.compute(tags: [], locked: false, sha512: Digest.sha512)
        #expect(locked.hex.hasPrefix("7b54b66836c1fbdd"))
        #expect(unlocked.hex.hasPrefix("b8244d028981d693"))
        #expect(locked == libcryptoDigest([0x01], sha512: true))
        #expect(unlocked == libcryptoDigest([0x00], sha512: true))
    }

    @Test("tags in add order, then the lock byte")
    func orderSensitive() throws {
        let a = try AddSecretRequest.parse(try quickRequest()).gcmTag
        let b = try AddSecretRequest.parse(try quickRequest(hosts: 2)).gcmTag
        let ab = SecretStoreHash.compute(tags: [a, b], locked: false, sha512: Digest.sha512)
        let ba = SecretStoreHash.compute(tags: [b, a], locked: false, sha512: Digest.sha512)
        #expect(ab == libcryptoDigest(a + b + [0], sha512: true))
        #expect(ab != ba)
        #expect(ab != SecretStoreHash.compute(tags: [a, b], locked: true, sha512: Digest.sha512))
        #expect(SecretStoreHash.compute(tags: [a, a], locked: false, sha512: Digest.sha512) !=
                SecretStoreHash.compute(tags: [a], locked: false, sha512: Digest.sha512))
    }
}

@Suite struct InspectionJSONTests {
    func inspect(_ bytes: [UInt8]) throws -> JSON {
        try AddSecretRequest.parse(bytes).inspectionJSON(sha256: libcryptoDigest(bytes))
    }

    func isString(_ j: JSON?) -> Bool { if case .string = j { return true } else { return false } }
    func isInt(_ j: JSON?) -> Bool { if case .int = j { return true } else { return false } }
    func isBool(_ j: JSON?) -> Bool { if case .bool = j { return true } else { return false } }

    @Test("all interface keys with their types and values")
    func allKeys() throws {
        let id = SecretID.hashed(name: "disk", sha256: Digest.sha256)
        let cuid: [UInt8] = .repeating(0x42, 16)
        let bytes = try quickRequest(secret: .retrievable(.aesXTS256, id: id, value: Random.secureBytes(64)), hosts: 2,
                                     userData: .signed([1, 2, 3], key: Keys.rsa2048), configUID: cuid, disableDump: true)
        let req = try AddSecretRequest.parse(bytes)
        let j = try inspect(bytes)
        for key in ["user_data_type", "secret_type", "tag", "sha256", "se_header_tag", "flags", "secret_id", "config_uid"] {
            #expect(isString(j[key]), "\(key) is a string")
        }
        for key in ["version", "length", "encrypted_length", "secret_length"] {
            #expect(isInt(j[key]), "\(key) is an integer")
        }
        #expect(isBool(j["disable_dump"]))
        #expect(j["user_data_type"] == .string("rsa-2048"))
        #expect(j["version"] == .int(256))
        #expect(j["length"] == .int(Int64(bytes.count)))
        #expect(j["encrypted_length"] == .int(96))
        #expect(j["disable_dump"] == .bool(true))
        #expect(j["config_uid"] == .string(cuid.hex))
        #expect(j["secret_type"] == .string("aes-xts-256"))
        #expect(j["secret_id"] == .string(id.hex))
        #expect(j["secret_name"] == .null)
        #expect(j["secret_length"] == .int(64))
        #expect(j["tag"] == .string(Array(bytes.suffix(16)).hex))
        #expect(j["sha256"] == .string(libcryptoDigest(bytes).hex))
        #expect(j["se_header_tag"] == .string(fixedTags.tag.hex))
        #expect(j["flags"] == .string("8000000000000000"))
        #expect(j["user_data"] == .string("010203"))
        #expect(j["signature_length"] == .int(256))
        guard case let .array(slots)? = j["keyslots"] else {
            Issue.record("keyslots is not an array")
            return
        }
        #expect(slots.count == 2)
        for (slot, expected) in zip(slots, req.keyslots) {
            #expect(slot["host_key_hash"] == .string(expected.hostKeyHash.hex))
        }
        #expect(try slots.map { s -> String in
            guard case let .string(h)? = s["host_key_hash"] else { return "" }
            return h
        } == Keys.hosts.prefix(2).map { independentHostKeyHash($0.publicKey).hex })
        // The output is valid JSON.
        #expect(try JSON.parse(j.serialized()) == j)
    }

    @Test("nulls: config_uid when zero, secret_id for meta and update-CCK")
    func nulls() throws {
        let meta = try inspect(try quickRequest())
        #expect(meta["config_uid"] == .null)
        #expect(meta["secret_id"] == .null)
        #expect(meta["secret_type"] == .string("null"))
        #expect(meta["secret_length"] == .int(0))
        #expect(meta["encrypted_length"] == .int(32))
        #expect(meta["disable_dump"] == .bool(false))
        #expect(meta["user_data_type"] == .string("none"))
        #expect(meta["user_data"] == nil && meta["signature_length"] == nil)
        guard case let .array(slots)? = meta["keyslots"] else {
            Issue.record("keyslots is not an array")
            return
        }
        #expect(slots.count == 1)

        let cck = try inspect(try quickRequest(secret: .updateCCK(Random.secureBytes(32))))
        #expect(cck["secret_id"] == .null)
        #expect(cck["secret_type"] == .string("update-cck"))

        let named = try inspect(try quickRequest(secret: .association(id: SecretID.rawName("pairing")!, value: Random.secureBytes(32))))
        #expect(named["secret_name"] == .string("pairing"))
        #expect(named["secret_id"] == .string(SecretID.rawName("pairing")!.hex))
    }

    /// The top-level keys of `inspect --json`: the interface scripts rely on,
    /// and nothing else. A key added to the output must be added here, after
    /// checking that it holds nothing encrypted.
    static let interfaceKeys: Set<String> = [
        "user_data_type", "version", "length", "encrypted_length", "keyslots", "flags", "disable_dump", "config_uid",
        "se_header_tag", "secret_type", "secret_id", "secret_name", "secret_length", "tag", "sha256", "pin_digest",
        "user_data", "signature_length", "freshness",
    ]

    @Test("only the interface keys; keyslots carry only the host-key hash")
    func onlyInterfaceKeys() throws {
        let j = try inspect(try quickRequest(secret: .retrievable(.plain, id: .repeating(1, 32), value: Random.secureBytes(32)),
                                             hosts: 2, userData: .signed([1, 2, 3], key: Keys.tenant)))
        guard case let .object(members) = j, case let .array(slots)? = j["keyslots"] else {
            Issue.record("the output is not an object with a keyslots array")
            return
        }
        #expect(Set(members.map(\.0)) == Self.interfaceKeys)
        for slot in slots {
            guard case let .object(fields) = slot else { Issue.record("a keyslot is not an object"); continue }
            #expect(fields.map(\.0) == ["host_key_hash"])
        }
    }

    /// inspect has no key, so it cannot print the secret; what it could print
    /// is what the request carries encrypted or wrapped: the ciphertext (the
    /// secret and the extension secret under the protection key) and each
    /// keyslot's wrapped protection key and keyslot tag. None of it, nor any
    /// 8-byte piece of it, nor the inputs the builder encrypted (the value,
    /// the protection key), may appear in the output.
    @Test("the output holds none of the encrypted payload, the wrapped keys or the builder's secrets")
    func noEncryptedOrSecretBytes() throws {
        let value = Random.bytes(32)
        let protectionKey = Random.bytes(32)
        var b = RequestBuilder(secret: .retrievable(.aes256, id: .repeating(1, 32), value: SecureBytes(copying: value)),
                               hostKeys: Keys.hosts.prefix(2).map(\.publicKey), tags: fixedTags)
        b.protectionKey = SecureBytes(copying: protectionKey)
        b.userData = .unsigned([5, 6, 7])
        let bytes = try b.build()
        let req = try AddSecretRequest.parse(bytes)
        let wrapped = (0..<2).map { i in Array(bytes[(0x4B8 + 80 * i + 32)..<(0x4B8 + 80 * i + 80)]) }
        let text = try inspect(bytes).serialized().lowercased()
        func pieces(_ b: [UInt8]) -> [String] { stride(from: 0, through: b.count - 8, by: 1).map { Array(b[$0..<($0 + 8)]).hex } }
        var shown: [String] = []
        for (what, secretBytes) in [("ciphertext", Array(req.ciphertext)), ("wrapped key 0", wrapped[0]), ("wrapped key 1", wrapped[1]),
                                    ("value", value), ("protection key", protectionKey)]
        where pieces(secretBytes).contains(where: { text.contains($0) }) {
            shown.append(what)
        }
        #expect(shown.isEmpty, "inspect prints bytes of: \(shown)")
        // The check sees what is printed: the user data and the GCM tag are.
        #expect(text.contains("050607") && text.contains(req.gcmTag.hex))
    }
}
