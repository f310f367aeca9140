/* Video DiT (universal + FramePack):
 *  - the official reference vectors (../shared/reference/official_tiny.safetensors, *.fp32 outputs)
 *    loaded under the official key names reproduce the official outputs (universal with and without
 *    conditioning, FramePack);
 *  - against the PyTorch twin (tools/dit_twin.py): v-prediction, masked loss and every parameter
 *    gradient of one training step, for universal (plain and context-cache mask) and FramePack;
 *  - the cached sampling path equals the masked full forward;
 *  - parameter names / counts / official init; bad token input is refused;
 *  - the bf16 matmul option (core/gemm.h): linear forward/backward close to fp32 (and, where the CPU
 *    runs the bf16 path, equal to fp32 maths on bf16-rounded operands); a few training steps give
 *    losses within 1% of fp32. */
#include <math.h>

#include "io/config.h"
#include "core/core.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "io/tensorfile.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "nn/nn.h"
#include "testutil.h"

static void fill(mv_rng *r, float *x, size_t n, float scale) {
    mv_rng_normal(r, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

static mv_config tiny_config(int levels, int image, int patch, int C, int D, int depth, int heads) {
    mv_config c;
    if (mv_config_load(&c, "mini")) memset(&c, 0, sizeof c);
    c.levels = levels;
    c.image_size = image;
    c.patch = patch;
    c.latent_channels = C;
    c.dit_width = D;
    c.dit_depth = depth;
    c.dit_heads = heads;
    c.context_cache = 0;
    return c;
}

/* ------------------------------------------------------------------ official reference vectors */

static void test_official(void) {
    mv_safetensors f;
    if (mv_st_open(&f, tu_official_ref())) {
        CHECK(0, "open reference: %s", mv_last_error());
        return;
    }
    mv_config cfg = tiny_config(3, 32, 4, 8, 48, 2, 2);
    cfg.fp_context[0] = 1, cfg.fp_context[1] = 4, cfg.fp_context[2] = 16, cfg.fp_denoise = 1;
    mv_dit u, fp;
    CHECK(mv_dit_create(&u, &cfg, MV_DIT_UNIVERSAL, 0) == MV_OK, "create: %s", mv_last_error());
    CHECK(mv_dit_create(&fp, &cfg, MV_DIT_FRAMEPACK, 0) == MV_OK, "create fp: %s", mv_last_error());
    size_t nu = 0, nf = 0;
    for (int i = 0; i < u.params.count; i++) nu += u.params.info[i].numel;
    for (int i = 0; i < fp.params.count; i++) nf += fp.params.info[i].numel;
    CHECK(u.params.count == 36 && nu == 104984, "universal tiny: %d tensors %zu values", u.params.count, nu);
    CHECK(fp.params.count == 40 && nf == 112760, "framepack tiny: %d tensors %zu values", fp.params.count, nf);
    CHECK(mv_st_load_params(&f, &u.params, u.params.data, "uni.", 1) == MV_OK, "load uni: %s", mv_last_error());
    CHECK(mv_st_load_params(&f, &fp.params, fp.params.data, "fp.", 1) == MV_OK, "load fp: %s", mv_last_error());

    /* universal: 256 tokens of MilliVid step 3 of w = [1,4,16] */
    const int T = 256, C = 8;
    int *idx = malloc(T * 4 * sizeof(int)), *fr = malloc(T * sizeof(int)), *lv = malloc(T * sizeof(int)),
        *rw = malloc(T * sizeof(int)), *cl = malloc(T * sizeof(int)), *ac = malloc(T * sizeof(int));
    float *x = malloc(T * C * 4), *t = malloc(T * 4), *tu = malloc(T * 4), *act = malloc(T * 6 * 4),
          *v = malloc(T * C * 4), *want = malloc(T * C * 4);
    const mv_tensor_view *iv = mv_st_find(&f, "uni.in.indices_flhw");
    CHECK(iv && iv->dtype == MV_DT_I32, "indices tensor");
    if (iv) memcpy(idx, iv->data, T * 4 * sizeof(int));
    mv_st_read_f32(&f, "uni.in.x_t", x, T * C);
    mv_st_read_f32(&f, "uni.in.t", t, T);
    mv_st_read_f32(&f, "uni.in.t_uncond", tu, T);
    mv_st_read_f32(&f, "uni.in.actions", act, T * 6);
    for (int n = 0; n < T; n++) {
        fr[n] = idx[n * 4], lv[n] = idx[n * 4 + 1], rw[n] = idx[n * 4 + 2], cl[n] = idx[n * 4 + 3];
        ac[n] = (int)act[n * 6];
    }
    mv_dit_acts a;
    CHECK(mv_dit_acts_alloc(&a, &u, 1, T) == MV_OK, "acts");
    uint8_t keep = 1;
    mv_dit_tokens tk = {1, T, fr, lv, rw, cl, t, ac, &keep, NULL};
    CHECK(mv_dit_forward(&u, &a, v, x, &tk) == MV_OK, "forward: %s", mv_last_error());
    mv_st_read_f32(&f, "uni.out.v_keep.fp32", want, T * C);
    CHECK(tu_close("official universal v (keep_cond)", v, want, T * C, 2e-5, 1e-4), "v_keep");
    keep = 0;
    tk.t = tu;
    CHECK(mv_dit_forward(&u, &a, v, x, &tk) == MV_OK, "forward: %s", mv_last_error());
    mv_st_read_f32(&f, "uni.out.v_drop.fp32", want, T * C);
    CHECK(tu_close("official universal v (dropped cond)", v, want, T * C, 2e-5, 1e-4), "v_drop");
    mv_dit_acts_free(&a);

    /* FramePack: x_t [1, 22, C, 8, 8] channel-major -> token-major [1, 22, 64, C] */
    const int Fr = 22, T0 = 64;
    float *xf = malloc(Fr * T0 * C * 4), *xt = malloc(Fr * T0 * C * 4), *tf = malloc(Fr * 4),
          *af = malloc(Fr * 6 * 4), *vf = malloc(T0 * C * 4), *wf = malloc(T0 * C * 4), *wt = malloc(T0 * C * 4);
    int *aid = malloc(Fr * sizeof(int));
    mv_st_read_f32(&f, "fp.in.x_t", xf, Fr * T0 * C);
    mv_st_read_f32(&f, "fp.in.t", tf, Fr);
    mv_st_read_f32(&f, "fp.in.actions", af, Fr * 6);
    mv_st_read_f32(&f, "fp.out.v.fp32", wf, T0 * C);
    for (int fi = 0; fi < Fr; fi++) {
        aid[fi] = (int)af[fi * 6];
        for (int c = 0; c < C; c++)
            for (int p = 0; p < T0; p++) xt[(fi * T0 + p) * C + c] = xf[(fi * C + c) * T0 + p];
    }
    for (int c = 0; c < C; c++)
        for (int p = 0; p < T0; p++) wt[p * C + c] = wf[c * T0 + p];
    CHECK(fp.fp_frames == Fr && fp.fp_tokens == 256, "fp layout %d frames %d tokens", fp.fp_frames, fp.fp_tokens);
    CHECK(mv_dit_acts_alloc(&a, &fp, 1, fp.fp_tokens) == MV_OK, "acts fp");
    CHECK(mv_dit_fp_forward(&fp, &a, vf, xt, tf, aid, 1) == MV_OK, "fp forward: %s", mv_last_error());
    CHECK(tu_close("official FramePack v", vf, wt, T0 * C, 2e-5, 1e-4), "fp v");
    mv_dit_acts_free(&a);

    free(idx), free(fr), free(lv), free(rw), free(cl), free(ac), free(x), free(t), free(tu), free(act);
    free(v), free(want), free(xf), free(xt), free(tf), free(af), free(vf), free(wf), free(wt), free(aid);
    mv_dit_free(&u);
    mv_dit_free(&fp);
    mv_st_close(&f);
}

/* ------------------------------------------------------------------ paper sizes (§2.4) */

static void test_paper_counts(void) {
    mv_config cfg;
    CHECK(mv_config_load(&cfg, "paper") == MV_OK, "paper config: %s", mv_last_error());
    const int want_t[2] = {156, 162};
    const size_t want_n[2] = {129566240, 131632928};
    for (int kind = 0; kind < 2; kind++) {
        mv_dit m;
        if (mv_dit_create(&m, &cfg, (mv_dit_kind)kind, 0)) {
            CHECK(0, "paper create: %s", mv_last_error());
            continue;
        }
        size_t n = 0;
        for (int i = 0; i < m.params.count; i++) n += m.params.info[i].numel;
        CHECK(m.params.count == want_t[kind] && n == want_n[kind], "paper %s: %d tensors, %zu values",
              mv_dit_kind_name(m.kind), m.params.count, n);
        if (kind) CHECK(m.fp_tokens == 3840 && m.fp_frames == 258, "paper FramePack %d tokens %d frames", m.fp_tokens, m.fp_frames);
        mv_dit_free(&m);
    }
}

/* ------------------------------------------------------------------ init */

static void test_init(void) {
    mv_config cfg = tiny_config(4, 64, 8, 16, 48, 2, 4);
    mv_dit m;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 0) == MV_OK, "create: %s", mv_last_error());
    mv_dit_init_weights(&m, 5);
    const mv_params *p = &m.params;
    CHECK(!strcmp(p->info[0].name, "dit.dit.dit.blocks.0.attn.qkv.weight"), "first key %s", p->info[0].name);
    CHECK(mv_params_find(p, "dit.dit.level_embedding.weight") >= 0 &&
              p->info[m.level_emb].shape[0] == 4, "level embedding [L, D]");
    double s0 = 0, s1 = 0, s2 = 0;
    for (size_t i = 0; i < p->info[m.final_w].numel; i++) s0 += fabsf(mv_params_data(p, m.final_w)[i]);
    for (size_t i = 0; i < p->info[m.final_ada_w].numel; i++) s0 += fabsf(mv_params_data(p, m.final_ada_w)[i]);
    for (size_t i = 0; i < p->info[m.temb0_w].numel; i++) s1 += mv_params_data(p, m.temb0_w)[i] * mv_params_data(p, m.temb0_w)[i];
    s1 = sqrt(s1 / p->info[m.temb0_w].numel);
    for (size_t i = 0; i < p->info[m.action_emb].numel; i++) s2 += mv_params_data(p, m.action_emb)[i] * mv_params_data(p, m.action_emb)[i];
    s2 = sqrt(s2 / p->info[m.action_emb].numel);
    CHECK(s0 == 0, "final layer zero-initialised");
    CHECK(fabs(s1 - 0.02) < 0.004, "time MLP std %g (0.02)", s1);
    CHECK(fabs(s2 - 1.0) < 0.2, "action embedding std %g (1)", s2);
    mv_dit_free(&m);
}

