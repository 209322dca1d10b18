import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
@testable import SecretActions

@Suite struct LUKSTests {
    let pass = Array("correct horse battery staple 0123456789abcdef".utf8)

    @Test func passphraseAndVolumeKeyAgainstTheHeader() throws {
        let tmp = try TempDir("luks")
        let dir = tmp.path
        let image = dir + "/root.img"
        let vk = Random.bytes(64)
        try LUKSImage.format(image, volumeKey: vk, passphrase: pass, label: "root")
        let v = try LUKSVolume(path: image)
        #expect(v.type == "LUKS2" && v.cipherSpec == "aes-xts-plain64" && v.volumeKeySize == 64 && v.uuid != nil)
        #expect(try v.activate(as: nil, key: .passphrase(SecureBytes(copying: pass))) == 0)
        #expect(try v.activate(as: nil, key: .volumeKey(SecureBytes(copying: vk))) == nil)

        // Wrong passphrase, wrong volume key, wrong size: each a data failure naming the image, never the key.
        var wrong = pass
        wrong[0] ^= 1
        let e1 = #expect(throws: ActionFailure.self) { try v.activate(as: nil, key: .passphrase(SecureBytes(copying: wrong))) }
        #expect(e1?.kind == .data && e1?.message.contains("opens no keyslot") == true)
        var badKey = vk
        badKey[63] ^= 0x80
        let e2 = #expect(throws: ActionFailure.self) { try v.activate(as: nil, key: .volumeKey(SecureBytes(copying: badKey))) }
        #expect(e2?.kind == .data && e2?.message.contains("does not match") == true)
        let e3 = #expect(throws: ActionFailure.self) { try v.activate(as: nil, key: .volumeKey(SecureBytes(copying: Array(vk.prefix(32))))) }
        #expect(e3?.kind == .data && e3?.message.contains("64-byte volume key") == true)
        for e in [e1, e2, e3].compactMap({ $0 }) {
            #expect(!e.message.contains(String(decoding: pass, as: UTF8.self)) && !e.message.contains(vk.hex))
        }
    }

    @Test func notALUKSVolume() throws {
        let tmp = try TempDir("luks")
        let dir = tmp.path
        try write(dir + "/zero.img", [UInt8](repeating: 0, count: 1 << 20))
        let e = #expect(throws: ActionFailure.self) { try LUKSVolume(path: dir + "/zero.img") }
        #expect(e?.kind == .data && e?.message.contains("not a LUKS volume") == true)
        let m = #expect(throws: ActionFailure.self) { try LUKSVolume(path: dir + "/missing.img") }
        #expect(m?.kind == .io)
    }

    /// add-secret-request reference §13: 00 | 000000 | 09 | 000000 | type u16 | length u16 = 0 | ID.
    @Test func paesTokenLayout() throws {
        let id = Digest.sha256(Array("rfs-luks-key".utf8))
        let t256 = try PaesToken.make(type: .aesXTS256, id: id)
        #expect(t256.count == 44)
        #expect(Array(t256[0..<12]) == [0x00, 0, 0, 0, 0x09, 0, 0, 0, 0x00, 0x08, 0x00, 0x00])
        #expect(Array(t256[12...]) == id)
        let t128 = try PaesToken.make(type: .aesXTS128, id: id)
        #expect(t128[9] == 0x07 && t128[8] == 0 && Array(t128[12...]) == id)
        // The same bytes as IBM's pvics builds with xxd from "00000000 09000000 000<type>0000 <id>".
        #expect(t256 == [UInt8](hex: "00000000" + "09000000" + "00080000" + id.hex)!)
        #expect(throws: ActionFailure.self) { try PaesToken.make(type: .aes256, id: id) }
        #expect(throws: ActionFailure.self) { try PaesToken.make(type: .aesXTS256, id: Array(id.prefix(31))) }
    }

    /// A paes-xts-plain64 volume whose volume key is the token (as pvics
    /// prepares it) opens with the token made from the secret's type and ID.
    @Test func paesVolumeOpensWithTheToken() throws {
        let tmp = try TempDir("luks")
        let dir = tmp.path
        let image = dir + "/paes.img"
        let id = Digest.sha256(Array("disk".utf8))
        let token = try PaesToken.make(type: .aesXTS256, id: id)
        try LUKSImage.format(image, cipher: "paes", volumeKey: token, passphrase: pass)
        let v = try LUKSVolume(path: image)
        #expect(v.cipherSpec == "paes-xts-plain64" && v.volumeKeySize == 44)
        #expect(try v.activate(as: nil, key: .volumeKey(SecureBytes(copying: token))) == nil)
        // A token for the other key size names another secret type: refused by the header.
        let other = try PaesToken.make(type: .aesXTS128, id: id)
        #expect(throws: ActionFailure.self) { try v.activate(as: nil, key: .volumeKey(SecureBytes(copying: other))) }
    }

    @Test func deviceMapperAvailabilityIsReported() {
        if let reason = deviceMapperReason {
            print("NOTE: real dm-crypt activation is skipped on this machine: \(reason). Keys are checked against the LUKS2 headers instead.")
        }
        #expect(LUKSVolume.deviceMapperAvailable() == (deviceMapperReason == nil || !isRoot))
    }

    @Test(.enabled(if: deviceMapperReason == nil, "real activation needs root and a kernel with device-mapper/dm-crypt"))
    func realActivation() throws {
        let tmp = try TempDir("luks")
        let dir = tmp.path
        let image = dir + "/root.img"
        let vk = Random.bytes(64)
        try LUKSImage.format(image, volumeKey: vk, passphrase: pass)
        let name = "se-secretd-test-\(UInt32.random(in: 0...UInt32.max))"
        let v = try LUKSVolume(path: image)
        _ = try v.activate(as: name, key: .passphrase(SecureBytes(copying: pass)), flags: .init(readOnly: true, allowDiscards: true))
        defer { LUKSVolume.deactivate(name) }
        #expect(LUKSVolume.isActive(name))
        #expect(try LUKSVolume.activeMappingUUID(name) == v.uuid)
        // The kernel's own table (DM_TABLE_STATUS), not the header.
        let table = try DMTable.read(.name(name))
        #expect(table.cipher == "aes-xts-plain64" && table.offset == v.dataOffset && table.name == name)
    }
}
