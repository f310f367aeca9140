/* PSNR / SSIM against scikit-image 0.19 (tools/ref_metrics.py) on random and structured frames,
 * plus exact properties (identical frames, known MSE, too-small frames, the batched helper). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/rng.h"
#include "eval/metrics.h"
#include "io/tensorfile.h"

#include <cJSON.h>
#include "testutil.h"

typedef struct {
    const char *name;
    int f32; /* 0: uint8 frames, 1: float frames (with values outside [0,1]) */
    int n, h, w;
    int kind; /* 0 random pairs, 1 structured + noise, 2 structured + shift/distortion */
} mcase;

/* A smooth, structured RGB image in [0,1]: waves, a gradient and a hard-edged block ("landmark"). */
static double pattern(int i, int j, int c, int h, int w, double phase) {
    double y = (double)i / h, x = (double)j / w;
    double v = 0.45 + 0.25 * sin(6.2832 * (1.3 * x + 0.7 * y) + phase + c) + 0.15 * cos(6.2832 * 3.1 * y * x + c);
    v += 0.1 * (x - 0.5);
    if (x > 0.55 && x < 0.8 && y > 0.2 && y < 0.6) v = 0.2 + 0.3 * c;
    return v;
}

/* Fills a, b: [n, h, w, 3] (as double) for case kind, frame-dependent strength. */
static void make_pair(const mcase *mc, double *a, double *b, mv_rng *rng) {
    size_t fr = (size_t)mc->h * mc->w * 3;
    float *noise = malloc(sizeof(float) * fr * 2);
    for (int f = 0; f < mc->n; f++) {
        mv_rng_normal(rng, noise, fr);
        mv_rng_uniform(rng, noise + fr, fr);
        double sd = (f == 0 ? 0.01 : f == 1 ? 0.04 : f == 2 ? 0.1 : 0.3);
        for (int i = 0; i < mc->h; i++)
            for (int j = 0; j < mc->w; j++)
                for (int c = 0; c < 3; c++) {
                    size_t k = ((size_t)i * mc->w + j) * 3 + c, o = f * fr + k;
                    if (mc->kind == 0) {
                        a[o] = noise[fr + k];
                        b[o] = 0.5 + 0.3 * noise[k];
                    } else if (mc->kind == 1) {
                        a[o] = pattern(i, j, c, mc->h, mc->w, 0.0);
                        b[o] = a[o] + sd * noise[k];
                    } else {
                        a[o] = pattern(i, j, c, mc->h, mc->w, 0.0) * 1.2 - 0.1; /* leaves [0,1] a bit */
                        b[o] = pattern(i, j + f + 1, c, mc->h, mc->w, 0.3 * f) + 0.5 * sd * noise[k];
                    }
                }
    }
    free(noise);
}

static uint8_t to_u8(double v) {
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return (uint8_t)lrint(v * 255.0);
}

static int write_raw(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t got = fwrite(data, 1, bytes, f);
    return (fclose(f) == 0 && got == bytes) ? 0 : -1;
}

