#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ASRCodec
import SEBase
import SECrypto
import UVDevice

/// A simulator state on disk, shared by separate processes as the real
/// ultravisor is shared within one boot. Every operation holds an exclusive
/// flock on `lock` while it reads, changes and writes the state.
///
/// Files (secret material is 0600: it is the simulated ultravisor's memory):
///   state.json        configuration, lock, faults, accepted tags   0600
///   secrets.bin       stored values, extension secret, CCK, wrapping key 0600
///   host-key.pem      the simulated host's private key (PKCS#8)    0600
///   host-key.crt      its host-key document (self-signed X.509)    0644
///   se-header.bin     a minimal SE header with the image's tags    0644
///                     (what `pvattest verify --hdr` and `se-secretd verify
///                     --se-header` read; not a bootable image)
///   sysfs/firmware/uv a /sys/firmware/uv tree for `--sysfs DIR/sysfs`
public final class SimulatorStateDirectory: @unchecked Sendable {
    public let path: String

    static let stateFile = "state.json"
    static let secretsFile = "secrets.bin"
    /// The secrets of the last committed revision while a save is under way
    /// (see `save`).
    static let previousSecretsFile = "secrets.prev"
    static let hostKeyFile = "host-key.pem"
    static let hostKeyDocumentFile = "host-key.crt"
    static let seHeaderFile = "se-header.bin"
    static let lockFile = "lock"
    public static let sysfsDirectory = "sysfs"
    static let maxKeyFileSize = 64 << 10

    /// Opens an existing state directory.
    public init(path: String) throws {
        self.path = path
        guard FileIO.kind(of: join(Self.stateFile)) == .regular else {
            throw StateCoding.Invalid(message: "\(path) is not a simulator state directory (no \(Self.stateFile)); create one with `se-secretd sim init`")
        }
    }

    private init(creating path: String) { self.path = path }

    /// The sysfs root to pass as `--sysfs`.
    public var sysfsRoot: String { join(Self.sysfsDirectory) }
    public var hostKeyDocumentPath: String { join(Self.hostKeyDocumentFile) }
    public var seHeaderPath: String { join(Self.seHeaderFile) }

    func join(_ name: String) -> String { path.hasSuffix("/") ? path + name : path + "/" + name }

    // MARK: Creating

    /// Creates a new state directory (the directory may exist but must not
    /// hold a state yet).
    @discardableResult
    public static func create(at path: String, options: SimulatorOptions) throws -> SimulatorStateDirectory {
        let (config, hostKey, cck) = try options.resolve()
        let state = try SimulatorState(config: config, hostKey: hostKey, cck: cck)
        return try create(at: path, state: state)
    }

    /// Persists an in-memory state as a new state directory.
    @discardableResult
    public static func create(at path: String, state: SimulatorState) throws -> SimulatorStateDirectory {
        if FileIO.kind(of: path) == nil {
            try FileIO.makeDirectories(path, mode: 0o700)
        }
        guard FileIO.kind(of: path) == .directory else {
            throw StateCoding.Invalid(message: "\(path) is not a directory")
        }
        let dir = SimulatorStateDirectory(creating: path)
        try dir.withLock {
            guard FileIO.kind(of: dir.join(stateFile)) == nil else {
                throw StateCoding.Invalid(message: "\(path) already holds a simulator state")
            }
            var pem = Array(state.hostKey.privateKeyPEM.utf8)
            defer { pem.wipe() }
            try FileIO.writeAtomically(dir.join(hostKeyFile), pem, mode: 0o600)
            let cert = try Certificate.selfSigned(key: state.hostKey, commonName: "se-secretd simulated host key",
                                                  organization: "se-secretd UV simulator", days: 3650)
            try FileIO.writeAtomically(dir.join(hostKeyDocumentFile), Array(cert.pem.utf8), mode: 0o644)
            try FileIO.writeAtomically(dir.join(seHeaderFile), SimulatedSEHeader.bytes(state.config.imageTags), mode: 0o644)
            try SimulatedSysfs.write(state: state, root: dir.sysfsRoot)
            try dir.save(state)
        }
        return dir
    }

    // MARK: Using

    /// Runs `body` on the current state under the lock and saves the state
    /// when `body` changed it.
    public func withLockedState<R>(_ body: (SimulatorState) throws -> R) throws -> R {
        try withLock {
            let state = try load()
            let result = try body(state)
            if state.modified { try save(state) }
            return result
        }
    }

    /// A snapshot of the state (read under the lock).
    public func loadState() throws -> SimulatorState {
        try withLock { try load() }
    }

    /// Host key and image binding, for building requests (no secret read).
    public func requestTarget() throws -> RequestTarget {
        let doc = try FileIO.read(join(Self.hostKeyDocumentFile), limit: Self.maxKeyFileSize)
        let json = try withLock { try StateCoding.decodeJSON(try FileIO.read(join(Self.stateFile), limit: StateCoding.maxJSONSize)) }
        return RequestTarget(hostKey: try PublicKey.load(doc), imageTags: json.config.imageTags,
                             configUID: json.config.configUID)
    }

    // MARK: -

    private func withLock<R>(_ body: () throws -> R) throws -> R {
        let fd = open(join(Self.lockFile), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        guard fd >= 0 else { throw SystemError.current("open", path: join(Self.lockFile)) }
        let handle = FileHandle(fd: fd)
        while flock(handle.fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError.current("flock", path: join(Self.lockFile)) }
        }
        defer { flock(handle.fd, LOCK_UN) }
        return try body()
    }

