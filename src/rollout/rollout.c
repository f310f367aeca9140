/* Rollout driver: see rollout.h. */
#include "rollout/rollout.h"

#include "core/core.h"
#include "core/rng.h"
#include "rollout/diffusion.h"

#define FP_EPS_STREAM (1ull << 40)

void mv_rollout_params_init(mv_rollout_params *p) {
    memset(p, 0, sizeof *p);
    p->sample_steps = 20;
    p->guidance = 1.0f;
    p->use_cache = 1;
}

/* The window of N frames (ring indexed by frame mod N), every stored level of each frame. */
typedef struct {
    int N, levels, C;
    int tokens[MV_MAX_LEVELS], off[MV_MAX_LEVELS]; /* per level tokens and offset (floats) in a frame */
    size_t frame_floats;
    float *lat;  /* [N, frame_floats] */
    float *eps;  /* [N, T0 * C] FramePack only, else NULL */
    int *held;   /* [N] frame held by the slot or -1 */
} store;

static float *store_lat(store *st, int frame, int level) {
    int slot = frame % st->N;
    MV_ASSERT(st->held[slot] == frame);
    return st->lat + slot * st->frame_floats + st->off[level];
}

/* Everything one rollout needs besides the schedule and the model. */
typedef struct {
    const mv_dit *model;
    const mv_schedule *s;
    const mv_rollout_params *p;
    store st;
    int limit, use_cache;
    long calls, tokens_done, oracle_steps;
    /* step buffers, [Tmax, *] */
    int Tmax;
    float *xhat, *eps;
    uint8_t *den, *ctxf;
    int *frame, *level, *row, *col, *action; /* FramePack: frame per chunk frame [F], action per token */
    float *tfr;       /* FramePack: t per chunk frame [F] for call_fn */
    int *afr;         /* FramePack: action per chunk frame [F] for call_fn */
    int ntok;         /* tokens of the current step */
    mv_dit_workspace dit; /* every buffer of the model calls, sized once */
    mv_cell *cells;
} roll;

static int action_at(const roll *r, int frame) {
    return r->p->actions[MV_MIN(frame, r->p->frames - 1)];
}

/* Makes the slots hold frames [cs, cs + N): context frames from the callback, later ones zero. */
static mv_status window_load(roll *r, int cs) {
    store *st = &r->st;
    int T0C = st->tokens[0] * st->C;
    for (int f = cs; f < cs + st->N; f++) {
        int slot = f % st->N;
        if (st->held[slot] == f) continue;
        st->held[slot] = f;
        float *dst = st->lat + slot * st->frame_floats;
        if (f < r->p->context) {
            for (int l = 0; l < st->levels; l++)
                MV_TRY(r->p->context_fn(r->p->context_user, f, l, dst + st->off[l]));
        } else {
            memset(dst, 0, st->frame_floats * sizeof(float));
        }
        if (st->eps) {
            mv_rng base, g;
            mv_rng_init(&base, r->p->seed);
            g = mv_rng_fork(&base, FP_EPS_STREAM | (uint64_t)f);
            mv_rng_normal(&g, st->eps + (size_t)slot * T0C, T0C);
        }
    }
    return MV_OK;
}

/* ---------------------------------------------------------------- denoise callbacks */

static mv_status denoise_universal(void *ctx, const float *x_t, const float *t, int keep_cond, float *v) {
    roll *r = ctx;
    uint8_t keep = (uint8_t)keep_cond;
    mv_dit_tokens tk = {1, r->ntok, r->frame, r->level, r->row, r->col, t, r->action, &keep, r->ctxf};
    if (r->p->call_fn) r->p->call_fn(r->p->call_user, &tk, x_t);
    r->calls++;
    r->tokens_done += r->ntok;
    return mv_dit_infer(r->model, &r->dit, v, x_t, &tk);
}

/* The model takes the chunk's level-0 tokens as the sampler has them and writes v for every token
 * (0 at the context frames). */
