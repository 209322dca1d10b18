// The format oracle: requests opened with libcrypto calls written here, from
// the offsets and steps of add-secret-request.md §1, §5 and §6 — never with
// ASRCodec's parser or RequestDecryption, never with SECrypto. What goes in is
// compared with what comes out; a builder that puts a field in the wrong
// place, leaves a range out of the AAD or derives the KEK differently fails.
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import CLibcrypto
import SEVocabulary
import RequestBuilding

/// The fields of a request as this file reads them (offsets from the reference).
struct PlainLayout {
    let bytes: [UInt8]
    var rql: Int { Int(bytes.readBE(UInt32.self, at: 0x0C)) }
    var iv: [UInt8] { Array(bytes[0x10..<0x1C]) }
    var nks: Int { Int(bytes[0x27]) }
    var sea: Int { Int(bytes.readBE(UInt32.self, at: 0x2C)) }
    var aadLength: Int { rql - sea - 16 }
    var customerX: [UInt8] { Array(bytes[0x418..<0x468]) }
    var customerY: [UInt8] { Array(bytes[0x468..<0x4B8]) }
    func keyslot(_ i: Int) -> [UInt8] { Array(bytes[(0x4B8 + 80 * i)..<(0x4B8 + 80 * (i + 1))]) }
    var secretHeaderOffset: Int { 0x4B8 + 80 * nks }
    var secretType: UInt16 { bytes.readBE(UInt16.self, at: secretHeaderOffset + 2) }
    var secretLength: Int { Int(bytes.readBE(UInt32.self, at: secretHeaderOffset + 4)) }
}

/// What plain libcrypto recovered from a request, or why it could not.
enum PlainOpening: Equatable {
    case opened(value: [UInt8], extensionSecret: [UInt8], slot: Int)
    case refused(String)

    /// Whether the opening gave exactly `value` ‖ `extensionSecret` (a Bool,
    /// so that failing expectations never print secret bytes).
    func gave(_ value: [UInt8], _ extensionSecret: [UInt8]) -> Bool {
        guard case let .opened(v, e, _) = self else { return false }
        return v == value && e == extensionSecret
    }

    var refusal: String? { if case let .refused(why) = self { return why } else { return nil } }
}

enum PlainRequestOpener {
    /// PHKH = SHA-256(X80 ‖ Y80) of an uncompressed P-521 point (04 ‖ X66 ‖ Y66).
    static func hostKeyHash(point: [UInt8]) -> [UInt8] {
        libcryptoDigest(Array(point[1..<67]).leftPadded(to: 80) + Array(point[67..<133]).leftPadded(to: 80))
    }

    /// Opens `bytes` with the key `own`:
    /// - the ultravisor's side: `own` = the host private key, `peer` nil (the
    ///   customer public key at 0x418 is taken from the request);
    /// - the requester's side: `own` = the customer private key, `peer` = the
    ///   host public key (ECDH is symmetric).
    /// Steps: the keyslot whose PHKH is the host's; Z = ECDH; KEK =
    /// SHA-256(Z ‖ 00 00 00 01); protection key = AES-256-GCM-open(KEK, IV 0,
    /// no AAD, slot +0x20..+0x40, tag slot +0x40..+0x50); value ‖ extension
    /// secret = AES-256-GCM-open(protection key, IV at 0x10, AAD [0, rql −
    /// sea − 16), tag = the last 16 bytes).
    static func open(_ bytes: [UInt8], own: OpaquePointer, peer: OpaquePointer?, hostPoint: [UInt8]) -> PlainOpening {
        guard bytes.count >= 0x4B8, Array(bytes[0..<6]) == Array("asrcbM".utf8) else { return .refused("no request header") }
        let r = PlainLayout(bytes: bytes)
        guard r.rql == bytes.count, r.sea >= 32, r.aadLength >= r.secretHeaderOffset + 16 else { return .refused("lengths") }
        guard r.secretLength == r.sea - 32 else { return .refused("secret header length is not sea − 32") }
        let phkh = hostKeyHash(point: hostPoint)
        guard let slot = (0..<r.nks).first(where: { Array(r.keyslot($0)[0..<32]) == phkh }) else {
            return .refused("no keyslot for this host")
        }
        let customerPublic = peer == nil ? PlainLibcrypto.p521PublicKey(x80: r.customerX, y80: r.customerY) : nil
        defer { if let customerPublic { EVP_PKEY_free(customerPublic) } }
        guard let other = peer ?? customerPublic else { return .refused("customer key is not a P-521 point") }
        guard let z = PlainLibcrypto.ecdh(own, other), z.count == 66 else { return .refused("ECDH") }
        let kek = libcryptoDigest(z + [0, 0, 0, 1])
        let s = r.keyslot(slot)
        guard let protectionKey = PlainLibcrypto.aes256GCMOpen(key: kek, iv: .repeating(0, 12), aad: [],
                                                               ciphertext: Array(s[32..<64]), tag: Array(s[64..<80])) else {
            return .refused("keyslot does not unwrap")
        }
        guard let plain = PlainLibcrypto.aes256GCMOpen(key: protectionKey, iv: r.iv, aad: Array(bytes[0..<r.aadLength]),
                                                       ciphertext: Array(bytes[r.aadLength..<(r.rql - 16)]),
                                                       tag: Array(bytes[(r.rql - 16)...])) else {
            return .refused("request does not authenticate")
        }
        return .opened(value: Array(plain.dropLast(32)), extensionSecret: Array(plain.suffix(32)), slot: slot)
    }
}

