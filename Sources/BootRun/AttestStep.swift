import SEBase
import SECrypto
import SecretPolicy
import UVDevice
import UVCommands
import Attestation

/// Step 7's value: the run attested. The facts document it bound, the
/// binding (the user data), and the response as written.
public struct AttestationOutcome: Sendable {
    public let requestFile: String
    public let requestSHA256: [UInt8]
    /// The facts document's bytes, exactly as bound and written.
    public let facts: [UInt8]
    public let binding: RunBinding
    /// The response in pvattest's exchange format.
    public let response: [UInt8]
    public let additionalData: [String]
    public let factsPath: String
    public let responsePath: String

    public var json: JSON {
        .object([
            ("request", .string(requestFile)),
            ("request_sha256", .string(requestSHA256.hex)),
            ("additional_data", .array(additionalData.map { .string($0) })),
            ("user_data", .string(binding.userData.hex)),
            ("facts", .string(factsPath)),
            ("facts_sha256", .string(binding.factsSHA256.hex)),
            ("response", .string(responsePath)),
            ("response_sha256", .string(Digest.sha256(response).hex)),
        ])
    }
}

/// Step 7: after the store is locked and verified, the ATT call with the
/// tenant's request (checked with the requests, `Evaluation.attestation`)
/// and user data that binds the run (`RunBinding`: the policy's SHA-256 and
/// the SHA-256 of the facts document). The ultravisor measures the image,
/// the config UID, the user data and the secret-store hash with the lock
/// state it holds, under a key only the tenant has: the tenant's verifier
/// (`se-secretd verify`) checks all of it outside the guest. Nothing here is
/// secret; the same function as `se-secretd attest` does the call.
enum AttestStep {
    /// The facts of a verified run: every request of the plan in submission
    /// order with its outcome, the store as the verification saw it.
    static func facts(policy: Policy, plan: SubmissionPlan, submission: Submission, store: StoreState,
                      verification: Verification, hostKeyHashes: [[UInt8]], requestSHA256: [UInt8]) -> RunFacts {
        let requests = plan.items.map { item -> RunFacts.Request in
            RunFacts.Request(order: item.order, file: item.file,
                             sha256: plan.evaluation.verdict(for: item.file)?.sha256 ?? Digest.sha256(item.request.bytes),
                             secretID: item.request.secretID, secretType: item.request.secretType.name,
                             result: submission.outcome(for: item.file)?.result.name ?? "not-submitted")
        }
        return RunFacts(policySHA256: policy.digest, attestationRequestSHA256: requestSHA256, hostKeyHashes: hostKeyHashes,
                        requests: requests, storeLocked: store.locked ?? false, storeSecrets: verification.secrets,
                        secretStoreHash: verification.storeHash)
    }

    /// The checked request to attest with; nil only when the policy's
    /// attestation is optional and the directory has none. A required one
    /// that is missing was a problem of the check (`attestation-missing`),
    /// so the run never gets here without it; if it did, it fails rather
    /// than boot unattested (the second line).
    static func request(policy: Policy, evaluation: Evaluation) throws -> AttestationVerdict? {
        if let request = evaluation.attestation { return request }
        guard policy.attestation.mode != .required else {
            throw BootFailure(.internal, step: "attest",
                "the policy requires attestation, and there is no checked attestation request \(policy.attestation.requestFile) [attestation-missing]")
        }
        return nil
    }

    static func run(_ client: UVClient, request: AttestationVerdict, facts: RunFacts, policy: Policy,
                    runDirectory: String, log: BootLog) throws -> AttestationOutcome {
        guard let parsed = request.request, request.passed else {
            // The check refuses such a set; this is the second line.
            throw BootFailure(.internal, step: "attest", "the attestation request \(request.file) did not pass the check")
        }
        let factsBytes = facts.bytes
        let binding: RunBinding
        do { binding = try RunBinding(policySHA256: policy.digest, facts: factsBytes) } catch {
            throw BootFailure(.internal, step: "attest", "cannot bind the run: \(error)")
        }
        let factsPath = runDirectory + "/facts.json"
        let responsePath = runDirectory + "/attestation-response.bin"
        // (An earlier run's response and facts are removed when the run starts: BootRunner.run.)
        do {
            try FileIO.writeAtomically(factsPath, factsBytes, mode: 0o600, durable: false)
        } catch {
            throw BootFailure(.io, step: "attest", "cannot write \(factsPath): \(error)")
        }
        let response: AttestationExchangeResponse
        do {
            response = try PerformAttestation.perform(parsed, userData: binding.userData, client: client)
        } catch {
            throw BootFailure(error.failureClass, step: "attest", "attestation with \(request.file) failed: \(error)")
        }
        let bytes = response.bytes
        do {
            try FileIO.writeAtomically(responsePath, bytes, mode: 0o600, durable: false)
        } catch {
            throw BootFailure(.io, step: "attest", "cannot write \(responsePath): \(error)")
        }
        let asked = parsed.arcb.flags.additionalDataNames
        log.info("attested with \(request.file): measurement \(response.measurement.count) bytes, additional data \(asked.joined(separator: ", ")), run binding \(String(binding.factsSHA256.hex.prefix(16)))…")
        return AttestationOutcome(requestFile: request.file, requestSHA256: request.sha256, facts: factsBytes, binding: binding,
                                  response: bytes, additionalData: asked, factsPath: factsPath, responsePath: responsePath)
    }
}
