import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import SEVocabulary

/// Commands for administrators preparing a deployment: `inspect` and `check`.
enum AdminCommands {
    static let all: [Command] = [inspect, check]

    static let inspect = Command(
        ["inspect"], summary: "Show what add-secret requests say (no key needed)",
        arguments: "FILE...", positionals: 1...4096,
        options: InspectOptions.self,
        discussion: """
        Parses each file strictly (the same parser the guest uses at boot) and prints
        everything that is readable without a key: user-data type, lengths, keyslots
        with their host-key hashes, flags, config UID, SE-header tag, secret type, ID
        and length, the GCM tag (what EBC's toc.pol and attestation use) and the
        SHA-256 of the whole file (what a policy pins). The secret itself is
        encrypted and never shown.

        JSON keys (a stable interface): file, user_data_type (none, unsigned,
        ec-p521, rsa-2048, rsa-3072), version, length, encrypted_length,
        keyslots[].host_key_hash, flags, disable_dump, config_uid (null when zero),
        se_header_tag, secret_type, secret_id (null for meta), secret_name (for
        raw-name IDs), secret_length, tag, sha256, pin_digest (what a policy's
        pinned_sha256 lists: independent of the image binding, see
        docs/formats.md); user_data and signature_length
        when present; freshness: se-secretd's freshness record in the user data,
        {"version", "epoch"}, null when there is none, {"error": {"rule",
        "message"}} when it is malformed (docs/formats.md). A file that does not parse gives {"file", "error": {"rule",
        "message"}} and exit code 65.

        EXAMPLES:
          se-secretd inspect luks-root.asr
          se-secretd inspect --json requests/*.asr | jq -r '.[] | [.file, .secret_type] | @tsv'
        """
    ) { o, args, out in
        var objects: [JSON] = []
        var worst = ExitCode.ok
        for path in args.positionals {
            let bytes: [UInt8]
            do {
                bytes = try Inputs.file(path, limit: ASRLayout.maxSize, what: "request")
            } catch let e as CLIError {
                worst = worst == .noInput ? worst : e.code
                if o.json {
                    objects.append(.object([("file", .string(path)), ("error", .object([("rule", .string(e.code == .noInput ? "unreadable" : "oversize")), ("message", .string(e.message))]))]))
                } else { out.error("\(path): \(e.message)") }
                continue
            }
            let sha = Digest.sha256(bytes)
            do throws(RequestFormatError) {
                let r = try AddSecretRequest.parse(bytes)
                if o.json { objects.append(r.inspectionJSON(sha256: sha, file: path)) }
                else { out.out(describe(r, file: path, sha256: sha)) }
            } catch {
                if worst == .ok { worst = .policyViolation }
                if o.json {
                    objects.append(.object([("file", .string(path)), ("error", .object([("rule", .string(error.rule)), ("message", .string(error.description))]))]))
                } else {
                    out.error("\(path): not a valid add-secret request: \(error) [\(error.rule)]")
                }
            }
        }
        if o.json {
            out.out((objects.count == 1 ? objects[0] : .array(objects)).serialized())
        }
        return worst
    }

    static func describe(_ r: AddSecretRequest, file: String, sha256: [UInt8]) -> String {
        var s = "\(file):\n"
        func row(_ k: String, _ v: String) { s += "  " + k.padded(to: 18) + v + "\n" }
        row("secret type", r.secretType.name)
        if let id = r.secretID {
            row("secret ID", id.hex + (SecretID.asRawName(id).map { " (\"\($0)\")" } ?? ""))
        }
        row("secret length", String(r.secretHeader.length))
        row("user data", r.userDataType.name + (r.userDataType.isSigned ? " (signature \(r.userData.signature.count) bytes)" : ""))
        do throws(RequestFormatError) {
            if let f = try r.freshnessRecord() {
                row("freshness", "epoch \(f.epoch) (record version \(f.version)\(r.userDataType.isSigned ? ", under the signature" : ", not signed"))")
            }
        } catch {
            row("freshness", "malformed: \(error) [\(error.rule)]")
        }
        row("flags", r.flags.names.isEmpty ? "none" : r.flags.names.joined(separator: ", "))
        row("config UID", r.boundConfigUID?.hex ?? "none (not bound to an instance)")
        row("SE header tag", r.tags.tag.hex)
        row("keyslots", String(r.keyslots.count))
        for (i, k) in r.keyslots.enumerated() { row("  host key \(i)", k.hostKeyHash.hex) }
        row("length", "\(r.length) bytes (\(r.encryptedLength) encrypted)")
        row("tag", r.gcmTag.hex)
        row("sha256", sha256.hex)
        row("pin digest", r.pinDigest.hex + " (for pinned_sha256)")
        return s
    }

