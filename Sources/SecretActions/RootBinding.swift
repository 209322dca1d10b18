#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinuxExtras
import SEBase
import SecretPolicy
import SEVocabulary

/// A LUKS volume that the `unlock` phase opened (or found open) as
/// /dev/mapper/`mapping`, as recorded in the run directory's report. The
/// `install` phase uses these records to tell the policy's own mappings
/// from any other device the host could present as the new root.
public struct OpenedVolume: Sendable, Equatable {
    public var mapping: String
    public var luksUUID: String?
    /// The data cipher (the header's before activation, the kernel's after).
    public var cipher: String
    /// The keyslot that opened the volume (nil: by volume key, or already open).
    public var keyslot: Int?
    /// "major:minor" of /dev/mapper/`mapping`; nil when nothing was
    /// activated (--check-only).
    public var device: String?

    public init(mapping: String, luksUUID: String?, cipher: String, keyslot: Int?, device: String?) {
        self.mapping = mapping
        self.luksUUID = luksUUID
        self.cipher = cipher
        self.keyslot = keyslot
        self.device = device
    }

    public var json: JSON {
        var m: [(String, JSON)] = [("mapping", .string(mapping))]
        if let luksUUID { m.append(("luks_uuid", .string(luksUUID))) }
        m.append(("cipher", .string(cipher)))
        if let keyslot { m.append(("keyslot", .int(Int64(keyslot)))) }
        if let device { m.append(("dev", .string(device))) }
        return .object(m)
    }

    public init?(json: JSON) {
        guard case let .string(mapping)? = json["mapping"], case let .string(cipher)? = json["cipher"] else { return nil }
        self.mapping = mapping
        self.cipher = cipher
        if case let .string(u)? = json["luks_uuid"] { luksUUID = u } else { luksUUID = nil }
        if case let .int(k)? = json["keyslot"], k >= 0, k < 1024 { keyslot = Int(k) } else { keyslot = nil }
        if case let .string(d)? = json["dev"] { device = d } else { device = nil }
    }
}

/// The device a path lives on and the type of its file system.
public struct RootFileSystem: Sendable, Equatable {
    public var major: UInt32
    public var minor: UInt32
    /// statfs f_type.
    public var magic: Int64

    public init(major: UInt32, minor: UInt32, magic: Int64) {
        self.major = major
        self.minor = minor
        self.magic = magic
    }

    public static let tmpfsMagic: Int64 = 0x0102_1994
    public static let ramfsMagic: Int64 = 0x8584_58f6

    public var device: String { "\(major):\(minor)" }
}

/// The system lookups behind the root check, replaceable in tests (a fake
/// sysfs tree, a stat function, the kernel's view of a mapping): no
/// device-mapper is needed to exercise every branch.
public struct RootInspector: Sendable {
    /// Where sysfs is (/sys/dev/block/M:N/dm/{name,uuid}, .../slaves).
    public var sysRoot = "/sys"
    /// Where the device nodes of a mapping's backing devices are.
    public var devRoot = "/dev"
    /// st_dev and statfs f_type of a path (nil: cannot stat it).
    public var fileSystem: @Sendable (String) -> RootFileSystem? = RootInspector.statFileSystem
    /// The kernel's view of a mapping: DM_TABLE_STATUS on
    /// /dev/mapper/control (`DMTable.read` parses what it returns). Tests
    /// answer with the bytes the kernel would write, so "the kernel's table"
    /// and "the header on disk" are separate sources there as they are here.
    public var tableStatus: DMTable.TableStatus = DMTable.kernel
    /// "major:minor" of a block device node (st_rdev; nil: not a block device).
    public var blockDevice: @Sendable (String) -> String? = RootInspector.statBlockDevice

    public init() {}

