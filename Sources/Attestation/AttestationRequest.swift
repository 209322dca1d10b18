import SEBase
import SECrypto
import ASRCodec

/// Layout of an attestation request control block (ARCB), version 0x100
/// (docs/attestation.md). The first 0x30 bytes are the generic request
/// header shared with add-secret requests (`RequestHeader`), with 8 zero
/// bytes as magic; the keyslots are the same V1 keyslots.
public enum ARCBLayout {
    public static let magic: [UInt8] = [UInt8](repeating: 0, count: 8)
    public static let version: UInt32 = RequestHeader.version
    /// The kernel's UVIO_ATT_ARCB_MAX_LEN.
    public static let maxSize = 0x10_0000
    public static let flagsOffset = 0x30
    public static let measurementAlgorithmOffset = 0x38
    public static let reserved3C = 0x3C
    public static let customerKeyOffset = 0x40
    public static let customerKeySize = 160
    public static let keyslotsOffset = 0xE0
    public static let measurementKeySize = 64
    public static let nonceSize = 16
    public static let tagSize = 16

    /// `sea`: the measurement key and, with the nonce flag, the nonce.
    public static func encryptedSize(nonce: Bool) -> Int { measurementKeySize + (nonce ? nonceSize : 0) }

    /// `rql`: header, flags, MAI, customer key, keyslots, encrypted area, tag.
    public static func size(keyslots: Int, nonce: Bool) -> Int {
        keyslotsOffset + Keyslot.size * keyslots + encryptedSize(nonce: nonce) + tagSize
    }
}

/// The measurement algorithm identifier (MAI, u32 at 0x38).
public enum MeasurementAlgorithm: UInt32, Sendable {
    case hmacSHA512 = 1

    /// Size of the measurement the algorithm gives (and of the buffer the
    /// ATT call needs for it).
    public var measurementSize: Int { 64 }
    /// Size of the measurement key in the encrypted area.
    public var keySize: Int { ARCBLayout.measurementKeySize }
}

/// Why bytes are not a well-formed ARCB. Every rule has a name; the message
/// names the field and the offset says where.
public typealias ARCBFormatError = FormatError<ARCBRule>

/// The ARCB reader's rules (`ARCBFormatError.Rule`).
public enum ARCBRule: String, FormatRule {
    case empty
    case oversize
    /// The first 8 bytes (the magic of an ARCB) are not zero.
    case notARCB = "not-arcb"
    case badVersion = "bad-version"
    /// The file is shorter than a field or than the length it declares.
    case truncated
    /// The file is longer than the length it declares.
    case trailingBytes = "trailing-bytes"
    case reservedNotZero = "reserved-not-zero"
    case noKeyslots = "no-keyslots"
    /// A flag outside bits 1–5.
    case unknownFlags = "unknown-flags"
    case badMeasurementAlgorithm = "bad-measurement-algorithm"
    /// `sea` is not 64, or 80 with the nonce flag.
    case badEncryptedSize = "bad-encrypted-size"
    /// `rql` is not 0xE0 + 80·nks + sea + 16.
    case badLength = "bad-length"
}

extension ARCBFormatError {
    /// A rule of the shared header (`RequestHeader`), under its ARCB name.
    init(header e: RequestFormatError) {
        self.init(Rule(rawValue: e.rule) ?? .truncated, e.message, offset: e.offset)
    }
}

/// What only the tenant (with the protection key) and the ultravisor (with a
/// host private key) can read: the measurement key and the nonce.
public struct AttestationConfidential: Sendable {
    public let measurementKey: SecureBytes
    /// Present iff the ARCB's nonce flag is set.
    public let nonce: SecureBytes?

    public init(measurementKey: SecureBytes, nonce: SecureBytes?) {
        self.measurementKey = measurementKey
        self.nonce = nonce
    }
}