/* ------------------------------------------------------------------ twin */

typedef struct {
    int B, T;
    int *frame, *level, *row, *col, *action;
    float *x, *t, *target, *lossmask;
    uint8_t *keep, *ctx;
} uni_case;

static void uni_case_make(uni_case *u, mv_rng *r, int B, int T, int C, int levels, int grid0, int nctx) {
    int N = B * T;
    u->B = B, u->T = T;
    u->frame = malloc(N * sizeof(int)), u->level = malloc(N * sizeof(int)), u->row = malloc(N * sizeof(int));
    u->col = malloc(N * sizeof(int)), u->action = malloc(N * sizeof(int));
    u->x = malloc(N * C * 4), u->t = malloc(N * 4), u->target = malloc(N * C * 4), u->lossmask = malloc(N * 4);
    u->keep = malloc(B), u->ctx = malloc(N);
    fill(r, u->x, N * C, 1.0f);
    fill(r, u->target, N * C, 1.0f);
    for (int b = 0; b < B; b++) {
        u->keep[b] = (uint8_t)(b % 2 == 0);
        float td = (float)mv_rng_uniform1(r);
        for (int i = 0; i < T; i++) {
            int n = b * T + i, l = (int)mv_rng_below(r, levels), g = grid0 >> l;
            u->level[n] = l;
            u->frame[n] = 3 + (int)mv_rng_below(r, 9) + 5 * b;
            u->row[n] = (int)mv_rng_below(r, g);
            u->col[n] = (int)mv_rng_below(r, g);
            u->action[n] = (int)mv_rng_below(r, 4) - 1;
            u->ctx[n] = (uint8_t)(i < nctx);
            u->t[n] = u->ctx[n] ? 0.0f : td;
            u->lossmask[n] = u->ctx[n] ? 0.0f : 1.0f;
        }
    }
}