/// A P-521 key known both to libcrypto directly and to SECrypto.
struct DualKey: @unchecked Sendable {
    let plain: OpaquePointer
    let point: [UInt8]
    let secrypto: PrivateKey

    init(label: String) throws {
        let scalar = [0] + libcryptoDigest(Array(label.utf8), sha512: true)  // 65 bytes, below the group order
        (plain, point) = try PlainLibcrypto.p521KeyPair(scalar: scalar)
        secrypto = try PrivateKey.p521(scalar: SecureBytes(copying: scalar))
    }
}

@Suite struct IndependentDecryption {
    /// The simulated host (fixed) and two strangers whose slots come first.
    static let host = try! DualKey(label: "se-secretd oracle: simulated host")
    static let strangers = [try! DualKey(label: "se-secretd oracle: stranger 1"),
                            try! DualKey(label: "se-secretd oracle: stranger 2")]

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let type: UInt16
        /// The encrypted value, as the reference encodes it (§7), built here.
        let value: [UInt8]
        let slotsBefore: Int
        let userData: Int  // 0 none, 1 unsigned, 2 EC-signed
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "meta", type: 0x0001, value: [], slotsBefore: 0, userData: 0),
        Case(name: "association", type: 0x0002, value: .repeating(0xA5, 32), slotsBefore: 1, userData: 0),
        Case(name: "plaintext", type: 0x0003, value: referencePlaintextEncoding(Array("oracle plaintext payload".utf8)),
             slotsBefore: 0, userData: 1),
        Case(name: "plaintext, 8190-byte payload", type: 0x0003, value: referencePlaintextEncoding(.repeating(0x3C, 8190)),
             slotsBefore: 2, userData: 0),
        Case(name: "AES-256", type: 0x0006, value: libcryptoDigest(Array("aes".utf8)), slotsBefore: 2, userData: 2),
        Case(name: "AES-XTS-256", type: 0x0008, value: libcryptoDigest(Array("xts".utf8), sha512: true), slotsBefore: 0, userData: 0),
        Case(name: "HMAC-SHA-512", type: 0x000A, value: .repeating(0x77, 128), slotsBefore: 1, userData: 1),
        Case(name: "EC P-521 (80 bytes)", type: 0x0013, value: [UInt8](repeating: 0, count: 14) + .repeating(0x01, 66),
             slotsBefore: 0, userData: 0),
        Case(name: "update-CCK", type: 0x0016, value: .repeating(0x5A, 32), slotsBefore: 1, userData: 0),
    ]

    static func build(_ c: Case, extensionSecret: [UInt8]) throws -> [UInt8] {
        let id = libcryptoDigest(Array("oracle \(c.name)".utf8))
        let value = SecureBytes(copying: c.value)
        let secret: RequestBuilder.Secret
        switch c.type {
        case 0x0001: secret = .meta
        case 0x0002: secret = .association(id: id, value: value)
        case 0x0016: secret = .updateCCK(value)
        default: secret = .retrievable(SecretType(rawValue: c.type)!, id: id, value: value)
        }
        let hosts = strangers.prefix(c.slotsBefore).map(\.secrypto.publicKey) + [host.secrypto.publicKey]
        var b = RequestBuilder(secret: secret, hostKeys: hosts, tags: randomTags())
        b.extensionSecret = .simple(SecureBytes(copying: extensionSecret))
        b.configUID = Random.bytes(16)
        switch c.userData {
        case 1: b.userData = .unsigned(Array("unsigned oracle data".utf8))
        case 2: b.userData = .signed(Array("signed oracle data".utf8), key: Keys.tenant)
        default: break
        }
        return try b.build()
    }

    @Test("builder requests open with plain libcrypto on the host's side", arguments: cases)
    func builderRequestsOpenOnTheHostSide(_ c: Case) throws {
        let ext = Random.bytes(32)
        let bytes = try Self.build(c, extensionSecret: ext)
        let r = PlainLayout(bytes: bytes)
        #expect(r.secretType == c.type)
        #expect(r.nks == c.slotsBefore + 1)
        let opening = PlainRequestOpener.open(bytes, own: Self.host.plain, peer: nil, hostPoint: Self.host.point)
        #expect(opening.refusal == nil)
        let recovered = opening.gave(c.value, ext)  // a Bool first: no secret bytes in a failure message
        #expect(recovered, "value ‖ extension secret as they went in")
        if case let .opened(_, _, slot) = opening { #expect(slot == c.slotsBefore) }
        // Nobody else's slot opens it.
        #expect(PlainRequestOpener.open(bytes, own: Self.strangers[0].plain, peer: nil,
                                        hostPoint: Self.host.point).refusal == "keyslot does not unwrap")
    }

    /// One byte changed in each part of the AAD (header, reserved words,
    /// flags, tags, CUID, reserved area, user data, a stranger's keyslot,
    /// secret header) and in the ciphertext and tag. The oracle refuses every
    /// one by AES-GCM's definition; the point is se-secretd's side: its
    /// parser or its RequestDecryption (what the simulated ultravisor uses)
    /// must refuse every one too, so that no range the real ultravisor
    /// authenticates is one se-secretd's decryption skips.
    @Test("every AAD range is authenticated, by the oracle and by se-secretd")
    func everyAADRangeIsAuthenticated() throws {
        let c = Self.cases[6]  // a stranger's slot first, unsigned user data
        #expect(c.slotsBefore == 1 && c.userData == 1)
        let bytes = try Self.build(c, extensionSecret: Random.bytes(32))
        let r = PlainLayout(bytes: bytes)
        let positions = [0x06 + 1, 0x1C, 0x20, 0x28, 0x30, 0x38, 0x78, 0xB8, 0xF8, 0x108, 0x118, 0x217, 0x218, 0x417,
                         0x4B8 + 10, 0x4B8 + 40, 0x4B8 + 79, r.secretHeaderOffset, r.secretHeaderOffset + 47,
                         r.aadLength, r.rql - 17, r.rql - 1]
        for p in positions {
            var bad = bytes
            bad[p] ^= 0x01
            let refusal = PlainRequestOpener.open(bad, own: Self.host.plain, peer: nil, hostPoint: Self.host.point).refusal
            #expect(refusal == "request does not authenticate", "byte 0x\(String(p, radix: 16))")
            #expect(throws: (any Error).self, "se-secretd accepts a request with byte 0x\(String(p, radix: 16)) changed") {
                _ = try RequestDecryption.decrypt(try AddSecretRequest.parse(bad), hostKey: Self.host.secrypto)
            }
        }
        // And the unchanged request opens on se-secretd's side as well.
        #expect(throws: Never.self) {
            _ = try RequestDecryption.decrypt(try AddSecretRequest.parse(bytes), hostKey: Self.host.secrypto)
        }
    }
}
