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

/* ---------------------------------------------------------------- data sets */

/* A data-set folder written by `millivid world` or `millivid import`: videos of RGB frames and one
 * action per frame. Read-only; frames stay mapped until mv_data_close. */
typedef struct mv_data mv_data;
mv_status mv_data_open(mv_data **out, const char *dir);
void mv_data_close(mv_data *d);
int mv_data_videos(const mv_data *d);
int mv_data_frames(const mv_data *d); /* frames per video */
int mv_data_size(const mv_data *d);   /* frames are size x size x 3 */
/* Frames of one video: [frames, size, size, 3] uint8 RGB, row-major (NULL for a bad index). */
const uint8_t *mv_data_video(const mv_data *d, int video);
/* The action id of one frame: 0 forward, 1 turn left, 2 turn right (-1 for a bad index). */
int mv_data_action(const mv_data *d, int video, int frame);

/* ---------------------------------------------------------------- generation */

/* An autoencoder and a video DiT, loaded and checked against each other once; reusable for any number of
 * mv_generate calls (one at a time per generator). */
typedef struct mv_generator mv_generator;

typedef struct {
    const char *ae_path;   /* autoencoder checkpoint (millivid train-ae) */
    const char *dit_path;  /* video DiT checkpoint (millivid train) */
    const char *method;    /* NULL: the checkpoint's; else "millivid" | "framepack" | "fullres", must match it */
    int allow_ae_mismatch; /* 1: a DiT trained on the latents of another autoencoder is a warning, not an error */
} mv_generator_params;

/* Everything NULL / 0. */
void mv_generator_params_init(mv_generator_params *p);
mv_status mv_generator_create(mv_generator **out, const mv_generator_params *p);
void mv_generator_free(mv_generator *g);

const char *mv_generator_method(const mv_generator *g); /* "millivid", "framepack" or "fullres" */
int mv_generator_image_size(const mv_generator *g);     /* frames are size x size x 3 */
int mv_generator_default_context(const mv_generator *g); /* the MilliVid reach + 1 of its configuration */
int mv_generator_min_context(const mv_generator *g);    /* the fewest context frames its schedule accepts */

/* A finished generated frame: rgb [height, width, 3] uint8, valid during the call. Frames arrive in
 * increasing order. A non-MV_OK return stops the run with that status. */
typedef mv_status (*mv_frame_fn)(void *user, int frame, const uint8_t *rgb, int width, int height);
/* Progress: `done` of `total` rollout steps. */
typedef void (*mv_progress_fn)(void *user, long done, long total);

typedef struct {
    const uint8_t *context_frames; /* [context, size, size, 3] uint8 RGB: the ground-truth frames 0..context-1 */
    int context;                   /* frames given (0: mv_generator_default_context) */
    int frames;                    /* length of the video: frames context..frames-1 are generated */
    const int *actions;            /* [frames] action ids 0..2, one per frame (context frames included) */
    uint64_t seed;                 /* sampling noise */
    int sample_steps;              /* sampler steps per rollout step (0: the checkpoint's) */
    double guidance;               /* classifier-free guidance scale (< 0: the checkpoint's; FramePack: 1) */
    int use_cache;                 /* the context cache, for models trained with it (1) */
    mv_frame_fn frame_fn;          /* required */
    void *frame_user;
    mv_progress_fn progress_fn;    /* may be NULL */
    void *progress_user;
} mv_generate_params;

/* guidance -1, use_cache 1, everything else NULL / 0. */
void mv_generate_params_init(mv_generate_params *p);

typedef struct {
    long steps;          /* rollout steps */
    long dit_calls;      /* model evaluations */
    int tokens_per_step; /* tokens of the largest rollout step */
    int chunks;
    double seconds;      /* rollout and decoding */
} mv_generate_stats;

/* Encodes the context frames, rolls the video out and hands every generated frame to frame_fn.
 * stats may be NULL. The same inputs give the same bytes as `millivid generate` at the same thread count,
 * and as `millivid eval` (which computes every video on one thread) after mv_set_threads(1). */
mv_status mv_generate(mv_generator *g, const mv_generate_params *p, mv_generate_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
