/* The resolved configuration of a preset (configs/<name>.json) plus --set key=value overrides.
 * Keys are dotted paths into this struct (see the table in src/io/config.c). */
#ifndef MV_CONFIG_H
#define MV_CONFIG_H
#include "millivid.h"

#define MV_MAX_LEVELS 4

typedef struct {
    char preset[32];     /* "mini", "paper", or the file name it came from */
    /* frames and the pyramid */
    int image_size;      /* H = W, pixels (mini 64, paper 256) */
    int levels;          /* L (4) */
    int patch;           /* P, pixels per patch side at every level (mini 8, paper 16) */
    int latent_channels; /* C (mini 16, paper 32) */
    /* autoencoder */
    int ae_width, ae_depth, ae_heads; /* depth = blocks in the encoder and again in the decoder */
    double ae_lr;
    int ae_warmup, ae_batch, ae_checkpoint_every;
    /* video DiT */
    int dit_width, dit_depth, dit_heads;
    double dit_lr;
    int dit_warmup, dit_batch, dit_checkpoint_every;
    int context_cache;    /* 1: context tokens attend only to context tokens (beyond the paper) */
    double weight_decay;  /* AdamW, both models */
    /* rollout strategies */
    int mv_windows[MV_MAX_LEVELS]; /* MilliVid w per level, finest first */
    int mv_budget;                 /* B tokens per level per step */
    int fp_context[MV_MAX_LEVELS]; /* FramePack context frames per compression level */
    int fp_denoise;                /* FramePack denoised frames per step */
    int fr_frames;                 /* full-res rollout frames per step (first half context) */
    /* sampling and evaluation */
    int sample_steps;
    double guidance;
    int context_frames;  /* eval.context: context length for eval / the test split; 0 = mv_config_eval_context */
    int video_frames;    /* default test video length */
} mv_config;

/* Side of the square latent grid at level l: image_size / (patch * 2^l) cells (mini 8, 4, 2, 1). */
static inline int mv_config_grid(const mv_config *c, int level) { return c->image_size / (c->patch << level); }
/* Tokens per frame at level l: mv_config_grid(c, l)^2. */
static inline int mv_config_tokens(const mv_config *c, int level) {
    int g = mv_config_grid(c, level);
    return g * g;
}
/* How far back MilliVid's first (coarsest) step of a chunk sees: the sum of millivid.windows over the levels
 * (mini 1+4+16+64 = 85, paper 3+12+48+192 = 255); `millivid schedule` prints it as S. */
static inline int mv_config_reach(const mv_config *c) {
    int s = 0;
    for (int l = 0; l < c->levels && l < MV_MAX_LEVELS; l++) s += c->mv_windows[l];
    return s;
}
/* The evaluation context: eval.context when set (> 0), else the reach + 1 (mini 86, paper 256, the paper's
 * context); the first coarse step then sees every context frame but frame 0. */
static inline int mv_config_eval_context(const mv_config *c) {
    return c->context_frames > 0 ? c->context_frames : mv_config_reach(c) + 1;
}
/* Fill *c from a preset name ("mini", "paper") looked up in configs/, or a path to a JSON file. */
mv_status mv_config_load(mv_config *c, const char *name_or_path);
/* Apply one "key=value" override (e.g. "dit.depth=8", "millivid.windows=[1,4,16,64]"). */
mv_status mv_config_set(mv_config *c, const char *assignment);
/* Check the values are consistent (divisibility, ranges); message names the key. */
mv_status mv_config_validate(const mv_config *c);
/* Serialise to a JSON string (caller frees with free()); used for printing and checkpoint metadata. */
char *mv_config_to_json(const mv_config *c);
/* Parse the JSON produced by mv_config_to_json (e.g. from checkpoint metadata). */
mv_status mv_config_from_json(mv_config *c, const char *json);
#endif
