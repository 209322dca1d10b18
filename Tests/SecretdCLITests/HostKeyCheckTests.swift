import Testing
import Glibc
import SEBase
import SECrypto
@testable import SecretdCLI
import SecretdWorkbench
import TestSupport

/// `check -k` with pvsecret's verification options (docs/host-keys.md), on
/// an example deployment for the test PKI's host key.
@Suite struct HostKeyCheckTests {
    static let pki = try! TestPKI()
    static let dir = try! TempDir("hkd-check")
    static let deployment: ExampleSet.Written = {
        var ex = ExampleSet()
        ex.hostKey = pki.hostKey.publicKey
        ex.hostKeyDocumentPEM = pki.hostKeyDocument.pem
        try! pki.write(to: dir.path)
        return try! ex.write(to: dir.appending("example"))
    }()
    /// A file of the PKI (written with the deployment, whichever test comes first).
    static func file(_ name: String) -> String { _ = deployment; return dir.appending(name) }
    static var base: [String] { ["check", "-p", deployment.policyPath, "-r", deployment.requestDirectory, "-k", file("hkd.crt")] }
    static var chain: [String] {
        ["--cert", file("signing.crt"), "--cert", file("inter.crt"), "--root-ca", file("root.crt"),
         "--crl", file("root.crl"), "--crl", file("inter.crl"), "--crl", file("signing.crl")]
    }

    @Test func theGoodChainVerifiesAndSaysSo() throws {
        let r = cli(Self.base + Self.chain)
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("host-key documents verified (IBM signing key \(Self.file("signing.crt"))"))
        #expect(!r.out.contains("NOT verified"))
        // --offline changes nothing (se-secretd never downloads).
        #expect(cli(Self.base + Self.chain + ["--offline"]).code == 0)
        let j = try JSON.parse(cli(Self.base + Self.chain + ["--json"]).out)
        #expect(j["host_key_documents"]?["verified"] == .bool(true))
        #expect(j["host_key_documents"]?["signing_key"] == .string(Self.file("signing.crt")))
    }

    @Test func withoutCertTheReportSaysNotVerified() throws {
        let r = cli(Self.base)
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("host-key documents NOT verified (no --cert given"))
        let j = try JSON.parse(cli(Self.base + ["--json"]).out)
        #expect(j["host_key_documents"]?["verified"] == .bool(false))
        #expect(j["host_key_documents"]?["files"] == .array([.string(Self.file("hkd.crt"))]))
        // Without -k there is nothing to say about host-key documents.
        #expect(try JSON.parse(cli("check", "-p", Self.deployment.policyPath, "-r", Self.deployment.requestDirectory, "--json").out)["host_key_documents"] == nil)
    }

    @Test func aSelfSignedDocumentFailsButPassesWithNoVerifyAndTheWarning() throws {
        // What `sim init` and ExampleSet write: a self-signed document for the same key.
        let selfSigned = Self.file("self-signed.crt")
        try FileIO.writeAtomically(selfSigned, Array(try Certificate.selfSigned(key: Self.pki.hostKey, commonName: "sim", organization: "sim", days: 30).pem.utf8), mode: 0o644)
        let args = ["check", "-p", Self.deployment.policyPath, "-r", Self.deployment.requestDirectory, "-k", selfSigned]
        // Its notBefore is the current second: wait for it to pass, so that the signer is what fails.
        sleep(1)
        let r = cli(args + Self.chain)
        #expect(r.code == 65)
        #expect(r.err.contains(selfSigned) && r.err.contains("[hkd-wrong-signer]"), "\(r.err)")
        let n = cli(args + ["--no-verify"])
        #expect(n.code == 0, "\(n.err)")
        #expect(n.err.contains("WARNING: host-key document verification is disabled (--no-verify)"))
        #expect(n.out.contains("host-key documents NOT verified (--no-verify)"))
    }

    @Test func brokenLinksNameTheirRule() throws {
        // No intermediate: no chain to the root.
        let noInter = cli(Self.base + ["--cert", Self.file("signing.crt"), "--root-ca", Self.file("root.crt"),
                                       "--crl", Self.file("inter.crl"), "--crl", Self.file("signing.crl")])
        #expect(noInter.code == 65 && noInter.err.contains("[chain-not-to-root]"), "\(noInter.err)")
        // The default trust store (the system's) does not have the test root.
        let system = cli(Self.base + ["--cert", Self.file("signing.crt"), "--cert", Self.file("inter.crt"),
                                      "--crl", Self.file("root.crl"), "--crl", Self.file("inter.crl"), "--crl", Self.file("signing.crl")])
        #expect(system.code == 65 && system.err.contains("/etc/ssl/certs") && system.err.contains("[chain-not-to-root]"), "\(system.err)")
        // No CRL from the signing key.
        let noCRL = cli(Self.base + ["--cert", Self.file("signing.crt"), "--cert", Self.file("inter.crt"), "--root-ca", Self.file("root.crt"),
                                     "--crl", Self.file("root.crl"), "--crl", Self.file("inter.crl")])
        #expect(noCRL.code == 65 && noCRL.err.contains("[hkd-no-crl]"), "\(noCRL.err)")
        // The intermediate given as the signing key: not IBM's subject.
        let notIBM = cli(Self.base + ["--cert", Self.file("inter.crt"), "--root-ca", Self.file("root.crt")])
        #expect(notIBM.code == 65 && notIBM.err.contains("[no-ibm-signing-key]"), "\(notIBM.err)")
    }

    @Test func optionsFollowPvsecretsRules() {
        #expect(cli(Self.base + ["--no-verify", "--cert", Self.file("signing.crt")]).code == 64)
        for lone in [["--crl", Self.file("root.crl")], ["--root-ca", Self.file("root.crt")], ["--offline"]] {
            let r = cli(Self.base + lone)
            #expect(r.code == 64 && r.err.contains("needs --cert"), "\(lone)")
        }
        #expect(cli("check", "-p", Self.deployment.policyPath, "-r", Self.deployment.requestDirectory, "--no-verify").code == 64)
        #expect(cli(Self.base + Self.chain.dropLast(2) + ["--crl", "/nonexistent.crl"]).code == 66)
        #expect(cli(Self.base + ["--cert", Self.file("signing.crt"), "--crl", Self.file("root.crt")]).code == 66)
    }

    @Test func attestationCreateTakesTheSameOptions() {
        let req = Self.file("attreq.bin"), arpk = Self.file("arp.key")
        let create = ["attestation", "create", "-k", Self.file("hkd.crt"), "--arpk", arpk, "-o", req]
        let v = cli(create + Self.chain)
        #expect(v.code == 0, "\(v.err)")
        #expect(v.out.contains("host-key documents verified"))
        let u = cli(create)
        #expect(u.code == 0 && u.out.contains("host-key documents NOT verified (no --cert given"))
        let n = cli(create + ["--no-verify"])
        #expect(n.code == 0 && n.err.contains("--no-verify") && n.out.contains("NOT verified (--no-verify)"))
        let noCRL = cli(create + Self.chain.dropLast(2))
        #expect(noCRL.code == 65 && noCRL.err.contains("[hkd-no-crl]"), "\(noCRL.err)")
    }
}
