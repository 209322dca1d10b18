import Testing
import SEBase

/// FormatError, the one shape of the strict readers' errors: the offset as
/// the rule type asks, equality over rule, message and offset.
@Suite struct FormatErrorTests {
    enum PlainRule: String, FormatRule { case bad, worse }
    enum HexRule: String, FormatRule {
        case bad
        static var offsetStyle: FormatOffsetStyle { .hex }
    }

    @Test func theOffsetIsShownAsTheRuleTypeAsks() {
        #expect(FormatError<PlainRule>(.bad, "field x is wrong", offset: 0x2C).description == "field x is wrong (at byte 44 / 0x2c)")
        #expect(FormatError<HexRule>(.bad, "field x is wrong", offset: 0x2C).description == "field x is wrong (at 0x2c)")
        #expect(FormatError<String>("bad-thing", "field x is wrong", offset: 0).description == "field x is wrong (at byte 0 / 0x0)")
        #expect(FormatError<PlainRule>(.bad, "no offset").description == "no offset")
        #expect(FormatError<HexRule>(.bad, "no offset").description == "no offset")
    }

    @Test func equalityCoversRuleMessageAndOffset() {
        let e = FormatError<PlainRule>(.bad, "m", offset: 1)
        #expect(e == FormatError<PlainRule>(.bad, "m", offset: 1))
        #expect(e != FormatError<PlainRule>(.worse, "m", offset: 1))
        #expect(e != FormatError<PlainRule>(.bad, "n", offset: 1))
        #expect(e != FormatError<PlainRule>(.bad, "m", offset: 2))
        #expect(e != FormatError<PlainRule>(.bad, "m"))
        #expect(e.rule.rawValue == "bad" && e.message == "m" && e.offset == 1)
    }

    @Test func typedThrowsCarryTheRule() {
        func read(_ b: [UInt8]) throws(FormatError<PlainRule>) -> UInt8 {
            guard let f = b.first else { throw FormatError(.worse, "empty") }
            return f
        }
        do throws(FormatError<PlainRule>) { _ = try read([]); Issue.record("no error") } catch {
            #expect(error.rule == .worse && error.description == "empty")
        }
    }
}
