import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import SecretPolicy
@testable import SecretActions

/// The .pub that `ssh-keygen -y` prints for a private key file.
func sshKeygenPublic(_ keyFile: String) -> String? {
    guard let k = sshKeygen else { return nil }
    let r = run(k, ["-y", "-f", keyFile])
    guard r.status == 0 else { return nil }
    return String(decoding: r.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

func fields(_ line: String, _ n: Int = 2) -> [Substring] { Array(line.split(whereSeparator: { $0 == " " || $0 == "\n" }).prefix(n)) }

/// An Ed25519 public key in SSH form (RFC 8709 §4: string "ssh-ed25519",
/// string of the 32 key bytes), the key bytes cut from the
/// SubjectPublicKeyInfo DER (RFC 8410: a fixed 12-byte prefix, then the key).
func ed25519PublicKeyPerRFC8709(_ key: PublicKey) -> SSHPublicKey {
    let body = key.publicKeyPEM.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    let der = [UInt8](Data(base64Encoded: body) ?? Data())
    let prefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]
    precondition(der.count == 44 && Array(der.prefix(12)) == prefix, "not an Ed25519 SubjectPublicKeyInfo")
    func string(_ b: [UInt8]) -> [UInt8] { [0, 0, 0, UInt8(b.count)] + b }
    return SSHPublicKey(type: "ssh-ed25519", blob: string(Array("ssh-ed25519".utf8)) + string(Array(der[12...])))
}

@Suite struct FormatTests {
    /// OpenSSH-format keys made by ssh-keygen, and PEM keys (PKCS#1, SEC1 via
    /// ssh-keygen -m PEM; PKCS#8 via OpenSSL): the derived .pub is what
    /// `ssh-keygen -y` derives.
    @Test(.enabled(if: sshKeygen != nil, "ssh-keygen (openssh-client) is not installed; the derived .pub cannot be compared"),
          arguments: [("ed25519", ""), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"), ("rsa", "2048")])
    func derivedPublicKeyMatchesSSHKeygen(_ type: String, _ bits: String) throws {
        let tmp = try TempDir("ssh")
        let dir = tmp.path
        for pem in [false, true] where !(pem && type == "ed25519") {
            let file = dir + "/key-\(type)\(bits)\(pem ? "-pem" : "")"
            var args = ["-q", "-t", type, "-N", "", "-C", "host@example", "-f", file]
            if !bits.isEmpty { args += ["-b", bits] }
            if pem { args += ["-m", "PEM"] }
            let r = run(sshKeygen!, args)
            try #require(r.status == 0, "ssh-keygen failed: \(r.err)")
            let secret = SecureBytes(copying: try read(file))
            let (pub, comment) = try SSHHostKey.publicKey(of: secret)
            let expected = try #require(sshKeygenPublic(file))
            #expect(fields(pub.line(comment: comment)) == fields(expected), "\(file)")
            #expect(comment == (pem ? nil : "host@example"))
            // And it is the .pub ssh-keygen wrote next to the key.
            let written = try String(contentsOfFile: file + ".pub", encoding: .utf8)
            #expect(fields(pub.line()) == fields(written))
        }
    }

    /// PKCS#8 keys from OpenSSL, for every host key type.
    @Test(.enabled(if: sshKeygen != nil, "ssh-keygen (openssh-client) is not installed; the derived .pub cannot be compared"))
    func pkcs8KeysMatchSSHKeygen() throws {
        let tmp = try TempDir("ssh")
        let dir = tmp.path
        let keys: [(String, PrivateKey.GenerateType)] = [("ed25519", .ed25519), ("p256", .ec(.p256)), ("p384", .ec(.p384)),
                                                         ("p521", .ec(.p521)), ("rsa", .rsa(bits: 2048))]
        for (name, type) in keys {
            let key = try PrivateKey.generate(type)
            let file = dir + "/" + name
            try write(file, Array(key.privateKeyPEM.utf8), mode: 0o600)
            let (pub, comment) = try SSHHostKey.publicKey(of: SecureBytes(copying: try read(file)))
            #expect(comment == nil)
            if let expected = sshKeygenPublic(file) {
                #expect(fields(pub.line()) == fields(expected), "\(name)")
            } else {
                // OpenSSH before 9.x reads no PKCS#8 Ed25519 (and every version reads PKCS#8 EC and RSA):
                // then the blob is compared with RFC 8709's, built here from the key's SubjectPublicKeyInfo.
                #expect(name == "ed25519", "ssh-keygen cannot read the PKCS#8 \(name) key")
                print("NOTE: this ssh-keygen cannot read a PKCS#8 \(name) key; its .pub is compared with RFC 8709's encoding")
                if name == "ed25519" { #expect(pub == ed25519PublicKeyPerRFC8709(key.publicKey)) }
            }
        }
    }

    @Test func openSSHContainerIsCheckedStrictly() throws {
        // A well-formed Ed25519 container built by hand, then broken in several ways.
        func container(checkints: (UInt32, UInt32) = (7, 7), cipher: String = "none", pubTail: UInt8 = 0x11,
                       privTail: UInt8 = 0x11, pad: Bool = true) -> SecureBytes {
            let pub = [UInt8](repeating: 0x11, count: 31) + [pubTail]
            let blob = SSHWire.string("ssh-ed25519") + SSHWire.string(pub)
            var priv: [UInt8] = []
            priv.appendBE(checkints.0); priv.appendBE(checkints.1)
            priv += SSHWire.string("ssh-ed25519") + SSHWire.string(pub)
            priv += SSHWire.string([UInt8](repeating: 0x22, count: 32) + [UInt8](repeating: 0x11, count: 31) + [privTail])
            priv += SSHWire.string("c")
            var i: UInt8 = 1
            while pad && priv.count % 8 != 0 { priv.append(i); i += 1 }
            var body = Array("openssh-key-v1".utf8) + [0]
            body += SSHWire.string(cipher) + SSHWire.string(cipher == "none" ? "none" : "bcrypt") + SSHWire.string([UInt8]())
            body.appendBE(UInt32(1))
            body += SSHWire.string(blob) + SSHWire.string(priv)
            let text = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + Base64.encode(body) + "\n-----END OPENSSH PRIVATE KEY-----\n"
            return SecureBytes(copying: Array(text.utf8))
        }
        let (pub, comment) = try SSHHostKey.publicKey(of: container())
        #expect(pub.type == "ssh-ed25519" && comment == "c")
        for (bad, why) in [(container(checkints: (7, 8)), "check integers"), (container(cipher: "aes256-ctr"), "encrypted"),
                           (container(pubTail: 0x12), "malformed"), (container(pad: false), "padded")] {
            let e = #expect(throws: ActionFailure.self) { try SSHHostKey.publicKey(of: bad) }
            #expect(e?.kind == .data && e?.message.contains(why) == true, "\(e?.message ?? "")")
        }
        #expect(throws: ActionFailure.self) { try SSHHostKey.publicKey(of: SecureBytes(copying: Array("not a key".utf8))) }
        // A DSA key, or an encrypted PEM key: refused.
        let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"
        let e = #expect(throws: ActionFailure.self) { try SSHHostKey.publicKey(of: SecureBytes(copying: Array(enc.utf8))) }
        #expect(e?.message.contains("encrypted") == true)
    }

    @Test func encryptedOpenSSHKeyIsRefused() throws {
        guard let k = sshKeygen else { return }
        let tmp = try TempDir("ssh")
        let dir = tmp.path
        #expect(run(k, ["-q", "-t", "ed25519", "-N", "a passphrase", "-f", dir + "/k"]).status == 0)
        let e = #expect(throws: ActionFailure.self) { try SSHHostKey.publicKey(of: SecureBytes(copying: try read(dir + "/k"))) }
        #expect(e?.message.contains("encrypted") == true)
    }

    @Test func keyListsAndTLS() throws {
        let ed = try PrivateKey.generate(.ed25519)
        let line = try SSHHostKey.publicKey(of: ed).line(comment: "admin@example")
        let rsa = try SSHHostKey.publicKey(of: try PrivateKey.generate(.rsa(bits: 2048))).line()
        let auth = "# admins\n\(line)from=\"10.0.0.0/8,192.168.1.1\",no-pty,command=\"echo \\\"hi there\\\"\" \(rsa)\n\n"
        #expect(try FileFormats.check(.authorizedKeys, SecureBytes(copying: Array(auth.utf8))).summary == "2 authorized keys")
        #expect(try FileFormats.check(.sshUserCA, SecureBytes(copying: Array(line.utf8))).summary == "1 CA key")
        for (format, text) in [(Action.File.Format.sshUserCA, "no-pty " + line), (.authorizedKeys, "ssh-ed25519 !!!notbase64"),
                               (.authorizedKeys, "ssh-rsa " + line.split(separator: " ")[1]), (.authorizedKeys, "# only a comment\n"),
                               (.authorizedKeys, line + ed.privateKeyPEM)] {
            #expect(throws: ActionFailure.self, "\(text)") { try FileFormats.check(format, SecureBytes(copying: Array(text.utf8))) }
        }
        let key = try PrivateKey.generate(.ec(.p384))
        #expect(try FileFormats.check(.tlsKey, SecureBytes(copying: Array(key.privateKeyPEM.utf8))).summary == "EC P-384 private key")
        #expect(throws: ActionFailure.self) { try FileFormats.check(.tlsKey, SecureBytes(copying: Array("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n-----END ENCRYPTED PRIVATE KEY-----\n".utf8))) }
        let cert = try Certificate.selfSigned(key: key, commonName: "server.example", organization: "example", days: 1)
        let two = cert.pem + cert.pem
        #expect(try FileFormats.check(.tlsCertificate, SecureBytes(copying: Array(two.utf8))).summary.hasPrefix("2 certificates"))
        // A private key pasted into the certificate secret would be published: refused.
        let e = #expect(throws: ActionFailure.self) {
            try FileFormats.check(.tlsCertificate, SecureBytes(copying: Array((cert.pem + key.privateKeyPEM).utf8)))
        }
        #expect(e?.message.contains("private key") == true)
        #expect(throws: ActionFailure.self) { try FileFormats.check(.tlsCertificate, SecureBytes(copying: Array("garbage".utf8))) }
    }
}
