#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import SecretPolicy
import SecretActions
import UVCommands
import BootRun
import SEVocabulary

/// The commands that use the secrets after the boot run: `unlock` (LUKS and
/// key hand-off, before cryptsetup), `install` (files, credentials and
/// password hashes, once the new root is mounted), `remove-key-files`
/// (after cryptsetup) and `keyscript` (Debian's crypttab keyscript=).
enum ActionCommands {
    static let all: [Command] = [unlock, install, removeKeyFiles, keyscript]

    /// SPEC=/PATH, where SPEC itself may contain '=' (LABEL=root=/tmp/root.img):
    /// the first "=/" whose left side is a volume spec separates them.
    static func splitDeviceOption(_ text: String) -> (String, String)? {
        let u = Array(text.utf8)
        var i = 0
        while i + 1 < u.count {
            if u[i] == UInt8(ascii: "="), u[i + 1] == UInt8(ascii: "/") {
                let key = String(decoding: u[0..<i], as: UTF8.self)
                if VolumeSpec(key) != nil { return (key, String(decoding: u[(i + 1)...], as: UTF8.self)) }
            }
            i += 1
        }
        return nil
    }

    /// Opens the ultravisor lazily (only when a phase needs a secret).
    static func storeOpener(_ backend: BackendOptions) -> () throws(ActionFailure) -> SecretStore {
        return { () throws(ActionFailure) -> SecretStore in
            do { return SecretStore(client: try backend.client()) } catch let e as CLIError {
                throw ActionFailure(e.code == .ultravisor ? .ultravisor : e.code == .usage ? .usage : .device, e.message)
            } catch {
                throw ActionFailure(.device, "\(error)")
            }
        }
    }

    /// Runs a phase, prints its records, adds them to the report and picks
    /// the exit code of the first failure.
    static func runPhase(_ phase: Phase, _ o: PhaseOptions, _ args: Arguments, _ out: Output) throws -> ExitCode {
        let policy = try Inputs.policy(o.policy.path(args.switches))
        let env = o.environment
        let records = PhaseRunner(policy: policy, environment: env, openStore: storeOpener(o.backend)).run(phase)
        var code = records.first { $0.result == .failed }.map { ExitCode(($0.failure ?? .io).failureClass) } ?? .ok
        var reportError: String? = nil
        do {
            try RunReport.record(records, runDirectory: env.runDirectory) {
                $0["phase"] == .string(phase.rawValue)
            }
        } catch {
            reportError = "\(error)"
            if code == .ok { code = .ioError }
        }
        // A failed unlock or install: the results record leaves the guest
        // again, now saying where the boot stopped (docs/results.md).
        if code != .ok, phase == .unlock || phase == .install, !env.checkOnly {
            PhaseResults.deliver(policy: policy, runDirectory: env.runDirectory, consolePath: o.console,
                                 log: BootLog(stderr: out.err, kmsgPath: nil, debug: false))
        }
        if o.json {
            var members: [(String, JSON)] = [("phase", .string(phase.rawValue)),
                                             ("result", .string(code == .ok ? "ok" : "failed")),
                                             ("actions", .array(records.map(\.json)))]
            if let reportError { members.append(("report_error", .string(reportError))) }
            out.line(JSON.object(members).serialized())
        } else {
            out.out(text(phase, records))
            if let reportError { out.error("se-secretd \(phase.rawValue): \(reportError)") }
        }
        if code != .ok, !o.json {
            let failed = records.filter { $0.result == .failed }.count
            out.error("se-secretd \(phase.rawValue): \(failed) action(s) failed")
        }
        return code
    }

    static func text(_ phase: Phase, _ records: [ActionRecord]) -> String {
        guard !records.isEmpty else { return "\(phase.rawValue): the policy has no actions for this phase\n" }
        var s = ""
        for r in records {
            s += r.result.rawValue.padded(to: 8) + r.secret.padded(to: 22) + r.action.padded(to: 14) + r.target + "\n"
            s += "        " + r.message + " (\(r.milliseconds) ms)\n"
        }
        let ok = records.filter { $0.result == .ok }.count
        let skipped = records.filter { $0.result == .skipped }.count
        s += "\(phase.rawValue): \(records.count) action(s): \(ok) ok, \(records.count - ok - skipped) failed, \(skipped) skipped\n"
        return s
    }

    static let phaseHelp = """
    Each action's record (phase, secret, action, target, result, message, ms;
    never a secret value) is added to DIR/report.json, replacing the records of
    an earlier run of the same phase. Every action is attempted; the exit code is
    that of the first failure: 65 the secret is missing or unusable (a wrong key,
    a key that does not parse, an unexpected cipher), 66 an input is unreadable,
    69 no ultravisor device, 74 a target could not be written safely, 75 a device
    did not appear in time, 76 the ultravisor refused, 78 invalid policy.
    """

