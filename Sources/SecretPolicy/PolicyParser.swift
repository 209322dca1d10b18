import SEBase
import SECrypto
import ASRCodec
import SEVocabulary

/// Why a policy is not usable. Names the JSON path and the rule.
public struct PolicyError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

extension Policy {
    public static let maxPolicySize = 1 << 20
    public static let maxKeyFileSize = 64 << 10

    /// Reads and validates a policy file. Signer `key_file`s are resolved
    /// relative to the policy's directory and must not leave it.
    public static func load(path: String) throws -> Policy {
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path, limit: maxPolicySize, followSymlinks: true) } catch {
            throw PolicyError(path, "cannot read the policy: \(error)")
        }
        let (dir, _) = FileIO.splitPath(path)
        return try parse(bytes, source: path) { rel in
            try FileIO.read(dir + "/" + rel, limit: maxKeyFileSize, followSymlinks: true)
        }
    }

    /// Parses and validates a policy document. `readKeyFile` loads a signer
    /// key file named relative to the policy.
    public static func parse(_ bytes: [UInt8], source: String = "policy",
                             readKeyFile: @escaping (String) throws -> [UInt8] = { _ in throw PolicyError("$", "key files are not available") })
        throws -> Policy {
        let json: JSON
        do { json = try JSON.parse(bytes) } catch {
            throw PolicyError(source, "not valid JSON: \(error)")
        }
        do {
            var p = try PolicyParser(readKeyFile: readKeyFile).parse(json)
            p.digest = Digest.sha256(bytes)
            return p
        } catch let e as JSONSchemaError {
            throw PolicyError(e.path, e.message)
        }
    }
}

struct PolicyParser {
    let readKeyFile: (String) throws -> [UInt8]

    func fail(_ path: String, _ message: String) -> JSONSchemaError { JSONSchemaError(path: path, message: message) }

    func parse(_ json: JSON) throws -> Policy {
        var root = try JSONObjectReader(json, path: "$")
        _ = try root.string("$schema")
        guard let version = try root.int("version", range: 0...Int64.max) else { throw fail("$", "missing required key \"version\"") }
        guard version == Policy.currentVersion else {
            throw fail("$.version", "unsupported policy version \(version) (this se-secretd reads version \(Policy.currentVersion))")
        }
        let description = try root.string("description")
        let requests = try parseRequests(try root.object("requests"), path: root.childPath("requests"))
        let trustReader = try root.object("trust")
        guard let trustReader else { throw fail("$", "missing required key \"trust\" (say {\"require\": \"none\"} to trust every request)") }
        let trust = try parseTrust(trustReader)
        let store = try parseStore(try root.object("store"), path: root.childPath("store"))
        guard let secretItems = try root.array("secrets") else { throw fail("$", "missing required key \"secrets\"") }
        var secrets: [Policy.SecretRule] = []
        for (i, item) in secretItems.enumerated() {
            secrets.append(try parseSecret(item, path: "$.secrets[\(i)]", signers: trust.signers))
        }
        let failureText = try root.string("on_failure") ?? "poweroff"
        guard let onFailure = Policy.FailureAction(rawValue: failureText) else {
            throw fail("$.on_failure", "unknown failure action \"\(failureText)\" (poweroff, reboot, emergency-shell, continue)")
        }
        let rootBinding = try root.object("root")
        let attestation = try parseAttestation(try root.object("attestation"), path: root.childPath("attestation"), requests: requests)
        let results = try parseResults(try root.object("results"), path: root.childPath("results"))
        try root.finish()

        // Cross checks.
        var ids: [[UInt8]: String] = [:]
        for (i, s) in secrets.enumerated() {
            if let other = ids[s.id] {
                throw fail("$.secrets[\(i)]", "secret \"\(s.name)\" has the same ID as \"\(other)\"")
            }
            ids[s.id] = s.name
        }
        if let d = results.device, d == requests.volume {
            throw fail("$.results.device", "the results device is the request volume (\(d)); se-secretd writes the results device raw")
        }
        if !store.allowUpdateCCK, secrets.contains(where: { $0.type == .updateCCK }) {
            throw fail("$.secrets", "an update-cck secret needs store.allow_update_cck")
        }
        var volumes = Set<String>(), files = Set<String>(), creds = Set<String>()
        for (i, s) in secrets.enumerated() {
            for a in s.actions {
                let dup: Bool
                switch a {
                case let .luks(l): dup = !volumes.insert("luks:" + l.mapping).inserted
                case let .keyFile(v): dup = !volumes.insert("keyfile:" + v).inserted
                case let .keyscript(v): dup = !volumes.insert("keyscript:" + v).inserted
                case let .file(f):
                    dup = !files.insert(f.path).inserted || (f.format == .sshHostKey && !files.insert(f.path + ".pub").inserted)
                case let .credential(n): dup = !creds.insert(n).inserted
                case let .passwordHash(u): dup = !creds.insert("shadow:" + u).inserted
                }
                if dup { throw fail("$.secrets[\(i)].actions", "\(a.summary) is the target of more than one action") }
            }
        }
        var policy = Policy(version: version, description: description, requests: requests, trust: trust, store: store,
                            secrets: secrets, onFailure: onFailure, digest: [])
        policy.root = try parseRoot(rootBinding, path: "$.root", policy: policy)
        policy.attestation = attestation
        policy.results = results
        return policy
    }

