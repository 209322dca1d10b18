import SEBase
import SECrypto
import ASRCodec
import Attestation

/// Builds attestation requests (ARCBs) byte-compatible with `pvattest
/// create`: a customer P-521 key, a protection key (ARPK), an IV, a
/// measurement key and a nonce, fresh unless fixed here; one keyslot per
/// host key, in the order given. Workbench, simulator and tests only.
public struct AttestationRequestBuilder {
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// What the tenant keeps: the ARCB, and the keys that make it verifiable.
    /// Only `protectionKey` is needed later (the measurement key and the
    /// nonce are inside the ARCB); the others are for tests.
    public struct Built {
        public let arcb: [UInt8]
        public let protectionKey: SecureBytes
        public let measurementKey: SecureBytes
        public let nonce: SecureBytes?
    }

    public var hostKeys: [PublicKey]
    /// The additional data to ask for (flag bits 2–5 only).
    public var additionalData: AttestationFlags = []
    /// pvattest always sends a nonce; an ARCB without one is architecturally valid.
    public var includeNonce = true

    // Deterministic inputs for tests; random when nil.
    public var customerKey: PrivateKey? = nil
    public var protectionKey: SecureBytes? = nil
    public var iv: [UInt8]? = nil
    public var measurementKey: SecureBytes? = nil
    public var nonce: SecureBytes? = nil

    public init(hostKeys: [PublicKey], additionalData: AttestationFlags = []) {
        self.hostKeys = hostKeys
        self.additionalData = additionalData
    }

    public var flags: AttestationFlags { includeNonce ? additionalData.union(.nonce) : additionalData }

    public func build() throws -> Built {
        guard !hostKeys.isEmpty else { throw Invalid(message: "at least one host key is needed") }
        guard hostKeys.count <= 255 else { throw Invalid(message: "at most 255 host keys fit a request") }
        for k in hostKeys where k.keyType != .ec(.p521) {
            throw Invalid(message: "host keys must be EC P-521 keys, not \(k.keyType)")
        }
        guard additionalData.subtracting(.additionalData).isEmpty else {
            throw Invalid(message: "only flag bits 2-5 request additional data")
        }
        let cust = try customerKey ?? PrivateKey.generate(.ec(.p521))
        guard cust.keyType == .ec(.p521) else { throw Invalid(message: "the customer key must be EC P-521") }
        let arpk = protectionKey ?? Random.secureBytes(32)
        guard arpk.count == 32 else { throw Invalid(message: "the protection key has 32 bytes") }
        let reqIV = iv ?? Random.bytes(12)
        guard reqIV.count == 12 else { throw Invalid(message: "the IV has 12 bytes") }
        let mkey = measurementKey ?? Random.secureBytes(ARCBLayout.measurementKeySize)
        guard mkey.count == ARCBLayout.measurementKeySize else { throw Invalid(message: "the measurement key has 64 bytes") }
        let n: SecureBytes? = includeNonce ? (nonce ?? Random.secureBytes(ARCBLayout.nonceSize)) : nil
        guard includeNonce || nonce == nil else { throw Invalid(message: "a nonce is given but includeNonce is false") }
        if let n, n.count != ARCBLayout.nonceSize { throw Invalid(message: "the nonce has 16 bytes") }

        let sea = ARCBLayout.encryptedSize(nonce: includeNonce)
        let rql = ARCBLayout.size(keyslots: hostKeys.count, nonce: includeNonce)
        var aad = RequestHeader.encode(magic: ARCBLayout.magic, length: rql, iv: reqIV, keyslotCount: hostKeys.count, encryptedSize: sea)
        aad.appendBE(flags.rawValue)
        aad.appendBE(MeasurementAlgorithm.hmacSHA512.rawValue)
        aad += [0, 0, 0, 0]
        let (cx, cy) = try cust.publicKey.ecCoordinates()
        aad += cx.leftPadded(to: 80) + cy.leftPadded(to: 80)
        for host in hostKeys {
            aad += try KeyslotCrypto.wrap(protectionKey: arpk, customerKey: cust, hostKey: host).bytes
        }
        let plaintext = SecureBytes(count: sea)
        plaintext.withUnsafeMutableBytes { dst in
            mkey.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[0..<mkey.count]).copyMemory(from: $0) }
            n?.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[mkey.count...]).copyMemory(from: $0) }
        }
        let (ct, tag) = try AESGCM.seal(key: arpk, iv: reqIV, aad: aad, plaintext: plaintext)
        return Built(arcb: aad + ct + tag, protectionKey: arpk, measurementKey: mkey, nonce: n)
    }
}

/// What the ultravisor does with an ARCB and its host private key: find the
/// keyslot for this host, unwrap the protection key, decrypt the
/// measurement key and nonce. For the simulated ultravisor and tests.
public enum AttestationRequestDecryption {
    public static func decrypt(_ request: AttestationRequest, hostKey: PrivateKey,
                               hostKeyHash: [UInt8]? = nil) throws -> AttestationConfidential {
        let arpk = try KeyslotCrypto.unwrap(keyslots: request.keyslots, customerKeyX: request.customerKeyX,
                                            customerKeyY: request.customerKeyY, hostKey: hostKey, hostKeyHash: hostKeyHash)
        return try open(request, protectionKey: arpk)
    }

    /// The same with the ECDH shared secret Z already computed (either side's
    /// Z is the same: how IBM's vector, whose host private key is not
    /// published, is opened "as the ultravisor" from the customer key).
    public static func decrypt(_ request: AttestationRequest, sharedSecret z: SecureBytes,
                               hostKeyHash: [UInt8]) throws -> AttestationConfidential {
        guard let slot = request.keyslots.first(where: { $0.hostKeyHash == hostKeyHash }) else {
            throw RequestDecryption.Failure.noKeyslotForHost
        }
        return try open(request, protectionKey: try KeyslotCrypto.unwrap(slot, sharedSecret: z))
    }

    static func open(_ request: AttestationRequest, protectionKey: SecureBytes) throws -> AttestationConfidential {
        do { return try request.decrypt(protectionKey: protectionKey) } catch { throw RequestDecryption.Failure.authenticationFailed }
    }
}
