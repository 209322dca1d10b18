import Glibc
import Testing
import ASRCodec
import SEBase
import SECrypto
@testable import UVDevice
import UVSimulator
import SEVocabulary

/// The kernel client's code path against the simulator: only the final
/// ioctl is swapped, so the control blocks and buffers are what the kernel
/// would see. Secret values are compared, never printed.
@Suite struct ClientTests {
    struct World {
        let state: SimulatorState
        let client: UVClient
        var target: RequestTarget { state.requestTarget }

        init(kernel: KernelGeneration = .linux6_13, _ configure: (inout SimulatorOptions) -> Void = { _ in }) throws {
            var o = SimulatorOptions()
            o.kernel = kernel
            o.maxRetrievableSecrets = 200
            o.maxAssociationSecrets = 10
            configure(&o)
            state = try SimulatorState(options: o)
            client = UVClient(transport: SimulatedUVTransport(state: state))
        }

        func request(_ r: SimulatedRequest) throws -> [UInt8] { try target.makeRequest(r) }

        func plaintext(_ name: String, _ payload: [UInt8]) throws -> [UInt8] {
            try request(SimulatedRequest(.plaintext(SecureBytes(copying: payload)), name: name))
        }

        /// The rc of a refused add (nil if it was accepted or failed otherwise).
        func addRC(_ request: [UInt8]) -> UInt16? {
            do { try client.addSecret(request); return nil } catch { return error.callFailure?.rc }
        }
    }

    enum Expected {
        case plaintext([UInt8])
        case key(SecureBytes)
        case association
    }

