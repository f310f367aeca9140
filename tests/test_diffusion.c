/* Diffusion maths: §3.1 schedule constants, forward process / v-target round trip, the DDIM sampler
 * against tools/ref_sampler.py (numpy) with a toy model, with and without guidance, and oracle
 * sanity checks (known x0; Gaussian data). */
#include <math.h>

#include "core/core.h"
#include "core/rng.h"
#include "rollout/diffusion.h"
#include "testutil.h"

/* ---------------------------------------------------------------- schedule constants */

static void test_constants(void) {
    double t_min = atan(exp(-7.5));
    CHECK(fabs(t_min - 5.530843137512466e-4) < 1e-15, "t_min %.17g", t_min);
    CHECK(fabs(mv_diff_logsnr(0) - 15) < 1e-9, "logsnr(0) = %.12g", mv_diff_logsnr(0));
    CHECK(fabs(mv_diff_logsnr(1) + 15) < 1e-9, "logsnr(1) = %.12g", mv_diff_logsnr(1));
    CHECK(fabs(mv_diff_logsnr(0.5)) < 1e-12, "logsnr(0.5) = %.12g", mv_diff_logsnr(0.5));
    CHECK(fabs(mv_diff_alpha(0) - 0.99999985) < 5e-9, "alpha(0) = %.10f", mv_diff_alpha(0));
    CHECK(fabs(mv_diff_sigma(0) - 5.5308e-4) < 5e-9, "sigma(0) = %.10g", mv_diff_sigma(0));
    CHECK(fabs(mv_diff_alpha(1) - 5.5308e-4) < 5e-9, "alpha(1) = %.10g", mv_diff_alpha(1));
    CHECK(fabs(mv_diff_sigma(1) - 0.99999985) < 5e-9, "sigma(1) = %.10f", mv_diff_sigma(1));
    CHECK(fabs(mv_diff_alpha(1.0 / 49) - 0.99946907) < 5e-9, "alpha(1/49) = %.10f", mv_diff_alpha(1.0 / 49));
    CHECK(fabs(mv_diff_sigma(1.0 / 49) - 0.03258181) < 5e-9, "sigma(1/49) = %.10f", mv_diff_sigma(1.0 / 49));
    double worst = 0, mono = 1;
    for (int k = 0; k <= 100; k++) {
        double t = k / 100.0, a = mv_diff_alpha(t), s = mv_diff_sigma(t);
        worst = fmax(worst, fabs(a * a + s * s - 1));
        /* shift 1: alpha = cos(theta), sigma = sin(theta) */
        double th = t_min + t * (atan(exp(7.5)) - t_min);
        worst = fmax(worst, fmax(fabs(a - cos(th)), fabs(s - sin(th))));
        if (k > 0 && mv_diff_logsnr(t) >= mv_diff_logsnr((k - 1) / 100.0)) mono = 0;
    }
    CHECK(worst < 1e-12, "alpha^2 + sigma^2 = 1 and cos/sin form: worst %g", worst);
    CHECK(mono, "logsnr strictly decreasing");
    CHECK(mv_sample_time(0, 50) == 1.0 && mv_sample_time(49, 50) == 0.0, "sampler times end points");
    CHECK(fabs(mv_sample_time(48, 50) - 1.0 / 49) < 1e-15, "t_48 = 1/49");
    CHECK(mv_sample_time(0, 1) == 1.0, "one step at t = 1");
}

/* ---------------------------------------------------------------- forward process round trip */

static void test_forward(void) {
    enum { n = 7, C = 5 };
    float x[n * C], eps[n * C], t[n], x_t[n * C], v[n * C], xh[n * C], eh[n * C];
    mv_rng r;
    mv_rng_init(&r, 3);
    mv_rng_normal(&r, x, n * C);
    mv_rng_normal(&r, eps, n * C);
    mv_rng_uniform(&r, t, n);
    t[0] = 0, t[1] = 1;
    mv_diff_add_noise(x_t, x, eps, t, n, C);
    mv_diff_v_target(v, x, eps, t, n, C);
    mv_diff_from_v(xh, eh, x_t, v, t, n, C);
    tu_close("x from (x_t, v)", xh, x, n * C, 1e-5, 1e-5);
    tu_close("eps from (x_t, v)", eh, eps, n * C, 1e-5, 1e-5);
    double a = mv_diff_alpha(t[3]), s = mv_diff_sigma(t[3]);
    CHECK(fabs(x_t[3 * C + 2] - (a * x[3 * C + 2] + s * eps[3 * C + 2])) < 1e-6, "x_t formula");
    CHECK(fabs(v[3 * C + 2] - (a * eps[3 * C + 2] - s * x[3 * C + 2])) < 1e-6, "v formula");
}

