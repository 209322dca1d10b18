import Testing
import SEBase
import ASRCodec
import Attestation

/// The messages the request, ARCB and exchange readers print (the CLI and
/// the boot tests show them): an offset as "(at byte N / 0xN)".
@Suite struct FormatErrorDescriptionTests {
    @Test func requestErrorsShowTheOffsetInDecimalAndHex() throws {
        let e = RequestFormatError("bad-encrypted-size", "encrypted size 7 does not fit", offset: 0x2C)
        #expect(e.description == "encrypted size 7 does not fit (at byte 44 / 0x2c)")
        #expect(e.rule == "bad-encrypted-size")
        do throws(RequestFormatError) { _ = try AddSecretRequest.parse([]); Issue.record("an empty request parsed") } catch {
            #expect(error.rule == "empty" && error.offset == nil && error.description == "empty file")
        }
    }

    @Test func arcbErrorsShowTheOffsetInDecimalAndHex() {
        var b = [UInt8](repeating: 0, count: 0x200)
        b[3] = 1
        do throws(ARCBFormatError) { _ = try AttestationRequest.parse(b); Issue.record("a non-zero ARCB magic parsed") } catch {
            #expect(error.rule == .notARCB && error.rule.rawValue == "not-arcb")
            #expect(error.description == "not an attestation request: its first 8 bytes (the ARCB magic) are not zero (at byte 3 / 0x3)")
        }
    }

    @Test func exchangeErrorsShowTheOffsetInDecimalAndHex() {
        let b = [UInt8](repeating: 0x78, count: 0x100)
        do throws(ExchangeFormatError) { _ = try ExchangeFile.parse(b); Issue.record("a file without the magic parsed") } catch {
            #expect(error.rule == .badMagic && error.rule.rawValue == "bad-magic")
            #expect(error.description == "not a pvattest exchange file (magic is not 'pvattest') (at byte 0 / 0x0)")
        }
        #expect(ExchangeFormatError(.entriesOverlap, "m", offset: 0x38).description == "m (at byte 56 / 0x38)")
    }
}
