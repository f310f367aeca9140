/* A training campaign read back for the evaluation report: loss and memory probes against training tokens.
 *
 * mv_training_read(t, dir) reads a folder of training runs (tools/campaign.sh writes runs/campaign1):
 *   dir/dit_<name>.log.jsonl   the loss log of run <name> (millivid train): one JSON object per line
 *                              with numbers "step" and "loss"; steps increase. A last line without its
 *                              newline is being written (or was torn by a kill) and is skipped, as the
 *                              trainer itself drops it on --resume.
 *   dir/dit_<name>.safetensors the run's checkpoint: its metadata give the method (variant), the batch
 *                              (config dit.batch) and the tokens of one training sample (the method's
 *                              schedule step, or FramePack's packed layout), so that
 *                              tokens at step s = s x batch x tokens per sample (mini: 32 x 320).
 *   dir/probes/step_<N>.json   optional: `millivid probe` results (eval/probe.h). Every method's
 *                              revisit recall PSNR (mean, 95% interval, points) at its checkpoint's step
 *                              joins the run whose checkpoint it names (dit_<run>.safetensors), else the
 *                              run of the same name; a method of no run here is skipped with a warning.
 *                              The bounds and the probe's settings come from the latest file (largest N).
 * Errors name the file: a missing or unreadable folder, no log in it, a malformed log line (with its
 * line number), a missing or non-DiT checkpoint, a probe file that is not JSON or lacks a key the report
 * needs (with the key's path, e.g. methods[1].recall.psnr.mean). */
#ifndef MV_EVAL_TRAINING_H
#define MV_EVAL_TRAINING_H
#include "millivid.h"

#define MV_TRAINING_SMOOTH 10   /* the report's loss curves and table average this many logged points */
#define MV_TRAINING_MAX_BOUNDS 8

/* One probe of one run: revisit recall PSNR at a checkpoint step. */
typedef struct {
    long step;              /* the probed checkpoint's step */
    double tokens;          /* training tokens at that step */
    double mean, lo, hi;    /* PSNR (dB) and its 95% interval; lo = hi = NAN when the probe gave none */
    int n;                  /* probe points averaged */
} mv_training_recall;

typedef struct {
    char name[64];              /* <name> of dit_<name>.log.jsonl */
    char method[32];            /* the checkpoint's method ("millivid", "framepack", "fullres") */
    int batch, sample_tokens;   /* from the checkpoint */
    long tokens_per_step;       /* batch x sample_tokens */
    int n;                      /* logged points */
    long *step;                 /* [n] increasing */
    double *loss;               /* [n] */
    mv_training_recall *recall; /* [n_recall] by step */
    int n_recall;
} mv_training_run;

typedef struct {
    char name[48];       /* as in the probe file: "hold_last", "autoencoded", "random_video" */
    double mean, lo, hi; /* recall PSNR (dB); lo = hi = NAN when not given */
} mv_training_bound;

typedef struct {
    char dir[1024];
    mv_training_run *runs; /* [n_runs] by name */
    int n_runs;
    int n_probes;          /* probe files read */
    /* the latest probe file (n_probes > 0) */
    char probe_path[2200];
    long probe_step;       /* N of its name */
    char probe_data[256];  /* the validation data set it used ("" when not stated) */
    int probe_videos, probe_points, probe_horizon, probe_sample_steps;
    mv_training_bound bounds[MV_TRAINING_MAX_BOUNDS];
    int n_bounds;
} mv_training;

/* Reads dir into t (zeroed first; free with mv_training_free, also after a failure). */
mv_status mv_training_read(mv_training *t, const char *dir);
void mv_training_free(mv_training *t);

/* Mean of the last k logged losses of run r (all of them when fewer); NAN when it has none. */
double mv_training_loss_tail(const mv_training_run *r, int k);
/* Trailing moving mean: out[i] = mean of loss[max(0, i - k + 1) .. i]; out: [r->n]. */
void mv_training_smooth(double *out, const mv_training_run *r, int k);
#endif
