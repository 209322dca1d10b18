import SecretdCLI
import UVCommands
import UVSimulator

// The agent's program (CLI.main, the agent's commands) with one more
// backend: the simulated ultravisor (rd.se_secretd.uv_sim=), for the boot
// tests' initramfs images, since QEMU has no ultravisor. Never released; it
// names itself se-secretd-test (--version), so it cannot pass for the agent.
let links = UVLinks(simulator: { try SimulatedUVTransport.open(stateDirectory: $0, sysfs: $1) })
CLI.main(edition: Edition(name: "se-secretd-test", links: links))
