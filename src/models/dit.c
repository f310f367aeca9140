/* Video DiT (universal + FramePack): see dit.h and OFFICIAL_MODULES.md §2. */
#include "models/dit.h"

#include <float.h>
#include <math.h>
#include <omp.h>

#include "core/core.h"
#include "core/gemm.h"
#include "nn/nn.h"

#define TEMB_DIM 256
#define LN_EPS 1e-6f
#define RMS_EPS FLT_EPSILON /* PyTorch RMSNorm eps=None on float32: machine epsilon 2^-23 */

const char *mv_dit_kind_name(mv_dit_kind k) { return k == MV_DIT_FRAMEPACK ? "framepack" : "universal"; }
const char *mv_dit_kind_model(mv_dit_kind k) { return k == MV_DIT_FRAMEPACK ? "video_framepack" : "video_universal"; }

int mv_dit_fp_tokens(const mv_config *cfg) {
    int grid0 = cfg->image_size / cfg->patch, t = cfg->fp_denoise * grid0 * grid0;
    for (int l = 0; l < cfg->levels; l++) t += cfg->fp_context[l] * mv_config_tokens(cfg, l);
    return t;
}

/* ------------------------------------------------------------------ parameters */

static mv_status add2(mv_params *p, int *idx, const char *name, int64_t a, int64_t b) {
    int64_t shape[2] = {a, b};
    return mv_params_add(p, name, b > 0 ? 2 : 1, shape, idx);
}

/* Sizes and registers every parameter of the configuration; allocates only the block table. */
static mv_status dit_layout(mv_dit *m, const mv_config *cfg, mv_dit_kind kind) {
    memset(m, 0, sizeof *m);
    mv_params_init(&m->params);
    m->kind = kind;
    m->C = cfg->latent_channels;
    m->D = cfg->dit_width;
    m->depth = cfg->dit_depth;
    m->heads = cfg->dit_heads;
    m->levels = cfg->levels;
    m->grid0 = mv_config_grid(cfg, 0);
    for (int l = 0; l < cfg->levels && l < MV_MAX_LEVELS; l++) m->grid[l] = mv_config_grid(cfg, l);
    m->context_cache = cfg->context_cache;
    m->fp_denoise = cfg->fp_denoise;
    mv_status s = MV_OK;
    if (m->D <= 0 || m->depth <= 0 || m->heads <= 0 || m->D % m->heads || m->levels < 1 ||
        m->levels > MV_MAX_LEVELS || m->C <= 0 || m->grid0 <= 0)
        return mv_fail(MV_ERR_ARG, "dit: invalid sizes (width %d, depth %d, heads %d, levels %d)", m->D,
                       m->depth, m->heads, m->levels);
    if (kind == MV_DIT_FRAMEPACK) {
        m->fp_frames = m->fp_denoise;
        m->fp_tokens = mv_dit_fp_tokens(cfg);
        for (int l = 0; l < m->levels; l++) {
            m->fp_context[l] = cfg->fp_context[l];
            if (m->grid0 % (1 << l)) return mv_fail(MV_ERR_ARG, "dit: latent grid %d not divisible by 2^%d", m->grid0, l);
            m->fp_frames += m->fp_context[l];
        }
        if (m->fp_denoise < 1) return mv_fail(MV_ERR_ARG, "dit: framepack.denoise must be >= 1");
    }
    m->blocks = calloc(m->depth, sizeof *m->blocks);
    if (!m->blocks) return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
    mv_params *p = &m->params;
    char name[128];
    int D = m->D;
    for (int i = 0; i < m->depth && !s; i++) {
        snprintf(name, sizeof name, "dit.dit.dit.blocks.%d.", i);
        s = mv_block_register(&m->blocks[i], p, name, D, m->heads, 1);
    }
    if (!s) s = add2(p, &m->temb0_w, "dit.dit.time_embedding.mlp.0.weight", D, TEMB_DIM);
    if (!s) s = add2(p, &m->temb0_b, "dit.dit.time_embedding.mlp.0.bias", D, 0);
    if (!s) s = add2(p, &m->temb2_w, "dit.dit.time_embedding.mlp.2.weight", D, D);
    if (!s) s = add2(p, &m->temb2_b, "dit.dit.time_embedding.mlp.2.bias", D, 0);
    if (!s) s = add2(p, &m->level_emb, "dit.dit.level_embedding.weight", m->levels, D);
    if (!s) s = add2(p, &m->action_emb, "dit.dit.action_encoder.action_embedding.weight", 3, D);
    if (kind == MV_DIT_UNIVERSAL) {
        if (!s) s = add2(p, &m->patch_w[0], "dit.patchify.weight", D, m->C);
        if (!s) s = add2(p, &m->patch_b[0], "dit.patchify.bias", D, 0);
    } else {
        for (int l = 0; l < m->levels && !s; l++) {
            snprintf(name, sizeof name, "dit.patchify.%d.weight", l);
            s = add2(p, &m->patch_w[l], name, D, (int64_t)m->C << (2 * l));
            snprintf(name, sizeof name, "dit.patchify.%d.bias", l);
            if (!s) s = add2(p, &m->patch_b[l], name, D, 0);
        }
    }
    if (!s) s = add2(p, &m->final_w, "dit.unpatchify.linear.weight", m->C, D);
    if (!s) s = add2(p, &m->final_b, "dit.unpatchify.linear.bias", m->C, 0);
    if (!s) s = add2(p, &m->final_ada_w, "dit.unpatchify.adaLN_modulation.1.weight", 2 * D, D);
    if (!s) s = add2(p, &m->final_ada_b, "dit.unpatchify.adaLN_modulation.1.bias", 2 * D, 0);
    if (s) mv_dit_free(m);
    return s;
}

mv_status mv_dit_create(mv_dit *m, const mv_config *cfg, mv_dit_kind kind, int with_training) {
    mv_status s = dit_layout(m, cfg, kind);
    if (!s) s = mv_params_alloc(&m->params, with_training);
    if (s) {
        mv_dit_free(m);
        return s == MV_ERR_NOMEM ? mv_fail(s, "dit: out of memory for parameters") : s;
    }
    return MV_OK;
}

static void fill_uniform(mv_rng *r, float *x, size_t n, float bound) {
    mv_rng_uniform(r, x, n);
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * x[i] - 1.0f) * bound;
}

