/* The hierarchical autoencoder:
 *  - the official reference vectors (../shared/reference/official_tiny.safetensors, tiny config
 *    L=3, 32x32, P=4, C=8, D=48, depth 2, heads 2) load into our encoder / decoder and reproduce the
 *    *.fp32 outputs (token indices, latents, decoder patches at kept level 1, the level-0 image);
 *  - one training step (loss, per-level losses, every parameter gradient) against the PyTorch twin
 *    tools/ae_twin.py for both variants;
 *  - checkpoint files: round trip, wrong model / config messages, optimizer state, log truncation;
 *  - the CLI: train-ae resume is bit-exact, encode writes per-level BF16 latents, ae-eval runs, and
 *    bad input (other model, other frame size, corrupt file, bad level) fails with a message. */
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/config.h"
#include "core/core.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "testutil.h"

static int tiny_config(mv_config *c, int D) {
    const char *sets[] = {"image_size=32", "levels=3", "patch=4", "latent_channels=8", "ae.depth=2",
                          "ae.heads=2", "millivid.windows=[1,4,16]", "millivid.budget=64",
                          "framepack.context=[1,4,16]", "ae.batch=4", "ae.warmup=2"};
    if (mv_config_load(c, "mini")) return 0;
    for (size_t i = 0; i < MV_ARRAY_LEN(sets); i++)
        if (mv_config_set(c, sets[i])) return 0;
    c->ae_width = D;
    return mv_config_validate(c) == MV_OK;
}

/* CHW [3, H, W] -> HWC [H, W, 3] */
static void chw_to_hwc(float *dst, const float *src, int H, int W) {
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < H * W; i++) dst[i * 3 + c] = src[c * H * W + i];
}

static void test_official(void) {
    mv_config cfg;
    CHECK(tiny_config(&cfg, 48), "tiny config: %s", mv_last_error());
    mv_ae ae;
    if (mv_ae_create(&ae, &cfg, MV_AE_ADAPTIVE, 0)) {
        CHECK(0, "create: %s", mv_last_error());
        return;
    }
    CHECK(ae.T == 84 && ae.params.count == 54, "T %d, %d tensors (54 expected)", ae.T, ae.params.count);
    size_t values = 0;
    for (int i = 0; i < ae.params.count; i++) values += ae.params.info[i].numel;
    CHECK(values == 146552, "%zu values (146552 expected)", values);
    mv_safetensors f;
    if (mv_st_open(&f, tu_official_ref())) {
        CHECK(0, "open reference: %s", mv_last_error());
        mv_ae_free(&ae);
        return;
    }
    /* state-dict order equals the official listing order */
    CHECK(!strcmp(ae.params.info[20].name, "encoder.level_embedding.weight") &&
              !strcmp(ae.params.info[53].name, "decoder.unbottleneck.bias"), "order");
    CHECK(mv_st_load_params(&f, &ae.params, ae.params.data, "", 1) == MV_OK, "load: %s", mv_last_error());
    mv_ae_work *w = NULL;
    CHECK(mv_ae_work_create(&w, &ae, 1, 0) == MV_OK, "work");
    const mv_tensor_view *idx = mv_st_find(&f, "ae.indices_lhw");
    int idx_ok = idx && idx->numel == 84 * 3;
    for (int t = 0; idx_ok && t < 84; t++) {
        const int32_t *r = (const int32_t *)idx->data + t * 3;
        idx_ok = r[0] == ae.tok_level[t] && r[1] == ae.tok_row[t] && r[2] == ae.tok_col[t];
    }
    CHECK(idx_ok, "token (level, row, col) order matches ae.indices_lhw");
    float img_chw[3 * 32 * 32], img[32 * 32 * 3], ref[84 * 48], lat[84 * 8], lat_in[84 * 8],
        out[84 * 48], rec[32 * 32 * 3];
    mv_st_read_f32(&f, "ae.image", img_chw, 3 * 32 * 32);
    chw_to_hwc(img, img_chw, 32, 32);
    float *patches = malloc(84 * 48 * sizeof(float));
    mv_ae_pyramid_f32(&ae, w, patches, img, 1);
    mv_ae_encode(&ae, w, lat, patches, 1);
    mv_st_read_f32(&f, "ae.latents.fp32", ref, 84 * 8);
    tu_close("official encoder latents (fp32)", lat, ref, 84 * 8, 1e-5, 1e-4);
    mv_st_read_f32(&f, "ae.latents.official", ref, 84 * 8);
    tu_close("official encoder latents (bf16 q/k)", lat, ref, 84 * 8, 2e-3, 0);
    int keep = 1;
    mv_st_read_f32(&f, "ae.decoder_in_level1", lat_in, 84 * 8);
    mv_ae_decode(&ae, w, out, lat_in, &keep, 1);
    mv_st_read_f32(&f, "ae.decoder_out_patches_level1.fp32", ref, 84 * 48);
    tu_close("official decoder patches at level 1 (fp32)", out, ref, 84 * 48, 1e-5, 1e-4);
    mv_ae_decode(&ae, w, out, lat, &keep, 1); /* our own latents: zeroing happens inside */
    tu_close("decoder from our latents", out, ref, 84 * 48, 1e-5, 1e-4);
    mv_ae_image0(&ae, rec, out, 1);
    mv_st_read_f32(&f, "ae.decoder_out_image0_level1.fp32", img_chw, 3 * 32 * 32);
    chw_to_hwc(img, img_chw, 32, 32);
    tu_close("official level-0 image at level 1", rec, img, 32 * 32 * 3, 1e-5, 1e-4);
    free(patches);
    mv_ae_work_free(w);
    mv_st_close(&f);
    mv_ae_free(&ae);
}

