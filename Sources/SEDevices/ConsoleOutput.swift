#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase

/// Why `ConsoleOutput.write` stopped, and how many whole lines got out before.
public struct ConsoleOutputError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable {
        /// The console could not be opened.
        case openFailed = "open-failed"
        /// A write failed.
        case writeFailed = "write-failed"
        /// The console took nothing for `stallTimeoutMilliseconds` (the host
        /// stopped reading, or sent XOFF).
        case stalled
    }

    public let rule: Rule
    public let path: String
    /// Lines written completely before the failure.
    public let linesWritten: Int
    public let systemError: SystemError?

    public init(_ rule: Rule, path: String, linesWritten: Int, systemError: SystemError? = nil) {
        self.rule = rule
        self.path = path
        self.linesWritten = linesWritten
        self.systemError = systemError
    }

    public var description: String {
        let what: String
        switch rule {
        case .openFailed: what = "cannot open it" + (systemError.map { ": \($0)" } ?? "")
        case .writeFailed: what = "a write failed" + (systemError.map { ": \($0)" } ?? "")
        case .stalled: what = "it took no output for too long"
        }
        return "console \(path): \(what), after \(linesWritten) lines [\(rule.rawValue)]"
    }
}

/// Writes lines (ConsoleFrame's) to the console: one write per line of the
/// line and "\n" (so a /dev/kmsg path gets one record per line), a short
/// pause between lines (a serial console and the host's log behind it may
/// drop what comes in a burst). Lines must not hold a newline (ConsoleFrame's
/// do not).
///
/// The console is opened `O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK`: no
/// controlling terminal, and a console whose other end stops reading (the
/// host owns it; XOFF holds a tty's output) makes write return EAGAIN
/// instead of blocking the boot run forever. Then it waits in poll for up to
/// `stallTimeoutMilliseconds` for room, and gives up (`stalled`) if none
/// comes. Short writes and EINTR are retried. A FIFO used in a test must
/// have its reader open first (else ENXIO) and keep it open (else SIGPIPE).
public struct ConsoleOutput {
    public static let defaultPath = "/dev/console"
    public static let defaultPauseMilliseconds = 3
    public static let defaultStallTimeoutMilliseconds = 10_000
    /// The longest a whole `write` may take: a console that takes a byte now
    /// and then never stalls, and would otherwise hold a failing boot forever.
    public static let defaultTotalTimeoutMilliseconds = 60_000

    public var path: String
    /// The pause between two lines, given to `pause`.
    public var pauseMilliseconds: Int
    /// How long the console may take nothing before `write` gives up.
    public var stallTimeoutMilliseconds: Int
    /// How long the whole `write` may take before it gives up (`stalled`).
    public var totalTimeoutMilliseconds: Int
    /// Called between lines (never before the first or after the last) with
    /// `pauseMilliseconds`; tests pass one that does not sleep.
    public var pause: (Int) -> Void

    public init(path: String = ConsoleOutput.defaultPath,
                pauseMilliseconds: Int = ConsoleOutput.defaultPauseMilliseconds,
                stallTimeoutMilliseconds: Int = ConsoleOutput.defaultStallTimeoutMilliseconds,
                totalTimeoutMilliseconds: Int = ConsoleOutput.defaultTotalTimeoutMilliseconds,
                pause: @escaping (Int) -> Void = ConsoleOutput.sleep(milliseconds:)) {
        self.path = path
        self.pauseMilliseconds = pauseMilliseconds
        self.stallTimeoutMilliseconds = stallTimeoutMilliseconds
        self.totalTimeoutMilliseconds = totalTimeoutMilliseconds
        self.pause = pause
    }

    /// Writes every line followed by "\n"; returns how many were written
    /// (all of them, or it throws with the count in the error).
    @discardableResult
    public func write(_ lines: [String]) throws(ConsoleOutputError) -> Int {
        // O_APPEND: a file given instead of the console (`--console`) keeps
        // what it has, as a console log does; a tty and /dev/kmsg ignore it.
        let fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw ConsoleOutputError(.openFailed, path: path, linesWritten: 0, systemError: SystemError.current("open", path: path))
        }
        let handle = FileHandle(fd: fd)
        let deadline = MonotonicClock.nanoseconds() + UInt64(max(0, totalTimeoutMilliseconds)) * 1_000_000
        var written = 0
        for line in lines {
            if written > 0 { pause(pauseMilliseconds) }
            var bytes = Array(line.utf8)
            bytes.append(0x0A)
            try writeLine(handle.fd, bytes, written: written, deadline: deadline)
            written += 1
        }
        return written
    }

    func writeLine(_ fd: Int32, _ bytes: [UInt8], written: Int, deadline: UInt64) throws(ConsoleOutputError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n; continue }
            if n == 0 {
                throw ConsoleOutputError(.writeFailed, path: path, linesWritten: written,
                                         systemError: SystemError(errno: EIO, operation: "write", path: path))
            }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN || e == EWOULDBLOCK else {
                throw ConsoleOutputError(.writeFailed, path: path, linesWritten: written,
                                         systemError: SystemError(errno: e, operation: "write", path: path))
            }
            // Full: wait for room, at most the stall timeout and never past the deadline.
            let now = MonotonicClock.nanoseconds()
            guard now < deadline else { throw ConsoleOutputError(.stalled, path: path, linesWritten: written) }
            let wait = min(stallTimeoutMilliseconds, Int((deadline - now) / 1_000_000) + 1)
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var r: Int32
            repeat { r = poll(&p, 1, Int32(clamping: wait)) } while r < 0 && errno == EINTR
            if r == 0 { throw ConsoleOutputError(.stalled, path: path, linesWritten: written) }
            if r < 0 {
                throw ConsoleOutputError(.writeFailed, path: path, linesWritten: written,
                                         systemError: SystemError.current("poll", path: path))
            }
        }
    }

    /// Sleeps `milliseconds` (nanosleep, resumed after a signal).
    public static func sleep(milliseconds: Int) {
        guard milliseconds > 0 else { return }
        var ts = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }

    /// True only when `<procRoot>/sys/kernel/printk_devkmsg` says "on": then
    /// the kernel takes any number of user-space records on /dev/kmsg.
    /// Otherwise ("ratelimit", the default, lets a burst of 10 per 5 s
    /// through and drops the rest; "off" refuses the open; missing or
    /// anything else) a frame of hundreds of lines would arrive cut, so
    /// the caller writes one line there that points to the console instead.
    /// The file is read bounded (64 bytes), without following a symlink.
    public static func kmsgAcceptsBursts(procRoot: String = "/proc") -> Bool {
        guard let bytes = try? FileIO.read(procRoot + "/sys/kernel/printk_devkmsg", limit: 64) else { return false }
        var text = bytes[...]
        while let last = text.last, last == 0x0A || last == 0x20 || last == 0x09 { text.removeLast() }
        return Array(text) == Array("on".utf8)
    }
}
