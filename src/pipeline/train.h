/* The training loop shared by the video DiT and the autoencoder, as a library: options, the config a
 * run trains with, a new run or --resume of a checkpoint, checkpoint saving, and the loop itself (lr
 * warm-up, JSON-lines loss log, periodic checkpoints, a progress callback). The caller supplies the
 * model-specific parts as callbacks (one step's loss and gradients, its log line, its checkpoint).
 *
 * Data parallel (core/dist.h): under `mpirun -np N` every rank runs the same program on its contiguous
 * share of each step's global batch (mv_train_share); the loop averages the ranks' losses and gradients
 * with one all-reduce over the gradient arena, weighted by each rank's loss terms, so every rank applies
 * the same optimizer step a single process would (up to summation order). Rank 0 alone writes the loss
 * log and checkpoints and reports progress; a failure on any rank ends every rank with one message
 * (mv_dist_agree). */
#ifndef MV_PIPELINE_TRAIN_H
#define MV_PIPELINE_TRAIN_H
#include "core/params.h"
#include "io/config.h"
#include "io/dataset.h"
#include "nn/optim.h"

/* What a training run is asked to do. Option names in messages are those of `millivid train`. */
typedef struct {
    const char *out;         /* checkpoint FILE(.safetensors); optimizer state in *.optim.safetensors, loss
                              * log in *.log.jsonl */
    const char *config;      /* preset name or JSON file */
    const char *const *sets; /* [nsets] "key=value" config overrides, applied in order */
    int nsets;
    int steps;               /* total optimizer steps to reach */
    int batch, have_batch;   /* samples per step, used when have_batch (else the config's) */
    double lr;               /* peak learning rate, used when have_lr (else the config's) */
    int have_lr;
    int threads;             /* OpenMP + GEMM threads; 0: all cores (shared among the ranks of a node) */
    int seed, have_seed;     /* run seed of a new run (a resumed run keeps its own; have_seed: warn) */
    int ckpt_every;          /* > 0: save every K steps (else the config's) */
    int log_every;           /* a loss-log line every K steps */
    int resume;              /* continue `out` exactly (weights, optimizer state, position) */
    int force;               /* start a new run even if `out` exists (overwrites it) */
    int bf16;                /* linear layers with bf16 operands */
    const char *optimizer;   /* optimizer name, or NULL: the run's (on resume) or MV_TRAIN_DEFAULT_OPTIMIZER */
} mv_train_opts;

/* The optimizer of a new run when opts.optimizer is NULL. */
#define MV_TRAIN_DEFAULT_OPTIMIZER MV_OPTIM_MUON

/* Defaults: config mini, 20000 steps, a log line every 10 steps, seed 1; everything else zero. */
void mv_train_opts_init(mv_train_opts *o);

/* Applies o->threads (default: this process's cores, shared among the ranks on its node unless mpirun
 * bound each rank to its own cores) and o->bf16, loads o->config, applies every override, then the
 * batch / lr / checkpoint interval of o into *batch, *lr and *ckpt_every (fields of cfg), and validates
 * (a batch smaller than the number of ranks fails). */
mv_status mv_train_config(const mv_train_opts *o, mv_config *cfg, int *batch, double *lr, int *ckpt_every);

/* This rank's share of a global batch of `batch` samples: samples [*first, *first + *count). */
void mv_train_share(int batch, int *first, int *count);

/* Runs setup(user) on rank 0, then, once rank 0 has finished (resuming may complete an interrupted
 * checkpoint save on disk), on the other ranks; returns the agreed outcome (mv_dist_agree). */
mv_status mv_train_setup(mv_status (*setup)(void *user), void *user);

/* Continues h over a data set's identity: its shape, index.json, actions and the first and last frame
 * of every video. */
uint64_t mv_train_data_hash(uint64_t h, const mv_dataset *d);

/* Where a run stands besides its parameters: what a checkpoint's optimizer file records. */
typedef struct {
    long start;              /* first step this invocation runs */
    uint64_t seed;           /* the run's seed */
    mv_optim_kind optimizer;
    long warmup_start;       /* the lr warm-up counts from this step */
} mv_train_position;

/* A new run: refuses an existing o->out unless o->force, creates its parent folders, and sets *pos
 * (start 0, seed from o->seed, optimizer from o->optimizer or the default). */
mv_status mv_train_fresh(const mv_train_opts *o, mv_train_position *pos);

/* Resuming, after the parameters are loaded: the optimizer state of o->out at checkpoint step `step`.
 * Sets *pos from the file (warning if o->seed asked for another seed; an error if o->optimizer names
 * another optimizer than the run's). */
mv_status mv_train_resume(const mv_train_opts *o, mv_params *p, long step, mv_train_position *pos);

/* Writes the checkpoint of step `step` to o->out (with optimizer state). ae_hash may be NULL. */
mv_status mv_train_save(const mv_train_opts *o, const mv_params *p, const char *model, const char *variant,
                        const char *ae_hash, const mv_config *cfg, long step, const mv_train_position *pos);

/* With several ranks (call it on every rank): compares, against rank 0's, a hash of this rank's
 * resolved configuration (cfg, steps, log_every, bf16 and `what`, e.g. the method), of its data
 * (data_hash, mv_fnv1a from MV_FNV_OFFSET) and of its starting weights, optimizer state and position; any
 * difference fails every rank with a message that says which. Does nothing on one rank. */
mv_status mv_train_check_same(const mv_train_opts *o, const mv_config *cfg, const char *what, uint64_t data_hash,
                              const mv_params *p, const mv_train_position *pos);

/* Where the loop stands, handed to the progress callback on rank 0: once before the first step
 * (done == start) and after every step. */
typedef struct {
    long start, done, steps; /* first step of this invocation, steps done so far (of the run), target */
    float loss;              /* this step's loss (mean over the ranks); 0 before the first step */
    double ema;              /* exponential moving average of the loss over this invocation */
    double seconds;          /* since the first step of this invocation began */
} mv_train_progress;

/* One run of the training loop, from step pos.start to opts->steps. */
typedef struct {
    mv_params *params;
    double lr;           /* peak learning rate */
    int warmup, ckpt_every;
    double weight_decay;
    mv_train_position pos;
    void *user;
    /* The loss (and gradients, accumulated into params->grad, zeroed before) of this rank's share of
     * step `step`; *weight: how many terms the loss averages over (ranks are weighted by it). */
    mv_status (*step)(void *user, long step, float *loss, double *weight);
    /* The loss-log JSON object of the step that just finished (done = step + 1). */
    void (*log_line)(void *user, char *buf, size_t cap, long done, float loss, float lr);
    mv_status (*save)(void *user, long done);
    /* Optional (NULL: silent): progress on rank 0. */
    void (*progress)(void *user, const mv_train_progress *p);
    float *stats;        /* nstats (<= MV_TRAIN_MAX_STATS) per-step diagnostics that step() writes, averaged */
    int nstats;          /* over the ranks like the loss; may be NULL / 0 */
} mv_train_loop_def;
#define MV_TRAIN_MAX_STATS 16

mv_status mv_train_loop(const mv_train_opts *o, const mv_train_loop_def *d);
#endif
