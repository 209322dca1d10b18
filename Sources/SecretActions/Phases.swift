#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import ASRCodec
import SecretPolicy
import SEDevices
import UVDevice
import SEVocabulary

/// The phases that use the secrets. `unlock` runs after the boot run, before
/// any cryptsetup (LUKS volumes, key hand-off); `install` once the new root
/// is mounted (files, credentials, password hashes); `cleanup` after
/// cryptsetup (removes the key files of `unlock`); `keyscript` is Debian's
/// cryptroot asking for one volume's key.
public enum Phase: String, Sendable, CaseIterable {
    case unlock, install, cleanup, keyscript
}

/// Where the phases write and how they find devices. The defaults are the
/// initrd's; tests point everything at temporary directories.
public struct PhaseEnvironment: Sendable {
    /// The mounted new root (dracut: /sysroot; initramfs-tools: ${rootmnt}, normally /root).
    public var root = "/sysroot"
    /// Where key files and credentials are handed over.
    public var handoff = HandoffPaths()
    public var keyFileDirectory: String {
        get { handoff.keyFileDirectory }
        set { handoff.keyFileDirectory = newValue }
    }
    public var credentialDirectory: String {
        get { handoff.credentialDirectory }
        set { handoff.credentialDirectory = newValue }
    }
    /// Refuse hand-off directories that are not on tmpfs/ramfs.
    public var requireMemoryFileSystem = true
    /// LUKS devices given explicitly (image files in tests): the policy's
    /// spec as written (e.g. "LABEL=root") → path.
    public var deviceOverrides: [String: String] = [:]
    /// How long to wait for a LUKS device to appear.
    public var deviceTimeout: Double = 30
    /// LUKS: check the key against the header only; do not activate.
    public var checkOnly = false
    public var devices = BlockDevices()
    /// The boot run's directory: `install` reads the unlock phase's records
    /// from its report.json to bind the new root to the policy's volumes.
    public var runDirectory = "/run/se-secretd"
    /// The sysfs and stat lookups of the root check (tests replace them).
    public var rootInspector = RootInspector()

    public init() {}
}

/// Carries out one phase of a policy's actions, in the policy's order, and
/// returns one record per action. Each secret is retrieved once per phase,
/// used by its actions and wiped. A failed action does not stop the others;
/// the caller decides from the records (any `failed` means the phase failed).
public struct PhaseRunner {
    public let policy: Policy
    public let environment: PhaseEnvironment
    let openStore: () throws(ActionFailure) -> SecretStore

    public init(policy: Policy, environment: PhaseEnvironment,
                openStore: @escaping () throws(ActionFailure) -> SecretStore) {
        self.policy = policy
        self.environment = environment
        self.openStore = openStore
    }

