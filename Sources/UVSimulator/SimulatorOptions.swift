import ASRCodec
import SEBase
import SECrypto
import UVDevice
import SEVocabulary

/// How `se-secretd sim init` sets up a simulated ultravisor.
public struct SimulatorOptions {
    /// A P-521 private key (PEM or DER) to use as host key; generated if nil.
    public var hostKey: [UInt8]?
    /// An SE header or SE image to take the image tags from.
    public var seHeader: [UInt8]?
    /// The image tags directly (tests); random if neither is given.
    public var imageTags: SEHeaderTags?
    /// The instance's config UID (16 bytes); random if nil.
    public var configUID: [UInt8]?
    /// Total store capacity; split into association (a quarter, at least
    /// one when there are two or more) and retrievable secrets unless those
    /// are given.
    public var maxSecrets: Int?
    public var maxAssociationSecrets: Int?
    public var maxRetrievableSecrets: Int?
    public var kernel: KernelGeneration = .linux6_13
    /// Secret types the ultravisor accepts (default: all but update-CCK,
    /// which follows `cckUpdateAllowed`).
    public var secretTypes: [SecretType]?
    /// Supported add-secret flags (MSB0 bitmap; default: disable dump).
    public var addSecretFlags: UInt64?
    public var facilities: FacilityList?
    /// The image's customer communication key (32 bytes).
    public var cck: SecureBytes?
    public var cckUpdateAllowed = false
    public var cckExtensionSecretEnforced = false
    public var protVirtGuest = false

    public init() {}

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static let defaultMaxSecrets = 256

    /// The configuration, host key and CCK these options describe.
    public func resolve() throws -> (SimulatorConfig, PrivateKey, SecureBytes?) {
        let key: PrivateKey
        if let pem = hostKey {
            key = try PrivateKey.load(pem)
            guard key.keyType == .ec(.p521) else {
                throw Invalid(message: "the host key must be an EC P-521 key, not \(key.keyType)")
            }
        } else {
            key = try PrivateKey.generate(.ec(.p521))
        }
        let tags: SEHeaderTags
        if let t = imageTags {
            tags = t
        } else if let hdr = seHeader {
            tags = try SEHeader.tags(from: hdr)
        } else {
            tags = SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
        }
        let cuid = configUID ?? Random.bytes(16)
        guard cuid.count == 16 else { throw Invalid(message: "a config UID has 16 bytes, not \(cuid.count)") }
        if let c = cck, c.count != 32 { throw Invalid(message: "a CCK has 32 bytes, not \(c.count)") }
        if cckExtensionSecretEnforced && cck == nil {
            throw Invalid(message: "enforcing the CCK-derived extension secret needs a CCK")
        }
        if cckExtensionSecretEnforced && cckUpdateAllowed {
            throw Invalid(message: "CCK update cannot be combined with the CCK-derived extension secret (as in pvimg)")
        }

        var config = SimulatorConfig(imageTags: tags, configUID: cuid)
        config.kernel = kernel
        if let f = facilities { config.facilities = f }
        if let f = addSecretFlags { config.supportedAddSecretFlags = f }
        var types = secretTypes ?? SecretType.allCases.filter { $0 != .updateCCK }
        if cckUpdateAllowed && !types.contains(.updateCCK) { types.append(.updateCCK) }
        config.supportedSecretTypes = UVQuery.secretTypeBitmap(types.map(\.rawValue))
        config.cckUpdateAllowed = cckUpdateAllowed
        config.cckExtensionSecretEnforced = cckExtensionSecretEnforced
        config.protVirtGuest = protVirtGuest

        let limit = SimulatorConfig.maxStoreSize
        let total = maxSecrets ?? ((maxAssociationSecrets ?? 0) + (maxRetrievableSecrets ?? 0) > 0
            ? (maxAssociationSecrets ?? 0) + (maxRetrievableSecrets ?? 0) : Self.defaultMaxSecrets)
        guard total >= 0, total <= limit else { throw Invalid(message: "max secrets must be 0...\(limit)") }
        let assoc = maxAssociationSecrets ?? (maxRetrievableSecrets.map { max(0, total - $0) } ?? (total >= 2 ? max(1, total / 4) : 0))
        let retr = maxRetrievableSecrets ?? max(0, total - assoc)
        guard assoc >= 0, retr >= 0, assoc + retr <= limit else {
            throw Invalid(message: "association and retrievable limits must be non-negative and sum to at most \(limit)")
        }
        if maxSecrets != nil, maxAssociationSecrets != nil || maxRetrievableSecrets != nil, assoc + retr != total {
            throw Invalid(message: "max secrets (\(total)) must equal the association (\(assoc)) plus retrievable (\(retr)) limits")
        }
        config.maxAssociationSecrets = assoc
        config.maxRetrievableSecrets = retr
        return (config, key, cck)
    }
}

extension SimulatorState {
    /// An in-memory state made from options (tests).
    public convenience init(options: SimulatorOptions) throws {
        let (config, key, cck) = try options.resolve()
        try self.init(config: config, hostKey: key, cck: cck)
    }
}
