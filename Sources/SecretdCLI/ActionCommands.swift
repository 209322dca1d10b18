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

    static let policyOption = OptionSpec.value("policy", short: "p", "FILE", "The policy (default: rd.se_secretd.policy=, else \(BootCommands.defaultPolicy)), as for `se-secretd boot`.")
    static let runDirOption = OptionSpec.value("run-dir", "DIR", "Where the boot run's report is (default \(RunDirectory.defaultPath)); the phase adds its records to DIR/report.json.")

    /// --policy, else rd.se_secretd.policy= of the kernel command line, else
    /// the boot run's default: every phase reads the policy the boot run read.
    static func policyPath(_ args: Arguments) -> String {
        args.value("policy") ?? args.switches.policy ?? BootCommands.defaultPolicy
    }

    static func runDirectory(_ args: Arguments) -> String { args.value("run-dir") ?? RunDirectory.defaultPath }
    static let keyDirOption = OptionSpec.value("key-file-dir", "DIR", "Where key files for systemd-cryptsetup go (default /run/cryptsetup-keys.d).")
    static let memoryFSOption = OptionSpec.flag("no-tmpfs-check", "Allow hand-off directories that are not on tmpfs/ramfs (tests only).")

    static func environment(_ args: Arguments) throws -> PhaseEnvironment {
        var env = PhaseEnvironment()
        if let r = args.value("root") { env.root = r }
        env.runDirectory = runDirectory(args)
        if let d = args.value("key-file-dir") { env.keyFileDirectory = d }
        if let d = args.value("credentials-dir") { env.credentialDirectory = d }
        env.requireMemoryFileSystem = !args.flag("no-tmpfs-check")
        env.checkOnly = args.flag("check-only")
        if let t = try args.int("device-timeout", range: WaitLimit.seconds) { env.deviceTimeout = Double(t) }
        for spec in args.values("device") {
            guard let (key, path) = splitDeviceOption(spec) else {
                throw CLIError(.usage, "--device takes SPEC=/PATH with SPEC as in the policy (LABEL=, UUID=, PARTLABEL=, PARTUUID= or a /dev path), e.g. LABEL=root=/tmp/root.img, not \"\(spec)\"")
            }
            env.deviceOverrides[key] = path
        }
        for (path, name) in [(env.root, "--root"), (env.keyFileDirectory, "--key-file-dir"), (env.credentialDirectory, "--credentials-dir")]
            where !path.hasPrefix("/") {
            throw CLIError(.usage, "\(name) takes an absolute path, not \"\(path)\"")
        }
        return env
    }

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
    static func storeOpener(_ args: Arguments) -> () throws(ActionFailure) -> SecretStore {
        return { () throws(ActionFailure) -> SecretStore in
            do { return SecretStore(client: try DeviceCommands.client(args)) } catch let e as CLIError {
                throw ActionFailure(e.code == .ultravisor ? .ultravisor : e.code == .usage ? .usage : .device, e.message)
            } catch {
                throw ActionFailure(.device, "\(error)")
            }
        }
    }

    /// Runs a phase, prints its records, adds them to the report and picks
    /// the exit code of the first failure.
    static func runPhase(_ phase: Phase, _ args: Arguments, _ out: Output) throws -> ExitCode {
        let policy = try Inputs.policy(policyPath(args))
        let env = try environment(args)
        let records = PhaseRunner(policy: policy, environment: env, openStore: storeOpener(args)).run(phase)
        var code = records.first { $0.result == .failed }.map { ExitCode(($0.failure ?? .io).failureClass) } ?? .ok
        var reportError: String? = nil
        do {
            try RunReport.record(records, runDirectory: runDirectory(args)) {
                $0["phase"] == .string(phase.rawValue)
            }
        } catch {
            reportError = "\(error)"
            if code == .ok { code = .ioError }
        }
        if args.flag("json") {
            var members: [(String, JSON)] = [("phase", .string(phase.rawValue)),
                                             ("result", .string(code == .ok ? "ok" : "failed")),
                                             ("actions", .array(records.map(\.json)))]
            if let reportError { members.append(("report_error", .string(reportError))) }
            out.line(JSON.object(members).serialized())
        } else {
            out.out(text(phase, records))
            if let reportError { out.error("se-secretd \(phase.rawValue): \(reportError)") }
        }
        if code != .ok, !args.flag("json") {
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
        options: [policyOption] + DeviceCommands.backendOptions + [
            runDirOption, keyDirOption,
            .value("device", "SPEC=PATH", repeatable: true, "Use PATH (e.g. an image file) for the LUKS device the policy names SPEC."),
            .value("device-timeout", "SECONDS", "How long to wait for each LUKS device to appear (default 30)."),
            .flag("check-only", "Check each LUKS key against the volume's header; do not activate (no device-mapper needed)."),
            .value("root", "DIR", "Accepted for symmetry with install; unlock writes nothing into the new root."),
            memoryFSOption,
            .flag("json", "Print the records as JSON."),
        ],
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

        \(DeviceCommands.backendHelp)
        EXAMPLES:
          se-secretd unlock
          se-secretd unlock --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs -p policy.json \\
              --device LABEL=root=/tmp/root.img --check-only --run-dir /tmp/run
        """
    ) { args, out in try runPhase(.unlock, args, out) }

    // MARK: install

    static let install = Command(
        ["install"], summary: "Write the policy's files and credentials into the new root",
        options: [policyOption] + DeviceCommands.backendOptions + [
            .value("root", "DIR", "The mounted new root (default /sysroot; initramfs-tools: /root)."),
            .value("credentials-dir", "DIR", "Where systemd credentials go (default /run/credentials/@initrd)."),
            runDirOption, memoryFSOption,
            .flag("json", "Print the records as JSON."),
        ],
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

        \(DeviceCommands.backendHelp)
        EXAMPLES:
          se-secretd install
          se-secretd install --root /root          # initramfs-tools
        """
    ) { args, out in try runPhase(.install, args, out) }

    // MARK: remove-key-files

    static let removeKeyFiles = Command(
        ["remove-key-files"], summary: "Remove the key files unlock handed to systemd-cryptsetup",
        options: [policyOption, runDirOption, keyDirOption, memoryFSOption, .flag("json", "Print the records as JSON.")],
        discussion: """
        systemd-cryptsetup finds /run/cryptsetup-keys.d/VOLUME.key by itself when the
        crypttab line names no key file, but its keyfile-erase option only erases key
        files named in crypttab. Run this once the volumes are open (after
        cryptsetup.target): each keyfile action's file is overwritten with zeros and
        removed. Records go to the report as phase "cleanup". Needs no ultravisor.
        """
    ) { args, out in try runPhase(.cleanup, args, out) }

    // MARK: keyscript

    static let keyscript = Command(
        ["keyscript"], summary: "Print a volume's key for Debian's crypttab keyscript=",
        arguments: "[KEY]", positionals: 0...1,
        options: [policyOption] + DeviceCommands.backendOptions + [
            runDirOption,
            .value("volume", "NAME", "The crypttab volume (default: $CRYPTTAB_NAME)."),
            .flag("force", "Write the key even if standard output is a terminal."),
        ],
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

        \(DeviceCommands.backendHelp)
        """
    ) { args, out in
        guard args.flag("force") || !Console.isTerminal(1) else {
            throw CLIError(.usage, "refusing to write a key to a terminal (cryptroot pipes it into cryptsetup); use --force")
        }
        guard let volume = args.value("volume") ?? env("CRYPTTAB_NAME"), !volume.isEmpty else {
            throw CLIError(.usage, "no volume: CRYPTTAB_NAME is not set and --volume was not given")
        }
        let keyField = args.positionals.first ?? env("CRYPTTAB_KEY")
        let policy = try Inputs.policy(policyPath(args))
        let started = MonotonicClock.nanoseconds()
        var record = ActionRecord(phase: Phase.keyscript.rawValue, secret: "", action: "keyscript",
                                  target: "CRYPTTAB_NAME=\(volume)", result: .ok, message: "", milliseconds: 0)
        var failure: ActionFailure? = nil
        do {
            let store = try storeOpener(args)()
            let (rule, key) = try Keyscript.key(for: volume, keyField: keyField, policy: policy, store: store)
            defer { key.wipe() }
            record.secret = rule.name
            try Keyscript.write(key, to: 1)
            let tried = env("CRYPTTAB_TRIED").flatMap { Int($0) } ?? 0
            record.message = "served \(key.count) bytes to cryptroot" + (tried > 0 ? " (try \(tried + 1))" : "")
        } catch let e as ActionFailure {
            failure = e
            record.result = .failed
            record.message = e.message
            record.failure = e.kind
            if record.secret.isEmpty { record.secret = "-" }
        }
        record.milliseconds = Int((MonotonicClock.nanoseconds() - started) / 1_000_000)
        do {
            try RunReport.record([record], runDirectory: runDirectory(args)) {
                $0["phase"] == .string(Phase.keyscript.rawValue) && $0["target"] == .string(record.target)
            }
        } catch {
            out.error("se-secretd keyscript: warning: \(error)")
        }
        if let failure { throw CLIError(failure) }
        return .ok
    }

    static func env(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
