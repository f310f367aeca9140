/* Row-major single-precision matrix products through oneDNN (dnnl_sgemm).
 * C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, op = transpose when trans is nonzero.
 * lda/ldb/ldc are the row strides of A, B, C as stored. Call outside OpenMP parallel regions only
 * (oneDNN threads itself; nesting would oversubscribe). */
#ifndef MV_GEMM_H
#define MV_GEMM_H
#include <stddef.h>
#include <stdint.h>

void mv_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The naive reference of the same contract (double accumulation), used by tests. */
void mv_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);

/* Added: matmul precision of the linear layers (nn.h linear_forward / linear_backward).
 * MV_MATMUL_FP32 (default): mv_sgemm. MV_MATMUL_BF16: the operands are rounded to bfloat16 (nearest
 * even) per call and multiplied with float32 accumulation through oneDNN's matmul primitive (AMX /
 * AVX512-BF16 when the CPU has them), like PyTorch's bf16 autocast; fp32 master weights are unchanged.
 * A process-wide setting; set it before training, not while GEMMs run. */
typedef enum { MV_MATMUL_FP32 = 0, MV_MATMUL_BF16 = 1 } mv_matmul_precision;
void mv_set_matmul_precision(mv_matmul_precision p);
mv_matmul_precision mv_get_matmul_precision(void);
/* mv_sgemm under the current precision. The bf16 path is taken for alpha 1, beta 0 or 1 and every
 * dimension >= 32 (else, or if oneDNN offers no optimised bf16 matmul, exactly mv_sgemm). */
void mv_gemm_mixed(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* Rounds n floats to bfloat16 bit patterns (nearest even; NaN stays NaN), out [n]. */
void mv_bf16_round_n(uint16_t *out, const float *x, size_t n);
#endif
