// Regression inputs found by scripts/fuzz.sh (docs/hardening.md).
import Testing
import SEBase
@testable import SECrypto

@Suite struct CertificateFindingTests {
    /// A policy-fixture certificate with one bit of its EC point flipped
    /// (found by the policy fuzz target): it parses as X.509, but its key
    /// is not on the curve, so X509_get_pubkey returns NULL. Loading it
    /// trapped on a force unwrap in `Certificate.publicKey`.
    static let certificateWithInvalidKey = """
-----BEGIN CERTIFICATE-----
MIICETCCAXKgAwIBAgIUaDfBiuo+ZyWGk0cnr4xymg4A8yIwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZml4dHVyZSBzaWduZXIwIBcNMjYxMTIyMDgxMTA1WhgPMjEy
NjEwMjkwODExMDVaMBkxFzAVBgNVBAMMDmZpeHR1cmUgc2lnbmVyMIGbMBAGByqG
SM49AgEGBSuBBAAjA4GGAAQAb3+YM+TC/lWbGnX+SIG0bn7X2ErVIO43a9z4vprR
ex3RsiY0cBODYkDltsIAksQqoBbIUD/WwLP5MEAXIQbleWcAFHVKIjoJTW0kWqfe
hg5NOhfC2KTuPRzQU340N30JNn2A0AuBSAPfOGojfJcBu1/RiBWYURhbyF5fNRey
UtlZ4rKjUzBRMB0GA1UdDgQWBBSIK/z1L9OaUEuf64nZAYjImTqtszAfBgNVHSME
GDAWgBSIK/z1L9OaUEuf64nZAYjImTqtszAPBgNVHRMBAf8EBTADAQH/MAoGCCqG
SM49BAMCA4GMADCBiAJCAYU26hYJZyQV/q6MaH+U5IR+pRYON75NN65V7EsFPt/y
FhHyB4J3Lt6aFlW9SQK1VZltIPqUz9Amtd+zhGwpSdhBAkIBMaK017tJ+LiUh17R
aqM3tEwxFmy+M+8A0/RF79nh0/WQAp13+AdrZd8IVqg40mc1f9dJxsPVUT8ANoMn
9ZDmv8Q=
-----END CERTIFICATE-----
"""

    @Test func aCertificateWhoseKeyDoesNotDecodeIsRefused() {
        let pem = Array(Self.certificateWithInvalidKey.utf8)
        #expect(throws: CryptoError.self) { _ = try Certificate.load(pem) }
        #expect(throws: CryptoError.self) { _ = try Certificate.loadAll(pem) }
        #expect(throws: CryptoError.self) { _ = try PublicKey.load(pem) }
    }
}
