/* Diffusion maths (OFFICIAL_MODULES.md §3): shifted-cosine log-SNR schedule with shift 1, the
 * v-prediction forward process, and the deterministic DDIM sampler in x̂/ε̂ form. */
#include "rollout/diffusion.h"

#include <math.h>

#include "core/core.h"

/* t_min = atan(exp(-logSNR_max / 2)), t_max = atan(exp(-logSNR_min / 2)). */
static double diff_theta(double t) {
    double t_min = atan(exp(-0.5 * MV_LOGSNR_MAX)), t_max = atan(exp(-0.5 * MV_LOGSNR_MIN));
    return t_min + t * (t_max - t_min);
}

double mv_diff_logsnr(double t) { return -2.0 * log(tan(diff_theta(t))); }

double mv_diff_alpha(double t) { return sqrt(1.0 / (1.0 + exp(-mv_diff_logsnr(t)))); }

double mv_diff_sigma(double t) { return sqrt(1.0 / (1.0 + exp(mv_diff_logsnr(t)))); }

void mv_diff_add_noise(float *x_t, const float *x, const float *eps, const float *t, int n, int C) {
    for (int i = 0; i < n; i++) {
        double a = mv_diff_alpha(t[i]), s = mv_diff_sigma(t[i]);
        for (int c = 0; c < C; c++) {
            size_t j = (size_t)i * C + c;
            x_t[j] = (float)(a * x[j] + s * eps[j]);
        }
    }
}

void mv_diff_v_target(float *v, const float *x, const float *eps, const float *t, int n, int C) {
    for (int i = 0; i < n; i++) {
        double a = mv_diff_alpha(t[i]), s = mv_diff_sigma(t[i]);
        for (int c = 0; c < C; c++) {
            size_t j = (size_t)i * C + c;
            v[j] = (float)(a * eps[j] - s * x[j]);
        }
    }
}

void mv_diff_from_v(float *xhat, float *epshat, const float *x_t, const float *v, const float *t, int n,
                    int C) {
    for (int i = 0; i < n; i++) {
        double a = mv_diff_alpha(t[i]), s = mv_diff_sigma(t[i]);
        for (int c = 0; c < C; c++) {
            size_t j = (size_t)i * C + c;
            double xt = x_t[j], vv = v[j];
            if (xhat) xhat[j] = (float)(a * xt - s * vv);
            if (epshat) epshat[j] = (float)(a * vv + s * xt);
        }
    }
}

double mv_sample_time(int k, int steps) { return steps <= 1 ? 1.0 : 1.0 - (double)k / (steps - 1); }

/* tau[i] = t at denoised tokens, `other` elsewhere; x_t = alpha(tau) xhat + sigma(tau) eps. */
static void sample_noised(float *x_t /* [n, C] */, float *tau /* [n] */, const float *xhat /* [n, C] */,
                          const float *eps /* [n, C] */, const uint8_t *is_denoised /* [n] */, int n, int C,
                          double t, double other) {
    for (int i = 0; i < n; i++) tau[i] = (float)(is_denoised[i] ? t : other);
    mv_diff_add_noise(x_t, xhat, eps, tau, n, C);
}

mv_status mv_sample(mv_denoise_fn fn, void *ctx, float *xhat, float *eps, const uint8_t *is_denoised, int n,
                    int C, int steps, float guidance) {
    mv_status st = MV_OK;
    size_t nc = (size_t)n * C;
    int guided = guidance != 1.0f;
    float *x_t = NULL, *v = NULL, *tau = NULL, *x_uc = NULL, *v_uc = NULL, *tau_uc = NULL;
    if (n <= 0 || C <= 0 || steps <= 0)
        return mv_fail(MV_ERR_ARG, "sampler: need n > 0 tokens, C > 0 channels and steps > 0 (got %d, %d, %d)",
                       n, C, steps);
    x_t = malloc(nc * sizeof(float));
    v = malloc(nc * sizeof(float));
    tau = malloc((size_t)n * sizeof(float));
    if (guided) {
        x_uc = malloc(nc * sizeof(float));
        v_uc = malloc(nc * sizeof(float));
        tau_uc = malloc((size_t)n * sizeof(float));
    }
    if (!x_t || !v || !tau || (guided && (!x_uc || !v_uc || !tau_uc))) {
        st = mv_fail(MV_ERR_NOMEM, "sampler: out of memory for %d tokens x %d channels", n, C);
        goto fail;
    }
    for (int k = 0; k < steps; k++) {
        double t = mv_sample_time(k, steps);
        sample_noised(x_t, tau, xhat, eps, is_denoised, n, C, t, 0.0);
        if ((st = fn(ctx, x_t, tau, 1, v)) != MV_OK) goto fail;
        if (guided) {
            sample_noised(x_uc, tau_uc, xhat, eps, is_denoised, n, C, t, 1.0);
            if ((st = fn(ctx, x_uc, tau_uc, 0, v_uc)) != MV_OK) goto fail;
            for (size_t j = 0; j < nc; j++) v[j] = v_uc[j] + guidance * (v[j] - v_uc[j]);
        }
        double a = mv_diff_alpha((float)t), s = mv_diff_sigma((float)t);
        for (int i = 0; i < n; i++) {
            if (!is_denoised[i]) continue;
            for (int c = 0; c < C; c++) {
                size_t j = (size_t)i * C + c;
                double xt = x_t[j], vv = v[j];
                xhat[j] = (float)(a * xt - s * vv);
                eps[j] = (float)(a * vv + s * xt);
            }
        }
    }
fail:
    free(x_t);
    free(v);
    free(tau);
    free(x_uc);
    free(v_uc);
    free(tau_uc);
    return st;
}

/* ---------------------------------------------------------------- training (§3.3) */

void mv_diff_train_draw(mv_rng *r, double dropout, int *keep_cond, float *t_d) {
    double u = mv_rng_uniform1(r);
    *keep_cond = u > dropout;
    *t_d = (float)mv_rng_uniform1(r);
}

void mv_diff_train_times(float *t, const uint8_t *is_denoised, int n, float t_d, int keep_cond) {
    for (int i = 0; i < n; i++) t[i] = is_denoised[i] ? t_d : (keep_cond ? 0.0f : 1.0f);
}

double mv_diff_v_loss(float *dv, const float *v_pred, const float *v, const uint8_t *is_denoised, int n, int C,
                      float dscale) {
    long count = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) count += is_denoised[i] ? C : 0;
    if (count == 0) return 0;
    for (int i = 0; i < n; i++) {
        if (!is_denoised[i]) continue;
        for (int c = 0; c < C; c++) {
            size_t j = (size_t)i * C + c;
            double d = (double)v_pred[j] - v[j];
            sum += d * d;
            if (dv) dv[j] += (float)(dscale * 2.0 * d / count);
        }
    }
    return sum / count;
}
