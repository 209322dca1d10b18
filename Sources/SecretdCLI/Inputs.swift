import SEBase
import SECrypto
import ASRCodec
import SecretPolicy

/// Loading of command inputs, mapping each failure to its exit code.
public enum Inputs {
    static func policy(_ path: String) throws -> Policy {
        do { return try Policy.load(path: path) } catch let e as PolicyError {
            throw CLIError(.config, "invalid policy \(path): \(e)")
        } catch {
            throw CLIError(.config, "invalid policy \(path): \(error)")
        }
    }

    public static func file(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        do { return try FileIO.read(path, limit: limit, followSymlinks: true) } catch let e as FileIO.TooLarge {
            throw CLIError(.policyViolation, "\(what) \(e)")
        } catch {
            throw CLIError(.noInput, "cannot read \(what) \(path): \(error)")
        }
    }

    /// Host keys from host-key documents (X.509, PEM or DER) or PEM public keys.
    public static func hostKeys(documents: [String]) throws -> [PublicKey] {
        try documents.map { path in
            let bytes = try file(path, limit: 1 << 20, what: "host-key document")
            let key: PublicKey
            do { key = try PublicKey.load(bytes) } catch {
                throw CLIError(.noInput, "\(path) is not a host-key document or public key: \(error)")
            }
            guard key.keyType == .ec(.p521) else {
                throw CLIError(.noInput, "\(path): a host key is an EC P-521 key, this is \(key.keyType)")
            }
            return key
        }
    }

    /// Host-key hashes from host-key documents (X.509, PEM or DER) or PEM public keys.
    static func hostKeyHashes(documents: [String], hashes: [String]) throws -> [[UInt8]] {
        var out: [[UInt8]] = try hostKeys(documents: documents).map { try RequestKeys.hostKeyHash($0) }
        for h in hashes {
            guard h.utf8.count == 64, let v = [UInt8](hex: h) else {
                throw CLIError(.usage, "--host-key-hash takes 64 hex digits, not \"\(h)\"")
            }
            out.append(v)
        }
        return out
    }

    static func requestSet(_ dir: String, policy: Policy, lookForMisnamed: Bool = false) throws -> RequestSet {
        do {
            return try RequestSet.load(directory: dir, policy: policy, lookForMisnamed: lookForMisnamed)
        } catch {
            throw CLIError(.noInput, "cannot read the request directory \(dir): \(error)")
        }
    }
}
