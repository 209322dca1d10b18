import SEBase
import UVDevice
import Attestation

/// `se-secretd attest REQUEST RESPONSE` (as `pvattest perform`): the
/// tenant's exchange-format request in, the ATT call, the exchange-format
/// response out. The boot run attests through the same function.
public enum PerformAttestation {
    /// The request as read (`AttestationRequestFile`: exchange format and
    /// ARCB parsed strictly, buffer sizes exactly the ARCB's).
    public typealias Request = AttestationRequestFile

    /// Parses a request file; a malformed one is invalid input naming its rule.
    public static func parse(_ bytes: [UInt8], file: String) throws(CommandFailure) -> Request {
        do { return try AttestationRequestFile.parse(bytes) } catch {
            throw CommandFailure(.invalidInput, "\(file): \(error)")
        }
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
