import ASRCodec
import SEBase
import UVDevice
import SEVocabulary

/// What `se-secretd info` shows: driver and ultravisor capabilities from
/// INFO, and /sys/firmware/uv (guest state, limits, supported secret types,
/// host-key hashes). Parts that cannot be read are reported, not fatal.
public struct InfoReport {
    public var device: String
    public var info: UVInfo?
    public var deviceError: String?
    public var secureGuest: Bool?
    public var query: UVQuery?
    public var keys: HostKeyHashes?
    public var sysfsErrors: [String] = []
    public var sysfsRoot: String

    /// Gathers the report; `transport` nil means the device could not be opened
    /// (`deviceError` says why).
    public static func gather(transport: UVTransport?, deviceError: String?, sysfs: UVSysfs) -> InfoReport {
        var r = InfoReport(device: transport?.name ?? "(unavailable)", deviceError: deviceError, sysfsRoot: sysfs.root)
        if let t = transport {
            do { r.info = try UVClient(transport: t).info() } catch { r.deviceError = "\(error)" }
        }
        do { r.secureGuest = try sysfs.isSecureExecutionGuest() } catch { r.sysfsErrors.append("\(error)") }
        do { r.query = try sysfs.query() } catch { r.sysfsErrors.append("\(error)") }
        do { r.keys = try sysfs.hostKeyHashes() } catch { r.sysfsErrors.append("\(error)") }
        return r
    }

    static func typeName(_ code: UInt16) -> String {
        SecretType(rawValue: code)?.name ?? "type-\(rcHex(code))"
    }

    static func ioctlNames(_ bits: UInt64) -> [String] {
        UVIoctl.allCases.filter { bits & $0.infoBit != 0 }.map(\.name)
    }

    public var text: String {
        var s = "Ultravisor device: \(device)\n"
        if let e = deviceError { s += "  unavailable: \(e)\n" }
        if let i = info {
            s += "  driver: Linux \(i.kernelGeneration); ioctls: \(Self.ioctlNames(i.driverIoctls).joined(separator: " "))\n"
            if let calls = i.ultravisorCalls {
                s += "  ultravisor calls offered: \(Self.ioctlNames(calls).joined(separator: " "))"
                s += i.driverImplements(.retrieveSecret) ? " (the RETR bit mirrors attestation; see Retrieve Secret below)\n" : "\n"
            } else {
                s += "  ultravisor calls offered: unknown (the driver predates UVDEV_INFO)\n"
            }
        }
        s += "\nSecure Execution (\(sysfsRoot)/firmware/uv):\n"
        switch secureGuest {
        case .some(true): s += "  this is a Secure Execution guest\n"
        case .some(false): s += "  this is not a Secure Execution guest\n"
        case .none: s += "  no ultravisor information (not IBM Z, or no ultravisor facility)\n"
        }
        if let q = query {
            if let f = q.facilities {
                let calls = UVFacility.allCases.map { "\($0.name) \(f.isInstalled($0) ? "yes" : "no")" }
                s += "  installed calls: " + calls.joined(separator: ", ") + "\n"
            }
            if let m = q.maxSecrets {
                s += "  secret store: at most \(m) secrets"
                if let a = q.maxAssociationSecrets, let r = q.maxRetrievableSecrets {
                    s += " (\(a) association, \(r) retrievable)"
                }
                s += "\n"
            }
            if let codes = q.secretTypeCodes {
                s += "  secret types: " + codes.map(Self.typeName).joined(separator: ", ") + "\n"
            }
            if let v = q.addSecretVersions {
                s += "  add-secret request versions: " + v.map { "0x" + String($0, radix: 16) }.joined(separator: ", ") + "\n"
            }
            if let d = q.disableDumpFlagSupported {
                s += "  add-secret flags: disable-dump \(d ? "supported" : "not supported")\n"
            }
        }
        if let k = keys {
            if let h = k.hostKey { s += "  host key:        \(h.hex)\n" }
            if let b = k.backupHostKey, !b.isAllZero { s += "  backup host key: \(b.hex)\n" }
        }
        for e in sysfsErrors { s += "  unreadable: \(e)\n" }
        return s
    }

    public var json: JSON {
        var members: [(String, JSON)] = [("device", .string(device))]
        members.append(("device_error", deviceError.map { .string($0) } ?? .null))
        if let i = info {
            members.append(("driver", .object([
                ("kernel", .string(i.kernelGeneration)),
                ("legacy", .bool(i.isLegacyDriver)),
                ("ioctls", .array(Self.ioctlNames(i.driverIoctls).map { .string($0) })),
                ("supp_uvio_cmds", .string(paddedHex(i.driverIoctls))),
                ("supp_uv_cmds", i.ultravisorCalls.map { .string(paddedHex($0)) } ?? .null),
            ])))
        } else {
            members.append(("driver", .null))
        }
        members.append(("secure_execution_guest", secureGuest.map { .bool($0) } ?? .null))
        var q: [(String, JSON)] = []
        if let query {
            if let f = query.facilities {
                q.append(("facilities", .object(UVFacility.allCases.map { ($0.name, .bool(f.isInstalled($0))) })))
            }
            q.append(("max_secrets", query.maxSecrets.map { .int(Int64($0)) } ?? .null))
            q.append(("max_assoc_secrets", query.maxAssociationSecrets.map { .int(Int64($0)) } ?? .null))
            q.append(("max_retr_secrets", query.maxRetrievableSecrets.map { .int(Int64($0)) } ?? .null))
            q.append(("secret_types", query.secretTypeCodes.map { .array($0.map { .string(Self.typeName($0)) }) } ?? .null))
            q.append(("add_secret_versions", query.addSecretVersions.map { .array($0.map { .int(Int64($0)) }) } ?? .null))
            q.append(("disable_dump_supported", query.disableDumpFlagSupported.map { .bool($0) } ?? .null))
        }
        members.append(("query", query == nil ? .null : .object(q)))
        members.append(("host_key_hashes", keys.map { k in
            .object([("host_key", JSON.hexOrNull(k.hostKey)), ("backup_host_key", JSON.hexOrNull(k.backupHostKey)),
                     ("all", .array(k.knownHashes.map { .string($0.hex) }))])
        } ?? .null))
        members.append(("errors", .array(sysfsErrors.map { .string($0) })))
        return .object(members)
    }
}
