/* AVX-512 elementwise math shared by src/nn (internal; only defined when __AVX512F__ is). */
#ifndef MV_NN_VMATH_H
#define MV_NN_VMATH_H
#ifdef __AVX512F__
#include <immintrin.h>

/* exp(x) for float lanes: x = n ln2 + r, degree-7 Taylor on |r| <= ln2/2, 2^n by scalef.
 * Results below exp(-87.3) are flushed to 0 (keeps later FMAs out of denormals), inputs above 88.7
 * give exp(88.7), NaN stays NaN. */
static inline __m512 exp512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f);
    __mmask16 ok = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ), nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    __m512 x0 = x;
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_mask_mov_ps(_mm512_maskz_mov_ps(ok, _mm512_scalef_ps(p, n)), nan, x0);
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1): absolute error ~1e-7 (use tanhf where small |u| needs a
 * relative accuracy). Saturates to +-1 for large |u|. */
static inline __m512 tanh512(__m512 u) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = exp512(_mm512_add_ps(u, u));
    return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
}

/* 1 / (1 + exp(-x)) */
static inline __m512 sigmoid512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* The lanes [0, w) of a 16-lane vector (w clamped to [0, 16]). */
static inline __mmask16 vm_mask(long w) {
    return w >= 16 ? (__mmask16)0xFFFF : w <= 0 ? (__mmask16)0 : (__mmask16)((1u << w) - 1);
}
#endif
#endif