static void uni_case_free(uni_case *u) {
    free(u->frame), free(u->level), free(u->row), free(u->col), free(u->action);
    free(u->x), free(u->t), free(u->target), free(u->lossmask), free(u->keep), free(u->ctx);
}

static void meta_int(mv_st_writer *w, const char *k, int v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", v);
    mv_st_writer_meta(w, k, buf);
}

static mv_status twin_write(const char *path, const mv_dit *m, const char *const *names, const int64_t (*shapes)[4],
                            const int *ndims, const mv_dtype *dts, const void *const *datas, int nin) {
    mv_st_writer *w;
    MV_TRY(mv_st_writer_open(&w, path));
    char buf[128];
    snprintf(buf, sizeof buf, "\"%s\"", mv_dit_kind_name(m->kind));
    mv_st_writer_meta(w, "kind", buf);
    meta_int(w, "C", m->C), meta_int(w, "D", m->D), meta_int(w, "depth", m->depth);
    meta_int(w, "heads", m->heads), meta_int(w, "levels", m->levels), meta_int(w, "grid0", m->grid0);
    meta_int(w, "fp_denoise", m->fp_denoise), meta_int(w, "context_cache", m->context_cache);
    snprintf(buf, sizeof buf, "[%d, %d, %d, %d]", m->fp_context[0], m->fp_context[1], m->fp_context[2], m->fp_context[3]);
    mv_st_writer_meta(w, "fp_context", buf);
    const mv_params *p = &m->params;
    for (int i = 0; i < p->count; i++) mv_st_writer_declare(w, p->info[i].name, MV_DT_F32, p->info[i].ndim, p->info[i].shape);
    for (int i = 0; i < nin; i++) mv_st_writer_declare(w, names[i], dts[i], ndims[i], shapes[i]);
    for (int i = 0; i < p->count; i++) mv_st_writer_write_f32(w, mv_params_data(p, i), p->info[i].numel);
    for (int i = 0; i < nin; i++) {
        size_t n = 1;
        for (int d = 0; d < ndims[i]; d++) n *= (size_t)shapes[i][d];
        mv_st_writer_write(w, datas[i], n * 4);
    }
    return mv_st_writer_finish(w);
}

/* Compares C's v, loss and gradients with the twin's output file. */
static void twin_compare(const char *what, const char *outpath, const mv_dit *m, const float *v, size_t nv, float loss) {
    mv_safetensors f;
    if (mv_st_open(&f, outpath)) {
        CHECK(0, "%s: twin output: %s", what, mv_last_error());
        return;
    }
    float *want = malloc(MV_MAX(nv, m->params.total) * sizeof(float)), wl = 0;
    char label[256];
    CHECK(mv_st_read_f32(&f, "out.v", want, nv) == MV_OK, "read v");
    snprintf(label, sizeof label, "%s: v", what);
    CHECK(tu_close(label, v, want, nv, 1e-5, 1e-4), "%s", label);
    mv_st_read_f32(&f, "out.loss", &wl, 1);
    CHECK(fabsf(loss - wl) <= 1e-5f + 1e-4f * fabsf(wl), "%s: loss %.7g vs twin %.7g", what, loss, wl);
    int bad = 0;
    for (int i = 0; i < m->params.count; i++) {
        const mv_param_info *pi = &m->params.info[i];
        char name[200];
        snprintf(name, sizeof name, "grad.%s", pi->name);
        if (mv_st_read_f32(&f, name, want, pi->numel)) {
            CHECK(0, "missing %s", name);
            continue;
        }
        float mx = 0;
        for (size_t j = 0; j < pi->numel; j++) mx = fmaxf(mx, fabsf(want[j]));
        snprintf(label, sizeof label, "%s: grad %s", what, pi->name);
        if (!tu_close(label, mv_params_grad(&m->params, i), want, pi->numel, 1e-4 * mx + 1e-7, 1e-4)) bad++;
    }
    CHECK(bad == 0, "%s: %d gradient tensors differ", what, bad);
    free(want);
    mv_st_close(&f);
}

