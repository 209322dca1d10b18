import SEBase
import SECrypto

/// The user data a boot run puts into its attestation, so that the
/// measurement (which only the holder of the tenant's protection key can
/// check) vouches for the run as well as for the image:
///
///     0x00  8  magic "SESDRUN1" (ASCII)
///     0x08 32  SHA-256 of the policy file the run used (as read)
///     0x28 32  SHA-256 of the run's facts document (`RunFacts`), exactly
///              the bytes the run wrote into its results
///
/// 72 bytes in all (the ATT call takes up to 256). docs/attestation.md.
public struct RunBinding: Equatable, Sendable {
    public static let magic: [UInt8] = Array("SESDRUN1".utf8)
    public static let size = 72

    public let policySHA256: [UInt8]
    public let factsSHA256: [UInt8]

    public init(policySHA256: [UInt8], factsSHA256: [UInt8]) throws(RunBindingError) {
        guard policySHA256.count == 32, factsSHA256.count == 32 else {
            throw RunBindingError(.badSize, "a run binding holds two SHA-256 digests of 32 bytes")
        }
        self.policySHA256 = policySHA256
        self.factsSHA256 = factsSHA256
    }

    /// Binds `policy` (the policy file's SHA-256) and the facts document's bytes.
    public init(policySHA256: [UInt8], facts: [UInt8]) throws(RunBindingError) {
        try self.init(policySHA256: policySHA256, factsSHA256: Digest.sha256(facts))
    }

    /// The 72 bytes of user data.
    public var userData: [UInt8] { Self.magic + policySHA256 + factsSHA256 }

    /// Reads the user data of a response. Anything but exactly this layout
    /// (another length, another magic) is not a run binding: a response made
    /// by `pvattest perform`, or by a run that did not bind itself.
    public static func parse(_ userData: [UInt8]) throws(RunBindingError) -> RunBinding {
        guard userData.count == size else {
            throw RunBindingError(.badSize, "the user data has \(userData.count) bytes; a run binding has \(size)")
        }
        guard Array(userData[0..<8]) == magic else {
            throw RunBindingError(.badMagic, "the user data does not start with \(String(decoding: magic, as: UTF8.self))")
        }
        return try RunBinding(policySHA256: Array(userData[8..<40]), factsSHA256: Array(userData[40..<72]))
    }
}

public struct RunBindingError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable {
        case badSize = "bad-size"
        case badMagic = "bad-magic"
        /// The facts document is not valid JSON or lacks a field.
        case badFacts = "bad-facts"
    }

    public let rule: Rule
    public let message: String
    public init(_ rule: Rule, _ message: String) {
        self.rule = rule
        self.message = message
    }
    public var description: String { message }
}

/// What a successful boot run states about itself, bound into its
/// attestation by `RunBinding`: the policy, the attestation request it
/// answered, this machine's host keys, each request in the order it went
/// to the ultravisor, and the store it left. Never a secret: requests are
/// named by file, SHA-256 and secret ID.
///
/// The run writes the document once (`bytes`, compact JSON) and binds
/// exactly those bytes; a verifier hashes the bytes it received, and only
/// then parses them (`parse`). No canonical form is needed.
public struct RunFacts: Equatable, Sendable {
    public static let format = "se-secretd-run-facts"
    public static let version: Int64 = 1
    public static let maxSize = 1 << 20

    public struct Request: Equatable, Sendable {
        public var order: Int
        public var file: String
        public var sha256: [UInt8]
        /// The secret's ID (nil for the meta and update-CCK requests).
        public var secretID: [UInt8]?
        public var secretType: String
        public var result: String

        public init(order: Int, file: String, sha256: [UInt8], secretID: [UInt8]?, secretType: String, result: String) {
            self.order = order
            self.file = file
            self.sha256 = sha256
            self.secretID = secretID
            self.secretType = secretType
            self.result = result
        }
    }

    public var policySHA256: [UInt8]
    /// SHA-256 of the attestation request file as the run read it.
    public var attestationRequestSHA256: [UInt8]
    public var hostKeyHashes: [[UInt8]]
    public var requests: [Request]
    public var storeLocked: Bool
    public var storeSecrets: Int
    public var secretStoreHash: [UInt8]

    public init(policySHA256: [UInt8], attestationRequestSHA256: [UInt8], hostKeyHashes: [[UInt8]], requests: [Request],
                storeLocked: Bool, storeSecrets: Int, secretStoreHash: [UInt8]) {
        self.policySHA256 = policySHA256
        self.attestationRequestSHA256 = attestationRequestSHA256
        self.hostKeyHashes = hostKeyHashes
        self.requests = requests
        self.storeLocked = storeLocked
        self.storeSecrets = storeSecrets
        self.secretStoreHash = secretStoreHash
    }

