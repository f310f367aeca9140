/* A millivid data set directory: frames.npy (N,T,S,S,3) uint8, actions.npy (N,T,6) float32
 * [id, x, y, z, yaw_deg, pitch_deg] (id -1 = unconditioned), index.json (configuration, split,
 * per-video seeds, "format_version"). actions[i] is the action that produced frames[i]. */
#ifndef MV_DATASET_H
#define MV_DATASET_H
#include "io/tensorfile.h"

typedef struct {
    char *dir;
    mv_npy frames, actions;
    int videos, frames_per_video, size;
    char split[16];      /* "train", "test", "import" or "" */
    int has_poses;       /* 1 when actions carry real poses (Loopcraft), 0 for imports */
    char *index_json;    /* the raw index.json text */
} mv_dataset;

mv_status mv_dataset_open(mv_dataset *d, const char *dir);
void mv_dataset_close(mv_dataset *d);
/* index.json's "world_width" when the data says its world wraps (Loopcraft: x and z are periodic with
 * that period, in blocks); else 0. */
double mv_dataset_world_width(const mv_dataset *d);
static inline const uint8_t *mv_dataset_frame(const mv_dataset *d, int video, int t) {
    return (const uint8_t *)d->frames.data + ((size_t)video * d->frames_per_video + t) * d->size * d->size * 3;
}
static inline const float *mv_dataset_action(const mv_dataset *d, int video, int t) {
    return (const float *)d->actions.data + ((size_t)video * d->frames_per_video + t) * 6;
}
#endif
