import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
import RequestBuilding

/// se-secretd's freshness record (docs/formats.md, "Freshness record").
@Suite struct FreshnessRecordTests {
    /// The record for epoch 42, written out by hand from the layout in
    /// docs/formats.md: "SESD-FRESH", version 1, five zero bytes, u64 BE.
    static let epoch42: [UInt8] = Array("SESD-FRESH".utf8) + [0x01, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0x2A]

    func request(_ userData: RequestBuilder.UserData, epoch: UInt64?) throws -> [UInt8] {
        var b = RequestBuilder(secret: .meta, hostKeys: [Keys.hosts[0].publicKey], tags: fixedTags)
        b.userData = userData
        b.epoch = epoch
        return try b.build()
    }

    @Test func layoutIsTheDocumentedOne() {
        #expect(FreshnessRecord(epoch: 42).bytes == Self.epoch42)
        #expect(Self.epoch42.count == 24)
    }

    /// The printf/xxd command docs/formats.md gives tenants makes the same
    /// 24 bytes.
    @Test func documentedShellCommandMakesTheRecord() throws {
        let tmp = try TempDir("fresh")
        let dir = tmp.path
        let cmd = "cd \(dir) && EPOCH=42 && printf 'SESD-FRESH\\001\\000\\000\\000\\000\\000' > fresh.bin && printf '%016x' \"$EPOCH\" | xxd -r -p >> fresh.bin"
        #expect(system(cmd) == 0)
        #expect(try FileIO.read(dir + "/fresh.bin", limit: 64) == Self.epoch42)
    }

    /// Builder → parser, for every user-data type that has room for it.
    @Test(arguments: ["unsigned", "ec-p521", "rsa-2048", "rsa-3072"])
    func roundTrip(_ kind: String) throws {
        let ud: RequestBuilder.UserData
        switch kind {
        case "ec-p521": ud = .signed([], key: Keys.tenant)
        case "rsa-2048": ud = .signed([], key: Keys.rsa2048)
        case "rsa-3072": ud = .signed([], key: Keys.rsa3072)
        default: ud = .none
        }
        let epoch: UInt64 = 0x0123_4567_89AB_CDEF
        let bytes = try request(ud, epoch: epoch)
        let r = try AddSecretRequest.parse(bytes)
        #expect(r.userDataType.name == kind)
        #expect(try r.freshnessRecord() == FreshnessRecord(epoch: epoch))
        // The record sits at the start of the user data, where `pvsecret
        // create --user-data` puts the file.
        #expect(Array(bytes[0x218..<0x218 + 24]) == FreshnessRecord(epoch: epoch).bytes)
        #expect(r.freshnessJSON == .object([("version", .int(1)), ("epoch", .int(Int64(epoch)))]))
    }

    /// The record is inside what the signature covers: changing the epoch
    /// breaks the signature, for each key type.
    @Test(arguments: ["ec-p521", "rsa-2048", "rsa-3072"])
    func signatureCoversTheRecord(_ kind: String) throws {
        let key = kind == "ec-p521" ? Keys.tenant : kind == "rsa-2048" ? Keys.rsa2048 : Keys.rsa3072
        var bytes = try request(.signed([], key: key), epoch: 1)
        #expect(UserDataSignature.verify(try AddSecretRequest.parse(bytes), with: key.publicKey) == .valid)
        bytes[0x218 + 23] = 2  // epoch 1 -> 2
        let r = try AddSecretRequest.parse(bytes)
        #expect(try r.freshnessRecord()?.epoch == 2)
        #expect(UserDataSignature.verify(r, with: key.publicKey) == .badSignature)
    }

