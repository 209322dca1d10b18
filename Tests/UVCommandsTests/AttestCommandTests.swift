import Foundation
import Testing
import Glibc
import SEBase
import SECrypto
import ASRCodec
import UVDevice
import UVSimulator
import Attestation
import RequestBuilding
import TestSupport
import SecretdCLI

/// `se-secretd attest REQUEST RESPONSE`: pvattest perform's job, checked the
/// way the tenant checks it (the measurement under the request's key).
@Suite struct AttestCommandTests {
    struct Setup {
        let sim: SimDir
        let built: AttestationRequestBuilder.Built
        let requestPath: String
        let state: SimulatorState

        init(_ flags: AttestationFlags = [.imagePHKH, .secretStoreHash], hostKey: PublicKey? = nil) throws {
            sim = try SimDir()
            let dir = try SimulatorStateDirectory(path: sim.state)
            state = try dir.loadState()
            built = try AttestationRequestBuilder(hostKeys: [hostKey ?? state.hostPublicKey], additionalData: flags).build()
            let exchange = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb))
            requestPath = try sim.file("attreq.bin", exchange.bytes)
        }
    }

    @Test func theResponseVerifiesUnderTheTenantsKeyWithTheStoreHashAndUserData() throws {
        let s = try Setup()
        let user = try s.sim.file("user.bin", Array("boot 42".utf8))
        let out = s.sim.root + "/attresp.bin"
        let r = cli(["attest"] + s.sim.backend + ["--user-data", user, s.requestPath, out])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("wrote the attestation response to \(out)"))
        #expect(r.err.contains("additional data: phkh-img, secret-store-hash"))
        let response = try AttestationExchangeResponse.parse(try FileIO.read(out, limit: 1 << 20))
        #expect(response.arcb == s.built.arcb)
        #expect(response.userData == Array("boot 42".utf8))
        #expect(response.configUID == s.state.config.configUID)
        let items = MeasuredItems(tags: s.state.config.imageTags, configUID: response.configUID, userData: Array("boot 42".utf8),
                                  nonce: s.built.nonce, additionalData: response.additionalData ?? [])
        #expect(try Measurement.verify(response.measurement, key: s.built.measurementKey, items: items))
        let add = try AdditionalData.parse(response.additionalData ?? [], flags: try AttestationRequest.parse(s.built.arcb).flags)
        #expect(add.secretStoreHash == SecretStoreHash.compute(tags: [], locked: false, sha512: Digest.sha512))
        #expect(add.imagePHKH == s.state.hostKeyHash)
    }

    @Test func aRequestForAnotherHostIsRefusedByTheUltravisor() throws {
        let s = try Setup(hostKey: Keys.otherHost.publicKey)
        let r = cli(["attest"] + s.sim.backend + [s.requestPath, s.sim.root + "/attresp.bin"])
        #expect(r.code == 76, "\(r.err)")
        #expect(r.err.contains("0x010c"))
        #expect(FileManager.default.fileExists(atPath: s.sim.root + "/attresp.bin") == false)
    }

    @Test func aMalformedRequestIsNamedWithItsRule() throws {
        let s = try Setup()
        var bytes = try FileIO.read(s.requestPath, limit: 1 << 20)
        bytes[0] ^= 0x20
        let bad = try s.sim.file("bad.bin", bytes)
        let r = cli(["attest"] + s.sim.backend + [bad, s.sim.root + "/attresp.bin"])
        #expect(r.code == 65, "\(r.err)")
        #expect(r.err.contains("\(bad): not an attestation request in pvattest's exchange format"))
        let big = try s.sim.file("big-user", Array(repeating: 1, count: 257))
        let r2 = cli(["attest"] + s.sim.backend + ["-u", big, s.requestPath, s.sim.root + "/attresp.bin"])
        #expect(r2.code == 65, "\(r2.err)")
        #expect(r2.err.contains("user data is at most 256 bytes"))
    }

    /// The tenant's whole round trip through the commands: `attestation
    /// create` → the guest's `attest` → the tenant opens the request in the
    /// response with its protection key and checks the measurement.
    @Test func createAttestAndCheckThroughTheCommands() throws {
        let sim = try SimDir()
        let state = try SimulatorStateDirectory(path: sim.state).loadState()
        let (req, arpk, resp) = (sim.root + "/attreq.bin", sim.root + "/arp.key", sim.root + "/attresp.bin")
        let c = cli(["attestation", "create", "-k", sim.state + "/host-key.crt", "--arpk", arpk, "-o", req,
                     "--add-data", "phkh-img,secret-store-hash"])
        #expect(c.code == 0, "\(c.err)")
        #expect(c.out.contains("additional data: phkh-img, secret-store-hash"))
        var st = stat()
        #expect(stat(arpk, &st) == 0 && st.st_mode & 0o777 == 0o600 && st.st_size == 32)
        let a = cli(["attest"] + sim.backend + [req, resp])
        #expect(a.code == 0, "\(a.err)")
        let response = try AttestationExchangeResponse.parse(try FileIO.read(resp, limit: 1 << 20))
        let arcb = try AttestationRequest.parse(response.arcb)
        let key = SecureBytes(copying: try FileIO.read(arpk, limit: 64))
        let confidential = try arcb.decrypt(protectionKey: key)
        let items = MeasuredItems(tags: state.config.imageTags, configUID: response.configUID, userData: [],
                                  nonce: confidential.nonce, additionalData: response.additionalData ?? [])
        #expect(try Measurement.verify(response.measurement, key: confidential.measurementKey, items: items))
        #expect(try AdditionalData.parse(response.additionalData ?? [], flags: arcb.flags).imagePHKH == state.hostKeyHash)
        // Another protection key does not open it.
        #expect(throws: (any Error).self) { try arcb.decrypt(protectionKey: Random.secureBytes(32)) }
        // An unknown --add-data name is a usage error.
        #expect(cli(["attestation", "create", "-k", sim.state + "/host-key.crt", "--arpk", arpk, "-o", req, "--add-data", "nope"]).code == 64)
    }

    @Test func aBrokenARCBOrAFileWithOtherSizesIsRefusedWithItsRule() throws {
        let s = try Setup()
        let arcb = try AttestationRequest.parse(s.built.arcb)
        // The ARCB's version changed inside a well-formed exchange file.
        var broken = s.built.arcb
        broken[0x0B] ^= 1
        let bad = try s.sim.file("bad-arcb.bin",
                                 try AttestationExchangeRequest(arcb: broken, measurementSize: 64, additionalDataSize: arcb.additionalDataSize).bytes)
        let r = cli(["attest"] + s.sim.backend + [bad, s.sim.root + "/attresp.bin"])
        #expect(r.code == 65, "\(r.err)")
        #expect(r.err.contains("the attestation request control block is invalid") && r.err.contains("[bad-version]"))
        // The same ARCB with a bigger additional-data size in the (unauthenticated) file header.
        let inflated = try s.sim.file("inflated.bin",
                                      try AttestationExchangeRequest(arcb: s.built.arcb, measurementSize: 64,
                                                                     additionalDataSize: arcb.additionalDataSize + 16).bytes)
        let r2 = cli(["attest"] + s.sim.backend + [inflated, s.sim.root + "/attresp.bin"])
        #expect(r2.code == 65, "\(r2.err)")
        #expect(r2.err.contains("the request's flags ask for \(arcb.additionalDataSize)"))
    }

    @Test func theProtectionKeyAndTheRequestNeedTwoFiles() throws {
        let sim = try SimDir()
        let same = sim.root + "/both"
        let r = cli(["attestation", "create", "-k", sim.state + "/host-key.crt", "--arpk", same, "-o", same])
        #expect(r.code == 64, "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: same) == false)
    }

    @Test func theReleaseAgentRefusesTheSimulator() throws {
        let s = try Setup()
        let r = cli(["attest"] + s.sim.backend + [s.requestPath, s.sim.root + "/attresp.bin"], edition: .agent)
        #expect(r.code == 64, "\(r.err)")
    }
}
