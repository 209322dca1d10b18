import Foundation
import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
@testable import SecretActions
import SEVocabulary

/// The host writes the LUKS headers. A header whose data cipher is
/// cipher_null (or a keyslot that cipher_null "protects") must be refused
/// before anything is activated, whatever the key.
@Suite struct CipherPolicyTests {
    let pass = Array("correct horse battery staple 0123456789abcdef".utf8)

    /// A runner for one luks action on `image` (as LABEL=disk); no store is needed to call unlock directly.
    func runner(_ image: String, checkOnly: Bool) throws -> PhaseRunner {
        let policy = try Policy.parse(Array(#"{"version": 1, "trust": {"require": "none"}, "secrets": []}"#.utf8))
        var env = PhaseEnvironment()
        env.deviceOverrides["LABEL=disk"] = image
        env.checkOnly = checkOnly
        env.deviceTimeout = 0
        return PhaseRunner(policy: policy, environment: env) { () throws(ActionFailure) -> SecretStore in
            throw ActionFailure(.device, "no store in this test")
        }
    }

    func luks(_ key: Action.LUKS.KeyUse, mapping: String, expect: String? = nil) -> Action.LUKS {
        Action.LUKS(device: .label("disk"), mapping: mapping, keyUse: key, readOnly: false, discard: false, expectCipher: expect)
    }

    func mappingName() -> String { "se-secretd-test-\(UInt32.random(in: 0...UInt32.max))" }

    /// volume-key: the host's header with cipher_null-ecb and a digest of the
    /// right key (a host that had the key could make one) is refused both in
    /// --check-only and for real, before libcryptsetup is asked to activate.
    @Test func cipherNullVolumeKeyHeaderIsRefusedBeforeActivation() throws {
        let tmp = try TempDir("cipher")
        let dir = tmp.path
        let image = dir + "/null.img"
        let vk = Random.bytes(64)
        try LUKSImage.format(image, volumeKey: vk, passphrase: nil)
        try LUKSImage.rewriteEncryption(image, inSection: "segments", from: "aes-xts-plain64", to: "cipher_null-ecb")
        let header = try LUKSVolume(path: image)
        #expect(header.cipherSpec == "cipher_null-ecb")
        // libcryptsetup itself accepts the key for this header: only se-secretd's check stands in the way.
        #expect(try header.activate(as: nil, key: .volumeKey(SecureBytes(copying: vk))) == nil)

        let entry = SecretListEntry(index: 0, typeCode: SecretType.plain.rawValue, length: 80, id: [UInt8](repeating: 1, count: 32))
        for checkOnly in [true, false] {
            let name = mappingName()
            let e = #expect(throws: ActionFailure.self) {
                _ = try runner(image, checkOnly: checkOnly).unlock(luks(.volumeKey, mapping: name), entry: entry,
                                                                     secret: SecureBytes(copying: vk))
            }
            #expect(e?.kind == .data, "checkOnly \(checkOnly): \(e?.message ?? "")")
            #expect(e?.message.contains(image) == true && e?.message.contains("cipher_null-ecb") == true
                    && e?.message.contains("[luks-cipher-null]") == true, "\(e?.message ?? "")")
            #expect(e?.message.contains(vk.hex) == false)
            #expect(!LUKSVolume.isActive(name), "nothing was activated")
        }
    }

