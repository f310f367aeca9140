/* Timing helpers shared by the single-file benchmarks (bench/NAME_bench.c): best-of-N timing of a call and
 * running a PyTorch twin (bench/torch_*.py) that prints "seconds name" lines. Header-only. */
#ifndef MV_BENCHUTIL_H
#define MV_BENCHUTIL_H
#include <math.h>
#include <time.h>

#include "core/core.h"

/* CPU seconds of this process (all threads). */
static inline double bench_cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Best wall-clock seconds of reps calls of fn(ctx), after one warm-up call. When cpu is not NULL,
 * *cpu = min(*cpu, best CPU seconds of a call). */
static inline double bench_best_of(int reps, void (*fn)(void *), void *ctx, double *cpu) {
    fn(ctx);
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = mv_now(), c0 = bench_cpu_now();
        fn(ctx);
        best = fmin(best, mv_now() - t0);
        if (cpu) *cpu = fmin(*cpu, bench_cpu_now() - c0);
    }
    return best;
}

/* Runs `bench/SCRIPT THREADS B REPS` with the OpenMP build of OpenBLAS at `threads` threads; for every
 * output line "seconds name" with name == names[i], sec[i] = min(sec[i], seconds). Lines of other names
 * are skipped; if the script cannot be started, sec is left as it is. */
static inline void bench_torch(const char *script, int threads, int B, int reps, const char *const *names, double *sec,
                               int n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "env -u OPENBLAS_CORETYPE LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp "
             "OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=%d /usr/bin/python3 bench/%s %d %d %d",
             threads, script, threads, B, reps);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char name[64];
    double s;
    while (fscanf(f, "%lf %63s", &s, name) == 2)
        for (int i = 0; i < n; i++)
            if (!strcmp(name, names[i])) sec[i] = fmin(sec[i], s);
    pclose(f);
}
#endif