static void fill_normal(mv_rng *r, float *x, size_t n, float std) {
    mv_rng_normal(r, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= std;
}

/* PyTorch nn.Linear default: weight and bias U(+-1/sqrt(fan_in)). */
static void init_linear_default(mv_params *p, mv_rng *r, int w, int b) {
    float bound = 1.0f / sqrtf((float)p->info[w].shape[1]);
    fill_uniform(r, mv_params_data(p, w), p->info[w].numel, bound);
    fill_uniform(r, mv_params_data(p, b), p->info[b].numel, bound);
}

void mv_dit_init_weights(mv_dit *m, uint64_t seed) {
    mv_params *p = &m->params;
    mv_rng root, r;
    mv_rng_init(&root, seed);
    memset(p->data, 0, p->total * sizeof(float));
    for (int i = 0; i < m->depth; i++) {
        r = mv_rng_fork(&root, 100 + i);
        mv_block_init(&m->blocks[i], p, &r);
    }
    r = mv_rng_fork(&root, 1);
    fill_normal(&r, mv_params_data(p, m->temb0_w), p->info[m->temb0_w].numel, 0.02f);
    fill_uniform(&r, mv_params_data(p, m->temb0_b), m->D, 1.0f / sqrtf(TEMB_DIM));
    fill_normal(&r, mv_params_data(p, m->temb2_w), p->info[m->temb2_w].numel, 0.02f);
    fill_uniform(&r, mv_params_data(p, m->temb2_b), m->D, 1.0f / sqrtf((float)m->D));
    r = mv_rng_fork(&root, 2);
    fill_normal(&r, mv_params_data(p, m->level_emb), p->info[m->level_emb].numel, 1.0f);
    fill_normal(&r, mv_params_data(p, m->action_emb), p->info[m->action_emb].numel, 1.0f);
    r = mv_rng_fork(&root, 3);
    int npatch = m->kind == MV_DIT_FRAMEPACK ? m->levels : 1;
    for (int l = 0; l < npatch; l++) init_linear_default(p, &r, m->patch_w[l], m->patch_b[l]);
    /* unpatchify: adaLN and linear all zero (already). */
}

void mv_dit_free(mv_dit *m) {
    mv_params_free(&m->params);
    free(m->blocks);
    m->blocks = NULL;
}

mv_status mv_dit_load(mv_dit *m, const char *path, mv_ckpt_meta *meta_out) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    memset(m, 0, sizeof *m);
    MV_TRY(mv_ckpt_open(&f, &meta, path, NULL));
    mv_status s = MV_OK;
    mv_dit_kind kind = MV_DIT_UNIVERSAL;
    if (!strcmp(meta.model, mv_dit_kind_model(MV_DIT_FRAMEPACK))) kind = MV_DIT_FRAMEPACK;
    else if (strcmp(meta.model, mv_dit_kind_model(MV_DIT_UNIVERSAL)))
        s = mv_fail(MV_ERR_FORMAT, "%s: expected a video DiT checkpoint (millivid train), found %s", path, meta.model);
    if (!s && (s = dit_layout(m, &meta.config, kind))) mv_fail_prefix(s, "%s: stored config", path);
    /* The file must hold every tensor of the config it states before that config sizes any memory. */
    if (!s) s = mv_st_check_params(&f, &m->params, "", 0);
    if (!s && (s = mv_params_alloc(&m->params, 0))) mv_fail_prefix(s, "%s: out of memory for parameters", path);
    if (!s) s = mv_ckpt_load_params(&f, &m->params, "");
    mv_st_close(&f);
    if (s) {
        mv_dit_free(m);
        return s;
    }
    if (meta_out) *meta_out = meta;
    return MV_OK;
}

/* ------------------------------------------------------------------ activations */

static size_t fp_xin_floats(const mv_dit *m, int B) {
    return (size_t)B * m->fp_frames * m->grid0 * m->grid0 * m->C;
}

mv_status mv_dit_acts_alloc(mv_dit_acts *a, const mv_dit *m, int max_batch, int max_seq) {
    memset(a, 0, sizeof *a);
    size_t N = (size_t)max_batch * max_seq, D = m->D;
    a->max_tokens = N;
    a->max_seq = max_seq;
    size_t xin = m->kind == MV_DIT_FRAMEPACK ? fp_xin_floats(m, max_batch) : N * m->C;
    size_t scratch = mv_block_scratch_floats(&m->blocks[0], N, max_seq);
    float **f1[] = {&a->x, &a->c, &a->te1, &a->te1s, &a->sc, &a->lnf, &a->modf, &a->dx, &a->dc};
    for (size_t i = 0; i < MV_ARRAY_LEN(f1); i++)
        if (!(*f1[i] = mv_alloc(N * D * sizeof(float)))) goto nomem;
    if (!(a->te_in = mv_alloc(N * TEMB_DIM * sizeof(float)))) goto nomem;
    if (!(a->fm = mv_alloc(N * 2 * D * sizeof(float)))) goto nomem;
    if (!(a->dtmp = mv_alloc(N * 2 * D * sizeof(float)))) goto nomem;
    if (!(a->dtmp2 = mv_alloc(N * 2 * D * sizeof(float)))) goto nomem;
    if (!(a->lnf_mean = mv_alloc(N * sizeof(float))) || !(a->lnf_rstd = mv_alloc(N * sizeof(float))))
        goto nomem;
    if (!(a->xin = mv_alloc(xin * sizeof(float)))) goto nomem;
    if (!(a->scratch = mv_alloc(MV_MAX(scratch, 1) * sizeof(float)))) goto nomem;
    int **i1[] = {&a->frame, &a->level, &a->row, &a->col, &a->action, &a->uidx, &a->ulevel, &a->uaction};
    for (size_t i = 0; i < MV_ARRAY_LEN(i1); i++)
        if (!(*i1[i] = mv_alloc(N * sizeof(int)))) goto nomem;
    if (!(a->t = mv_alloc(N * sizeof(float))) || !(a->ut = mv_alloc(N * sizeof(float)))) goto nomem;
    if (!(a->keep = mv_alloc(max_batch))) goto nomem;
    if (m->context_cache && !(a->mask = mv_alloc(N * max_seq))) goto nomem;
    if (m->kind == MV_DIT_FRAMEPACK &&
        (!(a->fp_out = mv_alloc(N * m->C * sizeof(float))) || !(a->fp_ctx = mv_alloc(N))))
        goto nomem;
    if (!(a->blocks = calloc(m->depth, sizeof *a->blocks))) goto nomem;
    a->depth = m->depth;
    for (int i = 0; i < m->depth; i++)
        if (mv_block_acts_alloc(&a->blocks[i], &m->blocks[i], N, max_seq)) goto nomem;
    return MV_OK;
nomem:
    mv_dit_acts_free(a);
    return mv_fail(MV_ERR_NOMEM, "dit: out of memory for activations (%zu tokens)", N);
}

