import SEBase
import SEVocabulary

/// Layout constants of request version 0x0100 (see docs/formats.md).
public enum ASRLayout {
    public static let magic: [UInt8] = Array("asrcbM".utf8)
    public static let version: UInt32 = RequestHeader.version
    public static let maxSize = 0x10_0000            // the kernel's UVIO_ADD_SECRET_MAX_LEN
    public static let flagsOffset = 0x030
    public static let tagsOffset = 0x038
    public static let cuidOffset = 0x108
    public static let reserved118 = 0x118
    public static let userDataOffset = 0x218
    public static let userDataSize = 0x200
    public static let customerKeyOffset = 0x418
    public static let customerKeySize = 160
    public static let keyslotsOffset = 0x4B8
    public static let extensionSecretSize = 32
    public static let tagSize = 16
    /// The smallest valid request: one keyslot, a meta secret header.
    public static let minSize = keyslotsOffset + Keyslot.size + 16 + extensionSecretSize + tagSize

    public static func size(keyslots: Int, secretHeader: Int, secretLength: Int) -> Int {
        keyslotsOffset + Keyslot.size * keyslots + secretHeader + secretLength + extensionSecretSize + tagSize
    }
}

/// The secret header at the end of the authenticated data: type, length
/// and ID are readable without any key.
public struct SecretHeader: Equatable, Sendable {
    public var type: SecretType
    public var length: UInt32
    /// Nil for meta (16-byte header) and update-CCK (no ID).
    public var id: [UInt8]?

    public init(type: SecretType, length: UInt32, id: [UInt8]?) {
        self.type = type
        self.length = length
        self.id = id
    }

    public var encodedSize: Int { type == .null ? 16 : 48 }

    public var bytes: [UInt8] {
        var out: [UInt8] = [0, 0]
        out.appendBE(type.rawValue)
        out.appendBE(length)
        out += [UInt8](repeating: 0, count: 8)
        if type != .null { out += id ?? [UInt8](repeating: 0, count: 32) }
        return out
    }
}

/// User data as carried in the 512-byte area.
public struct UserDataArea: Equatable, Sendable {
    /// The data part (its full capacity for the type, zero padding included).
    public var data: [UInt8]
    /// The signature (DER for EC, trimmed to its size field; fixed for RSA);
    /// empty for none/unsigned.
    public var signature: [UInt8]
}

/// A request that passed the strict structural checks. Everything readable
/// without a key is exposed; the ciphertext stays opaque. Immutable; a class
/// so that passing it around never copies its many buffers.
public final class AddSecretRequest: Sendable {
    /// The whole file, exactly as read (the same buffer is hashed, checked
    /// and submitted).
    public let bytes: [UInt8]
    public let userDataType: UserDataType
    public let version: UInt32
    public let iv: [UInt8]
    public let flags: RequestFlags
    public let tags: SEHeaderTags
    public let configUID: [UInt8]
    public let userData: UserDataArea
    public let customerKeyX: [UInt8]
    public let customerKeyY: [UInt8]
    public let keyslots: [Keyslot]
    public let secretHeader: SecretHeader
    /// `sea`: size of the encrypted area (secret value + extension secret).
    public let encryptedLength: Int
    public let aadLength: Int

    init(bytes: [UInt8], userDataType: UserDataType, version: UInt32, iv: [UInt8], flags: RequestFlags,
         tags: SEHeaderTags, configUID: [UInt8], userData: UserDataArea, customerKeyX: [UInt8],
         customerKeyY: [UInt8], keyslots: [Keyslot], secretHeader: SecretHeader, encryptedLength: Int, aadLength: Int) {
        self.bytes = bytes
        self.userDataType = userDataType
        self.version = version
        self.iv = iv
        self.flags = flags
        self.tags = tags
        self.configUID = configUID
        self.userData = userData
        self.customerKeyX = customerKeyX
        self.customerKeyY = customerKeyY
        self.keyslots = keyslots
        self.secretHeader = secretHeader
        self.encryptedLength = encryptedLength
        self.aadLength = aadLength
    }

    public var length: Int { bytes.count }
    /// The GCM tag: the last 16 bytes (what EBC's toc.pol and the
    /// attestation secret-store hash use).
    public var gcmTag: [UInt8] { Array(bytes[(bytes.count - 16)...]) }
    public var aad: ArraySlice<UInt8> { bytes[0..<aadLength] }
    public var ciphertext: ArraySlice<UInt8> { bytes[aadLength..<(bytes.count - 16)] }
    public var secretType: SecretType { secretHeader.type }
    public var secretID: [UInt8]? { secretHeader.id }
    public var isMeta: Bool { secretHeader.type == .null }

