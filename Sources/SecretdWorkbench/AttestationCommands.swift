import SEBase
import SECrypto
import Attestation
import RequestBuilding
import SecretdCLI

/// The tenant's end of attestation in the workbench: `attestation create`,
/// as `pvattest create` (the same exchange format and cryptography), for
/// tenants and tests without s390-tools.
enum AttestationCommands {
    static let all: [Command] = [create]

    static let create = Command(
        ["attestation", "create"], summary: "Create an attestation request (as pvattest create)",
        options: CreateAttestationOptions.self,
        discussion: """
        Builds an attestation request for the host keys given (one keyslot each)
        with a fresh customer key, protection key, measurement key and nonce, and
        writes it in pvattest's exchange format to --output; the protection key (32
        bytes, what `pvattest create --arpk` writes) goes to --arpk with mode 0600.
        Keep that key: whoever holds it can check, and forge, the measurement. The
        guest answers the request with `se-secretd attest` (or `pvattest perform`).

        The host-key documents are verified as pvattest does with --cert (IBM's
        host-key signing key and the intermediate CA), --crl, --root-ca (default
        the system trust store); se-secretd never downloads CRLs (--offline is
        accepted and changes nothing). Without --cert the output says "host-key
        documents NOT verified"; --no-verify says so on purpose, with a warning
        (pvattest refuses to go on without one of the two; docs/host-keys.md).

        --add-data asks the ultravisor for additional data, as pvattest spells it:
        phkh-img, phkh-att, secret-store-hash, firmware-state (comma-separated).

        EXAMPLES:
          se-secretd-dev attestation create -k host.crt --arpk arp.key -o attreq.bin \\
              --add-data phkh-img,secret-store-hash
          se-secretd-dev attestation create -k /tmp/sim/host-key.crt --arpk arp.key -o attreq.bin
        """
    ) { o, _, out in
        let hostKeyStatus = try o.hostKeyVerification.verify(documents: o.hostKeyDocuments)
        if o.hostKeyVerification.noVerify { out.error(HostKeyVerificationOptions.noVerifyWarning("the attestation request")) }
        let keys = try Inputs.hostKeys(documents: o.hostKeyDocuments)
        var builder = AttestationRequestBuilder(hostKeys: keys, additionalData: o.additionalData)
        builder.includeNonce = true
        let built: AttestationRequestBuilder.Built
        do { built = try builder.build() } catch {
            throw CLIError(.software, "cannot build the attestation request: \(error)")
        }
        let exchange: AttestationExchangeRequest
        do { exchange = try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb)) } catch {
            throw CLIError(.software, "the attestation request just built does not read back: \(error)")
        }
        var key = built.protectionKey.unsafeCopyToArray()
        defer { key.wipe() }
        do { try FileIO.writeAtomically(o.arpk, key, mode: 0o600) } catch {
            throw CLIError(.ioError, "cannot write \(o.arpk): \(error)")
        }
        do { try FileIO.writeAtomically(o.output, exchange.bytes, mode: 0o644) } catch {
            throw CLIError(.ioError, "cannot write \(o.output): \(error)")
        }
        let asked = o.additionalData.additionalDataNames
        out.line(hostKeyStatus.line)
        out.line("wrote \(o.output) (\(keys.count) host key\(keys.count == 1 ? "" : "s"), additional data: \(asked.isEmpty ? "none" : asked.joined(separator: ", "))) and the protection key to \(o.arpk) (mode 0600)")
        return .ok
    }
}

struct CreateAttestationOptions: OptionGroup {
    static let options: [OptionSpec] = [
        .value("host-key-document", short: "k", "FILE", repeatable: true, "A host-key document (or P-521 public key) of a machine that may answer."),
        .value("arpk", "FILE", "Where to write the protection key (32 bytes, mode 0600)."),
        .value("output", short: "o", "FILE", "Where to write the request (pvattest's exchange format)."),
        .value("add-data", "LIST", "Additional data to ask for: phkh-img, phkh-att, secret-store-hash, firmware-state."),
    ] + HostKeyVerificationOptions.options
    let hostKeyDocuments: [String]
    let arpk: String
    let output: String
    let additionalData: AttestationFlags
    let hostKeyVerification: HostKeyVerificationOptions

    init(_ args: Arguments) throws {
        hostKeyDocuments = try args.values("host-key-document")
        hostKeyVerification = try HostKeyVerificationOptions(args)
        let arpk = try args.value("arpk"), output = try args.value("output"), list = try args.value("add-data")
        guard !hostKeyDocuments.isEmpty else { throw Arguments.missing("host-key-document") }
        guard let arpk else { throw Arguments.missing("arpk") }
        guard let output else { throw Arguments.missing("output") }
        guard arpk != output else { throw CLIError(.usage, "--arpk and --output must be two files (the key would be overwritten by the request)") }
        var flags: AttestationFlags = []
        for name in (list ?? "").split(separator: ",", omittingEmptySubsequences: true) {
            guard let field = AdditionalData.Field.allCases.first(where: { $0.name == String(name) }) else {
                throw CLIError(.usage, "--add-data: unknown \"\(name)\" (phkh-img, phkh-att, secret-store-hash, firmware-state)")
            }
            flags.insert(field.flag)
        }
        self.arpk = arpk
        self.output = output
        additionalData = flags
    }
}