void mv_dit_acts_free(mv_dit_acts *a) {
    float *f[] = {a->x, a->c, a->te_in, a->te1, a->te1s, a->sc, a->fm, a->lnf, a->lnf_mean,
                  a->lnf_rstd, a->modf, a->xin, a->dx, a->dc, a->dtmp, a->dtmp2, a->scratch, a->t, a->ut,
                  a->fp_out};
    for (size_t i = 0; i < MV_ARRAY_LEN(f); i++) mv_free(f[i]);
    int *g[] = {a->frame, a->level, a->row, a->col, a->action, a->uidx, a->ulevel, a->uaction};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++) mv_free(g[i]);
    mv_free(a->keep);
    mv_free(a->mask);
    mv_free(a->fp_ctx);
    if (a->blocks) {
        for (int i = 0; i < a->depth; i++) mv_block_acts_free(&a->blocks[i]);
        free(a->blocks);
    }
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ shared pieces */

static mv_status check_tokens(const mv_dit *m, const mv_dit_tokens *tk, size_t max_tokens, int max_seq) {
    if (tk->B < 1 || tk->T < 1) return mv_fail(MV_ERR_ARG, "dit: empty batch");
    if ((size_t)tk->B * tk->T > max_tokens || tk->T > max_seq)
        return mv_fail(MV_ERR_SHAPE, "dit: %d x %d tokens exceed the sized %zu tokens / %d per sample",
                       tk->B, tk->T, max_tokens, max_seq);
    size_t N = (size_t)tk->B * tk->T;
    for (size_t n = 0; n < N; n++) {
        if (tk->level[n] < 0 || tk->level[n] >= m->levels)
            return mv_fail(MV_ERR_ARG, "dit: token level %d outside [0, %d)", tk->level[n], m->levels);
        if (tk->action[n] < -1 || tk->action[n] > 2)
            return mv_fail(MV_ERR_ARG, "dit: action id %d unknown (expected 0 forward, 1 left, 2 right, "
                                       "or -1 for none)", tk->action[n]);
        if (!(tk->t[n] >= 0.0f && tk->t[n] <= 1.0f))
            return mv_fail(MV_ERR_ARG, "dit: noise level %g outside [0, 1]", tk->t[n]);
    }
    return MV_OK;
}

/* c[n] = TimeEmb(t[n]) + level_emb[level[n]] + (action[n] >= 0 ? action_emb[action[n]] : 0), for n
 * condition rows. te_in [n,256], te1 [n,D], te1s [n,D] are saved for backward (scratch at inference). */
static void cond_forward(const mv_dit *m, float *c, float *te_in, float *te1, float *te1s,
                         const float *t, const int *level, const int *action, int n) {
    const mv_params *p = &m->params;
    int D = m->D;
    timestep_embedding(te_in, t, n);
    linear_forward(te1, te_in, mv_params_data(p, m->temb0_w), mv_params_data(p, m->temb0_b), n, TEMB_DIM, D);
    silu_forward(te1s, te1, (size_t)n * D);
    linear_forward(c, te1s, mv_params_data(p, m->temb2_w), mv_params_data(p, m->temb2_b), n, D, D);
    const float *lev = mv_params_data(p, m->level_emb), *act = mv_params_data(p, m->action_emb);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *ci = c + (size_t)i * D;
        const float *le = lev + (size_t)level[i] * D;
        for (int d = 0; d < D; d++) ci[d] += le[d];
        if (action[i] >= 0) {
            const float *ae = act + (size_t)action[i] * D;
            for (int d = 0; d < D; d++) ci[d] += ae[d];
        }
    }
}

/* Relative frames: frame - min over the sample's tokens. */
static void frames_relative(int *rel, const int *frame, int B, int T) {
    for (int b = 0; b < B; b++) {
        int lo = frame[(size_t)b * T];
        for (int i = 1; i < T; i++) lo = MV_MIN(lo, frame[(size_t)b * T + i]);
        for (int i = 0; i < T; i++) rel[(size_t)b * T + i] = frame[(size_t)b * T + i] - lo;
    }
}

/* x[n] += pos3d(frame, row, col) for n tokens; tmp [n, D]. */
static void add_pos(float *x, float *tmp, const int *frame, const int *row, const int *col, int n, int D) {
    pos3d_embedding(tmp, frame, row, col, n, D);
    size_t nd = (size_t)n * D;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < nd; i++) x[i] += tmp[i];
}

/* Final layer: out [n, C] = Linear(modulate(LN(x), shift, scale)), (shift, scale) = Linear(SiLU(c)),
 * with the condition as U distinct rows c [U, D] and the token -> row map uidx [n]. */
static void final_forward(const mv_dit *m, float *out, float *sc, float *fm, float *lnf, float *mean,
                          float *rstd, float *modf, const float *x, const float *c, const int *uidx, int U,
                          int n) {
    const mv_params *p = &m->params;
    int D = m->D;
    silu_forward(sc, c, (size_t)U * D);
    linear_forward(fm, sc, mv_params_data(p, m->final_ada_w), mv_params_data(p, m->final_ada_b), U, D, 2 * D);
    layernorm_forward(lnf, mean, rstd, x, NULL, NULL, n, D, LN_EPS);
    mv_mod_rows_forward(modf, lnf, fm, fm + D, 2 * D, uidx, n, D);
    linear_forward(out, modf, mv_params_data(p, m->final_w), mv_params_data(p, m->final_b), n, D, m->C);
}

/* ------------------------------------------------------------------ training forward / backward */

/* The distinct conditions of n tokens: (t bits, level, action; action -1 when absent or dropped, i.e.
 * keep[token / T] == 0; keep NULL = all kept) into rows ut, ulevel, uaction [U] in first-seen order, and
 * the token -> row map uidx [n]; returns U. c depends on nothing else, so computing it (and every adaLN
 * Linear) once per row is exact; t is compared by its bits (equal bits, equal rows). */
