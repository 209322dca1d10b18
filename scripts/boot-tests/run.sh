#!/usr/bin/env bash
# The boot tests: real Linux kernels booting initramfs images built by the real
# dracut (systemd in the initrd) and initramfs-tools (mkinitramfs), each with
# se-secretd, its policy and a simulated ultravisor, in QEMU (software
# emulation by default), with an encrypted LUKS2 root and a request volume.
# See docs/integration.md ("The boot tests").
#
#   sudo scripts/boot-tests/run.sh            everything (about 10-20 min under TCG)
#
# Environment:
#   SE_BOOTTEST_CACHE=DIR    chroots, kernel, images (default .cache/boot-tests, gitignored)
#   SE_BOOTTEST_ACCEL=tcg    tcg (default: what CI has), kvm, or auto
#   SE_BOOTTEST_ONLY="..."   a subset of: verify dracut-systemd initramfs-tools dracut-shell
#   SE_BOOTTEST_BOOT_TIMEOUT=SECONDS  per boot (default 300)
#   SE_BOOTTEST_BINARY=FILE  put this se-secretd into the images (default: out/se-secretd-test,
#                            the agent with the simulator backend, from scripts/build-release.sh)
#   SE_BOOTTEST_DEV=FILE     the workbench that makes the test material (default out/se-secretd-dev)
#   SE_BOOTTEST_WORK=DIR     the run's evidence and material (default CACHE/work; wiped first)
#   SE_BOOTTEST_BOOTS="..."  only these boots (by name, e.g. dracut-good); the others are
#                            not booted and their checks not run
#   SE_BOOTTEST_BREAK=WHAT   break the product on purpose, so that named checks must
#                            fail (the harness's self-test, scripts/boot-tests/selftest.sh):
#                            guard (the shell guard does nothing), lock (policies with
#                            store.lock false), leak (the booted root prints the TLS key),
#                            reboot (policies with on_failure reboot)
#
# Debian's dracut and initramfs-tools packages conflict, and the machine's own
# boot must not be touched: each builder lives in its own debootstrapped chroot
# (cached, rebuilt when the package set or the kernel changes), and the images
# are built there with the kernel of linux-image-amd64.
#
# Exits 0 when every check passed; 77 when the tests cannot run on this kind of
# machine at all (not root, not x86_64, no apt): then it says why and skips. A
# failed download or debootstrap is a failure.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/scripts/boot-tests
CACHE=${SE_BOOTTEST_CACHE:-$REPO/.cache/boot-tests}
ACCEL=${SE_BOOTTEST_ACCEL:-tcg}
ONLY=${SE_BOOTTEST_ONLY:-verify dracut-systemd initramfs-tools dracut-shell}
BREAK=${SE_BOOTTEST_BREAK:-}
BOOTS=${SE_BOOTTEST_BOOTS:-}
case "$BREAK" in '' | guard | lock | leak | reboot) ;; *) echo "SE_BOOTTEST_BREAK is guard, lock, leak or reboot" >&2; exit 64 ;; esac
BOOT_TIMEOUT=${SE_BOOTTEST_BOOT_TIMEOUT:-300}
SUITE=bookworm
MIRROR=${SE_BOOTTEST_MIRROR:-http://deb.debian.org/debian}
SIM_IN_INITRD=/etc/se-secretd/boottest-sim
KEYSCRIPT=/usr/lib/se-secretd/se-secretd-keyscript
# Bumped when the chroot recipe changes (invalidates the cache).
CHROOT_RECIPE=4

passed=0
failed=0
failures=()
T0=$(date +%s)

note() { echo "boot-tests: $*"; }
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); failures+=("$*"); echo "  FAIL  $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
# Exit 77: skipped (scripts/test.sh counts it as a skip, never as a pass).
skip_all() {
    echo "SKIP: boot tests: $*"
    echo "boot tests: 0 passed, 0 failed, skipped"
    exit 77
}
# The machine cannot run them at all (not a skip: something that should work did not).
fail_all() {
    echo "FAILED: boot tests: $*"
    echo "boot tests: $passed passed, $((failed + 1)) failed"
    exit 1
}
wants() { [[ " $ONLY " == *" $1 "* ]]; }
elapsed() { echo $(($(date +%s) - $1)); }

# ---------------------------------------------------------------- preconditions

[ "$(id -u)" -eq 0 ] || skip_all "need root (debootstrap, chroot, mount); run with sudo"
[ "$(uname -m)" = x86_64 ] || skip_all "the tests boot x86_64 Debian kernels; this machine is $(uname -m)"
command -v apt-get > /dev/null || skip_all "need a Debian machine (apt-get) to fetch debootstrap, QEMU and the kernel"

host_packages=(debootstrap qemu-system-x86 busybox-static e2fsprogs cryptsetup-bin python3 zstd cpio)
missing=()
for p in "${host_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    note "installing ${missing[*]}"
    apt-get update -qq || fail_all "apt-get update failed (no network?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null ||
        fail_all "cannot install ${missing[*]} with apt-get"
fi

case "$ACCEL" in
    auto) if [ -w /dev/kvm ]; then ACCEL=kvm; else ACCEL=tcg; fi ;;
    kvm | tcg) ;;
    *) echo "SE_BOOTTEST_ACCEL is tcg, kvm or auto" >&2; exit 64 ;;
esac

# ------------------------------------------------------------- mounts, cleanup

MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2> /dev/null || true; done
    MOUNTS=()
}
trap cleanup EXIT

