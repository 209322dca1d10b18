import SEBase
import SECrypto
import ASRCodec
import UVDevice
import UVSimulator
import UVCommands
import SEVocabulary
import RequestBuilding
import SecretdCLI

/// `sim init`, `sim create-request`, `sim status` and the hidden `sim fault`:
/// a simulated ultravisor for tests, demos and CI, kept in a state directory.
enum SimCommands {
    static let all: [Command] = [initCommand, createRequest, status, fault]

    /// Opens the state directory --state names.
    static func state(_ path: String) throws -> SimulatorStateDirectory {
        do { return try SimulatorStateDirectory(path: path) } catch {
            throw CLIError(.noInput, "\(error)")
        }
    }

    static func secretFile(_ path: String, what: String) throws -> SecureBytes {
        var bytes = try Inputs.file(path, limit: 64 << 10, what: what)
        return SecureBytes(consuming: &bytes)
    }

    /// --extension-secret FILE or --cck FILE (at most one given): 32 bytes each.
    static func extensionSecret(file: String?, cck: String?) throws -> RequestBuilder.ExtensionSecret {
        if let file {
            let e = try secretFile(file, what: "extension secret")
            guard e.count == 32 else { throw CLIError(.policyViolation, "an extension secret has 32 bytes, not \(e.count)") }
            return .simple(e)
        }
        if let cck {
            let c = try secretFile(cck, what: "CCK")
            guard c.count == 32 else { throw CLIError(.policyViolation, "a CCK has 32 bytes, not \(c.count)") }
            return .derived(cck: c)
        }
        return .none
    }

    /// --user-sign-key FILE: a private key (PEM or DER), its file's bytes wiped after.
    static func signingKey(_ path: String) throws -> PrivateKey {
        var pem = try Inputs.file(path, limit: 64 << 10, what: "signing key")
        defer { pem.withUnsafeMutableBytes { secureZero($0) } }
        do { return try PrivateKey.load(pem) } catch {
            throw CLIError(.usage, "--user-sign-key \(path): not a private key: \(error)")
        }
    }

    static func hex16(_ text: String, option: String) throws -> [UInt8] {
        guard let b = [UInt8](hex: text), b.count == 16 else {
            throw CLIError(.usage, "--\(option) takes 32 hex digits (16 bytes), not \"\(text)\"")
        }
        return b
    }

    // MARK: sim init

    static let initCommand = Command(
        ["sim", "init"], summary: "Create a simulated ultravisor (state directory)",
        options: SimInitOptions.self,
        discussion: """
        Creates a state directory holding a simulated ultravisor that behaves like
        the uvdevice driver plus the ultravisor, call for call: a P-521 host key
        (host-key.pem, 0600) and its host-key document (host-key.crt, a self-signed
        X.509 certificate that `pvsecret create --no-verify -k` accepts), the image
        tags (PLD, ALD, TLD, SE-header tag) and config UID requests must match, the
        limits, and a /sys/firmware/uv tree in DIR/sysfs. The secret store, lock and
        extension secret live in state.json and secrets.bin (0600: the simulated
        ultravisor's memory) and are shared by every process that uses DIR, as the
        real store is within one boot.

        Then build requests with `se-secretd-dev sim create-request` (or `pvsecret
        create -k DIR/host-key.crt --no-verify`) and use any device command with
        --uv-sim DIR --sysfs DIR/sysfs.

        EXAMPLE:
          se-secretd-dev sim init --state /tmp/sim --max-secrets 128
          se-secretd-dev sim create-request --state /tmp/sim --type plain --name luks-root \\
              --value-file pass.txt --output /tmp/luks-root.asr
          se-secretd add --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs /tmp/luks-root.asr
        """
    ) { o, _, out in
        let path = o.state
        var o2 = SimulatorOptions()
        if let p = o.hostKey {
            var pem = try Inputs.file(p, limit: 64 << 10, what: "host key")
            defer { pem.wipe() }
            o2.hostKey = pem
        }
        if let p = o.seHeader { o2.seHeader = try Inputs.file(p, limit: 64 << 20, what: "SE header") }
        o2.configUID = o.configUID
        o2.maxSecrets = o.maxSecrets
        o2.maxAssociationSecrets = o.maxAssociationSecrets
        o2.maxRetrievableSecrets = o.maxRetrievableSecrets
        if let k = o.kernel { o2.kernel = k }
        o2.secretTypes = o.secretTypes
        if let p = o.cck { o2.cck = try secretFile(p, what: "CCK") }
        o2.cckExtensionSecretEnforced = o.cckExtensionSecret
        o2.cckUpdateAllowed = o.cckUpdate
        if o.noDisableDump { o2.addSecretFlags = 0 }
        o2.protVirtGuest = o.secureGuest
        let dir: SimulatorStateDirectory
        do { dir = try SimulatorStateDirectory.create(at: path, options: o2) } catch let e as SimulatorOptions.Invalid {
            throw CLIError(.usage, e.message)
        } catch let e as SEHeader.Invalid {
            throw CLIError(.policyViolation, "--se-header: \(e.message)")
        } catch {
            throw CLIError(.ioError, "cannot create the simulator state \(path): \(error)")
        }
        let state = try dir.loadState()
        out.line("simulated ultravisor created in \(path) (Linux \(state.config.kernel.rawValue) driver)")
        out.line("  host-key document  \(dir.hostKeyDocumentPath)")
        out.line("  host-key hash      \(state.hostKeyHash.hex)")
        out.line("  image tag          \(state.config.imageTags.tag.hex)")
        out.line("  config UID         \(state.config.configUID.hex)")
        out.line("  capacity           \(state.config.maxSecrets) (\(state.config.maxAssociationSecrets) association, \(state.config.maxRetrievableSecrets) retrievable)")
        out.line("  use                --uv-sim \(path) --sysfs \(dir.sysfsRoot)")
        return .ok
    }

