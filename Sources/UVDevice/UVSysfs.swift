#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase

/// Reads /sys/firmware/uv under a root that tests can redirect (`--sysfs`).
/// Missing files are nil (older kernels have fewer); malformed files are
/// errors. Every read is bounded.
public struct UVSysfs: Sendable {
    public static let defaultRoot = "/sys"
    static let readLimit = 8192

    public let root: String

    public init(root: String = UVSysfs.defaultRoot) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var uvDirectory: String { root + "/firmware/uv" }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    // MARK: Guest detection

    /// `prot_virt_guest`: true in a Secure Execution guest, nil when the
    /// file does not exist (no ultravisor facility, or not s390).
    public func isSecureExecutionGuest() throws -> Bool? {
        guard let v = try decimal("prot_virt_guest") else { return nil }
        return v == 1
    }

    public func isSecureExecutionHost() throws -> Bool? {
        guard let v = try decimal("prot_virt_host") else { return nil }
        return v == 1
    }

    // MARK: query/

    /// Everything under query/ that se-secretd uses.
    public func query() throws -> UVQuery {
        var q = UVQuery()
        if let lines = try lines("query/facilities") {
            guard lines.count == 4 else {
                throw Malformed(path: path("query/facilities"), reason: "expected 4 lines, found \(lines.count)")
            }
            var words: [UInt64] = []
            for l in lines { words.append(try UVSysfs.parseHex(l, path: path("query/facilities"))) }
            q.facilities = FacilityList(words: words)
        }
        q.featureIndications = try hex("query/feature_indications")
        q.maxCPUs = try decimal("query/max_cpus")
        q.maxGuests = try decimal("query/max_guests")
        q.supportedSEHeaderVersions = try hex("query/supp_se_hdr_ver")
        q.supportedSEHeaderFlags = try hex("query/supp_se_hdr_pcf")
        q.supportedAttestationVersions = try hex("query/supp_att_req_hdr_ver")
        q.supportedAttestationFlags = try hex("query/supp_att_pflags")
        q.supportedAddSecretVersions = try hex("query/supp_add_secret_req_ver")
        q.supportedAddSecretFlags = try hex("query/supp_add_secret_pcf")
        q.supportedSecretTypes = try hex("query/supp_secret_types")
        q.maxSecrets = try decimal("query/max_secrets")
        q.maxAssociationSecrets = try decimal("query/max_assoc_secrets")
        q.maxRetrievableSecrets = try decimal("query/max_retr_secrets")
        return q
    }

    // MARK: keys/

    /// The host-key hashes (Linux 6.13+, when the Query Keys call exists).
    public func hostKeyHashes() throws -> HostKeyHashes? {
        let hostLine = try lines("keys/host_key")
        let backupLine = try lines("keys/backup_host_key")
        let allLines = try lines("keys/all")
        if hostLine == nil && backupLine == nil && allLines == nil { return nil }
        func one(_ l: [String]?, _ name: String) throws -> [UInt8]? {
            guard let l else { return nil }
            guard l.count == 1 else { throw Malformed(path: path(name), reason: "expected one line") }
            return try UVSysfs.parseHash(l[0], path: path(name))
        }
        var all: [[UInt8]] = []
        for l in allLines ?? [] { all.append(try UVSysfs.parseHash(l, path: path("keys/all"))) }
        return HostKeyHashes(hostKey: try one(hostLine, "keys/host_key"),
                             backupHostKey: try one(backupLine, "keys/backup_host_key"),
                             all: all)
    }

    // MARK: -

    func path(_ rel: String) -> String { uvDirectory + "/" + rel }

    /// The file's lines (without the final newline), nil if it does not exist.
    func lines(_ rel: String) throws -> [String]? {
        let p = path(rel)
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(p, limit: UVSysfs.readLimit)
        } catch let e as SystemError where e.errno == ENOENT || e.errno == ENOTDIR {
            return nil
        }
        guard bytes.allSatisfy({ $0 == 0x0A || ($0 >= 0x20 && $0 < 0x7F) }) else {
            throw Malformed(path: p, reason: "not printable ASCII")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    func single(_ rel: String) throws -> String? {
        guard let l = try lines(rel) else { return nil }
        guard l.count == 1 else { throw Malformed(path: path(rel), reason: "expected one line, found \(l.count)") }
        return l[0]
    }

    func hex(_ rel: String) throws -> UInt64? {
        guard let s = try single(rel) else { return nil }
        return try UVSysfs.parseHex(s, path: path(rel))
    }

    func decimal(_ rel: String) throws -> Int? {
        guard let s = try single(rel) else { return nil }
        guard !s.isEmpty, s.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(s) else {
            throw Malformed(path: path(rel), reason: "not a decimal number")
        }
        return v
    }

    static func parseHex(_ s: String, path: String) throws -> UInt64 {
        let ok = !s.isEmpty && s.utf8.count <= 16 && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
        }
        guard ok, let v = UInt64(s, radix: 16) else { throw Malformed(path: path, reason: "not a hex number: \(s)") }
        return v
    }

