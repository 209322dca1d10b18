#!/bin/sh
# dracut pre-udev hook (sourced): load the kernel modules se-secretd needs
# (the list was written at build time with the modules this kernel has).
if [ -r /usr/lib/modules-load.d/se-secretd.conf ]; then
    while read -r _se_mod; do
        case "$_se_mod" in "" | \#*) continue ;; esac
        modprobe "$_se_mod" 2> /dev/null || warn "se-secretd: cannot load kernel module $_se_mod"
    done < /usr/lib/modules-load.d/se-secretd.conf
    unset _se_mod
fi
