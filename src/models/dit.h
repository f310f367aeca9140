/* The video diffusion transformer (OFFICIAL_MODULES.md §2): one flat token sequence that mixes frames
 * and levels, per-token adaLN-Zero condition c = TimeEmb(t) + level_embedding[l] + action_embedding[a],
 * v-prediction output. Two variants share the core `dit.dit.*`:
 *   - universal (MilliVid, full-resolution rollout): `dit.patchify` Linear(C -> D), one latent vector per
 *     token of any level, output for every token;
 *   - FramePack: level-0 latents only; context frames compressed by `dit.patchify.{l}` over 2^l x 2^l
 *     cells ((c, dy, dx) order), output for the last n_d frames only.
 * Tensors are token-major: a frame's latents at level l are [T_l, C] (row-major cells, channel last).
 *
 * Beyond the paper, dit.context_cache = 1 makes context tokens attend only to context tokens (an
 * attention mask, in training too); then at sampling time the context keys/values of every block are
 * computed once per rollout step (mv_dit_cache_build) and reused by every sampler call
 * (mv_dit_forward_cached), which processes only the non-context tokens. */
#ifndef MV_DIT_H
#define MV_DIT_H
#include "io/config.h"
#include "core/params.h"
#include "models/block.h"
#include "models/checkpoint.h"

typedef enum { MV_DIT_UNIVERSAL = 0, MV_DIT_FRAMEPACK = 1 } mv_dit_kind;

typedef struct {
    mv_dit_kind kind;
    int C, D, depth, heads, levels; /* latent channels, width, blocks, heads, level-embedding rows */
    int grid0;                      /* h_0 = w_0 of the level-0 latent grid */
    int fp_context[MV_MAX_LEVELS];  /* FramePack: context frames per kernel level, finest first */
    int fp_denoise;                 /* FramePack: denoised frames n_d */
    int fp_frames, fp_tokens;       /* FramePack: frames F per chunk, tokens per sample */
    int context_cache;              /* context tokens attend only to context tokens */
    mv_params params;
    mv_block *blocks; /* [depth] */
    int patch_w[MV_MAX_LEVELS], patch_b[MV_MAX_LEVELS]; /* universal uses [0] */
    int temb0_w, temb0_b, temb2_w, temb2_b, level_emb, action_emb;
    int final_ada_w, final_ada_b, final_w, final_b;
} mv_dit;

/* The tokens of a batch of B samples with T tokens each (all samples the same T). */
typedef struct {
    int B, T;
    const int *frame;          /* [B, T] frame index (the model subtracts each sample's minimum) */
    const int *level;          /* [B, T] level (FramePack: kernel level) */
    const int *row, *col;      /* [B, T] position in the token's own level grid */
    const float *t;            /* [B, T] noise level in [0, 1] */
    const int *action;         /* [B, T] action id 0..2; -1 = unconditioned (zero vector) */
    const uint8_t *keep_cond;  /* [B] 0 = action term zero for the whole sample; NULL = all kept */
    const uint8_t *context;    /* [B, T] 1 = context token (used when context_cache); NULL = none */
} mv_dit_tokens;

/* Saved activations of one forward pass (training), sized for max_tokens = B*T and max_seq = T. */
typedef struct {
    size_t max_tokens;
    int max_seq;
    int B, T; /* of the last forward */
    float *x, *c, *te_in, *te1, *te1s, *sc, *fm, *lnf, *lnf_mean, *lnf_rstd, *modf; /* [N, *] */
    float *xin;      /* [N * Cin] saved patchify inputs (FramePack: grouped per level) */
    float *dx, *dc, *dtmp, *dtmp2; /* gradient work buffers [N, 2D] */
    float *scratch;  /* block scratch */
    int *frame, *level, *row, *col, *action; /* [N] copies (frame relative) */
    float *t;        /* [N] */
    uint8_t *keep;   /* [B] */
    uint8_t *mask;   /* [B, T, T] attention mask or unused */
    int use_mask;
    int depth;
    mv_block_acts *blocks; /* [depth] */
    /* The distinct conditions of the last forward (c, dc, te_in, te1, te1s, sc, fm hold U rows):
     * uidx [N] row of every token; ut [U], ulevel [U], uaction [U] (-1 = no action term). */
    int U;
    int *uidx, *ulevel, *uaction;
    float *ut;
} mv_dit_acts;

/* Context keys/values per block for the cached sampling path (zero-initialise before first use; also
 * the reusable scratch of the inference forward). */
