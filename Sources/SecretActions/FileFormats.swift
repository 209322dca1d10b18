import SEBase
import SECrypto
import SecretPolicy

/// Checks that a secret is what its file action's format says, before it is
/// written: a malformed key found at boot is a clear failure now, not a
/// service that cannot start later.
public enum FileFormats {
    public struct Checked {
        /// For an SSH host key: the public key for PATH.pub and its comment.
        public var publicKey: SSHPublicKey?
        public var comment: String?
        /// What was found, for the report ("ECDSA P-256 host key", "2 certificates").
        public var summary: String
    }

    public static func check(_ format: Action.File.Format, _ secret: SecureBytes) throws(ActionFailure) -> Checked {
        switch format {
        case .raw:
            return Checked(summary: "\(secret.count) bytes")
        case .sshHostKey:
            let (pub, comment) = try SSHHostKey.publicKey(of: secret)
            return Checked(publicKey: pub, comment: comment, summary: "\(pub.type) host key")
        case .tlsKey:
            if secret.withUnsafeBytes({ SSHHostKey.contains($0, "ENCRYPTED") }) {
                throw ActionFailure(.data, "the TLS key is encrypted; nothing at boot can supply its passphrase")
            }
            var copy = secret.unsafeCopyToArray()
            defer { copy.wipe() }
            do {
                let key = try PrivateKey.load(copy)
                return Checked(summary: "\(key.keyType) private key")
            } catch {
                throw ActionFailure(.data, "the secret is not a PEM or DER private key")
            }
        case .tlsCertificate:
            return Checked(summary: try checkCertificates(secret))
        case .authorizedKeys:
            let n = try SSHKeyList.validate(secret, allowOptions: true, what: "authorized keys")
            return Checked(summary: "\(n) authorized key\(n == 1 ? "" : "s")")
        case .sshUserCA:
            let n = try SSHKeyList.validate(secret, allowOptions: false, what: "SSH user CA key list")
            return Checked(summary: "\(n) CA key\(n == 1 ? "" : "s")")
        }
    }

    /// A certificate file (usually world-readable) must hold certificates
    /// and nothing else: a private key pasted into the same secret would
    /// otherwise be published with it.
    static func checkCertificates(_ secret: SecureBytes) throws(ActionFailure) -> String {
        // The secret may hold a private key by mistake: wipe the copy.
        var bytes = secret.unsafeCopyToArray()
        defer { bytes.wipe() }
        if bytes.withUnsafeBytes({ SSHHostKey.contains($0, "PRIVATE KEY") }) {
            throw ActionFailure(.data, "the certificate secret also contains a private key; refusing to write it to a certificate file")
        }
        let blocks = count(bytes, "-----BEGIN ")
        let certBlocks = count(bytes, "-----BEGIN CERTIFICATE-----")
        guard blocks == certBlocks else {
            throw ActionFailure(.data, "the certificate secret holds \(blocks - certBlocks) PEM block(s) that are not certificates")
        }
        let certs: [Certificate]
        do { certs = try Certificate.loadAll(bytes) } catch {
            throw ActionFailure(.data, "the secret is not a PEM or DER X.509 certificate")
        }
        guard certs.count == max(1, certBlocks) else {
            throw ActionFailure(.data, "only \(certs.count) of \(certBlocks) certificates in the secret parse")
        }
        return certs.count == 1 ? "certificate \(certs[0].subject)" : "\(certs.count) certificates, first \(certs[0].subject)"
    }

    static func count(_ bytes: [UInt8], _ text: String) -> Int {
        var n = 0
        var from = 0
        bytes.withUnsafeBytes { raw in
            while let i = SSHHostKey.find(raw, text, from: from) { n += 1; from = i + 1 }
        }
        return n
    }
}
