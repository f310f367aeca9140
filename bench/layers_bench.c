/* Layer speed: GFLOP/s of linear and attention (forward, backward) at the mini and paper DiT shapes,
 * and the oneDNN SGEMM ceiling.
 *   layers_bench [--threads N] [--min-time S] [--cpu-time]
 *                                               measures; prints "seconds<TAB>name" lines.
 *                                               --cpu-time (needs --threads 1) times with the
 *                                               calling thread's CPU clock, which other processes
 *                                               on a shared machine do not inflate
 *   layers_bench --table CFILE TORCHFILE [THREADS]
 *                                               prints the comparison table from such lines, taking
 *                                               the best time per name over all lines of a file
 * TORCHFILE comes from bench/torch_layers.py (same shapes, same names, same line format). */
#include <math.h>
#include <time.h>

#include "core/core.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "nn/nn.h"

typedef enum { OP_LIN_FWD, OP_LIN_BWD, OP_ATT_FWD, OP_ATT_BWD, OP_SGEMM } op_kind;

/* One benchmark row: linear uses (N, I, O); attention (B, T, H, dh); sgemm (n). */
typedef struct {
    const char *name;
    op_kind op;
    int a, b, c, d;
} spec;

static const spec g_specs[] = {
    {"mini linear D->4D fwd", OP_LIN_FWD, 8 * 320, 256, 1024, 0},
    {"mini linear D->4D bwd", OP_LIN_BWD, 8 * 320, 256, 1024, 0},
    {"mini linear D->3D fwd", OP_LIN_FWD, 8 * 320, 256, 768, 0},
    {"mini linear D->3D bwd", OP_LIN_BWD, 8 * 320, 256, 768, 0},
    {"mini attention fwd", OP_ATT_FWD, 8, 320, 4, 64},
    {"mini attention bwd", OP_ATT_BWD, 8, 320, 4, 64},
    {"paper linear D->4D fwd", OP_LIN_FWD, 3840, 768, 3072, 0},
    {"paper linear D->4D bwd", OP_LIN_BWD, 3840, 768, 3072, 0},
    {"paper linear D->3D fwd", OP_LIN_FWD, 3840, 768, 2304, 0},
    {"paper linear D->3D bwd", OP_LIN_BWD, 3840, 768, 2304, 0},
    {"paper attention fwd", OP_ATT_FWD, 1, 3840, 12, 64},
    {"paper attention bwd", OP_ATT_BWD, 1, 3840, 12, 64},
    {"sgemm 2048^3 (oneDNN | torch)", OP_SGEMM, 2048, 0, 0, 0},
};
enum { NSPECS = sizeof g_specs / sizeof g_specs[0] };

/* FLOPs: linear forward 2NIO, backward 4NIO (dinp and dw; db is not counted); attention forward
 * 2 matmuls = 4 B H T^2 dh, backward counted as 4 matmuls (dV, dP, dQ, dK) = 8 B H T^2 dh for both
 * sides (the C kernel also recomputes QK^T). */
static double spec_flops(const spec *s) {
    switch (s->op) {
    case OP_LIN_FWD: return 2.0 * s->a * s->b * s->c;
    case OP_LIN_BWD: return 4.0 * s->a * s->b * s->c;
    case OP_ATT_FWD: return 4.0 * s->a * s->c * (double)s->b * s->b * s->d;
    case OP_ATT_BWD: return 8.0 * s->a * s->c * (double)s->b * s->b * s->d;
    case OP_SGEMM: return 2.0 * s->a * (double)s->a * s->a;
    }
    return 0;
}

static float *rnd(size_t n, uint64_t seed, float sd) {
    float *p = mv_alloc((n ? n : 1) * sizeof(float));
    MV_ASSERT(p);
    mv_rng r;
    mv_rng_init(&r, seed);
    mv_rng_normal(&r, p, n);
    for (size_t i = 0; i < n; i++) p[i] *= sd;
    return p;
}

/* Buffers for one row: up to 9 tensors sized for the op. */
typedef struct {
    const spec *s;
    float *t[9];
} bench_ctx;

static void ctx_alloc(bench_ctx *c, const spec *s) {
    size_t n[9] = {0};
    c->s = s;
    if (s->op == OP_LIN_FWD || s->op == OP_LIN_BWD) {
        size_t N = s->a, I = s->b, O = s->c; /* x w b y dy dx dw db */
        size_t sz[8] = {N * I, O * I, O, N * O, N * O, N * I, O * I, O};
        memcpy(n, sz, sizeof sz);
    } else if (s->op == OP_ATT_FWD || s->op == OP_ATT_BWD) {
        size_t e = (size_t)s->a * s->b * s->c * s->d, l = (size_t)s->a * s->c * s->b;
        size_t sz[9] = {e, e, e, e, l, e, e, e, e}; /* q k v out lse dout dq dk dv */
        memcpy(n, sz, sizeof sz);
    } else {
        size_t e = (size_t)s->a * s->a;
        n[0] = n[1] = n[2] = e;
    }
    for (int i = 0; i < 9; i++) { /* linear weights (t[1]) small, everything else N(0, 1) */
        float sd = i == 1 && s->op <= OP_LIN_BWD ? 0.05f : 1.0f;
        c->t[i] = n[i] ? rnd(n[i], 100 + i, sd) : NULL;
    }
    if (s->op == OP_ATT_BWD) /* a consistent (out, lse) for the backward */
        attention_forward(c->t[3], c->t[4], c->t[0], c->t[1], c->t[2], NULL, s->a, s->b, s->c, s->d);
}

