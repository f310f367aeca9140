/* Internal core: errors, logging, assertions, small helpers. Include this first in every .c file. */
#ifndef MV_CORE_H
#define MV_CORE_H
#include "millivid.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Record a failure (printf-style message) for this thread and return its status:
 *     if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); */
mv_status mv_fail(mv_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current error message with more context ("loading ae.safetensors: ..."). */
mv_status mv_fail_prefix(mv_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void mv_log(mv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define MV_INFO(...) mv_log(MV_LOG_INFO, __VA_ARGS__)
#define MV_WARN(...) mv_log(MV_LOG_WARN, __VA_ARGS__)
#define MV_DEBUG(...) mv_log(MV_LOG_DEBUG, __VA_ARGS__)

/* Internal invariants only (never user input): prints file:line and aborts. */
#define MV_ASSERT(cond)                                                                    \
    do {                                                                                   \
        if (!(cond)) mv_assert_fail(#cond, __FILE__, __LINE__);                            \
    } while (0)
void mv_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* Propagate a failing status: MV_TRY(mv_foo(...)); */
#define MV_TRY(expr)                                                                       \
    do {                                                                                   \
        mv_status mv_try_s_ = (expr);                                                      \
        if (mv_try_s_ != MV_OK) return mv_try_s_;                                          \
    } while (0)

/* 64-byte aligned allocation (free with mv_free). Returns NULL and sets the error on failure. */
void *mv_alloc(size_t bytes);
void *mv_calloc(size_t bytes);
void mv_free(void *p);

/* FNV-1a 64, the one content hash: mv_fnv1a continues h over n bytes; mv_fnv1a_step mixes in one 64-bit
 * word (the step FNV-1a applies to each byte). Two starting values are in use and both are part of
 * recorded data: MV_FNV_OFFSET (FNV's offset basis) starts the training hashes (data sets, optimizer
 * state); MV_HASH_SEED (the offset basis's first 19 digits) starts the hashes recorded in checkpoints and
 * evaluation caches (ae_hash, file hashes, cache keys), so changing either invalidates what was stored. */
#define MV_FNV_OFFSET 0xcbf29ce484222325ull
#define MV_HASH_SEED 1469598103934665603ull
#define MV_FNV_PRIME 0x100000001b3ull
static inline uint64_t mv_fnv1a_step(uint64_t h, uint64_t x) { return (h ^ x) * MV_FNV_PRIME; }
uint64_t mv_fnv1a(uint64_t h, const void *data, size_t n);

/* Wall-clock seconds (monotonic). */
double mv_now(void);

/* Crash-consistency test hook: when the environment variable MV_TEST_KILL_AT is `point` (or
 * `point:N`, the Nth time this point is reached), the process sends itself SIGKILL here (tests use it
 * to stop a writer between two renames). Does nothing otherwise. */
void mv_test_kill_point(const char *point);

/* A progress line on stderr: "label  [#####.....]  37%  120/320  45.1 it/s  ETA 0:04".
 * On a terminal the line is redrawn in place (4 times a second); when stderr is a file or pipe,
 * a plain line is appended every MV_PROGRESS_LOG_SECONDS instead, so logs stay short. */
#define MV_PROGRESS_LOG_SECONDS 30.0
typedef struct {
    const char *label;
    long total;
    double t0, last_print;
    const char *unit;
    int tty;
} mv_progress;
void mv_progress_start(mv_progress *p, const char *label, long total, const char *unit);
/* done: items finished so far; extra: optional text appended (e.g. the loss), may be NULL. */
void mv_progress_update(mv_progress *p, long done, const char *extra);
void mv_progress_end(mv_progress *p, long done, const char *extra);

#endif
