import SEBase
import UVDevice
import Attestation

/// `se-secretd attest REQUEST RESPONSE` (as `pvattest perform`): the
/// tenant's exchange-format request in, the ATT call, the exchange-format
/// response out. The boot run attests through the same function.
public enum PerformAttestation {
    /// The request as read: the exchange file and its ARCB, both parsed
    /// strictly (the file comes from the host's volume).
    public struct Request: Sendable {
        public let exchange: AttestationExchangeRequest
        public let arcb: AttestationRequest
    }

    /// Parses an exchange-format request and the ARCB in it. The file's
    /// buffer sizes must be exactly what the ARCB's algorithm and flags give
    /// (what pvattest writes): the file's header is not authenticated, the
    /// ARCB is, and a bigger buffer would put padding into the response that
    /// the measurement does not cover.
    public static func parse(_ bytes: [UInt8], file: String) throws(CommandFailure) -> Request {
        let exchange: AttestationExchangeRequest
        do { exchange = try AttestationExchangeRequest.parse(bytes) } catch {
            throw CommandFailure(.invalidInput, "\(file): not an attestation request in pvattest's exchange format: \(error) [\(error.rule.rawValue)]")
        }
        let arcb: AttestationRequest
        do { arcb = try AttestationRequest.parse(exchange.arcb) } catch {
            throw CommandFailure(.invalidInput, "\(file): the attestation request control block is invalid: \(error) [\(error.rule.rawValue)]")
        }
        guard exchange.measurementSize == arcb.measurementSize else {
            throw CommandFailure(.invalidInput, "\(file): the file expects a measurement of \(exchange.measurementSize) bytes, the request's algorithm gives \(arcb.measurementSize)")
        }
        guard exchange.additionalDataSize == arcb.additionalDataSize else {
            throw CommandFailure(.invalidInput, "\(file): the file expects \(exchange.additionalDataSize) bytes of additional data, the request's flags ask for \(arcb.additionalDataSize)")
        }
        return Request(exchange: exchange, arcb: arcb)
    }

    /// ATT with the buffers the ARCB needs and `userData` (at most 256 bytes).
    public static func perform(_ request: Request, userData: [UInt8], client: UVClient) throws(CommandFailure) -> AttestationExchangeResponse {
        guard userData.count <= Measurement.maxUserData else {
            throw CommandFailure(.invalidInput, "user data has \(userData.count) bytes, at most \(Measurement.maxUserData) fit")
        }
        let answer = try CommandFailure.checking("attest") { () throws(UVError) in
            try client.attest(request: request.exchange.arcb, measurementLength: request.arcb.measurementSize,
                              additionalDataLength: request.arcb.additionalDataSize, userData: userData)
        }
        do {
            return try AttestationExchangeResponse(arcb: request.exchange.arcb, measurement: answer.measurement,
                                                   additionalData: answer.additionalData, userData: userData,
                                                   configUID: answer.configUID)
        } catch {
            throw CommandFailure(.device, "the ultravisor's answer does not fit an exchange response: \(error)")
        }
    }
}
