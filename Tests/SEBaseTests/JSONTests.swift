import Testing
@testable import SEBase

@Suite struct JSONTests {
    @Test func parsesAndPreservesOrder() throws {
        let j = try JSON.parse(#"{"b": 1, "a": [true, null, -2.5e1, "x\u00e9\n"], "c": {}}"#)
        guard case let .object(m) = j else { Issue.record("not an object"); return }
        #expect(m.map(\.0) == ["b", "a", "c"])
        #expect(j["a"] == .array([.bool(true), .null, .double(-25), .string("xé\n")]))
        #expect(j["b"] == .int(1))
    }

    @Test func roundTrip() throws {
        let j = JSON.object([("k", .string("quote \" backslash \\ ctl \u{01} tab \t")), ("n", .int(-7)), ("a", .array([]))])
        #expect(try JSON.parse(j.serialized()) == j)
        #expect(try JSON.parse(j.serialized(pretty: false)) == j)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "\"abc", "\"\\x\"", "\"\u{01}\"", "tru", "nul",
        "{\"a\" 1}", "{1: 2}", "[1] [2]", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\":1,\"a\":2}", "NaN", "1e999",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSON.parse(text) }
    }

    @Test func rejectsInvalidUTF8AndBOM() {
        #expect(throws: JSONParseError.self) { _ = try JSON.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONParseError.self) { _ = try JSON.parse([0xEF, 0xBB, 0xBF, 0x31]) }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { _ = try JSON.parse(deep) }
        #expect(throws: Never.self) { _ = try JSON.parse(String(repeating: "[", count: 10) + String(repeating: "]", count: 10)) }
    }

    @Test func errorPositions() {
        do { _ = try JSON.parse("{\n  \"a\": tru\n}"); Issue.record("no error") } catch {
            #expect(error.line == 2)
        }
    }

    @Test func surrogatePairs() throws {
        #expect(try JSON.parse(#""\ud83d\ude00""#) == .string("😀"))
    }
}

@Suite struct BytesTests {
    @Test func hexRoundTrip() {
        #expect([0x00, 0xAB, 0xFF].hex == "00abff")
        #expect([UInt8](hex: "00ABff") == [0, 0xAB, 0xFF])
        #expect([UInt8](hex: "0x0102") == nil)  // no prefixes: a "0x" would shorten a fixed-size value
        #expect([UInt8](hex: "abc") == nil)
        #expect([UInt8](hex: "zz") == nil)
    }

    @Test func bigEndian() {
        var b: [UInt8] = []
        b.appendBE(UInt32(0x0102_0304))
        #expect(b == [1, 2, 3, 4])
        #expect(b.readBE(UInt16.self, at: 1) == 0x0203)
        b.writeBE(UInt16(0xAABB), at: 2)
        #expect(b == [1, 2, 0xAA, 0xBB])
    }

    @Test func readerReportsTruncation() {
        var r = ByteReader([1, 2, 3])
        #expect(throws: ByteReader.Truncated.self) { _ = try r.readBE(UInt32.self, "field") }
        #expect(r.offset == 0)
        _ = try? r.read(2, "a")
        do { _ = try r.read(2, "b"); Issue.record("no error") } catch {
            #expect(error == ByteReader.Truncated(field: "b", offset: 2, needed: 2, available: 1))
        }
    }

    @Test func secureBytesWipeAndRedaction() {
        let s = SecureBytes(copying: [1, 2, 3])
        #expect(!s.description.contains("1"))
        s.wipe()
        #expect(s.equals([0, 0, 0]))
        var a: [UInt8] = [9, 9]
        let t = SecureBytes(consuming: &a)
        #expect(a == [0, 0])
        #expect(t.equals([9, 9]))
    }

    @Test func constantTimeCompare() {
        #expect(constantTimeEqual([1, 2], [1, 2]))
        #expect(!constantTimeEqual([1, 2], [1, 3]))
        #expect(!constantTimeEqual([1], [1, 2]))
    }
}
