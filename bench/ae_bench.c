/* Autoencoder speed: training frames/s (one AdamW step: pyramid, forward, backward, update) at batch
 * 16 and encode frames/s (batch 32) at the mini shapes, next to the PyTorch twin (bench/torch_ae.py)
 * run in the same process tree at the same thread count. Times are the best of --reps calls.
 * Usage (from the repository root): ae_bench [--threads N] [--reps R] [--no-torch] [--paper]
 * --paper builds the paper-size autoencoder (ViT-B, 256x256) and times one forward pass instead. */
#include <math.h>

#include "core/config.h"
#include "core/core.h"
#include "core/rng.h"
#include "models/autoencoder.h"
#include "nn/nn.h"

static double best_of(int reps, void (*fn)(void *), void *ctx) {
    fn(ctx);
    double best = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = mv_now();
        fn(ctx);
        best = fmin(best, mv_now() - t0);
    }
    return best;
}

typedef struct {
    mv_ae *ae;
    mv_ae_work *w, *we;
    uint8_t *frames;
    float *patches, *lat;
    int keep[64], B, BE;
    long step;
} bench_ctx;

static void train_step(void *c) {
    bench_ctx *b = c;
    mv_params *p = &b->ae->params;
    mv_ae_pyramid_u8(b->ae, b->w, b->patches, b->frames, b->B);
    mv_params_zero_grad(p);
    mv_ae_train_step(b->ae, b->w, b->patches, b->keep, b->B, NULL);
    b->step++;
    adamw_update(p->data, p->grad, p->m, p->v, p->total, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.01f, b->step);
}

static void encode(void *c) {
    bench_ctx *b = c;
    mv_ae_pyramid_u8(b->ae, b->we, b->patches, b->frames, b->BE);
    mv_ae_encode(b->ae, b->we, b->lat, b->patches, b->BE);
}

/* Runs the PyTorch twin; fills its seconds per train step and per encode call (or leaves 0). */
static void run_torch(int threads, int B, int reps, double *train, double *enc) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "env -u OPENBLAS_CORETYPE LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp "
             "OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=%d /usr/bin/python3 bench/torch_ae.py %d %d %d",
             threads, threads, B, reps);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char name[64];
    double sec;
    while (fscanf(f, "%lf %63s", &sec, name) == 2) {
        if (!strcmp(name, "train_step")) *train = sec;
        if (!strcmp(name, "encode32")) *enc = sec;
    }
    pclose(f);
}

static int bench_paper(void) {
    mv_config cfg;
    mv_ae ae;
    mv_ae_work *w;
    if (mv_config_load(&cfg, "paper") || mv_ae_create(&ae, &cfg, MV_AE_ADAPTIVE, 0)) {
        fprintf(stderr, "ae_bench: %s\n", mv_last_error());
        return 1;
    }
    mv_ae_init_weights(&ae, 1);
    if (mv_ae_work_create(&w, &ae, 1, 0)) {
        fprintf(stderr, "ae_bench: %s\n", mv_last_error());
        return 1;
    }
    size_t hw3 = (size_t)ae.H * ae.H * 3;
    float *img = malloc(hw3 * 4), *pt = malloc((size_t)ae.T * ae.PD * 4), *lat = malloc((size_t)ae.T * ae.C * 4);
    float *out = malloc((size_t)ae.T * ae.PD * 4);
    mv_rng r;
    mv_rng_init(&r, 2);
    mv_rng_uniform(&r, img, hw3);
    int keep = 2;
    double t0 = mv_now();
    mv_ae_pyramid_f32(&ae, w, pt, img, 1);
    mv_ae_encode(&ae, w, lat, pt, 1);
    mv_ae_decode(&ae, w, out, lat, &keep, 1);
    double dt = mv_now() - t0;
    int finite = 1;
    for (size_t i = 0; i < (size_t)ae.T * ae.PD; i++) finite &= isfinite(out[i]);
    printf("paper autoencoder: %zu parameters, %d tokens/frame; one frame encode+decode %.2f s, output %s\n",
           ae.params.total, ae.T, dt, finite ? "finite" : "NOT FINITE");
    free(img), free(pt), free(lat), free(out);
    mv_ae_work_free(w);
    mv_ae_free(&ae);
    return finite ? 0 : 1;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, torch = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch")) torch = 0;
        else if (!strcmp(argv[i], "--paper")) return bench_paper();
        else {
            fprintf(stderr, "usage: ae_bench [--threads N] [--reps R] [--no-torch] [--paper]\n");
            return 2;
        }
    }
    mv_set_threads(threads);
    mv_config cfg;
    mv_ae ae;
    bench_ctx b = {.ae = &ae, .B = 16, .BE = 32};
    if (mv_config_load(&cfg, "mini") || mv_ae_create(&ae, &cfg, MV_AE_ADAPTIVE, 1) ||
        mv_ae_work_create(&b.w, &ae, b.B, 1) || mv_ae_work_create(&b.we, &ae, b.BE, 0)) {
        fprintf(stderr, "ae_bench: %s\n", mv_last_error());
        return 1;
    }
    mv_ae_init_weights(&ae, 1);
    size_t hw3 = (size_t)ae.H * ae.H * 3;
    b.frames = malloc(b.BE * hw3);
    b.patches = malloc((size_t)b.BE * ae.T * ae.PD * 4);
    b.lat = malloc((size_t)b.BE * ae.T * ae.C * 4);
    mv_rng r;
    mv_rng_init(&r, 3);
    for (size_t i = 0; i < b.BE * hw3; i++) b.frames[i] = (uint8_t)mv_rng_below(&r, 256);
    for (int i = 0; i < b.B; i++) b.keep[i] = i % ae.L;
    double c_train = best_of(reps, train_step, &b), c_enc = best_of(reps, encode, &b);
    double t_train = 0, t_enc = 0;
    if (torch) run_torch(threads, b.B, reps, &t_train, &t_enc);
    printf("autoencoder (mini: 64x64, D %d, depth %d, %d tokens/frame), %d threads, best of %d\n", ae.D, ae.depth,
           ae.T, threads, reps);
    printf("  %-28s %12s %12s %8s\n", "", "C frames/s", "torch fr/s", "C/torch");
    printf("  %-28s %12.1f %12.1f %8.2f\n", "train (batch 16, AdamW)", b.B / c_train, t_train > 0 ? b.B / t_train : 0,
           t_train > 0 ? t_train / c_train : 0);
    printf("  %-28s %12.1f %12.1f %8.2f\n", "encode (batch 32)", b.BE / c_enc, t_enc > 0 ? b.BE / t_enc : 0,
           t_enc > 0 ? t_enc / c_enc : 0);
    free(b.frames), free(b.patches), free(b.lat);
    mv_ae_work_free(b.w);
    mv_ae_work_free(b.we);
    mv_ae_free(&ae);
    return 0;
}