/* ---- one training step against the PyTorch twin ---- */

static mv_status write_step(const char *path, const mv_ae *ae, const float *imgs, const int *keep, int B) {
    mv_st_writer *w;
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"levels\": %d, \"patch\": %d, \"latent\": %d, \"width\": %d, \"depth\": %d, \"heads\": %d, "
             "\"variant\": \"%s\"}", ae->L, ae->P, ae->C, ae->D, ae->depth, ae->heads, mv_ae_variant_name(ae->variant));
    MV_TRY(mv_st_writer_open(&w, path));
    mv_st_writer_meta(w, "config", cfg);
    const mv_params *p = &ae->params;
    for (int i = 0; i < p->count; i++) mv_st_writer_declare(w, p->info[i].name, MV_DT_F32, p->info[i].ndim, p->info[i].shape);
    int64_t si[4] = {B, ae->H, ae->H, 3}, sk[1] = {B};
    mv_st_writer_declare(w, "batch.images", MV_DT_F32, 4, si);
    mv_st_writer_declare(w, "batch.levels", MV_DT_I32, 1, sk);
    for (int i = 0; i < p->count; i++) mv_st_writer_write_f32(w, mv_params_data(p, i), p->info[i].numel);
    mv_st_writer_write_f32(w, imgs, (size_t)B * ae->H * ae->H * 3);
    mv_st_writer_write(w, keep, (size_t)B * sizeof(int32_t));
    return mv_st_writer_finish(w);
}

