import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import CFuzzing
import SEVocabulary
import RequestBuilding
#if canImport(Glibc)
import Glibc
#endif

/// One fuzz target: an entry point into library code that takes bytes an
/// attacker (the host, who owns the request volume) can choose. A target
/// must never trap on any input; a trap, a sanitizer report, a leak or a
/// hang is a finding. `invariant` traps on purpose when the code under
/// test contradicts itself.
struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    /// libFuzzer's -max_len for this target.
    let maxLength: Int
    /// Builds fixed inputs (keys, policies) before the first run.
    let prepare: @Sendable () -> Void
    let run: @Sendable ([UInt8]) -> Void
    /// Seed inputs, made with the codec's RequestBuilder.
    let seeds: @Sendable () throws -> [[UInt8]]
    /// A mutator of the target's own (nil: libFuzzer's).
    var mutator: se_fuzz_mutator? = nil

    static let all: [FuzzTarget] = [request, signature, policy, evaluate, ebc, secretList, simulator, arcb, exchange,
                                       resultsRecord, consoleFrame]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// SE_FUZZ_VERBOSE=1: targets describe what each input reached (for
/// checking that the seeds get deep; too slow for fuzzing).
let verbose = getenv("SE_FUZZ_VERBOSE") != nil

func trace(_ text: @autoclosure () -> String) {
    if verbose { Console.err(text() + "\n") }
}

/// Traps when `condition` is false: an oracle failure, reported by libFuzzer
/// as a crash with the input that caused it.
func invariant(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

/// Splits an input into a header and files: each file starts with the
/// 4-byte marker 00 'S' 'E' 'F' and a name selector byte.
enum FileSplitter {
    static let marker: [UInt8] = [0x00, 0x53, 0x45, 0x46]

    static func split(_ input: [UInt8]) -> (header: [UInt8], files: [(selector: UInt8, bytes: [UInt8])]) {
        var starts: [Int] = []
        var i = 0
        while i + marker.count <= input.count {
            if input[i] == marker[0], input[i + 1] == marker[1], input[i + 2] == marker[2], input[i + 3] == marker[3] {
                starts.append(i)
                i += marker.count
            } else {
                i += 1
            }
        }
        let header = Array(input[0..<(starts.first ?? input.count)])
        var files: [(UInt8, [UInt8])] = []
        for (k, s) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : input.count
            let body = s + marker.count
            guard body < end else { files.append((0, [])); continue }
            files.append((input[body], Array(input[(body + 1)..<end])))
        }
        return (header, files)
    }

    static func join(header: [UInt8], files: [(UInt8, [UInt8])]) -> [UInt8] {
        var out = header
        for (selector, bytes) in files { out += marker + [selector] + bytes }
        return out
    }
}

// MARK: - request: AddSecretRequest.parse, inspection JSON, SE header tags

extension FuzzTarget {
    static let request = FuzzTarget(
        name: "request", summary: "AddSecretRequest.parse (strict and opaque user data), the freshness record, inspection JSON, SEHeader.tags",
        maxLength: 8192, prepare: {},
        run: { bytes in
            for opaque in [false, true] {
                do {
                    let r = try AddSecretRequest.parse(bytes, opaqueUserData: opaque)
                    invariant(r.length == bytes.count && r.aadLength + r.encryptedLength + 16 == bytes.count, "lengths")
                    invariant(r.aad.count + r.ciphertext.count + r.gcmTag.count == bytes.count, "slices")
                    let json = r.inspectionJSON(sha256: Digest.sha256(bytes), file: "fuzz.asr")
                    let text = json.serialized()
                    invariant((try? JSON.parse(text)) == json, "inspection JSON does not parse back")
                    _ = json.serialized(pretty: false)
                    _ = r.pinDigest
                    // The freshness record: nil, a record within range that
                    // encodes back to the start of the data part, or refused
                    // with its own rule.
                    do throws(RequestFormatError) {
                        if let f = try r.freshnessRecord() {
                            invariant(f.epoch <= FreshnessRecord.maxEpoch && f.version == FreshnessRecord.currentVersion, "record out of range")
                            invariant(Array(r.userData.data.prefix(FreshnessRecord.size)) == f.bytes, "record does not encode back")
                        }
                    } catch {
                        invariant(error.rule == RuleID.badFreshnessRecord.rawValue, "freshness rule \(error.rule)")
                    }
                } catch {
                    _ = "\(error)"
                }
            }
            do { _ = try SEHeader.tags(from: bytes) } catch { _ = "\(error)" }
        },
        seeds: {
            try FuzzFixtures.requestFiles().filter { $0.name.hasSuffix(".asr") }.map(\.bytes) + [
                // Freshness records, signed (RSA-3072: the smallest data part) and unsigned.
                try FuzzFixtures.build(.meta, userData: .signed(FreshnessRecord(epoch: 7).bytes, key: FuzzKeys.rsa3072), seed: 9),
                try FuzzFixtures.build(.meta, userData: .unsigned(FreshnessRecord(epoch: FreshnessRecord.maxEpoch).bytes), seed: 10),
            ]
        },
        mutator: RequestFieldMutator.mutate)
}

