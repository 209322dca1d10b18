#!/usr/bin/env bash
# Runs se-secretd's benchmarks on a release build and prints the results in
# the format of benchmarks/results.md. Not part of the test suite: numbers
# depend on the machine. Usage: benchmarks/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

rounds=7
check_rounds=15
[ "${1:-}" = "--quick" ] && rounds=3 && check_rounds=5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "==> building (release, as for the initramfs: scripts/build-release.sh)" >&2
size_table=$(bash scripts/build-release.sh)
swift build -c release --product se-secretd-bench >&2
bindir=$(swift build -c release --show-bin-path)
# The child-process benchmarks (boot, start-up) run the initramfs binary.
export SE_SECRETD_BINARY="$PWD/out/se-secretd"

echo "## Machine"
echo
echo "- $(date -u +%Y-%m-%d), $(uname -m), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "- CPU: $(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)"
echo "- $(swift --version 2>&1 | head -n 1); $(openssl version)"
echo

echo "## Binary size"
echo
echo "$size_table"
echo

echo "## check: 250 signed requests against the bare libcrypto operations"
echo
echo "Per request: read + hash + parse + evaluate (what \`se-secretd check\` and the boot run do) next to"
echo "SHA-256 of the file plus one signature verification with EVP calls only, same requests, same run;"
echo "times: median of $check_rounds rounds; ratios: median of the $check_rounds rounds' own ratios (each round"
echo "times both sides within milliseconds, so the drift of a shared machine's speed cancels)."
echo
echo "| signer | read + evaluate µs/request | evaluate only µs/request | bare libcrypto µs/request | ratio read+evaluate / bare (target < 1.5) | ratio evaluate / bare |"
echo "|---|---|---|---|---|---|"
for s in ec-p521 rsa-2048 rsa-3072; do
    line=$("$bindir/se-secretd-bench" check --signer "$s" --rounds "$check_rounds" | grep '^RESULT')
    per=$(sed -E 's/.*per_request_us=([0-9.]+).*/\1/' <<<"$line")
    bare=$(sed -E 's/.*bare_us=([0-9.]+).*/\1/' <<<"$line")
    ev=$(sed -E 's/.*eval_us=([0-9.]+).*/\1/' <<<"$line")
    ratio=$(sed -E 's/.* ratio=([0-9.]+).*/\1/' <<<"$line")
    eratio=$(sed -E 's/.*eval_ratio=([0-9.]+).*/\1/' <<<"$line")
    echo "| $s | $per | $ev | $bare | $ratio | $eratio |"
done

echo
echo "## boot: the whole boot run on the simulated ultravisor"
echo
echo "The release binary run as a child process (start-up included), median of $rounds rounds; peak RSS is"
echo "the child's own. \"UV crypto\" is the time the ultravisor's own work takes for the same requests"
echo "(keyslot ECDH, key unwrap, AES-GCM decryption), measured in the same run."
echo
echo "| requests | wall ms | ms/request | peak RSS KiB | UV crypto ms | UV crypto share | steps (ms) |"
echo "|---|---|---|---|---|---|---|"
"$bindir/se-secretd-bench" boot --rounds "$rounds" > "$tmp/boot.txt"
while read -r line; do
    case "$line" in
        RESULT*)
            kv() { sed -E "s/.*$1=([0-9.]+).*/\\1/" <<<"$line"; }
            echo "| $(kv n) | $(kv wall_ms) | $(kv per_request_ms) | $(kv peak_rss_kib) | $(kv uv_crypto_ms) | $(kv uv_crypto_share_pct) % | $steps |" ;;
        *"steps (ms"*) steps=$(sed -E 's/.*report\): //' <<<"$line") ;;
    esac
done < <(awk '/steps \(ms/ {s=$0; next} /^RESULT/ {print s; print $0}' "$tmp/boot.txt")

echo
echo "## attestation: what attesting and handing the results out cost a boot"
echo
echo "The same boot run with the policy's attestation required and the results on a console file (facts,"
echo "ATT on the simulated ultravisor: keyslot ECDH, GCM, HMAC-SHA512; the response; the record and its"
echo "SESD-RESULT lines), against the run without; median of $rounds rounds."
echo
echo "| requests | attest step ms | wall ms with attestation | wall ms without |"
echo "|---|---|---|---|"
for n in 1 16 64; do
    with=$("$bindir/se-secretd-bench" boot --requests "$n" --rounds "$rounds" --attest yes | grep '^RESULT')
    without=$("$bindir/se-secretd-bench" boot --requests "$n" --rounds "$rounds" | grep '^RESULT')
    kv() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<"$2"; }
    echo "| $n | $(kv attest_ms "$with") | $(kv wall_ms "$with") | $(kv wall_ms "$without") |"
done

echo
echo "## Start-up and LUKS unlock"
echo
"$bindir/se-secretd-bench" startup --rounds 20 > "$tmp/startup.txt"
"$bindir/se-secretd-bench" luks --rounds 3 > "$tmp/luks.txt"
s=$(grep '^RESULT' "$tmp/startup.txt")
l=$(grep '^RESULT' "$tmp/luks.txt")
get() { sed -E "s/.*[ ]$1=([0-9.]+).*/\\1/" <<<"$2"; }
echo "| what | wall ms | peak RSS KiB |"
echo "|---|---|---|"
echo "| \`se-secretd --version\` (process start-up) | $(get version_ms "$s") | $(get version_rss_kib "$s") |"
echo "| \`se-secretd info\` on the simulator (start-up to the first ioctl and back, plus the simulator's state load) | $(get info_ms "$s") | $(get info_rss_kib "$s") |"
echo "| LUKS2 unlock by volume key (no PBKDF), checked against the header | $(get volume_key_ms "$l") | $(get volume_key_rss_kib "$l") |"
echo "| LUKS2 unlock by passphrase, libcryptsetup's default PBKDF ($(sed -E 's/.*pbkdf="([^"]*)".*/\1/' <<<"$l")) | $(get passphrase_ms "$l") | $(get passphrase_rss_kib "$l") |"