static void test_twin_universal(int context_cache) {
    mv_config cfg = tiny_config(3, 16, 4, 4, 24, 2, 2);
    cfg.context_cache = context_cache;
    mv_dit m;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 1) == MV_OK, "create: %s", mv_last_error());
    mv_rng r;
    mv_rng_init(&r, 21 + context_cache);
    fill(&r, m.params.data, m.params.total, 0.2f);
    const int B = 2, T = 19, C = m.C, N = B * T;
    uni_case u;
    uni_case_make(&u, &r, B, T, C, m.levels, m.grid0, 11);
    mv_dit_acts a;
    CHECK(mv_dit_acts_alloc(&a, &m, B, T) == MV_OK, "acts");
    float *v = malloc(N * C * 4), *dv = calloc(N * C, 4);
    mv_dit_tokens tk = {B, T, u.frame, u.level, u.row, u.col, u.t, u.action, u.keep, u.ctx};
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_OK, "forward: %s", mv_last_error());
    float loss = mse_loss_forward(v, u.target, u.lossmask, NULL, N, C);
    mse_loss_backward(dv, v, u.target, u.lossmask, NULL, N, C, 1.0f);
    mv_params_zero_grad(&m.params);
    mv_dit_backward(&m, &a, dv);

    const char *dir = tu_tmpdir(context_cache ? "dit_twin_uni_cc" : "dit_twin_uni");
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    int32_t *keep32 = malloc(B * 4), *ctx32 = malloc(N * 4);
    for (int b = 0; b < B; b++) keep32[b] = u.keep[b];
    for (int n = 0; n < N; n++) ctx32[n] = u.ctx[n];
    const char *names[] = {"in.x", "in.frame", "in.level", "in.row", "in.col", "in.t", "in.action", "in.keep",
                           "in.ctx", "in.target", "in.lossmask"};
    const int64_t shapes[][4] = {{B, T, C}, {B, T}, {B, T}, {B, T}, {B, T}, {B, T}, {B, T}, {B}, {B, T}, {B, T, C}, {B, T}};
    const int nd[] = {3, 2, 2, 2, 2, 2, 2, 1, 2, 3, 2};
    const mv_dtype dts[] = {MV_DT_F32, MV_DT_I32, MV_DT_I32, MV_DT_I32, MV_DT_I32, MV_DT_F32, MV_DT_I32,
                            MV_DT_I32, MV_DT_I32, MV_DT_F32, MV_DT_F32};
    const void *datas[] = {u.x, u.frame, u.level, u.row, u.col, u.t, u.action, keep32, ctx32, u.target, u.lossmask};
    CHECK(twin_write(in, &m, names, shapes, nd, dts, datas, 11) == MV_OK, "write: %s", mv_last_error());
    int rc = tu_python("tools/dit_twin.py %s %s", in, out);
    CHECK(rc == 0, "twin exit %d", rc);
    if (rc == 0) twin_compare(context_cache ? "universal (context mask)" : "universal", out, &m, v, (size_t)N * C, loss);
    free(keep32), free(ctx32), free(v), free(dv);
    uni_case_free(&u);
    mv_dit_acts_free(&a);
    mv_dit_free(&m);
}

static void test_twin_framepack(void) {
    mv_config cfg = tiny_config(3, 16, 4, 4, 24, 2, 2);
    cfg.fp_context[0] = 1, cfg.fp_context[1] = 2, cfg.fp_context[2] = 3, cfg.fp_denoise = 2;
    mv_dit m;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_FRAMEPACK, 1) == MV_OK, "create: %s", mv_last_error());
    mv_rng r;
    mv_rng_init(&r, 33);
    fill(&r, m.params.data, m.params.total, 0.2f);
    const int B = 2, Fr = m.fp_frames, T0 = m.grid0 * m.grid0, C = m.C, nd = m.fp_denoise;
    CHECK(Fr == 8 && m.fp_tokens == 3 + 8 + 48, "layout %d frames %d tokens", Fr, m.fp_tokens);
    float *x = malloc(B * Fr * T0 * C * 4), *t = malloc(B * Fr * 4), *target = malloc(B * nd * T0 * C * 4);
    float *v = malloc(B * nd * T0 * C * 4), *dv = calloc(B * nd * T0 * C, 4);
    int *act = malloc(B * Fr * sizeof(int));
    fill(&r, x, B * Fr * T0 * C, 1.0f);
    fill(&r, target, B * nd * T0 * C, 1.0f);
    for (int b = 0; b < B; b++) {
        float td = (float)mv_rng_uniform1(&r);
        for (int f = 0; f < Fr; f++) {
            t[b * Fr + f] = f >= Fr - nd ? td : (b ? 1.0f : 0.0f);
            act[b * Fr + f] = (int)mv_rng_below(&r, 3);
        }
    }
    mv_dit_acts a;
    CHECK(mv_dit_acts_alloc(&a, &m, B, m.fp_tokens) == MV_OK, "acts");
    CHECK(mv_dit_fp_forward(&m, &a, v, x, t, act, B) == MV_OK, "fp forward: %s", mv_last_error());
    int n = B * nd * T0;
    float loss = mse_loss_forward(v, target, NULL, NULL, n, C);
    mse_loss_backward(dv, v, target, NULL, NULL, n, C, 1.0f);
    mv_params_zero_grad(&m.params);
    mv_dit_fp_backward(&m, &a, dv);
    const char *dir = tu_tmpdir("dit_twin_fp");
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    const char *names[] = {"in.x", "in.t", "in.action", "in.target"};
    const int64_t shapes[][4] = {{B, Fr, T0, C}, {B, Fr}, {B, Fr}, {B, nd, T0, C}};
    const int ndim[] = {4, 2, 2, 4};
    const mv_dtype dts[] = {MV_DT_F32, MV_DT_F32, MV_DT_I32, MV_DT_F32};
    const void *datas[] = {x, t, act, target};
    CHECK(twin_write(in, &m, names, shapes, ndim, dts, datas, 4) == MV_OK, "write: %s", mv_last_error());
    int rc = tu_python("tools/dit_twin.py %s %s", in, out);
    CHECK(rc == 0, "twin exit %d", rc);
    if (rc == 0) twin_compare("framepack", out, &m, v, (size_t)n * C, loss);
    free(x), free(t), free(target), free(v), free(dv), free(act);
    mv_dit_acts_free(&a);
    mv_dit_free(&m);
}

