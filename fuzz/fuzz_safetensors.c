/* libFuzzer target: safetensors files and millivid checkpoints (header, metadata, every tensor read as
 * float32, the checkpoint metadata and its config JSON). */
#include "fuzz_common.h"
#include "io/tensorfile.h"
#include "models/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    mv_safetensors f;
    if (mv_st_open(&f, path) == MV_OK) {
        for (int i = 0; i < f.count; i++) {
            const mv_tensor_view *t = &f.tensors[i];
            if (t->numel > (1u << 20)) continue;
            float *x = malloc((t->numel ? t->numel : 1) * sizeof(float));
            if (x) mv_st_read_f32(&f, t->name, x, t->numel);
            free(x);
        }
        mv_st_close(&f);
    }
    mv_ckpt_meta meta;
    if (mv_ckpt_open(&f, &meta, path, NULL) == MV_OK) mv_st_close(&f);
    close(fd);
    return 0;
}
