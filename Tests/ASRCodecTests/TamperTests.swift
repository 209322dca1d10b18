// Tampering: no single-byte change survives the user-data signature
// (add-secret-request.md §4.3) or the request's AES-GCM authentication
// (§5.1), at any offset.
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import RequestBuilding

@Suite struct TamperTests {
    enum Signer: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case ecP521, rsa2048, rsa3072
        var key: PrivateKey {
            switch self {
            case .ecP521: return Keys.tenant
            case .rsa2048: return Keys.rsa2048
            case .rsa3072: return Keys.rsa3072
            }
        }
        var testDescription: String { rawValue }
    }

    /// Every byte of [0, rql − 16) flipped (two different bit masks): the
    /// request either no longer parses or its signature is not valid.
    @Test("a flipped byte anywhere in the signed part breaks the signature", arguments: Signer.allCases)
    func signatureCoversEverything(signer: Signer) throws {
        let value = SecretValue.hmacK0(Random.secureBytes(10), sha512: false)
        let bytes = try quickRequest(secret: .retrievable(.hmacSHA256, id: .repeating(7, 32), value: value),
                                     userData: .signed(Array("tamper test".utf8), key: signer.key),
                                     configUID: .repeating(0x42, 16))
        let pub = signer.key.publicKey
        #expect(UserDataSignature.verify(try AddSecretRequest.parse(bytes), with: pub) == .valid)

        var parseFailures = 0, badSignatures = 0
        for offset in 0..<(bytes.count - 16) {
            for mask: UInt8 in [0x01, 0x80] {
                var t = bytes
                t[offset] ^= mask
                guard let req = try? AddSecretRequest.parse(t) else { parseFailures += 1; continue }
                let verdict = UserDataSignature.verify(req, with: pub)
                #expect(verdict != .valid, "flip 0x\(String(mask, radix: 16)) at offset \(offset) still verifies")
                if offset >= 8 {
                    // The user-data type (bytes 6-7) is untouched: only the signature can object.
                    #expect(verdict == .badSignature, "flip at offset \(offset) gives \(verdict)")
                }
                if verdict == .badSignature { badSignatures += 1 }
            }
        }
        // Most flips (ciphertext, keyslots, tags, user data) parse and are caught by the signature.
        #expect(badSignatures > bytes.count)
        #expect(parseFailures + badSignatures > 0)
    }

    /// Flipping the GCM tag does not affect the signature (it is not signed),
    /// but the ultravisor rejects the request (next test).
    @Test("the GCM tag is outside the signed message")
    func tagIsNotSigned() throws {
        let bytes = try quickRequest(userData: .signed([1, 2, 3], key: Keys.tenant))
        var t = bytes
        t[t.count - 1] ^= 1
        #expect(UserDataSignature.verify(try AddSecretRequest.parse(t), with: Keys.tenant.publicKey) == .valid)
    }

    /// Every byte of the file flipped: the request no longer parses, or the
    /// ultravisor-side decryption fails, with the failure that fits the region.
    @Test("a flipped byte anywhere in the file breaks decryption")
    func decryptionCoversEverything() throws {
        let host = Keys.hosts[0]
        let bytes = try quickRequest(secret: .association(id: .repeating(9, 32), value: Random.secureBytes(32)),
                                     userData: .unsigned(Array("tamper test".utf8)), configUID: .repeating(0x42, 16),
                                     tags: randomTags())
        _ = try RequestDecryption.decrypt(try AddSecretRequest.parse(bytes), hostKey: host)
        let slot = 0x4B8
        let sh = secretHeaderOffset(nks: 1)
        // Fields whose every value is checked by the parser (§15): magic,
        // user-data type, version, rql, reserved words, nks, sea, the 256
        // reserved bytes and the secret header's type/length/reserved words.
        let structural = [0..<0x10, 0x1C..<0x30, 0x118..<0x218, sh..<(sh + 16)]
        var parseFailures = 0, decryptAttempts = 0
        for offset in 0..<bytes.count {
            var t = bytes
            t[offset] ^= 0x01
            guard let req = try? AddSecretRequest.parse(t) else {
                parseFailures += 1
                #expect(structural.contains { $0.contains(offset) }, "a flip at \(offset) outside the checked fields is refused by the parser")
                continue
            }
            decryptAttempts += 1
            let failure: RequestDecryption.Failure?
            do {
                _ = try RequestDecryption.decrypt(req, hostKey: host)
                failure = nil
            } catch let f as RequestDecryption.Failure {
                failure = f
            }
            switch offset {
            case 0x418..<slot:
                #expect(failure == .invalidCustomerKey || failure == .keyslotUnwrapFailed, "customer key flip at \(offset): \(String(describing: failure))")
            case slot..<(slot + 32):
                #expect(failure == .noKeyslotForHost, "host-key hash flip at \(offset): \(String(describing: failure))")
            case (slot + 32)..<(slot + 80):
                #expect(failure == .keyslotUnwrapFailed, "keyslot flip at \(offset): \(String(describing: failure))")
            default:
                #expect(failure == .authenticationFailed, "flip at \(offset): \(String(describing: failure))")
            }
        }
        #expect(parseFailures + decryptAttempts == bytes.count)
        // Everything else (IV, flags, SE tags, CUID, user data, keys, secret ID, ciphertext, tag) parses
        // and reaches the decryption.
        #expect(decryptAttempts >= bytes.count - structural.map(\.count).reduce(0, +))
    }

    @Test("a request only decrypts with the private key of a listed host")
    func wrongHostKey() throws {
        let bytes = try quickRequest(hosts: 2)
        let req = try AddSecretRequest.parse(bytes)
        #expect(throws: RequestDecryption.Failure.noKeyslotForHost) {
            _ = try RequestDecryption.decrypt(req, hostKey: Keys.outsider)
        }
        // Claiming another host's slot with the wrong private key fails to unwrap.
        let claimed = try RequestKeys.hostKeyHash(Keys.hosts[1].publicKey)
        #expect(throws: RequestDecryption.Failure.keyslotUnwrapFailed) {
            _ = try RequestDecryption.decrypt(req, hostKey: Keys.outsider, hostKeyHash: claimed)
        }
    }
}