    // MARK: sim create-request

    static let createRequest = Command(
        ["sim", "create-request"], summary: "Build an add-secret request for a simulated ultravisor",
        options: CreateRequestOptions.self,
        discussion: """
        Builds a request exactly as `pvsecret create` would (same layout and
        cryptography), for the simulated host key and image of a state directory, so
        a test can make a whole request set with one line per secret. Association
        secrets without --value-file get a random value. With --epoch the request
        carries a freshness record (what `pvsecret create --user-data` takes, made
        with printf as docs/formats.md shows); with --user-sign-key it is signed.

        EXAMPLES:
          se-secretd-dev sim create-request -s /tmp/sim -t meta --extension-secret ext.bin -o 00-meta.asr
          se-secretd-dev sim create-request -s /tmp/sim -t plain -n luks-root --value-file pass.txt -o luks.asr
          se-secretd-dev sim create-request -s /tmp/sim -t aes -n disk --value-file aes256.bin --bind-cuid -o disk.asr
          se-secretd-dev sim create-request -s /tmp/sim -t plain -n luks-root --value-file pass.txt \\
              --user-sign-key tenant.pem --epoch 2 -o luks.asr
        """
    ) { o, _, out in
        let dir = try state(o.state)
        let output = o.output
        let value = try o.valueFile.map { try secretFile($0, what: "secret value") }
        var r = SimulatedRequest(try DeviceCommands.cli { try SimulatorRequestSpec.secret(o.kind, value: value) },
                                 name: o.name)
        r.useRawName = o.useName
        switch o.extensionSecret {
        case let .file(p)?: r.extensionSecret = try extensionSecret(file: p, cck: nil)
        case let .cck(p)?: r.extensionSecret = try extensionSecret(file: nil, cck: p)
        case nil: break
        }
        if let b = o.configUID { r.configUID = b }
        r.flags.disableDump = o.disableDump
        if let k = o.userSignKey { r.userData = .signed([], key: try signingKey(k)) }
        if let n = o.epoch { r.epoch = n }
        let bytes: [UInt8]
        do { bytes = try dir.requestTarget().makeRequest(r) } catch let e as SimulatedRequest.Invalid {
            throw CLIError(.usage, e.message)
        } catch let e as CLIError { throw e } catch {
            throw CLIError(.software, "cannot build the request: \(error)")
        }
        do { try FileIO.writeAtomically(output, bytes, mode: 0o644) } catch {
            throw CLIError(.ioError, "cannot write \(output): \(error)")
        }
        out.line("wrote \(output) (\(o.kind.rawValue)\(r.name.map { " \($0)" } ?? ""), \(bytes.count) bytes, tag \(Array(bytes.suffix(16)).hex))")
        return .ok
    }

    // MARK: sim status

