/* Layers (src/nn) against PyTorch float64 references written by tools/ref_nn.py, fast attention
 * against the naive kernel, bf16 attention against the same maths on bf16-rounded operands and
 * against fp32 within rounding bounds, AdamW / clipping against torch.optim, embeddings against the
 * official formulas, and a finite-difference check of LN -> linear -> GELU -> linear -> residual -> MSE. */
#include <math.h>
#include <omp.h>

#include "core/core.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "testutil.h"

#define ATOL 1e-5
#define RTOL 1e-4

static const char *g_dir;
static void *g_bufs[1024];
static int g_nbufs;

static void *keep(void *p) {
    MV_ASSERT(g_nbufs < (int)MV_ARRAY_LEN(g_bufs));
    return g_bufs[g_nbufs++] = p;
}

/* Reads g_dir/name.bin, which must hold exactly n elements of `size` bytes. Zero-filled on error. */
static void *load(const char *name, size_t size, size_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.bin", g_dir, name);
    void *p = keep(calloc(n ? n : 1, size));
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(p, size, n + 1, f) : 0;
    CHECK(f && got == n, "%s: expected %zu elements, read %zu", path, n, got);
    if (f) fclose(f);
    return p;
}
static float *ldf(const char *name, size_t n) { return load(name, sizeof(float), n); }
static int *ldi(const char *name, size_t n) { return load(name, sizeof(int), n); }
static float *zeros(size_t n) { return keep(calloc(n ? n : 1, sizeof(float))); }
static float *filled(size_t n, float v) {
    float *p = zeros(n);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}
static float *randn(mv_rng *r, size_t n, float sd) {
    float *p = zeros(n);
    mv_rng_normal(r, p, n);
    for (size_t i = 0; i < n; i++) p[i] *= sd;
    return p;
}

static void add_const(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] += v;
}

static void test_linear(void) {
    int N = 7, I = 12, O = 10;
    float *x = ldf("lin_x", N * I), *w = ldf("lin_w", O * I), *b = ldf("lin_b", O);
    float *dout = ldf("lin_dout", N * O), *out = zeros(N * O);
    linear_forward(out, x, w, b, N, I, O);
    tu_close("linear out", out, ldf("lin_out", N * O), N * O, ATOL, RTOL);
    /* backward accumulates: start from 0.5 and expect reference + 0.5 */
    float *dx = filled(N * I, 0.5f), *dw = filled(O * I, 0.5f), *db = filled(O, 0.5f);
    linear_backward(dx, dw, db, dout, x, w, N, I, O);
    float *wdx = ldf("lin_dx", N * I), *wdw = ldf("lin_dw", O * I), *wdb = ldf("lin_db", O);
    add_const(wdx, N * I, 0.5f), add_const(wdw, O * I, 0.5f), add_const(wdb, O, 0.5f);
    tu_close("linear dx (+=)", dx, wdx, N * I, ATOL, RTOL);
    tu_close("linear dw (+=)", dw, wdw, O * I, ATOL, RTOL);
    tu_close("linear db (+=)", db, wdb, O, ATOL, RTOL);
    float *out2 = zeros(N * O);
    linear_forward(out2, x, w, NULL, N, I, O);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) out2[n * O + o] += b[o];
    tu_close("linear out without bias", out2, out, N * O, ATOL, RTOL);
}

/* Many rows (dw is reduced over row chunks) against the naive GEMM. */
static void test_linear_many_rows(void) {
    int N = 1100, I = 24, O = 40;
    mv_rng r;
    mv_rng_init(&r, 3);
    float *x = randn(&r, (size_t)N * I, 1.0f), *w = randn(&r, (size_t)O * I, 0.2f);
    float *dout = randn(&r, (size_t)N * O, 1.0f), *dw = filled((size_t)O * I, 0.25f);
    float *want = filled((size_t)O * I, 0.25f), *dx = zeros((size_t)N * I), *wdx = zeros((size_t)N * I);
    linear_backward(dx, dw, NULL, dout, x, w, N, I, O);
    mv_sgemm_naive(1, 0, O, I, N, 1.0f, dout, O, x, I, 1.0f, want, I);
    mv_sgemm_naive(0, 0, N, I, O, 1.0f, dout, O, w, I, 0.0f, wdx, I);
    tu_close("linear dw, 1100 rows (+=)", dw, want, (size_t)O * I, ATOL, RTOL);
    tu_close("linear dx, 1100 rows", dx, wdx, (size_t)N * I, ATOL, RTOL);
}

