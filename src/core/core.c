/* Errors, logging, threads, aligned memory, timing and progress lines. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_errmsg[2048];
static mv_log_level g_log_level = MV_LOG_INFO;
static mv_log_fn g_log_fn;
static void *g_log_user;
static int g_threads;

const char *mv_version(void) { return MV_VERSION_STRING; }

const char *mv_status_name(mv_status s) {
    switch (s) {
    case MV_OK: return "ok";
    case MV_ERR_ARG: return "bad argument";
    case MV_ERR_IO: return "i/o error";
    case MV_ERR_FORMAT: return "bad file format";
    case MV_ERR_SHAPE: return "shape mismatch";
    case MV_ERR_NOMEM: return "out of memory";
    case MV_ERR_UNSUPPORTED: return "unsupported";
    case MV_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *mv_last_error(void) { return g_errmsg; }
void mv_clear_error(void) { g_errmsg[0] = 0; }

mv_status mv_fail(mv_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errmsg, sizeof g_errmsg, fmt, ap);
    va_end(ap);
    return s;
}

mv_status mv_fail_prefix(mv_status s, const char *fmt, ...) {
    char old[sizeof g_errmsg];
    memcpy(old, g_errmsg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_errmsg, sizeof g_errmsg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof g_errmsg) {
        g_errmsg[n] = ':', g_errmsg[n + 1] = ' ';
        size_t room = sizeof g_errmsg - n - 2, len = strnlen(old, room - 1);
        memcpy(g_errmsg + n + 2, old, len);
        g_errmsg[n + 2 + len] = 0;
    }
    return s;
}

void mv_set_log_level(mv_log_level level) { g_log_level = level; }
mv_log_level mv_get_log_level(void) { return g_log_level; }
void mv_set_log_callback(mv_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void mv_log(mv_log_level level, const char *fmt, ...) {
    if (level > g_log_level) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_log_fn) {
        g_log_fn(level, buf, g_log_user);
        return;
    }
    static const char *names[] = {"error", "warning", "info", "debug"};
    if (level == MV_LOG_INFO) fprintf(stderr, "%s\n", buf);
    else fprintf(stderr, "%s: %s\n", names[level], buf);
}

void mv_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "millivid: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    abort();
}

void mv_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    /* Debian's oneDNN is built on the OpenMP runtime, so this one call sets both. */
    omp_set_num_threads(n);
}

int mv_get_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void *mv_alloc(size_t bytes) {
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, n) != 0) {
        mv_fail(MV_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

void *mv_calloc(size_t bytes) {
    void *p = mv_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void mv_free(void *p) { free(p); }

double mv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_hms(char *out, size_t n, double s) {
    if (s < 0 || s > 1e7) {
        snprintf(out, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

void mv_progress_start(mv_progress *p, const char *label, long total, const char *unit) {
    p->label = label;
    p->total = total;
    p->unit = unit ? unit : "it";
    p->t0 = mv_now();
    p->tty = isatty(fileno(stderr));
    p->last_print = p->tty ? 0 : p->t0; /* a log gets its first line after MV_PROGRESS_LOG_SECONDS */
}

static void progress_print(mv_progress *p, long done, const char *extra, int final) {
    double now = mv_now(), el = now - p->t0;
    double rate = el > 0 ? done / el : 0;
    char eta[32], elapsed[32], bar[32];
    fmt_hms(eta, sizeof eta, rate > 0 ? (p->total - done) / rate : -1);
    fmt_hms(elapsed, sizeof elapsed, el);
    int width = 20, fill = p->total > 0 ? (int)(width * (double)done / p->total) : 0;
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "%s%s [%s] %3d%% %ld/%ld %.1f %s/s %s %s%s%s", p->tty ? "\r" : "", p->label, bar,
            p->total > 0 ? (int)(100.0 * done / p->total) : 0, done, p->total, rate, p->unit,
            final ? "took" : "ETA", final ? elapsed : eta, extra ? "  " : "", extra ? extra : "");
    fprintf(stderr, final || !p->tty ? "\n" : "\033[K");
    fflush(stderr);
}

void mv_progress_update(mv_progress *p, long done, const char *extra) {
    double now = mv_now();
    if (!p->tty && done >= p->total) return; /* mv_progress_end writes the last line */
    if (now - p->last_print < (p->tty ? 0.25 : MV_PROGRESS_LOG_SECONDS) && done < p->total) return;
    p->last_print = now;
    progress_print(p, done, extra, 0);
}

void mv_progress_end(mv_progress *p, long done, const char *extra) { progress_print(p, done, extra, 1); }

void mv_test_kill_point(const char *point) {
    static int reached;
    const char *at = getenv("MV_TEST_KILL_AT");
    size_t n = strlen(point);
    if (!at || strncmp(at, point, n) || (at[n] && at[n] != ':')) return;
    int nth = at[n] == ':' ? atoi(at + n + 1) : 1;
    if (++reached >= nth) raise(SIGKILL);
}

uint64_t mv_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) h = mv_fnv1a_step(h, b[i]);
    return h;
}
