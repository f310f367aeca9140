/* A quick, direct memory probe (`millivid probe`): does a video model recall a place it saw when the
 * camera returns to it? Cheap enough to run every few thousand training steps on a validation split.
 *
 * Probe points. On each video, frame p is a probe point when
 *   - R + 1 <= p and p + K <= frames (R = the MilliVid reach, the sum of millivid.windows: 85 for mini;
 *     K = the horizon), so p's whole history fits in every method's context;
 *   - it revisits a place: some frame s with p - R <= s <= p - min_gap (32) is within radius (2 blocks,
 *     x/z) and yaw (30 degrees) of p, the revisit definition of the evaluation (eval/protocol.h), so the
 *     remembered frame is inside what MilliVid's coarse plan and FramePack's context see;
 *   - the view changes: the last generated frame e = p + K - 1 is not within radius and yaw of any of
 *     frames p - hold .. p - 1 (hold = 4), so repeating the last frames cannot score well;
 *   - and e revisits a place too (some frame in [p - R, p - min_gap] is within radius and yaw of e), so
 *     the generated window starts and ends at places seen in the remembered part of the history.
 *   Why the view test looks at e and not at p: in Loopcraft consecutive frames are always at the same
 *   place by the revisit definition (a step moves 0.2 blocks, a turn 10 degrees), so "none of p - 4 ..
 *   p - 1 is at p's place" never holds; on Loopcraft points therefore need K >= 4 (a 30-degree turn).
 * Up to P points per video are drawn from the qualifying frames (Philox, seed and video index), at
 * least `spacing` (= K) frames apart so that their generated windows do not overlap.
 *
 * Per point and method: the ground-truth history [0, p) is encoded by the autoencoder and given as
 * context, the rollout generates frames [p, p + K) with the ground-truth actions, level 0 is decoded and
 * compared with the ground truth (PSNR, SSIM per frame). Bounds at the same points: hold-last (frame
 * p - 1 repeated), autoencoded ground truth (level 0), random video (the same frames of another video,
 * mv_random_partners). Teacher-forced next frame: frame p of the same rollout (generated from the
 * ground-truth history alone), and one-frame rollouts at P random non-revisit frames per video.
 *
 * Speed: a MilliVid chunk runs 85 steps, but frames [p, p + K) are final after a prefix of its
 * depth-first schedule (12 steps for K = 8, 4 for one frame); mv_probe_schedule_prefix cuts the schedule
 * there, which gives the same frames as the full rollout (same steps, same noise streams). */
#ifndef MV_PROBE_H
#define MV_PROBE_H
#include <stdint.h>
#include <stdio.h>

#include "eval/protocol.h"
#include "millivid.h"
#include "rollout/schedule.h"

#define MV_PROBE_MAX_METHODS 16
#define MV_PROBE_PSNR_CAP 100.0 /* identical frames (PSNR +inf) count as 100 dB, as in the evaluation */

/* ---------------------------------------------------------------- choosing probe frames (no model) */

typedef struct {
    int reach;       /* R: the remembered frame lies at most R frames back, and p >= R + 1 */
    int horizon;     /* K: p + K <= frames */
    int min_gap;     /* the remembered frame lies at least this many frames back (32) */
    int hold_frames; /* none of the last hold_frames frames before p may be at p's place (4) */
    int spacing;     /* chosen points lie at least this many frames apart (K) */
    mv_revisit_params revisit; /* radius 2 blocks, yaw 30 degrees, wrap from the data */
} mv_probe_rule;

/* reach 85, horizon 8, min_gap 32, hold_frames 4, spacing 8, mv_revisit_params_init. */
void mv_probe_rule_init(mv_probe_rule *r);

typedef enum {
    MV_PROBE_POINT = 0,        /* qualifies */
    MV_PROBE_OUT_OF_RANGE = 1, /* p < R + 1 or p + K > frames */
    MV_PROBE_NO_REVISIT = 2,   /* no frame in [p - R, p - min_gap] at p's place */
    MV_PROBE_HELD = 3,         /* a revisit, but the last generated frame p + K - 1 is at the place of one
                                * of the last hold_frames frames before p (hold-last would score well) */
    MV_PROBE_END_UNSEEN = 4,   /* a revisit whose view changes, but p + K - 1 is at no remembered place */
} mv_probe_verdict;

/* Whether frame p of one video is a probe point. poses: [frames, 6] rows [id, x, y, z, yaw, pitch].
 * remembered (may be NULL) gets the matching frame s nearest to p in x/z (earliest on ties) when p is a
 * revisit (verdicts POINT, HELD, END_UNSEEN), else -1. */
mv_probe_verdict mv_probe_classify(const float *poses, int frames, int p, const mv_probe_rule *r, int *remembered);

/* Up to max_points probe frames of one video, drawn at random (Philox stream (seed, stream)) among the
 * qualifying frames, at least r->spacing apart; written to frames[] (and their remembered frames to
 * remembered[], may be NULL) in increasing order. Returns the number chosen; *candidates (may be NULL)
 * gets the number of qualifying frames. frames, remembered: [max_points]. */
