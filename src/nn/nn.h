/* Layers as forward/backward pairs (llm.c style). Row-major; every pointer's shape is given outermost
 * first. Outputs first, then saved buffers, then inputs, then weights, then sizes.
 * Backward ACCUMULATES (+=) into every gradient it writes (dinp, dweight, dbias); the caller zeroes.
 * A NULL gradient pointer means "not needed" (e.g. dinp of the first layer).
 * Forward functions never allocate; scratch space is passed in where a layer needs it.
 * Call these outside OpenMP parallel regions (they parallelise themselves; linear uses oneDNN). */
#ifndef MV_NN_H
#define MV_NN_H
#include <stddef.h>
#include <stdint.h>

/* ---- linear: out = inp @ w^T + b (PyTorch nn.Linear) ---- */
void linear_forward(float *out,        /* [N, O] */
                    const float *inp,  /* [N, I] */
                    const float *w,    /* [O, I] */
                    const float *b,    /* [O] or NULL */
                    int N, int I, int O);
void linear_backward(float *dinp,        /* [N, I] or NULL */
                     float *dw,          /* [O, I] or NULL */
                     float *db,          /* [O] or NULL */
                     const float *dout,  /* [N, O] */
                     const float *inp,   /* [N, I] */
                     const float *w,     /* [O, I] */
                     int N, int I, int O);

/* ---- LayerNorm over C (biased variance); w, b NULL = no affine (the official models) ---- */
void layernorm_forward(float *out,   /* [N, C] */
                       float *mean,  /* [N] saved */
                       float *rstd,  /* [N] saved */
                       const float *inp, const float *w, const float *b, /* [N,C], [C], [C] */
                       int N, int C, float eps);
void layernorm_backward(float *dinp, float *dw, float *db,  /* [N,C], [C] or NULL, [C] or NULL */
                        const float *dout, const float *inp, const float *w, /* w may be NULL */
                        const float *mean, const float *rstd, int N, int C);

/* ---- RMSNorm over C with a learned scale w[C]: y = x / sqrt(mean(x^2) + eps) * w ---- */
void rmsnorm_forward(float *out, float *rstd, /* [N, C], [N] saved */
                     const float *inp, const float *w, int N, int C, float eps);
void rmsnorm_backward(float *dinp, float *dw, /* [N, C], [C] */
                      const float *dout, const float *inp, const float *w, const float *rstd,
                      int N, int C);

/* ---- elementwise ---- */
void gelu_forward(float *out, const float *inp, size_t n); /* tanh approximation */
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void silu_forward(float *out, const float *inp, size_t n);
void silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void tanh_forward(float *out, const float *inp, size_t n);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n); /* uses the output */

/* ---- multi-head scaled-dot-product attention, scale 1/sqrt(dh), softmax over keys ----
 * q, k, v, out: [B, T, H*dh] with channel h*dh + j (head-major, as the official qkv split).
 * mask: NULL (full attention) or [B, T, T] bytes, mask[b,i,j] = 1 when query i may attend key j
 * (every query must be allowed at least one key). lse: [B, H, T] saved log-sum-exp per query.
 * Under mv_set_matmul_precision(MV_MATMUL_BF16) (core/gemm.h) the score and value products take bf16
 * operands with fp32 accumulation, like the linear layers; softmax and lse stay fp32 (attention.c). */
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *mask, int B, int T, int H, int dh);
void attention_backward(float *dq, float *dk, float *dv, /* [B, T, H*dh] each, accumulated */
                        const float *dout, const float *out, const float *lse, const float *q,
                        const float *k, const float *v, const uint8_t *mask, int B, int T, int H,
                        int dh);
/* Softmax of every row in place: x [rows, n], rows ld apart (AVX-512 exp, as the attention kernels). */
void softmax_rows(float *x, int rows, int n, int ld);
/* Naive references (full score matrix, double accumulation) for testing the fast kernels. */
void attention_forward_naive(float *out, float *lse, const float *q, const float *k, const float *v,
                             const uint8_t *mask, int B, int T, int H, int dh);
