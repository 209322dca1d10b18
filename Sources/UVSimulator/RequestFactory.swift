import ASRCodec
import SEBase
import SECrypto
import SEVocabulary
import RequestBuilding

/// A request to build for a simulated ultravisor (`se-secretd sim
/// create-request`): a thin layer over `RequestBuilder` that takes the host
/// key and image binding from the state.
public struct SimulatedRequest {
    public enum Secret {
        /// Flags and extension secret only; nothing is stored.
        case meta
        /// A 32-byte association secret (random when nil).
        case association(SecureBytes?)
        /// A plaintext payload (up to 8190 bytes); encoded with its length
        /// prefix and padding here.
        case plaintext(SecureBytes)
        /// A raw key of a key type, already in its stored form (HMAC: K0).
        case key(SecretType, SecureBytes)
        /// An EC or Edwards private key.
        case privateKey(PrivateKey)
        /// A new customer communication key (32 bytes).
        case updateCCK(SecureBytes)
    }

    public enum ConfigUIDBinding {
        /// Not bound to an instance (all-zero CUID).
        case none
        /// Bound to the simulated instance's CUID.
        case simulator
        /// Bound to the given 16 bytes.
        case explicit([UInt8])
    }

    public var secret: Secret
    /// The secret's name; the ID is SHA-256 of it, or the name itself with
    /// `useRawName` (≤ 31 bytes). Needed for association and retrievable
    /// secrets.
    public var name: String?
    public var useRawName = false
    public var extensionSecret: RequestBuilder.ExtensionSecret = .none
    public var configUID: ConfigUIDBinding = .none
    public var flags = RequestFlags(rawValue: 0)
    public var userData: RequestBuilder.UserData = .none
    /// A freshness record with this epoch as the user data (see
    /// `RequestBuilder.epoch`).
    public var epoch: UInt64? = nil
    /// More host keys to add keyslots for (the simulator's comes first).
    public var additionalHostKeys: [PublicKey] = []
    /// Build for these host keys instead of the simulator's (to make a
    /// request "for another host").
    public var replacementHostKeys: [PublicKey]? = nil
    /// Bind to these image tags instead of the simulator's (a request "for
    /// another image").
    public var replacementTags: SEHeaderTags? = nil

    public init(_ secret: Secret, name: String? = nil) {
        self.secret = secret
        self.name = name
    }

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The 32-byte secret ID of `name`.
    public static func secretID(name: String, raw: Bool) throws -> [UInt8] {
        if raw {
            guard let id = SecretID.rawName(name) else {
                throw Invalid(message: "a raw-name ID takes 1 to 31 bytes without NUL")
            }
            return id
        }
        return SecretID.hashed(name: name, sha256: { Digest.sha256($0) })
    }
}

extension RequestTarget {
    /// Builds the request (byte-compatible with `pvsecret create`).
    public func makeRequest(_ r: SimulatedRequest) throws -> [UInt8] {
        func id() throws -> [UInt8] {
            guard let name = r.name, !name.isEmpty else {
                throw SimulatedRequest.Invalid(message: "this secret type needs a name")
            }
            return try SimulatedRequest.secretID(name: name, raw: r.useRawName)
        }
        let secret: RequestBuilder.Secret
        switch r.secret {
        case .meta:
            secret = .meta
        case let .association(value):
            secret = .association(id: try id(), value: value ?? Random.secureBytes(32))
        case let .plaintext(payload):
            secret = .retrievable(.plain, id: try id(), value: try SecretValue.plaintext(payload))
        case let .key(type, value):
            guard type.isKey else { throw SimulatedRequest.Invalid(message: "\(type.name) is not a key type") }
            secret = .retrievable(type, id: try id(), value: value)
        case let .privateKey(key):
            let (type, value) = try SecretValue.privateKey(key)
            secret = .retrievable(type, id: try id(), value: value)
        case let .updateCCK(cck):
            secret = .updateCCK(cck)
        }
        var builder = RequestBuilder(secret: secret, hostKeys: (r.replacementHostKeys ?? [hostKey]) + r.additionalHostKeys,
                                     tags: r.replacementTags ?? imageTags)
        switch r.configUID {
        case .none: break
        case .simulator: builder.configUID = configUID
        case let .explicit(cuid): builder.configUID = cuid
        }
        builder.flags = r.flags
        builder.extensionSecret = r.extensionSecret
        builder.userData = r.userData
        builder.epoch = r.epoch
        return try builder.build()
    }
}
