/* The memory probe: probe-point choice, the bounds, one short rollout per point and method, the
 * summary and its JSON file; see probe.h. */
#include "eval/probe.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/rng.h"
#include "eval/metrics.h"
#include "io/dataset.h"
#include "pipeline/generator.h"

/* ---------------------------------------------------------------- choosing probe frames */

void mv_probe_rule_init(mv_probe_rule *r) {
    memset(r, 0, sizeof *r);
    r->reach = 85;
    r->horizon = 8;
    r->min_gap = 32;
    r->hold_frames = 4;
    r->spacing = 8;
    mv_revisit_params_init(&r->revisit);
}

mv_probe_verdict mv_probe_classify(const float *poses, int frames, int p, const mv_probe_rule *r, int *remembered) {
    if (remembered) *remembered = -1;
    if (p < r->reach + 1 || p + r->horizon > frames || r->horizon < 1) return MV_PROBE_OUT_OF_RANGE;
    const float *q = poses + (size_t)p * 6, *e = poses + (size_t)(p + r->horizon - 1) * 6;
    int best = -1, end_seen = 0;
    double bd = INFINITY, d2;
    for (int s = p - r->reach; s <= p - r->min_gap; s++) {
        const float *c = poses + (size_t)s * 6;
        if (mv_pose_near(q, c, &r->revisit, &d2) && d2 < bd) best = s, bd = d2;
        end_seen |= mv_pose_near(e, c, &r->revisit, &d2);
    }
    if (best < 0) return MV_PROBE_NO_REVISIT;
    if (remembered) *remembered = best;
    for (int j = MV_MAX(0, p - r->hold_frames); j < p; j++)
        if (mv_pose_near(e, poses + (size_t)j * 6, &r->revisit, &d2)) return MV_PROBE_HELD;
    return end_seen ? MV_PROBE_POINT : MV_PROBE_END_UNSEEN;
}

/* Frame f is at least `spacing` frames from every chosen frame. */
static int far_from(const int *chosen, int n, int f, int spacing) {
    for (int i = 0; i < n; i++)
        if (abs(chosen[i] - f) < spacing) return 0;
    return 1;
}

static void sort_ints(int *a, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
            int t = a[j];
            a[j] = a[j - 1], a[j - 1] = t;
        }
}

int mv_probe_select(int *frames, int *remembered, int *candidates, const float *poses, int n_frames,
                    const mv_probe_rule *r, int max_points, uint64_t seed, uint64_t stream) {
    int n = 0, total = 0;
    for (int f = 0; f < n_frames; f++) total += mv_probe_classify(poses, n_frames, f, r, NULL) == MV_PROBE_POINT;
    if (candidates) *candidates = total;
    mv_rng base, g;
    mv_rng_init(&base, seed);
    g = mv_rng_fork(&base, stream);
    /* Draw uniformly among the qualifying frames still far enough from those chosen, one at a time. */
    while (n < max_points) {
        int open = 0;
        for (int f = 0; f < n_frames; f++)
            open += far_from(frames, n, f, r->spacing) && mv_probe_classify(poses, n_frames, f, r, NULL) == MV_PROBE_POINT;
        if (!open) break;
        int k = (int)mv_rng_below(&g, (uint32_t)open);
        for (int f = 0; f < n_frames; f++)
            if (far_from(frames, n, f, r->spacing) && mv_probe_classify(poses, n_frames, f, r, NULL) == MV_PROBE_POINT &&
                k-- == 0) {
                frames[n++] = f;
                break;
            }
    }
    sort_ints(frames, n);
    for (int i = 0; remembered && i < n; i++) mv_probe_classify(poses, n_frames, frames[i], r, &remembered[i]);
    return n;
}

/* Frame q revisits nothing: no frame s <= q - min_gap is at its place. */
static int is_plain(const float *poses, int q, const mv_probe_rule *r) {
    double d2;
    for (int s = 0; s <= q - r->min_gap; s++)
        if (mv_pose_near(poses + (size_t)q * 6, poses + (size_t)s * 6, &r->revisit, &d2)) return 0;
    return 1;
}

int mv_probe_select_plain(int *frames, const float *poses, int n_frames, const mv_probe_rule *r, int n,
                          uint64_t seed, uint64_t stream) {
    int k = 0;
    mv_rng base, g;
    mv_rng_init(&base, seed);
    g = mv_rng_fork(&base, stream);
    while (k < n) {
        int open = 0;
        for (int q = r->reach + 1; q < n_frames; q++) open += far_from(frames, k, q, r->spacing) && is_plain(poses, q, r);
        if (!open) break;
        int u = (int)mv_rng_below(&g, (uint32_t)open);
        for (int q = r->reach + 1; q < n_frames; q++)
            if (far_from(frames, k, q, r->spacing) && is_plain(poses, q, r) && u-- == 0) {
                frames[k++] = q;
                break;
            }
    }
    sort_ints(frames, k);
    return k;
}

/* ---------------------------------------------------------------- small helpers */

void mv_probe_hold_last(double *psnr, double *ssim, const uint8_t *video, int p, int K, int h, int w) {
    size_t fs = (size_t)h * w * 3;
    const uint8_t *last = video + (size_t)(p - 1) * fs;
    for (int k = 0; k < K; k++) {
        const uint8_t *gt = video + (size_t)(p + k) * fs;
        if (psnr) psnr[k] = MV_MIN(mv_psnr_u8(last, gt, h, w), MV_PROBE_PSNR_CAP);
        if (ssim) ssim[k] = mv_ssim_u8(last, gt, h, w);
    }
}

