import CLibcrypto
import SEBase

/// Why a host-key document (or the chain behind it) is not trusted. The
/// rules follow IBM's verifier (s390-tools rust/pv/src/verify.rs and
/// verify/helper.rs, shared by pvsecret, pvattest and genprotimg); see
/// docs/host-keys.md.
public struct HostKeyVerificationError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Rule: String, Sendable, CaseIterable {
        /// No --cert has the subject of IBM's host-key signing service.
        case noSigningKey = "no-ibm-signing-key"
        /// More than one --cert does (IBM: "Specify only one IBM Z signing key").
        case manySigningKeys = "many-ibm-signing-keys"
        /// The signing-key certificate does not chain to a trusted root
        /// (missing intermediate, unknown or self-signed root, chain too short).
        case chainNotToRoot = "chain-not-to-root"
        case chainExpired = "chain-expired"
        case chainNotYetValid = "chain-not-yet-valid"
        case chainRevoked = "chain-revoked"
        /// CRL_CHECK_ALL: no CRL from an issuer in the chain.
        case chainNoCRL = "chain-no-crl"
        /// A chain CRL that is expired, not yet valid or badly signed.
        case chainCRLInvalid = "chain-crl-invalid"
        /// Any other failure of the chain (a bad signature, a malformed certificate).
        case chainInvalid = "chain-invalid"
        /// The document's key is weaker than 112 bits.
        case weakKey = "hkd-weak-key"
        case notYetValid = "hkd-not-yet-valid"
        case expired = "hkd-expired"
        /// Not signed by the signing key: the signature does not verify, or
        /// the authority key identifier names another key.
        case wrongSigner = "hkd-wrong-signer"
        /// Signed by the signing key, but issued in another name.
        case wrongIssuer = "hkd-wrong-issuer"
        /// No CRL from the signing key at all.
        case noCRL = "hkd-no-crl"
        /// The only CRLs in the signing key's name are not signed by it.
        case crlNotSigned = "hkd-crl-not-signed-by-issuer"
        /// The only CRLs by the signing key are outside their validity (or have no nextUpdate).
        case crlExpired = "hkd-crl-expired"
        case revoked = "hkd-revoked"
    }

    /// The file the rule is about (a host-key document, a --cert file).
    public let document: String
    public let rule: Rule
    public let detail: String

    public init(_ document: String, _ rule: Rule, _ detail: String) {
        self.document = document
        self.rule = rule
        self.detail = detail
    }

    public var description: String { "\(document): \(detail) [\(rule.rawValue)]" }
}

/// The verification of host-key documents against IBM's chain of trust:
/// root CA <- intermediate CA(s) <- IBM Z host-key signing key <- host-key document.
/// Always offline: CRLs come from the files given, never from the
/// distribution points (se-secretd downloads nothing).
public struct HostKeyVerifier: Sendable {
    /// The system trust store used when no root CA is given (pvsecret's
    /// default: OpenSSL's default paths; on Debian this directory).
    public static let defaultRootDirectory = "/etc/ssl/certs"
    /// IBM's SECURITY_LEVEL 2.
    public static let minimumSecurityBits = 112

    /// A certificate with the file it came from.
    public struct Labelled: Sendable {
        public let file: String
        public let certificate: Certificate
        public init(_ file: String, _ certificate: Certificate) { self.file = file; self.certificate = certificate }
    }

    public let signingKey: Labelled
    public let crls: [RevocationList]
    /// The time all checks use (seconds since the epoch).
    public let now: Int64

    /// Finds IBM's signing key among `certificates` (the others are the
    /// intermediates) and verifies its chain to `anchors` with `crls`.
    public init(certificates: [Labelled], crls: [RevocationList], anchors: TrustAnchors,
                anchorsName: String, at now: Int64 = currentUnixTime()) throws(HostKeyVerificationError) {
        let signing = certificates.filter { Self.isIBMSigningKey($0.certificate.subjectEntries) }
        let files = certificates.map(\.file).joined(separator: ", ")
        guard let key = signing.first else {
            throw HostKeyVerificationError(files.isEmpty ? "--cert" : files, .noSigningKey,
                "no certificate has the subject of IBM's host-key signing key (C=US, ST=New York, L=Poughkeepsie or Armonk, O and CN International Business Machines Corporation, OU ending in \"Key Signing Service\")")
        }
        guard signing.count == 1 else {
            throw HostKeyVerificationError(signing.map(\.file).joined(separator: ", "), .manySigningKeys,
                "\(signing.count) certificates have the subject of IBM's host-key signing key; give exactly one")
        }
        let intermediates = certificates.filter { $0.certificate !== key.certificate }.map(\.certificate)
        let outcome: ChainOutcome
        do {
            outcome = try verifyChain(leaf: key.certificate, untrusted: intermediates, anchors: anchors, crls: crls, at: now)
        } catch {
            throw HostKeyVerificationError(anchorsName, .chainNotToRoot, "cannot set up the chain check: \(error)")
        }
        switch outcome {
        case .verified(let length) where length < 2:
            throw HostKeyVerificationError(key.file, .chainNotToRoot, "the signing key is its own trust anchor; it must chain to a root CA")
        case .verified:
            break
        case .failed(let code, let depth, let reason):
            let rule = Self.chainRule(code)
            let at = depth == 0 ? "the signing-key certificate" : "the chain at depth \(depth) above the signing key"
            throw HostKeyVerificationError(key.file, rule, "IBM's signing key could not be verified against \(anchorsName): \(reason) (\(at))")
        }
        self.signingKey = key
        self.crls = crls
        self.now = now
    }

