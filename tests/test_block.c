/* The shared transformer block against its PyTorch twin (tools/ae_twin.py block): forward output,
 * input / condition gradients and every parameter gradient, for the plain block, the adaLN block
 * with a per-token condition and with a per-sample condition. Also: the inference path (scratch,
 * no saved activations) gives the same output; registration names and init follow §0; the bf16
 * training path against the bf16 linear layers and fp32 within rounding bounds. */
#include <math.h>

#include "core/core.h"
#include "core/gemm.h"
#include "core/params.h"
#include "core/rng.h"
#include "io/tensorfile.h"
#include "models/block.h"
#include "nn/nn.h"
#include "testutil.h"

static void fill(mv_rng *r, float *x, size_t n, float scale) {
    mv_rng_normal(r, x, n);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

static int write_case(const char *path, const mv_params *p, const float *x, const float *c,
                      const float *dout, int B, int T, int D, int heads, int adaln, int per_sample) {
    mv_st_writer *w;
    char buf[32];
    if (mv_st_writer_open(&w, path)) return 1;
    snprintf(buf, sizeof buf, "%d", heads);
    mv_st_writer_meta(w, "heads", buf);
    snprintf(buf, sizeof buf, "%d", adaln);
    mv_st_writer_meta(w, "adaln", buf);
    for (int i = 0; i < p->count; i++) {
        char name[160];
        snprintf(name, sizeof name, "blk.%s", p->info[i].name);
        mv_st_writer_declare(w, name, MV_DT_F32, p->info[i].ndim, p->info[i].shape);
    }
    int64_t sx[3] = {B, T, D}, sc[2] = {B, D};
    mv_st_writer_declare(w, "x", MV_DT_F32, 3, sx);
    if (adaln) mv_st_writer_declare(w, "c", MV_DT_F32, per_sample ? 2 : 3, per_sample ? sc : sx);
    mv_st_writer_declare(w, "dout", MV_DT_F32, 3, sx);
    for (int i = 0; i < p->count; i++) mv_st_writer_write_f32(w, mv_params_data(p, i), p->info[i].numel);
    mv_st_writer_write_f32(w, x, (size_t)B * T * D);
    if (adaln) mv_st_writer_write_f32(w, c, (size_t)(per_sample ? B : B * T) * D);
    mv_st_writer_write_f32(w, dout, (size_t)B * T * D);
    return mv_st_writer_finish(w) != MV_OK;
}

static void run_case(int adaln, int per_sample, int T) {
    const int B = 2, D = 32, H = 2, N = B * T;
    char what[64];
    snprintf(what, sizeof what, "adaln=%d per_sample=%d T=%d", adaln, per_sample, T);
    mv_params p;
    mv_params_init(&p);
    mv_block blk;
    CHECK(mv_block_register(&blk, &p, "", D, H, adaln) == MV_OK, "register: %s", mv_last_error());
    blk.cond_per_sample = per_sample;
    CHECK(p.count == (adaln ? 12 : 10), "%d tensors", p.count);
    CHECK(mv_params_alloc(&p, 1) == MV_OK, "alloc");
    mv_rng r;
    mv_rng_init(&r, 11 + adaln * 2 + per_sample);
    mv_block_init(&blk, &p, &r);
    /* official init: RMSNorm 1, biases 0, adaLN 0; then randomise so every path is exercised */
    CHECK(mv_params_data(&p, blk.qnorm_w)[3] == 1.0f && mv_params_data(&p, blk.qkv_b)[5] == 0.0f,
          "init values");
    fill(&r, p.data, p.total, 0.15f);
    size_t nc = (size_t)(per_sample ? B : N) * D;
    float *x = malloc(N * D * 4), *x2 = malloc(N * D * 4), *c = malloc(nc * 4), *dout = malloc(N * D * 4);
    float *dc = calloc(nc, 4);
    fill(&r, x, N * D, 1.0f);
    fill(&r, c, nc, 1.0f);
    fill(&r, dout, N * D, 1.0f);
    char dname[64];
    snprintf(dname, sizeof dname, "block_%d_%d_%d", adaln, per_sample, T);
    const char *dir = tu_tmpdir(dname);
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    CHECK(!write_case(in, &p, x, c, dout, B, T, D, H, adaln, per_sample), "write: %s", mv_last_error());

    mv_block_acts acts;
    CHECK(mv_block_acts_alloc(&acts, &blk, N, T) == MV_OK, "acts");
    size_t ns = mv_block_scratch_floats(&blk, N, T);
    float *scratch = mv_alloc(ns * 4);
    memcpy(x2, x, N * D * 4);
    mv_block_forward(&blk, &p, &acts, scratch, x, adaln ? c : NULL, NULL, B, T);
    mv_block_forward(&blk, &p, NULL, scratch, x2, adaln ? c : NULL, NULL, B, T);
    CHECK(!memcmp(x, x2, N * D * 4), "%s: inference path equals training path", what);
    mv_params_zero_grad(&p);
    memcpy(x2, dout, N * D * 4);
    mv_block_backward(&blk, &p, &acts, scratch, x2, adaln ? dc : NULL, NULL, B, T);

    CHECK(tu_python("tools/ae_twin.py block %s %s", in, out) == 0, "python twin ran");
    mv_safetensors f;
    if (mv_st_open(&f, out) == MV_OK) {
        float *ref = malloc(p.total * 4 + N * D * 4);
        char name[200];
        snprintf(name, sizeof name, "%s: y", what);
        if (!mv_st_read_f32(&f, "y", ref, N * D)) tu_close(name, x, ref, N * D, 1e-5, 1e-4);
        snprintf(name, sizeof name, "%s: dx", what);
        if (!mv_st_read_f32(&f, "dx", ref, N * D)) tu_close(name, x2, ref, N * D, 1e-5, 1e-4);
        if (adaln && !mv_st_read_f32(&f, "dc", ref, nc)) {
            snprintf(name, sizeof name, "%s: dc", what);
            tu_close(name, dc, ref, nc, 1e-5, 1e-4);
        }
        for (int i = 0; i < p.count; i++) {
            char key[160];
            snprintf(key, sizeof key, "grad.%s", p.info[i].name);
            snprintf(name, sizeof name, "%s: d %s", what, p.info[i].name);
            int ok = mv_st_read_f32(&f, key, ref, p.info[i].numel) == MV_OK;
            CHECK(ok, "%s present: %s", key, mv_last_error());
            if (ok) tu_close(name, mv_params_grad(&p, i), ref, p.info[i].numel, 1e-5, 1e-4);
        }
        free(ref);
        mv_st_close(&f);
    } else {
        CHECK(0, "open twin output: %s", mv_last_error());
    }
    mv_free(scratch);
    mv_block_acts_free(&acts);
    mv_params_free(&p);
    free(x), free(x2), free(c), free(dout), free(dc);
}

static void test_names(void) {
    mv_params p;
    mv_params_init(&p);
    mv_block blk;
    CHECK(mv_block_register(&blk, &p, "decoder.transformer.blocks.3.", 48, 2, 1) == MV_OK, "register");
    CHECK(!strcmp(p.info[0].name, "decoder.transformer.blocks.3.attn.qkv.weight"), "%s", p.info[0].name);
    CHECK(!strcmp(p.info[11].name, "decoder.transformer.blocks.3.adaLN_modulation.1.bias"), "%s",
          p.info[11].name);
    CHECK(p.info[2].shape[0] == 24 && p.info[10].shape[0] == 288 && p.info[10].shape[1] == 48, "shapes");
    CHECK(mv_block_register(&blk, &p, "x.", 50, 4, 0) != MV_OK, "width not divisible by heads refused");
    mv_params_free(&p);
}

/* The block's vectorised GELU against nn.h's reference over a wide range of inputs. */
static void test_gelu(void) {
    size_t n = 20001;
    float *x = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4);
    for (size_t i = 0; i < n; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = 50.0f, x[4] = -50.0f;
    gelu_forward(a, x, n);
    mv_block_gelu_forward(b, x, n);
    tu_close("block GELU vs nn gelu_forward", b, a, n, 2e-6, 2e-6);
    x[0] = NAN;
    mv_block_gelu_forward(b, x, 1);
    CHECK(isnan(b[0]), "GELU(NaN) is NaN, got %g", b[0]);
    free(x), free(a), free(b);
}

/* The row-map condition path (mv_block_forward_rows / backward_rows: adaLN once per distinct row)
 * against the per-token path on the expanded condition c[n] = cu[uidx[n]]: the same output and input
 * gradient, parameter and condition gradients equal up to summation order. */
static void test_rows(void) {
    const int B = 3, T = 11, D = 64, H = 4, N = B * T, U = 5;
    mv_params p;
    mv_params_init(&p);
    mv_block blk;
    CHECK(mv_block_register(&blk, &p, "", D, H, 1) == MV_OK && mv_params_alloc(&p, 1) == MV_OK, "setup");
    mv_rng r;
    mv_rng_init(&r, 77);
    fill(&r, p.data, p.total, 0.1f);
    float *cu = malloc(U * D * 4), *c = malloc(N * D * 4), *x1 = malloc(N * D * 4), *x2 = malloc(N * D * 4);
    float *d1 = malloc(N * D * 4), *d2 = malloc(N * D * 4), *dc = calloc(N * D, 4), *dcu = calloc(U * D, 4);
    float *dcu_ref = calloc(U * D, 4), *g1 = malloc(p.total * 4), *x3 = malloc(N * D * 4);
    int uidx[3 * 11];
    for (int n = 0; n < N; n++) uidx[n] = n % T < 4 ? (n / T) % 2 : 2 + (n * 7) % 3; /* mixed, unsorted */
    fill(&r, cu, U * D, 1.0f);
    fill(&r, x1, N * D, 1.0f);
    fill(&r, d1, N * D, 1.0f);
    for (int n = 0; n < N; n++) memcpy(c + (size_t)n * D, cu + (size_t)uidx[n] * D, D * 4);
    memcpy(x2, x1, N * D * 4);
    memcpy(x3, x1, N * D * 4);
    memcpy(d2, d1, N * D * 4);
    mv_block_acts acts;
    CHECK(mv_block_acts_alloc(&acts, &blk, N, T) == MV_OK, "acts");
    float *scratch = mv_alloc(mv_block_scratch_floats(&blk, N, T) * 4);
    mv_params_zero_grad(&p);
    mv_block_forward(&blk, &p, &acts, scratch, x1, c, NULL, B, T);
    mv_block_backward(&blk, &p, &acts, scratch, d1, dc, NULL, B, T);
    memcpy(g1, p.grad, p.total * 4);
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) dcu_ref[uidx[n] * D + d] += dc[(size_t)n * D + d];
    mv_params_zero_grad(&p);
    mv_block_forward_rows(&blk, &p, &acts, scratch, x2, cu, uidx, U, NULL, B, T);
    mv_block_backward_rows(&blk, &p, &acts, scratch, d2, dcu, NULL, B, T);
    tu_close("rows: y equals per-token y", x2, x1, N * D, 1e-6, 1e-6);
    tu_close("rows: dx equals per-token dx", d2, d1, N * D, 1e-6, 1e-5);
    tu_close("rows: dcu equals summed per-token dc", dcu, dcu_ref, U * D, 1e-5, 1e-5);
    tu_close("rows: parameter grads", p.grad, g1, p.total, 1e-5, 1e-5);
    mv_block_forward_rows(&blk, &p, NULL, scratch, x3, cu, uidx, U, NULL, B, T);
    CHECK(!memcmp(x3, x2, N * D * 4), "rows: inference path equals training path");
    mv_free(scratch);
    mv_block_acts_free(&acts);
    mv_params_free(&p);
    free(cu), free(c), free(x1), free(x2), free(x3), free(d1), free(d2), free(dc), free(dcu), free(dcu_ref),
        free(g1);
}

