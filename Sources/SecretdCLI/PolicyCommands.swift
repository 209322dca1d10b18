import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import SEVocabulary

/// `policy init`, `policy validate` and `policy requests`.
enum PolicyCommands {
    static let all: [Command] = [initCommand, validate, requests]

    static let requests = Command(
        ["policy", "requests"], summary: "Print the pvsecret create lines that make a request set this policy accepts",
        arguments: "FILE", positionals: 1...1,
        options: RequestRecipeOptions.self,
        discussion: """
        For the tenant: one `pvsecret create` line per request the policy expects (a
        meta request when the policy allows one, each secret, a CCK update), with the
        policy's flags (--flags disable-dump), config UID (--cuid-hex), signer
        (--user-sign-key) and freshness record (--user-data), and what each value file
        must hold (size, format, whether a trailing newline counts). The tenant's own
        files are placeholders unless given: HKD.crt, IBM's certificates, SE-IMAGE,
        SIGNER.key, one value file per secret named after it. Lines are shell-quoted;
        --json gives each request's argument vector. What the lines cannot express
        (pins, the EBC table of contents, attestation) is said at the end.

        The lines round-trip: `se-secretd-dev pvsecret create` takes the same
        arguments, and the set it makes passes `se-secretd check` (the tests do
        exactly that).

        EXAMPLES:
          se-secretd policy requests /etc/se-secretd/policy.json
          se-secretd policy requests policy.json -k host1.crt -k host2.crt --hdr se.img \\
              --signer tenant=tenant.key --values secrets/
        """
    ) { o, args, out in
        let p = try Inputs.policy(args.positionals[0])
        var inputs = RequestRecipes.Inputs()
        if !o.hostKeyDocuments.isEmpty { inputs.hostKeyDocuments = o.hostKeyDocuments }
        if !o.certificates.isEmpty { inputs.certificates = o.certificates }
        inputs.noVerify = o.noVerify
        if let h = o.seHeader { inputs.seHeader = h }
        for (name, path) in o.signerKeys {
            guard p.trust.signers.contains(where: { $0.name == name }) else {
                throw CLIError(.usage, "--signer \(name)=…: the policy has no signer \"\(name)\" (it has \(p.trust.signers.map { "\"\($0.name)\"" }.joined(separator: ", ")))")
            }
            inputs.signerKeys[name] = path
        }
        inputs.valueDirectory = o.values
        inputs.epoch = o.epoch
        let r = RequestRecipes(policy: p, inputs: inputs)
        if o.json {
            out.line(JSON.object([
                ("format", .string("se-secretd-request-recipes")), ("version", .int(1)),
                ("policy_sha256", .string(p.digest.hex)),
                ("freshness", r.freshness.map { .object([("file", .string($0.file)), ("epoch", .int(Int64($0.epoch)))]) } ?? .null),
                ("requests", .array(r.recipes.map { x in
                    .object([("file", .string(x.file)), ("secret", x.secret.map { .string($0) } ?? .null), ("type", .string(x.type)),
                             ("argv", .array((["pvsecret"] + x.arguments).map { .string($0) })),
                             ("value_file", x.valueFile.map { .string($0) } ?? .null), ("value", .string(x.value))])
                })),
                ("notes", .array(r.notes.map { .string($0) })),
            ]).serialized())
            return .ok
        }
        out.line("# pvsecret create lines for \(Printable.line(args.positionals[0])) (sha256 \(p.digest.hex.prefix(16))…): \(r.recipes.count) request\(r.recipes.count == 1 ? "" : "s")")
        if let f = r.freshness {
            out.line("# the freshness record (epoch \(f.epoch)) every request carries as user data (docs/formats.md):")
            out.line("printf 'SESD-FRESH\\001\\000\\000\\000\\000\\000' > \(ShellWords.quote(f.file))")
            out.line("printf '%016x' \(f.epoch) | xxd -r -p >> \(ShellWords.quote(f.file))")
        }
        for x in r.recipes {
            out.line("")
            // Comment lines from escaped text only: a name with a newline must not start a command.
            out.line("# " + Printable.line("\(x.file): \(x.secret.map { "\($0) (\(x.type))" } ?? x.type)"))
            if let v = x.valueFile { out.line("#   " + Printable.line("\(v): \(x.value)")) } else { out.line("#   " + Printable.line(x.value)) }
            out.line((["pvsecret"] + x.arguments).map(ShellWords.quote).joined(separator: " "))
        }
        if !r.notes.isEmpty {
            out.line("")
            for n in r.notes { out.line("# note: " + Printable.line(n)) }
        }
        out.line("")
        out.line("# then: se-secretd check -p \(ShellWords.quote(args.positionals[0])) -r DIR -k \(inputs.hostKeyDocuments.map(ShellWords.quote).joined(separator: " -k "))")
        return .ok
    }

    static let validate = Command(
        ["policy", "validate"], summary: "Validate a policy file and summarize it",
        arguments: "FILE", positionals: 1...1,
        options: ValidateOptions.self,
        discussion: """
        Reads a policy exactly as the guest will (strict JSON: no duplicate or unknown
        keys, every value checked) and prints what it requires. Exit code 78 names the
        first problem with its JSON path. Reference: docs/policy.md; schema:
        schema/policy.schema.json.
        """
    ) { o, args, out in
        let p = try Inputs.policy(args.positionals[0])
        if o.json {
            out.out(summaryJSON(p).serialized())
        } else {
            out.line("policy \(args.positionals[0]) is valid (version \(p.version), sha256 \(p.digest.hex))")
            out.line("  requests   \(p.requests.volume?.description ?? "(no volume: local directory only)") dir \(p.requests.directory), *\(p.requests.suffix), at most \(p.requests.maxRequests)")
            var methods: [String] = []
            if p.trust.usesSignatures { methods.append("signed by " + p.trust.signers.map(\.name).joined(separator: ", ")) }
            if p.trust.usesPins { methods.append("\(p.trust.pinned.count) pinned digests") }
            if let e = p.trust.ebc { methods.append("EBC toc \(e.toc)") }
            out.line("  trust      require \(p.trust.require.rawValue): " + (methods.isEmpty ? "nothing" : methods.joined(separator: "; ")))
            out.line("  freshness  " + (p.trust.minEpoch.map { "min epoch \($0)" } ?? "no min epoch") + (p.trust.sameEpoch ? ", one epoch per set" : ", epochs may differ"))
            out.line("  store      lock \(p.store.lock), meta \(p.store.allowMeta ? "allowed" : "refused"), flags [\(p.store.requiredFlags.joined(separator: ","))]" + (p.store.configUID.map { ", CUID \($0.hex)" } ?? ""))
            for s in p.secrets {
                out.line("  secret     \(s.name) (\(s.type.name), \(s.required ? "required" : "optional")\(s.minEpoch.map { ", min epoch \($0)" } ?? ""))" + (s.actions.isEmpty ? "" : ": " + s.actions.map(\.summary).joined(separator: "; ")))
            }
            if let r = p.root { out.line("  root       \(rootSummary(r))") }
            out.line("  on failure \(p.onFailure.rawValue)")
        }
        return .ok
    }

    /// What install's new root must be, in one line.
    static func rootSummary(_ r: Policy.RootBinding) -> String {
        switch r {
        case let .luks(v?): return "LUKS mapping /dev/mapper/\(v), opened by the policy"
        case .luks(nil): return "a LUKS mapping of one of the policy's volumes, opened by the policy"
        case .tmpfs: return "tmpfs or ramfs"
        case .any: return "any (NOT CHECKED: unsafe, demos and tests only)"
        }
    }

    static func summaryJSON(_ p: Policy) -> JSON {
        .object([
            ("valid", .bool(true)),
            ("sha256", .string(p.digest.hex)),
            ("secrets", .array(p.secrets.map { s in
                .object([("name", .string(s.name)), ("id", .string(s.id.hex)), ("type", .string(s.type.name)),
                         ("required", .bool(s.required)), ("min_epoch", s.minEpoch.map { .int(Int64($0)) } ?? .null),
                         ("actions", .array(s.actions.map { .string($0.summary) }))])
            })),
            ("signers", .array(p.trust.signers.map { .object([("name", .string($0.name)), ("fingerprint", .string($0.fingerprint.hex))]) })),
            ("min_epoch", p.trust.minEpoch.map { .int(Int64($0)) } ?? .null),
            ("same_epoch", .bool(p.trust.sameEpoch)),
            ("lock", .bool(p.store.lock)),
            ("on_failure", .string(p.onFailure.rawValue)),
        ])
    }

    static let initCommand = Command(
        ["policy", "init"], summary: "Write a starting policy from a set of requests",
        options: InitOptions.self,
        discussion: """
        Reads the requests and writes a policy that accepts exactly this list: every
        secret present becomes a required secret of its type; meta and update-CCK
        requests are allowed only if present; disable-dump is required if every
        request sets it; a common config UID is pinned. Requests are trusted by their
        SHA-256 digests, or, with --signer, by signature (then every request must
        verify with one of the signers).

        Secret IDs are SHA-256 hashes of the names given to `pvsecret create`; pass
        the names with --name so the policy can show them (unknown IDs are kept as
        hex). Add the actions (LUKS, files, credentials) by hand afterwards; see
        docs/policy.md. The result is validated before it is written.

        EXAMPLE:
          se-secretd policy init -r tenant-a/ -n luks-root -n ssh-host-key \\
              -s tenant=tenant-signing.pub.pem -o /etc/se-secretd/policy.json
        """
    ) { o, _, out in
        let dir = o.requests
        let relaxed = Policy.RequestSource(volume: nil, directory: ".", suffix: ".asr", maxRequests: 4096,
                                           maxFileSize: ASRLayout.maxSize, waitSeconds: 30)
        let set: RequestSet
        do { set = try RequestSet.load(directory: dir, rules: relaxed, includeEBC: false) } catch {
            throw CLIError(.noInput, "cannot read the request directory \(dir): \(error)")
        }
        if let p = set.problems.first { throw CLIError(.policyViolation, "\(p)") }
        guard !set.requests.isEmpty else { throw CLIError(.noInput, "no *.asr files in \(dir)") }

        var signers: [PolicyDraft.Signer] = []
        for (name, path) in o.signers {
            let bytes = try Inputs.file(path, limit: 64 << 10, what: "signer key")
            let key: PublicKey
            do { key = try PublicKey.load(bytes) } catch { throw CLIError(.noInput, "\(path): \(error)") }
            signers.append(PolicyDraft.Signer(name: name, key: key))
        }
        var names: [[UInt8]: PolicyDraft.Name] = [:]
        for n in o.names { names[Digest.sha256(Array(n.utf8))] = PolicyDraft.Name(name: n, raw: false) }
        for (id, n) in o.rawNames { names[id] = PolicyDraft.Name(name: n, raw: true) }
        let draft: PolicyDraft
        do {
            draft = try PolicyDraft(requests: set.requests, names: names, signers: signers,
                                    volume: o.volume, directory: o.directory)
        } catch let e as PolicyDraft.Refused { throw CLIError(e) }
        let doc = draft.document
        let text = doc.serialized()
        do { _ = try Policy.parse(Array(text.utf8)) } catch {
            throw CLIError(.software, "the generated policy does not validate (a bug): \(error)")
        }
        if let path = o.output {
            if !o.force, FileIO.kind(of: path) != nil {
                throw CLIError(.usage, "\(path) exists; use --force to overwrite it")
            }
            do { try FileIO.writeAtomically(path, Array(text.utf8), mode: 0o644) } catch {
                throw CLIError(.ioError, "cannot write \(path): \(error)")
            }
            out.error("wrote \(path): \(draft.secretCount) secrets, trust by \(signers.isEmpty ? "pinned digests" : "signature")")
        } else {
            out.out(text)
        }
        return .ok
    }
}

