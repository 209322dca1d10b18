#!/bin/bash
# dracut module for se-secretd, the guest-side agent for IBM Secure Execution
# add-secret requests. Installs the agent, the policy embedded in the initrd
# and either the systemd units (systemd in the initrd) or shell hooks (dracut's
# shell init). See docs/integration.md.
#
# Build-host files:
#   /etc/se-secretd/policy.json  the policy (override: se_secretd_policy= in a
#                                dracut.conf.d file), plus the signer key files
#                                it names (key_file, relative to the policy)
#   se-secretd                   the binary (found in PATH, /usr/bin, /usr/local/bin)

se_secretd_policy_path() {
    echo "${se_secretd_policy:-/etc/se-secretd/policy.json}"
}

se_secretd_binary() {
    local p
    for p in "$(command -v se-secretd 2> /dev/null)" /usr/bin/se-secretd /usr/local/bin/se-secretd; do
        [[ -n $p && -x $dracutsysrootdir$p ]] && { echo "$p"; return 0; }
    done
    return 1
}

# Where the units are on the build host (make install puts them in the
# distribution's unit directory, or below PREFIX).
se_secretd_unit_dir() {
    local d
    for d in "$systemdsystemunitdir" /usr/lib/systemd/system /lib/systemd/system /usr/local/lib/systemd/system; do
        [[ -n $d && -f $dracutsysrootdir$d/se-secretd-boot.service ]] && { echo "$d"; return 0; }
    done
    return 1
}

# A failure of this module must stop the build: dracut (059 and earlier)
# ignores what install() returns and writes the image without the rest of
# the module, an image that boots without se-secretd. dfatal only logs, so
# abort dracut itself (its EXIT trap removes the half-built image).
se_secretd_fail() {
    dfatal "se-secretd: $*"
    dfatal "se-secretd: the initramfs build is aborted (docs/integration.md)"
    exit 1
}

# called by dracut
check() {
    # A build host with a policy is configured for se-secretd: include the
    # module (install() fails the build when anything is missing, the binary
    # included). Otherwise only when asked for (add_dracutmodules+=" se-secretd "
    # in a dracut.conf.d file, dracut -a se-secretd, or a module that depends
    # on it): install() then fails the build for the missing policy.
    [[ -f $dracutsysrootdir$(se_secretd_policy_path) ]] && return 0
    if se_secretd_binary > /dev/null; then
        dwarn "se-secretd: no policy at $(se_secretd_policy_path): se-secretd is not in this image unless asked for (add_dracutmodules+=\" se-secretd \" makes a missing policy an error)"
    fi
    return 255
}

# called by dracut
depends() {
    # crypt: dm-crypt, cryptsetup and (with systemd) systemd-cryptsetup for
    # the key-file hand-off; dm: device-mapper.
    echo crypt dm
    return 0
}

# called by dracut
installkernel() {
    # Secure Execution guests (s390x): /dev/uv, protected keys, the UV secret
    # token resolver and the paes cipher. dm-crypt everywhere. Forced into the
    # image regardless of hostonly (the build host may not use them) and loaded
    # explicitly at boot through modules-load.d; modules this kernel does not
    # have (all but dm-crypt on x86_64, pkey_uv before Linux 6.12) are skipped.
    local m path present=()
    for m in uvdevice pkey pkey_uv paes_s390 dm_crypt; do
        path=$(modinfo -k "$kernel" -F filename "$m" 2> /dev/null | head -n 1)
        if [[ -z $path ]]; then
            dinfo "se-secretd: kernel $kernel has no module $m, skipped"
            continue
        fi
        if [[ $path != "(builtin)" ]]; then
            hostonly='' instmods "$m"
        fi
        present+=("$m")
    done
    mkdir -p "$initdir/usr/lib/modules-load.d"
    {
        echo "# Written by the se-secretd dracut module: loaded before se-secretd runs."
        printf '%s\n' "${present[@]}"
    } > "$initdir/usr/lib/modules-load.d/se-secretd.conf"
    chmod 0644 "$initdir/usr/lib/modules-load.d/se-secretd.conf"
    return 0
}

