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
    m->grid0 = cfg->image_size / cfg->patch;
    m->context_cache = cfg->context_cache;
    m->fp_denoise = cfg->fp_denoise;
    mv_status s = MV_OK;
    if (m->D <= 0 || m->depth <= 0 || m->heads <= 0 || m->D % m->heads || m->levels < 1 ||
        m->levels > MV_MAX_LEVELS || m->C <= 0 || m->grid0 <= 0)
        return mv_fail(MV_ERR_ARG, "dit: invalid sizes (width %d, depth %d, heads %d, levels %d)", m->D,
                       m->depth, m->heads, m->levels);
    if (kind == MV_DIT_FRAMEPACK) {
        m->fp_frames = m->fp_denoise;
        m->fp_tokens = m->fp_denoise * m->grid0 * m->grid0;
        for (int l = 0; l < m->levels; l++) {
            m->fp_context[l] = cfg->fp_context[l];
            if (m->grid0 % (1 << l)) return mv_fail(MV_ERR_ARG, "dit: latent grid %d not divisible by 2^%d", m->grid0, l);
            m->fp_frames += m->fp_context[l];
            m->fp_tokens += m->fp_context[l] * mv_config_tokens(cfg, l);
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
    if (!strcmp(meta.model, "video_framepack")) kind = MV_DIT_FRAMEPACK;
    else if (strcmp(meta.model, "video_universal"))
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
                  a->lnf_rstd, a->modf, a->xin, a->dx, a->dc, a->dtmp, a->dtmp2, a->scratch, a->t, a->ut};
    for (size_t i = 0; i < MV_ARRAY_LEN(f); i++) mv_free(f[i]);
    int *g[] = {a->frame, a->level, a->row, a->col, a->action, a->uidx, a->ulevel, a->uaction};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++) mv_free(g[i]);
    mv_free(a->keep);
    mv_free(a->mask);
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

/* c[n] = TimeEmb(t[n]) + level_emb[level[n]] + (keep ? action_emb[action[n]] : 0), for n tokens
 * (keep_tok NULL = all kept).
 * te_in [n,256], te1 [n,D], te1s [n,D] are saved for backward (may be scratch at inference). */
