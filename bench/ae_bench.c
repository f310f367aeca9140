/* Autoencoder speed: training frames/s (one AdamW step: pyramid, forward, backward, update) at batch
 * 16 and encode frames/s (batch 32) at the mini shapes, next to the PyTorch twin (bench/torch_ae.py)
 * run in the same process tree at the same thread count. Times are the best of --reps calls, over
 * --rounds alternating rounds of C then PyTorch (the machine is shared: alternating and taking the
 * best of each side keeps a burst of load from landing on one side only).
 * Usage (from the repository root):
 *   ae_bench [--threads N] [--reps R] [--rounds K] [--no-torch] [--encode-only] [--paper]
 * --paper builds the paper-size autoencoder (ViT-B, 256x256) and times one forward pass instead. */
#include "benchutil.h"
#include "io/config.h"
#include "core/core.h"
#include "core/rng.h"
#include "models/autoencoder.h"
#include "nn/nn.h"

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

/* Runs the PyTorch twin; lowers its seconds (wall, CPU) per train step and per encode call. */
static void run_torch(int threads, int B, int reps, double *train, double *enc, double *train_cpu,
                      double *enc_cpu) {
    static const char *const names[4] = {"train_step", "encode32", "train_step_cpu", "encode32_cpu"};
    double sec[4] = {*train, *enc, *train_cpu, *enc_cpu};
    bench_torch("torch_ae.py", threads, B, reps, names, sec, 4);
    *train = sec[0], *enc = sec[1], *train_cpu = sec[2], *enc_cpu = sec[3];
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
    int threads = 2, reps = 5, torch = 1, rounds = 3, only_encode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch")) torch = 0;
        else if (!strcmp(argv[i], "--encode-only")) only_encode = 1, torch = 0;
        else if (!strcmp(argv[i], "--paper")) return bench_paper();
        else {
            fprintf(stderr, "usage: ae_bench [--threads N] [--reps R] [--rounds K] [--no-torch] [--encode-only] [--paper]\n");
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
    double c_train = 1e30, c_enc = 1e30, t_train = 1e30, t_enc = 1e30;
    double cc_train = 1e30, cc_enc = 1e30, tc_train = 1e30, tc_enc = 1e30; /* CPU seconds */
    for (int k = 0; k < rounds; k++) {
        if (!only_encode) c_train = fmin(c_train, bench_best_of(reps, train_step, &b, &cc_train));
        c_enc = fmin(c_enc, bench_best_of(reps, encode, &b, &cc_enc));
        if (torch) run_torch(threads, b.B, reps, &t_train, &t_enc, &tc_train, &tc_enc);
    }
    printf("autoencoder (mini: 64x64, D %d, depth %d, %d tokens/frame), %d threads, best of %d x %d rounds\n",
           ae.D, ae.depth, ae.T, threads, reps, rounds);
    printf("  %-26s %11s %11s %8s   %13s %13s %8s\n", "", "C frames/s", "torch fr/s", "C/torch", "C fr/cpu-s",
           "torch fr/cpu-s", "C/torch");
    const char *names[2] = {"train (batch 16, AdamW)", "encode (batch 32)"};
    double n[2] = {b.B, b.BE}, cw[2] = {c_train, c_enc}, tw[2] = {t_train, t_enc}, cc[2] = {cc_train, cc_enc},
           tc[2] = {tc_train, tc_enc};
    for (int i = 0; i < 2; i++) {
        int ht = tw[i] < 1e29, hc = tc[i] < 1e29;
        printf("  %-26s %11.1f %11.1f %8.2f   %13.1f %13.1f %8.2f\n", names[i], n[i] / cw[i], ht ? n[i] / tw[i] : 0,
               ht ? tw[i] / cw[i] : 0, n[i] / cc[i], hc ? n[i] / tc[i] : 0, hc ? tc[i] / cc[i] : 0);
    }
    free(b.frames), free(b.patches), free(b.lat);
    mv_ae_work_free(b.w);
    mv_ae_work_free(b.we);
    mv_ae_free(&ae);
    return 0;
}