/* ------------------------------------------------------------------ inference path */

/* Per-frame t [B, F] and action [B, F] repeated over each frame's T0 level-0 tokens, as mv_dit_infer
 * takes FramePack input: tt, at [B, F * T0]. */
static void fp_per_token(float *tt, int *at, const float *t, const int *act, int BF, int T0) {
    for (int f = 0; f < BF; f++)
        for (int i = 0; i < T0; i++) tt[f * T0 + i] = t[f], at[f * T0 + i] = act[f];
}

/* FramePack inference output v [B, F, T0, C] against the training forward's vf [B, nd, T0, C]: the last
 * nd frames equal, the context frames 0. */
static void fp_check(const char *what, const float *v, const float *vf, int B, int F, int nd, int T0C) {
    int zero = 1;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < (F - nd) * T0C; i++) zero &= v[(size_t)b * F * T0C + i] == 0.0f;
        char w[128];
        snprintf(w, sizeof w, "%s (sample %d)", what, b);
        CHECK(tu_close(w, v + ((size_t)b * F + F - nd) * T0C, vf + (size_t)b * nd * T0C, (size_t)nd * T0C, 1e-5,
                       1e-5), "%s", w);
    }
    CHECK(zero, "%s: context frames of v are 0", what);
}

static void test_infer(void) {
    mv_config cfg = tiny_config(3, 16, 4, 4, 24, 2, 2);
    cfg.fp_context[0] = 1, cfg.fp_context[1] = 2, cfg.fp_context[2] = 3, cfg.fp_denoise = 2;
    mv_dit m, fp;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 0) == MV_OK, "create");
    CHECK(mv_dit_create(&fp, &cfg, MV_DIT_FRAMEPACK, 0) == MV_OK, "create fp");
    mv_rng r;
    mv_rng_init(&r, 55);
    fill(&r, m.params.data, m.params.total, 0.2f);
    fill(&r, fp.params.data, fp.params.total, 0.2f);
    const int B = 2, T = 31, C = m.C, N = B * T;
    uni_case u;
    uni_case_make(&u, &r, B, T, C, m.levels, m.grid0, 20); /* sample 1 drops its actions */
    mv_dit_acts a;
    mv_dit_workspace w;
    CHECK(mv_dit_acts_alloc(&a, &m, B, T) == MV_OK, "acts");
    CHECK(mv_dit_workspace_create(&w, &m, B, T, 1) == MV_OK, "workspace: %s", mv_last_error());
    void *buf = w.buf;
    size_t bytes = w.bytes;
    float *v = malloc(N * C * 4), *vi = malloc(N * C * 4);
    mv_dit_tokens tk = {B, T, u.frame, u.level, u.row, u.col, u.t, u.action, u.keep, NULL};
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_OK, "forward");
    CHECK(mv_dit_infer(&m, &w, vi, u.x, &tk) == MV_OK, "infer: %s", mv_last_error());
    CHECK(tu_close("universal inference path vs training forward", vi, v, N * C, 1e-5, 1e-5), "infer");
    /* smaller calls through the same workspace: one sample, fewer tokens */
    mv_dit_tokens tk1 = {1, 17, u.frame, u.level, u.row, u.col, u.t, u.action, u.keep, NULL};
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk1) == MV_OK, "forward");
    CHECK(mv_dit_infer(&m, &w, vi, u.x, &tk1) == MV_OK, "infer: %s", mv_last_error());
    CHECK(tu_close("universal inference path, 1 x 17 tokens", vi, v, 17 * C, 1e-5, 1e-5), "infer small");
    /* more than it was sized for: refused, the workspace untouched */
    mv_dit_tokens big = tk;
    big.B = 3;
    CHECK(mv_dit_infer(&m, &w, vi, u.x, &big) == MV_ERR_SHAPE, "3 samples refused by a 2-sample workspace");
    big.B = 1, big.T = T + 1;
    CHECK(mv_dit_infer(&m, &w, vi, u.x, &big) == MV_ERR_SHAPE, "32 tokens refused by a 31-token workspace");
    CHECK(w.buf == buf && w.bytes == bytes, "universal: the workspace is neither moved nor resized by any call");
    CHECK(mv_dit_infer(&fp, &w, vi, u.x, &tk) == MV_ERR_ARG, "a workspace made for another model refused");
    mv_dit_workspace_free(&w);
    mv_dit_acts_free(&a);

    int Fr = fp.fp_frames, T0 = fp.grid0 * fp.grid0, nd = fp.fp_denoise, T0C = T0 * C;
    float *x = malloc(B * Fr * T0C * 4), *t = malloc(B * Fr * 4), *vf = malloc(B * nd * T0C * 4),
          *vfi = malloc(B * Fr * T0C * 4), *tt = malloc(B * Fr * T0 * 4);
    int *act = malloc(B * Fr * sizeof(int)), *at = malloc(B * Fr * T0 * sizeof(int));
    fill(&r, x, B * Fr * T0C, 1.0f);
    for (int i = 0; i < B * Fr; i++) t[i] = (i % Fr >= Fr - nd) ? 0.6f : 0.0f, act[i] = (i * 7) % 3;
    fp_per_token(tt, at, t, act, B * Fr, T0);
    CHECK(mv_dit_acts_alloc(&a, &fp, B, fp.fp_tokens) == MV_OK, "acts");
    CHECK(mv_dit_workspace_create(&w, &fp, B, 0, 1) == MV_OK, "workspace: %s", mv_last_error());
    buf = w.buf, bytes = w.bytes;
    CHECK(mv_dit_fp_forward(&fp, &a, vf, x, t, act, B) == MV_OK, "fp forward");
    mv_dit_tokens ftk = {B, Fr * T0, NULL, NULL, NULL, NULL, tt, at, NULL, NULL};
    CHECK(mv_dit_infer(&fp, &w, vfi, x, &ftk) == MV_OK, "fp infer: %s", mv_last_error());
    fp_check("framepack inference path vs training forward", vfi, vf, B, Fr, nd, T0C);
    tt[3] = 0.5f; /* two noise levels inside frame 0 */
    CHECK(mv_dit_infer(&fp, &w, vfi, x, &ftk) == MV_ERR_ARG && strstr(mv_last_error(), "per frame"),
          "framepack: t varying inside a frame refused: %s", mv_last_error());
    ftk.B = 3;
    CHECK(mv_dit_infer(&fp, &w, vfi, x, &ftk) == MV_ERR_SHAPE, "framepack: 3 samples refused");
    CHECK(w.buf == buf && w.bytes == bytes, "framepack: the workspace is neither moved nor resized by any call");
    mv_dit_workspace_free(&w);
    mv_dit_acts_free(&a);
    free(v), free(vi), free(x), free(t), free(vf), free(vfi), free(act), free(tt), free(at);
    uni_case_free(&u);
    mv_dit_free(&m);
    mv_dit_free(&fp);
}

