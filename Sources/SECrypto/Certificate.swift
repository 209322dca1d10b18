import CLibcrypto
import SEBase

/// An X.509 certificate. Only used as a carrier of a public key (host-key
/// documents, signer certificates); no chain of trust is evaluated here.
public final class Certificate: @unchecked Sendable {
    let x509: OpaquePointer

    init(taking x509: OpaquePointer) { self.x509 = x509 }
    deinit { X509_free(x509) }

    /// Takes a parsed certificate if its public key decodes. OpenSSL parses
    /// the key lazily: a certificate whose key is not a valid key (a point
    /// off the curve, an unknown algorithm) still parses, and
    /// X509_get_pubkey then returns NULL.
    static func checked(_ x509: OpaquePointer) throws(CryptoError) -> Certificate {
        let cert = Certificate(taking: x509)
        guard X509_get0_pubkey(x509) != nil else { throw CryptoError("the certificate's public key is invalid") }
        CryptoError.clearErrorQueue()
        return cert
    }

    /// Loads a PEM or DER certificate.
    public static func load(_ data: [UInt8]) throws(CryptoError) -> Certificate {
        let bio = MemoryBIO(data)
        if let c = PEM_read_bio_X509(bio.bio, nil, nil, nil) {
            CryptoError.clearErrorQueue()
            return try checked(c)
        }
        let c: OpaquePointer? = data.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_X509(nil, &p, buf.count)
        }
        guard let cert = c else { throw CryptoError("not a PEM or DER X.509 certificate") }
        CryptoError.clearErrorQueue()
        return try checked(cert)
    }

    /// Loads every PEM certificate in `data` (or the single DER one).
    public static func loadAll(_ data: [UInt8]) throws(CryptoError) -> [Certificate] {
        let bio = MemoryBIO(data)
        var out: [Certificate] = []
        while let c = PEM_read_bio_X509(bio.bio, nil, nil, nil) { out.append(try checked(c)) }
        CryptoError.clearErrorQueue()
        if out.isEmpty { out.append(try load(data)) }
        return out
    }

    /// Never nil: `load` refuses certificates whose key does not decode.
    public var publicKey: PublicKey {
        let k = X509_get_pubkey(x509)!
        return PublicKey(taking: k)
    }

    public var subject: String {
        guard let name = X509_get_subject_name(x509), let s = X509_NAME_oneline(name, nil, 0) else { return "" }
        defer { CRYPTO_free(s, #fileID, #line) }
        return String(cString: s)
    }

    public var pem: String {
        let bio = MemoryBIO()
        PEM_write_bio_X509(bio.bio, x509)
        return String(decoding: bio.contents(), as: UTF8.self)
    }

    /// A self-signed certificate for `key` (used by the simulated ultravisor
    /// to publish its host key the way an IBM host-key document does).
    public static func selfSigned(key: PrivateKey, commonName: String, organization: String,
                                  days: Int) throws(CryptoError) -> Certificate {
        guard let x = X509_new() else { throw CryptoError("X509_new") }
        let cert = Certificate(taking: x)
        try check(X509_set_version(x, 2), "certificate version")
        let serial = Random.bytes(8)
        let bn = BN_bin2bn(serial, Int32(serial.count), nil)
        defer { BN_free(bn) }
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))
        X509_gmtime_adj(X509_getm_notBefore(x), 0)
        X509_gmtime_adj(X509_getm_notAfter(x), days * 86400)
        try check(X509_set_pubkey(x, key.pkey), "certificate key")
        let name = X509_get_subject_name(x)
        let MBSTRING_ASC: Int32 = 0x1001
        for (field, value) in [("C", "US"), ("O", organization), ("CN", commonName)] {
            try check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, value, -1, -1, 0), "certificate name")
        }
        try check(X509_set_issuer_name(x, name), "certificate issuer")
        guard X509_sign(x, key.pkey, EVP_sha512()) > 0 else { throw CryptoError("certificate signature") }
        return cert
    }
}
