#!/usr/bin/env bash
# The main job on a built-in example, against a simulated ultravisor:
# install what is missing, build se-secretd, create a simulated guest,
# write an example deployment for it (host key, signed requests, policy),
# check it as an administrator would, then run the boot run the initramfs
# runs (a directory stands in for the request volume) and show the report,
# then use the secrets: unlock a LUKS2 image with the retrieved passphrase and
# install the host keys, TLS key and credentials into a directory standing in
# for the new root. The tenant then verifies the boot from outside: the
# attestation the run made (bound to the policy and the run's facts) against
# its own attestation request and protection key, and refuses a tampered
# response. Finally, show that a planted request stops the boot before anything is
# added.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

# The workbench, se-secretd-dev: the agent's commands (check, boot, unlock,
# install, ...) plus the simulated ultravisor and `sim`, `example`. The agent
# itself (the product se-secretd) talks to /dev/uv only.
echo "==> building se-secretd-dev (the workbench; release, static Swift runtime)"
swift build -c release --static-swift-stdlib --product se-secretd-dev 2>&1 | tail -n 1
bin=$(swift build -c release --show-bin-path)/se-secretd-dev

work=$(mktemp -d /tmp/se-secretd-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
sim=(--uv-sim "$work/sim" --sysfs "$work/sim/sysfs")

echo
echo "==> se-secretd-dev sim init: a simulated ultravisor (host key, image, config UID)"
"$bin" sim init --state "$work/sim"
echo
echo "==> se-secretd-dev example: the tenant's signed requests and the ISV's policy"
# --demo-unverified-root: the demo's new root is a plain directory, so its policy
# says "root": {"type": "any"}. FOR THE DEMO ONLY: a real policy binds the root to
# its LUKS volume (the example's default, "root": {"type": "luks", "volume": "root"}).
"$bin" example "$work/deploy" --sim "$work/sim" --demo-unverified-root --attest
echo
echo "==> se-secretd check: what an administrator runs before deploying"
# --se-header: the simulated image's SE header (sim init writes it), so the image binding is checked too.
"$bin" check -p "$work/deploy/policy.json" -r "$work/deploy/requests" -k "$work/deploy/host-key.crt" \
    --se-header "$work/sim/se-header.bin"

echo
echo "==> se-secretd boot: what the initramfs runs at every boot"
: > "$work/console.log"   # stands in for /dev/console (the serial console the host logs)
"$bin" boot -p "$work/deploy/policy.json" "${sim[@]}" -r "$work/deploy/requests" \
    --run-dir "$work/run" --kmsg "$work/kmsg" --console "$work/console.log"
echo
echo "==> the report ($work/run/report.json, mode 0600, no secrets), abridged"
python3 - "$work/run/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"verdict {r['verdict']}; policy sha256 {r['policy']['sha256'][:16]}…")
for q in sorted(r["requests"], key=lambda q: q["order"]):
    print(f"  {q['order']:>2} {q['file']:<26} {q['secret_type']:<12} signer {q['signer']:<7} {q['result']:<8} rc {q['uv_rc']}")
s = r["store"]
print(f"store locked {s['locked']}, verified {s['verified']}, {s['secrets']} secrets")
print(f"secret-store hash (what attestation reports): {s['secret_store_hash'][:32]}…")
a = r["attestation"]
print(f"attested: {a['performed']} (additional data: {', '.join(a['additional_data'])}; user data = run binding {a['user_data'][:24]}…)")
print("timings ms: " + ", ".join(f"{k} {v}" for k, v in r["timings_ms"].items()))
PY
echo "(the console got the results record as $(grep -c '^SESD-RESULT ' "$work/console.log") SESD-RESULT lines)"

echo
echo "==> the ultravisor's store now"
"$bin" list "${sim[@]}"

echo
echo "==> se-secretd unlock: open the LUKS2 root with the passphrase from the store (an image file here)"
truncate -s 32M "$work/root.img"
cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$work/deploy/values/luks-root" "$work/root.img"
check_only=()
grep -q " device-mapper$" /proc/misc 2>/dev/null && [ "$(id -u)" -eq 0 ] || check_only=(--check-only)
[ ${#check_only[@]} -eq 0 ] || echo "(no device-mapper here: the key is checked against the LUKS2 header, nothing is activated)"
"$bin" unlock -p "$work/deploy/policy.json" "${sim[@]}" --run-dir "$work/run" \
    --device "LABEL=root=$work/root.img" "${check_only[@]}"
[ ${#check_only[@]} -ne 0 ] || cryptsetup close root
echo
echo "==> se-secretd install: host keys, TLS key and credentials into the mounted root (a directory here)"
echo "(demo only: the policy says \"root\": {\"type\": \"any\"}, so install does not check that this directory"
echo " is the policy's LUKS volume; at boot the root must be /dev/mapper/root opened by the policy)"
mkdir -p "$work/sysroot/etc/ssh" "$work/sysroot/etc/ssl/private"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/sysroot/etc/passwd"
printf 'root:x:0:\n' > "$work/sysroot/etc/group"
handoff=(--credentials-dir "$work/credentials/@initrd" --no-tmpfs-check)
if grep -q "^tmpfs /dev/shm " /proc/mounts; then
    shm=$(mktemp -d /dev/shm/se-secretd-demo.XXXXXX)
    trap 'rm -rf "$work" "$shm"' EXIT
    handoff=(--credentials-dir "$shm/credentials/@initrd")
fi
"$bin" install -p "$work/deploy/policy.json" "${sim[@]}" --run-dir "$work/run" --root "$work/sysroot" "${handoff[@]}"
(cd "$work/sysroot" && ls -ln etc/ssh etc/ssl/private | sed 's/^/    /')
echo
echo "==> the report's action records (no secret values)"
python3 - "$work/run/report.json" <<'PY'
import json, sys
for a in json.load(open(sys.argv[1]))["actions"]:
    print(f"  {a['phase']:<8} {a['secret']:<22} {a['action']:<11} {a['result']:<7} {a['target']}")
PY

echo
echo "==> se-secretd verify: the tenant, outside the guest, with its attestation request and protection key"
echo "    (from the console log the host hands over; the same works on the results device's image)"
verify=(--request "$work/deploy/attestation-request.bin" --arpk "$work/deploy/attestation.arpk"
        --se-header "$work/sim/se-header.bin" --policy "$work/deploy/policy.json" --requests "$work/deploy/requests")
"$bin" verify --console-log "$work/console.log" "${verify[@]}"
echo
echo "==> the same with one byte of the response changed (the host edits the record it hands over)"
python3 - "$work/run/attestation-response.bin" "$work/tampered.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-20] ^= 1          # a byte of the config UID / additional data the measurement covers
open(sys.argv[2], "wb").write(b)
PY
set +e
"$bin" verify --response "$work/tampered.bin" "${verify[@]}"
code=$?
set -e
echo "exit code $code: refused"
[ "$code" -ne 0 ]

echo
echo "==> a fresh boot where the host planted a request of its own next to the tenant's"
"$bin" sim init --state "$work/sim2" >/dev/null
"$bin" example "$work/deploy2" --sim "$work/sim2" >/dev/null
"$bin" example "$work/attacker" --sim "$work/sim2" >/dev/null
cp "$work/attacker/requests/luks-root.asr" "$work/deploy2/requests/zz-injected.asr"
set +e
"$bin" boot -p "$work/deploy2/policy.json" --uv-sim "$work/sim2" --sysfs "$work/sim2/sysfs" \
    -r "$work/deploy2/requests" --run-dir "$work/run2" --kmsg none
code=$?
set -e
echo "exit code $code (65 = policy violation); failure action from the policy: $(cat "$work/run2/failure-action")"
"$bin" sim status --state "$work/sim2" | sed -n 1,2p   # not head: an early close is SIGPIPE, fatal with pipefail
[ "$code" -eq 65 ]
