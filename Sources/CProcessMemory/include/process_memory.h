/*
 * Copies to and from this process's own memory through process_vm_readv /
 * process_vm_writev, so that an invalid address yields EFAULT instead of a
 * crash. The simulated uvdevice uses it as its copy_from_user/copy_to_user.
 */
#ifndef SE_PROCESS_MEMORY_H
#define SE_PROCESS_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* Copies len bytes from address addr into dst: 0, or the errno (EFAULT
 * when any byte of the range is inaccessible). */
int se_process_memory_read(void *dst, uint64_t addr, size_t len);

/* Copies len bytes from src to address addr: 0, or the errno. */
int se_process_memory_write(uint64_t addr, const void *src, size_t len);

#endif