    /// paes-token: the token is public (type and ID), so the host can make a
    /// cipher_null header whose volume key is the token. Refused even for an
    /// action without expect_cipher (which the policy parser no longer lets through).
    @Test func cipherNullPaesTokenHeaderIsRefused() throws {
        let tmp = try TempDir("cipher")
        let dir = tmp.path
        let image = dir + "/paes-null.img"
        let id = Digest.sha256(Array("disk".utf8))
        let token = try PaesToken.make(type: .aesXTS256, id: id)
        try LUKSImage.format(image, cipher: "paes", volumeKey: token, passphrase: nil)
        try LUKSImage.rewriteEncryption(image, inSection: "segments", from: "paes-xts-plain64", to: "cipher_null-ecb")
        let header = try LUKSVolume(path: image)
        #expect(header.cipherSpec == "cipher_null-ecb")
        #expect(try header.activate(as: nil, key: .volumeKey(SecureBytes(copying: token))) == nil, "the token opens the host's header")

        let entry = SecretListEntry(index: 0, typeCode: SecretType.aesXTS256.rawValue, length: 64, id: id)
        for expect in [nil, "paes-xts-plain64"] as [String?] {
            let name = mappingName()
            let e = #expect(throws: ActionFailure.self) {
                _ = try runner(image, checkOnly: true).unlock(luks(.paesToken, mapping: name, expect: expect), entry: entry, secret: nil)
            }
            #expect(e?.kind == .data && e?.message.contains("cipher_null-ecb") == true, "\(e?.message ?? "")")
            #expect(!LUKSVolume.isActive(name))
        }
    }

    /// Without expect_cipher only XTS is opened; a legacy mode is opened when
    /// the policy names it.
    @Test func legacyModeNeedsExpectCipher() throws {
        let tmp = try TempDir("cipher")
        let dir = tmp.path
        let image = dir + "/cbc.img"
        let vk = Random.bytes(32)
        try LUKSImage.format(image, mode: "cbc-plain", volumeKey: vk, passphrase: nil)
        let entry = SecretListEntry(index: 0, typeCode: SecretType.plain.rawValue, length: 48, id: [UInt8](repeating: 2, count: 32))
        let e = #expect(throws: ActionFailure.self) {
            _ = try runner(image, checkOnly: true).unlock(luks(.volumeKey, mapping: mappingName()), entry: entry, secret: SecureBytes(copying: vk))
        }
        #expect(e?.message.contains("aes-cbc-plain") == true && e?.message.contains("[luks-cipher-not-allowed]") == true, "\(e?.message ?? "")")
        let ok = try runner(image, checkOnly: true).unlock(luks(.volumeKey, mapping: "legacy", expect: "aes-cbc-plain"), entry: entry,
                                                           secret: SecureBytes(copying: vk))
        #expect(ok.message.contains("opens the LUKS2 header") && ok.volume?.cipher == "aes-cbc-plain")
    }

    /// passphrase: a keyslot encrypted with cipher_null would yield whatever
    /// volume key the host put there, for any passphrase. Refused before
    /// any keyslot is tried; the keyslot that opens a good header is reported.
    @Test func cipherNullKeyslotIsRefusedAndTheOpeningKeyslotReported() throws {
        let tmp = try TempDir("cipher")
        let dir = tmp.path
        let good = dir + "/good.img", bad = dir + "/bad.img"
        try LUKSImage.format(good, volumeKey: Random.bytes(64), passphrase: pass)
        try FileManager.default.copyItem(atPath: good, toPath: bad)
        try LUKSImage.rewriteEncryption(bad, inSection: "keyslots", from: "aes-xts-plain64", to: "cipher_null-ecb")
        #expect(try LUKSVolume(path: bad).keyslotEncryptions.map(\.cipher) == ["cipher_null-ecb"])
        #expect(try LUKSVolume(path: bad).cipherSpec == "aes-xts-plain64", "the data cipher is untouched")

        let entry = SecretListEntry(index: 0, typeCode: SecretType.plain.rawValue, length: 64, id: [UInt8](repeating: 3, count: 32))
        let e = #expect(throws: ActionFailure.self) {
            _ = try runner(bad, checkOnly: true).unlock(luks(.passphrase, mapping: mappingName()), entry: entry, secret: SecureBytes(copying: pass))
        }
        #expect(e?.kind == .data && e?.message.contains("keyslot 0") == true && e?.message.contains("[luks-keyslot-cipher]") == true,
                "\(e?.message ?? "")")

        let ok = try runner(good, checkOnly: true).unlock(luks(.passphrase, mapping: "root"), entry: entry, secret: SecureBytes(copying: pass))
        #expect(ok.volume == OpenedVolume(mapping: "root", luksUUID: try LUKSVolume(path: good).uuid, cipher: "aes-xts-plain64",
                                          keyslot: 0, device: nil))
        #expect(ok.volume?.json["keyslot"] == .int(0))
    }

    @Test func allowList() {
        for c in ["aes-xts-plain64", "paes-xts-plain64", "serpent-xts-plain64", "twofish-xts-plain64"] {
            #expect(LUKSCiphers.isAllowed(c, expected: nil), "\(c)")
        }
        for c in ["aes-ecb", "aes-cbc-plain", "aes-cbc-essiv:sha256", "aes-xts-plain", "cipher_null-ecb", "capi:ecb(cipher_null)-plain"] {
            #expect(!LUKSCiphers.isAllowed(c, expected: nil), "\(c)")
        }
        #expect(LUKSCiphers.isAllowed("aes-cbc-essiv:sha256", expected: "aes-cbc-essiv:sha256"))
        #expect(!LUKSCiphers.isAllowed("aes-xts-plain64", expected: "paes-xts-plain64"))
        #expect(!LUKSCiphers.isAllowed("cipher_null-ecb", expected: "cipher_null-ecb"))
    }
}
