/* Rollout driver (src/rollout/rollout.c) with small random models on the mini schedules:
 *  - the streaming driver (window of N frames, callbacks) gives exactly the frames of a plain
 *    whole-video implementation of §3.4 / §4.1 / §4.5 written here, for millivid, fullres, framepack;
 *  - frames are emitted once each, in order, only for [context, frames); context frames come from the
 *    callback; the store size does not depend on the video length; DiT calls = steps x sampler steps
 *    (x2 with guidance); the same seed repeats bit for bit;
 *  - the context-cache path gives the same video as the masked full forward (1e-4);
 *  - bad input: context >= frames, context shorter than the schedule reaches, unknown action ids,
 *    a model of the other kind. */
#include <math.h>

#include "io/config.h"
#include "core/core.h"
#include "core/rng.h"
#include "models/dit.h"
#include "rollout/diffusion.h"
#include "rollout/rollout.h"
#include "rollout/schedule.h"
#include "testutil.h"

static mv_config small_config(int context_cache) {
    mv_config c;
    if (mv_config_load(&c, "mini")) memset(&c, 0, sizeof c);
    c.dit_width = 24, c.dit_depth = 1, c.dit_heads = 2, c.context_cache = context_cache;
    return c;
}

static float gt_value(int frame, int level, int i, int c) {
    return 0.8f * sinf(0.37f * frame + 1.3f * level + 0.11f * i + 0.7f * c);
}

typedef struct {
    int C, grid0, context, frames;
    int calls_ctx, bad_ctx;
    int next, bad_order;
    float *out; /* [frames, T0, C] emitted level-0 latents */
} sink;

static mv_status ctx_fn(void *user, int frame, int level, float *dst) {
    sink *k = user;
    k->calls_ctx++;
    if (frame >= k->context || frame < 0) k->bad_ctx++;
    int g = k->grid0 >> level;
    for (int i = 0; i < g * g; i++)
        for (int c = 0; c < k->C; c++) dst[i * k->C + c] = gt_value(frame, level, i, c);
    return MV_OK;
}

static mv_status frame_fn(void *user, int frame, const float *lat0) {
    sink *k = user;
    if (frame != k->next || frame < k->context || frame >= k->frames) k->bad_order++;
    k->next = frame + 1;
    int T0 = k->grid0 * k->grid0;
    if (frame >= 0 && frame < k->frames) memcpy(k->out + (size_t)frame * T0 * k->C, lat0, (size_t)T0 * k->C * 4);
    return MV_OK;
}

static void random_model(mv_dit *m, const mv_config *cfg, mv_dit_kind kind, uint64_t seed) {
    CHECK(mv_dit_create(m, cfg, kind, 0) == MV_OK, "create: %s", mv_last_error());
    mv_rng r;
    mv_rng_init(&r, seed);
    mv_rng_normal(&r, m->params.data, m->params.total);
    for (size_t i = 0; i < m->params.total; i++) m->params.data[i] *= 0.15f;
}

static int *make_actions(int frames) {
    int *a = malloc(frames * sizeof(int));
    for (int f = 0; f < frames; f++) a[f] = (f / 9) % 3;
    return a;
}

static mv_status run(const mv_dit *m, const mv_schedule *s, sink *k, int context, int frames, int steps,
                     float guidance, int use_cache, uint64_t seed, const int *actions, mv_rollout_stats *st) {
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = context, p.frames = frames, p.sample_steps = steps, p.guidance = guidance, p.seed = seed;
    p.use_cache = use_cache, p.actions = actions;
    p.context_fn = ctx_fn, p.context_user = k, p.frame_fn = frame_fn, p.frame_user = k;
    k->C = m->C, k->grid0 = m->grid0, k->context = context, k->frames = frames;
    k->calls_ctx = k->bad_ctx = k->bad_order = 0;
    k->next = context;
    free(k->out);
    k->out = calloc((size_t)frames * m->grid0 * m->grid0 * m->C, 4);
    return mv_rollout_run(m, s, &p, st);
}

/* ---------------------------------------------------------------- the plain reference */

typedef struct {
    const mv_dit *m;
    mv_dit_workspace work; /* the inference path */
    int n;
    int *frame, *level, *row, *col, *action; /* FramePack: action per level-0 token */
} ref_ctx;