void attention_backward_naive(float *dq, float *dk, float *dv, const float *dout, const float *out,
                              const float *lse, const float *q, const float *k, const float *v,
                              const uint8_t *mask, int B, int T, int H, int dh);

/* ---- adaLN modulation, per token: out = x * (1 + scale) + shift ----
 * shift/scale rows have stride `ld` floats (so they can point into a [N, 6D] adaLN output). */
void modulate_forward(float *out, const float *x, const float *shift, const float *scale, int ld,
                      int N, int C);
void modulate_backward(float *dx, float *dshift, float *dscale, /* [N,C], rows of stride ld */
                       const float *dout, const float *x, const float *scale, int ld, int N, int C);
/* Gated residual: x[N,C] += gate[N, (stride ld)] * y[N,C]. */
void gate_residual_forward(float *x, const float *gate, const float *y, int ld, int N, int C);
void gate_residual_backward(float *dgate, float *dy, const float *dx, const float *gate,
                            const float *y, int ld, int N, int C);

/* ---- sinusoidal embeddings (official layouts, see OFFICIAL_MODULES.md §1.2, §2.1) ----
 * timestep: s = 1000 t, 128 freqs exp(-ln(1e4) k/127), out [N, 256] = [cos(s f), sin(s f)]. */
void timestep_embedding(float *out, const float *t, int N);
/* 2-D (AE): n = D/4, w_k = 1e4^(-k/(n-1)); [sin(j w), cos(j w), sin(i w), cos(i w)]; out [N, D]. */
void pos2d_embedding(float *out, const int *row, const int *col, int N, int D);
/* 3-D (DiT): n = D/6; [sin(f w), cos(f w), sin(i w), cos(i w), sin(j w), cos(j w)], zero pad to D. */
void pos3d_embedding(float *out, const int *frame, const int *row, const int *col, int N, int D);

/* ---- embedding lookup: out[N, D] = table[idx[n]] ; backward scatters into dtable ---- */
void embedding_forward(float *out, const int *idx, const float *table, int N, int D);
void embedding_backward(float *dtable, const float *dout, const int *idx, int N, int D);

/* ---- images ----
 * patchify: img [H, W, 3] (HWC floats) -> patches [(H/P)*(W/P), 3*P*P], row-major patches,
 * patch vector layout (c, py, px) = element c*P*P + py*P + px. unpatchify is the inverse. */
void patchify(float *patches, const float *img, int H, int W, int P);
void unpatchify(float *img, const float *patches, int H, int W, int P);
/* 2x2 average pooling of an HWC image: out [H/2, W/2, Ch] ; backward spreads dout/4. */
void avgpool2x2_forward(float *out, const float *inp, int H, int W, int Ch);
void avgpool2x2_backward(float *dinp, const float *dout, int H, int W, int Ch);

/* ---- loss: weighted masked MSE ----
 * loss = sum_n wt[n] * mask[n] * sum_c (pred - target)^2 / denom, denom = C * sum_n mask[n]
 * (mask NULL = all ones; wt NULL = all ones). Returns the loss; dpred (+=) its gradient. */
float mse_loss_forward(const float *pred, const float *target, const float *mask, const float *wt,
                       int N, int C);
void mse_loss_backward(float *dpred, const float *pred, const float *target, const float *mask,
                       const float *wt, int N, int C, float dloss);

/* ---- optimisation over a flat parameter arena ----
 * AdamW (PyTorch semantics, decoupled weight decay): step counts from 1. lr from lr_warmup. Muon and the
 * per-run choice of optimizer: nn/optim.h. */
void adamw_update(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, long step);
/* Linear warm-up then constant: lr * min(step / warmup, 1) (step 0 -> 0, as the official code). */
float lr_warmup(float lr, long step, long warmup);
/* Global L2 norm of grad; if > max_norm (and max_norm > 0) scales grad by max_norm/(norm+1e-6)
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
float clip_grad_norm(float *grad, size_t n, float max_norm);
#endif