    @Test func boundaryEpochs() throws {
        var data = Self.epoch42
        data.replaceSubrange(16..<24, with: [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try FreshnessRecord.parse(userData: data[...])?.epoch == 9_223_372_036_854_775_807)
        data.replaceSubrange(16..<24, with: [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(try FreshnessRecord.parse(userData: data[...])?.epoch == 0)
        for top: [UInt8] in [[0x80, 0, 0, 0, 0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]] {
            data.replaceSubrange(16..<24, with: top)
            #expect(throws: RequestFormatError.self) { try FreshnessRecord.parse(userData: data[...]) }
        }
        // The builder refuses what the parser would refuse.
        #expect(throws: RequestBuilder.Invalid.self) { try request(.none, epoch: UInt64.max) }
    }

    @Test func noRecordIsNotAnError() throws {
        #expect(try FreshnessRecord.parse(userData: [UInt8](repeating: 0, count: 256)[...]) == nil)
        #expect(try FreshnessRecord.parse(userData: Array("se-secretd example".utf8)[...]) == nil)
        // The magic must be at the start.
        #expect(try FreshnessRecord.parse(userData: ([0] + Self.epoch42)[...]) == nil)
        #expect(try AddSecretRequest.parse(try request(.none, epoch: nil)).freshnessRecord() == nil)
        #expect(try AddSecretRequest.parse(try request(.signed(Array("other".utf8), key: Keys.tenant), epoch: nil)).freshnessRecord() == nil)
    }

    @Test func malformedRecordsAreRefused() throws {
        func rule(_ mutate: (inout [UInt8]) -> Void) -> (String, Int?)? {
            var d = Self.epoch42 + [UInt8](repeating: 0, count: 256 - 24)
            mutate(&d)
            do { _ = try FreshnessRecord.parse(userData: d[...]); return nil } catch { return (error.rule, error.offset) }
        }
        let cases: [(String, Int, (inout [UInt8]) -> Void)] = [
            ("version 0", 0x218 + 10, { $0[10] = 0 }),
            ("version 2", 0x218 + 10, { $0[10] = 2 }),
            ("reserved", 0x218 + 13, { $0[13] = 1 }),
            ("trailing byte", 0x218 + 24, { $0[24] = 1 }),
            ("last byte", 0x218 + 255, { $0[255] = 0x80 }),
        ]
        for (what, offset, mutate) in cases {
            let got = rule(mutate)
            #expect(got?.0 == "bad-freshness-record", "\(what)")
            #expect(got?.1 == offset, "\(what)")
        }
        // The magic alone, with no room for the rest.
        #expect(throws: RequestFormatError.self) { try FreshnessRecord.parse(userData: Array("SESD-FRESH\u{1}".utf8)[...]) }
        // In a whole request: the request itself is well formed, its record is not.
        var bytes = try request(.none, epoch: 5)
        bytes[0x218 + 11] = 9
        let r = try AddSecretRequest.parse(bytes)
        #expect(throws: RequestFormatError.self) { try r.freshnessRecord() }
        guard case let .object(m) = r.freshnessJSON, case let .object(err)? = m.first(where: { $0.0 == "error" })?.1 else {
            Issue.record("expected an error object, got \(r.freshnessJSON)"); return
        }
        #expect(err.first?.1 == .string("bad-freshness-record"))
    }

    @Test func recordHasTheUserDataToItself() {
        var b = RequestBuilder(secret: .meta, hostKeys: [Keys.hosts[0].publicKey], tags: fixedTags)
        b.userData = .signed(Array("note".utf8), key: Keys.tenant)
        b.epoch = 3
        #expect(throws: RequestBuilder.Invalid.self) { try b.build() }
    }

    /// A signed request whose signature area holds bytes that look like a
    /// record: only the data part is read (opaque parsing keeps the whole area).
    @Test func opaqueParsingReadsOnlyTheDataPart() throws {
        let bytes = try request(.signed([], key: Keys.rsa3072), epoch: 77)
        let r = try AddSecretRequest.parse(bytes, opaqueUserData: true)
        #expect(try r.freshnessRecord()?.epoch == 77)
    }
}
