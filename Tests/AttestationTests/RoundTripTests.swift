// The whole exchange with se-secretd's own pieces (self-consistency; IBM
// pins the pieces, not the ultravisor's side): the tenant builds an ARCB
// (`pvattest create`), the ultravisor decrypts it with its host key and
// measures, the tenant verifies the response with the protection key.
// Every change to what is measured, and a wrong protection key, is refused.
import Testing
import SEBase
import SECrypto
import ASRCodec
import Attestation
import RequestBuilding
import TestSupport

/// One attestation: what the tenant keeps and the response the guest sends.
struct Attested {
    let built: AttestationRequestBuilder.Built
    let tags: SEHeaderTags
    let response: AttestationExchangeResponse
}

/// The ultravisor's side of the ATT call, as the simulator will do it.
func ultravisorAnswer(arcb: [UInt8], host: PrivateKey, tags: SEHeaderTags, configUID: [UInt8], userData: [UInt8],
                      additional: AdditionalData) throws -> AttestationExchangeResponse {
    let request = try AttestationRequest.parse(arcb)
    let conf = try AttestationRequestDecryption.decrypt(request, hostKey: host)
    let add = try additional.bytes(for: request.flags)
    #expect(add.count == request.additionalDataSize)
    let m = try Measurement.compute(key: conf.measurementKey,
                                    items: MeasuredItems(tags: tags, configUID: configUID, userData: userData, nonce: conf.nonce,
                                                         additionalData: add))
    #expect(m.count == request.measurementSize)
    return try AttestationExchangeResponse(arcb: arcb, measurement: m, additionalData: add, userData: userData, configUID: configUID)
}

/// The tenant's verification (`pvattest verify`): the response's ARCB
/// decrypted with the protection key, the measurement recomputed over the
/// tags of the tenant's image and the response's CUID, user and additional data.
func tenantVerifies(_ responseBytes: [UInt8], protectionKey: SecureBytes, tags: SEHeaderTags) -> Bool {
    guard let response = try? AttestationExchangeResponse.parse(responseBytes),
          let request = try? AttestationRequest.parse(response.arcb),
          let conf = try? request.decrypt(protectionKey: protectionKey) else { return false }
    if let add = response.additionalData {
        guard let parsed = try? AdditionalData.parse(add, flags: request.flags), parsed.unrecognized == nil else { return false }
    } else if request.additionalDataSize != 0 { return false }
    let items = MeasuredItems(tags: tags, configUID: response.configUID, userData: response.userData ?? [], nonce: conf.nonce,
                              additionalData: response.additionalData ?? [])
    return (try? Measurement.verify(response.measurement, key: conf.measurementKey, items: items)) ?? false
}

func attest(flags: AttestationFlags = .additionalData, nonce: Bool = true, userData: [UInt8] = Random.bytes(200),
            hostIndex: Int = 1) throws -> Attested {
    var b = AttestationRequestBuilder(hostKeys: Keys.hosts.prefix(3).map(\.publicKey), additionalData: flags)
    b.includeNonce = nonce
    let built = try b.build()
    let tags = randomTags()
    let host = Keys.hosts[hostIndex]
    let phkh = try RequestKeys.hostKeyHash(host.publicKey)
    let add = AdditionalData(imagePHKH: flags.contains(.imagePHKH) ? phkh : nil,
                             attestationPHKH: flags.contains(.attestationPHKH) ? phkh : nil,
                             secretStoreHash: flags.contains(.secretStoreHash) ? SecretStoreHash.compute(tags: [], locked: true, sha512: Digest.sha512) : nil,
                             firmwareState: flags.contains(.firmwareState) ? Random.bytes(320) : nil)
    let response = try ultravisorAnswer(arcb: built.arcb, host: host, tags: tags, configUID: Random.bytes(16), userData: userData,
                                        additional: add)
    return Attested(built: built, tags: tags, response: response)
}

@Suite struct AttestationRoundTrip {
    @Test("builder → ultravisor → response → tenant verification accepts")
    func accepts() throws {
        let cases: [(AttestationFlags, Bool, [UInt8])] = [
            (.additionalData, true, Random.bytes(256)), ([], true, []), ([.secretStoreHash], false, [1]),
            ([.imagePHKH, .attestationPHKH], true, Random.bytes(17)),
        ]
        for (flags, nonce, user) in cases {
            let a = try attest(flags: flags, nonce: nonce, userData: user)
            #expect(tenantVerifies(a.response.bytes, protectionKey: a.built.protectionKey, tags: a.tags))
            // The ultravisor read the builder's keys.
            let r = try AttestationRequest.parse(a.built.arcb)
            let conf = try AttestationRequestDecryption.decrypt(r, hostKey: Keys.hosts[2])
            let keyOK = conf.measurementKey.equals(a.built.measurementKey.unsafeCopyToArray())
            let nonceOK = nonce ? (conf.nonce?.equals(a.built.nonce!.unsafeCopyToArray()) ?? false) : conf.nonce == nil
            #expect(keyOK && nonceOK)
            #expect(r.flags == (nonce ? flags.union(.nonce) : flags))
        }
    }

