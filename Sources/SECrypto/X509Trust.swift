import CLibcrypto
#if canImport(Glibc)
import Glibc
#endif
import SEBase

// The X.509 primitives the host-key document verification uses
// (HostKeyVerifier.swift holds the rules): name entries, validity,
// signatures, authority key identifiers, revocation lists, and one chain
// check through OpenSSL's X509_verify_cert. Plus issuing certificates and
// CRLs, for the simulator's test chain and the tests' PKI.

/// One entry of an X.509 name: the field's short name (C, ST, L, O, OU, CN,
/// ...) and its value as UTF-8.
public struct NameEntry: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let field: String
    public let value: String
    public init(_ field: String, _ value: String) { self.field = field; self.value = value }
    public var description: String { "\(field)=\(value)" }
}

/// Where a certificate or CRL stands at a point in time.
public enum Validity: Equatable, Sendable {
    case valid, notYetValid, expired
    /// A CRL without nextUpdate, or a time field libcrypto cannot compare.
    case undefined
}

/// Seconds since the epoch, now.
public func currentUnixTime() -> Int64 { Int64(time(nil)) }

func nameEntries(_ name: OpaquePointer?) -> [NameEntry] {
    guard let name else { return [] }
    var out: [NameEntry] = []
    for i in 0..<X509_NAME_entry_count(name) {
        guard let e = X509_NAME_get_entry(name, i) else { continue }
        let nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e))
        let field = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "OID\(nid)"
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))
        var value = ""
        if n >= 0, let utf8 {
            value = String(decoding: UnsafeBufferPointer(start: utf8, count: Int(n)), as: UTF8.self)
            CRYPTO_free(utf8, #fileID, #line)
        }
        out.append(NameEntry(field, value))
    }
    CryptoError.clearErrorQueue()
    return out
}

/// notBefore/notAfter (or lastUpdate/nextUpdate) against `now`:
/// valid when notBefore <= now < notAfter (IBM's check_validity_period).
func validity(notBefore: UnsafePointer<ASN1_TIME>?, notAfter: UnsafePointer<ASN1_TIME>?, at now: Int64) -> Validity {
    guard let notBefore, let notAfter else { return .undefined }
    var t = time_t(now)
    // X509_cmp_time: -1 when the field is before or equal to t, 1 after, 0 on error.
    let before = X509_cmp_time(notBefore, &t), after = X509_cmp_time(notAfter, &t)
    CryptoError.clearErrorQueue()
    if before == 0 || after == 0 { return .undefined }
    if before > 0 { return .notYetValid }
    if after < 0 { return .expired }
    return .valid
}

/// X509_check_akid: does the authority key identifier (if any) name `issuer`?
func authorityKeyIDMatches(_ akid: UnsafeMutableRawPointer?, issuer: Certificate) -> Bool? {
    guard let akid else { CryptoError.clearErrorQueue(); return nil }
    let keyID = akid.assumingMemoryBound(to: AUTHORITY_KEYID.self)
    defer { AUTHORITY_KEYID_free(keyID) }
    return X509_check_akid(issuer.x509, keyID) == X509_V_OK
}

extension Certificate {
    public var subjectEntries: [NameEntry] { nameEntries(X509_get_subject_name(x509)) }
    public var issuerEntries: [NameEntry] { nameEntries(X509_get_issuer_name(x509)) }

    public func validity(at now: Int64) -> Validity {
        SECrypto.validity(notBefore: X509_get0_notBefore(x509), notAfter: X509_get0_notAfter(x509), at: now)
    }

    /// The certificate's signature verifies with `key`.
    public func isSigned(by key: PublicKey) -> Bool {
        let ok = X509_verify(x509, key.pkey) == 1
        CryptoError.clearErrorQueue()
        return ok
    }

