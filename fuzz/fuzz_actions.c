/* libFuzzer target: the per-frame actions JSON-lines reader of `millivid import`. */
#include "fuzz_common.h"
#include "world/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    int *ids = NULL, n = 0;
    if (mv_import_read_actions(path, &ids, &n) == MV_OK) free(ids);
    close(fd);
    return 0;
}