    @Test func endToEndAddListLockRetrieve() throws {
        let w = try World()
        #expect(try w.client.info() == UVInfo(driverIoctls: 0x3F, ultravisorCalls: 0x3E))

        // A request set: 100 plaintext secrets (0 to 8190 bytes), every key type, associations.
        var expected: [[UInt8]: Expected] = [:]
        var requests: [[UInt8]] = []
        for i in 0..<100 {
            let size = i == 0 ? 0 : (i == 99 ? SecretValue.maxPlaintextPayload : (i * 37) % 600)
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            requests.append(try w.plaintext("plain-\(i)", payload))
            expected[Digest.sha256(Array("plain-\(i)".utf8))] = .plaintext(payload)
        }
        for t: SecretType in [.aes128, .aes192, .aes256, .aesXTS128, .aesXTS256, .hmacSHA256, .hmacSHA512] {
            let key = Random.secureBytes(t.fixedLength!)
            requests.append(try w.request(SimulatedRequest(.key(t, key), name: t.name)))
            expected[Digest.sha256(Array(t.name.utf8))] = .key(key)
        }
        for g: PrivateKey.GenerateType in [.ec(.p256), .ec(.p384), .ec(.p521), .ed25519, .ed448] {
            let k = try PrivateKey.generate(g)
            let name = "\(k.keyType)"
            requests.append(try w.request(SimulatedRequest(.privateKey(k), name: name)))
            expected[Digest.sha256(Array(name.utf8))] = .key(try SecretValue.privateKey(k).1)
        }
        for i in 0..<3 {
            requests.append(try w.request(SimulatedRequest(.association(nil), name: "assoc-\(i)")))
            expected[Digest.sha256(Array("assoc-\(i)".utf8))] = .association
        }
        requests.append(try w.request(SimulatedRequest(.meta)))
        for r in requests { try w.client.addSecret(r) }

        // LIST: more than 85 secrets, in one ioctl on 6.13.
        let listing = try w.client.listSecrets()
        #expect(listing.isComplete && !listing.fellBackToOnePage)
        #expect(listing.list.entries.count == expected.count && expected.count > 85)
        #expect(listing.list.totalCount == expected.count)
        #expect(Set(listing.list.entries.map(\.id)) == Set(expected.keys))

        try w.client.lock()
        #expect(throws: UVError.ultravisor(UVCallFailure(ioctl: .lockSecrets, rc: 0x0102, rrc: 0))) { try w.client.lock() }
        #expect(w.addRC(try w.plaintext("after-lock", [1])) == 0x0102)

        // RETR every entry, sized from the list.
        var retrieved = 0
        for entry in listing.list.entries {
            switch expected[entry.id]! {
            case let .plaintext(payload):
                let stored = try w.client.retrieve(entry)
                #expect(stored.count == Int(entry.length))
                let decoded = SecretValue.decodePlaintext(stored)
                let same = decoded?.equals(payload) ?? false
                #expect(same, "plaintext at index \(entry.index) comes back byte-exact")
                retrieved += 1
            case let .key(raw):
                let blob = try w.client.retrieve(entry)
                #expect(blob.count == entry.type?.protectedKeySize)
                let inner = w.state.unwrapProtectedKey(blob, entry: entry)
                let same = inner.map { k in raw.withUnsafeBytes { k.equals(Array($0)) } } ?? false
                #expect(same, "protected key at index \(entry.index) wraps the original key")
                retrieved += 1
            case .association:
                #expect(throws: UVError.ultravisor(UVCallFailure(ioctl: .retrieveSecret, rc: 0x0111, rrc: 0))) {
                    _ = try w.client.retrieve(entry)
                }
            }
        }
        #expect(retrieved == expected.count - 3)
        #expect(w.state.secretStoreHash == SecretStoreHash.compute(tags: requests.map { Array($0.suffix(16)) },
                                                                   locked: true, sha512: { Digest.sha512($0) }))
    }

    @Test func refusalsCarryTheirCodes() throws {
        let w = try World()
        let ext = Random.secureBytes(32)
        var first = SimulatedRequest(.plaintext(SecureBytes(copying: [1, 2, 3])), name: "first")
        first.extensionSecret = .simple(ext)
        let good = try w.request(first)
        var tampered = good
        tampered[tampered.count - 30] ^= 0x80
        #expect(w.addRC(tampered) == 0x0108, "tampered copy")
        try w.client.addSecret(good)

        var r = SimulatedRequest(.plaintext(SecureBytes(copying: [4])), name: "x")
        r.extensionSecret = .simple(ext)
        r.replacementHostKeys = [try PrivateKey.generate(.ec(.p521)).publicKey]
        #expect(w.addRC(try w.request(r)) == 0x0108, "another host")
        r.replacementHostKeys = nil
        var tags = w.state.config.imageTags
        tags.tld[0] ^= 0xFF
        r.replacementTags = tags
        #expect(w.addRC(try w.request(r)) == 0x0108, "another image")
        r.replacementTags = nil
        r.configUID = .explicit([UInt8](repeating: 0xEE, count: 16))
        #expect(w.addRC(try w.request(r)) == 0x0108, "CUID mismatch")
        r.configUID = .simulator
        r.extensionSecret = .simple(Random.secureBytes(32))
        #expect(w.addRC(try w.request(r)) == 0x010C, "extension-secret mismatch")
        r.extensionSecret = .simple(ext)
        try w.client.addSecret(try w.request(r))
        #expect(try w.client.listAllSecrets().entries.count == 2)
    }

    @Test func capacityDumpAndErrnoFaults() throws {
        let w = try World { $0.maxRetrievableSecrets = 1 }
        w.state.faults.dumpInProgressAdds = 1
        let req = try w.plaintext("p", [9])
        do {
            try w.client.addSecret(req)
            Issue.record("expected dump in progress")
        } catch {
            #expect(error.callFailure?.rc == 0x010D)
            #expect(error.callFailure?.isRetryable == true)
        }
        try w.client.addSecret(req)
        #expect(w.addRC(try w.plaintext("q", [9])) == 0x010B, "store full")

        w.state.faults.errnoFaults = [.init(ioctl: .listSecrets, errno: EIO, count: 1)]
        #expect(throws: UVError.self) { _ = try w.client.listSecrets() }
        #expect(try w.client.listSecrets().list.entries.count == 1)
        w.state.faults.errnoFaults = [.init(ioctl: .addSecret, errno: EFAULT, count: 1)]
        do { try w.client.addSecret(req); Issue.record("expected EFAULT") } catch { #expect(error.errno == EFAULT) }
    }

    @Test func oldDriverWithoutINFO() throws {
        let w = try World(kernel: .linux5_19)
        let info = try w.client.info()
        #expect(info == .legacyDriver && info.isLegacyDriver)
        #expect(info.driverImplements(.attest) && !info.driverImplements(.addSecret))
        #expect(info.ultravisorOffers(.attest) == nil)
        let request = try w.plaintext("p", [1])
        do { try w.client.addSecret(request); Issue.record("expected ENOTTY") } catch {
            #expect(error.errno == ENOTTY)
        }
        do { _ = try w.client.listSecrets(); Issue.record("expected ENOTTY") } catch { #expect(error.errno == ENOTTY) }
    }

    @Test func onePageKernelFallsBackAndReportsIncomplete() throws {
        let w = try World(kernel: .linux6_5)
        #expect(try w.client.info().driverIoctls == 0x1F)
        for i in 0..<90 { try w.client.addSecret(try w.plaintext("s\(i)", [UInt8(i)])) }
        let listing = try w.client.listSecrets()
        #expect(listing.fellBackToOnePage && listing.pages == 1)
        #expect(!listing.isComplete)
        #expect(listing.list.entries.count == 85 && listing.list.totalCount == 90)
        #expect(throws: UVError.incompleteList(returned: 85, total: 90)) { _ = try w.client.listAllSecrets() }
        do { _ = try w.client.retrieve(listing.list.entries[0]); Issue.record("expected ENOTTY") } catch {
            #expect(error.errno == ENOTTY)
        }
    }

    @Test func multiPageKernelGrowsTheBufferForMoreData() throws {
        let w = try World()
        for i in 0..<100 { try w.client.addSecret(try w.plaintext("s\(i)", [UInt8(i)])) }
        w.client.listPages = 1
        let listing = try w.client.listSecrets()
        #expect(listing.isComplete && listing.pages == 2 && !listing.fellBackToOnePage)
        #expect(listing.list.entries.map(\.index) == Array(0..<100))
    }

    @Test func retrieveBufferRules() throws {
        let w = try World()
        try w.client.addSecret(try w.plaintext("p", Array(repeating: 7, count: 20)))
        let entry = try w.client.listAllSecrets().entries[0]
        #expect(entry.length == 32)
        #expect(throws: UVError.ultravisor(UVCallFailure(ioctl: .retrieveSecret, rc: 0x0109, rrc: 0))) {
            _ = try w.client.retrieve(index: entry.index, length: 16)
        }
        #expect(throws: UVError.ultravisor(UVCallFailure(ioctl: .retrieveSecret, rc: 0x0110, rrc: 0))) {
            _ = try w.client.retrieve(index: 5, length: 32)
        }
        if case .invalidArgument = try uvError(of: { try w.client.retrieve(index: 0, length: 0x2001) }) {} else {
            Issue.record("expected invalidArgument")
        }
        // A bigger buffer returns the secret at its start, zeros after.
        let big = try w.client.retrieve(index: 0, length: 64)
        let tailZero = (32..<64).allSatisfy { big[$0] == 0 }
        #expect(big.count == 64 && tailZero)
    }
}

/// Runs `body` and returns the UVError it throws.
func uvError(of body: () throws -> some Any, sourceLocation: SourceLocation = #_sourceLocation) throws -> UVError {
    do {
        _ = try body()
    } catch let e as UVError {
        return e
    }
    Issue.record("expected a UVError", sourceLocation: sourceLocation)
    throw UVError.invalidArgument("no error")
}

@Suite struct SecretListOccurrenceTests {
    @Test func anIDIsAbsentOnceOrRepeated() {
        let a = SecretListEntry(index: 0, typeCode: 3, length: 32, id: Array(repeating: 1, count: 32))
        let b = SecretListEntry(index: 1, typeCode: 3, length: 32, id: Array(repeating: 2, count: 32))
        let b2 = SecretListEntry(index: 2, typeCode: 3, length: 32, id: Array(repeating: 2, count: 32))
        let list = SecretList(entries: [a, b, b2], totalCount: 3, nextIndex: 0)
        #expect(list.occurrence(ofID: a.id) == .once(a))
        #expect(list.occurrence(ofID: b.id) == .repeated([b, b2]))
        #expect(list.occurrence(ofID: Array(repeating: 3, count: 32)) == .absent)
    }
}
