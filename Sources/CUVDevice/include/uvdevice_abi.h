/*
 * The user-space ABI of the Linux s390 Ultravisor device (/dev/uv), written
 * from the facts in docs/uv-device.md. It mirrors the kernel UAPI (control
 * block, attestation and info arguments, ioctl numbers, limits) and the
 * big-endian secret-list layout the ultravisor produces. Every size and
 * offset is checked at compile time; scripts/check-uapi-s390x.sh compiles
 * this file for s390x (big-endian) as well.
 *
 * Swift code takes layouts from here (MemoryLayout of the imported structs,
 * the constants below) and never restates them.
 */
#ifndef SE_UVDEVICE_ABI_H
#define SE_UVDEVICE_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <linux/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Control block handed to every ioctl (64 bytes, native byte order) ---- */

struct se_uvio_ioctl_cb {
    uint32_t flags;           /* must be 0 */
    uint16_t uv_rc;           /* ultravisor return code (written on ioctl success only) */
    uint16_t uv_rrc;          /* ultravisor return reason code (idem) */
    uint64_t argument_addr;   /* user address of the per-ioctl argument */
    uint32_t argument_len;    /* its length in bytes */
    uint8_t  reserved14[44];  /* must be all zero */
};

/* ---- INFO argument (16 bytes, output only) ---- */

struct se_uvio_uvdev_info {
    uint64_t supp_uvio_cmds;  /* bit n (LSB0): the device implements ioctl nr n */
    uint64_t supp_uv_cmds;    /* bit n: the ultravisor offers the call behind ioctl nr n */
};

/* ---- ATT argument (0x138 bytes) ---- */

#define SE_UVIO_ATT_USER_DATA_LEN 0x100
#define SE_UVIO_ATT_UID_LEN 0x10

struct se_uvio_attest {
    uint64_t arcb_addr;
    uint64_t meas_addr;
    uint64_t add_data_addr;
    uint8_t  user_data[SE_UVIO_ATT_USER_DATA_LEN];
    uint8_t  config_uid[SE_UVIO_ATT_UID_LEN];
    uint32_t arcb_len;
    uint32_t meas_len;
    uint32_t add_data_len;
    uint16_t user_data_len;
    uint16_t reserved136;     /* must be 0 */
};

/* ---- Limits the kernel enforces (not the ultravisor's own limits) ---- */

#define SE_UVIO_ATT_ARCB_MAX_LEN        0x100000
#define SE_UVIO_ATT_MEASUREMENT_MAX_LEN 0x8000
#define SE_UVIO_ATT_ADDITIONAL_MAX_LEN  0x8000
#define SE_UVIO_ADD_SECRET_MAX_LEN      0x100000
#define SE_UVIO_LIST_SECRETS_LEN        0x1000
#define SE_UVIO_RETR_SECRET_MAX_LEN     0x2000
/* RETR: the first bytes of the buffer carry the u16 secret index. */
#define SE_UVIO_RETR_INDEX_LEN          2

/* ---- ioctl numbers: _IOWR('u', nr, struct se_uvio_ioctl_cb) ---- */

#define SE_UVIO_TYPE 'u'

enum se_uvio_nr {
    SE_UVIO_NR_INFO = 0,          /* Linux 6.5 */
    SE_UVIO_NR_ATT = 1,           /* Linux 5.19 */
    SE_UVIO_NR_ADD_SECRET = 2,    /* Linux 6.5 */
    SE_UVIO_NR_LIST_SECRETS = 3,  /* Linux 6.5 (one page), 6.13 (pages) */
    SE_UVIO_NR_LOCK_SECRETS = 4,  /* Linux 6.5 */
    SE_UVIO_NR_RETR_SECRET = 5,   /* Linux 6.13 */
};

/* Number of ioctls the driver accepts, by kernel generation. */
#define SE_UVIO_NUM_IOCTLS_6_5  5
#define SE_UVIO_NUM_IOCTLS_6_13 6

#define SE_UVIO_REQUEST(nr) _IOWR(SE_UVIO_TYPE, (nr), struct se_uvio_ioctl_cb)

/* Generic ioctl-number encoding, exposed for callers that cannot use the
 * macros (Swift) and for tests that build deliberately wrong numbers. */
