import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
@testable import SecretPolicy
import RequestBuilding

@Suite struct PassingSets {
    @Test func signedSetPassesWithOrderAndStoreHash() throws {
        let s = try Scenario("pass")
        var doc = PolicyDoc()
        doc.secrets = [#"{"name": "luks-root", "type": "plain"}"#, #"{"name": "tls", "type": "plain", "required": false}"#]
        doc.store = #"{"lock": true, "allow_meta": true}"#
        let meta = s.write("00-meta.asr", Scenario.request(.meta))
        let luks = s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        let tls = s.write("tls.asr", Scenario.request(Scenario.plain("tls")))
        let e = try s.evaluate(try doc.parse())
        #expect(e.passed, "\(e.allProblems)")
        #expect(e.submissionOrder == ["00-meta.asr", "luks.asr", "tls.asr"])
        #expect(e.verdict(for: "luks.asr")?.signer == "tenant")
        #expect(e.verdict(for: "luks.asr")?.secretName == "luks-root")
        let tags = [meta, luks, tls].map { Array($0.bytes.suffix(16)) }
        #expect(e.secretStoreHash == Digest.sha512(tags.flatMap { $0 } + [1]))
    }

    @Test func optionalSecretMayBeAbsent() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.secrets.append(#"{"name": "extra", "type": "aes-256", "required": false}"#)
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        #expect(try s.evaluate(try doc.parse()).passed)
    }

    @Test func pinnedDigestsTrustUnsignedRequests() throws {
        let s = try Scenario()
        let f = s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: nil))
        var doc = PolicyDoc()
        doc.trust = #"{"pinned_sha256": ["\#(try AddSecretRequest.parse(f.bytes).pinDigest.hex)"]}"#
        let e = try s.evaluate(try doc.parse())
        #expect(e.passed)
        #expect(e.verdict(for: "luks.asr")?.trustedBy == ["pinned"])
    }

    @Test func requireAllNeedsEveryMethod() throws {
        let s = try Scenario()
        let f = s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        var doc = PolicyDoc()
        let signer = JSON.string(Keys.tenant.publicKey.publicKeyPEM).serialized(pretty: false)
        doc.trust = #"{"signers": [{"name": "tenant", "key": \#(signer)}], "pinned_sha256": ["\#(try AddSecretRequest.parse(f.bytes).pinDigest.hex)"], "require": "all"}"#
        #expect(try s.evaluate(try doc.parse()).passed)
        doc.trust = #"{"signers": [{"name": "tenant", "key": \#(signer)}], "pinned_sha256": ["\#([UInt8].repeating(9, 32).hex)"], "require": "all"}"#
        #expect(try s.evaluate(try doc.parse()).rules == ["not-pinned"])
        doc.trust = #"{"signers": [{"name": "tenant", "key": \#(signer)}], "pinned_sha256": ["\#([UInt8].repeating(9, 32).hex)"], "require": "any"}"#
        #expect(try s.evaluate(try doc.parse()).passed)
    }

    @Test func rsaSignerWithAnySaltLength() throws {
        let s = try Scenario()
        var b = RequestBuilder(secret: Scenario.plain("luks-root"), hostKeys: [Keys.host.publicKey], tags: fixedTags)
        b.userData = .signed([1, 2, 3], key: Keys.rsa2048)
        b.pssSaltLength = 190  // what OpenSSL < 3.1 uses by default
        s.write("luks.asr", try b.build())
        var doc = PolicyDoc()
        doc.trust = PolicyDoc.signedBy(Keys.rsa2048)
        #expect(try s.evaluate(try doc.parse()).passed)
    }

    @Test func ignoredFilesDoNotCount() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        try FileIO.writeAtomically(s.requestDir + "/README.txt", Array("notes".utf8), mode: 0o644)
        mkdir(s.requestDir + "/lost+found", 0o700)
        let set = try s.load(try PolicyDoc().parse())
        #expect(set.ignored.sorted() == ["README.txt", "lost+found"])
        #expect(Evaluator(policy: try PolicyDoc().parse()).evaluate(set).passed)
    }
}

