#include "dm_table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>

/* The layout SecretActions/DMTable.swift reads (DMTableLayout). */
_Static_assert(sizeof(struct dm_ioctl) == 312, "dm_ioctl size");
_Static_assert(offsetof(struct dm_ioctl, data_size) == 12, "data_size");
_Static_assert(offsetof(struct dm_ioctl, data_start) == 16, "data_start");
_Static_assert(offsetof(struct dm_ioctl, target_count) == 20, "target_count");
_Static_assert(offsetof(struct dm_ioctl, flags) == 28, "flags");
_Static_assert(offsetof(struct dm_ioctl, dev) == 40, "dev");
_Static_assert(offsetof(struct dm_ioctl, name) == 48 && DM_NAME_LEN == 128, "name");
_Static_assert(offsetof(struct dm_ioctl, uuid) == 176 && DM_UUID_LEN == 129, "uuid");
_Static_assert(sizeof(struct dm_target_spec) == 40, "dm_target_spec size");
_Static_assert(offsetof(struct dm_target_spec, length) == 8, "length");
_Static_assert(offsetof(struct dm_target_spec, status) == 16, "status");
_Static_assert(offsetof(struct dm_target_spec, next) == 20, "next");
_Static_assert(offsetof(struct dm_target_spec, target_type) == 24 && DM_MAX_TYPE_NAME == 16, "target_type");
_Static_assert(DM_BUFFER_FULL_FLAG == (1 << 8), "DM_BUFFER_FULL_FLAG");

int se_dm_table_status(const char *name, unsigned int major, unsigned int minor, void *buf, size_t buf_size)
{
    struct dm_ioctl *io = buf;
    if (buf == NULL || buf_size < sizeof(*io) || buf_size > UINT32_MAX || ((uintptr_t)buf & 7) != 0)
        return -EINVAL;
    memset(buf, 0, buf_size);
    io->version[0] = 4;
    io->version[1] = 0;
    io->version[2] = 0;
    io->data_size = (uint32_t)buf_size;
    io->data_start = sizeof(*io);
    io->flags = DM_STATUS_TABLE_FLAG | DM_SECURE_DATA_FLAG;
    if (name != NULL) {
        size_t n = strlen(name);
        if (n == 0 || n >= DM_NAME_LEN)
            return -ENAMETOOLONG;
        memcpy(io->name, name, n);
    } else {
        /* The kernel's huge_encode_dev (new_encode_dev for 32 bits). */
        io->dev = (uint64_t)((minor & 0xffu) | ((major & 0xfffu) << 8) | ((minor & ~0xffu) << 12));
    }
    int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = ioctl(fd, DM_TABLE_STATUS, io);
    int err = errno;
    close(fd);
    return rc < 0 ? -err : 0;
}