    static func parseHash(_ s: String, path: String) throws -> [UInt8] {
        guard s.utf8.count == 64, let b = [UInt8](hex: s), !s.hasPrefix("0x") else {
            throw Malformed(path: path, reason: "not a 64-digit hex hash")
        }
        return b
    }
}

/// /sys/firmware/uv/query, each value nil when its file is absent.
public struct UVQuery: Equatable, Sendable {
    public var facilities: FacilityList?
    public var featureIndications: UInt64?
    public var maxCPUs: Int?
    public var maxGuests: Int?
    public var supportedSEHeaderVersions: UInt64?
    public var supportedSEHeaderFlags: UInt64?
    public var supportedAttestationVersions: UInt64?
    public var supportedAttestationFlags: UInt64?
    /// MSB0 bit n ⇒ request version (n+1)·0x100.
    public var supportedAddSecretVersions: UInt64?
    /// MSB0 bit 0 = disable dumping.
    public var supportedAddSecretFlags: UInt64?
    /// MSB0 bit n ⇔ secret type code n.
    public var supportedSecretTypes: UInt64?
    /// 6.13+: the sum of the next two.
    public var maxSecrets: Int?
    public var maxAssociationSecrets: Int?
    public var maxRetrievableSecrets: Int?

    public init() {}

    public func isInstalled(_ facility: UVFacility) -> Bool? { facilities?.isInstalled(facility) }

    public var addSecretVersions: [UInt32]? {
        supportedAddSecretVersions.map { bits in
            (0..<64).filter { bits & (1 << UInt64(63 - $0)) != 0 }.map { UInt32($0 + 1) * 0x100 }
        }
    }

    /// The attestation request versions the ultravisor takes
    /// (supp_att_req_hdr_ver, MSB0 bit n: version (n + 1) × 0x100).
    public var attestationRequestVersions: [UInt32]? {
        supportedAttestationVersions.map { bits in
            (0..<64).filter { bits & (1 << UInt64(63 - $0)) != 0 }.map { UInt32($0 + 1) * 0x100 }
        }
    }

    public var secretTypeCodes: [UInt16]? {
        supportedSecretTypes.map { bits in
            (0..<64).filter { bits & (1 << UInt64(63 - $0)) != 0 }.map { UInt16($0) }
        }
    }

    public var disableDumpFlagSupported: Bool? {
        supportedAddSecretFlags.map { $0 & (1 << 63) != 0 }
    }

    /// MSB0 bitmap with one bit per secret type code.
    public static func secretTypeBitmap(_ codes: [UInt16]) -> UInt64 {
        codes.filter { $0 < 64 }.reduce(0) { $0 | (1 << UInt64(63 - Int($1))) }
    }
}

/// /sys/firmware/uv/keys: SHA-256 hashes of the host keys, the same value a
/// request's keyslot carries (PHKH).
public struct HostKeyHashes: Equatable, Sendable {
    public var hostKey: [UInt8]?
    public var backupHostKey: [UInt8]?
    /// keys/all: 15 lines, unused ones all zero.
    public var all: [[UInt8]]

    public init(hostKey: [UInt8]?, backupHostKey: [UInt8]?, all: [[UInt8]]) {
        self.hostKey = hostKey
        self.backupHostKey = backupHostKey
        self.all = all
    }

    /// Every non-zero hash.
    public var knownHashes: [[UInt8]] {
        var out: [[UInt8]] = []
        for h in [hostKey, backupHostKey].compactMap({ $0 }) + all where !h.isAllZero && !out.contains(h) {
            out.append(h)
        }
        return out
    }

    public func contains(_ hash: [UInt8]) -> Bool { knownHashes.contains(hash) }
}
