/* The shared transformer block (OFFICIAL_MODULES.md §0): pre-norm attention with QK-RMSNorm and a
 * GELU-tanh MLP, optionally adaLN-Zero modulated by a condition c. Forward keeps what backward needs
 * in an mv_block_acts; backward accumulates parameter gradients into p->grad. */
#include "models/block.h"

#include <float.h>
#include <math.h>

#include "core/core.h"
#include "core/gemm.h"
#include "nn/nn.h"

#define LN_EPS 1e-6f
#define QK_EPS FLT_EPSILON /* torch RMSNorm eps=None: machine epsilon of float32 */

static const char *const k_names[12] = {
    "attn.qkv.weight", "attn.qkv.bias", "attn.q_norm.weight", "attn.k_norm.weight",
    "attn.proj.weight", "attn.proj.bias", "mlp.fc1.weight", "mlp.fc1.bias",
    "mlp.fc2.weight", "mlp.fc2.bias", "adaLN_modulation.1.weight", "adaLN_modulation.1.bias"};

mv_status mv_block_register(mv_block *blk, mv_params *p, const char *prefix, int D, int heads,
                            int adaln) {
    if (D <= 0 || heads <= 0 || D % heads)
        return mv_fail(MV_ERR_SHAPE, "block %s: width %d is not a multiple of heads %d", prefix, D, heads);
    memset(blk, 0, sizeof *blk);
    blk->D = D;
    blk->heads = heads;
    blk->adaln = adaln;
    int64_t dh = D / heads;
    int64_t shapes[12][2] = {{3 * D, D}, {3 * D, 0}, {dh, 0},     {dh, 0},     {D, D},     {D, 0},
                             {4 * D, D}, {4 * D, 0}, {D, 4 * D}, {D, 0}, {6 * D, D}, {6 * D, 0}};
    int *idx[12] = {&blk->qkv_w, &blk->qkv_b, &blk->qnorm_w, &blk->knorm_w, &blk->proj_w, &blk->proj_b,
                    &blk->fc1_w, &blk->fc1_b, &blk->fc2_w, &blk->fc2_b, &blk->ada_w, &blk->ada_b};
    int n = adaln ? 12 : 10;
    blk->ada_w = blk->ada_b = -1;
    for (int i = 0; i < n; i++) {
        char name[128];
        if ((size_t)snprintf(name, sizeof name, "%s%s", prefix, k_names[i]) >= sizeof name)
            return mv_fail(MV_ERR_INTERNAL, "block prefix too long: %s", prefix);
        MV_TRY(mv_params_add(p, name, shapes[i][1] ? 2 : 1, shapes[i], idx[i]));
    }
    return MV_OK;
}

static void xavier_uniform(float *w, int64_t out, int64_t in, mv_rng *rng) {
    float bound = sqrtf(6.0f / (float)(in + out));
    size_t n = (size_t)(out * in);
    mv_rng_uniform(rng, w, n);
    for (size_t i = 0; i < n; i++) w[i] = (2.0f * w[i] - 1.0f) * bound;
}

void mv_block_init(const mv_block *blk, mv_params *p, mv_rng *rng) {
    int weights[4] = {blk->qkv_w, blk->proj_w, blk->fc1_w, blk->fc2_w};
    int biases[4] = {blk->qkv_b, blk->proj_b, blk->fc1_b, blk->fc2_b};
    for (int i = 0; i < 4; i++) {
        const mv_param_info *t = &p->info[weights[i]];
        xavier_uniform(mv_params_data(p, weights[i]), t->shape[0], t->shape[1], rng);
        memset(mv_params_data(p, biases[i]), 0, p->info[biases[i]].numel * sizeof(float));
    }
    int norms[2] = {blk->qnorm_w, blk->knorm_w};
    for (int i = 0; i < 2; i++) {
        float *w = mv_params_data(p, norms[i]);
        for (size_t j = 0; j < p->info[norms[i]].numel; j++) w[j] = 1.0f;
    }
    if (blk->adaln) {
        memset(mv_params_data(p, blk->ada_w), 0, p->info[blk->ada_w].numel * sizeof(float));
        memset(mv_params_data(p, blk->ada_b), 0, p->info[blk->ada_b].numel * sizeof(float));
    }
}

/* ---- activation layout: every field [N, k] floats, each start 16-float aligned ---- */

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Carves the fields of a from base (or only counts when base is NULL); returns floats used. */
static size_t acts_carve(mv_block_acts *a, const mv_block *blk, size_t N, float *base) {
    size_t D = (size_t)blk->D, H = (size_t)blk->heads, off = 0;
    mv_block_acts tmp;
    if (!a) a = &tmp;
#define CARVE(field, count)                                                                \
    do {                                                                                   \
        a->field = base ? base + off : NULL;                                               \
        off += round16((count));                                                           \
    } while (0)
    CARVE(x_in, N * D);
    CARVE(ln1, N * D);
    CARVE(ln1_mean, N);
    CARVE(ln1_rstd, N);
    CARVE(q, N * D);
    CARVE(k, N * D);
    CARVE(v, N * D);
    CARVE(qn, N * D);
    CARVE(kn, N * D);
    CARVE(q_rstd, N * H);
    CARVE(k_rstd, N * H);
    CARVE(att, N * D);
    CARVE(lse, N * H);
    CARVE(att_proj, N * D);
    CARVE(x_mid, N * D);
    CARVE(ln2, N * D);
    CARVE(ln2_mean, N);
    CARVE(ln2_rstd, N);
    CARVE(h, N * 4 * D);
    CARVE(h_gelu, N * 4 * D);
    CARVE(mlp_out, N * D);
    if (blk->adaln) {
        CARVE(mod1, N * D);
        CARVE(mod2, N * D);
        CARVE(ada, N * 6 * D);
        CARVE(silu_c, N * D);
        CARVE(c_in, N * D);
    } else {
        a->mod1 = a->ln1; /* the plain block feeds the norms straight into qkv / fc1 */
        a->mod2 = a->ln2;
        a->ada = a->silu_c = a->c_in = NULL;
    }
#undef CARVE
    return off;
}

