import SEBase
import SECrypto
import ASRCodec
import Attestation

// MARK: - arcb: AttestationRequest.parse, its accessors, decryption with the ARPK

/// An error's offset points into the input (or at its end).
func offsetInside(_ offset: Int?, _ count: Int) -> Bool { offset.map { $0 >= 0 && $0 <= count } ?? true }

extension FuzzTarget {
    static let arcb = FuzzTarget(
        name: "arcb", summary: "AttestationRequest.parse (strict ARCB), every accessor, the exchange request for it, decrypt with a fixed ARPK",
        maxLength: 24576, prepare: { _ = arcbProtectionKey },
        run: { bytes in
            let r: AttestationRequest
            do throws(ARCBFormatError) { r = try AttestationRequest.parse(bytes) } catch {
                invariant(offsetInside(error.offset, bytes.count), "\(error.rule) offset outside \(bytes.count) bytes")
                let rql = bytes.count >= 0x10 ? Int(bytes.readBE(UInt32.self, at: 0x0C)) : nil
                switch error.rule {
                case .truncated:
                    // Short of a header field, or of its declared length.
                    invariant(bytes.count < ARCBLayout.customerKeyOffset || rql.map { $0 > bytes.count } == true, "truncated, but not short")
                case .trailingBytes: invariant(rql.map { $0 < bytes.count } == true, "trailing bytes, but not long")
                case .badLength: invariant(rql == bytes.count, "bad length checked before the declared length")
                default: break
                }
                _ = error.description
                return
            }
            // The whole input, laid out as the header says.
            let nks = r.keyslots.count
            invariant(r.bytes == bytes && r.length == bytes.count, "bytes")
            invariant((1...255).contains(nks) && r.encryptedSize == ARCBLayout.encryptedSize(nonce: r.hasNonce), "nks/sea")
            invariant(r.length == ARCBLayout.size(keyslots: nks, nonce: r.hasNonce) && r.length <= ARCBLayout.maxSize, "length")
            invariant(r.aadLength == ARCBLayout.keyslotsOffset + Keyslot.size * nks, "aad length")
            invariant(r.aad.count + r.encryptedArea.count + r.gcmTag.count == bytes.count && r.encryptedArea.count == r.encryptedSize, "slices")
            invariant(r.flags.unknownBits == 0 && r.measurementSize == 64, "flags/MAI")
            // Re-encoded from the parsed fields, the authenticated part is the input's.
            var aad = RequestHeader.encode(magic: ARCBLayout.magic, length: r.length, iv: r.iv, keyslotCount: nks, encryptedSize: r.encryptedSize)
            aad.appendBE(r.flags.rawValue)
            aad.appendBE(r.measurementAlgorithm.rawValue)
            aad += [0, 0, 0, 0]
            aad += r.customerKeyX + r.customerKeyY
            for k in r.keyslots { aad += k.bytes }
            invariant(aad[...] == r.aad, "the parsed fields do not encode back to the authenticated part")
            // What the ATT call needs: additional data in bit order, sized exactly.
            let fields = r.requestedAdditionalData
            invariant(fields.map(\.size).reduce(0, +) == r.additionalDataSize && r.additionalDataSize <= Measurement.maxAdditionalData,
                      "additional-data size")
            invariant(fields.map(\.flag) == AdditionalData.Field.allCases.map(\.flag).filter { r.flags.contains($0) }, "field order")
            invariant(r.flags.additionalDataNames.count == fields.count, "names")
            invariant(r.hasKeyslot(forAnyOf: [r.keyslots[nks - 1].hostKeyHash]) && !r.hasKeyslot(forAnyOf: []), "keyslot lookup")
            // The exchange request for it: always within the format's limits, and it reads back.
            do throws(ExchangeFormatError) {
                let x = try AttestationExchangeRequest(r)
                invariant((try? AttestationExchangeRequest.parse(x.bytes)) == x, "exchange request does not round-trip")
            } catch {
                invariant(false, "no exchange request for a parsed ARCB: \(error)")
            }
            // Decryption: a named failure, or the documented sizes.
            do throws(AttestationRequest.DecryptionFailure) {
                let c = try r.decrypt(protectionKey: arcbProtectionKey)
                invariant(c.measurementKey.count == r.measurementAlgorithm.keySize, "measurement key size")
                invariant((c.nonce?.count ?? 0) == (r.hasNonce ? ARCBLayout.nonceSize : 0), "nonce size")
                trace("arcb: decrypted, nonce \(r.hasNonce), flags \(r.flags.additionalDataNames)")
            } catch {
                invariant(error == .authenticationFailed, "decryption failure \(error)")
                trace("arcb: parsed, does not authenticate")
            }
        },
        seeds: { try AttestationFixtures.requests() },
        mutator: ARCBFieldMutator.mutate)

    static let arcbProtectionKey = SecureBytes(copying: AttestationFixtures.protectionKey)
}

// MARK: - exchange: pvattest's exchange files, request and response

