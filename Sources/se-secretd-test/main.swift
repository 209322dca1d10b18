#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import SecretdCLI
import UVCommands
import UVSimulator

// The agent exactly as Sources/se-secretd/main.swift runs it, plus one
// backend: the simulated ultravisor (rd.se_secretd.uv_sim=), for the boot
// tests' initramfs images, since QEMU has no ultravisor. Never released.
ProcessHardening.apply()
var arguments = Array(CommandLine.arguments.dropFirst())
if let name = CommandLine.arguments.first?.split(separator: "/").last, name == "se-secretd-keyscript" {
    arguments = ["keyscript", "--"] + arguments
}
let links = UVLinks(simulator: { try SimulatedUVTransport.open(stateDirectory: $0, sysfs: $1) })
exit(CLI.run(arguments, edition: Edition(name: "se-secretd", links: links)))
