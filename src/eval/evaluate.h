/* The evaluation protocol (DESIGN.md §6, OFFICIAL_MODULES.md §6) behind `millivid eval`.
 *
 * For every test video and method: the same ground-truth context (frames [0, context) encoded by the
 * autoencoder), a rollout with the ground-truth actions to the end of the video (or `frames`), level-0
 * decoding and per-frame PSNR / SSIM against the ground truth. Three bounds: "autoencoded" (every frame
 * encoded and decoded at level 0), "random" (the same frame index of another test video,
 * mv_random_partners) and "hold_last" (the last ground-truth context frame, held). Summaries per method:
 * mean over the generated frames, long-horizon mean (last `long_fraction` of the rollout), revisit mean
 * (mv_revisit_mask_gap) and the mean over the revisits within reach (mv_revisit_mask_reach with every
 * method's schedule S and A), each with a bootstrap 95% interval over videos; DiT calls, tokens per step
 * and wall time. The context defaults to the largest MilliVid reach + 1 of the checkpoints' configurations
 * (mini 86, paper 256); a test split whose loops were chosen for another context is warned about.
 *
 * Output directory:
 *   config.json                    the configuration (+ checkpoint file hashes); a rerun with another
 *                                  configuration is refused unless force
 *   cache/<method>/video_<i>.json  per (video, method): per-frame psnr/ssim, stats, the entry's key
 *   cache/<method>/video_<i>.npy   the generated level-0 frames [frames - context, H, W, 3] uint8
 *   metrics.json, summary.md, plot_psnr.svg, plot_ssim.svg, report.html, videos/video_<i>.mp4
 * A cache entry is reused only when its key matches (a hash of the autoencoder and method files, the
 * video's frames and actions, context, frames, seed and sampler steps), so a killed evaluation resumes
 * and --force with other summary options (revisit, long horizon) recomputes nothing.
 * Generation goes through the pipeline (src/pipeline/generator.h), as in `millivid generate`. Every entry
 * is computed with one thread per model call and the threads (mv_set_threads) compute entries side by
 * side, so the results do not depend on the thread count or on what the cache held; they equal
 * `millivid generate --threads 1` on the same video, seed (seed + video * 0x9E3779B97F4A7C15) and steps. */
#ifndef MV_EVALUATE_H
#define MV_EVALUATE_H
#include <stdint.h>

#include "eval/protocol.h"
#include "millivid.h"

#define MV_EVAL_MAX_METHODS 16

typedef struct {
    const char *name; /* label: letters, digits, '_', '-', '.'; not "autoencoded" / "random" / "hold_last" */
    const char *path; /* DiT checkpoint (video_universal or video_framepack) */
} mv_eval_method;

typedef struct {
    const char *ae_path, *data_dir, *out_dir;
    mv_eval_method methods[MV_EVAL_MAX_METHODS];
    int n_methods;
    int context;          /* context frames; 0 = the largest mv_config_reach + 1 of the checkpoints */
    int videos;           /* first N test videos; 0 = all */
    int frames;           /* roll out to this frame; 0 = the video length */
    int steps;            /* sampler steps; 0 = each checkpoint's sample.steps */
    uint64_t seed;        /* rollout noise and random partners */
    mv_revisit_params revisit; /* wrap_blocks < 0: take "world_width" from the data set's index.json */
    int no_revisit;       /* 1: skip the revisit summary (needed for data without poses) */
    int revisit_min_gap;  /* a revisit must match a context frame at least this many frames earlier (32) */
    double long_fraction; /* long-horizon part of the rollout (0.5 = last half) */
    int force;            /* 1: accept an output folder of another configuration (non-matching cache
                           * entries are recomputed, the summaries rewritten) */
    int side_by_side;     /* side-by-side mp4s for the first N videos (default 4; 0 = none) */
    int quiet;            /* no progress bar */
    const char *training_dir; /* a training campaign folder (eval/training.h) for the report's "Training"
                               * section, read before anything is written; NULL: none */
} mv_eval_params;

/* Defaults: seed 0, revisit 2 blocks / 30 degrees (wrap from the data), long_fraction 0.5,
 * side_by_side 4; everything else zero / NULL. */
void mv_eval_params_init(mv_eval_params *p);

typedef struct {
    int entries_total;    /* (video, method) entries incl. the autoencoded bound */
    int entries_computed; /* of which computed in this run */
    int entries_cached;   /* of which reused from the cache */
    char summary_path[1024];
} mv_eval_result;

/* Runs the whole protocol and writes every output file. Clear errors (naming the file) on missing
 * files, data without poses (unless no_revisit), a context not shorter than the video or shorter than a
 * schedule needs, checkpoints of an unknown kind or built on another autoencoder, or an output folder of
 * another configuration; every one of them before anything is written. */
mv_status mv_eval_run(const mv_eval_params *p, mv_eval_result *res);
#endif
