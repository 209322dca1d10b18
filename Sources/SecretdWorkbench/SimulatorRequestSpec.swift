import ASRCodec
import SEBase
import SECrypto
import UVSimulator
import UVCommands
import RequestBuilding
import SecretdCLI

/// The secret kinds `se-secretd-dev sim create-request --type` takes, with the
/// value file each needs. The command's options parse --type into a `Kind`
/// and check --value-file against it; `secret` checks the value itself.
public enum SimulatorRequestSpec {
    public enum Kind: String, Sendable, CaseIterable {
        case plain, aes, aesXTS = "aes-xts", hmacSHA256 = "hmac-sha-256", hmacSHA512 = "hmac-sha-512", ec, association,
             meta, updateCCK = "update-cck"

        /// Whether the kind needs a value (--value-file), may have one, or has none.
        public enum Value: Sendable { case required, optional, none }

        public var value: Value {
            switch self {
            case .meta: return .none
            case .association: return .optional
            default: return .required
            }
        }
    }

    public static let types = Kind.allCases.map(\.rawValue)

    /// Builds the secret of `kind` from the value file's bytes (nil when
    /// no file was given, which `kind.value` allows).
    public static func secret(_ kind: Kind, value: SecureBytes?) throws -> SimulatedRequest.Secret {
        func need() throws -> SecureBytes {
            guard let value else { throw CLIError(.software, "a \(kind.rawValue) request needs a value (a bug: the options check --value-file)") }
            return value
        }
        switch kind {
        case .meta:
            guard value == nil else { throw CLIError(.software, "a meta request carries no value (a bug: the options check --value-file)") }
            return .meta
        case .plain:
            return .plaintext(try need())
        case .aes, .aesXTS:
            let v = try need()
            do { return .key(try SecretValue.symmetricType(family: kind.rawValue, length: v.count), v) } catch {
                throw CommandFailure(.invalidInput, error.message)
            }
        case .hmacSHA256, .hmacSHA512:
            let v = try need()
            return .key(kind == .hmacSHA256 ? .hmacSHA256 : .hmacSHA512, SecretValue.hmacK0(v, sha512: kind == .hmacSHA512))
        case .ec:
            let v = try need()
            var raw = v.unsafeCopyToArray()
            defer { raw.wipe() }
            do { return .privateKey(try PrivateKey.load(raw)) } catch {
                throw CommandFailure(.invalidInput, "--value-file for --type ec must be an EC or Edwards private key (PEM or DER)")
            }
        case .association:
            if let v = value, v.count != 32 { throw CommandFailure(.invalidInput, "an association secret has 32 bytes, not \(v.count)") }
            return .association(value)
        case .updateCCK:
            let v = try need()
            guard v.count == 32 else { throw CommandFailure(.invalidInput, "a CCK has 32 bytes, not \(v.count)") }
            return .updateCCK(v)
        }
    }
}