/* Backward scratch: two [N,4D], dada [N,6D], three [N,D]; then for the bf16 path e1b [N,D],
 * big2b [N,4D] and dqkvb [N,3D] bf16. */
static size_t bwd_floats(const mv_block *blk, size_t N) {
    size_t D = (size_t)blk->D;
    return 2 * round16(N * 4 * D) + round16(N * 6 * D) + 3 * round16(N * D) + round16(N * 8 * D / 2 + 16);
}

mv_status mv_block_acts_alloc(mv_block_acts *a, const mv_block *blk, size_t max_tokens, int max_seq) {
    memset(a, 0, sizeof *a);
    size_t n = acts_carve(NULL, blk, max_tokens, NULL);
    a->buf = mv_alloc(n * sizeof(float));
    if (!a->buf)
        return mv_fail(MV_ERR_NOMEM, "out of memory for block activations (%.1f MB)", n * 4.0 / 1e6);
    a->max_tokens = max_tokens;
    acts_carve(a, blk, max_tokens, a->buf);
    if (mv_get_matmul_precision() == MV_MATMUL_BF16) {
        size_t D = (size_t)blk->D, W = 12 * D * D, ND = max_tokens * D;
        if (!(a->bbuf = mv_alloc((W + 7 * ND) * sizeof(uint16_t)))) {
            mv_block_acts_free(a);
            return mv_fail(MV_ERR_NOMEM, "out of memory for block activations (bf16 copies)");
        }
        a->wb = a->bbuf, a->mod1b = a->wb + W, a->attb = a->mod1b + ND, a->mod2b = a->attb + ND, a->hgb = a->mod2b + ND;
    }
    if (blk->adaln && (!(a->row_start = malloc((max_tokens + 1) * sizeof(int))) ||
                       !(a->row_tok = malloc(MV_MAX(max_tokens, 1) * sizeof(int))))) {
        mv_block_acts_free(a);
        return mv_fail(MV_ERR_NOMEM, "out of memory for block activations");
    }
    return MV_OK;
}

void mv_block_acts_free(mv_block_acts *a) {
    mv_free(a->buf);
    mv_free(a->bbuf);
    free(a->row_start);
    free(a->row_tok);
    memset(a, 0, sizeof *a);
}

size_t mv_block_scratch_floats(const mv_block *blk, size_t tokens, int T) {
    size_t fa = acts_carve(NULL, blk, tokens, NULL), fb = bwd_floats(blk, tokens);
    return fa > fb ? fa : fb;
}

/* ---- GELU (tanh approximation) with a vectorisable tanh ----
 * libm's scalar tanhf made GELU ~40% of an AE training step; this version is exact to ~1.5e-7
 * absolute in tanh (tests/test_block.c checks it against nn.h's gelu_forward and PyTorch). */

/* tanh(u) = sign(u) (1 - e) / (1 + e), e = exp(-2|u|) = 2^k p(r) with a degree-6 Taylor p.
 * Written so GCC vectorises it without fast-math: |u| is clamped to 10 on its bit pattern (a float
 * compare or fminf would block vectorisation), the sign is put back with a bit or. NaN inputs give
 * +-1 here, and GELU = 0.5 x (1 + t) still propagates the NaN through x. */
static inline float tanh_vec(float u) {
    uint32_t ub, sign, bits, tb;
    float a, s, t;
    memcpy(&ub, &u, 4);
    sign = ub & 0x80000000u;
    ub &= 0x7fffffffu;
    ub = ub < 0x41200000u ? ub : 0x41200000u; /* 0x41200000 = 10.0f */
    memcpy(&a, &ub, 4);
    float y = -2.8853900817779268f * a;      /* -2|u| log2(e), in [-28.9, 0] */
    int32_t k = (int32_t)(y - 0.5f);         /* round to nearest (y <= 0) */
    float r = (y - (float)k) * 0.6931471805599453f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f +
                                                                                           r * 0.0013888889f)))));
    bits = (uint32_t)(k + 127) << 23;
    memcpy(&s, &bits, 4);
    float e = s * p;
    t = (1.0f - e) / (1.0f + e);
    memcpy(&tb, &t, 4);
    tb |= sign;
    memcpy(&t, &tb, 4);
    return t;
}

#define GELU_K 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_C 0.044715f

static void block_gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanh_vec(GELU_K * (x + GELU_C * x * x * x)));
    }
}

/* dinp = dout * GELU'(inp) (overwrites). */
static void block_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) {
        float x = inp[i];
        float t = tanh_vec(GELU_K * (x + GELU_C * x * x * x));
        float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

/* GELU straight to bf16 (the bf16 path keeps only the rounded activation, fc2's matmul input). */
static void block_gelu_forward_bf16(uint16_t *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) {
        float x = inp[i];
        out[i] = mv_bf16_round(0.5f * x * (1.0f + tanh_vec(GELU_K * (x + GELU_C * x * x * x))));
    }
}