static float max_abs(const float *x, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

static void test_twin_step(mv_ae_variant variant) {
    const int B = 4;
    mv_config cfg;
    CHECK(tiny_config(&cfg, 32), "tiny config");
    mv_ae ae;
    if (mv_ae_create(&ae, &cfg, variant, 1)) {
        CHECK(0, "create: %s", mv_last_error());
        return;
    }
    mv_ae_init_weights(&ae, 5);
    /* adaLN-Zero starts at zero, which would hide most decoder gradients: perturb every weight */
    mv_rng r;
    mv_rng_init(&r, 99);
    float *noise = malloc(ae.params.total * sizeof(float));
    mv_rng_normal(&r, noise, ae.params.total);
    for (size_t i = 0; i < ae.params.total; i++) ae.params.data[i] += 0.05f * noise[i];
    free(noise);
    size_t hw3 = (size_t)ae.H * ae.H * 3;
    float *imgs = malloc(B * hw3 * sizeof(float)), *patches = malloc((size_t)B * ae.T * ae.PD * sizeof(float));
    /* smooth images so every level has structure */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < ae.H; i++)
            for (int j = 0; j < ae.H; j++)
                for (int c = 0; c < 3; c++)
                    imgs[b * hw3 + (i * ae.H + j) * 3 + c] =
                        0.5f + 0.4f * sinf(0.3f * (b + 1) * i + 0.2f * j * (c + 1)) * cosf(0.1f * j + b);
    int keep[4] = {0, 2, 1, 0};
    mv_ae_work *w = NULL;
    CHECK(mv_ae_work_create(&w, &ae, B, 1) == MV_OK, "work: %s", mv_last_error());
    mv_ae_pyramid_f32(&ae, w, patches, imgs, B);
    mv_params_zero_grad(&ae.params);
    float levels[MV_MAX_LEVELS];
    float loss = mv_ae_train_step(&ae, w, patches, keep, B, levels);
    const char *dir = tu_tmpdir(variant ? "ae_twin_cascaded" : "ae_twin_adaptive");
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    CHECK(write_step(in, &ae, imgs, keep, B) == MV_OK, "write: %s", mv_last_error());
    CHECK(tu_python("tools/ae_twin.py step %s %s", in, out) == 0, "twin ran");
    mv_safetensors f;
    if (mv_st_open(&f, out) == MV_OK) {
        float ref[MV_MAX_LEVELS];
        mv_st_read_f32(&f, "loss", ref, 1);
        CHECK(fabsf(loss - ref[0]) <= 1e-4f * fabsf(ref[0]), "%s loss %.7g vs torch %.7g",
              mv_ae_variant_name(variant), loss, ref[0]);
        mv_st_read_f32(&f, "loss_levels", ref, ae.L);
        tu_close("per-level losses", levels, ref, ae.L, 0, 1e-4);
        float *g = malloc(ae.params.total * sizeof(float));
        int zero_grads = 0;
        for (int i = 0; i < ae.params.count; i++) {
            char key[200], what[240];
            const mv_param_info *pi = &ae.params.info[i];
            snprintf(key, sizeof key, "grad.%s", pi->name);
            snprintf(what, sizeof what, "%s d %s", mv_ae_variant_name(variant), pi->name);
            if (mv_st_read_f32(&f, key, g, pi->numel)) {
                CHECK(0, "%s", mv_last_error());
                continue;
            }
            float m = max_abs(g, pi->numel);
            zero_grads += m == 0;
            tu_close(what, mv_params_grad(&ae.params, i), g, pi->numel, 1e-4 * m + 1e-9, 1e-4);
        }
        CHECK(zero_grads == 0, "%d parameters have an all-zero gradient", zero_grads);
        free(g);
        mv_st_close(&f);
    } else {
        CHECK(0, "open twin output: %s", mv_last_error());
    }
    mv_ae_work_free(w);
    free(imgs);
    free(patches);
    mv_ae_free(&ae);
}

/* ---- checkpoint files ---- */