static int cond_unique(float *ut, int *ulevel, int *uaction, int *uidx, const float *t, const int *level,
                       const int *action, const uint8_t *keep, int T, int n) {
    int U = 0, last = 0;
    for (int i = 0; i < n; i++) {
        float ti = t[i];
        int l = level[i], ac = (!keep || keep[i / T]) && action[i] >= 0 ? action[i] : -1;
        int u = last; /* neighbours usually share the row: try the last one first */
        if (!(u < U && !memcmp(&ut[u], &ti, sizeof ti) && ulevel[u] == l && uaction[u] == ac))
            for (u = 0; u < U; u++)
                if (!memcmp(&ut[u], &ti, sizeof ti) && ulevel[u] == l && uaction[u] == ac) break;
        if (u == U) ut[U] = ti, ulevel[U] = l, uaction[U] = ac, U++;
        uidx[i] = last = u;
    }
    return U;
}

/* The core after patchify: a->x [N, D] holds the patch embeddings, a->frame.. hold the token
 * metadata (frames absolute). Adds positions, builds c (one row per distinct condition), runs the
 * blocks and the final layer. */
static void core_forward(const mv_dit *m, mv_dit_acts *a, float *out, int B, int T) {
    int N = B * T, D = m->D;
    frames_relative(a->frame, a->frame, B, T);
    add_pos(a->x, a->dtmp, a->frame, a->row, a->col, N, D);
    int U = a->U = cond_unique(a->ut, a->ulevel, a->uaction, a->uidx, a->t, a->level, a->action, a->keep, T, N);
    cond_forward(m, a->c, a->te_in, a->te1, a->te1s, a->ut, a->ulevel, a->uaction, U);
    const uint8_t *mask = a->use_mask ? a->mask : NULL;
    for (int i = 0; i < m->depth; i++)
        mv_block_forward_rows(&m->blocks[i], &m->params, &a->blocks[i], a->scratch, a->x, a->c, a->uidx, U,
                              mask, B, T);
    final_forward(m, out, a->sc, a->fm, a->lnf, a->lnf_mean, a->lnf_rstd, a->modf, a->x, a->c, a->uidx, U, N);
}

/* mask [B, T, T]: context tokens (ctx [B, T]) attend only to context tokens, the others to all. */
static void build_mask(uint8_t *mask, const uint8_t *ctx, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            uint8_t *row = mask + ((size_t)b * T + i) * T;
            const uint8_t *cb = ctx + (size_t)b * T;
            for (int j = 0; j < T; j++) row[j] = (uint8_t)(!cb[i] || cb[j]);
        }
}

/* Backward of core_forward: dout [N, C]; leaves d(patch embedding) in a->dx. */
static void core_backward(mv_dit *m, mv_dit_acts *a, const float *dout) {
    mv_params *p = &m->params;
    int B = a->B, T = a->T, N = B * T, D = m->D, U = a->U;
    size_t ND = (size_t)N * D, UD = (size_t)U * D;
    float *d1 = a->dtmp, *d2 = a->dtmp + ND, *dfm = a->dtmp2; /* dfm [U, 2D] */
    memset(dfm, 0, 2 * UD * sizeof(float));
    memset(a->dx, 0, ND * sizeof(float));
    memset(a->dc, 0, UD * sizeof(float));
    /* final layer */
    memset(d1, 0, ND * sizeof(float));
    linear_backward(d1, mv_params_grad(p, m->final_w), mv_params_grad(p, m->final_b), dout, a->modf,
                    mv_params_data(p, m->final_w), N, D, m->C);
    /* the token lists of the rows: built by the first block's forward from the same map */
    mv_mod_rows_backward(d2, dfm, dfm + D, d1, a->lnf, a->fm + D, 2 * D, a->blocks[0].row_start,
                         a->blocks[0].row_tok, U, D);
    layernorm_backward(a->dx, NULL, NULL, d2, a->x, NULL, a->lnf_mean, a->lnf_rstd, N, D);
    memset(d1, 0, UD * sizeof(float));
    linear_backward(d1, mv_params_grad(p, m->final_ada_w), mv_params_grad(p, m->final_ada_b), dfm, a->sc,
                    mv_params_data(p, m->final_ada_w), U, D, 2 * D);
    silu_backward(a->dc, d1, a->c, UD);
    /* blocks */
    const uint8_t *mask = a->use_mask ? a->mask : NULL;
    for (int i = m->depth - 1; i >= 0; i--)
        mv_block_backward_rows(&m->blocks[i], p, &a->blocks[i], a->scratch, a->dx, a->dc, mask, B, T);
    /* condition rows: level and action tables, time MLP */
    embedding_backward(mv_params_grad(p, m->level_emb), a->dc, a->ulevel, U, D);
    float *dact = mv_params_grad(p, m->action_emb);
    for (int u = 0; u < U; u++) {
        if (a->uaction[u] < 0) continue;
        float *da = dact + (size_t)a->uaction[u] * D;
        const float *g = a->dc + (size_t)u * D;
        for (int d = 0; d < D; d++) da[d] += g[d];
    }
    memset(d1, 0, UD * sizeof(float));
    memset(d2, 0, UD * sizeof(float));
    linear_backward(d1, mv_params_grad(p, m->temb2_w), mv_params_grad(p, m->temb2_b), a->dc, a->te1s,
                    mv_params_data(p, m->temb2_w), U, D, D);
    silu_backward(d2, d1, a->te1, UD);
    linear_backward(NULL, mv_params_grad(p, m->temb0_w), mv_params_grad(p, m->temb0_b), d2, a->te_in,
                    mv_params_data(p, m->temb0_w), U, TEMB_DIM, D);
}

static mv_status load_tokens(const mv_dit *m, mv_dit_acts *a, const mv_dit_tokens *tk) {
    MV_TRY(check_tokens(m, tk, a->max_tokens, a->max_seq));
    size_t N = (size_t)tk->B * tk->T;
    a->B = tk->B;
    a->T = tk->T;
    if (a->frame != tk->frame) { /* FramePack builds its metadata in place */
        memcpy(a->frame, tk->frame, N * sizeof(int));
        memcpy(a->level, tk->level, N * sizeof(int));
        memcpy(a->row, tk->row, N * sizeof(int));
        memcpy(a->col, tk->col, N * sizeof(int));
        memcpy(a->action, tk->action, N * sizeof(int));
        memcpy(a->t, tk->t, N * sizeof(float));
    }
    for (int b = 0; b < tk->B; b++) a->keep[b] = tk->keep_cond ? tk->keep_cond[b] : 1;
    a->use_mask = m->context_cache && tk->context;
    if (a->use_mask) build_mask(a->mask, tk->context, tk->B, tk->T);
    return MV_OK;
}