@Suite struct Violations {
    func only(_ rule: String, _ e: Evaluation, file: String? = nil) {
        #expect(e.rules == [rule], "expected only \(rule), got \(e.allProblems)")
        if let file { #expect(e.allProblems.allSatisfy { $0.file == file }) }
        #expect(!e.passed)
    }

    @Test func missingRequiredSecret() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.secrets.append(#"{"name": "ssh-host-key", "type": "plain"}"#)
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        let e = try s.evaluate(try doc.parse())
        only("missing-required", e)
        #expect(e.allProblems[0].message.contains("\"ssh-host-key\""))
    }

    @Test func extraRequestIsNotWhitelisted() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("evil.asr", Scenario.request(Scenario.plain("attacker-secret")))
        only("not-whitelisted", try s.evaluate(try PolicyDoc().parse()), file: "evil.asr")
    }

    @Test func duplicateID() throws {
        let s = try Scenario()
        s.write("a.asr", Scenario.request(Scenario.plain("luks-root", "one")))
        s.write("b.asr", Scenario.request(Scenario.plain("luks-root", "two")))
        let e = try s.evaluate(try PolicyDoc().parse())
        only("duplicate-id", e)
        #expect(Set(e.allProblems.map(\.file)) == ["a.asr", "b.asr"])
    }

