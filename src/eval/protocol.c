/* Model-free helpers of the evaluation protocol; see protocol.h. */
#include "eval/protocol.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/rng.h"

void mv_revisit_params_init(mv_revisit_params *p) {
    p->radius_blocks = 2.0;
    p->yaw_deg = 30.0;
    p->wrap_blocks = 0.0;
}

/* |a - b| on a circle of the given period (period <= 0: the real line). */
static double periodic_dist(double a, double b, double period) {
    double d = fabs(a - b);
    if (period > 0) {
        d = fmod(d, period);
        if (d > period / 2) d = period - d;
    }
    return d;
}

/* Rows are [action, x, y, z, yaw, pitch]. */
int mv_pose_near(const float *q, const float *c, const mv_revisit_params *p, double *d2) {
    double dx = periodic_dist(q[1], c[1], p->wrap_blocks), dz = periodic_dist(q[3], c[3], p->wrap_blocks);
    if (d2) *d2 = dx * dx + dz * dz;
    return dx * dx + dz * dz <= p->radius_blocks * p->radius_blocks && periodic_dist(q[4], c[4], 360.0) <= p->yaw_deg;
}

/* Keeps mask[t] (t >= context) only when pose t is near a context frame s in [lo[t - context], hi[t - context]];
 * returns the number kept. lo, hi: [frames - context]. */
static int rescan(uint8_t *mask, const float *poses, int frames, int context, const mv_revisit_params *p,
                  const int *lo, const int *hi) {
    int n = 0;
    for (int t = context; t < frames; t++) {
        const float *q = poses + (size_t)t * 6;
        int hit = 0;
        for (int s = MV_MAX(0, lo[t - context]); mask[t] && s <= hi[t - context] && !hit; s++)
            hit = mv_pose_near(q, poses + (size_t)s * 6, p, NULL);
        mask[t] = (uint8_t)hit;
        n += hit;
    }
    return n;
}

mv_status mv_revisit_mask(uint8_t *mask, int *count, const float *poses, int frames, int context,
                          const mv_revisit_params *p) {
    mv_revisit_params def;
    if (!p) mv_revisit_params_init(&def), p = &def;
    if (frames < 1 || context < 1 || context > frames)
        return mv_fail(MV_ERR_ARG, "revisits: need 1 <= context (%d) <= frames (%d)", context, frames);
    if (!(p->radius_blocks >= 0) || !(p->yaw_deg >= 0) || !(p->wrap_blocks >= 0))
        return mv_fail(MV_ERR_ARG, "revisits: radius (%g), yaw (%g) and wrap (%g) must be >= 0", p->radius_blocks,
                       p->yaw_deg, p->wrap_blocks);
    for (int i = 0; i < frames * 6; i++)
        if (!isfinite(poses[i])) return mv_fail(MV_ERR_ARG, "revisits: pose of frame %d is not finite", i / 6);
    int n = 0;
    for (int t = 0; t < frames; t++) {
        mask[t] = 0;
        const float *q = poses + (size_t)t * 6;
        for (int s = 0; t >= context && s < context && !mask[t]; s++)
            mask[t] = (uint8_t)mv_pose_near(q, poses + (size_t)s * 6, p, NULL);
        n += mask[t];
    }
    if (count) *count = n;
    return MV_OK;
}

/* The context frames [lo, hi] a generated frame may match: hi from the gap, lo from the reaches (0 without). */
static mv_status match_ranges(int **lo, int **hi, int frames, int context, int min_gap, const mv_reach *reach,
                              int n_reach) {
    int G = frames - context;
    *lo = malloc((size_t)MV_MAX(G, 1) * sizeof(int));
    *hi = malloc((size_t)MV_MAX(G, 1) * sizeof(int));
    if (!*lo || !*hi) return mv_fail(MV_ERR_NOMEM, "revisits: out of memory");
    for (int t = context; t < frames; t++) {
        int a = reach ? INT_MAX : 0;
        for (int i = 0; i < n_reach; i++) a = MV_MIN(a, mv_reach_first_frame(&reach[i], context, t));
        (*lo)[t - context] = a;
        (*hi)[t - context] = MV_MIN(context - 1, t - min_gap);
    }
    return MV_OK;
}

