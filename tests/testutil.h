/* Small test harness: every check counts; tu_finish() returns the exit code (non-zero on any failure). */
#ifndef MV_TESTUTIL_H
#define MV_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

extern int tu_failures, tu_checks;

/* Fails (and prints the message) when cond is false. */
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        tu_checks++;                                                                       \
        if (!(cond)) {                                                                     \
            tu_failures++;                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
        }                                                                                  \
    } while (0)

/* Compares got against want elementwise: passes when |g-w| <= atol + rtol*|w| for every element
 * and nothing is NaN. Prints the worst element either way. Returns 1 on pass. */
int tu_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol);
/* Runs "/usr/bin/python3 <args>" from the repository root (the shell sees args). Returns exit code. */
int tu_python(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command; returns its exit status (or -1). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs argv (argv[0] a path; no shell) with stdin and stdout on /dev/null and stderr captured into
 * err[cap] (NUL-terminated, truncated). fsize_limit > 0 sets the child's RLIMIT_FSIZE (bytes). Returns the
 * exit code, or 128 + N when signal N ended the child (then *signaled = 1, else 0); -1 if it cannot run. */
int tu_run(char *const argv[], long fsize_limit, char *err, size_t cap, int *signaled);
/* A fresh empty directory under $MV_BUILD/testout (default build/testout); returns its path. */
const char *tu_tmpdir(const char *name);
/* The whole file as a NUL-terminated string (malloc'ed; NULL if it cannot be opened). *n, if n is not
 * NULL, gets the number of bytes read. */
char *tu_slurp(const char *path, size_t *n);
/* The official reference vectors (../shared/reference/official_tiny.safetensors beside the checkout, or
 * the other places a checkout may sit); the first candidate if none exists (opening it then fails). */
const char *tu_official_ref(void);
/* Runs fn(arg) in a forked child whose address space may grow by only `extra` bytes beyond its size at
 * the fork (no limit under AddressSanitizer, which reserves terabytes); returns fn's return value as the
 * child's exit status, or -1 when the child did not exit normally. */
int tu_in_small_memory(int (*fn)(void *), void *arg, size_t extra);
/* The build folder: $MV_BUILD, default "build". */
const char *tu_build_dir(void);
/* Writes a training data set into dir (created if missing): `videos` x `frames` 64x64 frames (pixels a
 * pattern shifted by seed), random actions, index.json, and latents.safetensors with `C` channels and
 * `levels` levels of mini token counts (64, 16, 4, 1), uniform in [-1, 1]. Returns 0 on success. */
int tu_make_train_data(const char *dir, int videos, int frames, int C, int levels, uint64_t seed);
/* Prints "N checks, M failed" and returns the process exit code. */
int tu_finish(void);
#endif
