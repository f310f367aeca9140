/* libFuzzer target: the video importer's decoder (FFmpeg demux + decode + scale to 64x64 RGB at 20 fps),
 * reading at most 32 frames of the input. */
#include "fuzz_common.h"
#include "io/video.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0) return 0;
    mv_video_reader *r;
    if (mv_video_reader_open(&r, path, 64, 20.0) == MV_OK) {
        static uint8_t rgb[64 * 64 * 3];
        int got = 1;
        for (int i = 0; i < 32 && got; i++)
            if (mv_video_reader_next(r, rgb, &got) != MV_OK) break;
        mv_video_reader_close(r);
    }
    close(fd);
    return 0;
}
