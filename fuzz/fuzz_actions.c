/* libFuzzer target: the per-frame actions JSON-lines reader (io/actions.h). */
#include "fuzz_common.h"
#include "io/actions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    int *ids = NULL, n = 0;
    if (mv_actions_read_jsonl(path, &ids, &n) == MV_OK) free(ids);
    close(fd);
    return 0;
}
