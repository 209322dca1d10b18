import Testing
import TestSupport
import SEBase
import SECrypto
import ASRCodec
@testable import SecretPolicy
import SEVocabulary

@Suite struct PolicyParserTests {
    func error(_ text: String) -> PolicyError? {
        do { _ = try Policy.parse(Array(text.utf8)); return nil } catch let e as PolicyError { return e } catch { return nil }
    }

    func doc(secrets: String = #"[{"name": "a", "type": "plain"}]"#, trust: String = #"{"require": "none"}"#,
             store: String = "{}", extra: String = "") -> String {
        #"{"version": 1, "trust": \#(trust), "store": \#(store), "secrets": \#(secrets)\#(extra)}"#
    }

    @Test func minimalPolicyAndDefaults() throws {
        let p = try Policy.parse(Array(doc().utf8))
        #expect(p.store.lock)
        #expect(!p.store.allowMeta)
        #expect(p.onFailure == .poweroff)
        #expect(p.requests.maxFileSize == 1 << 20)
        #expect(p.requests.suffix == ".asr")
        #expect(p.secrets[0].id == Digest.sha256(Array("a".utf8)))
        #expect(p.secrets[0].required)
        #expect(p.digest == Digest.sha256(Array(doc().utf8)))
    }

    @Test func errorsNameTheJSONPath() {
        #expect(error(doc(extra: #", "colour": "red""#))?.description == #"$: unknown key "colour""#)
        #expect(error(doc(secrets: #"[{"name": "a", "type": "plian"}]"#))?.path == "$.secrets[0].type")
        #expect(error(doc(store: #"{"lock": "yes"}"#))?.path == "$.store.lock")
        #expect(error(#"{"version": 2}"#)?.message.contains("unsupported policy version 2") == true)
        #expect(error(#"{"version": 1, "version": 1}"#)?.message.contains("duplicate key") == true)
    }