    /// nil when the certificate has no authority key identifier.
    public func authorityKeyIDNames(_ issuer: Certificate) -> Bool? {
        authorityKeyIDMatches(X509_get_ext_d2i(x509, NID_authority_key_identifier, nil, nil), issuer: issuer)
    }

    /// The strength of the public key in bits (P-521: 256).
    public var securityBits: Int { Int(EVP_PKEY_get_security_bits(X509_get0_pubkey(x509))) }

    public var serialHex: String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), nil) else { return "" }
        defer { BN_free(bn) }
        guard let s = BN_bn2hex(bn) else { return "" }
        defer { CRYPTO_free(s, #fileID, #line) }
        return String(cString: s)
    }
}

/// An X.509 certificate revocation list.
public final class RevocationList: @unchecked Sendable {
    let crl: OpaquePointer
    init(taking crl: OpaquePointer) { self.crl = crl }
    deinit { X509_CRL_free(crl) }

    /// Every PEM CRL in `data`, or the single DER one; none when `data` holds none.
    public static func loadAll(_ data: [UInt8]) -> [RevocationList] {
        let bio = MemoryBIO(data)
        var out: [RevocationList] = []
        while let c = PEM_read_bio_X509_CRL(bio.bio, nil, nil, nil) { out.append(RevocationList(taking: c)) }
        if out.isEmpty {
            let c: OpaquePointer? = data.withUnsafeBufferPointer { buf in
                var p: UnsafePointer<UInt8>? = buf.baseAddress
                return d2i_X509_CRL(nil, &p, buf.count)
            }
            if let c { out.append(RevocationList(taking: c)) }
        }
        CryptoError.clearErrorQueue()
        return out
    }

    public var issuerEntries: [NameEntry] { nameEntries(X509_CRL_get_issuer(crl)) }

    /// lastUpdate <= now < nextUpdate; .undefined without nextUpdate.
    public func validity(at now: Int64) -> Validity {
        SECrypto.validity(notBefore: X509_CRL_get0_lastUpdate(crl), notAfter: X509_CRL_get0_nextUpdate(crl), at: now)
    }

    public func isSigned(by key: PublicKey) -> Bool {
        let ok = X509_CRL_verify(crl, key.pkey) == 1
        CryptoError.clearErrorQueue()
        return ok
    }

    public func authorityKeyIDNames(_ issuer: Certificate) -> Bool? {
        authorityKeyIDMatches(X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, nil, nil), issuer: issuer)
    }

    /// The CRL lists `certificate`'s serial number (revoked, or "remove from CRL").
    public func lists(_ certificate: Certificate) -> Bool {
        var entry: OpaquePointer? = nil
        let r = X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(certificate.x509))
        CryptoError.clearErrorQueue()
        return r != 0
    }

    public var pem: String {
        let bio = MemoryBIO()
        PEM_write_bio_X509_CRL(bio.bio, crl)
        return String(decoding: bio.contents(), as: UTF8.self)
    }
}

/// The trust anchors of a chain check.
public enum TrustAnchors: Sendable {
    /// Certificates given (a --root-ca file).
    case certificates([Certificate])
    /// A hashed directory of certificates (OpenSSL's lookup), such as the system's /etc/ssl/certs.
    case directory(String)
}

/// The outcome of X509_verify_cert.
public enum ChainOutcome: Equatable, Sendable {
    /// Verified; `length` certificates from the leaf to the trust anchor.
    case verified(length: Int)
    /// OpenSSL's X509_V_ERR code, the depth it refers to (0: the leaf) and its reason.
    case failed(code: Int32, depth: Int32, reason: String)
}

