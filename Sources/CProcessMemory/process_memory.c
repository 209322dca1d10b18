#define _GNU_SOURCE
#include "process_memory.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

int se_process_memory_read(void *dst, uint64_t addr, size_t len)
{
    struct iovec local = { .iov_base = dst, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
    ssize_t n;

    if (len == 0)
        return 0;
    n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n < 0)
        return errno;
    return (size_t)n == len ? 0 : EFAULT;
}

int se_process_memory_write(uint64_t addr, const void *src, size_t len)
{
    struct iovec local = { .iov_base = (void *)src, .iov_len = len };
    struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
    ssize_t n;

    if (len == 0)
        return 0;
    n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
    if (n < 0)
        return errno;
    return (size_t)n == len ? 0 : EFAULT;
}
