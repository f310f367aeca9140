/* Linear layer (PyTorch nn.Linear) through oneDNN SGEMM. */
#include "core/core.h"
#include "core/gemm.h"
#include "nn/nn.h"

void linear_forward(float *out,        /* [N, O] */
                    const float *inp,  /* [N, I] */
                    const float *w,    /* [O, I] */
                    const float *b,    /* [O] or NULL */
                    int N, int I, int O) {
    if (b) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * O, b, sizeof(float) * (size_t)O);
    }
    mv_sgemm(0, 1, N, O, I, 1.0f, inp, I, w, I, b ? 1.0f : 0.0f, out, O);
}

/* db[O] += sum over rows of dout[N, O]; split by output column so the sum order is fixed. */
static void bias_backward(float *db, const float *dout, int N, int O) {
    enum { CHUNK = 64 };
    int nchunks = (O + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < nchunks; c++) {
        int o0 = c * CHUNK, o1 = MV_MIN(O, o0 + CHUNK);
        float acc[CHUNK] = {0};
        for (int n = 0; n < N; n++) {
            const float *row = dout + (size_t)n * O;
            for (int o = o0; o < o1; o++) acc[o - o0] += row[o];
        }
        for (int o = o0; o < o1; o++) db[o] += acc[o - o0];
    }
}

void linear_backward(float *dinp,        /* [N, I] or NULL */
                     float *dw,          /* [O, I] or NULL */
                     float *db,          /* [O] or NULL */
                     const float *dout,  /* [N, O] */
                     const float *inp,   /* [N, I] */
                     const float *w,     /* [O, I] */
                     int N, int I, int O) {
    if (dinp) mv_sgemm(0, 0, N, I, O, 1.0f, dout, O, w, I, 1.0f, dinp, I);
    if (dw) mv_sgemm(1, 0, O, I, N, 1.0f, dout, O, inp, I, 1.0f, dw, I);
    if (db) bias_backward(db, dout, N, O);
}
