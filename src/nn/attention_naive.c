/* Naive multi-head attention (full score rows, double accumulation): the reference for the fast
 * kernels in attention.c. Layout: q, k, v, out [B, T, H*dh], channel h*dh + j. */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"

/* Scores of query i against every key for (b, h): s[T] (masked keys -inf). */
static void naive_scores(double *s, const float *q, const float *k, const uint8_t *mask, int b,
                         int i, int h, int T, int H, int dh) {
    size_t ld = (size_t)H * dh;
    const float *qi = q + ((size_t)b * T + i) * ld + (size_t)h * dh;
    double scale = 1.0 / sqrt((double)dh);
    for (int j = 0; j < T; j++) {
        if (mask && !mask[((size_t)b * T + i) * T + j]) {
            s[j] = -INFINITY;
            continue;
        }
        const float *kj = k + ((size_t)b * T + j) * ld + (size_t)h * dh;
        double acc = 0;
        for (int d = 0; d < dh; d++) acc += (double)qi[d] * kj[d];
        s[j] = acc * scale;
    }
}

void attention_forward_naive(float *out, float *lse, const float *q, const float *k, const float *v,
                             const uint8_t *mask, int B, int T, int H, int dh) {
    size_t ld = (size_t)H * dh;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            double *s = malloc(sizeof(double) * (size_t)T), *o = malloc(sizeof(double) * (size_t)dh);
            MV_ASSERT(s && o);
            for (int i = 0; i < T; i++) {
                naive_scores(s, q, k, mask, b, i, h, T, H, dh);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) mx = s[j] > mx ? s[j] : mx;
                for (int d = 0; d < dh; d++) o[d] = 0;
                for (int j = 0; j < T; j++) {
                    if (s[j] == -INFINITY) continue;
                    double p = exp(s[j] - mx);
                    sum += p;
                    const float *vj = v + ((size_t)b * T + j) * ld + (size_t)h * dh;
                    for (int d = 0; d < dh; d++) o[d] += p * vj[d];
                }
                float *oi = out + ((size_t)b * T + i) * ld + (size_t)h * dh;
                for (int d = 0; d < dh; d++) oi[d] = (float)(o[d] / sum);
                lse[((size_t)b * H + h) * T + i] = (float)(mx + log(sum));
            }
            free(s);
            free(o);
        }
}

/* dq for (b, h) by query rows; dk, dv by key rows (each output written by one loop nest). */
void attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *out,
                              const float *lse, const float *q, const float *k, const float *v,
                              const uint8_t *mask, int B, int T, int H, int dh) {
    size_t ld = (size_t)H * dh;
    double scale = 1.0 / sqrt((double)dh);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t TT = (size_t)T * T;
            double *P = malloc(sizeof(double) * TT), *dS = malloc(sizeof(double) * TT);
            MV_ASSERT(P && dS);
            for (int i = 0; i < T; i++) {
                double *s = P + (size_t)i * T;
                naive_scores(s, q, k, mask, b, i, h, T, H, dh);
                double L = lse[((size_t)b * H + h) * T + i];
                const float *go = dout + ((size_t)b * T + i) * ld + (size_t)h * dh;
                const float *oi = out + ((size_t)b * T + i) * ld + (size_t)h * dh;
                double Di = 0;
                for (int d = 0; d < dh; d++) Di += (double)go[d] * oi[d];
                for (int j = 0; j < T; j++) {
                    double p = s[j] == -INFINITY ? 0.0 : exp(s[j] - L);
                    s[j] = p;
                    const float *vj = v + ((size_t)b * T + j) * ld + (size_t)h * dh;
                    double dp = 0;
                    for (int d = 0; d < dh; d++) dp += (double)go[d] * vj[d];
                    dS[(size_t)i * T + j] = p * (dp - Di);
                }
            }
            for (int i = 0; i < T && dq; i++) {
                float *g = dq + ((size_t)b * T + i) * ld + (size_t)h * dh;
                for (int d = 0; d < dh; d++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++)
                        acc += dS[(size_t)i * T + j] * k[((size_t)b * T + j) * ld + (size_t)h * dh + d];
                    g[d] += (float)(acc * scale);
                }
            }
            for (int j = 0; j < T; j++) {
                float *gk = dk ? dk + ((size_t)b * T + j) * ld + (size_t)h * dh : NULL;
                float *gv = dv ? dv + ((size_t)b * T + j) * ld + (size_t)h * dh : NULL;
                for (int d = 0; d < dh; d++) {
                    double ak = 0, av = 0;
                    for (int i = 0; i < T; i++) {
                        size_t row = ((size_t)b * T + i) * ld + (size_t)h * dh + d;
                        ak += dS[(size_t)i * T + j] * q[row];
                        av += P[(size_t)i * T + j] * dout[row];
                    }
                    if (gk) gk[d] += (float)(ak * scale);
                    if (gv) gv[d] += (float)av;
                }
            }
            free(P);
            free(dS);
        }
}
