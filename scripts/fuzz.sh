#!/usr/bin/env bash
# Builds se-secretd's libFuzzer targets (release, AddressSanitizer with
# LeakSanitizer) and runs each for SECONDS_PER_TARGET seconds, starting from
# seeds the codec's RequestBuilder makes at run time (plus the policy test
# fixtures). Exits non-zero when a target crashes, trips a sanitizer or an
# invariant, leaks, hangs (-timeout) or runs out of memory; the input that
# did it is kept in .build-fuzz/artifacts/TARGET/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, all)
# The corpus grows in .build-fuzz/corpus/TARGET/ across runs (not committed).
# Reproduce a finding: .build-fuzz/release/se-secretd-fuzz TARGET ARTIFACT
# See docs/hardening.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

seconds=${1:-60}
[ $# -gt 0 ] && shift
case "$seconds" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 64 ;; esac

scratch=.build-fuzz
mkdir -p "$scratch"
# ld.gold (the default) dies with an internal error on this link; lld from
# the Swift toolchain links it.
lld="$(dirname "$(command -v swift)")/ld.lld"
[ -x "$lld" ] || { echo "error: $lld not found (needed to link the fuzz targets)" >&2; exit 69; }
printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$lld" > "$scratch/toolset.json"

echo "==> building the fuzz targets (release, -sanitize=fuzzer,address)"
start=$(date +%s)
# SwiftPM's own --sanitize=fuzzer parses every executable as a library,
# which would drop se-secretd-fuzz's main (it picks the target and calls
# LLVMFuzzerRunDriver); so the flags go to swiftc and clang directly.
set +e
swift build -c release --product se-secretd-fuzz --scratch-path "$scratch" --toolset "$scratch/toolset.json" \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address > "$scratch/build.log" 2>&1
rc=$?
set -e
grep -v "Cannot export local symbol" "$scratch/build.log" | tail -n 20
[ $rc -eq 0 ] || { echo "error: the fuzz build failed" >&2; exit 1; }
bin="$scratch/release/se-secretd-fuzz"
echo "build: $(( $(date +%s) - start )) s"

# Seeds: made fresh by the harness itself (RequestBuilder with fixed keys).
seeds="$scratch/seeds"
rm -rf "$seeds"
ASAN_OPTIONS=detect_leaks=0 "$bin" seeds "$seeds" >/dev/null
cp Tests/SecretPolicyTests/Fixtures/policies/*.json "$seeds/policy/" 2>/dev/null || true
# A dictionary of the policy's keys and values, from its JSON Schema.
if [ -f schema/policy.schema.json ]; then
    python3 - schema/policy.schema.json > "$seeds/policy.dict" <<'EOF'
import json, sys
tokens = set()
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "properties" and isinstance(v, dict):
                tokens.update('"%s":' % p for p in v)
            if k in ("enum", "const"):
                tokens.update('"%s"' % e for e in (v if isinstance(v, list) else [v]) if isinstance(e, str))
            walk(v)
    elif isinstance(o, list):
        for x in o:
            walk(x)
walk(json.load(open(sys.argv[1])))
for i, t in enumerate(sorted(tokens)):
    print('kw%d=%s' % (i, json.dumps(t)))
EOF
fi

# Path tokens for the EBC policy reference (a file name padded with NULs):
# without them, libFuzzer found a planted ".." acceptance in 1 of 5 runs of
# 120 s; with them in 5 of 5, within a second (docs/hardening.md).
printf '%s\n' 'dotdot="\x00..\x00"' 'dot="\x00.\x00"' 'parent="../"' 'slash="/"' 'absolute="\x00/"' > "$seeds/paths.dict"

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <("$bin" list | awk '{print $1}'); fi

# LeakSanitizer on; abort on any sanitizer report; libFuzzer's own limits.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export SWIFT_BACKTRACE="enable=no"

failed=0
results=()
for t in "${targets[@]}"; do
    maxlen=$("$bin" list | awk -v t="$t" '$1 == t {print $2}')
    [ -n "$maxlen" ] || { echo "error: unknown target $t" >&2; exit 64; }
    corpus="$scratch/corpus/$t"
    artifacts="$scratch/artifacts/$t"
    log="$scratch/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    dict=()
    [ "$t" = policy ] && [ -f "$seeds/policy.dict" ] && dict=(-dict="$seeds/policy.dict")
    case "$t" in ebc|evaluate) dict=(-dict="$seeds/paths.dict") ;; esac
    echo "==> fuzzing $t for $seconds s"
    set +e
    "$bin" "$t" -max_total_time="$seconds" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "$seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(awk '/stat::number_of_executed_units:/ {print $2}' "$log" | tail -n 1)
    secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
    units=$(find "$corpus" -type f | wc -l)
    # libFuzzer's final stats are the proof that it fuzzed: a build without
    # libFuzzer only replays the seeds, exits 0 and prints no execution count.
    if [ -z "$runs" ] || [ "$runs" -eq 0 ]; then
        verdict="FAILED (no execution count from libFuzzer: not a fuzzing build?)"
        failed=1
        tail -n 5 "$log"
        echo "log: $log"
    elif [ $rc -eq 0 ] && ! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:" "$log"; then
        verdict=ok
    else
        verdict="FAILED (exit $rc)"
        failed=1
        grep -E "ERROR|runtime error|Fatal error|invariant violated|Test unit written|SUMMARY" "$log" | head -n 20 || true
        echo "log: $log"
    fi
    results+=("$(printf '| %-14s | %10s | %4s | %5s | %6s | %s |' "$t" "${runs:-?}" "${secs:-?}" "${cov:-?}" "$units" "$verdict")")
done

echo
echo "| target         | executions | s    | cov   | corpus | result |"
echo "|----------------|------------|------|-------|--------|--------|"
printf '%s\n' "${results[@]}"
exit $failed