/// IBM's chain parameters (rust/pv/src/verify/helper.rs, store_setup):
/// X509_STRICT, CRL_CHECK and CRL_CHECK_ALL (a valid CRL from every issuer
/// in the chain), TRUSTED_FIRST, CHECK_SS_SIGNATURE, POLICY_CHECK; depth 2;
/// security level 2 (112 bits); any purpose.
public func verifyChain(leaf: Certificate, untrusted: [Certificate], anchors: TrustAnchors,
                        crls: [RevocationList], at now: Int64) throws(CryptoError) -> ChainOutcome {
    guard let store = X509_STORE_new() else { throw CryptoError("X509_STORE_new") }
    defer { X509_STORE_free(store) }
    switch anchors {
    case .certificates(let certs):
        for c in certs { try check(X509_STORE_add_cert(store, c.x509), "root CA certificate") }
    case .directory(let path):
        try check(X509_STORE_load_path(store, path), "the trust store directory \(path)")
    }
    for c in crls { try check(X509_STORE_add_crl(store, c.crl), "CRL") }
    let flags = X509_V_FLAG_X509_STRICT | X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL
        | X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_CHECK_SS_SIGNATURE | X509_V_FLAG_POLICY_CHECK
    try check(X509_STORE_set_flags(store, UInt(flags)), "verification flags")
    try check(X509_STORE_set_depth(store, 2), "verification depth")
    try check(X509_STORE_set_purpose(store, X509_PURPOSE_ANY), "verification purpose")
    X509_VERIFY_PARAM_set_auth_level(X509_STORE_get0_param(store), 2)

    guard let stack = OPENSSL_sk_new_null() else { throw CryptoError("OPENSSL_sk_new_null") }
    defer { OPENSSL_sk_free(stack) }
    for c in untrusted { guard OPENSSL_sk_push(stack, UnsafeRawPointer(c.x509)) > 0 else { throw CryptoError("certificate stack") } }

    guard let ctx = X509_STORE_CTX_new() else { throw CryptoError("X509_STORE_CTX_new") }
    defer { X509_STORE_CTX_free(ctx) }
    try check(X509_STORE_CTX_init(ctx, store, leaf.x509, stack), "X509_STORE_CTX_init")
    X509_STORE_CTX_set_time(ctx, 0, time_t(now))
    let ok = withExtendedLifetime((untrusted, crls, leaf)) { X509_verify_cert(ctx) }
    CryptoError.clearErrorQueue()
    if ok == 1 {
        let length = X509_STORE_CTX_get0_chain(ctx).map { Int(OPENSSL_sk_num($0)) } ?? 0
        return .verified(length: length)
    }
    let code = X509_STORE_CTX_get_error(ctx)
    let reason = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
    return .failed(code: code, depth: X509_STORE_CTX_get_error_depth(ctx), reason: reason)
}

// MARK: issuing (the simulator's test chain, the tests' PKI)

extension Certificate {
    /// What a certificate is for, which fixes its extensions.
    public enum Role: Sendable {
        /// A CA (root or intermediate): basicConstraints critical CA:TRUE,
        /// keyUsage critical keyCertSign and cRLSign.
        case authority
        /// IBM's host-key signing key: signs host-key documents and their CRLs
        /// but is no CA (IBM's verifier checks it apart from the chain).
        case signingKey
        /// A host-key document: keyUsage keyAgreement (ECDH).
        case hostKey
    }

