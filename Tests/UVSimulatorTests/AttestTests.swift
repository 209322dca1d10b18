import Testing
import Glibc
import ASRCodec
import SEBase
import SECrypto
import UVDevice
import Attestation
import RequestBuilding
import TestSupport
@testable import UVSimulator

/// The simulated ultravisor's ATT: a tenant's attestation request (made as
/// `pvattest create` makes it) decrypted with the simulated host key, the
/// measurement over this guest's image and config UID, and additional data
/// with the secret-store hash the store holds, checked by the tenant's
/// verification (docs/attestation.md).
@Suite struct SimulatedAttestationTests {
    static let flags: AttestationFlags = [.imagePHKH, .attestationPHKH, .secretStoreHash]

    func attest(_ sim: Sim, _ built: AttestationRequestBuilder.Built, flags: AttestationFlags = flags,
                userData: [UInt8] = Array(repeating: 0x15, count: 40),
                measurementLength: Int = 64, additionalDataLength: Int? = nil) throws -> UVClient.AttestationAnswer {
        try attest(sim, arcb: built.arcb, flags: flags, userData: userData, measurementLength: measurementLength,
                   additionalDataLength: additionalDataLength)
    }

    func attest(_ sim: Sim, arcb: [UInt8], flags: AttestationFlags = flags,
                userData: [UInt8] = Array(repeating: 0x15, count: 40),
                measurementLength: Int = 64, additionalDataLength: Int? = nil) throws -> UVClient.AttestationAnswer {
        try UVClient(transport: sim.transport).attest(request: arcb, measurementLength: measurementLength,
                                                      additionalDataLength: additionalDataLength ?? flags.additionalDataSize,
                                                      userData: userData)
    }

    func items(_ sim: Sim, _ built: AttestationRequestBuilder.Built, _ a: UVClient.AttestationAnswer,
               userData: [UInt8] = Array(repeating: 0x15, count: 40)) -> MeasuredItems {
        MeasuredItems(tags: sim.state.config.imageTags, configUID: a.configUID, userData: userData,
                      nonce: built.nonce, additionalData: a.additionalData)
    }

    func rc(_ body: () throws -> Any) -> UInt16? {
        do { _ = try body(); return nil } catch { return (error as? UVError)?.callFailure?.rc }
    }

