import SEBase
import SEVocabulary

/// IBM's Early Boot Customization layout (pvebc / pvics): a meta request
/// `toc.asr` whose unsigned user data is a policy reference naming `toc.pol`,
/// which lists the GCM tags of the requests to add, in order.
public enum EBC {
    /// The 512-byte user data of an EBC table-of-contents request.
    public struct PolicyReference: Equatable, Sendable {
        /// SHA-256 of the referenced file (s390-tools' docs say SHA-512; its code uses SHA-256).
        public var sha256: [UInt8]
        public var path: String

        public static let size = 512
        public static let pathSize = 480

        public init(sha256: [UInt8], path: String) {
            self.sha256 = sha256
            self.path = path
        }

        public var bytes: [UInt8] {
            sha256 + Array(Array(path.utf8).prefix(PolicyReference.pathSize)).rightPadded(to: PolicyReference.pathSize)
        }

        public struct Invalid: Error, Equatable, CustomStringConvertible {
            public let rule: RuleID
            public let message: String
            public var description: String { message }
        }

        /// Parses the reference and applies se-secretd's path rule: a single
        /// plain file name (no '/', not '.' or '..', printable ASCII). pvebc
        /// only refuses '..' and a leading '/'; we are stricter.
        public static func parse(_ userData: [UInt8]) throws(Invalid) -> PolicyReference {
            guard userData.count == size else { throw Invalid(rule: .ebcReference, message: "policy reference must be 512 bytes") }
            let hash = Array(userData[0..<32])
            let raw = userData[32...]
            var start = raw.startIndex, end = raw.endIndex
            while start < end, raw[start] == 0 { start += 1 }
            while end > start, raw[end - 1] == 0 { end -= 1 }
            let name = raw[start..<end]
            guard !name.isEmpty else { throw Invalid(rule: .ebcReference, message: "policy reference names no file") }
            guard name.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw Invalid(rule: .ebcPathTraversal, message: "policy reference path contains non-printable bytes")
            }
            let path = String(decoding: name, as: UTF8.self)
            guard !path.contains("/"), path != ".", path != ".." else {
                throw Invalid(rule: .ebcPathTraversal, message: "policy reference path '\(path)' is not a plain file name in the request directory")
            }
            return PolicyReference(sha256: hash, path: path)
        }
    }

    public struct InvalidTOC: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses toc.pol: one 32-hex-digit GCM tag per line, in add order.
    public static func parseTOCPolicy(_ bytes: [UInt8], maxEntries: Int = 4096) throws(InvalidTOC) -> [[UInt8]] {
        var tags: [[UInt8]] = []
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (i, rawLine) in lines.enumerated() {
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty {
                if i == lines.count - 1 { continue }  // the final newline
                throw InvalidTOC(line: i + 1, message: "empty line")
            }
            // [UInt8](hex:) also accepts a "0x" prefix: "0x" + 30 digits is
            // 32 characters but only 15 bytes, so the decoded size is checked.
            guard line.count == 32, let tag = [UInt8](hex: String(decoding: line, as: UTF8.self)), tag.count == 16 else {
                throw InvalidTOC(line: i + 1, message: "expected a 16-byte GCM tag as 32 hex digits")
            }
            guard tags.count < maxEntries else { throw InvalidTOC(line: i + 1, message: "more than \(maxEntries) entries") }
            tags.append(tag)
        }
        return tags
    }
}