# called by dracut
install() {
    local policy bin unitdir dir f key_file
    policy=$(se_secretd_policy_path)
    bin=$(se_secretd_binary) || se_secretd_fail "the se-secretd binary is not installed (PATH, /usr/bin, /usr/local/bin)"
    [[ -f $dracutsysrootdir$policy ]] \
        || se_secretd_fail "no policy at $policy (write one with 'se-secretd policy init', see docs/policy.md)"

    inst_binary "$bin" /usr/bin/se-secretd || se_secretd_fail "cannot install $bin"
    inst_script "$moddir/se-secretd-initrd" /usr/lib/se-secretd/se-secretd-initrd \
        || se_secretd_fail "cannot install se-secretd-initrd"
    # The failure handler's tools (most are in the image already).
    inst_multiple -o sync poweroff reboot umount mount dd wc rmdir tr grep dmsetup cryptsetup sleep

    # The policy and the signer key files it names, beside it.
    inst_simple "$dracutsysrootdir$policy" /etc/se-secretd/policy.json || se_secretd_fail "cannot install $policy"
    dir=${policy%/*}
    while read -r key_file; do
        [[ -n $key_file ]] || continue
        case "$key_file" in
            /* | *..*)
                se_secretd_fail "refusing signer key_file \"$key_file\" in $policy (must be relative, without ..)"
                ;;
        esac
        inst_simple "$dracutsysrootdir$dir/$key_file" "/etc/se-secretd/$key_file" \
            || se_secretd_fail "cannot install the signer key file $dir/$key_file named by $policy"
    done < <(grep -o '"key_file"[[:space:]]*:[[:space:]]*"[^"]*"' "$dracutsysrootdir$policy" | sed 's/.*"\([^"]*\)"$/\1/')
    # The image must hold a policy the agent accepts, with all its files.
    "$dracutsysrootdir$bin" policy validate "$initdir/etc/se-secretd/policy.json" > /dev/null \
        || se_secretd_fail "the policy in the image does not validate (see: se-secretd policy validate $policy)"

    # The shell guard. Every way into a dracut shell (rd.shell, rd.break, a
    # failure anywhere in the boot) sources the emergency hooks first, and
    # with rd.shell=0 the shutdown-emergency hooks: both carry out the
    # policy's on_failure there, so no shell starts unless the policy allows
    # one (whatever the kernel command line says).
    inst_hook emergency 00 "$moddir/se-secretd-emergency.sh"
    inst_hook shutdown-emergency 00 "$moddir/se-secretd-emergency.sh"

    if dracut_module_included "systemd"; then
        unitdir=$(se_secretd_unit_dir) || se_secretd_fail "the se-secretd units are not installed (make install)"
        for f in se-secretd-boot.service se-secretd-unlock.service se-secretd-install.service \
            se-secretd-keyfiles-cleanup.service se-secretd-failure.service; do
            inst_simple "$dracutsysrootdir$unitdir/$f" "$systemdsystemunitdir/$f" || se_secretd_fail "cannot install $unitdir/$f"
        done
        for f in se-secretd-boot.service se-secretd-unlock.service se-secretd-install.service \
            se-secretd-keyfiles-cleanup.service; do
            $SYSTEMCTL -q --root "$initdir" add-wants initrd.target "$f" || se_secretd_fail "cannot enable $f in the image"
        done
        # The same guard in front of the units that start shells (dracut's
        # emergency.service and its copy rescue.service, dracut-emergency.service),
        # in case a shell is reached without the hooks being sourced.
        # debug-shell.service only starts with systemd.debug_shell on the
        # command line, which an image may have: guarded all the same.
        for f in emergency.service rescue.service dracut-emergency.service debug-shell.service; do
            inst_simple "$moddir/se-secretd-guard.conf" "$systemdsystemunitdir/$f.d/50-se-secretd-guard.conf" \
                || se_secretd_fail "cannot install the shell guard for $f"
        done
        # modules-load.d/se-secretd.conf (installkernel) is read by this service.
        $SYSTEMCTL -q --root "$initdir" add-wants sysinit.target systemd-modules-load.service 2> /dev/null
        inst_multiple -o systemctl
    else
        # dracut's shell init: modules before udev; boot run + unlock as the
        # first settled initqueue script (its name sorts before the queued
        # cryptroot-ask jobs); install before the switch to the new root.
        inst_multiple modprobe || se_secretd_fail "cannot install modprobe"
        inst_hook pre-udev 91 "$moddir/se-secretd-modules.sh"
        inst_hook initqueue/settled 00 "$moddir/se-secretd-early.sh"
        inst_hook initqueue/finished 90 "$moddir/se-secretd-finished.sh"
        inst_hook pre-pivot 50 "$moddir/se-secretd-late.sh"
    fi
    return 0
}