/* dinp = dout * GELU'(inp) in fp32 (for the bias gradient) and rounded to bf16 in dinpb. */
static void block_gelu_backward_bf16(float *dinp, uint16_t *dinpb, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) {
        float x = inp[i];
        float t = tanh_vec(GELU_K * (x + GELU_C * x * x * x));
        float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        float g = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
        dinp[i] = g;
        dinpb[i] = mv_bf16_round(g);
    }
}

/* Exposed for tests (block.h): the block's GELU against nn.h's reference. */
void mv_block_gelu_forward(float *out, const float *inp, size_t n) { block_gelu_forward(out, inp, n); }

/* ---- forward ---- */

/* Chunk i of the saved modulation rows (NULL for a plain block). */
static const float *ada_chunk(const mv_block_acts *a, int i, int D) {
    return a->ada ? a->ada + (size_t)i * D : NULL;
}


/* Rows of the condition: U (row map), B (per sample) or B*T (per token). */
static size_t cond_rows(const mv_block *blk, const mv_block_acts *a, int B, int T) {
    return a->uidx ? (size_t)a->U : blk->cond_per_sample ? (size_t)B : (size_t)B * T;
}

/* The adaLN modulation m = Linear(SiLU(c)): [rows, 6D] (see cond_rows). */
static void adaln_forward(const mv_block *blk, const mv_params *p, mv_block_acts *a, const float *c,
                          int B, int T) {
    int D = blk->D;
    size_t rows = cond_rows(blk, a, B, T);
    memcpy(a->c_in, c, rows * D * sizeof(float));
    silu_forward(a->silu_c, c, rows * D);
    linear_forward(a->ada, a->silu_c, mv_params_data(p, blk->ada_w), mv_params_data(p, blk->ada_b),
                   (int)rows, D, 6 * D);
}

/* ---- modulation and gates: nn.h kernels for a per-token condition; for a per-sample condition
 * the local kernels below read row b of m [B, 6D] for every token of sample b (no expansion) and
 * sum their parameter gradients over the sample's tokens in a fixed order. With a row map
 * (mv_block_forward_rows) they read row uidx[n] of m [U, 6D]; the backward sums run per column
 * block over the tokens in order, so they do not depend on the thread count. ---- */

#define PS_COLS 64 /* column block of the per-sample reductions (tasks = B x D/64) */

void mv_mod_rows_forward(float *out, const float *x, const float *shift, const float *scale, int ld,
                         const int *uidx, int N, int D) {
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)N; n++) {
        const float *h = shift + (size_t)uidx[n] * ld, *s = scale + (size_t)uidx[n] * ld, *xr = x + n * D;
        float *o = out + n * D;
        for (int d = 0; d < D; d++) o[d] = xr[d] * (1.0f + s[d]) + h[d];
    }
}

void mv_rows_index(int *row_start, int *row_tok, const int *uidx, int U, int N) {
    memset(row_start, 0, (size_t)(U + 1) * sizeof(int));
    for (int n = 0; n < N; n++) row_start[uidx[n] + 1]++;
    for (int u = 0; u < U; u++) row_start[u + 1] += row_start[u];
    for (int n = 0; n < N; n++) row_tok[row_start[uidx[n]]++] = n; /* row_start[u] -> end of row u */
    for (int u = U; u > 0; u--) row_start[u] = row_start[u - 1];
    row_start[0] = 0;
}

/* One task per row: its tokens in increasing order, so the sums do not depend on the threads. */
void mv_mod_rows_backward(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                          const float *scale, int ld, const int *row_start, const int *row_tok, int U, int D) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int u = 0; u < U; u++) {
        float *dh = dshift + (size_t)u * ld, *ds = dscale + (size_t)u * ld;
        const float *s = scale + (size_t)u * ld;
        for (int i = row_start[u]; i < row_start[u + 1]; i++) {
            size_t n = (size_t)row_tok[i];
            const float *g = dout + n * D, *xr = x + n * D;
            for (int d = 0; d < D; d++) {
                dh[d] += g[d];
                ds[d] += g[d] * xr[d];
            }
            if (dx)
                for (int d = 0; d < D; d++) dx[n * D + d] = g[d] * (1.0f + s[d]);
        }
    }
}

/* Row-map gate backward: dy = g[u] * dx (overwrites), dgate[u] += sum over the row's tokens dx * y;
 * dyb (or NULL) gets bf16(dy). */
static void gate_bwd_rows(float *dgate, float *dy, uint16_t *dyb, const float *dx, const float *g, const float *y,
                          const int *row_start, const int *row_tok, int U, int D) {
    int D6 = 6 * D;
#pragma omp parallel for schedule(dynamic, 1)
    for (int u = 0; u < U; u++) {
        const float *gr = g + (size_t)u * D6;
        float *dg = dgate + (size_t)u * D6;
        for (int i = row_start[u]; i < row_start[u + 1]; i++) {
            size_t n = (size_t)row_tok[i];
            const float *dr = dx + n * D, *yr = y + n * D;
            float *o = dy + n * D;
            for (int d = 0; d < D; d++) {
                dg[d] += dr[d] * yr[d];
                o[d] = gr[d] * dr[d];
            }
            if (dyb)
                for (int d = 0; d < D; d++) dyb[n * D + d] = mv_bf16_round(o[d]);
        }
    }
}

