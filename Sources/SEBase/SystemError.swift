#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call, with the errno it left and what it was doing.
public struct SystemError: Error, Equatable, CustomStringConvertible {
    public let errno: Int32
    public let operation: String
    public let path: String?

    public init(errno: Int32, operation: String, path: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.path = path
    }

    /// Captures the current errno.
    public static func current(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(errno: Glibc.errno, operation: operation, path: path)
    }

    public var errnoName: String { SystemError.name(of: errno) }

    public var description: String {
        let what = path.map { "\(operation) \($0)" } ?? operation
        return "\(what): \(String(cString: strerror(errno))) (\(errnoName))"
    }

    public static func name(of code: Int32) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case ENXIO: return "ENXIO"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case ENOTDIR: return "ENOTDIR"
        case EISDIR: return "EISDIR"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case EROFS: return "EROFS"
        case ENOTTY: return "ENOTTY"
        case EFBIG: return "EFBIG"
        case ELOOP: return "ELOOP"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ETIMEDOUT: return "ETIMEDOUT"
        default: return "errno \(code)"
        }
    }
}