struct RequestRecipeOptions: OptionGroup {
    static let options: [OptionSpec] = [
        .value("host-key-document", short: "k", "FILE", repeatable: true, "A host-key document for the lines' -k (default the placeholder HKD.crt)."),
        .value("cert", short: "C", "FILE", repeatable: true, "IBM's signing-key or intermediate CA certificate for the lines' --cert."),
        .flag("no-verify", "Write --no-verify instead of --cert (tests, simulators; never for production requests)."),
        .value("hdr", "FILE", "The SE image or header for the lines' --hdr (default the placeholder SE-IMAGE)."),
        .value("signer", short: "s", "NAME=FILE", repeatable: true, "The private key of the policy's signer NAME (default NAME.key)."),
        .value("values", "DIR", "The directory the value files are in (default: bare names, one per secret)."),
        .value("epoch", "N", "The epoch of the freshness record (default the policy's minimum; only when it wants one)."),
        JSONOption.spec("Print each request's argument vector and value as JSON."),
    ]
    let hostKeyDocuments: [String]
    let certificates: [String]
    let noVerify: Bool
    let seHeader: String?
    let signerKeys: [(String, String)]
    let values: String?
    let epoch: UInt64?
    let json: Bool

    init(_ args: Arguments) throws {
        hostKeyDocuments = try args.values("host-key-document")
        certificates = try args.values("cert")
        noVerify = try args.flag("no-verify")
        guard !(noVerify && !certificates.isEmpty) else { throw CLIError(.usage, "--no-verify and --cert exclude each other") }
        seHeader = try args.value("hdr")
        signerKeys = try args.values("signer").map { spec in
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex, spec.index(after: eq) != spec.endIndex else {
                throw CLIError(.usage, "--signer takes NAME=FILE, not \"\(spec)\"")
            }
            return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
        }
        values = try args.value("values")
        if let e = try args.value("epoch") {
            guard let n = UInt64(e), n <= FreshnessRecord.maxEpoch else { throw CLIError(.usage, "--epoch takes a number from 0 to 2^63-1") }
            epoch = n
        } else { epoch = nil }
        json = try JSONOption.read(args)
    }
}

