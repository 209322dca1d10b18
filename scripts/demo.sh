#!/usr/bin/env bash
# The main job on a built-in example: install what is missing, build
# se-secretd, write an example deployment (host key, signed requests,
# policy) and check it the way the guest will at boot. Then show that a
# planted request is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

echo "==> building se-secretd (release)"
swift build -c release --product se-secretd 2>&1 | tail -n 1
bin=$(swift build -c release --show-bin-path)/se-secretd

work=$(mktemp -d /tmp/se-secretd-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo
echo "==> se-secretd example $work/deploy"
"$bin" example "$work/deploy"
echo
echo "==> se-secretd check (the policy is what the initrd embeds; the requests are what the tenant ships)"
"$bin" check --policy "$work/deploy/policy.json" --requests "$work/deploy/requests" \
    --host-key-document "$work/deploy/host-key.crt"

echo
echo "==> the host plants a request of its own next to the tenant's"
cp -r "$work/deploy/requests" "$work/tampered"
"$bin" example "$work/attacker" >/dev/null
cp "$work/attacker/requests/luks-root.asr" "$work/tampered/zz-injected.asr"
set +e
"$bin" check --policy "$work/deploy/policy.json" --requests "$work/tampered"
code=$?
set -e
echo "exit code $code (65 = policy violation): the boot would stop here, before any secret is added."
[ "$code" -eq 65 ]
