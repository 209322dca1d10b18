import SEBase
import ASRCodec
import SecretPolicy
import UVDevice
import UVCommands
import Attestation
import BootRun

/// The guest-side commands on the ultravisor: info, list, add, lock,
/// retrieve. Each works on the kernel device (--uv, default /dev/uv) or on a
/// simulator state (--uv-sim DIR); sysfs is read from --sysfs (default /sys).
public enum DeviceCommands {
    static let all: [Command] = [info, list, add, lock, retrieve, attest]

    /// Secret names the policy in `path` (--policy) knows, by ID.
    static func policyNames(_ path: String?) throws -> [[UInt8]: String] {
        guard let path else { return [:] }
        var names: [[UInt8]: String] = [:]
        for s in try Inputs.policy(path).secrets { names[s.id] = s.name }
        return names
    }

    /// Runs library code, mapping its failures to exit codes.
    public static func cli<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let f as CommandFailure {
            throw CLIError(f)
        } catch let e as UVError {
            throw CLIError(CommandFailure.from(e))
        }
    }

    // MARK: info

    static let info = Command(
        ["info"], summary: "Show what the ultravisor device and firmware offer",
        options: InfoOptions.self,
        discussion: """
        Asks the device which ioctls it implements and which ultravisor calls it can
        reach (a driver older than Linux 6.5 only knows attestation), and reads
        /sys/firmware/uv: whether this is a Secure Execution guest, the installed
        ultravisor calls, the secret-store limits, the supported secret types and
        request versions, and the host-key hashes (Linux 6.13+) that a request's
        keyslot must carry. Unreadable parts are reported, not fatal.

        \(BackendOptions.help)
        JSON keys: device, device_error, driver {kernel, legacy, ioctls,
        supp_uvio_cmds, supp_uv_cmds}, secure_execution_guest, query {facilities,
        max_secrets, max_assoc_secrets, max_retr_secrets, secret_types,
        add_secret_versions, disable_dump_supported}, host_key_hashes {host_key,
        backup_host_key, all}, errors.

        EXAMPLES:
          se-secretd info
          se-secretd info --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs --json
        """
    ) { o, args, out in
        let sysfs = o.backend.sysfs
        var transport: UVTransport? = nil
        var deviceError: String? = nil
        do { transport = try o.backend.open() } catch let e as CLIError {
            if e.code == .usage { throw e }
            deviceError = e.message
        }
        let report = InfoReport.gather(transport: transport, deviceError: deviceError, sysfs: sysfs)
        out.out(o.json ? report.json.serialized() + "\n" : report.text)
        return transport == nil ? .device : .ok
    }

    // MARK: list

    static let list = Command(
        ["list"], summary: "List the secrets in the ultravisor's store",
        options: ListOptions.self,
        discussion: """
        Lists the secret store as `pvsecret list` does: index, type and ID of every
        secret (never the secret), with pvsecret's type names (PLAINTEXT,
        AES-256-KEY, EC-SECP256R1-PRIVATE-KEY, Association, ...) and IDs as 0x and
        64 hex digits, after "NAME | " for raw-name IDs (`pvsecret create
        --use-name`) and, with --policy, for the IDs the policy names. The buffer is
        sized from /sys/firmware/uv/query/max_secrets; a kernel older than 6.13
        returns at most 85 secrets, and the list is then incomplete: a warning on
        standard error, exit code 69.

        --format (pvsecret's option): human (the default, the text above), yaml
        (pvsecret's: total_num_secrets, secrets[] {index, stype, len, id}), json
        (the same shape as JSON; pvsecret has no JSON) or bin (the list exactly as
        the ultravisor returned it, the bytes `pvsecret list --format bin` writes).

        --json is se-secretd's own report, richer than --format json: type names,
        codes, names, completeness. JSON keys: total, complete, secrets[] {index,
        type, type_code, length, id, name, retrievable}. It excludes --format.

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd list
          se-secretd list --format yaml -o secrets.yaml
          se-secretd list --format bin -o secrets.bin
          se-secretd list --json --policy /etc/se-secretd/policy.json
        """
    ) { o, args, out in
        let names = try policyNames(o.policy)
        let client = try o.backend.client()
        let listing = try cli { try CommandFailure.checking { () throws(UVError) in try client.listSecrets() } }
        let report = ListReport(listing: listing, names: names)
        var bytes: [UInt8]
        switch o.format {
        case .seSecretdJSON: bytes = Array((report.json.serialized() + "\n").utf8)
        case .human: bytes = Array(report.text.utf8)
        case .yaml: bytes = Array(report.pvsecretYAML.utf8)
        case .json: bytes = Array((report.pvsecretJSON.serialized() + "\n").utf8)
        case .bin: bytes = report.bin
        }
        if let path = o.output {
            do { try FileIO.writeAtomically(path, bytes, mode: 0o644) } catch {
                throw CLIError(.ioError, "cannot write \(path): \(error)")
            }
            out.error("wrote the list of \(listing.list.entries.count) secrets to \(path)")
        } else if o.format == .bin {
            Console.writeAll(1, &bytes)
        } else {
            out.out(String(decoding: bytes, as: UTF8.self))
        }
        if let w = report.incompleteWarning, o.format != .seSecretdJSON { out.error(w) }
        return listing.isComplete ? .ok : .device
    }

    // MARK: add

    static let add = Command(
        ["add"], summary: "Submit add-secret requests to the ultravisor",
        arguments: "FILE...", positionals: 1...4096,
        options: BackendOptions.self,
        discussion: """
        Reads every request once, checks it strictly (as `se-secretd inspect` does)
        and, when /sys/firmware/uv/keys lists this machine's host-key hashes, checks
        that it has a keyslot for this machine — all before submitting anything.
        Then submits the requests in the order given. The first refusal stops the
        run and names the ultravisor's return code; "dump in progress" (0x010d) is
        worth retrying later.

        This command submits requests without a policy; the boot agent uses the
        policy to decide what to submit.

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd add meta.asr luks-root.asr
          se-secretd add --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs requests/*.asr
        """
    ) { backend, args, out in
        let keys = try? backend.sysfs.hostKeyHashes()
        let loaded = try cli { try AddRequests.load(args.positionals, hostKeys: keys ?? nil) }
        let client = try backend.client()
        try cli {
            try AddRequests.submit(loaded, client: client) { r in
                out.line("added \(r.path) (\(r.request.isMeta ? "meta" : r.request.secretType.name)\(r.request.secretID.map { ", id \($0.hex)" } ?? ""))")
            }
        }
        return .ok
    }

    // MARK: lock

    static let lock = Command(
        ["lock"], summary: "Lock the secret store for the rest of this boot",
        options: BackendOptions.self,
        discussion: """
        After the lock the ultravisor refuses every further add-secret request
        (0x0102) until the guest reboots. Locking an already locked store fails with
        the same code.

        \(BackendOptions.help)
        EXAMPLE:
          se-secretd lock
        """
    ) { backend, _, out in
        let client = try backend.client()
        try cli { try CommandFailure.checking("lock") { () throws(UVError) in try client.lock() } }
        out.line("the secret store is locked")
        return .ok
    }

    // MARK: retrieve

    static let retrieve = Command(
        ["retrieve"], summary: "Retrieve a secret from the store (as pvsecret retrieve)",
        arguments: "[NAME|ID]", positionals: 0...1,
        options: RetrieveOptions.self,
        discussion: """
        Finds the secret in a fresh list and retrieves it with a buffer of the listed
        size (Linux 6.13+, IBM z17). Association secrets are not retrievable (0x0111).

        --inform says what the argument is, as in `pvsecret retrieve`:
          name   a name given to `pvsecret create`: its --use-name form first, then
                 the SHA-256 of the name (also names the --policy gives to IDs)
          hex    a secret ID: 0x and 64 hex digits (or the 64 digits alone)
          idx    a list index (base 10); --index N is the same
          yaml   a file as `pvsecret create` writes it (NAME.yaml): its id
        Without --inform (pvsecret's default is yaml), 64 hex digits with or without
        0x are an ID and anything else a name.

        --outform (pvsecret's, default pem): pem writes what pvsecret writes, a
        plaintext secret as "-----BEGIN PLAINTEXT SECRET-----", any other as
        "-----BEGIN IBM PROTECTED KEY-----" with a "kind: TYPE" header line (e.g.
        kind: AES-256-KEY); bin writes the bytes alone. Either way a plaintext secret
        is without its length prefix and padding, and a key is the protected-key blob
        the ultravisor returns (usable only in this guest instance).

        The secret is written to --output (created with mode 0600) or to standard
        output, which must not be a terminal. Nothing is logged.

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd retrieve --outform bin luks-passphrase -o /run/luks.key
          se-secretd retrieve --inform yaml my_secret.yaml -o my_secret.pem
          se-secretd retrieve --inform hex 0x8b5f90d449a2e8af90a415220e71ce7fa95e5813335b9992efaccbf9542443d1 > key.pem
          se-secretd retrieve --inform idx 3 --outform bin > key.blob
        """
    ) { o, _, out in
        let outputPath = o.output
        if outputPath == nil && Console.isTerminal(1) {
            throw CLIError(.usage, "refusing to write a secret to a terminal; use --output FILE or redirect standard output")
        }
        let selector = try o.selector()
        let names = try policyNames(o.policy)
        let client = try o.backend.client()
        let secret = try cli { try RetrieveSecret.retrieve(selector, client: client, names: names) }
        defer { secret.value.wipe() }
        for w in secret.warnings { out.error("warning: \(w)") }
        let written = secret.output(o.outform)
        defer { written.wipe() }
        var bytes = written.unsafeCopyToArray()
        defer { bytes.wipe() }
        if let path = outputPath {
            do { try FileIO.writeAtomically(path, bytes, mode: 0o600) } catch {
                throw CLIError(.ioError, "cannot write \(path): \(error)")
            }
            out.error("wrote \(secret.isPlaintext ? "plaintext" : secret.entry.typeName) secret at index \(secret.entry.index) (\(secret.value.count) bytes\(o.outform == .pem ? ", as PEM" : "")) to \(path)")
        } else {
            Console.writeAll(1, &bytes)
        }
        return .ok
    }
}