mv_status mv_dit_forward(const mv_dit *m, mv_dit_acts *a, float *v, const float *x, const mv_dit_tokens *tk) {
    if (m->kind != MV_DIT_UNIVERSAL) return mv_fail(MV_ERR_ARG, "dit: mv_dit_forward needs a universal model");
    MV_TRY(load_tokens(m, a, tk));
    int N = tk->B * tk->T;
    memcpy(a->xin, x, (size_t)N * m->C * sizeof(float));
    linear_forward(a->x, a->xin, mv_params_data(&m->params, m->patch_w[0]),
                   mv_params_data(&m->params, m->patch_b[0]), N, m->C, m->D);
    core_forward(m, a, v, tk->B, tk->T);
    return MV_OK;
}

void mv_dit_backward(mv_dit *m, mv_dit_acts *a, const float *dv) {
    core_backward(m, a, dv);
    int N = a->B * a->T;
    linear_backward(NULL, mv_params_grad(&m->params, m->patch_w[0]), mv_params_grad(&m->params, m->patch_b[0]),
                    a->dx, a->xin, mv_params_data(&m->params, m->patch_w[0]), N, m->C, m->D);
}

/* ------------------------------------------------------------------ FramePack */

/* Level l of a FramePack sample: tokens [tok0[l], tok0[l] + ntok[l]) (level 0 includes the
 * denoised frames), frames [frame0[l], frame0[l] + nfr[l]). */
typedef struct {
    int tok0[MV_MAX_LEVELS], ntok[MV_MAX_LEVELS], frame0[MV_MAX_LEVELS], nfr[MV_MAX_LEVELS];
    size_t xoff[MV_MAX_LEVELS]; /* offset of the level's [B, ntok, C*4^l] group in xin */
} fp_runs;

static void fp_runs_make(const mv_dit *m, fp_runs *r, int B) {
    int tok = 0, fr = 0;
    size_t off = 0;
    for (int l = m->levels - 1; l >= 0; l--) {
        int g = m->grid[l];
        r->nfr[l] = m->fp_context[l] + (l == 0 ? m->fp_denoise : 0);
        r->frame0[l] = fr;
        r->tok0[l] = tok;
        r->ntok[l] = r->nfr[l] * g * g;
        fr += r->nfr[l];
        tok += r->ntok[l];
    }
    for (int l = 0; l < m->levels; l++) {
        r->xoff[l] = off;
        off += (size_t)B * r->ntok[l] * ((size_t)m->C << (2 * l));
    }
}

int mv_dit_fp_layout(const mv_dit *m, int *frame, int *level, int *row, int *col) {
    fp_runs r;
    fp_runs_make(m, &r, 1);
    for (int l = 0; l < m->levels; l++) {
        int g = m->grid[l], n = r.tok0[l];
        for (int f = 0; f < r.nfr[l]; f++)
            for (int i = 0; i < g; i++)
                for (int j = 0; j < g; j++, n++) {
                    frame[n] = r.frame0[l] + f;
                    level[n] = l;
                    row[n] = i;
                    col[n] = j;
                }
    }
    return m->fp_tokens;
}

/* Gathers the (c, dy, dx) patch vectors of every token into xin (grouped per level). */
static void fp_gather(const mv_dit *m, const fp_runs *r, float *xin, const float *x, int B) {
    int g0 = m->grid0, C = m->C, T0 = g0 * g0;
    for (int l = 0; l < m->levels; l++) {
        int k = 1 << l, g = g0 >> l, K = C << (2 * l);
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int n = 0; n < r->ntok[l]; n++) {
                int f = r->frame0[l] + n / (g * g), cell = n % (g * g), i = cell / g, j = cell % g;
                const float *xf = x + ((size_t)b * m->fp_frames + f) * T0 * C;
                float *dst = xin + r->xoff[l] + ((size_t)b * r->ntok[l] + n) * K;
                for (int c = 0; c < C; c++)
                    for (int dy = 0; dy < k; dy++)
                        for (int dx = 0; dx < k; dx++)
                            dst[c * k * k + dy * k + dx] = xf[((size_t)(i * k + dy) * g0 + j * k + dx) * C + c];
            }
    }
}

/* e [B, T, D] = per-level patchify of xin; tmp [B * ntok_max, D]. */
static void fp_embed(const mv_dit *m, const fp_runs *r, float *e, float *tmp, const float *xin, int B) {
    int D = m->D, T = m->fp_tokens;
    for (int l = 0; l < m->levels; l++) {
        int K = m->C << (2 * l), n = r->ntok[l];
        if (!n) continue;
        linear_forward(tmp, xin + r->xoff[l], mv_params_data(&m->params, m->patch_w[l]),
                       mv_params_data(&m->params, m->patch_b[l]), B * n, K, D);
        for (int b = 0; b < B; b++)
            memcpy(e + ((size_t)b * T + r->tok0[l]) * D, tmp + (size_t)b * n * D, (size_t)n * D * sizeof(float));
    }
}

/* Per-token metadata of B FramePack samples into the given arrays. t and action hold the value of
 * frame f of sample b at [(b F + f) stride] (stride 1: one per frame; T0: one per level-0 token). */
static void fp_meta(const mv_dit *m, int *frame, int *level, int *row, int *col, float *tt, int *act,
                    uint8_t *ctx, const float *t, const int *action, int stride, int B) {
    int T = m->fp_tokens, Tden = m->fp_denoise * m->grid0 * m->grid0;
    mv_dit_fp_layout(m, frame, level, row, col);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < T; n++) {
            size_t o = (size_t)b * T + n;
            if (b) {
                frame[o] = frame[n];
                level[o] = level[n];
                row[o] = row[n];
                col[o] = col[n];
            }
            size_t f = ((size_t)b * m->fp_frames + frame[n]) * stride;
            tt[o] = t[f];
            act[o] = action[f];
            if (ctx) ctx[o] = (uint8_t)(n < T - Tden);
        }
}

/* The FramePack output is the v of the last n_d frames' tokens of each sample: v [B, Tden, C] from
 * out [B, T, C]. */
