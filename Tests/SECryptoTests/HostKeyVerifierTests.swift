import Testing
import SEBase
@testable import SECrypto
import TestSupport

/// The host-key document verification (IBM's rules, docs/host-keys.md) on a
/// test PKI made in process: each case breaks one link and expects its rule.
@Suite struct HostKeyVerifierTests {
    typealias Rule = HostKeyVerificationError.Rule
    static let pki = try! TestPKI()
    static let d = TestPKI.day

    static func labelled(_ certs: [Certificate]) -> [HostKeyVerifier.Labelled] {
        certs.enumerated().map { HostKeyVerifier.Labelled("cert\($0.offset).crt", $0.element) }
    }

    /// A verifier over the test chain; the defaults are the good chain.
    static func verifier(certs: [Certificate]? = nil, crls: [RevocationList]? = nil,
                         anchors: TrustAnchors? = nil, at: Int64? = nil) throws(HostKeyVerificationError) -> HostKeyVerifier {
        try HostKeyVerifier(certificates: labelled(certs ?? [pki.signing, pki.intermediate]), crls: crls ?? pki.allCRLs,
                            anchors: anchors ?? .certificates([pki.root]), anchorsName: "root.crt", at: at ?? pki.now)
    }

    /// The rule `body` fails with (nil: it passes); any other error fails the test.
    static func rule(_ body: () throws -> Void) -> Rule? {
        do { try body(); return nil } catch let e as HostKeyVerificationError { return e.rule } catch {
            Issue.record("not a verification error: \(error)"); return nil
        }
    }

    static func verifyRule(_ doc: Certificate, crls: [RevocationList]? = nil, at: Int64? = nil) -> Rule? {
        rule { try verifier(crls: crls, at: at).verify(doc, file: "hkd.crt") }
    }

    @Test func theGoodChainVerifies() throws {
        let v = try Self.verifier()
        try v.verify(Self.pki.hostKeyDocument, file: "hkd.crt")
        #expect(v.signingKey.file == "cert0.crt")
        // The order of --cert does not matter: the signing key is found by its subject.
        let w = try Self.verifier(certs: [Self.pki.intermediate, Self.pki.signing])
        #expect(w.signingKey.file == "cert1.crt")
        try w.verify(Self.pki.hostKeyDocument, file: "hkd.crt")
    }

    @Test func aSelfSignedDocumentAsSimInitWritesFails() throws {
        let selfSigned = try Certificate.selfSigned(key: Keys.host, commonName: "sim", organization: "se-secretd simulator", days: 30)
        // (Verified a second later: selfSigned's notBefore is the current time.)
        #expect(Self.verifyRule(selfSigned, at: currentUnixTime() + 1) == .wrongSigner)
    }

    @Test func theSigningKeyMustHaveIBMsSubject() throws {
        for wrong in [TestPKI.signingSubject(ou: "IBM Z Host Key Signing Services"),
                      TestPKI.signingSubject(locality: "Boston"),
                      Array(TestPKI.signingSubject().dropFirst()),
                      TestPKI.signingSubject() + [NameEntry("emailAddress", "x@example.com")]] {
            let other = try TestPKI(now: Self.pki.now, signingSubject: wrong)
            let r = Self.rule { _ = try HostKeyVerifier(certificates: Self.labelled([other.signing, other.intermediate]), crls: other.allCRLs,
                                                       anchors: .certificates([other.root]), anchorsName: "root.crt", at: other.now) }
            #expect(r == .noSigningKey, "\(wrong)")
        }
        // Armonk is IBM's other locality; the OU only has to end in "Key Signing Service".
        #expect(HostKeyVerifier.isIBMSigningKey(TestPKI.signingSubject(locality: "Armonk")))
        #expect(HostKeyVerifier.isIBMSigningKey(TestPKI.signingSubject(ou: "Key Signing Service")))
        #expect(!HostKeyVerifier.isIBMSigningKey(TestPKI.signingSubject(ou: "Key Signing Service Test")))
        // Two signing keys are refused.
        let second = try TestPKI(now: Self.pki.now)
        #expect(Self.rule { _ = try Self.verifier(certs: [Self.pki.signing, second.signing, Self.pki.intermediate]) } == .manySigningKeys)
    }