static void test_checkpoint(void) {
    mv_config cfg;
    CHECK(tiny_config(&cfg, 32), "tiny config");
    mv_ae ae, ae2;
    if (mv_ae_create(&ae, &cfg, MV_AE_CASCADED, 1)) return;
    mv_ae_init_weights(&ae, 3);
    for (size_t i = 0; i < ae.params.total; i++) ae.params.m[i] = (float)i, ae.params.v[i] = 0.5f * i;
    const char *dir = tu_tmpdir("ae_ckpt");
    char out[512], path[600];
    snprintf(out, sizeof out, "%s/ae.safetensors", dir);
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "cascaded");
    meta.config = cfg;
    meta.step = 7;
    int64_t ds[3] = {1, 2, 3};
    mv_train_state ts = {.step = 7, .seed = 18446744073709551615ull, .rng_counter = 12, .data_state = ds,
                         .data_state_len = 3};
    CHECK(mv_ckpt_save(out, &ae.params, &meta, &ts) == MV_OK, "save: %s", mv_last_error());
    CHECK(mv_ae_load(&ae2, out, 1) == MV_OK, "load: %s", mv_last_error());
    CHECK(ae2.variant == MV_AE_CASCADED && ae2.D == 32 && ae2.L == 3, "variant and config restored");
    CHECK(!memcmp(ae.params.data, ae2.params.data, ae.params.total * 4), "weights round trip");
    mv_train_state ts2;
    CHECK(mv_ckpt_load_optim(out, &ae2.params, &ts2, 7) == MV_OK, "optim: %s", mv_last_error());
    CHECK(ts2.seed == ts.seed && ts2.rng_counter == 12 && ts2.data_state_len == 3 && ts2.data_state[2] == 3,
          "train state round trip");
    int same = 1;
    for (int i = 0; i < ae.params.count; i++) {
        size_t o = ae.params.info[i].offset, n = ae.params.info[i].numel * 4;
        same &= !memcmp(ae.params.v + o, ae2.params.v + o, n) && !memcmp(ae.params.m + o, ae2.params.m + o, n);
    }
    CHECK(same, "moments round trip");
    free(ts2.data_state);
    CHECK(mv_ckpt_load_optim(out, &ae2.params, &ts2, 8) != MV_OK && strstr(mv_last_error(), "step 7"),
          "optimizer step mismatch refused: %s", mv_last_error());
    char h1[17], h2[17];
    mv_ae_hash(&ae, h1);
    mv_ae_hash(&ae2, h2);
    CHECK(!strcmp(h1, h2) && strlen(h1) == 16, "hash %s %s", h1, h2);
    mv_ae_free(&ae2);
    /* another model */
    snprintf(meta.model, sizeof meta.model, "video_universal");
    snprintf(path, sizeof path, "%s/dit.safetensors", dir);
    CHECK(mv_ckpt_save(path, &ae.params, &meta, NULL) == MV_OK, "save dit-tagged");
    CHECK(mv_ae_load(&ae2, path, 0) != MV_OK &&
              strstr(mv_last_error(), "expected an autoencoder checkpoint, found video_universal"),
          "wrong model message: %s", mv_last_error());
    /* corrupt file */
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    fputs("not a safetensors file at all", fp);
    fclose(fp);
    CHECK(mv_ae_load(&ae2, path, 0) != MV_OK && strstr(mv_last_error(), "bad.safetensors"),
          "corrupt file message: %s", mv_last_error());
    /* config check */
    mv_config other = cfg;
    other.ae_width = 64;
    CHECK(mv_ckpt_check_config(out, "autoencoder", &other, &cfg) == MV_ERR_SHAPE &&
              strstr(mv_last_error(), "ae.width"), "config mismatch: %s", mv_last_error());
    /* log truncation */
    FILE *log;
    CHECK(mv_ckpt_log_open(&log, out, -1) == MV_OK, "log open");
    for (int s = 1; s <= 5; s++) {
        char line[64];
        snprintf(line, sizeof line, "{\"step\": %d, \"loss\": 0.5}", s);
        mv_ckpt_log_write(log, line);
    }
    fclose(log);
    CHECK(mv_ckpt_log_open(&log, out, 3) == MV_OK, "log reopen");
    mv_ckpt_log_write(log, "{\"step\": 4, \"loss\": 0.25}");
    fclose(log);
    mv_ckpt_path(path, sizeof path, out, ".log.jsonl");
    fp = fopen(path, "r");
    char buf[512] = {0};
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 0 && !strstr(buf, "\"step\": 5") && strstr(buf, "\"step\": 3, \"loss\": 0.5") &&
              strstr(buf, "\"step\": 4, \"loss\": 0.25") && !strstr(buf, "\"step\": 4, \"loss\": 0.5"),
          "log truncated on resume: %s", buf);
    mv_ae_free(&ae);
}

/* ---- the CLI end to end (tiny config) ---- */

