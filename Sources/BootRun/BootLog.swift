#if canImport(Glibc)
import Glibc
#endif
import SEBase

/// Messages of the boot run, to standard error and to the kernel log.
/// Callers pass only identifiers, file names, hashes and return codes:
/// nothing that reaches this type may contain a secret (the console and
/// the journal are visible to the host).
public final class BootLog: @unchecked Sendable {
    public enum Level: Int32 { case error = 3, warning = 4, notice = 5, info = 6, debug = 7 }

    let stderr: (String) -> Void
    let kmsgPath: String?
    let debugEnabled: Bool
    public private(set) var lines: [String] = []

    /// `kmsgPath`: /dev/kmsg in the initrd, a file in tests, nil for none.
    public init(stderr: @escaping (String) -> Void, kmsgPath: String?, debug: Bool) {
        self.stderr = stderr
        self.kmsgPath = kmsgPath
        self.debugEnabled = debug
    }

    public func log(_ level: Level, _ raw: String, kmsg: Bool = false) {
        if level == .debug && !debugEnabled { return }
        // One message, one line: a newline (or any control character) from
        // outside, e.g. in a file name, cannot start a forged line.
        let message = Printable.line(raw)
        let prefix = level == .error ? "error: " : level == .warning ? "warning: " : ""
        lines.append(prefix + message)
        stderr("se-secretd: " + prefix + message + "\n")
        if kmsg || level.rawValue <= Level.warning.rawValue { toKernelLog(level, message) }
    }

    public func info(_ m: String, kmsg: Bool = false) { log(.info, m, kmsg: kmsg) }
    public func notice(_ m: String) { log(.notice, m, kmsg: true) }
    public func warning(_ m: String) { log(.warning, m) }
    public func error(_ m: String) { log(.error, m) }
    public func debug(_ m: String) { log(.debug, m) }

    /// One record per line, facility user (1), e.g. "<11>se-secretd: ..." for
    /// an error. Records are kept short: /dev/kmsg rejects long ones and
    /// rate-limits many.
    func toKernelLog(_ level: Level, _ message: String) {
        guard let path = kmsgPath else { return }
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | (path == "/dev/kmsg" ? 0 : O_CREAT), 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        for line in message.split(separator: "\n") {
            var record = Array("<\(8 + level.rawValue)>se-secretd: ".utf8) + Array(line.utf8.prefix(900))
            if path != "/dev/kmsg" { record.append(0x0A) }
            _ = record.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        }
    }
}
