#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase

/// An ultravisor call that ran (the ioctl returned 0) and reported a failure.
public struct UVCallFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public let ioctl: UVIoctl
    public let rc: UInt16
    public let rrc: UInt16

    public init(ioctl: UVIoctl, rc: UInt16, rrc: UInt16) {
        self.ioctl = ioctl
        self.rc = rc
        self.rrc = rrc
    }

    public var message: String { UVReturnCode.message(rc, for: ioctl) }
    public var isRetryable: Bool { UVReturnCode.isRetryable(rc, for: ioctl) }
    public var isDocumented: Bool { UVReturnCode.isDocumented(rc, for: ioctl) }

    public var description: String {
        "\(ioctl.name): ultravisor rc \(rcHex(rc)) rrc \(rcHex(rrc)): \(message)"
    }
}

/// Every way a /dev/uv operation can fail.
public enum UVError: Error, Equatable, CustomStringConvertible {
    /// A system call failed (open, or the ioctl itself); the errno is kept.
    case system(SystemError)
    /// The ioctl succeeded but the ultravisor reported a failure.
    case ultravisor(UVCallFailure)
    /// LIST could not return every secret: `returned` of `total`.
    case incompleteList(returned: Int, total: Int)
    /// The driver's answer does not have the documented form.
    case malformedResponse(String)
    /// The caller asked for something the ABI cannot express.
    case invalidArgument(String)

    /// The errno of a failed system call.
    public var errno: Int32? {
        if case let .system(e) = self { return e.errno }
        return nil
    }

    /// The ultravisor failure, if that is what happened.
    public var callFailure: UVCallFailure? {
        if case let .ultravisor(f) = self { return f }
        return nil
    }

    public var description: String {
        switch self {
        case let .system(e):
            var text = e.description
            if e.errno == ENOTTY && e.operation.hasPrefix("ioctl ") {
                text += " — the kernel's uvdevice does not know this ioctl (see `se-secretd info`)"
            }
            return text
        case let .ultravisor(f):
            return f.description
        case let .incompleteList(returned, total):
            return "the secret list is incomplete: the device returned \(returned) of \(total) secrets"
        case let .malformedResponse(m):
            return "malformed answer from the ultravisor device: \(m)"
        case let .invalidArgument(m):
            return m
        }
    }
}

