// Benchmarks for se-secretd. Run through benchmarks/run.sh (release build).
//
//   se-secretd-bench check [--requests N] [--rounds R] [--signer ec-p521|rsa-2048|rsa-3072]
//
// `check`: the cost of checking N signed requests from a directory (read,
// hash, parse, evaluate: what `se-secretd check` and the boot run do) next
// to the cost of the bare libcrypto operations that check needs (SHA-256 of
// each file and one signature verification over SHA-512), measured in the
// same run on the same requests.
import Glibc
import CLibcrypto
import SEBase
import SECrypto
import ASRCodec
import SecretPolicy
import SecretdCLI
import CCryptsetup
import SecretActions
import UVSimulator
import RequestBuilding
import Attestation
import SecretdWorkbench

func now() -> UInt64 { MonotonicClock.nanoseconds() }

func peakRSSKiB() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return u.ru_maxrss
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func arg(_ name: String, _ def: String) -> String {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: "--" + name), i + 1 < a.count { return a[i + 1] }
    return def
}

/// The bare operations: EVP one-shot SHA-256 of the file and EVP_DigestVerify
/// (SHA-512 + ECDSA or RSA-PSS) over the signed message, nothing else.
func bareCost(_ files: [[UInt8]], messages: [[UInt8]], signatures: [[UInt8]], key: PublicKey, rsa: Bool) -> UInt64 {
    let der = key.publicKeyDER
    let pkey: OpaquePointer = der.withUnsafeBufferPointer { b in
        var p: UnsafePointer<UInt8>? = b.baseAddress
        return d2i_PUBKEY(nil, &p, b.count)!
    }
    defer { EVP_PKEY_free(pkey) }
    var digest = [UInt8](repeating: 0, count: 32)
    var len: UInt32 = 0
    let start = now()
    for i in files.indices {
        files[i].withUnsafeBytes { _ = EVP_Digest($0.baseAddress, $0.count, &digest, &len, EVP_sha256(), nil) }
        let md = EVP_MD_CTX_new()
        var pctx: OpaquePointer? = nil
        EVP_DigestVerifyInit(md, &pctx, EVP_sha512(), nil, pkey)
        if rsa {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING)
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha512())
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO)
        }
        let ok = signatures[i].withUnsafeBufferPointer { s in
            messages[i].withUnsafeBufferPointer { m in EVP_DigestVerify(md, s.baseAddress, s.count, m.baseAddress, m.count) }
        }
        precondition(ok == 1, "bare verification failed")
        EVP_MD_CTX_free(md)
    }
    return now() - start
}

