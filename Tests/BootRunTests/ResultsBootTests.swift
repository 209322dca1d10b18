import Testing
import Glibc
import SEBase
import SECrypto
import SecretPolicy
@testable import SEDevices
import UVDevice
import BootRun
import SEVocabulary
import TestSupport
import Attestation
import ResultsRecord

/// The results record leaves the guest: RUN-DIR/results.bin, the results
/// device (a file stands in for the disk) and the console (a file), in
/// successful and failed runs.
@Suite struct ResultsBootTests {
    static let devicePath = "/dev/disk/by-id/virtio-se-results"

    /// The guest's config with the device spec mapped to `image` and the console to a file.
    static func config(_ g: Guest, policy: String, requests: String? = nil, image: String) -> BootConfiguration {
        var c = g.config(policy: policy, requests: requests)
        c.consolePath = g.dir + "/console.log"
        // /dev/console exists; the writer never creates a file.
        if FileIO.kind(of: c.consolePath) == nil { try? FileIO.writeAtomically(c.consolePath, [], mode: 0o600) }
        c.resultsAccess = ResultsAccess(
            findDevice: { spec, _ throws(BlockDeviceError) in
                guard spec == .path(ResultsBootTests.devicePath) else { throw .timedOut(spec, seconds: 0) }
                return image
            },
            openDevice: { path throws in
                try ResultsDevice.open(path: path, magic: ResultsRecord.magic, maxRecordSize: ResultsRecord.maxSize, allowRegularFile: true)
            },
            kmsgAcceptsBursts: { false }, linePauseMilliseconds: 0)
        return c
    }

    static func image(_ g: Guest, _ name: String, _ change: (inout [UInt8]) -> Void = { _ in }) throws -> String {
        var bytes = [UInt8](repeating: 0, count: 4 << 20)
        change(&bytes)
        let p = g.dir + "/" + name
        try FileIO.writeAtomically(p, bytes, mode: 0o600)
        return p
    }

    static func policy(_ g: Guest, attest: Bool) throws -> String {
        try g.policyVariant("results-policy.json") {
            replacing(&$0, "results", .object([("device", .string(devicePath)), ("console", .bool(true))]))
            if attest { replacing(&$0, "attestation", .object([("mode", .string("required"))])) }
        }
    }

