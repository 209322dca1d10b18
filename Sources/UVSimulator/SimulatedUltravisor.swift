import ASRCodec
import SEBase
import SECrypto
import UVDevice
import RequestBuilding
import Attestation

/// The ultravisor side of the simulator: the calls behind the ioctls,
/// working on a `SimulatorState`. Where the real ultravisor's behaviour is
/// not documented the choice is marked [inference] here and in
/// docs/uv-device.md.
struct SimulatedUltravisor {
    let state: SimulatorState

    static let ok = UVCallResult(rc: UVReturnCode.success, rrc: 0)
    static func fail(_ rc: UInt16) -> UVCallResult { UVCallResult(rc: rc, rrc: 0) }

    private func installed(_ facility: UVFacility) -> Bool { state.config.facilities.isInstalled(facility) }

    // MARK: Add Secret (0x1031)

    /// The order of the checks is an [inference]: lock, dump, format,
    /// flags, type, decryption and binding, extension secret, capacity.
    func addSecret(_ buffer: [UInt8]) -> UVCallResult {
        guard installed(.addSecret) else { return Self.fail(UVReturnCode.invalidCommand) }
        if state.isLocked { return Self.fail(UVReturnCode.storeLocked) }
        if state.faults.dumpInProgressAdds > 0 {
            state.faults.dumpInProgressAdds -= 1
            return Self.fail(UVReturnCode.dumpInProgress)
        }
        // The kernel hands over only the address: the ultravisor takes the
        // length from the request header and reads that much. Bytes after
        // it are never seen; a header claiming more than the buffer holds
        // reads past it [inference: invalid size].
        guard buffer.count >= 16 else { return Self.fail(UVReturnCode.invalidRequestSize) }
        guard Array(buffer[0..<6]) == ASRLayout.magic,
              UserDataType(rawValue: buffer.readBE(UInt16.self, at: 6)) != nil else {
            return Self.fail(UVReturnCode.unsupportedVersion)
        }
        let version = buffer.readBE(UInt32.self, at: 8)
        guard versionSupported(version) else { return Self.fail(UVReturnCode.unsupportedVersion) }
        let declared = Int(buffer.readBE(UInt32.self, at: 12))
        guard declared <= buffer.count else { return Self.fail(UVReturnCode.invalidRequestSize) }
        let bytes = declared == buffer.count ? buffer : Array(buffer[0..<declared])

        let request: AddSecretRequest
        do {
            request = try AddSecretRequest.parse(bytes, opaqueUserData: true)
        } catch {
            return Self.fail(Self.rc(for: error))
        }
        guard request.flags.rawValue & ~state.config.supportedAddSecretFlags == 0 else {
            return Self.fail(UVReturnCode.unsupportedFlags)
        }
        let type = request.secretType
        guard state.config.supports(type) else { return Self.fail(UVReturnCode.unsupportedSecret) }
        if type == .updateCCK && !state.config.cckUpdateAllowed { return Self.fail(UVReturnCode.unsupportedSecret) }

        // Keyslot for this host, unwrap, AES-GCM over the whole request.
        let plaintext: RequestDecryption.Plaintext
        do {
            plaintext = try RequestDecryption.decrypt(request, hostKey: state.hostKey, hostKeyHash: state.hostKeyHash)
        } catch {
            return Self.fail(UVReturnCode.cannotDecrypt)
        }
        // Binding to the running image and instance.
        guard request.tags == state.config.imageTags else { return Self.fail(UVReturnCode.cannotDecrypt) }
        if let cuid = request.boundConfigUID, cuid != state.config.configUID {
            return Self.fail(UVReturnCode.cannotDecrypt)
        }

        // Extension secret: CCK-derived when enforced, else first writer wins.
        if state.config.cckExtensionSecretEnforced {
            guard let cck = state.cck,
                  let expected = try? HKDF.sha512(ikm: cck, salt: request.tags.tag,
                                                  info: RequestKeys.extensionSecretInfo, length: 32),
                  secureEqual(expected, plaintext.extensionSecret) else {
                return Self.fail(UVReturnCode.cannotAdd)
            }
        } else if let pinned = state.extensionSecret, !secureEqual(pinned, plaintext.extensionSecret) {
            return Self.fail(UVReturnCode.cannotAdd)
        }

        // Capacity: only listable secrets take a slot.
        if type.isListable {
            if state.faults.storeFull { return Self.fail(UVReturnCode.storeFull) }
            let count = state.store.count
            guard count < state.config.maxSecrets, count < SimulatorConfig.maxStoreSize else {
                return Self.fail(UVReturnCode.storeFull)
            }
            if type == .association && state.associationCount >= state.config.maxAssociationSecrets {
                return Self.fail(UVReturnCode.storeFull)
            }
            if type.isRetrievable && state.retrievableCount >= state.config.maxRetrievableSecrets {
                return Self.fail(UVReturnCode.storeFull)
            }
        }

        // Accepted.
        if !state.config.cckExtensionSecretEnforced && state.extensionSecret == nil {
            state.extensionSecret = plaintext.extensionSecret
        }
        if request.flags.disableDump { state.dumpDisabled = true }
        state.acceptedRequestTags.append(request.gcmTag)
        switch type {
        case .null:
            break
        case .updateCCK:
            state.cck = plaintext.value
        default:
            state.store.append(StoredSecret(index: UInt16(state.store.count), type: type,
                                            id: request.secretID ?? [UInt8](repeating: 0, count: 32),
                                            value: plaintext.value))
        }
        state.modified = true
        return Self.ok
    }

