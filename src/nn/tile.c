/* Small in-cache matrix kernels for the attention tiles. */
#include "nn/tile.h"

#include <math.h>
#include <stddef.h>

#ifdef __AVX512F__
#include <immintrin.h>

#include "nn/vmath.h"

static inline __mmask16 lane_mask(int w) {
    return w >= 16 ? (__mmask16)0xFFFF : w <= 0 ? (__mmask16)0 : (__mmask16)((1u << w) - 1);
}

/* R rows x 32 columns (masks m0, m1 for the two 16-lane halves) of C (+)= A @ B. */
static inline __attribute__((always_inline)) void kern_rows(int R, float *C, int ldc,
                                                            const float *A, int rsa, int csa,
                                                            const float *B, int ldb, int K,
                                                            __mmask16 m0, __mmask16 m1, int acc) {
    __m512 c0[8], c1[8];
    for (int r = 0; r < R; r++) {
        c0[r] = acc ? _mm512_maskz_loadu_ps(m0, C + (size_t)r * ldc) : _mm512_setzero_ps();
        c1[r] = acc ? _mm512_maskz_loadu_ps(m1, C + (size_t)r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, B + (size_t)k * ldb);
        __m512 b1 = _mm512_maskz_loadu_ps(m1, B + (size_t)k * ldb + 16);
        const float *a = A + (size_t)k * csa;
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[(size_t)r * rsa]);
            c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(C + (size_t)r * ldc, m0, c0[r]);
        _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16, m1, c1[r]);
    }
}

void tile_gemm(float *C, int ldc, const float *A, int rsa, int csa, const float *B, int ldb, int M,
               int N, int K, int accumulate) {
    for (int j0 = 0; j0 < N; j0 += 32) {
        __mmask16 m0 = lane_mask(N - j0), m1 = lane_mask(N - j0 - 16);
        const float *Bj = B + j0;
        int i0 = 0;
        for (; i0 + 8 <= M; i0 += 8)
            kern_rows(8, C + (size_t)i0 * ldc + j0, ldc, A + (size_t)i0 * rsa, rsa, csa, Bj, ldb, K,
                      m0, m1, accumulate);
        for (; i0 + 4 <= M; i0 += 4)
            kern_rows(4, C + (size_t)i0 * ldc + j0, ldc, A + (size_t)i0 * rsa, rsa, csa, Bj, ldb, K,
                      m0, m1, accumulate);
        for (; i0 < M; i0++)
            kern_rows(1, C + (size_t)i0 * ldc + j0, ldc, A + (size_t)i0 * rsa, rsa, csa, Bj, ldb, K,
                      m0, m1, accumulate);
    }
}

void tile_pack_transposed(float *xt, int ldt, const float *x, long ld, int nk, int dh) {
    __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                                       2, 1, 0),
                                      _mm512_set1_epi32((int)ld));
    for (int j0 = 0; j0 < ldt; j0 += 16) {
        __mmask16 k = lane_mask(nk - j0);
        const float *base = x + (size_t)j0 * ld;
        for (int d = 0; d < dh; d++) {
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, rows, base + d, 4);
            _mm512_mask_storeu_ps(xt + (size_t)d * ldt + j0, lane_mask(ldt - j0), v);
        }
    }
}

float tile_dot(const float *a, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lane_mask(n - j);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + j), _mm512_maskz_loadu_ps(k, b + j), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

void tile_scale(float *x, int n, float s) {
    __m512 vs = _mm512_set1_ps(s);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lane_mask(n - j);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), vs));
    }
}

void tile_axpy(float *y, const float *x, int n, float s) {
    __m512 vs = _mm512_set1_ps(s);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lane_mask(n - j);
        _mm512_mask_storeu_ps(y + j, k, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + j), vs,
                                                        _mm512_maskz_loadu_ps(k, y + j)));
    }
}

float tile_row_max(const float *s, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), lane_mask(n - j),
                                                    s + j));
    return _mm512_reduce_max_ps(mx);
}

float tile_row_exp(float *s, int n, float scale, float m) {
    __m512 sum = _mm512_setzero_ps(), vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(m);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lane_mask(n - j);
        __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, s + j), vs, vm);
        __m512 p = exp512(x);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, p));
        _mm512_mask_storeu_ps(s + j, k, p);
    }
    return _mm512_reduce_add_ps(sum);
}

void tile_row_softmax_grad(float *s, float *dp, int n, float scale, float lse, float D) {
    __m512 vs = _mm512_set1_ps(scale), vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(D);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lane_mask(n - j);
        __m512 p = exp512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, s + j), vs, vl));
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(p, vs),
                                 _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dp + j), vd));
        _mm512_mask_storeu_ps(s + j, k, p);
        _mm512_mask_storeu_ps(dp + j, k, g);
    }
}

#else /* plain C */

void tile_gemm(float *C, int ldc, const float *A, int rsa, int csa, const float *B, int ldb, int M,
               int N, int K, int accumulate) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (!accumulate)
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            float a = A[(size_t)i * rsa + (size_t)k * csa];
            const float *b = B + (size_t)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

void tile_pack_transposed(float *xt, int ldt, const float *x, long ld, int nk, int dh) {
    for (int d = 0; d < dh; d++)
        for (int j = 0; j < ldt; j++) xt[(size_t)d * ldt + j] = j < nk ? x[(size_t)j * ld + d] : 0.0f;
}

float tile_dot(const float *a, const float *b, int n) {
    float s = 0;
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

void tile_scale(float *x, int n, float s) {
    for (int j = 0; j < n; j++) x[j] *= s;
}

void tile_axpy(float *y, const float *x, int n, float s) {
    for (int j = 0; j < n; j++) y[j] += s * x[j];
}

float tile_row_max(const float *s, int n) {
    float m = -INFINITY;
    for (int j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

float tile_row_exp(float *s, int n, float scale, float m) {
    float sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] * scale - m);
        sum += s[j];
    }
    return sum;
}

void tile_row_softmax_grad(float *s, float *dp, int n, float scale, float lse, float D) {
    for (int j = 0; j < n; j++) {
        float p = expf(s[j] * scale - lse);
        s[j] = p;
        dp[j] = scale * p * (dp[j] - D);
    }
}
#endif