static double *read_f64(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    double *v = malloc(sizeof(double) * n);
    size_t got = fread(v, sizeof(double), n, f);
    fclose(f);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

static const mcase cases[] = {
    {"rand_u8", 0, 3, 32, 40, 0},     {"noisy_u8", 0, 4, 64, 64, 1},  {"struct_f32", 1, 4, 48, 64, 2},
    {"min11_u8", 0, 2, 11, 11, 1},    {"odd_f32", 1, 3, 13, 29, 1},   {"shift_u8", 0, 3, 40, 24, 2},
};
#define NCASES ((int)MV_ARRAY_LEN(cases))

static void test_against_skimage(void) {
    const char *dir = tu_tmpdir("metrics");
    char path[1200];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *man = fopen(path, "w");
    CHECK(man != NULL, "cannot write %s", path);
    if (!man) return;
    mv_rng rng;
    mv_rng_init(&rng, 1234);
    double *mine[NCASES];
    for (int ci = 0; ci < NCASES; ci++) {
        const mcase *mc = &cases[ci];
        size_t fr = (size_t)mc->h * mc->w * 3, n = fr * mc->n;
        double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
        make_pair(mc, a, b, &rng);
        mine[ci] = malloc(sizeof(double) * 2 * mc->n);
        if (mc->f32) {
            float *fa = malloc(sizeof(float) * n), *fb = malloc(sizeof(float) * n);
            for (size_t i = 0; i < n; i++) fa[i] = (float)a[i], fb[i] = (float)b[i];
            for (int f = 0; f < mc->n; f++) {
                mine[ci][2 * f] = mv_psnr_f32(fa + f * fr, fb + f * fr, mc->h, mc->w);
                mine[ci][2 * f + 1] = mv_ssim_f32(fa + f * fr, fb + f * fr, mc->h, mc->w);
            }
            snprintf(path, sizeof path, "%s/%s.a.bin", dir, mc->name);
            CHECK(write_raw(path, fa, n * 4) == 0, "write %s", path);
            snprintf(path, sizeof path, "%s/%s.b.bin", dir, mc->name);
            CHECK(write_raw(path, fb, n * 4) == 0, "write %s", path);
            free(fa), free(fb);
        } else {
            uint8_t *ua = malloc(n), *ub = malloc(n);
            for (size_t i = 0; i < n; i++) ua[i] = to_u8(a[i]), ub[i] = to_u8(b[i]);
            for (int f = 0; f < mc->n; f++) {
                mine[ci][2 * f] = mv_psnr_u8(ua + f * fr, ub + f * fr, mc->h, mc->w);
                mine[ci][2 * f + 1] = mv_ssim_u8(ua + f * fr, ub + f * fr, mc->h, mc->w);
            }
            snprintf(path, sizeof path, "%s/%s.a.bin", dir, mc->name);
            CHECK(write_raw(path, ua, n) == 0, "write %s", path);
            snprintf(path, sizeof path, "%s/%s.b.bin", dir, mc->name);
            CHECK(write_raw(path, ub, n) == 0, "write %s", path);
            free(ua), free(ub);
        }
        fprintf(man, "%s %s %d %d %d\n", mc->name, mc->f32 ? "f32" : "u8", mc->n, mc->h, mc->w);
        free(a), free(b);
    }
    fclose(man);
    int rc = tu_python("tools/ref_metrics.py %s", dir);
    CHECK(rc == 0, "tools/ref_metrics.py failed (exit %d)", rc);
    double worst_p = 0, worst_s = 0, smin = 1, smax = -1;
    for (int ci = 0; ci < NCASES && rc == 0; ci++) {
        const mcase *mc = &cases[ci];
        snprintf(path, sizeof path, "%s/%s.ref.bin", dir, mc->name);
        double *ref = read_f64(path, 2 * (size_t)mc->n);
        CHECK(ref != NULL, "cannot read %s", path);
        if (!ref) continue;
        for (int f = 0; f < mc->n; f++) {
            double dp = fabs(mine[ci][2 * f] - ref[2 * f]), ds = fabs(mine[ci][2 * f + 1] - ref[2 * f + 1]);
            CHECK(dp <= 1e-9 * fabs(ref[2 * f]) + 1e-9, "%s frame %d PSNR %.12g vs skimage %.12g", mc->name, f,
                  mine[ci][2 * f], ref[2 * f]);
            CHECK(ds <= 1e-6, "%s frame %d SSIM %.12g vs skimage %.12g", mc->name, f, mine[ci][2 * f + 1],
                  ref[2 * f + 1]);
            if (!(dp <= worst_p)) worst_p = dp;
            if (!(ds <= worst_s)) worst_s = ds;
            smin = fmin(smin, ref[2 * f + 1]), smax = fmax(smax, ref[2 * f + 1]);
        }
        free(ref);
    }
    printf("vs scikit-image: worst |dPSNR| %.3g dB, worst |dSSIM| %.3g (SSIM range covered %.3f .. %.3f)\n",
           worst_p, worst_s, smin, smax);
    CHECK(smin < 0.1 && smax > 0.95, "test cases should cover low and high SSIM (%.3f .. %.3f)", smin, smax);
    for (int ci = 0; ci < NCASES; ci++) free(mine[ci]);
}

static void test_properties(void) {
    enum { H = 24, W = 20, N = 5 };
    size_t fr = H * W * 3;
    uint8_t *a = malloc(fr * N), *b = malloc(fr * N);
    mv_rng rng;
    mv_rng_init(&rng, 99);
    float *u = malloc(sizeof(float) * fr * N);
    mv_rng_uniform(&rng, u, fr * N);
    for (size_t i = 0; i < fr * N; i++) a[i] = (uint8_t)(u[i] * 256), b[i] = (uint8_t)(a[i] / 2 + 40);
    /* identical frames */
    CHECK(isinf(mv_psnr_u8(a, a, H, W)) && mv_psnr_u8(a, a, H, W) > 0, "PSNR of identical frames is +inf");
    CHECK(fabs(mv_ssim_u8(a, a, H, W) - 1.0) < 1e-12, "SSIM of identical frames %.15g", mv_ssim_u8(a, a, H, W));
    /* symmetry */
    CHECK(mv_psnr_u8(a, b, H, W) == mv_psnr_u8(b, a, H, W), "PSNR symmetric");
    CHECK(fabs(mv_ssim_u8(a, b, H, W) - mv_ssim_u8(b, a, H, W)) < 1e-12, "SSIM symmetric");
    /* known MSE: constant difference 0.2 -> MSE 0.04 -> 13.9794 dB */
    float fa[H * W * 3], fb[H * W * 3];
    for (size_t i = 0; i < fr; i++) fa[i] = 0.3f, fb[i] = 0.5f;
    double p = mv_psnr_f32(fa, fb, H, W), want = -10 * log10((double)(0.5f - 0.3f) * (0.5f - 0.3f));
    CHECK(fabs(p - want) < 1e-9, "PSNR of a constant 0.2 difference: %.9g, want %.9g", p, want);
    /* clipping: values beyond [0,1] count as 0 or 1 */
    for (size_t i = 0; i < fr; i++) fa[i] = -3.0f, fb[i] = 7.0f;
    CHECK(fabs(mv_psnr_f32(fa, fb, H, W)) < 1e-12, "clipped -3 vs 7 is MSE 1 -> 0 dB");
    /* too small for the 11x11 window: NAN (scikit-image raises) */
    CHECK(isnan(mv_ssim_u8(a, b, 10, 30)) && isnan(mv_ssim_u8(a, b, 30, 10)), "SSIM of a frame < 11 px is NAN");
    /* batched helper equals per-frame calls, any thread count */
    double ps[N], ss[N];
    mv_metrics_u8_frames(ps, ss, a, b, N, H, W);
    int same = 1;
    for (int f = 0; f < N; f++)
        same &= ps[f] == mv_psnr_u8(a + f * fr, b + f * fr, H, W) && ss[f] == mv_ssim_u8(a + f * fr, b + f * fr, H, W);
    CHECK(same, "mv_metrics_u8_frames equals per-frame calls");
    /* u8 path == f32 path on u8/255 values */
    for (size_t i = 0; i < fr; i++) fa[i] = a[i] / 255.0f, fb[i] = b[i] / 255.0f;
    CHECK(fabs(mv_ssim_f32(fa, fb, H, W) - mv_ssim_u8(a, b, H, W)) < 1e-6, "u8 and f32 SSIM agree");
    CHECK(fabs(mv_psnr_f32(fa, fb, H, W) - mv_psnr_u8(a, b, H, W)) < 1e-5, "u8 and f32 PSNR agree");
    free(a), free(b), free(u);
}

/* `millivid compare`: JSON values equal the library's, and every bad input fails with one message. */
static void test_compare_cli(void) {
    const char *dir = tu_tmpdir("compare");
    const char *b = getenv("MV_BUILD");
    char bin[512], p[6][1100], cmd[8000];
    snprintf(bin, sizeof bin, "%s/millivid", b ? b : "build");
    enum { N = 2, T = 3, H = 16, W = 20 };
    size_t fr = H * W * 3, n = fr * N * T;
    uint8_t *a = malloc(n), *g = malloc(n);
    float *u = malloc(sizeof(float) * n);
    mv_rng rng;
    mv_rng_init(&rng, 7);
    mv_rng_uniform(&rng, u, n);
    for (size_t i = 0; i < n; i++) a[i] = (uint8_t)(u[i] * 256), g[i] = (uint8_t)(a[i] * 3 / 4 + 10);
    memcpy(g + fr, a + fr, fr); /* frame 1 identical: infinite PSNR -> null */
    const char *names[6] = {"ref.npy", "gen.npy", "small.npy", "float.npy", "out.json", "ref4.npy"};
    for (int i = 0; i < 6; i++) snprintf(p[i], sizeof p[i], "%s/%s", dir, names[i]);
    int64_t s5[5] = {N, T, H, W, 3}, s5b[5] = {N, T, H, W - 1, 3}, s4[4] = {N * T, H, W, 3};
    CHECK(mv_npy_save(p[0], MV_DT_U8, 5, s5, a) == MV_OK, "save: %s", mv_last_error());
    CHECK(mv_npy_save(p[1], MV_DT_U8, 5, s5, g) == MV_OK, "save: %s", mv_last_error());
    CHECK(mv_npy_save(p[2], MV_DT_U8, 5, s5b, g) == MV_OK, "save: %s", mv_last_error());
    CHECK(mv_npy_save(p[3], MV_DT_F32, 5, s5, u) == MV_OK, "save: %s", mv_last_error());
    CHECK(mv_npy_save(p[5], MV_DT_U8, 4, s4, a) == MV_OK, "save: %s", mv_last_error());
    int rc = tu_sh("%s compare --ref %s --gen %s --json %s --quiet", bin, p[0], p[1], p[4]);
    CHECK(rc == 0, "compare exit %d", rc);
    char *text = tu_slurp(p[4], NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL, "compare JSON %s unreadable", p[4]);
    if (root) {
        cJSON *jp = cJSON_GetObjectItem(root, "psnr"), *js = cJSON_GetObjectItem(root, "ssim");
        CHECK(cJSON_GetArraySize(jp) == N * T && cJSON_GetArraySize(js) == N * T, "one value per frame");
        double ssum = 0;
        int ok = 1;
        for (int f = 0; f < N * T; f++) {
            double wp = mv_psnr_u8(a + f * fr, g + f * fr, H, W), ws = mv_ssim_u8(a + f * fr, g + f * fr, H, W);
            cJSON *ep = cJSON_GetArrayItem(jp, f), *es = cJSON_GetArrayItem(js, f);
            ok &= isinf(wp) ? cJSON_IsNull(ep) : fabs(ep->valuedouble - wp) < 1e-9;
            ok &= fabs(es->valuedouble - ws) < 1e-9;
            ssum += ws;
        }
        CHECK(ok, "JSON per-frame values equal the library's, in order (null for identical frames)");
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(root, "psnr_mean")), "psnr_mean null with an identical frame");
        CHECK(fabs(cJSON_GetObjectItem(root, "ssim_mean")->valuedouble - ssum / (N * T)) < 1e-9, "ssim_mean");
        cJSON_Delete(root);
    }
    free(text);
    /* bad inputs: non-zero exit and one message naming the file and the problem */
    struct {
        const char *args, *want;
    } bad[] = {
        {"--ref %s/ref.npy --gen %s/small.npy", "shapes differ"},
        {"--ref %s/float.npy --gen %s/gen.npy", "uint8"},
        {"--ref %s/ref.npy --gen %s/missing.npy", "missing.npy"},
        {"--ref %s/ref4.npy --gen %s/ref.npy", "shapes differ"},
        {"--ref %s/ref.npy --wat %s", "unknown option"},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(bad); i++) {
        char args[3000], log[1200];
        snprintf(args, sizeof args, bad[i].args, dir, dir);
        snprintf(log, sizeof log, "%s/err%zu.txt", dir, i);
        snprintf(cmd, sizeof cmd, "%s compare %s >/dev/null 2>%s", bin, args, log);
        rc = tu_sh("%s", cmd);
        char *msg = tu_slurp(log, NULL);
        CHECK(rc != 0 && msg && strstr(msg, bad[i].want), "'%s': exit %d, message '%s' should mention '%s'", args,
              rc, msg ? msg : "", bad[i].want);
        free(msg);
    }
    free(a), free(g), free(u);
}

int main(void) {
    test_properties();
    test_against_skimage();
    test_compare_cli();
    return tu_finish();
}