static void cond_forward(const mv_dit *m, float *c, float *te_in, float *te1, float *te1s,
                         const float *t, const int *level, const int *action, const uint8_t *keep_tok,
                         int n) {
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
        if ((!keep_tok || keep_tok[i]) && action[i] >= 0) {
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

/* The distinct conditions (t bits, level, action or -1 when dropped) of the N tokens into a->ut,
 * a->ulevel, a->uaction (first-seen order) and the token -> row map a->uidx; returns U. c depends on
 * nothing else, so computing it (and every adaLN Linear) per row is exact. */
static int cond_unique(mv_dit_acts *a, int N, int T) {
    int U = 0, last = 0;
    for (int n = 0; n < N; n++) {
        float t = a->t[n];
        int l = a->level[n], ac = a->keep[n / T] && a->action[n] >= 0 ? a->action[n] : -1;
        int u = last; /* neighbours usually share the row: try the last one first */
        if (!(u < U && !memcmp(&a->ut[u], &t, sizeof t) && a->ulevel[u] == l && a->uaction[u] == ac))
            for (u = 0; u < U; u++)
                if (!memcmp(&a->ut[u], &t, sizeof t) && a->ulevel[u] == l && a->uaction[u] == ac) break;
        if (u == U) a->ut[U] = t, a->ulevel[U] = l, a->uaction[U] = ac, U++;
        a->uidx[n] = last = u;
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
    int U = a->U = cond_unique(a, N, T);
    cond_forward(m, a->c, a->te_in, a->te1, a->te1s, a->ut, a->ulevel, a->uaction, NULL, U);
    const uint8_t *mask = a->use_mask ? a->mask : NULL;
    for (int i = 0; i < m->depth; i++)
        mv_block_forward_rows(&m->blocks[i], &m->params, &a->blocks[i], a->scratch, a->x, a->c, a->uidx, U,
                              mask, B, T);
    final_forward(m, out, a->sc, a->fm, a->lnf, a->lnf_mean, a->lnf_rstd, a->modf, a->x, a->c, a->uidx, U, N);
}

static void build_mask(mv_dit_acts *a, const uint8_t *ctx, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            uint8_t *row = a->mask + ((size_t)b * T + i) * T;
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
    if (a->use_mask) build_mask(a, tk->context, tk->B, tk->T);
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
        int g = m->grid0 >> l;
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
        int g = m->grid0 >> l, n = r.tok0[l];
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

/* Per-token metadata of B FramePack samples into the given arrays. */
static void fp_meta(const mv_dit *m, int *frame, int *level, int *row, int *col, float *tt, int *act,
                    uint8_t *ctx, const float *t, const int *action, int B) {
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
            tt[o] = t[(size_t)b * m->fp_frames + frame[n]];
            act[o] = action[(size_t)b * m->fp_frames + frame[n]];
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
    uint8_t *ctx = m->context_cache ? malloc(N) : NULL;
    if (m->context_cache && !ctx) return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
    fp_meta(m, a->frame, a->level, a->row, a->col, a->t, a->action, ctx, t, action, B);
    mv_dit_tokens tk = {B, T, a->frame, a->level, a->row, a->col, a->t, a->action, NULL, ctx};
    mv_status s = load_tokens(m, a, &tk);
    free(ctx);
    if (s) return s;
    fp_runs r;
    fp_runs_make(m, &r, B);
    fp_gather(m, &r, a->xin, x, B);
    fp_embed(m, &r, a->x, a->dtmp, a->xin, B);
    float *out = a->dtmp2 + (size_t)N; /* [N, C] fits in the [N, 2D] buffer after the keep bytes */
    core_forward(m, a, out, B, T);
    fp_copy_denoised(m, v, out, B);
    return MV_OK;
}

void mv_dit_fp_backward(mv_dit *m, mv_dit_acts *a, const float *dv) {
    int B = a->B, T = m->fp_tokens, N = B * T, C = m->C, D = m->D, Tden = m->fp_denoise * m->grid0 * m->grid0;
    float *dout = calloc((size_t)N * C, sizeof(float));
    MV_ASSERT(dout);
    for (int b = 0; b < B; b++)
        memcpy(dout + ((size_t)b * T + T - Tden) * C, dv + (size_t)b * Tden * C, (size_t)Tden * C * sizeof(float));
    core_backward(m, a, dout);
    free(dout);
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

/* ------------------------------------------------------------------ cached sampling path */

/* Attention of Tq queries over Tc cached keys then the Tq own keys (all allowed), through GEMMs: the
 * scores of the two key sets go side by side into sc [Tq, Tc + Tq] (no copy of the cache), one softmax,
 * then out = P[:, :Tc] vc + P[:, Tc:] v. out, q, k, v: [B, Tq, D]; kc, vc: [B, Tc, D]; head-major. */
static void attend_cached(float *out, const float *q, const float *k, const float *v, const float *kc,
                          const float *vc, float *sc, int B, int Tq, int Tc, int H, int dh) {
    int D = H * dh, S = Tc + Tq;
    float scale = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < B; b++) {
        const float *kcb = kc + (size_t)b * Tc * D, *vcb = vc + (size_t)b * Tc * D;
        const float *kb = k + (size_t)b * Tq * D, *vb = v + (size_t)b * Tq * D;
        for (int h = 0; h < H; h++) {
            const float *qh = q + (size_t)b * Tq * D + h * dh;
            float *oh = out + (size_t)b * Tq * D + h * dh;
            if (Tc) mv_sgemm(0, 1, Tq, Tc, dh, scale, qh, D, kcb + h * dh, D, 0.0f, sc, S);
            mv_sgemm(0, 1, Tq, Tq, dh, scale, qh, D, kb + h * dh, D, 0.0f, sc + Tc, S);
            softmax_rows(sc, Tq, S, S);
            if (Tc) mv_sgemm(0, 0, Tq, dh, Tc, 1.0f, sc, S, vcb + h * dh, D, 0.0f, oh, D);
            mv_sgemm(0, 0, Tq, dh, Tq, 1.0f, sc + Tc, S, vb + h * dh, D, Tc ? 1.0f : 0.0f, oh, D);
        }
    }
}

/* Linear(SiLU(cu)) for the U distinct conditions, expanded to one row per token: out [n, O]. */
static void ada_expand(float *out, float *tmp_sc, float *tmp_u, const float *cu, const int *uidx, int U, int n,
                       const float *w, const float *b, int D, int O) {
    silu_forward(tmp_sc, cu, (size_t)U * D);
    linear_forward(tmp_u, tmp_sc, w, b, U, D, O);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * O, tmp_u + (size_t)uidx[i] * O, (size_t)O * sizeof(float));
}

/* block_infer scratch for n = B*Tq query tokens attending over at most S keys per sample. */
static size_t infer_work_floats(int D, size_t n, size_t Tq, size_t S) {
    return n * (size_t)(24 * D + 4) + MV_MAX(Tq * S, n * 64 /* lse */);
}

/* One adaLN-Zero block (§0) for inference on Tq tokens per sample that attend to Tc cached
 * context keys/values plus themselves. x [B, Tq, D] updated in place;
 * kout/vout [B, Tq, D] receive this block's normalised keys and values (may be NULL).
 * Conditions: cu [U, D] distinct rows, uidx [B*Tq] the row of every token. */
static void block_infer(const mv_dit *m, int bi, float *x, const float *cu, const int *uidx, int U,
                        const float *kc, const float *vc, float *kout, float *vout, float *work, int B, int Tq,
                        int Tc) {
    const mv_block *blk = &m->blocks[bi];
    const mv_params *p = &m->params;
    int D = m->D, H = m->heads, dh = D / H;
    size_t n = (size_t)B * Tq, nD = n * D;
    float *sc = work, *ada = sc + nD, *ln = ada + 6 * nD, *mod = ln + nD, *qkv = mod + nD, *q = qkv + 3 * nD,
          *k = q + nD, *v = k + nD, *att = v + nD, *h = att + nD /* 4nD */, *mean = h + 4 * nD,
          *rstd = mean + n, *rr = rstd + n /* [n*H] */, *scores = h + 4 * nD + 2 * n + 4 * nD /* past rr */;
    float *qn = ln, *kn = mod, *proj = sc, *hg = qkv; /* reuse dead buffers; qkv+3nD .. covered */
    ada_expand(ada, sc, qkv /* 6 nD: qkv, q, k, v, dead until below */, cu, uidx, U, (int)n,
               mv_params_data(p, blk->ada_w), mv_params_data(p, blk->ada_b), D, 6 * D);
    layernorm_forward(ln, mean, rstd, x, NULL, NULL, (int)n, D, LN_EPS);
    modulate_forward(mod, ln, ada, ada + D, 6 * D, (int)n, D);
    const float *wqkv = mv_params_data(p, blk->qkv_w), *bqkv = mv_params_data(p, blk->qkv_b);
    float *qkv_out[3] = {q, k, v};
    for (int j = 0; j < 3; j++) /* the q, k, v thirds of attn.qkv as three GEMMs */
        linear_forward(qkv_out[j], mod, wqkv + (size_t)j * D * D, bqkv + (size_t)j * D, (int)n, D, D);
    rmsnorm_forward(qn, rr, q, mv_params_data(p, blk->qnorm_w), (int)(n * H), dh, RMS_EPS);
    rmsnorm_forward(kn, rr, k, mv_params_data(p, blk->knorm_w), (int)(n * H), dh, RMS_EPS);
    if (kout) memcpy(kout, kn, nD * sizeof(float));
    if (vout) memcpy(vout, v, nD * sizeof(float));
    if (Tc) attend_cached(att, qn, kn, v, kc, vc, scores, B, Tq, Tc, H, dh);
    else attention_forward(att, scores /* lse [B, H, Tq] */, qn, kn, v, NULL, B, Tq, H, dh);
    linear_forward(proj, att, mv_params_data(p, blk->proj_w), mv_params_data(p, blk->proj_b), (int)n, D, D);
    gate_residual_forward(x, ada + 2 * D, proj, 6 * D, (int)n, D);
    layernorm_forward(ln, mean, rstd, x, NULL, NULL, (int)n, D, LN_EPS);
    modulate_forward(mod, ln, ada + 3 * D, ada + 4 * D, 6 * D, (int)n, D);
    linear_forward(h, mod, mv_params_data(p, blk->fc1_w), mv_params_data(p, blk->fc1_b), (int)n, D, 4 * D);
    mv_block_gelu_forward(hg, h, 4 * nD); /* hg spans qkv, q (4 nD), dead by now */
    linear_forward(att, hg, mv_params_data(p, blk->fc2_w), mv_params_data(p, blk->fc2_b), (int)n, 4 * D, D);
    gate_residual_forward(x, ada + 5 * D, att, 6 * D, (int)n, D);
}

/* Embeds the selected tokens (idx [B, Tsel] into each sample's T tokens): e [B*Tsel, D] (patchify +
 * position) and the conditions. c depends only on (t, level, action if kept), so it is computed once per
 * distinct condition: cu [U, D] and uidx [B*Tsel] (row of cu of every token); returns U.
 * e_all [B*T, D]: patch embeddings of all tokens (FramePack) or NULL (universal: from x [B, T, C]). */
static int embed_subset(const mv_dit *m, float *e, float *cu, int *uidx, float *work, const int *idx, int Tsel,
                        const float *x, const float *e_all, const mv_dit_tokens *tk) {
    int B = tk->B, T = tk->T, D = m->D, n = B * Tsel, U = 0;
    int *ib = malloc((size_t)n * 6 * sizeof(int));
    float *tt = malloc((size_t)n * sizeof(float));
    uint8_t *keep = malloc((size_t)n);
    int *rel = malloc((size_t)B * T * sizeof(int));
    MV_ASSERT(ib && tt && keep && rel);
    int *fr = ib, *lv = ib + n, *rw = ib + 2 * n, *cl = ib + 3 * n, *ac = ib + 4 * n, *ul = ib + 5 * n;
    frames_relative(rel, tk->frame, B, T);
    float *xs = work; /* [n, C] */
    for (int b = 0; b < B; b++)
        for (int s = 0; s < Tsel; s++) {
            int o = b * Tsel + s;
            size_t src = (size_t)b * T + idx[o];
            fr[o] = rel[src];
            rw[o] = tk->row[src];
            cl[o] = tk->col[src];
            if (e_all) memcpy(e + (size_t)o * D, e_all + src * D, D * sizeof(float));
            else memcpy(xs + (size_t)o * m->C, x + src * m->C, m->C * sizeof(float));
            /* distinct conditions: (t, level, action or -1 when dropped) */
            float t = tk->t[src];
            int l = tk->level[src], a = (tk->keep_cond && !tk->keep_cond[b]) ? -1 : tk->action[src];
            int u = 0;
            while (u < U && !(tt[u] == t && ul[u] == l && ac[u] == a)) u++;
            if (u == U) tt[U] = t, ul[U] = l, ac[U] = a, keep[U] = 1, U++;
            uidx[o] = u;
        }
    (void)lv;
    if (!e_all)
        linear_forward(e, xs, mv_params_data(&m->params, m->patch_w[0]), mv_params_data(&m->params, m->patch_b[0]),
                       n, m->C, D);
    float *te_in = work, *te1 = te_in + (size_t)n * TEMB_DIM, *te1s = te1 + (size_t)n * D;
    add_pos(e, te_in, fr, rw, cl, n, D);
    cond_forward(m, cu, te_in, te1, te1s, tt, ul, ac, keep, U);
    free(ib);
    free(tt);
    free(keep);
    free(rel);
    return U;
}

/* Final layer for inference: out [n, C] from features x [n, D] and the distinct conditions. */
static void final_infer(const mv_dit *m, float *out, float *work, const float *x, const float *cu, const int *uidx,
                        int U, int n) {
    const mv_params *p = &m->params;
    size_t nD = (size_t)n * m->D;
    float *fm = work, *sc = fm + 2 * nD, *fu = sc + nD, *lnf = fu + 2 * nD, *modf = lnf + nD, *mean = modf + nD,
          *rstd = mean + n;
    ada_expand(fm, sc, fu, cu, uidx, U, n, mv_params_data(p, m->final_ada_w), mv_params_data(p, m->final_ada_b),
               m->D, 2 * m->D);
    layernorm_forward(lnf, mean, rstd, x, NULL, NULL, n, m->D, LN_EPS);
    modulate_forward(modf, lnf, fm, fm + m->D, 2 * m->D, n, m->D);
    linear_forward(out, modf, mv_params_data(p, m->final_w), mv_params_data(p, m->final_b), n, m->D, m->C);
}

void mv_dit_cache_free(mv_dit_cache *cache) {
    free(cache->uidx);
    free(cache->ctx_idx);
    free(cache->den_idx);
    mv_free(cache->k);
    mv_free(cache->v);
    mv_free(cache->work);
    memset(cache, 0, sizeof *cache);
}

/* Splits each sample's tokens into context / other index lists (equal counts across samples). */
static mv_status cache_split(mv_dit_cache *cache, const mv_dit_tokens *tk) {
    int B = tk->B, T = tk->T, Tc = 0;
    if (!tk->context) return mv_fail(MV_ERR_ARG, "dit: the context cache needs the token roles");
    for (int i = 0; i < T; i++) Tc += tk->context[i] != 0;
    free(cache->ctx_idx);
    free(cache->den_idx);
    cache->ctx_idx = malloc((size_t)B * MV_MAX(Tc, 1) * sizeof(int));
    cache->den_idx = malloc((size_t)B * MV_MAX(T - Tc, 1) * sizeof(int));
    if (!cache->ctx_idx || !cache->den_idx) return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
    for (int b = 0; b < B; b++) {
        int nc = 0, nd = 0;
        for (int i = 0; i < T; i++) {
            if (tk->context[(size_t)b * T + i]) {
                if (nc < Tc) cache->ctx_idx[b * Tc + nc] = i;
                nc++;
            } else {
                if (nd < T - Tc) cache->den_idx[b * (T - Tc) + nd] = i;
                nd++;
            }
        }
        if (nc != Tc) return mv_fail(MV_ERR_ARG, "dit: samples of a cached batch need equal context counts");
    }
    cache->B = B;
    cache->Tc = Tc;
    cache->Td = T - Tc;
    return MV_OK;
}

static mv_status cache_reserve(const mv_dit *m, mv_dit_cache *cache, int B, int T) {
    size_t need = MV_MAX(infer_work_floats(m->D, (size_t)B * T, T, T), (size_t)B * T * (TEMB_DIM + 3 * m->D + m->C));
    need += 2 * (size_t)B * T * m->D; /* x and c of the processed tokens */
    if (cache->work_floats < need) {
        mv_free(cache->work);
        free(cache->uidx);
        cache->work_floats = 0;
        cache->work = mv_alloc(need * sizeof(float));
        cache->uidx = malloc((size_t)B * T * sizeof(int));
        if (!cache->work || !cache->uidx) return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
        cache->work_floats = need;
    }
    size_t kv = (size_t)m->depth * B * MV_MAX(cache->Tc, 1) * m->D;
    mv_free(cache->k);
    mv_free(cache->v);
    cache->k = mv_alloc(kv * sizeof(float));
    cache->v = mv_alloc(kv * sizeof(float));
    if (!cache->k || !cache->v) return mv_fail(MV_ERR_NOMEM, "dit: out of memory for the context cache");
    cache->depth = m->depth;
    cache->D = m->D;
    return MV_OK;
}

/* Runs the tokens idx [B, Tsel] of every sample through the blocks; they attend to the cache's
 * Tc context keys/values (Tc = 0: only to themselves). store_kv: keep their keys/values as the cache.
 * out (may be NULL): the final layer's v for these tokens, written at their rows of out [B, T, C]. */
static void run_subset(const mv_dit *m, mv_dit_cache *cache, float *out, const float *x, const float *e_all,
                       const mv_dit_tokens *tk, const int *idx, int Tsel, int Tc, int store_kv) {
    int B = tk->B, T = tk->T, D = m->D, n = B * Tsel;
    size_t nD = (size_t)B * cache->Tc * D;
    float *xs = cache->work, *cu = xs + (size_t)B * T * D, *work = cu + (size_t)B * T * D;
    int U = embed_subset(m, xs, cu, cache->uidx, work, idx, Tsel, x, e_all, tk);
    for (int i = 0; i < m->depth; i++) {
        const float *kc = Tc ? cache->k + i * nD : NULL, *vc = Tc ? cache->v + i * nD : NULL;
        block_infer(m, i, xs, cu, cache->uidx, U, kc, vc, store_kv ? cache->k + i * nD : NULL,
                    store_kv ? cache->v + i * nD : NULL, work, B, Tsel, Tc);
    }
    if (!out) return;
    float *o = work + 7 * (size_t)n * D + 2 * (size_t)n; /* after final_infer's scratch */
    final_infer(m, o, work, xs, cu, cache->uidx, U, n);
    for (int b = 0; b < B; b++)
        for (int s = 0; s < Tsel; s++)
            memcpy(out + ((size_t)b * T + idx[b * Tsel + s]) * m->C, o + ((size_t)b * Tsel + s) * m->C,
                   m->C * sizeof(float));
}

static mv_status cache_build_common(const mv_dit *m, mv_dit_cache *cache, const float *x, const float *e_all,
                                    const mv_dit_tokens *tk) {
    if (!m->context_cache) return mv_fail(MV_ERR_ARG, "dit: model was not trained with dit.context_cache=1");
    MV_TRY(check_tokens(m, tk, (size_t)tk->B * tk->T, tk->T));
    MV_TRY(cache_split(cache, tk));
    MV_TRY(cache_reserve(m, cache, tk->B, tk->T));
    if (cache->Tc) run_subset(m, cache, NULL, x, e_all, tk, cache->ctx_idx, cache->Tc, 0, 1);
    return MV_OK;
}

static mv_status forward_cached_common(const mv_dit *m, mv_dit_cache *cache, float *out, const float *x,
                                       const float *e_all, const mv_dit_tokens *tk) {
    MV_TRY(check_tokens(m, tk, (size_t)tk->B * tk->T, tk->T));
    int B = tk->B, T = tk->T, Tc = cache->Tc, Td = cache->Td;
    if (B != cache->B || T != Tc + Td) return mv_fail(MV_ERR_SHAPE, "dit: tokens do not match the context cache");
    memset(out, 0, (size_t)B * T * m->C * sizeof(float));
    if (Td) run_subset(m, cache, out, x, e_all, tk, cache->den_idx, Td, Tc, 0);
    return MV_OK;
}

/* Inference forward of all tokens without a cache (models without context_cache). */
static mv_status forward_infer_common(const mv_dit *m, mv_dit_cache *work, float *out, const float *x,
                                      const float *e_all, const mv_dit_tokens *tk) {
    if (m->context_cache) return mv_fail(MV_ERR_ARG, "dit: context-cache models use the cached path");
    MV_TRY(check_tokens(m, tk, (size_t)tk->B * tk->T, tk->T));
    int B = tk->B, T = tk->T;
    if (work->B != B || work->Tc + work->Td != T || work->Tc != 0) {
        free(work->den_idx);
        work->den_idx = malloc((size_t)B * T * sizeof(int));
        if (!work->den_idx) return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
        for (int i = 0; i < B * T; i++) work->den_idx[i] = i % T;
        work->B = B, work->Tc = 0, work->Td = T;
        MV_TRY(cache_reserve(m, work, B, T));
    }
    run_subset(m, work, out, x, e_all, tk, work->den_idx, T, 0, 0);
    return MV_OK;
}

mv_status mv_dit_forward_infer(const mv_dit *m, mv_dit_cache *work, float *v, const float *x, const mv_dit_tokens *tk) {
    if (m->kind != MV_DIT_UNIVERSAL) return mv_fail(MV_ERR_ARG, "dit: mv_dit_forward_infer needs a universal model");
    return forward_infer_common(m, work, v, x, NULL, tk);
}

mv_status mv_dit_cache_build(const mv_dit *m, mv_dit_cache *cache, const float *x, const mv_dit_tokens *tk) {
    if (m->kind != MV_DIT_UNIVERSAL) return mv_fail(MV_ERR_ARG, "dit: mv_dit_cache_build needs a universal model");
    return cache_build_common(m, cache, x, NULL, tk);
}

mv_status mv_dit_forward_cached(const mv_dit *m, mv_dit_cache *cache, float *v, const float *x,
                                const mv_dit_tokens *tk) {
    if (m->kind != MV_DIT_UNIVERSAL) return mv_fail(MV_ERR_ARG, "dit: mv_dit_forward_cached needs a universal model");
    return forward_cached_common(m, cache, v, x, NULL, tk);
}

/* FramePack cached path: token metadata + patch embeddings of all tokens, then the common path. */
typedef struct {
    int *meta; /* frame, level, row, col, action: 5 x [N] */
    float *t, *e, *xin, *out;
    uint8_t *ctx;
    mv_dit_tokens tk;
} fp_prep;

static mv_status fp_prepare(const mv_dit *m, fp_prep *fp, const float *x, const float *t, const int *action, int B) {
    int T = m->fp_tokens, N = B * T;
    memset(fp, 0, sizeof *fp);
    fp->meta = malloc((size_t)N * 5 * sizeof(int));
    fp->t = malloc((size_t)N * sizeof(float));
    fp->ctx = malloc((size_t)N);
    fp->e = mv_alloc((size_t)N * m->D * sizeof(float));
    fp->xin = mv_alloc(fp_xin_floats(m, B) * sizeof(float));
    fp->out = mv_alloc((size_t)N * (m->C + m->D) * sizeof(float));
    if (!fp->meta || !fp->t || !fp->ctx || !fp->e || !fp->xin || !fp->out)
        return mv_fail(MV_ERR_NOMEM, "dit: out of memory");
    int *fr = fp->meta, *lv = fr + N, *rw = lv + N, *cl = rw + N, *ac = cl + N;
    fp_meta(m, fr, lv, rw, cl, fp->t, ac, fp->ctx, t, action, B);
    mv_dit_tokens tk = {B, T, fr, lv, rw, cl, fp->t, ac, NULL, fp->ctx};
    fp->tk = tk;
    MV_TRY(check_tokens(m, &tk, (size_t)N, T));
    fp_runs r;
    fp_runs_make(m, &r, B);
    fp_gather(m, &r, fp->xin, x, B);
    fp_embed(m, &r, fp->e, fp->out, fp->xin, B);
    return MV_OK;
}

static void fp_prep_free(fp_prep *fp) {
    free(fp->meta);
    free(fp->t);
    free(fp->ctx);
    mv_free(fp->e);
    mv_free(fp->xin);
    mv_free(fp->out);
}

mv_status mv_dit_fp_cache_build(const mv_dit *m, mv_dit_cache *cache, const float *x, const float *t,
                                const int *action, int B) {
    if (m->kind != MV_DIT_FRAMEPACK) return mv_fail(MV_ERR_ARG, "dit: mv_dit_fp_cache_build needs a FramePack model");
    fp_prep fp;
    mv_status s = fp_prepare(m, &fp, x, t, action, B);
    if (!s) s = cache_build_common(m, cache, NULL, fp.e, &fp.tk);
    fp_prep_free(&fp);
    return s;
}

mv_status mv_dit_fp_forward_infer(const mv_dit *m, mv_dit_cache *work, float *v, const float *x, const float *t,
                                  const int *action, int B) {
    if (m->kind != MV_DIT_FRAMEPACK) return mv_fail(MV_ERR_ARG, "dit: mv_dit_fp_forward_infer needs a FramePack model");
    fp_prep fp;
    mv_status s = fp_prepare(m, &fp, x, t, action, B);
    if (!s) s = forward_infer_common(m, work, fp.out, NULL, fp.e, &fp.tk);
    if (!s) fp_copy_denoised(m, v, fp.out, B);
    fp_prep_free(&fp);
    return s;
}

mv_status mv_dit_fp_forward_cached(const mv_dit *m, mv_dit_cache *cache, float *v, const float *x,
                                   const float *t, const int *action, int B) {
    if (m->kind != MV_DIT_FRAMEPACK) return mv_fail(MV_ERR_ARG, "dit: mv_dit_fp_forward_cached needs a FramePack model");
    fp_prep fp;
    mv_status s = fp_prepare(m, &fp, x, t, action, B);
    if (!s) s = forward_cached_common(m, cache, fp.out, NULL, fp.e, &fp.tk);
    if (!s) fp_copy_denoised(m, v, fp.out, B);
    fp_prep_free(&fp);
    return s;
}
