import Testing
import SEBase
import ResultsRecord

/// The results record's messages show an offset in hex only, "(at 0x10)".
@Suite struct ResultsRecordErrorTests {
    @Test func offsetsAreShownInHexOnly() throws {
        var b = try ResultsRecord([.init(.report, Array("{}".utf8))]).bytes
        b[0x13] = 2
        do throws(ResultsRecordError) { _ = try ResultsRecord.parse(b); Issue.record("version 2 parsed") } catch {
            #expect(error.rule == .badVersion && error.rule.rawValue == "bad-version")
            #expect(error.description == "results record version 2, expected 1 (at 0x10)")
        }
        do throws(ResultsRecordError) { _ = try ResultsRecord.parse([1, 2, 3]); Issue.record("3 bytes parsed") } catch {
            #expect(error.rule == .truncated && error.description == "3 bytes are not a results record")
        }
    }
}