    /// `"attestation"`: mode, the request's file name, its trust, its bound.
    func parseAttestation(_ reader: JSONObjectReader?, path: String, requests: Policy.RequestSource) throws -> Policy.AttestationRules {
        var rules = Policy.AttestationRules()
        guard var r = reader else { return rules }
        let modeText = try r.string("mode") ?? "off"
        guard let mode = Policy.AttestationRules.Mode(rawValue: modeText) else {
            throw fail(r.childPath("mode"), "\"\(modeText)\" is not off, optional or required")
        }
        rules.mode = mode
        let file = try r.string("request") ?? Policy.AttestationRules.defaultRequestFile
        guard PathRules.isPlainFileName(file) else {
            throw fail(r.childPath("request"), "must be a plain file name in the request directory")
        }
        guard !file.hasSuffix(requests.suffix), !file.hasSuffix(".pol") else {
            throw fail(r.childPath("request"), "\"\(file)\" ends like a request file (\(requests.suffix)) or an EBC policy (.pol); give the attestation request a name of its own")
        }
        rules.requestFile = file
        let trustText = try r.string("trust") ?? Policy.AttestationRules.TrustMode.measurementKey.rawValue
        guard let trust = Policy.AttestationRules.TrustMode(rawValue: trustText) else {
            throw fail(r.childPath("trust"), "\"\(trustText)\" is not measurement-key or pinned")
        }
        rules.trust = trust
        for (i, text) in (try r.stringArray("sha256") ?? []).enumerated() {
            let h = try parseHash(text, path: "\(r.childPath("sha256"))[\(i)]")
            guard !rules.pinned.contains(h) else { throw fail("\(r.childPath("sha256"))[\(i)]", "duplicate pin") }
            rules.pinned.append(h)
        }
        switch (trust, rules.pinned.isEmpty) {
        case (.pinned, true): throw fail(r.childPath("sha256"), "trust \"pinned\" needs at least one SHA-256 of the request file")
        case (.measurementKey, false): throw fail(r.childPath("sha256"), "pins need trust \"pinned\"")
        default: break
        }
        // The exchange header and the smallest ARCB with a nonce (0x40 + 0xE0 + 80 + 80 + 16 = 464),
        // rounded up to the 512 the schema and docs/policy.md state.
        let minSize = Policy.AttestationRules.minimumMaxSize
        rules.maxSize = Int(try r.int("max_size", range: Int64(minSize)...Int64(1 << 20)) ?? Int64(Policy.AttestationRules.defaultMaxSize))
        try r.finish()
        return rules
    }

