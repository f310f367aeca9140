/* Layer speed: GFLOP/s of linear and attention (forward, backward) at the mini and paper DiT shapes,
 * and the oneDNN SGEMM ceiling. Usage: layers_bench [--threads N] [--torch FILE] [--quick]
 * FILE holds "seconds name" lines from bench/torch_layers.py; with it a ratio column is printed
 * (ratio = PyTorch time / C time, > 1 means C is faster). */
#include <math.h>

#include "core/core.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "nn/nn.h"

typedef struct {
    const char *name;
    double flops, sec, torch_sec;
} row;

static row g_rows[32];
static int g_nrows;
static double g_min_time = 1.0;

/* Best time of repeated calls of fn(ctx), repeated until g_min_time has passed (at least 3 calls). */
static double time_best(void (*fn)(void *), void *ctx) {
    fn(ctx);
    double best = 1e30, start = mv_now();
    for (int rep = 0; rep < 3 || mv_now() - start < g_min_time; rep++) {
        double t0 = mv_now();
        fn(ctx);
        double dt = mv_now() - t0;
        best = dt < best ? dt : best;
        if (rep >= 200) break;
    }
    return best;
}

static float *rnd(size_t n, uint64_t seed, float sd) {
    float *p = mv_alloc(n * sizeof(float));
    MV_ASSERT(p);
    mv_rng r;
    mv_rng_init(&r, seed);
    mv_rng_normal(&r, p, n);
    for (size_t i = 0; i < n; i++) p[i] *= sd;
    return p;
}

typedef struct {
    int N, I, O;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
} lin_ctx;

static void lin_fwd(void *c) {
    lin_ctx *l = c;
    linear_forward(l->y, l->x, l->w, l->b, l->N, l->I, l->O);
}
static void lin_bwd(void *c) {
    lin_ctx *l = c;
    linear_backward(l->dx, l->dw, l->db, l->dy, l->x, l->w, l->N, l->I, l->O);
}

static void add_row(const char *name, double flops, double sec) {
    MV_ASSERT(g_nrows < (int)MV_ARRAY_LEN(g_rows));
    g_rows[g_nrows++] = (row){name, flops, sec, 0};
    fprintf(stderr, "  %-34s %8.1f GFLOP/s\n", name, flops / sec / 1e9);
}

static void bench_linear(const char *fwd_name, const char *bwd_name, int N, int I, int O) {
    lin_ctx l = {N, I, O, rnd((size_t)N * I, 1, 1), rnd((size_t)O * I, 2, 0.05f), rnd(O, 3, 0.1f),
                 rnd((size_t)N * O, 4, 0), rnd((size_t)N * O, 5, 1), rnd((size_t)N * I, 6, 0),
                 rnd((size_t)O * I, 7, 0), rnd(O, 8, 0)};
    double f = 2.0 * N * I * O;
    add_row(fwd_name, f, time_best(lin_fwd, &l));
    add_row(bwd_name, 2 * f, time_best(lin_bwd, &l));
    float *bufs[8] = {l.x, l.w, l.b, l.y, l.dy, l.dx, l.dw, l.db};
    for (int i = 0; i < 8; i++) mv_free(bufs[i]);
}

typedef struct {
    int B, T, H, dh;
    float *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv;
} att_ctx;

static void att_fwd(void *c) {
    att_ctx *a = c;
    attention_forward(a->o, a->lse, a->q, a->k, a->v, NULL, a->B, a->T, a->H, a->dh);
}
static void att_bwd(void *c) {
    att_ctx *a = c;
    attention_backward(a->dq, a->dk, a->dv, a->dout, a->o, a->lse, a->q, a->k, a->v, NULL, a->B,
                       a->T, a->H, a->dh);
}

/* FLOPs: forward 2 matmuls (QK^T, PV) = 4 B H T^2 dh; backward counted as 4 matmuls (dV, dP, dQ,
 * dK) = 8 B H T^2 dh for both C and PyTorch (C actually recomputes QK^T twice: 7 matmuls). */
