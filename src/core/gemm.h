/* Row-major single-precision matrix products through oneDNN (dnnl_sgemm).
 * C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, op = transpose when trans is nonzero.
 * lda/ldb/ldc are the row strides of A, B, C as stored. Call outside OpenMP parallel regions only
 * (oneDNN threads itself; nesting would oversubscribe). */
#ifndef MV_GEMM_H
#define MV_GEMM_H
#include <stdint.h>

void mv_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The naive reference of the same contract (double accumulation), used by tests. */
void mv_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);
#endif
