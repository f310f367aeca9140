/* Fast multi-head attention: flash-style tiles, online softmax over key tiles, no T x T buffers.
 * Forward: one task per (b, h, query block of QB rows); each key tile is packed once per block and
 * used by its QB/BQ query tiles. Backward: pass 1 per (b, h, key tile) accumulates dk, dv over all
 * queries; pass 2 per (b, h, query block) accumulates dq (P recomputed). With B*H >= 4 heads a fused
 * version runs instead: one task per head computes dq, dk, dv together (QK^T and dP once per tile
 * pair). The choice does not depend on the thread count and every output element is written by
 * exactly one task, so results repeat bit for bit at any thread count.
 * Layout: q, k, v, out [B, T, H*dh], channel h*dh + j; lse [B, H, T] (in units of scaled scores).
 * Scratch lives on the stack (at most ~250 KB per thread for dh <= ATTN_MAX_DH); larger heads use the
 * naive kernels.
 * Under mv_set_matmul_precision(MV_MATMUL_BF16) the score and value products (QK^T, PV and the five
 * of backward) run instead as batched oneDNN matmuls on bf16 operands with fp32 accumulation, like
 * PyTorch's bf16 autocast: q, k, v, dout and the probabilities P and dS are rounded to bf16; scores,
 * softmax, log-sum-exp and dS are computed in fp32. Samples go in groups whose [H, T, T] scores fit
 * ATTN_BF16_GROUP bytes (cache), samples and heads as the batch of each matmul, q/k/v and the outputs
 * read and written in place through strides; results repeat bit for bit at a fixed thread count.
 * Sequences whose one-sample scores exceed ATTN_BF16_MAX bytes, and CPUs without an optimised bf16
 * matmul, use the fp32 kernels. */
#include <math.h>
#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>
#endif

#include "core/core.h"
#include "core/gemm.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "nn/tile.h"

/* tile rows/keys, query rows per forward task, head width limit, fused-backward limits */
enum { BQ = 64, BK = 64, QB = 256, ATTN_MAX_DH = 128 };
enum { ATTN_FUSED_MAX_T = 16384, ATTN_FUSED_MIN_HEADS = 4 };
enum { MASK_NONE = 0, MASK_ALL = 1, MASK_PART = 2 }; /* no key allowed / all allowed / some */

/* Classifies the mask tile rows [i0, i0+nq) x keys [j0, j0+nk) of batch b. */
static int mask_tile_kind(const uint8_t *mask, int b, int T, int i0, int nq, int j0, int nk) {
    if (!mask) return MASK_ALL;
    int any = 0, all = 1;
    for (int i = 0; i < nq; i++) {
        const uint8_t *m = mask + ((size_t)b * T + i0 + i) * T + j0;
        for (int j = 0; j < nk; j++) {
            any |= m[j] != 0;
            all &= m[j] != 0;
        }
    }
    return !any ? MASK_NONE : all ? MASK_ALL : MASK_PART;
}

/* Sets S[nq, BK] to -inf where keys are masked (MASK_PART tiles) and in the padding columns >= nk. */
static void mask_scores(float *S, const uint8_t *mask, int kind, int b, int T, int i0, int nq, int j0,
                        int nk) {
    for (int i = 0; i < nq; i++) {
        float *s = S + (size_t)i * BK;
        if (kind == MASK_PART) {
            const uint8_t *m = mask + ((size_t)b * T + i0 + i) * T + j0;
            for (int j = 0; j < nk; j++)
                if (!m[j]) s[j] = -INFINITY;
        }
        for (int j = nk; j < BK; j++) s[j] = -INFINITY;
    }
}

/* Online-softmax update of one query tile with the scores S[nq, BK] (overwritten with P). */
static void softmax_update(float *S, float *O, float *m, float *l, int nq, int dh, float scale) {
    for (int i = 0; i < nq; i++) {
        float *s = S + (size_t)i * BK;
        float mnew = MV_MAX(tile_row_max(s, BK) * scale, m[i]);
        if (mnew == -INFINITY) { /* no allowed key yet for this row */
            memset(s, 0, sizeof(float) * BK);
            continue;
        }
        float corr = expf(m[i] - mnew);
        l[i] = l[i] * corr + tile_row_exp(s, BK, scale, mnew);
        m[i] = mnew;
        if (corr != 1.0f) tile_scale(O + (size_t)i * dh, dh, corr);
    }
}

