// Shared helpers of the attestation tests.
//
// As in ASRCodecTests: keys (measurement key, protection key, nonce) are
// compared through a Bool computed before `#expect`, so a failure never
// prints them; digests of IBM's assets are computed with libcrypto's
// EVP_Digest directly, not with SECrypto.
import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import CLibcrypto
import TestSupport

/// SHA-256 through libcrypto's EVP_Digest (not SECrypto), lower-case hex.
func sha256Hex(_ data: [UInt8]) -> String {
    var out = [UInt8](repeating: 0, count: 32)
    var len: UInt32 = 0
    let ok = data.withUnsafeBytes { d in EVP_Digest(d.baseAddress, d.count, &out, &len, EVP_sha256(), nil) }
    precondition(ok == 1)
    return out.hex
}

func same(_ s: SecureBytes?, _ expected: [UInt8]) -> Bool { s?.equals(expected) ?? false }

/// Random SE-header tags.
func randomTags() -> SEHeaderTags {
    SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
}

/// `parse` refuses `bytes` under `rule`; returns the error for more checks.
@discardableResult
func expectARCBRule(_ bytes: [UInt8], _ rule: ARCBFormatError.Rule, sourceLocation: SourceLocation = #_sourceLocation) -> ARCBFormatError? {
    do {
        _ = try AttestationRequest.parse(bytes)
        Issue.record("accepted; expected \(rule)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.rule == rule, "\(error)", sourceLocation: sourceLocation)
        return error
    }
}

@discardableResult
func expectExchangeRule(_ rule: ExchangeFormatError.Rule, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) -> ExchangeFormatError? {
    do {
        try body()
        Issue.record("accepted; expected \(rule)", sourceLocation: sourceLocation)
        return nil
    } catch let error as ExchangeFormatError {
        #expect(error.rule == rule, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("\(error); expected \(rule)", sourceLocation: sourceLocation)
        return nil
    }
}
