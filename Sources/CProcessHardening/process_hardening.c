#define _GNU_SOURCE
#include "process_hardening.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int se_set_dumpable(int value)
{
    return prctl(PR_SET_DUMPABLE, (unsigned long)value, 0UL, 0UL, 0UL) == 0 ? 0 : -errno;
}

int se_get_dumpable(void)
{
    int v = prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
    return v >= 0 ? v : -errno;
}

int se_has_cap_ipc_lock(void)
{
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

    if (syscall(SYS_capget, &header, data) != 0)
        return -errno;
    return (data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)) ? 1 : 0;
}