struct ValidateOptions: OptionGroup {
    static let options = [JSONOption.spec("Print the summary as JSON.")]
    let json: Bool
    init(_ args: Arguments) throws { json = try JSONOption.read(args) }
}

struct InitOptions: OptionGroup {
    static let options: [OptionSpec] = [
        RequestsOption.spec("Directory with the request files."),
        .value("name", short: "n", "NAME", repeatable: true,
               "A secret name used with `pvsecret create ... NAME`; its SHA-256 ID is matched against the requests."),
        .value("raw-name", "NAME", repeatable: true, "A name used with `pvsecret create --use-name` (raw ID)."),
        .value("signer", short: "s", "NAME=FILE", repeatable: true,
               "Trust requests signed by this key (PEM public key or certificate) instead of pinning their digests."),
        .value("volume", "SPEC", "Where the requests are at boot: LABEL=, UUID=, PARTLABEL=, PARTUUID= or /dev/... (default LABEL=SE-SECRETS)."),
        .value("directory", "PATH", "Directory on that volume (default: its root)."),
        OutputFileOption.spec("Write the policy here instead of standard output."),
        ForceOption.spec("Overwrite an existing output file."),
    ]
    let requests: String
    let names: [String]
    /// --raw-name, each with its raw ID.
    let rawNames: [([UInt8], String)]
    /// --signer NAME=FILE, in order.
    let signers: [(name: String, path: String)]
    let volume: String
    let directory: String?
    let output: String?
    let force: Bool

    init(_ args: Arguments) throws {
        let requests = try RequestsOption(args)
        names = try args.values("name")
        let raw = try args.values("raw-name"), signerSpecs = try args.values("signer")
        volume = try args.value("volume") ?? "LABEL=SE-SECRETS"
        directory = try args.value("directory")
        output = try OutputFileOption.read(args)
        force = try ForceOption.read(args)
        self.requests = try requests.required()
        signers = try signerSpecs.map { spec in
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else {
                throw CLIError(.usage, "--signer takes NAME=FILE, not \"\(spec)\"")
            }
            return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
        }
        rawNames = try raw.map { n in
            guard let id = SecretID.rawName(n) else { throw CLIError(.usage, "--raw-name takes 1 to 31 bytes") }
            return (id, n)
        }
    }
}
