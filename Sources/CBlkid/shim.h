// Thin import of libblkid (libblkid-dev). No logic lives here.
#ifndef SE_SECRETD_CBLKID_H
#define SE_SECRETD_CBLKID_H
#include <blkid/blkid.h>
#endif