    static let check = Command(
        ["check"], summary: "Check a request directory against a policy, before deploying it",
        options: CheckOptions.self,
        discussion: """
        Runs exactly the checks the guest runs at boot, offline and on any machine,
        and says why a request list would not pass:
          completeness   every required secret has exactly one request
          whitelisting   no request the policy does not name, no duplicate IDs, no
                         request twice (a copy, or the same GCM tag: duplicate-request),
                         no more requests than the policy allows
          kinds          secret type (and length, if the policy fixes it)
          trust          signatures by the policy's signers, pinned SHA-256 digests,
                         or IBM's EBC table of contents (toc.asr + toc.pol)
          flags, CUID    required flags (disable-dump), the expected config UID
          freshness      the epoch in each request's signed freshness record: not
                         below trust.min_epoch or the secret's min_epoch, one epoch
                         for the whole set (trust.same_epoch; docs/rotation.md)
          host keys      with --host-key-document: a keyslot for one of those hosts;
                         with --cert: the documents verified as pvsecret does (IBM's
                         signing key, its chain to --root-ca or the system trust store,
                         the CRLs given with --crl; never downloaded, always offline).
                         Without --cert the report says "host-key documents NOT
                         verified" (and --no-verify says so on purpose; docs/host-keys.md)
          image          with --se-header: every request bound to that SE image (the
                         PLD, ALD, TLD and header tag it carries are the image's;
                         other-image otherwise)
          files          regular files only: symlinks, devices, directories named
                         like requests are refused; sizes are bounded; names that are
                         not printable UTF-8 (controls, ESC, DEL, bidi overrides, bytes
                         that are not UTF-8) are refused and shown escaped (\\xNN)
        Each problem names the file and the rule it breaks. A request whose secret
        the policy does not name gets a hint when its ID or its file name is close
        to a policy secret's name (a typo in `retrievable NAME` makes another ID).
        An ignored file (not ending in the policy's suffix, .asr by default) that
        holds an add-secret request is named in a note ("looks like an add-secret
        request"), and so is a required secret's request in such a file. The
        output also gives the order in which the guest will submit the requests
        and the secret-store hash that attestation (`pvattest check --secret ...
        --secret-store-locked`) will report for that order.

        NOT CHECKED: without --host-key-document/--host-key-hash the host binding is
        not checked, without --se-header the image binding is not; a request made
        for another machine or another image then passes here and is refused by the
        ultravisor at boot. The output says so, as lines under "not checked:" and in
        the result line, "result: PASS — 2 not checked: host binding, image
        binding", where a complete check says "result: PASS (… ms)"; in JSON as
        "not_checked": [{"check": "host-binding"|"image-binding", "message"}],
        empty when everything was checked. The exit code is 0 for a pass either
        way. The boot run has no SE header (the ultravisor checks the image binding
        there), so --se-header is check's alone. What no guest-side tool can check:
        whether a request decrypts (that needs the host's private key).

        JSON keys besides the verdicts: result (pass, fail), not_checked,
        se_header ({"file", "tag"} or null), ignored_files, misnamed_requests
        ([{"file", "secret_name", "secret_id", "secret_type", "message"}]),
        problems, submission_order, secret_store_hash, epochs, attestation.

        Exit codes: 0 the list passes, 65 policy violation (or a host-key document
        that fails verification), 78 invalid policy, 66 unreadable input (or
        --se-header holds no SE header), 64 bad arguments.

        EXAMPLES:
          se-secretd check -p policy.json -r tenant-a/ -k z16-host.crt --se-header se-image.img
          se-secretd check -p policy.json -r tenant-a/ --json | jq '.problems'
          se-secretd check -p policy.json -r tenant-a/ -k z16-host.crt --se-header se.hdr --json |
              jq -e '.result == "pass" and (.not_checked | length == 0)'
          se-secretd check -p policy.json -r tenant-a/ -k z16-host.crt \\
              --cert ibm-z-host-key-signing.crt --cert DigiCertCA.crt \\
              --crl ibm-z-host-key.crl --crl DigiCertCA.crl
        """
    ) { o, _, out in
        let policyPath = o.policy, dir = o.requests
        let policy = try Inputs.policy(policyPath)
        let hostKeyStatus = try o.hostKeyVerification.verify(documents: o.hostKeyDocuments)
        if o.hostKeyVerification.noVerify, !o.quiet { out.error(HostKeyVerificationOptions.noVerifyWarning("a request for these host keys")) }
        let hosts = try Inputs.hostKeyHashes(documents: o.hostKeyDocuments, hashes: o.hostKeyHashes)
        var image: CheckReport.Image? = nil
        if let path = o.seHeader {
            let bytes = try VerifyCommands.readPrefix(path, limit: VerifyCommands.seHeaderReadLimit, what: "SE header or image")
            do { image = CheckReport.Image(file: path, tags: try SEHeader.tags(from: bytes)) } catch {
                throw CLIError(.noInput, "\(path) is not an SE image or SE header: \(error)")
            }
        }
        let set = try Inputs.requestSet(dir, policy: policy, lookForMisnamed: true)
        let started = MonotonicClock.nanoseconds()
        let eval = Evaluator(policy: policy, hostKeyHashes: hosts.isEmpty ? nil : hosts, imageTags: image?.tags).evaluate(set)
        let elapsed = Double(MonotonicClock.nanoseconds() - started) / 1e6
        if o.quiet { return eval.passed ? .ok : .policyViolation }
        // Documents given but not verified: the host binding rests on files nobody vouched for.
        var unverified: [(id: String, message: String)] = []
        if !o.hostKeyDocuments.isEmpty, !hostKeyStatus.verified {
            unverified.append(("host-key-verification", "host-key verification: \(hostKeyStatus.line)"))
        }
        if o.json {
            let report = CheckReport.json(eval, policyPath: policyPath, directory: dir, set: set, image: image, notChecked: unverified,
                                          milliseconds: elapsed)
            out.out(hostKeyStatus.annotating(report, documents: o.hostKeyDocuments).serialized())
        } else {
            out.out(CheckReport.text(eval, policyPath: policyPath, directory: dir, set: set, image: image, notChecked: unverified,
                                     milliseconds: elapsed))
            if !o.hostKeyDocuments.isEmpty { out.line(hostKeyStatus.line) }
        }
        return eval.passed ? .ok : .policyViolation
    }
}

