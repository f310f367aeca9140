#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int tu_failures, tu_checks;

int tu_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol) {
    size_t worst = 0, bad = 0;
    double worst_excess = -1e300;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], tol = atol + rtol * fabs(w);
        double excess = (isnan(g) || isnan(w)) ? 1e300 : fabs(g - w) - tol;
        if (excess > 0) bad++;
        if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    tu_checks++;
    double g = n ? got[worst] : 0, w = n ? want[worst] : 0;
    if (bad) {
        tu_failures++;
        fprintf(stderr, "FAIL %s: %zu of %zu elements out of tolerance; worst [%zu] got %.9g want %.9g (abs %.3g)\n",
                what, bad, n, worst, g, w, fabs(g - w));
        return 0;
    }
    printf("ok   %s: %zu elements, worst [%zu] abs err %.3g\n", what, n, worst, fabs(g - w));
    return 1;
}

static int run(const char *cmd) {
    fflush(stdout);
    fflush(stderr);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tu_python(const char *fmt, ...) {
    char args[4096], cmd[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", args);
    return run(cmd);
}

int tu_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return run(cmd);
}

const char *tu_tmpdir(const char *name) {
    static char path[1024];
    const char *b = getenv("MV_BUILD");
    snprintf(path, sizeof path, "%s/testout/%s", b ? b : "build", name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (run(cmd) != 0) fprintf(stderr, "cannot create %s\n", path);
    return path;
}

int tu_finish(void) {
    printf("%d checks, %d failed\n", tu_checks, tu_failures);
    if (tu_checks == 0) {
        printf("no checks ran: failing\n");
        return 1;
    }
    return tu_failures ? 1 : 0;
}

char *tu_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *buf = calloc((size_t)(len > 0 ? len : 0) + 1, 1);
    size_t got = buf ? fread(buf, 1, (size_t)(len > 0 ? len : 0), f) : 0;
    fclose(f);
    if (n) *n = got;
    return buf;
}

const char *tu_official_ref(void) {
    static const char *const cands[] = {"../shared/reference/official_tiny.safetensors",
                                        "../../shared/reference/official_tiny.safetensors",
                                        "/work/shared/reference/official_tiny.safetensors"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        FILE *f = fopen(cands[i], "rb");
        if (f) {
            fclose(f);
            return cands[i];
        }
    }
    return cands[0];
}