    @Test func validityPeriods() throws {
        let pki = Self.pki, d = Self.d
        #expect(Self.verifyRule(try pki.document(serial: 10, notBefore: pki.now - 10 * d, notAfter: pki.now - d)) == .expired)
        #expect(Self.verifyRule(try pki.document(serial: 11, notBefore: pki.now + d, notAfter: pki.now + 10 * d)) == .notYetValid)
        // CRLs current at `t`, from each issuer.
        func crls(at t: Int64) throws -> [RevocationList] {
            try [(pki.root, pki.rootKey), (pki.intermediate, pki.intermediateKey), (pki.signing, pki.signingKey)].map {
                try RevocationList.issue(issuer: $0.0, issuerKey: $0.1, revoked: [], lastUpdate: t - d, nextUpdate: t + d)
            }
        }
        // The signing key's certificate expires after 500 days, before the intermediate's.
        #expect(Self.rule { _ = try Self.verifier(crls: try crls(at: pki.now + 600 * d), at: pki.now + 600 * d) } == .chainExpired)
        #expect(Self.rule { _ = try Self.verifier(crls: try crls(at: pki.now - 2 * d), at: pki.now - 2 * d) } == .chainNotYetValid)
        // With the CRLs of the day, the chain and the document check out then.
        let v = try Self.verifier(crls: try crls(at: pki.now + 100 * d), at: pki.now + 100 * d)
        try v.verify(pki.hostKeyDocument, file: "hkd.crt")
        // ... and the CRLs of today have expired by then.
        #expect(Self.rule { _ = try Self.verifier(at: pki.now + 100 * d) } == .chainCRLInvalid)
    }

    @Test func signedByAnotherKey() throws {
        let pki = Self.pki
        let stranger = try PrivateKey.generate(.ec(.p521))
        // Another key in the signing key's name: its authority key identifier gives it away.
        let impostor = try Certificate.issue(subject: TestPKI.signingSubject(), publicKey: stranger.publicKey, role: .signingKey,
                                             issuer: pki.intermediate, issuerKey: stranger, serial: 99, notBefore: pki.now - Self.d, notAfter: pki.now + Self.d)
        #expect(Self.verifyRule(try pki.document(serial: 12, issuer: impostor, issuerKey: stranger)) == .wrongSigner)
        // The right authority key identifier, but the signature is by another key.
        #expect(Self.verifyRule(try pki.document(serial: 13, issuerKey: stranger)) == .wrongSigner)
        // Signed by the signing key but issued in another name.
        let renamed = try Certificate.issue(subject: [NameEntry("CN", "Someone Else")], publicKey: pki.signingKey.publicKey, role: .signingKey,
                                            issuer: pki.intermediate, issuerKey: pki.intermediateKey, serial: 98, notBefore: pki.now - Self.d, notAfter: pki.now + Self.d)
        #expect(Self.verifyRule(try pki.document(serial: 14, issuer: renamed)) == .wrongIssuer)
    }