    // MARK: unlock

    static let unlock = Command(
        ["unlock"], summary: "Open the policy's LUKS volumes and hand keys to cryptsetup",
        options: UnlockOptions.self,
        discussion: """
        Runs after the boot run has filled and locked the secret store, before any
        cryptsetup: for every unlock action of the policy, in order, it finds the
        secret in a fresh list by the ID the policy gives it, retrieves it into a
        locked buffer that is wiped after use, and

          luks       finds the device (LABEL=, UUID=, PARTLABEL=, PARTUUID= with
                     libblkid, waiting up to --device-timeout; or a /dev path),
                     refuses a volume whose data cipher is cipher_null, not the
                     policy's expect_cipher, or (without expect_cipher) not XTS
                     (aes, paes, serpent, twofish -xts-plain64), and for a
                     passphrase one with a keyslot encrypted otherwise, before
                     anything is activated; then opens it with libcryptsetup as
                     /dev/mapper/NAME: with the secret as a passphrase (a keyslot),
                     as the volume key (no PBKDF at all), or, for an AES-XTS secret,
                     with the 44-byte UV secret token as the volume key of a
                     paes-xts-plain64 volume (the clear disk key never exists in the
                     guest). After activation the mapping's cipher is checked again.
                     The record names the keyslot that opened the volume and the
                     mapping's device, which install binds the new root to.
          keyfile    writes /run/cryptsetup-keys.d/VOLUME.key (0400, tmpfs only) for
                     systemd-cryptsetup; remove it with `se-secretd remove-key-files`
                     once the volumes are open (keyfile-erase does not cover it).
          keyscript  checks the secret is there; `se-secretd keyscript` serves it.

        \(phaseHelp)

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd unlock
          se-secretd unlock --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs -p policy.json \\
              --device LABEL=root=/tmp/root.img --check-only --run-dir /tmp/run
        """
    ) { o, args, out in try runPhase(.unlock, o.phase, args, out) }

    // MARK: install

    static let install = Command(
        ["install"], summary: "Write the policy's files and credentials into the new root",
        options: InstallOptions.self,
        discussion: """
        Runs once the new root is mounted, before the switch to it. First it checks that
        the root is the policy's ("root" in the policy; a record "root" in the report),
        for every policy, also one without install actions (the boot switches into the
        root next; a policy that binds none fails here, root-unbound):

          luks           the root directory's device is a LUKS dm-crypt mapping named
                         as the policy's volume, opened by the policy's luks action in
                         this boot (the unlock phase's record in DIR/report.json: name,
                         LUKS UUID, device number), or, for a keyfile/keyscript
                         volume, opened by cryptsetup from a header with an allowed
                         cipher that the policy's key opens; the cipher is the
                         kernel's active dm table's. The default for a policy with
                         volumes: any of them.
          tmpfs          the root is on tmpfs or ramfs.
          any            not checked (unsafe; demos and tests only).

        A root that is not the policy's gets nothing: every action fails (65). Then, for
        every install action of the policy, in order, it retrieves the secret (wiped
        after use) and

          file           checks the format (ssh-host-key: an OpenSSH or PEM Ed25519,
                         ECDSA or RSA key, and PATH.pub is derived from it;
                         tls-key, tls-certificate, authorized-keys, ssh-user-ca: must
                         parse; raw: as is) and writes PATH inside the root
                         atomically (temporary file, fsync, rename, directory fsync),
                         with the policy's mode, owner and group (names from the new
                         root's /etc/passwd and /etc/group). No symlink is followed
                         anywhere below the root; an existing file is replaced only
                         with "replace"; a missing directory is created (root, 0755)
                         only with "create_parents".
          credential     writes /run/credentials/@initrd/NAME (directory 0700, file
                         0400), which systemd imports at the switch to the new root.
          password-hash  sets the user's hash in the new root's /etc/shadow; every
                         other byte of the file stays as it was.

        \(phaseHelp)

        \(BackendOptions.help)
        EXAMPLES:
          se-secretd install
          se-secretd install --root /root          # initramfs-tools
        """
    ) { o, args, out in try runPhase(.install, o.phase, args, out) }

    // MARK: remove-key-files

