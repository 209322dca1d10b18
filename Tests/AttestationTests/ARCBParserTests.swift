// The strict ARCB parser: every validity rule under its name, on a valid
// ARCB built by the workbench's builder and changed in one place.
import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import RequestBuilding
import TestSupport

func validARCB(hosts: Int = 1, nonce: Bool = true, additional: AttestationFlags = [.imagePHKH]) throws -> [UInt8] {
    var b = AttestationRequestBuilder(hostKeys: Keys.hosts.prefix(hosts).map(\.publicKey), additionalData: additional)
    b.includeNonce = nonce
    return try b.build().arcb
}

@Suite struct AttestationFlagsTests {
    @Test("MSB0 bit numbering: bit n is 1 << (63 - n)")
    func msb0() {
        #expect(AttestationFlags.bit(0) == 0x8000_0000_0000_0000)
        #expect(AttestationFlags.bit(63) == 1)
        #expect(AttestationFlags.nonce.rawValue == 0x4000_0000_0000_0000)
        #expect(AttestationFlags.imagePHKH.rawValue == 0x2000_0000_0000_0000)
        #expect(AttestationFlags.attestationPHKH.rawValue == 0x1000_0000_0000_0000)
        #expect(AttestationFlags.secretStoreHash.rawValue == 0x0800_0000_0000_0000)
        #expect(AttestationFlags.firmwareState.rawValue == 0x0400_0000_0000_0000)
        #expect(AttestationFlags.known.rawValue == 0x7C00_0000_0000_0000)
    }

    @Test("additional-data sizes per flag, in bit order")
    func sizes() {
        #expect(AttestationFlags([]).additionalDataSize == 0)
        #expect(AttestationFlags.nonce.additionalDataSize == 0)
        #expect(AttestationFlags([.imagePHKH, .attestationPHKH]).additionalDataSize == 64)
        #expect(AttestationFlags.secretStoreHash.additionalDataSize == 64)
        #expect(AttestationFlags.firmwareState.additionalDataSize == 320)
        #expect(AttestationFlags.additionalData.additionalDataSize == 448)
        #expect(AttestationFlags([.firmwareState, .imagePHKH]).additionalDataNames == ["phkh-img", "firmware-state"])
    }
}

@Suite struct ARCBParserRules {
    @Test func validRequestsParse() throws {
        for (hosts, nonce) in [(1, true), (2, false), (7, true)] {
            let b = try validARCB(hosts: hosts, nonce: nonce)
            let r = try AttestationRequest.parse(b)
            #expect(r.keyslots.count == hosts)
            #expect(r.hasNonce == nonce)
            #expect(r.encryptedSize == (nonce ? 80 : 64))
            #expect(r.length == 0xE0 + 80 * hosts + r.encryptedSize + 16)
            #expect(r.keyslots.map(\.hostKeyHash) == (try Keys.hosts.prefix(hosts).map { try RequestKeys.hostKeyHash($0.publicKey) }))
        }
    }

    @Test func emptyAndOversize() {
        expectARCBRule([], .empty)
        expectARCBRule([UInt8](repeating: 0, count: ARCBLayout.maxSize + 1), .oversize)
    }

    @Test func magicMustBeZero() throws {
        for i in 0..<8 {
            var b = try validARCB(); b[i] = 1
            #expect(expectARCBRule(b, .notARCB)?.offset == i)
        }
        // An add-secret request is not an ARCB.
        var asr = Array("asrcbM".utf8) + [0, 0]
        asr += [UInt8](repeating: 0, count: 400)
        expectARCBRule(asr, .notARCB)
    }

    @Test func version() throws {
        var b = try validARCB(); b[0x0A] = 0x02
        expectARCBRule(b, .badVersion)
    }

    @Test func lengthIsTheFile() throws {
        let b = try validARCB()
        expectARCBRule(Array(b.dropLast()), .truncated)
        expectARCBRule(b + [0], .trailingBytes)
        expectARCBRule(Array(b[0..<0x20]), .truncated)
        expectARCBRule(Array(b[0..<0x3A]), .truncated)
        // rql declares less than 0x40 bytes and the file has exactly that many.
        var short = Array(b[0..<0x38]); short.writeBE(UInt32(0x38), at: 0x0C)
        expectARCBRule(short, .truncated)
    }

    @Test func reservedBytesAreZero() throws {
        for off in [0x1C, 0x1F, 0x20, 0x26, 0x28, 0x2B, 0x3C, 0x3F] {
            var b = try validARCB(); b[off] = 0x80
            #expect(expectARCBRule(b, .reservedNotZero)?.offset == off)
        }
    }

    @Test func atLeastOneKeyslot() throws {
        var b = try validARCB(); b[0x27] = 0
        expectARCBRule(b, .noKeyslots)
    }

    @Test func onlyFlagsOneToFive() throws {
        for bit in [0, 6, 31, 62, 63] {
            var b = try validARCB()
            b.writeBE(b.readBE(UInt64.self, at: 0x30) | AttestationFlags.bit(bit), at: 0x30)
            expectARCBRule(b, .unknownFlags)
        }
    }

    @Test func measurementAlgorithmIsHMACSHA512() throws {
        for mai: UInt32 in [0, 2, 0x100, 0xFFFF_FFFF] {
            var b = try validARCB(); b.writeBE(mai, at: 0x38)
            expectARCBRule(b, .badMeasurementAlgorithm)
        }
    }

