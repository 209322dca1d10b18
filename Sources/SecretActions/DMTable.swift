#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CDeviceMapper
import SEBase
import SecretPolicy

/// The active dm-crypt table of a mapping, as the kernel has it
/// (DM_TABLE_STATUS), reduced to what the checks need. The key field of the
/// table is never kept: it is skipped in the reply buffer, which is wiped.
public struct DMCryptTable: Sendable, Equatable {
    /// The mapping's name and device-mapper UUID, as the kernel replied.
    public var name: String
    public var uuid: String
    /// "major:minor" of the mapping itself.
    public var device: String
    /// The cipher spec exactly as the kernel prints it (e.g.
    /// "aes-xts-plain64" or "capi:xts(aes)-plain64").
    public var kernelCipher: String
    /// The cipher spec in dm-crypt's short form, the way headers and the
    /// policy spell it (`DMTable.normalise`).
    public var cipher: String
    /// "major:minor" of the backing device (the crypt target's 4th field).
    public var backing: String
    /// The data offset on the backing device in 512-byte sectors (5th field).
    public var offset: UInt64
    /// The mapping's length in sectors.
    public var length: UInt64

    public init(name: String, uuid: String, device: String, kernelCipher: String, cipher: String, backing: String,
                offset: UInt64, length: UInt64) {
        self.name = name
        self.uuid = uuid
        self.device = device
        self.kernelCipher = kernelCipher
        self.cipher = cipher
        self.backing = backing
        self.offset = offset
        self.length = length
    }
}

/// Reading and parsing the kernel's table of a dm-crypt mapping. This, not
/// the LUKS header (which the host can change between reads), is what the
/// post-activation and root hand-off checks compare.
public enum DMTable {
    /// Which mapping to ask for.
    public enum Lookup: Sendable, Equatable {
        case name(String)
        case device(major: UInt32, minor: UInt32)
    }

    /// DM_TABLE_STATUS into a buffer: 0 or -errno (se_dm_table_status).
    /// Replaceable in tests, which answer with bytes laid out as the kernel
    /// lays them out.
    public typealias TableStatus = @Sendable (Lookup, UnsafeMutableRawBufferPointer) -> Int32

    /// The real ioctl on /dev/mapper/control.
    public static let kernel: TableStatus = { lookup, buffer in
        switch lookup {
        case let .name(n): return se_dm_table_status(n, 0, 0, buffer.baseAddress, buffer.count)
        case let .device(major, minor): return se_dm_table_status(nil, major, minor, buffer.baseAddress, buffer.count)
        }
    }

    /// The layout of struct dm_ioctl and struct dm_target_spec
    /// (linux/dm-ioctl.h); CDeviceMapper/dm_table.c checks these numbers at
    /// compile time.
    enum Layout {
        static let ioctlSize = 312
        static let dataSize = 12, dataStart = 16, targetCount = 20, flags = 28, dev = 40
        static let name = 48, nameLength = 128, uuid = 176, uuidLength = 129
        static let specSize = 40
        static let specLength = 8, specNext = 20, specType = 24, typeLength = 16
        static let bufferFull: UInt32 = 1 << 8
    }

    static let initialBufferSize = 16 << 10
    /// A dm-crypt table is one line of a few hundred bytes; more than this is not one.
    public static let maxBufferSize = 1 << 20

    /// The kernel's table of `lookup`, checked to be one crypt target over
    /// the whole device. The reply buffer (it holds the key) is a wiped
    /// SecureBytes on every path.
    public static func read(_ lookup: Lookup, using status: TableStatus = kernel) throws(ActionFailure) -> DMCryptTable {
        var size = initialBufferSize
        while true {
            let buffer = SecureBytes(count: size)
            defer { buffer.wipe() }
            let rc = buffer.withUnsafeMutableBytes { status(lookup, $0) }
            guard rc == 0 else { throw ActionFailure(.io, failure(rc, lookup)) }
            let flags = buffer.withUnsafeBytes { $0.count >= Layout.ioctlSize ? $0.loadUnaligned(fromByteOffset: Layout.flags, as: UInt32.self) : 0 }
            if flags & Layout.bufferFull != 0 {
                guard size < maxBufferSize else {
                    throw ActionFailure(.data, "the kernel's table of \(describe(lookup)) does not fit in \(maxBufferSize) bytes: not a dm-crypt table")
                }
                size *= 2
                continue
            }
            let table: DMCryptTable
            do { table = try buffer.withUnsafeBytes { (raw) throws(ActionFailure) in try parse(raw) } } catch {
                throw ActionFailure(error.kind, "the kernel's table of \(describe(lookup)): \(error.message)")
            }
            let answered: Bool
            switch lookup {
            case let .name(n): answered = table.name == n
            case .device: answered = table.device == describe(lookup)
            }
            guard answered else {
                throw ActionFailure(.data, "the kernel answered for \(table.name) (\(table.device)) when asked for \(describe(lookup))")
            }
            return table
        }
    }