double mv_probe_t975(int df) {
    static const double table[30] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                     2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                     2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1) return NAN;
    if (df <= 30) return table[df - 1];
    /* Cornish-Fisher expansion around the normal quantile (error < 1e-4 beyond 30 degrees of freedom). */
    double z = 1.959963984540054, v = df, z2 = z * z;
    return z + z * (z2 + 1) / (4 * v) + z * ((5 * z2 + 16) * z2 + 3) / (96 * v * v) +
           z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / (384 * v * v * v);
}

mv_probe_stat mv_probe_stat_of(const double *x, int n) {
    mv_probe_stat s = {NAN, NAN, NAN, n};
    if (n < 1) return s;
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    s.mean = m;
    if (n < 2) return s;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    double half = mv_probe_t975(n - 1) * sqrt(v / (n - 1) / n);
    s.lo = m - half, s.hi = m + half;
    return s;
}

mv_status mv_probe_schedule_prefix(mv_schedule *out, const mv_schedule *full, int horizon) {
    if (horizon < 1) return mv_fail(MV_ERR_ARG, "probe: the horizon must be >= 1, got %d", horizon);
    *out = *full;
    if (horizon > full->A || full->S + horizon > full->N) return MV_OK; /* several chunks: every step */
    int last = -1;
    for (int k = 0; k < full->nsteps; k++)
        for (int f = full->S; f < full->S + horizon; f++)
            if (mv_step_role(full, k, 0, f) == MV_ROLE_DENOISED) last = k;
    if (last < 0) return mv_fail(MV_ERR_INTERNAL, "probe: no step of the %s schedule denoises chunk frame %d",
                                 mv_method_name(full->method), full->S);
    out->nsteps = last + 1;
    return MV_OK;
}

/* ---------------------------------------------------------------- the run */

void mv_probe_params_init(mv_probe_params *p) {
    memset(p, 0, sizeof *p);
    p->points = 4;
    p->horizon = 8;
    p->sample_steps = 10;
    p->min_points = 8;
    mv_revisit_params_init(&p->revisit);
    p->revisit.wrap_blocks = -1;
    p->min_gap = 32;
    p->hold_frames = 4;
}

typedef struct {
    char name[64];
    const char *path;
    mv_gen_model model;       /* the DiT, its method and full schedule (model.sched) */
    mv_schedule pre_k, pre_1; /* shallow prefixes of model.sched for K frames and for one frame */
    double seconds;
    long dit_calls;
} pr_method;

enum { ROW_HOLD = 0, ROW_AE = 1, ROW_RANDOM = 2 }; /* bound rows, after the methods */

typedef struct {
    const mv_probe_params *p;
    mv_dataset d;
    int d_ok;
    mv_gen_ae ae;
    mv_gen_work *work;
    pr_method m[MV_PROBE_MAX_METHODS];
    int nm, nrows; /* rows: methods, then hold_last, autoencoded, random_video */
    mv_probe_rule rule;
    int V, T, K, H, max_S;
    /* probe points [np] and random non-revisit frames [nq] (capacity V * P each) */
    int np, nq, candidates;
    int *pt_video, *pt_frame, *pt_rem, *q_video, *q_frame, *partner;
    /* metrics: recall [nrows, np, K]; plain next frame [nrows, nq] */
    double *rec_psnr, *rec_ssim, *plain_psnr;
    /* one video's work */
    float *lat;     /* [T, T_pyr, C] latents of the frames encoded so far */
    uint8_t *gen;   /* [K, H, H, 3] decoded frames */
    int *actions;   /* [T] */
    int lat_lo, lat_hi; /* encoded frames [lo, hi) of the current video */
    int gen_first, gen_n, gen_cap;
    mv_progress prog;
    long done, total;
    double t0;
} pr_run;

static mv_status check_params(const mv_probe_params *p) {
    if (!p->ae_path || !p->data_dir || !p->out_path)
        return mv_fail(MV_ERR_ARG, "probe: the autoencoder, the data set and the output file are required");
    if (p->n_dits < 1 || p->n_dits > MV_PROBE_MAX_METHODS)
        return mv_fail(MV_ERR_ARG, "probe: need 1 to %d DiT checkpoints, got %d", MV_PROBE_MAX_METHODS, p->n_dits);
    if (p->points < 1 || p->points > 1000) return mv_fail(MV_ERR_ARG, "--points must be in [1, 1000], got %d", p->points);
    if (p->horizon < 1 || p->horizon > 256)
        return mv_fail(MV_ERR_ARG, "--horizon must be in [1, 256], got %d", p->horizon);
    if (p->sample_steps < 1 || p->sample_steps > 1000)
        return mv_fail(MV_ERR_ARG, "--sample-steps must be in [1, 1000], got %d", p->sample_steps);
    if (p->min_points < 1) return mv_fail(MV_ERR_ARG, "--min-points must be >= 1, got %d", p->min_points);
    if (p->videos < 0) return mv_fail(MV_ERR_ARG, "--videos must be >= 1, got %d", p->videos);
    if (p->min_gap < 1 || p->hold_frames < 0)
        return mv_fail(MV_ERR_ARG, "probe: min_gap (%d) must be >= 1 and hold_frames (%d) >= 0", p->min_gap,
                       p->hold_frames);
    /* The output: a file in an existing, writable folder (checked now, so a long run does not fail at the end). */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", p->out_path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    else snprintf(dir, sizeof dir, ".");
    if (access(dir, W_OK)) return mv_fail(MV_ERR_IO, "%s: cannot write into folder %s: %s", p->out_path, dir, strerror(errno));
    struct stat st;
    if (!stat(p->out_path, &st) && S_ISDIR(st.st_mode))
        return mv_fail(MV_ERR_ARG, "--out %s is a folder; give the JSON file to write", p->out_path);
    return MV_OK;
}

