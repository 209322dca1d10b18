import Glibc
import Testing
import CUVDevice
import SEBase
@testable import UVDevice

/// The C target's layout as Swift sees it (the C header proves it with
/// _Static_assert, scripts/check-uapi-s390x.sh on s390x too).
@Suite struct ABITests {
    @Test func structSizes() {
        #expect(MemoryLayout<se_uvio_ioctl_cb>.size == 0x40)
        #expect(MemoryLayout<se_uvio_ioctl_cb>.alignment == 8)
        #expect(MemoryLayout<se_uvio_uvdev_info>.size == 0x10)
        #expect(MemoryLayout<se_uvio_attest>.size == 0x138)
        #expect(MemoryLayout<se_uvio_ioctl_cb>.offset(of: \.argument_addr) == 0x08)
        #expect(MemoryLayout<se_uvio_ioctl_cb>.offset(of: \.reserved14) == 0x14)
        #expect(MemoryLayout<se_uvio_attest>.offset(of: \.add_data_len) == 0x130)
    }

    @Test func requestNumbers() {
        let expected: [UVIoctl: UInt] = [.info: 0xC040_7500, .attest: 0xC040_7501, .addSecret: 0xC040_7502,
                                         .listSecrets: 0xC040_7503, .lockSecrets: 0xC040_7504, .retrieveSecret: 0xC040_7505]
        for (ioctl, number) in expected { #expect(ioctl.requestNumber == number, "\(ioctl.name)") }
        #expect(se_ioc_dir(0xC040_7503) == SE_IOC_DIR_READ_WRITE.rawValue)
        #expect(se_ioc_size(0xC040_7503) == 64)
        #expect(se_ioc_nr(0xC040_7503) == 3)
        #expect(se_ioc_type(0xC040_7503) == 0x75)
    }

    @Test func listLayout() {
        #expect(SecretListLayout.pageSize == 4096)
        #expect(SecretListLayout.entriesPerPage == 85)
        #expect(SecretListLayout.headerSize + 85 * SecretListLayout.entrySize == 4096)
        #expect(SecretListLayout.pages(forSecrets: 0) == 1)
        #expect(SecretListLayout.pages(forSecrets: 85) == 1)
        #expect(SecretListLayout.pages(forSecrets: 86) == 2)
        #expect(SecretListLayout.pages(forSecrets: 65535) == 771)
        #expect(UVClient.maxListPages == 771)
    }

    @Test func kernelTransportRefusesWhatIsNotADevice() throws {
        #expect(throws: UVError.self) { _ = try KernelUVTransport(path: "/nonexistent/uv") }
        do {
            _ = try KernelUVTransport(path: "/etc/hostname")
            Issue.record("a regular file must be refused")
        } catch {
            #expect(error.errno == ENODEV || error.errno == ENOENT)
        }
    }

    /// /dev/null is a character device without our ioctls: the kernel's
    /// ENOTTY comes through the real system call.
    @Test func kernelTransportReachesTheKernel() throws {
        let t = try KernelUVTransport(path: "/dev/null")
        let client = UVClient(transport: t)
        #expect(try client.info() == .legacyDriver)
        #expect(throws: UVError.self) { try client.lock() }
    }
}

@Suite struct SecretListTests {
    /// The s390-tools test vector (secret_list.rs, secret_list_dec).
    @Test func decodesTheS390ToolsVector() throws {
        var bytes: [UInt8] = [0x00, 0x01, 0x01, 0x12, 0x01, 0x01] + [UInt8](repeating: 0, count: 10)
        bytes += [0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x20] + [UInt8](repeating: 0, count: 8 + 32)
        let l = try SecretList.decode(bytes)
        #expect(l.entries.count == 1)
        #expect(l.totalCount == 0x112)
        #expect(l.nextIndex == 0x101)
        #expect(l.entries[0] == SecretListEntry(index: 1, typeCode: 2, length: 32, id: [UInt8](repeating: 0, count: 32)))
        #expect(l.entries[0].type == .association)
        var again = [UInt8](repeating: 0, count: bytes.count)
        SecretList.encodeHeader(storedCount: 1, totalCount: 0x112, nextIndex: 0x101, into: &again)
        l.entries[0].encode(into: &again, at: 16)
        #expect(again == bytes)
    }

    @Test func neverTrustsTheCountBeyondTheBuffer() throws {
        var page = [UInt8](repeating: 0, count: 4096)
        page.writeBE(UInt16(86), at: 0)
        #expect(throws: SecretList.Malformed.self) { _ = try SecretList.decode(page) }
        #expect(throws: SecretList.Malformed.self) { _ = try SecretList.decode([0, 1]) }
        page.writeBE(UInt16(85), at: 0)
        #expect(try SecretList.decode(page).entries.count == 85)
        var short = [UInt8](repeating: 0, count: 16 + 47)
        short.writeBE(UInt16(1), at: 0)
        #expect(throws: SecretList.Malformed.self) { _ = try SecretList.decode(short) }
    }

    @Test func unknownTypesAndRawNames() {
        let id = Array("my-secret".utf8) + [UInt8](repeating: 0, count: 23)
        let e = SecretListEntry(index: 3, typeCode: 0x0C, length: 16, id: id)
        #expect(e.type == nil)
        #expect(e.typeName == "unknown (0x000c)")
        #expect(e.rawName == "my-secret")
    }
}

@Suite struct ReturnCodeTests {
    @Test func everyDocumentedCodeHasAMessage() {
        let expected: [UVIoctl: [UInt16]] = [
            .addSecret: Array(0x0101...0x010D),
            .lockSecrets: [0x0101, 0x0102],
            .retrieveSecret: [0x0009, 0x0102, 0x0109, 0x010F, 0x0110, 0x0111],
            .attest: Array(0x0101...0x010E),
        ]
        let generic: [UInt16] = [0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0x0007, 0x0030, 0x0031, 0x0032, 0x0100, 0x8000]
        for ioctl in UVIoctl.allCases {
            let codes = generic + (expected[ioctl] ?? [])
            #expect(Set(UVReturnCode.documentedCodes(for: ioctl)) == Set(codes), "\(ioctl.name)")
            for rc in codes {
                #expect(UVReturnCode.isDocumented(rc, for: ioctl))
                #expect(!UVReturnCode.message(rc, for: ioctl).hasPrefix("undocumented"))
            }
        }
        #expect(UVReturnCode.message(0x0108, for: .addSecret).contains("decrypt"))
        #expect(UVReturnCode.message(0x0102, for: .lockSecrets).contains("already locked"))
        #expect(UVReturnCode.message(0x0777, for: .addSecret).hasPrefix("undocumented"))
        #expect(UVReturnCode.isBufferTooSmall(0x0009) && UVReturnCode.isBufferTooSmall(0x0109))
        #expect(UVReturnCode.isRetryable(0x010D, for: .addSecret))
        #expect(!UVReturnCode.isRetryable(0x010D, for: .retrieveSecret))
    }

    @Test func errorDescriptions() {
        let f = UVError.ultravisor(UVCallFailure(ioctl: .addSecret, rc: 0x010B, rrc: 0x0001))
        #expect(f.description == "ADD_SECRET: ultravisor rc 0x010b rrc 0x0001: the secret store is full")
        let e = UVError.system(SystemError(errno: ENOTTY, operation: "ioctl RETR_SECRET on", path: "/dev/uv"))
        #expect(e.errno == ENOTTY)
        #expect(e.description.contains("does not know this ioctl"))
    }
}
