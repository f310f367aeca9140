/* Model-free helpers of the evaluation protocol; see protocol.h. */
#include "eval/protocol.h"

#include <math.h>

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
    double r2 = p->radius_blocks * p->radius_blocks;
    for (int t = 0; t < frames; t++) {
        mask[t] = 0;
        const float *q = poses + (size_t)t * 6;
        for (int s = 0; t >= context && s < context && !mask[t]; s++) {
            const float *c = poses + (size_t)s * 6;
            double dx = periodic_dist(q[1], c[1], p->wrap_blocks), dz = periodic_dist(q[3], c[3], p->wrap_blocks);
            mask[t] = dx * dx + dz * dz <= r2 && periodic_dist(q[4], c[4], 360.0) <= p->yaw_deg;
        }
        n += mask[t];
    }
    if (count) *count = n;
    return MV_OK;
}

mv_status mv_revisit_mask_gap(uint8_t *mask, int *count, const float *poses, int frames, int context,
                              const mv_revisit_params *p, int min_gap) {
    if (min_gap < 0) return mv_fail(MV_ERR_ARG, "revisits: the minimum gap must be >= 0, got %d", min_gap);
    MV_TRY(mv_revisit_mask(mask, count, poses, frames, context, p));
    if (min_gap == 0) return MV_OK;
    mv_revisit_params def;
    if (!p) mv_revisit_params_init(&def), p = &def;
    double r2 = p->radius_blocks * p->radius_blocks;
    int n = 0;
    for (int t = context; t < frames; t++) {
        const float *q = poses + (size_t)t * 6;
        int hit = 0, last = MV_MIN(context - 1, t - min_gap);
        for (int s = 0; mask[t] && s <= last && !hit; s++) {
            const float *c = poses + (size_t)s * 6;
            double dx = periodic_dist(q[1], c[1], p->wrap_blocks), dz = periodic_dist(q[3], c[3], p->wrap_blocks);
            hit = dx * dx + dz * dz <= r2 && periodic_dist(q[4], c[4], 360.0) <= p->yaw_deg;
        }
        mask[t] = (uint8_t)hit;
        n += hit;
    }
    if (count) *count = n;
    return MV_OK;
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
