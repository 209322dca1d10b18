#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes to standard output and standard error with write(2), so that no
/// shared C `FILE*` state is touched from Swift. Text goes through
/// `Printable.line` (lines stay lines; control and invisible format
/// characters are escaped), so nothing that slipped into a message raw can
/// drive a terminal; bytes (`writeAll(_:_:)` with a buffer, e.g. a
/// retrieved secret to a pipe) are written as they are.
public enum Console {
    public static func out(_ text: String) { writeAll(1, Printable.line(text, keepNewlines: true)) }
    public static func err(_ text: String) { writeAll(2, Printable.line(text, keepNewlines: true)) }

    public static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        writeAll(fd, &bytes)
    }

    public static func writeAll(_ fd: Int32, _ bytes: inout [UInt8]) {
        bytes.withUnsafeBytes { _ = try? FileIO.writeAll(fd, $0) }
    }

    /// True when the descriptor is a terminal (used to pick colours and widths).
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}

/// Monotonic time for measuring durations.
public struct MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
