#!/bin/sh
# dracut pre-pivot hook (sourced): the install phase into the mounted new root
# ($NEWROOT), then the key files handed to cryptsetup are removed.
/usr/lib/se-secretd/se-secretd-initrd late dracut "${NEWROOT:-/sysroot}"
if [ $? -eq 3 ]; then
    emergency_shell -n se-secretd "se-secretd failed; its secrets were wiped"
fi
