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
        Lists the secret store like `pvsecret list`: index, type and ID of every
        secret (never the secret). Names are shown for raw-name IDs and for IDs the
        policy knows. The buffer is sized from /sys/firmware/uv/query/max_secrets;
        a kernel older than 6.13 returns at most 85 secrets, and the list is then
        marked incomplete (exit code 69).

        \(BackendOptions.help)
        JSON keys: total, complete, secrets[] {index, type, type_code, length, id,
        name, retrievable}.

        EXAMPLES:
          se-secretd list
          se-secretd list --json --policy /etc/se-secretd/policy.json
        """
    ) { o, args, out in
        let names = try policyNames(o.policy)
        let client = try o.backend.client()
        let listing = try cli { try CommandFailure.checking { () throws(UVError) in try client.listSecrets() } }
        let report = ListReport(listing: listing, names: names)
        out.out(o.json ? report.json.serialized() + "\n" : report.text)
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
        ["retrieve"], summary: "Retrieve a secret from the store",
        arguments: "[NAME|ID]", positionals: 0...1,
        options: RetrieveOptions.self,
        discussion: """
        Finds the secret in a fresh list — by the name given to `pvsecret create`
        (its --use-name form first, then the SHA-256 of the name), by its 64-hex-digit
        ID, or by --index — and retrieves it with a buffer of the listed size
        (Linux 6.13+, IBM z17). A plaintext secret is written without its length
        prefix and padding; key secrets come back as the protected-key blob the
        ultravisor returns (usable only in this guest instance). Association
        secrets are not retrievable (0x0111).

        The secret is written to --output (created with mode 0600) or to standard
        output, which must not be a terminal. Nothing is logged.

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd retrieve luks-passphrase -o /run/luks.key
          se-secretd retrieve --index 3 > key.blob
        """
    ) { o, _, out in
        let outputPath = o.output
        if outputPath == nil && Console.isTerminal(1) {
            throw CLIError(.usage, "refusing to write a secret to a terminal; use --output FILE or redirect standard output")
        }
        let names = try policyNames(o.policy)
        let client = try o.backend.client()
        let selector = o.selector
        let secret = try cli { try RetrieveSecret.retrieve(selector, client: client, names: names) }
        defer { secret.value.wipe() }
        for w in secret.warnings { out.error("warning: \(w)") }
        var bytes = secret.value.unsafeCopyToArray()
        defer { bytes.wipe() }
        if let path = outputPath {
            do { try FileIO.writeAtomically(path, bytes, mode: 0o600) } catch {
                throw CLIError(.ioError, "cannot write \(path): \(error)")
            }
            out.error("wrote \(secret.isPlaintext ? "plaintext" : secret.entry.typeName) secret at index \(secret.entry.index) (\(bytes.count) bytes) to \(path)")
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

struct ListOptions: OptionGroup {
    static let options = BackendOptions.options + [JSONOption.spec(), PolicyOption.spec("Show the names this policy gives to secret IDs.")]
    let backend: BackendOptions
    let json: Bool
    /// The policy whose names to show.
    let policy: String?
    init(_ args: Arguments) throws {
        backend = try BackendOptions(args)
        json = try JSONOption.read(args)
        policy = try PolicyOption(args).given
    }
}

struct RetrieveOptions: OptionGroup {
    static let options = BackendOptions.options + [
        .value("index", "N", "Retrieve the secret at this list index instead of by name or ID."),
        OutputFileOption.spec("Write the secret to FILE (mode 0600) instead of standard output."),
        PolicyOption.spec("Also resolve names the policy gives to secret IDs."),
    ]
    let backend: BackendOptions
    /// NAME|ID (the positional) or --index N: exactly one of them.
    let selector: SecretSelector
    let output: String?
    let policy: String?
    init(_ args: Arguments) throws {
        let index = try args.int("index", range: 0...0xFFFF)
        output = try OutputFileOption.read(args)
        policy = try PolicyOption(args).given
        backend = try BackendOptions(args)
        switch (args.positionals.first, index) {
        case let (.some(text), nil): selector = SecretSelector.parse(text)
        case let (nil, .some(i)): selector = .index(UInt16(i))
        default: throw CLIError(.usage, "give either NAME|ID or --index N")
        }
    }
}
