#include "fuzzing.h"

extern int LLVMFuzzerRunDriver(int *argc, char ***argv,
                               int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

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
