import Glibc
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import UVDevice
import UVCommands
import UVSimulator
import BootRun
import SecretdCLI
import SecretdWorkbench
import TestSupport

final class Lines: @unchecked Sendable { var text = "" }

/// A simulated guest: a simulated ultravisor, an example deployment made for
/// it (signed requests + policy) and a run directory, in one directory that
/// goes away with the last copy of the value.
struct Guest {
    let uv: SimulatedUltravisor
    let example: ExampleSet.Written
    var dir: String { uv.dir.path }
    var sim: SimulatorStateDirectory { uv.sim }
    var runDir: String { dir + "/run" }
    var kmsg: String { dir + "/kmsg" }

    init(_ label: String, extra: Int = 0, options: SimulatorOptions = SimulatorOptions()) throws {
        uv = try SimulatedUltravisor("boot-" + label, options: options)
        let sim = uv.sim
        let target = try sim.requestTarget()
        var ex = ExampleSet()
        ex.hostKey = target.hostKey
        ex.tags = target.imageTags
        ex.extraSecrets = extra
        example = try ex.write(to: uv.dir.appending("example"))
    }

    var requests: String { example.requestDirectory }

    func config(policy: String? = nil, requests: String? = nil, sysfs: String? = nil) -> BootConfiguration {
        var c = BootConfiguration(policyPath: policy ?? example.policyPath, backend: .simulator(sim.path),
                                  sysfs: UVSysfs(root: sysfs ?? sim.sysfsRoot))
        c.links = Workbench.simulatorLinks
        c.runDirectory = runDir
        c.requestsDirectory = requests ?? self.requests
        c.timeout = 10
        c.backoffInitial = 0.01
        c.handoff.keyFileDirectory = dir + "/keys"
        c.handoff.credentialDirectory = dir + "/credentials"
        return c
    }

    func boot(_ config: BootConfiguration) -> (result: BootResult, stderr: String) {
        let lines = Lines()
        let log = BootLog(stderr: { lines.text += $0 }, kmsgPath: kmsg, debug: true)
        return (BootRunner(configuration: config, log: log).run(), lines.text)
    }

    func boot() -> (result: BootResult, stderr: String) { boot(config()) }

    func state() throws -> SimulatorState { try uv.state() }

    func faults(_ change: (inout SimulatorFaults) -> Void) throws { try uv.faults(change) }

    func client() throws -> UVClient { try uv.client() }

    /// A copy of the example's request directory to change.
    func copyOfRequests(_ name: String = "requests-copy") throws -> String {
        let dst = dir + "/" + name
        mkdir(dst, 0o755)
        for e in try FileIO.list(requests) {
            try FileIO.writeAtomically(dst + "/" + e.name, try FileIO.read(requests + "/" + e.name, limit: 1 << 20), mode: 0o644)
        }
        return dst
    }

    /// The example policy with a change applied to its JSON.
    func policyVariant(_ name: String, _ change: (inout [(String, JSON)]) -> Void) throws -> String {
        guard case var .object(m) = try JSON.parse(try FileIO.read(example.policyPath, limit: 1 << 20)) else { fatalError() }
        change(&m)
        let path = dir + "/" + name
        try FileIO.writeAtomically(path, Array(JSON.object(m).serialized().utf8), mode: 0o644)
        return path
    }

    /// Every example secret value, as stored by the example (the clear value).
    func secretValues() throws -> [[UInt8]] {
        try FileIO.list(example.directory + "/values").map { try FileIO.read(example.directory + "/values/" + $0.name, limit: 1 << 20) }
    }

    func report() throws -> JSON { try JSON.parse(try FileIO.read(runDir + "/report.json", limit: 1 << 22)) }
}

extension JSON {
    var array: [JSON] { if case let .array(a) = self { return a } else { return [] } }
    var string: String? { if case let .string(s) = self { return s } else { return nil } }
}

func replacing(_ m: inout [(String, JSON)], _ key: String, _ value: JSON) {
    if let i = m.firstIndex(where: { $0.0 == key }) { m[i].1 = value } else { m.append((key, value)) }
}

/// True when `haystack` contains `needle` as bytes.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, needle.count <= haystack.count else { return false }
    for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
        if Array(haystack[i..<(i + needle.count)]) == needle { return true }
    }
    return false
}
