#!/usr/bin/env bash
# Installs what se-secretd needs to build and test on Debian 12, if missing.
# Safe to run repeatedly; does nothing when everything is there.
set -euo pipefail

# Everything the build and the tests use, named here: CI installs with
# --no-install-recommends on a fresh machine, so a package that only comes as
# a Recommends (the s390x C library headers of the cross compiler) or that a
# developer installed by hand is not there unless it is listed.
#   build:  libssl-dev libcryptsetup-dev libblkid-dev pkg-config
#   tests:  openssl cryptsetup-bin openssh-client e2fsprogs xz-utils time file
#           python3-jsonschema (policy schema cross-check)
#           gcc-s390x-linux-gnu libc6-dev-s390x-cross (s390x layout check)
# The boot tests install their own (scripts/boot-tests/run.sh).
packages=(time file libssl-dev libcryptsetup-dev libblkid-dev pkg-config openssl cryptsetup-bin
          gcc-s390x-linux-gnu libc6-dev-s390x-cross python3-jsonschema
          openssh-client e2fsprogs xz-utils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "==> installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        [ -x "$d/swift" ] && export PATH="$d:$PATH" && break
    done
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain found. se-secretd needs Swift 6 (swift.org toolchain for Debian 12," >&2
    echo "       unpacked e.g. to /opt/swift). Debian 12 itself does not package Swift 6." >&2
    exit 69
fi
