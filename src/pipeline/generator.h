/* The generation pipeline: everything between "two checkpoint files and some ground-truth frames" and
 * "generated RGB frames", used by `millivid generate`, `eval`, `probe` and the public API
 * (include/millivid.h).
 *
 *   mv_gen_ae_load / mv_gen_model_load  load the autoencoder and a video DiT (the method is read from the
 *                                       checkpoint) and check, once and with one policy, that they fit:
 *                                       latent shapes must match; an ae_hash other than the autoencoder's
 *                                       is an error unless the caller allows it (a missing one is a warning)
 *   mv_gen_encode                       ground-truth frames -> latents of every level, MV_GEN_BATCH at a time
 *   mv_gen_rollout                      context latents -> rollout (src/rollout/rollout.h) -> level-0 decode
 *                                       in batches of MV_GEN_BATCH -> uint8 frames handed to a callback
 *   mv_gen_decode                       latents -> uint8 frames, the same decode path without a rollout
 *
 * One float-to-byte rule (mv_gen_to_u8): clamp to [0, 1], then x * 255 rounded to nearest (ties to even).
 * Decode batches start at the first frame handed over and hold MV_GEN_BATCH frames (the last may hold
 * fewer), so a frame's bytes do not depend on who asked for it.
 *
 * Threads: models are read-only once loaded; everything a run writes lives in an mv_gen_work, so several
 * runs may proceed at once on different threads, each with its own work. */
#ifndef MV_GENERATOR_H
#define MV_GENERATOR_H
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "rollout/rollout.h"
#include "rollout/schedule.h"

#define MV_GEN_BATCH 8 /* frames per autoencoder call (encode and decode) */

/* ---------------------------------------------------------------- models */

typedef struct {
    mv_ae ae;
    const char *path;
    char hash[17];      /* mv_ae_hash: what video checkpoints record as ae_hash */
    char file_hash[17]; /* mv_file_hash of the file */
    int loaded;
} mv_gen_ae;

typedef struct {
    mv_dit dit;
    mv_ckpt_meta meta;
    mv_method method;   /* from meta.variant, consistent with the model kind */
    mv_schedule sched;  /* the method's schedule for the stored configuration */
    const char *path;
    char file_hash[17];
    int loaded;
} mv_gen_model;

mv_status mv_gen_ae_load(mv_gen_ae *a, const char *path);
void mv_gen_ae_free(mv_gen_ae *a);

/* Loads a video DiT checkpoint and checks it against the autoencoder: latent channels, levels, image
 * size and patch must match; a recorded ae_hash other than ae->hash fails unless allow_ae_mismatch (then
 * a warning). expect_method (NULL = any) must equal the checkpoint's method. */
mv_status mv_gen_model_load(mv_gen_model *m, const char *path, const mv_gen_ae *ae, const char *expect_method,
                            int allow_ae_mismatch);
void mv_gen_model_free(mv_gen_model *m);
/* Frames of ground-truth context a default run gives: the MilliVid reach + 1 of the configuration. */
int mv_gen_model_default_context(const mv_gen_model *m);
/* Guidance a run uses: `requested` (< 0: the checkpoint's sample.guidance); 1 for FramePack, which never
 * drops its conditioning. */
float mv_gen_model_guidance(const mv_gen_model *m, double requested);

/* ---------------------------------------------------------------- per-thread work */

typedef struct mv_gen_work mv_gen_work;
mv_status mv_gen_work_create(mv_gen_work **w, const mv_ae *ae);
void mv_gen_work_free(mv_gen_work *w);

/* ---------------------------------------------------------------- encode, decode, rollout */

/* The one float-to-byte rule: img [n] in [0, 1] (clamped) -> dst [n]. */
void mv_gen_to_u8(uint8_t *dst, const float *img, size_t n);

/* Encodes n frames [n, H, W, 3] into lat [n, T_pyr, C], MV_GEN_BATCH frames per call from the first. */
void mv_gen_encode(const mv_ae *ae, mv_gen_work *w, float *lat, const uint8_t *frames, int n);

/* A finished frame: rgb [H, W, 3]. */
typedef mv_status (*mv_gen_frame_fn)(void *user, int frame, const uint8_t *rgb);

/* Decodes level 0 of n frames of latents lat [n, T_pyr, C] (the other levels are ignored) and hands
 * frames first .. first + n - 1 to fn in order. */
mv_status mv_gen_decode(const mv_ae *ae, mv_gen_work *w, const float *lat, int first, int n, mv_gen_frame_fn fn,
                        void *user);

typedef struct {
    /* ground-truth latents: frame f (context_first <= f < context) at context_lat + f * T_pyr * C */
    const float *context_lat;
    int context_first;
    int context;            /* first generated frame */
    int frames;             /* generate frames [context, frames) */
    const int *actions;     /* [frames] */
    uint64_t seed;
    int sample_steps;       /* 0: the checkpoint's sample.steps */
    double guidance;        /* < 0: the checkpoint's (see mv_gen_model_guidance) */
    int use_cache;          /* the context cache when the model was trained with it */
    const mv_schedule *schedule; /* NULL: the model's; else a schedule of the same method (a prefix) */
    mv_gen_frame_fn frame_fn;
    void *frame_user;
    mv_rollout_progress_fn progress_fn; /* may be NULL: rollout steps done of total */
    void *progress_user;
    /* Diagnostics: steps at these levels copy the ground truth (mv_rollout_params.oracle_levels), which
     * context_lat then holds for frames [context_first, known_frames) */
    unsigned oracle_levels;
    int known_frames;
} mv_gen_request;

/* sample_steps 0, guidance -1, use_cache 1, everything else zero. */
void mv_gen_request_init(mv_gen_request *rq);

/* Rolls the model out over rq and decodes every generated frame (see the top of this file). */
mv_status mv_gen_rollout(const mv_gen_model *m, const mv_ae *ae, mv_gen_work *w, const mv_gen_request *rq,
                         mv_rollout_stats *stats);

/* The model behind a public mv_generator (include/millivid.h), for callers inside the library. */
typedef struct mv_generator mv_generator;
const mv_gen_model *mv_generator_model(const mv_generator *g);
#endif
