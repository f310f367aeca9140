/* Fast multi-head attention: flash-style tiles, online softmax over key tiles, no T x T buffers.
 * Forward: one task per (b, h, query tile). Backward: pass 1 per (b, h, key tile) accumulates dk, dv;
 * pass 2 per (b, h, query tile) accumulates dq (P recomputed), so every output element is written by
 * exactly one task and results repeat bit for bit at any thread count.
 * Layout: q, k, v, out [B, T, H*dh], channel h*dh + j; lse [B, H, T] (in units of scaled scores). */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/tile.h"

enum { BQ = 64, BK = 64, ATTN_MAX_DH = 256 };
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

/* Packs rows [j0, j0+nk) of x (row stride ld, dh wide) transposed: xt[dh, BK]. */
static void pack_transposed(float *xt, const float *x, size_t ld, int j0, int nk, int dh) {
    for (int j = 0; j < nk; j++) {
        const float *r = x + (size_t)(j0 + j) * ld;
        for (int d = 0; d < dh; d++) xt[(size_t)d * BK + j] = r[d];
    }
    for (int j = nk; j < BK; j++)
        for (int d = 0; d < dh; d++) xt[(size_t)d * BK + j] = 0.0f;
}

/* One (b, h, query tile) of the forward pass. q, k, v, out point at (b, 0, h*dh). */
static void attn_fwd_tile(float *out, float *lse, const float *q, const float *k, const float *v,
                          const uint8_t *mask, int b, int T, size_t ld, int dh, int i0, float scale) {
    int nq = MV_MIN(BQ, T - i0);
    float Kt[dh * BK], S[BQ * BK], O[BQ * dh], m[BQ], l[BQ];
    for (int i = 0; i < nq; i++) m[i] = -INFINITY, l[i] = 0.0f;
    memset(O, 0, sizeof(float) * (size_t)nq * dh);
    for (int j0 = 0; j0 < T; j0 += BK) {
        int nk = MV_MIN(BK, T - j0);
        int kind = mask_tile_kind(mask, b, T, i0, nq, j0, nk);
        if (kind == MASK_NONE) continue;
        pack_transposed(Kt, k, ld, j0, nk, dh);
        tile_gemm(S, BK, q + (size_t)i0 * ld, (int)ld, 1, Kt, BK, nq, BK, dh, 0);
        mask_scores(S, mask, kind, b, T, i0, nq, j0, nk);
        for (int i = 0; i < nq; i++) {
            float mx = tile_row_max(S + (size_t)i * BK, BK) * scale;
            float mnew = mx > m[i] ? mx : m[i];
            if (mnew == -INFINITY) { /* no allowed key yet for this row */
                memset(S + (size_t)i * BK, 0, sizeof(float) * BK);
                continue;
            }
            float corr = expf(m[i] - mnew);
            float sum = tile_row_exp(S + (size_t)i * BK, BK, scale, mnew);
            l[i] = l[i] * corr + sum;
            m[i] = mnew;
            if (corr != 1.0f)
                for (int d = 0; d < dh; d++) O[(size_t)i * dh + d] *= corr;
        }
        tile_gemm(O, dh, S, BK, 1, v + (size_t)j0 * ld, (int)ld, nq, dh, nk, 1);
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / l[i];
        float *o = out + (size_t)(i0 + i) * ld;
        for (int d = 0; d < dh; d++) o[d] = O[(size_t)i * dh + d] * inv;
        lse[i0 + i] = m[i] + logf(l[i]);
    }
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *mask, int B, int T, int H, int dh) {
    if (dh > ATTN_MAX_DH) {
        attention_forward_naive(out, lse, q, k, v, mask, B, T, H, dh);
        return;
    }
    size_t ld = (size_t)H * dh;
    int nqt = (T + BQ - 1) / BQ;
    float scale = 1.0f / sqrtf((float)dh);
    long ntasks = (long)B * H * nqt;
#pragma omp parallel for schedule(dynamic, 1)
    for (long t = 0; t < ntasks; t++) {
        int b = (int)(t / ((long)H * nqt)), h = (int)(t / nqt % H), qt = (int)(t % nqt);
        size_t off = (size_t)b * T * ld + (size_t)h * dh;
        attn_fwd_tile(out + off, lse + ((size_t)b * H + h) * T, q + off, k + off, v + off, mask, b, T,
                      ld, dh, qt * BQ, scale);
    }
}

/* Di = dout_i . out_i for the rows [i0, i0+nq). */
static void attn_delta(float *D, const float *dout, const float *out, size_t ld, int i0, int nq,
                       int dh) {
    for (int i = 0; i < nq; i++) {
        const float *g = dout + (size_t)(i0 + i) * ld, *o = out + (size_t)(i0 + i) * ld;
        float s = 0;
        for (int d = 0; d < dh; d++) s += g[d] * o[d];
        D[i] = s;
    }
}

/* P[nq, BK] = exp(scale * S - lse) and dS = P * (dP - D) for one (query tile, key tile) pair.
 * Kt, Vt: the key tile packed transposed. S and dP are overwritten with P and dS. */
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