struct InspectOptions: OptionGroup {
    static let options = [JSONOption.spec("Print JSON (one object for one file, an array for several).")]
    let json: Bool
    init(_ args: Arguments) throws { json = try JSONOption.read(args) }
}

struct CheckOptions: OptionGroup {
    static let options = [
        PolicyOption.spec("The policy (JSON) that will be embedded in the initrd."),
        RequestsOption.spec("Directory with the request files (as on the request volume)."),
        .value("host-key-document", short: "k", "CERT", repeatable: true,
               "Host-key document (or P-521 public key) of a target machine; every request must have a keyslot for one of them."),
        .value("host-key-hash", "HEX", repeatable: true, "A target machine's host-key hash, as in /sys/firmware/uv/keys."),
        .value("se-header", "FILE", "The SE image (or its bare SE header, as `pvsecret create --hdr` takes) the requests are for; every request must be bound to it."),
        JSONOption.spec("Print the result as JSON."),
        .flag("quiet", short: "q", "Print nothing; only the exit code tells."),
    ] + HostKeyVerificationOptions.options
    let policy: String
    let requests: String
    /// Read (and the hashes checked) by the command, after the policy.
    let hostKeyDocuments: [String]
    let hostKeyHashes: [String]
    let seHeader: String?
    let hostKeyVerification: HostKeyVerificationOptions
    let json: Bool
    let quiet: Bool

    init(_ args: Arguments) throws {
        let policy = try PolicyOption(args), requests = try RequestsOption(args)
        hostKeyDocuments = try args.values("host-key-document")
        hostKeyHashes = try args.values("host-key-hash")
        seHeader = try args.value("se-header")
        hostKeyVerification = try HostKeyVerificationOptions(args)
        json = try JSONOption.read(args)
        quiet = try args.flag("quiet")
        self.policy = try policy.required()
        self.requests = try requests.required()
    }
}

/// Rendering of an evaluation, shared by `check` and the boot run's report.
enum CheckReport {
    /// The SE image given with --se-header: its path and the tags read from it.
    struct Image {
        let file: String
        let tags: SEHeaderTags
    }

    /// What the evaluation could not check, as (id, message): the host
    /// binding without host keys, the image binding without an SE header.
    static func notChecked(_ e: Evaluation, also extra: [(id: String, message: String)] = []) -> [(id: String, message: String)] {
        var out: [(id: String, message: String)] = []
        if !e.hostBindingChecked {
            out.append(("host-binding", "host binding: no host-key document given (-k, --host-key-hash): a request made for another machine passes here and is refused at boot"))
        }
        if !e.imageBindingChecked {
            out.append(("image-binding", "image binding: no SE header given (--se-header): a request made for another SE image passes here and is refused at boot (0x0108)"))
        }
        return out + extra
    }