/// An ARCB that passed the strict structural checks: everything readable
/// without a key, and its decryption with the protection key (ARPK).
public final class AttestationRequest: Sendable {
    /// The whole ARCB, exactly as read.
    public let bytes: [UInt8]
    public let version: UInt32
    public let iv: [UInt8]
    public let flags: AttestationFlags
    public let measurementAlgorithm: MeasurementAlgorithm
    public let customerKeyX: [UInt8]
    public let customerKeyY: [UInt8]
    public let keyslots: [Keyslot]
    /// `sea`.
    public let encryptedSize: Int

    init(bytes: [UInt8], version: UInt32, iv: [UInt8], flags: AttestationFlags, measurementAlgorithm: MeasurementAlgorithm,
         customerKeyX: [UInt8], customerKeyY: [UInt8], keyslots: [Keyslot], encryptedSize: Int) {
        self.bytes = bytes
        self.version = version
        self.iv = iv
        self.flags = flags
        self.measurementAlgorithm = measurementAlgorithm
        self.customerKeyX = customerKeyX
        self.customerKeyY = customerKeyY
        self.keyslots = keyslots
        self.encryptedSize = encryptedSize
    }

    public var length: Int { bytes.count }
    /// Bytes [0, 0xE0 + 80·nks): header, flags, MAI, customer key, keyslots.
    public var aadLength: Int { bytes.count - encryptedSize - ARCBLayout.tagSize }
    public var aad: ArraySlice<UInt8> { bytes[0..<aadLength] }
    public var encryptedArea: ArraySlice<UInt8> { bytes[aadLength..<(bytes.count - ARCBLayout.tagSize)] }
    public var gcmTag: [UInt8] { Array(bytes.suffix(ARCBLayout.tagSize)) }

    public var hasNonce: Bool { flags.contains(.nonce) }
    /// The additional-data fields the ultravisor is asked for, in order.
    public var requestedAdditionalData: [AdditionalData.Field] {
        AdditionalData.Field.allCases.filter { flags.contains($0.flag) }
    }
    /// The exact size of the additional data the answer carries (and of the
    /// buffer the ATT call needs).
    public var additionalDataSize: Int { flags.additionalDataSize }
    /// The size of the measurement (and of the buffer the ATT call needs).
    public var measurementSize: Int { measurementAlgorithm.measurementSize }

    /// Whether a keyslot carries one of these host-key hashes.
    public func hasKeyslot(forAnyOf hostKeyHashes: [[UInt8]]) -> Bool {
        keyslots.contains { hostKeyHashes.contains($0.hostKeyHash) }
    }

