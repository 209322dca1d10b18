#if canImport(Glibc)
import Glibc
#endif
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVSimulator
import SEVocabulary
import UVCommands
import RequestBuilding
import Attestation
import SecretdCLI

/// A complete, self-contained example deployment: a (simulated) host key
/// and its host-key document, a tenant signing key, signed requests for the
/// secrets a generic guest needs, and the policy that accepts exactly them.
/// Used by `se-secretd-dev example`, the README's demo, tests and benchmarks.
public struct ExampleSet {
    public enum SignerType: String, Sendable, CaseIterable {
        case ecP521 = "ec-p521", rsa2048 = "rsa-2048", rsa3072 = "rsa-3072"
    }

    public var extraSecrets = 0
    public var signerType = SignerType.ecP521
    /// Host key to encrypt for and its host-key document (default: a new key,
    /// written as host-key.pem, with a self-signed document).
    public var hostKey: PublicKey? = nil
    public var hostKeyDocumentPEM: String? = nil
    public var tags: SEHeaderTags? = nil
    public var configUID: [UInt8]? = nil
    /// The epoch of the requests' signed freshness records (docs/rotation.md).
    public var epoch: UInt64 = 1
    /// The policy's trust.min_epoch (nil: none).
    public var minEpoch: UInt64? = 1
    /// Demos and tests only: `"root": {"type": "any"}`, so that `install`
    /// writes into a plain directory standing in for the new root. A real
    /// policy binds the root to its LUKS volume (the default here).
    public var unverifiedRoot = false
    /// The policy requires attestation and writes results to the console;
    /// the tenant's attestation request goes into requests/ (and its copy
    /// and protection key beside the policy, as `pvattest create` leaves them).
    public var attest = false

    public init() {}

    public struct Written: Sendable {
        public let directory: String
        public let requestDirectory: String
        public let policyPath: String
        public let hostKeyDocument: String
        public let secretNames: [String]
    }

    struct Item {
        let name: String
        let type: SecretType
        let value: SecureBytes     // encoded as stored
        let clear: SecureBytes     // what the consumer gets (plaintext payload)
        let actions: [JSON]
        let required: Bool
    }

