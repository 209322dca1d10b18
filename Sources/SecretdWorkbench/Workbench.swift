import SecretdCLI
import UVCommands
import UVSimulator

/// se-secretd-dev: the agent's commands plus the developer's and the
/// tenant's bench (a simulated ultravisor with `sim ...`, `example`), talking
/// to /dev/uv or to a simulator. It never goes into an initramfs.
public enum Workbench {
    public static let edition = Edition(name: "se-secretd-dev", extraCommands: ExampleCommands.all + SimCommands.all + AttestationCommands.all + PvsecretCommands.all,
                                        links: simulatorLinks)

    /// The simulated ultravisor as a backend (refused where sysfs says this
    /// is a real Secure Execution guest).
    public static let simulatorLinks = UVLinks(simulator: { try SimulatedUVTransport.open(stateDirectory: $0, sysfs: $1) })
}