/* ------------------------------------------------------------------ cached path */

static void test_cache(void) {
    mv_config cfg = tiny_config(3, 16, 4, 4, 24, 2, 2);
    cfg.context_cache = 1;
    cfg.fp_context[0] = 1, cfg.fp_context[1] = 2, cfg.fp_context[2] = 3, cfg.fp_denoise = 1;
    mv_dit m, fp;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 0) == MV_OK, "create");
    CHECK(mv_dit_create(&fp, &cfg, MV_DIT_FRAMEPACK, 0) == MV_OK, "create fp");
    mv_rng r;
    mv_rng_init(&r, 44);
    fill(&r, m.params.data, m.params.total, 0.2f);
    fill(&r, fp.params.data, fp.params.total, 0.2f);
    const int B = 2, T = 23, C = m.C, N = B * T;
    uni_case u;
    uni_case_make(&u, &r, B, T, C, m.levels, m.grid0, 15);
    /* context placed in the middle of the second sample to exercise the index lists */
    for (int i = 0; i < T; i++) u.ctx[T + i] = (uint8_t)(i >= 4 && i < 19);
    for (int i = 0; i < T; i++) u.t[T + i] = u.ctx[T + i] ? 0.0f : 0.4f;
    mv_dit_acts a;
    CHECK(mv_dit_acts_alloc(&a, &m, B, T) == MV_OK, "acts");
    float *v = malloc(N * C * 4), *vc = malloc(N * C * 4), *vm = malloc(N * C * 4);
    mv_dit_tokens tk = {B, T, u.frame, u.level, u.row, u.col, u.t, u.action, u.keep, u.ctx};
    mv_dit_workspace w, wm; /* cached; masked full forward (no cache) */
    CHECK(mv_dit_workspace_create(&w, &m, B, T, 2) == MV_OK, "workspace: %s", mv_last_error());
    CHECK(mv_dit_workspace_create(&wm, &m, B, T, 0) == MV_OK, "workspace: %s", mv_last_error());
    void *buf = w.buf;
    size_t bytes = w.bytes;
    /* calls: 0 builds the cache; 1 new denoised inputs and t reuse it; 2 a changed context input
     * rebuilds it; 3 the first context again (its cache kept in the second slot) */
    const long builds[4] = {1, 1, 2, 2};
    const float x_ctx = u.x[2 * C + 1];
    for (int k = 0; k < 4; k++) {
        if (k == 1)
            for (int n = 0; n < N; n++)
                if (!u.ctx[n]) {
                    u.t[n] = 0.9f;
                    for (int c = 0; c < C; c++) u.x[n * C + c] *= -0.5f;
                }
        if (k >= 2) u.x[2 * C + 1] = k == 2 ? x_ctx + 0.25f : x_ctx; /* token 2: context of sample 0 */
        CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_OK, "forward");
        CHECK(mv_dit_infer(&m, &wm, vm, u.x, &tk) == MV_OK, "masked: %s", mv_last_error());
        CHECK(tu_close("masked inference vs training forward", vm, v, N * C, 1e-5, 1e-5), "masked %d", k);
        CHECK(mv_dit_infer(&m, &w, vc, u.x, &tk) == MV_OK, "cached: %s", mv_last_error());
        for (int n = 0; n < N; n++)
            if (u.ctx[n]) memset(v + n * C, 0, C * 4);
        char what[64];
        snprintf(what, sizeof what, "cached vs masked (call %d)", k);
        CHECK(tu_close(what, vc, v, N * C, 1e-5, 1e-5), "%s", what);
        CHECK(w.builds == builds[k], "call %d: %ld cache builds, expected %ld", k, w.builds, builds[k]);
    }
    CHECK(w.buf == buf && w.bytes == bytes, "cached: the workspace is neither moved nor resized by any call");
    uint8_t c0 = u.ctx[T + 4];
    u.ctx[T + 4] = 0;
    CHECK(mv_dit_infer(&m, &w, vc, u.x, &tk) == MV_ERR_ARG, "unequal context counts refused by the cache");
    u.ctx[T + 4] = c0;
    mv_dit_workspace_free(&w);
    mv_dit_workspace_free(&wm);
    mv_dit_acts_free(&a);

    /* FramePack */
    int Fr = fp.fp_frames, T0 = fp.grid0 * fp.grid0, T0C = T0 * C;
    float *x = malloc(B * Fr * T0C * 4), *t = malloc(B * Fr * 4), *vf = malloc(B * T0C * 4),
          *vfc = malloc(B * Fr * T0C * 4), *tt = malloc(B * Fr * T0 * 4);
    int *act = malloc(B * Fr * sizeof(int)), *at = malloc(B * Fr * T0 * sizeof(int));
    fill(&r, x, B * Fr * T0C, 1.0f);
    for (int i = 0; i < B * Fr; i++) t[i] = (i % Fr == Fr - 1) ? 0.3f : 0.0f, act[i] = i % 3;
    fp_per_token(tt, at, t, act, B * Fr, T0);
    CHECK(mv_dit_acts_alloc(&a, &fp, B, fp.fp_tokens) == MV_OK, "acts");
    CHECK(mv_dit_workspace_create(&w, &fp, B, 0, 1) == MV_OK, "workspace: %s", mv_last_error());
    CHECK(mv_dit_workspace_create(&wm, &fp, B, 0, 0) == MV_OK, "workspace: %s", mv_last_error());
    mv_dit_tokens ftk = {B, Fr * T0, NULL, NULL, NULL, NULL, tt, at, NULL, NULL};
    for (int k = 0; k < 2; k++) {
        if (k == 1) /* new denoised frame: the cache is reused */
            for (int b = 0; b < B; b++)
                for (int i = 0; i < T0C; i++) x[((size_t)b * Fr + Fr - 1) * T0C + i] *= 0.5f;
        CHECK(mv_dit_fp_forward(&fp, &a, vf, x, t, act, B) == MV_OK, "fp forward");
        CHECK(mv_dit_infer(&fp, &w, vfc, x, &ftk) == MV_OK, "fp cached: %s", mv_last_error());
        fp_check("framepack cached vs masked", vfc, vf, B, Fr, 1, T0C);
        CHECK(mv_dit_infer(&fp, &wm, vfc, x, &ftk) == MV_OK, "fp masked: %s", mv_last_error());
        fp_check("framepack masked inference vs training forward", vfc, vf, B, Fr, 1, T0C);
        CHECK(w.builds == 1, "framepack call %d: %ld cache builds", k, w.builds);
    }
    mv_dit_workspace_free(&w);
    mv_dit_workspace_free(&wm);
    mv_dit_acts_free(&a);

    /* bad input: unknown action id, level out of range */
    CHECK(mv_dit_acts_alloc(&a, &m, B, T) == MV_OK, "acts");
    u.action[5] = 3;
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_ERR_ARG && strstr(mv_last_error(), "action id 3"),
          "action 3 refused: %s", mv_last_error());
    u.action[5] = 0;
    u.level[7] = 3;
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_ERR_ARG && strstr(mv_last_error(), "level 3"),
          "level 3 refused: %s", mv_last_error());
    tk.B = 3;
    CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_ERR_SHAPE, "too many tokens refused");
    mv_dit_acts_free(&a);
    free(v), free(vc), free(vm), free(x), free(t), free(vf), free(vfc), free(act), free(tt), free(at);
    uni_case_free(&u);
    mv_dit_free(&m);
    mv_dit_free(&fp);
}