/* One (b, h, query block) of the forward pass. q, k, v, out point at (b, 0, h*dh). */
static void attn_fwd_block(float *out, float *lse, const float *q, const float *k, const float *v,
                           const uint8_t *mask, int b, int T, size_t ld, int dh, int i0, float scale) {
    int nrows = MV_MIN(QB, T - i0);
    float Kt[dh * BK], S[BQ * BK], O[QB * dh], m[QB], l[QB];
    for (int i = 0; i < nrows; i++) m[i] = -INFINITY, l[i] = 0.0f;
    memset(O, 0, sizeof(float) * (size_t)nrows * dh);
    for (int j0 = 0; j0 < T; j0 += BK) {
        int nk = MV_MIN(BK, T - j0), packed = 0;
        for (int t0 = 0; t0 < nrows; t0 += BQ) {
            int nq = MV_MIN(BQ, nrows - t0), r0 = i0 + t0;
            int kind = mask_tile_kind(mask, b, T, r0, nq, j0, nk);
            if (kind == MASK_NONE) continue;
            if (!packed) tile_pack_transposed(Kt, BK, k + (size_t)j0 * ld, (long)ld, nk, dh), packed = 1;
            tile_gemm(S, BK, q + (size_t)r0 * ld, (int)ld, 1, Kt, BK, nq, BK, dh, 0);
            mask_scores(S, mask, kind, b, T, r0, nq, j0, nk);
            float *Ot = O + (size_t)t0 * dh;
            softmax_update(S, Ot, m + t0, l + t0, nq, dh, scale);
            tile_gemm(Ot, dh, S, BK, 1, v + (size_t)j0 * ld, (int)ld, nq, dh, nk, 1);
        }
    }
    for (int i = 0; i < nrows; i++) {
        float *o = out + (size_t)(i0 + i) * ld;
        float inv = 1.0f / l[i];
        for (int d = 0; d < dh; d++) o[d] = O[(size_t)i * dh + d] * inv;
        lse[i0 + i] = m[i] + logf(l[i]);
    }
}

/* ------------------------------------------------------------------ bf16 (batched oneDNN matmuls) */

enum { ATTN_BF16_GROUP = 4 << 20, ATTN_BF16_MAX = 64 << 20, ATTN_BF16_MIN_T = 32 };

/* Reusable workspace of the calling thread (the attention runs outside parallel regions). */
static _Thread_local void *t_ws;
static _Thread_local size_t t_ws_bytes;

static void *attn_workspace(size_t bytes) {
    if (t_ws_bytes >= bytes) return t_ws;
    mv_free(t_ws);
    t_ws = mv_alloc(bytes);
    t_ws_bytes = t_ws ? bytes : 0;
    return t_ws;
}

/* Strides (sample, head, row, column) of the heads of [G, T, H*dh] (head h at column h*dh) and of
 * their transposes; of packed scores [G, H, T, T] and of their transposes. */
#define HEADS(T, dh, ld) ((const int64_t[4]){(int64_t)(T) * (ld), (dh), (ld), 1})
#define HEADS_T(T, dh, ld) ((const int64_t[4]){(int64_t)(T) * (ld), (dh), 1, (ld)})
#define SCORES(H, T) ((const int64_t[4]){(int64_t)(H) * (T) * (T), (int64_t)(T) * (T), (T), 1})
#define SCORES_T(H, T) ((const int64_t[4]){(int64_t)(H) * (T) * (T), (int64_t)(T) * (T), 1, (T)})

/* Samples per group: their fp32 scores fit ATTN_BF16_GROUP bytes (in cache); groups balanced. */
static int attn_bf16_group(int B, int T, int H) {
    size_t per = (size_t)H * T * T * sizeof(float);
    int ngroups = (int)MV_MIN((size_t)B, MV_MAX((size_t)1, ((size_t)B * per + ATTN_BF16_GROUP - 1) / ATTN_BF16_GROUP));
    return (B + ngroups - 1) / ngroups;
}

/* Whether the bf16 path runs: bf16 precision, one sample's scores within ATTN_BF16_MAX bytes and an
 * optimised oneDNN kernel for every product it needs at the group sizes used (probed, nothing
 * computed). */
