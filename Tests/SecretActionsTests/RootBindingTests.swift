import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import SecretPolicy
import UVDevice
import UVCommands
@testable import SecretActions
import SecretdWorkbench

/// `install` writes only into a new root that is the policy's. The sysfs
/// tree, the stat of the root and the kernel's view of a mapping are fakes
/// here (this machine has no device-mapper), so every branch runs; the
/// secrets come from a simulated ultravisor filled as at boot.
@Suite(.serialized) struct RootBindingTests {
    static let ext4Magic: Int64 = 0xEF53

    /// A fake /sys and /dev under one directory.
    struct FakeSystem {
        let tmp: TempDir
        var dir: String { tmp.path }
        var sys: String { dir + "/sys" }
        var dev: String { dir + "/dev" }

        init() throws {
            tmp = try TempDir("fake-sys")
            try FileManager.default.createDirectory(atPath: dir + "/sys/dev/block", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/dev", withIntermediateDirectories: true)
        }

        /// /sys/dev/block/M:N/dm/{name,uuid} and slaves/.
        func dm(_ device: String, name: String, uuid: String, slaves: [String] = []) throws {
            let base = sys + "/dev/block/" + device
            try FileManager.default.createDirectory(atPath: base + "/dm", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/slaves", withIntermediateDirectories: true)
            try write(base + "/dm/name", Array((name + "\n").utf8))
            try write(base + "/dm/uuid", Array((uuid + "\n").utf8))
            for s in slaves { try FileManager.default.createDirectory(atPath: base + "/slaves/" + s, withIntermediateDirectories: true) }
        }

        /// A plain block device (a partition): no dm directory.
        func plain(_ device: String) throws {
            try FileManager.default.createDirectory(atPath: sys + "/dev/block/" + device, withIntermediateDirectories: true)
        }
    }

    static func cryptUUID(_ luksUUID: String, _ name: String, type: String = "LUKS2") -> String {
        "CRYPT-\(type)-\(luksUUID.replacingOccurrences(of: "-", with: ""))-\(name)"
    }

    static let fileAction = #"{"name": "ssh-host-ecdsa", "type": "plain", "actions": [{"type": "file", "path": "/etc/ssh/ssh_host_ecdsa_key", "format": "ssh-host-key"}]}"#

    static func policy(_ volumeAction: String?, root: String?) throws -> Policy {
        var secrets: [String] = []
        if let volumeAction { secrets.append(#"{"name": "luks-root", "type": "plain", "actions": [\#(volumeAction)]}"#) }
        secrets.append(fileAction)
        let text = #"{"version": 1, "trust": {"require": "none"}, "secrets": [\#(secrets.joined(separator: ", "))]\#(root.map { ", \"root\": " + $0 } ?? "")}"#
        return try Policy.parse(Array(text.utf8))
    }

    struct Outcome {
        let records: [ActionRecord]
        let rootDir: TempDir
        var root: String { rootDir.path }
        var rootRecord: ActionRecord { records[0] }
        var installed: Bool { FileManager.default.fileExists(atPath: root + "/etc/ssh/ssh_host_ecdsa_key") }
    }

    /// Runs the install phase into a fresh root that stat() says is on `device` (`magic`).
    static func install(_ g: Guest, _ policy: Policy, fake: FakeSystem, device: (UInt32, UInt32), magic: Int64 = ext4Magic,
                        opened: [OpenedVolume] = [], kernel: KernelTable? = .crypt("aes-xts-plain64"),
                        blockDevices: [String: String] = ["vdb": "252:16", "vdc": "252:32", "vdd": "252:48"]) throws -> Outcome {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let runDir = try TempDir("run")
        let run = runDir.path
        if !opened.isEmpty {
            let records = opened.map {
                ActionRecord(phase: "unlock", secret: "luks-root", action: "luks", target: "LABEL=root as /dev/mapper/\($0.mapping)",
                             result: .ok, message: "opened", milliseconds: 1, volume: $0)
            }
            try RunReport.record(records, runDirectory: run) { _ in false }
        }
        var env = PhaseEnvironment()
        env.root = root
        env.runDirectory = run
        env.requireMemoryFileSystem = false
        env.rootInspector.sysRoot = fake.sys
        env.rootInspector.devRoot = fake.dev
        let fs = RootFileSystem(major: device.0, minor: device.1, magic: magic)
        env.rootInspector.fileSystem = { _ in fs }
        // The kernel's table and the header on disk are separate sources: the
        // fake answers DM_TABLE_STATUS with `kernel`, the header is the image file.
        env.rootInspector.tableStatus = kernel?.status() ?? KernelTable.noSuchMapping
        let dev = fake.dev
        env.rootInspector.blockDevice = { path in
            blockDevices.first { dev + "/" + $0.key == path }?.value
        }
        let uv = g.uv
        let records = PhaseRunner(policy: policy, environment: env) { () throws(ActionFailure) -> SecretStore in
            do { return SecretStore(client: try uv.client()) } catch {
                throw ActionFailure(.device, "\(error)")
            }
        }.run(.install)
        return Outcome(records: records, rootDir: rootDir)
    }

    /// Refused: the root record fails with the rule, every install action fails, nothing is written.
    static func expectRefused(_ o: Outcome, _ rule: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(o.rootRecord.action == "root" && o.rootRecord.result == .failed && o.rootRecord.failure == .data,
                "\(o.rootRecord)", sourceLocation: sourceLocation)
        #expect(o.rootRecord.message.contains("[\(rule)]"), "\(o.rootRecord.message)", sourceLocation: sourceLocation)
        #expect(o.records.count == 2 && o.records[1].result == .failed && o.records[1].message.contains("not the policy's"),
                "\(o.records)", sourceLocation: sourceLocation)
        #expect(!o.installed, "a file was written into a root that is not the policy's", sourceLocation: sourceLocation)
    }

    static func expectAccepted(_ o: Outcome, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(o.rootRecord.action == "root" && o.rootRecord.result == .ok, "\(o.rootRecord)", sourceLocation: sourceLocation)
        #expect(o.rootRecord.message.contains(text), "\(o.rootRecord.message)", sourceLocation: sourceLocation)
        #expect(o.records.count == 2 && o.records[1].result == .ok, "\(o.records)", sourceLocation: sourceLocation)
        #expect(o.installed, sourceLocation: sourceLocation)
    }

    @Test func theRootMustBeTheMappingThePolicyOpened() throws {
        let g = try Guest()
        let fake = try FakeSystem()
        let uuid = try #require(try LUKSVolume(path: g.images["root"]!).uuid)
        let luks = #"{"type": "luks", "device": "LABEL=root", "name": "root"}"#
        // No "root" key: the default binds the root to the policy's own volumes.
        let policy = try Self.policy(luks, root: nil)
        #expect(policy.root == .luks(volume: nil))
        let opened = OpenedVolume(mapping: "root", luksUUID: uuid, cipher: "aes-xts-plain64", keyslot: 0, device: "253:0")

        // A plain partition (or the initramfs itself): not a device-mapper device.
        try fake.plain("8:1")
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (8, 1), opened: [opened]), "root-not-dm")
        // A device-mapper device that is not dm-crypt (an LVM volume the host's disk describes).
        try fake.dm("253:1", name: "root", uuid: "LVM-abcdef")
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 1), opened: [opened]), "root-not-luks")
        // A dm-crypt mapping under another name.
        try fake.dm("253:2", name: "hostroot", uuid: Self.cryptUUID(uuid, "hostroot"))
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 2), opened: [opened]), "root-not-policy-volume")
        // The policy's name, but not opened by this boot's unlock phase: no record at all ...
        try fake.dm("253:0", name: "root", uuid: Self.cryptUUID(uuid, "root"))
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0)), "root-not-opened-by-policy")
        // ... a record for another device number, or for another LUKS UUID (the host's copy of the header's UUID on another volume).
        var elsewhere = opened
        elsewhere.device = "253:7"
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), opened: [elsewhere]), "root-not-opened-by-policy")
        var otherUUID = opened
        otherUUID.luksUUID = "11111111-2222-3333-4444-555555555555"
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), opened: [otherUUID]), "root-not-opened-by-policy")
        // A check-only record (nothing activated, no device number) does not count.
        var checked = opened
        checked.device = nil
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), opened: [checked]), "root-not-opened-by-policy")

        // The policy's own mapping, as the unlock phase recorded it: accepted, and the file is written.
        Self.expectAccepted(try Self.install(g, policy, fake: fake, device: (253, 0), opened: [opened]),
                            "opened by the policy's luks action in this boot")
        // An explicit volume binds to that one only.
        let named = try Self.policy(luks + #", {"type": "keyfile", "volume": "data"}"#, root: #"{"type": "luks", "volume": "data"}"#)
        Self.expectRefused(try Self.install(g, named, fake: fake, device: (253, 0), opened: [opened]), "root-not-policy-volume")
    }

    /// The root as Debian's cryptroot leaves it: /dev/mapper/root (253:0) on
    /// the example's LUKS image as /dev/vdb, and a policy whose keyscript
    /// volume is that root.
    static func handedOffRoot() throws -> (Guest, FakeSystem, Policy, uuid: String) {
        let g = try Guest()
        let fake = try FakeSystem()
        let uuid = try #require(try LUKSVolume(path: g.images["root"]!).uuid)
        try FileManager.default.copyItem(atPath: g.images["root"]!, toPath: fake.dev + "/vdb")
        try fake.dm("253:0", name: "root", uuid: Self.cryptUUID(uuid, "root"), slaves: ["vdb"])
        let policy = try Self.policy(#"{"type": "keyscript", "volume": "root"}"#, root: #"{"type": "luks", "volume": "root"}"#)
        return (g, fake, policy, uuid)
    }

    /// A keyscript/keyfile volume is opened by cryptsetup: its header is read
    /// from the mapping's backing device and must open with the policy's key.
    @Test func aHandedOffMappingIsCheckedAgainstItsHeaderAndTheKey() throws {
        let (g, fake, policy, _) = try Self.handedOffRoot()

        let ok = try Self.install(g, policy, fake: fake, device: (253, 0))
        Self.expectAccepted(ok, "opened by cryptsetup; luks-root opens keyslot 0 of \(fake.dev)/vdb")
        #expect(ok.rootRecord.secret == "luks-root")
        #expect(try LUKSVolume(path: fake.dev + "/vdb").dataOffset == 32768, "a 16 MiB LUKS2 header")
        // The kernel's spelling of the same cipher.
        Self.expectAccepted(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("capi:xts(aes)-plain64")),
                            "opened by cryptsetup")
        // Not the kernel's mapping, or nothing readable from it.
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: nil), "root-handoff-unverified")
        var linear = KernelTable(targets: [.init(type: "linear", params: "252:16 32768")])
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: linear), "root-handoff-unverified")
        linear.targets = [.init(length: 1000, params: "aes-xts-plain64 00 0 252:16 32768"),
                          .init(start: 1000, length: 1000, params: "cipher_null-ecb - 0 252:16 33768")]
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: linear), "root-handoff-unverified")
        // Another cipher in the kernel's table than in the header.
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("serpent-xts-plain64")), "luks-cipher-mismatch")
        // The kernel maps another device, or another offset, than the header that was checked.
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("aes-xts-plain64", backing: "252:32")),
                           "root-handoff-unverified")
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("aes-xts-plain64", offset: 4096)),
                           "root-handoff-unverified")
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 0), blockDevices: [:]), "root-handoff-unverified")
    }

    /// The attack of the security review: the host served a header with
    /// cipher_null-ecb (genuine keyslot and digest) while cryptsetup opened
    /// the volume, and the genuine header afterwards. The header on disk now
    /// says aes-xts-plain64 and opens with the key; only the kernel's table
    /// shows what the mapping really does. (The old check asked
    /// libcryptsetup, which re-read the header: aes-xts-plain64, accepted.)
    @Test func theKernelsTableNotTheHeaderDecides() throws {
        let (g, fake, policy, uuid) = try Self.handedOffRoot()
        #expect(try LUKSVolume(path: fake.dev + "/vdb").cipherSpec == "aes-xts-plain64")
        let o = try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("cipher_null-ecb", key: "-"))
        Self.expectRefused(o, "luks-cipher-null")
        #expect(o.rootRecord.message.contains("the kernel's table uses cipher_null-ecb"), "\(o.rootRecord.message)")
        let capi = try Self.install(g, policy, fake: fake, device: (253, 0), kernel: .crypt("capi:ecb(cipher_null)-plain", key: "-"))
        Self.expectRefused(capi, "luks-cipher-null")

        // The backing device's header is another volume's: another UUID, or the same UUID but not the policy's key.
        try LUKSImage.format(fake.dev + "/vdc", volumeKey: Random.bytes(64), passphrase: Array("the host's own".utf8))
        let hostUUID = try #require(try LUKSVolume(path: fake.dev + "/vdc").uuid)
        try fake.dm("253:1", name: "root", uuid: Self.cryptUUID(uuid, "root"), slaves: ["vdc"])
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 1)), "root-handoff-unverified")
        try fake.dm("253:2", name: "root", uuid: Self.cryptUUID(hostUUID, "root"), slaves: ["vdc"])
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 2), kernel: .crypt("aes-xts-plain64", backing: "252:32")),
                           "root-not-opened-by-policy")
        // A cipher_null keyslot in the header (any passphrase opens it).
        try FileManager.default.copyItem(atPath: g.images["root"]!, toPath: fake.dev + "/vdd")
        try LUKSImage.rewriteEncryption(fake.dev + "/vdd", inSection: "keyslots", from: "aes-xts-plain64", to: "cipher_null-ecb")
        try fake.dm("253:3", name: "root", uuid: Self.cryptUUID(uuid, "root"), slaves: ["vdd"])
        Self.expectRefused(try Self.install(g, policy, fake: fake, device: (253, 3), kernel: .crypt("aes-xts-plain64", backing: "252:48")),
                           "luks-keyslot-cipher")
    }

    /// The root is checked before the boot switches into it even when the
    /// policy installs nothing there; a policy that binds no root stops the boot.
    @Test func theRootIsCheckedWithoutInstallActionsAndAnUnboundRootStopsTheBoot() throws {
        let g = try Guest()
        let fake = try FakeSystem()
        func run(_ text: String, device: (UInt32, UInt32)) throws -> [ActionRecord] {
            try Self.install(g, try Policy.parse(Array(text.utf8)), fake: fake, device: device).records
        }
        try fake.plain("8:1")
        // Only an unlock action (the root opened by cryptsetup with a key file),
        // no install action: a plain partition the host supplied is refused.
        let unlockOnly = #"{"version": 1, "trust": {"require": "none"}, "secrets": [{"name": "luks-root", "type": "plain", "actions": [{"type": "keyfile", "volume": "root"}]}]}"#
        let r1 = try run(unlockOnly, device: (8, 1))
        #expect(r1.count == 1 && r1[0].action == "root" && r1[0].result == .failed && r1[0].message.contains("[root-not-dm]"), "\(r1)")
        // No volume and no "root": unbound; the phase fails, naming the rule.
        let unbound = #"{"version": 1, "trust": {"require": "none"}, "secrets": [{"name": "a", "type": "plain"}]}"#
        let r2 = try run(unbound, device: (8, 1))
        #expect(r2.count == 1 && r2[0].action == "root" && r2[0].result == .failed && r2[0].message.contains("[root-unbound]"), "\(r2)")
    }

    @Test func tmpfsAndTheExplicitOptOut() throws {
        let g = try Guest()
        let fake = try FakeSystem()
        let tmpfs = try Self.policy(nil, root: #"{"type": "tmpfs"}"#)
        Self.expectAccepted(try Self.install(g, tmpfs, fake: fake, device: (0, 42), magic: RootFileSystem.tmpfsMagic), "tmpfs")
        Self.expectRefused(try Self.install(g, tmpfs, fake: fake, device: (8, 1)), "root-not-tmpfs")
        // "any": not checked, and the record says so.
        let any = try Self.policy(nil, root: #"{"type": "any"}"#)
        let o = try Self.install(g, any, fake: fake, device: (8, 1))
        Self.expectAccepted(o, "not checked")
        #expect(o.rootRecord.message.contains("unsafe"))
    }

    @Test func dmUUIDParsing() {
        #expect(CryptUUID("CRYPT-LUKS2-0123456789abcdef0123456789abcdef-my-root") ==
                CryptUUID("CRYPT-LUKS2-0123456789ABCDEF0123456789ABCDEF-my-root"))
        #expect(CryptUUID("CRYPT-LUKS2-0123456789abcdef0123456789abcdef-my-root")?.name == "my-root")
        #expect(CryptUUID("CRYPT-LUKS1-00ff-r")?.type == "LUKS1")
        for bad in ["LVM-x", "CRYPT-PLAIN-root", "CRYPT-LUKS2--root", "CRYPT-LUKS2-abc-", "CRYPT-VERITY-ab-root", ""] {
            #expect(CryptUUID(bad) == nil, "\(bad)")
        }
        #expect(RootInspector.majorNumber(0xFD01) == 253 && RootInspector.minorNumber(0xFD01) == 1)
        #expect(RootInspector.majorNumber(0x10_082C) == 8 && RootInspector.minorNumber(0x10_082C) == 300, "glibc makedev(8, 300)")
    }
}
