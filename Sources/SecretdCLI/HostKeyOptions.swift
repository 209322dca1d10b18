import SEBase
import SECrypto

/// The verification of host-key documents (-k), with pvsecret's and
/// pvattest's options: --cert (IBM's signing key and the intermediate CA),
/// --crl, --root-ca, --offline, --no-verify. se-secretd never downloads a
/// CRL: it is always offline, and --offline is accepted for command-line
/// compatibility only. docs/host-keys.md.
public struct HostKeyVerificationOptions: OptionGroup {
    public static let options: [OptionSpec] = [
        .value("cert", short: "C", "FILE", repeatable: true,
               "Verify the host-key documents with this certificate: IBM's host-key signing key and the intermediate CA (give both; PEM or DER; CRLs in the file are used too)."),
        .value("crl", "FILE", repeatable: true,
               "A certificate revocation list (PEM or DER) for the chain and the host-key documents; se-secretd never downloads one."),
        .value("root-ca", "FILE", "The root CA to verify the chain against (default: the system trust store, \(HostKeyVerifier.defaultRootDirectory))."),
        .flag("offline", "Accepted for pvsecret compatibility: se-secretd never downloads CRLs, it is always offline."),
        .flag("no-verify", "Do not verify the host-key documents (says so, loudly); only for documents you verified otherwise."),
    ]

    public let certificates: [String]
    public let crls: [String]
    public let rootCA: String?
    public let offline: Bool
    public let noVerify: Bool

    public init(_ args: Arguments) throws {
        certificates = try args.values("cert")
        crls = try args.values("crl")
        rootCA = try args.value("root-ca")
        offline = try args.flag("offline")
        noVerify = try args.flag("no-verify")
        // pvsecret's rules (rust/utils/src/cli.rs): --no-verify or --cert, not both;
        // --crl, --root-ca and --offline only with --cert.
        if noVerify, !certificates.isEmpty { throw CLIError(.usage, "--no-verify and --cert exclude each other") }
        if certificates.isEmpty {
            for (given, name) in [(!crls.isEmpty, "crl"), (rootCA != nil, "root-ca"), (offline, "offline")] where given {
                throw CLIError(.usage, "--\(name) needs --cert (the certificates to verify the host-key documents with)")
            }
        }
    }

    /// What was established about the host-key documents.
    public enum Status: Equatable, Sendable {
        case verified(signingKey: String, root: String)
        case notVerified(reason: String)

        public var verified: Bool { if case .verified = self { return true } else { return false } }

        /// One line for a report.
        public var line: String {
            switch self {
            case .verified(let key, let root):
                return "host-key documents verified (IBM signing key \(key), chain to \(root), CRLs checked offline)"
            case .notVerified(let reason):
                return "host-key documents NOT verified (\(reason))"
            }
        }

        /// `doc` (a command's JSON object) with `host_key_documents` added when
        /// documents were given (`check`, `verify`).
        public func annotating(_ doc: JSON, documents: [String]) -> JSON {
            guard !documents.isEmpty, case .object(var members) = doc else { return doc }
            members.append(("host_key_documents", json(documents: documents)))
            return .object(members)
        }

        public func json(documents: [String]) -> JSON {
            var members: [(String, JSON)] = [("files", .array(documents.map { .string($0) })), ("verified", .bool(verified))]
            switch self {
            case .verified(let key, let root):
                members += [("signing_key", .string(key)), ("root", .string(root))]
            case .notVerified(let reason):
                members.append(("reason", .string(reason)))
            }
            return .object(members)
        }
    }

    /// The warning pvsecret gives for --no-verify, in se-secretd's words.
    public static func noVerifyWarning(_ protectee: String) -> String {
        "WARNING: host-key document verification is disabled (--no-verify): \(protectee) may not be protected; use --no-verify only for host-key documents you verified otherwise."
    }

    /// Verifies `documents` as asked, throwing a CLIError (65) naming the
    /// document and the rule when one is not trusted; returns the status the
    /// report shows.
    public func verify(documents: [String], at now: Int64 = currentUnixTime()) throws -> Status {
        if documents.isEmpty {
            if noVerify || !certificates.isEmpty {
                throw CLIError(.usage, "--\(noVerify ? "no-verify" : "cert") is about host-key documents: give them with -k")
            }
            return .notVerified(reason: "no host-key documents given")
        }
        if noVerify { return .notVerified(reason: "--no-verify") }
        if certificates.isEmpty {
            return .notVerified(reason: "no --cert given: the documents' keys are used as they are; see docs/host-keys.md")
        }
        let verifier = try makeVerifier(at: now)
        for path in documents {
            let bytes = try Inputs.file(path, limit: 1 << 20, what: "host-key document")
            let doc: Certificate
            do { doc = try Certificate.load(bytes) } catch {
                throw CLIError(.noInput, "\(path) is not a host-key document (an X.509 certificate), so it cannot be verified: \(error)")
            }
            do { try verifier.verify(doc, file: path) } catch {
                throw CLIError(.policyViolation, "host-key document verification failed: \(error)")
            }
        }
        return .verified(signingKey: verifier.signingKey.file, root: rootCA ?? HostKeyVerifier.defaultRootDirectory)
    }

    func makeVerifier(at now: Int64) throws -> HostKeyVerifier {
        var certs: [HostKeyVerifier.Labelled] = []
        var lists: [RevocationList] = []
        for path in certificates {
            let bytes = try Inputs.file(path, limit: 1 << 20, what: "certificate")
            do { certs += try Certificate.loadAll(bytes).map { HostKeyVerifier.Labelled(path, $0) } } catch {
                throw CLIError(.noInput, "\(path) (--cert) holds no certificate: \(error)")
            }
            lists += RevocationList.loadAll(bytes)
        }
        for path in crls {
            let found = RevocationList.loadAll(try Inputs.file(path, limit: 16 << 20, what: "CRL"))
            guard !found.isEmpty else { throw CLIError(.noInput, "\(path) (--crl) holds no certificate revocation list") }
            lists += found
        }
        let anchors: TrustAnchors
        if let rootCA {
            let bytes = try Inputs.file(rootCA, limit: 1 << 20, what: "root CA")
            do { anchors = .certificates(try Certificate.loadAll(bytes)) } catch {
                throw CLIError(.noInput, "\(rootCA) (--root-ca) holds no certificate: \(error)")
            }
            lists += RevocationList.loadAll(bytes)
        } else {
            anchors = .directory(HostKeyVerifier.defaultRootDirectory)
        }
        do {
            return try HostKeyVerifier(certificates: certs, crls: lists, anchors: anchors,
                                       anchorsName: rootCA ?? "the system trust store \(HostKeyVerifier.defaultRootDirectory)", at: now)
        } catch {
            throw CLIError(.policyViolation, "host-key document verification failed: \(error)")
        }
    }
}
