/* The /dev/uv system call wrapper; layout checks live in the header. */
#include "uvdevice_abi.h"

#include <errno.h>
#include <sys/ioctl.h>

#if defined(__s390x__)
_Static_assert(__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__, "s390x is big-endian");
#endif
_Static_assert(sizeof(unsigned long) == 8, "64-bit targets only (s390x, x86-64, aarch64)");
_Static_assert(sizeof(void *) == sizeof(uint64_t), "argument_addr carries a full pointer");

int se_uv_ioctl(int fd, unsigned long request, void *cb)
{
    /* No EINTR retry: the device's calls are not restartable without
     * repeating an ultravisor action (e.g. adding a secret twice). */
    if (ioctl(fd, request, cb) == 0)
        return 0;
    return errno;
}
