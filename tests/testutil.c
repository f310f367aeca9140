#include "testutil.h"

#include "core/rng.h"
#include "io/tensorfile.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

int tu_run(char *const argv[], long fsize_limit, char *err, size_t cap, int *signaled) {
    int fd[2];
    *signaled = 0;
    if (cap) err[0] = 0;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(fd[1], 2);
        close(fd[0]), close(fd[1]), close(null);
        if (fsize_limit > 0) {
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    char buf[4096];
    ssize_t k;
    while ((k = read(fd[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < k; i++)
            if (n + 1 < cap) err[n++] = buf[i];
    if (cap) err[n] = 0;
    close(fd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (WIFSIGNALED(st)) {
        *signaled = 1;
        return 128 + WTERMSIG(st);
    }
    return WEXITSTATUS(st);
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

int tu_in_small_memory(int (*fn)(void *), void *arg, size_t extra) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
#ifndef __SANITIZE_ADDRESS__
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f && fscanf(f, "%ld", &pages) == 1) {
            rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)extra;
            struct rlimit rl = {lim, lim};
            setrlimit(RLIMIT_AS, &rl);
        }
        if (f) fclose(f);
#endif
        _exit(fn(arg));
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

const char *tu_build_dir(void) {
    const char *b = getenv("MV_BUILD");
    return b && *b ? b : "build";
}

int tu_make_train_data(const char *dir, int videos, int frames, int C, int levels, uint64_t seed) {
    char path[600];
    mv_rng r;
    mv_rng_init(&r, seed);
    size_t nf = (size_t)videos * frames * 64 * 64 * 3;
    uint8_t *img = malloc(nf);
    float *act = malloc((size_t)videos * frames * 6 * 4);
    if (!img || !act) {
        free(img);
        free(act);
        return 1;
    }
    for (size_t i = 0; i < nf; i++) img[i] = (uint8_t)(i * 7 + i / 4096 + seed);
    for (int i = 0; i < videos * frames; i++) {
        act[i * 6] = (float)mv_rng_below(&r, 3);
        for (int k = 1; k < 6; k++) act[i * 6 + k] = 0.5f * k;
    }
    int64_t sf[5] = {videos, frames, 64, 64, 3}, sa[3] = {videos, frames, 6};
    if (mkdir(dir, 0777) && access(dir, F_OK)) return 1;
    snprintf(path, sizeof path, "%s/frames.npy", dir);
    int bad = mv_npy_save(path, MV_DT_U8, 5, sf, img) != MV_OK;
    snprintf(path, sizeof path, "%s/actions.npy", dir);
    bad |= mv_npy_save(path, MV_DT_F32, 3, sa, act) != MV_OK;
    snprintf(path, sizeof path, "%s/index.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"format_version\": 1, \"videos\": %d, \"frames\": %d, \"size\": 64, \"split\": \"train\"}\n",
                videos, frames);
        fclose(f);
    } else bad = 1;
    mv_st_writer *w;
    snprintf(path, sizeof path, "%s/latents.safetensors", dir);
    bad |= mv_st_writer_open(&w, path) != MV_OK;
    if (!bad) {
        mv_st_writer_meta(w, "ae_hash", "0123456789abcdef");
        for (int l = 0; l < levels; l++) {
            char name[24];
            int g = 8 >> l;
            int64_t s[4] = {videos, frames, g * g, C};
            snprintf(name, sizeof name, "level%d", l);
            mv_st_writer_declare(w, name, MV_DT_BF16, 4, s);
        }
        for (int l = 0; l < levels; l++) {
            int g = 8 >> l;
            size_t n = (size_t)videos * frames * g * g * C;
            float *x = malloc(n * 4);
            mv_rng_uniform(&r, x, n);
            for (size_t i = 0; i < n; i++) x[i] = 2 * x[i] - 1;
            mv_st_writer_write_f32(w, x, n);
            free(x);
        }
        bad |= mv_st_writer_finish(w) != MV_OK;
    }
    free(img);
    free(act);
    return bad;
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
