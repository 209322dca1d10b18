#!/usr/bin/env bash
# Tests of the initramfs helper's shell guard (initramfs-hooks/common/
# se-secretd-initrd) without an initramfs: every scenario runs the helper with
# its paths below a scratch root (SE_SECRETD_INITRD_TEST_ROOT), se-secretd
# replaced by a stub that records its calls, and poweroff, reboot and
# systemctl replaced by stubs that record the call and stop the helper (as the
# real ones would). The QEMU boot tests prove the same on real images; these
# pin down each branch, fast. No root needed; nothing outside the scratch
# directory is touched.
set -uo pipefail
cd "$(dirname "$0")/.."
HELPER=$PWD/initramfs-hooks/common/se-secretd-initrd
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }
expect() { # expect DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# Stubs: the machine-stopping commands record and end the helper (their
# parent); se-secretd records its arguments and answers per STUB_* variables.
mkdir -p "$T/bin"
for c in poweroff reboot systemctl; do
    cat > "$T/bin/$c" << STUB
#!/bin/sh
echo "$c \$*" >> "\$SE_SECRETD_INITRD_TEST_ROOT/actions"
# systemctl stop/isolate only queue work; everything else stops the machine.
case "$c \$1" in "systemctl stop"|"systemctl --no-block") exit 0 ;; esac
kill -9 \$PPID
STUB
    chmod +x "$T/bin/$c"
done
cat > "$T/bin/se-secretd" << 'STUB'
#!/bin/sh
echo "se-secretd $*" >> "$SE_SECRETD_INITRD_TEST_ROOT/calls"
case "$1" in
    lock)
        case "${STUB_LOCK:-ok}" in
            ok) echo "the secret store is locked"; exit 0 ;;
            locked) echo "se-secretd lock: lock: LOCK_SECRETS: ultravisor rc 0x0102 rrc 0x0000: the secret store is already locked" >&2; exit 76 ;;
            *) echo "se-secretd lock: cannot open the ultravisor device" >&2; exit 69 ;;
        esac ;;
    policy) printf '{\n  "valid": true,\n  "lock": %s,\n  "on_failure": "%s"\n}\n' "${STUB_POLICY_LOCK:-true}" "${STUB_ON_FAILURE:-poweroff}" ;;
    boot) exit 0 ;;
esac
exit 0
STUB
chmod +x "$T/bin/se-secretd"

# A fresh scratch root for each scenario; $2.. are the guards to install.
new_root() { # new_root NAME [systemd|dracut|itools]...
    R=$T/$1
    rm -rf "$R"
    mkdir -p "$R/run" "$R/proc/sys/kernel" "$R/etc/se-secretd"
    echo '{"version": 1}' > "$R/etc/se-secretd/policy.json"   # read by the stub only
    : > "$R/calls"
    : > "$R/actions"
    shift
    local g
    for g in "$@"; do
        case $g in
            systemd)
                for u in emergency.service rescue.service dracut-emergency.service debug-shell.service; do
                    mkdir -p "$R/usr/lib/systemd/system/$u.d"
                    cp initramfs-hooks/dracut/91se-secretd/se-secretd-guard.conf "$R/usr/lib/systemd/system/$u.d/50-se-secretd-guard.conf"
                done ;;
            dracut)
                for h in emergency shutdown-emergency; do
                    mkdir -p "$R/usr/lib/dracut/hooks/$h"
                    cp initramfs-hooks/dracut/91se-secretd/se-secretd-emergency.sh "$R/usr/lib/dracut/hooks/$h/00-se-secretd-emergency.sh"
                done ;;
            itools)
                mkdir -p "$R/scripts/panic"
                install -m 0755 initramfs-hooks/initramfs-tools/scripts/panic/se-secretd "$R/scripts/panic/se-secretd"
                printf '/scripts/panic/se-secretd "$@"\n[ -e /conf/param.conf ] && . /conf/param.conf\n' > "$R/scripts/panic/ORDER" ;;
        esac
    done
}
# run_helper ARGS... : the helper's exit status in $rc, its output in $R/out.
run_helper() {
    rc=0
    # (In a subshell whose stderr is discarded: bash's "Killed" notice for the
    # stopped helper goes there; the helper's own output goes to $R/out.)
    ( env -i PATH="$T/bin:/usr/bin:/bin" SE_SECRETD_INITRD_TEST_ROOT="$R" SE_SECRETD="$T/bin/se-secretd" \
        SE_SECRETD_POLICY="$R/etc/se-secretd/policy.json" STUB_LOCK="${STUB_LOCK:-ok}" STUB_ON_FAILURE="${STUB_ON_FAILURE:-}" \
        STUB_POLICY_LOCK="${STUB_POLICY_LOCK:-true}" \
        sh "$HELPER" "$@" > "$R/out" 2>&1; exit $? ) 2> /dev/null || rc=$?
}
recorded() { grep -q -x -F -- "$2" "$R/$1"; }
nothing_in() { [ ! -s "$R/$1" ]; }
said() { grep -q -F -- "$1" "$R/out"; }
set_action() { mkdir -p "$R/run/se-secretd"; echo "$1" > "$R/run/se-secretd/failure-action"; }
handoffs() { # a key file and a credential, as the unlock and install phases leave them
    mkdir -p "$R/run/cryptsetup-keys.d" "$R/run/credentials/@initrd"
    printf 'MARKER-KEY-FILE-SECRET' > "$R/run/cryptsetup-keys.d/root.key"
    printf 'MARKER-CREDENTIAL-SECRET' > "$R/run/credentials/@initrd/ssh.authorized_keys.root"
}

