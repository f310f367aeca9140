/* What `millivid train` and `millivid train-ae` share: the common options, the config they build,
 * restoring the optimizer state on --resume, saving a checkpoint, and the training loop (lr warm-up,
 * JSON-lines loss log, periodic checkpoints, progress line).
 *
 * Data parallel (core/dist.h): under `mpirun -np N` every rank runs the same command on its contiguous
 * share of each step's global batch (train_common_share); the loop averages the ranks' losses and
 * gradients with one all-reduce over the gradient arena, weighted by each rank's loss terms, so every
 * rank applies the same optimizer step a single process would (up to summation order). Rank 0 alone
 * writes the loss log and checkpoints and prints; a failure on any rank ends every rank with one
 * message (mv_dist_agree). */
#ifndef MV_CLI_TRAIN_COMMON_H
#define MV_CLI_TRAIN_COMMON_H
#include "cli.h"
#include "io/config.h"
#include "core/params.h"
#include "io/dataset.h"
#include "nn/optim.h"

typedef struct {
    const char *out, *config;
    cli_list sets;
    int steps, batch, threads, ckpt_every, log_every, resume, seed, have_batch, have_lr, have_seed;
    double lr;
    int bf16; /* --bf16: linear layers with bf16 operands */
    int force; /* --force: start over even if --out exists */
    const char *optimizer; /* --optimizer name, or NULL: the run's (on --resume) or the default */
} train_common_opts;

/* The optimizer of a new run when --optimizer is not given. */
#define TRAIN_DEFAULT_OPTIMIZER MV_OPTIM_MUON

/* Defaults: config mini, 20000 steps, a log line every 10 steps, seed 1; everything else zero. */
void train_common_defaults(train_common_opts *t);

/* The option-table entries of train_common_opts t (after --out), for a model whose config keys start
 * with KEY ("dit", "ae"); UNIT is what a batch holds, SEEDED what the seed drives (both for --help). */
/* The --bf16 flag of both trainers (placed by each command where its help lists it). */
#define TRAIN_BF16_OPTION(t)                                                                                 \
    CLI_OPT_FLAG("--bf16", &(t)->bf16, "linear layers with bf16 operands (fp32 weights and sums; faster on CPUs\n" \
                 "with AMX / AVX512-BF16; off by default, the fp32 path is the reference)")

#define TRAIN_COMMON_OPTIONS(t, KEY, UNIT, SEEDED)                                                             \
    CLI_OPT_STRING("--config", "NAME|PATH", &(t)->config, "preset (mini, paper) or JSON file [mini]"),         \
    CLI_OPT_LIST("--set", "key=value", &(t)->sets, "override a config key (repeatable), e.g. --set " KEY ".depth=2"), \
    CLI_OPT_INT("--steps", "N", &(t)->steps, 1, 1L << 30, "total optimizer steps to reach [20000]"),           \
    CLI_OPT_INT("--batch", "B", &(t)->batch, 1, 4096, UNIT " per step [config " KEY ".batch]",                 \
                .given = &(t)->have_batch),                                                                    \
    CLI_OPT_DOUBLE("--lr", "X", &(t)->lr, 0, 10, "peak learning rate [config " KEY ".lr]", .given = &(t)->have_lr), \
    CLI_OPT_INT("--threads", "T", &(t)->threads, 0, 1024, "OpenMP + GEMM threads [all cores]"),                \
    CLI_OPT_INT("--seed", "K", &(t)->seed, 0, 2147483647, "run seed (" SEEDED ", init) [1]",                   \
                .given = &(t)->have_seed),                                                                     \
    CLI_OPT_INT("--checkpoint-every", "K", &(t)->ckpt_every, 1, 1L << 30,                                      \
                "save every K steps [config " KEY ".checkpoint_every]"),                                        \
    CLI_OPT_INT("--log-every", "K", &(t)->log_every, 1, 1L << 30, "loss log line every K steps [10]"),         \
    CLI_OPT_STRING("--optimizer", "NAME", &(t)->optimizer,                                                    \
                   "muon (Muon on 2-D weights + AdamW on the rest, as the paper) | adamw\n"                    \
                   "[muon; on --resume: the run's]"),                                                         \
    CLI_OPT_FLAG("--force", &(t)->force, "start a new run even if FILE exists (overwrites it)")

