import SEBase
import SEVocabulary

/// The kernel command line (`/proc/cmdline`), split like the kernel does:
/// on white space, with double quotes grouping a value.
public struct KernelCommandLine: Sendable {
    public let parameters: [(key: String, value: String?)]

    public init(_ text: String) {
        var params: [(String, String?)] = []
        var current = ""
        var inQuotes = false
        var any = false
        func flush() {
            guard any else { return }
            if let eq = current.firstIndex(of: "=") {
                params.append((String(current[..<eq]), String(current[current.index(after: eq)...])))
            } else {
                params.append((current, nil))
            }
            current = ""
            any = false
        }
        for c in text {
            if c == "\"" { inQuotes.toggle(); any = true; continue }
            if !inQuotes && (c == " " || c == "\n" || c == "\t") { flush(); continue }
            current.append(c)
            any = true
        }
        flush()
        parameters = params
    }

    /// The value of the last occurrence of `key`.
    public func value(_ key: String) -> String? {
        parameters.last { $0.key == key }?.value
    }

    /// True when `key` is present without a value or with 1/yes/true/on.
    public func flag(_ key: String) -> Bool {
        guard let p = parameters.last(where: { $0.key == key }) else { return false }
        guard let v = p.value else { return true }
        return ["1", "yes", "true", "on"].contains(v.lowercased())
    }
}

/// se-secretd's own switches, all under `rd.se_secretd.`:
///   rd.se_secretd.policy=PATH      policy file inside the initrd
///   rd.se_secretd.timeout=SECONDS  overall deadline (volume wait, retries)
///   rd.se_secretd.debug            more detail on stderr (never secrets)
///   rd.se_secretd.requests=DIR     read requests from a directory instead of the volume
///   rd.se_secretd.uv_sim=DIR       use the simulated ultravisor in DIR instead of /dev/uv
///                                  (boot tests; refused on a real Secure Execution guest)
///   rd.se_secretd.sysfs=ROOT       read firmware/uv below ROOT (default /sys, or DIR/sysfs
///                                  with uv_sim)
public struct BootSwitches: Sendable, Equatable {
    public var policy: String?
    public var timeout: Double?
    public var debug = false
    public var requests: String?
    public var uvSimulator: String?
    public var sysfs: String?

    public static let prefix = "rd.se_secretd."

    public init() {}

    public init(_ cmdline: KernelCommandLine) {
        policy = cmdline.value(Self.prefix + "policy").flatMap { $0.isEmpty ? nil : $0 }
        if let t = cmdline.value(Self.prefix + "timeout"), let v = Double(t), WaitLimit.accepts(v) { timeout = v }
        debug = cmdline.flag(Self.prefix + "debug")
        requests = cmdline.value(Self.prefix + "requests").flatMap { $0.isEmpty ? nil : $0 }
        uvSimulator = cmdline.value(Self.prefix + "uv_sim").flatMap { $0.isEmpty ? nil : $0 }
        sysfs = cmdline.value(Self.prefix + "sysfs").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The sysfs root these switches select: rd.se_secretd.sysfs=, else the
    /// simulator's own tree (DIR/sysfs) with rd.se_secretd.uv_sim=, else nil (/sys).
    public var effectiveSysfs: String? {
        sysfs ?? uvSimulator.map { $0 + "/sysfs" }
    }

    /// The switches of the kernel command line in `path` (nil when it cannot be read).
    public static func read(_ path: String) -> BootSwitches? {
        guard let bytes = try? FileIO.read(path, limit: 64 << 10, followSymlinks: true) else { return nil }
        return BootSwitches(KernelCommandLine(String(decoding: bytes, as: UTF8.self)))
    }

    /// The switches on this machine's kernel command line (none when unreadable).
    public static func current(_ path: String = "/proc/cmdline") -> BootSwitches { read(path) ?? BootSwitches() }
}
