#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecretdCLI

exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