static mv_status denoise_framepack(void *ctx, const float *x_t, const float *t, int keep_cond, float *v) {
    roll *r = ctx;
    const mv_dit *m = r->model;
    int F = m->fp_frames, T0 = m->grid0 * m->grid0;
    if (r->p->call_fn) { /* the call as rollout.h describes it: one entry per chunk frame */
        for (int f = 0; f < F; f++) r->tfr[f] = t[(size_t)f * T0];
        mv_dit_tokens tk = {1, F, r->frame, NULL, NULL, NULL, r->tfr, r->afr, NULL, NULL};
        r->p->call_fn(r->p->call_user, &tk, x_t);
    }
    r->calls++;
    r->tokens_done += m->fp_tokens;
    mv_dit_tokens tk = {1, F * T0, NULL, NULL, NULL, NULL, t, r->action, NULL, NULL};
    return mv_dit_infer(m, &r->dit, v, x_t, &tk);
}

/* ---------------------------------------------------------------- steps */

/* Fills the DENOISED cells of a step from the oracle when its target level is an oracle level and the
 * oracle knows every cell; returns 1 when it did (the step is then done), 0 otherwise. */
static int oracle_step(roll *r, int ncell) {
    const mv_rollout_params *p = r->p;
    int C = r->st.C, n = 0, level = -1;
    for (int ci = 0; ci < ncell; ci++)
        if (r->cells[ci].role == MV_ROLE_DENOISED) level = r->cells[ci].level;
    if (!p->oracle_fn || level < 0 || !(p->oracle_levels >> level & 1u)) return 0;
    for (int ci = 0; ci < ncell; ci++) { /* into the step buffer first: all or nothing */
        const mv_cell *cell = &r->cells[ci];
        if (cell->role != MV_ROLE_DENOISED) continue;
        if (!p->oracle_fn(p->oracle_user, cell->frame, cell->level, r->xhat + (size_t)n * C)) return 0;
        n += r->st.tokens[cell->level];
    }
    n = 0;
    for (int ci = 0; ci < ncell; ci++) {
        const mv_cell *cell = &r->cells[ci];
        if (cell->role != MV_ROLE_DENOISED) continue;
        int tl = r->st.tokens[cell->level];
        memcpy(store_lat(&r->st, cell->frame, cell->level), r->xhat + (size_t)n * C, (size_t)tl * C * sizeof(float));
        n += tl;
    }
    r->oracle_steps++;
    return 1;
}

/* One universal-model step (MilliVid / fullres): gather, sample, write back. */
static mv_status step_universal(roll *r, int k, int cs, long gstep) {
    const mv_schedule *s = r->s;
    int C = r->st.C, ntok, n = 0;
    int ncell = mv_step_cells(s, k, cs, r->cells, &ntok, NULL);
    MV_ASSERT(ntok <= r->Tmax);
    if (r->p->oracle_levels && oracle_step(r, ncell)) return MV_OK;
    for (int ci = 0; ci < ncell; ci++) {
        const mv_cell *cell = &r->cells[ci];
        int l = cell->level, g = r->model->grid[l], tl = s->tokens[l];
        memcpy(r->xhat + (size_t)n * C, store_lat(&r->st, cell->frame, l), (size_t)tl * C * sizeof(float));
        int a = action_at(r, cell->frame);
        for (int i = 0; i < tl; i++, n++) {
            r->frame[n] = cell->frame, r->level[n] = l, r->row[n] = i / g, r->col[n] = i % g;
            r->action[n] = a;
            r->den[n] = (uint8_t)(cell->role == MV_ROLE_DENOISED);
            r->ctxf[n] = (uint8_t)(cell->role == MV_ROLE_CONTEXT);
        }
    }
    r->ntok = n;
    mv_rng base, g;
    mv_rng_init(&base, r->p->seed);
    g = mv_rng_fork(&base, (uint64_t)gstep);
    mv_rng_normal(&g, r->eps, (size_t)n * C);
    MV_TRY(mv_sample(denoise_universal, r, r->xhat, r->eps, r->den, n, C, r->p->sample_steps, r->p->guidance));
    n = 0;
    for (int ci = 0; ci < ncell; ci++) {
        const mv_cell *cell = &r->cells[ci];
        int tl = r->st.tokens[cell->level];
        if (cell->role == MV_ROLE_DENOISED)
            memcpy(store_lat(&r->st, cell->frame, cell->level), r->xhat + (size_t)n * C, (size_t)tl * C * sizeof(float));
        n += tl;
    }
    return MV_OK;
}

