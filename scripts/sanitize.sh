#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer (with LeakSanitizer) and,
# separately, UndefinedBehaviorSanitizer. Each sanitizer builds into its own
# scratch path (.build-asan, .build-ubsan) so the builds never collide with
# each other or with the plain .build. Any sanitizer report fails the run.
#
# ASan instruments Swift and C alike (swift build --sanitize=address).
# swiftc has no -sanitize=undefined on Linux ("unsupported option"), and
# Swift code needs none: overflow, bounds and exclusivity are checked by the
# language. UBSan therefore covers the C code — our C targets and the inline
# functions of the C headers Swift imports — built with
# -fsanitize=undefined, every check fatal, and the runtime linked by clang.
#
# Usage: scripts/sanitize.sh [address] [undefined]   (default: both)
# See docs/hardening.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

if [ $# -gt 0 ]; then sanitizers=("$@"); else sanitizers=(address undefined); fi

# halt_on_error: the first report stops the test process, so that it fails
# loudly instead of scrolling by in a passing run.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

failed=0
for s in "${sanitizers[@]}"; do
    case "$s" in
        address) scratch=.build-asan; flags=(--sanitize=address) ;;
        undefined) scratch=.build-ubsan
            flags=(-Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined
                   -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined) ;;
        *) echo "usage: scripts/sanitize.sh [address] [undefined]" >&2; exit 64 ;;
    esac
    echo "==> $s: build ($scratch)"
    start=$(date +%s)
    if ! swift build --build-tests --scratch-path "$scratch" "${flags[@]}"; then
        echo "FAILED: $s build"; failed=1; continue
    fi
    built=$(date +%s)
    echo "==> $s: swift test"
    log="$scratch/test.log"
    set +e
    swift test --skip-build --scratch-path "$scratch" "${flags[@]}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    # A report in a child process (the agent binary run by a test) does not
    # always fail the test that ran it: look for reports in the output too.
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$log"; then
        echo "FAILED: $s: sanitizer report (see $log)"; failed=1
    elif [ "$rc" -ne 0 ]; then
        echo "FAILED: $s: tests failed (exit $rc)"; failed=1
    fi
    echo "$s: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
done
exit $failed
