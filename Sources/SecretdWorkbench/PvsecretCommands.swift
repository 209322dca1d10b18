import SEBase
import SECrypto
import ASRCodec
import UVSimulator
import RequestBuilding
import SecretdCLI
import SEVocabulary

/// `se-secretd-dev pvsecret create`: IBM's `pvsecret create` command line,
/// taken as it is, building the request with se-secretd's own builder (the
/// same layout and cryptography as `sim create-request`). It exists so
/// that what `se-secretd policy requests` prints can be run and checked
/// without IBM's tools, and so that a test can make a set the way a tenant
/// does. Host-key documents are not verified here: `--no-verify` is
/// required (`se-secretd check -k … --cert …` verifies them).
enum PvsecretCommands {
    static let all: [Command] = [create]

    static let create = Command(
        ["pvsecret", "create"], summary: "Build an add-secret request from a pvsecret create command line",
        arguments: "meta | association NAME | retrievable NAME | update-cck", positionals: 1...2,
        options: PvsecretCreateOptions.self,
        discussion: """
        Takes IBM's `pvsecret create` arguments (options before the subcommand, as
        pvsecret wants them; its subcommand options after) and writes the request with
        se-secretd's builder: -k host-key documents, --hdr the SE image or header, -o,
        --flags disable-dump, --cuid-hex / --cuid, --extension-secret / --cck,
        --user-data, --user-sign-key, --use-name; meta, association NAME
        [--input-secret F], retrievable NAME --type plain|aes|aes-xts|hmac-sha|ec
        --secret F, update-cck --secret F. Not taken: --cert/--crl/--root-ca (no
        verification here: give --no-verify), --policy/--toc-policy (EBC), --stdout
        and NAME.yaml, --output-secret. What `se-secretd policy requests` prints runs
        here unchanged (with --no-verify).

        EXAMPLES:
          se-secretd-dev pvsecret create -k sim/host-key.crt --no-verify --hdr sim/se-header.bin \\
              --user-sign-key tenant.key -o luks-root.asr retrievable luks-root --type plain --secret pass.txt
        """
    ) { o, args, out in
        let sub = args.positionals[0]
        let name = args.positionals.count > 1 ? args.positionals[1] : nil
        let keys = try Inputs.hostKeys(documents: o.hostKeyDocuments)
        let header = try Inputs.file(o.header, limit: 64 << 20, what: "SE header")
        let tags: SEHeaderTags
        do { tags = try SEHeader.tags(from: header) } catch { throw CLIError(.policyViolation, "--hdr \(o.header): \(error)") }

        func value(_ path: String?, _ what: String) throws -> SecureBytes {
            guard let path else { throw CLIError(.usage, "\(sub) needs --secret FILE (\(what))") }
            return try SimCommands.secretFile(path, what: what)
        }
        func named() throws {
            guard let name, !name.isEmpty else { throw CLIError(.usage, "\(sub) needs a NAME") }
        }
        // The secret as `sim create-request` makes it (SimulatorRequestSpec), for
        // the host keys and image given instead of the simulator's.
        func spec(_ kind: SimulatorRequestSpec.Kind, _ v: SecureBytes?) throws -> SimulatedRequest.Secret {
            try DeviceCommands.cli { try SimulatorRequestSpec.secret(kind, value: v) }
        }
        let secret: SimulatedRequest.Secret
        switch sub {
        case "meta":
            guard name == nil else { throw CLIError(.usage, "meta takes no NAME") }
            secret = .meta
        case "association":
            try named()
            secret = try spec(.association, try o.inputSecret.map { try SimCommands.secretFile($0, what: "association secret") })
        case "retrievable", "retr":
            try named()
            guard let type = o.type else { throw CLIError(.usage, "retrievable needs --type plain, aes, aes-xts, hmac-sha or ec") }
            let v = try value(o.secret, "the secret")
            switch type {
            case "plain": secret = try spec(.plain, v)
            case "aes": secret = try spec(.aes, v)
            case "aes-xts": secret = try spec(.aesXTS, v)
            case "hmac-sha":
                // pvsecret: a key of 64 bytes is HMAC-SHA-256, of 128 bytes HMAC-SHA-512 (one block each).
                guard v.count == 64 || v.count == 128 else {
                    throw CLIError(.policyViolation, "an HMAC-SHA key has 64 or 128 bytes here, not \(v.count)")
                }
                secret = try spec(v.count == 64 ? .hmacSHA256 : .hmacSHA512, v)
            case "ec": secret = try spec(.ec, v)
            default: throw CLIError(.usage, "--type takes plain, aes, aes-xts, hmac-sha or ec, not \"\(type)\"")
            }
        case "update-cck", "cck":
            secret = try spec(.updateCCK, try value(o.secret, "the new CCK"))
        default:
            throw CLIError(.usage, "the subcommand is meta, association, retrievable or update-cck, not \"\(sub)\"")
        }
        var r = SimulatedRequest(secret, name: name)
        r.useRawName = o.useName
        r.replacementHostKeys = keys
        r.replacementTags = tags
        if let c = o.configUID { r.configUID = .explicit(c) }
        r.flags.disableDump = o.disableDump
        r.extensionSecret = try SimCommands.extensionSecret(file: o.extensionSecret, cck: o.cck)
        let data = try o.userData.map { try Inputs.file($0, limit: 4096, what: "user data") }
        if let k = o.userSignKey {
            r.userData = .signed(data ?? [], key: try SimCommands.signingKey(k))
        } else if let data {
            r.userData = .unsigned(data)
        }
        let target = RequestTarget(hostKey: keys[0], imageTags: tags, configUID: [UInt8](repeating: 0, count: 16))
        let bytes: [UInt8]
        do { bytes = try target.makeRequest(r) } catch let e as SimulatedRequest.Invalid {
            throw CLIError(.usage, "\(name ?? sub): \(e.message)")
        } catch {
            throw CLIError(.policyViolation, "cannot build the request: \(error)")
        }
        do { try FileIO.writeAtomically(o.output, bytes, mode: 0o644) } catch {
            throw CLIError(.ioError, "cannot write \(o.output): \(error)")
        }
        out.line("wrote \(o.output) (\(sub)\(name.map { " \($0)" } ?? ""), \(bytes.count) bytes, tag \(Array(bytes.suffix(16)).hex))")
        return .ok
    }
}

