#!/usr/bin/env bash
# Checks how the agent binary is linked (scripts/build-release.sh runs it;
# scripts/test.sh runs that in CI). Fails when the binary
#   - needs a shared library other than glibc's libc and libm, libcrypto,
#     libcryptsetup and libblkid (its direct NEEDED entries; what those
#     libraries pull in themselves is the system's business),
#   - is not a position-independent executable,
#   - lacks full RELRO (GNU_RELRO and BIND_NOW),
#   - has an executable stack.
# libm.so.6 is part of glibc (same package and version as libc.so.6); the
# Swift runtime's math needs it.
# With UNSTRIPPED (the same binary before strip), also fails when it contains
# code of the workbench: the simulated ultravisor (UVSimulator), the request
# builder and the ultravisor's decryption (RequestBuilding), the example and
# the sim commands (SecretdWorkbench). Swift symbols carry their module's name.
# Usage: scripts/check-linkage.sh BINARY [UNSTRIPPED]
set -euo pipefail
bin=${1:?usage: scripts/check-linkage.sh BINARY [UNSTRIPPED]}
unstripped=${2:-}

allowed='^(libc\.so\.6|libm\.so\.6|libcrypto\.so\.3|libcryptsetup\.so\.12|libblkid\.so\.1|ld-linux-[a-z0-9_-]+\.so\.[0-9]+)$'
problems=0
echo "==> linkage of $bin"
ldd "$bin" | sed 's/^/    /'
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in $needed; do
    if ! grep -Eq "$allowed" <<<"$lib"; then
        echo "FAILED: $bin needs $lib (allowed: libc, libm, libcrypto, libcryptsetup, libblkid)"
        problems=$((problems + 1))
    fi
done
if ! readelf -h "$bin" | grep -q 'Type:.*DYN'; then
    echo "FAILED: $bin is not a position-independent executable"; problems=$((problems + 1))
fi
if ! readelf -lW "$bin" | grep -q GNU_RELRO; then
    echo "FAILED: $bin has no GNU_RELRO segment"; problems=$((problems + 1))
fi
if ! readelf -d "$bin" | grep -Eq '\(BIND_NOW\)|FLAGS.*\bNOW\b'; then
    echo "FAILED: $bin is not linked with -z now (full RELRO)"; problems=$((problems + 1))
fi
if readelf -lW "$bin" | grep GNU_STACK | grep -q RWE; then
    echo "FAILED: $bin has an executable stack"; problems=$((problems + 1))
fi
if [ -n "$unstripped" ]; then
    nm "$unstripped" > /dev/null 2>&1 || { echo "FAILED: cannot read the symbols of $unstripped"; problems=$((problems + 1)); }
    for module in UVSimulator RequestBuilding SecretdWorkbench; do
        n=$( (nm "$unstripped" 2> /dev/null || true) | grep -c -E "[0-9]${module}[0-9A-Z_]" || true)
        if [ "${n:-0}" -gt 0 ]; then
            echo "FAILED: $bin contains $n symbols of $module (workbench code; see Package.swift's products)"
            problems=$((problems + 1))
        fi
    done
    # Test hooks exist in debug builds only (SE_TEST_HOOKS, Package.swift).
    n=$( (nm "$unstripped" 2> /dev/null || true) | grep -c -E 'SecureBytes.*(wipeObserver|lifecycleObserver)' || true)
    if [ "${n:-0}" -gt 0 ]; then
        echo "FAILED: $bin contains SecureBytes' test hooks ($n symbols; a release build must not define SE_TEST_HOOKS)"
        problems=$((problems + 1))
    fi
fi
if [ $problems -eq 0 ]; then
    echo "linkage ok: needs $(echo $needed | xargs echo); PIE, full RELRO, non-executable stack${unstripped:+; no simulator, builder or workbench code, no test hooks}"
fi
[ $problems -eq 0 ]