static void bench_attention(const char *fwd_name, const char *bwd_name, int B, int T, int H, int dh) {
    size_t n = (size_t)B * T * H * dh;
    att_ctx a = {B, T, H, dh, rnd(n, 11, 1), rnd(n, 12, 1), rnd(n, 13, 1), rnd(n, 14, 0),
                 rnd((size_t)B * H * T, 15, 0), rnd(n, 16, 1), rnd(n, 17, 0), rnd(n, 18, 0),
                 rnd(n, 19, 0)};
    double f = 4.0 * B * H * (double)T * T * dh;
    add_row(fwd_name, f, time_best(att_fwd, &a));
    add_row(bwd_name, 2 * f, time_best(att_bwd, &a));
    float *bufs[9] = {a.q, a.k, a.v, a.o, a.lse, a.dout, a.dq, a.dk, a.dv};
    for (int i = 0; i < 9; i++) mv_free(bufs[i]);
}

typedef struct {
    int n;
    float *a, *b, *c;
} mm_ctx;
static void mm(void *c) {
    mm_ctx *m = c;
    mv_sgemm(0, 0, m->n, m->n, m->n, 1.0f, m->a, m->n, m->b, m->n, 0.0f, m->c, m->n);
}

static void read_torch(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "layers_bench: cannot open %s; printing C numbers only\n", path);
        return;
    }
    char name[128];
    double sec;
    while (fscanf(f, " %lf %127[^\n]", &sec, name) == 2)
        for (int i = 0; i < g_nrows; i++)
            if (!strcmp(name, g_rows[i].name)) g_rows[i].torch_sec = sec;
    fclose(f);
}

static void print_table(int threads) {
    printf("\n%-34s %12s %14s %8s\n", "op (threads = ", "C GFLOP/s", "torch GFLOP/s", "ratio");
    printf("%-34s\n", "");
    for (int i = 0; i < g_nrows; i++) {
        row *r = &g_rows[i];
        double c = r->flops / r->sec / 1e9;
        if (r->torch_sec > 0)
            printf("%-34s %12.1f %14.1f %7.2fx\n", r->name, c, r->flops / r->torch_sec / 1e9,
                   r->torch_sec / r->sec);
        else
            printf("%-34s %12.1f %14s %8s\n", r->name, c, "-", "-");
    }
    printf("(threads %d; ratio = PyTorch time / C time; attention backward counted as 4 matmuls)\n",
           threads);
}

int main(int argc, char **argv) {
    int threads = 2, quick = 0;
    const char *torch_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--torch") && i + 1 < argc) torch_file = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: layers_bench [--threads N] [--torch FILE] [--quick]\n");
            return 2;
        }
    }
    mv_set_threads(threads);
    if (quick) g_min_time = 0.2;
    fprintf(stderr, "layers_bench: %d threads\n", threads);
    /* mini DiT: 320 tokens, width 256, 4 heads, batch 8 */
    bench_linear("mini linear D->4D fwd", "mini linear D->4D bwd", 8 * 320, 256, 1024);
    bench_linear("mini linear D->3D fwd", "mini linear D->3D bwd", 8 * 320, 256, 768);
    bench_attention("mini attention fwd", "mini attention bwd", 8, 320, 4, 64);
    /* paper DiT-B: 3840 tokens, width 768, 12 heads, batch 1 */
    bench_linear("paper linear D->4D fwd", "paper linear D->4D bwd", 3840, 768, 3072);
    bench_linear("paper linear D->3D fwd", "paper linear D->3D bwd", 3840, 768, 2304);
    bench_attention("paper attention fwd", "paper attention bwd", 1, 3840, 12, 64);
    mm_ctx m = {2048, rnd(2048 * 2048, 21, 1), rnd(2048 * 2048, 22, 1), rnd(2048 * 2048, 23, 0)};
    add_row("sgemm 2048^3 (oneDNN | torch)", 2.0 * 2048 * 2048 * 2048, time_best(mm, &m));
    mv_free(m.a), mv_free(m.b), mv_free(m.c);
    if (torch_file) read_torch(torch_file);
    print_table(threads);
    return 0;
}