    @Test func theTenantVerifiesTheMeasurementAndTheStoreItNames() throws {
        let sim = try Sim()
        // Two requests added, then locked: the store's hash covers both tags and the lock.
        let a = try sim.plaintext("one", "first value")
        let b = try sim.plaintext("two", "second value")
        #expect(sim.add(a) == 1 && sim.add(b) == 1)
        #expect(sim.state.isLocked == false)
        try UVClient(transport: sim.transport).lock()
        let built = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: Self.flags).build()
        let answer = try attest(sim, built)
        #expect(answer.configUID == sim.state.config.configUID)
        #expect(try Measurement.verify(answer.measurement, key: built.measurementKey, items: items(sim, built, answer)))
        let add = try AdditionalData.parse(answer.additionalData, flags: try AttestationRequest.parse(built.arcb).flags)
        let expected = SecretStoreHash.compute(tags: [Array(a.suffix(16)), Array(b.suffix(16))], locked: true, sha512: Digest.sha512)
        #expect(add.secretStoreHash == expected)
        #expect(add.imagePHKH == sim.state.hostKeyHash && add.attestationPHKH == sim.state.hostKeyHash)
        #expect(add.firmwareState == nil)
        // Another measurement key, other user data or other additional data do not verify.
        var other = items(sim, built, answer)
        other.userData[0] ^= 1
        #expect(try !Measurement.verify(answer.measurement, key: built.measurementKey, items: other))
        other = items(sim, built, answer)
        other.additionalData[0] ^= 1
        #expect(try !Measurement.verify(answer.measurement, key: built.measurementKey, items: other))
        #expect(try !Measurement.verify(answer.measurement, key: Random.secureBytes(64), items: items(sim, built, answer)))
    }

    @Test func theStoreHashFollowsTheLockAndEachAdd() throws {
        let sim = try Sim()
        let built = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: [.secretStoreHash]).build()
        func hash() throws -> [UInt8]? {
            try AdditionalData.parse(try attest(sim, built, flags: [.secretStoreHash]).additionalData, flags: try AttestationRequest.parse(built.arcb).flags).secretStoreHash
        }
        #expect(try hash() == SecretStoreHash.compute(tags: [], locked: false, sha512: Digest.sha512))
        let a = try sim.plaintext("one", "v")
        #expect(sim.add(a) == 1)
        #expect(try hash() == SecretStoreHash.compute(tags: [Array(a.suffix(16))], locked: false, sha512: Digest.sha512))
        try UVClient(transport: sim.transport).lock()
        #expect(try hash() == sim.state.secretStoreHash)
        #expect(try hash() == SecretStoreHash.compute(tags: [Array(a.suffix(16))], locked: true, sha512: Digest.sha512))
    }

    @Test func allFourKindsOfAdditionalDataComeInTheirOrder() throws {
        let sim = try Sim()
        let all = AttestationFlags.additionalData
        let built = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: all).build()
        let answer = try attest(sim, built, flags: all)
        #expect(answer.additionalData.count == 32 + 32 + 64 + 320)
        let add = try AdditionalData.parse(answer.additionalData, flags: try AttestationRequest.parse(built.arcb).flags)
        #expect(add.firmwareState?.count == 320)
        #expect(try Measurement.verify(answer.measurement, key: built.measurementKey, items: items(sim, built, answer)))
    }

    @Test func aRequestForAnotherHostOrTamperedIsNotDecrypted() throws {
        let sim = try Sim()
        let foreign = try AttestationRequestBuilder(hostKeys: [Keys.otherHost.publicKey], additionalData: Self.flags).build()
        #expect(rc { try attest(sim, foreign) } == 0x010C)
        let good = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: Self.flags).build()
        // A byte of the encrypted area, of the keyslot, of the authenticated header.
        for offset in [good.arcb.count - 20, 0xE0 + 40, ARCBLayout.customerKeyOffset + 5] {
            var bytes = good.arcb
            bytes[offset] ^= 0x01
            #expect(rc { try attest(sim, arcb: bytes) } == 0x010C, "byte \(offset)")
        }
        var version = good.arcb
        version[0x0B] ^= 0x01
        #expect(rc { try attest(sim, arcb: version) } == 0x0106)
    }

    /// Each return code of the ATT path, from a request broken in one way.
    @Test func eachRefusalHasItsReturnCode() throws {
        let sim = try Sim()
        let good = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: Self.flags).build()
        func rcOf(_ change: (inout [UInt8]) -> Void) -> UInt16? {
            var b = good.arcb
            change(&b)
            return rc { try attest(sim, arcb: b) }
        }
        #expect(rcOf { _ in } == nil)
        #expect(rcOf { $0.append(0) } == 0x0107)                                  // trailing byte
        #expect(rcOf { $0[ARCBLayout.reserved3C] = 1 } == 0x0107)                 // reserved byte
        #expect(rcOf { $0[ARCBLayout.flagsOffset] |= 0x80 } == 0x010A)            // bit 0, reserved
        #expect(rcOf { $0[ARCBLayout.flagsOffset + 7] |= 0x01 } == 0x010A)        // bit 63
        #expect(rcOf { $0[ARCBLayout.measurementAlgorithmOffset + 3] ^= 0x03 } == 0x010B)
        // User data longer than 256 bytes reaches the ultravisor only through a raw call.
        let uv = SimulatedUltravisor(state: sim.state)
        let long = uv.attest(arcb: good.arcb, userDataArea: [UInt8](repeating: 0, count: 256), userDataLength: 257,
                             measurementLength: 64, additionalDataLength: Self.flags.additionalDataSize)
        #expect(long.result.rc == 0x0102)
        // The parser's rules without a request of their own map as the reference lists them.
        #expect(SimulatedUltravisor.rc(for: .noKeyslots) == 0x0108)
        #expect(SimulatedUltravisor.rc(for: .badEncryptedSize) == 0x0109)
        #expect(SimulatedUltravisor.rc(for: .badVersion) == 0x0106)
        #expect(SimulatedUltravisor.rc(for: .badLength) == 0x0107)
    }

    @Test func buffersTooSmallForTheAnswerAreRefused() throws {
        let sim = try Sim()
        let built = try AttestationRequestBuilder(hostKeys: [sim.state.hostPublicKey], additionalData: Self.flags).build()
        #expect(rc { try attest(sim, built, measurementLength: 63) } == 0x010D)
        #expect(rc { try attest(sim, built, additionalDataLength: Self.flags.additionalDataSize - 1) } == 0x010E)
        // Bigger buffers (the driver's rule, as the kernel allows them): the answer sits at their
        // start, the rest stays zero. se-secretd attest never asks for them (PerformAttestation).
        let a = try attest(sim, built, measurementLength: 80, additionalDataLength: Self.flags.additionalDataSize + 8)
        #expect(a.measurement.suffix(16).allSatisfy { $0 == 0 })
        #expect(a.additionalData.suffix(8).allSatisfy { $0 == 0 })
    }
}