static void test_layernorm(void) {
    int N = 6, C = 16;
    for (int affine = 1; affine >= 0; affine--) {
        const char *t = affine ? "ln" : "ln0";
        char nm[64], what[64];
#define NM(s) (snprintf(nm, sizeof nm, "%s_%s", t, s), nm)
#define WHAT(s) (snprintf(what, sizeof what, "layernorm%s %s", affine ? "" : " (no affine)", s), what)
        float *x = ldf(NM("x"), N * C), *dout = ldf(NM("dout"), N * C);
        float *w = affine ? ldf(NM("w"), C) : NULL, *b = affine ? ldf(NM("b"), C) : NULL;
        float *out = zeros(N * C), *mean = zeros(N), *rstd = zeros(N);
        layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-6f);
        tu_close(WHAT("out"), out, ldf(NM("out"), N * C), N * C, ATOL, RTOL);
        tu_close(WHAT("mean"), mean, ldf(NM("mean"), N), N, ATOL, RTOL);
        tu_close(WHAT("rstd"), rstd, ldf(NM("rstd"), N), N, ATOL, RTOL);
        float *dx = zeros(N * C), *dw = affine ? zeros(C) : NULL, *db = affine ? zeros(C) : NULL;
        layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, N, C);
        tu_close(WHAT("dx"), dx, ldf(NM("dx"), N * C), N * C, ATOL, RTOL);
        if (affine) {
            tu_close(WHAT("dw"), dw, ldf(NM("dw"), C), C, ATOL, RTOL);
            tu_close(WHAT("db"), db, ldf(NM("db"), C), C, ATOL, RTOL);
        }
#undef NM
#undef WHAT
    }
}

static void test_rmsnorm(void) {
    int N = 9, C = 8;
    float *x = ldf("rms_x", N * C), *w = ldf("rms_w", C), *dout = ldf("rms_dout", N * C);
    float *out = zeros(N * C), *rstd = zeros(N), *dx = zeros(N * C), *dw = zeros(C);
    rmsnorm_forward(out, rstd, x, w, N, C, 1.1920928955078125e-07f);
    tu_close("rmsnorm out", out, ldf("rms_out", N * C), N * C, ATOL, RTOL);
    rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
    tu_close("rmsnorm dx", dx, ldf("rms_dx", N * C), N * C, ATOL, RTOL);
    tu_close("rmsnorm dw", dw, ldf("rms_dw", C), C, ATOL, RTOL);
}

static void test_elementwise(void) {
    size_t n = 257;
    const char *names[3] = {"gelu", "silu", "tanh"};
    for (int f = 0; f < 3; f++) {
        char a[64], b[64], c[64], d[64];
        snprintf(a, sizeof a, "%s_x", names[f]), snprintf(b, sizeof b, "%s_out", names[f]);
        snprintf(c, sizeof c, "%s_dout", names[f]), snprintf(d, sizeof d, "%s_dx", names[f]);
        float *x = ldf(a, n), *dout = ldf(c, n), *out = zeros(n), *dx = zeros(n);
        if (f == 0) gelu_forward(out, x, n), gelu_backward(dx, dout, x, n);
        if (f == 1) silu_forward(out, x, n), silu_backward(dx, dout, x, n);
        if (f == 2) tanh_forward(out, x, n), tanh_backward(dx, dout, out, n);
        snprintf(a, sizeof a, "%s out", names[f]), snprintf(c, sizeof c, "%s dx", names[f]);
        tu_close(a, out, ldf(b, n), n, ATOL, RTOL);
        tu_close(c, dx, ldf(d, n), n, ATOL, RTOL);
    }
}

/* NaN inputs stay NaN through the vectorised activations (a NaN must never be hidden). */
static void test_nan_propagation(void) {
    float x[19] = {0}, y[19], d[19] = {0}, g[19];
    for (int i = 0; i < 19; i++) x[i] = 0.25f * (i - 9), g[i] = 1.0f;
    x[3] = x[17] = NAN;
    gelu_forward(y, x, 19);
    CHECK(isnan(y[3]) && isnan(y[17]) && !isnan(y[4]), "gelu keeps NaN: %g %g %g", y[3], y[17], y[4]);
    silu_forward(y, x, 19);
    CHECK(isnan(y[3]) && isnan(y[17]) && !isnan(y[4]), "silu keeps NaN: %g %g %g", y[3], y[17], y[4]);
    gelu_backward(d, g, x, 19);
    CHECK(isnan(d[3]) && isnan(d[17]) && !isnan(d[4]), "gelu backward keeps NaN");
}

