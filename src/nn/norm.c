/* LayerNorm (biased variance, optional affine) and RMSNorm with a learned scale. */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"

/* Row sums use `omp simd` reductions (vectorised; the order is fixed by the build, not the threads).
 * Parameter gradients are reduced over rows in a fixed number of row chunks (independent of the
 * thread count), each chunk summed into its own partial row, then the partials added in order. */
enum { NORM_ROW_CHUNKS = 32 };

void layernorm_forward(float *out,   /* [N, C] */
                       float *mean,  /* [N] saved */
                       float *rstd,  /* [N] saved */
                       const float *inp, const float *w, const float *b, /* [N,C], [C], [C] */
                       int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c];
        float m = s / C;
        float v = 0;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += d * d;
        }
        float r = 1.0f / sqrtf(v / C + eps);
        for (int c = 0; c < C; c++) {
            float o = (x[c] - m) * r;
            if (w) o *= w[c];
            if (b) o += b[c];
            y[c] = o;
        }
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}

/* Adds the per-chunk partials part[nchunks, 2, C] into dw, db (either may be NULL). */
static void sum_partials(float *dw, float *db, const float *part, int nchunks, int C) {
    for (int k = 0; k < nchunks; k++) {
        const float *pw = part + (size_t)k * 2 * C, *pb = pw + C;
        for (int c = 0; c < C; c++) {
            if (dw) dw[c] += pw[c];
            if (db) db[c] += pb[c];
        }
    }
}

static void layernorm_dinp(float *dinp, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        float sg = 0, sgx = 0;
        if (w) {
#pragma omp simd reduction(+ : sg, sgx)
            for (int c = 0; c < C; c++) {
                sg += g[c] * w[c];
                sgx += g[c] * w[c] * (x[c] - m);
            }
        } else {
#pragma omp simd reduction(+ : sg, sgx)
            for (int c = 0; c < C; c++) {
                sg += g[c];
                sgx += g[c] * (x[c] - m);
            }
        }
        float a = sg / C, bcoef = sgx * r / C; /* mean(gn), mean(gn * xn) */
        if (w) {
#pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += r * (g[c] * w[c] - a - (x[c] - m) * r * bcoef);
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) dx[c] += r * (g[c] - a - (x[c] - m) * r * bcoef);
        }
    }
}

void layernorm_backward(float *dinp, float *dw, float *db,  /* [N,C], [C] or NULL, [C] or NULL */
                        const float *dout, const float *inp, const float *w, /* w may be NULL */
                        const float *mean, const float *rstd, int N, int C) {
    if (dinp) layernorm_dinp(dinp, dout, inp, w, mean, rstd, N, C);
    if (!dw && !db) return;
    int nchunks = MV_MIN(NORM_ROW_CHUNKS, N);
    if (nchunks <= 0) return;
    float *part = calloc((size_t)nchunks * 2 * C, sizeof(float));
    if (!part) nchunks = 1; /* fall back to one serial chunk accumulating directly */
#pragma omp parallel for schedule(static) if (part)
    for (int k = 0; k < nchunks; k++) {
        int n0 = (int)((long)N * k / nchunks), n1 = (int)((long)N * (k + 1) / nchunks);
        float *pw = part ? part + (size_t)k * 2 * C : dw, *pb = part ? pw + C : db;
        for (int n = n0; n < n1; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            for (int c = 0; c < C; c++) {
                if (pw) pw[c] += g[c] * (x[c] - m) * r;
                if (pb) pb[c] += g[c];
            }
        }
    }
    if (part) sum_partials(dw, db, part, nchunks, C);
    free(part);
}

void rmsnorm_forward(float *out, float *rstd, /* [N, C], [N] saved */
                     const float *inp, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c] * x[c];
        float r = 1.0f / sqrtf(s / C + eps);
        for (int c = 0; c < C; c++) y[c] = x[c] * r * w[c];
        if (rstd) rstd[n] = r;
    }
}

void rmsnorm_backward(float *dinp, float *dw, /* [N, C], [C] */
                      const float *dout, const float *inp, const float *w, const float *rstd,
                      int N, int C) {
    if (dinp) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            float r = rstd[n], s = 0;
#pragma omp simd reduction(+ : s)
            for (int c = 0; c < C; c++) s += g[c] * w[c] * x[c];
            s = s / C * r * r;
            for (int c = 0; c < C; c++) dx[c] += r * (g[c] * w[c] - x[c] * s);
        }
    }
    if (!dw) return;
    int nchunks = MV_MIN(NORM_ROW_CHUNKS, N);
    if (nchunks <= 0) return;
    float *part = calloc((size_t)nchunks * 2 * C, sizeof(float));
    if (!part) nchunks = 1;
#pragma omp parallel for schedule(static) if (part)
    for (int k = 0; k < nchunks; k++) {
        int n0 = (int)((long)N * k / nchunks), n1 = (int)((long)N * (k + 1) / nchunks);
        float *pw = part ? part + (size_t)k * 2 * C : dw;
        for (int n = n0; n < n1; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float r = rstd[n];
            for (int c = 0; c < C; c++) pw[c] += g[c] * x[c] * r;
        }
    }
    if (part) sum_partials(dw, NULL, part, nchunks, C);
    free(part);
}
