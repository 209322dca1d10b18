import Testing
import SEBase
import UVCommands
import BootRun
import SecretActions
@testable import SecretdCLI
@testable import SecretdWorkbench
import TestSupport

/// Parses `words` as a command declaring `options` (and --help, as every command does).
private func parse(_ words: [String], _ options: [OptionSpec], switches: BootSwitches = BootSwitches()) throws -> Arguments {
    var a = try Arguments.parse(words, options: options + [.flag("help", short: "h", "Show this help.")])
    a.switches = switches
    return a
}

/// The CLIError `body` throws: its exit code and message (nil, and an issue, when it throws none).
private func failure(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> (code: ExitCode, message: String)? {
    do {
        try body()
        Issue.record("no error thrown", sourceLocation: sourceLocation)
    } catch let e as CLIError {
        return (e.code, e.message)
    } catch {
        Issue.record("not a CLIError: \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// The usage message `body` throws.
private func usage(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    guard let f = failure(body, sourceLocation: sourceLocation) else { return nil }
    #expect(f.code == .usage, "\(f.message)", sourceLocation: sourceLocation)
    return f.message
}

private let specs: [OptionSpec] = [
    .value("policy", short: "p", "FILE", "policy"),
    .value("host-key-document", short: "k", "CERT", repeatable: true, "hkd"),
    .value("index", "N", "index"),
    .flag("json", "json"),
    .flag("quiet", short: "q", "quiet"),
]

@Suite struct ArgumentParserTests {
    @Test func theThreeSpellingsOfAValue() throws {
        #expect(try parse(["--policy=a.json"], specs).value("policy") == "a.json")
        #expect(try parse(["--policy", "a.json"], specs).value("policy") == "a.json")
        #expect(try parse(["-p", "a.json"], specs).value("policy") == "a.json")
        // Only the first '=' separates; an empty inline value is a value.
        #expect(try parse(["--policy=a=b"], specs).value("policy") == "a=b")
        #expect(try parse(["--policy="], specs).value("policy") == "")
        // A separate value may look like an option.
        #expect(try parse(["--policy", "--json"], specs).value("policy") == "--json")
        #expect(try parse(["--policy", "--json"], specs).flag("json") == false)
        #expect(try parse([], specs).value("policy") == nil)
    }

    @Test func flagsAndPositionalsInAnyOrder() throws {
        let a = try parse(["x", "--json", "y", "-q", "-p", "f", "z"], specs)
        #expect(a.positionals == ["x", "y", "z"])
        #expect(try a.flag("json"))
        #expect(try a.flag("quiet"))
        #expect(try a.value("policy") == "f")
        #expect(try parse(["x"], specs).flag("json") == false)
    }

    @Test func doubleDashEndsOptions() throws {
        let a = try parse(["-q", "--", "--json", "-p", "--"], specs)
        #expect(a.positionals == ["--json", "-p", "--"])
        #expect(try a.flag("json") == false)
        #expect(try a.flag("quiet"))
        #expect(try a.value("policy") == nil)
    }

    @Test func aLoneDashIsAPositional() throws {
        let a = try parse(["-", "--json", "-"], specs)
        #expect(a.positionals == ["-", "-"])
        #expect(try a.flag("json"))
    }

    @Test func unknownOptions() {
        #expect(usage { _ = try parse(["--polcy", "x"], specs) } == "unknown option --polcy (did you mean --policy?)")
        #expect(usage { _ = try parse(["--hostkey=x"], specs) } == "unknown option --hostkey (did you mean --host-key-document?)")
        #expect(usage { _ = try parse(["--zzz"], specs) } == "unknown option --zzz")
        #expect(usage { _ = try parse(["-x"], specs) } == "unknown option -x")
        // Short options do not combine.
        #expect(usage { _ = try parse(["-qp", "x"], specs) } == "unknown option -qp")
    }

    @Test func aFlagTakesNoValue() {
        #expect(usage { _ = try parse(["--json=yes"], specs) } == "--json takes no value")
        #expect(usage { _ = try parse(["--quiet="], specs) } == "--quiet takes no value")
    }

    @Test func aValueOptionNeedsItsValue() {
        #expect(usage { _ = try parse(["--policy"], specs) } == "--policy needs a value (FILE)")
        #expect(usage { _ = try parse(["x", "-k"], specs) } == "--host-key-document needs a value (CERT)")
    }

    @Test func aNonRepeatableOptionOnce() {
        #expect(usage { _ = try parse(["-p", "a", "--policy=b"], specs) } == "--policy given more than once")
        #expect(usage { _ = try parse(["--index", "1", "--index", "1"], specs) } == "--index given more than once")
    }

    @Test func aRepeatableOptionKeepsItsOrder() throws {
        let a = try parse(["-k", "c", "--host-key-document=a", "x", "--host-key-document", "b", "-k", "c"], specs)
        #expect(try a.values("host-key-document") == ["c", "a", "b", "c"])
        #expect(try a.value("host-key-document") == "c")
        #expect(try parse([], specs).values("host-key-document") == [])
    }

    @Test func numbersInTheirRange() throws {
        #expect(try parse(["--index", "3"], specs).int("index", range: 0...0xFFFF) == 3)
        #expect(try parse(["--index=0"], specs).int("index", range: 0...0xFFFF) == 0)
        #expect(try parse([], specs).int("index", range: 0...0xFFFF) == nil)
        #expect(usage { _ = try parse(["--index", "65536"], specs).int("index", range: 0...0xFFFF) }
                == "--index takes a number from 0 to 65535, not \"65536\"")
        #expect(usage { _ = try parse(["--index", "-1"], specs).int("index", range: 0...0xFFFF) }
                == "--index takes a number from 0 to 65535, not \"-1\"")
        #expect(usage { _ = try parse(["--index", "3x"], specs).int("index", range: 1...9) }
                == "--index takes a number from 1 to 9, not \"3x\"")
        #expect(usage { _ = try parse(["--index="], specs).int("index", range: 1...9) }
                == "--index takes a number from 1 to 9, not \"\"")
    }

    @Test func requiredValues() throws {
        #expect(try parse(["-p", "x"], specs).require("policy") == "x")
        #expect(usage { _ = try parse([], specs).require("policy") } == "missing required option --policy")
    }

    @Test func readingAnUndeclaredOptionIsABug() {
        let a: Arguments
        do { a = try parse(["--json"], specs) } catch { Issue.record("\(error)"); return }
        for read in [{ _ = try a.value("polcy") }, { _ = try a.flag("jsn") }, { _ = try a.values("uv") },
                     { _ = try a.int("timeout", range: 0...1) }, { _ = try a.require("state") }] as [() throws -> Void] {
            let f = failure(read)
            #expect(f?.code == .software)
            #expect(f?.message.hasSuffix(" is read but not declared by this command (a bug)") == true, "\(f?.message ?? "")")
        }
        #expect(failure { _ = try a.value("polcy") }?.message == "option --polcy is read but not declared by this command (a bug)")
        #expect(a.declares("json") && a.declares("help") && !a.declares("uv"))
    }

    @Test func positionalCountsAreCheckedPerCommand() {
        let r = cli("retrieve", "a", "b")
        #expect(r.code == 64)
        #expect(r.err.contains("se-secretd-dev retrieve: expected [NAME|ID], got 2 argument(s)\n"), "\(r.err)")
        let i = cli("inspect")
        #expect(i.code == 64)
        #expect(i.err.contains("se-secretd-dev inspect: expected FILE..., got 0 argument(s)\n"), "\(i.err)")
        let l = cli("lock", "extra")
        #expect(l.code == 64)
        #expect(l.err.contains("se-secretd-dev lock: expected no arguments, got 1 argument(s)\n"), "\(l.err)")
        // `--` makes an option-looking word a positional, which counts.
        #expect(cli("lock", "--", "--json").err.contains("expected no arguments, got 1 argument(s)"))
    }
}