/* Runs fast (naive = 0) or naive attention on a reference case and compares with PyTorch. */
static void attention_case(const char *tag, int B, int T, int H, int dh, int masked, int naive) {
    size_t n = (size_t)B * T * H * dh, nl = (size_t)B * H * T;
    char nm[64], what[96];
#define NM(s) (snprintf(nm, sizeof nm, "%s_%s", tag, s), nm)
#define WHAT(s) (snprintf(what, sizeof what, "%s %s %s", naive ? "naive" : "fast", tag, s), what)
    float *q = ldf(NM("q"), n), *k = ldf(NM("k"), n), *v = ldf(NM("v"), n);
    float *dout = ldf(NM("dout"), n);
    uint8_t *mask = masked ? load(NM("mask"), 1, (size_t)B * T * T) : NULL;
    float *out = zeros(n), *lse = zeros(nl);
    float *dq = filled(n, 0.5f), *dk = filled(n, 0.5f), *dv = filled(n, 0.5f);
    if (naive) {
        attention_forward_naive(out, lse, q, k, v, mask, B, T, H, dh);
        attention_backward_naive(dq, dk, dv, dout, out, lse, q, k, v, mask, B, T, H, dh);
    } else {
        attention_forward(out, lse, q, k, v, mask, B, T, H, dh);
        attention_backward(dq, dk, dv, dout, out, lse, q, k, v, mask, B, T, H, dh);
    }
    tu_close(WHAT("out"), out, ldf(NM("out"), n), n, ATOL, RTOL);
    tu_close(WHAT("lse"), lse, ldf(NM("lse"), nl), nl, ATOL, RTOL);
    float *wq = ldf(NM("dq"), n), *wk = ldf(NM("dk"), n), *wv = ldf(NM("dv"), n);
    add_const(wq, n, 0.5f), add_const(wk, n, 0.5f), add_const(wv, n, 0.5f);
    tu_close(WHAT("dq (+=)"), dq, wq, n, ATOL, RTOL);
    tu_close(WHAT("dk (+=)"), dk, wk, n, ATOL, RTOL);
    tu_close(WHAT("dv (+=)"), dv, wv, n, ATOL, RTOL);
#undef NM
#undef WHAT
}

static void test_attention_torch(void) {
    for (int naive = 0; naive < 2; naive++) {
        attention_case("att1", 2, 37, 2, 8, 0, naive);
        attention_case("att2", 1, 150, 2, 40, 0, naive);
        attention_case("att3", 2, 150, 3, 16, 1, naive);
        attention_case("att4", 1, 70, 1, 72, 1, naive);
    }
}

/* Context tokens [0, nctx) attend only to context; the others attend to everything. */
static uint8_t *context_mask(int B, int T, int nctx) {
    uint8_t *m = keep(malloc((size_t)B * T * T));
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) m[((size_t)b * T + i) * T + j] = !(i < nctx && j >= nctx);
    return m;
}


/* Fast vs naive at tile-sized shapes (several tiles, ragged last tile, fully masked tiles), and
 * bit-identical fast backward at 1 and 2 threads. B*H = 4 runs the fused per-head backward, B*H = 1
 * the two-pass one. */
static void attention_fast_vs_naive(int B, int T, int H, int dh) {
    size_t n = (size_t)B * T * H * dh, nl = (size_t)B * H * T;
    mv_rng r;
    mv_rng_init(&r, 99);
    float *q = randn(&r, n, 1.5f), *k = randn(&r, n, 1.5f), *v = randn(&r, n, 1.0f);
    float *dout = randn(&r, n, 1.0f);
    const uint8_t *masks[3] = {NULL, context_mask(B, T, 64), context_mask(B, T, 70)};
    const char *names[3] = {"no mask", "context mask 64", "context mask 70"};
    for (int c = 0; c < 3; c++) {
        float *o1 = zeros(n), *o2 = zeros(n), *l1 = zeros(nl), *l2 = zeros(nl);
        float *g1[3] = {zeros(n), zeros(n), zeros(n)}, *g2[3] = {zeros(n), zeros(n), zeros(n)};
        attention_forward(o1, l1, q, k, v, masks[c], B, T, H, dh);
        attention_forward_naive(o2, l2, q, k, v, masks[c], B, T, H, dh);
        attention_backward(g1[0], g1[1], g1[2], dout, o2, l2, q, k, v, masks[c], B, T, H, dh);
        attention_backward_naive(g2[0], g2[1], g2[2], dout, o2, l2, q, k, v, masks[c], B, T, H, dh);
        char what[128];
        const char *parts[5] = {"out", "lse", "dq", "dk", "dv"};
        float *got[5] = {o1, l1, g1[0], g1[1], g1[2]}, *want[5] = {o2, l2, g2[0], g2[1], g2[2]};
        for (int p = 0; p < 5; p++) {
            snprintf(what, sizeof what, "fast vs naive attention B%d T%d H%d dh%d, %s: %s", B, T, H,
                     dh, names[c], parts[p]);
            tu_close(what, got[p], want[p], p == 1 ? nl : n, ATOL, RTOL);
        }
        if (c != 2) continue;
        float *g3[3] = {zeros(n), zeros(n), zeros(n)};
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        attention_backward(g3[0], g3[1], g3[2], dout, o2, l2, q, k, v, masks[c], B, T, H, dh);
        omp_set_num_threads(threads);
        int same = 1;
        for (int p = 0; p < 3; p++) same &= !memcmp(g3[p], g1[p], n * sizeof(float));
        CHECK(same, "fast attention backward (B%d H%d) differs between 1 and %d threads", B, H,
              threads);
    }
}