chroot_mount() {
    local r=$1
    mount -t proc proc "$r/proc" && MOUNTS+=("$r/proc")
    mount -t sysfs sysfs "$r/sys" && MOUNTS+=("$r/sys")
    mount --bind /dev "$r/dev" && MOUNTS+=("$r/dev")
}
chroot_umount() {
    local r=$1 m keep=()
    for m in "${MOUNTS[@]}"; do
        if [[ $m == "$r"/* ]]; then umount -l "$m" 2> /dev/null || true; else keep+=("$m"); fi
    done
    MOUNTS=("${keep[@]}")
}
# rm -rf that refuses to cross into a mount (a chroot's /proc or /dev).
safe_rm() {
    local d
    for d in "$@"; do
        [ -e "$d" ] || continue
        if grep -q " $(realpath "$d")[/ ]" /proc/mounts; then
            echo "boot-tests: refusing to remove $d: something is mounted below it" >&2
            exit 1
        fi
        rm -rf --one-file-system "$d"
    done
}
in_chroot() { # in_chroot ROOT COMMAND...
    local r=$1; shift
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

mkdir -p "$CACHE"

# --------------------------------------------------------------- the kernel

step_t=$(date +%s)
kpkg=$(apt-cache depends linux-image-amd64 2> /dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
if [ -z "$kpkg" ]; then
    apt-get update -qq || true
    kpkg=$(apt-cache depends linux-image-amd64 2> /dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
fi
[ -n "$kpkg" ] || fail_all "apt knows no linux-image-amd64 (no Debian package lists)"
KVER=${kpkg#linux-image-}
kdeb=$(ls "$CACHE"/debs/"${kpkg}"_*.deb 2> /dev/null | head -n 1 || true)
if [ -z "$kdeb" ]; then
    mkdir -p "$CACHE/debs"
    (cd "$CACHE/debs" && apt-get download "$kpkg" > /dev/null 2>&1) || fail_all "cannot download $kpkg"
    kdeb=$(ls "$CACHE"/debs/"${kpkg}"_*.deb | head -n 1)
fi
note "kernel $KVER ($(basename "$kdeb"))"

# ------------------------------------------------------------------ chroots

# base: debootstrap minbase with systemd, udev, cryptsetup; then one copy with
# dracut and one with initramfs-tools (+ cryptsetup-initramfs), each with the
# kernel unpacked into it.
DRACUT_PKGS="dracut cryptsetup systemd-sysv"
ITOOLS_PKGS="initramfs-tools cryptsetup-initramfs busybox"
BASE_INCLUDE="systemd,udev,kmod,cryptsetup-bin,libcryptsetup12,libssl3,dmsetup,zstd"
chroot_key=$(echo "$CHROOT_RECIPE $SUITE $BASE_INCLUDE $DRACUT_PKGS $ITOOLS_PKGS $(basename "$kdeb")" | sha256sum | cut -c1-16)

build_chroot() { # build_chroot NAME PACKAGES...
    local name=$1; shift
    local dir=$CACHE/chroot-$name
    if [ -f "$dir/.boottest-key" ] && [ "$(cat "$dir/.boottest-key")" = "$chroot_key" ]; then
        return 0
    fi
    note "building the $name chroot (debootstrap $SUITE; cached in $dir)"
    safe_rm "$dir" "$dir.new"
    if [ ! -f "$CACHE/base.tar" ] || [ "$(cat "$CACHE/base.key" 2> /dev/null)" != "$chroot_key" ]; then
        safe_rm "$CACHE/base"
        debootstrap --variant=minbase --include="$BASE_INCLUDE" "$SUITE" "$CACHE/base" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
            { tail -n 20 "$CACHE/debootstrap.log"; fail_all "debootstrap failed (no network to $MIRROR?); log: $CACHE/debootstrap.log"; }
        tar -C "$CACHE/base" -cf "$CACHE/base.tar" .
        echo "$chroot_key" > "$CACHE/base.key"
        safe_rm "$CACHE/base"
    fi
    mkdir -p "$dir.new"
    tar -C "$dir.new" -xf "$CACHE/base.tar"
    chroot_mount "$dir.new"
    DEBIAN_FRONTEND=noninteractive in_chroot "$dir.new" apt-get install -y -q --no-install-recommends "$@" > "$CACHE/$name-apt.log" 2>&1 ||
        { chroot_umount "$dir.new"; tail -n 20 "$CACHE/$name-apt.log"; echo "boot-tests: apt-get install $* failed in the $name chroot" >&2; exit 1; }
    in_chroot "$dir.new" apt-get clean
    chroot_umount "$dir.new"
    # The kernel package unpacked beside, then copied in (dpkg -x straight into
    # the chroot would replace its merged-/usr /lib symlink with a directory).
    safe_rm "$CACHE/kernel-unpacked"
    dpkg -x "$kdeb" "$CACHE/kernel-unpacked"
    mkdir -p "$dir.new/boot" "$dir.new/usr/lib/modules"
    cp -a "$CACHE/kernel-unpacked/boot/." "$dir.new/boot/"
    cp -a "$CACHE/kernel-unpacked/lib/modules/$KVER" "$dir.new/usr/lib/modules/"
    safe_rm "$CACHE/kernel-unpacked"
    in_chroot "$dir.new" depmod "$KVER"
    echo "$chroot_key" > "$dir.new/.boottest-key"
    mv "$dir.new" "$dir"
}

need_dracut=no
need_itools=no
{ wants dracut-systemd || wants dracut-shell || wants verify; } && need_dracut=yes
wants initramfs-tools && need_itools=yes
[ $need_dracut = yes ] && build_chroot dracut $DRACUT_PKGS
[ $need_itools = yes ] && build_chroot itools $ITOOLS_PKGS
DRACUT_ROOT=$CACHE/chroot-dracut
ITOOLS_ROOT=$CACHE/chroot-itools
note "chroots ready ($(elapsed "$step_t") s)"

# ------------------------------------------------------------------ se-secretd

step_t=$(date +%s)
# BIN goes into the images as /usr/bin/se-secretd: the agent as it goes into
# an initramfs (static Swift runtime and libstdc++, full RELRO, stripped),
# built with the simulated ultravisor as its one extra backend (se-secretd-
# test), since QEMU has no ultravisor. DEV, the workbench, makes the test
# material and reads the simulator's state back.
if [ -z "${SE_BOOTTEST_BINARY:-}" ] || [ -z "${SE_BOOTTEST_DEV:-}" ]; then
    (cd "$REPO" && bash scripts/build-release.sh > "$CACHE/release-build.log" 2>&1) ||
        { tail -n 30 "$CACHE/release-build.log"; echo "boot-tests: scripts/build-release.sh failed" >&2; exit 1; }
fi
BIN=${SE_BOOTTEST_BINARY:-$REPO/out/se-secretd-test}
DEV=${SE_BOOTTEST_DEV:-$REPO/out/se-secretd-dev}
note "se-secretd in the images: $BIN ($(stat -c %s "$BIN") bytes; the release agent: $(stat -c %s "$REPO/out/se-secretd" 2> /dev/null || echo '?') bytes); workbench: $DEV ($(elapsed "$step_t") s)"

# ---------------------------------------------------------- the test material

W=${SE_BOOTTEST_WORK:-$CACHE/work}
safe_rm "$W"
mkdir -p "$W"
step_t=$(date +%s)

"$DEV" sim init --state "$W/sim" > /dev/null
# The images' binary must have the simulator backend (the release agent,
# rightly, has none: SE_BOOTTEST_BINARY names se-secretd-test or the like).
"$BIN" info --uv-sim "$W/sim" --sysfs "$W/sim/sysfs" > /dev/null 2>&1 ||
    fail_all "$BIN has no simulated ultravisor backend (the release agent has none); the images need out/se-secretd-test"
# With --attest: the tenant's attestation request on the request volume
# (requests/attestation-request.bin; its protection key stays with the
# tenant, in ex/), and a policy that requires attestation.
"$DEV" example "$W/ex" --sim "$W/sim" --attest > /dev/null
# An unrelated example made the same way: what its values share with the
# real ones is structure (armor, key-type prefixes), not secret (leakscan.py).
"$DEV" example "$W/ex-other" --sim "$W/sim" > /dev/null
V=$W/ex/values

# One policy per flavour, from the example's: the request volume is
# LABEL=SE-SECRETS, the root is the LUKS2 volume labelled "root" opened as
# /dev/mapper/root; dracut+systemd lets se-secretd open it with libcryptsetup,
# initramfs-tools hands the passphrase to Debian's cryptroot through crypttab's
# keyscript=. The SSH host key and TLS key go into the new root, root's
# authorized keys become a credential. Failure: power off. Attestation is
# required; the results go to a blank disk the host attaches (by its serial,
# as a provider would name it) and to the console, where the tenant's
# `se-secretd verify` reads them after the guest stopped (checks.sh).
make_policy() { # make_policy OUT LUKS_ACTION_JSON [ON_FAILURE [TLS_KEY_PATH [2ND_ACTION_JSON]]]
    python3 - "$W/ex/policy.json" "$1" "$2" "${3:-poweroff}" "${4:-}" "${5:-}" "$BREAK" << 'EOF'
import json, sys
src, out, luks, on_failure, tls_path, second, breaker = sys.argv[1:8]
luks = json.loads(luks)
p = json.load(open(src))
p["description"] = "se-secretd boot tests"
p["requests"]["wait_seconds"] = 60
for s in p["secrets"]:
    if s["name"] == "luks-root":
        s["actions"] = [luks] + ([json.loads(second)] if second else [])
    if s["name"] == "tls-server-key" and tls_path:
        s["actions"][0]["path"] = tls_path
p["on_failure"] = on_failure
p["attestation"] = {"mode": "required"}
p["results"] = {"device": "/dev/disk/by-id/virtio-se-results", "console": True}
if breaker == "lock":
    p.setdefault("store", {})["lock"] = False
if breaker == "reboot" and on_failure == "poweroff":
    p["on_failure"] = "reboot"
json.dump(p, open(out, "w"), indent=2)
EOF
}
make_policy "$W/policy-dracut.json" '{"type": "luks", "device": "LABEL=root", "name": "root", "key": "passphrase"}' \
    poweroff "" '{"type": "keyfile", "volume": "data"}'
make_policy "$W/policy-itools.json" '{"type": "keyscript", "volume": "root"}'
# The emergency path: the install phase fails after the root was opened and
# mounted (the TLS key's directory does not exist); the policy allows a shell.
make_policy "$W/policy-dracut-emergency.json" '{"type": "luks", "device": "LABEL=root", "name": "root", "key": "passphrase"}' \
    emergency-shell /etc/ssl/no-such-directory/server.key
make_policy "$W/policy-itools-emergency.json" '{"type": "keyscript", "volume": "root"}' \
    emergency-shell /etc/ssl/no-such-directory/server.key
"$BIN" policy validate "$W/policy-dracut.json" > /dev/null
"$BIN" policy validate "$W/policy-itools.json" > /dev/null

# The root file system: busybox, a marker, accounts, the directories the
# policy's files go to, and guest-init as /sbin/init.
R=$W/rootfs
mkdir -p "$R"/{bin,sbin,etc/ssh,etc/ssl/private,proc,sys,dev,run,tmp,root}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
install -m 0755 "$HERE/guest-init" "$R/sbin/init"
if [ "$BREAK" = leak ]; then
    sed -i 's|^echo "SE-SECRETD-BOOTTEST: real root reached|cat /etc/ssl/private/server.key\n&|' "$R/sbin/init"
fi
# systemd's switch-root only enters an OS tree (os-release present).
printf 'ID=se-secretd-boottest\nNAME="se-secretd boot test root"\n' > "$R/etc/os-release"
echo "root:x:0:0:root:/root:/bin/sh" > "$R/etc/passwd"
echo "root:x:0:" > "$R/etc/group"
echo "root:*:19000:0:99999:7:::" > "$R/etc/shadow"
chmod 0640 "$R/etc/shadow"
chmod 0700 "$R/etc/ssl/private"
MARKER="se-secretd boot test root $(date +%s)-$$"
echo "$MARKER" > "$R/etc/se-secretd-boottest-marker"
mkfs.ext4 -q -L rootfs -d "$R" "$W/root.img" 48M
dumpe2fs "$W/root.img" > "$W/root-plain.layout" 2> /dev/null
truncate -s 64M "$W/root.img"
# Encrypted offline, in place (no device-mapper needed): LUKS2, label "root",
# the example's LUKS passphrase. PBKDF2 with few iterations: the passphrase is
# 32 random bytes from the ultravisor, so Argon2's cost buys nothing and would
# only slow the emulated boot (docs/integration.md).
cryptsetup reencrypt --batch-mode --encrypt --type luks2 --reduce-device-size 16M \
    --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label root \
    --key-file "$V/luks-root" "$W/root.img" > /dev/null
ROOT_UUID=$(cryptsetup luksUUID "$W/root.img")
# Roots for failures after a successful boot run, as the host can cause them:
# (a) the encrypted root corrupted: the ciphertext of the primary group
# descriptors and of every backup superblock overwritten (XTS garbles each
# 512-byte sector on its own), so the volume still opens with the policy's key
# and blkid still sees the intact primary superblock (the device becomes
# ready), but fsck cannot repair it and ext4 refuses to mount it;
cp "$W/root.img" "$W/root-corrupt.img"
data_offset=$(cryptsetup luksDump "$W/root.img" | awk '/^Data segments:/ { d = 1 } d && $1 == "offset:" { print $2; exit }')
[ -n "$data_offset" ] || fail_all "cannot read the data offset of the LUKS2 root"
python3 - "$W/root-plain.layout" "$W/root-corrupt.img" "$data_offset" << 'EOF2'
import os, re, sys
layout, image, offset = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
bs = int(re.search(r"^Block size:\s+(\d+)", layout, re.M).group(1))
ranges = [(int(a), int(b or a)) for a, b in re.findall(r"Group descriptors at (\d+)(?:-(\d+))?", layout)[:1]]
ranges += [(int(a), int(a)) for a in re.findall(r"Backup superblock at (\d+)", layout)]
assert len(ranges) >= 2, "no group descriptors or backup superblocks in the layout"
with open(image, "r+b") as f:
    for first, last in ranges:
        f.seek(offset + first * bs)
        f.write(os.urandom((last - first + 1) * bs))
EOF2
# (b) a root with no init at all (no /sbin/init, /etc/init, /bin/init or
# /bin/sh), so the switch to it fails where the builder cannot fall back to
# another init; dracut+systemd instead gets init= naming no file.
R2=$W/rootfs-noinit
cp -a "$R" "$R2"
rm -f "$R2/sbin/init" "$R2/bin/sh" "$R2/bin/init" "$R2/etc/init"
mkfs.ext4 -q -L rootfs -d "$R2" "$W/root-noinit.img" 48M
truncate -s 64M "$W/root-noinit.img"
cryptsetup reencrypt --batch-mode --encrypt --type luks2 --reduce-device-size 16M \
    --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label root \
    --key-file "$V/luks-root" "$W/root-noinit.img" > /dev/null
# A second LUKS2 volume, "data", for the key-file hand-off: with systemd in the
# initrd, se-secretd writes /run/cryptsetup-keys.d/data.key and the image's
# crypttab lets systemd-cryptsetup open it (same secret, so no new request).
truncate -s 24M "$W/data.img"
cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --label data --key-file "$V/luks-root" "$W/data.img" > /dev/null
echo "data LABEL=data none luks" > "$W/crypttab-dracut"

# Request volumes: the example's requests; one with a tampered request (a byte
# of the SSH host key's encrypted payload flipped); one with a request missing.
make_request_disk() { # make_request_disk NAME DIR
    mkfs.ext4 -q -L SE-SECRETS -d "$2" "$W/requests-$1.img" 8M
}
make_request_disk good "$W/ex/requests"
cp -r "$W/ex/requests" "$W/req-tampered"
python3 - "$W/req-tampered/ssh-host-ecdsa.asr" << 'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) - 40] ^= 0x01
open(p, "wb").write(b)
EOF
make_request_disk tampered "$W/req-tampered"
cp -r "$W/ex/requests" "$W/req-missing"
rm "$W/req-missing/luks-root.asr"
make_request_disk missing "$W/req-missing"
note "test material: root UUID $ROOT_UUID, requests: good, tampered (ssh-host-ecdsa.asr), missing (luks-root.asr) ($(elapsed "$step_t") s)"

# ------------------------------------------------ install se-secretd in a chroot

install_into() { # install_into CHROOT POLICY
    local r=$1
    make -s -C "$REPO" install DESTDIR="$r" PREFIX=/usr BINARY="$BIN" ALLOW_TEST_BINARY=1 > /dev/null
    mkdir -p "$r/etc/se-secretd"
    install -m 0644 "$2" "$r/etc/se-secretd/policy.json"
    # The simulated ultravisor (the only stand-in): its state goes into the
    # image and rd.se_secretd.uv_sim= points the agent at it. The initramfs is
    # unpacked into a writable tmpfs/ramfs, so the simulator can keep its
    # state there.
    safe_rm "$r$SIM_IN_INITRD"
    cp -a "$W/sim" "$r$SIM_IN_INITRD"
    if [ "$BREAK" = guard ]; then
        # The shell guard's two entries return at once, doing nothing.
        sed -i '0,/^case "$1" in$/s//case "$1" in emergency | guard-check) exit 0 ;; esac\n&/' "$r/usr/lib/se-secretd/se-secretd-initrd"
        grep -q '^case "$1" in emergency | guard-check) exit 0' "$r/usr/lib/se-secretd/se-secretd-initrd" ||
            fail_all "SE_BOOTTEST_BREAK=guard: cannot break the helper"
    fi
}
# Test-only: the simulated ultravisor's state, as it is just before the switch
# to the new root, copied into /run (which moves into the new root), so that
# guest-init can put it on the result disk and the harness can read the store
# from the "ultravisor" itself (store_locked_independently), not from
# se-secretd's report. dracut: a pre-pivot hook of a test module (after
# se-secretd's own); initramfs-tools: an init-bottom script.
SIM_CARRIED=/run/se-secretd-boottest-sim
carry_sim() { echo "[ -d $SIM_IN_INITRD ] && cp -a $SIM_IN_INITRD $SIM_CARRIED"; }
install_carry_dracut() { # install_carry_dracut CHROOT
    local m=$1/usr/lib/dracut/modules.d/99se-secretd-boottest
    mkdir -p "$m"
    carry_sim > "$m/carry-sim.sh"
    cat > "$m/module-setup.sh" << 'EOF'
#!/bin/bash
check() { return 255; }
depends() { return 0; }
install() { inst_hook pre-pivot 99 "$moddir/carry-sim.sh"; }
EOF
}
install_carry_itools() { # install_carry_itools CHROOT
    local f=$1/etc/initramfs-tools/scripts/init-bottom/zz-se-secretd-boottest-sim
    mkdir -p "$(dirname "$f")"
    { echo '#!/bin/sh'; echo '[ "$1" = prereqs ] && exit 0'; carry_sim; echo 'exit 0'; } > "$f"
    chmod 0755 "$f"
}

# ------------------------------------------------------------ QEMU boots

BOOTS_T=0
declare -A BOOT_SECONDS NOT_BOOTED
boot() { # boot NAME KERNEL INITRD REQUESTS-IMAGE CMDLINE [CONSOLE-MODE [ROOT-IMAGE]]
    # CONSOLE-MODE (console.py): hammer (default; types Enter and
    # "se-secretd list" from the first moment, as a host after a shell would)
    # or shell (the policy allows a shell: use it, then power off).
    local name=$1 kernel=$2 initrd=$3 req=$4 cmdline=$5 mode=${6:-hammer} rootimg=${7:-$W/root.img}
    if [ -n "$BOOTS" ] && [[ " $BOOTS " != *" $name "* ]]; then
        NOT_BOOTED[$name]=1
        return 0
    fi
    local log=$W/console-$name.log res=$W/result-$name.img sock=$W/console-$name.sock t rc=0 driver
    local results=$W/se-results-$name.img
    printf 'SE-SECRETD-RESULT-DISK\n' > "$res"
    truncate -s 1M "$res"
    # The product's results device: blank, 4 MiB (any record fits).
    rm -f "$results"
    truncate -s 4M "$results"
    rm -f "$sock" "$log"
    local cpu=max
    [ "$ACCEL" = kvm ] && cpu=host
    t=$(date +%s)
    # The console: served on a socket for console.py, logged by QEMU itself
    # from the first byte.
    python3 "$HERE/console.py" "$sock" --mode "$mode" --timeout "$BOOT_TIMEOUT" &
    driver=$!
    timeout --foreground "$BOOT_TIMEOUT" qemu-system-x86_64 \
        -machine q35,accel="$ACCEL" -cpu "$cpu" -smp 2 -m 1024 \
        -nodefaults -display none -no-reboot \
        -chardev socket,id=con0,path="$sock",server=on,wait=off,logfile="$log" -serial chardev:con0 \
        -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
        -device virtio-rng-pci \
        -drive file="$rootimg",format=raw,if=virtio,snapshot=on \
        -drive file="$req",format=raw,if=virtio,readonly=on \
        -drive file="$res",format=raw,if=virtio \
        -drive file="$W/data.img",format=raw,if=virtio,snapshot=on \
        -drive file="$results",format=raw,if=none,id=seresults -device virtio-blk-pci,drive=seresults,serial=se-results \
        > "$W/qemu-$name.log" 2>&1 || rc=$?
    kill "$driver" 2> /dev/null || true
    wait "$driver" 2> /dev/null || true
    rm -f "$sock"
    [ -f "$log" ] || : > "$log"
    BOOT_SECONDS[$name]=$(elapsed "$t")
    BOOTS_T=$((BOOTS_T + BOOT_SECONDS[$name]))
    if [ $rc -eq 124 ]; then
        note "boot $name: no power-off within ${BOOT_TIMEOUT}s (killed); console: $log"
    fi
    note "boot $name: ${BOOT_SECONDS[$name]} s ($ACCEL), qemu exit $rc"
    echo "$rc" > "$W/qemu-$name.rc"
}
# The checks, their evidence readers and their broken twins (check_t).
source "$HERE/checks.sh"
# The initramfs builds that must fail (build_guard_dracut, build_guard_itools).
source "$HERE/build-guard.sh"
check_boot() { [ -n "${NOT_BOOTED[$1]:-}" ] || checks_for "$1"; }

print_sizes() { # print_sizes FLAVOUR WITH WITHOUT
    local with without
    with=$(stat -c %s "$2")
    without=$(stat -c %s "$3")
    echo "  size  $1: initramfs with se-secretd $with bytes, without $without bytes, added $((with - without)) bytes ($(((with - without) / 1024)) KiB, compressed)"
    SIZES+=("$1: with $with, without $without, added $((with - without)) bytes compressed")
}
SIZES=()

# The command line a user gets: no rd.shell=0, no rd.emergency=, no panic=.
# (Only the simulator switch is the test's own: there is no real ultravisor.)
COMMON_CMDLINE="console=ttyS0,115200 root=/dev/mapper/root ro loglevel=4 rd.se_secretd.uv_sim=$SIM_IN_INITRD"

# ------------------------------------------------------------ dracut images

if [ $need_dracut = yes ]; then
    step_t=$(date +%s)
    install_into "$DRACUT_ROOT" "$W/policy-dracut.json"
    chroot_mount "$DRACUT_ROOT"
    dracut_build() { # dracut_build OUT ARGS...
        local out=$1; shift
        # zstd -9 (multi-threaded): the same for both images, so the difference
        # is what se-secretd adds; dracut's gzip default takes ~4x as long.
        in_chroot "$DRACUT_ROOT" dracut --force --no-hostonly --no-hostonly-cmdline --kver "$KVER" \
            --compress "zstd -q -9 -T0" "$@" "$out" \
            > "$W/dracut-$(basename "$out").log" 2>&1 ||
            { tail -n 30 "$W/dracut-$(basename "$out").log"; bad "dracut $* failed"; return 1; }
    }
    install_carry_dracut "$DRACUT_ROOT"
    sim_include=(--include "$SIM_IN_INITRD" "$SIM_IN_INITRD" -a se-secretd-boottest)
    cp "$W/crypttab-dracut" "$DRACUT_ROOT/etc/se-secretd/boottest-crypttab"
    crypttab_include=(--include /etc/se-secretd/boottest-crypttab /etc/crypttab)
    dracut_ok=yes
    if wants dracut-systemd || wants verify; then
        dracut_build /boot/initrd-systemd-se.img -a se-secretd "${sim_include[@]}" "${crypttab_include[@]}" || dracut_ok=no
        dracut_build /boot/initrd-systemd-base.img -a "crypt dm" -o se-secretd || dracut_ok=no
    fi
    if wants dracut-systemd; then
        install -m 0644 "$W/policy-dracut-emergency.json" "$DRACUT_ROOT/etc/se-secretd/policy.json"
        dracut_build /boot/initrd-systemd-emergency.img -a se-secretd "${sim_include[@]}" || dracut_ok=no
        install -m 0644 "$W/policy-dracut.json" "$DRACUT_ROOT/etc/se-secretd/policy.json"
    fi
    if wants dracut-shell; then
        dracut_build /boot/initrd-shell-se.img -o "systemd systemd-initrd dracut-systemd" -a se-secretd "${sim_include[@]}" || dracut_ok=no
        dracut_build /boot/initrd-shell-base.img -o "systemd systemd-initrd dracut-systemd se-secretd" -a "crypt dm" || dracut_ok=no
    fi
    [ -z "$BREAK" ] && build_guard_dracut "$DRACUT_ROOT" "$KVER"
    chroot_umount "$DRACUT_ROOT"
    note "dracut images built ($(elapsed "$step_t") s)"

    lsinitrd_list() { # lsinitrd_list IMAGE > listing
        chroot_mount "$DRACUT_ROOT"
        in_chroot "$DRACUT_ROOT" lsinitrd "$1"
        chroot_umount "$DRACUT_ROOT"
    }
    unpack_dracut() { # unpack_dracut IMAGE DIR
        safe_rm "$2"
        mkdir -p "$2"
        chroot_mount "$DRACUT_ROOT"
        mkdir -p "$DRACUT_ROOT/tmp/unpack"
        in_chroot "$DRACUT_ROOT" sh -c "cd /tmp/unpack && lsinitrd --unpack '$1'" > /dev/null 2>&1
        chroot_umount "$DRACUT_ROOT"
        mv "$DRACUT_ROOT/tmp/unpack"/* "$DRACUT_ROOT/tmp/unpack"/.[!.]* "$2"/ 2> /dev/null || true
        safe_rm "$DRACUT_ROOT/tmp/unpack"
    }
fi

if wants verify && [ "${dracut_ok:-no}" = yes ]; then
    echo
    echo "== systemd-analyze verify on the units, inside the dracut+systemd image"
    U=$W/unpacked-systemd
    unpack_dracut /boot/initrd-systemd-se.img "$U"
    units=(se-secretd-boot.service se-secretd-unlock.service se-secretd-install.service se-secretd-keyfiles-cleanup.service se-secretd-failure.service)
    for u in "${units[@]}"; do
        check "unit $u is in the image" [ -f "$U/usr/lib/systemd/system/$u" ]
    done
    for u in se-secretd-boot.service se-secretd-unlock.service se-secretd-install.service se-secretd-keyfiles-cleanup.service; do
        check "unit $u is enabled (initrd.target.wants)" \
            bash -c "[ -L '$U/etc/systemd/system/initrd.target.wants/$u' ] || [ -L '$U/usr/lib/systemd/system/initrd.target.wants/$u' ]"
    done
    # verify from inside the image's tree, with its systemd (the one that runs at boot).
    verify_out=$W/verify.log
    mkdir -p "$DRACUT_ROOT/tmp/vroot"
    cp -a "$U"/. "$DRACUT_ROOT/tmp/vroot/"
    chroot_mount "$DRACUT_ROOT"
    vrc=0
    in_chroot "$DRACUT_ROOT" systemd-analyze verify --man=no --root=/tmp/vroot \
        "${units[@]/#//tmp/vroot/usr/lib/systemd/system/}" > "$verify_out" 2>&1 || vrc=$?
    # The same tool must reject a broken unit: the test has teeth.
    sed 's/^Before=cryptsetup-pre.target/Befor=cryptsetup-pre.target/; s/^Type=oneshot/Type=oneshotx/' \
        "$U/usr/lib/systemd/system/se-secretd-boot.service" > "$DRACUT_ROOT/tmp/vroot/usr/lib/systemd/system/se-secretd-broken.service"
    brc=0
    in_chroot "$DRACUT_ROOT" systemd-analyze verify --man=no --root=/tmp/vroot \
        /tmp/vroot/usr/lib/systemd/system/se-secretd-broken.service > "$W/verify-broken.log" 2>&1 || brc=$?
    chroot_umount "$DRACUT_ROOT"
    safe_rm "$DRACUT_ROOT/tmp/vroot"
    sed 's/^/        /' "$verify_out"
    check "systemd-analyze verify passes on the se-secretd units (systemd $(in_chroot "$DRACUT_ROOT" systemctl --version | head -n 1 | cut -d' ' -f2))" \
        bash -c "[ $vrc -eq 0 ] && ! grep -q -i -E 'se-secretd.*(unknown|failed|invalid|cycle|not found)' '$verify_out'"
    check "systemd-analyze verify rejects a deliberately broken copy" \
        bash -c "[ $brc -ne 0 ] || grep -q -i -E 'unknown|failed to parse|invalid' '$W/verify-broken.log'"
    check "the image holds the binary, the helper, the policy and the modules-load list" \
        bash -c "[ -x '$U/usr/bin/se-secretd' ] && [ -x '$U/usr/lib/se-secretd/se-secretd-initrd' ] && [ -f '$U/etc/se-secretd/policy.json' ] && grep -q '^dm_crypt$' '$U/usr/lib/modules-load.d/se-secretd.conf'"
    for u in emergency.service rescue.service dracut-emergency.service; do
        check "the shell guard is a drop-in of $u in the image" \
            grep -q '^ExecStartPre=/usr/lib/se-secretd/se-secretd-initrd emergency systemd$' "$U/usr/lib/systemd/system/$u.d/50-se-secretd-guard.conf"
    done
    for h in emergency shutdown-emergency; do
        check "the shell guard is dracut's $h hook in the image" [ -f "$U/usr/lib/dracut/hooks/$h/00-se-secretd-emergency.sh" ]
    done
    check "the boot run checks the guards before it starts (ExecStartPre)" \
        grep -q '^ExecStartPre=/usr/lib/se-secretd/se-secretd-initrd guard-check systemd$' "$U/usr/lib/systemd/system/se-secretd-boot.service"
    check "dm-crypt is in the image" bash -c "find '$U/usr/lib/modules' '$U/lib/modules' -name 'dm-crypt.ko*' 2>/dev/null | grep -q ."
    SIZES+=("se-secretd binary in the image: $(stat -c %s "$U/usr/bin/se-secretd") bytes ($(basename "$BIN"): $(stat -c %s "$BIN"))")
fi

if wants dracut-systemd && [ "${dracut_ok:-no}" = yes ]; then
    echo
    echo "== dracut + systemd in the initrd"
    KERNEL=$DRACUT_ROOT/boot/vmlinuz-$KVER
    print_sizes "dracut+systemd" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$DRACUT_ROOT/boot/initrd-systemd-base.img"
    CMD="$COMMON_CMDLINE"
    boot dracut-good "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$W/requests-good.img" "$CMD"
    check_boot dracut-good
    boot dracut-tampered "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$W/requests-tampered.img" "$CMD"
    check_boot dracut-tampered
    boot dracut-missing "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$W/requests-missing.img" "$CMD"
    check_boot dracut-missing
    # After a successful boot run: (a) the host corrupted the encrypted root,
    # so /sysroot does not mount; (b) the switch to the root fails (init=
    # names no file). Both end in dracut's emergency path, whose guard powers
    # off per the policy: no "Press Enter for maintenance", not for a moment.
    boot dracut-corrupt-root "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$W/requests-good.img" "$CMD" hammer "$W/root-corrupt.img"
    check_boot dracut-corrupt-root
    boot dracut-no-init "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-se.img" "$W/requests-good.img" "$CMD init=/sbin/no-such-init"
    check_boot dracut-no-init
    # on_failure=emergency-shell after the root was opened: the failed unit
    # locks, wipes, unmounts and closes, then emergency.target; its guard
    # warns, and only then dracut-emergency offers its shell, which
    # console.py uses and leaves with poweroff.
    boot dracut-emergency "$KERNEL" "$DRACUT_ROOT/boot/initrd-systemd-emergency.img" "$W/requests-good.img" "$CMD" shell
    check_boot dracut-emergency
fi

if wants dracut-shell && [ "${dracut_ok:-no}" = yes ]; then
    echo
    echo "== dracut without systemd (shell init): built and inspected"
    print_sizes "dracut shell" "$DRACUT_ROOT/boot/initrd-shell-se.img" "$DRACUT_ROOT/boot/initrd-shell-base.img"
    lsinitrd_list /boot/initrd-shell-se.img > "$W/lsinitrd-shell.txt"
    for f in "hooks/pre-udev/91-se-secretd-modules.sh" "hooks/initqueue/settled/00-se-secretd-early.sh" \
        "hooks/pre-pivot/50-se-secretd-late.sh" "hooks/emergency/00-se-secretd-emergency.sh" \
        "hooks/shutdown-emergency/00-se-secretd-emergency.sh" "usr/bin/se-secretd" "usr/lib/se-secretd/se-secretd-initrd" \
        "etc/se-secretd/policy.json" "usr/lib/modules-load.d/se-secretd.conf" "dm-crypt.ko"; do
        check "dracut-shell image (lsinitrd) has $f" grep -q -F "$f" "$W/lsinitrd-shell.txt"
    done
    check "dracut-shell image has no systemd units of se-secretd" bash -c "! grep -q 'se-secretd-boot.service' '$W/lsinitrd-shell.txt'"
    check "dracut-shell image has no systemd" bash -c "! grep -q -E 'usr/lib/systemd/systemd$' '$W/lsinitrd-shell.txt'"
    if [ "${SE_BOOTTEST_SHELL_BOOT:-yes}" = yes ]; then
        KERNEL=$DRACUT_ROOT/boot/vmlinuz-$KVER
        boot dracut-shell-good "$KERNEL" "$DRACUT_ROOT/boot/initrd-shell-se.img" "$W/requests-good.img" "$COMMON_CMDLINE"
        check_boot dracut-shell-good
        boot dracut-shell-tampered "$KERNEL" "$DRACUT_ROOT/boot/initrd-shell-se.img" "$W/requests-tampered.img" "$COMMON_CMDLINE"
        check_boot dracut-shell-tampered
        boot dracut-shell-corrupt-root "$KERNEL" "$DRACUT_ROOT/boot/initrd-shell-se.img" "$W/requests-good.img" "$COMMON_CMDLINE" hammer "$W/root-corrupt.img"
        check_boot dracut-shell-corrupt-root
        boot dracut-shell-no-init "$KERNEL" "$DRACUT_ROOT/boot/initrd-shell-se.img" "$W/requests-good.img" "$COMMON_CMDLINE" hammer "$W/root-noinit.img"
        check_boot dracut-shell-no-init
    fi
fi

# ------------------------------------------------------ initramfs-tools images

if wants initramfs-tools; then
    echo
    echo "== initramfs-tools (mkinitramfs) with Debian's cryptroot and crypttab keyscript="
    step_t=$(date +%s)
    install_into "$ITOOLS_ROOT" "$W/policy-itools.json"
    # crypttab as an administrator writes it for se-secretd: cryptroot runs the
    # keyscript, which serves the secret the policy's keyscript action names.
    echo "root LABEL=root none luks,initramfs,keyscript=$KEYSCRIPT" > "$ITOOLS_ROOT/etc/crypttab"
    mkdir -p "$ITOOLS_ROOT/etc/cryptsetup-initramfs"
    echo "CRYPTSETUP=y" > "$ITOOLS_ROOT/etc/cryptsetup-initramfs/conf-hook"
    # Test-only hook: the simulated ultravisor's state into the image.
    cat > "$ITOOLS_ROOT/etc/initramfs-tools/hooks/zz-se-secretd-boottest-sim" << EOF
#!/bin/sh
[ "\$1" = prereqs ] && exit 0
mkdir -p "\$DESTDIR$(dirname "$SIM_IN_INITRD")"
cp -a "$SIM_IN_INITRD" "\$DESTDIR$SIM_IN_INITRD"
EOF
    chmod 0755 "$ITOOLS_ROOT/etc/initramfs-tools/hooks/zz-se-secretd-boottest-sim"
    install_carry_itools "$ITOOLS_ROOT"
    chroot_mount "$ITOOLS_ROOT"
    itools_ok=yes
    in_chroot "$ITOOLS_ROOT" mkinitramfs -o /boot/initrd-itools-se.img "$KVER" > "$W/mkinitramfs-se.log" 2>&1 ||
        { tail -n 30 "$W/mkinitramfs-se.log"; bad "mkinitramfs with se-secretd failed"; itools_ok=no; }
    # on_failure=emergency-shell, with an install phase that fails.
    install -m 0644 "$W/policy-itools-emergency.json" "$ITOOLS_ROOT/etc/se-secretd/policy.json"
    in_chroot "$ITOOLS_ROOT" mkinitramfs -o /boot/initrd-itools-emergency.img "$KVER" > "$W/mkinitramfs-emergency.log" 2>&1 ||
        { tail -n 30 "$W/mkinitramfs-emergency.log"; bad "mkinitramfs with the emergency policy failed"; itools_ok=no; }
    install -m 0644 "$W/policy-itools.json" "$ITOOLS_ROOT/etc/se-secretd/policy.json"
    # Without se-secretd: the same build with its hook, scripts and the test hook set aside.
    aside=$ITOOLS_ROOT/tmp/se-secretd-aside
    mkdir -p "$aside"
    mv "$ITOOLS_ROOT/usr/share/initramfs-tools/hooks/se-secretd" "$aside/hook"
    mv "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/local-top/se-secretd" "$aside/local-top"
    mv "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/local-bottom/se-secretd" "$aside/local-bottom"
    mv "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/panic/se-secretd" "$aside/panic"
    mv "$ITOOLS_ROOT/etc/initramfs-tools/hooks/zz-se-secretd-boottest-sim" "$aside/sim-hook"
    mv "$ITOOLS_ROOT/etc/initramfs-tools/scripts/init-bottom/zz-se-secretd-boottest-sim" "$aside/sim-carry"
    # ... and crypttab without keyscript=, or cryptroot's hook would copy se-secretd in.
    cp "$ITOOLS_ROOT/etc/crypttab" "$aside/crypttab"
    echo "root LABEL=root none luks,initramfs" > "$ITOOLS_ROOT/etc/crypttab"
    in_chroot "$ITOOLS_ROOT" mkinitramfs -o /boot/initrd-itools-base.img "$KVER" > "$W/mkinitramfs-base.log" 2>&1 ||
        { tail -n 30 "$W/mkinitramfs-base.log"; bad "mkinitramfs without se-secretd failed"; itools_ok=no; }
    mv "$aside/hook" "$ITOOLS_ROOT/usr/share/initramfs-tools/hooks/se-secretd"
    mv "$aside/local-top" "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/local-top/se-secretd"
    mv "$aside/local-bottom" "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/local-bottom/se-secretd"
    mv "$aside/panic" "$ITOOLS_ROOT/usr/share/initramfs-tools/scripts/panic/se-secretd"
    mv "$aside/sim-hook" "$ITOOLS_ROOT/etc/initramfs-tools/hooks/zz-se-secretd-boottest-sim"
    mv "$aside/sim-carry" "$ITOOLS_ROOT/etc/initramfs-tools/scripts/init-bottom/zz-se-secretd-boottest-sim"
    mv "$aside/crypttab" "$ITOOLS_ROOT/etc/crypttab"
    rmdir "$aside"
    [ -z "$BREAK" ] && build_guard_itools "$ITOOLS_ROOT" "$KVER"
    in_chroot "$ITOOLS_ROOT" lsinitramfs /boot/initrd-itools-se.img > "$W/lsinitramfs-se.txt" 2> /dev/null || true
    chroot_umount "$ITOOLS_ROOT"
    note "initramfs-tools images built ($(elapsed "$step_t") s)"
    if [ $itools_ok = yes ]; then
        for f in usr/bin/se-secretd usr/lib/se-secretd/se-secretd-initrd usr/lib/se-secretd/se-secretd-keyscript \
            etc/se-secretd/policy.json scripts/local-top/se-secretd scripts/local-bottom/se-secretd scripts/panic/se-secretd \
            scripts/panic/ORDER scripts/local-top/cryptroot \
            cryptroot/crypttab; do
            check "initramfs-tools image has $f" grep -q -E "(^|/)$f\$" "$W/lsinitramfs-se.txt"
        done
        print_sizes "initramfs-tools" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$ITOOLS_ROOT/boot/initrd-itools-base.img"
        KERNEL=$ITOOLS_ROOT/boot/vmlinuz-$KVER
        boot itools-good "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$W/requests-good.img" "$COMMON_CMDLINE"
        check_boot itools-good
        boot itools-tampered "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$W/requests-tampered.img" "$COMMON_CMDLINE"
        check_boot itools-tampered
        boot itools-missing "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$W/requests-missing.img" "$COMMON_CMDLINE"
        check_boot itools-missing
        # After a successful boot run: the root does not mount (corrupted by
        # the host), or has no init: panic(), whose scripts/panic guard powers
        # off before initramfs-tools' shell (the command line has no panic=).
        boot itools-corrupt-root "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$W/requests-good.img" "$COMMON_CMDLINE" hammer "$W/root-corrupt.img"
        check_boot itools-corrupt-root
        boot itools-no-init "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-se.img" "$W/requests-good.img" "$COMMON_CMDLINE" hammer "$W/root-noinit.img"
        check_boot itools-no-init
        # on_failure=emergency-shell: the install phase fails; the store is
        # locked, the secrets wiped, ${rootmnt} unmounted and the volume closed,
        # then panic(): its guard warns, and the (initramfs) shell comes.
        boot itools-emergency "$KERNEL" "$ITOOLS_ROOT/boot/initrd-itools-emergency.img" "$W/requests-good.img" "$COMMON_CMDLINE" shell
        check_boot itools-emergency
    fi
fi

# ------------------------------------------------------------------- summary

echo
echo "== boot tests summary"
for s in "${SIZES[@]}"; do echo "  size  $s"; done
for b in "${!BOOT_SECONDS[@]}"; do echo "  time  boot $b: ${BOOT_SECONDS[$b]} s ($ACCEL)"; done | sort
echo "  time  all boots: $BOOTS_T s; whole run: $(elapsed "$T0") s"
echo "  twins $TWINS_MADE broken twins made, each failed its check (scripts/boot-tests/checks.sh)"
if ((failed)); then
    echo "  failed checks:"
    for f in "${failures[@]}"; do echo "    - $f"; done
    echo "  consoles and results: $W"
fi
echo "boot tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
