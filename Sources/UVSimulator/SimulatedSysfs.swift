import SEBase
import UVDevice

/// Writes the /sys/firmware/uv tree the simulated machine would show, in
/// the kernel's formats: decimal, hex without 0x or padding, facilities as
/// four lines, key hashes as 64 hex digits. Files of later kernels are left
/// out for older generations.
enum SimulatedSysfs {
    static func write(state: SimulatorState, root: String) throws {
        let c = state.config
        let uv = root + "/firmware/uv"
        try FileIO.makeDirectories(uv + "/query", mode: 0o755)
        func put(_ rel: String, _ text: String) throws {
            try FileIO.writeAtomically(uv + "/" + rel, Array((text + "\n").utf8), mode: 0o444)
        }
        func hex(_ v: UInt64) -> String { String(v, radix: 16) }

        try put("prot_virt_guest", c.protVirtGuest ? "1" : "0")
        try put("prot_virt_host", "0")
        try put("query/facilities", c.facilities.words.map(hex).joined(separator: "\n"))
        try put("query/feature_indications", "0")
        try put("query/max_cpus", "248")
        try put("query/max_guests", "0")
        try put("query/max_address", hex(0x3ff_ffff_ffff))
        try put("query/supp_se_hdr_ver", hex(0x30000))
        try put("query/supp_se_hdr_pcf", hex(0x300050e3))
        try put("query/supp_att_req_hdr_ver", hex(1 << 63))
        try put("query/supp_att_pflags", hex(SimulatedUltravisor.supportedAttestationFlags.rawValue))
        if c.kernel != .linux5_19 {
            try put("query/supp_add_secret_req_ver", hex(c.supportedAddSecretVersions))
            try put("query/supp_add_secret_pcf", hex(c.supportedAddSecretFlags))
            try put("query/supp_secret_types", hex(c.supportedSecretTypes))
            try put("query/max_secrets", String(c.maxSecrets))
        }
        if c.kernel == .linux6_13 {
            try put("query/max_assoc_secrets", String(c.maxAssociationSecrets))
            try put("query/max_retr_secrets", String(c.maxRetrievableSecrets))
            if c.facilities.isInstalled(.queryKeys) {
                try FileIO.makeDirectories(uv + "/keys", mode: 0o755)
                let zero = [UInt8](repeating: 0, count: 32).hex
                try put("keys/host_key", state.hostKeyHash.hex)
                try put("keys/backup_host_key", zero)
                try put("keys/all", ([state.hostKeyHash.hex] + Array(repeating: zero, count: 14)).joined(separator: "\n"))
            }
        }
    }
}
