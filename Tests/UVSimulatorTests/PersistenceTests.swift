import Foundation
import Testing
import TestSupport
import ASRCodec
import CUVDevice
import SEBase
import SECrypto
import UVDevice
@testable import UVSimulator
import SEVocabulary

/// State directories: separate simulator instances (as separate processes
/// would) see one store.
@Suite struct PersistenceTests {
    /// This test's directory (each test has its own instance of the suite).
    let tmp: TempDir
    init() throws { tmp = try TempDir("sim-state") }

    func makeDirectory(_ configure: (inout SimulatorOptions) -> Void = { _ in }) throws -> SimulatorStateDirectory {
        var o = SimulatorOptions()
        o.maxSecrets = 8
        configure(&o)
        return try SimulatorStateDirectory.create(at: tmp.appending("sim-" + UUID().uuidString), options: o)
    }

    func add(_ t: SimulatedUVTransport, _ request: [UInt8]) -> (Int32, UInt16) {
        var r = request
        let (e, rc): (Int32, UInt16) = r.withUnsafeMutableBytes { raw in
            var cb = se_uvio_ioctl_cb()
            cb.argument_addr = UInt64(UInt(bitPattern: raw.baseAddress))
            cb.argument_len = UInt32(raw.count)
            let e = withUnsafeMutablePointer(to: &cb) { t.ioctl(UVIoctl.addSecret.requestNumber, UnsafeMutableRawPointer($0)) }
            return (e, cb.uv_rc)
        }
        return (e, rc)
    }

