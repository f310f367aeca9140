/* Evaluation protocol helpers that need no model: which generated frames revisit a place seen in the
 * context, the "random video" lower-bound pairing, the long-horizon frame range, and masked means.
 * Poses are rows of actions.npy: [action id, x, y, z, yaw_deg, pitch_deg] (src/io/dataset.h), x/z
 * horizontal and y up in blocks, yaw in degrees (src/world/world.h). */
#ifndef MV_PROTOCOL_H
#define MV_PROTOCOL_H
#include <stdint.h>

#include "millivid.h"

typedef struct {
    double radius_blocks; /* horizontal (x, z) distance to a context frame, inclusive; default 2 */
    double yaw_deg;       /* yaw difference (wrapped to [0, 180]) to that same frame, inclusive; default 30 */
    double wrap_blocks;   /* > 0: x and z are periodic with this period (Loopcraft: 256); default 0 */
} mv_revisit_params;

void mv_revisit_params_init(mv_revisit_params *p);

/* Whether pose q is at pose c's place: x/z distance within the radius and yaw within the angle, both
 * inclusive, periodic as p says. *d2 (may be NULL) gets the squared x/z distance. */
int mv_pose_near(const float *q, const float *c, const mv_revisit_params *p, double *d2);

/* mask[t] = 1 for frames t >= context whose pose is within radius AND yaw of at least one context frame
 * (0 <= s < context), else 0; *count = number of such frames (may be NULL).
 * mask: [frames]; poses: [frames, 6]. Needs 1 <= context <= frames. */
mv_status mv_revisit_mask(uint8_t *mask, int *count, const float *poses, int frames, int context,
                          const mv_revisit_params *p);

/* Like mv_revisit_mask, but frame t counts only through context frames s with t - s >= min_gap: a return to
 * a place seen at least min_gap frames earlier, not the frames right after the context that are still near
 * its last poses. min_gap 0 gives mv_revisit_mask exactly; min_gap < 0 is an error. */
mv_status mv_revisit_mask_gap(uint8_t *mask, int *count, const float *poses, int frames, int context,
                              const mv_revisit_params *p, int min_gap);

/* A rollout's reach, as `millivid schedule` prints it: the steps of a chunk see the `back` (S) frames before
 * the chunk's first generated frame, and chunks advance `advance` (A) frames from the first generated frame. */
typedef struct {
    int back;    /* S >= 0 */
    int advance; /* A >= 1 */
} mv_reach;

/* The earliest frame the chunk that generates frame t (>= context) sees: context + k*A - S, k = (t - context) / A.
 * MilliVid at mini scale (S 85, A 64): frames 1-85 for every frame of its first chunk 86-149 (context 86);
 * FramePack (A 1): the S frames before t itself. */
int mv_reach_first_frame(const mv_reach *r, int context, int t);

/* Like mv_revisit_mask_gap (the same frames or fewer), but frame t counts only through context frames s that at
 * least one of the reaches sees when generating t: s >= min over i of mv_reach_first_frame(&reach[i], context, t).
 * reach: [n_reach], n_reach >= 1. */
mv_status mv_revisit_mask_reach(uint8_t *mask, int *count, const float *poses, int frames, int context,
                                const mv_revisit_params *p, int min_gap, const mv_reach *reach, int n_reach);

/* The "random video" bound: partner[v] != v, drawn uniformly from the other videos with the stream
 * mv_rng_fork(seed, v) (so it does not depend on n_videos' order of evaluation). partner: [n_videos].
 * Needs n_videos >= 2. */
mv_status mv_random_partners(int *partner, int n_videos, uint64_t seed);

/* The long-horizon range [*from, *to): the last `fraction` (0 < fraction <= 1; 0.5 = the second half)
 * of the generated frames [context, frames), at least one frame. */
mv_status mv_long_horizon_range(int *from, int *to, int frames, int context, double fraction);

/* Mean of x[from..to) (NAN if empty). x: [n]. */
double mv_range_mean(const double *x, int from, int to);
/* Mean of x[i] where mask[i] (NAN if none). x, mask: [n]. */
double mv_mask_mean(const double *x, const uint8_t *mask, int n);
/* Writes the indices i with mask[i] into idx (capacity n) in increasing order; returns their count. */
int mv_mask_indices(int *idx, const uint8_t *mask, int n);
#endif