    /// Issues a certificate for `publicKey`, signed by `issuerKey`: by
    /// `issuer`'s key, or self-signed when `issuer` is nil (then
    /// `issuerKey` must be the subject's own key). Times are seconds since
    /// the epoch; a subject key identifier and (unless self-signed) an
    /// authority key identifier are added, as strict verification requires.
    public static func issue(subject: [NameEntry], publicKey: PublicKey, role: Role,
                             issuer: Certificate?, issuerKey: PrivateKey, serial: UInt64,
                             notBefore: Int64, notAfter: Int64) throws(CryptoError) -> Certificate {
        guard let x = X509_new() else { throw CryptoError("X509_new") }
        let cert = Certificate(taking: x)
        try check(X509_set_version(x, 2), "certificate version")
        try check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial), "certificate serial")
        guard ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter)) != nil else { throw CryptoError("certificate validity") }
        try check(X509_set_pubkey(x, publicKey.pkey), "certificate key")
        let name = X509_get_subject_name(x)
        let MBSTRING_UTF8: Int32 = 0x1000
        for e in subject {
            try check(X509_NAME_add_entry_by_txt(name, e.field, MBSTRING_UTF8, e.value, -1, -1, 0), "certificate name \(e.field)")
        }
        try check(X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0.x509) } ?? name), "certificate issuer")
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer?.x509 ?? x, x, nil, nil, 0)
        var extensions: [(Int32, String)] = [(NID_subject_key_identifier, "hash")]
        if issuer != nil { extensions.append((NID_authority_key_identifier, "keyid:always")) }
        switch role {
        case .authority:
            extensions += [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")]
        case .signingKey:
            extensions += [(NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature")]
        case .hostKey:
            extensions += [(NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,keyAgreement")]
        }
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else { throw CryptoError("certificate extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            try check(X509_add_ext(x, ext, -1), "certificate extension \(value)")
        }
        guard X509_sign(x, issuerKey.pkey, EVP_sha512()) > 0 else { throw CryptoError("certificate signature") }
        return cert
    }
}

extension RevocationList {
    /// A CRL by `issuer` (signed with `issuerKey`) listing `revoked`, with an
    /// authority key identifier naming `issuer` and a CRL number.
    public static func issue(issuer: Certificate, issuerKey: PrivateKey, revoked: [Certificate],
                             lastUpdate: Int64, nextUpdate: Int64, number: UInt64 = 1) throws(CryptoError) -> RevocationList {
        guard let c = X509_CRL_new() else { throw CryptoError("X509_CRL_new") }
        let crl = RevocationList(taking: c)
        try check(X509_CRL_set_version(c, 1), "CRL version")
        try check(X509_CRL_set_issuer_name(c, X509_get_subject_name(issuer.x509)), "CRL issuer")
        guard let last = ASN1_TIME_set(nil, time_t(lastUpdate)) else { throw CryptoError("CRL time") }
        defer { ASN1_TIME_free(last) }
        guard let next = ASN1_TIME_set(nil, time_t(nextUpdate)) else { throw CryptoError("CRL time") }
        defer { ASN1_TIME_free(next) }
        try check(X509_CRL_set1_lastUpdate(c, last), "CRL lastUpdate")
        try check(X509_CRL_set1_nextUpdate(c, next), "CRL nextUpdate")
        for r in revoked {
            guard let entry = X509_REVOKED_new() else { throw CryptoError("X509_REVOKED_new") }
            guard X509_REVOKED_set_serialNumber(entry, UnsafeMutablePointer(mutating: X509_get0_serialNumber(r.x509))) == 1,
                  X509_REVOKED_set_revocationDate(entry, last) == 1,
                  X509_CRL_add0_revoked(c, entry) == 1 else {
                X509_REVOKED_free(entry)
                throw CryptoError("CRL entry")
            }
        }
        try check(X509_CRL_sort(c), "CRL sort")
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer.x509, nil, nil, c, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, NID_authority_key_identifier, "keyid:always") else { throw CryptoError("CRL extension") }
        defer { X509_EXTENSION_free(ext) }
        try check(X509_CRL_add_ext(c, ext, -1), "CRL extension")
        guard let n = ASN1_INTEGER_new() else { throw CryptoError("CRL number") }
        defer { ASN1_INTEGER_free(n) }
        try check(ASN1_INTEGER_set_uint64(n, number), "CRL number")
        try check(X509_CRL_add1_ext_i2d(c, NID_crl_number, UnsafeMutableRawPointer(n), 0, 0), "CRL number")
        guard X509_CRL_sign(c, issuerKey.pkey, EVP_sha512()) > 0 else { throw CryptoError("CRL signature") }
        return crl
    }
}
