#!/bin/sh
# dracut initqueue/settled hook (sourced by init in every pass of its main
# loop, so it guards itself): the boot run and the unlock phase, once, before
# any LUKS device is opened. Failure follows the policy's on_failure.
if [ ! -e /tmp/se-secretd-early.started ]; then
    : > /tmp/se-secretd-early.started
    /usr/lib/se-secretd/se-secretd-initrd early dracut
    if [ $? -eq 3 ]; then
        emergency_shell -n se-secretd "se-secretd failed; its secrets were wiped"
    fi
fi
