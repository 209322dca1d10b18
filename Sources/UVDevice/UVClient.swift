#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUVDevice
import SEBase

/// The answer of LIST_SECRETS with how complete it is.
public struct SecretListing: Equatable, Sendable {
    public let list: SecretList
    /// False when the device could not return every secret (a 6.5–6.12
    /// kernel with more than 85 secrets): the entries are valid but some
    /// are missing.
    public let isComplete: Bool
    /// The buffer size of the ioctl that produced the list, in pages.
    public let pages: Int
    /// True when the kernel refused a multi-page buffer and one page was used.
    public let fellBackToOnePage: Bool
    /// The list as the ultravisor wrote it: its 16-byte header and the
    /// entries it stored (48 bytes each, reserved bytes as they came), the
    /// bytes `pvsecret list --format bin` writes. IDs only, no secret.
    public let raw: [UInt8]
}

/// /dev/uv operations on top of a transport. The same code runs against the
/// kernel and against the simulator.
public final class UVClient {
    public let transport: UVTransport
    /// Pages LIST asks for first (s390-tools uses 4). Set it from
    /// `UVQuery.maxSecrets` with `SecretListLayout.pages(forSecrets:)`.
    public var listPages: Int = 4

    /// LIST never asks for more than this (65535 secrets).
    public static let maxListPages = SecretListLayout.pages(forSecrets: Int(UInt16.max))

    public init(transport: UVTransport) {
        self.transport = transport
    }

    // MARK: INFO

    /// Driver and ultravisor capabilities. A driver without INFO (ENOTTY)
    /// is reported as `UVInfo.legacyDriver`, not as an error.
    public func info() throws(UVError) -> UVInfo {
        var info = se_uvio_uvdev_info()
        let size = MemoryLayout<se_uvio_uvdev_info>.size
        let result: UVCallResult
        do {
            result = try withUnsafeMutableBytes(of: &info) { raw in
                Result { () throws(UVError) in try transport.call(.info, argument: raw.baseAddress, length: size) }
            }.get()
        } catch let error where error.errno == ENOTTY {
            return .legacyDriver
        }
        guard result.rc == UVReturnCode.success else {
            throw .ultravisor(UVCallFailure(ioctl: .info, rc: result.rc, rrc: result.rrc))
        }
        return UVInfo(driverIoctls: info.supp_uvio_cmds, ultravisorCalls: info.supp_uv_cmds)
    }

    // MARK: ATT

    /// What the ultravisor answers to an attestation request.
    public struct AttestationAnswer: Equatable, Sendable {
        /// The measurement (HMAC-SHA512 under the request's measurement key).
        public let measurement: [UInt8]
        /// The additional data the request asked for (the buffer as the
        /// ultravisor filled it; its layout is the request's, see
        /// docs/attestation.md).
        public let additionalData: [UInt8]
        /// The guest's configuration UID.
        public let configUID: [UInt8]
    }

    /// ATT: the ultravisor decrypts the attestation request (ARCB) with its
    /// host key and measures this guest into buffers of the sizes the
    /// request names. `userData` (at most 256 bytes) goes into the
    /// measurement. The kernel's limits are checked here first, so a
    /// request that cannot pass them is refused without an ioctl.
    public func attest(request arcb: [UInt8], measurementLength: Int, additionalDataLength: Int,
                       userData: [UInt8] = []) throws(UVError) -> AttestationAnswer {
        guard (1...Int(SE_UVIO_ATT_ARCB_MAX_LEN)).contains(arcb.count) else {
            throw .invalidArgument("an attestation request of \(arcb.count) bytes (the kernel takes 1 to \(SE_UVIO_ATT_ARCB_MAX_LEN))")
        }
        guard (1...Int(SE_UVIO_ATT_MEASUREMENT_MAX_LEN)).contains(measurementLength) else {
            throw .invalidArgument("a measurement of \(measurementLength) bytes (the kernel takes 1 to \(SE_UVIO_ATT_MEASUREMENT_MAX_LEN))")
        }
        guard (0...Int(SE_UVIO_ATT_ADDITIONAL_MAX_LEN)).contains(additionalDataLength) else {
            throw .invalidArgument("additional data of \(additionalDataLength) bytes (the kernel takes 0 to \(SE_UVIO_ATT_ADDITIONAL_MAX_LEN))")
        }
        let userMax = Int(SE_UVIO_ATT_USER_DATA_LEN)
        guard userData.count <= userMax else {
            throw .invalidArgument("\(userData.count) bytes of user data (at most \(userMax))")
        }
        var request = arcb
        var measurement = [UInt8](repeating: 0, count: measurementLength)
        // One byte even when no additional data is asked for: the address
        // is then unused, as the kernel ignores it with a zero length.
        var additional = [UInt8](repeating: 0, count: max(1, additionalDataLength))
        var att = se_uvio_attest()
        att.arcb_len = UInt32(arcb.count)
        att.meas_len = UInt32(measurementLength)
        att.add_data_len = UInt32(additionalDataLength)
        att.user_data_len = UInt16(userData.count)
        withUnsafeMutableBytes(of: &att.user_data) { raw in
            for (i, b) in userData.enumerated() { raw[i] = b }
        }
        let result = try request.withUnsafeMutableBytes { r in
            measurement.withUnsafeMutableBytes { m in
                additional.withUnsafeMutableBytes { a in
                    att.arcb_addr = UInt64(UInt(bitPattern: r.baseAddress))
                    att.meas_addr = UInt64(UInt(bitPattern: m.baseAddress))
                    att.add_data_addr = UInt64(UInt(bitPattern: a.baseAddress))
                    return withUnsafeMutableBytes(of: &att) { raw in
                        Result { () throws(UVError) in try transport.call(.attest, argument: raw.baseAddress, length: raw.count) }
                    }
                }
            }
        }.get()
        try Self.requireSuccess(result, .attest)
        let uid = withUnsafeBytes(of: att.config_uid) { Array($0) }
        return AttestationAnswer(measurement: measurement, additionalData: Array(additional.prefix(additionalDataLength)),
                                 configUID: uid)
    }