    /// `"results"`: a raw results device and/or the console.
    func parseResults(_ reader: JSONObjectReader?, path: String) throws -> Policy.ResultsRules {
        var rules = Policy.ResultsRules()
        guard var r = reader else { return rules }
        if let text = try r.string("device") {
            guard let v = VolumeSpec(text) else {
                throw fail(r.childPath("device"), "\"\(text)\" is not PARTLABEL=, PARTUUID= or an absolute /dev path")
            }
            switch v {
            case .label, .uuid:
                throw fail(r.childPath("device"), "a raw results device has no file system, so no LABEL= or UUID=: name it by PARTLABEL=, PARTUUID= or a /dev path (e.g. /dev/disk/by-id/virtio-SERIAL)")
            default: break
            }
            rules.device = v
        }
        rules.console = try r.bool("console") ?? false
        try r.finish()
        return rules
    }

    /// `"root"`: what the new root must be, the one `install` writes into
    /// and the boot switches to. Without it, a policy binds the root to its
    /// own volumes; one that has none must say what its root is if it
    /// installs into it, and otherwise parses with no binding (nil), so that
    /// `check` works, but its install phase refuses to let the boot go on
    /// (root-unbound).
    func parseRoot(_ reader: JSONObjectReader?, path: String, policy: Policy) throws -> Policy.RootBinding? {
        let installs = policy.secrets.contains { $0.actions.contains { $0.phase == "install" } }
        let volumes = policy.volumeNames
        guard var r = reader else {
            if !volumes.isEmpty { return .luks(volume: nil) }
            guard installs else { return nil }
            guard !volumes.isEmpty else {
                throw fail(path, "the policy installs into the new root but opens no volume for it: name the root, e.g. {\"type\": \"luks\", \"volume\": \"root\"} with a luks, keyfile or keyscript action for that volume, or {\"type\": \"tmpfs\"} [\(RuleID.rootUnbound)]")
            }
            return .luks(volume: nil)
        }
        let type = try r.requireString("type")
        let binding: Policy.RootBinding
        switch type {
        case "luks":
            let volume = try r.string("volume")
            if let v = volume, !volumes.contains(v) {
                throw fail(r.childPath("volume"), "no luks, keyfile or keyscript action of the policy opens a volume named \"\(v)\" (the policy's volumes: \(volumes.isEmpty ? "none" : volumes.joined(separator: ", "))) [\(RuleID.rootUnbound)]")
            }
            if volume == nil, volumes.isEmpty {
                throw fail(path, "a luks root needs a luks, keyfile or keyscript action for it [\(RuleID.rootUnbound)]")
            }
            binding = .luks(volume: volume)
        case "tmpfs": binding = .tmpfs
        case "any": binding = .any
        default:
            throw fail(r.childPath("type"), "\"\(type)\" is not luks, tmpfs or any")
        }
        try r.finish()
        return binding
    }

