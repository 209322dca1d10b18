import Foundation
import Testing
import BootRun
import SecretdCLI
import SecretdWorkbench

/// The rd.se_secretd.* switches, including the simulator switches the boot
/// tests use (rd.se_secretd.uv_sim=, rd.se_secretd.sysfs=).
@Suite struct KernelCommandLineTests {
    @Test func switchesAreReadFromTheCommandLine() {
        let s = BootSwitches(KernelCommandLine(
            "console=ttyS0 root=/dev/mapper/root ro rd.se_secretd.policy=/etc/p.json rd.se_secretd.timeout=30 rd.se_secretd.debug rd.se_secretd.uv_sim=/etc/se-secretd/sim\n"))
        #expect(s.policy == "/etc/p.json")
        #expect(s.timeout == 30)
        #expect(s.debug)
        #expect(s.uvSimulator == "/etc/se-secretd/sim")
        #expect(s.sysfs == nil)
        #expect(s.effectiveSysfs == "/etc/se-secretd/sim/sysfs")
    }

    @Test func explicitSysfsWinsAndEmptyValuesAreIgnored() {
        let s = BootSwitches(KernelCommandLine("rd.se_secretd.uv_sim=/s rd.se_secretd.sysfs=/t rd.se_secretd.policy="))
        #expect(s.effectiveSysfs == "/t")
        #expect(s.policy == nil)
        let none = BootSwitches(KernelCommandLine("quiet splash"))
        #expect(none.uvSimulator == nil && none.effectiveSysfs == nil)
        #expect(BootSwitches.current("/nonexistent/cmdline") == BootSwitches())
    }

    /// `boot --cmdline FILE` takes every switch from FILE, the simulator's
    /// too (it used to read those from /proc/cmdline and so went to /dev/uv).
    @Test func bootTakesTheSimulatorSwitchesFromItsCmdlineFile() throws {
        let g = try Guest("cmdline-file")
        let cmdline = g.dir + "/cmdline"
        try Data("console=ttyS0 rd.se_secretd.uv_sim=\(g.sim.path) rd.se_secretd.requests=\(g.requests) rd.se_secretd.policy=\(g.example.policyPath)\n".utf8)
            .write(to: URL(fileURLWithPath: cmdline))
        final class Box: @unchecked Sendable { var err = "" }
        let box = Box()
        let code = CLI.run(["boot", "--cmdline", cmdline, "--run-dir", g.runDir, "--kmsg", "none"],
                           output: Output(out: { _ in }, err: { box.err += $0 }), edition: Workbench.edition)
        #expect(code == 0, "\(box.err)")
        let state = try g.state()
        #expect(state.isLocked && !state.store.isEmpty, "the simulator named in the file holds the secrets, locked")
        // An unreadable --cmdline is an input error, not a silent /proc/cmdline.
        #expect(CLI.run(["boot", "--cmdline", g.dir + "/missing", "--kmsg", "none"], output: Output(out: { _ in }, err: { _ in }),
                        edition: Workbench.edition) == 66)
    }

    @Test func quotedValuesAndTheLastOccurrence() {
        let c = KernelCommandLine("rd.se_secretd.uv_sim=\"/a b\" rd.se_secretd.timeout=5 rd.se_secretd.timeout=7")
        #expect(BootSwitches(c).uvSimulator == "/a b")
        #expect(BootSwitches(c).timeout == 7)
    }
}
