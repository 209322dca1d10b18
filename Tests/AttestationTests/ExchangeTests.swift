// pvattest's exchange format: IBM's files rebuilt from their fixed contents
// and compared by digest, read back, and the eight negative cases of
// rust/pvattest/src/exchange.rs. Source and license: see
// IBMAttestationVectorTests.swift (s390-tools at
// c66495888dc82070512655ab81ae2c9a13713e9f, MIT).
import Testing
import SEBase
import Attestation
import TestSupport

enum ExchangeInputs {
    static let arcb: [UInt8] = [UInt8].repeating(0x11, 16)
    static let measurement: [UInt8] = [UInt8].repeating(0x12, 64)
    static let additional: [UInt8] = [UInt8].repeating(0x13, 32)
    static let cuid: [UInt8] = [UInt8].repeating(0x14, 16)
    static let user: [UInt8] = [UInt8].repeating(0x15, 256)

    struct File: Sendable, CustomTestStringConvertible {
        let path: String
        let sha256: String
        let length: Int
        let build: @Sendable () throws -> [UInt8]
        var testDescription: String { path }
    }

    static func request(additional: Int) throws -> AttestationExchangeRequest {
        try AttestationExchangeRequest(arcb: arcb, measurementSize: 64, additionalDataSize: additional)
    }

    static func response(additional: [UInt8]?, user: [UInt8]?) throws -> AttestationExchangeResponse {
        try AttestationExchangeResponse(arcb: arcb, measurement: measurement, additionalData: additional, userData: user, configUID: cuid)
    }

    static let requests: [File] = [
        File(path: "rust/pvattest/tests/assets/exp/exchange/full_req.bin (= add_req.bin)",
             sha256: "a0f5ba3d4a4c3a76b333cc32b9596ba3c13188fe387ac41d5f73cf75a4e9f6ca", length: 80) { try request(additional: 32).bytes },
        File(path: "rust/pvattest/tests/assets/exp/exchange/min_req.bin",
             sha256: "1c125fe316f27a8c4a9a8d1152471af6e971371dfedca13a4de125b8239dd603", length: 80) { try request(additional: 0).bytes },
    ]

    static let responses: [File] = [
        File(path: "rust/pvattest/tests/assets/exp/exchange/full_resp.bin (= full.bin)",
             sha256: "a8ccad385f107a8f4a692c0b74bb75645fff4dc6a75639b78db8d11fe4afb62c", length: 448) {
            try response(additional: additional, user: user).bytes },
        File(path: "rust/pvattest/tests/assets/exp/exchange/add_resp.bin",
             sha256: "8b27bb99ebfb2a33d7587e8ae1eb424e32d6e89bb2ce7000725edf966b9d4b80", length: 192) {
            try response(additional: additional, user: nil).bytes },
        File(path: "rust/pvattest/tests/assets/exp/exchange/user_resp.bin",
             sha256: "a34389783566a359c9e3bf01330ec9b503a0ebda2a410471f56e4c86420b09e0", length: 416) {
            try response(additional: nil, user: user).bytes },
        File(path: "rust/pvattest/tests/assets/exp/exchange/min_resp.bin",
             sha256: "29288e86a525eecd23705b6183819e43434a50bb0bc4e4e179ce4629f4f33393", length: 160) {
            try response(additional: nil, user: nil).bytes },
        File(path: "rust/pv/tests/assets/exp/exchange.bin",
             sha256: "f48beef24cb7d24d01a5f932dfda636e5af04bd48be40deb13b492ee061f2d61", length: 448) {
            try response(additional: additional, user: [UInt8].repeating(0x13, 256)).bytes },
    ]

    /// user_req.bin: a legacy request with a user entry (256 bytes at 0x50),
    /// which current writers never produce; built with the generic file.
    static let userRequest = File(path: "rust/pvattest/tests/assets/exp/exchange/user_req.bin",
                                  sha256: "e958c4ce09b41b8703c9dc0b4918783ba4f29999c10116e59b8952acceb3403f", length: 336) {
        ExchangeFile(arcb: .data(arcb), measurement: .expected(size: 64), userData: .data(user)).bytes
    }

    static func minReq() throws -> [UInt8] {
        let b = try requests[1].build()
        try #require(sha256Hex(b) == requests[1].sha256)
        return b
    }

    static func minResp() throws -> [UInt8] {
        let b = try responses[3].build()
        try #require(sha256Hex(b) == responses[3].sha256)
        return b
    }
}

