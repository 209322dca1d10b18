// Thin import of libcryptsetup (libcryptsetup-dev). No logic lives here; the
// Swift side is SecretActions/LUKS.swift.
#ifndef SE_SECRETD_CCRYPTSETUP_H
#define SE_SECRETD_CCRYPTSETUP_H
#include <stdint.h>
#include <libcryptsetup.h>

// Macros written with UINT32_C or as string literals, as typed constants.
static const uint32_t se_crypt_activate_readonly = CRYPT_ACTIVATE_READONLY;
static const uint32_t se_crypt_activate_allow_discards = CRYPT_ACTIVATE_ALLOW_DISCARDS;
static const int se_crypt_any_slot = CRYPT_ANY_SLOT;
static const int se_crypt_log_error = CRYPT_LOG_ERROR;
static const char *const se_crypt_luks2 = CRYPT_LUKS2;
static const char *const se_crypt_kdf_pbkdf2 = CRYPT_KDF_PBKDF2;
static const uint32_t se_crypt_pbkdf_no_benchmark = CRYPT_PBKDF_NO_BENCHMARK;
#endif
