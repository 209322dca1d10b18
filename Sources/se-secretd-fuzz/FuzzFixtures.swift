import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import SEVocabulary
import RequestBuilding
import Attestation

/// The image and instance the seed requests are bound to, and a request
/// set that exercises every trust method of the fixed policies.
enum FuzzFixtures {
    static let tags = SEHeaderTags(pld: .repeating(0x11, 64), ald: .repeating(0x22, 64),
                                   tld: .repeating(0x33, 64), tag: .repeating(0x44, 16))
    static let configUID: [UInt8] = .repeating(0xC1, 16)

    static func id(_ name: String) -> [UInt8] { SecretID.hashed(name: name, sha256: Digest.sha256) }

    /// One request, deterministic apart from its signature.
    static func build(_ secret: RequestBuilder.Secret, userData: RequestBuilder.UserData, hosts: [PrivateKey] = [FuzzKeys.host],
                      configUID: [UInt8] = FuzzFixtures.configUID, seed: UInt8) throws -> [UInt8] {
        var b = RequestBuilder(secret: secret, hostKeys: hosts.map(\.publicKey), tags: tags)
        b.flags.disableDump = true
        b.configUID = configUID
        b.extensionSecret = .simple(SecureBytes(copying: [UInt8].repeating(0xE5, 32)))
        b.userData = userData
        b.customerKey = FuzzKeys.customer
        b.protectionKey = SecureBytes(copying: [UInt8].repeating(seed, 32))
        b.iv = .repeating(seed, 12)
        return try b.build()
    }

    static func plain(_ text: String) throws -> SecureBytes { try SecretValue.plaintext(SecureBytes(copying: Array(text.utf8))) }

    /// Request files by name, as a request directory would hold them (the
    /// EBC table of contents included).
    static func requestFiles() throws -> [(name: String, bytes: [UInt8])] {
        let signedEC = RequestBuilder.UserData.signed(Array("fuzz".utf8), key: FuzzKeys.ecSigner)
        var files: [(String, [UInt8])] = [
            ("00-meta.asr", try build(.meta, userData: signedEC, seed: 1)),
            ("luks-root.asr", try build(.retrievable(.plain, id: id("luks-root"), value: try plain("passphrase")),
                                        userData: signedEC, seed: 2)),
            ("ssh.asr", try build(.retrievable(.plain, id: id("ssh"), value: try plain("-----BEGIN KEY-----")),
                                  userData: .signed([1, 2, 3], key: FuzzKeys.rsa2048), seed: 3)),
            ("data.asr", try build(.retrievable(.aesXTS256, id: id("data"), value: SecureBytes(copying: [UInt8].repeating(7, 64))),
                                   userData: .signed([], key: FuzzKeys.rsa3072), hosts: [FuzzKeys.host, FuzzKeys.otherHost], seed: 4)),
            ("assoc.asr", try build(.association(id: id("assoc"), value: SecureBytes(copying: [UInt8].repeating(9, 32))),
                                    userData: .unsigned(Array("unsigned user data".utf8)), configUID: .repeating(0, 16), seed: 5)),
            ("cck.asr", try build(.updateCCK(SecureBytes(copying: [UInt8].repeating(0xCC, 32))), userData: .none, seed: 6)),
        ]
        // EBC: toc.pol lists the tags of the others; toc.asr references it.
        var toc = ""
        for (_, bytes) in files { toc += Array(bytes.suffix(16)).hex + "\n" }
        let tocPol = Array(toc.utf8)
        let reference = EBC.PolicyReference(sha256: Digest.sha256(tocPol), path: "toc.pol")
        files.append(("toc.asr", try build(.meta, userData: .unsigned(reference.bytes), seed: 8)))
        files.append(("toc.pol", tocPol))
        return files
    }

    /// Pin digests of the request files.
    static func pins(_ files: [(name: String, bytes: [UInt8])]) -> [[UInt8]] {
        files.filter { $0.name.hasSuffix(".asr") }.compactMap { try? AddSecretRequest.parse($0.bytes).pinDigest }
    }

