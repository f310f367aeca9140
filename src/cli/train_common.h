/* What `millivid train` and `millivid train-ae` share: the common options, the config they build,
 * restoring the optimizer state on --resume, saving a checkpoint, and the AdamW training loop
 * (lr warm-up, JSON-lines loss log, periodic checkpoints, progress line). */
#ifndef MV_CLI_TRAIN_COMMON_H
#define MV_CLI_TRAIN_COMMON_H
#include "cli.h"
#include "core/config.h"
#include "core/params.h"
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

/* Applies --threads and --bf16, loads t->config, applies every --set, then --batch / --lr /
 * --checkpoint-every into *batch, *lr and *ckpt_every (fields of cfg), and validates. */
mv_status train_common_config(const train_common_opts *t, mv_config *cfg, int *batch, double *lr, int *ckpt_every);

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

/* One run of the training loop, from step `start` to t->steps. */
typedef struct {
    const char *label;   /* progress label */
    mv_params *params;
    double lr;           /* peak learning rate */
    int warmup, ckpt_every;
    double weight_decay;
    train_position pos;
    void *user;
    /* The loss (and gradients, accumulated into params->grad, zeroed before) of step `step`. */
    mv_status (*step)(void *user, long step, float *loss);
    /* The loss-log JSON object of the step that just finished (done = step + 1). */
    void (*log_line)(void *user, char *buf, size_t cap, long done, float loss, float lr);
    mv_status (*save)(void *user, long done);
    /* The text after the progress bar: ema of the loss, steps done in this run, seconds so far. */
    void (*status)(void *user, char *buf, size_t cap, double ema, long run_steps, double seconds);
} train_loop_def;

mv_status train_common_loop(const train_common_opts *t, const train_loop_def *d);
#endif
