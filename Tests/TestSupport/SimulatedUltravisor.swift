import UVDevice
import UVSimulator
import UVCommands
import SecretdWorkbench

/// A simulated ultravisor in a self-removing directory: the state at
/// `dir/sim`, made with `options`. The guest fixtures of the boot-run and
/// secret-action tests build on it; `backend` is what the commands take.
public struct SimulatedUltravisor: Sendable {
    public let dir: TempDir
    public let sim: SimulatorStateDirectory

    public init(_ label: String, options: SimulatorOptions = SimulatorOptions()) throws {
        dir = try TempDir(label)
        sim = try SimulatorStateDirectory.create(at: dir.appending("sim"), options: options)
    }

    /// `--uv-sim STATE --sysfs STATE/sysfs`.
    public var backend: [String] { ["--uv-sim", sim.path, "--sysfs", sim.sysfsRoot] }

    public func state() throws -> SimulatorState { try sim.loadState() }

    public func faults(_ change: (inout SimulatorFaults) -> Void) throws {
        try sim.withLockedState { s in var f = s.faults; change(&f); s.faults = f }
    }

    public func client() throws -> UVClient {
        try UVBackend.simulator(sim.path).client(sysfs: UVSysfs(root: sim.sysfsRoot), links: Workbench.simulatorLinks)
    }
}
