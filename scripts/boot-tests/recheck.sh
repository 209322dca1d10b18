#!/usr/bin/env bash
# Re-runs the boot tests' checks, and their broken twins, on the evidence of
# the last run (consoles, QEMU exit codes, result disks in the cache's work/),
# without booting anything: for working on a check, and as the harness's
# self-test on real evidence (docs/testing.md).
#
#   scripts/boot-tests/recheck.sh [BOOT...]     default: every boot of the last run
#
# Environment: SE_BOOTTEST_CACHE=DIR, SE_BOOTTEST_WORK=DIR as for run.sh;
# SE_BOOTTEST_DEV=FILE (the workbench; default out/se-secretd-dev, which run.sh built).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/scripts/boot-tests
CACHE=${SE_BOOTTEST_CACHE:-$REPO/.cache/boot-tests}
W=${SE_BOOTTEST_WORK:-$CACHE/work}
V=$W/ex/values
DEV=${SE_BOOTTEST_DEV:-$REPO/out/se-secretd-dev}
[ -d "$W" ] && [ -d "$V" ] || { echo "recheck: no evidence in $W (run scripts/boot-tests/run.sh first)" >&2; exit 66; }
[ -x "$DEV" ] || { echo "recheck: no workbench at $DEV (SE_BOOTTEST_DEV=)" >&2; exit 66; }
MARKER=$(cat "$W/rootfs/etc/se-secretd-boottest-marker")

passed=0
failed=0
failures=()
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); failures+=("$*"); echo "  FAIL  $*"; }
source "$HERE/checks.sh"

if [ $# -gt 0 ]; then
    boots=("$@")
else
    mapfile -t boots < <(cd "$W" && ls console-*.log | sed -e 's/^console-//' -e 's/\.log$//' | grep -v '~')
fi
((${#boots[@]})) || { echo "recheck: no boots' evidence in $W" >&2; exit 66; }
for b in "${boots[@]}"; do
    [ -f "$W/console-$b.log" ] || { bad "$b: no console log in $W"; continue; }
    echo "== $b"
    checks_for "$b"
done
echo
if ((failed)); then
    echo "failed checks:"
    for f in "${failures[@]}"; do echo "  - $f"; done
fi
echo "recheck: $passed passed, $failed failed ($TWINS_MADE broken twins made)"
[ "$failed" -eq 0 ]