extension DeviceCommands {
    // MARK: attest

    static let attest = Command(
        ["attest"], summary: "Attest this guest for a tenant's attestation request (as pvattest perform)",
        arguments: "REQUEST RESPONSE", positionals: 2...2,
        options: AttestOptions.self,
        discussion: """
        Reads REQUEST, an attestation request in pvattest's exchange format (what
        `pvattest create` writes), checks it strictly, and asks the ultravisor to
        attest this guest for it: the ultravisor decrypts the request with its host
        key and measures the image, the config UID, the user data and the additional
        data the request asks for (host-key hashes, the secret-store hash with the
        lock state, the firmware state). Writes RESPONSE in the same exchange format,
        which `pvattest verify` and `pvattest check` read as they read pvattest
        perform's; nothing in it is secret.

        Only the tenant, who holds the request's protection key (`pvattest create
        --arpk`), can check the response.

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd attest attreq.bin attresp.bin
          se-secretd attest --user-data nonce.bin attreq.bin attresp.bin
        """
    ) { o, args, out in
        let (requestPath, responsePath) = (args.positionals[0], args.positionals[1])
        let bytes: [UInt8]
        do { bytes = try FileIO.read(requestPath, limit: ExchangeFile.maxSize, followSymlinks: true) } catch let e as FileIO.TooLarge {
            throw CLIError(.policyViolation, "\(requestPath): \(e)")
        } catch {
            throw CLIError(.noInput, "cannot read \(requestPath): \(error)")
        }
        var userData: [UInt8] = []
        if let path = o.userData {
            do { userData = try FileIO.read(path, limit: Measurement.maxUserData, followSymlinks: true) } catch let e as FileIO.TooLarge {
                throw CLIError(.policyViolation, "\(path): \(e) (user data is at most \(Measurement.maxUserData) bytes)")
            } catch {
                throw CLIError(.noInput, "cannot read \(path): \(error)")
            }
        }
        let request = try cli { try PerformAttestation.parse(bytes, file: requestPath) }
        let client = try o.backend.client()
        let response = try cli { try PerformAttestation.perform(request, userData: userData, client: client) }
        do { try FileIO.writeAtomically(responsePath, response.bytes, mode: 0o644) } catch {
            throw CLIError(.ioError, "cannot write \(responsePath): \(error)")
        }
        let asked = request.arcb.flags.additionalDataNames
        out.error("wrote the attestation response to \(responsePath) (measurement \(response.measurement.count) bytes, additional data: \(asked.isEmpty ? "none" : asked.joined(separator: ", ")), user data \(userData.count) bytes)")
        return .ok
    }
}