// MARK: - signature: user-data signatures with fixed keys

extension FuzzTarget {
    static let verifiers: [PublicKey] = [FuzzKeys.ecSigner.publicKey, FuzzKeys.rsa2048.publicKey, FuzzKeys.rsa3072.publicKey]

    static let signature = FuzzTarget(
        name: "signature", summary: "parse + UserDataSignature.verify with fixed EC P-521, RSA-2048 and RSA-3072 keys",
        maxLength: 8192, prepare: { _ = verifiers },
        run: { bytes in
            guard let r = try? AddSecretRequest.parse(bytes) else { return }
            _ = UserDataSignature.signedMessage(bytes, type: r.userDataType)
            for key in verifiers {
                let verdict = UserDataSignature.verify(r, with: key)
                trace("signature: user data \(r.userDataType), key \(key.keyType): \(verdict)")
                if verdict == .valid {
                    invariant(UserDataSignature.userDataType(for: key.keyType) == r.userDataType, "valid with a key of another type")
                }
                if !r.userDataType.isSigned { invariant(verdict == .notSigned, "unsigned request verdict \(verdict)") }
            }
        },
        seeds: { try FuzzFixtures.requestFiles().filter { $0.name.hasSuffix(".asr") }.map(\.bytes) },
        mutator: RequestFieldMutator.mutate)
}

// MARK: - policy: Policy.parse, then evaluation of the fixed request set

/// Fixed inputs of the policy and evaluation targets, built once.
final class EvaluationFixtures: @unchecked Sendable {
    static let shared = EvaluationFixtures()
    let files: [(name: String, bytes: [UInt8])]
    let set: RequestSet
    let policies: [Policy]
    let hostKeyHashes: [[UInt8]]

    /// Names a fuzzed request set can use (the selector byte picks one).
    static let names = ["00-meta.asr", "luks-root.asr", "ssh.asr", "data.asr", "assoc.asr", "cck.asr",
                        "toc.asr", "toc.pol", "other.pol", "zz-extra.asr", "notes.txt"]

    private init() {
        files = try! FuzzFixtures.requestFiles()
        set = FuzzFixtures.requestSet(files)
        policies = FuzzFixtures.policies(pins: FuzzFixtures.pins(files)).map { try! Policy.parse(Array($0.serialized().utf8)) }
        hostKeyHashes = [try! RequestKeys.hostKeyHash(FuzzKeys.host.publicKey)]
    }

