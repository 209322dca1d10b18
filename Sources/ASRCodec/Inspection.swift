import SEBase
import SEVocabulary

extension AddSecretRequest {
    /// What `se-secretd inspect --json` prints for a request: everything
    /// readable without a key. The keys are a stable interface for scripts.
    /// Contains no secret: the value and extension secret are encrypted.
    public func inspectionJSON(sha256: [UInt8], file: String? = nil) -> JSON {
        var members: [(String, JSON)] = []
        if let file { members.append(("file", .string(file))) }
        members += [
            ("user_data_type", .string(userDataType.name)),
            ("version", .int(Int64(version))),
            ("length", .int(Int64(length))),
            ("encrypted_length", .int(Int64(encryptedLength))),
            ("keyslots", .array(keyslots.map { .object([("host_key_hash", .string($0.hostKeyHash.hex))]) })),
            ("flags", .string(String(flags.rawValue, radix: 16).leftPadded(to: 16))),
            ("disable_dump", .bool(flags.disableDump)),
            ("config_uid", JSON.hexOrNull(boundConfigUID)),
            ("se_header_tag", .string(tags.tag.hex)),
            ("secret_type", .string(secretType.name)),
            ("secret_id", JSON.hexOrNull(secretID)),
            ("secret_name", secretID.flatMap(SecretID.asRawName).map { .string($0) } ?? .null),
            ("secret_length", .int(Int64(secretHeader.length))),
            ("tag", .string(gcmTag.hex)),
            ("sha256", .string(sha256.hex)),
            ("pin_digest", .string(pinDigest.hex)),
        ]
        if userDataType != .none {
            let trimmed = Array(userData.data.reversed().drop { $0 == 0 }.reversed())
            members.append(("user_data", .string(trimmed.hex)))
        }
        if userDataType.isSigned {
            members.append(("signature_length", .int(Int64(userData.signature.count))))
        }
        members.append(("freshness", freshnessJSON))
        return .object(members)
    }

    /// The freshness record as JSON: null when there is none,
    /// {"version", "epoch"} when there is one, {"error": {"rule", "message"}}
    /// when it is malformed. Says nothing about whether a signature covers
    /// it (`check` does).
    public var freshnessJSON: JSON {
        do throws(RequestFormatError) {
            guard let f = try freshnessRecord() else { return .null }
            return .object([("version", .int(Int64(f.version))), ("epoch", .int(Int64(f.epoch)))])
        } catch {
            return .object([("error", .object([("rule", .string(error.rule)), ("message", .string(error.description))]))])
        }
    }
}

extension String {
    func leftPadded(to n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