    private func versionSupported(_ version: UInt32) -> Bool {
        guard version >= 0x100, version % 0x100 == 0 else { return false }
        let bit = Int(version / 0x100) - 1
        return bit < 64 && state.config.supportedAddSecretVersions & (1 << UInt64(63 - bit)) != 0
    }

    /// Which return code a malformed request gets [inference].
    static func rc(for error: RequestFormatError) -> UInt16 {
        switch error.rule {
        case "bad-magic", "bad-user-data-type", "bad-version": return UVReturnCode.unsupportedVersion
        case "no-keyslots": return UVReturnCode.invalidHostKeyCount
        case "bad-secret-type": return UVReturnCode.unsupportedSecret
        case "bad-secret-length": return UVReturnCode.invalidSecretLength
        default: return UVReturnCode.invalidRequestSize
        }
    }

    // MARK: List Secrets (0x1033)

    /// One page of the list, starting at `startIndex`: up to 85 entries,
    /// rc 0x0100 and the next index when more follow.
    func listSecrets(startIndex: UInt16) -> (UVCallResult, [UInt8]) {
        var page = [UInt8](repeating: 0, count: SecretListLayout.pageSize)
        guard installed(.listSecrets) else { return (Self.fail(UVReturnCode.invalidCommand), page) }
        let remaining = state.store.filter { $0.index >= startIndex }
        let chunk = remaining.prefix(SecretListLayout.entriesPerPage)
        for (i, s) in chunk.enumerated() {
            SecretListEntry(index: s.index, typeCode: s.type.rawValue, length: s.listedLength, id: s.id)
                .encode(into: &page, at: SecretListLayout.headerSize + i * SecretListLayout.entrySize)
        }
        let more = remaining.count > chunk.count
        let next = more ? remaining[chunk.count].index : 0
        SecretList.encodeHeader(storedCount: UInt16(chunk.count), totalCount: UInt16(state.store.count),
                                nextIndex: next, into: &page)
        return (more ? UVCallResult(rc: UVReturnCode.moreData, rrc: 0) : Self.ok, page)
    }

    // MARK: Lock Secret Store (0x1034)

    func lockSecretStore() -> UVCallResult {
        guard installed(.lockSecrets) else { return Self.fail(UVReturnCode.invalidCommand) }
        if state.isLocked { return Self.fail(UVReturnCode.storeLocked) }
        state.isLocked = true
        state.modified = true
        return Self.ok
    }

    // MARK: Retrieve Secret (0x1035)

