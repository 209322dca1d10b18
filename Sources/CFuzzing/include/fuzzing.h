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

/* A target's own mutator (see FieldMutator.swift); NULL: libFuzzer's. */
typedef size_t (*se_fuzz_mutator)(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
void se_fuzz_set_mutator(se_fuzz_mutator mutator);

/* libFuzzer's own mutations (LLVMFuzzerMutate); returns size unchanged
 * without libFuzzer. */
size_t se_fuzz_default_mutate(uint8_t *data, size_t size, size_t max_size);

#endif
