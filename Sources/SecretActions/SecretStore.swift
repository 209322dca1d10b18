import SEBase
import ASRCodec
import SecretPolicy
import UVDevice

/// The ultravisor's secret store as the actions see it: one LIST per phase,
/// then each secret found by the ID the policy gives it (name → SHA-256 ID
/// → list index) and retrieved into a wiped buffer.
public final class SecretStore {
    public let client: UVClient
    private var cached: SecretListing?

    public init(client: UVClient) {
        self.client = client
    }

    /// The list, fetched on first use.
    public func listing() throws(ActionFailure) -> SecretListing {
        if let cached { return cached }
        do {
            let l = try client.listSecrets()
            cached = l
            return l
        } catch {
            throw ActionFailure.from(error, context: "list the secret store")
        }
    }

    /// The list entry of a policy secret, or nil when the store does not
    /// hold it. Two entries with the ID are an error: the boot run never adds
    /// a secret twice, so a duplicate means someone else added one.
    public func entry(for rule: Policy.SecretRule) throws(ActionFailure) -> SecretListEntry? {
        let l = try listing()
        let e: SecretListEntry
        switch l.list.occurrence(ofID: rule.id) {
        case let .repeated(found):
            throw ActionFailure(.data, "the store holds \(found.count) secrets with the ID of \(rule.name) (indexes \(found.map { String($0.index) }.joined(separator: ", "))); refusing to choose")
        case .absent:
            if !l.isComplete {
                throw ActionFailure(.device, "\(rule.name) is not in the part of the secret list the kernel returned (\(l.list.entries.count) of \(l.list.totalCount) secrets)")
            }
            return nil
        case let .once(entry):
            e = entry
        }
        guard e.typeCode == rule.type.rawValue else {
            throw ActionFailure(.data, "\(rule.name) is stored as \(e.typeName), the policy expects \(rule.type.name)")
        }
        return e
    }

    /// Retrieves a secret: a plaintext secret without its length prefix and
    /// padding (a stored value not in that form is an error), any other
    /// retrievable kind as the protected-key blob the ultravisor returns.
    public func retrieve(_ entry: SecretListEntry, name: String) throws(ActionFailure) -> SecureBytes {
        let raw: SecureBytes
        do { raw = try client.retrieve(entry) } catch {
            throw ActionFailure.from(error, context: "retrieve \(name) (index \(entry.index))")
        }
        guard entry.type == .plain else { return raw }
        defer { raw.wipe() }
        guard let payload = SecretValue.decodePlaintext(raw) else {
            throw ActionFailure(.data, "\(name) is not in the plaintext form (two-byte length, payload, zero padding)")
        }
        return payload
    }
}
