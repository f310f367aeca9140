/* Elementwise activations, adaLN modulation, gated residual, images, embedding lookup, MSE loss. */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "nn/vmath.h"

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* GELU and SiLU use AVX-512 exp-based kernels when available (glibc's scalar tanhf/expf cost
 * ~20 ns per element, several times the GEMMs around them); tanh_forward keeps tanhf for its
 * relative accuracy near 0 (it makes the AE latents). */
#ifdef __AVX512F__
#define VEC_LOOP(n) for (size_t i = 0; i < (n); i += 16)

void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    VEC_LOOP(n) {
        __mmask16 k = vm_mask((long)(n - i));
        __m512 x = _mm512_maskz_loadu_ps(k, inp + i), x2 = _mm512_mul_ps(x, x);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_K),
                                 _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_C), x2), x, x));
        __m512 hx = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
        _mm512_mask_storeu_ps(out + i, k, _mm512_fmadd_ps(hx, tanh512(u), hx));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    VEC_LOOP(n) {
        __mmask16 k = vm_mask((long)(n - i));
        const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
        __m512 x = _mm512_maskz_loadu_ps(k, inp + i), x2 = _mm512_mul_ps(x, x);
        __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_K),
                                 _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_C), x2), x, x));
        __m512 t = tanh512(u);
        __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_K),
                                  _mm512_fmadd_ps(_mm512_set1_ps(3.0f * GELU_C), x2, one));
        __m512 sech2 = _mm512_fnmadd_ps(t, t, one);
        __m512 g = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(half, x), sech2), du,
                                   _mm512_mul_ps(half, _mm512_add_ps(one, t)));
        __m512 d = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, dout + i), g,
                                   _mm512_maskz_loadu_ps(k, dinp + i));
        _mm512_mask_storeu_ps(dinp + i, k, d);
    }
}

void silu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    VEC_LOOP(n) {
        __mmask16 k = vm_mask((long)(n - i));
        __m512 x = _mm512_maskz_loadu_ps(k, inp + i);
        _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(x, sigmoid512(x)));
    }
}

void silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    VEC_LOOP(n) {
        __mmask16 k = vm_mask((long)(n - i));
        const __m512 one = _mm512_set1_ps(1.0f);
        __m512 x = _mm512_maskz_loadu_ps(k, inp + i), s = sigmoid512(x);
        __m512 g = _mm512_mul_ps(s, _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
        __m512 d = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, dout + i), g,
                                   _mm512_maskz_loadu_ps(k, dinp + i));
        _mm512_mask_storeu_ps(dinp + i, k, d);
    }
}
#else /* plain C */

void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + GELU_C * x * x * x)));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = tanhf(GELU_K * (x + GELU_C * x * x * x));
        float du = GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

void silu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}

void silu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}
#endif

void tanh_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void modulate_forward(float *out, const float *x, const float *shift, const float *scale, int ld,
                      int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *sh = shift + (size_t)n * ld, *sc = scale + (size_t)n * ld;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = xr[c] * (1.0f + sc[c]) + sh[c];
    }
}

void modulate_backward(float *dx, float *dshift, float *dscale, /* [N,C], rows of stride ld */
                       const float *dout, const float *x, const float *scale, int ld, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * C, *xr = x + (size_t)n * C;
        const float *sc = scale + (size_t)n * ld;
        for (int c = 0; c < C; c++) {
            if (dx) dx[(size_t)n * C + c] += g[c] * (1.0f + sc[c]);
            if (dshift) dshift[(size_t)n * ld + c] += g[c];
            if (dscale) dscale[(size_t)n * ld + c] += g[c] * xr[c];
        }
    }
}

void gate_residual_forward(float *x, const float *gate, const float *y, int ld, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gate + (size_t)n * ld, *yr = y + (size_t)n * C;
        float *xr = x + (size_t)n * C;
        for (int c = 0; c < C; c++) xr[c] += g[c] * yr[c];
    }
}

void gate_residual_backward(float *dgate, float *dy, const float *dx, const float *gate,
                            const float *y, int ld, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = gate + (size_t)n * ld, *yr = y + (size_t)n * C, *d = dx + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            if (dgate) dgate[(size_t)n * ld + c] += d[c] * yr[c];
            if (dy) dy[(size_t)n * C + c] += d[c] * g[c];
        }
    }
}

void embedding_forward(float *out, const int *idx, const float *table, int N, int D) {
#pragma omp parallel for schedule(static) if ((size_t)N * D >= NN_PAR_MIN)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * D, table + (size_t)idx[n] * D, sizeof(float) * (size_t)D);
}

/* Serial over rows so the accumulation order into a shared table row is fixed; parallel over D. */
void embedding_backward(float *dtable, const float *dout, const int *idx, int N, int D) {
    for (int n = 0; n < N; n++) {
        float *t = dtable + (size_t)idx[n] * D;
        const float *g = dout + (size_t)n * D;
        for (int d = 0; d < D; d++) t[d] += g[d];
    }
}

