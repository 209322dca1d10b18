import ASRCodec
import SEBase
import UVDevice
import SEVocabulary

/// The two files of a state: `state.json` (configuration, lock, faults,
/// accepted-request tags: no secret) and `secrets.bin` (the simulated
/// ultravisor's memory: stored values, pinned extension secret, CCK,
/// protected-key wrapping key; mode 0600). Both carry the revision they
/// were written at, so a torn update is detected.
enum StateCoding {
    static let formatName = "se-secretd uv simulator state 1"
    static let secretsMagic = Array("SESIMUV1".utf8)
    /// Bounds for reading the files back.
    static let maxJSONSize = 4 << 20
    static let maxSecretsSize = 64 << 20

    struct Invalid: Error, CustomStringConvertible {
        let message: String
        var description: String { "simulator state: \(message)" }
    }

    // MARK: state.json

    static func encodeJSON(_ s: SimulatorState) -> [UInt8] {
        let c = s.config
        let faults: JSON = .object([
            ("dump_in_progress_adds", .int(Int64(s.faults.dumpInProgressAdds))),
            ("store_full", .bool(s.faults.storeFull)),
            ("errno", .array(s.faults.errnoFaults.map { f in
                .object([("ioctl", .string(f.ioctl.name)), ("errno", .int(Int64(f.errno))), ("count", .int(Int64(f.count))),
                         ("after", .int(Int64(f.after))), ("stage", .string(f.stage.rawValue))])
            })),
        ])
        let doc: JSON = .object([
            ("format", .string(formatName)),
            ("revision", .int(Int64(bitPattern: s.revision))),
            ("kernel", .string(c.kernel.rawValue)),
            ("facilities", .array(c.facilities.words.map { .string(paddedHex($0)) })),
            ("supported_secret_types", .string(paddedHex(c.supportedSecretTypes))),
            ("supported_add_secret_versions", .string(paddedHex(c.supportedAddSecretVersions))),
            ("supported_add_secret_flags", .string(paddedHex(c.supportedAddSecretFlags))),
            ("max_association_secrets", .int(Int64(c.maxAssociationSecrets))),
            ("max_retrievable_secrets", .int(Int64(c.maxRetrievableSecrets))),
            ("image_tags", .object([("pld", .string(c.imageTags.pld.hex)), ("ald", .string(c.imageTags.ald.hex)),
                                    ("tld", .string(c.imageTags.tld.hex)), ("tag", .string(c.imageTags.tag.hex))])),
            ("config_uid", .string(c.configUID.hex)),
            ("cck_update_allowed", .bool(c.cckUpdateAllowed)),
            ("cck_extension_secret_enforced", .bool(c.cckExtensionSecretEnforced)),
            ("prot_virt_guest", .bool(c.protVirtGuest)),
            ("host_key_hash", .string(s.hostKeyHash.hex)),
            ("locked", .bool(s.isLocked)),
            ("dump_disabled", .bool(s.dumpDisabled)),
            ("store_size", .int(Int64(s.store.count))),
            ("accepted_request_tags", .array(s.acceptedRequestTags.map { .string($0.hex) })),
            ("faults", faults),
        ])
        return Array((doc.serialized(pretty: true) + "\n").utf8)
    }

    /// What state.json holds besides the configuration.
    struct JSONState {
        var config: SimulatorConfig
        var revision: UInt64
        var hostKeyHash: [UInt8]
        var locked: Bool
        var dumpDisabled: Bool
        var storeSize: Int
        var acceptedTags: [[UInt8]]
        var faults: SimulatorFaults
    }