/* ---- bf16 training path (acts made under MV_MATMUL_BF16: every matmul operand rounded once) ---- */

typedef struct {
    float *y, *dx, *dcu, *grad;
    int used;
} bf16_run;

/* Forward + backward of the row-mapped adaLN block with a context mask; acts made under `alloc_prec`,
 * run under `run_prec`. */
static void bf16_block_run(bf16_run *o, mv_block *blk, mv_params *p, mv_matmul_precision alloc_prec,
                           mv_matmul_precision run_prec, const float *x, const float *cu, const int *uidx, int U,
                           const float *dout, const uint8_t *mask, int B, int T) {
    int D = blk->D, N = B * T;
    mv_block_acts acts;
    mv_set_matmul_precision(alloc_prec);
    CHECK(mv_block_acts_alloc(&acts, blk, N, T) == MV_OK, "acts");
    float *scratch = mv_alloc(mv_block_scratch_floats(blk, N, T) * 4);
    o->y = malloc(N * D * 4), o->dx = malloc(N * D * 4), o->dcu = calloc(U * D, 4), o->grad = malloc(p->total * 4);
    memcpy(o->y, x, N * D * 4);
    memcpy(o->dx, dout, N * D * 4);
    mv_set_matmul_precision(run_prec);
    mv_params_zero_grad(p);
    mv_block_forward_rows(blk, p, &acts, scratch, o->y, cu, uidx, U, mask, B, T);
    o->used = acts.bf16_used;
    mv_block_backward_rows(blk, p, &acts, scratch, o->dx, o->dcu, mask, B, T);
    memcpy(o->grad, p->grad, p->total * 4);
    mv_set_matmul_precision(MV_MATMUL_FP32);
    mv_free(scratch);
    mv_block_acts_free(&acts);
}

