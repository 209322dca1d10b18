#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CProcessHardening
import Synchronization

/// Process-wide protections for a process that holds secrets, applied at
/// the start of `main` for every command:
///
/// - not dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core dump, and no
///   ptrace attach or /proc/PID/mem access by other processes of the same
///   user;
/// - core size limit 0 (`RLIMIT_CORE`), soft and hard: no core file even if
///   something made the process dumpable again;
/// - all memory locked against swapping (`mlockall(MCL_CURRENT |
///   MCL_FUTURE | MCL_ONFAULT)`), but only where that cannot backfire: with
///   CAP_IPC_LOCK (root at boot) or an unlimited RLIMIT_MEMLOCK. Otherwise
///   MCL_FUTURE would make every later allocation beyond the limit fail, so
///   it is skipped and `SecureBytes` keeps locking its own pages.
///
/// Each step is best effort: a failure is reported, never fatal.
public enum ProcessHardening {
    public enum MemoryLock: Sendable, Equatable, CustomStringConvertible {
        /// mlockall succeeded; `onFault` says whether pages are locked as
        /// they are touched (MCL_ONFAULT) or were all populated at once.
        case locked(onFault: Bool)
        /// Not attempted, and why.
        case skipped(String)
        /// mlockall failed with this errno.
        case failed(Int32)

        public var description: String {
            switch self {
            case let .locked(onFault): return "locked (mlockall current and future\(onFault ? ", on fault" : ""))"
            case let .skipped(why): return "not locked: \(why)"
            case let .failed(e): return "not locked: mlockall failed with \(SystemError.name(of: e))"
            }
        }
    }

    /// What `apply()` achieved.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        /// Nil when the process is no longer dumpable, else the errno.
        public var dumpableError: Int32?
        /// Nil when the core limit is 0, else the errno.
        public var coreLimitError: Int32?
        public var memoryLock: MemoryLock

        /// True when core dumps are impossible by both means.
        public var coreDumpsDisabled: Bool { dumpableError == nil && coreLimitError == nil }

        public var description: String {
            "dumpable: " + (dumpableError.map { "still set (prctl: \(SystemError.name(of: $0)))" } ?? "cleared") +
                "; core limit: " + (coreLimitError.map { "not set (\(SystemError.name(of: $0)))" } ?? "0") +
                "; memory: \(memoryLock)"
        }
    }

    private static let state = Mutex<Report?>(nil)

    /// The report of the last `apply()` in this process, nil if never applied.
    public static var applied: Report? { state.withLock { $0 } }

    /// True when every present and future page of the process is locked,
    /// so that per-buffer mlock/munlock is unnecessary (and munlock would
    /// even undo the process-wide lock for those pages).
    public static var allMemoryLocked: Bool {
        if case .locked = applied?.memoryLock { return true }
        return false
    }

    /// Applies every protection; cheap (a handful of system calls).
    @discardableResult
    public static func apply() -> Report {
        let dumpable = se_set_dumpable(0)
        var zero = rlimit(rlim_cur: 0, rlim_max: 0)
        let core = setCoreLimit(&zero)
        let report = Report(dumpableError: dumpable == 0 ? nil : -dumpable,
                            coreLimitError: core, memoryLock: lockAllMemory())
        state.withLock { $0 = report }
        return report
    }

    private static func setCoreLimit(_ limit: inout rlimit) -> Int32? {
        #if canImport(Glibc)
        let rc = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit)
        #else
        let rc = setrlimit(RLIMIT_CORE, &limit)
        #endif
        return rc == 0 ? nil : errno
    }

    private static func memlockLimit() -> rlim_t? {
        var l = rlimit()
        #if canImport(Glibc)
        let rc = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &l)
        #else
        let rc = getrlimit(RLIMIT_MEMLOCK, &l)
        #endif
        return rc == 0 ? l.rlim_cur : nil
    }

    private static func lockAllMemory() -> MemoryLock {
        let capable = se_has_cap_ipc_lock() == 1
        if !capable {
            guard let limit = memlockLimit() else { return .skipped("RLIMIT_MEMLOCK is unknown") }
            if limit != rlim_t.max {  // RLIM_INFINITY
                return .skipped("no CAP_IPC_LOCK and RLIMIT_MEMLOCK is \(limit / 1024) KiB")
            }
        }
        if mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0 { return .locked(onFault: true) }
        // MCL_ONFAULT needs Linux 4.4; older kernels say EINVAL.
        if errno == EINVAL, mlockall(MCL_CURRENT | MCL_FUTURE) == 0 { return .locked(onFault: false) }
        return .failed(errno)
    }

    /// The protections as the kernel sees them now (for diagnostics and tests).
    public struct Status: Sendable, Equatable {
        /// PR_GET_DUMPABLE: 0, 1 or 2; negative errno on failure.
        public var dumpable: Int32
        public var coreSoftLimit: UInt64
        public var coreHardLimit: UInt64
        /// "VmLck" of /proc/self/status in KiB, nil when unreadable.
        public var lockedKiB: Int?
    }

    public static func status() -> Status {
        var core = rlimit()
        #if canImport(Glibc)
        _ = getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &core)
        #else
        _ = getrlimit(RLIMIT_CORE, &core)
        #endif
        var locked: Int? = nil
        if let text = try? FileIO.read("/proc/self/status", limit: 1 << 16, followSymlinks: true) {
            for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("VmLck:".utf8)) {
                let digits = line.drop { !(0x30...0x39).contains($0) }.prefix { (0x30...0x39).contains($0) }
                locked = Int(String(decoding: digits, as: UTF8.self))
            }
        }
        return Status(dumpable: se_get_dumpable(), coreSoftLimit: UInt64(core.rlim_cur),
                      coreHardLimit: UInt64(core.rlim_max), lockedKiB: locked)
    }
}
