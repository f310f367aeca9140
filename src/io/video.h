/* Video through the FFmpeg libraries: H.264 yuv420p mp4 writing (20 fps default, browser-playable)
 * and decoding of anything FFmpeg reads into RGB frames. */
#ifndef MV_VIDEO_H
#define MV_VIDEO_H
#include <stdint.h>

#include "millivid.h"

typedef struct mv_video_writer mv_video_writer;
/* width/height must be even. Writes to "<path>.tmp" and renames at close (atomic). Deterministic:
 * the same frames give byte-identical files. crf: quality (e.g. 18). */
mv_status mv_video_writer_open(mv_video_writer **w, const char *path, int width, int height, int fps,
                               int crf);
mv_status mv_video_writer_add(mv_video_writer *w, const uint8_t *rgb /* [height, width, 3] */);
mv_status mv_video_writer_close(mv_video_writer *w); /* flushes, renames, frees */
void mv_video_writer_abort(mv_video_writer *w);

typedef struct mv_video_reader mv_video_reader;
/* Opens any file FFmpeg can read; fails with a clear message for non-videos / no video stream.
 * Frames come out centre-cropped to a square and area-resampled to size x size RGB.
 * out_fps > 0 resamples the frame rate (nearest frame in time); 0 keeps the source rate. */
mv_status mv_video_reader_open(mv_video_reader **r, const char *path, int size, double out_fps);
/* Returns MV_OK and *got = 1 with a frame, *got = 0 at the end. */
mv_status mv_video_reader_next(mv_video_reader *r, uint8_t *rgb /* [size, size, 3] */, int *got);
double mv_video_reader_fps(const mv_video_reader *r); /* source frame rate */
/* Expected number of frames next() will return, from the container (-1 if unknown); for progress
 * bars only, never exact. */
int64_t mv_video_reader_frames_hint(const mv_video_reader *r);
void mv_video_reader_close(mv_video_reader *r);
#endif