/* ------------------------------------------------------------------ bf16 matmul option */

static void bf16_roundtrip(float *dst, const float *src, size_t n) {
    uint16_t *h = malloc(n * 2);
    mv_bf16_round_n(h, src, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)h[i] << 16;
        memcpy(&dst[i], &u, 4);
    }
    free(h);
}

static void test_bf16_linear(void) {
    const int N = 150, I = 96, O = 200;
    mv_rng r;
    mv_rng_init(&r, 5);
    float *x = malloc(N * I * 4), *w = malloc(O * I * 4), *b = malloc(O * 4), *dy = malloc(N * O * 4);
    float *y32 = malloc(N * O * 4), *y16 = malloc(N * O * 4), *yr = malloc(N * O * 4);
    float *xr = malloc(N * I * 4), *wr = malloc(O * I * 4);
    float *dx32 = calloc(N * I, 4), *dx16 = calloc(N * I, 4), *dw32 = calloc(O * I, 4), *dw16 = calloc(O * I, 4);
    float *db32 = calloc(O, 4), *db16 = calloc(O, 4);
    fill(&r, x, N * I, 1.0f);
    fill(&r, w, O * I, 0.1f);
    fill(&r, b, O, 0.1f);
    fill(&r, dy, N * O, 1.0f);
    uint16_t h[4];
    float sp[4] = {1.0f, 1.00390625f /* tie: stays even */, 1.01171875f /* tie: rounds up */, NAN};
    mv_bf16_round_n(h, sp, 4);
    CHECK(h[0] == 0x3f80 && h[1] == 0x3f80 && h[2] == 0x3f82 && (h[3] & 0x7f80) == 0x7f80 && (h[3] & 0x7f),
          "bf16 rounding: %04x %04x %04x %04x", h[0], h[1], h[2], h[3]);
    linear_forward(y32, x, w, b, N, I, O);
    linear_backward(dx32, dw32, db32, dy, x, w, N, I, O);
    mv_set_matmul_precision(MV_MATMUL_BF16);
    CHECK(mv_get_matmul_precision() == MV_MATMUL_BF16, "precision set");
    linear_forward(y16, x, w, b, N, I, O);
    linear_backward(dx16, dw16, db16, dy, x, w, N, I, O);
    mv_set_matmul_precision(MV_MATMUL_FP32);
    /* bf16 operands: relative error per product <= 2^-8; sums of ~100 products of O(0.1..1) */
    tu_close("bf16 linear forward vs fp32", y16, y32, N * O, 2e-2, 2e-2);
    tu_close("bf16 linear dx vs fp32", dx16, dx32, N * I, 2e-2, 2e-2);
    tu_close("bf16 linear dw vs fp32 (sums of 150, scale 12)", dw16, dw32, O * I, 0.25, 2e-2);
    tu_close("bf16 linear db (fp32 sums)", db16, db32, O, 1e-5, 1e-5);
    if (memcmp(y16, y32, N * O * 4)) { /* the bf16 path ran: it is fp32 maths on rounded operands */
        bf16_roundtrip(xr, x, N * I);
        bf16_roundtrip(wr, w, O * I);
        linear_forward(yr, xr, wr, b, N, I, O);
        tu_close("bf16 linear forward = fp32 on bf16-rounded operands", y16, yr, N * O, 1e-4, 1e-4);
    } else {
        printf("note: no optimised bf16 matmul on this CPU; the bf16 option falls back to fp32\n");
    }
    free(x), free(w), free(b), free(dy), free(y32), free(y16), free(yr), free(xr), free(wr);
    free(dx32), free(dx16), free(dw32), free(dw16), free(db32), free(db16);
}

