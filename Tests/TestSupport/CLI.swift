import SecretdCLI
import SecretdWorkbench

/// What a command printed and how it ended.
public typealias CLIResult = (code: Int32, out: String, err: String)

/// Runs the CLI in-process as `edition` (the workbench unless a test of the
/// agent says `.agent`) and captures what it prints.
public func cli(_ args: [String], edition: Edition = Workbench.edition) -> CLIResult {
    final class Captured: @unchecked Sendable { var out = ""; var err = "" }
    let captured = Captured()
    let code = CLI.run(args, output: Output(out: { captured.out += $0 }, err: { captured.err += $0 }), edition: edition)
    return (code, captured.out, captured.err)
}

/// `cli(["check", "-p", p])` written as `cli("check", "-p", p)`.
public func cli(_ args: String..., edition: Edition = Workbench.edition) -> CLIResult { cli(args, edition: edition) }