@Suite struct IBMExchangeFiles {
    @Test("requests are built byte for byte and read back", arguments: ExchangeInputs.requests)
    func request(_ f: ExchangeInputs.File) throws {
        let bytes = try f.build()
        #expect(bytes.count == f.length)
        #expect(sha256Hex(bytes) == f.sha256, "SHA-256 of \(f.path)")
        let r = try AttestationExchangeRequest.parse(bytes)
        #expect(r.arcb == ExchangeInputs.arcb)
        #expect(r.measurementSize == 64)
        #expect(r.bytes == bytes)
    }

    @Test("responses are built byte for byte and read back", arguments: ExchangeInputs.responses)
    func response(_ f: ExchangeInputs.File) throws {
        let bytes = try f.build()
        #expect(bytes.count == f.length)
        #expect(sha256Hex(bytes) == f.sha256, "SHA-256 of \(f.path)")
        let r = try AttestationExchangeResponse.parse(bytes)
        #expect(r.arcb == ExchangeInputs.arcb)
        #expect(r.measurement == ExchangeInputs.measurement)
        #expect(r.configUID == ExchangeInputs.cuid)
        #expect(r.bytes == bytes, "re-serialized identically")
        // A response is also a request (pvattest perform reads either).
        let asRequest = try AttestationExchangeRequest.parse(bytes)
        #expect(asRequest.measurementSize == 64)
        #expect(asRequest.additionalDataSize == (r.additionalData?.count ?? 0))
    }

    @Test("the parts of full_resp.bin and exchange.bin")
    func responseParts() throws {
        let full = try AttestationExchangeResponse.parse(try ExchangeInputs.responses[0].build())
        #expect(full.additionalData == ExchangeInputs.additional)
        #expect(full.userData == ExchangeInputs.user)
        let ex = try AttestationExchangeResponse.parse(try ExchangeInputs.responses[4].build())
        #expect(ex.userData == [UInt8].repeating(0x13, 256))
        let min = try AttestationExchangeResponse.parse(try ExchangeInputs.minResp())
        #expect(min.additionalData == nil && min.userData == nil)
        let full_req = try AttestationExchangeRequest.parse(try ExchangeInputs.requests[0].build())
        #expect(full_req.additionalDataSize == 32)
    }

    @Test("user_req.bin: built, read as a request with the user entry ignored")
    func legacyUserRequest() throws {
        let f = ExchangeInputs.userRequest
        let bytes = try f.build()
        #expect(bytes.count == f.length)
        #expect(sha256Hex(bytes) == f.sha256, "SHA-256 of \(f.path)")
        let r = try AttestationExchangeRequest.parse(bytes)
        #expect(r.arcb == ExchangeInputs.arcb && r.measurementSize == 64 && r.additionalDataSize == 0)
        #expect(try ExchangeFile.parse(bytes).userData == .data(ExchangeInputs.user))
    }
}

/// The eight negative tests of exchange.rs, each under its rule.
@Suite struct IBMExchangeNegativeCases {
    @Test("resp_no_cuid: a request is not a response (its measurement is only a size)")
    func requestIsNoResponse() throws {
        let b = try ExchangeInputs.minReq()
        expectExchangeRule(.noMeasurement) { _ = try AttestationExchangeResponse.parse(b) }
        // With measurement data but still no CUID entry:
        var f = try ExchangeFile.parse(try ExchangeInputs.minResp())
        f.configUID = .absent
        let noCUID = f.bytes
        expectExchangeRule(.noConfigUID) { _ = try AttestationExchangeResponse.parse(noCUID) }
    }

    @Test("resp_inv_magic")
    func badMagic() throws {
        var b = try ExchangeInputs.minReq()
        b[0] = ~b[0]
        expectExchangeRule(.badMagic) { _ = try AttestationExchangeResponse.parse(b) }
        expectExchangeRule(.badMagic) { _ = try AttestationExchangeRequest.parse(b) }
    }

    @Test("no_arcb")
    func noARCB() throws {
        var b = try ExchangeInputs.minReq()
        for i in 0x18..<0x20 { b[i] = 0 }
        expectExchangeRule(.noARCB) { _ = try AttestationExchangeRequest.parse(b) }
    }

    @Test("small: one byte less than the size field")
    func small() throws {
        var b = try ExchangeInputs.minReq()
        b.removeLast()
        expectExchangeRule(.truncated) { _ = try AttestationExchangeRequest.parse(b) }
    }

    @Test("hdr: 12 bytes with the magic")
    func shortHeader() {
        let b = Array("pvattest".utf8) + [1, 2, 3, 4]
        expectExchangeRule(.truncatedHeader) { _ = try AttestationExchangeRequest.parse(b) }
    }

