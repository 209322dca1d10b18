#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase
import ASRCodec
import Attestation
import ResultsRecord
import TenantVerification

/// `se-secretd verify`: the tenant's check of a boot run's evidence, on
/// any machine (no /dev/uv): TenantVerification does the checks, this
/// reads the inputs and prints the result.
enum VerifyCommands {
    static let all: [Command] = [verify]

    /// The most of an SE image read to find its header (it sits in the first pages).
    static let seHeaderReadLimit = 64 << 20

    static let verify = Command(
        ["verify"], summary: "Check a boot run's attestation as the tenant (any machine, no /dev/uv)",
        options: VerifyOptions.self,
        discussion: """
        The tenant's side of attestation: reads what a boot run handed out (a bare
        response, the results record from the results device, or the console log with
        its framed records) and checks it against what only the tenant has: its own
        attestation request for this boot, that request's protection key, its SE
        image, its policy and its request files. Runs on any machine.

        CHECKS (in this order; each PASS, FAIL [rule] or SKIP):
          record             the record reads; in a log, the one whose response answers
                             your request (no-record-for-request when none does)
          attestation-response  the record holds a response (a failed boot's has none;
                             its report's failure is shown)
          response-format    the response is a pvattest exchange response
          request-match      its ARCB is your request's, byte for byte: a response of
                             another boot or for another request fails here
          measurement        your protection key opens the ARCB and the HMAC over your
                             image's tags, the config UID, the user data, the nonce and
                             the additional data verifies: the ultravisor answered this
                             request for your image. Nothing after it is trusted if it fails
          config-uid         the config UID the policy pins (skipped if it pins none)
          host-keys          with -k: the attested host-key hashes are those machines'
                             (the documents verified with --cert/--crl as for check;
                             without, the output says they were NOT verified)
          secret-store-hash-requested  your request asks for the store hash
          store-locked       the store was locked when attested
          store-contents     the store holds exactly your requests, in the policy's order
                             (predicted as `check` does)
          run-binding        the user data binds the run to your policy (by SHA-256)
          facts              the record's facts document is the bound one and agrees:
                             policy, your request file, the requests in order, the store
                             (skipped without one: names are then not checked)
        VERIFIED only if none fails and request-match, measurement,
        secret-store-hash-requested, store-locked, store-contents and run-binding pass.

        What it does not prove: the report in a record is not authenticated (shown as
        information, never decisive); the response proves only what a holder of the
        protection key can check, so keep the key to yourself; a response can be
        replayed unless you make a fresh request for every boot; the store hash covers
        the requests' tags, not what the guest did with the secrets afterwards.

        The protection key is read into wiped memory and never printed; it should be
        mode 0600 (a warning says otherwise).

        Exit codes: 0 verified, 65 refused (or a malformed input of yours), 66 an input
        cannot be read, 78 invalid policy, 64 bad arguments.

        EXAMPLES:
          se-secretd verify --console-log serial.log --request attreq.bin --arpk arp.key \\
              --se-header se-image.img -p policy.json -r tenant/ -k z16-host.crt
          se-secretd verify --results results.img --request attreq.bin --arpk arp.key \\
              --se-header se-image.img -p policy.json -r tenant/ --json | jq .verdict
        """
    ) { o, _, out in
        let policy = try Inputs.policy(o.policy)
        // The documents -k names are verified as check verifies them (--cert, --crl), before they are used.
        let hostKeyStatus = try o.hostKeyVerification.verify(documents: o.hostKeyDocuments)
        if o.hostKeyVerification.noVerify { out.error(HostKeyVerificationOptions.noVerifyWarning("the host-keys check")) }
        let hosts = try Inputs.hostKeyHashes(documents: o.hostKeyDocuments, hashes: [])
        let set = try Inputs.requestSet(o.requests, policy: policy)

        let requestBytes = try Inputs.file(o.request, limit: ExchangeFile.maxSize, what: "attestation request")
        let request: TenantRequest
        do { request = try TenantRequest.parse(requestBytes) } catch {
            throw CLIError(.policyViolation, "\(o.request): \(error)")
        }
        let key = try protectionKey(o.arpk, out)
        let header = try readPrefix(o.seHeader, limit: seHeaderReadLimit, what: "SE header or image")
        let tags: SEHeaderTags
        do { tags = try SEHeader.tags(from: header) } catch {
            throw CLIError(.policyViolation, "\(o.seHeader): \(error)")
        }
        let evidence: Evidence
        switch o.evidence {
        case let .response(path):
            evidence = .response(try Inputs.file(path, limit: ExchangeFile.maxSize, what: "attestation response"))
        case let .results(path):
            evidence = .resultsRecord(try readPrefix(path, limit: ResultsRecord.maxSize, what: "results record"))
        case let .consoleLog(path):
            evidence = .consoleLog(try Inputs.file(path, limit: ConsoleFrame.maxLogSize, what: "console log"))
        }
        let result = TenantVerifier.verify(VerificationInput(evidence: evidence, request: request, protectionKey: key, imageTags: tags,
                                                             policy: policy, requests: set, hostKeyHashes: hosts.isEmpty ? nil : hosts))
        key.wipe()
        if o.json {
            out.out(hostKeyStatus.annotating(result.json, documents: o.hostKeyDocuments).serialized())
        } else {
            out.out(result.text)
            if !o.hostKeyDocuments.isEmpty { out.line(hostKeyStatus.line) }
        }
        return result.verdict == .verified ? .ok : .policyViolation
    }