static int attn_bf16_usable(int B, int T, int H, int dh, int backward) {
    if (mv_get_matmul_precision() != MV_MATMUL_BF16 || T < ATTN_BF16_MIN_T || dh < 8) return 0;
    if ((size_t)H * T * T * sizeof(float) > ATTN_BF16_MAX) return 0;
    int64_t ld = (int64_t)H * dh;
    int G = attn_bf16_group(B, T, H), sizes[2] = {G, B % G}, ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        int g = sizes[i];
        if (!g) continue;
        ok = mv_gemm_bf16_batched(g, H, T, T, dh, NULL, HEADS(T, dh, ld), NULL, HEADS_T(T, dh, ld), NULL,
                                  SCORES(H, T), 0);
        if (!backward)
            ok = ok && mv_gemm_bf16_batched(g, H, T, dh, T, NULL, SCORES(H, T), NULL, HEADS(T, dh, ld), NULL,
                                            HEADS(T, dh, ld), 0);
        else
            ok = ok &&
                 mv_gemm_bf16_batched(g, H, T, dh, T, NULL, SCORES_T(H, T), NULL, HEADS(T, dh, ld), NULL,
                                      HEADS(T, dh, ld), 1) &&
                 mv_gemm_bf16_batched(g, H, T, dh, T, NULL, SCORES(H, T), NULL, HEADS(T, dh, ld), NULL,
                                      HEADS(T, dh, ld), 1);
    }
    return ok;
}

/* Masked keys of query row i of sample b to -inf in the score row s [T]. */
static void mask_row(float *s, const uint8_t *mask, int b, int T, int i) {
    if (!mask) return;
    const uint8_t *m = mask + ((size_t)b * T + i) * T;
    for (int j = 0; j < T; j++)
        if (!m[j]) s[j] = -INFINITY;
}

/* p [n] = bf16(x [n] * a). */
static void round_scaled_bf16(uint16_t *p, const float *x, float a, int n) {
    int j = 0;
#if defined(__AVX512F__) && defined(__AVX512BF16__)
    __m512 va = _mm512_set1_ps(a);
    for (; j + 16 <= n; j += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(x + j), va));
        _mm256_storeu_si256((__m256i *)(p + j), (__m256i)h);
    }
#endif
    for (; j < n; j++) p[j] = mv_bf16_round(x[j] * a);
}

/* Returns 1 when it computed the output (else the caller runs the fp32 kernels). */
static int attn_bf16_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                             const uint8_t *mask, int B, int T, int H, int dh) {
    if (!attn_bf16_usable(B, T, H, dh, 0)) return 0;
    int G = attn_bf16_group(B, T, H);
    size_t n = (size_t)B * T * H * dh, ss = (size_t)G * H * T * T;
    int64_t ld = (int64_t)H * dh;
    /* Qb, Kb, Vb [B, T, H*dh] bf16; S [G, H, T, T] fp32 and Pb bf16 of one group */
    char *ws = attn_workspace(3 * n * 2 + ss * 4 + ss * 2 + 128);
    if (!ws) return 0;
    uint16_t *Qb = (uint16_t *)ws, *Kb = Qb + n, *Vb = Kb + n;
    float *S = (float *)(((uintptr_t)(Vb + n) + 63) & ~(uintptr_t)63);
    uint16_t *Pb = (uint16_t *)(S + ss);
    float scale = 1.0f / sqrtf((float)dh);
    mv_bf16_round_n(Qb, q, n);
    mv_bf16_round_n(Kb, k, n);
    mv_bf16_round_n(Vb, v, n);
    for (int b0 = 0; b0 < B; b0 += G) {
        int g = MV_MIN(G, B - b0);
        size_t off = (size_t)b0 * T * ld;
        MV_ASSERT(mv_gemm_bf16_batched(g, H, T, T, dh, Qb + off, HEADS(T, dh, ld), Kb + off, HEADS_T(T, dh, ld), S,
                                       SCORES(H, T), 0));
        float *lse0 = lse + (size_t)b0 * H * T;
#pragma omp parallel for schedule(static)
        for (long r = 0; r < (long)g * H * T; r++) {
            float *s = S + (size_t)r * T;
            mask_row(s, mask, b0 + (int)(r / ((long)H * T)), T, (int)(r % T));
            float m = tile_row_max(s, T) * scale;
            float l = tile_row_exp(s, T, scale, m);
            round_scaled_bf16(Pb + (size_t)r * T, s, 1.0f / l, T);
            lse0[r] = m + logf(l);
        }
        MV_ASSERT(mv_gemm_bf16_batched(g, H, T, dh, T, Pb, SCORES(H, T), Vb + off, HEADS(T, dh, ld), out + off,
                                       HEADS(T, dh, ld), 0));
    }
    return 1;
}