    @Test("version")
    func version() throws {
        var b = try ExchangeInputs.minReq()
        b[8] = 0xFF
        expectExchangeRule(.badVersion) { _ = try AttestationExchangeRequest.parse(b) }
    }

    @Test("cuid_size: a 15-byte config UID")
    func configUIDSize() throws {
        var b = try ExchangeInputs.minResp()
        b[0x3B] = 0x0F
        expectExchangeRule(.badConfigUIDSize) { _ = try AttestationExchangeResponse.parse(b) }
    }

    @Test("invalid_req: an expected measurement size of 0")
    func zeroMeasurementSize() {
        expectExchangeRule(.noMeasurement) {
            _ = try AttestationExchangeRequest(arcb: ExchangeInputs.arcb, measurementSize: 0, additionalDataSize: 32)
        }
    }
}

/// The rules the strict reader adds to pvattest's.
@Suite struct ExchangeStrictRules {
    @Test func trailingBytesAreRefused() throws {
        let b = try ExchangeInputs.minResp() + [0]
        expectExchangeRule(.trailingBytes) { _ = try ExchangeFile.parse(b) }
    }

    @Test func sizeFieldSmallerThanHeader() throws {
        var b = try ExchangeInputs.minResp()
        b.writeBE(UInt32(0x3F), at: 0x0C)
        expectExchangeRule(.badSize) { _ = try ExchangeFile.parse(b) }
    }

    @Test func reservedMustBeZero() throws {
        var b = try ExchangeInputs.minResp()
        b[0x17] = 1
        let e = expectExchangeRule(.reservedNotZero) { _ = try ExchangeFile.parse(b) }
        #expect(e?.offset == 0x17)
    }

    @Test func offsetInsideTheHeader() throws {
        var b = try ExchangeInputs.minResp()
        b.writeBE(UInt32(0x20), at: 0x24)   // measurement at 0x20
        expectExchangeRule(.entryInHeader) { _ = try ExchangeFile.parse(b) }
    }

    @Test func entryBeyondTheEnd() throws {
        var b = try ExchangeInputs.minResp()
        b.writeBE(UInt32(0x91), at: 0x3C)   // CUID at 0x91..<0xA1, file 0xA0
        expectExchangeRule(.entryOutOfBounds) { _ = try ExchangeFile.parse(b) }
    }

    @Test func overlappingEntries() throws {
        var b = try ExchangeInputs.minResp()
        b.writeBE(UInt32(0x80), at: 0x3C)   // CUID inside the measurement
        expectExchangeRule(.entriesOverlap) { _ = try ExchangeFile.parse(b) }
    }

    @Test func entryLimits() throws {
        var b = try ExchangeInputs.minResp()
        b.writeBE(UInt32(0x8001), at: 0x20)   // expected measurement size above the limit
        b.writeBE(UInt32(0), at: 0x24)
        expectExchangeRule(.entryTooLarge) { _ = try ExchangeFile.parse(b) }
        var u = try ExchangeInputs.minResp()
        u.writeBE(UInt32(257), at: 0x30)
        u.writeBE(UInt32(0), at: 0x34)
        expectExchangeRule(.entryTooLarge) { _ = try ExchangeFile.parse(u) }
        expectExchangeRule(.entryTooLarge) {
            _ = try AttestationExchangeResponse(arcb: [1], measurement: [2], additionalData: nil, userData: [UInt8].repeating(1, 257),
                                                configUID: [UInt8].repeating(0, 16))
        }
        expectExchangeRule(.entryTooLarge) {
            _ = try AttestationExchangeRequest(arcb: [1], measurementSize: 64, additionalDataSize: 0x8001)
        }
        expectExchangeRule(.badConfigUIDSize) {
            _ = try AttestationExchangeResponse(arcb: [1], measurement: [2], additionalData: nil, userData: nil, configUID: [1])
        }
    }

    @Test func expectedAdditionalDataInAResponseCountsAsAbsent() throws {
        var f = try ExchangeFile.parse(try ExchangeInputs.minResp())
        f.additionalData = .expected(size: 32)
        let b = f.bytes
        #expect(try AttestationExchangeResponse.parse(b).additionalData == nil)
        #expect(try AttestationExchangeRequest.parse(b).additionalDataSize == 32)
    }

    /// Every truncation of a valid response is refused, never a trap.
    @Test func everyTruncationIsRefused() throws {
        let full = try ExchangeInputs.responses[0].build()
        for n in 0..<full.count {
            #expect(throws: ExchangeFormatError.self) { _ = try AttestationExchangeResponse.parse(Array(full[0..<n])) }
        }
    }
}
