/* Rollout schedules: a method (MilliVid, FramePack, full-resolution rollout) as plain data — a list of
 * steps, each a role[level][frame] matrix over a chunk of N frames (OFFICIAL_MODULES.md §4). No model
 * here (beyond which kind of DiT a method uses): schedules can be printed and unit-tested alone. The rollout driver (§4.1, §4.5) maps chunk
 * frame f of chunk k to the absolute frame chunk_start0 + k*A + f.
 *
 * Row meaning of role: MilliVid and full-res: the hierarchical latent level of the cell (full-res has
 * one row, level 0). FramePack (video_framepack model, §2.3): the compression (patchify kernel) level
 * of a context frame of the level-0 latents (oldest frames coarsest); denoised frames are at row 0.
 * In every method a cell at row l holds tokens[l] tokens. */
#ifndef MV_SCHEDULE_H
#define MV_SCHEDULE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/config.h"
#include "millivid.h"
#include "models/dit.h"

typedef enum { MV_METHOD_MILLIVID = 0, MV_METHOD_FRAMEPACK, MV_METHOD_FULLRES } mv_method;
/* "millivid", "framepack", "fullres" (also accepted: "full-res", "full_resolution"). */
mv_status mv_method_from_string(const char *name, mv_method *out);
const char *mv_method_name(mv_method m);
/* The DiT a method trains and rolls out: FramePack its own model, MilliVid and full-res the universal one. */
mv_dit_kind mv_method_dit_kind(mv_method m);

enum { MV_ROLE_UNSEEN = 0, MV_ROLE_CONTEXT = 1, MV_ROLE_DENOISED = 2 };

typedef struct {
    int target_level;    /* sampling group (level denoised); 0 for framepack / fullres */
    int tokens;          /* tokens of the step: sum over non-UNSEEN cells of tokens[row] */
    int denoised_tokens; /* of which DENOISED */
    double prob;         /* training probability of this step (§4.2): 1/(G * steps in its group) */
    uint8_t *role;       /* [levels, N] MV_ROLE_* of (row, chunk frame); view into the schedule */
} mv_step;

typedef struct {
    mv_method method;
    int levels;              /* rows of role (L; 1 for fullres) */
    int N;                   /* frames per chunk */
    int S;                   /* first chunk frame DENOISED in any step (context reaches S back) */
    int A;                   /* frames advanced per chunk = N - S */
    int nsteps;              /* steps per chunk */
    int ngroups;             /* sampling groups G (L for millivid, 1 otherwise) */
    int tokens_per_step_max; /* max over steps of mv_step.tokens (size buffers with it) */
    int tokens[MV_MAX_LEVELS]; /* tokens per frame of a cell at row l */
    int windows[MV_MAX_LEVELS]; /* millivid: w[l]; framepack: context frames per kernel level */
    int extra[MV_MAX_LEVELS];   /* millivid: e[l] = B / tokens[l]; framepack: n_d in extra[0] */
    mv_step *steps;          /* [nsteps] */
    uint8_t *roles;          /* [nsteps, levels, N] storage behind steps[].role */
    double *cdf;             /* [nsteps] cumulative training probabilities */
} mv_schedule;

/* Builds the schedule of method m from c (millivid.windows / budget, framepack.context / denoise,
 * fullres.frames, levels, image_size, patch). On error *s is left empty (safe to free). */
mv_status mv_schedule_build(mv_schedule *s, mv_method m, const mv_config *c);
void mv_schedule_free(mv_schedule *s);

static inline int mv_step_role(const mv_schedule *s, int step, int level, int frame) {
    return s->steps[step].role[(size_t)level * s->N + frame];
}

/* Training (§4.2): the step drawn for u ~ U[0,1): first index with cdf >= u, clamped to nsteps-1. */
int mv_schedule_sample_step(const mv_schedule *s, double u);

/* Training chunk placements (§4.2): offsets 0 .. video_frames - N (a chunk must fit in the video);
 * returns their number, 0 for videos shorter than N (skipped). */
static inline int mv_schedule_offsets(const mv_schedule *s, int video_frames) {
    return video_frames >= s->N ? video_frames - s->N + 1 : 0;
}

/* Rollout driver. context = first generated frame ("start"), frames = end of the video ("end").
 * Every method (§4.1): nchunks = ceil((end-start)/A), chunk_start0 = start - S (FramePack: S = sum(ctx),
 * A = n_d, §4.5 — whose official floor() agrees with ceil in every official config),
 * limit = start + nchunks*A (frames the latent store must hold; > frames means zero-padded
 * latents / extended actions past the end). Chunk k covers absolute frames [chunk_start0 + k*A, +N).
 * Fails (MV_ERR_ARG) when context >= frames or when context < S. */
mv_status mv_rollout_chunks(const mv_schedule *s, int context, int frames, int *chunk_start0,
                            int *nchunks, int *limit);

/* One (row, frame) cell of a step, frame absolute (chunk_start + chunk frame). */
typedef struct {
    int level; /* row of role (level, or FramePack kernel level) */
    int frame; /* absolute frame */
    int role;  /* MV_ROLE_CONTEXT or MV_ROLE_DENOISED */
} mv_cell;

/* Lists the non-UNSEEN cells of `step` placed at chunk_start, level-major then frame order (the
 * official sequence order, §2.2). cells: [levels * N] capacity. Returns the number of cells; the
 * optional outputs get the step's token count and its smallest frame (f0 for relative positions). */
int mv_step_cells(const mv_schedule *s, int step, int chunk_start, mv_cell *cells, int *ntokens,
                  int *first_frame);

/* Describes row `level` of a step at chunk_start, e.g. "C 107-122, 144-191; D 128-191" ("-" when the
 * row is empty). Writes at most size bytes (always terminated); returns buf. */
char *mv_step_describe(const mv_schedule *s, int step, int level, int chunk_start, char *buf,
                       size_t size);

/* `millivid schedule` output for a rollout from `context` to `frames`: a readable summary and the
 * step list (sample_steps sampler steps, guidance != 1 doubles the DiT calls), or JSON with absolute
 * frames for every step of every chunk. Fails like mv_rollout_chunks. */
mv_status mv_schedule_print(FILE *f, const mv_schedule *s, int context, int frames, int sample_steps,
                            double guidance);
mv_status mv_schedule_write_json(FILE *f, const mv_schedule *s, int context, int frames);
#endif
