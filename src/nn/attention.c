/* Fast multi-head attention: flash-style tiles, online softmax over key tiles, no T x T buffers.
 * Forward: one task per (b, h, query block of QB rows); each key tile is packed once per block and
 * used by its QB/BQ query tiles. Backward: pass 1 per (b, h, key tile) accumulates dk, dv over all
 * queries; pass 2 per (b, h, query block) accumulates dq (P recomputed). With B*H >= 4 heads a fused
 * version runs instead: one task per head computes dq, dk, dv together (QK^T and dP once per tile
 * pair). The choice does not depend on the thread count and every output element is written by
 * exactly one task, so results repeat bit for bit at any thread count.
 * Layout: q, k, v, out [B, T, H*dh], channel h*dh + j; lse [B, H, T] (in units of scaled scores).
 * Scratch lives on the stack (at most ~250 KB per thread for dh <= ATTN_MAX_DH); larger heads use the
 * naive kernels. */
#include <math.h>

#include "core/core.h"
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
