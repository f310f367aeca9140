/* Diffusion maths (OFFICIAL_MODULES.md §3): the shifted-cosine log-SNR schedule (shift 1), the
 * forward process and v-target, and the deterministic DDIM sampler as a loop over a denoise callback.
 * t = 0 is data, t = 1 is noise. Per-token t everywhere (context tokens sit at t = 0). */
#ifndef MV_DIFFUSION_H
#define MV_DIFFUSION_H
#include <stdint.h>

#include "core/rng.h"
#include "millivid.h"

#define MV_LOGSNR_MAX 15.0
#define MV_LOGSNR_MIN (-15.0)

double mv_diff_logsnr(double t); /* -2 ln tan(t_min + t (t_max - t_min)) */
double mv_diff_alpha(double t);  /* sqrt(sigmoid(logsnr)) */
double mv_diff_sigma(double t);  /* sqrt(sigmoid(-logsnr)) */

/* x_t = alpha(t) x + sigma(t) eps, per token. */
void mv_diff_add_noise(float *x_t /* [n, C] */, const float *x /* [n, C] */, const float *eps /* [n, C] */,
                       const float *t /* [n] */, int n, int C);
/* v = alpha(t) eps - sigma(t) x, per token. */
void mv_diff_v_target(float *v /* [n, C] */, const float *x /* [n, C] */, const float *eps /* [n, C] */,
                      const float *t /* [n] */, int n, int C);
/* x_hat = alpha x_t - sigma v_hat, eps_hat = alpha v_hat + sigma x_t (either output may be NULL). */
void mv_diff_from_v(float *xhat /* [n, C] */, float *epshat /* [n, C] */, const float *x_t /* [n, C] */,
                    const float *v /* [n, C] */, const float *t /* [n] */, int n, int C);

/* Training noise (§3.3), per sample: keep_cond = (u > dropout) for u ~ U[0,1), then t_d ~ U[0,1) (one
 * value for all DENOISED tokens), drawn in that order from r. Universal model: keep_cond 0 also zeroes
 * the action embeddings; FramePack model: only the context noise changes (actions are kept). */
void mv_diff_train_draw(mv_rng *r, double dropout, int *keep_cond, float *t_d);
/* Per-token times: t_d at DENOISED tokens, others 0 (keep_cond) or 1 (context fully noised). */
void mv_diff_train_times(float *t /* [n] */, const uint8_t *is_denoised /* [n] */, int n, float t_d,
                         int keep_cond);
/* Loss: mean over DENOISED token-channels of (v_pred - v)^2. dv (may be NULL) accumulates
 * dscale * dloss/dv_pred (zero contribution at other tokens); dscale = 1/batch for a batch mean. */
double mv_diff_v_loss(float *dv /* [n, C] */, const float *v_pred /* [n, C] */, const float *v /* [n, C] */,
                      const uint8_t *is_denoised /* [n] */, int n, int C, float dscale);

/* The model as the sampler sees it: v = model(x_t, t) for the n tokens of one rollout step (the
 * callback knows its token layout, n and C through ctx). keep_cond = 1 for the conditional call;
 * 0 for the unconditional guidance branch (actions zeroed, §3.5). */
typedef mv_status (*mv_denoise_fn)(void *ctx, const float *x_t /* [n, C] */, const float *t /* [n] */,
                                   int keep_cond, float *v /* [n, C] */);

/* Sampling time k of `steps`: 1 - k/(steps-1) (both ends included; 1 when steps == 1). */
double mv_sample_time(int k, int steps);

/* Deterministic DDIM in x̂/ε̂ form (§3.4): for t_k, k = 0..steps-1, tokens with is_denoised get
 * tau = t_k, the others tau = 0; x_tau = alpha x̂ + sigma ε̂; v = fn(x_tau, tau, keep_cond 1);
 * x̂, ε̂ are replaced by §3.2's inverse at denoised tokens only. With guidance != 1 (§3.5) a second
 * call uses tau_uc = t_k (denoised) / 1 (others) and keep_cond 0, v = v_uc + g (v_c - v_uc).
 * xhat: in: the current values (context = clean latents); out: denoised tokens replaced.
 * eps: in: fresh N(0,1) for all tokens; out: ε̂ at denoised tokens. */
mv_status mv_sample(mv_denoise_fn fn, void *ctx, float *xhat /* [n, C] */, float *eps /* [n, C] */,
                    const uint8_t *is_denoised /* [n] */, int n, int C, int steps, float guidance);
#endif