    @Test func copiedMetaRequestIsADuplicateRequest() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.store = #"{"lock": true, "allow_meta": true}"#
        let meta = Scenario.request(.meta)
        s.write("00-meta.asr", meta)
        s.write("01-meta-copy.asr", meta)
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        let e = try s.evaluate(try doc.parse())
        only("duplicate-request", e)
        #expect(Set(e.allProblems.map(\.file)) == ["00-meta.asr", "01-meta-copy.asr"])
        #expect(e.verdict(for: "00-meta.asr")?.problems.first?.message.contains("01-meta-copy.asr") == true)
        #expect(e.verdict(for: "01-meta-copy.asr")?.problems.first?.message.contains("00-meta.asr") == true)
    }

    @Test func twoFilesWithTheSameTagAreDuplicateRequests() throws {
        // Different bytes (a ciphertext byte changed), the same GCM tag: the
        // ultravisor's history would know the tag once.
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.store = #"{"lock": true, "allow_meta": true}"#
        doc.trust = #"{"require": "none"}"#
        let meta = Scenario.request(.meta)
        var altered = meta
        altered[altered.count - 20] ^= 0x01
        s.write("00-meta.asr", meta)
        s.write("99-altered.asr", altered)
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        let e = try s.evaluate(try doc.parse())
        only("duplicate-request", e)
        #expect(Set(e.allProblems.map(\.file)) == ["00-meta.asr", "99-altered.asr"])
        #expect(e.allProblems.first?.message.contains("the same GCM tag") == true)
    }

    @Test func wrongKind() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(.retrievable(.aes256, id: Digest.sha256(Array("luks-root".utf8)), value: Random.secureBytes(32))))
        let e = try s.evaluate(try PolicyDoc().parse())
        only("wrong-type", e, file: "luks.asr")
        #expect(e.allProblems[0].message.contains("must be plain"))
    }

    @Test func wrongLength() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.secrets = [#"{"name": "luks-root", "type": "plain", "length": 48}"#]
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root", "short")))
        only("wrong-length", try s.evaluate(try doc.parse()))
    }

    @Test func unsignedWhereSignedIsRequired() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: nil))
        only("unsigned", try s.evaluate(try PolicyDoc().parse()), file: "luks.asr")
        // Unsigned user data (type 1) is not a signature either.
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: nil, unsignedData: [7, 7, 7]))
        only("unsigned", try s.evaluate(try PolicyDoc().parse()), file: "luks.asr")
    }

    @Test func unknownSignerKeyType() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: Keys.rsa2048))
        only("unknown-signer", try s.evaluate(try PolicyDoc().parse()), file: "luks.asr")
    }

    @Test func signatureByAnUnknownKeyOrTamperedIsBad() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: Keys.stranger))
        only("bad-signature", try s.evaluate(try PolicyDoc().parse()), file: "luks.asr")
        // A genuine request with one byte of the signed area changed (the config UID).
        var bytes = Scenario.request(Scenario.plain("luks-root"))
        bytes[0x108] ^= 0x01
        s.write("luks.asr", bytes)
        let e = try s.evaluate(try PolicyDoc().parse())
        only("bad-signature", e, file: "luks.asr")
    }

    @Test func signerNotAllowedForThisSecret() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.trust = PolicyDoc.signedBy(Keys.tenant, Keys.stranger, names: ["tenant", "isv"])
        doc.secrets = [#"{"name": "luks-root", "type": "plain", "signers": ["tenant"]}"#]
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: Keys.stranger))
        only("signer-not-allowed", try s.evaluate(try doc.parse()))
    }

    @Test func digestNotPinned() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.trust = #"{"pinned_sha256": ["\#([UInt8].repeating(0xAB, 32).hex)"]}"#
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        only("not-pinned", try s.evaluate(try doc.parse()), file: "luks.asr")
    }

    @Test func metaNotAllowed() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("meta.asr", Scenario.request(.meta))
        only("meta-not-allowed", try s.evaluate(try PolicyDoc().parse()), file: "meta.asr")
    }

    @Test func updateCCKNotAllowed() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("cck.asr", Scenario.request(.updateCCK(Random.secureBytes(32))))
        only("update-cck-not-allowed", try s.evaluate(try PolicyDoc().parse()), file: "cck.asr")
        // Allowed and named: passes, and is submitted last.
        var doc = PolicyDoc()
        doc.store = #"{"allow_update_cck": true}"#
        doc.secrets.append(#"{"type": "update-cck"}"#)
        let e = try s.evaluate(try doc.parse())
        #expect(e.passed, "\(e.allProblems)")
        #expect(e.submissionOrder.last == "cck.asr")
    }

    @Test func missingRequiredFlag() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.store = #"{"required_flags": ["disable-dump"]}"#
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), dump: false))
        only("missing-flag", try s.evaluate(try doc.parse()), file: "luks.asr")
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), dump: true))
        #expect(try s.evaluate(try doc.parse()).passed)
    }

    @Test func unknownFlagBits() throws {
        let s = try Scenario()
        var b = RequestBuilder(secret: Scenario.plain("luks-root"), hostKeys: [Keys.host.publicKey], tags: fixedTags)
        b.userData = .signed([1], key: Keys.tenant)
        b.flags = RequestFlags(rawValue: 1 << 40)
        s.write("luks.asr", try b.build())
        only("flag-not-allowed", try s.evaluate(try PolicyDoc().parse()))
    }

    @Test func configUIDMismatch() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.store = #"{"config_uid": "\#([UInt8].repeating(0x42, 16).hex)"}"#
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), cuid: .repeating(0x43, 16)))
        only("config-uid-mismatch", try s.evaluate(try doc.parse()))
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))  // unbound
        only("config-uid-mismatch", try s.evaluate(try doc.parse()))
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), cuid: .repeating(0x42, 16)))
        #expect(try s.evaluate(try doc.parse()).passed)
    }

    @Test func tooManyRequests() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.requests = #"{"max_requests": 2}"#
        doc.store = #"{"allow_meta": true}"#
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("m1.asr", Scenario.request(.meta))
        s.write("m2.asr", Scenario.request(.meta))
        only("too-many-requests", try s.evaluate(try doc.parse()))
    }

    @Test func symlinkInTheDirectoryIsRefused() throws {
        let s = try Scenario()
        let target = s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        _ = target
        symlink(s.requestDir + "/luks.asr", s.requestDir + "/link.asr")
        let e = try s.evaluate(try PolicyDoc().parse())
        #expect(e.rules.contains("not-regular-file"))
        #expect(e.allProblems.first { $0.rule == "not-regular-file" }?.file == "link.asr")
        #expect(e.allProblems.first { $0.rule == "not-regular-file" }?.message.contains("symlink") == true)
        // A symlink to a file outside the directory is refused the same way, and never read.
        unlink(s.requestDir + "/link.asr")
        symlink("/etc/passwd", s.requestDir + "/passwd.asr")
        #expect(try s.evaluate(try PolicyDoc().parse()).rules == ["not-regular-file"])
    }

    @Test func nonRegularEntriesAreRefused() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        mkfifo(s.requestDir + "/pipe.asr", 0o644)
        mkdir(s.requestDir + "/dir.asr", 0o755)
        let e = try s.evaluate(try PolicyDoc().parse())
        #expect(e.rules == ["not-regular-file"])
        #expect(Set(e.allProblems.map(\.file)) == ["pipe.asr", "dir.asr"])
    }

    /// Names that cannot be shown as they are (any suffix), and request names
    /// with a space: refused by name, shown escaped, never read (the copy of
    /// the luks request would otherwise be a duplicate-id).
    @Test func unprintableOrUnplainNamesAreBadFileNames() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("notes\u{1b}[2J.txt", Array("x".utf8))
        s.write("luks copy.asr", Scenario.request(Scenario.plain("luks-root")))
        let e = try s.evaluate(try PolicyDoc().parse())
        #expect(e.rules == ["bad-file-name"])
        #expect(e.allProblems.compactMap(\.file).sorted() == ["luks\\x20copy.asr", "notes\\x1b[2J.txt"])
        #expect(e.verdicts.map(\.file) == ["luks.asr"])
    }

    @Test func malformedAndOversizeFiles() throws {
        let s = try Scenario()
        var doc = PolicyDoc()
        doc.requests = #"{"max_file_size": 4096}"#
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        s.write("junk.asr", Array("not a request".utf8))
        s.write("big.asr", [UInt8](repeating: 0, count: 5000))
        let e = try s.evaluate(try doc.parse())
        #expect(e.rules == ["malformed", "file-too-large"])
        #expect(e.allProblems.first { $0.rule == "malformed" }?.file == "junk.asr")
        #expect(e.allProblems.first { $0.rule == "file-too-large" }?.file == "big.asr")
    }

    @Test func requestForAnotherHost() throws {
        let s = try Scenario()
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), host: Keys.otherHost))
        let hash = try RequestKeys.hostKeyHash(Keys.host.publicKey)
        only("no-keyslot-for-host", try s.evaluate(try PolicyDoc().parse(), hosts: [hash]))
        #expect(try s.evaluate(try PolicyDoc().parse(), hosts: [try RequestKeys.hostKeyHash(Keys.otherHost.publicKey)]).passed)
    }
}

