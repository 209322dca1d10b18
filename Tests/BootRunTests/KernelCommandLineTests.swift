import Testing
import BootRun

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

    @Test func quotedValuesAndTheLastOccurrence() {
        let c = KernelCommandLine("rd.se_secretd.uv_sim=\"/a b\" rd.se_secretd.timeout=5 rd.se_secretd.timeout=7")
        #expect(BootSwitches(c).uvSimulator == "/a b")
        #expect(BootSwitches(c).timeout == 7)
    }
}