    static func decodeJSON(_ bytes: [UInt8]) throws -> JSONState {
        var r = try JSONObjectReader(try JSON.parse(bytes), path: "$")
        guard try r.requireString("format") == formatName else { throw Invalid(message: "unknown format") }
        let revision = UInt64(try r.int("revision", range: 0...Int64.max) ?? 0)
        guard let kernel = KernelGeneration(rawValue: try r.requireString("kernel")) else {
            throw Invalid(message: "unknown kernel generation")
        }
        let facilityStrings = try r.stringArray("facilities") ?? []
        guard facilityStrings.count == 4 else { throw Invalid(message: "facilities must have 4 words") }
        let facilities = try facilityStrings.map { try parseHex64($0, "facilities") }
        var tagsReader = try r.object("image_tags") ?? { throw Invalid(message: "missing image_tags") }()
        func hexField(_ reader: inout JSONObjectReader, _ key: String, _ count: Int) throws -> [UInt8] {
            guard let b = [UInt8](hex: try reader.requireString(key)), b.count == count else {
                throw Invalid(message: "\(reader.childPath(key)) must be \(count) bytes of hex")
            }
            return b
        }
        let tags = SEHeaderTags(pld: try hexField(&tagsReader, "pld", 64), ald: try hexField(&tagsReader, "ald", 64),
                                tld: try hexField(&tagsReader, "tld", 64), tag: try hexField(&tagsReader, "tag", 16))
        try tagsReader.finish()
        var config = SimulatorConfig(imageTags: tags, configUID: try hexField(&r, "config_uid", 16))
        config.kernel = kernel
        config.facilities = FacilityList(words: facilities)
        config.supportedSecretTypes = try parseHex64(try r.requireString("supported_secret_types"), "supported_secret_types")
        config.supportedAddSecretVersions = try parseHex64(try r.requireString("supported_add_secret_versions"), "versions")
        config.supportedAddSecretFlags = try parseHex64(try r.requireString("supported_add_secret_flags"), "flags")
        let limit = Int64(SimulatorConfig.maxStoreSize)
        config.maxAssociationSecrets = Int(try r.int("max_association_secrets", range: 0...limit) ?? 0)
        config.maxRetrievableSecrets = Int(try r.int("max_retrievable_secrets", range: 0...limit) ?? 0)
        config.cckUpdateAllowed = try r.bool("cck_update_allowed") ?? false
        config.cckExtensionSecretEnforced = try r.bool("cck_extension_secret_enforced") ?? false
        config.protVirtGuest = try r.bool("prot_virt_guest") ?? false
        let hostKeyHash = try hexField(&r, "host_key_hash", 32)
        let locked = try r.bool("locked") ?? false
        let dumpDisabled = try r.bool("dump_disabled") ?? false
        let storeSize = Int(try r.int("store_size", range: 0...limit) ?? 0)
        var acceptedTags: [[UInt8]] = []
        for t in try r.stringArray("accepted_request_tags") ?? [] {
            guard let b = [UInt8](hex: t), b.count == 16 else { throw Invalid(message: "bad accepted request tag") }
            acceptedTags.append(b)
        }
        guard acceptedTags.count <= 1 << 20 else { throw Invalid(message: "too many accepted request tags") }
        var faults = SimulatorFaults()
        if var f = try r.object("faults") {
            faults.dumpInProgressAdds = Int(try f.int("dump_in_progress_adds", range: 0...Int64(Int32.max)) ?? 0)
            faults.storeFull = try f.bool("store_full") ?? false
            let items: [JSON] = try f.array("errno") ?? []
            for (i, item) in items.enumerated() {
                var e = try JSONObjectReader(item, path: "$.faults.errno[\(i)]")
                let ioctlName = try e.requireString("ioctl")
                guard let ioctl = UVIoctl.allCases.first(where: { $0.name == ioctlName }) else {
                    throw Invalid(message: "unknown ioctl in fault \(i)")
                }
                let errno = Int32(try e.int("errno", range: 1...4095) ?? 5)
                let count = Int(try e.int("count", range: 0...Int64(Int32.max)) ?? 0)
                let after = Int(try e.int("after", range: 0...Int64(Int32.max)) ?? 0)
                let stageName = try e.string("stage") ?? SimulatorFaults.ErrnoFault.Stage.entry.rawValue
                guard let stage = SimulatorFaults.ErrnoFault.Stage(rawValue: stageName) else {
                    throw Invalid(message: "unknown stage in fault \(i)")
                }
                try e.finish()
                faults.errnoFaults.append(.init(ioctl: ioctl, errno: errno, count: count, after: after, stage: stage))
            }
            try f.finish()
        }
        try r.finish()
        return JSONState(config: config, revision: revision, hostKeyHash: hostKeyHash, locked: locked,
                         dumpDisabled: dumpDisabled, storeSize: storeSize, acceptedTags: acceptedTags, faults: faults)
    }