/* out [N, D] = x * (1 + m[., scale]) + m[., shift]; chunk = index of shift (scale = chunk + 1). */
static void mod_fwd(const mv_block *blk, const mv_block_acts *a, float *out, const float *x, const float *m,
                    int chunk, int B, int T) {
    int D = blk->D, D6 = 6 * D;
    const float *sh = m + (size_t)chunk * D, *sc = sh + D;
    if (a->uidx) {
        mv_mod_rows_forward(out, x, sh, sc, D6, a->uidx, B * T, D);
        return;
    }
    if (!blk->cond_per_sample) {
        modulate_forward(out, x, sh, sc, D6, B * T, D);
        return;
    }
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)B * T; n++) {
        const float *h = sh + (n / T) * D6, *s = sc + (n / T) * D6, *xr = x + n * D;
        float *o = out + n * D;
        for (int d = 0; d < D; d++) o[d] = xr[d] * (1.0f + s[d]) + h[d];
    }
}

/* The bf16 path's norm + modulation in one pass: ln [N, D] = LayerNorm(x) (no affine; mean, rstd [N]
 * saved), outb [N, D] = bf16(ln * (1 + m[., chunk + 1]) + m[., chunk]) (bf16(ln) for a plain block).
 * The same arithmetic as layernorm_forward followed by mod_fwd and a rounding pass. */
static void ln_mod_bf16(const mv_block *blk, const mv_block_acts *a, float *ln, float *mean, float *rstd,
                        uint16_t *outb, const float *x, int chunk, int B, int T) {
    int D = blk->D, D6 = 6 * D;
    const float *m0 = blk->adaln ? a->ada + (size_t)chunk * D : NULL;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)B * T; n++) {
        const float *xr = x + (size_t)n * D;
        float *y = ln + (size_t)n * D;
        uint16_t *o = outb + (size_t)n * D;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < D; c++) s += xr[c];
        float mu = s / D, v = 0;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < D; c++) {
            float d = xr[c] - mu;
            v += d * d;
        }
        float r = 1.0f / sqrtf(v / D + LN_EPS);
        mean[n] = mu, rstd[n] = r;
        if (!m0) {
            for (int c = 0; c < D; c++) {
                y[c] = (xr[c] - mu) * r;
                o[c] = mv_bf16_round(y[c]);
            }
            continue;
        }
        size_t row = a->uidx ? (size_t)a->uidx[n] : blk->cond_per_sample ? (size_t)(n / T) : (size_t)n;
        const float *h = m0 + row * D6, *sc = h + D;
        for (int c = 0; c < D; c++) {
            float l = (xr[c] - mu) * r;
            y[c] = l;
            o[c] = mv_bf16_round(l * (1.0f + sc[c]) + h[c]);
        }
    }
}

/* x [N, D] += m[., chunk] * y; save [N, D] (or NULL) gets a copy of the result. */
static void gate_fwd(const mv_block *blk, const mv_block_acts *a, float *x, float *save, const float *m,
                     int chunk, const float *y, int B, int T) {
    int D = blk->D, D6 = 6 * D;
    const float *g = m + (size_t)chunk * D;
    if (a->uidx) {
#pragma omp parallel for schedule(static)
        for (long n = 0; n < (long)B * T; n++) {
            const float *gr = g + (size_t)a->uidx[n] * D6, *yr = y + n * D;
            float *xr = x + n * D;
            for (int d = 0; d < D; d++) xr[d] += gr[d] * yr[d];
            if (save) memcpy(save + n * D, xr, (size_t)D * sizeof(float));
        }
        return;
    }
    if (!blk->cond_per_sample) {
        gate_residual_forward(x, g, y, D6, B * T, D);
        if (save) memcpy(save, x, (size_t)B * T * D * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)B * T; n++) {
        const float *gr = g + (n / T) * D6, *yr = y + n * D;
        float *xr = x + n * D;
        for (int d = 0; d < D; d++) xr[d] += gr[d] * yr[d];
        if (save) memcpy(save + n * D, xr, (size_t)D * sizeof(float));
    }
}

/* Per-sample gate backward: dy = g * dx (overwrites), dgate[b] += sum_t dx * y. */
static void gate_bwd_ps(float *dgate, float *dy, const float *dx, const float *g, const float *y, int B, int T,
                        int D) {
    int nb = (D + PS_COLS - 1) / PS_COLS, D6 = 6 * D;
#pragma omp parallel for schedule(static)
    for (int task = 0; task < B * nb; task++) {
        int b = task / nb, d0 = (task % nb) * PS_COLS, d1 = MV_MIN(D, d0 + PS_COLS);
        const float *gr = g + (size_t)b * D6;
        float *dg = dgate + (size_t)b * D6;
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)b * T + t;
            for (int d = d0; d < d1; d++) {
                dg[d] += dx[n * D + d] * y[n * D + d];
                dy[n * D + d] = gr[d] * dx[n * D + d];
            }
        }
    }
}

/* Per-sample modulate backward: dln = dmod * (1 + scale) (overwrites), dshift/dscale[b] += sums. */
static void mod_bwd_ps(float *dln, float *dshift, const float *dmod, const float *ln, const float *sc, int B,
                       int T, int D) {
    int nb = (D + PS_COLS - 1) / PS_COLS, D6 = 6 * D;
#pragma omp parallel for schedule(static)
    for (int task = 0; task < B * nb; task++) {
        int b = task / nb, d0 = (task % nb) * PS_COLS, d1 = MV_MIN(D, d0 + PS_COLS);
        const float *s = sc + (size_t)b * D6;
        float *dh = dshift + (size_t)b * D6, *ds = dh + D;
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)b * T + t;
            for (int d = d0; d < d1; d++) {
                float g = dmod[n * D + d];
                dh[d] += g;
                ds[d] += g * ln[n * D + d];
                dln[n * D + d] = g * (1.0f + s[d]);
            }
        }
    }
}

static void residual_add(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) x[i] += y[i];
}

/* ---- bf16 path: the block's matmuls on operands rounded once (see block.h) ---- */

