#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCryptsetup
import SEBase
import ASRCodec
import SEVocabulary

/// The 44-byte UV secret token that stands in for the volume key of a
/// `paes-xts-plain64` LUKS volume: dm-crypt's paes cipher hands it to the
/// kernel's protected-key layer (pkey_uv), which finds the ultravisor secret
/// with this type and ID and uses it as a protected key. The clear disk key
/// never exists in the guest, and the token itself is not secret (it only
/// names the secret).
///
/// Layout (big-endian): 0x00 token type 0x00 (non-CCA), 3 reserved bytes;
/// 0x04 version 0x09 (UV secret), 3 reserved bytes; 0x08 the secret type
/// (u16); 0x0A the secret length (u16), which IBM's pvics writes as 0 and the
/// kernel ignores; 0x0C the 32-byte secret ID. The length is written as 0
/// here as well: LUKS checks the volume key byte for byte against the digest
/// in its header, so a volume prepared by pvics only opens with exactly its
/// bytes.
public enum PaesToken {
    public static let size = 44
    public static let tokenType: UInt8 = 0x00
    public static let version: UInt8 = 0x09

    /// The token for a secret of `type` (AES-XTS-128 or -256) with `id`.
    public static func make(type: SecretType, id: [UInt8]) throws(ActionFailure) -> [UInt8] {
        guard type == .aesXTS128 || type == .aesXTS256 else {
            throw ActionFailure(.data, "a paes volume key names an AES-XTS secret, not \(type.name)")
        }
        guard id.count == 32 else { throw ActionFailure(.data, "a secret ID has 32 bytes, not \(id.count)") }
        var t = [UInt8](repeating: 0, count: size)
        t[0] = tokenType
        t[4] = version
        t.writeBE(type.rawValue, at: 8)
        t.writeBE(UInt16(0), at: 10)
        t.replaceSubrange(12..<44, with: id)
        return t
    }
}

/// A LUKS (1 or 2) header opened with libcryptsetup.
public final class LUKSVolume {
    let cd: OpaquePointer
    private let log: LogBox
    /// The device or image file the header is on.
    public let path: String

    /// Messages libcryptsetup logged at error level (they never contain key
    /// material), for failure messages.
    final class LogBox {
        var messages: [String] = []
        var text: String {
            let t = messages.map { $0.hasSuffix("\n") ? String($0.dropLast()) : $0 }.filter { !$0.isEmpty }
            return t.isEmpty ? "" : " (libcryptsetup: \(t.joined(separator: "; ")))"
        }
    }

    /// Opens the LUKS header on `path` (a block device or an image file).
    public init(path: String) throws(ActionFailure) {
        LUKSVolume.silenceDefaultLog()
        var handle: OpaquePointer? = nil
        let rc = crypt_init(&handle, path)
        guard rc == 0, let h = handle else {
            throw ActionFailure(.io, "cannot open \(path): \(LUKSVolume.errnoText(rc))")
        }
        cd = h
        self.path = path
        log = LogBox()
        crypt_set_log_callback(cd, { level, msg, usrptr in
            guard level == se_crypt_log_error, let msg, let usrptr else { return }
            Unmanaged<LogBox>.fromOpaque(usrptr).takeUnretainedValue().messages.append(String(cString: msg))
        }, Unmanaged.passUnretained(log).toOpaque())
        let loaded = crypt_load(cd, nil, nil)
        guard loaded == 0 else {
            // Every stored property is set, so deinit runs and frees cd.
            let text = log.text
            throw ActionFailure(.data, "\(path) is not a LUKS volume: \(LUKSVolume.errnoText(loaded))\(text)")
        }
    }

    deinit { crypt_free(cd) }

    /// "LUKS1" or "LUKS2".
    public var type: String { crypt_get_type(cd).map { String(cString: $0) } ?? "?" }
    /// The data segment's cipher as dm-crypt spells it, e.g. "aes-xts-plain64".
    public var cipherSpec: String { LUKSVolume.cipherSpec(cd) }
    public var volumeKeySize: Int { Int(crypt_get_volume_key_size(cd)) }
    public var uuid: String? { crypt_get_uuid(cd).map { String(cString: $0) } }
    /// Where the data segment starts, in 512-byte sectors (a dm-crypt table's offset).
    public var dataOffset: UInt64 { crypt_get_data_offset(cd) }

    /// The active keyslots and the cipher that encrypts each one's copy of
    /// the volume key (LUKS2: the keyslot area's encryption; LUKS1: the
    /// header's cipher). A keyslot encrypted with cipher_null opens with any
    /// passphrase and yields a volume key the header's writer chose.
    public var keyslotEncryptions: [(slot: Int, cipher: String)] {
        var result: [(slot: Int, cipher: String)] = []
        let max = crypt_keyslot_max(crypt_get_type(cd))
        guard max > 0 else { return result }
        for slot in 0..<max {
            let status = crypt_keyslot_status(cd, slot)
            guard status == CRYPT_SLOT_ACTIVE || status == CRYPT_SLOT_ACTIVE_LAST else { continue }
            var keySize = 0
            let cipher = crypt_keyslot_get_encryption(cd, slot, &keySize).map { String(cString: $0) } ?? "?"
            result.append((Int(slot), cipher))
        }
        return result
    }

