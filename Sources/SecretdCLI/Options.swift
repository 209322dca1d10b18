import SEBase
import UVDevice
import UVCommands
import BootRun

// Option groups several commands share. Each declares its options once and
// is built once per run from the parsed arguments; commands use its typed
// fields. An option whose help differs between commands is declared here by
// name and value and takes the command's help (`spec(_:)`).

/// --uv DEVICE / --uv-sim DIR / --sysfs ROOT: which ultravisor the command
/// talks to and where firmware/uv is read. Without --uv and --uv-sim, the
/// kernel command line's rd.se_secretd.uv_sim= and rd.se_secretd.sysfs= choose
/// (so the initramfs phases and crypttab's keyscript follow the boot tests'
/// simulator), else /dev/uv and /sys.
public struct BackendOptions: OptionGroup {
    public static let options: [OptionSpec] = [
        .value("uv", "DEVICE", "The ultravisor device (default /dev/uv)."),
        .value("uv-sim", "DIR", "The simulated ultravisor in this state directory (`se-secretd-dev sim init`): se-secretd-dev and test builds only, refused in a real Secure Execution guest."),
        .value("sysfs", "ROOT", "Read firmware/uv below ROOT instead of /sys (a simulator state has one in DIR/sysfs)."),
    ]

    static let help = """
    BACKENDS:
      --uv DEVICE      the kernel's uvdevice (default /dev/uv; `modprobe uvdevice`)
      --uv-sim DIR     a simulated ultravisor made with `se-secretd-dev sim init`
                       (se-secretd-dev and the boot tests' build only; this
                       agent talks to /dev/uv)
      --sysfs ROOT     where firmware/uv is (default /sys; DIR/sysfs for a simulator)
    """

    public let backend: UVBackend
    public let sysfs: UVSysfs
    /// The backends the edition links.
    public let links: UVLinks

    public init(_ args: Arguments) throws {
        let device = try args.value("uv"), simulator = try args.value("uv-sim"), root = try args.value("sysfs")
        if device != nil, simulator != nil { throw CLIError(.usage, "--uv and --uv-sim exclude each other") }
        if let chosen = simulator.map(UVBackend.simulator) ?? device.map(UVBackend.device) {
            self.init(backend: chosen, sysfs: UVSysfs(root: root ?? UVSysfs.defaultRoot), links: args.links)
        } else {
            self.init(switches: args.switches, sysfs: root, links: args.links)
        }
    }

    /// For a command without backend options (remove-key-files): the kernel
    /// command line's choice, else /dev/uv and /sys.
    init(kernelCommandLine args: Arguments) {
        self.init(switches: args.switches, sysfs: nil, links: args.links)
    }

    private init(switches: BootSwitches, sysfs root: String?, links: UVLinks) {
        self.init(backend: switches.uvSimulator.map(UVBackend.simulator) ?? .device(KernelUVTransport.defaultPath),
                  sysfs: UVSysfs(root: root ?? switches.effectiveSysfs ?? UVSysfs.defaultRoot), links: links)
    }

    private init(backend: UVBackend, sysfs: UVSysfs, links: UVLinks) {
        self.backend = backend
        self.sysfs = sysfs
        self.links = links
    }

    public func open() throws -> UVTransport {
        try DeviceCommands.cli { try backend.open(sysfs: sysfs, links: links) }
    }

    public func client() throws -> UVClient {
        try DeviceCommands.cli { try backend.client(sysfs: sysfs, links: links) }
    }
}

/// --json, with the command's help.
public enum JSONOption {
    public static let name = "json"
    public static func spec(_ help: String = "Print JSON.") -> OptionSpec { .flag(name, help) }
    public static func read(_ args: Arguments) throws -> Bool { try args.flag(name) }
}

/// --policy FILE (-p), with the command's help.
struct PolicyOption {
    static let name = "policy"
    static func spec(_ help: String) -> OptionSpec { .value(name, short: "p", "FILE", help) }

    /// The file given, if any.
    let given: String?

    init(_ args: Arguments) throws { given = try args.value(Self.name) }

    /// --policy, else rd.se_secretd.policy= of the kernel command line, else
    /// the boot run's default: every phase reads the policy the boot run read.
    func path(_ switches: BootSwitches) -> String { given ?? switches.policy ?? BootCommands.defaultPolicy }

    /// For a command that needs --policy.
    func required() throws -> String {
        guard let given else { throw Arguments.missing(Self.name) }
        return given
    }
}

/// --run-dir DIR, with the command's help.
struct RunDirectoryOption {
    static let name = "run-dir"
    static func spec(_ help: String) -> OptionSpec { .value(name, "DIR", help) }
    /// --run-dir, else the default.
    let path: String
    init(_ args: Arguments) throws { path = try args.value(Self.name) ?? RunDirectory.defaultPath }
}

/// --requests DIR (-r), with the command's help.
struct RequestsOption {
    static let name = "requests"
    static func spec(_ help: String) -> OptionSpec { .value(name, short: "r", "DIR", help) }
    let given: String?
    init(_ args: Arguments) throws { given = try args.value(Self.name) }
    func required() throws -> String {
        guard let given else { throw Arguments.missing(Self.name) }
        return given
    }
}

/// --output FILE (-o), with the command's help.
public enum OutputFileOption {
    public static let name = "output"
    public static func spec(_ help: String) -> OptionSpec { .value(name, short: "o", "FILE", help) }
    public static func read(_ args: Arguments) throws -> String? { try args.value(name) }
}

/// --force, with the command's help.
public enum ForceOption {
    public static let name = "force"
    public static func spec(_ help: String) -> OptionSpec { .flag(name, help) }
    public static func read(_ args: Arguments) throws -> Bool { try args.flag(name) }
}

/// --cmdline FILE: where a command that has it reads the rd.se_secretd.*
/// switches from (CLI.run; the others read /proc/cmdline).
enum KernelCommandLineOption {
    static let name = "cmdline"
    static let spec = OptionSpec.value(name, "FILE", "Kernel command line to read rd.se_secretd.* switches from (default /proc/cmdline).")

    static func switches(_ args: Arguments) throws -> BootSwitches {
        guard args.declares(name), let path = try args.value(name) else { return BootSwitches.current() }
        guard let switches = BootSwitches.read(path) else { throw CLIError(.noInput, "cannot read the kernel command line \(path)") }
        return switches
    }
}
