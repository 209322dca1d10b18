# Sourced by run.sh: an image meant for se-secretd is never built without it.
#
# The builds a user runs, in the boot tests' chroots, with se-secretd
# installed by `make install`:
#   - asked for (dracut: add_dracutmodules in dracut.conf.d; initramfs-tools:
#     SE_SECRETD=required in conf.d) but no policy: the build fails, names the
#     missing policy, and writes no image;
#   - a policy that does not validate: the build fails and writes no image;
#   - not asked for and no policy: the image is built, without se-secretd,
#     and the build says so (initramfs-tools; dracut's no-policy path is the
#     base images', built with -o se-secretd, so only the failing ones here).
# dracut 059 ignores what a module's install() returns: before the module
# aborted dracut itself, both failing cases wrote an image without the
# module's hooks. Each check fails against that module.

guard_invalid_policy() { # guard_invalid_policy GOOD OUT: GOOD with a member the parser refuses
    python3 - "$1" "$2" << 'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["no_such_member"] = True
json.dump(p, open(sys.argv[2], "w"), indent=2)
EOF
}

guard_build_fails() { # guard_build_fails LABEL LOG IMAGE MESSAGE_RE RC
    local label=$1 log=$2 image=$3 re=$4 rc=$5
    if [ "$rc" -eq 0 ]; then
        bad "$label: the build succeeded (exit 0); it must fail"
    elif [ -s "$image" ]; then
        # mkinitramfs touches its -o file first: empty is not an image
        # (update-initramfs builds into a temporary file and keeps the old image).
        bad "$label: the build failed (exit $rc) but wrote $image"
    elif ! grep -E -q "$re" "$log"; then
        tail -n 20 "$log"
        bad "$label: the build failed (exit $rc) without saying why (no /$re/ in $log)"
    else
        ok "$label: the build fails (exit $rc), says why, writes no image"
    fi
}

build_guard_dracut() { # build_guard_dracut CHROOT KVER (mounted; policy in place)
    local r=$1 kver=$2 pol=$1/etc/se-secretd/policy.json img=/boot/initrd-guard.img rc log
    local conf=$r/etc/dracut.conf.d/90-se-secretd-required.conf
    cp "$pol" "$W/guard-policy-aside.json"
    # 1. Asked for in dracut.conf.d, no policy.
    rm -f "$pol" "$r$img"
    echo 'add_dracutmodules+=" se-secretd "' > "$conf"
    log=$W/dracut-guard-no-policy.log
    rc=0
    in_chroot "$r" dracut --force --no-hostonly --kver "$kver" "$img" > "$log" 2>&1 || rc=$?
    guard_build_fails "dracut, se-secretd asked for, no policy" "$log" "$r$img" \
        "se-secretd: no policy at /etc/se-secretd/policy\.json" "$rc"
    rm -f "$conf"
    # 2. A policy that does not validate (configured by its presence).
    guard_invalid_policy "$W/guard-policy-aside.json" "$pol"
    log=$W/dracut-guard-invalid-policy.log
    rc=0
    in_chroot "$r" dracut --force --no-hostonly --kver "$kver" "$img" > "$log" 2>&1 || rc=$?
    guard_build_fails "dracut, a policy that does not validate" "$log" "$r$img" \
        "se-secretd: the policy in the image does not validate" "$rc"
    install -m 0644 "$W/guard-policy-aside.json" "$pol"
    rm -f "$r$img"
}

build_guard_itools() { # build_guard_itools CHROOT KVER (mounted; policy in place)
    local r=$1 kver=$2 pol=$1/etc/se-secretd/policy.json img=/boot/initrd-guard.img rc log
    local conf=$r/etc/initramfs-tools/conf.d/se-secretd
    cp "$pol" "$W/guard-policy-aside.json"
    # 1. SE_SECRETD=required in conf.d, no policy.
    rm -f "$pol" "$r$img"
    echo 'SE_SECRETD=required' > "$conf"
    log=$W/mkinitramfs-guard-no-policy.log
    rc=0
    in_chroot "$r" mkinitramfs -o "$img" "$kver" > "$log" 2>&1 || rc=$?
    guard_build_fails "initramfs-tools, SE_SECRETD=required, no policy" "$log" "$r$img" \
        "E: se-secretd: no policy at /etc/se-secretd/policy\.json" "$rc"
    rm -f "$conf"
    # 2. Not asked for, no policy: built without se-secretd, with a warning.
    log=$W/mkinitramfs-guard-not-configured.log
    rc=0
    in_chroot "$r" mkinitramfs -o "$img" "$kver" > "$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || [ ! -s "$r$img" ]; then
        tail -n 20 "$log"
        bad "initramfs-tools, no policy, not asked for: the build must succeed (exit $rc)"
    elif ! grep -q "W: se-secretd: no policy at /etc/se-secretd/policy.json: se-secretd is not in this image" "$log"; then
        bad "initramfs-tools, no policy, not asked for: the build does not say that se-secretd is left out"
    elif in_chroot "$r" lsinitramfs "$img" 2> /dev/null | grep -q -E '(^|/)etc/se-secretd/policy\.json$'; then
        bad "initramfs-tools, no policy, not asked for: the image has a se-secretd policy"
    else
        ok "initramfs-tools, no policy, not asked for: built without se-secretd, and the build says so"
    fi
    rm -f "$r$img"
    # 3. A policy that does not validate.
    guard_invalid_policy "$W/guard-policy-aside.json" "$pol"
    log=$W/mkinitramfs-guard-invalid-policy.log
    rc=0
    in_chroot "$r" mkinitramfs -o "$img" "$kver" > "$log" 2>&1 || rc=$?
    guard_build_fails "initramfs-tools, a policy that does not validate" "$log" "$r$img" \
        "E: se-secretd: the policy in the image does not validate" "$rc"
    install -m 0644 "$W/guard-policy-aside.json" "$pol"
    rm -f "$r$img"
}
