#!/usr/bin/env bash
# The boot tests' self-test: real boots of a product broken on purpose, each
# of which must make the checks that exist to catch it FAIL. (Every check also
# has broken twins on every run: copies of its evidence with one thing
# changed, scripts/boot-tests/checks.sh. These breakers go further: the
# product itself misbehaves in a real boot.)
#
#   sudo scripts/boot-tests/selftest.sh [BREAKER...]   default: all; about 6 min in all (TCG),
#                                                       run by scripts/test.sh after the boot tests
#
#   guard   the shell guard does nothing: after a successful boot run, a root
#           with no init must give the host a shell (initramfs-tools' panic
#           shell), which the checks must see
#   lock    the policies leave the store unlocked: the agent's line, the
#           ultravisor's own state and the tenant's verify must say so
#   leak    the booted root prints the TLS key on the console
#   reboot  the policies say on_failure=reboot: a refused request set must
#           not count as a power-off (QEMU exits 0 on a reboot too)
#
# Exit 0 when every breaker tripped every check it names and left the others
# it names passing; each breaker's evidence is in the cache's selftest-BREAKER/
# (SE_BOOTTEST_CACHE as for run.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${SE_BOOTTEST_CACHE:-$HERE/../../.cache/boot-tests}
mkdir -p "$CACHE"

# BREAKER: flavours, boots, the checks that must fail and the checks that
# must still pass (whole descriptions, as run.sh prints them): the breaker
# must break what it says and nothing else, so that a failure for another
# reason (a timeout, a panic) cannot pass for a check doing its work.
declare -A ONLY BOOTS MUST_FAIL MUST_PASS
ONLY[guard]="initramfs-tools"
BOOTS[guard]="itools-no-init"
MUST_FAIL[guard]="itools-no-init: no shell prompt, and the typed 'se-secretd list' never ran|itools-no-init: se-secretd powered off per the policy (on_failure=poweroff): the shell guard or the failure handler"
MUST_PASS[guard]="itools-no-init: the boot run succeeded and locked the store before the failure|itools-no-init: the real root was never reached"
ONLY[lock]="dracut-systemd"
BOOTS[lock]="dracut-good"
MUST_FAIL[lock]="dracut-good: the boot run succeeded and locked the store (console)|dracut-good: the ultravisor's own state (read after the guest stopped): store locked, every secret of the policy in it|dracut-good: the report (carried to the booted system in /run) says the store is locked, verdict ok|dracut-good: the tenant's verify accepts the results device: this image, these requests, a locked store, the run's facts bound"
MUST_PASS[lock]="dracut-good: the real root was reached|dracut-good: no trace of a secret (raw, hex or base64 window) on the console, in the report or on the result disk"
ONLY[leak]="dracut-systemd"
BOOTS[leak]="dracut-good"
MUST_FAIL[leak]="dracut-good: no trace of a secret (raw, hex or base64 window) on the console, in the report or on the result disk"
MUST_PASS[leak]="dracut-good: the real root was reached|dracut-good: the ultravisor's own state (read after the guest stopped): store locked, every secret of the policy in it"
ONLY[reboot]="dracut-systemd"
BOOTS[reboot]="dracut-tampered"
MUST_FAIL[reboot]="dracut-tampered: the kernel powered off (no hang, no reboot loop, no panic)|dracut-tampered: the failure handler powered off per the policy, with no volume open"
MUST_PASS[reboot]="dracut-tampered: the console names the problem: file, reason and rule|dracut-tampered: the encrypted root was never opened (no unlock, no mount, real root not reached)"

if [ $# -gt 0 ]; then breakers=("$@"); else breakers=(guard lock leak reboot); fi
tripped=0
missed=()
for b in "${breakers[@]}"; do
    [ -n "${ONLY[$b]:-}" ] || { echo "selftest: unknown breaker $b (guard, lock, leak, reboot)" >&2; exit 64; }
    echo "== SE_BOOTTEST_BREAK=$b (${BOOTS[$b]})"
    log=$CACHE/selftest-$b.log
    rc=0
    # (Each breaker's evidence in its own work directory: the main run's stays.)
    SE_BOOTTEST_BOOT_TIMEOUT=${SE_BOOTTEST_BOOT_TIMEOUT:-90} SE_BOOTTEST_WORK=$CACHE/selftest-$b \
        SE_BOOTTEST_BREAK=$b SE_BOOTTEST_ONLY="${ONLY[$b]}" SE_BOOTTEST_BOOTS="${BOOTS[$b]}" \
        bash "$HERE/run.sh" > "$log" 2>&1 || rc=$?
    if [ $rc -eq 77 ] || grep -q '^SKIP: ' "$log"; then
        grep '^SKIP: ' "$log" || true
        exit 77
    fi
    [ $rc -ne 0 ] || { missed+=("$b: the run passed (exit 0)"); echo "  MISSED  the broken run passed; log: $log"; continue; }
    IFS='|' read -r -a wanted <<< "${MUST_FAIL[$b]}"
    for w in "${wanted[@]}"; do
        # The whole line: "FAIL  DESC: CANNOT FAIL ..." means the check passed.
        if grep -x -F -- "  FAIL  $w" "$log" > /dev/null; then
            tripped=$((tripped + 1))
            echo "  tripped  $w"
        else
            missed+=("$b: $w")
            echo "  MISSED   $w (log: $log)"
        fi
    done
    IFS='|' read -r -a wanted <<< "${MUST_PASS[$b]}"
    for w in "${wanted[@]}"; do
        if grep -F -- "  ok    $w  [" "$log" > /dev/null; then
            echo "  held     $w"
        else
            missed+=("$b: $w (must still pass)")
            echo "  BROKE    $w: the breaker broke more than it should (log: $log)"
        fi
    done
done
echo
echo "selftest: $tripped checks tripped, ${#missed[@]} missed"
((${#missed[@]} == 0))
