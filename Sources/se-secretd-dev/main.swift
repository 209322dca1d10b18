#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import SecretdCLI
import SecretdWorkbench

// The workbench: the agent's commands, `sim ...`, `example`, and the
// simulated ultravisor as a backend. Hardened like the agent.
ProcessHardening.apply()
exit(CLI.run(Array(CommandLine.arguments.dropFirst()), edition: Workbench.edition))