static void fp_copy_denoised(const mv_dit *m, float *v, const float *out, int B) {
    int T = m->fp_tokens, Tden = m->fp_denoise * m->grid0 * m->grid0;
    for (int b = 0; b < B; b++)
        memcpy(v + (size_t)b * Tden * m->C, out + ((size_t)b * T + T - Tden) * m->C,
               (size_t)Tden * m->C * sizeof(float));
}

mv_status mv_dit_fp_forward(const mv_dit *m, mv_dit_acts *a, float *v, const float *x, const float *t,
                            const int *action, int B) {
    if (m->kind != MV_DIT_FRAMEPACK) return mv_fail(MV_ERR_ARG, "dit: mv_dit_fp_forward needs a FramePack model");
    int T = m->fp_tokens, N = B * T;
    if ((size_t)N > a->max_tokens || T > a->max_seq)
        return mv_fail(MV_ERR_SHAPE, "dit: batch %d of %d tokens exceeds the sized activations", B, T);
    uint8_t *ctx = m->context_cache ? a->fp_ctx : NULL;
    fp_meta(m, a->frame, a->level, a->row, a->col, a->t, a->action, ctx, t, action, 1, B);
    mv_dit_tokens tk = {B, T, a->frame, a->level, a->row, a->col, a->t, a->action, NULL, ctx};
    MV_TRY(load_tokens(m, a, &tk));
    fp_runs r;
    fp_runs_make(m, &r, B);
    fp_gather(m, &r, a->xin, x, B);
    fp_embed(m, &r, a->x, a->dtmp, a->xin, B);
    core_forward(m, a, a->fp_out, B, T);
    fp_copy_denoised(m, v, a->fp_out, B);
    return MV_OK;
}

void mv_dit_fp_backward(mv_dit *m, mv_dit_acts *a, const float *dv) {
    int B = a->B, T = m->fp_tokens, N = B * T, C = m->C, D = m->D, Tden = m->fp_denoise * m->grid0 * m->grid0;
    float *dout = a->fp_out; /* the gradient of every token's output: 0 but for the denoised frames */
    memset(dout, 0, (size_t)N * C * sizeof(float));
    for (int b = 0; b < B; b++)
        memcpy(dout + ((size_t)b * T + T - Tden) * C, dv + (size_t)b * Tden * C, (size_t)Tden * C * sizeof(float));
    core_backward(m, a, dout);
    fp_runs r;
    fp_runs_make(m, &r, B);
    for (int l = 0; l < m->levels; l++) {
        int n = r.ntok[l], K = C << (2 * l);
        if (!n) continue;
        for (int b = 0; b < B; b++)
            memcpy(a->dtmp + (size_t)b * n * D, a->dx + ((size_t)b * T + r.tok0[l]) * D, (size_t)n * D * sizeof(float));
        linear_backward(NULL, mv_params_grad(&m->params, m->patch_w[l]), mv_params_grad(&m->params, m->patch_b[l]),
                        a->dtmp, a->xin + r.xoff[l], mv_params_data(&m->params, m->patch_w[l]), B * n, K, D);
    }
}

/* ------------------------------------------------------------------ inference */

/* The size table of the inference workspace: type, name, element count. Every buffer of mv_dit_infer
 * is one row (see mv_dit_workspace for shapes); N tokens, T per sample, Kx floats of a context input
 * vector, S keys per sample for the cached attention (0 without a cache). */
#define WS_BUFFERS(X)                                  \
    X(float, pin, fp ? fp_xin_floats(m, B) : N * C)    \
    X(float, emb, fp ? N * D : 0)                      \
    X(float, h, N * D)                                 \
    X(float, pos, N * D)                               \
    X(float, cu, N * D)                                \
    X(float, te_in, N * TEMB_DIM)                      \
    X(float, te1, N * D)                               \
    X(float, te1s, N * D)                              \
    X(float, fsc, N * D)                               \
    X(float, fm, N * 2 * D)                            \
    X(float, lnf, N * D)                               \
    X(float, lmean, N)                                 \
    X(float, lrstd, N)                                 \
    X(float, modf, N * D)                              \
    X(float, out, N * C)                               \
    X(float, block, mv_block_kv_scratch_floats(&m->blocks[0], N, T, S)) \
    X(float, kv, (size_t)cached * 2 * m->depth * N * D) \
    X(float, sigx, cached ? (cached + 1) * N * Kx : 0) \
    X(int, sigm, cached ? (cached + 1) * N * 6 : 0)    \
    X(float, ut, N)                                    \
    X(int, ulevel, N)                                  \
    X(int, uaction, N)                                 \
    X(int, uidx, N)                                    \
    X(int, frame, fp ? N : 0)                          \
    X(int, level, fp ? N : 0)                          \
    X(int, row, fp ? N : 0)                            \
    X(int, col, fp ? N : 0)                            \
    X(int, action, fp ? N : 0)                         \
    X(float, t, fp ? N : 0)                            \
    X(uint8_t, ctx, fp ? N : 0)                        \
    X(int, rel, N)                                     \
    X(int, gframe, N)                                  \
    X(int, grow, N)                                    \
    X(int, gcol, N)                                    \
    X(int, glevel, N)                                  \
    X(int, gaction, N)                                 \
    X(float, gt, N)                                    \
    X(int, sel_ctx, N)                                 \
    X(int, sel_den, N)                                 \
    X(uint8_t, mask, masked ? N * T : 0)

/* Points the buffers into base (or only counts when base is NULL); returns the bytes used, every
 * buffer 64-byte aligned. */
static size_t ws_carve(mv_dit_workspace *w, const mv_dit *m, char *base) {
    int fp = m->kind == MV_DIT_FRAMEPACK, B = w->max_batch, T = w->max_seq;
    size_t N = (size_t)B * T, C = m->C, D = m->D, Kx = fp ? D : C, off = 0;
    int cached = m->context_cache ? w->caches : 0, masked = m->context_cache && !w->caches;
    int S = cached ? T : 0;
#define WS_CARVE(type, name, count)                                   \
    w->name = base ? (type *)(base + off) : NULL;                     \
    off += ((size_t)(count) * sizeof(type) + 63) & ~(size_t)63;
    WS_BUFFERS(WS_CARVE)
#undef WS_CARVE
    return off;
}