    private func load() throws -> SimulatorState {
        let json = try StateCoding.decodeJSON(try FileIO.read(join(Self.stateFile), limit: StateCoding.maxJSONSize))
        var secretBytes = try FileIO.read(join(Self.secretsFile), limit: StateCoding.maxSecretsSize)
        defer { secretBytes.wipe() }
        var secrets = try StateCoding.decodeSecrets(secretBytes)
        if secrets.revision != json.revision {
            // A save that was cut between its two writes (the calling process
            // was killed, as the boot run's tests do): state.json still names
            // the committed revision, whose secrets save kept aside. The call
            // did not happen, as if the ultravisor had not acted yet.
            if var prev = try? FileIO.read(join(Self.previousSecretsFile), limit: StateCoding.maxSecretsSize) {
                defer { prev.wipe() }
                if let committed = try? StateCoding.decodeSecrets(prev), committed.revision == json.revision {
                    secrets = committed
                }
            }
        }
        guard secrets.revision == json.revision, secrets.store.count == json.storeSize else {
            throw StateCoding.Invalid(message: "\(Self.stateFile) and \(Self.secretsFile) disagree (revision \(json.revision) vs \(secrets.revision)); the state was damaged")
        }
        var pem = try FileIO.read(join(Self.hostKeyFile), limit: Self.maxKeyFileSize)
        defer { pem.wipe() }
        let hostKey = try PrivateKey.load(pem)
        let state = try SimulatorState(config: json.config, hostKey: hostKey, cck: secrets.cck,
                                       wrappingKey: secrets.wrappingKey, faults: json.faults)
        guard state.hostKeyHash == json.hostKeyHash else {
            throw StateCoding.Invalid(message: "\(Self.hostKeyFile) does not match the host-key hash in \(Self.stateFile)")
        }
        state.store = secrets.store
        state.isLocked = json.locked
        state.dumpDisabled = json.dumpDisabled
        state.acceptedRequestTags = json.acceptedTags
        state.extensionSecret = secrets.extensionSecret
        state.revision = json.revision
        state.modified = false
        return state
    }

    /// Writes secrets first, then state.json; both carry the new revision,
    /// and state.json's rename is the commit. Until then the committed
    /// secrets stay as secrets.prev (a second link), so a process killed
    /// between the two writes leaves the old revision, whole: a simulated
    /// ultravisor call is not half-done because its caller died. Atomic but
    /// not fsynced: like the ultravisor's store, the simulated one need not
    /// survive a crash of the machine, and four fsyncs per ioctl would make
    /// the simulator, not the code under test, the slow part.
    private func save(_ state: SimulatorState) throws {
        state.revision &+= 1
        let secrets = StateCoding.encodeSecrets(state)
        var raw = secrets.unsafeCopyToArray()
        defer { raw.wipe() }
        let prev = join(Self.previousSecretsFile)
        unlink(prev)
        // (No secrets.bin yet: the first save, when the state is created.)
        guard link(join(Self.secretsFile), prev) == 0 || errno == ENOENT else { throw SystemError.current("link", path: prev) }
        try FileIO.writeAtomically(join(Self.secretsFile), raw, mode: 0o600, durable: false)
        try FileIO.writeAtomically(join(Self.stateFile), StateCoding.encodeJSON(state), mode: 0o600, durable: false)
        unlink(prev)
        state.modified = false
    }
}

/// What a request needs to be accepted by one simulated ultravisor.
public struct RequestTarget: Sendable {
    public let hostKey: PublicKey
    public let imageTags: SEHeaderTags
    public let configUID: [UInt8]

    /// A target of one's own (a host key and image given as files, as
    /// `pvsecret create -k --hdr` takes them); the simulator's is `requestTarget`.
    public init(hostKey: PublicKey, imageTags: SEHeaderTags, configUID: [UInt8]) {
        self.hostKey = hostKey
        self.imageTags = imageTags
        self.configUID = configUID
    }
}

extension SimulatorState {
    public var requestTarget: RequestTarget {
        RequestTarget(hostKey: hostPublicKey, imageTags: config.imageTags, configUID: config.configUID)
    }
}

/// The smallest SE header `SEHeader.tags(from:)` reads: the magic, the
/// version 0x100 at 0x08, its size at 0x0C, PLD/ALD/TLD at 0xE0/0x120/0x160
/// and the tag in its last 16 bytes. The simulated image's stand-in for the
/// tenant's SE header; the fields between are zero. IBM's `pvattest verify
/// --hdr` and `pvsecret create --hdr` read it as they read a real one (they
/// refuse any version but 0x100: docs/attestation.md).
public enum SimulatedSEHeader {
    public static let size = 0x1A0 + 16

    public static func bytes(_ tags: SEHeaderTags) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: size)
        h.replaceSubrange(0..<8, with: SEHeader.magic)
        h[0x0A] = UInt8(SEHeader.version >> 8)
        h[0x0F] = UInt8(size & 0xff)
        h[0x0E] = UInt8(size >> 8)
        h.replaceSubrange(0xE0..<0x120, with: tags.pld)
        h.replaceSubrange(0x120..<0x160, with: tags.ald)
        h.replaceSubrange(0x160..<0x1A0, with: tags.tld)
        h.replaceSubrange(0x1A0..<size, with: tags.tag)
        return h
    }
}