echo "== guard-check"
for flavour in systemd dracut initramfs-tools; do
    new_root "gc-none-$flavour"
    run_helper guard-check "$flavour"
    expect "$flavour: no guards in the image -> guard-check fails" [ "$rc" -ne 0 ]
done
new_root gc-systemd systemd dracut; run_helper guard-check systemd
expect "systemd: drop-ins and dracut hooks present -> passes" [ "$rc" -eq 0 ]
new_root gc-systemd-nohooks systemd; run_helper guard-check systemd
expect "systemd: drop-ins without the dracut hooks -> fails" [ "$rc" -ne 0 ]
new_root gc-systemd-norescue systemd dracut; rm -r "$R/usr/lib/systemd/system/rescue.service.d"; run_helper guard-check systemd
expect "systemd: no drop-in for rescue.service -> fails, naming it" bash -c "[ $rc -ne 0 ] && grep -q rescue.service '$R/out'"
new_root gc-dracut dracut; run_helper guard-check dracut
expect "dracut shell init: both hooks -> passes" [ "$rc" -eq 0 ]
new_root gc-itools itools; run_helper guard-check initramfs-tools
expect "initramfs-tools: scripts/panic/se-secretd in ORDER -> passes" [ "$rc" -eq 0 ]
new_root gc-itools-noorder itools; : > "$R/scripts/panic/ORDER"; run_helper guard-check initramfs-tools
expect "initramfs-tools: script present but not in ORDER (never run) -> fails" [ "$rc" -ne 0 ]

echo "== emergency: no shell unless the policy allows one"
for action in poweroff continue bogus; do
    new_root "em-$action" systemd dracut; set_action "$action"; handoffs
    run_helper emergency systemd
    expect "failure-action $action (systemd): powered off at once, the helper never returned" \
        bash -c "[ $rc -eq 137 ] && grep -q -x -F 'systemctl --force --force poweroff' '$R/actions'"
done
new_root em-reboot dracut; set_action reboot; run_helper emergency dracut
expect "failure-action reboot (dracut): reboot -f" bash -c "[ $rc -eq 137 ] && grep -q -x -F 'reboot -f' '$R/actions'"
new_root em-itools-poweroff itools; set_action poweroff; run_helper emergency initramfs-tools
expect "initramfs-tools, poweroff: poweroff -f" bash -c "[ $rc -eq 137 ] && grep -q -x -F 'poweroff -f' '$R/actions'"
expect "initramfs-tools, poweroff: the store was not touched (no lock, nothing else)" nothing_in calls

new_root em-policy-poweroff systemd dracut; handoffs
STUB_ON_FAILURE=poweroff run_helper emergency systemd
expect "no boot run yet, the policy says poweroff: powered off" bash -c "[ $rc -eq 137 ] && grep -q poweroff '$R/actions'"
expect "no boot run yet: the policy in the image was asked" recorded calls "se-secretd policy validate --json $R/etc/se-secretd/policy.json"

new_root em-policy-unreadable systemd dracut
STUB_ON_FAILURE=emergency-shell
rm "$R/etc/se-secretd/policy.json"
run_helper emergency systemd
STUB_ON_FAILURE=''
expect "no boot run yet, no policy readable: powered off" bash -c "[ $rc -eq 137 ] && grep -q poweroff '$R/actions'"
new_root em-policy-garbled systemd dracut
STUB_ON_FAILURE='emergency-shell", "x": "y' run_helper emergency systemd
expect "no boot run yet, no on_failure readable: powered off" bash -c "[ $rc -eq 137 ] && grep -q poweroff '$R/actions'"

echo "== emergency: the shell the policy allows"
new_root em-shell systemd dracut; handoffs
STUB_ON_FAILURE=emergency-shell run_helper emergency systemd
expect "emergency-shell (from the policy): the helper returns 0, so the shell may start" [ "$rc" -eq 0 ]
expect "emergency-shell: nothing powered off" bash -c "! grep -q -E 'poweroff|reboot' '$R/actions'"
expect "emergency-shell (systemd): the se-secretd units were stopped before the wipe" \
    bash -c "grep -q '^systemctl stop se-secretd-boot.service se-secretd-unlock.service' '$R/actions'"
