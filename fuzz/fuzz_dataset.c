/* libFuzzer target: the data-set folder opener (index.json, frames.npy, actions.npy and how they must
 * agree). A folder with a small valid data set is made once; each input replaces one of its three files:
 * the first byte picks which (mod 3), the rest is the file's new content. */
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "io/dataset.h"
#include "io/tensorfile.h"

static char g_dir[256];
static const char *NAMES[3] = {"index.json", "frames.npy", "actions.npy"};

static void write_file(const char *name, const uint8_t *data, size_t size) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, size, f);
    fclose(f);
}

/* The valid data set: 2 videos x 3 frames of 8x8 RGB, actions with poses. */
static void restore_valid(void) {
    static const char index[] = "{\"format_version\": 1, \"videos\": 2, \"frames\": 3, \"size\": 8, \"split\": \"test\"}\n";
    write_file(NAMES[0], (const uint8_t *)index, sizeof index - 1);
    char path[400];
    uint8_t frames[2 * 3 * 8 * 8 * 3];
    for (size_t i = 0; i < sizeof frames; i++) frames[i] = (uint8_t)i;
    int64_t sf[5] = {2, 3, 8, 8, 3}, sa[3] = {2, 3, 6};
    snprintf(path, sizeof path, "%s/frames.npy", g_dir);
    mv_npy_save(path, MV_DT_U8, 5, sf, frames);
    float act[2 * 3 * 6] = {0};
    snprintf(path, sizeof path, "%s/actions.npy", g_dir);
    mv_npy_save(path, MV_DT_F32, 3, sa, act);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "%s/mv_fuzz_dataset_%d", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
                 (int)getpid());
        mkdir(g_dir, 0700);
    }
    if (size < 1) return 0;
    restore_valid();
    write_file(NAMES[data[0] % 3], data + 1, size - 1);
    mv_dataset d;
    if (mv_dataset_open(&d, g_dir) == MV_OK) mv_dataset_close(&d);
    return 0;
}
