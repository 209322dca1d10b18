import SECrypto
import SEBase

/// A test PKI shaped like IBM's (docs/host-keys.md), made in process:
/// root CA <- intermediate CA <- "IBM Z Host Key Signing Service" signing
/// key <- host-key document (P-521), with a CRL from each issuer. All times
/// are relative to `now`; nothing is revoked unless a test issues a CRL
/// that says so.
public struct TestPKI: @unchecked Sendable {
    public static let day: Int64 = 86400
    public static let ibm = "International Business Machines Corporation"
    /// The subject IBM's tools require of the signing key, in IBM's order.
    public static func signingSubject(ou: String = "IBM Z Host Key Signing Service", locality: String = "Poughkeepsie") -> [NameEntry] {
        [NameEntry("C", "US"), NameEntry("ST", "New York"), NameEntry("L", locality),
         NameEntry("O", ibm), NameEntry("OU", ou), NameEntry("CN", ibm)]
    }

    public let now: Int64
    public let rootKey, intermediateKey, signingKey, hostKey: PrivateKey
    public let root, intermediate, signing, hostKeyDocument: Certificate
    /// By the root, for the intermediate; by the intermediate, for the signing key; by the signing key, for host-key documents.
    public let rootCRL, intermediateCRL, signingCRL: RevocationList

    public init(now: Int64 = currentUnixTime(), signingSubject: [NameEntry] = TestPKI.signingSubject()) throws {
        self.now = now
        let d = Self.day
        rootKey = try PrivateKey.generate(.ec(.p384))
        intermediateKey = try PrivateKey.generate(.ec(.p384))
        signingKey = try PrivateKey.generate(.ec(.p521))
        hostKey = Keys.host
        root = try Certificate.issue(subject: [NameEntry("C", "US"), NameEntry("O", "Test Root"), NameEntry("CN", "Test Root CA")],
                                     publicKey: rootKey.publicKey, role: .authority, issuer: nil, issuerKey: rootKey,
                                     serial: 1, notBefore: now - d, notAfter: now + 3650 * d)
        intermediate = try Certificate.issue(subject: [NameEntry("C", "US"), NameEntry("O", "Test CA"), NameEntry("CN", "Test Intermediate CA")],
                                             publicKey: intermediateKey.publicKey, role: .authority, issuer: root, issuerKey: rootKey,
                                             serial: 2, notBefore: now - d, notAfter: now + 1000 * d)
        signing = try Certificate.issue(subject: signingSubject, publicKey: signingKey.publicKey, role: .signingKey,
                                        issuer: intermediate, issuerKey: intermediateKey, serial: 3, notBefore: now - d, notAfter: now + 500 * d)
        hostKeyDocument = try Certificate.issue(subject: Self.hostSubject, publicKey: hostKey.publicKey, role: .hostKey,
                                                issuer: signing, issuerKey: signingKey, serial: 4, notBefore: now - d, notAfter: now + 365 * d)
        rootCRL = try RevocationList.issue(issuer: root, issuerKey: rootKey, revoked: [], lastUpdate: now - d, nextUpdate: now + 30 * d)
        intermediateCRL = try RevocationList.issue(issuer: intermediate, issuerKey: intermediateKey, revoked: [], lastUpdate: now - d, nextUpdate: now + 30 * d)
        signingCRL = try RevocationList.issue(issuer: signing, issuerKey: signingKey, revoked: [], lastUpdate: now - d, nextUpdate: now + 30 * d)
    }

    public static let hostSubject = [NameEntry("C", "US"), NameEntry("ST", "New York"), NameEntry("L", "Poughkeepsie"),
                                     NameEntry("O", ibm), NameEntry("OU", "IBM Z Host Key Document"), NameEntry("CN", "Test Z16 host 1")]

    /// Another host-key document by the signing key (another serial, validity).
    public func document(serial: UInt64, notBefore: Int64? = nil, notAfter: Int64? = nil, key: PrivateKey? = nil,
                         issuer: Certificate? = nil, issuerKey: PrivateKey? = nil) throws -> Certificate {
        try Certificate.issue(subject: Self.hostSubject, publicKey: (key ?? hostKey).publicKey, role: .hostKey,
                              issuer: issuer ?? signing, issuerKey: issuerKey ?? signingKey, serial: serial,
                              notBefore: notBefore ?? now - Self.day, notAfter: notAfter ?? now + 365 * Self.day)
    }

    public var chainCRLs: [RevocationList] { [rootCRL, intermediateCRL] }
    public var allCRLs: [RevocationList] { [rootCRL, intermediateCRL, signingCRL] }

    /// PEM files for the command line: root.crt, inter.crt, signing.crt, hkd.crt and the three CRLs.
    public func write(to dir: String) throws {
        for (name, pem) in [("root.crt", root.pem), ("inter.crt", intermediate.pem), ("signing.crt", signing.pem),
                            ("hkd.crt", hostKeyDocument.pem), ("root.crl", rootCRL.pem), ("inter.crl", intermediateCRL.pem),
                            ("signing.crl", signingCRL.pem)] {
            try FileIO.writeAtomically(dir + "/" + name, Array(pem.utf8), mode: 0o644)
        }
    }
}
