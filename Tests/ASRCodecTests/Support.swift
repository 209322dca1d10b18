// Shared fixtures for the ASR codec acceptance tests.
//
// Rules followed by every test in this target:
// - keys are TestSupport's `Keys`, generated once per test process (RSA key generation is slow);
// - secret values (test data, but treated as secrets) are only ever compared
//   through a Bool computed *before* `#expect`, so that a failure never
//   prints them (Swift Testing prints the operands of a failed expectation);
// - no timing assertions.
import Testing
import SEBase
import SECrypto
import ASRCodec
import CLibcrypto
import RequestBuilding
import TestSupport

/// Random SE-header tags.
func randomTags() -> SEHeaderTags {
    SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
}

/// `secure` holds exactly `expected`. Returns a Bool so that callers can
/// `#expect` it without the values showing up in a failure message.
func sameSecret(_ secure: SecureBytes, _ expected: [UInt8]) -> Bool { secure.equals(expected) }

/// The info string of the extension-secret HKDF (add-secret-request.md §9).
let extensionSecretInfo = Array("IBM Z Ultravisor Add-Secret".utf8)

/// HKDF-SHA-512 (RFC 5869), written here from the RFC on top of plain
/// SHA-512 (libcrypto's EVP_Digest), independently of SECrypto's HKDF; for
/// outputs up to 64 bytes (one expand block).
func independentHKDFSHA512(ikm: [UInt8], salt: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
    precondition(length <= 64)
    let prk = hmacSHA512(key: salt, data: ikm)
    return Array(hmacSHA512(key: prk, data: info + [0x01]).prefix(length))
}

/// HMAC-SHA-512 (RFC 2104 / FIPS 198-1), block size 128.
func hmacSHA512(key: [UInt8], data: [UInt8]) -> [UInt8] {
    let k0 = (key.count > 128 ? libcryptoDigest(key, sha512: true) : key).rightPadded(to: 128)
    let inner = libcryptoDigest(k0.map { $0 ^ 0x36 } + data, sha512: true)
    return libcryptoDigest(k0.map { $0 ^ 0x5C } + inner, sha512: true)
}

/// SHA-256 / SHA-512 through libcrypto's EVP_Digest (not SECrypto).
func libcryptoDigest(_ data: [UInt8], sha512: Bool = false) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: sha512 ? 64 : 32)
    var len: UInt32 = 0
    let ok = data.withUnsafeBytes { d in
        EVP_Digest(d.baseAddress, d.count, &out, &len, sha512 ? EVP_sha512() : EVP_sha256(), nil)
    }
    precondition(ok == 1)
    return out
}

/// The PSS salt length of an RSA-PSS/SHA-512/MGF1-SHA-512 signature, found
/// by opening the signature with the raw RSA public operation and decoding
/// EMSA-PSS (RFC 8017 §9.1.2) here. Nil if the encoding is not PSS.
func pssSaltLength(signature: [UInt8], publicKeyDER: [UInt8], modulusBits: Int) -> Int? {
    let pkey: OpaquePointer? = publicKeyDER.withUnsafeBufferPointer { buf in
        var p: UnsafePointer<UInt8>? = buf.baseAddress
        return d2i_PUBKEY(nil, &p, buf.count)
    }
    guard let key = pkey else { return nil }
    defer { EVP_PKEY_free(key) }
    guard let ctx = EVP_PKEY_CTX_new(key, nil) else { return nil }
    defer { EVP_PKEY_CTX_free(ctx) }
    // RSA without padding: "encrypting" the signature is s^e mod n = EM.
    guard EVP_PKEY_encrypt_init(ctx) == 1, EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 else { return nil }
    var outLen = 0
    guard EVP_PKEY_encrypt(ctx, nil, &outLen, signature, signature.count) == 1 else { return nil }
    var m = [UInt8](repeating: 0, count: outLen)
    guard EVP_PKEY_encrypt(ctx, &m, &outLen, signature, signature.count) == 1 else { return nil }
    let emBits = modulusBits - 1
    let emLen = (emBits + 7) / 8
    let em = Array(m[(outLen - emLen)...])
    let hLen = 64
    guard em.count == emLen, em.last == 0xBC, emLen >= hLen + 2 else { return nil }
    let maskedDB = Array(em[0..<(emLen - hLen - 1)])
    let h = Array(em[(emLen - hLen - 1)..<(emLen - 1)])
    // MGF1 with SHA-512.
    var mask: [UInt8] = []
    var counter: UInt32 = 0
    while mask.count < maskedDB.count {
        var c: [UInt8] = []
        c.appendBE(counter)
        mask += libcryptoDigest(h + c, sha512: true)
        counter += 1
    }
    var db = zip(maskedDB, mask).map { $0 ^ $1 }
    db[0] &= UInt8(0xFF >> (8 * emLen - emBits))
    guard let one = db.firstIndex(where: { $0 != 0 }), db[one] == 0x01 else { return nil }
    return db.count - one - 1
}

/// A small deterministic generator (SplitMix64) for reproducible fuzzing.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds a request whose secret value and extension secret do not matter.
func quickRequest(secret: RequestBuilder.Secret = .meta, hosts: Int = 1, userData: RequestBuilder.UserData = .none,
                  configUID: [UInt8] = .repeating(0, 16), disableDump: Bool = false,
                  pssSaltLength: Int? = nil, tags: SEHeaderTags = fixedTags) throws -> [UInt8] {
    var b = RequestBuilder(secret: secret, hostKeys: Keys.hosts.prefix(hosts).map(\.publicKey), tags: tags)
    b.userData = userData
    b.configUID = configUID
    b.flags.disableDump = disableDump
    b.pssSaltLength = pssSaltLength
    return try b.build()
}

/// Offset of the secret header in a request with `nks` keyslots.
func secretHeaderOffset(nks: Int) -> Int { 0x4B8 + 80 * nks }