int mv_probe_select(int *frames, int *remembered, int *candidates, const float *poses, int n_frames,
                    const mv_probe_rule *r, int max_points, uint64_t seed, uint64_t stream);

/* Up to n random frames q with R + 1 <= q < n_frames that revisit nothing (no frame s <= q - min_gap is
 * within radius and yaw of q), at least r->spacing apart, drawn with Philox stream (seed, stream). In
 * increasing order; returns the number chosen. frames: [n]. */
int mv_probe_select_plain(int *frames, const float *poses, int n_frames, const mv_probe_rule *r, int n,
                          uint64_t seed, uint64_t stream);

/* ---------------------------------------------------------------- small helpers (tested alone) */

/* Hold-last at point p: psnr[k], ssim[k] (either may be NULL) of frame p - 1 against frame p + k,
 * k < K; PSNR capped at MV_PROBE_PSNR_CAP. video: [>= p + K, h, w, 3]. Needs p >= 1. */
void mv_probe_hold_last(double *psnr, double *ssim, const uint8_t *video, int p, int K, int h, int w);

/* The two-sided 95% quantile of Student's t with df degrees of freedom (12.706 for 1, 1.96 as df grows). */
double mv_probe_t975(int df);

typedef struct {
    double mean, lo, hi; /* lo, hi: 95% Student-t interval of the mean (NAN when n < 2) */
    int n;
} mv_probe_stat;
/* Mean and 95% t-interval of x[n] (mean NAN when n == 0). */
mv_probe_stat mv_probe_stat_of(const double *x, int n);

/* The steps of `full` that make chunk frames [S, S + horizon) final: when they all lie in the first
 * chunk (horizon <= A), the prefix of steps up to the last one that denoises level 0 of one of them;
 * otherwise every step. *out is a shallow copy of full (shares its steps; never free it). */
mv_status mv_probe_schedule_prefix(mv_schedule *out, const mv_schedule *full, int horizon);

/* ---------------------------------------------------------------- the whole probe */

typedef struct {
    const char *ae_path, *data_dir, *out_path; /* out_path: the JSON file (written atomically) */
    const char *dit_paths[MV_PROBE_MAX_METHODS];
    int n_dits;
    int videos;       /* the first N videos; 0 = all */
    int points;       /* P probe points per video (4); also the random frames per video */
    int horizon;      /* K generated frames per point (8) */
    int sample_steps; /* sampler steps (10; the checkpoints' own default is 20) */
    int min_points;   /* fail when fewer probe points are found in all (8) */
    uint64_t seed;    /* point choice, rollout noise, random-video pairing (0) */
    mv_revisit_params revisit; /* wrap_blocks < 0: "world_width" from the data set's index.json */
    int min_gap, hold_frames;  /* 32, 4 (see mv_probe_rule) */
    int quiet;        /* no progress bar */
    unsigned oracle_levels; /* diagnostic: bit l set = level-l steps copy the ground truth (mv_rollout_params) */
} mv_probe_params;

void mv_probe_params_init(mv_probe_params *p);

typedef struct {
    char name[64];          /* method: the checkpoint's variant ("millivid"; "millivid_2" when repeated);
                             * bounds: "hold_last", "autoencoded", "random_video" */
    int is_bound;
    long step;              /* checkpoint step (-1 for bounds) */
    mv_probe_stat recall;         /* PSNR over the K frames, per point */
    mv_probe_stat recall_ssim;    /* SSIM likewise */
    mv_probe_stat vs_hold_last;   /* recall PSNR minus hold-last's, paired per point */
    mv_probe_stat next_revisit;   /* teacher-forced next frame PSNR at the probe points */
    mv_probe_stat next_plain;     /* the same at the random non-revisit frames (NAN n 0 for random_video) */
    double seconds;               /* wall time of this method's rollouts and decoding */
    long dit_calls;
} mv_probe_row;

typedef struct {
    mv_probe_row rows[MV_PROBE_MAX_METHODS + 3]; /* the methods, then hold_last, autoencoded, random_video */
    int n_methods, n_rows;
    int videos, frames_per_video, reach, horizon, sample_steps;
    int candidates;   /* qualifying frames over all videos */
    int points;       /* probe points used */
    int plain_frames; /* random non-revisit frames used */
    double seconds;   /* the whole probe */
} mv_probe_result;

/* Runs the probe and writes p->out_path (nothing is written on any error). Clear errors on missing or
 * wrong files, data without poses, a DiT built on another autoencoder, settings out of range, and
 * fewer than min_points probe points ("validation split has too few revisits: found N, need >= M"). */
mv_status mv_probe_run(const mv_probe_params *p, mv_probe_result *res);

/* The short summary table of a result. */
void mv_probe_print(FILE *f, const mv_probe_result *res);
#endif
