import SEBase
import SecretPolicy
import UVDevice
import UVCommands
import BootRun
import SEVocabulary

/// `se-secretd boot`: the main job, run from the initramfs at every boot.
enum BootCommands {
    static let all: [Command] = [boot]

    static let defaultPolicy = "/etc/se-secretd/policy.json"

    static let boot = Command(
        ["boot"], summary: "Turn the requests on the untrusted volume into a locked secret store (initramfs)",
        options: BootOptions.self,
        discussion: """
        At every boot of a generic Secure Execution guest (the ultravisor's store is
        empty after each reboot), before any encrypted volume is opened:
          1 probe   secure guest?, /dev/uv and its ioctls (INFO), ultravisor limits and
                    secret types (/sys/firmware/uv/query), this machine's host-key
                    hashes (/sys/firmware/uv/keys)
          2 fetch   find the policy's volume with libblkid (waiting for it up to the
                    policy's wait_seconds; a label on two devices is an error), mount
                    it if its type is in requests.filesystems (default ext4, ext3,
                    ext2, vfat, iso9660): read-only, nosuid, nodev, noexec and without
                    journal replay (noload, norecovery, nologreplay), one try, into
                    the run directory; read the request directory once (no symlinks,
                    bounded; names that are not printable are refused and shown
                    escaped), copy it to RUN-DIR/requests (0700), unmount
          3 check   the policy, exactly as `se-secretd check` (plus the host keys)
          4 submit  in the policy's order, each request journalled in RUN-DIR before
                    the ioctl (a full /run stops the run before the ultravisor acts);
                    requests already accepted in this boot (a restarted run) are not
                    added twice; "dump in progress" (0x010d) is retried with backoff
                    until the deadline; any other refusal stops the run
          5 lock    the secret store, unless the policy says not to
          6 verify  LIST: exactly the policy's secrets, with their types and lengths
          7 attest  with policy attestation: ATT with the tenant's request (read and
                    checked with the requests) and user data that binds the policy
                    and the run's facts (RUN-DIR/facts.json); the response goes to
                    RUN-DIR/attestation-response.bin (pvattest's exchange format)
          8 report  RUN-DIR/report.json (0600): policy digest, each request (file,
                    SHA-256, ID, name, type, signer, epoch, result, uv rc), lock state, the
                    secret-store hash attestation will show, timings, verdict. It
                    never contains a secret. A summary goes to stderr and /dev/kmsg.
                    A run that cannot write its report fails (74) and leaves none.
          9 results RUN-DIR/results.bin: report, facts and response in one record;
                    with policy results, also raw on the results device (found,
                    checked blank-or-ours and cleared before step 1) and as
                    SESD-RESULT lines on the console (--console), failed runs too
        It never decrypts anything: the secrets stay in the ultravisor until `unlock`
        and `install` retrieve them.

        Fail closed: any failure ends with an exit code of its class; the caller (the
        systemd unit or the initramfs hook) carries out the policy's on_failure
        action, which is also written to RUN-DIR/failure-action. Before exiting on
        failure, hand-off files the policy names (key files, credentials) are wiped,
        and once a request may have reached the ultravisor the secret store is
        locked, so that nothing more can be added in this boot (not with
        store.lock false: then the store stays open until reboot, with a warning).
        The report's store block says locked, locked_on_failure, added_by_this_run.

        Exit codes: 0 ok, 65 policy violation, 66 request volume unreadable, 69 device
        missing or lacking a capability, 74 I/O, 75 timeout (volume never appeared, or
        a dump kept the ultravisor busy), 76 the ultravisor refused a request, 78
        invalid policy, 64 bad arguments.

        Kernel command line (integrity-protected as part of the SE image):
          rd.se_secretd.policy=PATH  rd.se_secretd.timeout=SECONDS
          rd.se_secretd.requests=DIR rd.se_secretd.debug
          rd.se_secretd.uv_sim=DIR   rd.se_secretd.sysfs=ROOT  (a simulated ultravisor,
                                     for boot tests; refused on a real secure guest)

        EXAMPLE (simulated ultravisor, a directory standing in for the volume):
          se-secretd boot -p policy.json --uv-sim /tmp/sim --sysfs /tmp/sim/sysfs \\
              -r requests/ --run-dir /tmp/run --kmsg none
        """
    ) { o, args, out in
        let switches = args.switches
        var config = BootConfiguration(policyPath: o.policy.path(switches), backend: o.backend.backend, sysfs: o.backend.sysfs)
        config.links = o.backend.links
        config.runDirectory = o.runDirectory
        config.requestsDirectory = o.requests ?? switches.requests
        if let t = o.timeout ?? switches.timeout { config.timeout = t }
        config.consolePath = o.console
        let log = BootLog(stderr: out.err, kmsgPath: o.kmsg, debug: o.debug || switches.debug)
        let result = BootRunner(configuration: config, log: log).run()
        if o.json { out.out(result.report.serialized()) }
        guard let f = result.failure else { return .ok }
        return ExitCode(f.failureClass)
    }
}

struct BootOptions: OptionGroup {
    static let options = [
        PolicyOption.spec("The policy embedded in the initrd (default: rd.se_secretd.policy=, else \(BootCommands.defaultPolicy))."),
    ] + BackendOptions.options + [
        RunDirectoryOption.spec("Run directory on tmpfs for the request copy, journal and report (default \(RunDirectory.defaultPath))."),
        RequestsOption.spec("Read the requests from this directory instead of the policy's volume."),
        .value("timeout", "SECONDS", "Overall deadline for the volume wait and retries (default: rd.se_secretd.timeout=, else 120)."),
        KernelCommandLineOption.spec,
        .value("kmsg", "FILE", "Kernel log to write the summary to (default /dev/kmsg; \"none\" to disable)."),
        .value("console", "FILE", "Where the results record's lines go when the policy says results.console (default /dev/console)."),
        JSONOption.spec("Print the report to standard output."),
        .flag("debug", "More detail on standard error (never secrets); also rd.se_secretd.debug."),
    ]

    let policy: PolicyOption
    let backend: BackendOptions
    let runDirectory: String
    /// --requests (else rd.se_secretd.requests=, else the policy's volume).
    let requests: String?
    /// --timeout (else rd.se_secretd.timeout=, else the default).
    let timeout: Double?
    /// The kernel log to write to, nil for none.
    let kmsg: String?
    let console: String
    let json: Bool
    let debug: Bool

    init(_ args: Arguments) throws {
        policy = try PolicyOption(args)
        runDirectory = try RunDirectoryOption(args).path
        requests = try RequestsOption(args).given
        let timeoutText = try args.value("timeout")
        let kmsgPath = try args.value("kmsg") ?? "/dev/kmsg"
        kmsg = kmsgPath == "none" ? nil : kmsgPath
        console = try args.value("console") ?? "/dev/console"
        json = try JSONOption.read(args)
        debug = try args.flag("debug")
        backend = try BackendOptions(args)
        if let t = timeoutText {
            guard let v = Double(t), WaitLimit.accepts(v) else {
                throw CLIError(.usage, "--timeout takes seconds from \(WaitLimit.seconds.lowerBound) to \(WaitLimit.seconds.upperBound)")
            }
            timeout = v
        } else {
            timeout = nil
        }
    }
}
