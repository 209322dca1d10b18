#!/bin/sh
# dracut initqueue/finished hook (shell init; sourced in a subshell by
# check_finished): the main loop may only end once se-secretd's boot run and
# unlock phase ran (initqueue/settled/00-se-secretd-early.sh marks that), so a
# root that is there at once cannot carry the boot past them.
[ -e /run/se-secretd/early-done ]