    static let status = Command(
        ["sim", "status"], summary: "Show a simulated ultravisor's store, lock and secret-store hash",
        options: SimStatusOptions.self,
        discussion: """
        Shows what the simulated ultravisor holds — never the secrets: the stored
        entries (index, type, ID), the lock, the pinned extension secret (whether, not
        what), disable-dump, pending faults, and the attestation secret-store hash
        (SHA-512 over the GCM tags of the accepted requests in order plus the lock
        byte) that an agent's report can be compared with.

        JSON keys: kernel, host_key_hash, config_uid, image_tag, locked,
        dump_disabled, extension_secret_pinned, accepted_requests, secret_store_hash,
        secrets[] {index, type, id, length}, faults {dump_in_progress_adds,
        store_full, errno}.
        """
    ) { o, _, out in
        let s = try state(o.state).loadState()
        let entries: [JSON] = s.store.map { e in
            .object([("index", .int(Int64(e.index))), ("type", .string(e.type.name)), ("id", .string(e.id.hex)),
                     ("length", .int(Int64(e.listedLength)))])
        }
        let faults: JSON = .object([
            ("dump_in_progress_adds", .int(Int64(s.faults.dumpInProgressAdds))),
            ("store_full", .bool(s.faults.storeFull)),
            ("errno", .array(s.faults.errnoFaults.map { .string("\($0.ioctl.name):\($0.errno):\($0.count)") })),
        ])
        if o.json {
            out.line(JSON.object([
                ("kernel", .string(s.config.kernel.rawValue)), ("host_key_hash", .string(s.hostKeyHash.hex)),
                ("config_uid", .string(s.config.configUID.hex)), ("image_tag", .string(s.config.imageTags.tag.hex)),
                ("locked", .bool(s.isLocked)), ("dump_disabled", .bool(s.dumpDisabled)),
                ("extension_secret_pinned", .bool(s.isExtensionSecretPinned)),
                ("accepted_requests", .int(Int64(s.acceptedRequestTags.count))),
                ("secret_store_hash", .string(s.secretStoreHash.hex)),
                ("secrets", .array(entries)), ("faults", faults),
            ]).serialized())
        } else {
            out.line("simulated ultravisor (Linux \(s.config.kernel.rawValue) driver), host key \(s.hostKeyHash.hex)")
            out.line("  store      \(s.store.count) of \(s.config.maxSecrets) secrets, \(s.isLocked ? "locked" : "not locked")")
            out.line("  accepted   \(s.acceptedRequestTags.count) request(s); extension secret \(s.isExtensionSecretPinned ? "pinned" : "not pinned"); dump \(s.dumpDisabled ? "disabled" : "allowed")")
            out.line("  store hash \(s.secretStoreHash.hex)")
            for e in s.store { out.line("  \(e.index) \(e.type.name) 0x\(e.id.hex)") }
        }
        return .ok
    }

    // MARK: sim fault (tests)

    static let fault = Command(
        ["sim", "fault"], summary: "Inject faults into a simulated ultravisor (tests)",
        options: SimFaultOptions.self,
        hidden: true,
        discussion: """
        Sets faults that the next calls consume, so that error paths can be tested
        across processes.
        """
    ) { o, _, out in
        let dir = try state(o.state)
        try dir.withLockedState { s in
            if o.clear { s.faults = SimulatorFaults() }
            if let dump = o.dumpInProgress { s.faults.dumpInProgressAdds = dump }
            if let full = o.storeFull { s.faults.storeFull = full }
            s.faults.errnoFaults += o.errnoFaults
        }
        out.line("faults set")
        return .ok
    }
}

/// --state DIR (-s): the simulator state a `sim` command works on (required).
enum SimStateOption {
    static let name = "state"
    static func spec(_ help: String) -> OptionSpec { .value(name, short: "s", "DIR", help) }
    static func read(_ args: Arguments) throws -> String? { try args.value(name) }
    static func required(_ given: String?) throws -> String {
        guard let given else { throw Arguments.missing(name) }
        return given
    }
}