/* Whether a forward of N tokens with saved activations takes the bf16 path: bf16 precision, the bf16
 * copies allocated, every matmul dimension >= 32 (as core/gemm.h's bf16 linear layers require) and an
 * optimised kernel for every product of forward and backward (probed once per token count). */
static int bf16_direct_ok(const mv_block *blk, mv_block_acts *a, int N) {
    int D = blk->D;
    if (!a->wb || mv_get_matmul_precision() != MV_MATMUL_BF16 || D < 32 || N < 32) return 0;
    if (a->bf16_ok_n == N || a->bf16_ok_n == -N) return a->bf16_ok_n > 0;
    static const float bias_probe = 0.0f;
    int io[4][2] = {{D, D}, {D, 4 * D}, {4 * D, D}, {D, 3 * D}}, ok = 1; /* (in, out) of proj, fc1, fc2, qkv */
    for (int i = 0; i < 4 && ok; i++) {
        int I = io[i][0], O = io[i][1];
        ok = (i == 3 || mv_gemm_bf16(0, 1, N, O, I, NULL, I, NULL, I, &bias_probe, NULL, O, 0)) &&
             mv_gemm_bf16(0, 0, N, I, O, NULL, O, NULL, I, NULL, NULL, I, 0) &&
             mv_gemm_bf16(1, 0, O, I, N, NULL, O, NULL, I, NULL, NULL, I, 1);
    }
    a->bf16_ok_n = ok ? N : -N;
    return ok;
}

/* y [N, O] = x [N, I] @ w^T + b, all given as bf16 but b. */
static void lin_fwd_bf16(float *y, const uint16_t *x, const uint16_t *w, const float *b, int N, int I, int O) {
    MV_ASSERT(mv_gemm_bf16(0, 1, N, O, I, x, I, w, I, b, y, O, 0));
}

/* db [O] += column sums of dy [N, O] (fp32), split by output column so the sum order is fixed. */
static void bias_grad(float *db, const float *dy, int N, int O) {
    enum { CHUNK = 64 };
    int nchunks = (O + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nchunks; c++) {
        int o0 = c * CHUNK, o1 = MV_MIN(O, o0 + CHUNK);
        float acc[CHUNK] = {0};
        for (int n = 0; n < N; n++) {
            const float *row = dy + (size_t)n * O;
            for (int o = o0; o < o1; o++) acc[o - o0] += row[o];
        }
        for (int o = o0; o < o1; o++) db[o] += acc[o - o0];
    }
}

/* dx [N, I] = dy @ w (overwritten); dw [O, I] += dy^T @ x; db [O] += column sums of dy32 (the fp32
 * values of dy). dy, x, w bf16. */
static void lin_bwd_bf16(float *dx, float *dw, float *db, const uint16_t *dy, const float *dy32, const uint16_t *x,
                         const uint16_t *w, int N, int I, int O) {
    MV_ASSERT(mv_gemm_bf16(0, 0, N, I, O, dy, O, w, I, NULL, dx, I, 0));
    MV_ASSERT(mv_gemm_bf16(1, 0, O, I, N, dy, O, x, I, NULL, dw, I, 1));
    if (db) bias_grad(db, dy32, N, O);
}

/* The four weight matrices of the block to bf16 (a->wb: qkv, proj, fc1, fc2). */
static void round_weights(const mv_block *blk, const mv_params *p, mv_block_acts *a) {
    size_t D2 = (size_t)blk->D * blk->D;
    mv_bf16_round_n(a->wb, mv_params_data(p, blk->qkv_w), 3 * D2);
    mv_bf16_round_n(a->wb + 3 * D2, mv_params_data(p, blk->proj_w), D2);
    mv_bf16_round_n(a->wb + 4 * D2, mv_params_data(p, blk->fc1_w), 4 * D2);
    mv_bf16_round_n(a->wb + 8 * D2, mv_params_data(p, blk->fc2_w), 4 * D2);
}

/* ---- inference with context keys/values (mv_block_forward_kv): the training forward's code with
 * the attention taken over cached context keys/values plus the tokens' own ---- */

/* What block_forward_acts needs for that attention: the caller's keys/values and the scores scratch. */
typedef struct {
    const mv_block_kv *kv;
    float *scores; /* [T, Tc + T] */
} kv_attention;

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
            mv_sgemm(0, 1, Tq, Tc, dh, scale, qh, D, kcb + h * dh, D, 0.0f, sc, S);
            mv_sgemm(0, 1, Tq, Tq, dh, scale, qh, D, kb + h * dh, D, 0.0f, sc + Tc, S);
            softmax_rows(sc, Tq, S, S);
            mv_sgemm(0, 0, Tq, dh, Tc, 1.0f, sc, S, vcb + h * dh, D, 0.0f, oh, D);
            mv_sgemm(0, 0, Tq, dh, Tq, 1.0f, sc + Tc, S, vb + h * dh, D, 1.0f, oh, D);
        }
    }
}

/* The attention step of block_forward_acts with keys/values: hands out this block's normalised keys
 * and values if asked, then attends over the cached context (if any) and the tokens themselves. */
static void kv_attend(mv_block_acts *a, const kv_attention *ka, int B, int T, int H, int dh) {
    const mv_block_kv *kv = ka->kv;
    size_t ND = (size_t)B * T * H * dh;
    if (kv->k_out) memcpy(kv->k_out, a->kn, ND * sizeof(float));
    if (kv->v_out) memcpy(kv->v_out, a->v, ND * sizeof(float));
    if (kv->Tc) attend_cached(a->att, a->qn, a->kn, a->v, kv->k, kv->v, ka->scores, B, T, kv->Tc, H, dh);
    else attention_forward(a->att, a->lse, a->qn, a->kn, a->v, NULL, B, T, H, dh);
}