/* After cli_parse (its rc) on every rank of a training command, which has called mv_dist_init: 0 when
 * every rank should run; otherwise what this rank's command returns (0 after --help, 2 after a usage
 * error; a rank whose own options were fine returns 2 with no message). Quietens the log of ranks > 0
 * to errors. */
int train_common_parsed(int rc);

/* Applies --threads (default: this process's cores, shared among the ranks on its node unless mpirun
 * bound each rank to its own cores) and --bf16, loads t->config, applies every --set, then --batch /
 * --lr / --checkpoint-every into *batch, *lr and *ckpt_every (fields of cfg), and validates (a batch
 * smaller than the number of ranks fails). */
mv_status train_common_config(const train_common_opts *t, mv_config *cfg, int *batch, double *lr, int *ckpt_every);

/* This rank's share of a global batch of `batch` samples: samples [*first, *first + *count). */
void train_common_share(int batch, int *first, int *count);

/* Runs setup(user) on rank 0, then, once rank 0 has finished (resuming may complete an interrupted
 * checkpoint save on disk), on the other ranks; returns the agreed outcome (mv_dist_agree). */
mv_status train_common_setup(mv_status (*setup)(void *user), void *user);

/* FNV-1a 64 of n bytes, continuing from h (start from TRAIN_HASH_INIT). */
#define TRAIN_HASH_INIT 0xcbf29ce484222325ull
uint64_t train_common_hash(uint64_t h, const void *data, size_t n);
/* Continues h over a data set's identity: its shape, index.json, actions and the first and last frame
 * of every video. */
uint64_t train_common_data_hash(uint64_t h, const mv_dataset *d);

/* Where a run stands besides its parameters: what a checkpoint's optimizer file records. */
typedef struct {
    long start;              /* first step this invocation runs */
    uint64_t seed;           /* the run's seed */
    mv_optim_kind optimizer;
    long warmup_start;       /* the lr warm-up counts from this step */
} train_position;

/* A new run: refuses an existing t->out unless --force, creates its parent folders, and sets *pos
 * (start 0, seed from --seed, optimizer from --optimizer or the default). */
mv_status train_common_fresh(const train_common_opts *t, train_position *pos);

/* --resume, after the parameters are loaded: the optimizer state of t->out at checkpoint step `step`.
 * Sets *pos from the file (warning if --seed asked for another seed; an error if --optimizer names
 * another optimizer than the run's). */
mv_status train_common_resume(const train_common_opts *t, mv_params *p, long step, train_position *pos);

/* Writes the checkpoint of step `step` to t->out (with optimizer state). ae_hash may be NULL. */
mv_status train_common_save(const train_common_opts *t, const mv_params *p, const char *model, const char *variant,
                            const char *ae_hash, const mv_config *cfg, long step, const train_position *pos);

/* With several ranks (call it on every rank): compares, against rank 0's, a hash of this rank's resolved configuration (cfg,
 * --steps, --log-every, --bf16 and `what`, e.g. the method), of its data (data_hash, from
 * train_common_hash) and of its starting weights, optimizer state and position; any difference fails
 * every rank with a message that says which. Does nothing on one rank. */
mv_status train_common_check_same(const train_common_opts *t, const mv_config *cfg, const char *what,
                                  uint64_t data_hash, const mv_params *p, const train_position *pos);

/* One run of the training loop, from step `start` to t->steps. */
typedef struct {
    const char *label;   /* progress label */
    mv_params *params;
    double lr;           /* peak learning rate */
    int warmup, ckpt_every;
    double weight_decay;
    train_position pos;
    void *user;
    /* The loss (and gradients, accumulated into params->grad, zeroed before) of this rank's share of
     * step `step`; *weight: how many terms the loss averages over (ranks are weighted by it). */
    mv_status (*step)(void *user, long step, float *loss, double *weight);
    /* The loss-log JSON object of the step that just finished (done = step + 1). */
    void (*log_line)(void *user, char *buf, size_t cap, long done, float loss, float lr);
    mv_status (*save)(void *user, long done);
    /* The text after the progress bar: ema of the loss, steps done in this run, seconds so far. */
    void (*status)(void *user, char *buf, size_t cap, double ema, long run_steps, double seconds);
    float *stats;        /* nstats (<= TRAIN_MAX_STATS) per-step diagnostics that step() writes, averaged */
    int nstats;          /* over the ranks like the loss; may be NULL / 0 */
} train_loop_def;
#define TRAIN_MAX_STATS 16

mv_status train_common_loop(const train_common_opts *t, const train_loop_def *d);
#endif
