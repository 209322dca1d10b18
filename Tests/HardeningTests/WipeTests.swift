// Every SecureBytes made during a codec round trip (build → parse →
// decrypt of a plaintext secret) is wiped by the time it is released, and
// every one is released. Observed through SecureBytes' test hooks, which
// are process-wide statics: the suite is serialized and only events on the
// test's own thread are counted, so parallel tests elsewhere do not count.
import Testing
import TestSupport
import Glibc
import SEBase
import SECrypto
import ASRCodec
import SEVocabulary
import RequestBuilding

#if DEBUG  // SecureBytes' observers exist in debug builds only (SE_TEST_HOOKS).

/// Records the SecureBytes lifecycle events of one thread.
final class LifecycleRecorder: @unchecked Sendable {
    struct Event { let kind: SecureBytes.Lifecycle; let address: UInt; let allZero: Bool }
    private let thread = pthread_self()
    private(set) var events: [Event] = []
    private(set) var wipesSeenByWipeObserver = 0
    private(set) var nonZeroWipes = 0

    func start() {
        SecureBytes.lifecycleObserver = { [self] kind, storage in
            guard pthread_equal(pthread_self(), thread) != 0 else { return }
            events.append(Event(kind: kind, address: UInt(bitPattern: storage.baseAddress),
                                allZero: storage.allSatisfy { $0 == 0 }))
        }
        SecureBytes.wipeObserver = { [self] storage in
            guard pthread_equal(pthread_self(), thread) != 0 else { return }
            wipesSeenByWipeObserver += 1
            if !storage.allSatisfy({ $0 == 0 }) { nonZeroWipes += 1 }
        }
    }

    func stop() {
        SecureBytes.lifecycleObserver = nil
        SecureBytes.wipeObserver = nil
    }

    func count(_ kind: SecureBytes.Lifecycle) -> Int { events.filter { $0.kind == kind }.count }

    /// Buffers created but never released (address → creations outstanding).
    var unreleased: Int {
        var live: [UInt: Int] = [:]
        for e in events {
            switch e.kind {
            case .created: live[e.address, default: 0] += 1
            case .released: live[e.address, default: 0] -= 1
            case .wiped: break
            }
        }
        return live.values.filter { $0 != 0 }.count
    }
}

@Suite(.serialized) struct WipeTests {
    /// Build, parse and decrypt one request; returns whether the value came back.
    func roundTrip(payload: [UInt8]) throws -> Bool {
        let id = SecretID.hashed(name: "wipe-test", sha256: Digest.sha256)
        let value = try SecretValue.plaintext(SecureBytes(copying: payload))
        var b = RequestBuilder(secret: .retrievable(.plain, id: id, value: value), hostKeys: [Keys.host.publicKey], tags: fixedTags)
        b.extensionSecret = .simple(SecureBytes(copying: [UInt8].repeating(0x5A, 32)))
        b.userData = .signed(Array("wipe test".utf8), key: Keys.tenant)
        let bytes = try b.build()
        let request = try AddSecretRequest.parse(bytes)
        guard UserDataSignature.verify(request, with: Keys.tenant.publicKey) == .valid else { return false }
        let plain = try RequestDecryption.decrypt(request, hostKey: Keys.host)
        guard let decoded = SecretValue.decodePlaintext(plain.value) else { return false }
        return decoded.equals(payload) && plain.extensionSecret.equals(.repeating(0x5A, 32))
    }

    @Test func everyBufferOfARoundTripIsWipedWhenReleased() throws {
        _ = (Keys.host, Keys.tenant)  // key generation outside the observed part
        let recorder = LifecycleRecorder()
        recorder.start()
        defer { recorder.stop() }
        let ok = try roundTrip(payload: Array("correct horse battery staple".utf8))
        recorder.stop()
        #expect(ok, "the round trip gives the secret back")

        let created = recorder.count(.created), released = recorder.count(.released)
        // Value, extension secret, protection key, KEKs, ECDH secrets,
        // plaintext and its slices: well over a handful.
        #expect(created >= 8, "SecureBytes created: \(created)")
        #expect(released == created, "created \(created), released \(released)")
        #expect(recorder.unreleased == 0)
        let dirty = recorder.events.filter { $0.kind == .released && !$0.allZero }.count
        #expect(dirty == 0, "\(dirty) buffers were released with non-zero contents")
        #expect(recorder.wipesSeenByWipeObserver >= released)
        #expect(recorder.nonZeroWipes == 0)
    }

    @Test func aWipedBufferIsZeroBeforeItIsReleased() {
        let recorder = LifecycleRecorder()
        recorder.start()
        do {
            let s = SecureBytes(copying: [UInt8](repeating: 0xA5, count: 40))
            s.wipe()
            #expect(s.equals(.repeating(0, 40)))
        }
        recorder.stop()
        #expect(recorder.events.map(\.kind) == [.created, .wiped, .wiped, .released])
        #expect(recorder.events.allSatisfy { $0.kind == .created || $0.allZero })
    }
}
#else
@Suite struct SecureBytesObserverTests {
    @Test(.disabled("SecureBytes' wipe observers exist in debug builds only (SE_TEST_HOOKS, Package.swift); run swift test without -c release"))
    func observersNeedADebugBuild() {}
}
#endif