@Suite struct EBCTrust {
    /// An EBC layout as pvics makes it: toc.asr (meta, unsigned user data =
    /// policy reference) and toc.pol (one tag per line).
    func layout(_ s: Scenario, requests: [String: [UInt8]], polName: String = "toc.pol",
                listed: [[UInt8]]? = nil, referencedHash: [UInt8]? = nil) -> (toc: [UInt8], pol: [UInt8]) {
        var pol: [UInt8] = []
        for (name, bytes) in requests.sorted(by: { $0.key < $1.key }) {
            s.write(name, bytes)
        }
        for t in listed ?? requests.sorted(by: { $0.key < $1.key }).map({ Array($0.value.suffix(16)) }) {
            pol += Array((t.hex + "\n").utf8)
        }
        try! FileIO.writeAtomically(s.requestDir + "/toc.pol", pol, mode: 0o644)
        let ref = EBC.PolicyReference(sha256: referencedHash ?? Digest.sha256(pol), path: polName)
        let toc = Scenario.request(.meta, signer: nil, unsignedData: ref.bytes)
        s.write("toc.asr", toc)
        return (toc, pol)
    }

    func doc(_ ebc: String) -> PolicyDoc {
        var d = PolicyDoc()
        d.trust = #"{"ebc": \#(ebc)}"#
        return d
    }

