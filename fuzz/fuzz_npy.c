/* libFuzzer target: NumPy .npy files (header dictionary, dtype, shape, data offset and size). */
#include "fuzz_common.h"
#include "io/tensorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    mv_npy a;
    if (mv_npy_open(&a, path) == MV_OK) {
        /* touch every byte the array claims */
        size_t esz = a.numel ? a.size / a.numel : 0;
        volatile uint8_t sum = 0;
        const uint8_t *p = a.data;
        for (size_t i = 0; esz && i < a.numel * esz && i < (1u << 22); i += 64) sum += p[i];
        (void)sum;
        mv_npy_close(&a);
    }
    close(fd);
    return 0;
}
