import Testing
import SEBase
import SECrypto
import SecretPolicy
import SEVocabulary

/// The policy's `attestation` and `results` sections: defaults, and the
/// cross checks the schema cannot express.
@Suite struct AttestationPolicyTests {
    func parse(_ extra: String, requests: String = "") throws -> Policy {
        try Policy.parse(Array(#"{"version": 1, "trust": {"require": "none"}, "secrets": [{"name": "a", "type": "plain"}]\#(requests)\#(extra)}"#.utf8))
    }

    func error(_ extra: String, requests: String = "") -> PolicyError? {
        do { _ = try parse(extra, requests: requests); return nil } catch let e as PolicyError { return e } catch { return nil }
    }

    @Test func withoutTheSectionsNothingIsAttestedAndResultsStayInRun() throws {
        let p = try parse("")
        #expect(p.attestation.mode == .off && !p.attestation.enabled)
        #expect(p.attestation.requestFile == "attestation-request.bin")
        #expect(p.attestation.trust == .measurementKey && p.attestation.pinned.isEmpty)
        #expect(p.results.device == nil && !p.results.console)
    }

    @Test func theSectionsAsWritten() throws {
        let pin = String(repeating: "ab", count: 32)
        let p = try parse(#", "attestation": {"mode": "required", "request": "arq.bin", "trust": "pinned", "sha256": ["\#(pin)"], "max_size": 4096}, "results": {"device": "PARTLABEL=se-results", "console": true}"#)
        #expect(p.attestation.mode == .required)
        #expect(p.attestation.requestFile == "arq.bin")
        #expect(p.attestation.pinned == [[UInt8](repeating: 0xAB, count: 32)])
        #expect(p.attestation.maxSize == 4096)
        #expect(p.results.device == .partLabel("se-results"))
        #expect(p.results.console)
    }

    @Test func theRequestFileMustNotLookLikeARequestOfThisPolicy() {
        #expect(error(#", "attestation": {"mode": "optional", "request": "a.asr"}"#)?.path == "$.attestation.request")
        #expect(error(#", "attestation": {"mode": "optional", "request": "toc.pol"}"#)?.message.contains("ends like a request file") == true)
        // With another suffix, .asr is a name of its own.
        let other = #", "requests": {"suffix": ".req"}"#
        #expect(error(#", "attestation": {"mode": "optional", "request": "a.asr"}"#, requests: other) == nil)
        #expect(error(#", "attestation": {"mode": "optional", "request": "a.req"}"#, requests: other)?.path == "$.attestation.request")
    }

    @Test func theResultsDeviceIsNotTheRequestVolume() {
        let vol = #", "requests": {"volume": "PARTLABEL=se"}"#
        #expect(error(#", "results": {"device": "PARTLABEL=se"}"#, requests: vol)?.message.contains("is the request volume") == true)
        #expect(error(#", "results": {"device": "PARTLABEL=se-results"}"#, requests: vol) == nil)
        #expect(error(#", "results": {"device": "UUID=1234"}"#)?.path == "$.results.device")
    }
}
