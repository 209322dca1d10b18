#if canImport(Glibc)
import Glibc
#endif
import SEBase
import SEDevices
import SEVocabulary
import ResultsRecord
import SecretPolicy

/// How the boot run reaches the results device and the console: a seam
/// for tests, which have neither (a regular file stands in for the device;
/// the console is a file).
public struct ResultsAccess: Sendable {
    /// Finds the device for a spec, waiting up to the seconds given.
    public var findDevice: @Sendable (VolumeSpec, Double) throws(BlockDeviceError) -> String
    /// Opens a results device and checks that it is blank or ours
    /// (`ResultsDevice.open`).
    public var openDevice: @Sendable (String) throws -> ResultsDevice
    /// Whether the kernel log takes bursts of lines (printk_devkmsg=on).
    public var kmsgAcceptsBursts: @Sendable () -> Bool
    /// Pause between console lines, in milliseconds.
    public var linePauseMilliseconds: Int

    public init(findDevice: @escaping @Sendable (VolumeSpec, Double) throws(BlockDeviceError) -> String, openDevice: @escaping @Sendable (String) throws -> ResultsDevice,
                kmsgAcceptsBursts: @escaping @Sendable () -> Bool, linePauseMilliseconds: Int) {
        self.findDevice = findDevice
        self.openDevice = openDevice
        self.kmsgAcceptsBursts = kmsgAcceptsBursts
        self.linePauseMilliseconds = linePauseMilliseconds
    }

    public static let system = ResultsAccess(
        findDevice: { spec, wait throws(BlockDeviceError) in
            var devices = BlockDevices()
            devices.pollInterval = 0.25
            return try devices.waitFor(spec, deadline: BlockDevices.deadline(afterSeconds: wait))
        },
        openDevice: { path throws in try ResultsDevice.open(path: path, magic: ResultsRecord.magic, maxRecordSize: ResultsRecord.maxSize) },
        kmsgAcceptsBursts: { ConsoleOutput.kmsgAcceptsBursts() },
        linePauseMilliseconds: 0)
}

/// The results record's way out of the guest: RUN-DIR/results.bin always,
/// the results device and the console when the policy says so. The device
/// is found, checked and cleared early (`prepareDevice`, before anything is
/// submitted), so a missing or unusable one stops the run before the store
/// holds anything, and a stale record of an earlier boot is gone; the
/// record is written at the end of every run (`deliver`), failed ones too.
enum ResultsOutput {
    static let recordFile = "results.bin"

    /// Finds the policy's results device (waiting as for the request
    /// volume), opens it (blank or ours, not in use) and zeroes its first
    /// sector.
    static func prepareDevice(_ spec: VolumeSpec, wait: Double, access: ResultsAccess, log: BootLog) throws -> ResultsDevice {
        let path: String
        do {
            path = try access.findDevice(spec, wait)
        } catch {
            if case .timedOut = error {
                throw BootFailure(.timeout, step: "results", "the results device \(spec) did not appear within \(Int(wait)) s (is the disk attached? check `blkid`)")
            }
            throw BootFailure(.device, step: "results", "the results device: \(error)")
        }
        do {
            let device = try access.openDevice(path)
            try device.clear()
            log.info("results device \(path) (\(spec)) is blank or an earlier record; its first sector is cleared")
            return device
        } catch {
            throw BootFailure(.device, step: "results", "the results device \(spec) (\(path)): \(error)")
        }
    }

    /// The record of this run: the report as written, the facts and the
    /// attestation response when the run attested.
    static func record(report: [UInt8], attestation: AttestationOutcome?) throws -> ResultsRecord {
        var entries = [ResultsRecord.Entry(.report, report)]
        if let a = attestation {
            entries.append(ResultsRecord.Entry(.facts, a.facts))
            entries.append(ResultsRecord.Entry(.attestationResponse, a.response))
        }
        return try ResultsRecord(entries)
    }

    /// Writes RUN-DIR/results.bin, then the device; an error is the first
    /// that stopped the device write (the file is only a convenience).
    static func writeRecord(_ record: ResultsRecord, runDirectory: String, device: ResultsDevice?, log: BootLog) throws {
        let bytes = record.bytes
        let path = runDirectory + "/" + recordFile
        do {
            try FileIO.writeAtomically(path, bytes, mode: 0o600, durable: false)
        } catch {
            log.error("cannot write \(path): \(error)")
        }
        guard let device else { return }
        do {
            try device.write(bytes)
            log.info("results record (\(bytes.count) bytes) written to \(device.path) and read back")
        } catch {
            throw BootFailure(.io, step: "results", "cannot write the results record to \(device.path): \(error)")
        }
    }

