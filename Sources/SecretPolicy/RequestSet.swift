import SEBase
import SECrypto
import ASRCodec
import SEVocabulary

/// One file taken from the request directory, read exactly once. The same
/// buffer is hashed, parsed, checked and (in the boot run) submitted.
public struct RequestFile: Sendable {
    public let name: String
    public let bytes: [UInt8]
    public let sha256: [UInt8]

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
        self.sha256 = Digest.sha256(bytes)
    }
}

/// The contents of a request directory as far as the policy cares: the
/// request files (by suffix), EBC policy files (*.pol), and every entry that
/// had to be refused while reading.
public struct RequestSet: Sendable {
    public var requests: [RequestFile] = []
    public var policyFiles: [RequestFile] = []
    public var problems: [Problem] = []
    /// Names of entries that were not looked at (other suffixes), escaped
    /// for display (`Printable.escape`).
    public var ignored: [String] = []
    /// The tenant's attestation request (`attestation.request`), when the
    /// policy attests and the file is there; read in the same pass, with
    /// the same rules (regular file, no symlink, bounded).
    public var attestationRequest: RequestFile?
    /// Ignored entries (also in `ignored`) that hold an add-secret request
    /// all the same: a request under a name without the request suffix
    /// (`luks-root.bin`), which the boot run would not submit. Looked for
    /// only when asked (`check` asks; the boot run never reads an entry it
    /// ignores), in at most `maxMisnamedLooks` regular files with plain
    /// names, each within the policy's `max_file_size`.
    public var misnamed: [MisnamedRequest] = []

    /// An ignored file that parses as an add-secret request.
    public struct MisnamedRequest: Sendable {
        /// The file's name (a plain name: printable ASCII).
        public let name: String
        public let sha256: [UInt8]
        public let request: AddSecretRequest
    }

    public init(requests: [RequestFile] = [], policyFiles: [RequestFile] = [], problems: [Problem] = []) {
        self.requests = requests
        self.policyFiles = policyFiles
        self.problems = problems
    }

    public static let maxEntries = 4096

    static let maxPolicyFileSize = 1 << 20
    static let maxPolicyFiles = 8
    /// The most ignored files read to see whether they hold a request.
    public static let maxMisnamedLooks = 64

    /// Reads a directory: symlinks are never followed, only regular files are
    /// read, each at most once and within the policy's size bound, at most
    /// `maxEntries` entries are looked at, and no more request files than the
    /// policy allows are read (memory stays bounded by max_requests ×
    /// max_file_size).
    public static func load(directory: String, rules: Policy.RequestSource, includeEBC: Bool,
                            attestation: Policy.AttestationRules = .init(), lookForMisnamed: Bool = false) throws -> RequestSet {
        try load(directory: try FileIO.openDirectory(directory), displayPath: directory, rules: rules, includeEBC: includeEBC,
                 attestation: attestation, lookForMisnamed: lookForMisnamed)
    }

    /// The request directory as `policy` reads it (requests, EBC files, the
    /// attestation request; with `lookForMisnamed`, requests under other names).
    public static func load(directory: String, policy: Policy, lookForMisnamed: Bool = false) throws -> RequestSet {
        try load(directory: directory, rules: policy.requests, includeEBC: policy.trust.ebc != nil, attestation: policy.attestation,
                 lookForMisnamed: lookForMisnamed)
    }

