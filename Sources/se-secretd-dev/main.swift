import SecretdCLI
import SecretdWorkbench

// The workbench: the agent's commands, `sim ...`, `example`, and the
// simulated ultravisor as a backend. Never in an initramfs.
CLI.main(edition: Workbench.edition)
