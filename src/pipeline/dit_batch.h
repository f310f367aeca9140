/* Training batches and one training step of the video DiT (OFFICIAL_MODULES.md §3.3, §4.2):
 * universal models (millivid, fullres) draw one schedule step per sample (mv_schedule_sample_step) at a
 * random chunk placement, with ground-truth latents for every cell (teacher forcing); FramePack draws
 * clips of F consecutive level-0 frames. Cosine log-SNR noise on every token, v-prediction, loss on the
 * DENOISED tokens only, 10% conditioning dropout (universal: context at t = 1 and actions zeroed;
 * FramePack: context at t = 1, actions kept).
 * Every random draw of sample i of step k (placement, dropout, t_d, its noise) comes from Philox stream
 * (seed, k, i) alone, so a resumed run repeats an uninterrupted one exactly, and the global batch is the
 * same however data-parallel ranks split it (each holds samples [first, first + B)). Chunk placements
 * are drawn uniformly over all (video, offset) pairs with replacement (the official code walks a shuffled
 * pass over the same pairs). */
#ifndef MV_PIPELINE_DIT_BATCH_H
#define MV_PIPELINE_DIT_BATCH_H
#include "models/dit.h"
#include "pipeline/latents.h"
#include "rollout/schedule.h"

#define MV_GUIDANCE_DROPOUT 0.1

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
