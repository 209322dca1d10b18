import SEBase

/// Where a command writes. Tests capture it; the binary writes to fds 1 and 2.
/// All text passes `Printable.line`: what a command prints never carries a
/// raw control or bidi character, whatever its inputs held.
public final class Output: @unchecked Sendable {
    public let out: (String) -> Void
    public let err: (String) -> Void
    public init(out: @escaping (String) -> Void, err: @escaping (String) -> Void) {
        self.out = { out(Printable.line($0, keepNewlines: true)) }
        self.err = { err(Printable.line($0, keepNewlines: true)) }
    }
    public static let standard = Output(out: { Console.out($0) }, err: { Console.err($0) })

    public func line(_ s: String = "") { out(s + "\n") }
    public func error(_ s: String) { err(s + "\n") }
}

/// Options read together: declared once (`options`, in the order help lists
/// them) and built once from a command's parsed arguments, with the checks
/// across them (ranges, required values, options that exclude each other)
/// failing as usage errors. Only a group's `init` reads options by name.
public protocol OptionGroup: SendableMetatype {
    static var options: [OptionSpec] { get }
    init(_ args: Arguments) throws
}

/// A command without options of its own (only --help).
public struct NoOptions: OptionGroup {
    public static let options: [OptionSpec] = []
    public init(_ args: Arguments) throws {}
}

/// A command of the se-secretd tool.
public struct Command: Sendable {
    /// Words that select it, e.g. ["policy", "init"].
    public let path: [String]
    public let summary: String
    /// Synopsis of positional arguments, e.g. "FILE...".
    public let arguments: String
    /// Explanatory text for --help: what it does, why, examples.
    public let discussion: String
    public let options: [OptionSpec]
    public let positionals: ClosedRange<Int>
    /// Hidden from the command list (developer tools).
    public let hidden: Bool
    public let run: @Sendable (Arguments, Output) throws -> ExitCode
    /// Builds the command's typed options from parsed arguments, without
    /// running it (tests: every option a command reads is one it declares).
    public let readOptions: @Sendable (Arguments) throws -> Void

    /// A command whose options are `O`: declared by `O.options` (in help
    /// order), built once from the parsed arguments with `O`'s checks before
    /// `run` sees them.
    public init<O: OptionGroup>(_ path: [String], summary: String, arguments: String = "", positionals: ClosedRange<Int> = 0...0,
                                options: O.Type, hidden: Bool = false, discussion: String,
                                run: @escaping @Sendable (O, Arguments, Output) throws -> ExitCode) {
        self.path = path
        self.summary = summary
        self.arguments = arguments
        self.positionals = positionals
        self.options = O.options + [.flag("help", short: "h", "Show this help.")]
        self.hidden = hidden
        self.discussion = discussion
        self.readOptions = { _ = try O($0) }
        self.run = { args, out in try run(try O(args), args, out) }
    }

    public var name: String { path.joined(separator: " ") }

    /// The help as `program` (the edition's name) shows it.
    public func help(program: String = "se-secretd") -> String {
        var s = "\(program) \(name) — \(summary)\n\nUSAGE: \(program) \(name)"
        if options.count > 1 { s += " [OPTIONS]" }
        if !arguments.isEmpty { s += " \(arguments)" }
        s += "\n\n" + discussion.trimmingTrailingNewlines + "\n\nOPTIONS:\n"
        for o in options {
            var left = "  "
            left += o.short.map { "-\($0), " } ?? "    "
            left += "--\(o.long)"
            if let v = o.value { left += " \(v)" }
            if o.repeatable { left += " ..." }
            s += left.padded(to: 34) + o.help + "\n"
        }
        return s
    }
}

extension String {
    func padded(to width: Int) -> String {
        count >= width ? self + "  " : self + String(repeating: " ", count: width - count)
    }
    var trimmingTrailingNewlines: String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