    public func write(to dir: String) throws -> Written {
        try FileIO.makeDirectories(dir + "/requests", mode: 0o755)
        try FileIO.makeDirectories(dir + "/values", mode: 0o700)
        chmod(dir + "/values", 0o700)

        let host: PublicKey
        if let given = hostKey {
            host = given
            if let doc = hostKeyDocumentPEM { try FileIO.writeAtomically(dir + "/host-key.crt", Array(doc.utf8), mode: 0o644) }
        } else {
            let key = try PrivateKey.generate(.ec(.p521))
            let cert = try Certificate.selfSigned(key: key, commonName: "se-secretd example host", organization: "se-secretd example", days: 3650)
            try FileIO.writeAtomically(dir + "/host-key.crt", Array(cert.pem.utf8), mode: 0o644)
            try FileIO.writeAtomically(dir + "/host-key.pem", Array(key.privateKeyPEM.utf8), mode: 0o600)
            host = key.publicKey
        }

        let signer: PrivateKey
        switch signerType {
        case .ecP521: signer = try PrivateKey.generate(.ec(.p521))
        case .rsa2048: signer = try PrivateKey.generate(.rsa(bits: 2048))
        case .rsa3072: signer = try PrivateKey.generate(.rsa(bits: 3072))
        }
        try FileIO.writeAtomically(dir + "/tenant-signer.pem", Array(signer.privateKeyPEM.utf8), mode: 0o600)
        try FileIO.writeAtomically(dir + "/tenant-signer.pub.pem", Array(signer.publicKey.publicKeyPEM.utf8), mode: 0o644)

        let tags = self.tags ?? SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
        let ext = Random.secureBytes(32)

        func plain(_ payload: SecureBytes) throws -> SecureBytes { try SecretValue.plaintext(payload) }
        var items: [Item] = []
        // A LUKS passphrase: 32 random bytes as 64 hex characters.
        let pass = SecureBytes(copying: Array(Random.bytes(32).hex.utf8))
        items.append(Item(name: "luks-root", type: .plain, value: try plain(pass), clear: pass,
                          actions: [.object([("type", .string("luks")), ("device", .string("LABEL=root")),
                                             ("name", .string("root")), ("key", .string("passphrase"))])], required: true))
        let ssh = SecureBytes(copying: Array(try PrivateKey.generate(.ec(.p256)).privateKeyPEM.utf8))
        items.append(Item(name: "ssh-host-ecdsa", type: .plain, value: try plain(ssh), clear: ssh,
                          actions: [.object([("type", .string("file")), ("path", .string("/etc/ssh/ssh_host_ecdsa_key")),
                                             ("format", .string("ssh-host-key")), ("mode", .string("0600"))])], required: true))
        let tls = SecureBytes(copying: Array(try PrivateKey.generate(.ec(.p384)).privateKeyPEM.utf8))
        items.append(Item(name: "tls-server-key", type: .plain, value: try plain(tls), clear: tls,
                          actions: [.object([("type", .string("file")), ("path", .string("/etc/ssl/private/server.key")),
                                             ("format", .string("tls-key")), ("mode", .string("0600"))])], required: true))
        let keys = SecureBytes(copying: Array("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleOnlyNotARealKeyxxxxxxxxxxxxxxxxxx admin@example\n".utf8))
        items.append(Item(name: "root-authorized-keys", type: .plain, value: try plain(keys), clear: keys,
                          actions: [.object([("type", .string("credential")), ("name", .string("ssh.authorized_keys.root"))])], required: true))
        let disk = Random.secureBytes(64)
        items.append(Item(name: "data-volume-key", type: .aesXTS256, value: disk, clear: disk, actions: [], required: false))
        for i in 0..<extraSecrets {
            let v = Random.secureBytes(48)
            items.append(Item(name: "extra-\(i)", type: .plain, value: try plain(v), clear: v, actions: [], required: true))
        }

        let cuid = configUID ?? [UInt8](repeating: 0, count: 16)
        func build(_ secret: RequestBuilder.Secret) throws -> [UInt8] {
            var b = RequestBuilder(secret: secret, hostKeys: [host], tags: tags)
            b.flags.disableDump = true
            b.extensionSecret = .simple(ext)
            b.userData = .signed([], key: signer)
            b.epoch = epoch
            b.configUID = cuid
            return try b.build()
        }
        try FileIO.writeAtomically(dir + "/requests/00-meta.asr", try build(.meta), mode: 0o644)
        for item in items {
            let id = SecretID.hashed(name: item.name, sha256: Digest.sha256)
            try FileIO.writeAtomically(dir + "/requests/\(item.name).asr",
                                       try build(.retrievable(item.type, id: id, value: item.value)), mode: 0o644)
            try FileIO.writeAtomically(dir + "/values/\(item.name)", item.clear.unsafeCopyToArray(), mode: 0o600)
        }

        if attest {
            let built = try AttestationRequestBuilder(hostKeys: [host], additionalData: [.secretStoreHash, .imagePHKH]).build()
            let request = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb)).bytes
            try FileIO.writeAtomically(dir + "/attestation-request.bin", request, mode: 0o644)
            try FileIO.writeAtomically(dir + "/requests/" + Policy.AttestationRules.defaultRequestFile, request, mode: 0o644)
            var arpk = built.protectionKey.unsafeCopyToArray()
            defer { arpk.wipe() }
            try FileIO.writeAtomically(dir + "/attestation.arpk", arpk, mode: 0o600)
        }

        var store: [(String, JSON)] = [("lock", .bool(true)), ("allow_meta", .bool(true)),
                                       ("required_flags", .array([.string("disable-dump")]))]
        if !cuid.isAllZero { store.append(("config_uid", .string(cuid.hex))) }
        let policy = JSON.object([
            ("version", .int(1)),
            ("description", .string("se-secretd example: a generic guest personalized with a LUKS passphrase, an SSH host key, a TLS key and root's authorized keys")),
            ("requests", .object([("volume", .string("LABEL=SE-SECRETS")), ("directory", .string(".")),
                                  ("max_requests", .int(Int64(items.count + 1)))])),
            ("trust", .object([("signers", .array([.object([("name", .string("tenant")),
                                                            ("key", .string(signer.publicKey.publicKeyPEM))])])),
                               ("require", .string("any"))] + (minEpoch.map { [("min_epoch", JSON.int(Int64($0)))] } ?? []))),
            ("store", .object(store)),
            ("secrets", .array(items.map { item in
                .object([("name", .string(item.name)), ("type", .string(item.type.name)),
                         ("required", .bool(item.required)), ("actions", .array(item.actions))])
            })),
            // The new root must be the LUKS volume the policy opens as "root".
            ("root", unverifiedRoot ? .object([("type", .string("any"))])
                                    : .object([("type", .string("luks")), ("volume", .string("root"))])),
            ("on_failure", .string("poweroff")),
        ] + (attest ? [("attestation", .object([("mode", .string("required"))])),
                       ("results", .object([("console", .bool(true))]))] : []))
        try FileIO.writeAtomically(dir + "/policy.json", Array(policy.serialized().utf8), mode: 0o644)
        return Written(directory: dir, requestDirectory: dir + "/requests", policyPath: dir + "/policy.json",
                       hostKeyDocument: dir + "/host-key.crt", secretNames: items.map(\.name))
    }
}

enum ExampleCommands {
    static let all: [Command] = [example]