    /// Runs `unlock`, `install` or `cleanup`.
    public func run(_ phase: Phase) -> [ActionRecord] {
        if phase == .cleanup { return cleanup() }
        var records: [ActionRecord] = []
        var store: SecretStore? = nil
        var storeFailure: ActionFailure? = nil
        var context = InstallContext(environment: environment)
        func theStore() throws(ActionFailure) -> SecretStore {
            if store == nil && storeFailure == nil {
                do { store = try openStore() } catch { storeFailure = error }
            }
            if let storeFailure { throw storeFailure }
            return store!
        }
        // Nothing goes into a root that is not the policy's, and no boot
        // switches into one: the install phase runs in every flavour before
        // the switch to the new root, so it checks the root for every
        // policy, also one without install actions (a root the host supplied
        // could retrieve every secret in the store), and fails when the
        // policy binds none.
        var rootRefusal: ActionFailure? = nil
        if phase == .install {
            let started = MonotonicClock.nanoseconds()
            var result = ActionRecord.Result.ok
            var secretName = "-"
            var message: String
            var kind: ActionFailure.Kind? = nil
            do throws(ActionFailure) {
                guard let binding = policy.root else {
                    throw ActionFailure(.data, "the policy binds no new root (no \"root\", and no luks, keyfile or keyscript volume to bind it to): the boot must not switch into \(environment.root), which the host may have supplied; name it in the policy, e.g. {\"type\": \"luks\", \"volume\": \"root\"} [\(RuleID.rootUnbound)]")
                }
                let opened = try RunReport.openedVolumes(runDirectory: environment.runDirectory)
                (secretName, message) = try checkRoot(binding, opened: opened) { (rule) throws(ActionFailure) -> SecureBytes? in
                    let s = try theStore()
                    guard let e = try s.entry(for: rule) else { return nil }
                    return try s.retrieve(e, name: rule.name)
                }
            } catch {
                result = .failed
                message = error.message
                kind = error.kind
                rootRefusal = ActionFailure(error.kind, "not installed: the new root \(environment.root) is not the policy's (see the root record)")
            }
            records.append(ActionRecord(phase: phase.rawValue, secret: secretName, action: "root", target: environment.root,
                                        result: result, message: message,
                                        milliseconds: Int((MonotonicClock.nanoseconds() - started) / 1_000_000), failure: kind))
        }
        for rule in policy.secrets {
            let actions = rule.actions.filter { $0.phase == phase.rawValue }
            guard !actions.isEmpty else { continue }
            var started = MonotonicClock.nanoseconds()
            func record(_ a: Action, _ result: ActionRecord.Result, _ message: String, _ kind: ActionFailure.Kind? = nil,
                        volume: OpenedVolume? = nil) {
                let now = MonotonicClock.nanoseconds()
                records.append(ActionRecord(phase: phase.rawValue, secret: rule.name, action: a.kind, target: target(a),
                                            result: result, message: message, milliseconds: Int((now - started) / 1_000_000),
                                            failure: kind, volume: volume))
                started = now
            }
            if let rootRefusal {
                for a in actions { record(a, .failed, rootRefusal.message, rootRefusal.kind) }
                continue
            }
            // The store, its entry and (unless only a token is needed) the value.
            var entry: SecretListEntry? = nil
            var secret: SecureBytes? = nil
            do throws(ActionFailure) {
                let store = try theStore()
                entry = try store.entry(for: rule)
                if let e = entry, actions.contains(where: { !$0.isPaesToken }) {
                    secret = try store.retrieve(e, name: rule.name)
                }
            } catch {
                for a in actions { record(a, .failed, error.message, error.kind) }
                continue
            }
            guard let entry else {
                for a in actions {
                    if rule.required {
                        record(a, .failed, "\(rule.name) is not in the secret store", .data)
                    } else {
                        record(a, .skipped, "\(rule.name) is optional and not in the secret store")
                    }
                }
                continue
            }
            for a in actions {
                do throws(ActionFailure) {
                    if case let .luks(l) = a {
                        let (message, volume) = try unlock(l, entry: entry, secret: secret)
                        record(a, .ok, message, volume: volume)
                    } else {
                        record(a, .ok, try perform(a, rule: rule, entry: entry, secret: secret, context: &context))
                    }
                } catch {
                    record(a, .failed, error.message, error.kind)
                }
            }
            secret?.wipe()
        }
        return records
    }