    func parseRequests(_ reader: JSONObjectReader?, path: String) throws -> Policy.RequestSource {
        var r = reader
        var volume: VolumeSpec? = nil
        if let text = try r?.string("volume") {
            guard let v = VolumeSpec(text) else {
                throw fail(path + ".volume", "\"\(text)\" is not LABEL=, UUID=, PARTLABEL=, PARTUUID= or an absolute /dev path")
            }
            volume = v
        }
        let directory = try r?.string("directory") ?? "."
        let dir = directory.hasPrefix("/") ? (directory == "/" ? "." : String(directory.dropFirst())) : directory
        guard PathRules.isCleanRelative(dir) else {
            throw fail(path + ".directory", "\"\(directory)\" must be a clean path inside the volume (no empty, '.' or '..' components)")
        }
        let suffix = try r?.string("suffix") ?? ".asr"
        guard !suffix.contains("/"), suffix.utf8.count <= 32 else { throw fail(path + ".suffix", "must be a short file-name suffix") }
        let maxRequests = Int(try r?.int("max_requests", range: 1...4096) ?? 64)
        let maxFileSize = Int(try r?.int("max_file_size", range: Int64(ASRLayout.minSize)...Int64(ASRLayout.maxSize)) ?? Int64(ASRLayout.maxSize))
        let wait = Int(try r?.int("wait_seconds", range: Int64(WaitLimit.seconds.lowerBound)...Int64(WaitLimit.seconds.upperBound)) ?? 30)
        let filesystems = try r?.stringArray("filesystems") ?? Policy.RequestSource.defaultFilesystems
        guard !filesystems.isEmpty else { throw fail(path + ".filesystems", "must name at least one file-system type") }
        for (i, t) in filesystems.enumerated() {
            guard Policy.RequestSource.knownFilesystems.contains(t) else {
                throw fail("\(path).filesystems[\(i)]", "\"\(t)\" is not a file-system type se-secretd mounts (\(Policy.RequestSource.knownFilesystems.joined(separator: ", ")))")
            }
            guard !filesystems[..<i].contains(t) else { throw fail("\(path).filesystems[\(i)]", "\"\(t)\" is listed twice") }
        }
        try r?.finish()
        return Policy.RequestSource(volume: volume, directory: dir, suffix: suffix, maxRequests: maxRequests,
                                    maxFileSize: maxFileSize, waitSeconds: wait, filesystems: filesystems)
    }

