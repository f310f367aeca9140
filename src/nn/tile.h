/* Small in-cache matrix kernels for the attention tiles (AVX-512 when available, plain C otherwise).
 * Internal to src/nn. */
#ifndef MV_NN_TILE_H
#define MV_NN_TILE_H

/* C[M, N] (+)= A[M, K] @ B[K, N]; element (r, k) of A is A[r*rsa + k*csa], B rows have stride ldb,
 * C rows stride ldc. accumulate = 0 overwrites C. Call from one thread (no threading inside). */
void tile_gemm(float *C, int ldc, const float *A, int rsa, int csa, const float *B, int ldb, int M,
               int N, int K, int accumulate);
/* Packs rows [0, nk) of x (row stride ld, dh wide) transposed into xt[dh, ldt]; columns [nk, ldt)
 * are zero-filled. */
void tile_pack_transposed(float *xt, int ldt, const float *x, long ld, int nk, int dh);
/* sum_d a[d] * b[d] */
float tile_dot(const float *a, const float *b, int n);
/* x[n] *= s */
void tile_scale(float *x, int n, float s);
/* y[n] += s * x[n] */
void tile_axpy(float *y, const float *x, int n, float s);
/* max of s[n] (-inf for n == 0). */
float tile_row_max(const float *s, int n);
/* s[j] = exp(scale * s[j] - m) in place (-inf -> 0); returns the sum. */
float tile_row_exp(float *s, int n, float scale, float m);
/* p = exp(scale * s - lse); s = p; dp = scale * p * (dp - D). */
void tile_row_softmax_grad(float *s, float *dp, int n, float scale, float lse, float D);
#endif
