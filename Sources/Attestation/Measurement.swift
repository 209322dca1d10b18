import SEBase
import SECrypto
import ASRCodec

/// What the ultravisor measures for an attestation request
/// (docs/attestation.md, "The measurement").
public struct MeasuredItems: Sendable {
    /// PLD, ALD, TLD and tag of the SE header the guest was booted from.
    public var tags: SEHeaderTags
    /// The configuration UID the ATT call returned (16 bytes).
    public var configUID: [UInt8]
    /// The user data given to the ATT call: exactly its `user_data_len`
    /// bytes (0–256), not the 256-byte array.
    public var userData: [UInt8]
    /// The ARCB's nonce (16 bytes) if it has one.
    public var nonce: SecureBytes?
    /// The additional data exactly as returned.
    public var additionalData: [UInt8]

    public init(tags: SEHeaderTags, configUID: [UInt8], userData: [UInt8] = [], nonce: SecureBytes?, additionalData: [UInt8] = []) {
        self.tags = tags
        self.configUID = configUID
        self.userData = userData
        self.nonce = nonce
        self.additionalData = additionalData
    }
}

/// The attestation measurement: HMAC-SHA512 under the ARCB's measurement key
/// over
///
///     PLD (64) ‖ ALD (64) ‖ TLD (64) ‖ SE-header tag (16) ‖ config UID (16) ‖
///     user-data length U (u16 BE) ‖ 00 00 ‖ additional-data length A (u32 BE) ‖
///     user data (U) ‖ nonce (0 or 16) ‖ additional data (A)
public enum Measurement {
    public static let configUIDSize = 16
    public static let maxUserData = 256
    /// The kernel's UVIO_ATT_ADDITIONAL_MAX_LEN.
    public static let maxAdditionalData = 0x8000

    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        case configUIDSize(Int)
        case userDataTooLong(Int)
        case nonceSize(Int)
        case additionalDataTooLong(Int)
        case keySize(Int)

        public var description: String {
            switch self {
            case let .configUIDSize(n): return "a config UID has 16 bytes, not \(n)"
            case let .userDataTooLong(n): return "user data is at most 256 bytes, not \(n)"
            case let .nonceSize(n): return "a nonce has 16 bytes, not \(n)"
            case let .additionalDataTooLong(n): return "additional data is at most \(Measurement.maxAdditionalData) bytes, not \(n)"
            case let .keySize(n): return "an HMAC-SHA512 measurement key has 64 bytes, not \(n)"
            }
        }
    }

    /// The measured message (it holds the nonce: wiped when released).
    public static func message(_ items: MeasuredItems) throws(Invalid) -> SecureBytes {
        guard items.configUID.count == configUIDSize else { throw .configUIDSize(items.configUID.count) }
        guard items.userData.count <= maxUserData else { throw .userDataTooLong(items.userData.count) }
        guard items.additionalData.count <= maxAdditionalData else { throw .additionalDataTooLong(items.additionalData.count) }
        if let n = items.nonce, n.count != ARCBLayout.nonceSize { throw .nonceSize(n.count) }
        var head = items.tags.bytes + items.configUID
        head.appendBE(UInt16(items.userData.count))
        head += [0, 0]
        head.appendBE(UInt32(items.additionalData.count))
        let nonceCount = items.nonce?.count ?? 0
        let total = head.count + items.userData.count + nonceCount + items.additionalData.count
        let out = SecureBytes(count: total)
        out.withUnsafeMutableBytes { dst in
            var at = 0
            func put(_ src: UnsafeRawBufferPointer) {
                guard src.count > 0 else { return }
                UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + src.count)]).copyMemory(from: src)
                at += src.count
            }
            head.withUnsafeBytes(put)
            items.userData.withUnsafeBytes(put)
            items.nonce?.withUnsafeBytes(put)
            items.additionalData.withUnsafeBytes(put)
        }
        return out
    }

    /// The measurement the ultravisor computes (64 bytes).
    public static func compute(key: SecureBytes, items: MeasuredItems,
                               algorithm: MeasurementAlgorithm = .hmacSHA512) throws -> [UInt8] {
        guard key.count == algorithm.keySize else { throw Invalid.keySize(key.count) }
        let m = try message(items)
        return try m.withUnsafeBytes { try HMAC.sha512(key: key, message: $0) }
    }

    /// Whether `measurement` is the one for these items: recomputed, then
    /// compared in constant time (a different length is simply unequal).
    public static func verify(_ measurement: [UInt8], key: SecureBytes, items: MeasuredItems,
                              algorithm: MeasurementAlgorithm = .hmacSHA512) throws -> Bool {
        let expected = try compute(key: key, items: items, algorithm: algorithm)
        return constantTimeEqual(expected, measurement)
    }
}
