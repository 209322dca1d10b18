/// Ultravisor return codes (uv_rc) and their meaning for each call.
/// Texts are our own; the facts are in docs/uv-device.md.
public enum UVReturnCode {
    /// Never a valid result: the client pre-sets it, so seeing it after a
    /// successful ioctl means nobody wrote a result.
    public static let none: UInt16 = 0x0000
    public static let success: UInt16 = 0x0001
    public static let invalidCommand: UInt16 = 0x0002
    public static let moreData: UInt16 = 0x0100

    // Add Secret
    public static let modificationNotAllowed: UInt16 = 0x0101
    public static let storeLocked: UInt16 = 0x0102
    public static let requestAccessException: UInt16 = 0x0103
    public static let unsupportedVersion: UInt16 = 0x0104
    public static let invalidRequestSize: UInt16 = 0x0105
    public static let invalidHostKeyCount: UInt16 = 0x0106
    public static let unsupportedFlags: UInt16 = 0x0107
    public static let cannotDecrypt: UInt16 = 0x0108
    public static let unsupportedSecret: UInt16 = 0x0109
    public static let invalidSecretLength: UInt16 = 0x010A
    public static let storeFull: UInt16 = 0x010B
    public static let cannotAdd: UInt16 = 0x010C
    public static let dumpInProgress: UInt16 = 0x010D

    // Retrieve Secret
    public static let retrieveBufferTooSmall: UInt16 = 0x0109
    /// What s390-tools expects for "buffer too small"; the kernel names 0x0109.
    public static let retrieveBufferTooSmallAlternative: UInt16 = 0x0009
    public static let retrieveStoreEmpty: UInt16 = 0x010F
    public static let retrieveInvalidIndex: UInt16 = 0x0110
    public static let retrieveNotRetrievable: UInt16 = 0x0111

    /// Codes every call can return.
    static let generic: [UInt16: String] = [
        0x0000: "no return code was reported (the call did not complete)",
        0x0001: "executed successfully",
        0x0002: "invalid command: this ultravisor call is not available here (facility not installed)",
        0x0003: "invalid state for this call",
        0x0005: "the request has an invalid size",
        0x0007: "no resume possible",
        0x0030: "address-space problem in the ultravisor; stop using this guest",
        0x0031: "address-translation problem in the ultravisor; stop using this guest",
        0x0032: "address-translation problem in the ultravisor; stop using this guest",
        0x0100: "executed successfully, more data is available",
        0x8000: "the configuration needs to be destroyed",
    ]

    static let addSecret: [UInt16: String] = [
        0x0101: "modifying the secret store is not allowed",
        0x0102: "the secret store is locked",
        0x0103: "access exception on the request control block",
        0x0104: "unsupported add-secret request version",
        0x0105: "invalid request size",
        0x0106: "invalid number of host keys (keyslots)",
        0x0107: "unsupported flags in the request",
        0x0108: "the request cannot be decrypted: no keyslot for this host, not for this image or instance, or altered",
        0x0109: "unsupported secret type",
        0x010A: "invalid length for the secret type",
        0x010B: "the secret store is full",
        0x010C: "the secret could not be added (e.g. its extension secret differs from the one already in force)",
        0x010D: "a dump is in progress; try again later",
    ]

    static let lockSecrets: [UInt16: String] = [
        0x0101: "modifying the secret store is not allowed",
        0x0102: "the secret store is already locked",
    ]

    static let retrieveSecret: [UInt16: String] = [
        0x0009: "the buffer is too small for the secret (code as named by s390-tools)",
        0x0102: "access exception on the output area",
        0x0109: "the buffer is too small for the secret",
        0x010F: "the secret store is empty",
        0x0110: "no secret has this index",
        0x0111: "the secret at this index is not retrievable",
    ]

    static let attest: [UInt16: String] = [
        0x0101: "invalid continuation token",
        0x0102: "user data longer than 256 bytes",
        0x0103: "access exception on the attestation request",
        0x0104: "access exception on the measurement buffer",
        0x0105: "access exception on the additional-data buffer",
        0x0106: "unsupported attestation request version",
        0x0107: "invalid attestation request length",
        0x0108: "keyslot count is zero or above the maximum",
        0x0109: "encrypted-area size does not match",
        0x010A: "unsupported plaintext flag",
        0x010B: "unsupported measurement algorithm",
        0x010C: "the attestation request cannot be decrypted (probably no valid host key)",
        0x010D: "the measurement buffer is too small",
        0x010E: "the additional-data buffer is too small",
    ]

    static func specific(for ioctl: UVIoctl) -> [UInt16: String] {
        switch ioctl {
        case .info, .listSecrets: return [:]
        case .attest: return attest
        case .addSecret: return addSecret
        case .lockSecrets: return lockSecrets
        case .retrieveSecret: return retrieveSecret
        }
    }

    /// Every documented code of `ioctl`'s call, generic ones included.
    public static func documentedCodes(for ioctl: UVIoctl) -> [UInt16] {
        Array(Set(generic.keys).union(specific(for: ioctl).keys)).sorted()
    }

    /// Whether `rc` is documented for this call.
    public static func isDocumented(_ rc: UInt16, for ioctl: UVIoctl) -> Bool {
        specific(for: ioctl)[rc] != nil || generic[rc] != nil
    }

    /// A human message for `rc` of the call behind `ioctl`.
    public static func message(_ rc: UInt16, for ioctl: UVIoctl) -> String {
        if let m = specific(for: ioctl)[rc] ?? generic[rc] { return m }
        return "undocumented return code for \(ioctl.name)"
    }

    /// Whether the failure is worth retrying later (the only documented
    /// case: a dump in progress during Add Secret).
    public static func isRetryable(_ rc: UInt16, for ioctl: UVIoctl) -> Bool {
        ioctl == .addSecret && rc == dumpInProgress
    }

    /// Whether `rc` means "the retrieve buffer is too small" (0x0109 per the
    /// kernel, 0x0009 per s390-tools: both are accepted).
    public static func isBufferTooSmall(_ rc: UInt16) -> Bool {
        rc == retrieveBufferTooSmall || rc == retrieveBufferTooSmallAlternative
    }
}

/// Lower-case hex of an integer, zero-padded to its full width (u16: 4
/// digits, u64: 16), without a prefix.
public func paddedHex<T: FixedWidthInteger & UnsignedInteger>(_ v: T) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, T.bitWidth / 4 - h.count)) + h
}

/// The hex form of return codes and type codes in messages: 0x0108.
public func rcHex(_ v: UInt16) -> String { "0x" + paddedHex(v) }