    /// The ARPK: exactly 32 bytes, into wiped memory; a warning if others may read it.
    static func protectionKey(_ path: String, _ out: Output) throws -> SecureBytes {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            out.error("warning: the protection key \(path) is accessible to group or others (mode \(String(st.st_mode & 0o777, radix: 8))); it should be 0600")
        }
        var bytes = try Inputs.file(path, limit: 64, what: "protection key")
        let key = SecureBytes(consuming: &bytes)
        guard key.count == 32 else {
            let n = key.count
            key.wipe()
            throw CLIError(.policyViolation, "\(path): a protection key (ARPK) has exactly 32 bytes, this file has \(n)")
        }
        return key
    }

    /// At most `limit` bytes from the start of a regular file or a block
    /// device (a results device, or an image of one: a record is read from
    /// its start and what follows is ignored). Symlinks are followed
    /// (/dev/disk/by-id names are symlinks).
    static func readPrefix(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw CLIError(.noInput, "cannot read \(what) \(path): \(SystemError.current("open", path: path))") }
        let handle = FileHandle(fd: fd)
        var st = stat()
        guard fstat(handle.fd, &st) == 0 else { throw CLIError(.noInput, "cannot read \(what) \(path): \(SystemError.current("stat", path: path))") }
        let kind = FileKind(mode: st.st_mode)
        guard kind == .regular || kind == .blockDevice else {
            throw CLIError(.noInput, "cannot read \(what) \(path): it is a \(kind.rawValue), not a file or a block device")
        }
        // A regular file's size bounds the buffer (an SE header's limit is 64 MiB, its file far less).
        let want = kind == .regular ? min(limit, max(0, Int(st.st_size))) : limit
        var out = [UInt8](repeating: 0, count: want)
        var count = 0
        while count < want {
            let n = out.withUnsafeMutableBytes { read(handle.fd, $0.baseAddress! + count, want - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError(.noInput, "cannot read \(what) \(path): \(SystemError.current("read", path: path))")
            }
            if n == 0 { break }
            count += n
        }
        out.removeSubrange(count...)
        return out
    }
}

struct VerifyOptions: OptionGroup {
    enum EvidenceFile: Equatable {
        case response(String), results(String), consoleLog(String)
    }

    static let options: [OptionSpec] = [
        .value("response", "FILE", "The attestation response (pvattest's exchange format) as the guest wrote it."),
        .value("results", "FILE", "A results device, or an image or copy of it: the record is read from its start (at most 4 MiB)."),
        .value("console-log", "FILE", "A serial-console or kernel log with SESD-RESULT lines; the record that answers --request is checked."),
        .value("request", "FILE", "Your attestation request for this boot (what `pvattest create` wrote)."),
        .value("arpk", "FILE", "That request's protection key (32 bytes, `pvattest create --arpk`); keep it mode 0600."),
        .value("se-header", "FILE", "Your SE image, or its SE header: the measured image tags are taken from it."),
        PolicyOption.spec("The policy embedded in the image's initrd."),
        RequestsOption.spec("The request files you deployed for this boot (as on the request volume)."),
        .value("host-key-document", short: "k", "CERT", repeatable: true,
               "Host-key document (or P-521 public key) of a target machine: the requests are checked for it, and attested host-key hashes must be one of them."),
        JSONOption.spec("Print the result as JSON (format se-secretd-verify, version 1)."),
    ] + HostKeyVerificationOptions.options

    let evidence: EvidenceFile
    let request: String
    let arpk: String
    let seHeader: String
    let policy: String
    let requests: String
    let hostKeyDocuments: [String]
    let hostKeyVerification: HostKeyVerificationOptions
    let json: Bool

    init(_ args: Arguments) throws {
        let response = try args.value("response"), results = try args.value("results"), log = try args.value("console-log")
        let request = try args.value("request"), arpk = try args.value("arpk"), header = try args.value("se-header")
        let policy = try PolicyOption(args), requests = try RequestsOption(args)
        hostKeyDocuments = try args.values("host-key-document")
        hostKeyVerification = try HostKeyVerificationOptions(args)
        json = try JSONOption.read(args)
        let given = [response.map(EvidenceFile.response), results.map(EvidenceFile.results), log.map(EvidenceFile.consoleLog)].compactMap { $0 }
        guard given.count <= 1 else { throw CLIError(.usage, "--response, --results and --console-log exclude each other: give one") }
        guard let evidence = given.first else { throw CLIError(.usage, "missing required option --response, --results or --console-log") }
        self.evidence = evidence
        guard let request else { throw Arguments.missing("request") }
        guard let arpk else { throw Arguments.missing("arpk") }
        guard let header else { throw Arguments.missing("se-header") }
        self.request = request
        self.arpk = arpk
        self.seHeader = header
        self.policy = try policy.required()
        self.requests = try requests.required()
    }
}