/* Opens the data set (which must carry camera poses) and the autoencoder. */
static mv_status open_inputs(pr_run *r) {
    const mv_probe_params *p = r->p;
    mv_status s = mv_dataset_open(&r->d, p->data_dir);
    if (s) return s;
    r->d_ok = 1;
    const mv_dataset *d = &r->d;
    if (p->videos > d->videos)
        return mv_fail(MV_ERR_ARG, "%s: --videos %d but the data set has only %d videos", p->data_dir, p->videos,
                       d->videos);
    r->V = p->videos ? p->videos : d->videos;
    r->T = d->frames_per_video;
    if (r->V < 2)
        return mv_fail(MV_ERR_ARG, "%s: need at least 2 videos (the random-video bound pairs videos), got %d",
                       p->data_dir, r->V);
    if (!d->has_poses)
        return mv_fail(MV_ERR_ARG, "%s: the data set has no camera poses (index.json has_poses false), so revisits "
                       "cannot be found; the probe needs a Loopcraft split (millivid world)", p->data_dir);
    for (int v = 0; v < r->V; v++) {
        int any = 0;
        for (int t = 0; t < r->T && !any; t++) {
            const float *a = mv_dataset_action(d, v, t);
            any = a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0;
        }
        if (!any)
            return mv_fail(MV_ERR_ARG, "%s: video %d has all-zero poses (columns x, y, z, yaw of actions.npy), so "
                           "revisits cannot be found; the probe needs real camera poses", p->data_dir, v);
    }
    r->rule.revisit = p->revisit;
    if (r->rule.revisit.wrap_blocks < 0) r->rule.revisit.wrap_blocks = mv_dataset_world_width(d);
    if ((s = mv_gen_ae_load(&r->ae, p->ae_path))) return s;
    r->H = r->ae.ae.H;
    if (r->H != d->size)
        return mv_fail(MV_ERR_SHAPE, "%s has %dx%d frames but the autoencoder %s expects %dx%d", p->data_dir, d->size,
                       d->size, p->ae_path, r->H, r->H);
    return MV_OK;
}

/* Loads DiT checkpoint i: the method from its metadata, built on this autoencoder, its schedules. */
static mv_status load_method(pr_run *r, int i) {
    pr_method *m = &r->m[i];
    const char *path = r->p->dit_paths[i];
    m->path = path;
    mv_status s = mv_gen_model_load(&m->model, path, &r->ae, NULL, 0);
    if (s) return s;
    if ((s = mv_probe_schedule_prefix(&m->pre_k, &m->model.sched, r->K))) return s;
    if ((s = mv_probe_schedule_prefix(&m->pre_1, &m->model.sched, 1))) return s;
    /* name: the method, numbered when it repeats */
    int same = 0;
    mv_method method = m->model.method;
    for (int j = 0; j < i; j++) same += r->m[j].model.method == method;
    if (same) snprintf(m->name, sizeof m->name, "%s_%d", mv_method_name(method), same + 1);
    else snprintf(m->name, sizeof m->name, "%s", mv_method_name(method));
    return MV_OK;
}

/* Loads every DiT; the reach R (sum of millivid.windows) must agree between them and cover every
 * method's context. */
static mv_status load_methods(pr_run *r) {
    r->nm = r->p->n_dits;
    r->nrows = r->nm + 3;
    for (int i = 0; i < r->nm; i++) MV_TRY(load_method(r, i));
    int R = 0;
    for (int l = 0; l < r->m[0].model.meta.config.levels; l++) R += r->m[0].model.meta.config.mv_windows[l];
    for (int i = 1; i < r->nm; i++) {
        int Ri = 0;
        for (int l = 0; l < r->m[i].model.meta.config.levels; l++) Ri += r->m[i].model.meta.config.mv_windows[l];
        if (Ri != R)
            return mv_fail(MV_ERR_ARG, "%s has MilliVid reach %d (sum of millivid.windows) but %s has %d; probe "
                           "checkpoints of one configuration together", r->m[i].path, Ri, r->m[0].path, R);
    }
    r->max_S = 0;
    for (int i = 0; i < r->nm; i++) {
        if (r->m[i].model.sched.S > R + 1)
            return mv_fail(MV_ERR_ARG, "%s: its rollout needs %d context frames, more than the reach + 1 = %d",
                           r->m[i].path, r->m[i].model.sched.S, R + 1);
        r->max_S = MV_MAX(r->max_S, r->m[i].model.sched.S);
    }
    r->rule.reach = R;
    return MV_OK;
}

