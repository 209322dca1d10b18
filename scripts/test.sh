#!/usr/bin/env bash
# Runs every test of se-secretd: the Swift test suites, the policy schema
# cross-check, the s390x layout check of the UV ABI and the QEMU boot tests. Installs what is
# missing first. Exit code 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

steps_passed=0
steps_failed=0
step() {
    local name=$1; shift
    echo
    echo "==> $name"
    if "$@"; then steps_passed=$((steps_passed + 1)); else echo "FAILED: $name"; steps_failed=$((steps_failed + 1)); fi
}

step "swift build (debug, with tests)" swift build --build-tests
step "swift test" swift test
if [ -f scripts/check-policy-schema.py ]; then
    step "policy JSON Schema agrees with the parser's fixtures" \
        python3 scripts/check-policy-schema.py Tests/SecretPolicyTests/Fixtures/policies
fi
if [ -x scripts/check-uapi-s390x.sh ]; then
    step "UV ABI layout on s390x (big-endian cross compile)" scripts/check-uapi-s390x.sh
fi

if [ -f scripts/boot-tests/run.sh ]; then
    # Real kernels, real dracut and initramfs-tools images, QEMU (TCG): ~15 min
    # on 2 cores from a fresh clone. Needs root; says why and skips otherwise.
    step "boot tests in QEMU (dracut+systemd, dracut shell, initramfs-tools)" bash scripts/boot-tests/run.sh
fi

echo
echo "test steps: $steps_passed passed, $steps_failed failed"
[ "$steps_failed" -eq 0 ]
