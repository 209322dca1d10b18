import SEBase

/// `se-secretd debug process`: what `ProcessHardening.apply()` achieved in
/// this process and what the kernel says now. Hidden: a diagnostic for
/// tests and for checking a boot environment.
enum HardeningCommands {
    static let all: [Command] = [process]

    static let process = Command(
        ["debug", "process"], summary: "Show this process's protections: dumpable flag, core limit, locked memory",
        options: NoOptions.self, hidden: true,
        discussion: """
        Every command starts by making the process non-dumpable, setting its core
        size limit to 0 and, where that is safe (CAP_IPC_LOCK or an unlimited
        RLIMIT_MEMLOCK), locking all of its memory against swapping. This prints
        what that achieved, as key: value lines.
        """
    ) { _, _, out in
        let s = ProcessHardening.status()
        out.line("applied: \(ProcessHardening.applied.map { "\($0)" } ?? "no")")
        out.line("dumpable: \(s.dumpable)")
        out.line("core-limit: \(s.coreSoftLimit) \(s.coreHardLimit)")
        out.line("locked-kib: \(s.lockedKiB.map(String.init) ?? "unknown")")
        out.line("all-memory-locked: \(ProcessHardening.allMemoryLocked)")
        return .ok
    }
}