/* ---------------------------------------------------------------- training helpers (§3.3) */

static void test_training(void) {
    enum { n = 6, C = 3 };
    uint8_t den[n] = {0, 1, 1, 0, 1, 0};
    float t[n], vp[n * C], v[n * C], dv[n * C];
    mv_diff_train_times(t, den, n, 0.7f, 1);
    CHECK(t[0] == 0 && t[1] == 0.7f && t[3] == 0 && t[4] == 0.7f, "keep_cond: context at t 0");
    mv_diff_train_times(t, den, n, 0.7f, 0);
    CHECK(t[0] == 1 && t[2] == 0.7f && t[5] == 1, "dropped: context at t 1");
    /* draws: keep_cond = u > 0.1 with u the first uniform, t_d the second */
    mv_rng r, r2;
    mv_rng_init(&r, 9);
    int kept = 0, nd = 20000;
    double tsum = 0;
    for (int i = 0; i < nd; i++) {
        int k;
        float td;
        r2 = r;
        double u = mv_rng_uniform1(&r2), u2 = mv_rng_uniform1(&r2);
        mv_diff_train_draw(&r, 0.1, &k, &td);
        if (k != (u > 0.1) || td != (float)u2) {
            CHECK(0, "draw %d: order of uniforms", i);
            break;
        }
        kept += k;
        tsum += td;
    }
    CHECK(fabs(kept / (double)nd - 0.9) < 0.01 && fabs(tsum / nd - 0.5) < 0.01, "draw frequencies %g %g",
          kept / (double)nd, tsum / nd);
    /* loss over denoised token-channels only; gradient accumulates with dscale, checked numerically */
    mv_rng_init(&r, 4);
    mv_rng_normal(&r, vp, n * C);
    mv_rng_normal(&r, v, n * C);
    double want = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) want += den[i] ? (vp[i * C + c] - v[i * C + c]) * (vp[i * C + c] - v[i * C + c]) : 0;
    want /= 3 * C;
    for (int j = 0; j < n * C; j++) dv[j] = 1.0f;
    double loss = mv_diff_v_loss(dv, vp, v, den, n, C, 0.5f);
    CHECK(fabs(loss - want) < 1e-6, "loss %g want %g", loss, want);
    double worst = 0;
    for (int j = 0; j < n * C; j++) {
        float save = vp[j];
        vp[j] = save + 1e-3f;
        double lp = mv_diff_v_loss(NULL, vp, v, den, n, C, 0);
        vp[j] = save - 1e-3f;
        double lm = mv_diff_v_loss(NULL, vp, v, den, n, C, 0);
        vp[j] = save;
        double fd = 1.0 + 0.5 * (lp - lm) / 2e-3;
        worst = fmax(worst, fabs(fd - dv[j]));
    }
    CHECK(worst < 1e-3, "v-loss gradient vs finite differences (accumulating, dscale): worst %g", worst);
}

/* ---------------------------------------------------------------- the toy model */

typedef struct {
    int n, C;
    const float *A, *b, *d; /* [C, C], [C], [C] */
    float m;
    int calls, uncond_calls;
    int bad_tau;            /* set when a context token is not at tau 0 (cond) / 1 (uncond) */
    const uint8_t *is_denoised;
} toy_ctx;

/* v[i] = A x_t[i] + b t[i] + m mean_j x_t[j] + keep_cond d (same maths as tools/ref_sampler.py). */
static mv_status toy_fn(void *vctx, const float *x_t, const float *t, int keep_cond, float *v) {
    toy_ctx *tc = vctx;
    int n = tc->n, C = tc->C;
    double mean[64] = {0};
    tc->calls++;
    tc->uncond_calls += !keep_cond;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) mean[c] += x_t[i * C + c] / (double)n;
    for (int i = 0; i < n; i++) {
        if (!tc->is_denoised[i] && t[i] != (keep_cond ? 0.0f : 1.0f)) tc->bad_tau = 1;
        for (int o = 0; o < C; o++) {
            double acc = tc->b[o] * (double)t[i] + tc->m * mean[o] + (keep_cond ? tc->d[o] : 0.0);
            for (int c = 0; c < C; c++) acc += tc->A[o * C + c] * (double)x_t[i * C + c];
            v[i * C + o] = (float)acc;
        }
    }
    return MV_OK;
}