/* Probe points and random non-revisit frames of every video; fails when too few points exist. */
static mv_status choose_points(pr_run *r) {
    const mv_probe_params *p = r->p;
    int R = r->rule.reach;
    if (R + 1 + r->K > r->T)
        return mv_fail(MV_ERR_ARG, "%s: videos of %d frames are too short for --horizon %d: a probe point p needs "
                       "p >= %d (the reach + 1) and p + %d <= %d", p->data_dir, r->T, r->K, R + 1, r->K, r->T);
    size_t cap = (size_t)r->V * p->points;
    r->pt_video = malloc(cap * sizeof(int)), r->pt_frame = malloc(cap * sizeof(int));
    r->pt_rem = malloc(cap * sizeof(int)), r->q_video = malloc(cap * sizeof(int));
    r->q_frame = malloc(cap * sizeof(int)), r->partner = malloc((size_t)r->V * sizeof(int));
    if (!r->pt_video || !r->pt_frame || !r->pt_rem || !r->q_video || !r->q_frame || !r->partner)
        return mv_fail(MV_ERR_NOMEM, "out of memory");
    int tally[5] = {0}; /* frames per verdict, for the message below */
    for (int v = 0; v < r->V; v++) {
        const float *poses = mv_dataset_action(&r->d, v, 0);
        for (int f = 0; f < r->T; f++) tally[mv_probe_classify(poses, r->T, f, &r->rule, NULL)]++;
        int cand = 0;
        int n = mv_probe_select(r->pt_frame + r->np, r->pt_rem + r->np, &cand, poses, r->T, &r->rule, p->points,
                                p->seed, 2 * (uint64_t)v);
        for (int i = 0; i < n; i++) r->pt_video[r->np + i] = v;
        r->np += n;
        r->candidates += cand;
        n = mv_probe_select_plain(r->q_frame + r->nq, poses, r->T, &r->rule, p->points, p->seed, 2 * (uint64_t)v + 1);
        for (int i = 0; i < n; i++) r->q_video[r->nq + i] = v;
        r->nq += n;
    }
    if (r->np < p->min_points)
        return mv_fail(MV_ERR_ARG, "%s: validation split has too few revisits: found %d, need >= %d (in %d videos, %d "
                       "frames return to a place seen %d-%d frames earlier (%g blocks, %g degrees); of these, %d end "
                       "the %d-frame horizon at the place of the last %d frames and %d end at no remembered place; "
                       "use more --videos or lower --min-points)", p->data_dir, r->np, p->min_points, r->V,
                       tally[MV_PROBE_POINT] + tally[MV_PROBE_HELD] + tally[MV_PROBE_END_UNSEEN], r->rule.min_gap, R,
                       r->rule.revisit.radius_blocks, r->rule.revisit.yaw_deg, tally[MV_PROBE_HELD], r->K,
                       r->rule.hold_frames, tally[MV_PROBE_END_UNSEEN]);
    return mv_random_partners(r->partner, r->V, p->seed);
}