    public static func statFileSystem(_ path: String) -> RootFileSystem? {
        var st = stat()
        var fs = statfs()
        guard stat(path, &st) == 0, statfs(path, &fs) == 0 else { return nil }
        let dev = UInt64(st.st_dev)
        return RootFileSystem(major: majorNumber(dev), minor: minorNumber(dev), magic: Int64(fs.f_type))
    }

    public static func statBlockDevice(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFBLK else { return nil }
        let dev = UInt64(st.st_rdev)
        return "\(majorNumber(dev)):\(minorNumber(dev))"
    }

    /// glibc's gnu_dev_major / gnu_dev_minor.
    public static func majorNumber(_ dev: UInt64) -> UInt32 { UInt32(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)) }
    public static func minorNumber(_ dev: UInt64) -> UInt32 { UInt32((dev & 0xff) | ((dev >> 12) & ~0xff)) }

    func sysfsValue(_ relative: String) -> String? {
        guard let bytes = try? FileIO.read(sysRoot + "/" + relative, limit: 4096, followSymlinks: true) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}

/// A dm-crypt mapping's device-mapper UUID as libcryptsetup sets it:
/// "CRYPT-<type>-<LUKS UUID without dashes>-<name>".
struct CryptUUID: Equatable {
    var type: String
    var luksHex: String
    var name: String

    init?(_ text: String) {
        guard text.hasPrefix("CRYPT-") else { return nil }
        let parts = text.dropFirst(6).split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "LUKS1" || parts[0] == "LUKS2", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        type = String(parts[0])
        luksHex = parts[1].lowercased()
        name = String(parts[2])
    }

    static func hex(of luksUUID: String) -> String { luksUUID.lowercased().filter { $0 != "-" } }
}

extension PhaseRunner {
    /// Checks that the new root is what the policy's `root` says, before
    /// anything is installed. Returns the record's secret (the hand-off
    /// secret whose key was checked, or "-") and its message; throws a
    /// `.data` failure naming the rule when the root is not the policy's.
    /// `secretFor` retrieves a hand-off volume's secret (wiped by the caller).
    func checkRoot(_ binding: Policy.RootBinding, opened: [OpenedVolume],
                   secretFor: (Policy.SecretRule) throws(ActionFailure) -> SecureBytes?) throws(ActionFailure) -> (String, String) {
        let root = environment.root
        let inspector = environment.rootInspector
        if case .any = binding {
            return ("-", "not checked: the policy says \"root\": {\"type\": \"any\"} (unsafe: the host may have supplied this root)")
        }
        guard let fs = inspector.fileSystem(root) else {
            throw ActionFailure(.io, "cannot stat the new root \(root): \(SystemError.current("stat", path: root))")
        }
        if case .tmpfs = binding {
            guard fs.magic == RootFileSystem.tmpfsMagic || fs.magic == RootFileSystem.ramfsMagic else {
                throw ActionFailure(.data, "the new root \(root) is not on tmpfs or ramfs (file system type 0x\(String(UInt64(bitPattern: fs.magic), radix: 16)), device \(fs.device)), as the policy's \"root\" says; not installing anything [\(RuleID.rootNotTmpfs)]")
            }
            return ("-", "\(root) is on tmpfs/ramfs, as the policy says")
        }
        guard case let .luks(wanted) = binding else { return ("-", "") }
        let allowedNames = wanted.map { [$0] } ?? policy.volumeNames
        let base = "dev/block/\(fs.device)"
        guard let dmName = inspector.sysfsValue(base + "/dm/name"), let dmUUID = inspector.sysfsValue(base + "/dm/uuid") else {
            throw ActionFailure(.data, "the new root \(root) is on device \(fs.device), which is not a device-mapper device; the policy's \"root\" wants a LUKS mapping of \(allowedNames.joined(separator: " or ")); not installing anything [\(RuleID.rootNotDm)]")
        }
        guard let crypt = CryptUUID(dmUUID), crypt.name == dmName else {
            throw ActionFailure(.data, "the new root \(root) is on /dev/mapper/\(dmName) (device \(fs.device)), which is not a LUKS dm-crypt mapping (dm UUID \"\(dmUUID)\"); not installing anything [\(RuleID.rootNotLuks)]")
        }
        guard allowedNames.contains(dmName) else {
            throw ActionFailure(.data, "the new root \(root) is on /dev/mapper/\(dmName), not on the policy's \(allowedNames.map { "/dev/mapper/" + $0 }.joined(separator: " or ")); not installing anything [\(RuleID.rootNotPolicyVolume)]")
        }
        // Opened by the policy's own luks action in this boot.
        if let v = opened.first(where: { $0.mapping == dmName && $0.device == fs.device && $0.luksUUID.map(CryptUUID.hex) == crypt.luksHex }) {
            return ("-", "\(root) is on /dev/mapper/\(dmName) (device \(fs.device), \(crypt.type) UUID \(v.luksUUID ?? "?"), \(v.cipher)\(v.keyslot.map { ", keyslot \($0)" } ?? "")), opened by the policy's luks action in this boot")
        }
        // Handed off: opened by systemd-cryptsetup or cryptroot with the key
        // of the policy's keyfile/keyscript action for that volume.
        let handoff = policy.secrets.first { rule in
            rule.actions.contains { a in
                switch a {
                case let .keyFile(v), let .keyscript(v): return v == dmName
                default: return false
                }
            }
        }
        guard let rule = handoff else {
            throw ActionFailure(.data, "the new root \(root) is on /dev/mapper/\(dmName) (device \(fs.device)), but the unlock phase of this boot did not open that mapping (no matching record in the report); not installing anything [\(RuleID.rootNotOpenedByPolicy)]")
        }
        return (rule.name, try checkHandoff(dmName, crypt: crypt, fs: fs, rule: rule, secretFor: secretFor))
    }