    // MARK: ADD_SECRET

    /// Submits one add-secret request as it is (the ultravisor validates it).
    public func addSecret(_ request: [UInt8]) throws(UVError) {
        var copy = request
        defer { copy.wipe() }
        let result = try copy.withUnsafeMutableBytes { raw in
            Result { () throws(UVError) in try transport.call(.addSecret, argument: raw.baseAddress, length: raw.count) }
        }.get()
        try Self.requireSuccess(result, .addSecret)
    }

    // MARK: LIST_SECRETS

    /// Lists the secret store. Asks for `listPages` pages; a kernel that
    /// only takes one page (EINVAL) is asked again with one. When the
    /// ultravisor reports more data and a bigger buffer would help, asks
    /// once more with enough pages for the total; when it cannot help (one
    /// page only), the listing is marked incomplete.
    public func listSecrets() throws(UVError) -> SecretListing {
        var pages = min(max(1, listPages), Self.maxListPages)
        var fellBack = false
        var grew = false
        while true {
            let (result, list, raw): (UVCallResult, SecretList, [UInt8])
            do {
                (result, list, raw) = try listOnce(pages: pages)
            } catch let error where error.errno == EINVAL && pages > 1 {
                pages = 1
                fellBack = true
                continue
            }
            if result.rc == UVReturnCode.success {
                return SecretListing(list: list, isComplete: true, pages: pages, fellBackToOnePage: fellBack, raw: raw)
            }
            guard result.rc == UVReturnCode.moreData else {
                throw .ultravisor(UVCallFailure(ioctl: .listSecrets, rc: result.rc, rrc: result.rrc))
            }
            let needed = min(SecretListLayout.pages(forSecrets: list.totalCount), Self.maxListPages)
            if !fellBack && !grew && needed > pages {
                pages = needed
                grew = true
                continue
            }
            return SecretListing(list: list, isComplete: false, pages: pages, fellBackToOnePage: fellBack, raw: raw)
        }
    }

    /// Like `listSecrets`, but an incomplete list is an error.
    public func listAllSecrets() throws(UVError) -> SecretList {
        let listing = try listSecrets()
        guard listing.isComplete else {
            throw .incompleteList(returned: listing.list.entries.count, total: listing.list.totalCount)
        }
        return listing.list
    }

    private func listOnce(pages: Int) throws(UVError) -> (UVCallResult, SecretList, [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: pages * SecretListLayout.pageSize)
        let result = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(UVError) in try transport.call(.listSecrets, argument: raw.baseAddress, length: raw.count) }
        }.get()
        guard result.rc == UVReturnCode.success || result.rc == UVReturnCode.moreData else {
            return (result, SecretList(entries: [], totalCount: 0, nextIndex: 0), [])
        }
        do {
            let list = try SecretList.decode(buffer)
            let used = SecretListLayout.headerSize + list.entries.count * SecretListLayout.entrySize
            return (result, list, Array(buffer[0..<used]))
        } catch {
            throw .malformedResponse(error.message)
        }
    }

    // MARK: LOCK_SECRETS

    /// Locks the secret store for the rest of this boot.
    public func lock() throws(UVError) {
        let result = try transport.call(.lockSecrets, argument: nil, length: 0)
        try Self.requireSuccess(result, .lockSecrets)
    }

    // MARK: RETR_SECRET

    /// Retrieves the secret at `index` into a wiped, locked buffer of
    /// `length` bytes (the list entry's length). The index travels in the
    /// buffer's first two bytes, big-endian; those bytes belong to the
    /// secret afterwards.
    public func retrieve(index: UInt16, length: Int) throws(UVError) -> SecureBytes {
        let maxLength = Int(SE_UVIO_RETR_SECRET_MAX_LEN)
        guard length >= 0, length <= maxLength else {
            throw .invalidArgument("a secret of \(length) bytes cannot be retrieved (at most \(maxLength))")
        }
        let size = max(Int(SE_UVIO_RETR_INDEX_LEN), length)
        let buffer = SecureBytes(count: size)
        buffer[0] = UInt8(index >> 8)
        buffer[1] = UInt8(index & 0xFF)
        let result: UVCallResult
        do {
            result = try buffer.withUnsafeMutableBytes { (raw) throws(UVError) in
                try transport.call(.retrieveSecret, argument: raw.baseAddress, length: raw.count)
            }
            try Self.requireSuccess(result, .retrieveSecret)
        } catch {
            buffer.wipe()
            throw error
        }
        return size == length ? buffer : buffer.slice(0..<length)
    }

    /// Retrieves the secret an entry describes, with a buffer of its length.
    public func retrieve(_ entry: SecretListEntry) throws(UVError) -> SecureBytes {
        try retrieve(index: entry.index, length: Int(entry.length))
    }

    // MARK: -

    static func requireSuccess(_ result: UVCallResult, _ ioctl: UVIoctl) throws(UVError) {
        guard result.rc == UVReturnCode.success else {
            throw .ultravisor(UVCallFailure(ioctl: ioctl, rc: result.rc, rrc: result.rrc))
        }
    }
}