func benchCheck() throws {
    let n = Int(arg("requests", "250"))!
    let rounds = Int(arg("rounds", "7"))!
    let signerType = ExampleSet.SignerType(rawValue: arg("signer", "ec-p521"))!
    var t = Array("/tmp/se-secretd-bench-XXXXXX".utf8CString)
    let dir = String(cString: t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    var ex = ExampleSet()
    ex.signerType = signerType
    ex.extraSecrets = max(0, n - 6)   // the example has 6 requests of its own
    let w = try ex.write(to: dir + "/deploy")
    let policy = try Policy.load(path: w.policyPath)

    // Inputs for the bare operations, prepared outside the timed region.
    let set0 = try RequestSet.load(directory: w.requestDirectory, rules: policy.requests, includeEBC: false)
    let files = set0.requests.map(\.bytes)
    let parsed = try files.map { try AddSecretRequest.parse($0) }
    let messages = parsed.map { UserDataSignature.signedMessage($0.bytes, type: $0.userDataType) }
    let sigs = parsed.map(\.userData.signature)
    let key = policy.trust.signers[0].key
    let rsa = signerType != .ecP521

    var checkNs: [Double] = [], evalNs: [Double] = [], bareNs: [Double] = [], loadNs: [Double] = []
    for _ in 0..<rounds {
        var s = now()
        let set = try RequestSet.load(directory: w.requestDirectory, rules: policy.requests, includeEBC: false)
        let e = Evaluator(policy: policy).evaluate(set)
        let total = now() - s
        precondition(e.passed, "benchmark set does not pass: \(e.allProblems.prefix(3))")
        checkNs.append(Double(total))
        s = now()
        _ = Evaluator(policy: policy).evaluate(set)
        evalNs.append(Double(now() - s))
        s = now()
        _ = try RequestSet.load(directory: w.requestDirectory, rules: policy.requests, includeEBC: false)
        loadNs.append(Double(now() - s))
        bareNs.append(Double(bareCost(files, messages: messages, signatures: sigs, key: key, rsa: rsa)))
    }
    let count = Double(files.count)
    let perCheck = median(checkNs) / count / 1000
    let perEval = median(evalNs) / count / 1000
    let perBare = median(bareNs) / count / 1000
    // Ratios per round, then their median: the machine's speed drifts
    // between rounds (a shared VM), and each round times both sides within
    // a few milliseconds of each other.
    let ratio = median(zip(checkNs, bareNs).map { $0 / $1 })
    let evalRatio = median(zip(evalNs, bareNs).map { $0 / $1 })
    func f(_ x: Double) -> String { String((x * 10).rounded() / 10) }
    print("check \(files.count) \(signerType.rawValue)-signed requests (median of \(rounds) rounds)")
    print("  read + evaluate  \(f(perCheck)) µs/request   (\(f(median(checkNs) / 1e6)) ms total)")
    print("  evaluate only    \(f(perEval)) µs/request   (files already in memory)")
    print("  read only        \(f(median(loadNs) / count / 1000)) µs/request   (list, open, read, SHA-256)")
    print("  bare libcrypto   \(f(perBare)) µs/request   (SHA-256 of the file + one signature verification)")
    print("  ratio            \(String((ratio * 100).rounded() / 100)) (median of the rounds' ratios; target < 1.5)")
    print("  peak RSS         \(peakRSSKiB()) KiB")
    print("RESULT check signer=\(signerType.rawValue) n=\(files.count) per_request_us=\(f(perCheck)) eval_us=\(f(perEval)) bare_us=\(f(perBare)) ratio=\(String((ratio * 100).rounded() / 100)) eval_ratio=\(String((evalRatio * 100).rounded() / 100))")
}

/// Runs a program, returns (wall seconds, peak RSS KiB, exit status).
///
/// The peak RSS comes from GNU time, which forks a small child of its own:
/// a child spawned straight from this process would inherit this process's
/// high-water mark at exec (Linux records the old address space's peak in
/// ru_maxrss), and this process may have used far more memory.
func spawn(_ argv: [String]) -> (Double, Int, Int32) {
    let rssFile = "/tmp/se-secretd-bench-rss-\(getpid())"
    defer { unlink(rssFile) }
    let timed = FileIO.kind(of: "/usr/bin/time") == .regular
    let full = timed ? ["/usr/bin/time", "-f", "%M", "-o", rssFile] + argv : argv
    var pid: pid_t = 0
    var cargs = full.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    let devnull = open("/dev/null", O_WRONLY)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, devnull, 1)
    posix_spawn_file_actions_adddup2(&actions, devnull, 2)
    let t0 = now()
    guard posix_spawn(&pid, full[0], &actions, nil, &cargs, environ) == 0 else { fatalError("cannot run \(full[0])") }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let wall = Double(now() - t0) / 1e9
    posix_spawn_file_actions_destroy(&actions)
    close(devnull)
    var rss = -1
    if timed, let text = try? FileIO.read(rssFile, limit: 4096) {
        rss = Int(String(decoding: text, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "") ?? -1
    }
    return (wall, rss, (status >> 8) & 0xff)
}

/// The agent binary the child-process benchmarks run: $SE_SECRETD_BINARY
/// (benchmarks/run.sh sets it to the initramfs build, out/se-secretd), or
/// the se-secretd next to this benchmark binary.
func agentBinary() -> String {
    if let p = getenv("SE_SECRETD_BINARY") { return String(cString: p) }
    return String(CommandLine.arguments[0].dropLast("se-secretd-bench".count)) + "se-secretd"
}

/// The whole boot run on the simulator for N signed plaintext requests, as
/// a child process of the release binary (start-up included); next to the
/// time the ultravisor's own cryptography takes for the same requests
/// (keyslot ECDH + unwrap + AES-GCM decryption: RequestDecryption).
func benchBoot() throws {
    let counts = arg("requests", "1,16,64,250").split(separator: ",").map { Int($0)! }
    let rounds = Int(arg("rounds", "5"))!
    // --attest yes: the policy requires attestation and writes the results to a console file.
    let attest = arg("attest", "no") == "yes"
    let bin = agentBinary()
    // In the initramfs the run directory (and the simulator's state, standing
    // in for the ultravisor's memory) is on tmpfs: fsync is free there. On a
    // disk, the journal's and the simulator's fsyncs would dominate.
    var st = statvfs()
    let base = statvfs("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var t = Array("\(base)/se-secretd-bench-boot-XXXXXX".utf8CString)
    let dir = String(cString: t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    defer { _ = spawn(["/bin/rm", "-rf", dir]) }
    let host = try PrivateKey.generate(.ec(.p521))
    let tenant = try PrivateKey.generate(.ec(.p521))
    let tags = SEHeaderTags(pld: Random.bytes(64), ald: Random.bytes(64), tld: Random.bytes(64), tag: Random.bytes(16))
    print("boot run on the simulated ultravisor (release binary, median of \(rounds) rounds; files in \(base))")
    print("  requests   wall ms   ms/request   peak RSS KiB   UV crypto ms   UV crypto share")
    for n in counts {
        let set = dir + "/set-\(n)"
        mkdir(set, 0o755)
        mkdir(set + "/requests", 0o755)
        var secrets: [String] = []
        var requests: [AddSecretRequest] = []
        for i in 0..<n {
            let name = "secret-\(i)"
            var b = RequestBuilder(secret: .retrievable(.plain, id: Digest.sha256(Array(name.utf8)),
                                                        value: try SecretValue.plaintext(Random.secureBytes(48))),
                                   hostKeys: [host.publicKey], tags: tags)
            b.userData = .signed([], key: tenant)
            let bytes = try b.build()
            requests.append(try AddSecretRequest.parse(bytes))
            try FileIO.writeAtomically(set + "/requests/\(name).asr", bytes, mode: 0o644)
            secrets.append(#"{"name": "\#(name)", "type": "plain"}"#)
        }
        let signer = JSON.string(tenant.publicKey.publicKeyPEM).serialized(pretty: false)
        let attestation = attest ? #", "attestation": {"mode": "required"}, "results": {"console": true}"# : ""
        let policy = #"{"version": 1, "requests": {"max_requests": \#(n)}, "trust": {"signers": [{"name": "t", "key": \#(signer)}]}, "secrets": [\#(secrets.joined(separator: ","))]\#(attestation)}"#
        if attest {
            let built = try AttestationRequestBuilder(hostKeys: [host.publicKey], additionalData: [.secretStoreHash]).build()
            try FileIO.writeAtomically(set + "/requests/attestation-request.bin",
                                       try AttestationExchangeRequest(try AttestationRequest.parse(built.arcb)).bytes, mode: 0o644)
        }
        try FileIO.writeAtomically(set + "/policy.json", Array(policy.utf8), mode: 0o644)

        var walls: [Double] = [], rss: [Int] = [], crypto: [Double] = []
        var steps: [String: [Double]] = [:]
        for r in 0..<rounds {
            var options = SimulatorOptions()
            options.hostKey = Array(host.privateKeyPEM.utf8)
            options.imageTags = tags
            options.maxSecrets = max(256, 2 * n)
            options.maxRetrievableSecrets = max(192, n)
            let state = set + "/sim-\(r)"
            _ = try SimulatorStateDirectory.create(at: state, options: options)
            let console = set + "/console-\(r).log"
            try FileIO.writeAtomically(console, [], mode: 0o600)
            let (wall, maxrss, status) = spawn([bin, "boot", "-p", set + "/policy.json", "--uv-sim", state, "--sysfs", state + "/sysfs",
                                                "-r", set + "/requests", "--run-dir", set + "/run-\(r)", "--kmsg", "none",
                                                "--console", console])
            if status != 0 { print("boot failed with exit \(status), wall \(wall)"); exit(1) }
            walls.append(wall * 1000)
            rss.append(maxrss)
            if let report = try? JSON.parse(try FileIO.read(set + "/run-\(r)/report.json", limit: 1 << 24)),
               case let .object(timings)? = report["timings_ms"] {
                for (k, v) in timings { if case let .double(d) = v { steps[k, default: []].append(d) } }
            }
            let c0 = now()
            for req in requests { _ = try RequestDecryption.decrypt(req, hostKey: host) }
            crypto.append(Double(now() - c0) / 1e6)
        }
        let w = median(walls), c = median(crypto)
        func f(_ x: Double) -> String { String((x * 10).rounded() / 10) }
        print("  \(String(n).padding(8))   \(f(w).padding(7))   \(f(w / Double(n)).padding(10))   \(String(rss.max()!).padding(12))   \(f(c).padding(12))   \(f(c / w * 100))%")
        let stepText = ["probe", "fetch", "check", "submit", "lock", "verify", "attest"].compactMap { k in steps[k].map { "\(k) \(f(median($0)))" } }
        print("             steps (ms, from the report): " + stepText.joined(separator: ", "))
        let attestMS = steps["attest"].map { f(median($0)) } ?? "-"
        print("RESULT boot n=\(n) attest=\(attest ? "yes" : "no") attest_ms=\(attestMS) wall_ms=\(f(w)) per_request_ms=\(f(w / Double(n))) peak_rss_kib=\(rss.max()!) uv_crypto_ms=\(f(c)) uv_crypto_share_pct=\(f(c / w * 100))")
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

/// Process start-up: `se-secretd --version` (exec, runtime start, exit) and
/// start-up to the first ioctl and back (`se-secretd info` on a simulator,
/// which adds the simulator's state load to the ioctl).
func benchStartup() throws {
    let rounds = Int(arg("rounds", "20"))!
    let bin = agentBinary()
    var t = Array("/tmp/se-secretd-bench-start-XXXXXX".utf8CString)
    let dir = String(cString: t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    _ = try SimulatorStateDirectory.create(at: dir + "/sim", options: SimulatorOptions())
    func measure(_ argv: [String]) -> (Double, Int) {
        var walls: [Double] = [], rss = 0
        for _ in 0..<rounds {
            let (w, r, status) = spawn(argv)
            precondition(status == 0, "\(argv) failed")
            walls.append(w * 1000)
            rss = max(rss, r)
        }
        return (median(walls), rss)
    }
    let (v, vr) = measure([bin, "--version"])
    let (i, ir) = measure([bin, "info", "--uv-sim", dir + "/sim", "--sysfs", dir + "/sim/sysfs"])
    func f(_ x: Double) -> String { String((x * 100).rounded() / 100) }
    print("start-up (median of \(rounds))")
    print("  se-secretd --version      \(f(v)) ms, peak RSS \(vr) KiB")
    print("  se-secretd info (sim)     \(f(i)) ms, peak RSS \(ir) KiB   (start-up, INFO ioctl, sysfs, simulator state load)")
    print("RESULT startup version_ms=\(f(v)) version_rss_kib=\(vr) info_ms=\(f(i)) info_rss_kib=\(ir)")
}

/// LUKS2 unlock by volume key (no PBKDF) versus by passphrase through a
/// keyslot with libcryptsetup's default PBKDF (Debian 12: argon2id, 2 s
/// iteration time, up to 1 GiB), each in its own process so that the peak
/// memory is the unlock's own. Checked against the header (no activation).
func benchLUKS() throws {
    let rounds = Int(arg("rounds", "3"))!
    var t = Array("/tmp/se-secretd-bench-luks-XXXXXX".utf8CString)
    let dir = String(cString: t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    defer { for f in ["img", "vk", "pass"] { unlink(dir + "/" + f) }; rmdir(dir) }
    let image = dir + "/img"
    let fd = open(image, O_CREAT | O_WRONLY, 0o600)
    ftruncate(fd, 32 << 20)
    close(fd)
    var vk = Random.bytes(64)
    var pass = Array(Random.bytes(32).hex.utf8)
    defer { vk.wipe(); pass.wipe() }
    var cd: OpaquePointer? = nil
    precondition(crypt_init(&cd, image) == 0)
    let formatted = vk.withUnsafeBytes { v in
        crypt_format(cd, se_crypt_luks2, "aes", "xts-plain64", nil, v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, nil)
    }
    precondition(formatted == 0, "crypt_format failed")
    let slot = vk.withUnsafeBytes { v in pass.withUnsafeBytes { p in
        crypt_keyslot_add_by_volume_key(cd, se_crypt_any_slot, v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count,
                                        p.baseAddress?.assumingMemoryBound(to: CChar.self), p.count)
    } }
    precondition(slot >= 0, "keyslot add failed")
    var pbkdf = "?"
    if let p = crypt_get_pbkdf_type(cd), let type = p.pointee.type {
        pbkdf = "\(String(cString: type)), \(p.pointee.time_ms) ms, \(p.pointee.max_memory_kb) KiB max, \(p.pointee.parallel_threads) threads"
    }
    crypt_free(cd)
    try FileIO.writeAtomically(dir + "/vk", vk, mode: 0o600)
    try FileIO.writeAtomically(dir + "/pass", pass, mode: 0o600)
    let me = CommandLine.arguments[0]
    func measure(_ how: String) -> (Double, Int) {
        var walls: [Double] = [], rss = 0
        for _ in 0..<rounds {
            let (w, r, status) = spawn([me, "luks-open", how, image, dir + "/" + (how == "passphrase" ? "pass" : "vk")])
            precondition(status == 0, "luks-open \(how) failed")
            walls.append(w * 1000)
            rss = max(rss, r)
        }
        return (median(walls), rss)
    }
    let (vw, vr) = measure("volume-key")
    let (pw, pr) = measure("passphrase")
    func f(_ x: Double) -> String { String((x * 10).rounded() / 10) }
    print("LUKS2 unlock check (median of \(rounds), each in its own process); keyslot PBKDF: \(pbkdf)")
    print("  by volume key   \(f(vw)) ms, peak RSS \(vr) KiB")
    print("  by passphrase   \(f(pw)) ms, peak RSS \(pr) KiB")
    print("RESULT luks volume_key_ms=\(f(vw)) volume_key_rss_kib=\(vr) passphrase_ms=\(f(pw)) passphrase_rss_kib=\(pr) pbkdf=\"\(pbkdf)\"")
}

/// Child of benchLUKS: opens IMAGE with the key in FILE (no activation).
func luksOpen() throws {
    let a = CommandLine.arguments
    let volume = try LUKSVolume(path: a[3])
    var raw = try FileIO.read(a[4], limit: 4096)
    let key = SecureBytes(consuming: &raw)
    _ = try volume.activate(as: nil, key: a[2] == "passphrase" ? .passphrase(key) : .volumeKey(key))
}

switch CommandLine.arguments.dropFirst().first {
case "check": try benchCheck()
case "startup": try benchStartup()
case "luks": try benchLUKS()
case "luks-open": try luksOpen()
case "boot": try benchBoot()
default:
    print("usage: se-secretd-bench check [--requests N] [--rounds R] [--signer ec-p521|rsa-2048|rsa-3072]")
    print("       se-secretd-bench boot [--requests 1,16,64,250] [--rounds R]")
    print("       se-secretd-bench startup [--rounds R]")
    print("       se-secretd-bench luks [--rounds R]")
    exit(64)
}