static void block_forward_acts(const mv_block *blk, const mv_params *p, mv_block_acts *a, float *x,
                               const float *c, const uint8_t *mask, const kv_attention *ka, int B, int T,
                               int save);

size_t mv_block_kv_scratch_floats(const mv_block *blk, size_t tokens, int T, int S) {
    return acts_carve(NULL, blk, tokens, NULL) + round16((size_t)T * S);
}

void mv_block_forward_kv(const mv_block *blk, const mv_params *p, float *scratch, float *x, const float *cu,
                         const int *uidx, int U, const mv_block_kv *kv, int B, int T) {
    MV_ASSERT(scratch && kv && uidx && blk->adaln && U >= 1 && U <= B * T);
    mv_block_acts tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.max_tokens = (size_t)B * T;
    size_t off = acts_carve(&tmp, blk, tmp.max_tokens, scratch);
    tmp.uidx = uidx;
    tmp.U = U;
    kv_attention ka = {kv, scratch + off};
    block_forward_acts(blk, p, &tmp, x, cu, NULL, &ka, B, T, 0);
}

/* save = 0 (inference): skip the copies only backward needs (x_in, x_mid). ka: NULL, or attention over
 * context keys/values (mv_block_forward_kv; mask unused then). */
static void block_forward_acts(const mv_block *blk, const mv_params *p, mv_block_acts *a, float *x,
                               const float *c, const uint8_t *mask, const kv_attention *ka, int B, int T,
                               int save) {
    int D = blk->D, H = blk->heads, dh = D / H, N = B * T;
    size_t ND = (size_t)N * D;
    MV_ASSERT((size_t)N <= a->max_tokens);
    MV_ASSERT(!blk->adaln || c);
    size_t D2 = (size_t)D * D;
    int direct = save && bf16_direct_ok(blk, a, N);
    a->bf16_used = direct;
    if (direct) round_weights(blk, p, a);
    if (blk->adaln) adaln_forward(blk, p, a, c, B, T);
    if (save) memcpy(a->x_in, x, ND * sizeof(float));
    /* attention branch (the bf16 path keeps only the rounded modulated norm, qkv's matmul input) */
    if (direct) {
        ln_mod_bf16(blk, a, a->ln1, a->ln1_mean, a->ln1_rstd, a->mod1b, x, 0, B, T);
    } else {
        layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, NULL, NULL, N, D, LN_EPS);
        if (blk->adaln) mod_fwd(blk, a, a->mod1, a->ln1, a->ada, 0, B, T);
    }
    /* the q, k, v thirds of attn.qkv as three GEMMs on the row blocks of its weight and bias */
    const float *wqkv = mv_params_data(p, blk->qkv_w), *bqkv = mv_params_data(p, blk->qkv_b);
    float *qkv_out[3] = {a->q, a->k, a->v};
    for (int j = 0; j < 3; j++) {
        if (direct)
            lin_fwd_bf16(qkv_out[j], a->mod1b, a->wb + j * D2, bqkv + (size_t)j * D, N, D, D);
        else
            linear_forward(qkv_out[j], a->mod1, wqkv + (size_t)j * D * D, bqkv + (size_t)j * D, N, D, D);
    }
    rmsnorm_forward(a->qn, a->q_rstd, a->q, mv_params_data(p, blk->qnorm_w), N * H, dh, QK_EPS);
    rmsnorm_forward(a->kn, a->k_rstd, a->k, mv_params_data(p, blk->knorm_w), N * H, dh, QK_EPS);
    if (ka) kv_attend(a, ka, B, T, H, dh);
    else attention_forward(a->att, a->lse, a->qn, a->kn, a->v, mask, B, T, H, dh);
    if (direct) {
        mv_bf16_round_n(a->attb, a->att, ND);
        lin_fwd_bf16(a->att_proj, a->attb, a->wb + 3 * D2, mv_params_data(p, blk->proj_b), N, D, D);
    } else {
        linear_forward(a->att_proj, a->att, mv_params_data(p, blk->proj_w), mv_params_data(p, blk->proj_b), N, D,
                       D);
    }
    if (blk->adaln) {
        gate_fwd(blk, a, x, save ? a->x_mid : NULL, a->ada, 2, a->att_proj, B, T);
    } else {
        residual_add(x, a->att_proj, ND);
        if (save) memcpy(a->x_mid, x, ND * sizeof(float));
    }
    /* MLP branch */
    if (direct) {
        ln_mod_bf16(blk, a, a->ln2, a->ln2_mean, a->ln2_rstd, a->mod2b, x, 3, B, T);
    } else {
        layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, x, NULL, NULL, N, D, LN_EPS);
        if (blk->adaln) mod_fwd(blk, a, a->mod2, a->ln2, a->ada, 3, B, T);
    }
    if (direct) {
        lin_fwd_bf16(a->h, a->mod2b, a->wb + 4 * D2, mv_params_data(p, blk->fc1_b), N, D, 4 * D);
        block_gelu_forward_bf16(a->hgb, a->h, ND * 4);
        lin_fwd_bf16(a->mlp_out, a->hgb, a->wb + 8 * D2, mv_params_data(p, blk->fc2_b), N, 4 * D, D);
    } else {
        linear_forward(a->h, a->mod2, mv_params_data(p, blk->fc1_w), mv_params_data(p, blk->fc1_b), N, D, 4 * D);
        block_gelu_forward(a->h_gelu, a->h, ND * 4);
        linear_forward(a->mlp_out, a->h_gelu, mv_params_data(p, blk->fc2_w), mv_params_data(p, blk->fc2_b), N,
                       4 * D, D);
    }
    if (blk->adaln)
        gate_fwd(blk, a, x, NULL, a->ada, 5, a->mlp_out, B, T);
    else
        residual_add(x, a->mlp_out, ND);
}

