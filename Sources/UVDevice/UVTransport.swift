#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUVDevice
import SEBase

/// The one thing that differs between the real device and the simulator:
/// the final ioctl call. Everything above it (control blocks, argument
/// buffers, decoding) is shared, so the simulator tests the real encoding.
public protocol UVTransport: AnyObject {
    /// What the transport talks to, for messages ("/dev/uv", "simulator …").
    var name: String { get }

    /// `ioctl(fd, request, controlBlock)`: returns 0 or the errno. The
    /// pointer normally addresses a 64-byte `se_uvio_ioctl_cb`; it is passed
    /// on unchanged whatever it is (tests hand over NULL or unmapped memory).
    func ioctl(_ request: UInt, _ controlBlock: UnsafeMutableRawPointer?) -> Int32
}

/// /dev/uv through the kernel.
public final class KernelUVTransport: UVTransport {
    public static let defaultPath = "/dev/uv"
    public let name: String
    private let handle: FileHandle

    /// Opens the device read-write and close-on-exec (both permissions are
    /// needed for the ioctls). Only a character device is accepted.
    public init(path: String = KernelUVTransport.defaultPath) throws(UVError) {
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .system(SystemError.current("open", path: path)) }
        let handle = FileHandle(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .system(SystemError.current("stat", path: path)) }
        guard st.st_mode & S_IFMT == S_IFCHR else {
            throw .system(SystemError(errno: ENODEV, operation: "open (not a character device)", path: path))
        }
        self.handle = handle
        self.name = path
    }

    public func ioctl(_ request: UInt, _ controlBlock: UnsafeMutableRawPointer?) -> Int32 {
        se_uv_ioctl(handle.fd, request, controlBlock)
    }
}

/// The result of one ioctl that returned 0.
public struct UVCallResult: Equatable, Sendable {
    public let rc: UInt16
    public let rrc: UInt16

    public init(rc: UInt16, rrc: UInt16) {
        self.rc = rc
        self.rrc = rrc
    }
}

extension UVTransport {
    /// Issues `ioctl` with a fresh control block pointing at `argument`.
    /// uv_rc/uv_rrc are pre-set to 0 (never a valid rc) and read only when
    /// the ioctl returned 0: the driver does not copy the block back on error.
    public func call(_ ioctl: UVIoctl, argument: UnsafeMutableRawPointer?, length: Int) throws(UVError) -> UVCallResult {
        guard length >= 0, length <= Int(UInt32.max) else {
            throw .invalidArgument("argument of \(length) bytes does not fit the control block")
        }
        var cb = se_uvio_ioctl_cb()
        cb.uv_rc = UVReturnCode.none
        cb.uv_rrc = 0
        cb.argument_addr = UInt64(UInt(bitPattern: argument))
        cb.argument_len = UInt32(length)
        let err = withUnsafeMutablePointer(to: &cb) { self.ioctl(ioctl.requestNumber, UnsafeMutableRawPointer($0)) }
        guard err == 0 else {
            throw .system(SystemError(errno: err, operation: "ioctl \(ioctl.name) on", path: name))
        }
        return UVCallResult(rc: cb.uv_rc, rrc: cb.uv_rrc)
    }
}
