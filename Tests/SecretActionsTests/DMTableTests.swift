import Foundation
import Testing
import SecretPolicy
import SEBase
@testable import SecretActions

/// The kernel's active table of a mapping, parsed from DM_TABLE_STATUS
/// replies written here byte by byte (KernelTable) — no device-mapper needed.
@Suite struct DMTableTests {
    static func parse(_ t: KernelTable, capacity: Int = 16 << 10) throws(ActionFailure) -> DMCryptTable {
        try parse(t.bytes(capacity: capacity))
    }

    static func parse(_ bytes: [UInt8]) throws(ActionFailure) -> DMCryptTable {
        try SecureBytes(copying: bytes).withUnsafeBytes { (raw) throws(ActionFailure) in try DMTable.parse(raw) }
    }

    /// Refused, and the refusal does not show the key.
    static func refused(_ t: KernelTable, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        refused(t.bytes(), text, sourceLocation: sourceLocation)
    }

    static func refused(_ bytes: [UInt8], _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let table = try parse(bytes)
            Issue.record("accepted: \(table)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
            #expect(!error.message.contains(KernelTable.markerKey) && !error.message.contains("4d41524b"), sourceLocation: sourceLocation)
        }
    }

    static func keyless(_ table: DMCryptTable, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = "\(table) \(table.kernelCipher) \(table.cipher) \(table.backing) \(table.name) \(table.uuid)"
        #expect(!text.contains(KernelTable.markerKey) && !text.contains("4d41524b") && !text.contains("6b65796b"), sourceLocation: sourceLocation)
    }

    @Test func aNormalTable() throws {
        var t = KernelTable.crypt("aes-xts-plain64", extra: " 1 allow_discards")
        t.uuid = "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root"
        t.minor = 300
        let table = try Self.parse(t)
        #expect(table.cipher == "aes-xts-plain64" && table.kernelCipher == "aes-xts-plain64")
        #expect(table.backing == "252:16" && table.offset == 32768 && table.length == 2_048_000)
        #expect(table.name == "root" && table.uuid == "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root")
        #expect(table.device == "253:300", "the kernel's dev encoding, minor above 255")
        Self.keyless(table)
        // Without optional parameters, and with the keyring form of the key.
        let keyring = try Self.parse(.crypt("aes-xts-plain64", key: ":64:logon:cryptsetup:0123-d0", backing: "7:0", offset: 4096))
        #expect(keyring.cipher == "aes-xts-plain64" && keyring.backing == "7:0" && keyring.offset == 4096)
    }

    @Test func nullAndCAPICiphers() throws {
        let null = try Self.parse(.crypt("cipher_null-ecb", key: "-"))
        #expect(null.cipher == "cipher_null-ecb" && !LUKSCiphers.isAllowed(null.cipher, expected: nil))
        let capi = try Self.parse(.crypt("capi:xts(aes)-plain64"))
        #expect(capi.cipher == "aes-xts-plain64" && capi.kernelCipher == "capi:xts(aes)-plain64")
        Self.keyless(capi)
        #expect(DMTable.normalise("capi:cbc(aes)-essiv:sha256") == "aes-cbc-essiv:sha256")
        #expect(DMTable.normalise("capi:ecb(cipher_null)-plain") == "cipher_null-ecb-plain")
        #expect(LUKSCiphers.isNull(DMTable.normalise("capi:ecb(cipher_null)-plain")))
        // Nested templates (AEAD) and odd shapes stay as they are: no allow-list entry matches them.
        for odd in ["capi:authenc(hmac(sha256),xts(aes))-random", "capi:xts(aes)", "capi:xts(aes)-", "capi:(aes)-plain64", "capi:"] {
            #expect(DMTable.normalise(odd) == odd, "\(odd)")
            #expect(!LUKSCiphers.isAllowed(DMTable.normalise(odd), expected: nil), "\(odd)")
        }
    }

    @Test func onlyOneCryptTargetFromSectorZero() {
        var two = KernelTable.crypt("aes-xts-plain64")
        two.targets[0].length = 1000
        two.targets.append(.init(start: 1000, length: 1000, params: "cipher_null-ecb - 0 252:32 0"))
        Self.refused(two, "2 targets")
        Self.refused(KernelTable(targets: [.init(type: "linear", params: "252:16 0")]), "a linear target, not crypt")
        var shifted = KernelTable.crypt("aes-xts-plain64")
        shifted.targets[0].start = 8
        Self.refused(shifted, "not the whole device from sector 0")
        Self.refused(KernelTable(targets: []), "0 targets")
    }