    public enum Key {
        /// A passphrase that opens a keyslot.
        case passphrase(SecureBytes)
        /// The volume key itself (no keyslot, no PBKDF).
        case volumeKey(SecureBytes)
    }

    public struct Flags: Sendable, Equatable {
        public var readOnly = false
        public var allowDiscards = false
        public init(readOnly: Bool = false, allowDiscards: Bool = false) {
            self.readOnly = readOnly
            self.allowDiscards = allowDiscards
        }
        var raw: UInt32 {
            (readOnly ? se_crypt_activate_readonly : 0) | (allowDiscards ? se_crypt_activate_allow_discards : 0)
        }
    }

    /// Activates the volume as /dev/mapper/`name`, or only checks the key
    /// against the header when `name` is nil (no device-mapper needed).
    /// Returns the keyslot that opened (nil for a volume key).
    @discardableResult
    public func activate(as name: String?, key: Key, flags: Flags = Flags()) throws(ActionFailure) -> Int? {
        log.messages.removeAll()
        let rc: Int32
        switch key {
        case let .passphrase(p):
            rc = p.withUnsafeBytes { raw in
                crypt_activate_by_passphrase(cd, name, se_crypt_any_slot, raw.baseAddress?.assumingMemoryBound(to: CChar.self),
                                             raw.count, flags.raw)
            }
        case let .volumeKey(k):
            // A LUKS2 header without keyslots reports 0; libcryptsetup then checks the size itself.
            guard volumeKeySize == 0 || k.count == volumeKeySize else {
                throw ActionFailure(.data, "\(path) has a \(volumeKeySize)-byte volume key; the secret has \(k.count) bytes")
            }
            rc = k.withUnsafeBytes { raw in
                crypt_activate_by_volume_key(cd, name, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, flags.raw)
            }
        }
        if rc >= 0 {
            if case .passphrase = key { return Int(rc) }
            return nil
        }
        var isPassphrase = false
        if case .passphrase = key { isPassphrase = true }
        // EPERM: no keyslot opens with the passphrase / the volume key fails
        // the digest; ENOENT: no usable keyslot for a passphrase.
        if -rc == EPERM || (isPassphrase && -rc == ENOENT) {
            throw ActionFailure(.data, isPassphrase ? "the passphrase opens no keyslot of \(path)"
                                                    : "the volume key does not match the header of \(path)")
        }
        let verb = name == nil ? "check the key of" : "activate"
        throw ActionFailure(.io, "cannot \(verb) \(path)\(name.map { " as \($0)" } ?? ""): \(LUKSVolume.errnoText(rc))\(log.text)")
    }

    // MARK: - Active mappings

    /// Whether /dev/mapper/`name` exists.
    public static func isActive(_ name: String) -> Bool {
        silenceDefaultLog()
        let s = crypt_status(nil, name)
        return s == CRYPT_ACTIVE || s == CRYPT_BUSY
    }

    /// The LUKS UUID of an active mapping (libcryptsetup's crypt_init_by_name).
    /// Not its cipher: for a LUKS mapping libcryptsetup re-reads the header
    /// ON DISK, which the host can change after activation. The cipher the
    /// kernel really uses comes from `DMTable.read` (the active table).
    public static func activeMappingUUID(_ name: String) throws(ActionFailure) -> String? {
        silenceDefaultLog()
        var handle: OpaquePointer? = nil
        let rc = crypt_init_by_name(&handle, name)
        guard rc == 0, let h = handle else {
            throw ActionFailure(.io, "cannot read the mapping \(name): \(errnoText(rc))")
        }
        defer { crypt_free(h) }
        return crypt_get_uuid(h).map { String(cString: $0) }
    }

    /// Removes a mapping (used when an activated volume fails a check).
    public static func deactivate(_ name: String) {
        silenceDefaultLog()
        _ = crypt_deactivate(nil, name)
    }

    /// Whether the kernel offers device-mapper (dm-mod loaded or built in):
    /// it then lists the "device-mapper" misc device.
    public static func deviceMapperAvailable(procMisc: String = "/proc/misc") -> Bool {
        guard let bytes = try? FileIO.read(procMisc, limit: 1 << 16) else { return false }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").contains { $0.hasSuffix(" device-mapper") }
    }

    // MARK: -

    static func cipherSpec(_ cd: OpaquePointer) -> String {
        let c = crypt_get_cipher(cd).map { String(cString: $0) } ?? "?"
        let m = crypt_get_cipher_mode(cd).map { String(cString: $0) } ?? ""
        return m.isEmpty ? c : "\(c)-\(m)"
    }

    static func errnoText(_ rc: Int32) -> String {
        let e = rc < 0 ? -rc : rc
        return "\(String(cString: strerror(e))) (\(SystemError.name(of: e)))"
    }

    /// libcryptsetup prints messages of calls without a device handle to
    /// stderr by default; route them nowhere (each failure is reported with
    /// its own message).
    static func silenceDefaultLog() {
        crypt_set_log_callback(nil, { _, _, _ in }, nil)
    }
}
