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
        /// The file name looked up in the request directory.
        public var path: String
        /// The path as the reference writes it (`./toc.pol`); `path` unless
        /// it had leading `./` components.
        public var written: String

        public static let size = 512
        public static let pathSize = 480

        public init(sha256: [UInt8], path: String) {
            self.sha256 = sha256
            self.path = path
            self.written = path
        }

        public var bytes: [UInt8] {
            sha256 + Array(Array(written.utf8).prefix(PolicyReference.pathSize)).rightPadded(to: PolicyReference.pathSize)
        }

        public struct Invalid: Error, Equatable, CustomStringConvertible {
            public let rule: RuleID
            public let message: String
            public var description: String { message }
        }

        /// Parses the reference and applies the path rule: what pvebc takes
        /// (`pvsecret create --policy ./toc.pol` as people type it), nothing
        /// it refuses. Printable ASCII; refused as pvebc refuses them: any
        /// `..` and a leading `/`; leading `./` components are dropped; what
        /// is left must be a plain file name in the request directory
        /// (pvebc would also look in a subdirectory; se-secretd reads the
        /// request directory only, so `dir/toc.pol` is refused, saying so).
        /// `path` is the name looked up; `written` what the reference says.
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
            let written = String(decoding: name, as: UTF8.self)
            let dotDot = name.indices.dropLast().contains { name[$0] == 0x2E && name[$0 + 1] == 0x2E }
            guard !dotDot, name.first != 0x2F else {
                throw Invalid(rule: .ebcPathTraversal, message: "policy reference path '\(written)' contains '..' or starts with '/' (refused, as pvebc refuses it)")
            }
            var plain = name[...]
            while plain.starts(with: [0x2E, 0x2F]) {  // "./"
                plain = plain.dropFirst(2)
                while plain.first == 0x2F { plain = plain.dropFirst() }  // ".//toc.pol"
            }
            guard !plain.isEmpty, !(plain.count == 1 && plain.first == 0x2E) else {
                throw Invalid(rule: .ebcReference, message: "policy reference path '\(written)' names no file")
            }
            guard !plain.contains(0x2F) else {
                throw Invalid(rule: .ebcReference,
                    message: "policy reference path '\(written)' names a file in a subdirectory; se-secretd reads the request directory itself only (put the file beside the requests and reference it by its name)")
            }
            var ref = PolicyReference(sha256: hash, path: String(decoding: plain, as: UTF8.self))
            ref.written = written
            return ref
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
