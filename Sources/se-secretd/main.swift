#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import SecretdCLI

// Before anything else, for every command: no core dumps, no ptrace by
// the same user, memory locked where that is safe (see ProcessHardening).
ProcessHardening.apply()
exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