    /// Parses and validates an ARCB; never traps. Strict: the bytes are
    /// exactly one ARCB (length = `rql`), the magic and every reserved byte
    /// are zero, version 0x100, at least one keyslot, only flags 1–5, MAI 1,
    /// `sea` = 64 (+16 with the nonce flag), `rql` = 0xE0 + 80·nks + sea + 16.
    public static func parse(_ bytes: [UInt8]) throws(ARCBFormatError) -> AttestationRequest {
        guard !bytes.isEmpty else { throw ARCBFormatError(.empty, "empty file") }
        guard bytes.count <= ARCBLayout.maxSize else {
            throw ARCBFormatError(.oversize, "ARCB has \(bytes.count) bytes, more than the kernel's limit of \(ARCBLayout.maxSize)")
        }
        var r = ByteReader(bytes)
        func read(_ n: Int, _ field: String) throws(ARCBFormatError) -> [UInt8] {
            do { return try r.read(n, field) } catch { throw ARCBFormatError(header: .truncation(error)) }
        }
        func readBE<T: FixedWidthInteger>(_ t: T.Type, _ field: String) throws(ARCBFormatError) -> T {
            do { return try r.readBE(t, field) } catch { throw ARCBFormatError(header: .truncation(error)) }
        }
        let magic = try read(8, "magic")
        if let i = magic.firstIndex(where: { $0 != 0 }) {
            throw ARCBFormatError(.notARCB, "not an attestation request: its first 8 bytes (the ARCB magic) are not zero", offset: i)
        }
        let header: RequestHeader
        do { header = try RequestHeader.parseAfterMagic(&r) } catch { throw ARCBFormatError(header: error) }
        let rawFlags = try readBE(UInt64.self, "attestation flags")
        let mai = try readBE(UInt32.self, "measurement algorithm")
        let reserved = try read(4, "reserved 0x3c")
        let flags = AttestationFlags(rawValue: rawFlags)
        guard flags.unknownBits == 0 else {
            throw ARCBFormatError(.unknownFlags,
                "unknown attestation flags 0x\(String(flags.unknownBits, radix: 16)) (known: MSB0 bits 1-5)", offset: ARCBLayout.flagsOffset)
        }
        guard let algorithm = MeasurementAlgorithm(rawValue: mai) else {
            throw ARCBFormatError(.badMeasurementAlgorithm, "unknown measurement algorithm \(mai) (known: 1, HMAC-SHA512)",
                                  offset: ARCBLayout.measurementAlgorithmOffset)
        }
        if let i = reserved.firstIndex(where: { $0 != 0 }) {
            throw ARCBFormatError(.reservedNotZero, "reserved field 'reserved 0x3c' is not zero", offset: ARCBLayout.reserved3C + i)
        }
        let nonce = flags.contains(.nonce)
        guard header.encryptedSize == ARCBLayout.encryptedSize(nonce: nonce) else {
            throw ARCBFormatError(.badEncryptedSize,
                "encrypted size \(header.encryptedSize) is not \(ARCBLayout.encryptedSize(nonce: nonce)) (measurement key\(nonce ? " and nonce" : ", no nonce flag"))",
                offset: RequestHeader.encryptedSizeOffset)
        }
        let expected = ARCBLayout.size(keyslots: header.keyslotCount, nonce: nonce)
        guard header.length == expected else {
            throw ARCBFormatError(.badLength,
                "request length \(header.length) does not match \(header.keyslotCount) keyslot(s) and \(header.encryptedSize) encrypted bytes (\(expected) expected)",
                offset: 0x0C)
        }
        let cx = try read(80, "customer public key X")
        let cy = try read(80, "customer public key Y")
        let slots: [Keyslot]
        do { slots = try Keyslot.read(header.keyslotCount, from: &r) } catch { throw ARCBFormatError(header: error) }
        return AttestationRequest(bytes: bytes, version: header.version, iv: header.iv, flags: flags, measurementAlgorithm: algorithm,
                                  customerKeyX: cx, customerKeyY: cy, keyslots: slots, encryptedSize: header.encryptedSize)
    }

    public enum DecryptionFailure: Error, Equatable, Sendable, CustomStringConvertible {
        case badProtectionKeySize(Int)
        /// The GCM tag does not match: a wrong protection key, or a changed ARCB.
        case authenticationFailed

        public var description: String {
            switch self {
            case let .badProtectionKeySize(n): return "an attestation protection key has 32 bytes, not \(n)"
            case .authenticationFailed: return "the attestation request does not authenticate (wrong protection key, or tampered)"
            }
        }
    }

    /// Decrypts and authenticates the encrypted area with the protection key
    /// (ARPK): AES-256-GCM, IV at 0x10, AAD = everything before the area.
    public func decrypt(protectionKey: SecureBytes) throws(DecryptionFailure) -> AttestationConfidential {
        guard protectionKey.count == AESGCM.keySize else { throw .badProtectionKeySize(protectionKey.count) }
        let plain: SecureBytes
        do {
            plain = try aad.withUnsafeBytes { a in
                try encryptedArea.withUnsafeBytes { c in
                    try AESGCM.open(key: protectionKey, iv: iv, aad: a, ciphertext: c, tag: gcmTag)
                }
            }
        } catch { throw .authenticationFailed }
        // parse() fixed sea to the key and the flagged nonce.
        let k = measurementAlgorithm.keySize
        return AttestationConfidential(measurementKey: plain.slice(0..<k), nonce: hasNonce ? plain.slice(k..<plain.count) : nil)
    }
}
