import SEBase
import SECrypto
import SEVocabulary

/// The bridge from a policy to IBM's `pvsecret create`: for each request
/// the policy expects, the command line that makes it (as an argument
/// vector, placeholders where the tenant fills in its own files) and what
/// the secret's value file must hold. `se-secretd policy requests` prints
/// them; the tests run them through the workbench's pvsecret-compatible
/// builder and check that the set passes (docs/policy.md, "From a policy to
/// pvsecret create").
public struct RequestRecipes: Sendable {
    /// What the tenant's files are called in the lines (placeholders unless given).
    public struct Inputs: Sendable {
        public var hostKeyDocuments: [String] = ["HKD.crt"]
        /// IBM's signing-key and intermediate CA certificates for verifying
        /// the host-key documents; empty with `noVerify`.
        public var certificates: [String] = ["ibm-z-host-key-signing-key.crt", "DigiCertCA.crt"]
        public var noVerify = false
        public var seHeader = "SE-IMAGE"
        /// A signer's private key file by the policy's signer name (default NAME.key).
        public var signerKeys: [String: String] = [:]
        /// The directory the value files are named in (default: none, bare names).
        public var valueDirectory: String? = nil
        /// The epoch to write into the freshness records (default: the policy's minimum).
        public var epoch: UInt64? = nil

        public init() {}

        func signerKey(_ name: String) -> String { signerKeys[name] ?? name + ".key" }
        func value(_ name: String) -> String { (valueDirectory.map { $0 + "/" } ?? "") + name }
    }

    /// One request: its file, the pvsecret arguments (after `pvsecret`),
    /// and what its value file must hold.
    public struct Recipe: Sendable, Equatable {
        public var file: String
        public var secret: String?
        public var type: String
        public var arguments: [String]
        /// The value file the line reads (nil: none, a meta request).
        public var valueFile: String?
        public var value: String
    }

    public var recipes: [Recipe]
    /// What the lines leave to the tenant or cannot express (pins, EBC).
    public var notes: [String]
    /// The freshness record the lines pass as user data, if the policy wants one.
    public var freshness: (file: String, epoch: UInt64)?

    public init(policy: Policy, inputs: Inputs = Inputs()) {
        var notes: [String] = []
        let trust = policy.trust
        let epochWanted: UInt64? = {
            let floors = [trust.minEpoch].compactMap { $0 } + policy.secrets.compactMap(\.minEpoch)
            if let e = inputs.epoch { return e }
            return floors.max()
        }()
        let freshFile = epochWanted.map { "fresh-\($0).bin" }
        freshness = freshFile.map { ($0, epochWanted!) }

        func common(signer: String?) -> [String] {
            var a = ["create"]
            for k in inputs.hostKeyDocuments { a += ["-k", k] }
            if inputs.noVerify { a.append("--no-verify") } else { for c in inputs.certificates { a += ["--cert", c] } }
            a += ["--hdr", inputs.seHeader]
            if policy.store.requiredFlags.contains("disable-dump") { a += ["--flags", "disable-dump"] }
            if let cuid = policy.store.configUID { a += ["--cuid-hex", "0x" + cuid.hex] }
            if let freshFile { a += ["--user-data", freshFile] }
            if let signer { a += ["--user-sign-key", inputs.signerKey(signer)] }
            return a
        }
        let signs = trust.usesSignatures && trust.require != .none
        func signer(for rule: Policy.SecretRule?) -> String? {
            guard signs else { return nil }
            if let allowed = rule?.signers, let first = allowed.first { return first }
            return trust.signers.first?.name
        }
        let suffix = policy.requests.suffix
        var out: [Recipe] = []
        if policy.store.allowMeta {
            out.append(Recipe(file: "00-meta" + suffix, secret: nil, type: "meta",
                              arguments: common(signer: signer(for: nil)) + ["-o", "00-meta" + suffix, "meta"], valueFile: nil,
                              value: "no value: a meta request carries the flags and the extension secret only; added first, it fixes the extension secret for the rest"))
        }
        for rule in policy.secrets {
            // A name with control or invisible characters would span lines or hide
            // what it is on a command line: no line for it, a note instead.
            if rule.type != .updateCCK, !Printable.isPrintableUTF8(Array(rule.name.utf8)) {
                notes.append("secret \(Printable.line(rule.name)): its name has control or invisible characters; no line is printed for it (make its request by hand, or rename it in the policy)")
                continue
            }
            // File names come from a safe form of the name (the policy's names are
            // any text: "/home/u/.ssh/id_rsa" or "--no-verify" must not become a
            // path or an option); the name itself goes after "--" when it looks
            // like an option.
            let stem = rule.type == .updateCCK ? "update-cck" : Self.safeFileStem(rule.name)
            if rule.type != .updateCCK, stem != rule.name {
                notes.append("secret \(Printable.line(rule.name)): its files are named \(stem)\(suffix) and \(stem) (the name is not a safe file name)")
            }
            let file = stem + suffix
            let valueFile = inputs.value(rule.type == .updateCCK ? "new-cck.bin" : stem)
            var a = common(signer: signer(for: rule)) + ["-o", file]
            let name = rule.name.hasPrefix("-") ? ["--", rule.name] : [rule.name]
            switch rule.type {
            case .updateCCK:
                a += ["update-cck", "--secret", valueFile]
            case .association:
                a += ["association", "--input-secret", valueFile] + name
            default:
                a += ["retrievable", "--type", Self.pvsecretType(rule.type), "--secret", valueFile] + name
            }
            if rule.type != .updateCCK, SecretID.hashed(name: rule.name, sha256: Digest.sha256) != rule.id {
                if let raw = SecretID.rawName(rule.name), raw == rule.id {
                    a.insert("--use-name", at: a.firstIndex(of: "-o")!)
                } else {
                    notes.append("secret \(Printable.line(rule.name)) has an ID no pvsecret name gives (the policy names it by its ID): make its request with the name its ID was made from")
                }
            }
            out.append(Recipe(file: file, secret: rule.type == .updateCCK ? nil : rule.name, type: rule.type.name,
                              arguments: a, valueFile: valueFile, value: Self.valueShape(rule)))
        }
        if trust.usesPins {
            notes.append("the policy trusts pinned digests: a new request has a new digest (random keys), so after making the set add each request's pin digest (`se-secretd inspect FILE` prints it) to trust.pinned, or sign the requests")
        }
        if trust.ebc != nil {
            notes.append("the policy trusts IBM's EBC layout: add --toc-policy toc.pol to every line above, then make the table of contents last: pvsecret create … --policy toc.pol -o toc.asr meta (docs/policy.md, Example 2)")
        }
        if !signs && !trust.usesPins && trust.ebc == nil {
            notes.append("the policy vouches for no request (trust.require none): any request for this image is accepted")
        }
        if policy.attestation.enabled {
            notes.append("the policy \(policy.attestation.mode == .required ? "requires" : "takes") attestation: make the request for each boot with pvattest create -k HKD.crt … --arpk arp.key --add-data secret-store-hash -o \(policy.attestation.requestFile) (docs/attestation.md)")
        }
        recipes = out
        self.notes = notes
    }