/* softmax_rows vs a double-precision softmax: odd widths (masked AVX-512 tails), padded rows. */
static void test_softmax_rows(void) {
    enum { ROWS = 5, LD = 80 };
    const int widths[] = {1, 15, 17, 64, 77};
    for (size_t w = 0; w < MV_ARRAY_LEN(widths); w++) {
        int n = widths[w];
        float x[ROWS * LD], want[ROWS * LD];
        for (int i = 0; i < ROWS * LD; i++) x[i] = 6.0f * sinf(0.37f * i + (float)w) + (i % LD >= n ? 1e3f : 0);
        memcpy(want, x, sizeof x);
        for (int r = 0; r < ROWS; r++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) mx = fmax(mx, x[r * LD + j]);
            for (int j = 0; j < n; j++) sum += exp(x[r * LD + j] - mx);
            for (int j = 0; j < n; j++) want[r * LD + j] = (float)(exp(x[r * LD + j] - mx) / sum);
        }
        softmax_rows(x, ROWS, n, LD);
        char what[64];
        snprintf(what, sizeof what, "softmax_rows width %d (padding untouched)", n);
        tu_close(what, x, want, ROWS * LD, 1e-7, 1e-5);
    }
}

static void test_attention_fast_vs_naive(void) {
    attention_fast_vs_naive(2, 200, 2, 64);
    attention_fast_vs_naive(1, 330, 1, 32);
}

/* ---- bf16 attention (mv_set_matmul_precision(MV_MATMUL_BF16)) ---- */