    @Test("a wrong protection key is refused")
    func wrongProtectionKey() throws {
        let a = try attest()
        #expect(!tenantVerifies(a.response.bytes, protectionKey: Random.secureBytes(32), tags: a.tags))
        let r = try AttestationRequest.parse(a.built.arcb)
        #expect(throws: AttestationRequest.DecryptionFailure.authenticationFailed) { _ = try r.decrypt(protectionKey: Random.secureBytes(32)) }
    }

    @Test("a host without a keyslot cannot answer; a wrong hash finds no slot")
    func outsiderHost() throws {
        let r = try AttestationRequest.parse(try attest().built.arcb)
        #expect(throws: RequestDecryption.Failure.noKeyslotForHost) { _ = try AttestationRequestDecryption.decrypt(r, hostKey: Keys.outsider) }
        // The outsider claiming a slot's hash: the keyslot does not unwrap.
        #expect(throws: RequestDecryption.Failure.keyslotUnwrapFailed) {
            _ = try AttestationRequestDecryption.decrypt(r, hostKey: Keys.outsider, hostKeyHash: r.keyslots[0].hostKeyHash)
        }
    }

    @Test("any flipped byte of the ARCB in the response is refused")
    func flippedARCB() throws {
        let a = try attest(flags: [.imagePHKH], userData: [1, 2, 3])
        let r = a.response
        #expect(tenantVerifies(r.bytes, protectionKey: a.built.protectionKey, tags: a.tags))
        for i in 0..<r.arcb.count {
            var arcb = r.arcb; arcb[i] ^= 0x01
            let t = try AttestationExchangeResponse(arcb: arcb, measurement: r.measurement, additionalData: r.additionalData,
                                                    userData: r.userData, configUID: r.configUID)
            #expect(!tenantVerifies(t.bytes, protectionKey: a.built.protectionKey, tags: a.tags), "ARCB byte \(i)")
        }
    }

    @Test("any flipped byte of the measurement, additional data, user data or CUID is refused")
    func flippedMeasuredItems() throws {
        let a = try attest(userData: Random.bytes(64))
        let r = a.response
        let key = a.built.protectionKey
        func variant(measurement: [UInt8]? = nil, additional: [UInt8]? = nil, user: [UInt8]? = nil, cuid: [UInt8]? = nil) throws -> [UInt8] {
            try AttestationExchangeResponse(arcb: r.arcb, measurement: measurement ?? r.measurement, additionalData: additional ?? r.additionalData,
                                            userData: user ?? r.userData, configUID: cuid ?? r.configUID).bytes
        }
        for i in 0..<64 {
            var m = r.measurement; m[i] ^= 0x80
            #expect(!tenantVerifies(try variant(measurement: m), protectionKey: key, tags: a.tags), "measurement byte \(i)")
        }
        let add = try #require(r.additionalData)
        #expect(add.count == 448)
        for i in 0..<add.count {
            var d = add; d[i] ^= 0x01
            #expect(!tenantVerifies(try variant(additional: d), protectionKey: key, tags: a.tags), "additional byte \(i)")
        }
        let user = try #require(r.userData)
        for i in 0..<user.count {
            var u = user; u[i] ^= 0x01
            #expect(!tenantVerifies(try variant(user: u), protectionKey: key, tags: a.tags), "user byte \(i)")
        }
        for i in 0..<16 {
            var c = r.configUID; c[i] ^= 0x01
            #expect(!tenantVerifies(try variant(cuid: c), protectionKey: key, tags: a.tags), "CUID byte \(i)")
        }
        // Lengths are measured too: one user byte more or less, none at all.
        #expect(!tenantVerifies(try variant(user: user + [0]), protectionKey: key, tags: a.tags))
        #expect(!tenantVerifies(try variant(user: Array(user.dropLast())), protectionKey: key, tags: a.tags))
        let noUser = try AttestationExchangeResponse(arcb: r.arcb, measurement: r.measurement, additionalData: r.additionalData,
                                                     userData: nil, configUID: r.configUID).bytes
        #expect(!tenantVerifies(noUser, protectionKey: key, tags: a.tags))
        // Additional data with an extra byte: the measurement covers its length (and the split finds it unrecognized).
        let extra = try AttestationExchangeResponse.parse(try variant(additional: add + [0]))
        let items = MeasuredItems(tags: a.tags, configUID: r.configUID, userData: user,
                                  nonce: try AttestationRequest.parse(r.arcb).decrypt(protectionKey: key).nonce, additionalData: extra.additionalData!)
        let conf = try AttestationRequest.parse(r.arcb).decrypt(protectionKey: key)
        #expect(try !Measurement.verify(r.measurement, key: conf.measurementKey, items: items))
    }

    @Test("another image's tags are refused; so is a measurement without the nonce")
    func otherImageAndNonce() throws {
        let a = try attest()
        #expect(!tenantVerifies(a.response.bytes, protectionKey: a.built.protectionKey, tags: randomTags()))
        for part in 0..<4 {
            var t = a.tags
            switch part {
            case 0: t.pld[0] ^= 1
            case 1: t.ald[63] ^= 1
            case 2: t.tld[5] ^= 1
            default: t.tag[15] ^= 1
            }
            #expect(!tenantVerifies(a.response.bytes, protectionKey: a.built.protectionKey, tags: t), "tags part \(part)")
        }
        let r = a.response
        let conf = try AttestationRequest.parse(r.arcb).decrypt(protectionKey: a.built.protectionKey)
        let withoutNonce = MeasuredItems(tags: a.tags, configUID: r.configUID, userData: r.userData ?? [], nonce: nil,
                                         additionalData: r.additionalData ?? [])
        #expect(try !Measurement.verify(r.measurement, key: conf.measurementKey, items: withoutNonce))
        // A measurement of another length is unequal, not a trap.
        let items = MeasuredItems(tags: a.tags, configUID: r.configUID, userData: r.userData ?? [], nonce: conf.nonce,
                                  additionalData: r.additionalData ?? [])
        #expect(try !Measurement.verify(Array(r.measurement.prefix(32)), key: conf.measurementKey, items: items))
        #expect(try Measurement.verify(r.measurement, key: conf.measurementKey, items: items))
    }

    @Test("the measurement refuses impossible inputs")
    func measurementInputLimits() {
        let key = Random.secureBytes(64)
        #expect(throws: Measurement.Invalid.configUIDSize(15)) {
            _ = try Measurement.compute(key: key, items: MeasuredItems(tags: randomTags(), configUID: Random.bytes(15), nonce: nil))
        }
        #expect(throws: Measurement.Invalid.userDataTooLong(257)) {
            _ = try Measurement.compute(key: key, items: MeasuredItems(tags: randomTags(), configUID: Random.bytes(16),
                                                                       userData: Random.bytes(257), nonce: nil))
        }
        #expect(throws: Measurement.Invalid.nonceSize(8)) {
            _ = try Measurement.compute(key: key, items: MeasuredItems(tags: randomTags(), configUID: Random.bytes(16),
                                                                       nonce: Random.secureBytes(8)))
        }
        #expect(throws: Measurement.Invalid.keySize(32)) {
            _ = try Measurement.compute(key: Random.secureBytes(32), items: MeasuredItems(tags: randomTags(), configUID: Random.bytes(16), nonce: nil))
        }
    }

    @Test("the exchange request built from an ARCB asks for the right buffers")
    func exchangeRequestFromARCB() throws {
        let built = try AttestationRequestBuilder(hostKeys: [Keys.host.publicKey], additionalData: [.secretStoreHash, .firmwareState]).build()
        let req = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb))
        #expect(req.measurementSize == 64 && req.additionalDataSize == 384)
        let back = try AttestationExchangeRequest.parse(req.bytes)
        #expect(back == req)
        #expect(req.bytes.count == 0x40 + built.arcb.count)
    }

    @Test("the builder refuses what pvattest create cannot make")
    func builderLimits() throws {
        #expect(throws: AttestationRequestBuilder.Invalid.self) { _ = try AttestationRequestBuilder(hostKeys: []).build() }
        #expect(throws: AttestationRequestBuilder.Invalid.self) {
            _ = try AttestationRequestBuilder(hostKeys: [Keys.host.publicKey], additionalData: .nonce).build()
        }
        #expect(throws: AttestationRequestBuilder.Invalid.self) {
            _ = try AttestationRequestBuilder(hostKeys: [Keys.rsa2048.publicKey]).build()
        }
        var b = AttestationRequestBuilder(hostKeys: [Keys.host.publicKey])
        b.includeNonce = false
        b.nonce = Random.secureBytes(16)
        #expect(throws: AttestationRequestBuilder.Invalid.self) { _ = try b.build() }
        // Fresh keys per build.
        let one = try AttestationRequestBuilder(hostKeys: [Keys.host.publicKey]).build()
        let two = try AttestationRequestBuilder(hostKeys: [Keys.host.publicKey]).build()
        #expect(one.arcb != two.arcb)
        #expect(!one.protectionKey.equals(two.protectionKey.unsafeCopyToArray()))
    }
}