    @Test func encryptedSizeMatchesTheNonceFlag() throws {
        // Nonce flag cleared, sea still 80.
        var b = try validARCB(nonce: true)
        b.writeBE(b.readBE(UInt64.self, at: 0x30) & ~AttestationFlags.nonce.rawValue, at: 0x30)
        expectARCBRule(b, .badEncryptedSize)
        // Nonce flag set, sea 64.
        var c = try validARCB(nonce: false)
        c.writeBE(c.readBE(UInt64.self, at: 0x30) | AttestationFlags.nonce.rawValue, at: 0x30)
        expectARCBRule(c, .badEncryptedSize)
        // sea 96 with the flag.
        var d = try validARCB(); d.writeBE(UInt32(96), at: 0x2C)
        expectARCBRule(d, .badEncryptedSize)
    }

    @Test func lengthMatchesKeyslotsAndEncryptedArea() throws {
        var b = try validARCB(hosts: 2); b[0x27] = 1
        expectARCBRule(b, .badLength)
        var c = try validARCB(hosts: 1); c[0x27] = 2
        expectARCBRule(c, .badLength)
    }

    /// Never a trap: every truncation is refused, and of the first 0x40
    /// bytes only the IV may change (all bits) and still parse — every other
    /// byte is under a rule.
    @Test func noTrapOnAnyPrefixOrChange() throws {
        let b = try validARCB(hosts: 2)
        for n in 0..<b.count { #expect(throws: ARCBFormatError.self) { _ = try AttestationRequest.parse(Array(b[0..<n])) } }
        for i in 0..<0x40 {
            var c = b; c[i] ^= 0xFF
            let inIV = (0x10..<0x1C).contains(i)
            do {
                let r = try AttestationRequest.parse(c)
                #expect(inIV, "byte \(i) changed and still accepted")
                #expect(r.iv == Array(c[0x10..<0x1C]))
            } catch {
                #expect(!inIV, "IV byte \(i) changed: \(error)")
            }
        }
    }
}

@Suite struct AdditionalDataTests {
    let all: AttestationFlags = .additionalData
    let fields = AdditionalData(imagePHKH: [UInt8].repeating(1, 32), attestationPHKH: [UInt8].repeating(2, 32),
                                secretStoreHash: [UInt8].repeating(3, 64), firmwareState: [UInt8].repeating(4, 320))

    @Test func buildAndParseInBitOrder() throws {
        let b = try fields.bytes(for: all)
        #expect(b.count == 448)
        #expect(Array(b[0..<32]) == [UInt8].repeating(1, 32) && Array(b[32..<64]) == [UInt8].repeating(2, 32))
        #expect(Array(b[64..<128]) == [UInt8].repeating(3, 64) && Array(b[128...]) == [UInt8].repeating(4, 320))
        #expect(try AdditionalData.parse(b, flags: all) == fields)
        // Only some flags: the others' fields are not there at all.
        let some = AdditionalData(attestationPHKH: [UInt8].repeating(2, 32), secretStoreHash: [UInt8].repeating(3, 64))
        let sb = try some.bytes(for: [.attestationPHKH, .secretStoreHash])
        #expect(sb == [UInt8].repeating(2, 32) + [UInt8].repeating(3, 64))
        #expect(try AdditionalData.parse(sb, flags: [.attestationPHKH, .secretStoreHash]) == some)
        #expect(try AdditionalData.parse([], flags: .nonce) == AdditionalData())
    }

    @Test func shortDataNamesTheMissingField() throws {
        let b = try fields.bytes(for: all)
        #expect(throws: AdditionalData.Invalid.missing(.firmwareState, available: 319)) {
            _ = try AdditionalData.parse(Array(b.dropLast()), flags: all)
        }
        #expect(throws: AdditionalData.Invalid.missing(.imagePHKH, available: 0)) { _ = try AdditionalData.parse([], flags: .imagePHKH) }
    }

    @Test func extraBytesAreUnrecognized() throws {
        let p = try AdditionalData.parse([UInt8].repeating(1, 32) + [9, 9], flags: .imagePHKH)
        #expect(p.imagePHKH == [UInt8].repeating(1, 32) && p.unrecognized == [9, 9])
        #expect(try p.bytes(for: .imagePHKH) == [UInt8].repeating(1, 32) + [9, 9])
    }

    @Test func buildingChecksTheFlags() {
        #expect(throws: AdditionalData.Invalid.notGiven(.secretStoreHash)) {
            _ = try AdditionalData(imagePHKH: [UInt8].repeating(1, 32)).bytes(for: [.imagePHKH, .secretStoreHash])
        }
        #expect(throws: AdditionalData.Invalid.notRequested(.attestationPHKH)) {
            _ = try AdditionalData(imagePHKH: [UInt8].repeating(1, 32), attestationPHKH: [UInt8].repeating(2, 32)).bytes(for: .imagePHKH)
        }
        #expect(throws: AdditionalData.Invalid.wrongSize(.imagePHKH, 31)) {
            _ = try AdditionalData(imagePHKH: [UInt8].repeating(1, 31)).bytes(for: .imagePHKH)
        }
    }
}