    @Test func truncatedAndHostileReplies() {
        let t = KernelTable.crypt("aes-xts-plain64")
        let full = t.bytes()
        let used = 312 + 40 + Array(t.targets[0].params.utf8).count + 1
        // Every cut of the reply before its data_size: refused, never a crash.
        for n in stride(from: 0, to: used, by: 1) {
            Self.refused(Array(full.prefix(n)), n < 312 ? "less than a struct dm_ioctl" : "do not fit")
        }
        // data_size cutting into the parameters: not terminated.
        var short = t
        short.dataSizeDelta = -1
        Self.refused(short, "not terminated")
        // The kernel ran out of room.
        Self.refused(t.bytes(capacity: 360), "DM_BUFFER_FULL_FLAG")
        // next out of bounds, backwards or misaligned.
        var far = t
        far.nextOverride = [0: 1 << 20]
        Self.refused(far, "next offset")
        var two = t
        two.targets.append(.init(start: 0, length: 1, params: "x"))
        two.nextOverride = [0: 4096]
        Self.refused(two, "next offset")
        two.nextOverride = [0: 0]
        Self.refused(two, "next offset")
        two.nextOverride = [0: 84]
        Self.refused(two, "next offset")
        // More targets than the data could hold.
        var many = t
        many.targetCountOverride = 1_000_000
        Self.refused(many, "claims 1000000 targets")
        // Parameters that are not a dm-crypt table; the key never quoted.
        Self.refused(KernelTable(targets: [.init(params: KernelTable.markerKey)]), "five fields")
        Self.refused(KernelTable(targets: [.init(params: "aes-xts-plain64 \(KernelTable.markerKey) 0 252:16")]), "five fields")
        Self.refused(KernelTable(targets: [.init(params: "aes-xts-plain64  \(KernelTable.markerKey) 0 252:16 0")]), "five fields")
        Self.refused(.crypt("aes-xts-plain64", backing: KernelTable.markerKey), "not major:minor")
        Self.refused(.crypt("aes-xts-plain64", backing: "252:16:1"), "not major:minor")
        Self.refused(.crypt("aes-xts-plain64", backing: "99999999999:1"), "not major:minor")
        Self.refused(KernelTable(targets: [.init(params: "aes-xts-plain64 \(KernelTable.markerKey) 0 252:16 \(KernelTable.markerKey)")]),
                     "offset is not a number")
        Self.refused(KernelTable(targets: [.init(params: "aes-xts-plain64 \(KernelTable.markerKey) 0 252:16 99999999999999999999")]),
                     "offset is not a number")
        Self.refused(KernelTable(targets: [.init(params: "aes\u{7}xts \(KernelTable.markerKey) 0 252:16 0")]), "not a cipher spec")
        // A name without its NUL.
        var b = t.bytes()
        for i in 48..<176 { b[i] = 0x41 }
        Self.refused(b, "not a terminated string")
    }

    @Test func theReaderGrowsItsBufferWithinBounds() throws {
        let calls = Counter()
        // A table longer than the first buffer: the kernel says "buffer full" until it fits.
        let long = KernelTable.crypt("aes-xts-plain64", extra: " 1 " + String(repeating: "x", count: 40_000))
        let status: DMTable.TableStatus = { lookup, buffer in
            calls.add(buffer.count)
            return long.status()(lookup, buffer)
        }
        let table = try DMTable.read(.name("root"), using: status)
        #expect(table.cipher == "aes-xts-plain64" && table.offset == 32768)
        #expect(calls.sizes == [16 << 10, 32 << 10, 64 << 10])
        // Always full: it stops at 1 MiB.
        let bounded = Counter()
        #expect(throws: ActionFailure.self) {
            try DMTable.read(.name("root")) { _, buffer in
                bounded.add(buffer.count)
                buffer.storeBytes(of: UInt32(312), toByteOffset: 16, as: UInt32.self)
                buffer.storeBytes(of: UInt32(1 << 8), toByteOffset: 28, as: UInt32.self)
                return 0
            }
        }
        #expect(bounded.sizes.last == DMTable.maxBufferSize && bounded.sizes.count == 7)
        // An answer for another mapping than the one asked for.
        #expect(throws: ActionFailure.self) { try DMTable.read(.name("root"), using: KernelTable.crypt("aes-xts-plain64", name: "other").status(answerAsAsked: false)) }
        #expect(throws: ActionFailure.self) {
            try DMTable.read(.device(major: 253, minor: 1), using: KernelTable.crypt("aes-xts-plain64").status(answerAsAsked: false))
        }
        let byDev = try DMTable.read(.device(major: 253, minor: 4), using: KernelTable.crypt("aes-xts-plain64").status())
        #expect(byDev.device == "253:4")
    }

    /// The real ioctl: on a machine without device-mapper it fails clearly.
    @Test func theRealIoctlWithoutDeviceMapper() {
        do {
            let t = try DMTable.read(.name("se-secretd-no-such-mapping-\(getpid())"))
            Issue.record("a table for a mapping that does not exist: \(t)")
        } catch {
            if FileManager.default.fileExists(atPath: "/dev/mapper/control") {
                #expect(error.message.contains("DM_TABLE_STATUS"), "\(error.message)")
            } else {
                #expect(error.message.contains("no /dev/mapper/control") && error.message.contains("no device-mapper"), "\(error.message)")
            }
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ n: Int) { lock.lock(); values.append(n); lock.unlock() }
    var sizes: [Int] { lock.lock(); defer { lock.unlock() }; return values }
}