/// Declares --json but builds the backend options.
private struct Mismatched: OptionGroup {
    static let options = [JSONOption.spec()]
    init(_ args: Arguments) throws { _ = try BackendOptions(args) }
}

/// Every command's option groups read only options the command declares:
/// each is built on an empty argument list, where no group has cause to
/// fail but for a missing required option (each reads all its options first).
@Suite struct CommandOptionDeclarationTests {
    @Test func everyCommandReadsOnlyWhatItDeclares() throws {
        let commands = Workbench.edition.commands
        #expect(commands.count >= 20)
        for c in commands {
            let args = try Arguments.parse([], options: c.options)
            do { try c.readOptions(args) } catch let e as CLIError {
                #expect(e.code == .usage, "\(c.name): \(e.message)")
                #expect(e.message.hasPrefix("missing required option --") || e.message == "give either NAME|ID or --index N",
                        "\(c.name): \(e.message)")
            }
        }
    }

    @Test func noCommandDeclaresAnOptionTwice() {
        for c in Workbench.edition.commands {
            let longs = c.options.map(\.long), shorts = c.options.compactMap(\.short)
            #expect(Set(longs).count == longs.count, "\(c.name): \(longs)")
            #expect(Set(shorts).count == shorts.count, "\(c.name): \(shorts)")
        }
    }

    /// A group its command did not declare is caught (the check above can fail).
    @Test func aGroupTheCommandDidNotDeclareIsCaught() throws {
        let c = Command(["x"], summary: "x", options: Mismatched.self, discussion: "x") { _, _, _ in .ok }
        let f = failure { try c.readOptions(try Arguments.parse([], options: c.options)) }
        #expect(f?.code == .software)
        #expect(f?.message == "option --uv is read but not declared by this command (a bug)")
    }
}