#define TINY_SETS                                                                                  \
    "--set image_size=32 --set levels=3 --set patch=4 --set latent_channels=8 --set ae.width=32 "  \
    "--set ae.depth=2 --set ae.heads=2 --set 'millivid.windows=[1,4,16]' --set millivid.budget=64 " \
    "--set 'framepack.context=[1,4,16]' --set ae.warmup=2 --batch 3 --threads 2 --log-every 1"

static const char *bin(void) {
    static char path[512];
    const char *b = getenv("MV_BUILD");
    snprintf(path, sizeof path, "%s/millivid", b ? b : "build");
    return path;
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = tu_slurp(a, &na), *y = tu_slurp(b, &nb);
    int same = x && y && na == nb && na > 0 && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* Runs a command expected to fail; returns 1 when it exits non-zero and its stderr contains want. */
static int fails_with(const char *dir, const char *cmd, const char *want) {
    char err[600];
    snprintf(err, sizeof err, "%s/err.txt", dir);
    int rc = tu_sh("%s 2>%s >/dev/null", cmd, err);
    size_t n;
    char *msg = tu_slurp(err, &n);
    int ok = rc != 0 && msg && strstr(msg, want);
    if (!ok) fprintf(stderr, "command: %s\nexit %d, stderr: %s\n(wanted '%s')\n", cmd, rc, msg ? msg : "", want);
    free(msg);
    return ok;
}

static void test_cli(void) {
    /* per-process directory: several people may run the suite at once on the same tree */
    char dname[64];
    snprintf(dname, sizeof dname, "ae_cli_%d", (int)getpid());
    const char *dir = tu_tmpdir(dname);
    int failures0 = tu_failures;
    char cmd[2048], a[600], b[600], p1[700], p2[700];
    CHECK(tu_python("tools/ae_twin.py fakedata %s/data 3 6 32", dir) == 0, "fake data set");
    CHECK(tu_python("tools/ae_twin.py fakedata %s/data64 1 2 64", dir) == 0, "fake 64x64 data set");
    /* resume: 6 steps in one go == 3 steps + 3 resumed steps, bit for bit */
    snprintf(a, sizeof a, "%s/a.safetensors", dir);
    snprintf(b, sizeof b, "%s/b.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 6 " TINY_SETS " 2>/dev/null", bin(), dir, a);
    CHECK(tu_sh("%s", cmd) == 0, "train 6 steps");
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 3 " TINY_SETS " 2>/dev/null", bin(), dir, b);
    CHECK(tu_sh("%s", cmd) == 0, "train 3 steps");
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 6 --resume " TINY_SETS " 2>/dev/null",
             bin(), dir, b);
    CHECK(tu_sh("%s", cmd) == 0, "resume 3 more steps");
    snprintf(p1, sizeof p1, "%s/a.log.jsonl", dir);
    snprintf(p2, sizeof p2, "%s/b.log.jsonl", dir);
    CHECK(same_file(p1, p2), "resumed loss log identical to the uninterrupted one");
    CHECK(same_file(a, b), "resumed model file identical to the uninterrupted one");
    snprintf(p1, sizeof p1, "%s/a.optim.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/b.optim.safetensors", dir);
    CHECK(same_file(p1, p2), "optimizer state identical");
    /* killed inside a checkpoint save (after the optimizer file, after the model file), then resumed:
     * the same model file as the uninterrupted run */
    static const char *points[] = {"ckpt-after-optim:2", "ckpt-after-model:2"};
    snprintf(a, sizeof a, "%s/c.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 6 --checkpoint-every 2 " TINY_SETS
             " 2>/dev/null", bin(), dir, a);
    CHECK(tu_sh("%s", cmd) == 0, "train 6 steps, a checkpoint every 2");
    for (int i = 0; i < 2; i++) {
        snprintf(b, sizeof b, "%s/k%d.safetensors", dir, i);
        snprintf(cmd, sizeof cmd, "MV_TEST_KILL_AT=%s %s train-ae --data %s/data --out %s --steps 6 --checkpoint-every 2 "
                 TINY_SETS " 2>/dev/null", points[i], bin(), dir, b);
        CHECK(tu_sh("%s", cmd) != 0, "train-ae killed at %s", points[i]);
        snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 6 --resume --checkpoint-every 2 " TINY_SETS
                 " 2>/dev/null", bin(), dir, b);
        CHECK(tu_sh("%s", cmd) == 0, "train-ae resumes after a kill at %s", points[i]);
        CHECK(same_file(a, b), "killed at %s: model file identical to the uninterrupted run's", points[i]);
        snprintf(p1, sizeof p1, "%s/c.log.jsonl", dir);
        snprintf(p2, sizeof p2, "%s/k%d.log.jsonl", dir, i);
        CHECK(same_file(p1, p2), "killed at %s: loss log identical to the uninterrupted run's", points[i]);
    }

    /* encode: per-level BF16 latents equal to the library's encoder */
    snprintf(p1, sizeof p1, "%s/lat.safetensors", dir);
    CHECK(tu_sh("%s encode --ae %s --data %s/data --out %s --batch 4 --threads 2 2>/dev/null", bin(), a, dir, p1) == 0,
          "encode");
    mv_safetensors f;
    mv_ae ae;
    if (mv_st_open(&f, p1) == MV_OK && mv_ae_load(&ae, a, 0) == MV_OK) {
        const mv_tensor_view *l0 = mv_st_find(&f, "level0"), *l2 = mv_st_find(&f, "level2");
        CHECK(l0 && l0->dtype == MV_DT_BF16 && l0->shape[0] == 3 && l0->shape[1] == 6 && l0->shape[2] == 64 &&
                  l0->shape[3] == 8, "level0 (3, 6, 64, 8) BF16");
        CHECK(l2 && l2->shape[2] == 4 && !mv_st_find(&f, "level3"), "level2 has 4 tokens, no level3");
        char hash[17];
        mv_ae_hash(&ae, hash);
        CHECK(mv_st_meta(&f, "ae_hash") && !strcmp(mv_st_meta(&f, "ae_hash"), hash), "ae_hash metadata");
        mv_dataset d;
        snprintf(p2, sizeof p2, "%s/data", dir);
        if (mv_dataset_open(&d, p2) == MV_OK) {
            mv_ae_work *w;
            mv_ae_work_create(&w, &ae, 1, 0);
            float *pt = malloc((size_t)ae.T * ae.PD * 4), lat[84 * 8], ref[4 * 8];
            mv_ae_pyramid_u8(&ae, w, pt, mv_dataset_frame(&d, 2, 5), 1);
            mv_ae_encode(&ae, w, lat, pt, 1);
            /* video 2, frame 5, level 2 */
            mv_st_read_rows_f32(&f, "level2", 2, 1, pt);
            memcpy(ref, pt + (size_t)5 * 4 * 8, sizeof ref);
            tu_close("encoded level-2 latents (bf16)", ref, lat + ae.offset[2] * 8, 32, 1e-6, 8e-3);
            free(pt);
            mv_ae_work_free(w);
            mv_dataset_close(&d);
        }
        mv_ae_free(&ae);
        mv_st_close(&f);
    } else {
        CHECK(0, "open latents / ae: %s", mv_last_error());
    }
    /* ae-eval */
    snprintf(cmd, sizeof cmd, "%s ae-eval --ae %s --data %s/data --videos 2 --frames-per-video 3 --json %s/e.json "
             "--save-recon %s --png %s/sheet.png --threads 2 >/dev/null 2>&1", bin(), a, dir, dir, dir, dir);
    CHECK(tu_sh("%s", cmd) == 0, "ae-eval");
    mv_npy rec;
    snprintf(p1, sizeof p1, "%s/recon_level2.npy", dir);
    if (mv_npy_open(&rec, p1) == MV_OK) {
        CHECK(rec.dtype == MV_DT_U8 && rec.ndim == 5 && rec.shape[0] == 2 && rec.shape[1] == 3 && rec.shape[2] == 32,
              "recon_level2.npy (2, 3, 32, 32, 3) uint8");
        mv_npy_close(&rec);
    } else {
        CHECK(0, "%s", mv_last_error());
    }
    size_t n;
    snprintf(p1, sizeof p1, "%s/e.json", dir);
    char *js = tu_slurp(p1, &n);
    CHECK(js && strstr(js, "\"level\": 2") && strstr(js, "\"psnr\""), "json: %s", js ? js : "(none)");
    free(js);
    snprintf(p1, sizeof p1, "%s/sheet.png", dir);
    free(tu_slurp(p1, &n));
    CHECK(n > 100, "contact sheet written");

    /* bad input */
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 2 " TINY_SETS, bin(), dir, a);
    CHECK(fails_with(dir, cmd, "--resume to continue"), "existing checkpoint not overwritten without --force");
    snprintf(cmd, sizeof cmd, "%s ae-eval --ae %s --data %s/data --level 3", bin(), a, dir);
    CHECK(fails_with(dir, cmd, "has 3 levels"), "non-existent level refused");
    snprintf(cmd, sizeof cmd, "%s encode --ae %s --data %s/data64 --out %s/x.safetensors", bin(), a, dir, dir);
    CHECK(fails_with(dir, cmd, "frames are 64x64"), "data set of another frame size refused (encode)");
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data64 --out %s/c.safetensors " TINY_SETS, bin(), dir, dir);
    CHECK(fails_with(dir, cmd, "expects image_size 32"), "data set of another frame size refused (train-ae)");
    snprintf(cmd, sizeof cmd, "%s train-ae --data %s/data --out %s --steps 9 --resume " TINY_SETS " --set ae.width=48",
             bin(), dir, a);
    CHECK(fails_with(dir, cmd, "ae.width"), "resume with another preset refused");
    snprintf(p1, sizeof p1, "%s/corrupt.safetensors", dir);
    FILE *fp = fopen(p1, "wb");
    fwrite("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 3}", 1, 16, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s encode --ae %s --data %s/data --out %s/x.safetensors", bin(), p1, dir, dir);
    CHECK(fails_with(dir, cmd, "corrupt.safetensors"), "corrupt checkpoint refused");
    snprintf(cmd, sizeof cmd, "%s ae-eval --ae %s/data/frames.npy --data %s/data", bin(), dir, dir);
    CHECK(fails_with(dir, cmd, "frames.npy"), "non-checkpoint refused");
    if (tu_failures == failures0) tu_sh("rm -rf '%s'", dir);
}

