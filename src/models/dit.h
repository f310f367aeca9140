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
 * computed once and reused by every sampler call that has the same context inputs, which processes
 * only the non-context tokens (mv_dit_infer decides this itself). */
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
    int grid[MV_MAX_LEVELS];        /* side of the latent grid at each level (mv_config_grid; grid[0] = grid0) */
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
    float *fp_out;     /* [N, C] FramePack: the output of every token (forward), its gradient (backward) */
    uint8_t *fp_ctx;   /* [N] FramePack: context flags of the tokens */
} mv_dit_acts;

/* Inference workspace: every buffer of mv_dit_infer in one allocation, sized once by
 * mv_dit_workspace_create (the size table WS_BUFFERS in dit.c) for up to max_batch samples of up to
 * max_seq tokens; mv_dit_infer never allocates. For dit.context_cache models it holds `caches` sets of
 * context keys/values, each tagged with the context inputs it was computed from. */
#define MV_DIT_MAX_CACHES 4
typedef struct {
    const mv_dit *model;
    int max_batch, max_seq; /* FramePack: max_seq = the model's layout (fp_tokens) */
    int caches;             /* context caches (0 = masked full forward for dit.context_cache models) */
    size_t bytes;
    void *buf;              /* the one allocation */
    /* the buffers; N = max_batch * max_seq tokens, n = tokens of the current pass, U = its conditions */
    float *pin;   /* patch inputs: [n, C] gathered x rows (universal) / the level groups (FramePack) */
    float *emb;   /* [N, D] FramePack: patch embeddings of every token */
    float *h;     /* [n, D] features of the processed tokens */
    float *pos;   /* [n, D] their position embeddings */
    float *cu;    /* [U, D] distinct conditions */
    float *te_in, *te1, *te1s;                    /* [U, 256], [U, D], [U, D] time embedding */
    float *fsc, *fm, *lnf, *lmean, *lrstd, *modf; /* final layer: [U, D], [U, 2D], [n, D], [n], [n], [n, D] */
    float *out;   /* [n, C] final-layer output */
    float *block; /* block scratch (mv_block_kv_scratch_floats) */
    float *kv;    /* [caches, 2, depth, B, Tc, D] context keys then values of every block */
    float *sigx;  /* [caches + 1, N, Kx] context input vectors per cache (+1: the current call's) */
    int *sigm;    /* [caches + 1, N, 6] context frame, row, col, level, action, t bits per cache */
    float *ut;    /* [U] */
    int *ulevel, *uaction, *uidx; /* [U], [U], [n] */
    int *frame, *level, *row, *col, *action; /* [N] FramePack: the model's tokens */
    float *t;     /* [N] */
    uint8_t *ctx; /* [N] */
    int *rel;     /* [N] relative frames */
    int *gframe, *grow, *gcol, *glevel, *gaction; /* [n] the processed tokens' metadata */
    float *gt;    /* [n] */
    int *sel_ctx, *sel_den; /* [N] token indices of the context / other tokens of each sample */
    uint8_t *mask; /* [B, T, T] (masked forward only) */
    /* context caches: samples and context tokens per sample, last use (0 = empty) */
    int slot_B[MV_DIT_MAX_CACHES], slot_Tc[MV_DIT_MAX_CACHES];
    long slot_used[MV_DIT_MAX_CACHES], clock;
    long builds; /* context caches computed so far (diagnostics, tests) */
} mv_dit_workspace;

const char *mv_dit_kind_name(mv_dit_kind k); /* "universal", "framepack" */
/* The checkpoint model name (mv_ckpt_meta.model) of a kind: "video_universal", "video_framepack". */
const char *mv_dit_kind_model(mv_dit_kind k);

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
/* FramePack tokens in one sample (fp_tokens of the model cfg describes): the denoised level-0 frames
 * plus the context frames at each compression level. */
int mv_dit_fp_tokens(const mv_config *cfg);
/* FramePack token layout of one sample: frame [T], level [T], row [T], col [T]; returns T. */
int mv_dit_fp_layout(const mv_dit *m, int *frame, int *level, int *row, int *col);

/* Inference. Sizes the workspace for up to max_batch samples of up to max_seq tokens (FramePack:
 * max_seq is ignored, the model's layout fixes it). caches: context key/value sets kept for
 * dit.context_cache models (2 for classifier-free guidance, whose branches see different context
 * inputs; 0 = masked full forward, the reference the cache is checked against); at most
 * MV_DIT_MAX_CACHES. */
mv_status mv_dit_workspace_create(mv_dit_workspace *w, const mv_dit *m, int max_batch, int max_seq, int caches);
void mv_dit_workspace_free(mv_dit_workspace *w);
/* Forgets the cached context keys/values (needed only after changing the model's weights). */
void mv_dit_workspace_reset(mv_dit_workspace *w);
/* v = model(x) without saved activations; equal to the training forward (mv_dit_forward /
 * mv_dit_fp_forward, with the context mask for dit.context_cache models).
 * Universal: x [B, T, C], v [B, T, C]. With dit.context_cache, tk->context and caches > 0 (every sample
 * the same number of context tokens) the context tokens run once per distinct context input and only
 * the others on every call; the context rows of v are then 0.
 * FramePack: the chunk's level-0 tokens in time order, T = F * T0: x [B, F, T0, C]; tk->t and
 * tk->action [B, T] (one value per frame, repeated over its T0 tokens); frame, level, row, col,
 * keep_cond and context unused (the model's own layout; actions never dropped). v [B, T, C]: the last
 * n_d frames, other rows 0.
 * Fails with MV_ERR_SHAPE on more tokens than the workspace was sized for, MV_ERR_ARG on bad tokens. */
mv_status mv_dit_infer(const mv_dit *m, mv_dit_workspace *w, float *v, const float *x, const mv_dit_tokens *tk);
#endif