    /// Removes the key files that `unlock` handed to systemd-cryptsetup. Run
    /// it once the volumes are open (after cryptsetup.target):
    /// systemd-cryptsetup's keyfile-erase does not apply to key files it
    /// found in /run/cryptsetup-keys.d by itself.
    func cleanup() -> [ActionRecord] {
        var records: [ActionRecord] = []
        var dir: HandoffDirectory? = nil
        for rule in policy.secrets {
            for a in rule.actions {
                guard case let .keyFile(volume) = a else { continue }
                let started = MonotonicClock.nanoseconds()
                var result = ActionRecord.Result.ok
                var message: String
                var kind: ActionFailure.Kind? = nil
                do throws(ActionFailure) {
                    if dir == nil {
                        dir = try HandoffDirectory(environment.keyFileDirectory, mode: 0o700,
                                                   requireMemoryFileSystem: environment.requireMemoryFileSystem)
                    }
                    if try dir!.wipeAndRemove(HandoffPaths.keyFileName(volume: volume)) {
                        message = "overwrote and removed the key file"
                    } else {
                        result = .skipped
                        message = "no key file to remove"
                    }
                } catch {
                    result = .failed
                    message = error.message
                    kind = error.kind
                }
                records.append(ActionRecord(phase: Phase.cleanup.rawValue, secret: rule.name, action: a.kind, target: target(a),
                                            result: result, message: message,
                                            milliseconds: Int((MonotonicClock.nanoseconds() - started) / 1_000_000), failure: kind))
            }
        }
        return records
    }

    func target(_ a: Action) -> String {
        if let file = a.handoffFile(in: environment.handoff) { return file }
        switch a {
        case let .luks(l): return "\(l.device) as /dev/mapper/\(l.mapping)"
        case .keyFile, .credential: return ""
        case let .keyscript(v): return "CRYPTTAB_NAME=\(v)"
        case let .file(f): return f.path
        case let .passwordHash(u): return "/etc/shadow (\(u))"
        }
    }

    /// What the install actions share: the new root, opened once, and its accounts.
    struct InstallContext {
        let environment: PhaseEnvironment
        var tree: SafeTree? = nil
        var accounts: Accounts? = nil

        mutating func root() throws(ActionFailure) -> SafeTree {
            if let tree { return tree }
            let t = try SafeTree(environment.root)
            tree = t
            return t
        }

        mutating func users() throws(ActionFailure) -> Accounts {
            if let accounts { return accounts }
            let a = try Accounts(tree: try root())
            accounts = a
            return a
        }
    }

    func perform(_ action: Action, rule: Policy.SecretRule, entry: SecretListEntry, secret: SecureBytes?,
                 context: inout InstallContext) throws(ActionFailure) -> String {
        switch action {
        case let .luks(l):
            return try unlock(l, entry: entry, secret: secret).message
        case let .keyFile(volume):
            let dir = try HandoffDirectory(environment.keyFileDirectory, mode: 0o700,
                                           requireMemoryFileSystem: environment.requireMemoryFileSystem)
            try dir.write(HandoffPaths.keyFileName(volume: volume), secret!, mode: 0o400)
            return "key file for systemd-cryptsetup (\(secret!.count) bytes, mode 0400); remove it after cryptsetup with `se-secretd remove-key-files`"
        case let .keyscript(volume):
            return "ready: `se-secretd keyscript` serves it when CRYPTTAB_NAME=\(volume) (\(secret!.count) bytes)"
        case let .file(f):
            return try installFile(f, secret: secret!, context: &context)
        case let .credential(name):
            let dir = try HandoffDirectory(environment.credentialDirectory, mode: 0o700,
                                           requireMemoryFileSystem: environment.requireMemoryFileSystem)
            let outcome = try dir.write(name, secret!, mode: 0o400)
            return "\(outcome.rawValue) (\(secret!.count) bytes, mode 0400); systemd imports it at the switch to the new root"
        case let .passwordHash(user):
            let hash = try ShadowFile.hash(from: secret!)
            defer { hash.wipe() }
            let outcome = try ShadowFile.set(user: user, hash: hash, in: try context.root())
            return "\(outcome.rawValue): password hash of \(user) in \(environment.root)/etc/shadow"
        }
    }

    // MARK: LUKS

    func devicePath(_ spec: VolumeSpec) throws(ActionFailure) -> String {
        if let path = environment.deviceOverrides[spec.description] { return path }
        do throws(BlockDeviceError) {
            return try environment.devices.waitFor(spec, deadline: BlockDevices.deadline(afterSeconds: environment.deviceTimeout))
        } catch {
            if case .timedOut = error { throw ActionFailure(.timeout, error.description) }
            throw ActionFailure(.io, error.description)
        }
    }