/* One FramePack chunk: F level-0 frames, the last n_d denoised; ε̂ written back with x̂. */
static mv_status step_framepack(roll *r, int cs) {
    const mv_dit *m = r->model;
    int F = m->fp_frames, T0 = m->grid0 * m->grid0, C = m->C, nd = m->fp_denoise;
    size_t fc = (size_t)T0 * C;
    for (int f = 0; f < F; f++) {
        int slot = (cs + f) % r->st.N;
        memcpy(r->xhat + f * fc, store_lat(&r->st, cs + f, 0), fc * sizeof(float));
        memcpy(r->eps + f * fc, r->st.eps + slot * fc, fc * sizeof(float));
        memset(r->den + (size_t)f * T0, f >= F - nd, T0);
        r->afr[f] = action_at(r, cs + f);
        r->frame[f] = cs + f;
        for (int i = 0; i < T0; i++) r->action[(size_t)f * T0 + i] = r->afr[f];
    }
    r->ntok = F * T0;
    MV_TRY(mv_sample(denoise_framepack, r, r->xhat, r->eps, r->den, F * T0, C, r->p->sample_steps, 1.0f));
    for (int f = F - nd; f < F; f++) {
        int slot = (cs + f) % r->st.N;
        memcpy(store_lat(&r->st, cs + f, 0), r->xhat + f * fc, fc * sizeof(float));
        memcpy(r->st.eps + slot * fc, r->eps + f * fc, fc * sizeof(float));
    }
    return MV_OK;
}

/* ---------------------------------------------------------------- setup */

static mv_status check_inputs(const mv_dit *m, const mv_schedule *s, const mv_rollout_params *p) {
    int fp = m->kind == MV_DIT_FRAMEPACK;
    if (mv_method_dit_kind(s->method) != m->kind)
        return mv_fail(MV_ERR_ARG, "rollout: a %s model cannot run the %s schedule", mv_dit_kind_name(m->kind),
                       mv_method_name(s->method));
    if (fp && (s->N != m->fp_frames || s->extra[0] != m->fp_denoise))
        return mv_fail(MV_ERR_SHAPE, "rollout: FramePack model layout (%d frames, %d denoised) differs from the "
                                     "schedule (%d, %d)", m->fp_frames, m->fp_denoise, s->N, s->extra[0]);
    if (!fp && s->levels > m->levels)
        return mv_fail(MV_ERR_SHAPE, "rollout: schedule has %d levels, the model %d", s->levels, m->levels);
    for (int l = 0; l < (fp ? 1 : s->levels); l++)
        if (s->tokens[l] != m->grid[l] * m->grid[l])
            return mv_fail(MV_ERR_SHAPE, "rollout: the schedule has %d tokens per frame at level %d, the model %d",
                           s->tokens[l], l, m->grid[l] * m->grid[l]);
    if (p->sample_steps < 1) return mv_fail(MV_ERR_ARG, "rollout: sample steps must be >= 1");
    if (!p->actions || !p->context_fn || !p->frame_fn) return mv_fail(MV_ERR_ARG, "rollout: missing actions or callbacks");
    for (int f = 0; f < p->frames; f++)
        if (p->actions[f] < -1 || p->actions[f] > 2)
            return mv_fail(MV_ERR_ARG, "rollout: action id %d at frame %d is unknown (0 forward, 1 left, 2 right)",
                           p->actions[f], f);
    return MV_OK;
}

static void roll_free(roll *r) {
    mv_free(r->st.lat);
    mv_free(r->st.eps);
    free(r->st.held);
    float *f[] = {r->xhat, r->eps, r->tfr};
    for (size_t i = 0; i < MV_ARRAY_LEN(f); i++) mv_free(f[i]);
    int *g[] = {r->frame, r->level, r->row, r->col, r->action, r->afr};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++) mv_free(g[i]);
    mv_free(r->den);
    mv_free(r->ctxf);
    free(r->cells);
    mv_dit_workspace_free(&r->dit);
}