static int attn_bf16_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                              const float *lse, const float *q, const float *k, const float *v,
                              const uint8_t *mask, int B, int T, int H, int dh) {
    if (!attn_bf16_usable(B, T, H, dh, 1)) return 0;
    int G = attn_bf16_group(B, T, H);
    size_t n = (size_t)B * T * H * dh, ss = (size_t)G * H * T * T, nr = (size_t)B * H * T;
    int64_t ld = (int64_t)H * dh;
    /* Qb, Kb, Vb, dOb [B, T, H*dh] bf16; Dr [B, H, T]; S, dP [G, H, T, T] fp32 and Pb, dSb bf16 of one group */
    char *ws = attn_workspace(4 * n * 2 + nr * 4 + 2 * ss * 4 + 2 * ss * 2 + 256);
    if (!ws) return 0;
    uint16_t *Qb = (uint16_t *)ws, *Kb = Qb + n, *Vb = Kb + n, *dOb = Vb + n;
    float *Dr = (float *)(((uintptr_t)(dOb + n) + 63) & ~(uintptr_t)63);
    float *S = (float *)(((uintptr_t)(Dr + nr) + 63) & ~(uintptr_t)63), *dP = S + ss;
    uint16_t *Pb = (uint16_t *)(dP + ss), *dSb = Pb + ss;
    float scale = 1.0f / sqrtf((float)dh);
    mv_bf16_round_n(Qb, q, n);
    mv_bf16_round_n(Kb, k, n);
    mv_bf16_round_n(Vb, v, n);
    mv_bf16_round_n(dOb, dout, n);
    /* D = rowsum(dout * out) in fp32, per (b, h, i) */
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)nr; r++) {
        long b = r / ((long)H * T), h = r / T % H, i = r % T;
        size_t o = ((size_t)b * T + i) * ld + (size_t)h * dh;
        Dr[r] = tile_dot(dout + o, out + o, dh);
    }
    for (int b0 = 0; b0 < B; b0 += G) {
        int g = MV_MIN(G, B - b0);
        size_t off = (size_t)b0 * T * ld;
        MV_ASSERT(mv_gemm_bf16_batched(g, H, T, T, dh, Qb + off, HEADS(T, dh, ld), Kb + off, HEADS_T(T, dh, ld), S,
                                       SCORES(H, T), 0));
        MV_ASSERT(mv_gemm_bf16_batched(g, H, T, T, dh, dOb + off, HEADS(T, dh, ld), Vb + off, HEADS_T(T, dh, ld), dP,
                                       SCORES(H, T), 0));
        const float *lse0 = lse + (size_t)b0 * H * T, *D0 = Dr + (size_t)b0 * H * T;
        /* P = exp(scale S - lse), dS = scale P (dP - D), both to bf16 */
#pragma omp parallel for schedule(static)
        for (long r = 0; r < (long)g * H * T; r++) {
            float *s = S + (size_t)r * T, *gr = dP + (size_t)r * T;
            mask_row(s, mask, b0 + (int)(r / ((long)H * T)), T, (int)(r % T));
            tile_row_softmax_grad(s, gr, T, scale, lse0[r], D0[r]);
            round_scaled_bf16(Pb + (size_t)r * T, s, 1.0f, T);
            round_scaled_bf16(dSb + (size_t)r * T, gr, 1.0f, T);
        }
        /* dv += P^T dO, dq += dS K, dk += dS^T Q */
        if (dv)
            MV_ASSERT(mv_gemm_bf16_batched(g, H, T, dh, T, Pb, SCORES_T(H, T), dOb + off, HEADS(T, dh, ld), dv + off,
                                           HEADS(T, dh, ld), 1));
        if (dq)
            MV_ASSERT(mv_gemm_bf16_batched(g, H, T, dh, T, dSb, SCORES(H, T), Kb + off, HEADS(T, dh, ld), dq + off,
                                           HEADS(T, dh, ld), 1));
        if (dk)
            MV_ASSERT(mv_gemm_bf16_batched(g, H, T, dh, T, dSb, SCORES_T(H, T), Qb + off, HEADS(T, dh, ld), dk + off,
                                           HEADS(T, dh, ld), 1));
    }
    return 1;
}

