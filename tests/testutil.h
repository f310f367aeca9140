/* Small test harness: every check counts; tu_finish() returns the exit code (non-zero on any failure). */
#ifndef MV_TESTUTIL_H
#define MV_TESTUTIL_H
#include <stddef.h>

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
/* A fresh empty directory under $MV_BUILD/testout (default build/testout); returns its path. */
const char *tu_tmpdir(const char *name);
/* The whole file as a NUL-terminated string (malloc'ed; NULL if it cannot be opened). *n, if n is not
 * NULL, gets the number of bytes read. */
char *tu_slurp(const char *path, size_t *n);
/* The official reference vectors (../shared/reference/official_tiny.safetensors beside the checkout, or
 * the other places a checkout may sit); the first candidate if none exists (opening it then fails). */
const char *tu_official_ref(void);
/* Prints "N checks, M failed" and returns the process exit code. */
int tu_finish(void);
#endif