expect "emergency-shell: the store was locked first" recorded calls "se-secretd lock"
expect "emergency-shell: the key file and the credential were removed" \
    bash -c "[ ! -e '$R/run/cryptsetup-keys.d/root.key' ] && [ ! -e '$R/run/credentials/@initrd/ssh.authorized_keys.root' ]"
expect "emergency-shell: the warning says every secret in the store can be retrieved" said "every secret already in the ultravisor's store can be retrieved"
expect "emergency-shell: the lock came before the warning" \
    bash -c "grep -n 'secret store locked' '$R/out' | cut -d: -f1 | { read -r a; b=\$(grep -n 'WARNING' '$R/out' | cut -d: -f1); [ \"\$a\" -lt \"\$b\" ]; }"
expect "emergency-shell: no secret in the helper's output" bash -c "! grep -q MARKER '$R/out'"
handoffs   # e.g. the unlock phase ran again after the first shell ended
STUB_LOCK=locked STUB_ON_FAILURE=emergency-shell run_helper emergency systemd
expect "emergency-shell, a second guard: locks again (already locked counts) and returns 0" \
    bash -c "[ $rc -eq 0 ] && [ \$(grep -c -x 'se-secretd lock' '$R/calls') -eq 2 ]"
expect "emergency-shell, a second guard: key files that came back are wiped again" \
    bash -c "[ ! -e '$R/run/cryptsetup-keys.d/root.key' ] && [ ! -e '$R/run/credentials/@initrd/ssh.authorized_keys.root' ]"

new_root em-shell-locked itools; set_action emergency-shell
STUB_LOCK=locked run_helper emergency initramfs-tools
expect "emergency-shell, store already locked (rc 0x0102): counts as locked, shell allowed" [ "$rc" -eq 0 ]

new_root em-shell-lockfail systemd dracut; set_action emergency-shell; handoffs
STUB_LOCK=fail run_helper emergency systemd
expect "emergency-shell, the store cannot be locked: powered off instead of a shell" \
    bash -c "[ $rc -eq 137 ] && grep -q poweroff '$R/actions'"

new_root em-shell-noguards; set_action emergency-shell
run_helper emergency dracut
expect "emergency-shell, but the image lacks the guards: powered off instead of a shell" \
    bash -c "[ $rc -eq 137 ] && grep -q -x -F 'poweroff -f' '$R/actions'"
expect "emergency-shell without guards: not even locked first (nothing to prepare a shell for)" \
    bash -c "! grep -q 'se-secretd lock' '$R/calls'"

echo "== continue: the boot goes on, the store does not stay open"
new_root cont-lock systemd dracut; set_action continue
SERVICE_RESULT=exit-code run_helper failure systemd
expect "a step failed, on_failure=continue: returns 0 (the boot goes on)" [ "$rc" -eq 0 ]
expect "on_failure=continue: the store was locked (a killed boot run could not)" recorded calls "se-secretd lock"
new_root cont-open systemd dracut; set_action continue
STUB_POLICY_LOCK=false run_helper failure systemd
expect "on_failure=continue with store.lock false: not locked, and it says so" \
    bash -c "[ $rc -eq 0 ] && ! grep -q 'se-secretd lock' '$R/calls' && grep -q 'stays open' '$R/out'"

echo "== late: no report, no install into an unchecked root"
new_root late-noreport itools; set_action poweroff
run_helper late initramfs-tools "$R/root"
expect "late without the boot run's report: a failure, powered off per the policy" \
    bash -c "[ $rc -eq 137 ] && grep -q -x -F 'poweroff -f' '$R/actions' && ! grep -q 'se-secretd install' '$R/calls'"
new_root late-continue itools; set_action continue
printf '{"verdict": "failed"}' > "$R/run/se-secretd/report.json"
run_helper late initramfs-tools "$R/root"
expect "late after a failed boot run under on_failure=continue: nothing installed, the boot goes on" \
    bash -c "[ $rc -eq 0 ] && ! grep -q 'se-secretd install' '$R/calls'"

echo "== early: nothing goes into the store of an unguarded initramfs"
new_root early-noguards; set_action poweroff
run_helper early initramfs-tools
expect "early without the panic guard: powered off" bash -c "[ $rc -eq 137 ] && grep -q -x -F 'poweroff -f' '$R/actions'"
expect "early without the panic guard: se-secretd boot never ran" bash -c "! grep -q 'se-secretd boot' '$R/calls'"
new_root early-guarded itools
run_helper early initramfs-tools
expect "early with the guard: the boot run and the unlock phase ran" \
    bash -c "[ $rc -eq 0 ] && grep -q -x 'se-secretd boot' '$R/calls' && grep -q -x 'se-secretd unlock' '$R/calls'"
expect "early with the guard: marked done for dracut's initqueue/finished hook" [ -e "$R/run/se-secretd/early-done" ]

echo
echo "initrd helper: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