    static func pem(_ key: PrivateKey) -> JSON { .string(key.publicKey.publicKeyPEM) }

    /// Policies for the evaluation target: signatures, pins plus EBC, or no trust.
    static func policies(pins: [[UInt8]]) -> [JSON] {
        func secrets(signers: Bool) -> JSON { .array([
            .object([("name", .string("luks-root")), ("type", .string("plain"))] +
                    (signers ? [("signers", .array([.string("ec")]))] : []) + [
                     ("actions", .array([.object([("type", .string("luks")), ("device", .string("LABEL=root")),
                                                  ("name", .string("root")), ("key", .string("passphrase"))])]))]),
            .object([("name", .string("ssh")), ("type", .string("plain")),
                     ("actions", .array([.object([("type", .string("file")), ("path", .string("/etc/ssh/ssh_host_ecdsa_key")),
                                                  ("format", .string("ssh-host-key")), ("mode", .string("0600"))])]))]),
            .object([("name", .string("data")), ("type", .string("aes-xts-256")), ("length", .int(64)), ("required", .bool(false))]),
            .object([("name", .string("assoc")), ("type", .string("association")), ("required", .bool(false))]),
            .object([("type", .string("update-cck")), ("required", .bool(false))]),
        ]) }
        func policy(trust: JSON, store: [(String, JSON)]) -> JSON {
            .object([("version", .int(1)),
                     ("requests", .object([("directory", .string(".")), ("max_requests", .int(12))])),
                     ("trust", trust), ("store", .object(store)), ("secrets", secrets(signers: trust["signers"] != nil)),
                     ("on_failure", .string("emergency-shell"))])
        }
        let signers: JSON = .array([
            .object([("name", .string("ec")), ("key", pem(FuzzKeys.ecSigner))]),
            .object([("name", .string("rsa2048")), ("key", pem(FuzzKeys.rsa2048))]),
            .object([("name", .string("rsa3072")), ("key", pem(FuzzKeys.rsa3072))]),
        ])
        return [
            policy(trust: .object([("signers", signers), ("require", .string("any"))]),
                   store: [("lock", .bool(true)), ("allow_meta", .bool(true)), ("allow_update_cck", .bool(true)),
                           ("required_flags", .array([.string("disable-dump")])), ("config_uid", .string(configUID.hex))]),
            policy(trust: .object([("signers", signers), ("pinned_sha256", .array(pins.map { .string($0.hex) })),
                                   ("ebc", .object([("toc", .string("toc.asr")), ("allow_unpinned_toc", .bool(true))])),
                                   ("require", .string("all"))]),
                   store: [("lock", .bool(false)), ("allow_meta", .bool(true)), ("allow_update_cck", .bool(true))]),
            policy(trust: .object([("require", .string("none"))]), store: [("allow_update_cck", .bool(true))]),
        ]
    }

    /// The request set as the evaluation sees it.
    static func requestSet(_ files: [(name: String, bytes: [UInt8])]) -> RequestSet {
        var set = RequestSet()
        for f in files {
            if f.name.hasSuffix(".asr") { set.requests.append(RequestFile(name: f.name, bytes: f.bytes)) }
            else if f.name.hasSuffix(".pol") { set.policyFiles.append(RequestFile(name: f.name, bytes: f.bytes)) }
            else { set.ignored.append(f.name) }
        }
        return set
    }
}

/// Attestation requests (ARCBs) and pvattest exchange files, made with
/// RequestBuilding's AttestationRequestBuilder from fixed keys: the same
/// customer key, protection key (ARPK), IV, measurement key and nonce in
/// every process, so that seeds written by one decrypt in another.
enum AttestationFixtures {
    /// The ARPK of every seed ARCB: the `arcb` and `exchange` targets decrypt with it.
    static let protectionKey: [UInt8] = .repeating(0x17, 32)
    static let measurementKey: [UInt8] = .repeating(0x77, 64)
    static let nonce: [UInt8] = .repeating(0xAB, 16)