static mv_status ref_denoise(void *ctx, const float *x_t, const float *t, int keep, float *v) {
    ref_ctx *r = ctx;
    uint8_t k8 = (uint8_t)keep;
    mv_dit_tokens tk = {1, r->n, r->frame, r->level, r->row, r->col, t, r->action, &k8, NULL};
    return mv_dit_infer(r->m, &r->work, v, x_t, &tk);
}

static mv_status ref_denoise_fp(void *ctx, const float *x_t, const float *t, int keep, float *v) {
    ref_ctx *r = ctx;
    mv_dit_tokens tk = {1, r->n, NULL, NULL, NULL, NULL, t, r->action, NULL, NULL};
    return mv_dit_infer(r->m, &r->work, v, x_t, &tk);
}

/* Whole-video rollout: all frames [0, limit) of every level in memory. out [frames, T0, C]. */
static void reference(const mv_dit *m, const mv_schedule *s, int context, int frames, int steps, float guidance,
                      uint64_t seed, const int *actions, float *out) {
    int cs0, nch, limit, C = m->C, L = s->method == MV_METHOD_MILLIVID ? s->levels : 1;
    CHECK(mv_rollout_chunks(s, context, frames, &cs0, &nch, &limit) == MV_OK, "chunks");
    int T0 = m->grid0 * m->grid0;
    float *lat[MV_MAX_LEVELS];
    for (int l = 0; l < L; l++) {
        int g = m->grid0 >> l;
        lat[l] = calloc((size_t)limit * g * g * C, 4);
        for (int f = 0; f < context; f++)
            for (int i = 0; i < g * g; i++)
                for (int c = 0; c < C; c++) lat[l][((size_t)f * g * g + i) * C + c] = gt_value(f, l, i, c);
    }
    float *epsv = NULL;
    mv_rng base, g;
    mv_rng_init(&base, seed);
    if (m->kind == MV_DIT_FRAMEPACK) { /* ε of every frame drawn up front */
        epsv = malloc((size_t)limit * T0 * C * 4);
        for (int f = 0; f < limit; f++) {
            g = mv_rng_fork(&base, (1ull << 40) | (uint64_t)f);
            mv_rng_normal(&g, epsv + (size_t)f * T0 * C, (size_t)T0 * C);
        }
    }
    int Tmax = m->kind == MV_DIT_FRAMEPACK ? m->fp_frames * T0 : s->tokens_per_step_max;
    ref_ctx r = {.m = m};
    CHECK(mv_dit_workspace_create(&r.work, m, 1, Tmax, 1) == MV_OK, "workspace: %s", mv_last_error());
    r.frame = malloc(Tmax * 4), r.level = malloc(Tmax * 4), r.row = malloc(Tmax * 4), r.col = malloc(Tmax * 4);
    r.action = malloc(Tmax * 4);
    float *xh = malloc((size_t)Tmax * C * 4), *ep = malloc((size_t)Tmax * C * 4);
    uint8_t *den = malloc(Tmax);
    mv_cell *cells = malloc((size_t)s->levels * s->N * sizeof(mv_cell));
    long gstep = 0;
    for (int ch = 0; ch < nch; ch++) {
        int cs = cs0 + ch * s->A;
        if (m->kind == MV_DIT_FRAMEPACK) {
            int F = m->fp_frames, nd = m->fp_denoise;
            r.n = F * T0;
            for (int f = 0; f < F; f++) {
                memcpy(xh + (size_t)f * T0 * C, lat[0] + (size_t)(cs + f) * T0 * C, (size_t)T0 * C * 4);
                memcpy(ep + (size_t)f * T0 * C, epsv + (size_t)(cs + f) * T0 * C, (size_t)T0 * C * 4);
                memset(den + f * T0, f >= F - nd, T0);
                for (int i = 0; i < T0; i++) r.action[f * T0 + i] = actions[MV_MIN(cs + f, frames - 1)];
            }
            CHECK(mv_sample(ref_denoise_fp, &r, xh, ep, den, F * T0, C, steps, 1.0f) == MV_OK, "ref sample");
            for (int f = F - nd; f < F; f++) {
                memcpy(lat[0] + (size_t)(cs + f) * T0 * C, xh + (size_t)f * T0 * C, (size_t)T0 * C * 4);
                memcpy(epsv + (size_t)(cs + f) * T0 * C, ep + (size_t)f * T0 * C, (size_t)T0 * C * 4);
            }
            gstep++;
            continue;
        }
        for (int k = 0; k < s->nsteps; k++, gstep++) {
            int ntok, n = 0, nc = mv_step_cells(s, k, cs, cells, &ntok, NULL);
            for (int ci = 0; ci < nc; ci++) {
                int l = cells[ci].level, gr = m->grid0 >> l, tl = gr * gr;
                memcpy(xh + (size_t)n * C, lat[l] + (size_t)cells[ci].frame * tl * C, (size_t)tl * C * 4);
                for (int i = 0; i < tl; i++, n++) {
                    r.frame[n] = cells[ci].frame, r.level[n] = l, r.row[n] = i / gr, r.col[n] = i % gr;
                    r.action[n] = actions[MV_MIN(cells[ci].frame, frames - 1)];
                    den[n] = cells[ci].role == MV_ROLE_DENOISED;
                }
            }
            r.n = n;
            g = mv_rng_fork(&base, (uint64_t)gstep);
            mv_rng_normal(&g, ep, (size_t)n * C);
            CHECK(mv_sample(ref_denoise, &r, xh, ep, den, n, C, steps, guidance) == MV_OK, "ref sample");
            n = 0;
            for (int ci = 0; ci < nc; ci++) {
                int l = cells[ci].level, tl = (m->grid0 >> l) * (m->grid0 >> l);
                if (cells[ci].role == MV_ROLE_DENOISED)
                    memcpy(lat[l] + (size_t)cells[ci].frame * tl * C, xh + (size_t)n * C, (size_t)tl * C * 4);
                n += tl;
            }
        }
    }
    memcpy(out, lat[0], (size_t)frames * T0 * C * 4);
    for (int l = 0; l < L; l++) free(lat[l]);
    free(epsv), free(r.frame), free(r.level), free(r.row), free(r.col), free(r.action);
    free(xh), free(ep), free(den), free(cells);
    mv_dit_workspace_free(&r.work);
}

