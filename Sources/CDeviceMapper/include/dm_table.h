/*
 * DM_TABLE_STATUS on /dev/mapper/control: the ACTIVE table of a mapping as
 * the kernel has it (not what a LUKS header on disk says). The reply is
 * left in the caller's buffer untouched; SecretActions/DMTable.swift parses
 * it. The buffer receives the crypt target's key: the caller owns it as
 * secret material and wipes it.
 */
#ifndef SE_DM_TABLE_H
#define SE_DM_TABLE_H
#include <stddef.h>

/*
 * Asks for the table of the mapping `name` (when non-NULL) or else of the
 * device major:minor, into buf (buf_size bytes, at least the size of struct
 * dm_ioctl, 8-byte aligned). Flags: DM_STATUS_TABLE_FLAG (the table, not the
 * status line) and DM_SECURE_DATA_FLAG (the kernel wipes its copy).
 * Returns 0 (the reply is in buf; its flags may say DM_BUFFER_FULL_FLAG) or
 * -errno (-ENOENT etc. from opening the control device, -ENXIO: no such
 * mapping, -ENAMETOOLONG, -EINVAL for a bad buffer).
 */
int se_dm_table_status(const char *name, unsigned int major, unsigned int minor, void *buf, size_t buf_size);

#endif
