import SEBase
import ASRCodec
import SecretPolicy
import UVDevice
import UVCommands
import Attestation

/// What the probe learned of this machine: the report's `device` object and
/// the host-key hashes. Gathered fact by fact, so that a probe that refuses
/// the device still reports what it saw.
public struct DeviceFacts: Sendable {
    /// /sys/firmware/uv/prot_virt_guest (nil: unreadable).
    public var secureGuest: Bool??
    public var backend: String?
    /// The kernel generation the driver's INFO answer shows.
    public var driver: String?
    /// The store's size from sysfs's query, when the kernel shows it.
    public var maxSecrets: Int?
    /// This machine's host-key hashes from sysfs (empty: not shown).
    public var hostKeyHashes: [[UInt8]] = []
    /// The attestation flags and request versions the ultravisor takes
    /// (sysfs query supp_att_pflags, supp_att_req_hdr_ver; nil: not shown).
    public var attestationFlags: AttestationFlags?
    public var attestationRequestVersions: [UInt32]?

    public init() {}

    var json: [(String, JSON)] {
        var out: [(String, JSON)] = []
        if let g = secureGuest { out.append(("secure_execution_guest", g.map { JSON.bool($0) } ?? .null)) }
        if let b = backend { out.append(("backend", .string(b))) }
        if let d = driver { out.append(("driver", .string(d))) }
        if let m = maxSecrets { out.append(("max_secrets", .int(Int64(m)))) }
        return out
    }
}

/// Step 1: is this a secure guest, which driver and ultravisor calls are
/// there, what are the limits, which host keys does this machine have.
/// Returns a client for a device that can do what the policy needs.
enum Probe {
    /// Opens the backend. The client exists from here on, so a probe that
    /// then refuses the device still leaves the failure path a way to lock
    /// the store (an earlier run of this boot may have added to it).
    static func open(_ config: BootConfiguration, facts: inout DeviceFacts, log: BootLog) throws -> UVClient {
        let guest = try? config.sysfs.isSecureExecutionGuest()
        facts.secureGuest = .some(guest)
        switch config.backend {
        case let .device(p): facts.backend = "device \(p)"
        case let .simulator(d): facts.backend = "simulator \(d)"
        }
        if case .device = config.backend, guest == .some(false) {
            log.warning("sysfs says this is not a Secure Execution guest")
        }
        let client: UVClient
        do { client = try config.backend.client(sysfs: config.sysfs, links: config.links) } catch let f as CommandFailure {
            // A backend this binary does not have (a simulator switch in the
            // agent) is a usage error, not a broken device.
            throw BootFailure(f.failureClass == .usage ? .usage : .device, step: "probe", f.message)
        }
        return client
    }

    /// Whether the device can do what the policy needs, and its limits.
    static func examine(_ client: UVClient, _ config: BootConfiguration, policy: Policy, facts: inout DeviceFacts,
                        log: BootLog) throws {
        let info: UVInfo
        do { info = try client.info() } catch {
            throw BootFailure(.device, step: "probe", "the ultravisor device does not answer INFO: \(error)")
        }
        facts.driver = info.kernelGeneration
        if info.isLegacyDriver {
            throw BootFailure(.device, step: "probe",
                "this kernel's uvdevice only knows attestation (Linux 5.19–6.4): adding secrets needs Linux 6.5 or later, retrievable secrets Linux 6.13 on IBM z17")
        }
        var needed: [UVIoctl] = [.addSecret, .listSecrets]
        if policy.store.lock { needed.append(.lockSecrets) }
        if policy.secrets.contains(where: { !$0.actions.isEmpty }) { needed.append(.retrieveSecret) }
        // A required attestation that the device cannot do would fail only
        // after the store is filled and locked: stop before anything is added.
        if policy.attestation.mode == .required { needed.append(.attest) }
        for ioctl in needed where !info.driverImplements(ioctl) {
            let hint = ioctl == .retrieveSecret ? " (retrieving secrets needs Linux 6.13 or later)" : ""
            throw BootFailure(.device, step: "probe", "the kernel's uvdevice lacks the \(ioctl) ioctl\(hint)")
        }
        for ioctl in needed where info.ultravisorOffers(ioctl) == false && ioctl != .retrieveSecret {
            throw BootFailure(.device, step: "probe", "the ultravisor does not offer \(ioctl) to this guest")
        }
        if let q = try? config.sysfs.query() {
            facts.maxSecrets = q.maxSecrets.map { Int($0) }
            if let codes = q.secretTypeCodes {
                for s in policy.secrets where !codes.contains(s.type.rawValue) {
                    throw BootFailure(.device, step: "probe",
                        "the ultravisor does not support \(s.type.name) secrets (secret \"\(s.name)\"); see /sys/firmware/uv/query/supp_secret_types")
                }
            }
            if let versions = q.addSecretVersions, !versions.contains(ASRLayout.version) {
                throw BootFailure(.device, step: "probe", "the ultravisor does not accept add-secret requests of version 0x100")
            }
            if policy.store.requiredFlags.contains("disable-dump"), q.disableDumpFlagSupported == false {
                throw BootFailure(.device, step: "probe", "the policy requires disable-dump, which this ultravisor does not support")
            }
            facts.attestationFlags = q.supportedAttestationFlags.map { AttestationFlags(rawValue: $0) }
            facts.attestationRequestVersions = q.attestationRequestVersions
            if policy.attestation.mode == .required, let flags = facts.attestationFlags, !flags.contains(.secretStoreHash) {
                throw BootFailure(.device, step: "probe",
                    "the policy requires attestation, and this ultravisor cannot report the secret-store hash (/sys/firmware/uv/query/supp_att_pflags \(String(flags.rawValue, radix: 16))): an attestation could not prove the store")
            }
        }
        if let keys = try? config.sysfs.hostKeyHashes() {
            facts.hostKeyHashes = keys.knownHashes
            log.debug("host-key hashes: \(facts.hostKeyHashes.map { String($0.hex.prefix(16)) }.joined(separator: ", "))")
        }
    }

    /// Whether the ultravisor takes the tenant's attestation request as it
    /// is (its version, its flags), checked after the request pass and
    /// before anything is submitted: an attestation the ultravisor refuses
    /// would fail only after the store is filled and locked. Unknown
    /// (sysfs does not show them): the call decides.
    static func attestationSupported(_ request: AttestationRequestFile, facts: DeviceFacts, file: String) throws {
        if let versions = facts.attestationRequestVersions, !versions.contains(request.arcb.version) {
            throw BootFailure(.device, step: "check",
                "the attestation request \(file) has version 0x\(String(request.arcb.version, radix: 16)), which this ultravisor does not take (/sys/firmware/uv/query/supp_att_req_hdr_ver)")
        }
        if let offered = facts.attestationFlags {
            let missing = request.arcb.flags.subtracting(offered)
            if !missing.isEmpty {
                let names = missing.additionalDataNames + (missing.contains(.nonce) ? ["nonce"] : [])
                    + (missing.unknownBits != 0 ? ["0x" + String(missing.unknownBits, radix: 16)] : [])
                throw BootFailure(.device, step: "check",
                    "the attestation request \(file) asks for \(names.joined(separator: ", ")), which this ultravisor does not offer (/sys/firmware/uv/query/supp_att_pflags \(String(offered.rawValue, radix: 16)))")
            }
        }
    }
}
