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

    var checkNs: [Double] = [], evalNs: [Double] = [], bareNs: [Double] = []
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
        bareNs.append(Double(bareCost(files, messages: messages, signatures: sigs, key: key, rsa: rsa)))
    }
    let count = Double(files.count)
    let perCheck = median(checkNs) / count / 1000
    let perEval = median(evalNs) / count / 1000
    let perBare = median(bareNs) / count / 1000
    func f(_ x: Double) -> String { String((x * 10).rounded() / 10) }
    print("check \(files.count) \(signerType.rawValue)-signed requests (median of \(rounds) rounds)")
    print("  read + evaluate  \(f(perCheck)) µs/request   (\(f(median(checkNs) / 1e6)) ms total)")
    print("  evaluate only    \(f(perEval)) µs/request")
    print("  bare libcrypto   \(f(perBare)) µs/request   (SHA-256 of the file + one signature verification)")
    print("  ratio            \(f(perCheck / perBare * 100) ) % → \(String((perCheck / perBare * 100).rounded() / 100)) (target < 1.5)")
    print("  peak RSS         \(peakRSSKiB()) KiB")
    print("RESULT check signer=\(signerType.rawValue) n=\(files.count) per_request_us=\(f(perCheck)) bare_us=\(f(perBare)) ratio=\(String((perCheck / perBare * 100).rounded() / 100))")
}

switch CommandLine.arguments.dropFirst().first {
case "check": try benchCheck()
default:
    print("usage: se-secretd-bench check [--requests N] [--rounds R] [--signer ec-p521|rsa-2048|rsa-3072]")
    exit(64)
}