    /// Key files a fuzzed policy may name.
    static func readKeyFile(_ name: String) throws -> [UInt8] {
        switch name {
        case "ec.pem": return Array(FuzzKeys.ecSigner.publicKey.publicKeyPEM.utf8)
        case "rsa.pem": return Array(FuzzKeys.rsa2048.publicKey.publicKeyPEM.utf8)
        case "cert.pem": return Array("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8)
        default: throw PolicyError(name, "no such key file")
        }
    }
}

/// Evaluates and checks what every evaluation must satisfy.
func evaluateChecked(_ policy: Policy, _ set: RequestSet, hostKeyHashes: [[UInt8]]?) {
    let e = Evaluator(policy: policy, hostKeyHashes: hostKeyHashes).evaluate(set)
    trace("evaluation: \(e.passed ? "PASS" : "FAIL"), order \(e.submissionOrder), problems: \(e.allProblems.map(\.rule))")
    let parsed = Set(e.verdicts.filter { $0.request != nil }.map(\.file))
    invariant(Set(e.submissionOrder).count == e.submissionOrder.count, "a file is submitted twice")
    invariant(e.submissionOrder.allSatisfy { parsed.contains($0) }, "an unparsed file is submitted")
    invariant(e.verdicts.count == set.requests.count, "one verdict per request file")
    invariant(e.secretStoreHash.count == 64, "store hash size")
    for v in e.verdicts {
        _ = v.displaySecret
        for p in v.problems { _ = p.description; _ = p.json.serialized() }
    }
    for p in e.problems { _ = p.description }
}

extension FuzzTarget {
    static let policy = FuzzTarget(
        name: "policy", summary: "Policy.parse of fuzzed JSON, then evaluation of the fixed request set under it",
        maxLength: 16384, prepare: { _ = EvaluationFixtures.shared },
        run: { bytes in
            let p: Policy
            do { p = try Policy.parse(bytes, source: "fuzz.json", readKeyFile: EvaluationFixtures.readKeyFile) } catch {
                _ = "\(error)"
                return
            }
            let f = EvaluationFixtures.shared
            evaluateChecked(p, f.set, hostKeyHashes: f.hostKeyHashes)
        },
        seeds: { FuzzFixtures.policies(pins: FuzzFixtures.pins(try FuzzFixtures.requestFiles())).map { Array($0.serialized().utf8) } })
}

// MARK: - evaluate: the fixed policies, a fuzzed request directory

extension FuzzTarget {
    /// Header byte 0 picks the policy, byte 1 whether host keys are known;
    /// then files (see FileSplitter), named by their selector byte. A later
    /// file of the same name replaces an earlier one, as in a directory.
    static let evaluate = FuzzTarget(
        name: "evaluate", summary: "Evaluator.evaluate: fixed policies, fuzzed request set (files split by a marker)",
        maxLength: 32768, prepare: { _ = EvaluationFixtures.shared },
        run: { bytes in
            let f = EvaluationFixtures.shared
            let (header, parts) = FileSplitter.split(bytes)
            let policy = f.policies[Int(header.first ?? 0) % f.policies.count]
            let knownHosts = header.count < 2 || header[1] & 1 == 0
            var byName: [String: [UInt8]] = [:]
            for (selector, content) in parts {
                byName[EvaluationFixtures.names[Int(selector) % EvaluationFixtures.names.count]] = content
            }
            let files = byName.sorted { $0.key < $1.key }.map { (name: $0.key, bytes: $0.value) }
            evaluateChecked(policy, FuzzFixtures.requestSet(files), hostKeyHashes: knownHosts ? f.hostKeyHashes : nil)
        },
        seeds: {
            let files = try FuzzFixtures.requestFiles()
            let parts = files.map { file in (UInt8(EvaluationFixtures.names.firstIndex(of: file.name)!), file.bytes) }
            // Every file under each policy; the signed ones alone (passes policy 0).
            return (0..<3).map { FileSplitter.join(header: [UInt8($0), 0], files: parts) } +
                [FileSplitter.join(header: [0, 0], files: Array(parts.prefix(4))),
                 FileSplitter.join(header: [1, 1], files: Array(parts.prefix(3)))]
        })
}

// MARK: - ebc: the policy reference in toc.asr and toc.pol

extension FuzzTarget {
    static let ebc = FuzzTarget(
        name: "ebc", summary: "EBC.PolicyReference.parse (first 512 bytes) and EBC.parseTOCPolicy (whole input and the rest)",
        maxLength: 8192, prepare: {},
        run: { bytes in
            if bytes.count >= EBC.PolicyReference.size {
                let area = Array(bytes[0..<EBC.PolicyReference.size])
                do {
                    let ref = try EBC.PolicyReference.parse(area)
                    invariant(!ref.path.isEmpty && !ref.path.contains("/") && ref.path != "." && ref.path != "..",
                              "reference path '\(ref.path)' escapes the request directory")
                    invariant((try? EBC.PolicyReference.parse(ref.bytes)) == ref, "reference does not round-trip")
                } catch {
                    _ = "\(error)"
                }
            }
            for part in [bytes, Array(bytes.dropFirst(EBC.PolicyReference.size))] {
                do {
                    let tags = try EBC.parseTOCPolicy(part)
                    invariant(tags.allSatisfy { $0.count == 16 }, "tag size")
                } catch {
                    _ = "\(error)"
                }
            }
        },
        seeds: {
            let files = try FuzzFixtures.requestFiles()
            let tocPol = files.first { $0.name == "toc.pol" }!.bytes
            let ref = EBC.PolicyReference(sha256: Digest.sha256(tocPol), path: "toc.pol").bytes
            return [ref + tocPol, tocPol, ref, Array(tocPol.prefix(33)) + [0x0D, 0x0A]]
        })
}

// MARK: - secret-list: the LIST_SECRETS buffer

extension FuzzTarget {
    static let secretList = FuzzTarget(
        name: "secret-list", summary: "SecretList.decode, re-encoded and decoded again",
        maxLength: 3 * SecretListLayout.pageSize, prepare: {},
        run: { bytes in
            let list: SecretList
            do { list = try SecretList.decode(bytes) } catch { _ = "\(error)"; return }
            invariant(list.entries.count <= (bytes.count - SecretListLayout.headerSize) / SecretListLayout.entrySize,
                      "more entries than fit the buffer")
            var again = [UInt8](repeating: 0, count: bytes.count)
            SecretList.encodeHeader(storedCount: UInt16(list.entries.count), totalCount: UInt16(truncatingIfNeeded: list.totalCount),
                                    nextIndex: list.nextIndex, into: &again)
            for (i, e) in list.entries.enumerated() {
                _ = e.typeName
                _ = e.rawName
                e.encode(into: &again, at: SecretListLayout.headerSize + i * SecretListLayout.entrySize)
            }
            invariant((try? SecretList.decode(again)) == list, "list does not round-trip")
        },
        seeds: {
            var seeds: [[UInt8]] = []
            for n in [0, 1, 3, SecretListLayout.entriesPerPage] {
                var page = [UInt8](repeating: 0, count: SecretListLayout.pageSize)
                SecretList.encodeHeader(storedCount: UInt16(n), totalCount: UInt16(n + 2), nextIndex: UInt16(n), into: &page)
                for i in 0..<n {
                    let type = SecretType.allCases[i % SecretType.allCases.count]
                    let id = i % 2 == 0 ? FuzzFixtures.id("secret-\(i)") : SecretID.rawName("name-\(i)")!
                    SecretListEntry(index: UInt16(i), typeCode: type.rawValue, length: UInt32(16 + i), id: id)
                        .encode(into: &page, at: SecretListLayout.headerSize + i * SecretListLayout.entrySize)
                }
                seeds.append(page)
            }
            return seeds
        })
}