    /// Writes the secret at `index` to the start of `buffer` (the kernel's
    /// zeroed buffer); on failure the buffer stays untouched.
    func retrieveSecret(index: UInt16, into buffer: SecureBytes) -> UVCallResult {
        guard installed(.retrieveSecret) else { return Self.fail(UVReturnCode.invalidCommand) }
        guard !state.store.isEmpty else { return Self.fail(UVReturnCode.retrieveStoreEmpty) }
        guard let secret = state.store.first(where: { $0.index == index }) else {
            return Self.fail(UVReturnCode.retrieveInvalidIndex)
        }
        guard secret.type.isRetrievable else { return Self.fail(UVReturnCode.retrieveNotRetrievable) }
        guard let value = try? state.retrievedForm(secret) else { return Self.fail(0x0003) }
        guard value.count <= buffer.count else { return Self.fail(UVReturnCode.retrieveBufferTooSmall) }
        buffer.withUnsafeMutableBytes { dst in
            value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: dst[0..<$0.count]).copyMemory(from: $0) }
        }
        return Self.ok
    }

    // MARK: Retrieve Attestation Measurement (0x1020)

    /// What ATT gives back: the measurement and additional data as the
    /// ultravisor writes them into the caller's buffers, and the config UID.
    struct Attestation {
        var result: UVCallResult
        var measurement: [UInt8] = []
        var additionalData: [UInt8] = []
        var configUID = [UInt8](repeating: 0, count: 16)
    }

    /// The attestation flags this ultravisor accepts (sysfs's
    /// supp_att_pflags): the nonce and all four kinds of additional data.
    static let supportedAttestationFlags = AttestationFlags([.nonce, .additionalData])

    /// The firmware state this simulated machine reports (320 opaque bytes
    /// for an IBM service; here derived from the host key, so that it is
    /// the same on every call of one simulated machine).
    var firmwareState: [UInt8] {
        var out: [UInt8] = []
        var block = Digest.sha512(Array("se-secretd simulated firmware state".utf8) + state.hostKeyHash)
        while out.count < AdditionalData.Field.firmwareState.size {
            out += block
            block = Digest.sha512(block)
        }
        return Array(out.prefix(AdditionalData.Field.firmwareState.size))
    }

    /// ATT as the ultravisor does it (docs/attestation.md; the order of the
    /// checks is [inference], the reference's §3.5): the request's header,
    /// lengths, keyslot count, encrypted size, flags and measurement
    /// algorithm, then decryption with the host key (any failure 0x010C),
    /// then the buffer sizes; then the measurement over this guest's image
    /// tags, config UID, the user data, the nonce and the additional data,
    /// which carries the secret-store hash and lock state the store holds
    /// now.
    func attest(arcb: [UInt8], userDataArea: [UInt8], userDataLength: UInt16, measurementLength: Int,
                additionalDataLength: Int) -> Attestation {
        guard installed(.retrieveAttestation) else { return Attestation(result: Self.fail(UVReturnCode.invalidCommand)) }
        guard Int(userDataLength) <= min(Measurement.maxUserData, userDataArea.count) else { return Attestation(result: Self.fail(0x0102)) }
        let userData = Array(userDataArea.prefix(Int(userDataLength)))
        let request: AttestationRequest
        do { request = try AttestationRequest.parse(arcb) } catch {
            return Attestation(result: Self.fail(Self.rc(for: error.rule)))
        }
        guard request.flags.isSubset(of: Self.supportedAttestationFlags) else { return Attestation(result: Self.fail(0x010A)) }
        let confidential: AttestationConfidential
        do {
            confidential = try AttestationRequestDecryption.decrypt(request, hostKey: state.hostKey, hostKeyHash: state.hostKeyHash)
        } catch {
            return Attestation(result: Self.fail(0x010C))
        }
        guard measurementLength >= request.measurementSize else { return Attestation(result: Self.fail(0x010D)) }
        guard additionalDataLength >= request.additionalDataSize else { return Attestation(result: Self.fail(0x010E)) }
        let additional = AdditionalData(
            imagePHKH: request.flags.contains(.imagePHKH) ? state.hostKeyHash : nil,
            attestationPHKH: request.flags.contains(.attestationPHKH) ? state.hostKeyHash : nil,
            secretStoreHash: request.flags.contains(.secretStoreHash) ? state.secretStoreHash : nil,
            firmwareState: request.flags.contains(.firmwareState) ? firmwareState : nil)
        let additionalBytes: [UInt8]
        let measurement: [UInt8]
        do {
            additionalBytes = try additional.bytes(for: request.flags)
            measurement = try Measurement.compute(
                key: confidential.measurementKey,
                items: MeasuredItems(tags: state.config.imageTags, configUID: state.config.configUID, userData: userData,
                                     nonce: confidential.nonce, additionalData: additionalBytes),
                algorithm: request.measurementAlgorithm)
        } catch {
            return Attestation(result: Self.fail(0x0003))
        }
        return Attestation(result: Self.ok, measurement: measurement, additionalData: additionalBytes,
                           configUID: state.config.configUID)
    }

    /// The return code for a request the parser refuses (the reference's
    /// rc list; [inference] where a rule has no code of its own: 0x0107).
    static func rc(for rule: ARCBFormatError.Rule) -> UInt16 {
        switch rule {
        case .badVersion, .notARCB: return 0x0106
        case .noKeyslots: return 0x0108
        case .badEncryptedSize: return 0x0109
        case .unknownFlags: return 0x010A
        case .badMeasurementAlgorithm: return 0x010B
        case .empty, .oversize, .truncated, .trailingBytes, .badLength, .reservedNotZero: return 0x0107
        }
    }
}