    @Test func revocationOfTheDocument() throws {
        let pki = Self.pki, d = Self.d
        let revoked = try pki.document(serial: 20)
        let crl = try RevocationList.issue(issuer: pki.signing, issuerKey: pki.signingKey, revoked: [revoked], lastUpdate: pki.now - d, nextUpdate: pki.now + d, number: 2)
        #expect(crl.lists(revoked) && !crl.lists(pki.hostKeyDocument))
        #expect(Self.verifyRule(revoked, crls: pki.chainCRLs + [crl]) == .revoked)
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.chainCRLs + [crl]) == nil)
        // Any valid CRL that lists it is enough, even beside one that does not.
        #expect(Self.verifyRule(revoked, crls: pki.allCRLs + [crl]) == .revoked)
    }

    @Test func theDocumentsCRLMustBeThereSignedAndCurrent() throws {
        let pki = Self.pki, d = Self.d
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.chainCRLs) == .noCRL)
        let stranger = try PrivateKey.generate(.ec(.p521))
        let forged = try RevocationList.issue(issuer: pki.signing, issuerKey: stranger, revoked: [], lastUpdate: pki.now - d, nextUpdate: pki.now + d)
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.chainCRLs + [forged]) == .crlNotSigned)
        // A forged CRL beside the real one is ignored (IBM keeps the valid ones) -- unless it hides a revocation:
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.allCRLs + [forged]) == nil)
        let stale = try RevocationList.issue(issuer: pki.signing, issuerKey: pki.signingKey, revoked: [], lastUpdate: pki.now - 10 * d, nextUpdate: pki.now - d)
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.chainCRLs + [stale]) == .crlExpired)
        // A revocation in a forged CRL does not count either way: a forged "revoked" is ignored.
        let forgedRevocation = try RevocationList.issue(issuer: pki.signing, issuerKey: stranger, revoked: [pki.hostKeyDocument], lastUpdate: pki.now - d, nextUpdate: pki.now + d)
        #expect(Self.verifyRule(pki.hostKeyDocument, crls: pki.allCRLs + [forgedRevocation]) == nil)
    }

    @Test func theChainMustReachTheRoot() throws {
        let pki = Self.pki
        // No intermediate.
        #expect(Self.rule { _ = try Self.verifier(certs: [pki.signing]) } == .chainNotToRoot)
        // Another root.
        let other = try TestPKI(now: pki.now)
        #expect(Self.rule { _ = try Self.verifier(anchors: .certificates([other.root])) } == .chainNotToRoot)
        // The default: the system trust store has no test root.
        #expect(HostKeyVerifier.defaultRootDirectory == "/etc/ssl/certs")
        #expect(Self.rule { _ = try Self.verifier(anchors: .directory(HostKeyVerifier.defaultRootDirectory)) } == .chainNotToRoot)
        // The signing key as its own trust anchor is no chain.
        let alone = try Certificate.issue(subject: TestPKI.signingSubject(), publicKey: pki.signingKey.publicKey, role: .authority,
                                          issuer: nil, issuerKey: pki.signingKey, serial: 5, notBefore: pki.now - Self.d, notAfter: pki.now + Self.d)
        let selfCRL = try RevocationList.issue(issuer: alone, issuerKey: pki.signingKey, revoked: [], lastUpdate: pki.now - Self.d, nextUpdate: pki.now + Self.d)
        #expect(Self.rule { _ = try Self.verifier(certs: [alone], crls: [selfCRL], anchors: .certificates([alone])) } == .chainNotToRoot)
    }

    @Test func theChainsCRLs() throws {
        let pki = Self.pki, d = Self.d
        // CRL_CHECK_ALL: a CRL from each issuer in the chain.
        #expect(Self.rule { _ = try Self.verifier(crls: [pki.rootCRL, pki.signingCRL]) } == .chainNoCRL)
        #expect(Self.rule { _ = try Self.verifier(crls: [pki.intermediateCRL, pki.signingCRL]) } == .chainNoCRL)
        let revokesSigning = try RevocationList.issue(issuer: pki.intermediate, issuerKey: pki.intermediateKey, revoked: [pki.signing],
                                                      lastUpdate: pki.now - d, nextUpdate: pki.now + d, number: 2)
        #expect(Self.rule { _ = try Self.verifier(crls: [pki.rootCRL, revokesSigning, pki.signingCRL]) } == .chainRevoked)
        let stranger = try PrivateKey.generate(.ec(.p384))
        let forged = try RevocationList.issue(issuer: pki.intermediate, issuerKey: stranger, revoked: [],
                                              lastUpdate: pki.now - d, nextUpdate: pki.now + d)
        #expect(Self.rule { _ = try Self.verifier(crls: [pki.rootCRL, forged, pki.signingCRL]) } == .chainCRLInvalid)
    }

    @Test func namesMatchUpToOrderAndIBMsLocalityQuirk() {
        let a = TestPKI.signingSubject(), armonk = TestPKI.signingSubject(locality: "Armonk")
        #expect(HostKeyVerifier.sameName(a, Array(a.reversed())))
        #expect(HostKeyVerifier.sameName(a, armonk))
        #expect(!HostKeyVerifier.sameName(a, TestPKI.signingSubject(locality: "Boston")))
        #expect(!HostKeyVerifier.sameName(a, Array(a.dropLast())))
    }
}