    @Test func twoInstancesShareOneStore() throws {
        let dir = try makeDirectory()
        let target = try dir.requestTarget()
        let one = SimulatedUVTransport(directory: try SimulatorStateDirectory(path: dir.path))
        let two = SimulatedUVTransport(directory: try SimulatorStateDirectory(path: dir.path))
        let ext = Random.secureBytes(32)
        var r = SimulatedRequest(.plaintext(SecureBytes(copying: Array("persisted".utf8))), name: "p")
        r.extensionSecret = .simple(ext)
        #expect(add(one, try target.makeRequest(r)) == (0, 0x0001))
        // The second instance sees the pinned extension secret and the store.
        var other = SimulatedRequest(.plaintext(SecureBytes(copying: Array("x".utf8))), name: "q")
        other.extensionSecret = .simple(Random.secureBytes(32))
        #expect(add(two, try target.makeRequest(other)) == (0, 0x010C))
        let state = try dir.loadState()
        #expect(state.store.count == 1)
        let stored = state.store[0].value.equals([0, 9] + Array("persisted".utf8) + [0, 0, 0, 0, 0])
        #expect(stored, "the value is stored as the UV stores it (never printed)")
        #expect(state.isExtensionSecretPinned)

        // Lock through one, refused through the other.
        var cb = se_uvio_ioctl_cb()
        #expect(withUnsafeMutablePointer(to: &cb) { one.ioctl(UVIoctl.lockSecrets.requestNumber, UnsafeMutableRawPointer($0)) } == 0)
        r.name = "after-lock"
        #expect(add(two, try target.makeRequest(r)) == (0, 0x0102))
        let after = try dir.loadState()
        #expect(after.isLocked)
        #expect(after.acceptedRequestTags == state.acceptedRequestTags)
        #expect(after.secretStoreHash == SecretStoreHash.compute(tags: state.acceptedRequestTags, locked: true,
                                                                 sha512: { Digest.sha512($0) }))
    }

    @Test func faultsPersistAndAreConsumed() throws {
        let dir = try makeDirectory()
        try dir.withLockedState { $0.faults.dumpInProgressAdds = 1 }
        let t = SimulatedUVTransport(directory: dir)
        let req = try dir.requestTarget().makeRequest(SimulatedRequest(.meta))
        #expect(add(t, req) == (0, 0x010D))
        #expect(add(t, req) == (0, 0x0001))
        #expect(try dir.loadState().faults.dumpInProgressAdds == 0)

        // A copy-back fault survives the round trip through state.json, stage included.
        let fault = SimulatorFaults.ErrnoFault(ioctl: .addSecret, errno: EFAULT, count: 1, after: 0, stage: .copyBack)
        try dir.withLockedState { $0.faults.errnoFaults = [fault] }
        #expect(try dir.loadState().faults.errnoFaults == [fault])
        #expect(add(t, req).0 == EFAULT)
        #expect(try dir.loadState().acceptedRequestTags.count == 2, "the ultravisor acted before the fault")
    }

    @Test func filesAndModes() throws {
        let dir = try makeDirectory()
        let fm = FileManager.default
        func mode(_ name: String) throws -> Int {
            (try fm.attributesOfItem(atPath: dir.path + "/" + name)[.posixPermissions] as! NSNumber).intValue
        }
        #expect(try mode("secrets.bin") == 0o600)
        #expect(try mode("host-key.pem") == 0o600)
        #expect(try mode("state.json") == 0o600)
        #expect(try mode("host-key.crt") == 0o644)
        // The host-key document carries the host key.
        let doc = try PublicKey.load(Array(try Data(contentsOf: URL(fileURLWithPath: dir.hostKeyDocumentPath))))
        #expect(try RequestKeys.hostKeyHash(doc) == (try dir.loadState()).hostKeyHash)
        // The SE header carries the image's tags, as the tenant's verifier reads them.
        #expect(try mode("se-header.bin") == 0o644)
        let header = Array(try Data(contentsOf: URL(fileURLWithPath: dir.seHeaderPath)))
        #expect(try SEHeader.tags(from: header) == (try dir.loadState()).config.imageTags)
        // Version 0x100, as pvimg writes it: IBM's pvattest and pvsecret refuse the header otherwise.
        #expect(Array(header[0x08..<0x0C]) == [0, 0, 1, 0])
        // state.json holds no secret: the pinned secret and values are in secrets.bin only.
        let json = try String(contentsOfFile: dir.path + "/state.json", encoding: .utf8)
        #expect(json.contains("\"host_key_hash\""))
        #expect(!json.contains("PRIVATE"))
    }

    @Test func generatedSysfsTreeReads() throws {
        let dir = try makeDirectory()
        let sysfs = UVSysfs(root: dir.sysfsRoot)
        #expect(try sysfs.isSecureExecutionGuest() == false)
        let q = try sysfs.query()
        #expect(q.maxSecrets == 8)
        #expect(q.maxAssociationSecrets == 2 && q.maxRetrievableSecrets == 6)
        #expect(q.isInstalled(.retrieveSecret) == true)
        #expect(q.addSecretVersions == [0x100])
        #expect(q.disableDumpFlagSupported == true)
        #expect(q.secretTypeCodes?.contains(SecretType.plain.rawValue) == true)
        #expect(q.secretTypeCodes?.contains(SecretType.updateCCK.rawValue) == false)
        let keys = try #require(try sysfs.hostKeyHashes())
        #expect(keys.hostKey == (try dir.loadState()).hostKeyHash)
        #expect(keys.all.count == 15)
        #expect(keys.knownHashes.count == 1)
    }

    @Test func olderKernelsHaveFewerSysfsFiles() throws {
        let dir = try makeDirectory { $0.kernel = .linux6_5 }
        let q = try UVSysfs(root: dir.sysfsRoot).query()
        #expect(q.maxSecrets == 8 && q.maxAssociationSecrets == nil)
        #expect(try UVSysfs(root: dir.sysfsRoot).hostKeyHashes() == nil)
        let oldest = try makeDirectory { $0.kernel = .linux5_19 }
        #expect(try UVSysfs(root: oldest.sysfsRoot).query().supportedSecretTypes == nil)
    }

    @Test func refusedInARealSecureGuest() throws {
        let guest = try makeDirectory { $0.protVirtGuest = true }
        #expect(throws: SimulatedUVTransport.Refused.self) {
            _ = try SimulatedUVTransport.open(stateDirectory: guest.path, sysfs: UVSysfs(root: guest.sysfsRoot))
        }
        let dev = try makeDirectory()
        _ = try SimulatedUVTransport.open(stateDirectory: dev.path, sysfs: UVSysfs(root: dev.sysfsRoot))
        // The machine's own sysfs counts too: a fake tree cannot hide a real guest.
        #expect(throws: SimulatedUVTransport.Refused.self) {
            _ = try SimulatedUVTransport.open(stateDirectory: dev.path, sysfs: UVSysfs(root: dev.sysfsRoot),
                                              machine: UVSysfs(root: guest.sysfsRoot))
        }
        _ = try SimulatedUVTransport.open(stateDirectory: dev.path, sysfs: UVSysfs(root: dev.path + "/nonexistent"))
    }

    @Test func damagedStateIsAnEIOWithAReason() throws {
        let dir = try makeDirectory()
        let t = SimulatedUVTransport(directory: dir)
        var bin = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/secrets.bin"))
        bin[8] ^= 1  // revision no longer matches state.json
        try bin.write(to: URL(fileURLWithPath: dir.path + "/secrets.bin"))
        var cb = se_uvio_ioctl_cb()
        #expect(withUnsafeMutablePointer(to: &cb) { t.ioctl(UVIoctl.lockSecrets.requestNumber, UnsafeMutableRawPointer($0)) } == EIO)
        #expect("\(t.lastStateError!)".contains("disagree"))
        // Truncated JSON, oversize files: refused, never a crash.
        try Data("{\"format\":".utf8).write(to: URL(fileURLWithPath: dir.path + "/state.json"))
        #expect(throws: (any Error).self) { _ = try dir.loadState() }
    }

    /// A caller killed between the two writes of a save (the boot run's
    /// SIGKILL test hit this window): the next reader gets the last
    /// committed revision, whole, not a "damaged" state.
    @Test func aSaveCutBetweenItsWritesLeavesTheCommittedRevision() throws {
        let dir = try makeDirectory()
        let t = SimulatedUVTransport(directory: dir)
        let target = try dir.requestTarget()
        #expect(add(t, try target.makeRequest(SimulatedRequest(.plaintext(SecureBytes(copying: Array("one".utf8))), name: "one"))) == (0, 0x0001))
        let committedJSON = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/state.json"))
        let committedSecrets = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/secrets.bin"))
        #expect(add(t, try target.makeRequest(SimulatedRequest(.plaintext(SecureBytes(copying: Array("two".utf8))), name: "two"))) == (0, 0x0001))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/secrets.prev"), "a finished save leaves no second copy")
        // The files as a kill after the secrets write leaves them: the new
        // secrets, the old state.json, the committed secrets kept aside.
        try committedJSON.write(to: URL(fileURLWithPath: dir.path + "/state.json"))
        try committedSecrets.write(to: URL(fileURLWithPath: dir.path + "/secrets.prev"))
        let state = try dir.loadState()
        #expect(state.store.count == 1 && state.acceptedRequestTags.count == 1)
        // Without the kept copy it is damaged, and says so.
        unlink(dir.path + "/secrets.prev")
        #expect(throws: (any Error).self) { _ = try dir.loadState() }
    }

    @Test func createRefusesAnExistingState() throws {
        let dir = try makeDirectory()
        #expect(throws: (any Error).self) { try SimulatorStateDirectory.create(at: dir.path, options: SimulatorOptions()) }
    }

    @Test func importsHostKeyAndSEHeaderTags() throws {
        let key = try PrivateKey.generate(.ec(.p521))
        var header = Array("IBMSecEx".utf8) + [0, 0, 1, 0]
        header.appendBE(UInt32(0x1A0 + 16))
        header += [UInt8](repeating: 0, count: 0xE0 - header.count)
        header += (0..<(0x1A0 - 0xE0)).map { UInt8(truncatingIfNeeded: $0) } + [UInt8](repeating: 0x77, count: 16)
        let dir = try makeDirectory {
            $0.hostKey = Array(key.privateKeyPEM.utf8)
            $0.seHeader = header
            $0.configUID = [UInt8](repeating: 0x42, count: 16)
        }
        let state = try dir.loadState()
        #expect(state.hostKeyHash == (try RequestKeys.hostKeyHash(key.publicKey)))
        #expect(state.config.imageTags.tag == [UInt8](repeating: 0x77, count: 16))
        #expect(state.config.imageTags.pld == (0..<64).map { UInt8($0) })
        #expect(state.config.configUID == [UInt8](repeating: 0x42, count: 16))
        #expect(throws: (any Error).self) {
            _ = try SimulatorState(options: { var o = SimulatorOptions(); o.hostKey = Array(try! PrivateKey.generate(.ec(.p256)).privateKeyPEM.utf8); return o }())
        }
    }
}