void softmax_rows(float *x, int rows, int n, int ld) {
#pragma omp parallel for schedule(static) if ((long)rows * n >= NN_PAR_MIN)
    for (int i = 0; i < rows; i++) {
        float *r = x + (size_t)i * ld;
        float sum = tile_row_exp(r, n, 1.0f, tile_row_max(r, n));
        tile_scale(r, n, 1.0f / sum);
    }
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *mask, int B, int T, int H, int dh) {
    if (B <= 0 || T <= 0 || H <= 0 || dh <= 0) return;
    if (attn_bf16_forward(out, lse, q, k, v, mask, B, T, H, dh)) return;
    if (dh > ATTN_MAX_DH) {
        attention_forward_naive(out, lse, q, k, v, mask, B, T, H, dh);
        return;
    }
    size_t ld = (size_t)H * dh;
    int nblk = (T + QB - 1) / QB;
    float scale = 1.0f / sqrtf((float)dh);
    long ntasks = (long)B * H * nblk;
#pragma omp parallel for schedule(dynamic, 1)
    for (long t = 0; t < ntasks; t++) {
        int b = (int)(t / ((long)H * nblk)), h = (int)(t / nblk % H), blk = (int)(t % nblk);
        size_t off = (size_t)b * T * ld + (size_t)h * dh;
        attn_fwd_block(out + off, lse + ((size_t)b * H + h) * T, q + off, k + off, v + off, mask, b, T,
                       ld, dh, blk * QB, scale);
    }
}

/* P[nq, BK] = exp(scale * S - lse) and dS = scale * P * (dP - D) for one (query tile, key tile) pair.
 * Kt, Vt: the key tile packed transposed. On return S holds P and dP holds dS. */
static void attn_bwd_scores(float *S, float *dP, const float *q, const float *dout, const float *Kt,
                            const float *Vt, const float *lse, const float *D, const uint8_t *mask,
                            int kind, int b, int T, size_t ld, int dh, int i0, int nq, int j0, int nk,
                            float scale) {
    tile_gemm(S, BK, q + (size_t)i0 * ld, (int)ld, 1, Kt, BK, nq, BK, dh, 0);
    mask_scores(S, mask, kind, b, T, i0, nq, j0, nk);
    tile_gemm(dP, BK, dout + (size_t)i0 * ld, (int)ld, 1, Vt, BK, nq, BK, dh, 0);
    for (int i = 0; i < nq; i++)
        tile_row_softmax_grad(S + (size_t)i * BK, dP + (size_t)i * BK, BK, scale, lse[i0 + i], D[i]);
}

/* D[i] = dout_i . out_i for the rows [i0, i0+nq). */
static void attn_delta(float *D, const float *dout, const float *out, size_t ld, int i0, int nq,
                       int dh) {
    for (int i = 0; i < nq; i++)
        D[i] = tile_dot(dout + (size_t)(i0 + i) * ld, out + (size_t)(i0 + i) * ld, dh);
}

/* Fused backward of one whole (b, h) head: key tiles outer, query tiles inner; dk, dv accumulate
 * per key tile, dq rows accumulate directly in the output (this task owns the head), so QK^T is
 * computed once (5 tile matmuls per tile pair instead of 7 for the two-pass version). D[T] scratch. */