    @Test func ebcLayoutPasses() throws {
        let s = try Scenario("ebc")
        let (_, pol) = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)])
        let e = try s.evaluate(try doc(#"{"policy_sha256": "\#(Digest.sha256(pol).hex)"}"#).parse())
        #expect(e.passed, "\(e.allProblems)")
        #expect(e.submissionOrder == ["toc.asr", "luks.asr"])
        #expect(e.verdict(for: "luks.asr")?.trustedBy == ["ebc"])
    }

    @Test func ebcPolicyHashMismatch() throws {
        let s = try Scenario("ebc")
        _ = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)],
                   referencedHash: .repeating(0x11, 32))
        let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        #expect(e.rules.contains("ebc-policy-hash"))
        #expect(e.rules.contains("ebc-tag-not-listed"))  // no usable toc, so nothing is vouched for
        // The policy's own pin of toc.pol catches a consistent but different toc too.
        let s2 = try Scenario("ebc")
        _ = layout(s2, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)])
        #expect(try s2.evaluate(try doc(#"{"policy_sha256": "\#([UInt8].repeating(0x22, 32).hex)"}"#).parse()).rules
                    .contains("ebc-policy-hash"))
    }

    @Test func ebcTagNotListed() throws {
        let s = try Scenario("ebc")
        let luks = Scenario.request(Scenario.plain("luks-root"), signer: nil)
        let other = Scenario.request(Scenario.plain("ssh"), signer: nil)
        _ = layout(s, requests: ["luks.asr": luks, "ssh.asr": other], listed: [Array(luks.suffix(16))])
        var d = doc(#"{"allow_unpinned_toc": true}"#)
        d.secrets.append(#"{"name": "ssh", "type": "plain"}"#)
        let e = try s.evaluate(try d.parse())
        #expect(e.rules == ["ebc-tag-not-listed"])
        #expect(e.allProblems[0].file == "ssh.asr")
    }

    @Test func ebcPolicyReferenceAsPeopleTypeIt() throws {
        // `pvsecret create --policy ./toc.pol` writes "./toc.pol": pvebc takes it, so does se-secretd.
        let s = try Scenario("ebc")
        _ = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)], polName: "./toc.pol")
        let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        #expect(e.passed, "\(e.allProblems)")
        // A subdirectory, which pvebc would look in: refused, saying why.
        let sub = try Scenario("ebc")
        _ = layout(sub, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)], polName: "sub/toc.pol")
        let refused = try sub.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        #expect(refused.allProblems.contains { $0.rule == "ebc-reference" && $0.message.contains("subdirectory") }, "\(refused.allProblems)")
    }

    @Test func theEBCLayoutIsSubmittedInTheTagListsOrder() throws {
        // As pvics lays it out: the LUKS key, the CCK update second, the passphrase; not the policy's order.
        let s = try Scenario("ebc")
        let luks = Scenario.request(Scenario.plain("luks-root"), signer: nil)
        let ssh = Scenario.request(Scenario.plain("ssh"), signer: nil)
        let cck = Scenario.request(.updateCCK(Random.secureBytes(32)), signer: nil)
        let tags = [ssh, cck, luks].map { Array($0.suffix(16)) }
        _ = layout(s, requests: ["luks.asr": luks, "ssh.asr": ssh, "cck.asr": cck], listed: tags)
        var d = doc(#"{"allow_unpinned_toc": true}"#)
        d.secrets.append(#"{"name": "ssh", "type": "plain"}"#)
        d.secrets.append(#"{"type": "update-cck"}"#)
        d.store = #"{"allow_update_cck": true}"#
        let e = try s.evaluate(try d.parse())
        #expect(e.passed, "\(e.allProblems)")
        #expect(e.submissionOrder == ["toc.asr", "ssh.asr", "cck.asr", "luks.asr"])
        // The secret-store hash is the one of that order (what pvattest check --secret in toc order computes).
        let toc = try #require(try FileIO.read(s.requestDir + "/toc.asr", limit: 1 << 20).suffix(16))
        #expect(e.secretStoreHash == SecretStoreHash.compute(tags: [Array(toc)] + tags, locked: true, sha512: Digest.sha512))
        // Outside the EBC layout, a CCK update still goes last.
        let plain = try Scenario()
        plain.write("luks.asr", Scenario.request(Scenario.plain("luks-root")))
        plain.write("cck.asr", Scenario.request(.updateCCK(Random.secureBytes(32))))
        var pd = PolicyDoc()
        pd.store = #"{"allow_update_cck": true}"#
        pd.secrets.append(#"{"type": "update-cck"}"#)
        let pe = try plain.evaluate(try pd.parse())
        #expect(pe.passed, "\(pe.allProblems)")
        #expect(pe.submissionOrder == ["luks.asr", "cck.asr"])
    }

    @Test func ebcPathTraversalInPolicyReference() throws {
        for bad in ["../../etc/shadow", "/etc/passwd", "./../toc.pol", ".."] {
            let s = try Scenario("ebc")
            _ = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)], polName: bad)
            let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
            #expect(e.rules.contains("ebc-path-traversal"), "\(bad): \(e.allProblems)")
        }
    }

    @Test func ebcTocMissingOrInvalid() throws {
        let s = try Scenario("ebc")
        s.write("luks.asr", Scenario.request(Scenario.plain("luks-root"), signer: nil))
        #expect(try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse()).rules.contains("ebc-toc-missing"))
        s.write("toc.asr", Scenario.request(Scenario.plain("x"), signer: nil))  // not a meta request
        #expect(try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse()).rules.contains("ebc-invalid"))
    }

    /// The table of contents references a file that is not in the directory:
    /// the toc is not established, so it is untrusted and vouches for nothing.
    @Test func ebcPolicyMissing() throws {
        let s = try Scenario("ebc")
        _ = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)], polName: "other.pol")
        let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        expectProblems(e, ["ebc-policy-missing": "toc.asr", "untrusted": "toc.asr", "ebc-tag-not-listed": "luks.asr"])
    }

    /// User data that is a SHA-256 and no file name is no policy reference.
    @Test func ebcReferenceWithoutAPath() throws {
        let s = try Scenario("ebc")
        let (_, pol) = layout(s, requests: ["luks.asr": Scenario.request(Scenario.plain("luks-root"), signer: nil)])
        s.write("toc.asr", Scenario.request(.meta, signer: nil, unsignedData: Digest.sha256(pol)))
        let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        expectProblems(e, ["ebc-reference": "toc.asr", "untrusted": "toc.asr", "ebc-tag-not-listed": "luks.asr"])
    }

    /// A tag listed twice is reported on toc.pol; the toc still vouches for the request.
    @Test func ebcDuplicateTag() throws {
        let s = try Scenario("ebc")
        let luks = Scenario.request(Scenario.plain("luks-root"), signer: nil)
        _ = layout(s, requests: ["luks.asr": luks], listed: [Array(luks.suffix(16)), Array(luks.suffix(16))])
        let e = try s.evaluate(try doc(#"{"allow_unpinned_toc": true}"#).parse())
        expectProblems(e, ["ebc-duplicate-tag": "toc.pol"])
        #expect(e.verdict(for: "luks.asr")?.trustedBy == ["ebc"])
    }

    @Test func ebcListedTagWithoutRequestAndTocPin() throws {
        let s = try Scenario("ebc")
        let luks = Scenario.request(Scenario.plain("luks-root"), signer: nil)
        let (toc, _) = layout(s, requests: ["luks.asr": luks], listed: [Array(luks.suffix(16)), .repeating(0x33, 16)])
        let e = try s.evaluate(try doc(#"{"toc_sha256": "\#(try AddSecretRequest.parse(toc).pinDigest.hex)"}"#).parse())
        #expect(e.rules == ["ebc-listed-tag-missing"])
        let wrongPin = try s.evaluate(try doc(#"{"toc_sha256": "\#([UInt8].repeating(1, 32).hex)"}"#).parse())
        #expect(wrongPin.rules.contains("ebc-toc-hash"))
    }
}

@Suite struct PinsAreImageIndependent {
    /// A request drafted once (fixed customer key, protection key and IV)
    /// and bound to two different images.
    func draft(tags: SEHeaderTags, signer: PrivateKey? = nil, value: String = "pass") throws -> [UInt8] {
        var b = RequestBuilder(secret: Scenario.plain("luks-root", value), hostKeys: [Keys.host.publicKey], tags: tags)
        b.customerKey = Keys.stranger
        b.protectionKey = SecureBytes(copying: [UInt8].repeating(0x17, 32))
        b.iv = .repeating(0x55, 12)
        if let signer { b.userData = .signed([1, 2, 3], key: signer) }
        return try b.build()
    }

    let imageB = SEHeaderTags(pld: .repeating(9, 64), ald: .repeating(8, 64), tld: .repeating(7, 64), tag: .repeating(6, 16))

    @Test(arguments: [false, true]) func pinSurvivesRebindingButNothingElse(signed: Bool) throws {
        let signer = signed ? Keys.tenant : nil
        let a = try AddSecretRequest.parse(try draft(tags: fixedTags, signer: signer))
        let b = try AddSecretRequest.parse(try draft(tags: imageB, signer: signer))
        #expect(a.bytes != b.bytes)
        #expect(Digest.sha256(a.bytes) != Digest.sha256(b.bytes))
        #expect(a.pinDigest == b.pinDigest)
        let c = try AddSecretRequest.parse(try draft(tags: imageB, signer: signer, value: "other"))
        #expect(c.pinDigest != a.pinDigest)
        // Any byte outside the binding, the signature and the GCM tag changes the pin.
        for offset in [0x10, 0x30, 0x108, 0x218, 0x418, 0x4B8, a.bytes.count - 17] {
            var bytes = a.bytes
            bytes[offset] ^= 1
            if offset == 0x218 && !signed {
                // Without user data the area must be zero: the parser refuses the flip.
                #expect(throws: RequestFormatError.self, "offset \(offset)") { try AddSecretRequest.parse(bytes) }
            } else {
                #expect(try AddSecretRequest.parse(bytes).pinDigest != a.pinDigest, "offset \(offset)")
            }
        }
    }

    @Test func policyPinnedForADraftAcceptsItForTheRealImage() throws {
        let s = try Scenario()
        let pin = try AddSecretRequest.parse(try draft(tags: fixedTags)).pinDigest
        s.write("luks.asr", try draft(tags: imageB))
        var doc = PolicyDoc()
        doc.trust = #"{"pinned_sha256": ["\#(pin.hex)"]}"#
        let e = try s.evaluate(try doc.parse())
        #expect(e.passed, "\(e.allProblems)")
        s.write("luks.asr", try draft(tags: imageB, value: "swapped"))
        #expect(try s.evaluate(try doc.parse()).rules == ["not-pinned"])
    }
}