struct AttestOptions: OptionGroup {
    static let options = BackendOptions.options + [
        .value("user-data", short: "u", "FILE", "Up to 256 bytes the measurement covers (as pvattest perform -u)."),
    ]
    let backend: BackendOptions
    let userData: String?
    init(_ args: Arguments) throws {
        backend = try BackendOptions(args)
        userData = try args.value("user-data")
    }
}

struct InfoOptions: OptionGroup {
    static let options = BackendOptions.options + [JSONOption.spec()]
    let backend: BackendOptions
    let json: Bool
    init(_ args: Arguments) throws {
        backend = try BackendOptions(args)
        json = try JSONOption.read(args)
    }
}

/// `list --format`: pvsecret's formats, plus JSON in the shape of its yaml;
/// `--json` (se-secretd's own report) is the fifth.
enum ListFormat: String, CaseIterable {
    case human, yaml, json, bin
    case seSecretdJSON = "--json"
}

struct ListOptions: OptionGroup {
    static let options = BackendOptions.options + [
        .value("format", "FORMAT", "human (default), yaml, json or bin: pvsecret list's formats (json: its yaml's shape)."),
        OutputFileOption.spec("Write the list to FILE (mode 0644) instead of standard output."),
        JSONOption.spec("Print se-secretd's JSON report (richer than --format json)."),
        PolicyOption.spec("Show the names this policy gives to secret IDs."),
    ]
    let backend: BackendOptions
    let format: ListFormat
    let output: String?
    /// The policy whose names to show.
    let policy: String?
    init(_ args: Arguments) throws {
        backend = try BackendOptions(args)
        let json = try JSONOption.read(args)
        let given = try args.value("format")
        switch (json, given) {
        case (true, .some): throw CLIError(.usage, "--json and --format exclude each other (--json is se-secretd's report, --format json pvsecret's shape)")
        case (true, nil): format = .seSecretdJSON
        case (false, nil): format = .human
        case let (false, .some(text)):
            guard let f = ListFormat(rawValue: text), f != .seSecretdJSON else {
                throw CLIError(.usage, "--format takes human, yaml, json or bin, not \"\(text)\"")
            }
            format = f
        }
        output = try OutputFileOption.read(args)
        policy = try PolicyOption(args).given
    }
}