@Suite struct OptionGroupTests {
    @Test func backendFromOptionsOrTheKernelCommandLine() throws {
        var sw = BootSwitches()
        sw.uvSimulator = "/run/sim"
        let b = BackendOptions.options
        // Nothing given: rd.se_secretd.uv_sim= and its sysfs tree.
        let k = try BackendOptions(parse([], b, switches: sw))
        #expect(k.backend == .simulator("/run/sim"))
        #expect(k.sysfs.root == "/run/sim/sysfs")
        sw.sysfs = "/run/other"
        #expect(try BackendOptions(parse([], b, switches: sw)).sysfs.root == "/run/other")
        #expect(try BackendOptions(parse(["--sysfs", "/x"], b, switches: sw)).sysfs.root == "/x")
        // --uv or --uv-sim choose, and the switches' sysfs no longer applies.
        let d = try BackendOptions(parse(["--uv", "/dev/uv2"], b, switches: sw))
        #expect(d.backend == .device("/dev/uv2"))
        #expect(d.sysfs.root == "/sys")
        let s = try BackendOptions(parse(["--uv-sim", "/s", "--sysfs", "/s/sysfs"], b, switches: sw))
        #expect(s.backend == .simulator("/s"))
        #expect(s.sysfs.root == "/s/sysfs")
        // Neither: /dev/uv and /sys.
        let n = try BackendOptions(parse([], b))
        #expect(n.backend == .device("/dev/uv"))
        #expect(n.sysfs.root == "/sys")
        #expect(usage { _ = try BackendOptions(parse(["--uv", "/dev/uv", "--uv-sim", "/s"], b)) }
                == "--uv and --uv-sim exclude each other")
        // A command without backend options follows the kernel command line only.
        sw.sysfs = nil
        let r = BackendOptions(kernelCommandLine: try parse([], [], switches: sw))
        #expect(r.backend == .simulator("/run/sim"))
        #expect(r.sysfs.root == "/run/sim/sysfs")
    }

    @Test func theBackendConflictFromTheCommandLine() {
        for command in ["info", "list", "add", "lock", "retrieve", "boot", "unlock", "install", "keyscript"] {
            var words = [command, "--uv", "/dev/null", "--uv-sim", "/nonexistent"]
            if command == "add" || command == "retrieve" { words.append("x") }
            let r = cli(words)
            #expect(r.code == 64, "\(command): \(r.err)")
            #expect(r.err == "se-secretd-dev \(command): --uv and --uv-sim exclude each other\nRun `se-secretd-dev \(command) --help` for usage.\n")
        }
    }

    @Test func thePolicyOptionAndItsFallbacks() throws {
        var sw = BootSwitches()
        let o = [PolicyOption.spec("p")]
        #expect(try PolicyOption(parse([], o)).path(sw) == "/etc/se-secretd/policy.json")
        sw.policy = "/etc/p.json"
        #expect(try PolicyOption(parse([], o)).path(sw) == "/etc/p.json")
        #expect(try PolicyOption(parse(["-p", "/x.json"], o)).path(sw) == "/x.json")
        #expect(usage { _ = try PolicyOption(parse([], o)).required() } == "missing required option --policy")
        #expect(try RunDirectoryOption(parse([], [RunDirectoryOption.spec("r")])).path == "/run/se-secretd")
    }

    @Test func retrieveTakesANameOrAnIndex() throws {
        let o = RetrieveOptions.options
        #expect(try RetrieveOptions(parse(["luks"], o)).selector() == .name("luks"))
        #expect(try RetrieveOptions(parse(["--index", "7"], o)).selector() == .index(7))
        #expect(usage { _ = try RetrieveOptions(parse(["luks", "--index", "7"], o)) } == "give either NAME|ID or --index N")
        #expect(usage { _ = try RetrieveOptions(parse([], o)) } == "give either NAME|ID or --index N")
        #expect(usage { _ = try RetrieveOptions(parse(["--index", "65536"], o)) } == "--index takes a number from 0 to 65535, not \"65536\"")
        let r = try RetrieveOptions(parse(["x", "-o", "/out", "-p", "/p.json"], o))
        #expect(r.output == "/out")
        #expect(r.policy == "/p.json")
        #expect(r.outform == .pem && r.inform == nil)
    }

    @Test func retrieveTakesPvsecretsInformAndOutform() throws {
        let o = RetrieveOptions.options
        let id = "8b5f90d449a2e8af90a415220e71ce7fa95e5813335b9992efaccbf9542443d1"
        let idBytes = try #require([UInt8](hex: id))
        // Without --inform, 64 hex digits are an ID with or without 0x (0x… was taken for a name).
        #expect(try RetrieveOptions(parse(["0x" + id], o)).selector() == .id(idBytes))
        #expect(try RetrieveOptions(parse(["0X" + id.uppercased()], o)).selector() == .id(idBytes))
        #expect(try RetrieveOptions(parse([id], o)).selector() == .id(idBytes))
        #expect(try RetrieveOptions(parse(["0x" + id.dropLast()], o)).selector() == .name("0x" + id.dropLast()))
        // --inform name: always a name, even when it looks like an ID.
        #expect(try RetrieveOptions(parse(["--inform", "name", "0x" + id], o)).selector() == .name("0x" + id))
        #expect(try RetrieveOptions(parse(["--inform", "hex", "0x" + id], o)).selector() == .id(idBytes))
        #expect(try RetrieveOptions(parse(["--inform", "hex", id], o)).selector() == .id(idBytes))
        #expect(try RetrieveOptions(parse(["--inform", "idx", "12"], o)).selector() == .index(12))
        #expect(try RetrieveOptions(parse(["--inform", "idx", "--index", "12"], o)).selector() == .index(12))
        // Malformed arguments are usage errors that do not echo the argument.
        #expect(usage { _ = try RetrieveOptions(parse(["--inform", "hex", "0x" + id.dropLast()], o)).selector() }
                == "--inform hex takes a secret ID of 64 hex digits (0x optional); the argument has 65 characters")
        #expect(usage { _ = try RetrieveOptions(parse(["--inform", "hex", "my-secret"], o)).selector() }
                == "--inform hex takes a secret ID of 64 hex digits (0x optional); the argument has 9 characters and not only hex digits")
        #expect(usage { _ = try RetrieveOptions(parse(["--inform", "hex", "0x" + id.dropLast(2) + "zz"], o)).selector() }
                == "--inform hex takes a secret ID of 64 hex digits (0x optional); the argument has 66 characters and not only hex digits")
        for bad in ["-1", "65536", "3x", "", "+3"] {
            #expect(usage { _ = try RetrieveOptions(parse(["--inform", "idx", "--", bad], o)).selector() }
                    == "--inform idx takes a list index from 0 to 65535 (base 10), not \"\(bad)\"")
        }
        #expect(usage { _ = try RetrieveOptions(parse(["--inform", "file", "x"], o)) } == "--inform takes name, hex, idx or yaml, not \"file\"")
        #expect(usage { _ = try RetrieveOptions(parse(["--inform", "hex", "--index", "1"], o)) } == "--index N is --inform idx; it excludes --inform hex")
        #expect(try RetrieveOptions(parse(["x", "--outform", "bin"], o)).outform == .bin)
        #expect(try RetrieveOptions(parse(["x", "--outform", "pem"], o)).outform == .pem)
        #expect(usage { _ = try RetrieveOptions(parse(["x", "--outform", "der"], o)) } == "--outform takes pem or bin, not \"der\"")
    }

    @Test func listTakesPvsecretsFormatOrJSON() throws {
        let o = ListOptions.options
        #expect(try ListOptions(parse([], o)).format == .human)
        for f in ["human", "yaml", "json", "bin"] {
            #expect(try ListOptions(parse(["--format", f], o)).format.rawValue == f)
        }
        #expect(try ListOptions(parse(["--json"], o)).format == .seSecretdJSON)
        #expect(usage { _ = try ListOptions(parse(["--json", "--format", "json"], o)) }
                == "--json and --format exclude each other (--json is se-secretd's report, --format json pvsecret's shape)")
        for bad in ["text", "--json", "YAML"] {
            #expect(usage { _ = try ListOptions(parse(["--format=" + bad], o)) } == "--format takes human, yaml, json or bin, not \"\(bad)\"")
        }
        #expect(try ListOptions(parse(["-o", "/l.bin"], o)).output == "/l.bin")
    }

    @Test func checkNeedsAPolicyAndRequests() throws {
        let o = CheckOptions.options
        #expect(usage { _ = try CheckOptions(parse(["-r", "d"], o)) } == "missing required option --policy")
        #expect(usage { _ = try CheckOptions(parse(["-p", "p"], o)) } == "missing required option --requests")
        let c = try CheckOptions(parse(["-p", "p", "-r", "d", "-k", "a", "--host-key-hash", "h", "-k", "b", "-q"], o))
        #expect(c.policy == "p" && c.requests == "d")
        #expect(c.hostKeyDocuments == ["a", "b"] && c.hostKeyHashes == ["h"])
        #expect(c.quiet && !c.json)
    }

    @Test func bootOptions() throws {
        let o = BootOptions.options
        let d = try BootOptions(parse([], o))
        #expect(d.kmsg == "/dev/kmsg" && d.timeout == nil && d.requests == nil && !d.debug && !d.json)
        #expect(d.runDirectory == "/run/se-secretd")
        let b = try BootOptions(parse(["--kmsg", "none", "--timeout", "2.5", "-r", "/req", "--debug", "--run-dir", "/r"], o))
        #expect(b.kmsg == nil && b.timeout == 2.5 && b.requests == "/req" && b.debug && b.runDirectory == "/r")
        #expect(usage { _ = try BootOptions(parse(["--timeout", "abc"], o)) } == "--timeout takes seconds from 0 to 3600")
        #expect(usage { _ = try BootOptions(parse(["--timeout", "3600.5"], o)) } == "--timeout takes seconds from 0 to 3600")
    }

    @Test func thePhaseEnvironment() throws {
        let u = try PhaseOptions(parse(["--root", "/r", "--key-file-dir", "/k", "--device", "LABEL=root=/tmp/root.img",
                                        "--device", "/dev/vdb=/tmp/b.img", "--device-timeout", "5", "--check-only",
                                        "--no-tmpfs-check", "--run-dir", "/run/x", "--json"], UnlockOptions.options), phase: .unlock)
        let e = u.environment
        #expect(e.root == "/r" && e.keyFileDirectory == "/k" && e.runDirectory == "/run/x")
        #expect(e.deviceOverrides == ["LABEL=root": "/tmp/root.img", "/dev/vdb": "/tmp/b.img"])
        #expect(e.deviceTimeout == 5 && e.checkOnly && !e.requireMemoryFileSystem && u.json)
        let d = try PhaseOptions(parse([], UnlockOptions.options), phase: .unlock).environment
        #expect(d.root == "/sysroot" && d.deviceTimeout == 30 && !d.checkOnly && d.requireMemoryFileSystem && d.deviceOverrides.isEmpty)
        #expect(d.runDirectory == "/run/se-secretd")
        #expect(usage { _ = try PhaseOptions(parse(["--device", "root=/x"], UnlockOptions.options), phase: .unlock) }
                == "--device takes SPEC=/PATH with SPEC as in the policy (LABEL=, UUID=, PARTLABEL=, PARTUUID= or a /dev path), e.g. LABEL=root=/tmp/root.img, not \"root=/x\"")
        #expect(usage { _ = try PhaseOptions(parse(["--device-timeout", "3601"], UnlockOptions.options), phase: .unlock) }
                == "--device-timeout takes a number from 0 to 3600, not \"3601\"")
        #expect(usage { _ = try PhaseOptions(parse(["--root", "sysroot"], UnlockOptions.options), phase: .unlock) }
                == "--root takes an absolute path, not \"sysroot\"")
        #expect(usage { _ = try PhaseOptions(parse(["--credentials-dir", "c"], InstallOptions.options), phase: .install) }
                == "--credentials-dir takes an absolute path, not \"c\"")
        #expect(usage { _ = try PhaseOptions(parse(["--key-file-dir", "k"], RemoveKeyFilesOptions.options), phase: .cleanup) }
                == "--key-file-dir takes an absolute path, not \"k\"")
        let i = try PhaseOptions(parse(["--credentials-dir", "/c", "--root", "/root"], InstallOptions.options), phase: .install)
        #expect(i.environment.credentialDirectory == "/c" && i.environment.root == "/root")
        // The phases declare different options; the parser refuses another phase's.
        #expect(usage { _ = try parse(["--device", "LABEL=a=/b"], InstallOptions.options) } == "unknown option --device")
        #expect(usage { _ = try parse(["--uv-sim", "/s"], RemoveKeyFilesOptions.options) } == "unknown option --uv-sim")
        // remove-key-files has no backend options: the kernel command line's.
        var sw = BootSwitches()
        sw.uvSimulator = "/sim"
        #expect(try PhaseOptions(parse([], RemoveKeyFilesOptions.options, switches: sw), phase: .cleanup).backend.backend == .simulator("/sim"))
    }

    @Test func keyscriptOptions() throws {
        let k = try KeyscriptOptions(parse(["--volume", "root", "--force", "--run-dir", "/r"], KeyscriptOptions.options))
        #expect(k.volume == "root" && k.force && k.runDirectory == "/r")
        let d = try KeyscriptOptions(parse([], KeyscriptOptions.options))
        #expect(d.volume == nil && !d.force && d.runDirectory == "/run/se-secretd")
    }

    @Test func policyInitOptions() throws {
        let o = InitOptions.options
        #expect(usage { _ = try InitOptions(parse([], o)) } == "missing required option --requests")
        #expect(usage { _ = try InitOptions(parse(["-r", "d", "-s", "key.pem"], o)) } == "--signer takes NAME=FILE, not \"key.pem\"")
        #expect(usage { _ = try InitOptions(parse(["-r", "d", "-s", "=key.pem"], o)) } == "--signer takes NAME=FILE, not \"=key.pem\"")
        #expect(usage { _ = try InitOptions(parse(["-r", "d", "--raw-name", String(repeating: "n", count: 32)], o)) }
                == "--raw-name takes 1 to 31 bytes")
        let i = try InitOptions(parse(["-r", "d", "-s", "a=x=y.pem", "-s", "b=z.pem", "-n", "one", "-n", "two", "--raw-name", "r"], o))
        #expect(i.signers.map(\.name) == ["a", "b"] && i.signers.map(\.path) == ["x=y.pem", "z.pem"])
        #expect(i.names == ["one", "two"] && i.rawNames.map(\.1) == ["r"])
        #expect(i.volume == "LABEL=SE-SECRETS" && i.directory == nil && i.output == nil && !i.force)
    }

    @Test func createRequestOptions() throws {
        let o = CreateRequestOptions.options
        #expect(usage { _ = try CreateRequestOptions(parse([], o)) } == "missing required option --state")
        #expect(usage { _ = try CreateRequestOptions(parse(["-s", "s"], o)) } == "missing required option --type")
        #expect(usage { _ = try CreateRequestOptions(parse(["-s", "s", "-t", "meta"], o)) } == "missing required option --output")
        let base = ["-s", "s", "-o", "out"]
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "aes-gcm"], o)) }
                == "unknown --type aes-gcm (one of: plain, aes, aes-xts, hmac-sha-256, hmac-sha-512, ec, association, meta, update-cck)")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "plain"], o)) } == "--type plain needs --value-file")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "update-cck"], o)) } == "--type update-cck needs --value-file")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "meta", "--value-file", "v"], o)) } == "a meta request carries no value")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "meta", "--extension-secret", "e", "--cck", "c"], o)) }
                == "--extension-secret and --cck exclude each other")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "meta", "--bind-cuid", "--cuid", "00"], o)) }
                == "--bind-cuid and --cuid exclude each other")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "meta", "--cuid", "00"], o)) }
                == "--cuid takes 32 hex digits (16 bytes), not \"00\"")
        #expect(usage { _ = try CreateRequestOptions(parse(base + ["-t", "meta", "--epoch", "9223372036854775808"], o)) }
                == "--epoch takes a decimal number from 0 to 9223372036854775807, not \"9223372036854775808\"")
        let a = try CreateRequestOptions(parse(base + ["-t", "association", "-n", "x", "--cck", "c", "--bind-cuid", "--epoch", "3"], o))
        #expect(a.kind == .association && a.valueFile == nil && a.name == "x" && a.epoch == 3 && a.output == "out" && a.state == "s")
        guard case .cck("c")? = a.extensionSecret, case .simulator? = a.configUID else {
            Issue.record("extension secret or CUID binding not as given"); return
        }
    }

    @Test func simInitOptions() throws {
        let o = SimInitOptions.options
        #expect(usage { _ = try SimInitOptions(parse([], o)) } == "missing required option --state")
        let s = ["-s", "/tmp/x"]
        #expect(usage { _ = try SimInitOptions(parse(s + ["--kernel", "6.1"], o)) } == "--kernel takes 5.19, 6.5, 6.13, not \"6.1\"")
        #expect(usage { _ = try SimInitOptions(parse(s + ["--max-secrets", "65536"], o)) } == "--max-secrets takes a number from 0 to 65535, not \"65536\"")
        #expect(usage { _ = try SimInitOptions(parse(s + ["--config-uid", "zz"], o)) } == "--config-uid takes 32 hex digits (16 bytes), not \"zz\"")
        #expect(usage { _ = try SimInitOptions(parse(s + ["--secret-types", "plain,nope"], o)) }?.hasPrefix("unknown secret type \"nope\" (one of: ") == true)
        let i = try SimInitOptions(parse(s + ["--kernel", "6.5", "--secret-types", "plain", "--max-assoc-secrets", "2", "--cck-update"], o))
        #expect(i.kernel == .linux6_5 && i.secretTypes == [.plain] && i.maxAssociationSecrets == 2 && i.maxSecrets == nil && i.cckUpdate)
    }

    @Test func simFaultOptions() throws {
        let o = SimFaultOptions.options
        #expect(usage { _ = try SimFaultOptions(parse([], o)) } == "missing required option --state")
        #expect(usage { _ = try SimFaultOptions(parse(["-s", "d", "--errno", "ADD_SECRET:5"], o)) }
                == "--errno takes IOCTL:ERRNO:COUNT, e.g. ADD_SECRET:5:1, not \"ADD_SECRET:5\"")
        #expect(usage { _ = try SimFaultOptions(parse(["-s", "d", "--store-full", "yes"], o)) } == "--store-full takes on or off")
        let f = try SimFaultOptions(parse(["-s", "d", "--errno", "ADD_SECRET:5:1", "--errno", "LIST_SECRETS:12:2", "--store-full", "off",
                                           "--dump-in-progress", "3"], o))
        #expect(f.errnoFaults.map(\.errno) == [5, 12] && f.errnoFaults.map(\.count) == [1, 2])
        #expect(f.storeFull == false && f.dumpInProgress == 3 && !f.clear)
    }

    @Test func exampleOptions() throws {
        let o = ExampleOptions.options
        let d = try ExampleOptions(parse([], o))
        #expect(d.extra == 0 && d.signerType == nil && d.epoch == nil && d.minEpoch == nil && !d.force)
        #expect(try ExampleOptions(parse(["--min-epoch", "none"], o)).minEpoch == .some(nil))
        #expect(try ExampleOptions(parse(["--min-epoch", "4", "--signer-type", "rsa-2048"], o)).minEpoch == 4)
        #expect(usage { _ = try ExampleOptions(parse(["--signer-type", "ed25519"], o)) } == "--signer-type is ec-p521, rsa-2048 or rsa-3072")
        #expect(usage { _ = try ExampleOptions(parse(["--min-epoch", "-1"], o)) } == "--min-epoch takes a number from 0 to 2^63-1, or none")
        #expect(usage { _ = try ExampleOptions(parse(["--extra", "4001"], o)) } == "--extra takes a number from 0 to 4000, not \"4001\"")
    }
}