    static func arcb(flags: AttestationFlags, nonce: Bool = true, hosts: [PrivateKey] = [FuzzKeys.host], seed: UInt8) throws -> [UInt8] {
        var b = AttestationRequestBuilder(hostKeys: hosts.map(\.publicKey), additionalData: flags)
        b.includeNonce = nonce
        b.customerKey = FuzzKeys.customer
        b.protectionKey = SecureBytes(copying: protectionKey)
        b.iv = .repeating(seed, 12)
        b.measurementKey = SecureBytes(copying: measurementKey)
        b.nonce = nonce ? SecureBytes(copying: AttestationFixtures.nonce) : nil
        return try b.build().arcb
    }

    /// ARCBs: IBM's flags (image + attestation PHKH), every additional-data
    /// flag for two hosts, none without a nonce, the secret-store hash for three hosts.
    static func requests() throws -> [[UInt8]] {
        [try arcb(flags: [.imagePHKH, .attestationPHKH], seed: 0x55),
         try arcb(flags: .additionalData, hosts: [FuzzKeys.host, FuzzKeys.otherHost], seed: 2),
         try arcb(flags: [], nonce: false, seed: 3),
         try arcb(flags: [.secretStoreHash], hosts: [FuzzKeys.otherHost, FuzzKeys.host, FuzzKeys.customer], seed: 4),
         try arcb(flags: [.firmwareState], nonce: false, seed: 5)]
    }

    /// The additional data the ultravisor would give for `flags` (fixed bytes).
    static func additionalData(_ flags: AttestationFlags) throws -> [UInt8] {
        var add = AdditionalData()
        for f in AdditionalData.Field.allCases where flags.contains(f.flag) {
            add[f] = .repeating(UInt8(0xA0 + f.rawValue), f.size)
        }
        return try add.bytes(for: flags)
    }

    /// A response the tenant's verification accepts: the measurement over
    /// FuzzFixtures' tags and config UID under the fixed measurement key.
    static func response(_ arcb: [UInt8], userData: [UInt8]) throws -> [UInt8] {
        let request = try AttestationRequest.parse(arcb)
        let add = try additionalData(request.flags)
        let items = MeasuredItems(tags: FuzzFixtures.tags, configUID: FuzzFixtures.configUID, userData: userData,
                                  nonce: request.hasNonce ? SecureBytes(copying: nonce) : nil, additionalData: add)
        let m = try Measurement.compute(key: SecureBytes(copying: measurementKey), items: items)
        return try AttestationExchangeResponse(arcb: arcb, measurement: m, additionalData: add, userData: userData,
                                               configUID: FuzzFixtures.configUID).bytes
    }

    /// Exchange files: a request and a response for each ARCB (user data
    /// empty, some and the 256-byte maximum), IBM's `user_req` shape (a
    /// request with a user-data entry) and a file of expected sizes only.
    static func exchangeFiles() throws -> [[UInt8]] {
        let arcbs = try requests()
        var files: [[UInt8]] = []
        for (i, a) in arcbs.enumerated() {
            files.append(try AttestationExchangeRequest(AttestationRequest.parse(a)).bytes)
            files.append(try response(a, userData: [[], Array("fuzz".utf8), .repeating(0x13, 256)][i % 3]))
        }
        files.append(ExchangeFile(arcb: .data(arcbs[0]), measurement: .expected(size: 64), additionalData: .expected(size: 64),
                                  userData: .data(.repeating(0x15, 256))).bytes)
        files.append(ExchangeFile(arcb: .expected(size: arcbs[2].count), measurement: .expected(size: 64),
                                  additionalData: .expected(size: 0x8000), userData: .expected(size: 256),
                                  configUID: .expected(size: 16)).bytes)
        return files
    }
}
