#!/usr/bin/env bash
# Builds the agent as it goes into an initramfs: release, the Swift runtime
# linked statically (--static-swift-stdlib), libstdc++ and libgcc linked
# statically too, PIE with full RELRO, stripped. Writes out/se-secretd (and
# the unstripped out/se-secretd.debug), checks its linkage and that it holds
# no simulator, builder or workbench code (scripts/check-linkage.sh) and its
# size (at most 16 MB stripped), and prints the size table of
# benchmarks/results.md. Also writes, with the same flags, out/se-secretd-test
# (the agent with the simulated ultravisor as a backend, for the boot tests'
# images) and out/se-secretd-dev (the workbench); neither is released.
#
# Usage: scripts/build-release.sh [--breakdown]
#   --breakdown  also print which parts of the binary take the space
# See docs/hardening.md ("Release binary").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

breakdown=false
[ "${1:-}" = "--breakdown" ] && breakdown=true
limit=$((16 * 1000 * 1000))

scratch=.build-release
mkdir -p "$scratch/static-libs" out

# The Swift toolchain's static runtime link arguments name -lstdc++ and the
# clang driver links libgcc_s: both would stay dynamic. A directory holding
# only libstdc++.a, searched before GCC's, makes -lstdc++ resolve to the
# archive; -static-libgcc makes clang use libgcc.a/libgcc_eh.a.
clang="$(dirname "$(command -v swift)")/clang"
stdcxx=$("$clang" -print-file-name=libstdc++.a)
if [ ! -f "$stdcxx" ]; then
    echo "error: libstdc++.a not found (install the libstdc++-dev package the Swift toolchain uses)" >&2
    exit 69
fi
ln -sf "$stdcxx" "$scratch/static-libs/libstdc++.a"
flags=(-c release --static-swift-stdlib --scratch-path "$scratch"
       -Xswiftc -Xclang-linker -Xswiftc "-L$PWD/$scratch/static-libs"
       -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
       # Full RELRO: relocations resolved at start, then read-only.
       -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now
       # The toolchain exports every symbol of ours (-export-dynamic);
       # nothing looks them up, and they cost ~230 KB.
       -Xlinker --no-export-dynamic)

# Packed relative relocations (DT_RELR) shrink the PIE's relocation table
# from ~420 KB to ~3 KB. They need glibc >= 2.36 at run time and lld to
# link; the binary is built where it runs (same distribution), so they
# are used when this machine's glibc has them.
glibc=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}')
lld="$(dirname "$(command -v swift)")/ld.lld"
relr=no
if [ -x "$lld" ] && [ "$(printf '2.36\n%s\n' "$glibc" | sort -V | head -n 1)" = "2.36" ]; then
    printf '{ "schemaVersion": "1.0", "linker": { "path": "%s" } }\n' "$lld" > "$scratch/toolset.json"
    flags+=(--toolset "$scratch/toolset.json" -Xlinker -z -Xlinker pack-relative-relocs)
    relr=yes
fi

echo "==> building se-secretd (release, static Swift runtime and libstdc++, DT_RELR: $relr)" >&2
swift build "${flags[@]}" --product se-secretd >&2
bin="$scratch/release/se-secretd"
cp "$bin" out/se-secretd.debug
strip -o out/se-secretd "$bin"
# The same build of the boot tests' agent (the agent plus the simulated
# ultravisor as a backend) and of the workbench (se-secretd-dev); neither is
# released.
for product in se-secretd-test se-secretd-dev; do
    echo "==> building $product (release, the same flags)" >&2
    swift build "${flags[@]}" --product "$product" >&2
    cp "$scratch/release/$product" "out/$product.debug"
    strip -o "out/$product" "$scratch/release/$product"
done
gzip -9 -n -c out/se-secretd > out/se-secretd.gz
xz -9 -c out/se-secretd > out/se-secretd.xz

size() { stat -c %s "$1" | awk '{printf "%.2f MB (%d bytes)", $1/1e6, $1}'; }
echo "| build | size |"
echo "|---|---|"
echo "| release, static Swift runtime and libstdc++, unstripped | $(size out/se-secretd.debug) |"
echo "| stripped (out/se-secretd) | $(size out/se-secretd) |"
echo "| stripped, gzip -9 | $(size out/se-secretd.gz) |"
echo "| stripped, xz -9 | $(size out/se-secretd.xz) |"
echo "| the workbench, stripped (out/se-secretd-dev) | $(size out/se-secretd-dev) |"
echo "| the boot tests' agent, stripped (out/se-secretd-test) | $(size out/se-secretd-test) |"
echo
echo "Direct dependencies (NEEDED): $(readelf -d out/se-secretd | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | xargs echo)"
echo

if $breakdown; then
    python3 scripts/size-breakdown.py out/se-secretd.debug
    echo
fi

bash scripts/check-linkage.sh out/se-secretd out/se-secretd.debug >&2
# The check has teeth: the boot tests' agent must have what the agent must not.
test_linkage=$(bash scripts/check-linkage.sh out/se-secretd-test out/se-secretd-test.debug 2>&1 || true)
if ! grep -q "symbols of UVSimulator" <<< "$test_linkage"; then
    echo "FAILED: check-linkage.sh finds no UVSimulator symbols in out/se-secretd-test, which has them: the check cannot fail" >&2
    exit 1
fi
# _StringProcessing (the regex engine) costs ~1.3 MB stripped; one
# String.contains(String), firstRange(of:), split(separator: String),
# replacing(_:with:) or Regex in the agent's modules links all of it.
# (grep -c, not grep -q: -q stops at the first match, nm dies of SIGPIPE, and
# under pipefail the pipeline "fails", so the check never fired.)
regex_symbols=$(nm out/se-secretd.debug | grep -c '17_StringProcessing' || true)
if [ "${regex_symbols:-0}" -gt 0 ]; then
    echo "FAILED: out/se-secretd links Swift's _StringProcessing (regex engine, ~1.3 MB); find the call with" >&2
    echo "        nm -u $scratch/release/*.build/*.o | grep _StringProcessing   (and use hasPrefix/hasSuffix or a byte search)" >&2
    exit 1
fi
stripped=$(stat -c %s out/se-secretd)
if [ "$stripped" -gt "$limit" ]; then
    echo "FAILED: out/se-secretd has $stripped bytes stripped, more than the 16 MB budget" >&2
    exit 1
fi
