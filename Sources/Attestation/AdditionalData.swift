/// The additional data an attestation answer carries after the measurement
/// (docs/attestation.md, "Additional data"): the fields the ARCB's flags ask
/// for, each at its fixed size, in bit order, nothing in between.
public struct AdditionalData: Equatable, Sendable {
    public enum Field: Int, CaseIterable, Sendable, CustomStringConvertible {
        case imagePHKH, attestationPHKH, secretStoreHash, firmwareState

        public var flag: AttestationFlags {
            switch self {
            case .imagePHKH: return .imagePHKH
            case .attestationPHKH: return .attestationPHKH
            case .secretStoreHash: return .secretStoreHash
            case .firmwareState: return .firmwareState
            }
        }

        public var size: Int {
            switch self {
            case .imagePHKH, .attestationPHKH: return 0x20
            case .secretStoreHash: return 0x40
            case .firmwareState: return 0x140
            }
        }

        /// `pvattest create --add-data` names.
        public var name: String {
            switch self {
            case .imagePHKH: return "phkh-img"
            case .attestationPHKH: return "phkh-att"
            case .secretStoreHash: return "secret-store-hash"
            case .firmwareState: return "firmware-state"
            }
        }

        public var description: String { name }
    }

    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// The data ends before this requested field is complete.
        case missing(Field, available: Int)
        /// A field given for building has the wrong size.
        case wrongSize(Field, Int)
        /// A field given for building that the flags do not request.
        case notRequested(Field)
        /// A field the flags request but that was not given for building.
        case notGiven(Field)

        public var description: String {
            switch self {
            case let .missing(f, n): return "additional data ends inside \(f) (\(f.size) bytes needed, \(n) left)"
            case let .wrongSize(f, n): return "\(f) has \(f.size) bytes, not \(n)"
            case let .notRequested(f): return "\(f) is not requested by the attestation flags"
            case let .notGiven(f): return "\(f) is requested by the attestation flags but not given"
            }
        }
    }

    /// SHA-256 of the P-521 host key that unpacked the SE image.
    public var imagePHKH: [UInt8]?
    /// SHA-256 of the P-521 host key that decrypted this ARCB.
    public var attestationPHKH: [UInt8]?
    /// SHA-512 over the tags of the added secret requests and the lock byte.
    public var secretStoreHash: [UInt8]?
    /// 320 opaque bytes for IBM's firmware-check service.
    public var firmwareState: [UInt8]?
    /// Bytes after the requested fields (pvattest reports them as
    /// "unrecognized"); nil when there are none.
    public var unrecognized: [UInt8]?

    public init(imagePHKH: [UInt8]? = nil, attestationPHKH: [UInt8]? = nil, secretStoreHash: [UInt8]? = nil,
                firmwareState: [UInt8]? = nil, unrecognized: [UInt8]? = nil) {
        self.imagePHKH = imagePHKH
        self.attestationPHKH = attestationPHKH
        self.secretStoreHash = secretStoreHash
        self.firmwareState = firmwareState
        self.unrecognized = unrecognized
    }

    public subscript(field: Field) -> [UInt8]? {
        get {
            switch field {
            case .imagePHKH: return imagePHKH
            case .attestationPHKH: return attestationPHKH
            case .secretStoreHash: return secretStoreHash
            case .firmwareState: return firmwareState
            }
        }
        set {
            switch field {
            case .imagePHKH: imagePHKH = newValue
            case .attestationPHKH: attestationPHKH = newValue
            case .secretStoreHash: secretStoreHash = newValue
            case .firmwareState: firmwareState = newValue
            }
        }
    }

    /// Splits additional data as `flags` lay it out. Bytes after the last
    /// requested field become `unrecognized` (the caller decides whether to
    /// accept them; the ultravisor's answer to an exactly sized buffer has none).
    public static func parse(_ bytes: [UInt8], flags: AttestationFlags) throws(Invalid) -> AdditionalData {
        var out = AdditionalData()
        var at = 0
        for f in Field.allCases where flags.contains(f.flag) {
            guard bytes.count - at >= f.size else { throw Invalid.missing(f, available: bytes.count - at) }
            out[f] = Array(bytes[at..<(at + f.size)])
            at += f.size
        }
        if at < bytes.count { out.unrecognized = Array(bytes[at...]) }
        return out
    }

    /// The bytes for `flags`: every requested field present at its size,
    /// nothing else but `unrecognized` (appended as it is).
    public func bytes(for flags: AttestationFlags) throws(Invalid) -> [UInt8] {
        var out: [UInt8] = []
        for f in Field.allCases {
            switch (flags.contains(f.flag), self[f]) {
            case (true, let v?):
                guard v.count == f.size else { throw Invalid.wrongSize(f, v.count) }
                out += v
            case (true, nil): throw Invalid.notGiven(f)
            case (false, _?): throw Invalid.notRequested(f)
            case (false, nil): break
            }
        }
        if let u = unrecognized { out += u }
        return out
    }
}