    /// Whether a keyslot carries one of these host-key hashes: without one,
    /// the ultravisor of those machines cannot decrypt the request (0x0108).
    /// The one place this rule lives (`check --host-key-*`, the boot run with
    /// sysfs's hashes, `add`).
    public func hasKeyslot(forAnyOf hostKeyHashes: [[UInt8]]) -> Bool {
        keyslots.contains { hostKeyHashes.contains($0.hostKeyHash) }
    }

    /// The bytes a pin covers: the whole request except what depends on the
    /// image it is bound to — the SE-header fields (PLD, ALD, TLD, tag) are
    /// zeroed, the user-data signature area is zeroed (it signs them), and
    /// the GCM tag (it authenticates them) is left out.
    ///
    /// A policy embedded in an image cannot pin whole request files: the
    /// requests carry that image's SE-header tags, which cover the initrd that
    /// holds the policy. The pin digest does not depend on them, and it still
    /// fixes everything else — keyslots, customer key, IV, secret header,
    /// flags, config UID, user data, ciphertext — so only the request's
    /// creator, who knows its protection key, can make the GCM tag for a
    /// binding that the ultravisor then checks.
    public var pinnedBytes: [UInt8] {
        var b = Array(bytes[0..<(bytes.count - ASRLayout.tagSize)])
        for i in ASRLayout.tagsOffset..<ASRLayout.cuidOffset { b[i] = 0 }
        if let z = UserDataSignature.zeroedRange(for: userDataType) { for i in z { b[i] = 0 } }
        return b
    }
    /// The config UID, or nil when all zero (not bound to an instance).
    public var boundConfigUID: [UInt8]? { configUID.isAllZero ? nil : configUID }
}

/// Why a file is not a well-formed request. `rule` is a stable identifier
/// (a string: some are the policy layer's `RuleID`s); the description names
/// the field and byte offset.
public typealias RequestFormatError = FormatError<String>

