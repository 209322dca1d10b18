# shellcheck shell=bash
# The boot tests' checks and their broken twins; sourced by run.sh (and by
# selftest.sh). docs/testing.md explains the idea.
#
# A boot NAME leaves its evidence in $W:
#   console-NAME.log   the serial console, as QEMU logged it from the first byte
#   qemu-NAME.rc       QEMU's exit code
#   result-NAME.img    what the booted system's init wrote (key=value lines,
#                      including the report and the simulated ultravisor's
#                      state as it was at the switch to the root)
#   se-results-NAME.img  the product's results device (policy results.device):
#                      the record se-secretd wrote, read by the tenant's
#                      `se-secretd verify` after the guest stopped
# Every check is a function of NAME that reads only that evidence. A check
# passes only if it passes on the boot and FAILS on each of its broken twins:
# copies of the evidence with one thing changed that the check exists to
# catch (a line missing, a panic added, a mode changed, a secret printed).
# A check whose twin passes cannot fail, and counts as failed.
#
# Needs from run.sh: $W, $V (the secret values), $DEV (the workbench), ok, bad.

# ------------------------------------------------------------ evidence readers

# The console as text: no carriage returns, no colour escapes, no NULs.
console_text() { tr -d '\r\000' < "$W/console-$1.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'; }
# (No grep -q or head in these pipes: an early exit would SIGPIPE the writer,
# and with pipefail a match would read as a failure.)
console_has() { console_text "$1" | grep -a -E -- "$2" > /dev/null; }
# A boot's console is there and whole: the boot run read the request volume
# (every boot of these tests gets that far) and the kernel's last word came.
# A negated grep over anything less proves nothing.
console_complete() {
    [ -s "$W/console-$1.log" ] && console_has "$1" "se-secretd: read [0-9]+ request files from" &&
        console_has "$1" "reboot: (Power down|Restarting system)|Kernel panic"
}
console_lacks() { console_complete "$1" && ! console_has "$1" "$2"; }
line_of() { console_text "$1" | grep -a -n -E -- "$2" | sed -n '1s/:.*//p'; }
# The result disk's text part (between its header and END-OF-RESULT).
result_text() { tr -d '\000' < "$W/result-$1.img" | sed -n '/^SE-SECRETD-RESULT-DISK$/,/^END-OF-RESULT$/p'; }
result_value() { result_text "$1" | sed -n "s/^$2=//p" | sed -n 1p; }
# The report the booted system found in /run, as $W/report-NAME.json.
report_file() { result_value "$1" report > "$W/report-$1.json"; }
sha_of() { sha256sum < "$1" | cut -d' ' -f1; }

# Before THEN-REGEX first appears, FIRST-REGEX must have: both present, in order.
ordered() { # ordered NAME FIRST-REGEX THEN-REGEX
    local a b
    a=$(line_of "$1" "$2")
    b=$(line_of "$1" "$3")
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}
# Nothing matching REGEX after the first line matching ANCHOR (which must be there).
nothing_after() { # nothing_after NAME ANCHOR-REGEX REGEX
    local a
    console_complete "$1" || return 1
    a=$(line_of "$1" "$2")
    [ -n "$a" ] || return 1
    ! console_text "$1" | sed -n "$a,\$p" | grep -a -E -- "$3" > /dev/null
}

# ------------------------------------------------------------ the checks

# The result disk's KEY is VALUE (and the key is there at all), is missing,
# or matches an extended REGEX.
result_is() { [ "$(result_value "$1" "$2")" = "$3" ] && [ -n "$(result_text "$1" | grep -a "^$2=" || true)" ]; }
result_absent() { ! result_text "$1" | grep -a "^$2=" > /dev/null; }
result_matches() { result_value "$1" "$2" | grep -E -- "$3" > /dev/null; }

# initramfs-tools: cryptroot called `se-secretd keyscript`, which recorded in
# the report that it served the key (the unlock phase's earlier keyscript
# record only says the secret is there).
keyscript_served() {
    report_file "$1"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
served = [a for a in r["actions"] if a.get("phase") == "keyscript" and a.get("result") == "ok" and a.get("message", "").startswith("served ")]
assert served, "no keyscript record"
' "$W/report-$1.json" 2> /dev/null
}
# dracut+systemd: the booted system has both dm-crypt mappings, root and data.
both_mappings() { local v=" $(result_value "$1" dm_names) "; [[ $v == *" data "* && $v == *" root "* ]]; }
# / is mounted from the dm-crypt mapping root (LUKS2): the device of / is
# that mapping's, not another one's.
root_from_crypt() {
    local dev
    dev=$(result_value "$1" root_dev)
    [ -n "$dev" ] && [ "$dev" = "$(result_value "$1" dmdev_root)" ] && [ "$(result_value "$1" dm_root)" = CRYPT-LUKS2 ]
}

# The kernel's own last word: "reboot: Power down", and no panic or restart
# (with -no-reboot QEMU also exits 0 on a reboot or a panic=-1 panic).
powered_off() {
    [ "$(cat "$W/qemu-$1.rc")" = 0 ] && console_has "$1" "reboot: Power down" &&
        ! console_has "$1" "Kernel panic|reboot: Restarting system"
}
POWER_TWINS="rc:1 ;; drop:reboot: Power down ;; add:Kernel panic - not syncing: Attempted to kill init! ;; add:reboot: Restarting system"
# No shell prompt ever appeared, and the "se-secretd list" that console.py
# kept typing never ran (its output starts "Total number of secrets"). The
# typed text itself is echoed by the tty, so only output counts.
no_shell() {
    console_lacks "$1" "Press Enter for maintenance|\(initramfs\) |Dropping to debug shell|Entering emergency mode|Total number of secrets"
}
SHELL_TWINS="add:Press Enter for maintenance ;; add:(initramfs)  ;; add:Total number of secrets: 4 ;; empty"
# No trace of any secret value (leakscan.py: every window, raw, hex or
# base64) on the console, in the report, or on the result disk (the simulated
# ultravisor's state excepted: it is the ultravisor's memory, not output).
# Windows that an unrelated example's values share (armor, key-type
# prefixes) are structure, not secret.
no_leak() {
    local n=$1
    shift
    result_text "$n" | grep -a -v '^simstate=' > "$W/result-$n.txt"
    report_file "$n"
    local dev=()
    if [ -f "$W/se-results-$n.img" ]; then
        # Everything written on the disk (up to its last non-zero byte: the record
        # and any older record's tail after it), not the zeros of a 4 MiB disk.
        python3 -c '
import sys
raw = open(sys.argv[1], "rb").read(4 << 20).rstrip(b"\0")
sys.stdout.buffer.write(raw if len(raw) >= 4096 else raw.ljust(4096, b"\0"))' "$W/se-results-$n.img" > "$W/se-results-$n.rec"
        dev=("$W/se-results-$n.rec")
    fi
    python3 "$HERE/leakscan.py" "$V" --except "$W/ex-other/values" "$W/console-$n.log" "$W/result-$n.txt" "${dev[@]}" "$@" > "$W/leakscan-$n.log" 2>&1 ||
        { sed 's/^/        /' "$W/leakscan-$n.log"; return 1; }
}
LEAK_TWINS="leak:raw ;; leak:hex ;; leak:hexdump ;; leak:base64 ;; empty ;; resultsdev:leak:raw ;; resultsdev:leak:base64"
# The report the booted system found in /run: verdict ok, store locked.
report_ok() {
    report_file "$1"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "ok", r["verdict"]
assert r["store"]["locked"] is True, r["store"]
' "$W/report-$1.json" 2> /dev/null
}
# The simulated ultravisor's state as the initramfs left it (a test hook
# copies it into /run just before the switch to the root; the booted root's
# init puts it on the result disk), read after the guest stopped by a decoder
# written here, not by se-secretd: state.json and secrets.bin (layout in
# Sources/UVSimulator/StateCoding.swift). The store is locked; it holds a
# secret under SHA-256(name) of every secret the policy names; the requests
# it accepted are exactly the request volume's files (their GCM tags, the
# last 16 bytes of each); and `sim status` shows the secret-store hash
# SHA-512(tags in add order || 0x01), the formula of IBM's pvattest check.
# (The simulator is se-secretd's code, but not the agent's account of its
# run: the report and the console lines are not read here.)
store_locked_independently() {
    local n=$1 d=$W/simstate-$1
    rm -rf "$d"
    mkdir -p "$d"
    result_value "$n" simstate | base64 -d 2> /dev/null | tar -C "$d" -xf - 2> /dev/null || return 1
    [ -f "$d/state.json" ] && [ -f "$d/secrets.bin" ] || return 1
    cp -a "$W/sim/sysfs" "$d/sysfs"
    # (Its exit code is not the point: the decoder below decides, and needs
    # the hash line last.)
    "$DEV" sim status --state "$d" > "$d/status.txt" 2>&1 || true
    python3 - "$W/ex/policy.json" "$d" "$W/ex/requests" "$HERE" << 'EOF'
import hashlib, json, os, re, sys
policy, d, requests = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
sys.path.insert(0, sys.argv[4])
from simstate import entries
state = json.load(open(os.path.join(d, "state.json")))
_, stored = entries(open(os.path.join(d, "secrets.bin"), "rb").read())
assert [e[1] for e in stored] == list(range(len(stored))), "secrets.bin: entries out of index order"
ids = [e[2] for e in stored]
count = len(stored)
assert state["locked"] is True, "state: not locked"
assert state["store_size"] == count, "state and secrets.bin disagree on the store's size"
want = {hashlib.sha256(s["name"].encode()).hexdigest() for s in policy["secrets"]}
assert want <= set(ids), f"{len(want - set(ids))} secret(s) of the policy not in the store"
assert len(ids) == len(set(ids)), "a secret ID twice in the store"
files = sorted(f for f in os.listdir(requests) if f.endswith(".asr"))
tags = [open(os.path.join(requests, f), "rb").read()[-16:].hex() for f in files]
accepted = state["accepted_request_tags"]
assert sorted(accepted) == sorted(tags), f"accepted {len(accepted)} request(s), the volume has {len(tags)}"
expected = hashlib.sha512(b"".join(bytes.fromhex(t) for t in accepted) + b"\x01").hexdigest()
status = open(os.path.join(d, "status.txt")).read()
assert re.search(r"^  store +\d+ of \d+ secrets, locked$", status, re.M), "sim status: not locked"
m = re.search(r"^  store hash ([0-9a-f]{128})$", status, re.M)
assert m and m.group(1) == expected, "store hash differs from SHA-512(tags || 01)"
EOF
}

# The tenant's side (docs/attestation.md): `se-secretd verify` on what left
# the guest after it stopped, the results device or the console log, with
# the tenant's attestation request and protection key, the image's SE
# header, the policy in the image and the tenant's own request set (the
# good one, whatever the host put on the volume).
policy_of() { # the policy in the boot's image
    case $1 in
        dracut-emergency*) echo "$W/policy-dracut-emergency.json" ;;
        itools-emergency*) echo "$W/policy-itools-emergency.json" ;;
        itools-*) echo "$W/policy-itools.json" ;;
        *) echo "$W/policy-dracut.json" ;;
    esac
}
tenant_verify() { # tenant_verify NAME results|console: verify's exit code; its JSON in $W/verify-NAME-FROM.json
    local n=$1 from
    case $2 in
        results) from=(--results "$W/se-results-$n.img") ;;
        console) from=(--console-log "$W/console-$n.log") ;;
        *) return 64 ;;
    esac
    "$DEV" verify "${from[@]}" --request "$W/ex/attestation-request.bin" --arpk "$W/ex/attestation.arpk" \
        --se-header "$W/sim/se-header.bin" -p "$(policy_of "$n")" -r "$W/ex/requests" --json \
        > "$W/verify-$n-$2.json" 2> "$W/verify-$n-$2.err"
}
# VERIFIED (exit 0), with the decisive checks passed: this image, this
# request set in this order, a locked store, the run's facts bound.
verified_by_tenant() { # verified_by_tenant NAME results|console
    tenant_verify "$1" "$2" || return 1
    python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert v["format"] == "se-secretd-verify" and v["verdict"] == "verified", v["verdict"]
outcome = {c["id"]: c["outcome"] for c in v["checks"]}
for want in ("request-match", "measurement", "store-locked", "store-contents", "run-binding", "facts"):
    assert outcome.get(want) == "pass", want
' "$W/verify-$1-$2.json"
}
# A failed run's record: REFUSED (exit 65) because it holds no attestation
# response (the run stopped before attesting), and its report (information:
# nothing but the response is authenticated) says it failed at the check,
# names this boot's attestation request, and lists the problem with RULE.
failed_run_reported() { # failed_run_reported NAME results|console RULE
    local rc=0
    tenant_verify "$1" "$2" || rc=$?
    [ $rc -eq 65 ] || return 1
    python3 -c '
import json, sys
v, rule = json.load(open(sys.argv[1])), sys.argv[2]
assert v["verdict"] == "refused", v["verdict"]
c = {c["id"]: c for c in v["checks"]}
assert c["attestation-response"]["rule"] == "no-attestation-response", c["attestation-response"]
assert "the report names your attestation request" in c["attestation-response"]["message"]
r = v["report"]
assert r["verdict"] == "failed" and r["failure"]["step"] == "check", r
assert any(p["rule"] == rule for p in r["problems"]), r["problems"]
' "$W/verify-$1-$2.json" "$3"
}
RESULTS_TWINS="resultsdev:zero ;; resultsdev:flip-measurement ;; resultsdev:facts:r['requests'].reverse() ;; resultsdev:facts:r['store']['locked'] = False"
# (Line 2 of every record dropped, also where a doubled byte broke its marker or
# position: the reader repairs those, so the pattern must catch them too.)
CONSOLE_RESULTS_TWINS="consolerec:zero ;; consolerec:flip-measurement ;; drop:RESULT.* 2+/+[0-9]"
failed_twins() { # the broken twins of failed_run_reported for RULE
    echo "resultsdev:zero ;; resultsdev:report:r['verdict'] = 'ok' ;; resultsdev:report:r['attestation']['request_sha256'] = '00' * 32 ;; resultsdev:report:r['problems'] = [p for p in r['problems'] if p['rule'] != '$1']"
}
tenant_checks() { # tenant_checks NAME: the boot run's results verify, on the device and from the console
    local n=$1
    check_t "$n" "$RESULTS_TWINS" "$n: the tenant's verify accepts the results device: this image, these requests, a locked store, the run's facts bound" \
        verified_by_tenant results
    check_t "$n" "$CONSOLE_RESULTS_TWINS" "$n: the tenant's verify accepts the record cut from the console log" verified_by_tenant console
}
# The results device's record: its report (information) makes PYTHON (r) true.
device_report_says() { # device_report_says NAME PYTHON-EXPRESSION
    python3 - "$W/se-results-$1.img" "$2" "$HERE" 2> /dev/null << 'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
from twin import KINDS, record_entries
entries = dict(record_entries(open(sys.argv[1], "rb").read(4 << 20)))
r = json.loads(bytes(entries[KINDS["report"]]))
assert eval(sys.argv[2], {"r": r}), "the record's report does not say so"
EOF
}
INSTALL_FAILED="any(a.get('phase') == 'install' and a.get('result') == 'failed' for a in r.get('actions', []))"
# A later phase failed (the emergency boots' install): the record left the
# guest again, its report saying so, and still verifies.
phase_failure_checks() { # phase_failure_checks NAME
    local n=$1
    check_t "$n" "resultsdev:zero ;; resultsdev:report:r['actions'] = [a for a in r['actions'] if a.get('phase') != 'install']" \
        "$n: the results device's record was written again after the failed install, its report says so" \
        device_report_says "$INSTALL_FAILED"
    tenant_checks "$n"
}
tenant_failure_checks() { # tenant_failure_checks NAME RULE: a failed run's record, on the device and the console
    local n=$1
    check_t "$n" "$(failed_twins "$2")" "$n: the results device holds the failed run's record: no attestation, its report names the problem ($2)" \
        failed_run_reported results "$2"
    check_t "$n" "consolerec:zero ;; $(failed_twins "$2" | sed 's/resultsdev:/consolerec:/g; s/consolerec:zero ;; //')" \
        "$n: the console carries the failed run's record too" failed_run_reported console "$2"
}