    /// IBM's checks of a host-key document (verify.rs, CertVerifier::verify),
    /// in IBM's order; the issuer-name check is se-secretd's addition.
    public func verify(_ document: Certificate, file: String) throws(HostKeyVerificationError) {
        func fail(_ rule: HostKeyVerificationError.Rule, _ detail: String) -> HostKeyVerificationError {
            HostKeyVerificationError(file, rule, detail)
        }
        let bits = document.securityBits
        guard bits >= Self.minimumSecurityBits else {
            throw fail(.weakKey, "its key has \(bits) bits of security, \(Self.minimumSecurityBits) required")
        }
        switch document.validity(at: now) {
        case .valid: break
        case .notYetValid: throw fail(.notYetValid, "the host-key document is not valid yet (notBefore is in the future)")
        case .expired: throw fail(.expired, "the host-key document has expired (notAfter has passed)")
        case .undefined: throw fail(.expired, "the host-key document's validity period cannot be read")
        }
        let signer = signingKey.certificate
        if document.authorityKeyIDNames(signer) == false {
            throw fail(.wrongSigner, "its authority key identifier names another key than IBM's signing key in \(signingKey.file)")
        }
        guard document.isSigned(by: signer.publicKey) else {
            throw fail(.wrongSigner, "not signed by IBM's signing key in \(signingKey.file)")
        }
        guard Self.sameName(document.issuerEntries, signer.subjectEntries) else {
            throw fail(.wrongIssuer, "issued by \"\(Self.render(document.issuerEntries))\", not by the signing key \"\(Self.render(signer.subjectEntries))\"")
        }
        // The CRLs in the signing key's name; IBM keeps the valid ones and needs at least one.
        let named = crls.filter { Self.sameName($0.issuerEntries, signer.subjectEntries) }
        var valid: [RevocationList] = []
        var badlySigned = 0, outOfDate = 0
        for crl in named {
            guard crl.authorityKeyIDNames(signer) != false, crl.isSigned(by: signer.publicKey) else { badlySigned += 1; continue }
            guard crl.validity(at: now) == .valid else { outOfDate += 1; continue }
            valid.append(crl)
        }
        if valid.isEmpty {
            if badlySigned > 0 {
                throw fail(.crlNotSigned, "no valid CRL: \(badlySigned) CRL\(badlySigned == 1 ? "" : "s") in the signing key's name \(badlySigned == 1 ? "is" : "are") not signed by it")
            }
            if outOfDate > 0 {
                throw fail(.crlExpired, "no valid CRL: the signing key's CRL is outside its validity period (lastUpdate..nextUpdate)")
            }
            throw fail(.noCRL, "no CRL from the signing key \"\(Self.render(signer.subjectEntries))\": give it with --crl (se-secretd never downloads one)")
        }
        if valid.contains(where: { $0.lists(document) }) {
            throw fail(.revoked, "the host-key document (serial \(document.serialHex)) is revoked by the signing key's CRL")
        }
    }

    // MARK: the rules as pure functions

    /// IBM's is_ibm_signing_cert: exactly six name entries, C=US,
    /// ST=New York, L=Poughkeepsie or Armonk, O and CN "International
    /// Business Machines Corporation", OU ending in "Key Signing Service".
    public static func isIBMSigningKey(_ subject: [NameEntry]) -> Bool {
        let ibm = "International Business Machines Corporation"
        func first(_ field: String) -> String? { subject.first { $0.field == field }?.value }
        guard subject.count == 6, first("C") == "US", first("ST") == "New York",
              first("L") == "Poughkeepsie" || first("L") == "Armonk",
              first("O") == ibm, first("CN") == ibm, let ou = first("OU") else { return false }
        return ou.utf8.reversed().starts(with: "Key Signing Service".utf8.reversed())
    }

    /// Two names are the same up to the order of their entries and the
    /// locality Armonk for Poughkeepsie (IBM's quirk_crls: the signing key's
    /// CRLs have been issued in the reordered name, and in Poughkeepsie).
    public static func sameName(_ a: [NameEntry], _ b: [NameEntry]) -> Bool {
        func canonical(_ n: [NameEntry]) -> [String] {
            n.map { $0.field == "L" && $0.value == "Armonk" ? "L=Poughkeepsie" : $0.description }.sorted()
        }
        return canonical(a) == canonical(b)
    }

    static func render(_ n: [NameEntry]) -> String {
        var s = ""
        for (i, e) in n.enumerated() { s += (i == 0 ? "" : ", ") + e.description }
        return Printable.escape(s)
    }

    /// OpenSSL's X509_V_ERR codes (x509_vfy.h) by what they mean here.
    static func chainRule(_ code: Int32) -> HostKeyVerificationError.Rule {
        switch code {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
             X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
             X509_V_ERR_CERT_CHAIN_TOO_LONG, X509_V_ERR_CERT_UNTRUSTED:
            return .chainNotToRoot
        case X509_V_ERR_CERT_HAS_EXPIRED: return .chainExpired
        case X509_V_ERR_CERT_NOT_YET_VALID: return .chainNotYetValid
        case X509_V_ERR_CERT_REVOKED: return .chainRevoked
        case X509_V_ERR_UNABLE_TO_GET_CRL: return .chainNoCRL
        case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_CRL_NOT_YET_VALID,
             X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD, X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD,
             X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION,
             X509_V_ERR_DIFFERENT_CRL_SCOPE, X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
            return .chainCRLInvalid
        default: return .chainInvalid
        }
    }
}