static mv_status alloc_work(pr_run *r) {
    const mv_ae *ae = &r->ae.ae;
    size_t fs = (size_t)r->H * r->H * 3;
    MV_TRY(mv_gen_work_create(&r->work, ae));
    r->lat = mv_alloc((size_t)r->T * ae->T * ae->C * sizeof(float));
    r->gen = mv_alloc((size_t)r->K * fs);
    r->actions = malloc((size_t)r->T * sizeof(int));
    size_t nr = (size_t)r->nrows;
    r->rec_psnr = malloc(nr * MV_MAX(r->np, 1) * r->K * sizeof(double));
    r->rec_ssim = malloc(nr * MV_MAX(r->np, 1) * r->K * sizeof(double));
    r->plain_psnr = malloc(nr * MV_MAX(r->nq, 1) * sizeof(double));
    if (!r->lat || !r->gen || !r->actions || !r->rec_psnr || !r->rec_ssim || !r->plain_psnr)
        return mv_fail(MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

/* Encodes frames [lo, hi) of video v into r->lat (rows indexed by absolute frame). */
static void encode_frames(pr_run *r, int v, int lo, int hi) {
    const mv_ae *ae = &r->ae.ae;
    mv_gen_encode(ae, r->work, r->lat + (size_t)lo * ae->T * ae->C, mv_dataset_frame(&r->d, v, lo), hi - lo);
    r->lat_lo = lo, r->lat_hi = hi;
}

/* Frame callback: the frames of the current rollout or decode, stored in r->gen from r->gen_first on. */
static mv_status store_frame(void *user, int frame, const uint8_t *rgb) {
    pr_run *r = user;
    size_t fs = (size_t)r->H * r->H * 3;
    int i = frame - r->gen_first;
    if (i != r->gen_n || i >= r->gen_cap)
        return mv_fail(MV_ERR_INTERNAL, "probe: got frame %d, expected %d", frame, r->gen_first + r->gen_n);
    memcpy(r->gen + (size_t)i * fs, rgb, fs);
    r->gen_n++;
    return MV_OK;
}

/* Decodes n frames of latents lat [n, T_pyr, C] at level 0 into r->gen [n, H, H, 3]. */
static void decode_frames(pr_run *r, const float *lat, int n) {
    r->gen_first = 0, r->gen_n = 0, r->gen_cap = n;
    mv_status s = mv_gen_decode(&r->ae.ae, r->work, lat, 0, n, store_frame, r);
    MV_ASSERT(s == MV_OK);
}

/* PSNR (capped) and SSIM of n frames a against frames [f, f + n) of video v. */
static void score(pr_run *r, double *psnr, double *ssim, const uint8_t *a, int v, int f, int n) {
    mv_metrics_u8_frames(psnr, ssim, a, mv_dataset_frame(&r->d, v, f), n, r->H, r->H);
    for (int i = 0; i < n; i++) psnr[i] = MV_MIN(psnr[i], MV_PROBE_PSNR_CAP);
}

/* Rolls method m out from the ground-truth history [0, f) of video v to frame f + n (schedule s) and
 * decodes the n generated frames into r->gen. */
static mv_status rollout_at(pr_run *r, pr_method *m, const mv_schedule *s, int v, int f, int n) {
    mv_gen_request rq;
    mv_gen_request_init(&rq);
    rq.context_lat = r->lat, rq.context_first = r->lat_lo, rq.context = f, rq.frames = f + n;
    rq.sample_steps = r->p->sample_steps;
    rq.seed = r->p->seed ^ (0x9E3779B97F4A7C15ull * ((uint64_t)v * 1000003u + (uint64_t)f + 1));
    rq.actions = r->actions, rq.schedule = s;
    rq.frame_fn = store_frame, rq.frame_user = r;
    rq.oracle_levels = r->p->oracle_levels, rq.known_frames = r->lat_hi;
    r->gen_first = f, r->gen_n = 0, r->gen_cap = n;
    mv_rollout_stats st;
    mv_status status = mv_gen_rollout(&m->model, &r->ae.ae, r->work, &rq, &st);
    if (status) return mv_fail_prefix(status, "%s (%s), video %d, frame %d", m->name, m->path, v, f);
    if (r->gen_n != n)
        return mv_fail(MV_ERR_INTERNAL, "probe: %s rollout gave %d of %d frames", m->name, r->gen_n, n);
    m->dit_calls += st.dit_calls;
    return MV_OK;
}

/* The bounds at the probe points and the random frames of video v. */
static void bounds_of_video(pr_run *r, int v) {
    const mv_ae *ae = &r->ae.ae;
    int K = r->K, nm = r->nm;
    size_t ls = (size_t)ae->T * ae->C;
    const uint8_t *video = mv_dataset_frame(&r->d, v, 0);
    for (int i = 0; i < r->np; i++) {
        if (r->pt_video[i] != v) continue;
        int p = r->pt_frame[i];
        size_t o = (size_t)i * K, per_row = (size_t)r->np * K;
        mv_probe_hold_last(r->rec_psnr + (nm + ROW_HOLD) * per_row + o, r->rec_ssim + (nm + ROW_HOLD) * per_row + o,
                           video, p, K, r->H, r->H);
        decode_frames(r, r->lat + (size_t)p * ls, K);
        score(r, r->rec_psnr + (nm + ROW_AE) * per_row + o, r->rec_ssim + (nm + ROW_AE) * per_row + o, r->gen, v, p, K);
        score(r, r->rec_psnr + (nm + ROW_RANDOM) * per_row + o, r->rec_ssim + (nm + ROW_RANDOM) * per_row + o,
              mv_dataset_frame(&r->d, r->partner[v], p), v, p, K);
    }
    for (int i = 0; i < r->nq; i++) {
        if (r->q_video[i] != v) continue;
        int q = r->q_frame[i];
        double ss;
        mv_probe_hold_last(&r->plain_psnr[(size_t)(nm + ROW_HOLD) * r->nq + i], NULL, video, q, 1, r->H, r->H);
        decode_frames(r, r->lat + (size_t)q * ls, 1);
        score(r, &r->plain_psnr[(size_t)(nm + ROW_AE) * r->nq + i], &ss, r->gen, v, q, 1);
        score(r, &r->plain_psnr[(size_t)(nm + ROW_RANDOM) * r->nq + i], &ss,
              mv_dataset_frame(&r->d, r->partner[v], q), v, q, 1);
    }
}

static void tick(pr_run *r) {
    r->done++;
    if (!r->p->quiet) mv_progress_update(&r->prog, r->done, NULL);
}

/* Every method at the probe points and random frames of video v. */
static mv_status methods_of_video(pr_run *r, int v) {
    int K = r->K;
    for (int mi = 0; mi < r->nm; mi++) {
        pr_method *m = &r->m[mi];
        double t0 = mv_now();
        for (int i = 0; i < r->np; i++) {
            if (r->pt_video[i] != v) continue;
            size_t o = ((size_t)mi * r->np + i) * K;
            MV_TRY(rollout_at(r, m, &m->pre_k, v, r->pt_frame[i], K));
            score(r, r->rec_psnr + o, r->rec_ssim + o, r->gen, v, r->pt_frame[i], K);
            tick(r);
        }
        for (int i = 0; i < r->nq; i++) {
            if (r->q_video[i] != v) continue;
            double ss;
            MV_TRY(rollout_at(r, m, &m->pre_1, v, r->q_frame[i], 1));
            score(r, &r->plain_psnr[(size_t)mi * r->nq + i], &ss, r->gen, v, r->q_frame[i], 1);
            tick(r);
        }
        m->seconds += mv_now() - t0;
    }
    return MV_OK;
}

static mv_status compute_all(pr_run *r) {
    r->total = (long)r->nm * (r->np + r->nq);
    if (!r->p->quiet) mv_progress_start(&r->prog, "probe", r->total, "rollouts");
    for (int v = 0; v < r->V; v++) {
        int lo = r->T, hi = 0;
        for (int i = 0; i < r->np; i++)
            if (r->pt_video[i] == v) lo = MV_MIN(lo, r->pt_frame[i] - r->max_S), hi = MV_MAX(hi, r->pt_frame[i] + r->K);
        for (int i = 0; i < r->nq; i++)
            if (r->q_video[i] == v) lo = MV_MIN(lo, r->q_frame[i] - r->max_S), hi = MV_MAX(hi, r->q_frame[i] + 1);
        if (hi == 0) continue;
        for (int t = 0; t < r->T; t++) r->actions[t] = (int)lrintf(mv_dataset_action(&r->d, v, t)[0]);
        if (r->p->oracle_levels) hi = r->T; /* the oracle's ground truth reaches as far as the video */
        encode_frames(r, v, MV_MAX(lo, 0), hi);
        bounds_of_video(r, v);
        MV_TRY(methods_of_video(r, v));
    }
    if (!r->p->quiet) mv_progress_end(&r->prog, r->done, NULL);
    return MV_OK;
}

/* ---------------------------------------------------------------- summaries and output */

static const char *const BOUND_NAMES[3] = {"hold_last", "autoencoded", "random_video"};

/* out[i] = mean over the K frames of point i of metric m [nrows, np, K] for `row`. */
static void point_means(const pr_run *r, const double *m, int row, double *out) {
    for (int i = 0; i < r->np; i++) {
        const double *x = m + ((size_t)row * r->np + i) * r->K;
        double s = 0;
        for (int k = 0; k < r->K; k++) s += x[k];
        out[i] = s / r->K;
    }
}

/* Fills res from the metrics. work: [3 * np + 1]. */
static void summarize(const pr_run *r, mv_probe_result *res, double *work) {
    double *pm = work, *hold = work + r->np, *tmp = work + 2 * (size_t)r->np;
    memset(res, 0, sizeof *res);
    res->n_methods = r->nm, res->n_rows = r->nrows;
    res->videos = r->V, res->frames_per_video = r->T, res->reach = r->rule.reach, res->horizon = r->K;
    res->sample_steps = r->p->sample_steps;
    res->candidates = r->candidates, res->points = r->np, res->plain_frames = r->nq;
    point_means(r, r->rec_psnr, r->nm + ROW_HOLD, hold);
    for (int row = 0; row < r->nrows; row++) {
        mv_probe_row *w = &res->rows[row];
        int bound = row >= r->nm;
        snprintf(w->name, sizeof w->name, "%s", bound ? BOUND_NAMES[row - r->nm] : r->m[row].name);
        w->is_bound = bound;
        w->step = bound ? -1 : r->m[row].model.meta.step;
        w->seconds = bound ? NAN : r->m[row].seconds;
        w->dit_calls = bound ? -1 : r->m[row].dit_calls;
        point_means(r, r->rec_psnr, row, pm);
        w->recall = mv_probe_stat_of(pm, r->np);
        for (int i = 0; i < r->np; i++) tmp[i] = pm[i] - hold[i];
        w->vs_hold_last = mv_probe_stat_of(tmp, row == r->nm + ROW_HOLD ? 0 : r->np);
        point_means(r, r->rec_ssim, row, pm);
        w->recall_ssim = mv_probe_stat_of(pm, r->np);
        for (int i = 0; i < r->np; i++) tmp[i] = r->rec_psnr[((size_t)row * r->np + i) * r->K];
        w->next_revisit = mv_probe_stat_of(tmp, r->np);
        w->next_plain = mv_probe_stat_of(r->plain_psnr + (size_t)row * r->nq, r->nq);
    }
}

static cJSON *stat_json(const mv_probe_stat *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "mean", s->mean);
    cJSON_AddNumberToObject(j, "lo", s->lo);
    cJSON_AddNumberToObject(j, "hi", s->hi);
    cJSON_AddNumberToObject(j, "n", s->n);
    return j;
}

static cJSON *numbers_json(const double *x, int n, size_t stride) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i * stride]));
    return a;
}