    static let removeKeyFiles = Command(
        ["remove-key-files"], summary: "Remove the key files unlock handed to systemd-cryptsetup",
        options: RemoveKeyFilesOptions.self,
        discussion: """
        systemd-cryptsetup finds /run/cryptsetup-keys.d/VOLUME.key by itself when the
        crypttab line names no key file, but its keyfile-erase option only erases key
        files named in crypttab. Run this once the volumes are open (after
        cryptsetup.target): each keyfile action's file is overwritten with zeros and
        removed. Records go to the report as phase "cleanup". Needs no ultravisor.
        """
    ) { o, args, out in try runPhase(.cleanup, o.phase, args, out) }

    // MARK: keyscript

    static let keyscript = Command(
        ["keyscript"], summary: "Print a volume's key for Debian's crypttab keyscript=",
        arguments: "[KEY]", positionals: 0...1,
        options: KeyscriptOptions.self,
        discussion: """
        For initramfs-tools: crypttab's keyscript= runs a program with the key field as
        its argument and CRYPTTAB_NAME, CRYPTTAB_KEY and CRYPTTAB_TRIED in the
        environment, and pipes its standard output into cryptsetup as the key. This
        prints the secret whose keyscript action names the volume CRYPTTAB_NAME,
        byte for byte with no newline. When the key field (KEY or CRYPTTAB_KEY) is not
        empty, "none" or "-", it must be that secret's policy name. Nothing is written
        to a terminal unless --force is given. Installed as (or linked to)
        se-secretd-keyscript, the binary runs this command by itself, so crypttab can
        name it directly:

          root  LABEL=cryptroot  none  luks,keyscript=/usr/lib/se-secretd/se-secretd-keyscript

        \(BackendOptions.help)
        """
    ) { o, args, out in
        guard o.force || !Console.isTerminal(1) else {
            throw CLIError(.usage, "refusing to write a key to a terminal (cryptroot pipes it into cryptsetup); use --force")
        }
        guard let volume = o.volume ?? env("CRYPTTAB_NAME"), !volume.isEmpty else {
            throw CLIError(.usage, "no volume: CRYPTTAB_NAME is not set and --volume was not given")
        }
        let keyField = args.positionals.first ?? env("CRYPTTAB_KEY")
        let policy = try Inputs.policy(o.policy.path(args.switches))
        let served = Keyscript.serve(volume: volume, keyField: keyField,
                                     tried: env("CRYPTTAB_TRIED").flatMap { Int($0) } ?? 0, policy: policy,
                                     store: storeOpener(o.backend), to: 1, runDirectory: o.runDirectory)
        if let e = served.recordError { out.error("se-secretd keyscript: warning: \(e)") }
        if let failure = served.failure { throw CLIError(failure) }
        return .ok
    }

