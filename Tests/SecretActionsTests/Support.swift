import Foundation
import Testing
import CCryptsetup
import SEBase
import SECrypto
@testable import SecretdCLI
import SecretdWorkbench
import TestSupport

func write(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    chmod(path, mode_t(mode))
}

func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

func fileMode(_ path: String) -> (mode: Int, uid: UInt32, gid: UInt32)? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return (Int(st.st_mode & 0o7777), st.st_uid, st.st_gid)
}

func tool(_ name: String) -> String? {
    ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

@discardableResult
func run(_ path: String, _ args: [String], environment: [String: String]? = nil, stdin: [UInt8]? = nil)
    -> (status: Int32, out: [UInt8], err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    let outPipe = Pipe(), errPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = errPipe
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { return (-1, [], "\(error)") }
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    let err = errPipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, Array(out), String(decoding: err, as: UTF8.self))
}

let isRoot = getuid() == 0
let sshKeygen = tool("ssh-keygen")

/// LUKS2 images made with libcryptsetup on a plain file: no root and no
/// device-mapper are needed to format a header or to check a key against it.
enum LUKSImage {
    /// Formats `path` (created with `size` bytes) as LUKS2 with the volume
    /// key `volumeKey`; adds a PBKDF2 keyslot for `passphrase` when given.
    static func format(_ path: String, cipher: String = "aes", mode: String = "xts-plain64", volumeKey: [UInt8],
                       passphrase: [UInt8]?, label: String? = nil, size: Int = 20 << 20) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(size))
        try h.close()
        var cd: OpaquePointer? = nil
        try #require(crypt_init(&cd, path) == 0)
        defer { crypt_free(cd) }
        // PBKDF2 with few iterations: fast tests (a real image chooses its own).
        // The hash name must outlive the call: a strdup'ed copy, freed after.
        let hashName = strdup("sha256")
        defer { free(hashName) }
        var pbkdf = crypt_pbkdf_type(type: se_crypt_kdf_pbkdf2, hash: hashName, time_ms: 0, iterations: 1000,
                                     max_memory_kb: 0, parallel_threads: 0, flags: se_crypt_pbkdf_no_benchmark)
        try #require(crypt_set_pbkdf_type(cd, &pbkdf) == 0)
        let rc: Int32 = withLabel(label) { labelPtr in
            var params = crypt_params_luks2(pbkdf: nil, integrity: nil, integrity_params: nil, data_alignment: 0,
                                            data_device: nil, sector_size: 512, label: labelPtr, subsystem: nil)
            return volumeKey.withUnsafeBytes { vk in
                crypt_format(cd, se_crypt_luks2, cipher, mode, nil, vk.baseAddress?.assumingMemoryBound(to: CChar.self),
                             vk.count, &params)
            }
        }
        try #require(rc == 0, "crypt_format: \(rc)")
        if let passphrase {
            let slot = volumeKey.withUnsafeBytes { vk in
                passphrase.withUnsafeBytes { p in
                    crypt_keyslot_add_by_volume_key(cd, se_crypt_any_slot, vk.baseAddress?.assumingMemoryBound(to: CChar.self), vk.count,
                                                    p.baseAddress?.assumingMemoryBound(to: CChar.self), p.count)
                }
            }
            try #require(slot >= 0, "keyslot: \(slot)")
        }
    }

    static func withLabel<R>(_ label: String?, _ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
        guard let label else { return try body(nil) }
        return try label.withCString { try body($0) }
    }

    /// Opens a key file the way systemd-cryptsetup and cryptsetup --key-file
    /// read it (every byte is key) and checks it against the header.
    static func keyFileOpens(_ image: String, keyFile: String) -> Int32 {
        var cd: OpaquePointer? = nil
        guard crypt_init(&cd, image) == 0 else { return -1 }
        defer { crypt_free(cd) }
        guard crypt_load(cd, nil, nil) == 0 else { return -2 }
        return crypt_activate_by_keyfile(cd, nil, se_crypt_any_slot, keyFile, 0, 0)
    }
}

/// Whether a real dm-crypt activation can run here, and why not.
let deviceMapperReason: String? = {
    if !isRoot { return "not running as root" }
    let misc = (try? String(contentsOfFile: "/proc/misc", encoding: .utf8)) ?? ""
    if !misc.contains(" device-mapper") { return "the kernel has no device-mapper (no \"device-mapper\" in /proc/misc, dm-mod not loaded and not loadable here)" }
    if !FileManager.default.fileExists(atPath: "/dev/mapper/control") { return "no /dev/mapper/control" }
    return nil
}()

extension LUKSImage {
    /// What a host can do to a header it owns: rewrites an `"encryption"`
    /// value in the LUKS2 JSON area — the data segment's (`inSection:
    /// "segments"`) or a keyslot area's (`"keyslots"`) — in both header
    /// copies, and recomputes their SHA-256 checksums. libcryptsetup then
    /// loads the header as if it had been made that way (formatting with
    /// cipher_null needs device-mapper, which this machine lacks).
    static func rewriteEncryption(_ path: String, inSection section: String, from old: String, to new: String) throws {
        var bytes = try read(path)
        let hdrSize = bytes[8..<16].reduce(0) { $0 << 8 | Int($1) }
        try #require(hdrSize >= 16384 && hdrSize <= 4 << 20 && bytes.count >= 2 * hdrSize, "LUKS2 header size \(hdrSize)")
        for offset in [0, hdrSize] {
            let magic = Array(bytes[offset..<offset + 6])
            try #require(magic == [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE] || magic == [0x53, 0x4B, 0x55, 0x4C, 0xBA, 0xBE])
            let area = offset + 4096..<offset + hdrSize
            let jsonEnd = bytes[area].firstIndex(of: 0) ?? area.upperBound
            var json = String(decoding: bytes[area.lowerBound..<jsonEnd], as: UTF8.self)
            let from = "\"encryption\":\"\(old)\""
            guard let sectionStart = json.range(of: "\"\(section)\":"),
                  let hit = json.range(of: from, range: sectionStart.upperBound..<json.endIndex) else {
                Issue.record("no \(from) in \(section) of \(path)")
                return
            }
            json.replaceSubrange(hit, with: "\"encryption\":\"\(new)\"")
            let text = Array(json.utf8)
            try #require(text.count < area.count)
            bytes.replaceSubrange(area, with: text + [UInt8](repeating: 0, count: area.count - text.count))
            // The checksum (offset 448, 64 bytes) covers the binary header and JSON with itself zeroed.
            bytes.replaceSubrange(offset + 448..<offset + 512, with: [UInt8](repeating: 0, count: 64))
            let sum = Digest.sha256(Array(bytes[offset..<offset + hdrSize]))
            bytes.replaceSubrange(offset + 448..<offset + 448 + sum.count, with: sum)
        }
        try write(path, bytes)
    }
}