void mv_block_forward(const mv_block *blk, const mv_params *p, mv_block_acts *acts, float *scratch,
                      float *x, const float *c, const uint8_t *mask, int B, int T) {
    mv_block_forward_rows(blk, p, acts, scratch, x, c, NULL, 0, mask, B, T);
}

void mv_block_forward_rows(const mv_block *blk, const mv_params *p, mv_block_acts *acts, float *scratch,
                           float *x, const float *cu, const int *uidx, int U, const uint8_t *mask, int B,
                           int T) {
    MV_ASSERT(!uidx || (blk->adaln && U >= 1 && U <= B * T));
    if (acts) {
        acts->uidx = uidx;
        acts->U = U;
        if (uidx) mv_rows_index(acts->row_start, acts->row_tok, uidx, U, B * T);
        block_forward_acts(blk, p, acts, x, cu, mask, NULL, B, T, 1);
        return;
    }
    MV_ASSERT(scratch);
    mv_block_acts tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.max_tokens = (size_t)B * T;
    acts_carve(&tmp, blk, tmp.max_tokens, scratch);
    tmp.uidx = uidx;
    tmp.U = U;
    block_forward_acts(blk, p, &tmp, x, cu, mask, NULL, B, T, 0);
}

/* ---- backward ---- */

/* dada [rows, 6D] (rows = B per-sample, B*T per-token) -> adaLN weights and dc. */
static void adaln_backward(const mv_block *blk, mv_params *p, const mv_block_acts *a, const float *dada,
                           float *dsilu, float *dc, int B, int T) {
    int D = blk->D, rows = (int)cond_rows(blk, a, B, T);
    memset(dsilu, 0, (size_t)rows * D * sizeof(float));
    linear_backward(dc ? dsilu : NULL, mv_params_grad(p, blk->ada_w), mv_params_grad(p, blk->ada_b),
                    dada, a->silu_c, mv_params_data(p, blk->ada_w), rows, D, 6 * D);
    if (dc) silu_backward(dc, dsilu, a->c_in, (size_t)rows * D);
}

/* d(x_out) -> d(branch output) through the (gated) residual; dy [N, D] is overwritten, and dyb [N, D]
 * (or NULL) gets bf16(dy). dgate: rows of dada (stride 6D; [B] rows per-sample, [N] per-token); g: the
 * gate chunk of m. */
static void residual_branch_grad(const mv_block *blk, const mv_block_acts *a, float *dgate, float *dy,
                                 uint16_t *dyb, const float *dx, const float *g, const float *y, int B, int T) {
    int D = blk->D, N = B * T;
    if (blk->adaln && a->uidx) {
        gate_bwd_rows(dgate, dy, dyb, dx, g, y, a->row_start, a->row_tok, a->U, D);
        return;
    }
    if (!blk->adaln) {
        memcpy(dy, dx, (size_t)N * D * sizeof(float));
    } else if (blk->cond_per_sample) {
        gate_bwd_ps(dgate, dy, dx, g, y, B, T, D);
    } else {
        memset(dy, 0, (size_t)N * D * sizeof(float));
        gate_residual_backward(dgate, dy, dx, g, y, 6 * D, N, D);
    }
    if (dyb) mv_bf16_round_n(dyb, dy, (size_t)N * D);
}

/* Through the modulation (if any) and the affine-free LayerNorm, accumulating into dx.
 * dshift: the shift chunk of dada (scale follows at +D); scale: the scale chunk of m. */
static void norm_backward(const mv_block *blk, const mv_block_acts *a, float *dx, float *dln, float *dshift, const float *dmod,
                          const float *ln, const float *scale, const float *inp, const float *mean,
                          const float *rstd, int B, int T) {
    int D = blk->D, N = B * T;
    const float *dl = dmod;
    if (blk->adaln && a->uidx) {
        mv_mod_rows_backward(dln, dshift, dshift + D, dmod, ln, scale, 6 * D, a->row_start, a->row_tok, a->U, D);
        dl = dln;
    } else if (blk->adaln && blk->cond_per_sample) {
        mod_bwd_ps(dln, dshift, dmod, ln, scale, B, T, D);
        dl = dln;
    } else if (blk->adaln) {
        memset(dln, 0, (size_t)N * D * sizeof(float));
        modulate_backward(dln, dshift, dshift + D, dmod, ln, scale, 6 * D, N, D);
        dl = dln;
    }
    layernorm_backward(dx, NULL, NULL, dl, inp, NULL, mean, rstd, N, D);
}

void mv_block_backward(const mv_block *blk, mv_params *p, const mv_block_acts *a, float *scratch,
                       float *dx, float *dc, const uint8_t *mask, int B, int T) {
    MV_ASSERT(!a->uidx); /* a row-map forward pairs with mv_block_backward_rows */
    mv_block_backward_rows(blk, p, a, scratch, dx, dc, mask, B, T);
}

