/* What `millivid train` and `millivid train-ae` share on the command line: the options of a training
 * run (mv_train_opts, src/pipeline/train.h) in the option table, every rank's agreement after parsing,
 * and the progress bar. The loop itself is the library's (mv_train_loop). */
#ifndef MV_CLI_TRAIN_COMMON_H
#define MV_CLI_TRAIN_COMMON_H
#include "cli.h"
#include "pipeline/train.h"

/* The --bf16 flag of both trainers (placed by each command where its help lists it). */
#define TRAIN_BF16_OPTION(t)                                                                                 \
    CLI_OPT_FLAG("--bf16", &(t)->bf16, "linear layers with bf16 operands (fp32 weights and sums; faster on CPUs\n" \
                 "with AMX / AVX512-BF16; off by default, the fp32 path is the reference)")

/* The option-table entries of mv_train_opts t (after --out) and its --set list `sets`, for a model whose
 * config keys start with KEY ("dit", "ae"); UNIT is what a batch holds, SEEDED what the seed drives
 * (both for --help). */
#define TRAIN_COMMON_OPTIONS(t, sets, KEY, UNIT, SEEDED)                                                       \
    CLI_OPT_STRING("--config", "NAME|PATH", &(t)->config, "preset (mini, paper) or JSON file [mini]"),         \
    CLI_OPT_LIST("--set", "key=value", sets, "override a config key (repeatable), e.g. --set " KEY ".depth=2"), \
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
 * every rank should run; -1 after --help (the command returns 0 without running); otherwise 2, what
 * the command returns after a usage error (a rank whose own options were fine returns 2 with no
 * message). Quietens the log of ranks > 0
 * to errors. Points t's config overrides at the --set values of `sets`. */
int train_common_parsed(int rc, mv_train_opts *t, const cli_list *sets);

/* The progress bar of a training command (label "train", "train-ae"), drawn from mv_train_loop's
 * progress callback: started before the first step, redrawn after every step with `extra` after it,
 * ended after the last. */
void train_common_progress(mv_progress *bar, const char *label, const mv_train_progress *p, const char *extra);
#endif
