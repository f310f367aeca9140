/* Row-major single-precision matrix products through oneDNN (dnnl_sgemm).
 * C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, op = transpose when trans is nonzero.
 * lda/ldb/ldc are the row strides of A, B, C as stored. Call outside OpenMP parallel regions only
 * (oneDNN threads itself; nesting would oversubscribe). */
#ifndef MV_GEMM_H
#define MV_GEMM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void mv_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The naive reference of the same contract (double accumulation), used by tests. */
void mv_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);

/* Matmul precision of the linear layers (nn.h linear_forward / linear_backward).
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
/* Batched matmul on bf16 operands with fp32 accumulation and fp32 output, through oneDNN:
 * C[i][j] = A[i][j] @ B[i][j] (accumulate = 0) or C[i][j] += A[i][j] @ B[i][j] (accumulate = 1) for
 * i < b0, j < b1, with A [b0, b1, M, K], B [b0, b1, K, N], C [b0, b1, M, N] given by element strides
 * (two batch dimensions, row, column): element (i, j, r, c) of A is A[i*sa[0] + j*sa[1] + r*sa[2] +
 * c*sa[3]] (a transposed operand is a swap of the last two strides). Returns 0, touching nothing,
 * when oneDNN has no optimised bf16 kernel for it (the caller then computes in fp32). With C NULL
 * it only answers that question (A and B unused). Call outside OpenMP parallel regions. */
int mv_gemm_bf16_batched(int64_t b0, int64_t b1, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                         const int64_t sa[4], const uint16_t *B, const int64_t sb[4], float *C, const int64_t sc[4],
                         int accumulate);
/* The same with C[i][j] = A[i][j] @ B[i][j] + beta * C[i][j] (beta 0: C is only written). */
int mv_gemm_bf16_batched_beta(int64_t b0, int64_t b1, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                              const int64_t sa[4], const uint16_t *B, const int64_t sb[4], float *C,
                              const int64_t sc[4], float beta);
/* The same for one product on bf16 operands (row-major, strides lda/ldb/ldc as stored, transposition as
 * in mv_sgemm): C[M,N] = op(A) @ op(B) (+ bias[N] on every row, bias may be NULL), or += with
 * accumulate = 1. Returns 0, touching nothing, when no optimised kernel exists; C NULL only asks
 * (with bias non-NULL: for the variant with a bias). */
int mv_gemm_bf16(int transA, int transB, int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                 const uint16_t *B, int64_t ldb, const float *bias, float *C, int64_t ldc, int accumulate);
/* One float to a bfloat16 bit pattern, rounded to nearest even (NaN stays a quiet NaN of its sign). */
static inline uint16_t mv_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t q = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}
/* Rounds n floats to bfloat16 bit patterns (nearest even; NaN stays NaN), out [n]. */
void mv_bf16_round_n(uint16_t *out, const float *x, size_t n);
#endif
