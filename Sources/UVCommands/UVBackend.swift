import SEBase
import UVDevice
import UVSimulator

/// Which ultravisor the commands talk to: the kernel's device (default
/// /dev/uv) or a simulator state directory. The simulator is refused when
/// sysfs says this is a real Secure Execution guest.
public enum UVBackend: Sendable, Equatable {
    case device(String)
    case simulator(String)

    /// From `--uv DEVICE` / `--uv-sim DIR` (at most one of them).
    public static func select(device: String?, simulator: String?) throws -> UVBackend {
        switch (device, simulator) {
        case (.some, .some): throw CommandFailure(.usage, "--uv and --uv-sim exclude each other")
        case let (_, .some(dir)): return .simulator(dir)
        case let (.some(path), _): return .device(path)
        default: return .device(KernelUVTransport.defaultPath)
        }
    }

    public func open(sysfs: UVSysfs) throws -> UVTransport {
        switch self {
        case let .device(path):
            do { return try KernelUVTransport(path: path) } catch {
                throw CommandFailure(.device, "cannot open the ultravisor device: \(error) (is the uvdevice module loaded? `modprobe uvdevice`)")
            }
        case let .simulator(dir):
            do {
                return try SimulatedUVTransport.open(stateDirectory: dir, sysfs: sysfs)
            } catch let e as SimulatedUVTransport.Refused {
                throw CommandFailure(.device, e.description)
            } catch {
                throw CommandFailure(.device, "cannot use the simulator state \(dir): \(error)")
            }
        }
    }

    /// A client for this backend, with LIST sized from sysfs max_secrets.
    public func client(sysfs: UVSysfs) throws -> UVClient {
        let client = UVClient(transport: try open(sysfs: sysfs))
        if let maxSecrets = (try? sysfs.query())?.maxSecrets {
            client.listPages = SecretListLayout.pages(forSecrets: maxSecrets)
        }
        return client
    }
}