enum se_ioc_direction {
    SE_IOC_DIR_NONE = _IOC_NONE,
    SE_IOC_DIR_WRITE = _IOC_WRITE,
    SE_IOC_DIR_READ = _IOC_READ,
    SE_IOC_DIR_READ_WRITE = _IOC_READ | _IOC_WRITE,
};

static inline unsigned long se_uvio_request(unsigned int nr) {
    return (unsigned long)SE_UVIO_REQUEST(nr);
}
static inline unsigned long se_ioc_encode(unsigned int dir, unsigned int type, unsigned int nr, unsigned int size) {
    return (unsigned long)_IOC(dir, type, nr, size);
}
static inline unsigned int se_ioc_dir(unsigned long request) { return (unsigned int)_IOC_DIR(request); }
static inline unsigned int se_ioc_type(unsigned long request) { return (unsigned int)_IOC_TYPE(request); }
static inline unsigned int se_ioc_nr(unsigned long request) { return (unsigned int)_IOC_NR(request); }
static inline unsigned int se_ioc_size(unsigned long request) { return (unsigned int)_IOC_SIZE(request); }

/* ---- Secret list (LIST_SECRETS output): big-endian, produced by the UV ----
 * A 16-byte header followed by 48-byte entries; a 4 KiB page holds 85. */

enum se_uv_list_layout {
    SE_UV_LIST_PAGE_LEN = 0x1000,
    SE_UV_LIST_HDR_LEN = 0x10,
    SE_UV_LIST_HDR_NUM_STORED = 0x00,     /* u16: entries that follow */
    SE_UV_LIST_HDR_TOTAL = 0x02,          /* u16: secrets in the store */
    SE_UV_LIST_HDR_NEXT_INDEX = 0x04,     /* u16: where a continuation starts */
    SE_UV_LIST_ENTRY_LEN = 0x30,
    SE_UV_LIST_ENTRY_INDEX = 0x00,        /* u16 */
    SE_UV_LIST_ENTRY_TYPE = 0x02,         /* u16 */
    SE_UV_LIST_ENTRY_LENGTH = 0x04,       /* u32 */
    SE_UV_LIST_ENTRY_ID = 0x10,           /* 32 bytes */
    SE_UV_LIST_ENTRY_ID_LEN = 0x20,
    SE_UV_LIST_ENTRIES_PER_PAGE = 85,
};

/* Byte-array mirrors of the list structures, only for the layout checks. */
struct se_uv_list_hdr_bytes {
    uint8_t num_secr_stored[2];
    uint8_t total_num_secrets[2];
    uint8_t next_secret_idx[2];
    uint8_t reserved06[2];
    uint8_t reserved08[8];
};
struct se_uv_list_entry_bytes {
    uint8_t index[2];
    uint8_t type[2];
    uint8_t length[4];
    uint8_t reserved08[8];
    uint8_t id[32];
};

/* ---- Compile-time layout checks ---- */

/* Offset and size of each field: together with the struct size this proves
 * there is no padding anywhere. */
#define SE_ABI_ASSERT_FIELD(type, field, offset, size)                                    \
    _Static_assert(offsetof(struct type, field) == (offset), #type "." #field " offset"); \
    _Static_assert(sizeof(((struct type *)0)->field) == (size), #type "." #field " size")

_Static_assert(sizeof(struct se_uvio_ioctl_cb) == 0x40, "uvio_ioctl_cb size");
_Static_assert(_Alignof(struct se_uvio_ioctl_cb) == 8, "uvio_ioctl_cb alignment");
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, flags, 0x00, 4);
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, uv_rc, 0x04, 2);
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, uv_rrc, 0x06, 2);
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, argument_addr, 0x08, 8);
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, argument_len, 0x10, 4);
SE_ABI_ASSERT_FIELD(se_uvio_ioctl_cb, reserved14, 0x14, 44);

_Static_assert(sizeof(struct se_uvio_uvdev_info) == 0x10, "uvio_uvdev_info size");
SE_ABI_ASSERT_FIELD(se_uvio_uvdev_info, supp_uvio_cmds, 0x00, 8);
SE_ABI_ASSERT_FIELD(se_uvio_uvdev_info, supp_uv_cmds, 0x08, 8);