/* ---------------------------------------------------------------- tests */

static void test_method(mv_method method, int context, int frames, int steps, float guidance) {
    mv_config cfg = small_config(0);
    mv_schedule s;
    CHECK(mv_schedule_build(&s, method, &cfg) == MV_OK, "schedule: %s", mv_last_error());
    mv_dit m;
    random_model(&m, &cfg, method == MV_METHOD_FRAMEPACK ? MV_DIT_FRAMEPACK : MV_DIT_UNIVERSAL, 7 + method);
    int *act = make_actions(frames);
    sink k = {0};
    mv_rollout_stats st;
    const char *name = mv_method_name(method);
    CHECK(run(&m, &s, &k, context, frames, steps, guidance, 1, 5, act, &st) == MV_OK, "%s rollout: %s", name, mv_last_error());
    CHECK(k.bad_order == 0 && k.next == frames, "%s: frames emitted once, in order (next %d)", name, k.next);
    CHECK(k.bad_ctx == 0 && k.calls_ctx > 0, "%s: context callback only for context frames", name);
    long per = method == MV_METHOD_FRAMEPACK ? 1 : s.nsteps;
    CHECK(st.steps == st.chunks * per, "%s: %ld steps for %d chunks", name, st.steps, st.chunks);
    CHECK(st.dit_calls == st.steps * steps * (guidance != 1.0f ? 2 : 1), "%s: %ld DiT calls", name, st.dit_calls);
    size_t T0C = (size_t)m.grid0 * m.grid0 * m.C;
    float *want = malloc(frames * T0C * 4);
    reference(&m, &s, context, frames, steps, guidance, 5, act, want);
    char what[96];
    snprintf(what, sizeof what, "%s streaming rollout vs whole-video reference", name);
    CHECK(tu_close(what, k.out + context * T0C, want + context * T0C, (frames - context) * T0C, 0, 0), "%s", what);
    double energy = 0;
    for (size_t i = context * T0C; i < frames * T0C; i++) energy += fabsf(k.out[i]);
    CHECK(energy > 0, "%s: generated frames are not zero", name);
    /* same seed repeats bit for bit; the store does not grow with the video length */
    float *first = malloc(frames * T0C * 4);
    memcpy(first, k.out, frames * T0C * 4);
    mv_rollout_stats st2;
    CHECK(run(&m, &s, &k, context, frames, steps, guidance, 1, 5, act, &st2) == MV_OK, "rerun");
    CHECK(!memcmp(first + context * T0C, k.out + context * T0C, (frames - context) * T0C * 4), "%s: deterministic", name);
    int *act2 = make_actions(frames + 3 * s.A);
    CHECK(run(&m, &s, &k, context, frames + 3 * s.A, 1, 1.0f, 1, 5, act2, &st2) == MV_OK, "longer");
    CHECK(st2.store_bytes == st.store_bytes && st2.chunks == st.chunks + 3, "%s: store %zu bytes for both lengths", name,
          st2.store_bytes);
    CHECK(st.dit_bytes > 0 && st2.dit_bytes == st.dit_bytes, "%s: model workspace %zu bytes for both lengths", name,
          st2.dit_bytes);
    free(act2), free(first), free(want), free(act), free(k.out);
    mv_dit_free(&m);
    mv_schedule_free(&s);
}

