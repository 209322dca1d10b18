#!/bin/sh
# Proves the layout of the CUVDevice C target on s390x (big-endian): compiles
# the header's _Static_asserts and the ioctl wrapper with Debian's
# s390x-linux-gnu-gcc, and for comparison with the host compiler.
# Exit status: 0 when every check compiles, non-zero otherwise.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/Sources/CUVDevice"
cc=${S390X_CC:-s390x-linux-gnu-gcc}
flags="-std=c11 -Wall -Wextra -Werror -pedantic -O2 -I$src/include"

# The cross compiler alone has no C library headers (<stdint.h> needs
# bits/libc-header-start.h): libc6-dev-s390x-cross is only a Recommends of
# gcc-s390x-linux-gnu, so both are named.
if ! command -v "$cc" >/dev/null 2>&1 || ! [ -e /usr/s390x-linux-gnu/include/bits/libc-header-start.h ]; then
    if [ -z "${S390X_CC:-}" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "check-uapi-s390x: installing gcc-s390x-linux-gnu libc6-dev-s390x-cross" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            gcc-s390x-linux-gnu libc6-dev-s390x-cross >/dev/null
    fi
fi
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "check-uapi-s390x: $cc is missing; install the Debian packages gcc-s390x-linux-gnu" >&2
    echo "  and libc6-dev-s390x-cross (apt-get install, as root) or set S390X_CC" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
check() {
    label=$1; shift
    if "$@"; then
        echo "ok   $label"
    else
        echo "FAIL $label" >&2
        status=1
    fi
}

# 1. The wrapper and every static assertion, for s390x.
check "s390x: $src/uvdevice_abi.c" $cc $flags -c "$src/uvdevice_abi.c" -o "$tmp/abi-s390x.o"

# 2. The target really is big-endian with 64-bit longs (guards against a
#    compiler that silently targets something else).
cat > "$tmp/target.c" <<'C'
#include "uvdevice_abi.h"
_Static_assert(__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__, "big-endian target");
_Static_assert(sizeof(long) == 8, "64-bit target");
#ifndef __s390x__
#error "not compiling for s390x"
#endif
int se_target_probe(void);
int se_target_probe(void) { return (int)sizeof(struct se_uvio_ioctl_cb); }
C
check "s390x: big-endian, LP64, header self-contained" $cc $flags -c "$tmp/target.c" -o "$tmp/target.o"

# 3. The object really is s390x code: ELF machine 22 (EM_S390), big-endian
#    (read from the header itself; a missing object is a failure).
obj=$tmp/abi-s390x.o
if [ -s "$obj" ]; then
    # e_ident[EI_DATA] (byte 5) = 2: big-endian; e_machine (bytes 18-19, big-endian) = 0x0016.
    ident=$(od -An -tx1 -j5 -N1 "$obj" | tr -d ' ')
    machine=$(od -An -tx1 -j18 -N2 "$obj" | tr -d ' ')
    if [ "$ident" = 02 ] && [ "$machine" = 0016 ]; then
        echo "ok   object is s390x (ELF big-endian, e_machine EM_S390)"
    else
        echo "FAIL object is not s390x (EI_DATA $ident, e_machine $machine)" >&2; status=1
    fi
else
    echo "FAIL no s390x object was built" >&2
    status=1
fi

# 4. The same header on the host (little-endian on x86-64).
hostcc=${HOST_CC:-cc}
if command -v "$hostcc" >/dev/null 2>&1; then
    check "host ($($hostcc -dumpmachine)): $src/uvdevice_abi.c" \
        $hostcc $flags -c "$src/uvdevice_abi.c" -o "$tmp/abi-host.o"
fi

if [ $status -eq 0 ]; then
    echo "check-uapi-s390x: all layout checks hold on s390x and on the host"
fi
exit $status