extension AddSecretRequest {
    /// Parses and validates a request. Never traps: every inconsistency is a
    /// `RequestFormatError`. With `opaqueUserData` the 512-byte user-data
    /// area is taken as it is (data = the whole area, no signature), as the
    /// ultravisor does: it authenticates the area but does not interpret it.
    public static func parse(_ bytes: [UInt8], opaqueUserData: Bool = false) throws(RequestFormatError) -> AddSecretRequest {
        guard !bytes.isEmpty else { throw RequestFormatError("empty", "empty file") }
        guard bytes.count <= ASRLayout.maxSize else {
            throw RequestFormatError("oversize", "file has \(bytes.count) bytes, more than the kernel's limit of \(ASRLayout.maxSize)")
        }
        var r = ByteReader(bytes)
        func read(_ n: Int, _ field: String) throws(RequestFormatError) -> [UInt8] {
            do { return try r.read(n, field) } catch { throw truncation(error, bytes.count) }
        }
        func readBE<T: FixedWidthInteger>(_ t: T.Type, _ field: String) throws(RequestFormatError) -> T {
            do { return try r.readBE(t, field) } catch { throw truncation(error, bytes.count) }
        }
        func zeros(_ n: Int, _ field: String) throws(RequestFormatError) {
            let at = r.offset
            let v = try read(n, field)
            if let i = v.firstIndex(where: { $0 != 0 }) {
                throw RequestFormatError("reserved-not-zero", "reserved field '\(field)' is not zero", offset: at + i)
            }
        }

        let magic = try read(6, "magic")
        guard magic == ASRLayout.magic else {
            throw RequestFormatError("bad-magic", "not an add-secret request: magic is \(magic.hex), expected 'asrcbM'", offset: 0)
        }
        let udtRaw = try readBE(UInt16.self, "user-data type")
        guard let udt = UserDataType(rawValue: udtRaw) else {
            throw RequestFormatError("bad-user-data-type", "unknown user-data type \(udtRaw) (known: 0-4)", offset: 6)
        }
        let header = try RequestHeader.parseAfterMagic(&r)
        let (version, rql, iv, nks, sea) = (header.version, header.length, header.iv, header.keyslotCount, header.encryptedSize)
        guard sea >= ASRLayout.extensionSecretSize, sea + ASRLayout.tagSize <= rql else {
            throw RequestFormatError("bad-encrypted-size", "encrypted size \(sea) does not fit a request of \(rql) bytes", offset: 0x2C)
        }
        let aadLength = rql - sea - ASRLayout.tagSize
        let headerSize = aadLength - ASRLayout.keyslotsOffset - Keyslot.size * nks
        guard headerSize == 16 || headerSize == 48 else {
            throw RequestFormatError("bad-layout",
                "lengths are inconsistent: \(nks) keyslot(s) and \(sea) encrypted bytes in \(rql) bytes leave \(headerSize) bytes for the secret header (16 or 48 expected)",
                offset: 0x2C)
        }
        let flags = RequestFlags(rawValue: try readBE(UInt64.self, "flags"))
        let tags = SEHeaderTags(pld: try read(64, "PLD"), ald: try read(64, "ALD"), tld: try read(64, "TLD"),
                                tag: try read(16, "SE header tag"))
        let cuid = try read(16, "config UID")
        try zeros(256, "reserved 0x118")
        let userDataStart = r.offset
        let area = try read(ASRLayout.userDataSize, "user data")
        let userData = opaqueUserData ? UserDataArea(data: area, signature: [])
            : try parseUserData(area, type: udt, base: userDataStart)
        let cx = try read(80, "customer public key X")
        let cy = try read(80, "customer public key Y")
        let slots = try Keyslot.read(nks, from: &r)
        let shOffset = r.offset
        try zeros(2, "secret header reserved")
        let typeRaw = try readBE(UInt16.self, "secret type")
        guard let stype = SecretType(rawValue: typeRaw) else {
            throw RequestFormatError("bad-secret-type", "unknown secret type 0x\(String(typeRaw, radix: 16))", offset: shOffset + 2)
        }
        let slen = try readBE(UInt32.self, "secret length")
        try zeros(8, "secret header reserved 0x08")
        var sid: [UInt8]? = nil
        if headerSize == 48 {
            let idBytes = try read(32, "secret ID")
            if stype == .updateCCK {
                guard idBytes.isAllZero else {
                    throw RequestFormatError("reserved-not-zero", "update-CCK request carries a non-zero ID field", offset: shOffset + 16)
                }
            } else {
                sid = idBytes
            }
        }
        guard (stype == .null) == (headerSize == 16) else {
            throw RequestFormatError("bad-layout", "secret type \(stype.name) with a \(headerSize)-byte secret header", offset: shOffset)
        }
        guard stype.isValidLength(Int(slen)) else {
            throw RequestFormatError("bad-secret-length", "secret length \(slen) is not valid for type \(stype.name)", offset: shOffset + 4)
        }
        guard sea == Int(slen) + ASRLayout.extensionSecretSize else {
            throw RequestFormatError("bad-encrypted-size",
                "encrypted size \(sea) does not match the secret length \(slen) plus the 32-byte extension secret", offset: 0x2C)
        }
        return AddSecretRequest(bytes: bytes, userDataType: udt, version: version, iv: iv, flags: flags, tags: tags,
                                configUID: cuid, userData: userData, customerKeyX: cx, customerKeyY: cy,
                                keyslots: slots, secretHeader: SecretHeader(type: stype, length: slen, id: sid),
                                encryptedLength: sea, aadLength: aadLength)
    }

    private static func truncation(_ e: ByteReader.Truncated, _ size: Int) -> RequestFormatError {
        RequestFormatError.truncation(e)
    }

    private static func parseUserData(_ area: [UInt8], type: UserDataType, base: Int) throws(RequestFormatError) -> UserDataArea {
        func requireZero(_ range: Range<Int>, _ what: String) throws(RequestFormatError) {
            if let i = area[range].firstIndex(where: { $0 != 0 }) {
                throw RequestFormatError("reserved-not-zero", "\(what) is not zero", offset: base + i)
            }
        }
        switch type {
        case .none:
            try requireZero(0..<512, "user data of a request without user data")
            return UserDataArea(data: [], signature: [])
        case .unsigned:
            return UserDataArea(data: area, signature: [])
        case .ecP521:
            let size = Int(area.readBE(UInt16.self, at: 0x190))
            guard size >= 8, size <= 139 else {
                throw RequestFormatError("bad-signature-size", "EC signature size \(size) is out of range (8-139)", offset: base + 0x190)
            }
            try requireZero((0x100 + size)..<0x18B, "EC signature padding")
            try requireZero(0x18B..<0x190, "user-data reserved field")
            try requireZero(0x192..<0x200, "user-data reserved field")
            return UserDataArea(data: Array(area[0..<0x100]), signature: Array(area[0x100..<(0x100 + size)]))
        case .rsa2048:
            return UserDataArea(data: Array(area[0..<0x100]), signature: Array(area[0x100..<0x200]))
        case .rsa3072:
            return UserDataArea(data: Array(area[0..<0x80]), signature: Array(area[0x80..<0x200]))
        }
    }
}