_Static_assert(sizeof(struct se_uvio_attest) == 0x138, "uvio_attest size");
SE_ABI_ASSERT_FIELD(se_uvio_attest, arcb_addr, 0x000, 8);
SE_ABI_ASSERT_FIELD(se_uvio_attest, meas_addr, 0x008, 8);
SE_ABI_ASSERT_FIELD(se_uvio_attest, add_data_addr, 0x010, 8);
SE_ABI_ASSERT_FIELD(se_uvio_attest, user_data, 0x018, 0x100);
SE_ABI_ASSERT_FIELD(se_uvio_attest, config_uid, 0x118, 0x10);
SE_ABI_ASSERT_FIELD(se_uvio_attest, arcb_len, 0x128, 4);
SE_ABI_ASSERT_FIELD(se_uvio_attest, meas_len, 0x12C, 4);
SE_ABI_ASSERT_FIELD(se_uvio_attest, add_data_len, 0x130, 4);
SE_ABI_ASSERT_FIELD(se_uvio_attest, user_data_len, 0x134, 2);
SE_ABI_ASSERT_FIELD(se_uvio_attest, reserved136, 0x136, 2);

_Static_assert(sizeof(struct se_uv_list_hdr_bytes) == SE_UV_LIST_HDR_LEN, "list header size");
SE_ABI_ASSERT_FIELD(se_uv_list_hdr_bytes, num_secr_stored, SE_UV_LIST_HDR_NUM_STORED, 2);
SE_ABI_ASSERT_FIELD(se_uv_list_hdr_bytes, total_num_secrets, SE_UV_LIST_HDR_TOTAL, 2);
SE_ABI_ASSERT_FIELD(se_uv_list_hdr_bytes, next_secret_idx, SE_UV_LIST_HDR_NEXT_INDEX, 2);
_Static_assert(sizeof(struct se_uv_list_entry_bytes) == SE_UV_LIST_ENTRY_LEN, "list entry size");
SE_ABI_ASSERT_FIELD(se_uv_list_entry_bytes, index, SE_UV_LIST_ENTRY_INDEX, 2);
SE_ABI_ASSERT_FIELD(se_uv_list_entry_bytes, type, SE_UV_LIST_ENTRY_TYPE, 2);
SE_ABI_ASSERT_FIELD(se_uv_list_entry_bytes, length, SE_UV_LIST_ENTRY_LENGTH, 4);
SE_ABI_ASSERT_FIELD(se_uv_list_entry_bytes, id, SE_UV_LIST_ENTRY_ID, SE_UV_LIST_ENTRY_ID_LEN);
_Static_assert(SE_UV_LIST_HDR_LEN + SE_UV_LIST_ENTRIES_PER_PAGE * SE_UV_LIST_ENTRY_LEN == SE_UV_LIST_PAGE_LEN,
               "85 entries fill one page exactly");
_Static_assert(SE_UV_LIST_PAGE_LEN == SE_UVIO_LIST_SECRETS_LEN, "list page is the LIST argument length");

/* The request numbers are the same on every architecture (generic encoding). */
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_INFO) == 0xC0407500UL, "INFO request number");
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_ATT) == 0xC0407501UL, "ATT request number");
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_ADD_SECRET) == 0xC0407502UL, "ADD_SECRET request number");
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_LIST_SECRETS) == 0xC0407503UL, "LIST_SECRETS request number");
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_LOCK_SECRETS) == 0xC0407504UL, "LOCK_SECRETS request number");
_Static_assert(SE_UVIO_REQUEST(SE_UVIO_NR_RETR_SECRET) == 0xC0407505UL, "RETR_SECRET request number");
_Static_assert(_IOC_READ == 2 && _IOC_WRITE == 1 && _IOC_NONE == 0, "generic ioctl directions");

/* ---- The one system call ---- */

/* ioctl(fd, request, cb) without the variadic interface: returns 0 on
 * success or the errno the call left (never retried). */
int se_uv_ioctl(int fd, unsigned long request, void *cb);

#ifdef __cplusplus
}
#endif

#endif /* SE_UVDEVICE_ABI_H */