typedef struct {
    int B, Tc, Td, depth, D;
    int *ctx_idx, *den_idx; /* [B, Tc], [B, Td] token indices of context / other tokens */
    int *uidx;              /* [B * T] distinct-condition row of each processed token */
    float *k, *v;           /* [depth, B, Tc, D] normalised keys and values of the context tokens */
    float *work;            /* scratch */
    size_t work_floats;
} mv_dit_cache;

const char *mv_dit_kind_name(mv_dit_kind k); /* "universal", "framepack" */

/* Registers the parameters (official names, state-dict order) and allocates the arena (with grads and
 * AdamW moments when with_training). Weights are zero until mv_dit_init_weights or a load. */
mv_status mv_dit_create(mv_dit *m, const mv_config *cfg, mv_dit_kind kind, int with_training);
/* Official initialisation (§0) from a seed. */
void mv_dit_init_weights(mv_dit *m, uint64_t seed);
void mv_dit_free(mv_dit *m);
/* Opens a video-DiT checkpoint (millivid train), builds the model from its stored config (kind from
 * millivid_model: video_universal / video_framepack) and loads the weights (inference only).
 * meta (may be NULL) receives the file's metadata: variant = the method, config, ae_hash, step. */
mv_status mv_dit_load(mv_dit *m, const char *path, mv_ckpt_meta *meta);

mv_status mv_dit_acts_alloc(mv_dit_acts *a, const mv_dit *m, int max_batch, int max_seq);
void mv_dit_acts_free(mv_dit_acts *a);

/* Universal forward. x: [B, T, C] noisy latents of the tokens; v: [B, T, C] predictions.
 * Fails (MV_ERR_ARG) on action ids outside -1..2, levels outside [0, L) or too many tokens. */
mv_status mv_dit_forward(const mv_dit *m, mv_dit_acts *a, float *v, const float *x,
                         const mv_dit_tokens *tk);
/* Universal backward of the last forward: dv [B, T, C]; parameter grads accumulate into params.grad. */
void mv_dit_backward(mv_dit *m, mv_dit_acts *a, const float *dv);

/* FramePack: x [B, F, T0, C] level-0 latents of the chunk's frames (time order), t [B, F], action
 * [B, F] (ids, -1 = zero vector); v [B, n_d, T0, C] for the last n_d frames. Actions never dropped. */
mv_status mv_dit_fp_forward(const mv_dit *m, mv_dit_acts *a, float *v, const float *x, const float *t,
                            const int *action, int B);
void mv_dit_fp_backward(mv_dit *m, mv_dit_acts *a, const float *dv);
/* FramePack token layout of one sample: frame [T], level [T], row [T], col [T]; returns T. */
int mv_dit_fp_layout(const mv_dit *m, int *frame, int *level, int *row, int *col);

/* Cached sampling path (needs m->context_cache). Build: runs the context tokens (tk->context) of
 * every sample through the blocks once and keeps their keys/values; every sample must have the same
 * number of context tokens. Forward: v [B, T, C] for the non-context tokens (context rows set to 0);
 * equals mv_dit_forward with the context mask as long as the context inputs are unchanged. */
mv_status mv_dit_cache_build(const mv_dit *m, mv_dit_cache *cache, const float *x,
                             const mv_dit_tokens *tk);
mv_status mv_dit_forward_cached(const mv_dit *m, mv_dit_cache *cache, float *v, const float *x,
                                const mv_dit_tokens *tk);
void mv_dit_cache_free(mv_dit_cache *cache);
/* Fast inference forward (no saved activations; adaLN computed once per distinct condition) for models
 * without context_cache: v [B, T, C] for every token, equal to mv_dit_forward. `work` is an
 * mv_dit_cache (zero-initialised, freed with mv_dit_cache_free) used as reusable scratch. */
mv_status mv_dit_forward_infer(const mv_dit *m, mv_dit_cache *work, float *v, const float *x,
                               const mv_dit_tokens *tk);
mv_status mv_dit_fp_forward_infer(const mv_dit *m, mv_dit_cache *work, float *v, const float *x, const float *t,
                                  const int *action, int B);
/* The same for FramePack (context = every token but the last n_d * T0): x [B, F, T0, C], t [B, F],
 * action [B, F]; v [B, n_d, T0, C]. */
mv_status mv_dit_fp_cache_build(const mv_dit *m, mv_dit_cache *cache, const float *x, const float *t,
                                const int *action, int B);
mv_status mv_dit_fp_forward_cached(const mv_dit *m, mv_dit_cache *cache, float *v, const float *x,
                                   const float *t, const int *action, int B);
#endif