    static let example = Command(
        ["example"], summary: "Write a complete example deployment to try se-secretd on",
        arguments: "DIR", positionals: 1...1,
        options: ExampleOptions.self,
        discussion: """
        Creates DIR with everything a tenant and an ISV would have:
          host-key.pem, host-key.crt   a (simulated) IBM Z host key and its host-key document
          tenant-signer.pem, .pub.pem  the tenant's request-signing key
          requests/*.asr               signed add-secret requests (a meta request with
                                       disable-dump and an extension secret; a LUKS
                                       passphrase, an SSH host key, a TLS key, root's
                                       authorized keys, an AES-XTS volume key), each
                                       with a signed freshness record (--epoch)
          policy.json                  the policy that accepts exactly those requests
                                       (and, with trust.min_epoch, no older ones); its
                                       new root must be the LUKS volume opened as "root"
                                       ("root": {"type": "luks", "volume": "root"}), or,
                                       with --demo-unverified-root, anything ("any": unsafe,
                                       for a demo's stand-in directory only)
          values/                      the example secret values (mode 0700), so that
                                       tests can compare what comes back. Example only!
        With --attest also (the tenant's side of attestation, as pvattest create leaves it):
          attestation-request.bin      the tenant's attestation request (also in requests/)
          attestation.arpk             its protection key (0600): the tenant keeps it
        and the policy requires attestation and writes the results to the console.
        Then try:
          se-secretd check -p DIR/policy.json -r DIR/requests -k DIR/host-key.crt
        A stale request, refused with stale-request (epoch 0 < min_epoch 1):
          se-secretd-dev sim create-request -s STATE -t plain -n luks-root --value-file F \\
              --user-sign-key DIR/tenant-signer.pem --epoch 0 -o DIR/requests/luks-root.asr
        """
    ) { o, args, out in
        let dir = args.positionals[0]
        if FileIO.kind(of: dir) != nil, !o.force {
            throw CLIError(.usage, "\(dir) exists; use --force to write into it")
        }
        var ex = ExampleSet()
        ex.unverifiedRoot = o.demoUnverifiedRoot
        ex.attest = o.attest
        ex.extraSecrets = o.extra
        if let t = o.signerType { ex.signerType = t }
        if let e = o.epoch { ex.epoch = e }
        if let m = o.minEpoch { ex.minEpoch = m }
        if let state = o.sim {
            do {
                let target = try SimulatorStateDirectory(path: state).requestTarget()
                ex.hostKey = target.hostKey
                ex.tags = target.imageTags
                ex.hostKeyDocumentPEM = String(decoding: try FileIO.read(state + "/host-key.crt", limit: 1 << 20), as: UTF8.self)
            } catch {
                throw CLIError(.noInput, "cannot use the simulator state \(state): \(error)")
            }
        }
        let w: ExampleSet.Written
        do { w = try ex.write(to: dir) } catch { throw CLIError(.ioError, "cannot write the example: \(error)") }
        out.line("wrote an example deployment to \(dir): \(w.secretNames.count + 1) requests in \(w.requestDirectory)")
        out.line("check it with: se-secretd check -p \(w.policyPath) -r \(w.requestDirectory) -k \(w.hostKeyDocument)")
        return .ok
    }
}

struct ExampleOptions: OptionGroup {
    static let options: [OptionSpec] = [
        .value("extra", "N", "Add N more plain secrets (for load tests; default 0)."),
        .value("signer-type", "TYPE", "Tenant signing key: ec-p521 (default), rsa-2048 or rsa-3072."),
        .value("sim", "STATE", "Make the requests for this simulated ultravisor (its host key and image) instead of a new host key."),
        .value("epoch", "N", "The epoch of the requests' signed freshness records (default 1)."),
        .value("min-epoch", "N", "The policy's trust.min_epoch (default 1; \"none\" for no minimum)."),
        ForceOption.spec("Write into DIR even if it exists."),
        .flag("attest", "Require attestation: write the tenant's attestation request and protection key, and a policy with attestation and console results."),
        .flag("demo-unverified-root", "Demos and tests only: the policy says \"root\": {\"type\": \"any\"}, so install writes into any directory (default: the root must be the LUKS volume opened as \"root\")."),
    ]
    let extra: Int
    let signerType: ExampleSet.SignerType?
    /// A simulator state directory to make the requests for.
    let sim: String?
    let epoch: UInt64?
    /// nil: not given (the default); .some(nil): "none".
    let minEpoch: UInt64??
    let force: Bool
    let demoUnverifiedRoot: Bool
    let attest: Bool

    init(_ args: Arguments) throws {
        attest = try args.flag("attest")
        let signer = try args.value("signer-type"), epochText = try args.value("epoch"), minText = try args.value("min-epoch")
        sim = try args.value("sim")
        force = try ForceOption.read(args)
        demoUnverifiedRoot = try args.flag("demo-unverified-root")
        extra = try args.int("extra", range: 0...4000) ?? 0
        signerType = try signer.map { t in
            guard let st = ExampleSet.SignerType(rawValue: t) else { throw CLIError(.usage, "--signer-type is ec-p521, rsa-2048 or rsa-3072") }
            return st
        }
        epoch = try epochText.map { e in
            guard let n = UInt64(e), n <= FreshnessRecord.maxEpoch else { throw CLIError(.usage, "--epoch takes a number from 0 to 2^63-1") }
            return n
        }
        minEpoch = try minText.map { m -> UInt64? in
            if m == "none" { return nil }
            guard let n = UInt64(m), n <= FreshnessRecord.maxEpoch else { throw CLIError(.usage, "--min-epoch takes a number from 0 to 2^63-1, or none") }
            return n
        }
    }
}