mv_status mv_dit_workspace_create(mv_dit_workspace *w, const mv_dit *m, int max_batch, int max_seq, int caches) {
    memset(w, 0, sizeof *w);
    if (m->kind == MV_DIT_FRAMEPACK) max_seq = m->fp_tokens;
    if (max_batch < 1 || max_seq < 1 || caches < 0 || caches > MV_DIT_MAX_CACHES)
        return mv_fail(MV_ERR_ARG, "dit: workspace for %d x %d tokens with %d caches (at most %d)", max_batch,
                       max_seq, caches, MV_DIT_MAX_CACHES);
    w->model = m;
    w->max_batch = max_batch;
    w->max_seq = max_seq;
    w->caches = m->context_cache ? caches : 0;
    w->bytes = ws_carve(w, m, NULL);
    w->buf = mv_alloc(w->bytes);
    if (!w->buf) {
        size_t bytes = w->bytes;
        memset(w, 0, sizeof *w);
        return mv_fail(MV_ERR_NOMEM, "dit: out of memory for the inference workspace (%.1f MB for %d x %d tokens)",
                       bytes / 1e6, max_batch, max_seq);
    }
    ws_carve(w, m, w->buf);
    return MV_OK;
}

void mv_dit_workspace_free(mv_dit_workspace *w) {
    mv_free(w->buf);
    memset(w, 0, sizeof *w);
}

void mv_dit_workspace_reset(mv_dit_workspace *w) {
    for (int s = 0; s < MV_DIT_MAX_CACHES; s++) w->slot_used[s] = 0;
}

/* FramePack: the model's tokens for B samples given as level-0 tokens (see mv_dit_infer) into the
 * workspace's token arrays; tk receives them. The patch embeddings of every token go to w->emb. */
static mv_status fp_load(const mv_dit *m, mv_dit_workspace *w, mv_dit_tokens *tk, const float *x,
                         const mv_dit_tokens *in) {
    int B = in->B, F = m->fp_frames, T0 = m->grid0 * m->grid0;
    if (B < 1 || B > w->max_batch || in->T != F * T0)
        return mv_fail(MV_ERR_SHAPE, "dit: FramePack takes %d level-0 tokens (%d frames) per sample for up to %d "
                                     "samples, got %d x %d", F * T0, F, w->max_batch, B, in->T);
    if (!in->t || !in->action) return mv_fail(MV_ERR_ARG, "dit: FramePack needs t and action per token");
    for (int f = 0; f < B * F; f++)
        for (int i = 1; i < T0; i++) {
            size_t a = (size_t)f * T0, b = a + i;
            if (memcmp(&in->t[a], &in->t[b], sizeof(float)) || in->action[a] != in->action[b])
                return mv_fail(MV_ERR_ARG, "dit: FramePack needs one t and action per frame (frame %d)", f % F);
        }
    fp_meta(m, w->frame, w->level, w->row, w->col, w->t, w->action, w->ctx, in->t, in->action, T0, B);
    *tk = (mv_dit_tokens){B, m->fp_tokens, w->frame, w->level, w->row, w->col, w->t, w->action, NULL,
                          m->context_cache ? w->ctx : NULL};
    MV_TRY(check_tokens(m, tk, (size_t)w->max_batch * w->max_seq, w->max_seq));
    fp_runs r;
    fp_runs_make(m, &r, B);
    fp_gather(m, &r, w->pin, x, B);
    fp_embed(m, &r, w->emb, w->h /* free until the tokens are embedded */, w->pin, B);
    return MV_OK;
}

/* Embeds the tokens sel [B, Tsel] (indices into each sample's T tokens): w->h [n, D] = patchify +
 * position, the distinct conditions w->cu [U, D] and the row map w->uidx [n]; returns U. */
static int embed_tokens(const mv_dit *m, mv_dit_workspace *w, const mv_dit_tokens *tk, const float *x,
                        const int *sel, int Tsel) {
    int B = tk->B, T = tk->T, C = m->C, D = m->D, n = B * Tsel, fp = m->kind == MV_DIT_FRAMEPACK;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < Tsel; s++) {
            int o = b * Tsel + s;
            size_t src = (size_t)b * T + sel[o];
            w->gframe[o] = w->rel[src], w->grow[o] = tk->row[src], w->gcol[o] = tk->col[src];
            w->gt[o] = tk->t[src], w->glevel[o] = tk->level[src], w->gaction[o] = tk->action[src];
            if (fp) memcpy(w->h + (size_t)o * D, w->emb + src * D, D * sizeof(float));
            else memcpy(w->pin + (size_t)o * C, x + src * C, C * sizeof(float));
        }
    if (!fp)
        linear_forward(w->h, w->pin, mv_params_data(&m->params, m->patch_w[0]),
                       mv_params_data(&m->params, m->patch_b[0]), n, C, D);
    add_pos(w->h, w->pos, w->gframe, w->grow, w->gcol, n, D);
    int U = cond_unique(w->ut, w->ulevel, w->uaction, w->uidx, w->gt, w->glevel, w->gaction, tk->keep_cond, Tsel, n);
    cond_forward(m, w->cu, w->te_in, w->te1, w->te1s, w->ut, w->ulevel, w->uaction, U);
    return U;
}

/* Row of v of token i of a sample: universal i; FramePack the denoised tokens' level-0 rows, -1 for
 * the others (no output). */
static int out_row(const mv_dit *m, int i) {
    if (m->kind != MV_DIT_FRAMEPACK) return i;
    int T0 = m->grid0 * m->grid0, first = m->fp_tokens - m->fp_denoise * T0;
    return i < first ? -1 : (m->fp_frames - m->fp_denoise) * T0 + i - first;
}

/* Runs the tokens sel [B, Tsel] of every sample through the blocks and, if v, the final layer, whose
 * output rows go to v [B, Tv, C] (Tv = the caller's tokens per sample). Attention: with kv (the base of
 * a cache) over the cache's Tc context keys/values plus the tokens' own (Tc = 0: the tokens' own,
 * whose keys/values are stored into the cache); without, the training block with `mask`. */
