import SEBase
import UVCommands
import BootRun

/// One option of a command.
public struct OptionSpec: Sendable {
    public let long: String
    public let short: Character?
    /// Name of the value in help (`FILE`), or nil for a flag.
    public let value: String?
    public let repeatable: Bool
    public let help: String

    public static func flag(_ long: String, short: Character? = nil, _ help: String) -> OptionSpec {
        OptionSpec(long: long, short: short, value: nil, repeatable: false, help: help)
    }

    public static func value(_ long: String, short: Character? = nil, _ value: String, repeatable: Bool = false,
                             _ help: String) -> OptionSpec {
        OptionSpec(long: long, short: short, value: value, repeatable: repeatable, help: help)
    }
}

/// Parsed command-line arguments of one command, and the ultravisor
/// backends of the binary that runs it (its edition's).
public struct Arguments: Sendable {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    public var positionals: [String] = []
    public internal(set) var links: UVLinks = .deviceOnly
    /// The rd.se_secretd.* switches, read once per run (CLI.run): from
    /// --cmdline FILE where the command has it, else /proc/cmdline.
    public internal(set) var switches = BootSwitches()

    /// The long names of the options the command declares. Reading any other
    /// is a bug (a typo, or a group the command did not declare): it throws
    /// an internal error rather than answering "not given".
    public internal(set) var declared: Set<String> = []

    /// Whether the command declares `--name`.
    public func declares(_ name: String) -> Bool { declared.contains(name) }

    func checkDeclared(_ name: String) throws {
        guard declared.contains(name) else {
            throw CLIError(.software, "option --\(name) is read but not declared by this command (a bug)")
        }
    }

    public func flag(_ name: String) throws -> Bool {
        try checkDeclared(name)
        return flags.contains(name)
    }

    public func value(_ name: String) throws -> String? {
        try checkDeclared(name)
        return values[name]?.last
    }

    public func values(_ name: String) throws -> [String] {
        try checkDeclared(name)
        return values[name] ?? []
    }

    public func require(_ name: String) throws -> String {
        guard let v = try value(name) else { throw Arguments.missing(name) }
        return v
    }

    /// The error for a required option that was not given.
    public static func missing(_ name: String) -> CLIError {
        CLIError(.usage, "missing required option --\(name)")
    }

    public func int(_ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = try value(name) else { return nil }
        guard let v = Int(text), range.contains(v) else {
            throw CLIError(.usage, "--\(name) takes a number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"")
        }
        return v
    }

    /// Parses `args` against `options`. `--opt=value`, `--opt value`, `-o value`
    /// and `--` (end of options) are understood.
    static func parse(_ args: [String], options: [OptionSpec]) throws -> Arguments {
        var out = Arguments()
        out.declared = Set(options.map(\.long))
        var i = 0
        var onlyPositionals = false
        func find(_ s: String) throws -> OptionSpec {
            if let o = options.first(where: { $0.long == s }) { return o }
            let close = options.map(\.long).filter { $0.hasPrefix(String(s.prefix(3))) }
            let hint = close.isEmpty ? "" : " (did you mean --\(close[0])?)"
            throw CLIError(.usage, "unknown option --\(s)\(hint)")
        }
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositionals || a == "-" || !a.hasPrefix("-") {
                out.positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            var name: String
            var inline: String? = nil
            let spec: OptionSpec
            if a.hasPrefix("--") {
                name = String(a.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                spec = try find(name)
            } else {
                guard a.count == 2, let c = a.last, let o = options.first(where: { $0.short == c }) else {
                    throw CLIError(.usage, "unknown option \(a)")
                }
                spec = o
            }
            if spec.value == nil {
                guard inline == nil else { throw CLIError(.usage, "--\(spec.long) takes no value") }
                out.flags.insert(spec.long)
            } else {
                let v: String
                if let inline { v = inline } else {
                    guard i < args.count else { throw CLIError(.usage, "--\(spec.long) needs a value (\(spec.value!))") }
                    v = args[i]
                    i += 1
                }
                if !spec.repeatable, out.values[spec.long] != nil {
                    throw CLIError(.usage, "--\(spec.long) given more than once")
                }
                out.values[spec.long, default: []].append(v)
            }
        }
        return out
    }
}
