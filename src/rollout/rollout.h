/* The rollout driver (OFFICIAL_MODULES.md §3.4, §4.1, §4.5): runs every chunk and step of a schedule
 * over a video with a model. Per step it gathers the CONTEXT + DENOISED cells' tokens from a latent
 * store, runs the sampler (mv_sample) with the model as its denoise callback and writes the DENOISED
 * values back.
 *
 * Streaming: the store keeps only the N frames of the current chunk (every level the method uses);
 * frames before `context` come from a callback (ground-truth latents), later frames start at zero;
 * finished level-0 frames are handed, in order, to a frame callback (decode / write), so memory does
 * not grow with the video length.
 *
 * Noise: ε for the tokens of rollout step k (counted over the whole video) is a fresh N(0, 1) draw from
 * Philox stream (seed, k). FramePack (§3.4): ε of frame f comes from stream (seed, 1<<40 | f), drawn
 * once per frame, and the ε̂ of generated frames is written back with them.
 * Actions: one id per frame for [0, frames); the padding frames past `frames` that the last chunk may
 * need (§4.1) repeat the last action (the official code continues the random-walk policy there). */
#ifndef MV_ROLLOUT_H
#define MV_ROLLOUT_H
#include <stddef.h>
#include <stdint.h>

#include "models/dit.h"
#include "rollout/schedule.h"

/* Ground-truth latents of context frame `frame` (< context) at `level`: dst [T_l, C]. */
typedef mv_status (*mv_rollout_context_fn)(void *user, int frame, int level, float *dst);
/* A finished generated frame (context <= frame < frames), in increasing order: level-0 latents [T0, C]. */
typedef mv_status (*mv_rollout_frame_fn)(void *user, int frame, const float *level0);
/* Progress: `done` of `total` rollout steps. */
typedef void (*mv_rollout_progress_fn)(void *user, long done, long total);
/* What one model evaluation is given. Universal models: tk and x_t [T, C] exactly as passed to the DiT
 * (frames absolute; the model makes them relative). FramePack: one entry per chunk frame (tk->T = F):
 * tk->frame (absolute), tk->t and tk->action of each frame (the model is given them repeated over the
 * frame's level-0 tokens and expands them over its own token layout, mv_dit_fp_layout); level, row,
 * col and context are NULL; x_t [F, T0, C]. */
typedef void (*mv_rollout_call_fn)(void *user, const mv_dit_tokens *tk, const float *x_t);
/* Ground-truth latents of any frame at `level` into dst [T_l, C]: 1 when filled, 0 when not known. */
typedef int (*mv_rollout_oracle_fn)(void *user, int frame, int level, float *dst);

typedef struct {
    int context;        /* first generated frame (frames [0, context) are given) */
    int frames;         /* video length to roll out to */
    int sample_steps;   /* sampler steps per rollout step */
    float guidance;     /* classifier-free guidance scale (1 = off; universal model only) */
    uint64_t seed;
    int use_cache;      /* use the context cache when the model was trained with it (default 1) */
    const int *actions; /* [frames] action ids 0..2 (-1 = none) */
    mv_rollout_context_fn context_fn;
    void *context_user;
    mv_rollout_frame_fn frame_fn;
    void *frame_user;
    mv_rollout_progress_fn progress_fn; /* may be NULL */
    void *progress_user;
    mv_rollout_call_fn call_fn; /* may be NULL: sees every model evaluation (tests, diagnostics) */
    void *call_user;
    /* Diagnostics (universal models): a step whose target level has its bit set in oracle_levels takes
     * the ground truth of its DENOISED cells from oracle_fn instead of sampling them, when oracle_fn has
     * every one of them (else the step is sampled as usual). It separates what a level's own prediction
     * costs from what the coarser levels it is conditioned on cost. */
    unsigned oracle_levels;
    mv_rollout_oracle_fn oracle_fn;
    void *oracle_user;
} mv_rollout_params;

typedef struct {
    long steps;          /* rollout steps run */
    long dit_calls;      /* model evaluations */
    long tokens;         /* tokens processed over all model calls (sequence length x calls) */
    int tokens_per_step; /* max tokens of one rollout step */
    int chunks;
    int limit;           /* frames covered including padding */
    size_t store_bytes;  /* latent store (window) size */
    double seconds;
    size_t dit_bytes;    /* the model's inference workspace, allocated once per rollout */
    long dit_cache_builds; /* context key/value caches computed (dit.context_cache models) */
    long oracle_steps;     /* steps filled from oracle_fn instead of sampled */
} mv_rollout_stats;

void mv_rollout_params_init(mv_rollout_params *p); /* use_cache 1, guidance 1, sample_steps 20 */

/* Runs the whole rollout. Fails with a clear message on a context not shorter than `frames`, a
 * context shorter than the schedule reaches back, unknown action ids, or a model / method mismatch. */
mv_status mv_rollout_run(const mv_dit *model, const mv_schedule *s, const mv_rollout_params *p,
                         mv_rollout_stats *stats);
#endif
