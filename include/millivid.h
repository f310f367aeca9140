/* millivid: hierarchical latents and coarse-to-fine diffusion rollout for long, consistent video.
 * Public C API. Every function returns an mv_status; on failure mv_last_error() says what went wrong.
 * The library never exits the process on user input. New fields go at the end of structs. */
#ifndef MILLIVID_H
#define MILLIVID_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MV_VERSION_MAJOR 0
#define MV_VERSION_MINOR 1
#define MV_VERSION_PATCH 0
#define MV_VERSION_STRING "0.1.0"

typedef enum {
    MV_OK = 0,
    MV_ERR_ARG,         /* a nonsense option or argument */
    MV_ERR_IO,          /* a file could not be opened, read or written */
    MV_ERR_FORMAT,      /* a file is corrupt, truncated or of the wrong kind */
    MV_ERR_SHAPE,       /* shapes or configurations do not match */
    MV_ERR_NOMEM,       /* allocation failed */
    MV_ERR_UNSUPPORTED, /* valid request that this build cannot do */
    MV_ERR_INTERNAL     /* a bug: please report */
} mv_status;

const char *mv_status_name(mv_status s);
/* The message of the last failure on this thread ("" if none). */
const char *mv_last_error(void);
void mv_clear_error(void);

typedef enum { MV_LOG_ERROR = 0, MV_LOG_WARN, MV_LOG_INFO, MV_LOG_DEBUG } mv_log_level;
typedef void (*mv_log_fn)(mv_log_level level, const char *msg, void *user);
void mv_set_log_level(mv_log_level level);
mv_log_level mv_get_log_level(void);
/* Route log lines to a callback (NULL restores stderr). */
void mv_set_log_callback(mv_log_fn fn, void *user);

/* One thread count for OpenMP and the matrix library. n <= 0 means all cores. */
void mv_set_threads(int n);
int mv_get_threads(void);

const char *mv_version(void);

#ifdef __cplusplus
}
#endif
#endif
