#!/usr/bin/env bash
# Runs se-secretd's benchmarks on a release build and prints the results in
# the format of benchmarks/results.md. Not part of the test suite: numbers
# depend on the machine. Usage: benchmarks/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

rounds=7
[ "${1:-}" = "--quick" ] && rounds=3

echo "==> building (release, as for the initramfs: scripts/build-release.sh)" >&2
size_table=$(bash scripts/build-release.sh)
swift build -c release --product se-secretd-bench >&2
bindir=$(swift build -c release --show-bin-path)

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
echo "median of $rounds rounds."
echo
echo "| signer | read + evaluate µs/request | evaluate only µs/request | bare libcrypto µs/request | ratio read+evaluate / bare (target < 1.5) | ratio evaluate / bare |"
echo "|---|---|---|---|---|---|"
for s in ec-p521 rsa-2048 rsa-3072; do
    line=$("$bindir/se-secretd-bench" check --signer "$s" --rounds "$rounds" | grep '^RESULT')
    per=$(sed -E 's/.*per_request_us=([0-9.]+).*/\1/' <<<"$line")
    bare=$(sed -E 's/.*bare_us=([0-9.]+).*/\1/' <<<"$line")
    ev=$(sed -E 's/.*eval_us=([0-9.]+).*/\1/' <<<"$line")
    ratio=$(sed -E 's/.* ratio=([0-9.]+).*/\1/' <<<"$line")
    eratio=$(sed -E 's/.*eval_ratio=([0-9.]+).*/\1/' <<<"$line")
    echo "| $s | $per | $ev | $bare | $ratio | $eratio |"
done
