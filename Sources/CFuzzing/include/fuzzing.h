/*
 * libFuzzer's driver, when the binary was linked with -sanitize=fuzzer.
 * The reference is weak, so the same code links without libFuzzer (then
 * the fuzz executable only replays inputs).
 */
#ifndef SE_FUZZING_H
#define SE_FUZZING_H

#include <stddef.h>
#include <stdint.h>

typedef int (*se_fuzz_callback)(const uint8_t *data, size_t size);

/* 1 when libFuzzer is linked in. */
int se_fuzz_driver_available(void);

/* LLVMFuzzerRunDriver(argc, argv, callback); -1 without libFuzzer. */
int se_fuzz_run_driver(int *argc, char ***argv, se_fuzz_callback callback);

#endif
