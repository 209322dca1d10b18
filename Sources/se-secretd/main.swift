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
var arguments = Array(CommandLine.arguments.dropFirst())
// Installed as (or linked to) se-secretd-keyscript, the binary is a crypttab
// keyscript= program: cryptroot runs it with the key field as its argument.
if let name = CommandLine.arguments.first?.split(separator: "/").last, name == "se-secretd-keyscript" {
    arguments = ["keyscript", "--"] + arguments
}
exit(CLI.run(arguments))