    static func env(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

/// The options of the phase commands (unlock, install, remove-key-files):
/// --policy, the backend, --json and the phase's environment (where its
/// hand-off files go, its devices), each phase with its own subset.
struct PhaseOptions {
    static let policy = PolicyOption.spec("The policy (default: rd.se_secretd.policy=, else \(BootCommands.defaultPolicy)), as for `se-secretd boot`.")
    static let runDirectory = RunDirectoryOption.spec("Where the boot run's report is (default \(RunDirectory.defaultPath)); the phase adds its records to DIR/report.json.")
    static let keyFileDirectory = OptionSpec.value("key-file-dir", "DIR", "Where key files for systemd-cryptsetup go (default /run/cryptsetup-keys.d).")
    static let credentialDirectory = OptionSpec.value("credentials-dir", "DIR", "Where systemd credentials go (default /run/credentials/@initrd).")
    static let noTmpfsCheck = OptionSpec.flag("no-tmpfs-check", "Allow hand-off directories that are not on tmpfs/ramfs (tests only).")
    static let device = OptionSpec.value("device", "SPEC=PATH", repeatable: true, "Use PATH (e.g. an image file) for the LUKS device the policy names SPEC.")
    static let deviceTimeout = OptionSpec.value("device-timeout", "SECONDS", "How long to wait for each LUKS device to appear (default 30).")
    static let checkOnly = OptionSpec.flag("check-only", "Check each LUKS key against the volume's header; do not activate (no device-mapper needed).")
    static let unlockRoot = OptionSpec.value("root", "DIR", "Accepted for symmetry with install; unlock writes nothing into the new root.")
    static let installRoot = OptionSpec.value("root", "DIR", "The mounted new root (default /sysroot; initramfs-tools: /root).")
    static let json = JSONOption.spec("Print the records as JSON.")
    static let console = OptionSpec.value("console", "FILE",
        "Where the results record's lines go when the phase fails and the policy says results.console (default /dev/console).")

    /// The phase's options, in help order.
    static func options(_ phase: Phase) -> [OptionSpec] {
        switch phase {
        case .unlock:
            return [policy] + BackendOptions.options + [runDirectory, keyFileDirectory, device, deviceTimeout, checkOnly,
                                                         unlockRoot, noTmpfsCheck, console, json]
        case .install:
            return [policy] + BackendOptions.options + [installRoot, credentialDirectory, runDirectory, noTmpfsCheck, console, json]
        case .cleanup:
            return [policy, runDirectory, keyFileDirectory, noTmpfsCheck, json]
        case .keyscript:
            return []   // keyscript runs no phase; its options are KeyscriptOptions

        }
    }

    let policy: PolicyOption
    /// The backend options, or (remove-key-files, which has none) the
    /// kernel command line's backend.
    let backend: BackendOptions
    let environment: PhaseEnvironment
    let json: Bool
    /// Where a failed phase's results record goes (unlock and install).
    let console: String

    init(_ args: Arguments, phase: Phase) throws {
        let declared = Set(Self.options(phase).map(\.long))
        // The phase's own options; another phase's are not given here.
        func value(_ o: OptionSpec) throws -> String? { declared.contains(o.long) ? try args.value(o.long) : nil }
        func values(_ o: OptionSpec) throws -> [String] { declared.contains(o.long) ? try args.values(o.long) : [] }
        func flag(_ o: OptionSpec) throws -> Bool { declared.contains(o.long) ? try args.flag(o.long) : false }

        policy = try PolicyOption(args)
        backend = BackendOptions.options.allSatisfy { declared.contains($0.long) }
            ? try BackendOptions(args) : BackendOptions(kernelCommandLine: args)
        json = try JSONOption.read(args)
        console = try value(Self.console) ?? "/dev/console"
        var env = PhaseEnvironment()
        let root = try value(Self.unlockRoot), keyFiles = try value(Self.keyFileDirectory)
        let credentials = try value(Self.credentialDirectory)
        let timeout = try declared.contains(Self.deviceTimeout.long) ? args.int(Self.deviceTimeout.long, range: WaitLimit.seconds) : nil
        let devices = try values(Self.device)
        env.runDirectory = try RunDirectoryOption(args).path
        env.requireMemoryFileSystem = try !flag(Self.noTmpfsCheck)
        env.checkOnly = try flag(Self.checkOnly)
        if let root { env.root = root }
        if let keyFiles { env.keyFileDirectory = keyFiles }
        if let credentials { env.credentialDirectory = credentials }
        if let timeout { env.deviceTimeout = Double(timeout) }
        for spec in devices {
            guard let (key, path) = ActionCommands.splitDeviceOption(spec) else {
                throw CLIError(.usage, "--device takes SPEC=/PATH with SPEC as in the policy (LABEL=, UUID=, PARTLABEL=, PARTUUID= or a /dev path), e.g. LABEL=root=/tmp/root.img, not \"\(spec)\"")
            }
            env.deviceOverrides[key] = path
        }
        for (path, name) in [(env.root, "--root"), (env.keyFileDirectory, "--key-file-dir"), (env.credentialDirectory, "--credentials-dir")]
            where !path.hasPrefix("/") {
            throw CLIError(.usage, "\(name) takes an absolute path, not \"\(path)\"")
        }
        environment = env
    }
}

struct UnlockOptions: OptionGroup {
    static let options = PhaseOptions.options(.unlock)
    let phase: PhaseOptions
    init(_ args: Arguments) throws { phase = try PhaseOptions(args, phase: .unlock) }
}

struct InstallOptions: OptionGroup {
    static let options = PhaseOptions.options(.install)
    let phase: PhaseOptions
    init(_ args: Arguments) throws { phase = try PhaseOptions(args, phase: .install) }
}

struct RemoveKeyFilesOptions: OptionGroup {
    static let options = PhaseOptions.options(.cleanup)
    let phase: PhaseOptions
    init(_ args: Arguments) throws { phase = try PhaseOptions(args, phase: .cleanup) }
}

struct KeyscriptOptions: OptionGroup {
    static let options = [PhaseOptions.policy] + BackendOptions.options + [
        PhaseOptions.runDirectory,
        .value("volume", "NAME", "The crypttab volume (default: $CRYPTTAB_NAME)."),
        ForceOption.spec("Write the key even if standard output is a terminal."),
    ]
    let policy: PolicyOption
    let backend: BackendOptions
    let runDirectory: String
    /// --volume (else $CRYPTTAB_NAME, read by the command).
    let volume: String?
    let force: Bool
    init(_ args: Arguments) throws {
        policy = try PolicyOption(args)
        backend = try BackendOptions(args)
        runDirectory = try RunDirectoryOption(args).path
        volume = try args.value("volume")
        force = try ForceOption.read(args)
    }
}