    @Test func aSuccessfulRunHandsOutOneRecordOnTheDeviceTheConsoleAndInRun() throws {
        let g = try Guest("results-ok")
        let t = try AttestationBootTests.tenantRequest(g)
        let image = try Self.image(g, "results.img")
        let requests = try AttestationBootTests.requests(g, "rq", attestation: t.file)
        let (result, stderr) = g.boot(Self.config(g, policy: try Self.policy(g, attest: true), requests: requests, image: image))
        #expect(result.succeeded, "\(stderr)")

        let fromDevice = try ResultsRecord.parse(try FileIO.read(image, limit: 4 << 20))
        let fromRun = try ResultsRecord.parse(try FileIO.read(g.runDir + "/results.bin", limit: 4 << 20))
        let fromConsole = try ConsoleFrame.extract(from: try FileIO.read(g.dir + "/console.log", limit: 1 << 24))
        #expect(fromDevice == fromRun && fromRun == fromConsole)
        // The console has the record twice (a line lost in one copy is in the other).
        let consoleText = String(decoding: try FileIO.read(g.dir + "/console.log", limit: 1 << 24), as: UTF8.self)
        let frame = try ConsoleFrame.lines(fromDevice)
        #expect(consoleText == (frame + frame).map { $0 + "\n" }.joined())
        #expect(fromDevice[.report] == (try FileIO.read(g.runDir + "/report.json", limit: 1 << 22)))
        #expect(fromDevice[.facts] == (try FileIO.read(g.runDir + "/facts.json", limit: 1 << 22)))
        #expect(fromDevice[.attestationResponse] == (try FileIO.read(g.runDir + "/attestation-response.bin", limit: 1 << 22)))
        // The response binds the facts in the record.
        let response = try AttestationExchangeResponse.parse(try #require(fromDevice[.attestationResponse]))
        #expect(try RunBinding.parse(try #require(response.userData)).factsSHA256 == Digest.sha256(try #require(fromDevice[.facts])))
        // Nothing secret leaves the guest.
        let console = try FileIO.read(g.dir + "/console.log", limit: 1 << 24)
        let disk = try FileIO.read(image, limit: 4 << 20)
        for value in try g.secretValues() {
            #expect(!contains(disk, value) && !contains(console, value))
        }
        #expect(!contains(disk, t.built.protectionKey.unsafeCopyToArray()))
    }

    @Test func aFailedRunWritesItsRecordToo() throws {
        let g = try Guest("results-failed")
        let image = try Self.image(g, "results.img")
        let requests = try g.copyOfRequests("rq")
        try FileIO.writeAtomically(requests + "/zz-stray.asr", Array(repeating: 0xEE, count: 2000), mode: 0o644)
        let (result, _) = g.boot(Self.config(g, policy: try Self.policy(g, attest: false), requests: requests, image: image))
        #expect(!result.succeeded)
        let record = try ResultsRecord.parse(try FileIO.read(image, limit: 4 << 20))
        let report = try JSON.parse(try #require(record[.report]))
        #expect(report["verdict"] == .string("failed"))
        #expect(report["failure"]?["step"] == .string("check"))
        #expect(record[.attestationResponse] == nil)
        #expect(try ConsoleFrame.extract(from: try FileIO.read(g.dir + "/console.log", limit: 1 << 24)) == record)
    }

    @Test func aDiskThatIsNotBlankStopsTheRunBeforeAnythingIsAdded() throws {
        let g = try Guest("results-not-blank")
        let image = try Self.image(g, "data.img") { $0[100] = 1 }
        let (result, _) = g.boot(Self.config(g, policy: try Self.policy(g, attest: false), image: image))
        #expect(!result.succeeded)
        #expect(result.failure?.step == "results")
        #expect(result.failure?.failureClass == .device)
        #expect(result.failure?.message.contains("[not-blank]") == true)
        #expect(try g.state().acceptedRequestTags.isEmpty)
        // The host's data is untouched; the record went to the console and /run only.
        let after = try FileIO.read(image, limit: 4 << 20)
        #expect(after[100] == 1 && after[0..<100].allSatisfy { $0 == 0 })
        let console = try ConsoleFrame.extract(from: try FileIO.read(g.dir + "/console.log", limit: 1 << 24))
        #expect(try JSON.parse(try #require(console[.report]))["failure"]?["step"] == .string("results"))
    }

    @Test func anEarlierBootsRecordIsClearedBeforeTheRunStarts() throws {
        let g = try Guest("results-stale")
        let old = try ResultsRecord([.init(.report, Array("{\"verdict\": \"ok\"}".utf8))]).bytes
        let image = try Self.image(g, "results.img") { $0.replaceSubrange(0..<old.count, with: old) }
        // Mid-run (after the fetch, before anything is submitted), the old record is unreadable:
        // a run killed there leaves no record that could pass for this boot's.
        let seen = Lines()
        var c = Self.config(g, policy: try Self.policy(g, attest: false), image: image)
        c.afterFetch = {
            let bytes = (try? FileIO.read(image, limit: 4 << 20)) ?? []
            seen.text = (try? ResultsRecord.parse(bytes)) == nil && bytes[0..<4096].allSatisfy({ $0 == 0 }) ? "cleared" : "old record"
        }
        let (result, _) = g.boot(c)
        #expect(result.succeeded)
        #expect(seen.text == "cleared")
        let record = try ResultsRecord.parse(try FileIO.read(image, limit: 4 << 20))
        #expect(try JSON.parse(try #require(record[.report]))["store"]?["locked"] == .bool(true))
    }

    @Test func aDeviceThatCannotBeWrittenFailsARunThatHadSucceeded() throws {
        let g = try Guest("results-write-fails")
        let image = try Self.image(g, "results.img")
        var c = Self.config(g, policy: try Self.policy(g, attest: false), image: image)
        c.resultsAccess.openDevice = { path throws in
            // The clear at the start works; the record's write does not.
            var io = ResultsDevice.IO.system
            let real = io.pwrite
            io.pwrite = { fd, bytes, off throws(SystemError) in
                guard off == 0, bytes.allSatisfy({ $0 == 0 }) else { throw SystemError(errno: ENOSPC, operation: "pwrite") }
                try real(fd, bytes, off)
            }
            return try ResultsDevice.open(path: path, magic: ResultsRecord.magic, maxRecordSize: ResultsRecord.maxSize,
                                          allowRegularFile: true, io: io)
        }
        let (result, _) = g.boot(c)
        #expect(!result.succeeded)
        #expect(result.failure?.step == "results")
        #expect(result.failure?.failureClass == .io)
        let report = try g.report()
        #expect(report["verdict"] == .string("failed"))
        #expect(report["store"]?["locked"] == .bool(true))
        // The console has the final record, which says so.
        let console = try ConsoleFrame.extract(from: try FileIO.read(g.dir + "/console.log", limit: 1 << 24))
        #expect(try JSON.parse(try #require(console[.report]))["failure"]?["step"] == .string("results"))
    }
}

/// A later phase that fails (unlock, install) hands the record out again:
/// its report says where the boot stopped; facts and response are the boot
/// run's, byte for byte.
@Suite struct PhaseResultsTests {
    /// A successful attested boot run with the results device and console;
    /// then report.json gains a failed install record, as `se-secretd
    /// install` writes it.
    static func bootThenFailInstall(_ g: Guest, image: String) throws -> (config: BootConfiguration, policy: Policy) {
        let t = try AttestationBootTests.tenantRequest(g)
        let requests = try AttestationBootTests.requests(g, "rq", attestation: t.file)
        let policyPath = try ResultsBootTests.policy(g, attest: true)
        let config = ResultsBootTests.config(g, policy: policyPath, requests: requests, image: image)
        let (result, stderr) = g.boot(config)
        #expect(result.succeeded, "\(stderr)")
        guard case var .object(m) = try JSON.parse(try FileIO.read(g.runDir + "/report.json", limit: 1 << 22)) else { fatalError() }
        let failed = JSON.object([("phase", .string("install")), ("secret", .string("tls-server-key")), ("result", .string("failed")),
                                  ("message", .string("the directory /sysroot/etc/ssl/nope does not exist"))])
        if let i = m.firstIndex(where: { $0.0 == "actions" }), case let .array(old) = m[i].1 { m[i].1 = .array(old + [failed]) }
        else { m.append(("actions", .array([failed]))) }
        try FileIO.writeAtomically(g.runDir + "/report.json", Array((JSON.object(m).serialized() + "\n").utf8), mode: 0o600)
        return (config, try Policy.load(path: policyPath))
    }

    static func log() -> (BootLog, Lines) {
        let lines = Lines()
        return (BootLog(stderr: { lines.text += $0 }, kmsgPath: nil, debug: false), lines)
    }

    @Test func aFailedInstallHandsOutTheRecordAgainWithItsReport() throws {
        let g = try Guest("phase-results")
        let image = try ResultsBootTests.image(g, "results.img")
        let (config, policy) = try Self.bootThenFailInstall(g, image: image)
        let before = try ResultsRecord.parse(try FileIO.read(image, limit: 4 << 20))
        let consoleBefore = try ConsoleFrame.records(in: try FileIO.read(config.consolePath, limit: 1 << 24)).count
        let (log, lines) = Self.log()
        let problems = PhaseResults.deliver(policy: policy, runDirectory: g.runDir, consolePath: config.consolePath,
                                            access: config.resultsAccess, log: log)
        #expect(problems.isEmpty, "\(lines.text)")
        let after = try ResultsRecord.parse(try FileIO.read(image, limit: 4 << 20))
        // The report as it is now; the boot run's facts and response unchanged.
        #expect(after[.report] == (try FileIO.read(g.runDir + "/report.json", limit: 1 << 22)))
        #expect(after[.report] != before[.report])
        #expect(String(decoding: try #require(after[.report]), as: UTF8.self).contains("/sysroot/etc/ssl/nope"))
        #expect(after[.facts] == before[.facts] && after[.facts] != nil)
        #expect(after[.attestationResponse] == before[.attestationResponse] && after[.attestationResponse] != nil)
        #expect(try ResultsRecord.parse(try FileIO.read(g.runDir + "/results.bin", limit: 4 << 20)) == after)
        // The console gets the new record as well; the latest first.
        let records = try ConsoleFrame.records(in: try FileIO.read(config.consolePath, limit: 1 << 24))
        #expect(records.count == consoleBefore + 1)
        #expect(records.first == after)
    }

    @Test func aDiskTheHostSwappedInIsNotWritten() throws {
        let g = try Guest("phase-results-swapped")
        let image = try ResultsBootTests.image(g, "results.img")
        let (config, policy) = try Self.bootThenFailInstall(g, image: image)
        // The host puts a disk with data where the results device was.
        var disk = try FileIO.read(image, limit: 4 << 20)
        for i in 0..<16 { disk[i] = 0x55 }
        try FileIO.writeAtomically(image, disk, mode: 0o600)
        let (log, lines) = Self.log()
        let problems = PhaseResults.deliver(policy: policy, runDirectory: g.runDir, consolePath: config.consolePath,
                                            access: config.resultsAccess, log: log)
        #expect(problems.count == 1 && problems.first?.contains("[not-blank]") == true, "\(lines.text)")
        #expect(try FileIO.read(image, limit: 4 << 20) == disk)
        // The console still gets the record.
        let latest = try ConsoleFrame.extract(from: try FileIO.read(config.consolePath, limit: 1 << 24))
        #expect(latest[.report] == (try FileIO.read(g.runDir + "/report.json", limit: 1 << 22)))
    }

    @Test func aPolicyWithoutResultsWritesNothing() throws {
        let g = try Guest("phase-results-none")
        let (log, _) = Self.log()
        let policy = try Policy.load(path: g.example.policyPath)
        #expect(policy.results.device == nil && !policy.results.console)
        #expect(PhaseResults.deliver(policy: policy, runDirectory: g.runDir, consolePath: g.dir + "/console.log", log: log).isEmpty)
        #expect(FileIO.kind(of: g.runDir + "/results.bin") == nil)
        #expect(FileIO.kind(of: g.dir + "/console.log") == nil)
    }
}