    func unlock(_ l: Action.LUKS, entry: SecretListEntry, secret: SecureBytes?) throws(ActionFailure) -> (message: String, volume: OpenedVolume?) {
        let path = try devicePath(l.device)
        let volume = try LUKSVolume(path: path)
        let cipher = volume.cipherSpec
        // The host writes the headers: check the data cipher, and for a
        // passphrase every keyslot's, before anything is activated.
        guard LUKSCiphers.isAllowed(cipher, expected: l.expectCipher) else {
            throw ActionFailure(.data, "\(path) (\(l.device)): its header's data cipher is \(cipher); \(LUKSCiphers.refusal(cipher, expected: l.expectCipher)); not opening it")
        }
        if l.keyUse == .passphrase,
           let bad = volume.keyslotEncryptions.first(where: { !LUKSCiphers.isAllowed($0.cipher, expected: nil) && $0.cipher != l.expectCipher }) {
            throw ActionFailure(.data, "\(path) (\(l.device)): keyslot \(bad.slot) is encrypted with \(bad.cipher), which a passphrase does not protect [\(RuleID.luksKeyslotCipher)]; not opening it")
        }
        let key: LUKSVolume.Key
        var token: SecureBytes? = nil
        defer { token?.wipe() }
        switch l.keyUse {
        case .passphrase: key = .passphrase(secret!)
        case .volumeKey: key = .volumeKey(secret!)
        case .paesToken:
            guard volume.volumeKeySize == 0 || volume.volumeKeySize == PaesToken.size else {
                throw ActionFailure(.data, "\(path) has a \(volume.volumeKeySize)-byte volume key; a UV secret token has \(PaesToken.size) (is it a paes volume?)")
            }
            var t = try PaesToken.make(type: entry.type ?? .null, id: entry.id)
            token = SecureBytes(consuming: &t)
            key = .volumeKey(token!)
        }
        let how = l.keyUse.rawValue
        if environment.checkOnly {
            let slot = try volume.activate(as: nil, key: key)
            return ("the \(how) opens the \(volume.type) header of \(path) (\(cipher)\(slot.map { ", keyslot \($0)" } ?? "")); not activated (--check-only)",
                    OpenedVolume(mapping: l.mapping, luksUUID: volume.uuid, cipher: cipher, keyslot: slot, device: nil))
        }
        if LUKSVolume.isActive(l.mapping) {
            let activeUUID = try LUKSVolume.activeMappingUUID(l.mapping)
            guard activeUUID == volume.uuid else {
                throw ActionFailure(.io, "/dev/mapper/\(l.mapping) already exists for another volume (UUID \(activeUUID ?? "none"), \(path) has \(volume.uuid ?? "none"))")
            }
            // The kernel's table, not the header libcryptsetup would re-read.
            let table = try DMTable.read(.name(l.mapping), using: environment.rootInspector.tableStatus)
            guard LUKSCiphers.isAllowed(table.cipher, expected: l.expectCipher) else {
                throw ActionFailure(.data, "/dev/mapper/\(l.mapping) is open with \(table.kernelCipher) (the kernel's table); \(LUKSCiphers.refusal(table.cipher, expected: l.expectCipher))")
            }
            return ("already open as /dev/mapper/\(l.mapping) (\(table.cipher))",
                    OpenedVolume(mapping: l.mapping, luksUUID: activeUUID, cipher: table.cipher, keyslot: nil,
                                 device: mapperDevice(l.mapping)))
        }
        let flags = LUKSVolume.Flags(readOnly: l.readOnly, allowDiscards: l.discard)
        let slot = try volume.activate(as: l.mapping, key: key, flags: flags)
        // What the kernel really uses is its active table: the header the
        // host served to cryptsetup may not be the one read before (or after).
        let table: DMCryptTable
        do { table = try DMTable.read(.name(l.mapping), using: environment.rootInspector.tableStatus) } catch {
            LUKSVolume.deactivate(l.mapping)
            throw ActionFailure(.data, "/dev/mapper/\(l.mapping) came up, but \(error.message) [\(RuleID.luksTableUnverified)]; closed it again")
        }
        guard LUKSCiphers.isAllowed(table.cipher, expected: l.expectCipher) else {
            LUKSVolume.deactivate(l.mapping)
            throw ActionFailure(.data, "/dev/mapper/\(l.mapping) came up with \(table.kernelCipher) in the kernel's table; \(LUKSCiphers.refusal(table.cipher, expected: l.expectCipher)); closed it again")
        }
        guard table.cipher == cipher, table.offset == volume.dataOffset else {
            LUKSVolume.deactivate(l.mapping)
            throw ActionFailure(.data, "/dev/mapper/\(l.mapping) came up with \(table.kernelCipher) at sector \(table.offset) in the kernel's table, the header of \(path) says \(cipher) at sector \(volume.dataOffset) [\(RuleID.luksCipherMismatch)]; closed it again")
        }
        let activeUUID = try? LUKSVolume.activeMappingUUID(l.mapping)
        var notes = [table.cipher]
        if let slot { notes.append("keyslot \(slot)") }
        if l.readOnly { notes.append("read-only") }
        if l.discard { notes.append("discards allowed") }
        return ("opened \(path) as /dev/mapper/\(l.mapping) with the \(how) (\(notes.joined(separator: ", ")))",
                OpenedVolume(mapping: l.mapping, luksUUID: activeUUID ?? volume.uuid, cipher: table.cipher, keyslot: slot,
                             device: mapperDevice(l.mapping)))
    }