void patchify(float *patches, const float *img, int H, int W, int P) {
    int gh = H / P, gw = W / P;
#pragma omp parallel for schedule(static) if ((size_t)H * W * 3 >= NN_PAR_MIN)
    for (int pi = 0; pi < gh; pi++)
        for (int pj = 0; pj < gw; pj++) {
            float *p = patches + ((size_t)pi * gw + pj) * 3 * P * P;
            for (int py = 0; py < P; py++)
                for (int px = 0; px < P; px++) {
                    const float *s = img + (((size_t)pi * P + py) * W + (size_t)pj * P + px) * 3;
                    for (int c = 0; c < 3; c++) p[c * P * P + py * P + px] = s[c];
                }
        }
}

void unpatchify(float *img, const float *patches, int H, int W, int P) {
    int gh = H / P, gw = W / P;
#pragma omp parallel for schedule(static) if ((size_t)H * W * 3 >= NN_PAR_MIN)
    for (int pi = 0; pi < gh; pi++)
        for (int pj = 0; pj < gw; pj++) {
            const float *p = patches + ((size_t)pi * gw + pj) * 3 * P * P;
            for (int py = 0; py < P; py++)
                for (int px = 0; px < P; px++) {
                    float *s = img + (((size_t)pi * P + py) * W + (size_t)pj * P + px) * 3;
                    for (int c = 0; c < 3; c++) s[c] = p[c * P * P + py * P + px];
                }
        }
}

void avgpool2x2_forward(float *out, const float *inp, int H, int W, int Ch) {
    int h2 = H / 2, w2 = W / 2;
#pragma omp parallel for schedule(static) if ((size_t)H * W * Ch >= NN_PAR_MIN)
    for (int i = 0; i < h2; i++)
        for (int j = 0; j < w2; j++) {
            const float *a = inp + ((size_t)(2 * i) * W + 2 * j) * Ch, *b = a + Ch;
            const float *c = a + (size_t)W * Ch, *d = c + Ch;
            float *o = out + ((size_t)i * w2 + j) * Ch;
            for (int k = 0; k < Ch; k++) o[k] = 0.25f * ((a[k] + b[k]) + (c[k] + d[k]));
        }
}

void avgpool2x2_backward(float *dinp, const float *dout, int H, int W, int Ch) {
    int h2 = H / 2, w2 = W / 2;
#pragma omp parallel for schedule(static) if ((size_t)H * W * Ch >= NN_PAR_MIN)
    for (int i = 0; i < h2; i++)
        for (int j = 0; j < w2; j++) {
            float *a = dinp + ((size_t)(2 * i) * W + 2 * j) * Ch, *b = a + Ch;
            float *c = a + (size_t)W * Ch, *d = c + Ch;
            const float *g = dout + ((size_t)i * w2 + j) * Ch;
            for (int k = 0; k < Ch; k++) {
                float q = 0.25f * g[k];
                a[k] += q, b[k] += q, c[k] += q, d[k] += q;
            }
        }
}

static double mse_denom(const float *mask, int N, int C) {
    double msum = 0;
    if (!mask) return (double)N * C;
    for (int n = 0; n < N; n++) msum += mask[n];
    return msum * C;
}

/* The loss is summed in a fixed number of row chunks (then in order) so it repeats bit for bit. */
float mse_loss_forward(const float *pred, const float *target, const float *mask, const float *wt,
                       int N, int C) {
    enum { CHUNKS = 64 };
    double denom = mse_denom(mask, N, C), part[CHUNKS] = {0}, total = 0;
    if (denom == 0) return 0.0f;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int k = 0; k < CHUNKS; k++) {
        int n0 = (int)((long)N * k / CHUNKS), n1 = (int)((long)N * (k + 1) / CHUNKS);
        for (int n = n0; n < n1; n++) {
            double f = (mask ? mask[n] : 1.0) * (wt ? wt[n] : 1.0), s = 0;
            if (f == 0) continue;
            const float *p = pred + (size_t)n * C, *t = target + (size_t)n * C;
            for (int c = 0; c < C; c++) {
                double d = (double)p[c] - t[c];
                s += d * d;
            }
            part[k] += f * s;
        }
    }
    for (int k = 0; k < CHUNKS; k++) total += part[k];
    return (float)(total / denom);
}

void mse_loss_backward(float *dpred, const float *pred, const float *target, const float *mask,
                       const float *wt, int N, int C, float dloss) {
    double denom = mse_denom(mask, N, C);
    if (denom == 0) return;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        float f = (float)((mask ? mask[n] : 1.0) * (wt ? wt[n] : 1.0) * 2.0 * dloss / denom);
        if (f == 0) continue;
        const float *p = pred + (size_t)n * C, *t = target + (size_t)n * C;
        float *d = dpred + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += f * (p[c] - t[c]);
    }
}