static void test_cache(mv_method method) {
    mv_config cfg = small_config(1);
    mv_schedule s;
    CHECK(mv_schedule_build(&s, method, &cfg) == MV_OK, "schedule");
    mv_dit m;
    random_model(&m, &cfg, method == MV_METHOD_FRAMEPACK ? MV_DIT_FRAMEPACK : MV_DIT_UNIVERSAL, 17);
    int context = s.S + 3, frames = context + s.A + 2;
    int *act = make_actions(frames);
    sink k = {0};
    mv_rollout_stats st;
    size_t T0C = (size_t)m.grid0 * m.grid0 * m.C;
    float g = method == MV_METHOD_FRAMEPACK ? 1.0f : 1.5f; /* guidance: a second cache for the unconditional branch */
    CHECK(run(&m, &s, &k, context, frames, 3, g, 0, 9, act, &st) == MV_OK, "masked: %s", mv_last_error());
    float *a = malloc(frames * T0C * 4);
    memcpy(a, k.out, frames * T0C * 4);
    CHECK(run(&m, &s, &k, context, frames, 3, g, 1, 9, act, &st) == MV_OK, "cached: %s", mv_last_error());
    /* the context runs once per rollout step and branch, not once per sampler call (3 per step) */
    long branches = g != 1.0f ? 2 : 1;
    CHECK(st.dit_cache_builds == st.steps * branches, "%s: %ld cache builds for %ld steps x %ld branches",
          mv_method_name(method), st.dit_cache_builds, st.steps, branches);
    char what[96];
    snprintf(what, sizeof what, "%s: cached rollout vs masked full forward", mv_method_name(method));
    CHECK(tu_close(what, k.out + context * T0C, a + context * T0C, (frames - context) * T0C, 1e-4, 1e-4), "%s", what);
    free(a), free(act), free(k.out);
    mv_dit_free(&m);
    mv_schedule_free(&s);
}

static void test_bad(void) {
    mv_config cfg = small_config(0);
    mv_schedule s, sf;
    CHECK(mv_schedule_build(&s, MV_METHOD_MILLIVID, &cfg) == MV_OK, "schedule");
    CHECK(mv_schedule_build(&sf, MV_METHOD_FRAMEPACK, &cfg) == MV_OK, "schedule");
    mv_dit m;
    random_model(&m, &cfg, MV_DIT_UNIVERSAL, 3);
    int *act = make_actions(200);
    sink k = {0};
    CHECK(run(&m, &s, &k, 150, 150, 1, 1.0f, 1, 1, act, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "shorter"),
          "context >= frames refused: %s", mv_last_error());
    CHECK(run(&m, &s, &k, 50, 100, 1, 1.0f, 1, 1, act, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "reaches"),
          "too short a context refused: %s", mv_last_error());
    act[120] = 4;
    CHECK(run(&m, &s, &k, 90, 130, 1, 1.0f, 1, 1, act, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "action id 4"),
          "unknown action refused: %s", mv_last_error());
    act[120] = 0;
    CHECK(run(&m, &sf, &k, 90, 130, 1, 1.0f, 1, 1, act, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "cannot run"),
          "universal model on the framepack schedule refused: %s", mv_last_error());
    free(act), free(k.out);
    mv_dit_free(&m);
    mv_schedule_free(&s);
    mv_schedule_free(&sf);
}