static void bf16_run_free(bf16_run *o) { free(o->y), free(o->dx), free(o->dcu), free(o->grad); }

static double rel_err(const float *got, const float *want, size_t n) {
    double e = 0, w = 0;
    for (size_t i = 0; i < n; i++) e += pow((double)got[i] - want[i], 2), w += pow(want[i], 2);
    return sqrt(e / fmax(w, 1e-300));
}

/* The bf16 path against (1) the bf16 linear layers (core/gemm.h: the same operands rounded per call,
 * so the same products up to fp32 summation order and the odd bf16 rounding flip that follows, one
 * element off by 2^-8 of itself: relative error <= 1e-4 per tensor) and (2) fp32: every matmul has
 * both operands rounded (2u, u = 2^-8) and the gradients pass through up to four matmuls in turn
 * (out, then d out, d hidden, d mod): relative error <= 8u = 0.031 per tensor. Also: it repeats bit
 * for bit. */
static void test_bf16_path(void) {
    const int B = 2, T = 48, D = 64, H = 2, N = B * T, U = 5;
    mv_params p;
    mv_params_init(&p);
    mv_block blk;
    CHECK(mv_block_register(&blk, &p, "", D, H, 1) == MV_OK && mv_params_alloc(&p, 1) == MV_OK, "setup");
    mv_rng r;
    mv_rng_init(&r, 78);
    fill(&r, p.data, p.total, 0.1f);
    float *cu = malloc(U * D * 4), *x = malloc(N * D * 4), *dout = malloc(N * D * 4);
    int uidx[2 * 48];
    uint8_t *mask = malloc((size_t)B * T * T);
    for (int n = 0; n < N; n++) uidx[n] = n % T < 16 ? 0 : 1 + (n * 7) % 4;
    for (int b = 0; b < B; b++) /* the first 16 tokens attend only to each other */
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++) mask[((size_t)b * T + i) * T + j] = !(i < 16 && j >= 16);
    fill(&r, cu, U * D, 1.0f);
    fill(&r, x, N * D, 1.0f);
    fill(&r, dout, N * D, 1.0f);
    bf16_run f32, lin, dir, dir2;
    bf16_block_run(&f32, &blk, &p, MV_MATMUL_FP32, MV_MATMUL_FP32, x, cu, uidx, U, dout, mask, B, T);
    bf16_block_run(&lin, &blk, &p, MV_MATMUL_FP32, MV_MATMUL_BF16, x, cu, uidx, U, dout, mask, B, T);
    bf16_block_run(&dir, &blk, &p, MV_MATMUL_BF16, MV_MATMUL_BF16, x, cu, uidx, U, dout, mask, B, T);
    bf16_block_run(&dir2, &blk, &p, MV_MATMUL_BF16, MV_MATMUL_BF16, x, cu, uidx, U, dout, mask, B, T);
    CHECK(!f32.used && !lin.used, "the fp32 path and acts made under fp32 do not take the bf16 path");
    if (!dir.used) {
        printf("note: no optimised bf16 matmul on this CPU; the block's bf16 path is not taken\n");
    } else {
        CHECK(!memcmp(dir.y, dir2.y, N * D * 4) && !memcmp(dir.dx, dir2.dx, N * D * 4) &&
                  !memcmp(dir.grad, dir2.grad, p.total * 4),
              "bf16 block path repeats bit for bit");
        const char *names[4] = {"y", "dx", "dcu", "parameter grads"};
        size_t n[4] = {(size_t)N * D, (size_t)N * D, (size_t)U * D, p.total};
        float *d[4] = {dir.y, dir.dx, dir.dcu, dir.grad}, *l[4] = {lin.y, lin.dx, lin.dcu, lin.grad},
              *f[4] = {f32.y, f32.dx, f32.dcu, f32.grad};
        for (int i = 0; i < 4; i++) {
            double el = rel_err(d[i], l[i], n[i]), ef = rel_err(d[i], f[i], n[i]);
            CHECK(el <= 1e-4, "bf16 block %s vs bf16 linear layers: relative error %.2e", names[i], el);
            CHECK(ef <= 8.0 / 256, "bf16 block %s vs fp32: relative error %.2e", names[i], ef);
            printf("bf16 block %s: relative error %.1e vs the bf16 linear layers, %.1e vs fp32\n", names[i], el, ef);
        }
        /* per parameter tensor too (a small tensor could hide in the total) */
        for (int i = 0; i < p.count; i++) {
            double ef = rel_err(dir.grad + p.info[i].offset, f32.grad + p.info[i].offset, p.info[i].numel);
            CHECK(ef <= 8.0 / 256, "bf16 block d %s vs fp32: relative error %.2e", p.info[i].name, ef);
        }
    }
    bf16_run_free(&f32), bf16_run_free(&lin), bf16_run_free(&dir), bf16_run_free(&dir2);
    mv_params_free(&p);
    free(cu), free(x), free(dout), free(mask);
}

int main(void) {
    mv_set_threads(2);
    test_rows();
    test_bf16_path();
    test_names();
    test_gelu();
    run_case(0, 0, 7);
    run_case(1, 0, 7);
    run_case(1, 1, 7);
    run_case(1, 1, 1);
    return tu_finish();
}
