#!/bin/sh
# dracut emergency hook (sourced by dracut-emergency before a shell is offered,
# with systemd or without): wipe the key files and credentials se-secretd
# handed out, so that rd.shell, rd.break or a failure elsewhere in the boot
# does not open a shell next to them.
[ -x /usr/lib/se-secretd/se-secretd-initrd ] && /usr/lib/se-secretd/se-secretd-initrd wipe-handoffs
