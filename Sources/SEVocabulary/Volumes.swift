// The words the block-device layer and the policy share: how a volume is
// named, and the rules every path the policy names must follow.

/// How the policy names the request volume.
public enum VolumeSpec: Sendable, Equatable, CustomStringConvertible {
    case label(String), uuid(String), partLabel(String), partUUID(String), path(String)

    public init?(_ text: String) {
        func value(_ prefix: String) -> String? {
            guard text.hasPrefix(prefix) else { return nil }
            let v = String(text.dropFirst(prefix.count))
            return v.isEmpty || v.utf8.count > 255 ? nil : v
        }
        if let v = value("LABEL=") { self = .label(v) }
        else if let v = value("UUID=") { self = .uuid(v) }
        else if let v = value("PARTLABEL=") { self = .partLabel(v) }
        else if let v = value("PARTUUID=") { self = .partUUID(v) }
        else if text.hasPrefix("/dev/"), PathRules.isCleanAbsolute(text) { self = .path(text) }
        else { return nil }
    }

    public var description: String {
        switch self {
        case let .label(v): return "LABEL=\(v)"
        case let .uuid(v): return "UUID=\(v)"
        case let .partLabel(v): return "PARTLABEL=\(v)"
        case let .partUUID(v): return "PARTUUID=\(v)"
        case let .path(v): return v
        }
    }
}

/// Path rules for everything the policy names.
public enum PathRules {
    /// Absolute, no empty, "." or ".." components, no NUL, bounded.
    public static func isCleanAbsolute(_ path: String) -> Bool {
        guard path.hasPrefix("/"), path.utf8.count <= 4096, !path.utf8.contains(0) else { return false }
        if path == "/" { return true }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        return parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count <= 255 }
    }

    /// Relative, no "..": "." or "a/b".
    public static func isCleanRelative(_ path: String) -> Bool {
        guard !path.hasPrefix("/"), !path.isEmpty, path.utf8.count <= 4096, !path.utf8.contains(0) else { return false }
        if path == "." { return true }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count <= 255 }
    }

    /// A single file name: printable ASCII without '/', not "." or "..".
    public static func isPlainFileName(_ name: String) -> Bool {
        let u = Array(name.utf8)
        return !u.isEmpty && u.count <= 255 && name != "." && name != ".." &&
            u.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }
    }
}