static void ctx_free(bench_ctx *c) {
    for (int i = 0; i < 9; i++) mv_free(c->t[i]);
}

static void ctx_run(const bench_ctx *c) {
    const spec *s = c->s;
    float *const *t = c->t;
    switch (s->op) {
    case OP_LIN_FWD: linear_forward(t[3], t[0], t[1], t[2], s->a, s->b, s->c); break;
    case OP_LIN_BWD: linear_backward(t[5], t[6], t[7], t[4], t[0], t[1], s->a, s->b, s->c); break;
    case OP_ATT_FWD:
        attention_forward(t[3], t[4], t[0], t[1], t[2], NULL, s->a, s->b, s->c, s->d);
        break;
    case OP_ATT_BWD:
        attention_backward(t[6], t[7], t[8], t[5], t[3], t[4], t[0], t[1], t[2], NULL, s->a, s->b,
                           s->c, s->d);
        break;
    case OP_SGEMM:
        mv_sgemm(0, 0, s->a, s->a, s->a, 1.0f, t[0], s->a, t[1], s->a, 0.0f, t[2], s->a);
        break;
    }
}

static int g_cpu_time;

/* Seconds on the wall clock, or on this thread's CPU clock with --cpu-time. */
static double clock_now(void) {
    if (!g_cpu_time) return mv_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Best time of repeated calls, repeated until min_time has passed (at least 3 calls, at most 200). */
static double time_best(const bench_ctx *c, double min_time) {
    ctx_run(c);
    double best = 1e30, start = mv_now();
    for (int rep = 0; rep < 200 && (rep < 3 || mv_now() - start < min_time); rep++) {
        double t0 = clock_now();
        ctx_run(c);
        best = MV_MIN(best, clock_now() - t0);
    }
    return best;
}

/* Best time per spec from "seconds<TAB>name" lines (0 when missing). */
static void read_times(const char *path, double *sec) {
    for (int i = 0; i < NSPECS; i++) sec[i] = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "layers_bench: cannot open %s\n", path);
        return;
    }
    char name[128];
    double t;
    while (fscanf(f, " %lf %127[^\n]", &t, name) == 2)
        for (int i = 0; i < NSPECS; i++)
            if (!strcmp(name, g_specs[i].name) && t > 0 && (sec[i] == 0 || t < sec[i])) sec[i] = t;
    fclose(f);
}

static int print_table(const char *cfile, const char *tfile, const char *threads) {
    double c[NSPECS], t[NSPECS];
    read_times(cfile, c);
    read_times(tfile, t);
    printf("%-32s %11s %15s %9s\n", "op", "C GFLOP/s", "torch GFLOP/s", "C/torch");
    for (int i = 0; i < NSPECS; i++) {
        double f = spec_flops(&g_specs[i]) / 1e9;
        char cs[32] = "-", ts[32] = "-", rs[32] = "-";
        if (c[i] > 0) snprintf(cs, sizeof cs, "%.1f", f / c[i]);
        if (t[i] > 0) snprintf(ts, sizeof ts, "%.1f", f / t[i]);
        if (c[i] > 0 && t[i] > 0) snprintf(rs, sizeof rs, "%.2fx", t[i] / c[i]);
        printf("%-32s %11s %15s %9s\n", g_specs[i].name, cs, ts, rs);
    }
    printf("threads %s; best of repeated calls; C/torch = PyTorch time / C time (> 1: C faster).\n"
           "mini: 320 tokens x batch 8, D 256, 4 heads; paper: 3840 tokens, D 768, 12 heads, batch 1.\n"
           "linear bwd = dinp + dw (+ db); attention bwd counted as 4 T x T x dh matmuls per head.\n",
           threads ? threads : "?");
    return 0;
}

int main(int argc, char **argv) {
    int threads = 2;
    double min_time = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--table") && i + 2 < argc)
            return print_table(argv[i + 1], argv[i + 2], i + 3 < argc ? argv[i + 3] : NULL);
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) {
            min_time = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--cpu-time")) {
            g_cpu_time = 1;
        } else {
            fprintf(stderr, "usage: layers_bench [--threads N] [--min-time S] [--cpu-time] | "
                            "--table CFILE TORCHFILE [THREADS]\n");
            return 2;
        }
    }
    if (g_cpu_time && threads != 1) {
        fprintf(stderr, "layers_bench: --cpu-time needs --threads 1 (a CPU clock per thread)\n");
        return 2;
    }
    mv_set_threads(threads);
    for (int i = 0; i < NSPECS; i++) {
        bench_ctx c;
        ctx_alloc(&c, &g_specs[i]);
        double sec = time_best(&c, min_time);
        ctx_free(&c);
        printf("%.9f\t%s\n", sec, g_specs[i].name);
        fflush(stdout);
        fprintf(stderr, "  %-32s %8.1f GFLOP/s\n", g_specs[i].name, spec_flops(&g_specs[i]) / sec / 1e9);
    }
    return 0;
}