void mv_block_backward_rows(const mv_block *blk, mv_params *p, const mv_block_acts *a, float *scratch,
                            float *dx, float *dc, const uint8_t *mask, int B, int T) {
    int D = blk->D, H = blk->heads, dh = D / H, N = B * T;
    size_t ND = (size_t)N * D, N4 = round16(ND * 4);
    MV_ASSERT((size_t)N <= a->max_tokens && scratch);
    float *big1 = scratch, *big2 = big1 + N4, *dada = big2 + N4;
    float *e1 = dada + round16(ND * 6), *e2 = e1 + round16(ND),
          *e3 = e2 + round16(ND);
    uint16_t *e1b = (uint16_t *)(e3 + round16(ND)), *big2b = e1b + ND, *dqkvb = big2b + 4 * ND; /* bf16 path */
    int direct = a->bf16_used;
    size_t D2 = (size_t)D * D;
    if (blk->adaln) memset(dada, 0, cond_rows(blk, a, B, T) * 6 * D * sizeof(float));
    /* MLP branch: x_out = x_mid + gate_mlp * mlp_out */
    residual_branch_grad(blk, a, dada + 5 * D, e1, direct ? e1b : NULL, dx, ada_chunk(a, 5, D), a->mlp_out, B, T);
    if (direct) {
        lin_bwd_bf16(big1, mv_params_grad(p, blk->fc2_w), mv_params_grad(p, blk->fc2_b), e1b, e1, a->hgb,
                     a->wb + 8 * D2, N, 4 * D, D);
        block_gelu_backward_bf16(big2, big2b, big1, a->h, ND * 4);
        lin_bwd_bf16(e2, mv_params_grad(p, blk->fc1_w), mv_params_grad(p, blk->fc1_b), big2b, big2, a->mod2b,
                     a->wb + 4 * D2, N, D, 4 * D);
    } else {
        memset(big1, 0, ND * 4 * sizeof(float));
        linear_backward(big1, mv_params_grad(p, blk->fc2_w), mv_params_grad(p, blk->fc2_b), e1, a->h_gelu,
                        mv_params_data(p, blk->fc2_w), N, 4 * D, D);
        block_gelu_backward(big2, big1, a->h, ND * 4);
        memset(e2, 0, ND * sizeof(float));
        linear_backward(e2, mv_params_grad(p, blk->fc1_w), mv_params_grad(p, blk->fc1_b), big2, a->mod2,
                        mv_params_data(p, blk->fc1_w), N, D, 4 * D);
    }
    norm_backward(blk, a, dx, e3, dada + 3 * D, e2, a->ln2, ada_chunk(a, 4, D), a->x_mid, a->ln2_mean,
                  a->ln2_rstd, B, T);
    /* attention branch: x_mid = x_in + gate_msa * proj(attn(...)) */
    residual_branch_grad(blk, a, dada + 2 * D, e1, direct ? e1b : NULL, dx, ada_chunk(a, 2, D), a->att_proj, B, T);
    float *datt = e2, *dqn = big1, *dkn = big1 + ND, *dv = big1 + 2 * ND, *dq = big2, *dk = big2 + ND;
    if (direct) {
        lin_bwd_bf16(datt, mv_params_grad(p, blk->proj_w), mv_params_grad(p, blk->proj_b), e1b, e1, a->attb,
                     a->wb + 3 * D2, N, D, D);
    } else {
        memset(datt, 0, ND * sizeof(float));
        linear_backward(datt, mv_params_grad(p, blk->proj_w), mv_params_grad(p, blk->proj_b), e1, a->att,
                        mv_params_data(p, blk->proj_w), N, D, D);
    }
    memset(big1, 0, ND * 3 * sizeof(float));
    attention_backward(dqn, dkn, dv, datt, a->att, a->lse, a->qn, a->kn, a->v, mask, B, T, H, dh);
    memset(big2, 0, ND * 2 * sizeof(float));
    rmsnorm_backward(dq, mv_params_grad(p, blk->qnorm_w), dqn, a->q, mv_params_data(p, blk->qnorm_w),
                     a->q_rstd, N * H, dh);
    rmsnorm_backward(dk, mv_params_grad(p, blk->knorm_w), dkn, a->k, mv_params_data(p, blk->knorm_w),
                     a->k_rstd, N * H, dh);
    const float *dthird[3] = {dq, dk, dv};
    if (direct) {
        /* [dq | dk | dv] as one [N, 3D] bf16 matrix: one product each for d(mod1) and d(qkv weight) */
#pragma omp parallel for schedule(static)
        for (long n = 0; n < (long)N; n++)
            for (int j = 0; j < 3; j++)
                for (int d = 0; d < D; d++)
                    dqkvb[(size_t)n * 3 * D + (size_t)j * D + d] = mv_bf16_round(dthird[j][(size_t)n * D + d]);
        lin_bwd_bf16(e1, mv_params_grad(p, blk->qkv_w), NULL, dqkvb, NULL, a->mod1b, a->wb, N, D, 3 * D);
        for (int j = 0; j < 3; j++) bias_grad(mv_params_grad(p, blk->qkv_b) + (size_t)j * D, dthird[j], N, D);
    } else {
        memset(e1, 0, ND * sizeof(float));
        for (int j = 0; j < 3; j++)
            linear_backward(e1, mv_params_grad(p, blk->qkv_w) + (size_t)j * D * D,
                            mv_params_grad(p, blk->qkv_b) + (size_t)j * D, dthird[j], a->mod1,
                            mv_params_data(p, blk->qkv_w) + (size_t)j * D * D, N, D, D);
    }
    norm_backward(blk, a, dx, e3, dada, e1, a->ln1, ada_chunk(a, 1, D), a->x_in, a->ln1_mean, a->ln1_rstd, B, T);
    if (blk->adaln) adaln_backward(blk, p, a, dada, e1, dc, B, T);
}