    /// Exactly `count` bytes as 2×count hex digits (no "0x" prefix).
    func hexBytes(_ text: String, count: Int) -> [UInt8]? {
        let u = text.utf8
        let isHexDigit = { (c: UInt8) in (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }
        guard u.count == 2 * count, u.allSatisfy(isHexDigit) else { return nil }
        return [UInt8](hex: text)
    }

    func parseHash(_ text: String, path: String) throws -> [UInt8] {
        guard let h = hexBytes(text, count: 32) else {
            throw fail(path, "expected a SHA-256 as 64 hex digits")
        }
        return h
    }

    func parseTrust(_ reader: JSONObjectReader) throws -> Policy.Trust {
        var r = reader
        var signers: [Policy.Signer] = []
        for (i, item) in (try r.array("signers") ?? []).enumerated() {
            let p = "\(r.childPath("signers"))[\(i)]"
            var s = try JSONObjectReader(item, path: p)
            let name = try s.requireString("name")
            guard NameRules.isVolumeName(name) else { throw fail(p + ".name", "signer names use letters, digits, '-', '_', '.', '+'") }
            guard !signers.contains(where: { $0.name == name }) else { throw fail(p + ".name", "duplicate signer \"\(name)\"") }
            let inline = try s.string("key")
            let file = try s.string("key_file")
            let keyBytes: [UInt8]
            switch (inline, file) {
            case let (k?, nil): keyBytes = Array(k.utf8)
            case let (nil, f?):
                guard PathRules.isCleanRelative(f) else { throw fail(p + ".key_file", "must be a relative path beside the policy, without '..'") }
                do { keyBytes = try readKeyFile(f) } catch { throw fail(p + ".key_file", "cannot read \(f): \(error)") }
            default: throw fail(p, "give exactly one of \"key\" (PEM text) and \"key_file\"")
            }
            let key: PublicKey
            do { key = try PublicKey.load(keyBytes) } catch { throw fail(p, "not a public key or certificate: \(error)") }
            guard UserDataSignature.userDataType(for: key.keyType) != nil else {
                throw fail(p, "\(key.keyType) cannot sign requests (EC P-521, RSA-2048 or RSA-3072)")
            }
            try s.finish()
            signers.append(Policy.Signer(name: name, key: key))
        }
        var pinned: [[UInt8]] = []
        for (i, text) in (try r.stringArray("pinned_sha256") ?? []).enumerated() {
            let h = try parseHash(text, path: "\(r.childPath("pinned_sha256"))[\(i)]")
            guard !pinned.contains(h) else { throw fail("\(r.childPath("pinned_sha256"))[\(i)]", "duplicate pin") }
            pinned.append(h)
        }
        var ebc: Policy.EBCTrust? = nil
        if var e = try r.object("ebc") {
            let toc = try e.string("toc") ?? "toc.asr"
            guard PathRules.isPlainFileName(toc) else { throw fail(e.childPath("toc"), "must be a plain file name in the request directory") }
            let tocPin = try e.string("toc_sha256").map { t throws in try parseHash(t, path: e.childPath("toc_sha256")) }
            let polPin = try e.string("policy_sha256").map { t throws in try parseHash(t, path: e.childPath("policy_sha256")) }
            let allow = try e.bool("allow_unpinned_toc") ?? false
            if tocPin == nil, polPin == nil, !allow {
                throw fail(e.path, "toc.asr is not authenticated by anyone: pin \"toc_sha256\" or \"policy_sha256\", or accept IBM's model explicitly with \"allow_unpinned_toc\": true")
            }
            try e.finish()
            ebc = Policy.EBCTrust(toc: toc, tocSHA256: tocPin, policySHA256: polPin, allowUnpinnedTOC: allow)
        }
        let reqText = try r.string("require") ?? "any"
        guard let require = Policy.Requirement(rawValue: reqText) else {
            throw fail(r.childPath("require"), "\"\(reqText)\" is not any, all or none")
        }
        let minEpoch = try parseMinEpoch(&r, signers: signers)
        let sameEpoch = try r.bool("same_epoch") ?? true
        try r.finish()
        var trust = Policy.Trust(signers: signers, pinned: pinned, ebc: ebc, require: require)
        trust.minEpoch = minEpoch
        trust.sameEpoch = sameEpoch
        if require != .none, trust.methodCount == 0 {
            throw fail(r.path, "no trust method: give signers, pinned_sha256 or ebc (or \"require\": \"none\" to accept any request)")
        }
        if require == .none, trust.methodCount > 0 {
            throw fail(r.childPath("require"), "\"none\" contradicts the configured trust methods")
        }
        return trust
    }

    /// `min_epoch` (of `trust` or of a secret): 0 to 2^63-1. Only a
    /// freshness record under a verified signature counts, so a minimum
    /// without signers could never be met (pinned requests are exempt: a pin
    /// fixes the exact request, it is as fresh as the pin).
    func parseMinEpoch(_ r: inout JSONObjectReader, signers: [Policy.Signer]) throws -> UInt64? {
        guard let v = try r.int("min_epoch", range: 0...Int64.max) else { return nil }
        guard !signers.isEmpty else {
            throw fail(r.childPath("min_epoch"),
                "a minimum epoch needs trust.signers: only a freshness record under a verified signature proves a request's age (pinned requests are as fresh as their pins)")
        }
        return UInt64(v)
    }

    func parseStore(_ reader: JSONObjectReader?, path: String) throws -> Policy.StoreRules {
        var r = reader
        let flags = try r?.stringArray("required_flags") ?? []
        for (i, f) in flags.enumerated() where f != "disable-dump" {
            throw fail("\(path).required_flags[\(i)]", "unknown flag \"\(f)\" (known: disable-dump)")
        }
        var cuid: [UInt8]? = nil
        if let text = try r?.string("config_uid") {
            guard let c = hexBytes(text, count: 16), !c.isAllZero else {
                throw fail(path + ".config_uid", "expected a non-zero 16-byte config UID as 32 hex digits")
            }
            cuid = c
        }
        let rules = Policy.StoreRules(lock: try r?.bool("lock") ?? true,
                                      allowMeta: try r?.bool("allow_meta") ?? false,
                                      allowUpdateCCK: try r?.bool("allow_update_cck") ?? false,
                                      requiredFlags: Array(Set(flags)).sorted(), configUID: cuid)
        try r?.finish()
        return rules
    }

    func parseSecret(_ json: JSON, path: String, signers: [Policy.Signer]) throws -> Policy.SecretRule {
        var r = try JSONObjectReader(json, path: path)
        let typeText = try r.requireString("type")
        guard let type = SecretType(name: typeText), type != .null else {
            throw fail(r.childPath("type"), "unknown secret type \"\(typeText)\" (\(SecretType.allCases.filter { $0 != .null }.map(\.name).joined(separator: ", ")))")
        }
        let name = try r.string("name")
        let idText = try r.string("id")
        let formText = try r.string("id_form") ?? "sha256"
        guard let form = Policy.IDForm(rawValue: formText) else { throw fail(r.childPath("id_form"), "\"\(formText)\" is not sha256 or raw-name") }
        let id: [UInt8]
        let display: String
        if type == .updateCCK {
            guard idText == nil else { throw fail(r.childPath("id"), "an update-cck request has no ID") }
            id = [UInt8](repeating: 0, count: 32)
            display = name ?? "update-cck"
        } else {
            switch (name, idText) {
            case let (n?, nil):
                guard !n.isEmpty, n.utf8.count <= 1024 else { throw fail(r.childPath("name"), "names have 1 to 1024 bytes") }
                if form == .rawName {
                    guard let raw = SecretID.rawName(n) else { throw fail(r.childPath("name"), "a raw-name ID holds 1 to 31 bytes, none of them NUL") }
                    id = raw
                } else {
                    id = SecretID.hashed(name: n, sha256: Digest.sha256)
                }
                display = n
            case let (n, t?):
                guard let v = hexBytes(t, count: 32) else { throw fail(r.childPath("id"), "expected a 32-byte ID as 64 hex digits") }
                id = v
                display = n ?? t
            default:
                throw fail(path, "give \"name\" or \"id\"")
            }
        }
        let required = try r.bool("required") ?? true
        var length: Int? = nil
        if let l = try r.int("length", range: 0...8192) {
            guard type.isValidLength(Int(l)) else { throw fail(r.childPath("length"), "\(l) is not a valid length for \(type.name)") }
            length = Int(l)
        }
        let allowed = try r.stringArray("signers")
        for (i, s) in (allowed ?? []).enumerated() where !signers.contains(where: { $0.name == s }) {
            throw fail("\(r.childPath("signers"))[\(i)]", "no signer named \"\(s)\" in trust.signers")
        }
        var actions: [Action] = []
        for (i, item) in (try r.array("actions") ?? []).enumerated() {
            let a = try parseAction(item, path: "\(r.childPath("actions"))[\(i)]")
            guard a.accepts(type) else {
                throw fail("\(r.childPath("actions"))[\(i)]", "a \(a.kind) action cannot use a secret of type \(type.name)")
            }
            actions.append(a)
        }
        let minEpoch = try parseMinEpoch(&r, signers: signers)
        try r.finish()
        var rule = Policy.SecretRule(name: display, id: id, type: type, required: required, length: length,
                                     signers: allowed, actions: actions)
        rule.minEpoch = minEpoch
        return rule
    }

    func parseAction(_ json: JSON, path: String) throws -> Action {
        var r = try JSONObjectReader(json, path: path)
        let kind = try r.requireString("type")
        let action: Action
        switch kind {
        case "luks":
            let devText = try r.requireString("device")
            guard let dev = VolumeSpec(devText) else { throw fail(r.childPath("device"), "\"\(devText)\" is not LABEL=, UUID=, PARTLABEL=, PARTUUID= or a /dev path") }
            let mapping = try r.requireString("name")
            guard NameRules.isVolumeName(mapping) else { throw fail(r.childPath("name"), "not a valid device-mapper name") }
            let useText = try r.string("key") ?? "passphrase"
            guard let use = Action.LUKS.KeyUse(rawValue: useText) else {
                throw fail(r.childPath("key"), "\"\(useText)\" is not passphrase, volume-key or paes-token")
            }
            let cipher = try r.string("expect_cipher")
            if let c = cipher, c.isEmpty || c.utf8.count > 64 || c.contains(" ") { throw fail(r.childPath("expect_cipher"), "not a cipher spec") }
            if let c = cipher, LUKSCiphers.isNull(c) {
                throw fail(r.childPath("expect_cipher"), "\(c) does not encrypt; se-secretd never opens such a volume [\(RuleID.luksCipherNull)]")
            }
            // The token is public (type and ID of the secret): a header with
            // any other cipher whose volume key is the token would open.
            if use == .paesToken, !(cipher?.hasPrefix("paes-") ?? false) {
                throw fail(r.childPath("expect_cipher"), cipher == nil
                           ? "a paes-token action needs \"expect_cipher\" with a paes cipher (e.g. \"paes-xts-plain64\"): the token is built from public data, so only the cipher keeps a host-made header out [\(RuleID.paesNeedsCipher)]"
                           : "a paes-token action needs a paes cipher, not \(cipher!) [\(RuleID.paesNeedsCipher)]")
            }
            action = .luks(.init(device: dev, mapping: mapping, keyUse: use, readOnly: try r.bool("read_only") ?? false,
                                 discard: try r.bool("discard") ?? false, expectCipher: cipher))
        case "keyfile", "keyscript":
            let v = try r.requireString("volume")
            guard NameRules.isVolumeName(v) else { throw fail(r.childPath("volume"), "not a valid crypttab volume name") }
            action = kind == "keyfile" ? .keyFile(volume: v) : .keyscript(volume: v)
        case "file":
            let p = try r.requireString("path")
            guard PathRules.isCleanAbsolute(p), p != "/" else { throw fail(r.childPath("path"), "must be an absolute path to a file, without empty, '.' or '..' components") }
            let fmtText = try r.string("format") ?? "raw"
            guard let fmt = Action.File.Format(rawValue: fmtText) else {
                throw fail(r.childPath("format"), "unknown format \"\(fmtText)\" (\(Action.File.Format.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            // Only formats that hold public material (certificates, public
            // keys) default to world-readable; raw bytes are a secret until
            // the policy says otherwise.
            let defaultMode: UInt32 = [.tlsCertificate, .authorizedKeys, .sshUserCA].contains(fmt) ? 0o644 : 0o600
            var mode = defaultMode
            if let m = try r.string("mode") {
                guard m.utf8.count >= 3, m.utf8.count <= 4, m.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }),
                      let v = UInt32(m, radix: 8), v <= 0o7777 else {
                    throw fail(r.childPath("mode"), "expected an octal mode like \"0600\"")
                }
                mode = v
            }
            if [.sshHostKey, .tlsKey].contains(fmt), mode & 0o077 != 0 {
                throw fail(r.childPath("mode"), "a private key must not be readable by group or others")
            }
            action = .file(.init(path: p, format: fmt, mode: mode, owner: try parseOwner(&r, "owner"),
                                 group: try parseOwner(&r, "group"), replace: try r.bool("replace") ?? false,
                                 createParents: try r.bool("create_parents") ?? false))
        case "credential":
            let n = try r.requireString("name")
            guard NameRules.isCredentialName(n) else { throw fail(r.childPath("name"), "not a valid credential name") }
            action = .credential(name: n)
        case "password-hash":
            let u = try r.string("user") ?? "root"
            guard NameRules.isUserName(u) else { throw fail(r.childPath("user"), "not a valid user name") }
            action = .passwordHash(user: u)
        default:
            throw fail(r.childPath("type"), "unknown action \"\(kind)\" (luks, keyfile, keyscript, file, credential, password-hash)")
        }
        try r.finish()
        return action
    }

    func parseOwner(_ r: inout JSONObjectReader, _ key: String) throws -> Action.File.Owner {
        guard let v = r.value(key), v != .null else { return .id(0) }
        switch v {
        case let .int(i) where i >= 0 && i < 0xFFFF_FFFF: return .id(UInt32(i))
        case let .string(s) where NameRules.isUserName(s): return .name(s)
        default: throw fail(r.childPath(key), "expected a numeric id or a user/group name")
        }
    }
}
