/* Sinusoidal embeddings in the official layouts (OFFICIAL_MODULES.md §1.2, §2.1). */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"

/* omega_k = 10000^(-k/(n-1)), k = 0..n-1 (omega_0 = 1 when n == 1). */
static double sincos_omega(int k, int n) {
    return n > 1 ? pow(10000.0, -(double)k / (n - 1)) : 1.0;
}

void timestep_embedding(float *out, const float *t, int N) {
    enum { NF = 128 };
#pragma omp parallel for schedule(static) if (N >= 64)
    for (int i = 0; i < N; i++) {
        double s = 1000.0 * (double)t[i];
        float *o = out + (size_t)i * 2 * NF;
        for (int k = 0; k < NF; k++) {
            double a = s * exp(-log(10000.0) * k / (NF - 1));
            o[k] = (float)cos(a);
            o[NF + k] = (float)sin(a);
        }
    }
}

/* Writes [sin(p w_0..n-1), cos(p w_0..n-1)] (2n values) at o. */
static void sincos_block(float *o, int p, int n) {
    for (int k = 0; k < n; k++) {
        double a = p * sincos_omega(k, n);
        o[k] = (float)sin(a);
        o[n + k] = (float)cos(a);
    }
}

void pos2d_embedding(float *out, const int *row, const int *col, int N, int D) {
    int n = D / 4;
#pragma omp parallel for schedule(static) if (N >= 64)
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * D;
        sincos_block(o, col[i], n);
        sincos_block(o + 2 * n, row[i], n);
        for (int d = 4 * n; d < D; d++) o[d] = 0.0f;
    }
}

void pos3d_embedding(float *out, const int *frame, const int *row, const int *col, int N, int D) {
    int n = D / 6;
#pragma omp parallel for schedule(static) if (N >= 64)
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * D;
        sincos_block(o, frame[i], n);
        sincos_block(o + 2 * n, row[i], n);
        sincos_block(o + 4 * n, col[i], n);
        for (int d = 6 * n; d < D; d++) o[d] = 0.0f;
    }
}