static void attn_bwd_head(float *dq, float *dk, float *dv, const float *dout, const float *out,
                          const float *lse, const float *q, const float *k, const float *v,
                          const uint8_t *mask, int b, int T, size_t ld, int dh, float scale) {
    float Kt[dh * BK], Vt[dh * BK], S[BQ * BK], dP[BQ * BK], dK[BK * dh], dV[BK * dh], D[T];
    attn_delta(D, dout, out, ld, 0, T, dh);
    for (int j0 = 0; j0 < T; j0 += BK) {
        int nk = MV_MIN(BK, T - j0), packed = 0;
        memset(dK, 0, sizeof(float) * (size_t)BK * dh);
        memset(dV, 0, sizeof(float) * (size_t)BK * dh);
        for (int i0 = 0; i0 < T; i0 += BQ) {
            int nq = MV_MIN(BQ, T - i0);
            int kind = mask_tile_kind(mask, b, T, i0, nq, j0, nk);
            if (kind == MASK_NONE) continue;
            if (!packed) {
                tile_pack_transposed(Kt, BK, k + (size_t)j0 * ld, (long)ld, nk, dh);
                tile_pack_transposed(Vt, BK, v + (size_t)j0 * ld, (long)ld, nk, dh);
                packed = 1;
            }
            attn_bwd_scores(S, dP, q, dout, Kt, Vt, lse, D + i0, mask, kind, b, T, ld, dh, i0, nq,
                            j0, nk, scale);
            if (dv) tile_gemm(dV, dh, S, 1, BK, dout + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
            if (dk) tile_gemm(dK, dh, dP, 1, BK, q + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
            if (dq) tile_gemm(dq + (size_t)i0 * ld, (int)ld, dP, BK, 1, k + (size_t)j0 * ld, (int)ld,
                              nq, dh, nk, 1);
        }
        for (int j = 0; j < nk; j++) {
            if (dk) tile_axpy(dk + (size_t)(j0 + j) * ld, dK + (size_t)j * dh, dh, 1.0f);
            if (dv) tile_axpy(dv + (size_t)(j0 + j) * ld, dV + (size_t)j * dh, dh, 1.0f);
        }
    }
}

/* Pass 1: one (b, h, key tile): dk, dv rows [j0, j0+nk). */
static void attn_bwd_kv_tile(float *dk, float *dv, const float *dout, const float *out,
                             const float *lse, const float *q, const float *k, const float *v,
                             const uint8_t *mask, int b, int T, size_t ld, int dh, int j0,
                             float scale) {
    int nk = MV_MIN(BK, T - j0);
    float Kt[dh * BK], Vt[dh * BK], S[BQ * BK], dP[BQ * BK], dK[BK * dh], dV[BK * dh], D[BQ];
    memset(dK, 0, sizeof(float) * (size_t)BK * dh);
    memset(dV, 0, sizeof(float) * (size_t)BK * dh);
    tile_pack_transposed(Kt, BK, k + (size_t)j0 * ld, (long)ld, nk, dh);
    tile_pack_transposed(Vt, BK, v + (size_t)j0 * ld, (long)ld, nk, dh);
    for (int i0 = 0; i0 < T; i0 += BQ) {
        int nq = MV_MIN(BQ, T - i0);
        int kind = mask_tile_kind(mask, b, T, i0, nq, j0, nk);
        if (kind == MASK_NONE) continue;
        attn_delta(D, dout, out, ld, i0, nq, dh);
        attn_bwd_scores(S, dP, q, dout, Kt, Vt, lse, D, mask, kind, b, T, ld, dh, i0, nq, j0, nk,
                        scale);
        /* dV[nk, dh] += P^T dout ; dK[nk, dh] += dS^T q */
        if (dv) tile_gemm(dV, dh, S, 1, BK, dout + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
        if (dk) tile_gemm(dK, dh, dP, 1, BK, q + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
    }
    for (int j = 0; j < nk; j++) {
        if (dk) tile_axpy(dk + (size_t)(j0 + j) * ld, dK + (size_t)j * dh, dh, 1.0f);
        if (dv) tile_axpy(dv + (size_t)(j0 + j) * ld, dV + (size_t)j * dh, dh, 1.0f);
    }
}

/* Pass 2: one (b, h, query block): dq rows [i0, i0 + QB). */
static void attn_bwd_q_block(float *dq, const float *dout, const float *out, const float *lse,
                             const float *q, const float *k, const float *v, const uint8_t *mask,
                             int b, int T, size_t ld, int dh, int i0, float scale) {
    int nrows = MV_MIN(QB, T - i0);
    float Kt[dh * BK], Vt[dh * BK], S[BQ * BK], dP[BQ * BK], dQ[QB * dh], D[QB];
    memset(dQ, 0, sizeof(float) * (size_t)nrows * dh);
    attn_delta(D, dout, out, ld, i0, nrows, dh);
    for (int j0 = 0; j0 < T; j0 += BK) {
        int nk = MV_MIN(BK, T - j0), packed = 0;
        for (int t0 = 0; t0 < nrows; t0 += BQ) {
            int nq = MV_MIN(BQ, nrows - t0), r0 = i0 + t0;
            int kind = mask_tile_kind(mask, b, T, r0, nq, j0, nk);
            if (kind == MASK_NONE) continue;
            if (!packed) {
                tile_pack_transposed(Kt, BK, k + (size_t)j0 * ld, (long)ld, nk, dh);
                tile_pack_transposed(Vt, BK, v + (size_t)j0 * ld, (long)ld, nk, dh);
                packed = 1;
            }
            attn_bwd_scores(S, dP, q, dout, Kt, Vt, lse, D + t0, mask, kind, b, T, ld, dh, r0,
                            nq, j0, nk, scale);
            tile_gemm(dQ + (size_t)t0 * dh, dh, dP, BK, 1, k + (size_t)j0 * ld, (int)ld, nq, dh, nk, 1);
        }
    }
    for (int i = 0; i < nrows; i++) tile_axpy(dq + (size_t)(i0 + i) * ld, dQ + (size_t)i * dh, dh, 1.0f);
}

void attention_backward(float *dq, float *dk, float *dv, /* [B, T, H*dh] each, accumulated */
                        const float *dout, const float *out, const float *lse, const float *q,
                        const float *k, const float *v, const uint8_t *mask, int B, int T, int H,
                        int dh) {
    if (B <= 0 || T <= 0 || H <= 0 || dh <= 0) return;
    if (attn_bf16_backward(dq, dk, dv, dout, out, lse, q, k, v, mask, B, T, H, dh)) return;
    if (dh > ATTN_MAX_DH) {
        attention_backward_naive(dq, dk, dv, dout, out, lse, q, k, v, mask, B, T, H, dh);
        return;
    }
    size_t ld = (size_t)H * dh;
    int nkt = (T + BK - 1) / BK, nblk = (T + QB - 1) / QB;
    float scale = 1.0f / sqrtf((float)dh);
    long nkv = (long)B * H * nkt, nq = (long)B * H * nblk;
    if ((long)B * H >= ATTN_FUSED_MIN_HEADS && T <= ATTN_FUSED_MAX_T) {
        /* enough heads to keep the (2-core) machine busy: one task per head, 5 matmuls per pair */
#pragma omp parallel for schedule(dynamic, 1)
        for (long t = 0; t < (long)B * H; t++) {
            int b = (int)(t / H), h = (int)(t % H);
            size_t off = (size_t)b * T * ld + (size_t)h * dh;
            attn_bwd_head(dq ? dq + off : NULL, dk ? dk + off : NULL, dv ? dv + off : NULL,
                          dout + off, out + off, lse + ((size_t)b * H + h) * T, q + off, k + off,
                          v + off, mask, b, T, ld, dh, scale);
        }
        return;
    }
#pragma omp parallel
    {
        if (dk || dv) {
#pragma omp for schedule(dynamic, 1) nowait
            for (long t = 0; t < nkv; t++) {
                int b = (int)(t / ((long)H * nkt)), h = (int)(t / nkt % H), kt = (int)(t % nkt);
                size_t off = (size_t)b * T * ld + (size_t)h * dh;
                attn_bwd_kv_tile(dk ? dk + off : NULL, dv ? dv + off : NULL, dout + off, out + off,
                                 lse + ((size_t)b * H + h) * T, q + off, k + off, v + off, mask, b,
                                 T, ld, dh, kt * BK, scale);
            }
        }
        if (dq) {
#pragma omp for schedule(dynamic, 1)
            for (long t = 0; t < nq; t++) {
                int b = (int)(t / ((long)H * nblk)), h = (int)(t / nblk % H), blk = (int)(t % nblk);
                size_t off = (size_t)b * T * ld + (size_t)h * dh;
                attn_bwd_q_block(dq + off, dout + off, out + off, lse + ((size_t)b * H + h) * T,
                                 q + off, k + off, v + off, mask, b, T, ld, dh, blk * QB, scale);
            }
        }
    }
}