    /// "major:minor" of /dev/mapper/NAME (nil if it cannot be stat'ed).
    func mapperDevice(_ name: String) -> String? {
        var st = stat()
        guard stat(environment.rootInspector.devRoot + "/mapper/" + name, &st) == 0 else { return nil }
        let dev = UInt64(st.st_rdev)
        return "\(RootInspector.majorNumber(dev)):\(RootInspector.minorNumber(dev))"
    }

    // MARK: Files

    func installFile(_ f: Action.File, secret: SecureBytes, context: inout InstallContext) throws(ActionFailure) -> String {
        let checked = try FileFormats.check(f.format, secret)
        let tree = try context.root()
        let accounts = try context.users()
        let attributes = FileAttributes(mode: mode_t(f.mode), uid: try accounts.uid(f.owner), gid: try accounts.gid(f.group))
        let outcome = try secret.withUnsafeBytes { (raw) throws(ActionFailure) in
            try tree.write(f.path, raw, attributes: attributes, replace: f.replace, createParents: f.createParents)
        }
        var message = "\(outcome.rawValue): \(checked.summary), mode \(octal(f.mode)), owner \(attributes.uid):\(attributes.gid)"
        if let pub = checked.publicKey {
            let line = SecureBytes(copying: Array(pub.line(comment: checked.comment).utf8))
            let pubAttributes = FileAttributes(mode: 0o644, uid: attributes.uid, gid: attributes.gid)
            let pubOutcome = try line.withUnsafeBytes { (raw) throws(ActionFailure) in
                try tree.write(f.path + ".pub", raw, attributes: pubAttributes, replace: f.replace, createParents: false)
            }
            message += "; \(f.path).pub \(pubOutcome.rawValue) (mode 0644)"
        }
        return message
    }
}

func octal(_ mode: UInt32) -> String {
    let s = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}

extension Action {
    var isPaesToken: Bool {
        if case let .luks(l) = self { return l.keyUse == .paesToken }
        return false
    }
}

