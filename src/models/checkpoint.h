/* Training-state files shared by every trainer (train-ae, train).
 *   <base>.safetensors        the model: every mv_params tensor in F32 (or BF16 / F16 after millivid
 *                             convert; loading converts to F32) under its official state-dict
 *                             name; metadata millivid_model, variant, config (mv_config_to_json),
 *                             step, format_version, ae_hash (video models: the AE they were built on).
 *   <base>.optim.safetensors  optimizer state: "exp_avg.<name>", "exp_avg_sq.<name>" (F32; for a
 *                             Muon tensor exp_avg is its momentum buffer and exp_avg_sq is zero), an
 *                             optional I64 tensor "data_state" (a trainer's data-order state), and
 *                             metadata step, seed, rng_counter, optimizer ("adamw" when absent),
 *                             warmup_start (0 when absent), millivid_model, format_version.
 *   <base>.log.jsonl          one JSON object per logged step, each with a "step" key.
 * <base> is the --out path without its ".safetensors" suffix.
 * A checkpoint is one unit under any kill: the optimizer state is written (temporary file, rename) to
 * <base>.optim.next.safetensors, then the model file (temporary file, rename), then the .next file is
 * renamed over <base>.optim.safetensors. mv_ckpt_load_optim finishes an interrupted save: a .next file
 * of the model file's step is renamed into place (the kill came after the model was written), any
 * other .next file is removed (the kill came before), so the pair on disk always resumes. */
#ifndef MV_CHECKPOINT_H
#define MV_CHECKPOINT_H
#include <stdint.h>
#include <stdio.h>

#include "io/config.h"
#include "core/params.h"
#include "io/tensorfile.h"

#define MV_CKPT_FORMAT_VERSION 1

/* What a model file says about itself. Strings are NUL-terminated copies. */
typedef struct {
    char model[32];   /* "autoencoder", "video_universal", "video_framepack" */
    char variant[32]; /* AE: "adaptive"/"cascaded"; video: the method ("millivid", "fullres", ...) */
    mv_config config;
    long step;
    char ae_hash[80]; /* "" when not relevant */
} mv_ckpt_meta;

/* Optimizer-side training state (p->m, p->v live in the arena). */
typedef struct {
    long step;                /* optimizer steps completed */
    uint64_t seed;            /* the run's --seed */
    uint64_t rng_counter;     /* position of a running RNG stream, if the trainer keeps one (else 0) */
    int64_t *data_state;      /* trainer-defined data-order state, or NULL (owned by the caller; on
                               * load it is malloc'ed and the caller frees it) */
    int64_t data_state_len;
    char optimizer[16];       /* "adamw" or "muon" */
    long warmup_start;        /* the lr warm-up counts from this step (a run started from weights) */
} mv_train_state;

/* "<base><suffix>" from an --out path: strips a trailing ".safetensors" from out first.
 * suffix e.g. ".safetensors", ".optim.safetensors", ".log.jsonl". Fails if dst is too small. */
mv_status mv_ckpt_path(char *dst, size_t n, const char *out, const char *suffix);

/* Writes the model file (always) and, when ts is non-NULL, the optimizer file (p->m, p->v). */
mv_status mv_ckpt_save(const char *out, const mv_params *p, const mv_ckpt_meta *meta,
                       const mv_train_state *ts);

/* Opens a model file and reads its metadata. expect_model (NULL = any) must equal millivid_model,
 * else MV_ERR_FORMAT: "ae.safetensors: expected an autoencoder checkpoint, found video_universal".
 * The caller closes f with mv_st_close. */
mv_status mv_ckpt_open(mv_safetensors *f, mv_ckpt_meta *meta, const char *path,
                       const char *expect_model);
/* Loads p->data from an opened model file (every tensor present with the right shape, nothing extra;
 * prefix "" for a whole model, e.g. "decoder." to take only one part -> extra tensors allowed). */
mv_status mv_ckpt_load_params(const mv_safetensors *f, mv_params *p, const char *prefix);

/* Loads <base>.optim.safetensors into p->m, p->v and *ts, after completing or discarding an
 * interrupted save (see above); checks it belongs to the same step as the model file (expect_step). */
mv_status mv_ckpt_load_optim(const char *out, mv_params *p, mv_train_state *ts, long expect_step);

/* Compares the fields of two configs that decide the shapes of `model`; on a mismatch returns
 * MV_ERR_SHAPE naming the key, what was expected and what the file (path) has. */
mv_status mv_ckpt_check_config(const char *path, const char *model, const mv_config *want,
                               const mv_config *found);

/* Opens <base>.log.jsonl for appending. resume_step < 0: start a fresh log (truncate). Otherwise
 * keep only the lines whose "step" <= resume_step (lines of steps beyond it are dropped). */
mv_status mv_ckpt_log_open(FILE **f, const char *out, long resume_step);
/* Appends one line (the JSON object, without newline) and flushes. */
mv_status mv_ckpt_log_write(FILE *f, const char *json);
#endif
