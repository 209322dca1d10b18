import Foundation
import Testing
import TestSupport
import SEBase
@testable import UVDevice

/// /sys/firmware/uv parsing on hand-made trees (formats from the kernel and
/// the s390-tools pvinfo test assets).
@Suite struct SysfsTests {
    /// This test's directory (each test has its own instance of the suite).
    let tmp: TempDir
    init() throws { tmp = try TempDir("sysfs") }

    func tree(_ files: [String: String]) throws -> UVSysfs {
        let root = tmp.appending(UUID().uuidString)
        for (rel, text) in files {
            let path = root + "/firmware/uv/" + rel
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        return UVSysfs(root: root + "/")
    }

    @Test func readsAHostStyleTree() throws {
        let s = try tree([
            "prot_virt_guest": "0\n", "prot_virt_host": "1\n",
            "query/facilities": "ff1fff0000000000\n0\n0\n0\n",
            "query/supp_se_hdr_pcf": "300050e3\n", "query/max_cpus": "257\n",
        ])
        #expect(try s.isSecureExecutionGuest() == false)
        #expect(try s.isSecureExecutionHost() == true)
        let q = try s.query()
        #expect(q.maxCPUs == 257)
        #expect(q.supportedSEHeaderFlags == 0x3000_50E3)
        // ff 1f ff 00: MSB0 bits 0-7, 11-15 and 16-23 set; the guest calls (28-34) are not.
        #expect(q.facilities?.isInstalled(0) == true)
        #expect(q.facilities?.isInstalled(8) == false)
        #expect(q.facilities?.isInstalled(11) == true)
        #expect(q.facilities?.isInstalled(23) == true)
        #expect(q.isInstalled(.retrieveAttestation) == false)
        #expect(q.isInstalled(.addSecret) == false)
        #expect(q.maxSecrets == nil && q.secretTypeCodes == nil)
        #expect(try s.hostKeyHashes() == nil)
    }

    @Test func readsSecretLimitsTypesAndKeys() throws {
        let h = String(repeating: "ab", count: 32)
        let z = String(repeating: "0", count: 64)
        let s = try tree([
            "prot_virt_guest": "1\n",
            "query/supp_add_secret_req_ver": "8000000000000000\n",
            "query/supp_add_secret_pcf": "8000000000000000\n",
            "query/supp_secret_types": "7fe0000000000000\n",
            "query/max_secrets": "256\n", "query/max_assoc_secrets": "64\n", "query/max_retr_secrets": "192\n",
            "keys/host_key": h + "\n", "keys/backup_host_key": z + "\n",
            "keys/all": ([h, z] + Array(repeating: z, count: 13)).joined(separator: "\n") + "\n",
        ])
        #expect(try s.isSecureExecutionGuest() == true)
        let q = try s.query()
        #expect(q.addSecretVersions == [0x100])
        #expect(q.disableDumpFlagSupported == true)
        #expect(q.secretTypeCodes == Array(1...10))
        #expect(q.maxSecrets == 256 && q.maxAssociationSecrets == 64 && q.maxRetrievableSecrets == 192)
        let keys = try #require(try s.hostKeyHashes())
        #expect(keys.knownHashes == [[UInt8](repeating: 0xAB, count: 32)])
        #expect(keys.all.count == 15)
        #expect(keys.contains([UInt8](repeating: 0xAB, count: 32)))
        #expect(!keys.contains([UInt8](repeating: 0, count: 32)))
    }

    @Test func malformedFilesAreErrorsNotCrashes() throws {
        for (file, text) in [("query/max_secrets", "-1\n"), ("query/max_secrets", "12 \n"), ("query/supp_secret_types", "0x10\n"),
                             ("query/supp_secret_types", "10000000000000000\n"), ("query/facilities", "1\n2\n"),
                             ("keys/host_key", "abcd\n"), ("prot_virt_guest", "yes\n"), ("query/max_cpus", "\u{7}\n")] {
            let s = try tree([file: text])
            #expect(throws: (any Error).self, "\(file): \(text.debugDescription)") {
                _ = try s.isSecureExecutionGuest()
                _ = try s.query()
                _ = try s.hostKeyHashes()
            }
        }
        let big = try tree(["query/max_cpus": String(repeating: "1", count: 10000)])
        #expect(throws: (any Error).self) { _ = try big.query() }
        #expect(try UVSysfs(root: "/nonexistent").query() == UVQuery())
    }
}