    // MARK: secrets.bin

    /// magic ‖ revision u64 ‖ wrapping key (32) ‖ flags u8 (bit 0: extension
    /// secret, bit 1: CCK) ‖ [extension secret (32)] ‖ [CCK (32)] ‖ count u32 ‖
    /// count × (index u16 ‖ type u16 ‖ length u32 ‖ ID (32) ‖ value). All BE.
    static func encodeSecrets(_ s: SimulatorState) -> SecureBytes {
        var size = 8 + 8 + 32 + 1 + 4
        if s.extensionSecret != nil { size += 32 }
        if s.cck != nil { size += 32 }
        for e in s.store { size += 8 + 32 + e.value.count }
        let out = SecureBytes(count: size)
        var at = 0
        func put(_ bytes: [UInt8]) { for b in bytes { out[at] = b; at += 1 } }
        func put(_ secret: SecureBytes) { for i in 0..<secret.count { out[at] = secret[i]; at += 1 } }
        func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { var a: [UInt8] = []; a.appendBE(v); return a }
        put(secretsMagic)
        put(be(s.revision))
        put(s.wrappingKey)
        put([(s.extensionSecret != nil ? 1 : 0) | (s.cck != nil ? 2 : 0)])
        if let e = s.extensionSecret { put(e) }
        if let c = s.cck { put(c) }
        put(be(UInt32(s.store.count)))
        for e in s.store {
            put(be(e.index)); put(be(e.type.rawValue)); put(be(UInt32(e.value.count))); put(e.id); put(e.value)
        }
        return out
    }

    struct SecretsFile {
        var revision: UInt64
        var wrappingKey: SecureBytes
        var extensionSecret: SecureBytes?
        var cck: SecureBytes?
        var store: [StoredSecret]
    }

    static func decodeSecrets(_ bytes: [UInt8]) throws -> SecretsFile {
        var r = ByteReader(bytes)
        func secure(_ n: Int, _ field: String) throws -> SecureBytes {
            var b = try r.read(n, field)
            return SecureBytes(consuming: &b)
        }
        guard try r.read(8, "magic") == secretsMagic else { throw Invalid(message: "secrets.bin has an unknown format") }
        let revision = try r.readBE(UInt64.self, "revision")
        let wrappingKey = try secure(32, "wrapping key")
        let flags = try r.read(1, "flags")[0]
        guard flags & ~3 == 0 else { throw Invalid(message: "secrets.bin has unknown flags") }
        let ext = flags & 1 != 0 ? try secure(32, "extension secret") : nil
        let cck = flags & 2 != 0 ? try secure(32, "CCK") : nil
        let count = Int(try r.readBE(UInt32.self, "count"))
        guard count <= SimulatorConfig.maxStoreSize else { throw Invalid(message: "secrets.bin claims \(count) secrets") }
        var store: [StoredSecret] = []
        for i in 0..<count {
            let index = try r.readBE(UInt16.self, "index")
            let typeCode = try r.readBE(UInt16.self, "type")
            let length = Int(try r.readBE(UInt32.self, "length"))
            guard let type = SecretType(rawValue: typeCode), type.isListable, type.isValidLength(length) else {
                throw Invalid(message: "secrets.bin entry \(i) has an invalid type or length")
            }
            guard Int(index) == i else { throw Invalid(message: "secrets.bin entry \(i) has index \(index)") }
            let id = try r.read(32, "id")
            store.append(StoredSecret(index: index, type: type, id: id, value: try secure(length, "value")))
        }
        guard r.remaining == 0 else { throw Invalid(message: "secrets.bin has trailing bytes") }
        return SecretsFile(revision: revision, wrappingKey: wrappingKey, extensionSecret: ext, cck: cck, store: store)
    }

    static func parseHex64(_ s: String, _ what: String) throws -> UInt64 {
        guard s.utf8.count == 16, let b = [UInt8](hex: s), !s.hasPrefix("0x") else {
            throw Invalid(message: "\(what) must be 16 hex digits")
        }
        return b.readBE(UInt64.self, at: 0)
    }
}