    /// A file name stem for a secret name: ASCII letters, digits, '.', '_'
    /// and '-' kept, everything else '_', never starting with '-' or '.'
    /// (no option, no hidden file, no path), at most 64 bytes.
    public static func safeFileStem(_ name: String) -> String {
        var out: [UInt8] = []
        for b in name.utf8.prefix(64) {
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
            out.append(ok ? b : 0x5F)
        }
        if out.isEmpty || out[0] == 0x2D || out[0] == 0x2E { out.insert(contentsOf: Array("secret_".utf8), at: 0) }
        return String(decoding: out, as: UTF8.self)
    }

    /// pvsecret's `--type` for a retrievable secret type.
    public static func pvsecretType(_ t: SecretType) -> String {
        switch t {
        case .plain: return "plain"
        case .aes128, .aes192, .aes256: return "aes"
        case .aesXTS128, .aesXTS256: return "aes-xts"
        case .hmacSHA256, .hmacSHA512: return "hmac-sha"
        case .ecP256, .ecP384, .ecP521, .ed25519, .ed448: return "ec"
        case .null, .association, .updateCCK: return t.name
        }
    }

    /// What the value file must hold for a secret of this rule.
    public static func valueShape(_ rule: Policy.SecretRule) -> String {
        switch rule.type {
        case .plain:
            let size = rule.length.map { "exactly \($0) bytes" } ?? "1 to 8190 bytes"
            return "\(size), the file's bytes as they are: a trailing newline is part of the secret (write it with printf '%s', not echo)"
        case .aes128, .aes192, .aes256, .aesXTS128, .aesXTS256:
            return "a raw key of exactly \(rule.type.fixedLength ?? 0) bytes (not hex, not base64), e.g. head -c \(rule.type.fixedLength ?? 0) /dev/urandom"
        case .hmacSHA256, .hmacSHA512:
            let block = rule.type == .hmacSHA256 ? 64 : 128
            return "a raw HMAC key of \(block) bytes (pvsecret takes \(block) or twice that; se-secretd's \(rule.type.name) is \(block))"
        case .ecP256, .ecP384, .ecP521:
            let curve = rule.type == .ecP256 ? "prime256v1" : rule.type == .ecP384 ? "secp384r1" : "secp521r1"
            return "an EC private key on \(curve) in PEM or DER, e.g. openssl ecparam -name \(curve) -genkey -noout -out KEY"
        case .ed25519, .ed448:
            return "an \(rule.type == .ed25519 ? "Ed25519" : "Ed448") private key in PEM or DER, e.g. openssl genpkey -algorithm \(rule.type == .ed25519 ? "ed25519" : "ed448")"
        case .association:
            return "32 bytes (pvsecret makes a random one without --input-secret; keep it with --output-secret to make the same association for another guest)"
        case .updateCCK:
            return "the new customer communication key: exactly 32 bytes"
        case .null:
            return "no value"
        }
    }
}