extension FuzzTarget {
    static let exchange = FuzzTarget(
        name: "exchange", summary: "ExchangeFile.parse, AttestationExchangeRequest/Response.parse, round trips; the verifier's path (ARCB, ARPK, additional data, measurement)",
        maxLength: 16384, prepare: { _ = arcbProtectionKey },
        run: { bytes in
            let file: ExchangeFile
            do throws(ExchangeFormatError) { file = try ExchangeFile.parse(bytes) } catch {
                invariant(offsetInside(error.offset, bytes.count), "\(error.rule) offset outside the input")
                invariant((try? AttestationExchangeRequest.parse(bytes)) == nil && (try? AttestationExchangeResponse.parse(bytes)) == nil,
                          "a reader accepts what the file reader refuses")
                _ = error.description
                return
            }
            // Bounds: every entry is what its header slot states, data inside the input, no two overlapping.
            var ranges: [Range<Int>] = []
            for slot in ExchangeFile.Slot.allCases {
                let n = Int(bytes.readBE(UInt32.self, at: slot.headerOffset))
                let off = Int(bytes.readBE(UInt32.self, at: slot.headerOffset + 4))
                invariant(file[slot].size == n && n <= slot.limit, "\(slot): size")
                switch file[slot] {
                case .absent: invariant(n == 0, "\(slot): absent")
                case .expected: invariant(off == 0, "\(slot): expected size with an offset")
                case let .data(d):
                    invariant(off >= ExchangeFile.headerSize && off + n <= bytes.count, "\(slot): data outside the input")
                    invariant(d[...] == bytes[off..<(off + n)], "\(slot): data is not the input's")
                    invariant(!ranges.contains { $0.overlaps(off..<(off + n)) }, "\(slot): overlaps")
                    ranges.append(off..<(off + n))
                }
            }
            // Re-serialized (blobs contiguous): never longer, reads back the same, a fixed point.
            let again = file.bytes
            invariant(again.count <= bytes.count, "re-serialized is longer")
            guard let reread = try? ExchangeFile.parse(again) else { invariant(false, "re-serialized file does not parse"); return }
            invariant(reread == file && reread.bytes == again, "file does not round-trip")

            // The request reader.
            var request: AttestationExchangeRequest?
            do throws(ExchangeFormatError) {
                let q = try AttestationExchangeRequest.parse(bytes)
                invariant(file.arcb.data == q.arcb && q.measurementSize == file.measurement.size && q.additionalDataSize == file.additionalData.size,
                          "request is not the file's")
                invariant((1...ExchangeFile.measurementMax).contains(q.measurementSize), "measurement size")
                invariant((try? AttestationExchangeRequest.parse(q.bytes)) == q, "request does not round-trip")
                request = q
            } catch {
                invariant(offsetInside(error.offset, bytes.count), "request: \(error.rule) offset outside the input")
            }
            // The response reader; a response is also a request.
            let response: AttestationExchangeResponse
            do throws(ExchangeFormatError) { response = try AttestationExchangeResponse.parse(bytes) } catch {
                invariant(offsetInside(error.offset, bytes.count), "response: \(error.rule) offset outside the input")
                return
            }
            invariant(request != nil, "a response that is not a request")
            invariant(response.arcb == file.arcb.data && response.measurement == file.measurement.data &&
                      response.configUID == file.configUID.data && response.configUID.count == ExchangeFile.configUIDSize, "response is not the file's")
            invariant(response.additionalData == file.additionalData.data && response.userData == file.userData.data, "optional entries")
            invariant((response.userData?.count ?? 0) <= Measurement.maxUserData, "user data size")
            invariant((try? AttestationExchangeResponse.parse(response.bytes)) == response, "response does not round-trip")
            verifyResponse(response)
        },
        seeds: { try AttestationFixtures.exchangeFiles() },
        mutator: ExchangeFieldMutator.mutate)
}

/// The verifier's path after the reader (as `pvattest verify`): the
/// response's ARCB parsed and decrypted with the fixed ARPK, the additional
/// data split by its flags, the measurement recomputed. The response's
/// limits are the measurement's: its message always builds.
func verifyResponse(_ response: AttestationExchangeResponse) {
    let add = response.additionalData ?? []
    for bits in 0..<16 {
        // Every combination of the additional-data flags: split, rebuilt, the same bytes.
        let flags = AttestationFlags(rawValue: UInt64(bits) << 58)
        do throws(AdditionalData.Invalid) {
            let parsed = try AdditionalData.parse(add, flags: flags)
            invariant((try? parsed.bytes(for: flags)) == add, "additional data does not round-trip")
            invariant((parsed.unrecognized?.count ?? 0) == add.count - flags.additionalDataSize, "unrecognized size")
        } catch {
            if case let .missing(f, available) = error { invariant(available < f.size && available >= 0, "missing \(f)") }
            else { invariant(false, "parse failure \(error)") }
            invariant(add.count < flags.additionalDataSize, "refused although long enough")
        }
    }
    let request = try? AttestationRequest.parse(response.arcb)
    let confidential = try? request?.decrypt(protectionKey: FuzzTarget.arcbProtectionKey)
    let items = MeasuredItems(tags: FuzzFixtures.tags, configUID: response.configUID, userData: response.userData ?? [],
                              nonce: confidential?.nonce, additionalData: add)
    do throws(Measurement.Invalid) {
        let message = try Measurement.message(items)
        invariant(message.count == 0xE8 + items.userData.count + (items.nonce?.count ?? 0) + add.count, "measured message size")
    } catch {
        invariant(false, "a parsed response's measurement input is refused: \(error)")
    }
    guard let confidential else { return }
    let verified = (try? Measurement.verify(response.measurement, key: confidential.measurementKey, items: items)) ?? false
    trace("exchange: response verifies: \(verified), additional data \(add.count) bytes, user data \(items.userData.count)")
}
