/* Cached oneDNN matmul primitives for the linear layer (internal to src/nn).
 * C[M, N] (+)= A[M, K] @ B[K, N] (+ bias[N]); element (i, k) of A is A[i*rsa + k*csa], element
 * (k, j) of B is B[k*rsb + j*csb]; C is dense row-major. accumulate = 1 adds into C.
 * Call outside OpenMP parallel regions. Returns 0 on success, -1 when oneDNN refused (the caller
 * then falls back to mv_sgemm). */
#ifndef MV_NN_MATMUL_H
#define MV_NN_MATMUL_H
#include <stdint.h>

int nn_matmul(float *C, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
              int64_t csb, const float *bias, int64_t M, int64_t N, int64_t K, int accumulate);
#endif