    /// The record as numbered base64 lines on the console; on the kernel log
    /// too when it takes bursts, else one line that points to the console.
    static func toConsole(_ record: ResultsRecord, path: String, kmsgPath: String?, access: ResultsAccess,
                          log: BootLog) {
        let lines: [String]
        do { lines = try ConsoleFrame.lines(record) } catch {
            log.error("the results record does not fit the console (\(error)); it is in /run only")
            return
        }
        // Twice: a console drops and doubles bytes, and the reader takes each
        // line from whichever copy is intact (ConsoleFrame).
        let copies = Array([[String]](repeating: lines, count: ConsoleFrame.copies).joined())
        do {
            _ = try ConsoleOutput(path: path, pauseMilliseconds: access.linePauseMilliseconds).write(copies)
        } catch {
            log.error("cannot write the results to \(path): \(error)")
        }
        guard let kmsgPath else { return }
        if access.kmsgAcceptsBursts() {
            _ = try? ConsoleOutput(path: kmsgPath, pauseMilliseconds: 0).write(lines)
        } else if let first = lines.first {
            let id = first.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            log.log(.notice, "results record \(id) (\(lines.count) lines) on the console; the kernel log would drop lines (printk.devkmsg=ratelimit)", kmsg: true)
        }
    }
}

/// A later phase of the boot (unlock, install: separate processes after the
/// boot run) that failed hands the results record out again, with the
/// report as it is now (the phase's records in it), so that what leaves the
/// guest says where the boot stopped, not only that the boot run was fine.
/// The facts and the attestation response are the boot run's, byte for
/// byte (RUN-DIR/results.bin): still bound, still the tenant's to verify;
/// the report is information, as always. The device is found and checked
/// again (blank or ours, not in use, no signature): the host may have
/// swapped disks since.
public enum PhaseResults {
    /// How long a phase waits for the results device: the boot run found
    /// it already, so it is there unless the host took it away.
    public static let deviceWaitSeconds = 5.0

    /// Delivers the record per the policy; returns the problems, each also
    /// logged (an empty list: delivered, or the policy wants none).
    @discardableResult
    public static func deliver(policy: Policy, runDirectory: String, consolePath: String = "/dev/console",
                               access: ResultsAccess = .system, log: BootLog) -> [String] {
        guard policy.results.device != nil || policy.results.console else { return [] }
        // Only after this boot's run: its record is in the run directory. A phase
        // run by hand elsewhere (an admin, a test with --run-dir) writes nothing.
        let recordPath = runDirectory + "/" + ResultsOutput.recordFile
        guard FileIO.kind(of: recordPath) == .regular else { return [] }
        var problems: [String] = []
        func problem(_ s: String) { problems.append(s); log.error(s) }
        let report: [UInt8]
        do { report = try FileIO.read(runDirectory + "/report.json", limit: ResultsRecord.maxPayload) } catch {
            problem("results: no report to hand out: \(error)")
            return problems
        }
        var entries = [ResultsRecord.Entry(.report, report)]
        do {
            let record = try ResultsRecord.parse(try FileIO.read(recordPath, limit: ResultsRecord.maxSize))
            for kind in [ResultsRecord.Kind.facts, .attestationResponse] {
                if let bytes = record[kind] { entries.append(ResultsRecord.Entry(kind, bytes)) }
            }
        } catch {
            problem("results: the boot run's record \(recordPath) is unreadable (\(error)); the report goes out alone")
        }
        let record: ResultsRecord
        do { record = try ResultsRecord(entries) } catch {
            problem("results: cannot make the record: \(error)")
            return problems
        }
        var device: ResultsDevice?
        if let spec = policy.results.device {
            do { device = try ResultsOutput.prepareDevice(spec, wait: deviceWaitSeconds, access: access, log: log) } catch let f as BootFailure {
                problem("results: \(f.message)")
            } catch {
                problem("results: \(error)")
            }
        }
        do { try ResultsOutput.writeRecord(record, runDirectory: runDirectory, device: device, log: log) } catch let f as BootFailure {
            problem("results: \(f.message)")
        } catch {
            problem("results: \(error)")
        }
        if policy.results.console {
            ResultsOutput.toConsole(record, path: consolePath, kmsgPath: log.kmsgPath, access: access, log: log)
        }
        return problems
    }
}