    public var json: JSON {
        .object([
            ("format", .string(Self.format)),
            ("version", .int(Self.version)),
            ("policy_sha256", .string(policySHA256.hex)),
            ("attestation_request_sha256", .string(attestationRequestSHA256.hex)),
            ("host_key_hashes", .array(hostKeyHashes.map { .string($0.hex) })),
            ("requests", .array(requests.map { r in
                .object([("order", .int(Int64(r.order))), ("file", .string(r.file)), ("sha256", .string(r.sha256.hex)),
                         ("secret_id", JSON.hexOrNull(r.secretID)), ("secret_type", .string(r.secretType)),
                         ("result", .string(r.result))])
            })),
            ("store", .object([("locked", .bool(storeLocked)), ("secrets", .int(Int64(storeSecrets))),
                               ("secret_store_hash", .string(secretStoreHash.hex))])),
        ])
    }

    /// The document's bytes, as the run writes and binds them.
    public var bytes: [UInt8] { Array(json.serialized(pretty: false).utf8) }

    /// Reads a facts document strictly: every field, of its type, nothing else.
    public static func parse(_ bytes: [UInt8]) throws(RunBindingError) -> RunFacts {
        guard bytes.count <= maxSize else { throw RunBindingError(.badFacts, "the facts document has more than \(maxSize) bytes") }
        do {
            let root = try JSON.parse(bytes)
            var r = try JSONObjectReader(root, path: "$")
            guard try r.requireString("format") == format else { throw JSONSchemaError(path: "$.format", message: "must be \(format)") }
            guard try r.int("version", range: 1...1) != nil else { throw JSONSchemaError(path: "$.version", message: "is required") }
            let policy = try hexField(&r, "policy_sha256", bytes: 32)
            let arq = try hexField(&r, "attestation_request_sha256", bytes: 32)
            var hosts: [[UInt8]] = []
            for (i, h) in (try r.stringArray("host_key_hashes") ?? []).enumerated() {
                guard let b = [UInt8](hex: h), b.count == 32 else {
                    throw JSONSchemaError(path: "$.host_key_hashes[\(i)]", message: "must be 64 hex digits")
                }
                hosts.append(b)
            }
            var requests: [Request] = []
            for (i, item) in (try r.array("requests") ?? []).enumerated() {
                var q = try JSONObjectReader(item, path: "$.requests[\(i)]")
                guard let order = try q.int("order", range: 1...Int64(Int32.max)) else {
                    throw JSONSchemaError(path: q.childPath("order"), message: "is required")
                }
                let file = try q.requireString("file")
                let sha = try hexField(&q, "sha256", bytes: 32)
                var id: [UInt8]? = nil
                if let v = q.value("secret_id"), v != .null {
                    guard case let .string(s) = v, let b = [UInt8](hex: s), b.count == 32 else {
                        throw JSONSchemaError(path: q.childPath("secret_id"), message: "must be 64 hex digits or null")
                    }
                    id = b
                }
                let type = try q.requireString("secret_type")
                let result = try q.requireString("result")
                try q.finish()
                requests.append(Request(order: Int(order), file: file, sha256: sha, secretID: id, secretType: type, result: result))
            }
            guard var s = try r.object("store") else { throw JSONSchemaError(path: "$.store", message: "is required") }
            guard let locked = try s.bool("locked") else { throw JSONSchemaError(path: s.childPath("locked"), message: "is required") }
            guard let secrets = try s.int("secrets", range: 0...Int64(Int32.max)) else {
                throw JSONSchemaError(path: s.childPath("secrets"), message: "is required")
            }
            let hash = try hexField(&s, "secret_store_hash", bytes: 64)
            try s.finish()
            try r.finish()
            return RunFacts(policySHA256: policy, attestationRequestSHA256: arq, hostKeyHashes: hosts, requests: requests,
                            storeLocked: locked, storeSecrets: Int(secrets), secretStoreHash: hash)
        } catch let e as JSONParseError {
            throw RunBindingError(.badFacts, "the facts document is not JSON: \(e)")
        } catch let e as JSONSchemaError {
            throw RunBindingError(.badFacts, "the facts document: \(e)")
        } catch {
            throw RunBindingError(.badFacts, "the facts document: \(error)")
        }
    }

    static func hexField(_ r: inout JSONObjectReader, _ key: String, bytes n: Int) throws(JSONSchemaError) -> [UInt8] {
        let s = try r.requireString(key)
        guard let b = [UInt8](hex: s), b.count == n else { throw JSONSchemaError(path: r.childPath(key), message: "must be \(2 * n) hex digits") }
        return b
    }
}
