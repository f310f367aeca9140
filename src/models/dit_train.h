/* Training batches and one training step of the video DiT (OFFICIAL_MODULES.md §3.3, §4.2):
 * universal models (millivid, fullres) draw one schedule step per sample (mv_schedule_sample_step) at a
 * random chunk placement, with ground-truth latents for every cell (teacher forcing); FramePack draws
 * clips of F consecutive level-0 frames. Cosine log-SNR noise on every token, v-prediction, loss on the
 * DENOISED tokens only, 10% conditioning dropout (universal: context at t = 1 and actions zeroed;
 * FramePack: context at t = 1, actions kept).
 * Every random draw of sample i of step k (placement, dropout, t_d, its noise) comes from Philox stream
 * (seed, k, i) alone, so a resumed run repeats an uninterrupted one exactly, and the global batch is the
 * same however data-parallel ranks split it (each holds samples [first, first + B)). Chunk placements are drawn uniformly over all (video, offset) pairs with
 * replacement (the official code walks a shuffled pass over the same pairs). */
#ifndef MV_DIT_TRAIN_H
#define MV_DIT_TRAIN_H
#include "io/tensorfile.h"
#include "models/dit.h"
#include "rollout/schedule.h"

#define MV_GUIDANCE_DROPOUT 0.1

/* A latents file written by `millivid encode`: tensors "level<l>" (N, T, T_l, C), BF16 or F32. */
typedef struct {
    mv_safetensors file;
    const mv_tensor_view *level[MV_MAX_LEVELS]; /* NULL for levels not present */
    int videos, frames, C, levels;              /* levels = number of consecutive level<l> tensors */
    char ae_hash[80];                           /* metadata "ae_hash" ("" if absent) */
} mv_latents;

/* Opens and validates a latents file against cfg (channels, tokens per level, the levels `need`). */
mv_status mv_latents_open(mv_latents *l, const char *path, const mv_config *cfg, int need_levels);
void mv_latents_close(mv_latents *l);
/* Frame f of video v at level l as float32: dst [T_l, C]. */
void mv_latents_read(const mv_latents *l, int level, int video, int frame, float *dst);

typedef struct {
    mv_method method;
    const mv_schedule *sched;
    mv_dit *model;
    const mv_latents *lat;
    const float *actions; /* [videos, frames, 6] (id first) */
    int B, T;             /* samples per batch, tokens per sample */
    int span;             /* frames a sample covers (chunk N, or FramePack F) */
    mv_dit_acts acts;
    mv_cell *cells;       /* [levels * N] */
    /* batch buffers (universal: [B, T, *]; FramePack x/eps [B, F, T0, C], t/action [B, F]) */
    float *x, *eps, *xt, *t, *vt, *vp, *dv;
    int *frame, *level, *row, *col, *action;
    uint8_t *keep, *ctx, *den;
    int first;            /* global index of sample 0 (0 unless the batch is shared among ranks) */
    long loss_count;      /* denoised token-channels the last step's loss averaged over */
} mv_dit_trainer;

/* Checks the data against the model and method and sizes every buffer (prints nothing).
 * actions: the data set's actions.npy data [videos, frames, 6]. */
mv_status mv_dit_trainer_init(mv_dit_trainer *tr, mv_dit *model, const mv_schedule *sched,
                              const mv_latents *lat, const float *actions, int videos, int frames, int B);
void mv_dit_trainer_free(mv_dit_trainer *tr);
size_t mv_dit_trainer_bytes(const mv_dit_trainer *tr);

/* Fills sample b of the batch buffers as mv_dit_train_step does after its random draws: universal
 * models: schedule step k placed at frame `off` of `video` (x, frame/level/row/col/action, den, ctx
 * [T] and t [T] at offset b*T, keep[b]); FramePack (k ignored): frames [off, off + F) of `video` (x
 * [F, T0, C], action [F], t [F] at offset b*F). keep_cond and t_d as drawn by mv_diff_train_draw.
 * mv_dit_train_step hands exactly these buffers to the model. */
void mv_dit_train_fill(mv_dit_trainer *tr, int b, int k, int video, int off, int keep, float td);

/* Draws samples [first, first + B) of batch `step` of run `seed`, runs forward + loss + backward.
 * Gradients ACCUMULATE into model->params.grad (the caller zeroes). *loss receives the mean squared v
 * error over the tr->loss_count DENOISED token-channels. Fails on bad data (unknown action ids). */
mv_status mv_dit_train_step(mv_dit_trainer *tr, uint64_t seed, long step, float *loss);
#endif