static void run_tokens(const mv_dit *m, mv_dit_workspace *w, float *v, int Tv, const float *x,
                       const mv_dit_tokens *tk, const int *sel, int Tsel, const uint8_t *mask, float *kv, int Tc) {
    int B = tk->B, D = m->D, C = m->C, n = B * Tsel;
    int U = embed_tokens(m, w, tk, x, sel, Tsel);
    size_t per = (size_t)B * (Tc ? Tc : Tsel) * D, vals = (size_t)m->depth * w->max_batch * w->max_seq * D;
    for (int i = 0; i < m->depth; i++) {
        const mv_block *blk = &m->blocks[i];
        if (!kv) {
            mv_block_forward_rows(blk, &m->params, NULL, w->block, w->h, w->cu, w->uidx, U, mask, B, Tsel);
            continue;
        }
        float *k = kv + i * per, *vv = kv + vals + i * per;
        mv_block_kv c = {k, vv, Tc, Tc ? NULL : k, Tc ? NULL : vv};
        mv_block_forward_kv(blk, &m->params, w->block, w->h, w->cu, w->uidx, U, &c, B, Tsel);
    }
    if (!v) return;
    final_forward(m, w->out, w->fsc, w->fm, w->lnf, w->lmean, w->lrstd, w->modf, w->h, w->cu, w->uidx, U, n);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < Tsel; s++) {
            int r = out_row(m, sel[b * Tsel + s]);
            if (r >= 0)
                memcpy(v + ((size_t)b * Tv + r) * C, w->out + ((size_t)b * Tsel + s) * C, C * sizeof(float));
        }
}

/* The context / other token lists of every sample (sel_ctx [B, Tc], sel_den [B, T - Tc]); every
 * sample needs the same number of context tokens. */
static mv_status split_tokens(mv_dit_workspace *w, const mv_dit_tokens *tk, int *Tc_out) {
    int B = tk->B, T = tk->T, Tc = 0;
    for (int i = 0; i < T; i++) Tc += tk->context[i] != 0;
    for (int b = 0; b < B; b++) {
        int nc = 0, nd = 0;
        for (int i = 0; i < T; i++) {
            if (tk->context[(size_t)b * T + i]) {
                if (nc < Tc) w->sel_ctx[b * Tc + nc] = i;
                nc++;
            } else {
                if (nd < T - Tc) w->sel_den[b * (T - Tc) + nd] = i;
                nd++;
            }
        }
        if (nc != Tc) return mv_fail(MV_ERR_ARG, "dit: samples of a cached batch need equal context counts");
    }
    *Tc_out = Tc;
    return MV_OK;
}

/* The cache whose context inputs equal this call's (the context tokens' input vectors, relative
 * frames, rows, columns, levels, actions as used and t bits: all their keys/values depend on), or the
 * least recently used one, filled with this call's inputs, with *fresh = 1 (its keys/values to be
 * computed). */
static int cache_slot(const mv_dit *m, mv_dit_workspace *w, const mv_dit_tokens *tk, const float *x, int Tc,
                      int *fresh) {
    int fp = m->kind == MV_DIT_FRAMEPACK, B = tk->B, T = tk->T, Kx = fp ? m->D : m->C, n = B * Tc;
    size_t N = (size_t)w->max_batch * w->max_seq, nx = (size_t)n * Kx;
    float *sx = w->sigx + w->caches * N * Kx;
    int *sm = w->sigm + w->caches * N * 6;
    for (int o = 0; o < n; o++) {
        int b = o / Tc;
        size_t src = (size_t)b * T + w->sel_ctx[o];
        memcpy(sx + (size_t)o * Kx, fp ? w->emb + src * Kx : x + src * Kx, Kx * sizeof(float));
        int *r = sm + (size_t)o * 6;
        r[0] = w->rel[src], r[1] = tk->row[src], r[2] = tk->col[src], r[3] = tk->level[src];
        r[4] = (!tk->keep_cond || tk->keep_cond[b]) && tk->action[src] >= 0 ? tk->action[src] : -1;
        memcpy(&r[5], &tk->t[src], sizeof(float));
    }
    int lru = 0;
    for (int s = 0; s < w->caches; s++) {
        if (w->slot_used[s] && w->slot_B[s] == B && w->slot_Tc[s] == Tc &&
            !memcmp(w->sigx + s * N * Kx, sx, nx * sizeof(float)) &&
            !memcmp(w->sigm + s * N * 6, sm, (size_t)n * 6 * sizeof(int))) {
            w->slot_used[s] = ++w->clock;
            *fresh = 0;
            return s;
        }
        if (w->slot_used[s] < w->slot_used[lru]) lru = s;
    }
    memcpy(w->sigx + lru * N * Kx, sx, nx * sizeof(float));
    memcpy(w->sigm + lru * N * 6, sm, (size_t)n * 6 * sizeof(int));
    w->slot_B[lru] = B, w->slot_Tc[lru] = Tc, w->slot_used[lru] = ++w->clock;
    *fresh = 1;
    return lru;
}

mv_status mv_dit_infer(const mv_dit *m, mv_dit_workspace *w, float *v, const float *x, const mv_dit_tokens *in) {
    if (w->model != m) return mv_fail(MV_ERR_ARG, "dit: the inference workspace was made for another model");
    int fp = m->kind == MV_DIT_FRAMEPACK, Tv = in->T;
    mv_dit_tokens fpk = {0};
    const mv_dit_tokens *tk = in;
    if (fp) {
        MV_TRY(fp_load(m, w, &fpk, x, in));
        tk = &fpk;
    } else {
        MV_TRY(check_tokens(m, tk, (size_t)w->max_batch * w->max_seq, w->max_seq));
    }
    int B = tk->B, T = tk->T, Tc = 0;
    frames_relative(w->rel, tk->frame, B, T);
    int use_ctx = m->context_cache && tk->context, masked = use_ctx && !w->caches;
    if (use_ctx && w->caches) MV_TRY(split_tokens(w, tk, &Tc));
    if (fp || Tc) memset(v, 0, (size_t)B * Tv * m->C * sizeof(float));
    if (Tc) { /* context keys/values from the cache (computed if these context inputs are new) */
        int fresh, s = cache_slot(m, w, tk, x, Tc, &fresh);
        float *kv = w->kv + (size_t)s * 2 * m->depth * w->max_batch * w->max_seq * m->D;
        if (fresh) {
            run_tokens(m, w, NULL, Tv, x, tk, w->sel_ctx, Tc, NULL, kv, 0);
            w->builds++;
        }
        if (T > Tc) run_tokens(m, w, v, Tv, x, tk, w->sel_den, T - Tc, NULL, kv, Tc);
        return MV_OK;
    }
    for (int i = 0; i < B * T; i++) w->sel_den[i] = i % T;
    if (masked) build_mask(w->mask, tk->context, B, T);
    run_tokens(m, w, v, Tv, x, tk, w->sel_den, T, masked ? w->mask : NULL, NULL, 0);
    return MV_OK;
}
