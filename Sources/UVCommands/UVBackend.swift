import SEBase
import UVDevice

/// The backends this binary can reach besides the kernel's device: the
/// release agent has none (a simulator backend fails closed); the workbench
/// (se-secretd-dev) and the boot tests' agent (se-secretd-test) link
/// UVSimulator's. The simulator refuses to run where sysfs says this is a real
/// Secure Execution guest.
public struct UVLinks: Sendable {
    /// Opens a simulated ultravisor from its state directory.
    public typealias SimulatorOpener = @Sendable (_ stateDirectory: String, _ sysfs: UVSysfs) throws -> UVTransport
    public var simulator: SimulatorOpener?
    public init(simulator: SimulatorOpener? = nil) { self.simulator = simulator }
    /// The kernel's device only: the release agent.
    public static let deviceOnly = UVLinks()
}

/// Which ultravisor the commands talk to: the kernel's device (default
/// /dev/uv) or a simulator state directory. The command line's choice
/// (--uv, --uv-sim, the kernel command line) is SecretdCLI's BackendOptions.
public enum UVBackend: Sendable, Equatable {
    case device(String)
    case simulator(String)

    public func open(sysfs: UVSysfs, links: UVLinks) throws -> UVTransport {
        switch self {
        case let .device(path):
            do { return try KernelUVTransport(path: path) } catch {
                throw CommandFailure(.device, "cannot open the ultravisor device: \(error) (is the uvdevice module loaded? `modprobe uvdevice`)")
            }
        case let .simulator(dir):
            guard let open = links.simulator else {
                throw CommandFailure(.usage, "this se-secretd has no simulated ultravisor (--uv-sim, rd.se_secretd.uv_sim=): "
                    + "it talks to /dev/uv only; the simulator is in se-secretd-dev")
            }
            do { return try open(dir, sysfs) } catch let f as CommandFailure { throw f } catch {
                throw CommandFailure(.device, "cannot use the simulator state \(dir): \(error)")
            }
        }
    }

    /// A client for this backend, with LIST sized from sysfs max_secrets.
    public func client(sysfs: UVSysfs, links: UVLinks) throws -> UVClient {
        let client = UVClient(transport: try open(sysfs: sysfs, links: links))
        if let maxSecrets = (try? sysfs.query())?.maxSecrets {
            client.listPages = SecretListLayout.pages(forSecrets: maxSecrets)
        }
        return client
    }
}