    /// A hand-off mapping: its backing device's LUKS header must be the one
    /// the mapping was made from (UUID), use an allowed cipher, have no
    /// keyslot with a disallowed cipher, and open with the policy's key; the
    /// kernel's active table (DM_TABLE_STATUS, not the header) must be one
    /// crypt target with an allowed cipher equal to the header's, on that
    /// backing device, at the header's data offset.
    func checkHandoff(_ name: String, crypt: CryptUUID, fs: RootFileSystem, rule: Policy.SecretRule,
                      secretFor: (Policy.SecretRule) throws(ActionFailure) -> SecureBytes?) throws(ActionFailure) -> String {
        let root = environment.root
        let inspector = environment.rootInspector
        let what = "the new root \(root) on /dev/mapper/\(name)"
        let slavesDir = inspector.sysRoot + "/dev/block/\(fs.device)/slaves"
        let slaves: [String]
        do { slaves = try FileIO.list(slavesDir, limit: 16).map(\.name) } catch {
            throw ActionFailure(.data, "\(what): cannot list its backing devices (\(error)) [\(RuleID.rootHandoffUnverified)]")
        }
        guard slaves.count == 1, PathRules.isPlainFileName(slaves[0]) else {
            throw ActionFailure(.data, "\(what) has \(slaves.count) backing devices, a LUKS mapping has one [\(RuleID.rootHandoffUnverified)]")
        }
        let backing = inspector.devRoot + "/" + slaves[0]
        let header = try LUKSVolume(path: backing)
        guard let uuid = header.uuid, CryptUUID.hex(of: uuid) == crypt.luksHex else {
            throw ActionFailure(.data, "\(what): the LUKS header on \(backing) has UUID \(header.uuid ?? "none"), the mapping was made from \(crypt.luksHex) [\(RuleID.rootHandoffUnverified)]")
        }
        let cipher = header.cipherSpec
        guard LUKSCiphers.isAllowed(cipher, expected: nil) else {
            throw ActionFailure(.data, "\(what): the header on \(backing) uses \(cipher); \(LUKSCiphers.refusal(cipher, expected: nil))")
        }
        // The kernel's active table, not libcryptsetup's view (which re-reads
        // the header the host can swap after cryptsetup opened it).
        let table: DMCryptTable
        do { table = try DMTable.read(.device(major: fs.major, minor: fs.minor), using: inspector.tableStatus) } catch {
            throw ActionFailure(.data, "\(what): \(error.message) [\(RuleID.rootHandoffUnverified)]")
        }
        guard table.name == name else {
            throw ActionFailure(.data, "\(what): the kernel's table of \(fs.device) is the mapping \(table.name) [\(RuleID.rootHandoffUnverified)]")
        }
        let active = table.cipher
        guard LUKSCiphers.isAllowed(active, expected: nil) else {
            throw ActionFailure(.data, "\(what): the kernel's table uses \(table.kernelCipher) (the header on \(backing) says \(cipher)); \(LUKSCiphers.refusal(active, expected: nil))")
        }
        guard active == cipher else {
            throw ActionFailure(.data, "\(what): the kernel's table uses \(table.kernelCipher), the header on \(backing) says \(cipher) [\(RuleID.luksCipherMismatch)]")
        }
        guard let backingDevice = inspector.blockDevice(backing), backingDevice == table.backing else {
            throw ActionFailure(.data, "\(what): the kernel's table maps device \(table.backing), the header checked is on \(backing) (\(inspector.blockDevice(backing) ?? "not a block device")) [\(RuleID.rootHandoffUnverified)]")
        }
        guard table.offset == header.dataOffset else {
            throw ActionFailure(.data, "\(what): the kernel's table starts the data at sector \(table.offset) of \(table.backing), the header on \(backing) at sector \(header.dataOffset) [\(RuleID.rootHandoffUnverified)]")
        }
        if let bad = header.keyslotEncryptions.first(where: { !LUKSCiphers.isAllowed($0.cipher, expected: nil) }) {
            throw ActionFailure(.data, "\(what): keyslot \(bad.slot) of \(backing) is encrypted with \(bad.cipher) [\(RuleID.luksKeyslotCipher)]")
        }
        guard let secret = try secretFor(rule) else {
            throw ActionFailure(.data, "\(what): the key of \(rule.name) is not in the secret store, so the volume cannot be checked [\(RuleID.rootHandoffUnverified)]")
        }
        let slot: Int?
        do { slot = try header.activate(as: nil, key: .passphrase(secret)) } catch {
            throw ActionFailure(.data, "\(what): \(rule.name) opens no keyslot of \(backing): not the policy's volume [\(RuleID.rootNotOpenedByPolicy)]")
        }
        return "\(root) is on /dev/mapper/\(name) (device \(fs.device), \(crypt.type) UUID \(uuid), \(active)), opened by cryptsetup; \(rule.name) opens keyslot \(slot.map(String.init) ?? "?") of \(backing)"
    }
}

extension RunReport {
    /// The LUKS volumes the `unlock` phase of this boot activated (records
    /// with result ok and a device number), from `<run-dir>/report.json`.
    /// No report means none.
    public static func openedVolumes(runDirectory: String) throws(ActionFailure) -> [OpenedVolume] {
        let path = runDirectory + "/" + fileName
        guard FileIO.kind(of: path) != nil else { return [] }
        let json: JSON
        do { json = try JSON.parse(try FileIO.read(path, limit: maxSize)) } catch {
            throw ActionFailure(.io, "cannot read the unlock records in \(path): \(error)")
        }
        guard case let .array(actions)? = json["actions"] else { return [] }
        return actions.compactMap { a in
            guard a["phase"] == .string(Phase.unlock.rawValue), a["action"] == .string("luks"), a["result"] == .string("ok"),
                  let v = a["volume"].flatMap(OpenedVolume.init(json:)), v.device != nil else { return nil }
            return v
        }
    }
}