static mv_status roll_alloc(roll *r) {
    const mv_dit *m = r->model;
    const mv_schedule *s = r->s;
    store *st = &r->st;
    int fp = m->kind == MV_DIT_FRAMEPACK;
    st->N = s->N;
    st->C = m->C;
    st->levels = s->method == MV_METHOD_MILLIVID ? s->levels : 1;
    for (int l = 0; l < st->levels; l++) {
        st->tokens[l] = s->tokens[l];
        st->off[l] = (int)st->frame_floats;
        st->frame_floats += (size_t)s->tokens[l] * m->C;
    }
    r->Tmax = fp ? m->fp_frames * m->grid0 * m->grid0 : s->tokens_per_step_max;
    size_t T = r->Tmax, C = m->C, T0C = (size_t)m->grid0 * m->grid0 * C;
    int ok = (st->lat = mv_alloc(st->N * st->frame_floats * sizeof(float))) != NULL;
    ok &= (st->held = malloc(st->N * sizeof(int))) != NULL;
    if (fp) ok &= (st->eps = mv_alloc(st->N * T0C * sizeof(float))) != NULL;
    ok &= (r->xhat = mv_alloc(T * C * sizeof(float))) && (r->eps = mv_alloc(T * C * sizeof(float)));
    ok &= (r->den = mv_alloc(T)) && (r->ctxf = mv_alloc(T));
    int **g[] = {&r->frame, &r->level, &r->row, &r->col, &r->action};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++) ok &= (*g[i] = mv_alloc(T * sizeof(int))) != NULL;
    if (fp) {
        ok &= (r->tfr = mv_alloc(m->fp_frames * sizeof(float))) && (r->afr = mv_alloc(m->fp_frames * sizeof(int)));
    }
    ok &= (r->cells = malloc((size_t)s->levels * s->N * sizeof(mv_cell))) != NULL;
    if (!ok) return mv_fail(MV_ERR_NOMEM, "rollout: out of memory");
    for (int i = 0; i < st->N; i++) st->held[i] = -1;
    /* context caches: one, or two with guidance (its unconditional branch sees other context inputs) */
    int caches = !r->use_cache ? 0 : !fp && r->p->guidance != 1.0f ? 2 : 1;
    return mv_dit_workspace_create(&r->dit, m, 1, r->Tmax, caches);
}

/* Hands frames [*next, upto) (level 0) to the frame callback. */
static mv_status emit(roll *r, int *next, int upto) {
    for (; *next < upto; (*next)++) MV_TRY(r->p->frame_fn(r->p->frame_user, *next, store_lat(&r->st, *next, 0)));
    return MV_OK;
}

mv_status mv_rollout_run(const mv_dit *model, const mv_schedule *s, const mv_rollout_params *p,
                         mv_rollout_stats *stats) {
    roll r;
    memset(&r, 0, sizeof r);
    r.model = model, r.s = s, r.p = p;
    int cs0, nchunks;
    MV_TRY(check_inputs(model, s, p));
    MV_TRY(mv_rollout_chunks(s, p->context, p->frames, &cs0, &nchunks, &r.limit));
    if (cs0 < 0) return mv_fail(MV_ERR_ARG, "rollout: context %d too short for the schedule", p->context);
    r.use_cache = p->use_cache && model->context_cache;
    double t0 = mv_now();
    mv_status st = roll_alloc(&r);
    int fp = model->kind == MV_DIT_FRAMEPACK, next = p->context;
    long gstep = 0, total = (long)nchunks * (fp ? 1 : s->nsteps);
    for (int c = 0; c < nchunks && !st; c++) {
        int cs = cs0 + c * s->A;
        if ((st = window_load(&r, cs))) break;
        if (fp) {
            st = step_framepack(&r, cs);
            gstep++;
        } else {
            for (int k = 0; k < s->nsteps && !st; k++, gstep++) st = step_universal(&r, k, cs, gstep);
        }
        if (st) break;
        /* frames before the next chunk's first DENOISED frame are final */
        st = emit(&r, &next, MV_MIN(cs + s->A + s->S, p->frames));
        if (p->progress_fn) p->progress_fn(p->progress_user, gstep, total);
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->steps = gstep;
        stats->dit_calls = r.calls;
        stats->tokens = r.tokens_done;
        stats->tokens_per_step = fp ? model->fp_tokens : s->tokens_per_step_max;
        stats->chunks = nchunks;
        stats->limit = r.limit;
        stats->store_bytes = r.st.N * r.st.frame_floats * sizeof(float) +
                             (r.st.eps ? r.st.N * (size_t)r.st.tokens[0] * r.st.C * sizeof(float) : 0);
        stats->dit_bytes = r.dit.bytes;
        stats->dit_cache_builds = r.dit.builds;
        stats->oracle_steps = r.oracle_steps;
        stats->seconds = mv_now() - t0;
    }
    roll_free(&r);
    return st;
}