struct RetrieveOptions: OptionGroup {
    static let options = BackendOptions.options + [
        .value("inform", "FORM", "What the argument is: name, hex (a secret ID), idx (a list index) or yaml (a pvsecret create yaml file), as pvsecret retrieve."),
        .value("outform", "FORM", "pem (default, as pvsecret) or bin (the bytes alone)."),
        .value("index", "N", "Retrieve the secret at this list index (the same as --inform idx N)."),
        OutputFileOption.spec("Write the secret to FILE (mode 0600) instead of standard output."),
        PolicyOption.spec("Also resolve names the policy gives to secret IDs."),
    ]
    let backend: BackendOptions
    /// The argument and its form; nil form: NAME or ID. --index N is (N, .idx).
    let input: String
    let inform: SecretInputForm?
    let outform: SecretOutputForm
    let output: String?
    let policy: String?
    init(_ args: Arguments) throws {
        let index = try args.int("index", range: 0...0xFFFF)
        output = try OutputFileOption.read(args)
        policy = try PolicyOption(args).given
        backend = try BackendOptions(args)
        var form: SecretInputForm? = nil
        if let text = try args.value("inform") {
            guard let f = SecretInputForm(rawValue: text) else {
                throw CLIError(.usage, "--inform takes name, hex, idx or yaml, not \"\(text)\"")
            }
            form = f
        }
        if let text = try args.value("outform") {
            guard let f = SecretOutputForm(rawValue: text) else {
                throw CLIError(.usage, "--outform takes pem or bin, not \"\(text)\"")
            }
            outform = f
        } else {
            outform = .pem
        }
        switch (args.positionals.first, index) {
        case let (.some(text), nil):
            input = text
            inform = form
        case let (nil, .some(i)):
            guard form == nil || form == .idx else { throw CLIError(.usage, "--index N is --inform idx; it excludes --inform \(form!.rawValue)") }
            input = String(i)
            inform = .idx
        default: throw CLIError(.usage, "give either NAME|ID or --index N")
        }
    }

    /// The secret the argument names; reads the yaml file for --inform yaml.
    func selector() throws -> SecretSelector {
        guard let inform else { return SecretSelector.parse(input) }
        guard inform == .yaml else { return try DeviceCommands.cli { try inform.selector(input) } }
        let bytes: [UInt8]
        do { bytes = try FileIO.read(input, limit: PvsecretSecretYAML.maxSize, followSymlinks: true) } catch let e as FileIO.TooLarge {
            throw CLIError(.policyViolation, "\(input): \(e) (a pvsecret yaml file is small)")
        } catch {
            throw CLIError(.noInput, "cannot read \(input): \(error)")
        }
        return .id(try DeviceCommands.cli { try PvsecretSecretYAML.id(in: bytes, file: input) })
    }
}