struct SimInitOptions: OptionGroup {
    static let options: [OptionSpec] = [
        SimStateOption.spec("The state directory to create (its parent must exist)."),
        .value("host-key", "PEM", "Use this EC P-521 private key as the host key (default: generate one)."),
        .value("se-header", "FILE", "Take the image tags from this SE header or SE image (up to 64 MiB; default: random tags)."),
        .value("config-uid", "HEX", "The instance's config UID, 32 hex digits (default: random)."),
        .value("max-secrets", "N", "Store capacity (default 256; a quarter for association secrets)."),
        .value("max-assoc-secrets", "N", "Capacity for association secrets."),
        .value("max-retr-secrets", "N", "Capacity for retrievable secrets."),
        .value("kernel", "VERSION", "Driver generation to play: 6.13 (default), 6.5 (no RETR, one-page LIST) or 5.19 (attestation only)."),
        .value("secret-types", "LIST", "Comma-separated secret types the ultravisor accepts (default: all but update-cck)."),
        .value("cck", "FILE", "The image's customer communication key (32 bytes)."),
        .flag("cck-extension-secret", "Every request must carry the extension secret derived from the CCK (needs --cck)."),
        .flag("cck-update", "The image allows update-CCK requests."),
        .flag("no-disable-dump", "The ultravisor does not support the disable-dump flag."),
        .flag("secure-guest", "Write prot_virt_guest=1 into the sysfs tree (makes the agent refuse the simulator)."),
    ]
    let state: String
    /// Files, read by the command.
    let hostKey: String?, seHeader: String?, cck: String?
    let configUID: [UInt8]?
    let maxSecrets: Int?, maxAssociationSecrets: Int?, maxRetrievableSecrets: Int?
    let kernel: KernelGeneration?
    let secretTypes: [SecretType]?
    let cckExtensionSecret: Bool, cckUpdate: Bool, noDisableDump: Bool, secureGuest: Bool

    init(_ args: Arguments) throws {
        let state = try SimStateOption.read(args)
        hostKey = try args.value("host-key")
        seHeader = try args.value("se-header")
        let uid = try args.value("config-uid"), kernelText = try args.value("kernel"), types = try args.value("secret-types")
        cck = try args.value("cck")
        cckExtensionSecret = try args.flag("cck-extension-secret")
        cckUpdate = try args.flag("cck-update")
        noDisableDump = try args.flag("no-disable-dump")
        secureGuest = try args.flag("secure-guest")
        configUID = try uid.map { try SimCommands.hex16($0, option: "config-uid") }
        let limit = 0xFFFF
        maxSecrets = try args.int("max-secrets", range: 0...limit)
        maxAssociationSecrets = try args.int("max-assoc-secrets", range: 0...limit)
        maxRetrievableSecrets = try args.int("max-retr-secrets", range: 0...limit)
        kernel = try kernelText.map { k in
            guard let g = KernelGeneration(rawValue: k) else {
                throw CLIError(.usage, "--kernel takes \(KernelGeneration.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(k)\"")
            }
            return g
        }
        secretTypes = try types.map { list in
            try list.split(separator: ",").map { name in
                guard let t = SecretType(name: String(name)) else {
                    throw CLIError(.usage, "unknown secret type \"\(name)\" (one of: \(SecretType.allCases.map(\.name).joined(separator: ", ")))")
                }
                return t
            }
        }
        self.state = try SimStateOption.required(state)
    }
}

struct CreateRequestOptions: OptionGroup {
    static let options: [OptionSpec] = [
        SimStateOption.spec("The simulator state (host-key document, image tags, config UID)."),
        .value("type", short: "t", "TYPE", "plain, aes, aes-xts, hmac-sha-256, hmac-sha-512, ec, association, meta or update-cck."),
        .value("name", short: "n", "NAME", "The secret's name; its ID is the SHA-256 of the name."),
        .flag("use-name", "Use the name itself (up to 31 bytes) as the ID, like `pvsecret create --use-name`."),
        .value("value-file", "FILE", "The secret: plaintext bytes, a raw key (aes, aes-xts, hmac: before K0 preprocessing), a PEM/DER private key (ec), 32 bytes (association, update-cck)."),
        .value("extension-secret", "FILE", "A 32-byte extension secret."),
        .value("cck", "FILE", "Derive the extension secret from this 32-byte CCK."),
        .flag("bind-cuid", "Bind the request to the simulated instance's config UID."),
        .value("cuid", "HEX", "Bind the request to this config UID (32 hex digits)."),
        .flag("disable-dump", "Set the disable-dump flag."),
        .value("user-sign-key", "FILE", "Sign the user data with this private key (PEM or DER; EC P-521, RSA-2048 or RSA-3072), like `pvsecret create --user-sign-key`."),
        .value("epoch", "N", "Write se-secretd's freshness record with epoch N (0 to 2^63-1) as the user data (signed with --user-sign-key, else unsigned); see docs/formats.md."),
        OutputFileOption.spec("Where to write the request."),
    ]

    /// --extension-secret FILE or --cck FILE (they exclude each other).
    enum ExtensionSecret { case file(String), cck(String) }

    let state: String
    let kind: SimulatorRequestSpec.Kind
    let output: String
    let name: String?
    let useName: Bool
    /// Checked against the kind: given exactly when it takes a value.
    let valueFile: String?
    let extensionSecret: ExtensionSecret?
    /// --bind-cuid or --cuid HEX (they exclude each other); nil: not bound.
    let configUID: SimulatedRequest.ConfigUIDBinding?
    let disableDump: Bool
    let userSignKey: String?
    let epoch: UInt64?