/* Pass 1: one (b, h, key tile): dk, dv rows [j0, j0+nk). */
static void attn_bwd_kv_tile(float *dk, float *dv, const float *dout, const float *out,
                             const float *lse, const float *q, const float *k, const float *v,
                             const uint8_t *mask, int b, int T, size_t ld, int dh, int j0,
                             float scale) {
    int nk = MV_MIN(BK, T - j0);
    float Kt[dh * BK], Vt[dh * BK], S[BQ * BK], dP[BQ * BK], dK[BK * dh], dV[BK * dh], D[BQ];
    memset(dK, 0, sizeof(float) * (size_t)BK * dh);
    memset(dV, 0, sizeof(float) * (size_t)BK * dh);
    pack_transposed(Kt, k, ld, j0, nk, dh);
    pack_transposed(Vt, v, ld, j0, nk, dh);
    for (int i0 = 0; i0 < T; i0 += BQ) {
        int nq = MV_MIN(BQ, T - i0);
        int kind = mask_tile_kind(mask, b, T, i0, nq, j0, nk);
        if (kind == MASK_NONE) continue;
        attn_delta(D, dout, out, ld, i0, nq, dh);
        attn_bwd_scores(S, dP, q, dout, Kt, Vt, lse, D, mask, kind, b, T, ld, dh, i0, nq, j0, nk,
                        scale);
        /* dV[nk, dh] += P^T dout ; dK[nk, dh] += dS^T q (scale applied at the end) */
        if (dv) tile_gemm(dV, dh, S, 1, BK, dout + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
        if (dk) tile_gemm(dK, dh, dP, 1, BK, q + (size_t)i0 * ld, (int)ld, nk, dh, nq, 1);
    }
    for (int j = 0; j < nk; j++)
        for (int d = 0; d < dh; d++) {
            if (dk) dk[(size_t)(j0 + j) * ld + d] += scale * dK[(size_t)j * dh + d];
            if (dv) dv[(size_t)(j0 + j) * ld + d] += dV[(size_t)j * dh + d];
        }
}

/* Pass 2: one (b, h, query tile): dq rows [i0, i0+nq). */
static void attn_bwd_q_tile(float *dq, const float *dout, const float *out, const float *lse,
                            const float *q, const float *k, const float *v, const uint8_t *mask,
                            int b, int T, size_t ld, int dh, int i0, float scale) {
    int nq = MV_MIN(BQ, T - i0);
    float Kt[dh * BK], Vt[dh * BK], S[BQ * BK], dP[BQ * BK], dQ[BQ * dh], D[BQ];
    memset(dQ, 0, sizeof(float) * (size_t)BQ * dh);
    attn_delta(D, dout, out, ld, i0, nq, dh);
    for (int j0 = 0; j0 < T; j0 += BK) {
        int nk = MV_MIN(BK, T - j0);
        int kind = mask_tile_kind(mask, b, T, i0, nq, j0, nk);
        if (kind == MASK_NONE) continue;
        pack_transposed(Kt, k, ld, j0, nk, dh);
        pack_transposed(Vt, v, ld, j0, nk, dh);
        attn_bwd_scores(S, dP, q, dout, Kt, Vt, lse, D, mask, kind, b, T, ld, dh, i0, nq, j0, nk,
                        scale);
        tile_gemm(dQ, dh, dP, BK, 1, k + (size_t)j0 * ld, (int)ld, nq, dh, nk, 1);
    }
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < dh; d++) dq[(size_t)(i0 + i) * ld + d] += scale * dQ[(size_t)i * dh + d];
}

void attention_backward(float *dq, float *dk, float *dv, /* [B, T, H*dh] each, accumulated */
                        const float *dout, const float *out, const float *lse, const float *q,
                        const float *k, const float *v, const uint8_t *mask, int B, int T, int H,
                        int dh) {
    if (dh > ATTN_MAX_DH) {
        attention_backward_naive(dq, dk, dv, dout, out, lse, q, k, v, mask, B, T, H, dh);
        return;
    }
    size_t ld = (size_t)H * dh;
    int nt = (T + BQ - 1) / BQ;
    float scale = 1.0f / sqrtf((float)dh);
    long ntasks = (long)B * H * nt;
#pragma omp parallel
    {
        if (dk || dv) {
#pragma omp for schedule(dynamic, 1)
            for (long t = 0; t < ntasks; t++) {
                int b = (int)(t / ((long)H * nt)), h = (int)(t / nt % H), kt = (int)(t % nt);
                size_t off = (size_t)b * T * ld + (size_t)h * dh;
                attn_bwd_kv_tile(dk ? dk + off : NULL, dv ? dv + off : NULL, dout + off, out + off,
                                 lse + ((size_t)b * H + h) * T, q + off, k + off, v + off, mask, b,
                                 T, ld, dh, kt * BK, scale);
            }
        }
        if (dq) {
#pragma omp for schedule(dynamic, 1)
            for (long t = 0; t < ntasks; t++) {
                int b = (int)(t / ((long)H * nt)), h = (int)(t / nt % H), qt = (int)(t % nt);
                size_t off = (size_t)b * T * ld + (size_t)h * dh;
                attn_bwd_q_tile(dq + off, dout + off, out + off, lse + ((size_t)b * H + h) * T,
                                q + off, k + off, v + off, mask, b, T, ld, dh, qt * BQ, scale);
            }
        }
    }
}
