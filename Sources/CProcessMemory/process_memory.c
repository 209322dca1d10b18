#define _GNU_SOURCE
#include "process_memory.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/uio.h>
#include <unistd.h>

/* One transfer between `local` and address `addr` of this process. */
static int transfer(bool to_addr, void *local, uint64_t addr, size_t len)
{
    struct iovec here = { .iov_base = local, .iov_len = len };
    struct iovec there = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
    ssize_t n;

    if (len == 0)
        return 0;
    n = to_addr ? process_vm_writev(getpid(), &here, 1, &there, 1, 0)
                : process_vm_readv(getpid(), &here, 1, &there, 1, 0);
    if (n < 0)
        return errno;
    return (size_t)n == len ? 0 : EFAULT;
}

int se_process_memory_read(void *dst, uint64_t addr, size_t len)
{
    return transfer(false, dst, addr, len);
}

int se_process_memory_write(uint64_t addr, const void *src, size_t len)
{
    return transfer(true, (void *)src, addr, len);
}