    init(_ args: Arguments) throws {
        let state = try SimStateOption.read(args), type = try args.value("type"), output = try OutputFileOption.read(args)
        name = try args.value("name")
        useName = try args.flag("use-name")
        valueFile = try args.value("value-file")
        let ext = try args.value("extension-secret"), cck = try args.value("cck")
        let bind = try args.flag("bind-cuid"), cuid = try args.value("cuid")
        disableDump = try args.flag("disable-dump")
        userSignKey = try args.value("user-sign-key")
        let epochText = try args.value("epoch")

        self.state = try SimStateOption.required(state)
        guard let type else { throw Arguments.missing("type") }
        guard let output else { throw Arguments.missing(OutputFileOption.name) }
        self.output = output
        guard let kind = SimulatorRequestSpec.Kind(rawValue: type) else {
            throw CLIError(.usage, "unknown --type \(type) (one of: \(SimulatorRequestSpec.types.joined(separator: ", ")))")
        }
        self.kind = kind
        switch (kind.value, valueFile) {
        case (.required, nil): throw CLIError(.usage, "--type \(type) needs --value-file")
        case (.none, .some): throw CLIError(.usage, "a meta request carries no value")
        default: break
        }
        switch (ext, cck) {
        case (.some, .some): throw CLIError(.usage, "--extension-secret and --cck exclude each other")
        case let (.some(p), nil): extensionSecret = .file(p)
        case let (nil, .some(p)): extensionSecret = .cck(p)
        default: extensionSecret = nil
        }
        switch (bind, cuid) {
        case (true, .some): throw CLIError(.usage, "--bind-cuid and --cuid exclude each other")
        case (true, nil): configUID = .simulator
        case let (false, .some(h)): configUID = .explicit(try SimCommands.hex16(h, option: "cuid"))
        default: configUID = nil
        }
        epoch = try epochText.map { e in
            guard let n = UInt64(e), n <= FreshnessRecord.maxEpoch else {
                throw CLIError(.usage, "--epoch takes a decimal number from 0 to \(FreshnessRecord.maxEpoch), not \"\(e)\"")
            }
            return n
        }
    }
}

struct SimStatusOptions: OptionGroup {
    static let options = [SimStateOption.spec("The simulator state."), JSONOption.spec()]
    let state: String
    let json: Bool
    init(_ args: Arguments) throws {
        let state = try SimStateOption.read(args)
        json = try JSONOption.read(args)
        self.state = try SimStateOption.required(state)
    }
}

struct SimFaultOptions: OptionGroup {
    static let options: [OptionSpec] = [
        SimStateOption.spec("The simulator state."),
        .value("dump-in-progress", "N", "The next N add-secret calls fail with 0x010d."),
        .value("errno", "IOCTL:ERRNO:COUNT", repeatable: true, "The next COUNT ioctls IOCTL (e.g. ADD_SECRET) fail with errno ERRNO (number)."),
        .value("store-full", "on|off", "Report the store full (0x010b) regardless of its limits."),
        .flag("clear", "Remove every pending fault first."),
    ]
    let state: String
    let dumpInProgress: Int?
    let errnoFaults: [SimulatorFaults.ErrnoFault]
    let storeFull: Bool?
    let clear: Bool

    init(_ args: Arguments) throws {
        let state = try SimStateOption.read(args), specs = try args.values("errno"), full = try args.value("store-full")
        clear = try args.flag("clear")
        errnoFaults = try specs.map { spec in
            let parts = spec.split(separator: ":").map(String.init)
            guard parts.count == 3, let ioctl = UVIoctl.allCases.first(where: { $0.name == parts[0] }),
                  let e = Int32(parts[1]), e > 0, e < 4096, let n = Int(parts[2]), n > 0 else {
                throw CLIError(.usage, "--errno takes IOCTL:ERRNO:COUNT, e.g. ADD_SECRET:5:1, not \"\(spec)\"")
            }
            return .init(ioctl: ioctl, errno: e, count: n)
        }
        dumpInProgress = try args.int("dump-in-progress", range: 0...1_000_000)
        storeFull = try full.map { v -> Bool in
            guard v == "on" || v == "off" else { throw CLIError(.usage, "--store-full takes on or off") }
            return v == "on"
        }
        self.state = try SimStateOption.required(state)
    }
}
