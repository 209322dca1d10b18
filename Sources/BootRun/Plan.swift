import SEBase
import SECrypto
import ASRCodec
import SecretPolicy

/// Step 3's value: the checked requests in the order they go to the
/// ultravisor. Only a set that passed the policy becomes a plan, so the
/// steps after it cannot run on an unchecked set.
public struct SubmissionPlan: Sendable {
    public struct Item: Sendable {
        /// 1-based position in the submission order.
        public let order: Int
        public let file: String
        public let request: AddSecretRequest
        /// The secret's name for messages (the policy's, else its ID).
        public let secret: String
    }

    public let evaluation: Evaluation
    public let items: [Item]

    /// The GCM tags in submission order: what the secret-store hash covers.
    public var tags: [[UInt8]] { items.map(\.request.gcmTag) }

    /// The secret-store hash the ultravisor reports for this plan once it is
    /// in the store (`locked`: the store's lock bit).
    public func storeHash(locked: Bool) -> [UInt8] {
        locked == evaluation.lockStore
            ? evaluation.secretStoreHash
            : SecretStoreHash.compute(tags: tags, locked: locked, sha512: Digest.sha512)
    }

    /// The listable secrets the store must hold afterwards, by ID.
    public var expectedSecrets: [[UInt8]: AddSecretRequest] {
        var out: [[UInt8]: AddSecretRequest] = [:]
        for item in items { if item.request.secretType.isListable, let id = item.request.secretID { out[id] = item.request } }
        return out
    }

    /// Plans a set that passed; throws the check's failure otherwise, or
    /// when the secrets cannot fit the store (`maxSecrets`, from sysfs).
    public init(_ e: Evaluation, maxSecrets: Int?) throws {
        guard e.passed else {
            throw BootFailure(.policy, step: "check",
                "the requests violate the policy (\(e.allProblems.count) problem\(e.allProblems.count == 1 ? "" : "s")); nothing was added")
        }
        var items: [Item] = []
        for (position, file) in e.submissionOrder.enumerated() {
            guard let v = e.verdict(for: file), let r = v.request else { continue }
            items.append(Item(order: position + 1, file: file, request: r, secret: v.displaySecret))
        }
        if let maxSecrets {
            let listable = e.verdicts.filter { $0.request?.secretType.isListable == true }.count
            if listable > maxSecrets {
                throw BootFailure(.device, step: "check", "\(listable) secrets do not fit a store of \(maxSecrets)")
            }
        }
        evaluation = e
        self.items = items
    }
}
