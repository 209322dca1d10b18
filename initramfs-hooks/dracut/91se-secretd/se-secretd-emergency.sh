#!/bin/sh
# dracut emergency and shutdown-emergency hook (sourced by dracut-emergency
# and emergency_shell before any shell is offered, with systemd in the initrd
# or without, whatever rd.shell says): a shell only when the policy allows
# one (on_failure=emergency-shell), after the store is locked and the secrets
# wiped; otherwise power off (or reboot) here and now.
if [ -x /usr/lib/se-secretd/se-secretd-initrd ]; then
    if [ -n "$DRACUT_SYSTEMD" ]; then
        /usr/lib/se-secretd/se-secretd-initrd emergency systemd
    else
        /usr/lib/se-secretd/se-secretd-initrd emergency dracut
    fi
else
    echo "se-secretd: the failure helper is missing from this image: powering off" > /dev/kmsg
    poweroff -f
fi