static float bf16r(float x) {
    uint16_t h = mv_bf16_round(x);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The bf16 kernels' maths in double: q, k, v, dout, P and dS rounded to bf16 where the kernels round
 * them, everything else exact. Forward writes out/lse; backward uses the given out/lse. */
static void attention_bf16_emulated(float *out, float *lse, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const uint8_t *mask, int B,
                                    int T, int H, int dh, int backward) {
    size_t ld = (size_t)H * dh;
    double scale = 1.0 / sqrt((double)dh);
    double *s = malloc((size_t)T * sizeof(double)), *dp = malloc((size_t)T * sizeof(double));
    float *pb = malloc((size_t)T * T * sizeof(float)), *dsb = malloc((size_t)T * T * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
#define AT(x, i, d) (x)[((size_t)b * T + (i)) * ld + (size_t)h * dh + (d)]
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0, D = 0;
                for (int j = 0; j < T; j++) {
                    double acc = 0;
                    for (int d = 0; d < dh; d++) acc += (double)bf16r(AT(q, i, d)) * bf16r(AT(k, j, d));
                    s[j] = mask && !mask[((size_t)b * T + i) * T + j] ? -INFINITY : scale * acc;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++) sum += exp(s[j] - mx);
                float *L = lse + ((size_t)b * H + h) * T + i;
                if (!backward) *L = (float)(mx + log(sum));
                for (int j = 0; j < T; j++) pb[(size_t)i * T + j] = bf16r((float)exp(s[j] - *L));
                if (!backward) {
                    for (int d = 0; d < dh; d++) {
                        double acc = 0;
                        for (int j = 0; j < T; j++) acc += (double)pb[(size_t)i * T + j] * bf16r(AT(v, j, d));
                        AT(out, i, d) = (float)acc;
                    }
                    continue;
                }
                for (int d = 0; d < dh; d++) D += (double)AT(dout, i, d) * AT(out, i, d);
                for (int j = 0; j < T; j++) {
                    double acc = 0;
                    for (int d = 0; d < dh; d++) acc += (double)bf16r(AT(dout, i, d)) * bf16r(AT(v, j, d));
                    dp[j] = acc;
                    dsb[(size_t)i * T + j] = bf16r((float)(scale * exp(s[j] - *L) * (dp[j] - D)));
                }
            }
            if (!backward) continue;
            for (int i = 0; i < T; i++)
                for (int d = 0; d < dh; d++) {
                    double aq = 0, ak = 0, av = 0;
                    for (int j = 0; j < T; j++) {
                        aq += (double)dsb[(size_t)i * T + j] * bf16r(AT(k, j, d));
                        ak += (double)dsb[(size_t)j * T + i] * bf16r(AT(q, j, d));
                        av += (double)pb[(size_t)j * T + i] * bf16r(AT(dout, j, d));
                    }
                    AT(dq, i, d) += (float)aq, AT(dk, i, d) += (float)ak, AT(dv, i, d) += (float)av;
                }
#undef AT
        }
    free(s), free(dp), free(pb), free(dsb);
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* The bf16 attention against (1) the same maths in double on the same bf16-rounded operands (tight:
 * 99% within 1e-5 of the largest value; the rest are bf16 rounding flips, at most 2^-7 of it) and
 * (2) fp32 attention, with bounds from the bf16 unit roundoff u = 2^-8:
 *  - forward: the scores scale*q.k carry |e_ij| <= 2u scale sum_d |q_id k_jd| (both factors rounded),
 *    P = softmax moves by sum_j |dP_ij| <= 2 max_j |e_ij|, P itself is rounded (u) and so is v (u):
 *    |d out_i| <= max|v| (2u + 2 max_j |e_ij|), checked per row with a 1.5x margin for second order;
 *  - backward: a relative (Frobenius) error of at most 8u (dq, dk, dv are sums of products of two
 *    rounded factors, each computed from rounded P / dS that carry the forward's error again). */
static void attention_bf16_case(int B, int T, int H, int dh, int masked) {
    size_t n = (size_t)B * T * H * dh, nl = (size_t)B * H * T, ld = (size_t)H * dh;
    mv_rng r;
    mv_rng_init(&r, 1234 + T);
    float *q = randn(&r, n, 1.5f), *k = randn(&r, n, 1.5f), *v = randn(&r, n, 1.0f), *dout = randn(&r, n, 1.0f);
    const uint8_t *mask = masked ? context_mask(B, T, T / 3) : NULL;
    float *o16 = zeros(n), *l16 = zeros(nl), *o32 = zeros(n), *l32 = zeros(nl), *oe = zeros(n), *le = zeros(nl);
    float *g16[3] = {zeros(n), zeros(n), zeros(n)}, *g32[3] = {zeros(n), zeros(n), zeros(n)},
          *ge[3] = {zeros(n), zeros(n), zeros(n)}, *again[3] = {zeros(n), zeros(n), zeros(n)};
    attention_forward_naive(o32, l32, q, k, v, mask, B, T, H, dh);
    attention_backward_naive(g32[0], g32[1], g32[2], dout, o32, l32, q, k, v, mask, B, T, H, dh);
    mv_set_matmul_precision(MV_MATMUL_BF16);
    attention_forward(o16, l16, q, k, v, mask, B, T, H, dh);
    attention_backward(g16[0], g16[1], g16[2], dout, o16, l16, q, k, v, mask, B, T, H, dh);
    attention_backward(again[0], again[1], again[2], dout, o16, l16, q, k, v, mask, B, T, H, dh);
    mv_set_matmul_precision(MV_MATMUL_FP32);
    /* did the bf16 path run? (else the fp32 kernels gave exactly their fp32 result) */
    float *of = zeros(n), *lf = zeros(nl);
    attention_forward(of, lf, q, k, v, mask, B, T, H, dh);
    if (!memcmp(o16, of, n * sizeof(float))) {
        printf("note: no optimised bf16 matmul on this CPU; bf16 attention falls back to fp32\n");
        return;
    }
    int same = 1;
    for (int p = 0; p < 3; p++) same &= !memcmp(again[p], g16[p], n * sizeof(float));
    CHECK(same, "bf16 attention backward repeats bit for bit (B%d T%d)", B, T);
    /* (1) against the emulation */
    attention_bf16_emulated(oe, le, NULL, NULL, NULL, NULL, q, k, v, mask, B, T, H, dh, 0);
    attention_bf16_emulated(o16, l16, ge[0], ge[1], ge[2], dout, q, k, v, mask, B, T, H, dh, 1);
    const char *parts[5] = {"out", "lse", "dq", "dk", "dv"};
    float *got[5] = {o16, l16, g16[0], g16[1], g16[2]}, *want[5] = {oe, le, ge[0], ge[1], ge[2]};
    for (int p = 0; p < 5; p++) {
        size_t m = p == 1 ? nl : n, off = 0;
        double mx = max_abs(want[p], m), worst = 0;
        for (size_t i = 0; i < m; i++) {
            double e = fabs((double)got[p][i] - want[p][i]);
            off += !(e <= 1e-5 * mx + 1e-4 * fabs(want[p][i]));
            worst = fmax(worst, e / mx);
        }
        /* fp32 sums and the vector exp put P or dS a hair away from the double values; where that
         * crosses a bf16 rounding boundary the element is one bf16 step (2^-8 of it) off: rare, and
         * at most 2^-8 of the largest term in any output */
        CHECK(off <= m / 100 && worst <= 1.0 / 128,
              "bf16 attention B%d T%d%s %s vs emulated bf16 maths: %zu of %zu beyond 1e-5, worst %.2e of max",
              B, T, masked ? " masked" : "", parts[p], off, m, worst);
        printf("bf16 attention B%d T%d H%d dh%d%s = emulated bf16 maths: %s: %zu of %zu elements beyond 1e-5 (rounding "
               "flips), worst %.1e of the largest\n", B, T, H, dh, masked ? " masked" : "", parts[p], off, m, worst);
    }
    /* (2) against fp32: forward bound per row */
    const double u = 1.0 / 256, scale = 1.0 / sqrt((double)dh);
    double vmax = max_abs(v, n), worst = 0;
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double emax = 0, err = 0;
                for (int j = 0; j < T; j++) {
                    if (mask && !mask[((size_t)b * T + i) * T + j]) continue;
                    const float *qi = q + ((size_t)b * T + i) * ld + h * dh;
                    const float *kj = k + ((size_t)b * T + j) * ld + h * dh;
                    double a = 0;
                    for (int d = 0; d < dh; d++) a += fabs((double)qi[d] * kj[d]);
                    emax = fmax(emax, 2 * u * scale * a);
                }
                for (int d = 0; d < dh; d++) {
                    size_t o = ((size_t)b * T + i) * ld + (size_t)h * dh + d;
                    err = fmax(err, fabs(o16[o] - o32[o]));
                }
                double bound = 1.5 * vmax * (2 * u + 2 * emax);
                worst = fmax(worst, err / bound);
                bad += !(err <= bound);
            }
    CHECK(!bad, "bf16 attention forward B%d T%d: %d rows beyond the rounding bound", B, T, bad);
    printf("bf16 attention B%d T%d H%d dh%d%s: forward error at most %.2f of its bound", B, T, H, dh,
           masked ? " masked" : "", worst);
    for (int p = 0; p < 3; p++) {
        double e2 = 0, w2 = 0;
        for (size_t i = 0; i < n; i++) e2 += pow(g16[p][i] - g32[p][i], 2), w2 += pow(g32[p][i], 2);
        double rel = sqrt(e2 / w2);
        CHECK(rel <= 8 * u, "bf16 attention %s vs fp32: relative error %.4f > 8u = %.4f", parts[p + 2], rel, 8 * u);
        printf(", %s %.4f", parts[p + 2], rel);
    }
    printf(" (relative, bound %.4f)\n", 8 * u);
}

static void test_attention_bf16(void) {
    attention_bf16_case(2, 96, 2, 32, 0);  /* several 16-wide vectors per row */
    attention_bf16_case(1, 77, 3, 16, 1);  /* ragged rows, masked context */
    attention_bf16_case(2, 64, 4, 64, 1);
    attention_bf16_case(9, 192, 8, 16, 1); /* two groups of samples (5 and 4) */
}

static void test_modulate_gate(void) {
    int N = 5, C = 8;
    float *x = ldf("mod_x", N * C), *m = ldf("mod_m", N * 3 * C), *dout = ldf("mod_dout", N * C);
    float *out = zeros(N * C), *dx = zeros(N * C), *dm = zeros(N * 3 * C);
    modulate_forward(out, x, m, m + C, 3 * C, N, C);
    tu_close("modulate out", out, ldf("mod_out", N * C), N * C, ATOL, RTOL);
    modulate_backward(dx, dm, dm + C, dout, x, m + C, 3 * C, N, C);
    tu_close("modulate dx", dx, ldf("mod_dx", N * C), N * C, ATOL, RTOL);
    tu_close("modulate dshift, dscale (stride 3C)", dm, ldf("mod_dm", N * 3 * C), N * 3 * C, ATOL,
             RTOL);
    float *gx = ldf("gate_x", N * C), *g = ldf("gate_g", N * 2 * C), *y = ldf("gate_y", N * C);
    float *gd = ldf("gate_dout", N * C), *dg = zeros(N * 2 * C), *dy = zeros(N * C);
    gate_residual_forward(gx, g + C, y, 2 * C, N, C);
    tu_close("gate_residual out", gx, ldf("gate_out", N * C), N * C, ATOL, RTOL);
    gate_residual_backward(dg + C, dy, gd, g + C, y, 2 * C, N, C);
    tu_close("gate_residual dgate (stride 2C)", dg, ldf("gate_dg", N * 2 * C), N * 2 * C, ATOL, RTOL);
    tu_close("gate_residual dy", dy, ldf("gate_dy", N * C), N * C, ATOL, RTOL);
}

static void test_embeddings(void) {
    int N = 11;
    float *t = ldf("temb_t", N), *out = zeros(N * 256);
    timestep_embedding(out, t, N);
    /* s = 1000 t reaches 1000 rad: float32 rounding of t itself dominates; 1e-4 is tight for that */
    tu_close("timestep embedding (cos first)", out, ldf("temb_out", N * 256), N * 256, 1e-4, 0);
    int *row = ldi("pos_row", N), *col = ldi("pos_col", N), *frame = ldi("pos_frame", N);
    float *p2 = zeros(N * 32);
    pos2d_embedding(p2, row, col, N, 32);
    tu_close("pos2d embedding (w before h)", p2, ldf("pos2d_out", N * 32), N * 32, ATOL, RTOL);
    for (int D = 24; D <= 26; D += 2) {
        char nm[64], what[64];
        snprintf(nm, sizeof nm, "pos3d_%d_out", D);
        snprintf(what, sizeof what, "pos3d embedding D=%d (f, h, w, zero pad)", D);
        float *p3 = filled(N * D, 7.0f);
        pos3d_embedding(p3, frame, row, col, N, D);
        tu_close(what, p3, ldf(nm, N * D), N * D, ATOL, RTOL);
    }
}

static void test_lookup_images_loss(void) {
    int N = 9, D = 6, V = 5;
    float *table = ldf("emb_table", V * D), *dout = ldf("emb_dout", N * D);
    int *idx = ldi("emb_idx", N);
    float *out = zeros(N * D), *dt = zeros(V * D);
    embedding_forward(out, idx, table, N, D);
    tu_close("embedding out", out, ldf("emb_out", N * D), N * D, ATOL, RTOL);
    embedding_backward(dt, dout, idx, N, D);
    tu_close("embedding dtable", dt, ldf("emb_dtable", V * D), V * D, ATOL, RTOL);

    int H = 8, W = 12, P = 4;
    size_t ni = (size_t)H * W * 3;
    float *img = ldf("patch_img", ni), *patches = zeros(ni), *back = zeros(ni);
    patchify(patches, img, H, W, P);
    tu_close("patchify (c, py, px)", patches, ldf("patch_out", ni), ni, 0, 0);
    unpatchify(back, patches, H, W, P);
    tu_close("unpatchify inverts patchify", back, img, ni, 0, 0);

    H = 6, W = 8;
    int Ch = 3;
    size_t np = (size_t)H * W * Ch, no = np / 4;
    float *x = ldf("pool_x", np), *pd = ldf("pool_dout", no), *po = zeros(no), *pdx = zeros(np);
    avgpool2x2_forward(po, x, H, W, Ch);
    tu_close("avgpool2x2 out", po, ldf("pool_out", no), no, ATOL, RTOL);
    avgpool2x2_backward(pdx, pd, H, W, Ch);
    tu_close("avgpool2x2 dx", pdx, ldf("pool_dx", np), np, ATOL, RTOL);

    N = 6;
    int C = 5;
    float *pred = ldf("mse_pred", N * C), *target = ldf("mse_target", N * C);
    float *mask = ldf("mse_mask", N), *wt = ldf("mse_wt", N), *dp = zeros(N * C);
    float loss = mse_loss_forward(pred, target, mask, wt, N, C);
    tu_close("mse loss (mask, weights)", &loss, ldf("mse_loss", 1), 1, ATOL, RTOL);
    mse_loss_backward(dp, pred, target, mask, wt, N, C, 1.7f);
    tu_close("mse dpred (dloss 1.7)", dp, ldf("mse_dpred", N * C), N * C, ATOL, RTOL);
    double want = 0;
    for (int i = 0; i < N * C; i++) want += ((double)pred[i] - target[i]) * (pred[i] - target[i]);
    float plain = mse_loss_forward(pred, target, NULL, NULL, N, C), wantf = (float)(want / (N * C));
    tu_close("mse loss (no mask, no weights)", &plain, &wantf, 1, ATOL, RTOL);
}

static void test_optim(void) {
    int n = 50;
    float *p = ldf("adam_p0", n), *m = zeros(n), *v = zeros(n);
    for (int step = 1; step <= 3; step++) {
        char nm[32], what[64];
        snprintf(nm, sizeof nm, "adam_g%d", step);
        float lr = lr_warmup(1e-3f, step, 2);
        adamw_update(p, ldf(nm, n), m, v, n, lr, 0.9f, 0.999f, 1e-8f, 0.01f, step);
        snprintf(nm, sizeof nm, "adam_p%d", step);
        snprintf(what, sizeof what, "adamw step %d (lr %g) vs torch.optim.AdamW", step, lr);
        tu_close(what, p, ldf(nm, n), n, 1e-6, 1e-5);
    }
    CHECK(lr_warmup(1e-3f, 0, 10) == 0.0f, "warm-up step 0 gives 0");
    CHECK(fabsf(lr_warmup(1e-3f, 5, 10) - 5e-4f) < 1e-10f, "warm-up half way");
    CHECK(lr_warmup(1e-3f, 10, 10) == 1e-3f && lr_warmup(1e-3f, 99, 10) == 1e-3f, "after warm-up");
    CHECK(lr_warmup(1e-3f, 0, 0) == 1e-3f, "no warm-up");
    for (int c = 1; c <= 2; c++) {
        char nm[32], what[64];
        snprintf(nm, sizeof nm, "clip%d_g", c);
        float *g = ldf(nm, 100);
        float norm = clip_grad_norm(g, 100, c == 1 ? 1.0f : 100.0f);
        snprintf(nm, sizeof nm, "clip%d_norm", c);
        snprintf(what, sizeof what, "clip_grad_norm max %g: norm", c == 1 ? 1.0 : 100.0);
        tu_close(what, &norm, ldf(nm, 1), 1, ATOL, RTOL);
        snprintf(nm, sizeof nm, "clip%d_out", c);
        snprintf(what, sizeof what, "clip_grad_norm max %g: grads", c == 1 ? 1.0 : 100.0);
        tu_close(what, g, ldf(nm, 100), 100, ATOL, RTOL);
    }
}

/* ---- finite-difference check: y = x + W2 gelu(W1 LN(x) + b1) + b2, loss = weighted masked MSE ----
 * All inputs and parameters live in one flat vector theta so every element is checked. */
enum { FD_N = 6, FD_C = 8, FD_HD = 32 };
enum { FD_X = 0, FD_LNW = FD_X + FD_N * FD_C, FD_LNB = FD_LNW + FD_C, FD_W1 = FD_LNB + FD_C,
       FD_B1 = FD_W1 + FD_HD * FD_C, FD_W2 = FD_B1 + FD_HD, FD_B2 = FD_W2 + FD_C * FD_HD,
       FD_TOTAL = FD_B2 + FD_C };

typedef struct {
    float ln[FD_N * FD_C], mean[FD_N], rstd[FD_N], h[FD_N * FD_HD], g[FD_N * FD_HD];
    float o[FD_N * FD_C], y[FD_N * FD_C];
} fd_acts;

static float fd_forward(fd_acts *a, const float *th, const float *target, const float *mask,
                        const float *wt) {
    layernorm_forward(a->ln, a->mean, a->rstd, th + FD_X, th + FD_LNW, th + FD_LNB, FD_N, FD_C, 1e-6f);
    linear_forward(a->h, a->ln, th + FD_W1, th + FD_B1, FD_N, FD_C, FD_HD);
    gelu_forward(a->g, a->h, FD_N * FD_HD);
    linear_forward(a->o, a->g, th + FD_W2, th + FD_B2, FD_N, FD_HD, FD_C);
    for (int i = 0; i < FD_N * FD_C; i++) a->y[i] = th[FD_X + i] + a->o[i];
    return mse_loss_forward(a->y, target, mask, wt, FD_N, FD_C);
}

static void fd_backward(float *dth, const fd_acts *a, const float *th, const float *target,
                        const float *mask, const float *wt) {
    float dy[FD_N * FD_C] = {0}, dg[FD_N * FD_HD] = {0}, dh[FD_N * FD_HD] = {0};
    float dln[FD_N * FD_C] = {0};
    mse_loss_backward(dy, a->y, target, mask, wt, FD_N, FD_C, 1.0f);
    for (int i = 0; i < FD_N * FD_C; i++) dth[FD_X + i] += dy[i];
    linear_backward(dg, dth + FD_W2, dth + FD_B2, dy, a->g, th + FD_W2, FD_N, FD_HD, FD_C);
    gelu_backward(dh, dg, a->h, FD_N * FD_HD);
    linear_backward(dln, dth + FD_W1, dth + FD_B1, dh, a->ln, th + FD_W1, FD_N, FD_C, FD_HD);
    layernorm_backward(dth + FD_X, dth + FD_LNW, dth + FD_LNB, dln, th + FD_X, th + FD_LNW, a->mean,
                       a->rstd, FD_N, FD_C);
}

static void test_block_gradcheck(void) {
    mv_rng r;
    mv_rng_init(&r, 5);
    float *th = randn(&r, FD_TOTAL, 0.5f), *target = randn(&r, FD_N * FD_C, 1.0f);
    for (int c = 0; c < FD_C; c++) th[FD_LNW + c] += 1.0f;
    float mask[FD_N] = {1, 1, 0, 1, 1, 1}, wt[FD_N] = {0.5f, 1, 2, 1.5f, 1, 0.25f};
    fd_acts a;
    float *grad = zeros(FD_TOTAL), *num = zeros(FD_TOTAL);
    fd_forward(&a, th, target, mask, wt);
    fd_backward(grad, &a, th, target, mask, wt);
    const float h = 6e-3f;
    for (int i = 0; i < FD_TOTAL; i++) {
        float save = th[i];
        th[i] = save + h;
        double lp = fd_forward(&a, th, target, mask, wt);
        th[i] = save - h;
        double lm = fd_forward(&a, th, target, mask, wt);
        th[i] = save;
        num[i] = (float)((lp - lm) / (2.0 * h));
    }
    const char *names[7] = {"x", "ln w", "ln b", "W1", "b1", "W2", "b2"};
    int start[8] = {FD_X, FD_LNW, FD_LNB, FD_W1, FD_B1, FD_W2, FD_B2, FD_TOTAL};
    for (int p = 0; p < 7; p++) {
        char what[96];
        snprintf(what, sizeof what, "finite differences, LN-linear-GELU-linear-residual-MSE: d%s",
                 names[p]);
        tu_close(what, grad + start[p], num + start[p], start[p + 1] - start[p], 3e-4, 1e-2);
    }
}

int main(void) {
    mv_set_threads(2);
    g_dir = tu_tmpdir("test_nn");
    int rc = tu_python("tools/ref_nn.py '%s'", g_dir);
    CHECK(rc == 0, "tools/ref_nn.py failed (exit %d)", rc);
    if (rc == 0) {
        test_linear();
        test_layernorm();
        test_rmsnorm();
        test_elementwise();
        test_attention_torch();
        test_modulate_gate();
        test_embeddings();
        test_lookup_images_loss();
        test_optim();
    }
    test_linear_many_rows();
    test_nan_propagation();
    test_softmax_rows();
    test_attention_fast_vs_naive();
    test_attention_bf16();
    test_block_gradcheck();
    for (int i = 0; i < g_nbufs; i++) free(g_bufs[i]);
    return tu_finish();
}