    @Test func duplicateSecretIDsAreRefused() {
        #expect(error(doc(secrets: #"[{"name": "a", "type": "plain"}, {"name": "a", "type": "aes-256"}]"#))?.message
                    .contains("same ID") == true)
        let idOfA = Digest.sha256(Array("a".utf8)).hex
        #expect(error(doc(secrets: #"[{"name": "a", "type": "plain"}, {"id": "\#(idOfA)", "type": "plain"}]"#)) != nil)
    }

    @Test func rawNameIDs() throws {
        let p = try Policy.parse(Array(doc(secrets: #"[{"name": "luks", "id_form": "raw-name", "type": "plain"}]"#).utf8))
        #expect(p.secrets[0].id == Array("luks".utf8) + [UInt8](repeating: 0, count: 28))
        #expect(error(doc(secrets: #"[{"name": "\#(String(repeating: "x", count: 32))", "id_form": "raw-name", "type": "plain"}]"#)) != nil)
    }

    @Test func actionsMustFitTheSecretType() {
        let luks = #"{"type": "luks", "device": "LABEL=root", "name": "root"}"#
        #expect(error(doc(secrets: #"[{"name": "a", "type": "aes-256", "actions": [\#(luks)]}]"#))?.message
                    .contains("cannot use a secret of type aes-256") == true)
        let paes = #"{"type": "luks", "device": "LABEL=root", "name": "root", "key": "paes-token", "expect_cipher": "paes-xts-plain64"}"#
        #expect(error(doc(secrets: #"[{"name": "a", "type": "aes-xts-256", "actions": [\#(paes)]}]"#)) == nil)
        #expect(error(doc(secrets: #"[{"name": "a", "type": "plain", "actions": [\#(paes)]}]"#)) != nil)
    }

    /// The UV secret token is built from public data (type and ID), so a
    /// paes-token action is only safe with a paes cipher pinned.
    @Test func paesTokenNeedsAPaesExpectCipher() {
        func paes(_ extra: String) -> String {
            doc(secrets: #"[{"name": "disk", "type": "aes-xts-256", "actions": [{"type": "luks", "device": "LABEL=root", "name": "root", "key": "paes-token"\#(extra)}]}]"#)
        }
        let missing = error(paes(""))
        #expect(missing?.path == "$.secrets[0].actions[0].expect_cipher" && missing?.message.contains("[paes-needs-cipher]") == true,
                "\(String(describing: missing))")
        #expect(error(paes(#", "expect_cipher": null"#))?.message.contains("[paes-needs-cipher]") == true)
        #expect(error(paes(#", "expect_cipher": "aes-xts-plain64""#))?.path == "$.secrets[0].actions[0].expect_cipher")
        #expect(error(paes(#", "expect_cipher": "paes-xts-plain64""#)) == nil)
        // A null cipher is never a choice, for any key use.
        let null = error(doc(secrets: #"[{"name": "k", "type": "plain", "actions": [{"type": "luks", "device": "LABEL=root", "name": "root", "key": "volume-key", "expect_cipher": "cipher_null-ecb"}]}]"#))
        #expect(null?.path == "$.secrets[0].actions[0].expect_cipher" && null?.message.contains("[luks-cipher-null]") == true)
    }

    /// "root": what install writes into. A policy with install actions is bound by default.
    @Test func rootBinding() throws {
        let file = #"{"type": "file", "path": "/etc/motd"}"#
        let luks = #"{"type": "luks", "device": "LABEL=root", "name": "root"}"#
        func secrets(_ actions: String...) -> String { #"[{"name": "a", "type": "plain", "actions": [\#(actions.joined(separator: ", "))]}]"# }
        // No install action, but a volume: the root is still bound to it (the
        // boot switches into it, and a root the host supplied could retrieve
        // every secret in the store).
        #expect(try Policy.parse(Array(doc(secrets: secrets(luks)).utf8)).root == .luks(volume: nil))
        // Neither install actions nor a volume: it parses (for check), unbound;
        // its install phase refuses to let the boot go on (RootBindingTests).
        #expect(try Policy.parse(Array(doc().utf8)).root == nil)
        // Install actions and a volume: the default is that volume (any of the policy's).
        #expect(try Policy.parse(Array(doc(secrets: secrets(luks, file)).utf8)).root == .luks(volume: nil))
        // Install actions and no volume: the policy must say what the root is.
        let unbound = error(doc(secrets: secrets(file)))
        #expect(unbound?.path == "$.root" && unbound?.message.contains("[root-unbound]") == true, "\(String(describing: unbound))")
        let credentialOnly = error(doc(secrets: secrets(#"{"type": "credential", "name": "x"}"#)))
        #expect(credentialOnly?.path == "$.root")
        #expect(try Policy.parse(Array(doc(secrets: secrets(file), extra: #", "root": {"type": "tmpfs"}"#).utf8)).root == .tmpfs)
        #expect(try Policy.parse(Array(doc(secrets: secrets(file), extra: #", "root": {"type": "any"}"#).utf8)).root == .any)
        // A named volume must be one of the policy's (luks name, keyfile or keyscript volume).
        #expect(try Policy.parse(Array(doc(secrets: secrets(#"{"type": "keyscript", "volume": "cr"}"#, file),
                                           extra: #", "root": {"type": "luks", "volume": "cr"}"#).utf8)).root == .luks(volume: "cr"))
        let foreign = error(doc(secrets: secrets(luks, file), extra: #", "root": {"type": "luks", "volume": "hostroot"}"#))
        #expect(foreign?.path == "$.root.volume" && foreign?.message.contains("[root-unbound]") == true)
        #expect(error(doc(secrets: secrets(file), extra: #", "root": {"type": "luks"}"#))?.path == "$.root")
        #expect(error(doc(secrets: secrets(luks, file), extra: #", "root": {"type": "directory"}"#))?.path == "$.root.type")
        #expect(error(doc(secrets: secrets(luks, file), extra: #", "root": {"type": "tmpfs", "volume": "root"}"#)) != nil)
    }

    @Test func actionTargetsAreValidatedAndUnique() {
        func action(_ a: String) -> String { doc(secrets: #"[{"name": "a", "type": "plain", "actions": [\#(a)]}]"#) }
        #expect(error(action(#"{"type": "file", "path": "etc/x"}"#))?.path == "$.secrets[0].actions[0].path")
        #expect(error(action(#"{"type": "file", "path": "/etc/../shadow"}"#)) != nil)
        #expect(error(action(#"{"type": "file", "path": "/etc/ssh/k", "format": "ssh-host-key", "mode": "0644"}"#))?.message
                    .contains("must not be readable") == true)
        #expect(error(action(#"{"type": "file", "path": "/etc/x", "mode": "999"}"#)) != nil)
        #expect(error(action(#"{"type": "credential", "name": "../x"}"#)) != nil)
        #expect(error(action(#"{"type": "keyfile", "volume": "a/b"}"#)) != nil)
        #expect(error(action(#"{"type": "luks", "device": "root", "name": "root"}"#)) != nil)
        #expect(error(action(#"{"type": "teleport"}"#))?.message.contains("unknown action") == true)
        let two = doc(secrets: #"[{"name": "a", "type": "plain", "actions": [{"type": "credential", "name": "c"}]}, {"name": "b", "type": "plain", "actions": [{"type": "credential", "name": "c"}]}]"#)
        #expect(error(two)?.message.contains("more than one action") == true)
    }

    @Test func requestVolumeFilesystems() throws {
        #expect(try Policy.parse(Array(doc().utf8)).requests.filesystems == ["ext4", "ext3", "ext2", "vfat", "iso9660"])
        let xfs = doc(extra: #", "requests": {"volume": "LABEL=S", "filesystems": ["xfs", "ext4"]}"#)
        #expect(try Policy.parse(Array(xfs.utf8)).requests.filesystems == ["xfs", "ext4"])
        #expect(error(doc(extra: #", "requests": {"filesystems": ["ntfs"]}"#))?.path == "$.requests.filesystems[0]")
        #expect(error(doc(extra: #", "requests": {"filesystems": ["ext4", "ext4"]}"#))?.path == "$.requests.filesystems[1]")
        #expect(error(doc(extra: #", "requests": {"filesystems": []}"#))?.path == "$.requests.filesystems")
    }

    @Test func fileModeDefaults() throws {
        func mode(_ a: String) throws -> UInt32? {
            let p = try Policy.parse(Array(doc(secrets: #"[{"name": "a", "type": "plain", "actions": [\#(a)]}]"#,
                                               extra: #", "root": {"type": "tmpfs"}"#).utf8))
            if case let .file(f)? = p.secrets[0].actions.first { return f.mode }
            return nil
        }
        #expect(try mode(#"{"type": "file", "path": "/etc/raw-secret"}"#) == 0o600, "raw bytes are a secret")
        #expect(try mode(#"{"type": "file", "path": "/etc/raw-secret", "format": "raw"}"#) == 0o600)
        #expect(try mode(#"{"type": "file", "path": "/etc/k", "format": "tls-key"}"#) == 0o600)
        #expect(try mode(#"{"type": "file", "path": "/etc/c.pem", "format": "tls-certificate"}"#) == 0o644)
        #expect(try mode(#"{"type": "file", "path": "/etc/raw-secret", "mode": "0640"}"#) == 0o640)
    }

    @Test func trustMustBeConfiguredOrExplicitlyNone() {
        #expect(error(doc(trust: "{}"))?.message.contains("no trust method") == true)
        #expect(error(doc(trust: #"{"require": "none", "pinned_sha256": ["\#([UInt8].repeating(1, 32).hex)"]}"#)) != nil)
        #expect(error(doc(trust: #"{"pinned_sha256": ["abc"]}"#))?.path == "$.trust.pinned_sha256[0]")
        #expect(error(doc(trust: #"{"ebc": {}}"#))?.message.contains("not authenticated") == true)
        #expect(error(doc(trust: #"{"ebc": {"allow_unpinned_toc": true, "toc": "../toc.asr"}}"#)) != nil)
    }

    @Test func signersMustBeUsableAndReferencedByName() throws {
        let ec = JSON.string(Keys.tenant.publicKey.publicKeyPEM).serialized(pretty: false)
        let p256 = JSON.string(try PrivateKey.generate(.ec(.p256)).publicKey.publicKeyPEM).serialized(pretty: false)
        #expect(error(doc(trust: #"{"signers": [{"name": "t", "key": \#(p256)}]}"#))?.message.contains("cannot sign") == true)
        #expect(error(doc(trust: #"{"signers": [{"name": "t", "key": "garbage"}]}"#)) != nil)
        #expect(error(doc(secrets: #"[{"name": "a", "type": "plain", "signers": ["nobody"]}]"#,
                          trust: #"{"signers": [{"name": "t", "key": \#(ec)}]}"#))?.message.contains("no signer named") == true)
        #expect(error(doc(trust: #"{"signers": [{"name": "t", "key": \#(ec)}, {"name": "t", "key": \#(ec)}]}"#)) != nil)
        // key_file is resolved beside the policy and may not climb out.
        #expect(error(doc(trust: #"{"signers": [{"name": "t", "key_file": "../k.pem"}]}"#)) != nil)
    }

    @Test func keyFileResolution() throws {
        let text = doc(trust: #"{"signers": [{"name": "t", "key_file": "keys/t.pem"}]}"#)
        var asked: [String] = []
        let p = try Policy.parse(Array(text.utf8)) { rel in
            asked.append(rel)
            return Array(Keys.tenant.publicKey.publicKeyPEM.utf8)
        }
        #expect(asked == ["keys/t.pem"])
        #expect(p.trust.signers[0].key == Keys.tenant.publicKey)
    }

    @Test func volumeSpecs() {
        #expect(VolumeSpec("LABEL=SE-SECRETS") == .label("SE-SECRETS"))
        #expect(VolumeSpec("PARTUUID=1234") == .partUUID("1234"))
        #expect(VolumeSpec("/dev/disk/by-id/x") == .path("/dev/disk/by-id/x"))
        #expect(VolumeSpec("/dev/../etc") == nil)
        #expect(VolumeSpec("LABEL=") == nil)
        #expect(VolumeSpec("sda1") == nil)
    }

    @Test func updateCCKNeedsTheStoreFlag() {
        #expect(error(doc(secrets: #"[{"type": "update-cck"}]"#)) != nil)
        #expect(error(doc(secrets: #"[{"type": "update-cck"}]"#, store: #"{"allow_update_cck": true}"#)) == nil)
    }
}