/* The JSON document (caller frees with free()), or NULL when out of memory. */
static char *result_json(const pr_run *r, const mv_probe_result *res, double *work) {
    const mv_probe_params *p = r->p;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "format", "millivid-probe");
    cJSON_AddNumberToObject(j, "format_version", 1);
    cJSON_AddStringToObject(j, "millivid_version", mv_version());
    cJSON_AddStringToObject(j, "ae", p->ae_path);
    cJSON_AddStringToObject(j, "ae_hash", r->ae.hash);
    cJSON_AddStringToObject(j, "data", p->data_dir);
    cJSON *st = cJSON_AddObjectToObject(j, "settings");
    cJSON_AddNumberToObject(st, "videos", r->V);
    cJSON_AddNumberToObject(st, "frames_per_video", r->T);
    cJSON_AddNumberToObject(st, "points_per_video", p->points);
    cJSON_AddNumberToObject(st, "random_frames_per_video", p->points);
    cJSON_AddNumberToObject(st, "horizon", r->K);
    cJSON_AddNumberToObject(st, "sample_steps", p->sample_steps);
    cJSON_AddStringToObject(st, "sample_steps_note", "the probe samples with 10 steps by default for speed; the "
                            "checkpoints' own default (sample.steps) is 20, so absolute numbers differ from eval");
    cJSON_AddNumberToObject(st, "seed", (double)p->seed);
    if (p->oracle_levels) {
        cJSON *ol = cJSON_AddArrayToObject(st, "oracle_levels");
        for (int l = 0; l < MV_MAX_LEVELS; l++)
            if (p->oracle_levels >> l & 1u) cJSON_AddItemToArray(ol, cJSON_CreateNumber(l));
        cJSON_AddStringToObject(st, "oracle_note", "diagnostic: the DENOISED cells of steps at these levels were "
                                "copied from the ground-truth latents instead of generated");
    }
    cJSON_AddNumberToObject(st, "min_points", p->min_points);
    cJSON_AddNumberToObject(st, "reach", r->rule.reach);
    cJSON_AddNumberToObject(st, "min_gap", r->rule.min_gap);
    cJSON_AddNumberToObject(st, "hold_frames", r->rule.hold_frames);
    cJSON_AddNumberToObject(st, "spacing", r->rule.spacing);
    cJSON_AddNumberToObject(st, "revisit_radius_blocks", r->rule.revisit.radius_blocks);
    cJSON_AddNumberToObject(st, "revisit_yaw_deg", r->rule.revisit.yaw_deg);
    cJSON_AddNumberToObject(st, "revisit_wrap_blocks", r->rule.revisit.wrap_blocks);
    cJSON_AddNumberToObject(st, "threads", mv_get_threads());
    cJSON_AddStringToObject(st, "point_rule", "p in [reach + 1, frames - horizon]; p and p + horizon - 1 are both "
                            "within radius and yaw of some frame in [p - reach, p - min_gap]; p + horizon - 1 is not "
                            "within radius and yaw of any of frames p - hold_frames .. p - 1; chosen points at least "
                            "`spacing` frames apart");
    cJSON_AddStringToObject(st, "next_frame_note", "revisit_psnr is frame p of the recall rollout (generated from the "
                            "ground-truth history [0, p)); random_psnr is a one-frame rollout at each random "
                            "non-revisit frame");
    cJSON_AddStringToObject(j, "interval", "95% Student-t interval of the mean over probe points (points treated "
                            "as independent); vs_hold_last is the paired per-point difference");
    cJSON_AddStringToObject(j, "psnr_cap_note", "identical frames count as 100 dB");
    cJSON *cn = cJSON_AddObjectToObject(j, "counts");
    cJSON_AddNumberToObject(cn, "videos", r->V);
    cJSON_AddNumberToObject(cn, "candidates", r->candidates);
    cJSON_AddNumberToObject(cn, "points", r->np);
    cJSON_AddNumberToObject(cn, "random_frames", r->nq);
    cJSON *pts = cJSON_AddArrayToObject(j, "points");
    for (int i = 0; i < r->np; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "video", r->pt_video[i]);
        cJSON_AddNumberToObject(o, "frame", r->pt_frame[i]);
        cJSON_AddNumberToObject(o, "remembered_frame", r->pt_rem[i]);
        cJSON_AddNumberToObject(o, "random_partner", r->partner[r->pt_video[i]]);
        cJSON_AddItemToArray(pts, o);
    }
    cJSON *qs = cJSON_AddArrayToObject(j, "random_frames");
    for (int i = 0; i < r->nq; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "video", r->q_video[i]);
        cJSON_AddNumberToObject(o, "frame", r->q_frame[i]);
        cJSON_AddItemToArray(qs, o);
    }
    cJSON *ms = cJSON_AddArrayToObject(j, "methods"), *bs = cJSON_AddArrayToObject(j, "bounds");
    for (int row = 0; row < r->nrows; row++) {
        const mv_probe_row *w = &res->rows[row];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", w->name);
        if (!w->is_bound) {
            const pr_method *m = &r->m[row];
            cJSON_AddStringToObject(o, "method", mv_method_name(m->model.method));
            cJSON_AddStringToObject(o, "checkpoint", m->path);
            cJSON_AddNumberToObject(o, "step", (double)m->model.meta.step);
            cJSON_AddNumberToObject(o, "sample_steps", p->sample_steps);
            cJSON_AddNumberToObject(o, "dit_calls", (double)m->dit_calls);
            cJSON_AddNumberToObject(o, "seconds", m->seconds);
        }
        cJSON *rc = cJSON_AddObjectToObject(o, "recall");
        cJSON_AddItemToObject(rc, "psnr", stat_json(&w->recall));
        cJSON_AddItemToObject(rc, "ssim", stat_json(&w->recall_ssim));
        cJSON_AddItemToObject(rc, "psnr_vs_hold_last", stat_json(&w->vs_hold_last));
        double *byk = work;
        for (int k = 0; k < r->K; k++) {
            double s = 0;
            for (int i = 0; i < r->np; i++) s += r->rec_psnr[((size_t)row * r->np + i) * r->K + k];
            byk[k] = s / r->np;
        }
        cJSON_AddItemToObject(rc, "psnr_by_frame", numbers_json(byk, r->K, 1));
        point_means(r, r->rec_psnr, row, work);
        cJSON_AddItemToObject(rc, "psnr_per_point", numbers_json(work, r->np, 1));
        cJSON *nx = cJSON_AddObjectToObject(o, "next_frame");
        cJSON_AddItemToObject(nx, "revisit_psnr", stat_json(&w->next_revisit));
        cJSON_AddItemToObject(nx, "random_psnr", stat_json(&w->next_plain));
        cJSON_AddItemToArray(w->is_bound ? bs : ms, o);
    }
    cJSON_AddNumberToObject(j, "seconds", mv_now() - r->t0);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}