static int load_claimed(void *path) {
    mv_ae ae;
    if (mv_ae_load(&ae, path, 0) == MV_OK) return 2;
    fprintf(stderr, "load: %s\n", mv_last_error());
    return strstr(mv_last_error(), "not found") && strstr(mv_last_error(), "claims_2048x16") ? 0 : 1;
}

/* A 1 KB model file whose metadata claims a 2048-wide, 16-deep autoencoder (6.4 GB of weights) but that
 * holds no tensors: the load fails on the first missing tensor before any memory is sized from the claim.
 * Run in a child whose address space may grow by only 256 MB, where sizing the claimed model fails. */
static void test_claimed_size(void) {
    mv_config cfg;
    CHECK(tiny_config(&cfg, 32), "tiny config: %s", mv_last_error());
    cfg.ae_width = 2048, cfg.ae_depth = 16, cfg.ae_heads = 16;
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "adaptive");
    meta.config = cfg;
    mv_params none;
    mv_params_init(&none);
    char path[600];
    snprintf(path, sizeof path, "%s/claims_2048x16.safetensors", tu_tmpdir("ae_claim"));
    CHECK(mv_ckpt_save(path, &none, &meta, NULL) == MV_OK, "save: %s", mv_last_error());
    CHECK(tu_in_small_memory(load_claimed, path, (size_t)256 << 20) == 0,
          "a header-only file claiming a 6.4 GB model must fail on its missing tensors, not size memory");
}

int main(void) {
    mv_set_threads(2);
    test_claimed_size();
    test_official();
    test_twin_step(MV_AE_ADAPTIVE);
    test_twin_step(MV_AE_CASCADED);
    test_checkpoint();
    test_cli();
    return tu_finish();
}
