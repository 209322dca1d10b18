/// The plaintext attestation flags of an ARCB (u64 at 0x30), MSB0 bit
/// numbering: bit n is the value `1 << (63 - n)` (docs/attestation.md).
public struct AttestationFlags: OptionSet, Equatable, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The value of MSB0 bit `n` (0 = the most significant bit).
    public static func bit(_ n: Int) -> UInt64 {
        precondition((0..<64).contains(n))
        return 1 << UInt64(63 - n)
    }

    /// Bit 1: the encrypted area carries a 16-byte nonce after the
    /// measurement key (pvattest always sets it).
    public static let nonce = AttestationFlags(rawValue: bit(1))
    /// Bit 2: additional data gets the image PHKH (32 bytes).
    public static let imagePHKH = AttestationFlags(rawValue: bit(2))
    /// Bit 3: additional data gets the attestation PHKH (32 bytes).
    public static let attestationPHKH = AttestationFlags(rawValue: bit(3))
    /// Bit 4: additional data gets the secret-store hash (64 bytes).
    public static let secretStoreHash = AttestationFlags(rawValue: bit(4))
    /// Bit 5: additional data gets the firmware state (320 bytes).
    public static let firmwareState = AttestationFlags(rawValue: bit(5))

    /// The flags that request additional data (bits 2–5).
    public static let additionalData: AttestationFlags = [.imagePHKH, .attestationPHKH, .secretStoreHash, .firmwareState]
    /// Every flag with a known meaning (bits 1–5). Bit 0 is reserved; the
    /// earlier C pvattest's bits 62/63 are not part of the format any more.
    public static let known: AttestationFlags = [.nonce, .additionalData]

    public var unknownBits: UInt64 { rawValue & ~AttestationFlags.known.rawValue }

    /// The exact size of the additional data these flags request.
    public var additionalDataSize: Int {
        AdditionalData.Field.allCases.reduce(0) { contains($1.flag) ? $0 + $1.size : $0 }
    }

    /// Names as `pvattest create --add-data` spells them, in bit order.
    public var additionalDataNames: [String] {
        AdditionalData.Field.allCases.filter { contains($0.flag) }.map(\.name)
    }
}
