import ASRCodec
import SEBase
import SECrypto
import UVSimulator
import UVCommands
import RequestBuilding
import SecretdCLI

/// The secret kinds `se-secretd-dev sim create-request --type` takes, with the
/// value file each needs.
public enum SimulatorRequestSpec {
    public static let types = ["plain", "aes", "aes-xts", "hmac-sha-256", "hmac-sha-512", "ec", "association",
                               "meta", "update-cck"]

    /// Builds the secret of `type` from the value file's bytes (nil when
    /// no file was given).
    public static func secret(type: String, value: SecureBytes?) throws -> SimulatedRequest.Secret {
        func need() throws -> SecureBytes {
            guard let value else { throw CommandFailure(.usage, "--type \(type) needs --value-file") }
            return value
        }
        switch type {
        case "meta":
            guard value == nil else { throw CommandFailure(.usage, "a meta request carries no value") }
            return .meta
        case "plain":
            return .plaintext(try need())
        case "aes", "aes-xts":
            let v = try need()
            do { return .key(try SecretValue.symmetricType(family: type, length: v.count), v) } catch {
                throw CommandFailure(.invalidInput, error.message)
            }
        case "hmac-sha-256", "hmac-sha-512":
            let v = try need()
            return .key(type == "hmac-sha-256" ? .hmacSHA256 : .hmacSHA512, SecretValue.hmacK0(v, sha512: type == "hmac-sha-512"))
        case "ec":
            let v = try need()
            var raw = v.unsafeCopyToArray()
            defer { raw.wipe() }
            do { return .privateKey(try PrivateKey.load(raw)) } catch {
                throw CommandFailure(.invalidInput, "--value-file for --type ec must be an EC or Edwards private key (PEM or DER)")
            }
        case "association":
            if let v = value, v.count != 32 { throw CommandFailure(.invalidInput, "an association secret has 32 bytes, not \(v.count)") }
            return .association(value)
        case "update-cck":
            let v = try need()
            guard v.count == 32 else { throw CommandFailure(.invalidInput, "a CCK has 32 bytes, not \(v.count)") }
            return .updateCCK(v)
        default:
            throw CommandFailure(.usage, "unknown --type \(type) (one of: \(types.joined(separator: ", ")))")
        }
    }
}