    static func describe(_ lookup: Lookup) -> String {
        switch lookup {
        case let .name(n): return "/dev/mapper/\(n)"
        case let .device(major, minor): return "\(major):\(minor)"
        }
    }

    static func failure(_ rc: Int32, _ lookup: Lookup) -> String {
        let e = rc < 0 ? -rc : rc
        let what = "cannot read the table of \(describe(lookup)) from the kernel (DM_TABLE_STATUS)"
        switch e {
        case ENOENT, ENODEV:
            return "\(what): no /dev/mapper/control (\(LUKSVolume.errnoText(rc))): this system has no device-mapper"
        case ENXIO: return "\(what): no such mapping (\(LUKSVolume.errnoText(rc)))"
        default: return "\(what): \(LUKSVolume.errnoText(rc))"
        }
    }

    /// Parses a DM_TABLE_STATUS reply (struct dm_ioctl, then the targets
    /// from data_start to data_size). It must hold exactly one target, of
    /// type "crypt", starting at sector 0; of its parameters
    /// `<cipher> <key> <iv_offset> <device> <offset> [<#opt> <opt>...]`
    /// only the cipher, the device and the offset are taken. Errors never
    /// quote the parameters.
    public static func parse(_ buf: UnsafeRawBufferPointer) throws(ActionFailure) -> DMCryptTable {
        func bad(_ why: String) -> ActionFailure { ActionFailure(.data, why) }
        func u32(_ at: Int) -> UInt32 { buf.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
        func u64(_ at: Int) -> UInt64 { buf.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
        guard buf.count >= Layout.ioctlSize else { throw bad("the reply has \(buf.count) bytes, less than a struct dm_ioctl") }
        guard u32(Layout.flags) & Layout.bufferFull == 0 else { throw bad("the reply is incomplete (DM_BUFFER_FULL_FLAG)") }
        let start = Int(u32(Layout.dataStart)), end = Int(u32(Layout.dataSize))
        guard start >= Layout.ioctlSize, start % 8 == 0, start <= end, end <= buf.count else {
            throw bad("the reply's data_start \(start) / data_size \(end) do not fit its \(buf.count) bytes")
        }
        guard let name = cString(buf, Layout.name, Layout.nameLength), let uuid = cString(buf, Layout.uuid, Layout.uuidLength) else {
            throw bad("the reply's name or UUID is not a terminated string")
        }
        let dev = u64(Layout.dev)
        let device = "\((dev & 0xfff00) >> 8):\((dev & 0xff) | ((dev >> 12) & 0xfff00))"
        let count = Int(u32(Layout.targetCount))
        let space = end - start
        guard count <= space / Layout.specSize else { throw bad("the reply claims \(count) targets in \(space) bytes") }

        struct Target { var type: String; var sectorStart: UInt64; var length: UInt64; var params: Range<Int> }
        var targets: [Target] = []
        var offset = 0
        for i in 0..<count {
            let at = start + offset
            guard offset % 8 == 0, at + Layout.specSize <= end else { throw bad("target \(i) lies outside the reply's data") }
            guard let type = cString(buf, at + Layout.specType, Layout.typeLength), isPrintable(Array(type.utf8)) else {
                throw bad("target \(i) has no valid target type")
            }
            let paramsStart = at + Layout.specSize
            guard let nul = (paramsStart..<end).first(where: { buf[$0] == 0 }) else {
                throw bad("the parameters of target \(i) are not terminated within the reply")
            }
            let next = Int(u32(at + Layout.specNext))
            let usedEnd = nul + 1 - start
            if i + 1 < count {
                guard next > offset, next >= usedEnd, next % 8 == 0, start + next < end else {
                    throw bad("target \(i)'s next offset \(next) points outside the reply's data")
                }
            } else {
                guard next >= usedEnd, next % 8 == 0, next <= (space + 7) & ~7 else {
                    throw bad("target \(i)'s next offset \(next) points outside the reply's data")
                }
            }
            targets.append(Target(type: type, sectorStart: u64(at), length: u64(at + Layout.specLength), params: paramsStart..<nul))
            offset = next
        }
        guard targets.count == 1 else {
            throw bad("\(targets.count) targets (\(targets.map(\.type).joined(separator: ", "))); a LUKS mapping is one crypt target")
        }
        let t = targets[0]
        guard t.type == "crypt" else { throw bad("a \(t.type) target, not crypt") }
        guard t.sectorStart == 0, t.length > 0 else {
            throw bad("the crypt target covers sectors \(t.sectorStart)+\(t.length), not the whole device from sector 0")
        }

        // Field boundaries only; the key (field 1) is never copied out.
        var fields: [Range<Int>] = []
        var fieldStart = t.params.lowerBound
        for i in t.params where buf[i] == 0x20 {
            fields.append(fieldStart..<i)
            fieldStart = i + 1
            if fields.count == 5 { break }
        }
        if fields.count < 5 { fields.append(fieldStart..<t.params.upperBound) }
        guard fields.count >= 5, fields[0..<5].allSatisfy({ !$0.isEmpty }) else {
            throw bad("the crypt target's parameters do not have the five fields of a dm-crypt table")
        }
        let cipherBytes = Array(buf[fields[0]])
        guard cipherBytes.count <= 128, isPrintable(cipherBytes) else { throw bad("the crypt target's cipher field is not a cipher spec") }
        guard decimal(buf, fields[2]) != nil else { throw bad("the crypt target's IV offset is not a number") }
        guard let backing = deviceNumber(buf, fields[3]) else { throw bad("the crypt target's device field is not major:minor") }
        guard let dataOffset = decimal(buf, fields[4]) else { throw bad("the crypt target's offset is not a number") }
        let kernelCipher = String(decoding: cipherBytes, as: UTF8.self)
        return DMCryptTable(name: name, uuid: uuid, device: device, kernelCipher: kernelCipher, cipher: normalise(kernelCipher),
                            backing: backing, offset: dataOffset, length: t.length)
    }

    /// dm-crypt's two spellings of a cipher: "capi:MODE(CIPHER)-IV" (the
    /// kernel crypto API form) is the same as "CIPHER-MODE-IV", so
    /// "capi:xts(aes)-plain64" becomes "aes-xts-plain64". Any other capi:
    /// form (nested templates such as authenc(...), AEAD) is returned as it
    /// is, which no allow-list entry matches: it passes only if the
    /// policy's `expect_cipher` names it literally.
    public static func normalise(_ spec: String) -> String {
        let s = Array(spec.utf8)
        let prefix = Array("capi:".utf8)
        guard s.count > prefix.count, s[0..<prefix.count].elementsEqual(prefix) else { return spec }
        let rest = s[prefix.count...]
        guard let open = rest.firstIndex(of: UInt8(ascii: "(")), let close = rest.firstIndex(of: UInt8(ascii: ")")), open < close,
              close + 1 < s.count, s[close + 1] == UInt8(ascii: "-") else { return spec }
        let mode = s[rest.startIndex..<open], cipher = s[(open + 1)..<close], iv = s[(close + 2)...]
        func token(_ b: ArraySlice<UInt8>, colon: Bool = false) -> Bool {
            !b.isEmpty && b.allSatisfy { NameBytes.isAlnum($0) || $0 == UInt8(ascii: "_") || (colon && $0 == UInt8(ascii: ":")) }
        }
        guard token(mode), token(cipher), token(iv, colon: true) else { return spec }
        return String(decoding: Array(cipher) + Array("-".utf8) + Array(mode) + Array("-".utf8) + Array(iv), as: UTF8.self)
    }

    static func cString(_ buf: UnsafeRawBufferPointer, _ at: Int, _ length: Int) -> String? {
        guard let nul = (at..<(at + length)).first(where: { buf[$0] == 0 }) else { return nil }
        return String(decoding: buf[at..<nul], as: UTF8.self)
    }

    static func isPrintable(_ b: [UInt8]) -> Bool { !b.isEmpty && b.allSatisfy { $0 > 0x20 && $0 < 0x7f } }

    static func decimal(_ buf: UnsafeRawBufferPointer, _ r: Range<Int>) -> UInt64? {
        guard !r.isEmpty, r.count <= 20 else { return nil }
        var v: UInt64 = 0
        for i in r {
            let c = buf[i]
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1, !o2 else { return nil }
            v = a
        }
        return v
    }

    static func deviceNumber(_ buf: UnsafeRawBufferPointer, _ r: Range<Int>) -> String? {
        guard let colon = r.first(where: { buf[$0] == UInt8(ascii: ":") }),
              let major = decimal(buf, r.lowerBound..<colon), let minor = decimal(buf, (colon + 1)..<r.upperBound),
              major <= UInt64(UInt32.max), minor <= UInt64(UInt32.max) else { return nil }
        return "\(major):\(minor)"
    }
}

enum NameBytes {
    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