static mv_status revisit_ranged(uint8_t *mask, int *count, const float *poses, int frames, int context,
                                const mv_revisit_params *p, int min_gap, const mv_reach *reach, int n_reach) {
    if (min_gap < 0) return mv_fail(MV_ERR_ARG, "revisits: the minimum gap must be >= 0, got %d", min_gap);
    for (int i = 0; reach && i < n_reach; i++)
        if (reach[i].back < 0 || reach[i].advance < 1)
            return mv_fail(MV_ERR_ARG, "revisits: reach %d needs back >= 0 and advance >= 1, got %d and %d", i,
                           reach[i].back, reach[i].advance);
    MV_TRY(mv_revisit_mask(mask, count, poses, frames, context, p));
    if (min_gap == 0 && !reach) return MV_OK;
    mv_revisit_params def;
    if (!p) mv_revisit_params_init(&def), p = &def;
    int *lo = NULL, *hi = NULL;
    mv_status s = match_ranges(&lo, &hi, frames, context, min_gap, reach, n_reach);
    if (s) goto fail;
    int n = rescan(mask, poses, frames, context, p, lo, hi);
    if (count) *count = n;
fail:
    free(lo);
    free(hi);
    return s;
}

mv_status mv_revisit_mask_gap(uint8_t *mask, int *count, const float *poses, int frames, int context,
                              const mv_revisit_params *p, int min_gap) {
    return revisit_ranged(mask, count, poses, frames, context, p, min_gap, NULL, 0);
}

int mv_reach_first_frame(const mv_reach *r, int context, int t) {
    return context + (t - context) / r->advance * r->advance - r->back;
}

mv_status mv_revisit_mask_reach(uint8_t *mask, int *count, const float *poses, int frames, int context,
                                const mv_revisit_params *p, int min_gap, const mv_reach *reach, int n_reach) {
    if (!reach || n_reach < 1) return mv_fail(MV_ERR_ARG, "revisits: need at least one reach, got %d", n_reach);
    return revisit_ranged(mask, count, poses, frames, context, p, min_gap, reach, n_reach);
}

mv_status mv_random_partners(int *partner, int n_videos, uint64_t seed) {
    if (n_videos < 2) return mv_fail(MV_ERR_ARG, "random bound: needs at least 2 test videos, got %d", n_videos);
    mv_rng base;
    mv_rng_init(&base, seed);
    for (int v = 0; v < n_videos; v++) {
        mv_rng r = mv_rng_fork(&base, (uint64_t)v);
        int q = (int)mv_rng_below(&r, (uint32_t)(n_videos - 1));
        partner[v] = q >= v ? q + 1 : q;
    }
    return MV_OK;
}

mv_status mv_long_horizon_range(int *from, int *to, int frames, int context, double fraction) {
    if (context < 0 || context >= frames)
        return mv_fail(MV_ERR_ARG, "long horizon: need 0 <= context (%d) < frames (%d)", context, frames);
    if (!(fraction > 0 && fraction <= 1))
        return mv_fail(MV_ERR_ARG, "long horizon: fraction must be in (0, 1], got %g", fraction);
    int gen = frames - context, n = (int)ceil(gen * fraction - 1e-9);
    if (n < 1) n = 1;
    *from = frames - n;
    *to = frames;
    return MV_OK;
}

double mv_range_mean(const double *x, int from, int to) {
    double s = 0.0;
    for (int i = from; i < to; i++) s += x[i];
    return to > from ? s / (to - from) : NAN;
}

double mv_mask_mean(const double *x, const uint8_t *mask, int n) {
    double s = 0.0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (mask[i]) s += x[i], k++;
    return k ? s / k : NAN;
}

int mv_mask_indices(int *idx, const uint8_t *mask, int n) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (mask[i]) idx[k++] = i;
    return k;
}
