#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import UVDevice

/// The simulated /dev/uv: a `UVTransport` whose ioctl runs the simulated
/// driver and ultravisor on the memory the control block points to.
public final class SimulatedUVTransport: UVTransport {
    public let name: String
    private enum Backing {
        case memory(SimulatorState)
        case directory(SimulatorStateDirectory)
    }
    private let backing: Backing
    /// Why the last ioctl failed with EIO when the state could not be read
    /// or written (the simulator's own trouble, not the device's).
    public private(set) var lastStateError: (any Error)?

    /// A simulator whose state lives in memory.
    public init(state: SimulatorState) {
        backing = .memory(state)
        name = "simulated ultravisor (in memory)"
    }

    /// A simulator whose state lives in a state directory.
    public init(directory: SimulatorStateDirectory) {
        backing = .directory(directory)
        name = "simulated ultravisor at \(directory.path)"
    }

    public struct Refused: Error, Equatable, CustomStringConvertible {
        public let sysfsRoot: String
        public var description: String {
            "refusing the simulated ultravisor: \(sysfsRoot)/firmware/uv/prot_virt_guest says this is a real Secure Execution guest; use the real /dev/uv"
        }
    }

    /// Opens a state directory as the backend, unless the sysfs tree says
    /// this is a real Secure Execution guest. The machine's own /sys is
    /// asked as well, so that pointing --sysfs at a simulator's tree cannot
    /// smuggle the simulator into a real guest.
    public static func open(stateDirectory: String, sysfs: UVSysfs,
                            machine: UVSysfs = UVSysfs()) throws -> SimulatedUVTransport {
        for tree in [sysfs, machine] where try tree.isSecureExecutionGuest() == true {
            throw Refused(sysfsRoot: tree.root)
        }
        return SimulatedUVTransport(directory: try SimulatorStateDirectory(path: stateDirectory))
    }

    public func ioctl(_ request: UInt, _ controlBlock: UnsafeMutableRawPointer?) -> Int32 {
        let address = UInt64(UInt(bitPattern: controlBlock))
        switch backing {
        case let .memory(state):
            return SimulatedDriver(state: state).ioctl(request, address)
        case let .directory(dir):
            do {
                let rc = try dir.withLockedState { SimulatedDriver(state: $0).ioctl(request, address) }
                lastStateError = nil
                return rc
            } catch {
                lastStateError = error
                return EIO
            }
        }
    }
}