/* Losses of `steps` AdamW steps on one fixed batch from the same init. */
static void bf16_train_losses(float *loss, int steps, mv_matmul_precision prec) {
    mv_config cfg = tiny_config(3, 32, 4, 8, 64, 2, 2);
    mv_dit m;
    CHECK(mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 1) == MV_OK, "create: %s", mv_last_error());
    mv_dit_init_weights(&m, 3);
    mv_rng r;
    mv_rng_init(&r, 8);
    for (size_t i = 0; i < m.params.total; i++) m.params.data[i] += 0.02f * sinf((float)i); /* non-zero adaLN */
    const int B = 2, T = 48, C = m.C, N = B * T;
    uni_case u;
    uni_case_make(&u, &r, B, T, C, m.levels, m.grid0, 16);
    mv_dit_acts a;
    CHECK(mv_dit_acts_alloc(&a, &m, B, T) == MV_OK, "acts");
    float *v = malloc(N * C * 4), *dv = malloc(N * C * 4);
    mv_dit_tokens tk = {B, T, u.frame, u.level, u.row, u.col, u.t, u.action, u.keep, NULL};
    mv_set_matmul_precision(prec);
    for (int s = 0; s < steps; s++) {
        mv_params_zero_grad(&m.params);
        CHECK(mv_dit_forward(&m, &a, v, u.x, &tk) == MV_OK, "forward");
        loss[s] = mse_loss_forward(v, u.target, u.lossmask, NULL, N, C);
        memset(dv, 0, N * C * 4);
        mse_loss_backward(dv, v, u.target, u.lossmask, NULL, N, C, 1.0f);
        mv_dit_backward(&m, &a, dv);
        adamw_update(m.params.data, m.params.grad, m.params.m, m.params.v, m.params.total, 3e-3f, 0.9f, 0.999f,
                     1e-8f, 0.01f, s + 1);
    }
    mv_set_matmul_precision(MV_MATMUL_FP32);
    free(v), free(dv);
    uni_case_free(&u);
    mv_dit_acts_free(&a);
    mv_dit_free(&m);
}

static void test_bf16_train(void) {
    enum { STEPS = 6 };
    float l32[STEPS], l16[STEPS];
    bf16_train_losses(l32, STEPS, MV_MATMUL_FP32);
    bf16_train_losses(l16, STEPS, MV_MATMUL_BF16);
    for (int s = 0; s < STEPS; s++)
        CHECK(fabsf(l16[s] - l32[s]) <= 0.01f * fabsf(l32[s]), "step %d: bf16 loss %.6f vs fp32 %.6f", s, l16[s],
              l32[s]);
    CHECK(l32[STEPS - 1] < l32[0] && l16[STEPS - 1] < l16[0], "losses fall: fp32 %.4f -> %.4f, bf16 %.4f -> %.4f",
          l32[0], l32[STEPS - 1], l16[0], l16[STEPS - 1]);
    printf("bf16 training losses: fp32 %.5f -> %.5f, bf16 %.5f -> %.5f\n", l32[0], l32[STEPS - 1], l16[0],
           l16[STEPS - 1]);
}

static int load_claimed(void *path) {
    mv_dit m;
    if (mv_dit_load(&m, path, NULL) == MV_OK) return 2;
    fprintf(stderr, "load: %s\n", mv_last_error());
    return strstr(mv_last_error(), "not found") && strstr(mv_last_error(), "dit_claims") ? 0 : 1;
}

/* A header-only DiT file whose metadata claims a 2048-wide, 32-deep model (6.4 GB of weights): the load
 * fails on the first missing tensor before the claim sizes any memory (child limited to 256 MB more). */
static void test_claimed_size(void) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "video_universal");
    meta.config = tiny_config(4, 64, 8, 16, 2048, 32, 16);
    mv_params none;
    mv_params_init(&none);
    char path[600];
    snprintf(path, sizeof path, "%s/dit_claims.safetensors", tu_tmpdir("dit_claim"));
    CHECK(mv_ckpt_save(path, &none, &meta, NULL) == MV_OK, "save: %s", mv_last_error());
    CHECK(tu_in_small_memory(load_claimed, path, (size_t)256 << 20) == 0,
          "a header-only DiT file claiming a 6.4 GB model must fail on its missing tensors, not size memory");
}

int main(void) {
    mv_set_threads(2);
    test_claimed_size();
    test_bf16_linear();
    test_bf16_train();
    test_init();
    test_paper_counts();
    test_official();
    test_twin_universal(0);
    test_twin_universal(1);
    test_twin_framepack();
    test_cache();
    test_infer();
    return tu_finish();
}