/// Debian's crypttab `keyscript=`: cryptroot runs the keyscript with the
/// crypttab key field as its argument and CRYPTTAB_NAME (the volume),
/// CRYPTTAB_KEY, CRYPTTAB_TRIED and more in the environment, and pipes its
/// standard output into cryptsetup as the key, byte for byte.
public enum Keyscript {
    /// The policy secret whose `keyscript` action names `volume`. When the
    /// crypttab key field names a secret (anything but empty, "none" or
    /// "-"), it must be that secret's name: crypttab and the policy must
    /// agree, and the policy decides.
    public static func rule(for volume: String, keyField: String?, in policy: Policy) throws(ActionFailure) -> Policy.SecretRule {
        let rules = policy.secrets.filter { $0.actions.contains(.keyscript(volume: volume)) }
        guard let rule = rules.first else {
            throw ActionFailure(.config, "the policy has no keyscript action for the volume \"\(volume)\"")
        }
        if let k = keyField, !k.isEmpty, k != "none", k != "-", k != rule.name {
            throw ActionFailure(.config, "crypttab names the key \"\(k)\" for \(volume), the policy serves \"\(rule.name)\"")
        }
        return rule
    }

    /// Retrieves the key for `volume` (a plaintext payload, wiped by the caller).
    public static func key(for volume: String, keyField: String?, policy: Policy,
                           store: SecretStore) throws(ActionFailure) -> (Policy.SecretRule, SecureBytes) {
        let rule = try rule(for: volume, keyField: keyField, in: policy)
        guard let entry = try store.entry(for: rule) else {
            throw ActionFailure(.data, "\(rule.name) is not in the secret store")
        }
        return (rule, try store.retrieve(entry, name: rule.name))
    }

    /// What one keyscript call did: the run report's record for it (always,
    /// also on a failure) and the failure, if any.
    public struct Served {
        public let record: ActionRecord
        public let failure: ActionFailure?
        /// Where recording it in the run report failed (the key was served or
        /// refused all the same).
        public let recordError: ActionFailure?
    }

    /// cryptroot's keyscript: the key for `volume` written to `fd`, and the
    /// record of it merged into the run directory's report (replacing an
    /// earlier call's record for the volume; `tried` is CRYPTTAB_TRIED).
    public static func serve(volume: String, keyField: String?, tried: Int, policy: Policy,
                             store openStore: () throws(ActionFailure) -> SecretStore,
                             to fd: Int32, runDirectory: String) -> Served {
        let started = MonotonicClock.nanoseconds()
        var record = ActionRecord(phase: Phase.keyscript.rawValue, secret: "", action: "keyscript",
                                  target: "CRYPTTAB_NAME=\(volume)", result: .ok, message: "", milliseconds: 0)
        var failure: ActionFailure? = nil
        do throws(ActionFailure) {
            let (rule, key) = try Keyscript.key(for: volume, keyField: keyField, policy: policy, store: try openStore())
            defer { key.wipe() }
            record.secret = rule.name
            try write(key, to: fd)
            record.message = "served \(key.count) bytes to cryptroot" + (tried > 0 ? " (try \(tried + 1))" : "")
        } catch {
            failure = error
            record.result = .failed
            record.message = error.message
            record.failure = error.kind
            if record.secret.isEmpty { record.secret = "-" }
        }
        record.milliseconds = Int((MonotonicClock.nanoseconds() - started) / 1_000_000)
        var recordError: ActionFailure? = nil
        do throws(ActionFailure) {
            try RunReport.record([record], runDirectory: runDirectory) { [target = record.target] in
                $0["phase"] == .string(Phase.keyscript.rawValue) && $0["target"] == .string(target)
            }
        } catch {
            recordError = error
        }
        return Served(record: record, failure: failure, recordError: recordError)
    }

    /// Writes a secret to a descriptor completely (no newline added).
    public static func write(_ secret: SecureBytes, to fd: Int32) throws(ActionFailure) {
        try secret.withUnsafeBytes { (raw) throws(ActionFailure) in
            do { try FileIO.writeAll(fd, raw) } catch {
                throw ActionFailure(.io, "cannot write the key to standard output: \(error)")
            }
        }
    }
}
