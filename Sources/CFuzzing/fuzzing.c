#include "fuzzing.h"

extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
                               int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

extern size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));

static se_fuzz_mutator target_mutator;

void se_fuzz_set_mutator(se_fuzz_mutator mutator)
{
    target_mutator = mutator;
}

size_t se_fuzz_default_mutate(uint8_t *data, size_t size, size_t max_size)
{
    return LLVMFuzzerMutate != NULL ? LLVMFuzzerMutate(data, size, max_size) : size;
}

/* libFuzzer calls this instead of its own mutations when it is defined:
 * the target's mutator if it set one, libFuzzer's otherwise. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    if (target_mutator != NULL)
        return target_mutator(data, size, max_size, seed);
    return se_fuzz_default_mutate(data, size, max_size);
}

int se_fuzz_driver_available(void)
{
    return LLVMFuzzerRunDriver != NULL;
}

int se_fuzz_run_driver(int *argc, char ***argv, se_fuzz_callback callback)
{
    if (LLVMFuzzerRunDriver == NULL)
        return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
