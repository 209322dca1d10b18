// Thin import of util-linux's libblkid (libblkid-dev). No logic lives here;
// the Swift side is SEDevices.
#ifndef SE_SECRETD_CBLKID_H
#define SE_SECRETD_CBLKID_H
#include <blkid/blkid.h>

// The flag macros as typed constants (Swift does not import every macro form).
static const int se_blkid_sublks_flags = BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE;
static const int se_blkid_parts_flags = BLKID_PARTS_ENTRY_DETAILS;
#endif