# ------------------------------------------------------------ broken twins

# make_twin NAME TWIN MUTATION: TWIN's evidence is NAME's, with MUTATION
# (the list is in twin.py).
make_twin() {
    local n=$1 t=$2 m=$3
    console_text "$n" > "$W/console-$t.log"
    cp "$W/qemu-$n.rc" "$W/qemu-$t.rc"
    cp "$W/result-$n.img" "$W/result-$t.img"
    if [ -f "$W/se-results-$n.img" ]; then cp --sparse=always "$W/se-results-$n.img" "$W/se-results-$t.img"; fi
    python3 "$HERE/twin.py" "$W/console-$t.log" "$W/qemu-$t.rc" "$W/result-$t.img" "$V" "$W/sim" "$m" "$W/se-results-$t.img"
}
drop_twin() {
    rm -rf "$W/console-$1.log" "$W/qemu-$1.rc" "$W/result-$1.img" "$W/result-$1.txt" "$W/report-$1.json" "$W/simstate-$1" \
        "$W/leakscan-$1.log" "$W/se-results-$1.img" "$W/se-results-$1.rec" "$W/verify-$1-"*.json
}

TWINS_MADE=0
# check_t NAME "MUTATION ;; MUTATION ..." DESCRIPTION FUNCTION ARGS...
# FUNCTION NAME ARGS... must pass on the boot and fail on each broken twin.
check_t() {
    local n=$1 mutations=$2 what=$3 f=$4
    shift 4
    if ! "$f" "$n" "$@"; then
        bad "$what"
        return
    fi
    local m k=0 twin survivors=() list
    mapfile -t list < <(sed 's/ ;; /\n/g' <<< "$mutations")
    for m in "${list[@]}"; do
        [ -n "$m" ] || continue
        k=$((k + 1))
        twin="$n~twin$k"
        make_twin "$n" "$twin" "$m" || { bad "$what: cannot make the broken twin '$m'"; return; }
        TWINS_MADE=$((TWINS_MADE + 1))
        if "$f" "$twin" "$@" > /dev/null 2>&1; then survivors+=("$m"); fi
        drop_twin "$twin"
    done
    if ((k == 0)); then
        bad "$what: no broken twin (every check needs one)"
    elif ((${#survivors[@]})); then
        bad "$what: CANNOT FAIL: it also passed on its broken twin(s): ${survivors[*]}"
    else
        ok "$what  [$k broken twin(s) fail]"
    fi
}

# ------------------------------------------------------------ the checks of each boot

OK_LINE="se-secretd: ok: [0-9]+ requests checked and in the store, store locked"
positive_checks() { # positive_checks NAME UNLOCKED-REGEX
    local n=$1
    check_t "$n" "$POWER_TWINS" "$n: the kernel powered off (reboot: Power down; no panic, no restart)" powered_off
    check_t "$n" "drop:$OK_LINE" "$n: the boot run succeeded and locked the store (console)" console_has "$OK_LINE"
    check_t "$n" "late:se-secretd: ok: " "$n: se-secretd ran before the root was unlocked and mounted" ordered "se-secretd: ok: " "$2"
    check_t "$n" "add:Please enter passphrase for disk root: ;; add:Please unlock disk root:  ;; empty" \
        "$n: no passphrase prompt" console_lacks "[Ee]nter passphrase|[Pp]lease enter|[Pp]lease unlock disk|[Pp]assword for"
    check_t "$n" "drop:SE-SECRETD-BOOTTEST: real root reached" "$n: the real root was reached" console_has "SE-SECRETD-BOOTTEST: real root reached"
    check_t "$n" "result:marker=missing" "$n: marker of the encrypted root seen by the booted system" result_is marker "$MARKER"
    check_t "$n" "result:dm_root= ;; resultsub:root_dev:.*$ => 254:1 ;; result:root_dev=" "$n: root is mounted from the dm-crypt mapping 'root'" root_from_crypt
    check_t "$n" "resultsub:ssh_key:^600  => 644  ;; result:ssh_key=missing" \
        "$n: SSH host key in the new root, mode 0600, root-owned, the example's bytes" \
        result_is ssh_key "600 0 0 $(stat -c %s "$V/ssh-host-ecdsa") $(sha_of "$V/ssh-host-ecdsa")"
    check_t "$n" "resultsub:ssh_pub:^644  => 666  ;; result:ssh_pub=missing" "$n: SSH host key .pub derived beside it (0644)" result_matches ssh_pub '^644 0 0 [0-9]+ [0-9a-f]{64}$'
    check_t "$n" "resultsub:tls_key:^600  => 640 " "$n: TLS key in the new root, mode 0600" \
        result_is tls_key "600 0 0 $(stat -c %s "$V/tls-server-key") $(sha_of "$V/tls-server-key")"
    check_t "$n" "resultsub:cred:^400  => 444  ;; result:cred=" \
        "$n: credential ssh.authorized_keys.root in the booted system, mode 0400, the example's bytes" \
        result_is cred "400 0 0 $(stat -c %s "$V/root-authorized-keys") $(sha_of "$V/root-authorized-keys")"
    check_t "$n" "resultsub:cred_dir: 700$ =>  755" "$n: credential directory /run/credentials/@initrd is 0700" \
        result_matches cred_dir '^/run/credentials/@initrd 700$|^/run/credentials/@system '
    check_t "$n" "result:keyfiles=data.key " "$n: no key file left in /run/cryptsetup-keys.d" result_is keyfiles ""
    check_t "$n" 'report:r["store"]["locked"] = False ;; report:r["verdict"] = "failed" ;; result:report=' \
        "$n: the report (carried to the booted system in /run) says the store is locked, verdict ok" report_ok
    check_t "$n" "simstate:initial ;; simstate:unlock ;; simstate:drop-tag ;; simstate:dup-tag ;; simstate:drop-secret ;; result:simstate=" \
        "$n: the ultravisor's own state (read after the guest stopped): store locked, every secret of the policy in it" store_locked_independently
    check_t "$n" "$LEAK_TWINS ;; leakresult:raw ;; leakresult:base64" \
        "$n: no trace of a secret (raw, hex or base64 window) on the console, in the report or on the result disk" no_leak
    check_t "$n" "$SHELL_TWINS" "$n: no shell prompt, and the typed 'se-secretd list' never ran" no_shell
    tenant_checks "$n"
}
negative_checks() { # negative_checks NAME PROBLEM-REGEX RULE
    local n=$1
    check_t "$n" "$POWER_TWINS" "$n: the kernel powered off (no hang, no reboot loop, no panic)" powered_off
    check_t "$n" "drop:$2" "$n: the console names the problem: file, reason and rule" console_has "$2"
    # (stderr or its kernel-log copy: the console interleaves the two, which
    # can cut one of them.)
    check_t "$n" "drop:FAILED \\(policy\\) at check" "$n: the boot run says the boot must stop" \
        console_has "se-secretd: (error: )?FAILED \(policy\) at check; the boot must stop: poweroff"
    check_t "$n" "drop:powering off now ;; subst:Encrypted volumes open: *$ => Encrypted volumes open: root " \
        "$n: the failure handler powered off per the policy, with no volume open" \
        console_has "se-secretd: (a step FAILED; )?powering off now \(policy on_failure=poweroff\)\. Encrypted volumes open: *$"
    check_t "$n" "add:cryptsetup: root: set up successfully ;; add:SE-SECRETD-BOOTTEST: real root reached ;; empty" \
        "$n: the encrypted root was never opened (no unlock, no mount, real root not reached)" \
        console_lacks 'Mounted .*sysroot|cryptsetup: root: set up successfully|opened /dev/[a-z]+ as /dev/mapper|SE-SECRETD-BOOTTEST|Finished.*se-secretd-unlock'
    check_t "$n" "result:marker=$MARKER" "$n: nothing written to the result disk" result_absent marker
    check_t "$n" "$LEAK_TWINS" "$n: no trace of a secret on the console" no_leak
    check_t "$n" "$SHELL_TWINS" "$n: no shell prompt, and the typed 'se-secretd list' never ran" no_shell
    tenant_failure_checks "$n" "$3"
}
TAMPERED_PROBLEM='ssh-host-ecdsa\.asr: the ec-p521 signature does not verify with "tenant".*\[bad-signature\]'
MISSING_PROBLEM='required secret "luks-root" \(plain\) has no request \[missing-required\]'
# The emergency boots' install failure: the TLS key's directory does not
# exist (the action's record line or its reason line: the serial console
# interleaves writers and can garble one of them).
MISSING_DIR_FAILURE='failed +tls-server-key +file +/etc/ssl/no-such-directory/server\.key|the directory [^ ]*/etc/ssl/no-such-directory does not exist \(set "create_parents"'
# The unlock phase's key-file record for systemd-cryptsetup: its line or its
# detail line (the console can garble either: "/runn/cryptsetup-keys.d").
KEYFILE_HANDED='keyfile +/run/cryptsetup-keys.d/data.key|key file for systemd-cryptsetup \(64 bytes, mode 0400\)'
# What systemd starts on the way to the switch to the new root.
TO_SWITCH_ROOT="Starting (initrd-parse-etc|dracut-pre-pivot|initrd-cleanup|initrd-switch-root)|Reached target initrd(-fs)?\.target|Reached target initrd-switch-root"

# A failure after a successful boot run (the root does not mount, or the
# switch to it fails) with the default policy (on_failure=poweroff) and the
# default command line: the guard powers off, no shell ever starts.
GUARD_POWEROFF="se-secretd: (the boot is failing into a shell; the policy allows none: powering off now \(on_failure=poweroff\)|(a step FAILED; )?powering off now \(policy on_failure=poweroff\))"
guard_checks() { # guard_checks NAME WHAT-FAILED-REGEX
    local n=$1
    check_t "$n" "drop:$OK_LINE" "$n: the boot run succeeded and locked the store before the failure" console_has "$OK_LINE"
    check_t "$n" "drop:$2 ;; late:$OK_LINE" "$n: the boot failed after the boot run, as the test made it" ordered "$OK_LINE" "$2"
    # Which of the two stops the boot first depends on the flavour and the
    # timing: the guard in front of the shell, or (systemd) the failure
    # handler of a se-secretd unit that runs on after the failure; both
    # carry out the policy, and neither lets a shell start.
    check_t "$n" "drop:powering off now ;; late:se-secretd: ok: " \
        "$n: se-secretd powered off per the policy (on_failure=poweroff): the shell guard or the failure handler" \
        ordered "se-secretd: ok: " "$GUARD_POWEROFF"
    check_t "$n" "$SHELL_TWINS" "$n: no shell prompt, and the typed 'se-secretd list' never ran" no_shell
    check_t "$n" "add:SE-SECRETD-BOOTTEST: real root reached ;; empty" "$n: the real root was never reached" console_lacks "SE-SECRETD-BOOTTEST"
    check_t "$n" "$LEAK_TWINS" "$n: no trace of a secret on the console" no_leak
    check_t "$n" "$POWER_TWINS" "$n: the kernel powered off (reboot: Power down; no panic, no restart)" powered_off
    tenant_checks "$n"
}
# A boot whose policy allows an emergency shell: the guard locked the store,
# wiped and closed, warned, and only then the shell came; in the shell the
# simulated ultravisor itself says the store is locked (rc 0x0102).
shell_checks() { # shell_checks NAME PROMPT-REGEX
    local n=$1 locked="se-secretd: secret store locked, hand-off files wiped, new root unmounted, encrypted volumes closed"
    check_t "$n" "late:secret store locked, hand-off files wiped ;; drop:secret store locked, hand-off files wiped" \
        "$n: the guard locked the store, wiped and closed before the shell" ordered "$locked" "$2"
    check_t "$n" "late:WARNING: the policy allows an emergency shell" \
        "$n: the warning that the shell can retrieve every secret came before the shell" \
        ordered "se-secretd: WARNING: the policy allows an emergency shell" "$2"
    check_t "$n" "drop:rc 0x0102 ;; late:rc 0x0102" \
        "$n: in the shell, the ultravisor refused to lock again: already locked (rc 0x0102)" \
        ordered "rc 0x0102" "SE-SECRETD-BOOTTEST-SHELL: lock exit 76"
    check_t "$n" "drop:SE-SECRETD-BOOTTEST-SHELL: done 42" "$n: the shell was used and the guest powered off from it" \
        console_has "SE-SECRETD-BOOTTEST-SHELL: done 42"
    check_t "$n" "add:SE-SECRETD-BOOTTEST: real root reached ;; empty" "$n: the real root was never reached" console_lacks "SE-SECRETD-BOOTTEST:"
    check_t "$n" "$LEAK_TWINS" "$n: no trace of a secret on the console" no_leak
    check_t "$n" "$POWER_TWINS" "$n: the kernel powered off (reboot: Power down; no panic, no restart)" powered_off
}

# Each boot's checks, by the boot's name (run.sh boots it; recheck.sh re-runs
# the checks on a finished run's evidence).
checks_for() { # checks_for NAME
    local n=$1
    case $n in
        dracut-good)
            positive_checks "$n" "Reached target .*(Encrypted Volumes|cryptsetup)|Mounted .*sysroot|Initrd Root Device"
            check_t "$n" "late:$KEYFILE_HANDED ;; drop:Finished .*(systemd-cryptsetup@data|Cryptography Setup for data)" \
                "$n: unlock handed the key file to systemd-cryptsetup, which opened 'data' without a prompt" \
                ordered "$KEYFILE_HANDED" "Finished .*(systemd-cryptsetup@data|Cryptography Setup for data)"
            check_t "$n" "drop:overwrote and removed the key file ;; late:Reached target .*cryptsetup\\." \
                "$n: the key file was overwritten and removed after cryptsetup.target" \
                ordered "Reached target .*cryptsetup\\." "overwrote and removed the key file"
            check_t "$n" "result:dm_names= root ;; result:dm_names= data" "$n: the booted system has both mappings open, root and data" \
                both_mappings
            check_t "$n" "late:opened /dev/[a-z]+ as /dev/mapper/root with the passphrase" \
                "$n: the unlock phase opened root with libcryptsetup before cryptsetup.target and the root mount" \
                ordered "opened /dev/[a-z]+ as /dev/mapper/root with the passphrase" "Reached target .*cryptsetup\\.|Mounted .*sysroot" ;;
        dracut-shell-good) positive_checks "$n" "opened /dev/[a-z]+ as /dev/mapper/root" ;;
        itools-good)
            positive_checks "$n" "cryptsetup: root: set up successfully"
            check_t "$n" 'report:r["actions"] = [a for a in r["actions"] if a.get("phase") != "keyscript"]' \
                "$n: cryptroot ran se-secretd's keyscript, which served the key (the report's keyscript record)" keyscript_served ;;
        *-tampered) negative_checks "$n" "$TAMPERED_PROBLEM" bad-signature ;;
        *-missing) negative_checks "$n" "$MISSING_PROBLEM" missing-required ;;
        dracut-corrupt-root) guard_checks "$n" "Failed to mount .*sysroot|Failed to start .*(File System Check|sysroot)|sysroot.mount.*failed|Dependency failed for .*(sysroot|Root)" ;;
        dracut-no-init) guard_checks "$n" "Failed to start initrd-switch-root.service|initrd-switch-root.service.*failed" ;;
        dracut-shell-corrupt-root) guard_checks "$n" "Could not mount|Failed to mount|[Cc]an't mount root|mount: " ;;
        dracut-shell-no-init) guard_checks "$n" "Cannot find init" ;;
        itools-corrupt-root) guard_checks "$n" "Failed to mount|mount: mounting|requires a manual fsck|fsck exited" ;;
        itools-no-init) guard_checks "$n" "No init found" ;;
        dracut-emergency)
            check_t "$n" "late:opened /dev/[a-z]+ as /dev/mapper/root" "$n: the root was opened and mounted before the install phase failed" \
                ordered "opened /dev/[a-z]+ as /dev/mapper/root" "Mounted .*sysroot"
            check_t "$n" "drop:no-such-directory" "$n: the install phase failed on the missing directory" console_has "$MISSING_DIR_FAILURE"
            check_t "$n" "late:se-secretd-install.service FAILED ;; drop:secret store locked, hand-off files wiped" \
                "$n: the failed unit handled its failure itself, before later units (ExecStopPost)" \
                ordered "se-secretd-install.service FAILED \\(exit-code" "secret store locked, hand-off files wiped"
            check_t "$n" "add:         Starting initrd-switch-root.service ;; add:[  OK  ] Reached target initrd.target ;; drop:se-secretd-install.service FAILED" \
                "$n: after the failed install nothing of the way to switch-root started" \
                nothing_after "se-secretd-install.service FAILED \\(exit-code" "$TO_SWITCH_ROOT"
            shell_checks "$n" "Press Enter for maintenance"
            phase_failure_checks "$n" ;;
        itools-emergency)
            check_t "$n" "late:cryptsetup: root: set up successfully" "$n: cryptroot opened the root before the install phase failed" \
                ordered "cryptsetup: root: set up successfully" "$MISSING_DIR_FAILURE"
            shell_checks "$n" "\\(initramfs\\) "
            phase_failure_checks "$n" ;;
        *) bad "$n: no checks for this boot" ;;
    esac
}