struct PvsecretCreateOptions: OptionGroup {
    static let options: [OptionSpec] = [
        .value("host-key-document", short: "k", "FILE", repeatable: true, "A host-key document (repeatable; at least one)."),
        .flag("no-verify", "Do not verify the host-key documents (required here)."),
        .value("cert", short: "C", "FILE", repeatable: true, "Refused here: no verification; give --no-verify."),
        .value("hdr", "FILE", "The SE image or its SE header."),
        .value("output", short: "o", "FILE", "Where to write the request."),
        .flag("force", short: "f", "Accepted (pvsecret: make requests on an SE guest too)."),
        .value("extension-secret", "FILE", "A 32-byte extension secret."),
        .value("cck", "FILE", "A 32-byte CCK to derive the extension secret from."),
        .value("cuid-hex", "HEX", "The config UID, 32 hex digits (0x allowed)."),
        .value("cuid", "FILE", "The config UID: a file of 16 bytes."),
        .value("flags", "FLAGS", "disable-dump."),
        .value("user-data", "FILE", "User data (up to 512 bytes, 256 when signed)."),
        .value("user-sign-key", "FILE", "Sign the user data with this private key (EC P-521, RSA 2048/3072; PEM or DER)."),
        .flag("use-name", "Use the name itself as the secret ID (up to 31 bytes)."),
        .value("secret", "FILE", "retrievable / update-cck: the secret's value."),
        .value("type", "TYPE", "retrievable: plain, aes, aes-xts, hmac-sha or ec."),
        .value("input-secret", "FILE", "association: the 32-byte secret (random without)."),
    ]
    let hostKeyDocuments: [String]
    let header: String
    let output: String
    let extensionSecret: String?
    let cck: String?
    let configUID: [UInt8]?
    let disableDump: Bool
    let userData: String?
    let userSignKey: String?
    let useName: Bool
    let secret: String?
    let type: String?
    let inputSecret: String?

    init(_ args: Arguments) throws {
        hostKeyDocuments = try args.values("host-key-document")
        guard !hostKeyDocuments.isEmpty else { throw Arguments.missing("host-key-document") }
        guard try args.values("cert").isEmpty else {
            throw CLIError(.usage, "--cert: this builder does not verify host-key documents; give --no-verify (and verify them with se-secretd check -k … --cert …)")
        }
        guard try args.flag("no-verify") else { throw CLIError(.usage, "give --no-verify (as pvsecret wants --no-verify or --cert)") }
        header = try args.require("hdr")
        output = try args.require("output")
        _ = try args.flag("force")
        extensionSecret = try args.value("extension-secret")
        cck = try args.value("cck")
        guard extensionSecret == nil || cck == nil else { throw CLIError(.usage, "--extension-secret and --cck exclude each other") }
        let hex = try args.value("cuid-hex"), file = try args.value("cuid")
        guard hex == nil || file == nil else { throw CLIError(.usage, "--cuid-hex and --cuid exclude each other") }
        if let hex {
            let digits = hex.hasPrefix("0x") ? String(hex.dropFirst(2)) : hex
            guard digits.utf8.count == 32, let b = [UInt8](hex: digits), b.count == 16 else {
                throw CLIError(.usage, "--cuid-hex takes 32 hex digits (leading zeros included), not \"\(hex)\"")
            }
            configUID = b
        } else if let file {
            let b = try Inputs.file(file, limit: 4096, what: "config UID")
            guard b.count == 16 else { throw CLIError(.usage, "--cuid \(file): 16 bytes expected, not \(b.count) (a yaml file is not taken here)") }
            configUID = b
        } else {
            configUID = nil
        }
        switch try args.value("flags") {
        case nil: disableDump = false
        case "disable-dump"?: disableDump = true
        case let other?: throw CLIError(.usage, "--flags takes disable-dump, not \"\(other)\"")
        }
        userData = try args.value("user-data")
        userSignKey = try args.value("user-sign-key")
        useName = try args.flag("use-name")
        secret = try args.value("secret")
        type = try args.value("type")
        inputSecret = try args.value("input-secret")
    }
}