    static func json(_ e: Evaluation, policyPath: String, directory: String, set: RequestSet, image: Image? = nil,
                     notChecked extra: [(id: String, message: String)] = [], milliseconds: Double) -> JSON {
        .object([
            ("result", .string(e.passed ? "pass" : "fail")),
            ("not_checked", .array(notChecked(e, also: extra).map { .object([("check", .string($0.id)), ("message", .string($0.message))]) })),
            ("policy", .object([("file", .string(policyPath)), ("sha256", .string(e.policyDigest.hex))])),
            ("se_header", image.map { .object([("file", .string($0.file)), ("tag", .string($0.tags.tag.hex))]) } ?? .null),
            ("requests_directory", .string(directory)),
            ("requests", .array(e.verdicts.map(\.json))),
            ("problems", .array(e.allProblems.map(\.json))),
            ("submission_order", .array(e.submissionOrder.map { .string($0) })),
            ("lock", .bool(e.lockStore)),
            ("secret_store_hash", .string(e.secretStoreHash.hex)),
            ("epochs", .array(e.epochs.map { .int(Int64($0)) })),
            ("attestation", e.attestation?.json ?? .null),
            ("ignored_files", .array(set.ignored.map { .string($0) })),
            ("misnamed_requests", .array(e.misnamed.map(\.json))),
            ("milliseconds", .double((milliseconds * 1000).rounded() / 1000)),
        ])
    }

    static func text(_ e: Evaluation, policyPath: String, directory: String, set: RequestSet, image: Image? = nil,
                     notChecked extra: [(id: String, message: String)] = [], milliseconds: Double) -> String {
        var s = "policy    \(policyPath) (sha256 \(e.policyDigest.hex.prefix(16))…)\n"
        if let image { s += "image     \(image.file) (SE-header tag \(image.tags.tag.hex))\n" }
        s += "requests  \(directory) (\(e.verdicts.count) request files"
        s += set.ignored.isEmpty ? ")\n" : ", \(set.ignored.count) other files ignored)\n"
        for m in e.misnamed { s += "note: \(m.message)\n" }
        s += "\n"
        var t = Table("FILE", "SECRET", "TYPE", "USER DATA", "TRUSTED BY", "VERDICT")
        for v in e.verdicts {
            t.add(RequestSet.displayName(v.file), v.displaySecret, v.request?.secretType.name ?? "-",
                  v.request?.userDataType.name ?? "-", v.trustedBy.isEmpty ? "-" : v.trustedBy.joined(separator: ","),
                  v.passed ? "ok" : "FAIL")
        }
        s += t.render()
        if !e.epochs.isEmpty {
            s += "\nepoch\(e.epochs.count == 1 ? "" : "s") (freshness records under a signature or pin): \(e.epochs.map(String.init).joined(separator: ", "))\n"
        }
        if let a = e.attestation {
            let asked = a.request.map { $0.arcb.flags.additionalDataNames.joined(separator: ", ") } ?? "-"
            s += "\nattestation request \(RequestSet.displayName(a.file)) (additional data: \(asked.isEmpty ? "none" : asked)): \(a.passed ? "ok" : "FAIL")\n"
        }
        let problems = e.allProblems
        if !problems.isEmpty {
            s += "\nproblems:\n"
            for p in problems { s += "  \(p)\n" }
        }
        if e.passed {
            s += "\nsubmission order: \(e.submissionOrder.joined(separator: ", "))\n"
            s += "secret-store hash (\(e.lockStore ? "locked" : "unlocked")): \(e.secretStoreHash.hex)\n"
        }
        let unchecked = notChecked(e, also: extra)
        if !unchecked.isEmpty {
            s += "\nnot checked:\n"
            for u in unchecked { s += "  \(u.message)\n" }
        }
        let ms = (milliseconds * 10).rounded() / 10
        let verdict: String
        if !e.passed { verdict = "FAIL — \(problems.count) problem\(problems.count == 1 ? "" : "s")" }
        else if unchecked.isEmpty { verdict = "PASS" }
        else { verdict = "PASS — \(unchecked.count) not checked: " + unchecked.map { $0.id.replacingHyphens }.joined(separator: ", ") }
        s += "\nresult: " + verdict + " (\(ms) ms)\n"
        return s
    }
}

extension String {
    /// "host-binding" as "host binding".
    fileprivate var replacingHyphens: String {
        String(decoding: utf8.map { $0 == UInt8(ascii: "-") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
