import SEBase

/// A tenant's attestation request file as it arrives in the guest (what
/// `pvattest create` writes): pvattest's exchange format around an ARCB,
/// both parsed strictly, with buffer sizes exactly those the ARCB's
/// algorithm and flags give. The file's header is not authenticated, the
/// ARCB is: a bigger buffer would put padding into the response that the
/// measurement does not cover. `se-secretd attest`, `check` and the boot run
/// read request files through this one function.
public struct AttestationRequestFile: Sendable {
    public let exchange: AttestationExchangeRequest
    public let arcb: AttestationRequest

    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// The rule of the exchange format or the ARCB, or `size-mismatch`.
        public let rule: String
        public let message: String
        public var description: String { "\(message) [\(rule)]" }
    }

    public static func parse(_ bytes: [UInt8]) throws(Invalid) -> AttestationRequestFile {
        let exchange: AttestationExchangeRequest
        do { exchange = try AttestationExchangeRequest.parse(bytes) } catch {
            throw Invalid(rule: error.rule.rawValue, message: "not an attestation request in pvattest's exchange format: \(error)")
        }
        let arcb: AttestationRequest
        do { arcb = try AttestationRequest.parse(exchange.arcb) } catch {
            throw Invalid(rule: error.rule.rawValue, message: "the attestation request control block is invalid: \(error)")
        }
        guard exchange.measurementSize == arcb.measurementSize else {
            throw Invalid(rule: "size-mismatch",
                          message: "the file expects a measurement of \(exchange.measurementSize) bytes, the request's algorithm gives \(arcb.measurementSize)")
        }
        guard exchange.additionalDataSize == arcb.additionalDataSize else {
            throw Invalid(rule: "size-mismatch",
                          message: "the file expects \(exchange.additionalDataSize) bytes of additional data, the request's flags ask for \(arcb.additionalDataSize)")
        }
        return AttestationRequestFile(exchange: exchange, arcb: arcb)
    }
}