/* Oracle levels: known frames are copied, unknown ones (past oracle_last) sampled; with every level an
 * oracle level the generated frames are the ground truth and no model call is made. */
typedef struct {
    sink *k;
    int last; /* the oracle knows frames <= last */
} oracle_user;

static int oracle_fn(void *user, int frame, int level, float *dst) {
    oracle_user *o = user;
    if (frame > o->last) return 0;
    int g = o->k->grid0 >> level;
    for (int i = 0; i < g * g; i++)
        for (int c = 0; c < o->k->C; c++) dst[i * o->k->C + c] = gt_value(frame, level, i, c);
    return 1;
}

static void test_oracle(void) {
    mv_config cfg = small_config(0);
    mv_schedule s;
    CHECK(mv_schedule_build(&s, MV_METHOD_MILLIVID, &cfg) == MV_OK, "schedule: %s", mv_last_error());
    mv_dit m;
    random_model(&m, &cfg, MV_DIT_UNIVERSAL, 11);
    int context = 90, frames = 90 + 64 + 5, T0 = m.grid0 * m.grid0;
    int *act = make_actions(frames);
    sink k = {0};
    oracle_user o = {&k, 1 << 30};
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = context, p.frames = frames, p.sample_steps = 2, p.seed = 5, p.actions = act;
    p.context_fn = ctx_fn, p.context_user = &k, p.frame_fn = frame_fn, p.frame_user = &k;
    p.oracle_fn = oracle_fn, p.oracle_user = &o, p.oracle_levels = (1u << s.levels) - 1;
    k.C = m.C, k.grid0 = m.grid0, k.context = context, k.frames = frames, k.next = context;
    k.out = calloc((size_t)frames * T0 * m.C, 4);
    mv_rollout_stats st;
    CHECK(mv_rollout_run(&m, &s, &p, &st) == MV_OK, "oracle rollout: %s", mv_last_error());
    CHECK(st.dit_calls == 0 && st.oracle_steps == st.steps, "every level an oracle: %ld calls, %ld of %ld oracle steps",
          st.dit_calls, st.oracle_steps, st.steps);
    int same = 1;
    for (int f = context; f < frames; f++)
        for (int i = 0; i < T0; i++)
            for (int c = 0; c < m.C; c++) same &= k.out[((size_t)f * T0 + i) * m.C + c] == gt_value(f, 0, i, c);
    CHECK(same, "every level an oracle: the generated frames are the ground truth");
    /* coarse levels only, and the oracle stops knowing frames after context + 8: the level-0 steps and
     * the steps with a DENOISED frame past that are sampled */
    o.last = context + 8;
    p.oracle_levels = (1u << s.levels) - 2;
    k.next = context;
    CHECK(mv_rollout_run(&m, &s, &p, &st) == MV_OK, "oracle rollout: %s", mv_last_error());
    long l0 = 0;
    for (int i = 0; i < s.nsteps; i++) l0 += s.steps[i].target_level == 0;
    CHECK(st.oracle_steps > 0 && st.oracle_steps < st.steps - st.chunks * l0, "partial oracle: %ld oracle steps of %ld",
          st.oracle_steps, st.steps);
    CHECK(st.dit_calls == (st.steps - st.oracle_steps) * 2, "partial oracle: %ld calls", st.dit_calls);
    free(act), free(k.out);
    mv_dit_free(&m);
    mv_schedule_free(&s);
}

int main(void) {
    mv_set_threads(2);
    test_oracle();
    test_method(MV_METHOD_MILLIVID, 90, 90 + 64 + 5, 2, 1.0f); /* 2 chunks, the last one padded */
    test_method(MV_METHOD_FULLRES, 10, 21, 3, 2.0f);           /* guidance: two calls per step */
    test_method(MV_METHOD_FRAMEPACK, 90, 95, 2, 1.0f);
    test_cache(MV_METHOD_MILLIVID);
    test_cache(MV_METHOD_FRAMEPACK);
    test_bad();
    return tu_finish();
}