static int write_floats(FILE *f, const float *p, size_t n) { return fwrite(p, sizeof(float), n, f) == n; }

static void compare_with_numpy(int steps, float guidance) {
    enum { n = 12, C = 4 };
    float xhat[n * C], eps[n * C], den_f[n], A[C * C], b[C], d[C], m = 0.3f, out[2 * n * C];
    uint8_t den[n];
    mv_rng r;
    mv_rng_init(&r, 11 + steps);
    mv_rng_normal(&r, xhat, n * C);
    mv_rng_normal(&r, eps, n * C);
    mv_rng_normal(&r, A, C * C);
    mv_rng_normal(&r, b, C);
    mv_rng_normal(&r, d, C);
    for (int i = 0; i < C * C; i++) A[i] *= 0.3f;
    for (int i = 0; i < n; i++) {
        den[i] = (i % 3 == 1) || i >= 9; /* mixed context / denoised tokens */
        den_f[i] = den[i];
        if (den[i])
            for (int c = 0; c < C; c++) xhat[i * C + c] = 0; /* never-generated frames hold 0 */
    }
    char name[64];
    snprintf(name, sizeof(name), "diffusion_ref_%d_%g", steps, guidance);
    const char *dir = tu_tmpdir(name);
    char path[1024];
    snprintf(path, sizeof(path), "%s/in.bin", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    int ok = write_floats(f, xhat, n * C) && write_floats(f, eps, n * C) && write_floats(f, den_f, n) &&
             write_floats(f, A, C * C) && write_floats(f, b, C) && write_floats(f, d, C) && write_floats(f, &m, 1);
    fclose(f);
    CHECK(ok, "write %s", path);
    int rc = tu_python("tools/ref_sampler.py %s %d %d %d %.9g", dir, n, C, steps, guidance);
    CHECK(rc == 0, "ref_sampler.py exit %d", rc);

    float xin[n * C], ein[n * C];
    memcpy(xin, xhat, sizeof(xin));
    memcpy(ein, eps, sizeof(ein));
    toy_ctx tc = {.n = n, .C = C, .A = A, .b = b, .d = d, .m = m, .is_denoised = den};
    mv_status st = mv_sample(toy_fn, &tc, xhat, eps, den, n, C, steps, guidance);
    CHECK(st == MV_OK, "mv_sample: %s", mv_last_error());
    CHECK(tc.calls == steps * (guidance != 1.0f ? 2 : 1), "model calls %d for %d steps", tc.calls, steps);
    CHECK(tc.uncond_calls == (guidance != 1.0f ? steps : 0), "uncond calls %d", tc.uncond_calls);
    CHECK(!tc.bad_tau, "context tokens at tau 0 (cond) / 1 (uncond)");
    int ctx_same = 1;
    for (int i = 0; i < n; i++)
        if (!den[i]) ctx_same &= !memcmp(xhat + i * C, xin + i * C, C * 4) && !memcmp(eps + i * C, ein + i * C, C * 4);
    CHECK(ctx_same, "context tokens keep x and eps");

    snprintf(path, sizeof(path), "%s/out.bin", dir);
    f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    size_t got = fread(out, sizeof(float), 2 * n * C, f);
    fclose(f);
    CHECK(got == 2 * n * C, "read %zu floats from %s", got, path);
    char what[64];
    snprintf(what, sizeof(what), "xhat vs numpy (%d steps, g %.1f)", steps, guidance);
    tu_close(what, xhat, out, n * C, 1e-5, 1e-5);
    snprintf(what, sizeof(what), "eps vs numpy (%d steps, g %.1f)", steps, guidance);
    tu_close(what, eps, out + n * C, n * C, 1e-5, 1e-5);

    if (steps == 20 && guidance == 1.0f) { /* the numpy schedule values too */
        double sched[150];
        snprintf(path, sizeof(path), "%s/schedule.bin", dir);
        f = fopen(path, "rb");
        size_t g2 = f ? fread(sched, sizeof(double), 150, f) : 0;
        if (f) fclose(f);
        CHECK(g2 == 150, "read schedule.bin");
        double worst = 0;
        for (int k = 0; k < 50 && g2 == 150; k++) {
            double t = k / 49.0;
            worst = fmax(worst, fabs(mv_diff_logsnr(t) - sched[k]) / 15);
            worst = fmax(worst, fabs(mv_diff_alpha(t) - sched[50 + k]));
            worst = fmax(worst, fabs(mv_diff_sigma(t) - sched[100 + k]));
        }
        CHECK(worst < 1e-12, "schedule vs numpy: worst %g", worst);
    }
}

/* ---------------------------------------------------------------- oracle sanity checks */

typedef struct {
    int n, C;
    const float *x0;      /* [n, C] known data (known-x0 oracle) */
    double mu, s;         /* Gaussian data N(mu, s^2) (Gaussian oracle, when x0 == NULL) */
} oracle_ctx;

/* The true v: from E[x0 | x_t]; x0 known exactly or Gaussian posterior mean. */
static mv_status oracle_fn(void *vctx, const float *x_t, const float *t, int keep_cond, float *v) {
    oracle_ctx *o = vctx;
    for (int i = 0; i < o->n; i++) {
        double a = mv_diff_alpha(t[i]), s = mv_diff_sigma(t[i]);
        for (int c = 0; c < o->C; c++) {
            size_t j = (size_t)i * o->C + c;
            double x0 = o->x0 ? o->x0[j]
                              : o->mu + a * o->s * o->s / (a * a * o->s * o->s + s * s) * (x_t[j] - a * o->mu);
            double e = (x_t[j] - a * x0) / s;
            v[j] = (float)(a * e - s * x0);
        }
    }
    return MV_OK;
}

static void test_oracle(void) {
    enum { n = 16, C = 8 };
    float x0[n * C], xhat[n * C], eps[n * C], eps0[n * C];
    uint8_t den[n];
    mv_rng r;
    mv_rng_init(&r, 5);
    mv_rng_normal(&r, x0, n * C);
    mv_rng_normal(&r, eps, n * C);
    memcpy(eps0, eps, sizeof(eps));
    for (int i = 0; i < n; i++) den[i] = i >= 4;
    for (int j = 0; j < n * C; j++) xhat[j] = j < 4 * C ? x0[j] : 0;
    oracle_ctx o = {.n = n, .C = C, .x0 = x0};
    CHECK(mv_sample(oracle_fn, &o, xhat, eps, den, n, C, 50, 1.0f) == MV_OK, "oracle sample");
    tu_close("known-x0 oracle recovers x0", xhat, x0, n * C, 1e-4, 1e-4);

    /* Gaussian data N(mu, s^2): the deterministic sampler is a first-order solver of the
     * probability-flow ODE, which maps eps to mu + s eps; the error shrinks like 1/steps. */
    float want[n * C], eps_g[n * C];
    double err[2];
    mv_rng_normal(&r, eps_g, n * C);
    for (int j = 0; j < n * C; j++) want[j] = (float)(0.5 + 0.2 * eps_g[j]);
    for (int i = 0; i < n; i++) den[i] = 1;
    o = (oracle_ctx){.n = n, .C = C, .x0 = NULL, .mu = 0.5, .s = 0.2};
    for (int pass = 0; pass < 2; pass++) {
        memcpy(eps, eps_g, sizeof(eps));
        memset(xhat, 0, sizeof(xhat));
        CHECK(mv_sample(oracle_fn, &o, xhat, eps, den, n, C, pass ? 200 : 50, 1.0f) == MV_OK, "gaussian sample");
        err[pass] = 0;
        for (int j = 0; j < n * C; j++) err[pass] = fmax(err[pass], fabs(xhat[j] - want[j]));
    }
    CHECK(err[0] < 0.06 && err[1] < 0.015, "Gaussian oracle: |x0 - (mu + s eps)| %g (50 steps), %g (200)",
          err[0], err[1]);
    CHECK(err[1] < err[0] / 3, "first-order convergence: %g -> %g", err[0], err[1]);
    printf("Gaussian oracle worst error: %.4f (50 steps), %.4f (200 steps)\n", err[0], err[1]);

    /* Bad input returns an error, never aborts. */
    CHECK(mv_sample(oracle_fn, &o, xhat, eps, den, n, C, 0, 1.0f) == MV_ERR_ARG, "steps 0 rejected");
    CHECK(strstr(mv_last_error(), "steps") != NULL, "message names steps: %s", mv_last_error());
}

int main(void) {
    test_constants();
    test_forward();
    test_training();
    compare_with_numpy(20, 1.0f);
    compare_with_numpy(7, 3.0f);
    compare_with_numpy(1, 1.0f);
    compare_with_numpy(2, 1.5f);
    test_oracle();
    return tu_finish();
}
