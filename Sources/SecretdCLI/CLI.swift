#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import UVCommands
import BootRun

/// Which binary runs the commands: the agent (se-secretd: the initramfs and
/// the administrator's tool, /dev/uv only), or one that adds commands and a
/// simulated ultravisor (the workbench se-secretd-dev; the boot tests' agent).
public struct Edition: Sendable {
    public let name: String
    /// Commands beyond the agent's.
    public let extraCommands: [Command]
    public let links: UVLinks
    public init(name: String, extraCommands: [Command] = [], links: UVLinks = .deviceOnly) {
        self.name = name
        self.extraCommands = extraCommands
        self.links = links
    }
    /// The release agent.
    public static let agent = Edition(name: "se-secretd")

    /// Every command, in the order the overview lists them.
    public var commands: [Command] { CLI.commands + extraCommands }
}

public enum CLI {
    public static let version = "0.1.0"

    /// The agent's commands, in the order the overview lists them. New
    /// command groups register here (the workbench's in SecretdWorkbench).
    public static var commands: [Command] {
        AdminCommands.all + PolicyCommands.all + BootCommands.all + DeviceCommands.all + VerifyCommands.all + ActionCommands.all
            + HardeningCommands.all
    }

    static let overview = """
    se-secretd — personalizes a generic IBM Secure Execution guest at boot from
    add-secret requests (made with `pvsecret create`) that sit on an untrusted
    volume: it checks them against the policy embedded in the initrd, submits
    them to the ultravisor, locks the secret store, and uses the secrets.

    Administrators validate a request list before deploying it:
      se-secretd inspect tenant/*.asr
      se-secretd check --policy policy.json --requests tenant/ --host-key-document HKD.crt
      se-secretd policy init --requests tenant/ --name luks-root --output policy.json

    """

    static let exitCodes: String = {
        var s = "EXIT CODES:\n"
        for c in ExitCode.allCases { s += "  \(String(c.rawValue).padded(to: 5))\(c.meaning)\n" }
        return s
    }()

    static func topLevelHelp(_ edition: Edition) -> String {
        var s = overview + "\nCOMMANDS:\n"
        for c in edition.commands where !c.hidden {
            s += "  " + c.name.padded(to: 22) + c.summary + "\n"
        }
        s += "\nRun `\(edition.name) COMMAND --help` for a command's options and examples.\n\n" + exitCodes
        return s
    }

    /// Runs the tool with `args` (without the program name).
    public static func run(_ args: [String], output: Output = .standard, edition: Edition = .agent) -> Int32 {
        let commands = edition.commands
        if args.isEmpty || args == ["--help"] || args == ["-h"] || args == ["help"] {
            output.out(topLevelHelp(edition))
            return args.isEmpty ? ExitCode.usage.rawValue : 0
        }
        if args == ["--version"] {
            output.line("\(edition.name) \(version)")
            return 0
        }
        var words = args
        var helpRequested = false
        if words.first == "help" {
            words.removeFirst()
            helpRequested = true
        }
        // Longest command path that prefixes the words.
        let match = commands.filter { c in words.count >= c.path.count && Array(words.prefix(c.path.count)) == c.path }
            .max { $0.path.count < $1.path.count }
        guard let command = match else {
            let group = commands.filter { $0.path.first == words.first }
            if !group.isEmpty {
                output.error("\(edition.name): '\(words.joined(separator: " "))' needs a subcommand: " +
                    group.map { $0.path.dropFirst().joined(separator: " ") }.joined(separator: ", "))
            } else {
                output.error("\(edition.name): unknown command '\(words.first ?? "")'. Run `\(edition.name) --help` for the list.")
            }
            return ExitCode.usage.rawValue
        }
        let rest = Array(words.dropFirst(command.path.count))
        if helpRequested || rest.contains("--help") || rest.contains("-h") {
            output.out(command.help(program: edition.name))
            return 0
        }
        do {
            var parsed = try Arguments.parse(rest, options: command.options)
            parsed.links = edition.links
            parsed.switches = try KernelCommandLineOption.switches(parsed)
            guard command.positionals.contains(parsed.positionals.count) else {
                let expected = command.arguments.isEmpty ? "no arguments" : command.arguments
                throw CLIError(.usage, "expected \(expected), got \(parsed.positionals.count) argument(s)")
            }
            return try command.run(parsed, output).rawValue
        } catch let e as any ClassifiedFailure {
            output.error("\(edition.name) \(command.name): \(e.description)")
            if e.failureClass == .usage { output.error("Run `\(edition.name) \(command.name) --help` for usage.") }
            return e.failureClass.exitCode
        } catch {
            // An error no layer classified: a bug, said as one.
            output.error("\(edition.name) \(command.name): internal error (please report it): \(error)")
            return FailureClass.internal.exitCode
        }
    }
}

extension CLI {
    /// The whole program, for every binary: the process protections first
    /// (no core dumps, no ptrace, memory locked where safe), the crypttab
    /// keyscript= name (installed as or linked to se-secretd-keyscript, the
    /// binary serves `keyscript` with the key field as its argument), then the
    /// command. Each executable's main is this call with its edition.
    public static func main(edition: Edition) -> Never {
        ProcessHardening.apply()
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let name = CommandLine.arguments.first?.split(separator: "/").last, name == "se-secretd-keyscript" {
            arguments = ["keyscript", "--"] + arguments
        }
        exit(run(arguments, edition: edition))
    }
}