/* Writes text to path atomically: a temporary file in the same folder, then rename. */
static mv_status write_atomic(const char *path, const char *text) {
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return mv_fail(MV_ERR_ARG, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return mv_fail(MV_ERR_IO, "%s: cannot create a temporary file: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        remove(tmp);
        return mv_fail(MV_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    if (bad || chmod(tmp, 0644) || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        return mv_fail(MV_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return MV_OK;
}

static void free_run(pr_run *r) {
    for (int i = 0; i < r->nm; i++) mv_gen_model_free(&r->m[i].model);
    mv_gen_ae_free(&r->ae);
    if (r->d_ok) mv_dataset_close(&r->d);
    mv_gen_work_free(r->work);
    mv_free(r->lat), mv_free(r->gen);
    free(r->actions);
    free(r->pt_video), free(r->pt_frame), free(r->pt_rem), free(r->q_video), free(r->q_frame), free(r->partner);
    free(r->rec_psnr), free(r->rec_ssim), free(r->plain_psnr);
}

mv_status mv_probe_run(const mv_probe_params *p, mv_probe_result *res) {
    pr_run *r = calloc(1, sizeof *r);
    if (!r) return mv_fail(MV_ERR_NOMEM, "out of memory");
    double *work = NULL;
    char *text = NULL;
    mv_probe_result local;
    mv_probe_result *out = res ? res : &local;
    mv_status s;
    r->p = p;
    r->t0 = mv_now();
    r->K = p->horizon;
    mv_probe_rule_init(&r->rule);
    r->rule.horizon = p->horizon, r->rule.spacing = p->horizon;
    r->rule.min_gap = p->min_gap, r->rule.hold_frames = p->hold_frames;
    if ((s = check_params(p))) goto fail;
    if ((s = open_inputs(r))) goto fail;
    if ((s = load_methods(r))) goto fail;
    if ((s = choose_points(r))) goto fail;
    MV_INFO("probe: %d videos of %d frames, %d probe points (of %d candidate frames) and %d random frames, horizon "
            "%d, reach %d, %d sampler steps, %d methods", r->V, r->T, r->np, r->candidates, r->nq, r->K,
            r->rule.reach, p->sample_steps, r->nm);
    if ((s = alloc_work(r))) goto fail;
    if ((s = compute_all(r))) goto fail;
    work = malloc((3 * (size_t)MV_MAX(r->np, r->K) + 1) * sizeof(double));
    if (!work) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    summarize(r, out, work);
    text = result_json(r, out, work);
    if (!text) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = write_atomic(p->out_path, text))) goto fail;
    out->seconds = mv_now() - r->t0;
fail:
    free(text);
    free(work);
    free_run(r);
    free(r);
    return s;
}

void mv_probe_print(FILE *f, const mv_probe_result *res) {
    fprintf(f, "probe: %d revisit points in %d videos (%d candidate frames), K = %d frames after each, reach %d, "
               "%d sampler steps\n", res->points, res->videos, res->candidates, res->horizon, res->reach,
            res->sample_steps);
    fprintf(f, "recall = PSNR (dB) of frames p..p+%d, mean over points [95%% t-interval]; next frame = PSNR of "
               "frame p alone\n(at the %d revisit points, and at %d random non-revisit frames)\n",
            res->horizon - 1, res->points, res->plain_frames);
    fprintf(f, "%-14s %6s  %-22s %6s  %-24s %8s %8s %8s\n", "method", "step", "recall PSNR", "SSIM",
            "recall - hold-last", "next:rev", "next:rnd", "time s");
    for (int i = 0; i < res->n_rows; i++) {
        const mv_probe_row *w = &res->rows[i];
        char step[24] = "-", rec[48], vs[48] = "-", tm[24] = "-";
        if (!w->is_bound) snprintf(step, sizeof step, "%ld", w->step), snprintf(tm, sizeof tm, "%.1f", w->seconds);
        if (w->recall.n >= 2) snprintf(rec, sizeof rec, "%.2f [%.2f, %.2f]", w->recall.mean, w->recall.lo, w->recall.hi);
        else snprintf(rec, sizeof rec, "%.2f", w->recall.mean);
        if (w->vs_hold_last.n >= 2)
            snprintf(vs, sizeof vs, "%+.2f [%+.2f, %+.2f]", w->vs_hold_last.mean, w->vs_hold_last.lo, w->vs_hold_last.hi);
        else if (w->vs_hold_last.n == 1) snprintf(vs, sizeof vs, "%+.2f", w->vs_hold_last.mean);
        fprintf(f, "%-14s %6s  %-22s %6.3f  %-24s %8.2f %8.2f %8s\n", w->name, step, rec, w->recall_ssim.mean, vs,
                w->next_revisit.mean, w->next_plain.mean, tm);
    }
}
