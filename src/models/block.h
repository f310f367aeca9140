/* The transformer block shared by the AE encoder (plain pre-norm), the AE decoder and the video DiT
 * (adaLN-Zero with a per-token condition). Official maths and names: OFFICIAL_MODULES.md §0.
 * A block's parameters live in a model's mv_params arena; mv_block_register() adds them under
 * "<prefix>attn.qkv.weight" ... in state-dict order. Activations for backward live in an
 * mv_block_acts sized for a maximum token count. */
#ifndef MV_BLOCK_H
#define MV_BLOCK_H
#include "core/params.h"
#include "core/rng.h"

typedef struct {
    int D, heads, adaln; /* adaln = 1: adaLN-Zero block with modulation Linear(D -> 6D) */
    /* parameter indices into the arena */
    int qkv_w, qkv_b, qnorm_w, knorm_w, proj_w, proj_b, fc1_w, fc1_b, fc2_w, fc2_b, ada_w, ada_b;
    /* 1 = the condition is one vector per sample, c/dc [B, D], broadcast over the T tokens
     * (the AE decoder; saves the adaLN Linear on every token). 0 (default) = c/dc [B, T, D]. */
    int cond_per_sample;
} mv_block;

/* Saved activations of one block for one forward pass of up to max_tokens tokens (B*T). */
typedef struct {
    size_t max_tokens;
    float *buf; /* one allocation, carved into the fields below */
    float *x_in, *ln1, *ln1_mean, *ln1_rstd, *mod1, *q, *k, *qn, *kn, *q_rstd, *k_rstd, *att,
        *lse, *att_proj, *x_mid, *ln2, *ln2_mean, *ln2_rstd, *mod2, *h, *h_gelu, *mlp_out, *ada,
        *silu_c;
    float *v, *c_in; /* v [N, D] (its own buffer, like q and k); c_in: the saved condition (adaln only) */
    /* The condition-row map of the last forward (mv_block_forward_rows; NULL otherwise):
     * uidx [B*T] row of cu of every token (the caller keeps it alive until backward), U rows. */
    const int *uidx;
    int U;
    int *row_start, *row_tok; /* the tokens of each row, [max_tokens + 1] and [max_tokens] */
    /* bf16 training path (acts made under MV_MATMUL_BF16; NULL otherwise): the block's matmuls take
     * operands rounded once per forward and kept for backward: weights wb [12 D^2] (qkv, proj, fc1, fc2
     * as stored), inputs mod1b, attb, mod2b [N, D] and hgb [N, 4D]. bf16_used: the last forward ran it
     * (then h_gelu is not written); bf16_ok_n: token count whose kernels were found available. */
    uint16_t *bbuf, *wb, *mod1b, *attb, *mod2b, *hgb;
    int bf16_used, bf16_ok_n;
} mv_block_acts;

mv_status mv_block_register(mv_block *blk, mv_params *p, const char *prefix, int D, int heads,
                            int adaln);
/* Official init: Xavier-uniform Linear weights, zero biases, RMSNorm weights 1, adaLN zero. */
void mv_block_init(const mv_block *blk, mv_params *p, mv_rng *rng);
mv_status mv_block_acts_alloc(mv_block_acts *a, const mv_block *blk, size_t max_tokens, int max_seq);
void mv_block_acts_free(mv_block_acts *a);

/* x: [B, T, D] updated in place. c: [B, T, D] per-token condition (adaln blocks only; NULL otherwise).
 * mask: NULL or [B, T, T] attention mask (see attention_forward). acts may be NULL for inference
 * (then scratch must hold mv_block_scratch_floats(blk, B*T, T) floats). */
void mv_block_forward(const mv_block *blk, const mv_params *p, mv_block_acts *acts, float *scratch,
                      float *x, const float *c, const uint8_t *mask, int B, int T);
size_t mv_block_scratch_floats(const mv_block *blk, size_t tokens, int T);
/* dx: [B, T, D] in: gradient w.r.t. the block output; out: gradient w.r.t. its input (in place).
 * dc: [B, T, D] accumulated gradient w.r.t. c (adaln only). Parameter grads accumulate into p->grad. */
void mv_block_backward(const mv_block *blk, mv_params *p, const mv_block_acts *acts, float *scratch,
                       float *dx, float *dc, const uint8_t *mask, int B, int T);
/* The adaLN condition as U distinct rows cu [U, D] and a map uidx [B*T] (values in [0, U)) from
 * token to row: the modulation Linear runs once per row (exact: same inputs, same outputs). Same
 * results as mv_block_forward with c[n] = cu[uidx[n]] (adaln blocks only). */
void mv_block_forward_rows(const mv_block *blk, const mv_params *p, mv_block_acts *acts, float *scratch,
                           float *x, const float *cu, const int *uidx, int U, const uint8_t *mask, int B,
                           int T);
/* Backward of the last mv_block_forward_rows (acts->uidx/U): dcu [U, D] accumulates the gradient of
 * the rows (the per-token gradients summed per row; equal to mv_block_backward up to sum order). */
void mv_block_backward_rows(const mv_block *blk, mv_params *p, const mv_block_acts *acts, float *scratch,
                            float *dx, float *dcu, const uint8_t *mask, int B, int T);
/* Row-mapped modulation (used by the DiT final layer): out [N, D] = x * (1 + scale[u]) + shift[u],
 * u = uidx[n]; shift/scale rows of stride ld. Backward: dx [N, D] (or NULL) OVERWRITTEN with
 * dout * (1 + scale[u]); dshift/dscale rows (stride ld) accumulate the per-row sums in token order.
 * The backward takes the tokens of each row from mv_rows_index: row_start [U + 1], row_tok [N]
 * (a forward with acts leaves them in acts->row_start / row_tok). */
void mv_mod_rows_forward(float *out, const float *x, const float *shift, const float *scale, int ld,
                         const int *uidx, int N, int D);
void mv_mod_rows_backward(float *dx, float *dshift, float *dscale, const float *dout, const float *x,
                          const float *scale, int ld, const int *row_start, const int *row_tok, int U, int D);
void mv_rows_index(int *row_start, int *row_tok, const int *uidx, int U, int N);
/* The block's vectorised GELU-tanh (same maths as nn.h gelu_forward), exposed for tests. */
void mv_block_gelu_forward(float *out, const float *inp, size_t n);
/* Inference with context keys/values (the DiT's cached sampling path). The T processed tokens of each
 * sample attend to Tc context keys/values (computed earlier by the same function with k_out/v_out)
 * plus their own, unmasked. */
typedef struct {
    const float *k, *v;   /* [B, Tc, D] normalised keys and values of the context (unused when Tc = 0) */
    int Tc;               /* context tokens per sample (0: the tokens attend only to each other) */
    float *k_out, *v_out; /* [B, T, D] or NULL: receive this block's normalised keys and values */
} mv_block_kv;
/* Scratch floats of mv_block_forward_kv for tokens = B*T processed tokens, S = Tc + T keys per sample. */
size_t mv_block_kv_scratch_floats(const mv_block *blk, size_t tokens, int T, int S);
/* x: [B, T, D] updated in place; cu [U, D], uidx [B*T] the condition rows (adaln blocks only). The
 * training forward's code (as mv_block_forward_rows without acts) with the attention over kv. */
void mv_block_forward_kv(const mv_block *blk, const mv_params *p, float *scratch, float *x, const float *cu,
                         const int *uidx, int U, const mv_block_kv *kv, int B, int T);
#endif