    /// The same on an open directory; `beforeRead` is called with each file's
    /// display path right before it is read (a test makes the volume vanish there).
    public static func load(directory dir: FileHandle, displayPath directory: String, rules: Policy.RequestSource,
                            includeEBC: Bool, attestation: Policy.AttestationRules = .init(), lookForMisnamed: Bool = false,
                            beforeRead: (String) -> Void = { _ in }) throws -> RequestSet {
        let entries = try FileIO.list(dir, displayPath: directory, limit: maxEntries)
        var set = RequestSet()
        var requestFiles = 0
        var policyFiles = 0
        var looked = 0
        for entry in entries {
            let shown = entry.displayName
            // Whatever its suffix: a name that cannot be shown as it is
            // (controls, a newline, ESC, DEL, bidi overrides, bytes that are
            // not UTF-8) is the volume trying something; it is never used.
            guard Printable.isPrintableUTF8(entry.rawName) else {
                set.problems.append(Problem(.badFileName, file: shown,
                    "file name has control characters, invisible format characters or bytes that are not UTF-8 (shown escaped); rename it"))
                continue
            }
            let isRequest = entry.name.hasSuffix(rules.suffix)
            let isPolicyFile = includeEBC && entry.name.hasSuffix(".pol")
            let isAttestation = attestation.enabled && entry.name == attestation.requestFile
            guard isRequest || isPolicyFile || isAttestation else {
                set.ignored.append(shown)
                if lookForMisnamed, looked < maxMisnamedLooks, entry.kind == .regular, PathRules.isPlainFileName(entry.name),
                   entry.size > 0, entry.size <= Int64(rules.maxFileSize) {
                    looked += 1
                    // Whatever goes wrong here only means no hint: the file is ignored either way.
                    if let bytes = try? FileIO.read(at: dir.fd, entry.name, displayPath: directory + "/" + entry.name, limit: rules.maxFileSize),
                       let request = try? AddSecretRequest.parse(bytes) {
                        set.misnamed.append(MisnamedRequest(name: entry.name, sha256: Digest.sha256(bytes), request: request))
                    }
                }
                continue
            }
            guard PathRules.isPlainFileName(entry.name) else {
                set.problems.append(Problem(.badFileName, file: shown,
                    "file name has spaces or characters outside printable ASCII (shown escaped); rename it"))
                continue
            }
            guard entry.kind == .regular else {
                set.problems.append(Problem(.notRegularFile, file: shown,
                    "is a \(entry.kind.rawValue); only regular files are accepted (no symlinks, devices or directories)"))
                continue
            }
            if isAttestation {
                // one name, so at most one such file
            } else if isRequest {
                requestFiles += 1
                if requestFiles > rules.maxRequests { continue }  // counted, not read
            } else {
                policyFiles += 1
                if policyFiles > maxPolicyFiles { continue }
            }
            let limit = isAttestation ? attestation.maxSize : isRequest ? rules.maxFileSize : maxPolicyFileSize
            beforeRead(directory + "/" + entry.name)
            do {
                let bytes = try FileIO.read(at: dir.fd, entry.name, displayPath: directory + "/" + entry.name, limit: limit)
                let file = RequestFile(name: entry.name, bytes: bytes)
                if isAttestation { set.attestationRequest = file }
                else if isRequest { set.requests.append(file) } else { set.policyFiles.append(file) }
            } catch let e as FileIO.TooLarge {
                set.problems.append(Problem(.fileTooLarge, file: shown, "larger than the limit of \(e.limit) bytes"))
            } catch let e as FileIO.NotRegular {
                set.problems.append(Problem(.notRegularFile, file: shown,
                    "is a \(e.kind.rawValue); only regular files are accepted (it changed while being read)"))
            } catch {
                set.problems.append(Problem(.unreadable, file: shown, "\(error)"))
            }
        }
        if requestFiles > rules.maxRequests {
            set.problems.append(Problem(.tooManyRequests,
                "\(requestFiles) request files, but the policy allows at most \(rules.maxRequests); only the first \(rules.maxRequests) were read"))
        }
        if policyFiles > maxPolicyFiles {
            set.problems.append(Problem(.tooManyRequests, "\(policyFiles) *.pol files; at most \(maxPolicyFiles) are read"))
        }
        return set
    }

    /// A file name made safe for terminals and logs (`Printable.escape`).
    public static func displayName(_ name: String) -> String { Printable.escape(name) }
}

/// One broken rule: a stable identifier, the file it concerns (if any) and
/// a message that says what is wrong. Never contains a secret.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public let rule: String
    public let file: String?
    public let message: String

    public init(_ rule: RuleID, file: String? = nil, _ message: String) {
        self.rule = rule.rawValue
        self.file = file
        self.message = message
    }

    public var description: String { (file.map { "\($0): " } ?? "") + message + " [\(rule)]" }

    public var json: JSON {
        .object([("rule", .string(rule)), ("file", file.map { .string($0) } ?? .null), ("message", .string(message))])
    }
}
