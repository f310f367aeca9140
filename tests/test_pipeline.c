/* The generation pipeline (src/pipeline/generator.h) and the public API (include/millivid.h):
 *  - one video, one checkpoint, one context, one action sequence, one seed: `millivid generate` (PNGs),
 *    `millivid eval` (its cached frames of video 0), the example program (examples/generate.c, PPMs) and
 *    an in-process mv_generate give the same bytes for every generated frame (one thread per model
 *    call, which is how eval computes every entry: the DiT's kernels round differently at other thread
 *    counts);
 *  - `eval --threads 2` (two entries side by side) writes the same frames as `eval --threads 1`;
 *  - the compatibility policy: a DiT built on another autoencoder is refused unless allowed; a --method
 *    other than the checkpoint's is refused; the method is read from the checkpoint;
 *  - API argument errors come back as status codes with a message. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "pipeline/generator.h"
#include "testutil.h"

#define AE "models/ae_mini.safetensors"
#define DIT "models/dit_millivid_mini.safetensors"
#define CTX 86    /* the mini default context (MilliVid reach + 1) */
#define FRAMES 94 /* 8 generated frames */
#define SEED 5
#define STEPS 2
#define GEN (FRAMES - CTX)

static const char *bin(void) {
    static char b[512];
    snprintf(b, sizeof b, "%s/millivid", tu_build_dir());
    return b;
}

/* Reads an 8-bit RGB PNG of w x h into rgb [h, w, 3]; 1 on success. */
static int read_png(const char *path, uint8_t *rgb, int w, int h) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return 0;
    im.format = PNG_FORMAT_RGB;
    int ok = (int)im.width == w && (int)im.height == h && png_image_finish_read(&im, NULL, rgb, 0, NULL);
    png_image_free(&im);
    return ok;
}

/* Reads a binary PPM of w x h into rgb; 1 on success. */
static int read_ppm(const char *path, uint8_t *rgb, int w, int h) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int pw = 0, ph = 0, mx = 0;
    int ok = fscanf(f, "P6 %d %d %d", &pw, &ph, &mx) == 3 && fgetc(f) == '\n' && pw == w && ph == h && mx == 255 &&
             fread(rgb, 1, (size_t)w * h * 3, f) == (size_t)w * h * 3;
    fclose(f);
    return ok;
}

/* [n, H, W, 3] uint8 frames of an npy file into dst; 1 when the shape holds n frames of w x h. */
static int read_npy(const char *path, uint8_t *dst, int n, int w, int h) {
    mv_npy a;
    if (mv_npy_open(&a, path)) return 0;
    int ok = a.dtype == MV_DT_U8 && a.numel == (size_t)n * w * h * 3;
    if (ok) memcpy(dst, a.data, a.numel);
    mv_npy_close(&a);
    return ok;
}

static int first_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return (int)i;
    return -1;
}

typedef struct {
    uint8_t *frames; /* [GEN, H, W, 3] */
    int first, n, size;
} collect;

static mv_status collect_frame(void *user, int frame, const uint8_t *rgb, int w, int h) {
    collect *c = user;
    if (w != c->size || h != c->size || frame != c->first + c->n || c->n >= GEN) return MV_ERR_INTERNAL;
    memcpy(c->frames + (size_t)c->n * w * h * 3, rgb, (size_t)w * h * 3);
    c->n++;
    return MV_OK;
}

/* mv_generate on video 0 of the data set; frames [GEN, size, size, 3]. */
static int api_generate(const char *data_dir, uint8_t *frames, int size) {
    mv_generator *g = NULL;
    mv_data *d = NULL;
    int ok = 0;
    mv_generator_params gp;
    mv_generator_params_init(&gp);
    gp.ae_path = AE, gp.dit_path = DIT;
    CHECK(mv_generator_create(&g, &gp) == MV_OK, "generator: %s", mv_last_error());
    CHECK(mv_data_open(&d, data_dir) == MV_OK, "data: %s", mv_last_error());
    if (!g || !d) goto done;
    CHECK(!strcmp(mv_generator_method(g), "millivid"), "method from the checkpoint: %s", mv_generator_method(g));
    CHECK(mv_generator_default_context(g) == CTX, "default context %d", mv_generator_default_context(g));
    CHECK(mv_generator_image_size(g) == size, "image size %d", mv_generator_image_size(g));
    int actions[FRAMES];
    for (int f = 0; f < FRAMES; f++) actions[f] = mv_data_action(d, 0, f);
    collect c = {frames, CTX, 0, size};
    mv_generate_params p;
    mv_generate_params_init(&p);
    p.context_frames = mv_data_video(d, 0), p.context = CTX, p.frames = FRAMES, p.actions = actions;
    p.seed = SEED, p.sample_steps = STEPS;
    p.frame_fn = collect_frame, p.frame_user = &c;
    mv_generate_stats st;
    CHECK(mv_generate(g, &p, &st) == MV_OK && c.n == GEN, "mv_generate: %d frames: %s", c.n, mv_last_error());
    CHECK(st.dit_calls > 0 && st.steps > 0, "stats: %ld calls, %ld steps", st.dit_calls, st.steps);
    ok = c.n == GEN;
    /* bad arguments come back as status codes */
    p.frames = CTX;
    CHECK(mv_generate(g, &p, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "shorter"), "context >= frames: %s",
          mv_last_error());
    p.frames = FRAMES, actions[FRAMES - 1] = 7;
    CHECK(mv_generate(g, &p, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "action 7"), "bad action: %s",
          mv_last_error());
    p.frame_fn = NULL;
    CHECK(mv_generate(g, &p, NULL) == MV_ERR_ARG, "no frame callback");
done:
    mv_data_close(d);
    mv_generator_free(g);
    return ok;
}

static void test_same_frames(const char *dir) {
    char data[600], cmd_common[1600];
    snprintf(data, sizeof data, "%s/data", dir);
    int rc = tu_sh("%s world --out %s --split test --videos 2 --frames %d --size 64 --seed 2 --quiet > %s/world.log 2>&1",
                   bin(), data, FRAMES + 2, dir);
    CHECK(rc == 0, "world (rc %d)", rc);
    if (rc) return;
    int S = 64;
    size_t fb = (size_t)S * S * 3;
    uint8_t *ev = malloc(GEN * fb), *api = malloc(GEN * fb), *img = malloc(fb);
    uint8_t *ev_seq = malloc(GEN * fb);
    snprintf(cmd_common, sizeof cmd_common, "--ae %s --data %s --context %d --frames %d --steps %d --seed %d "
             "--side-by-side 0 --quiet --method mv=%s", AE, data, CTX, FRAMES, STEPS, SEED, DIT);
    /* eval, two videos side by side (--threads 2) and in turn (--threads 1) */
    rc = tu_sh("%s eval %s --threads 2 --out %s/eval2 > %s/eval2.log 2>&1", bin(), cmd_common, dir, dir);
    CHECK(rc == 0, "eval --threads 2 (rc %d, see %s/eval2.log)", rc, dir);
    rc = tu_sh("%s eval %s --threads 1 --out %s/eval1 > %s/eval1.log 2>&1", bin(), cmd_common, dir, dir);
    CHECK(rc == 0, "eval --threads 1 (rc %d, see %s/eval1.log)", rc, dir);
    char p[1200];
    const char *entries[] = {"mv/video_0", "mv/video_1", "autoencoded/video_0", "autoencoded/video_1"};
    for (size_t i = 0; i < MV_ARRAY_LEN(entries); i++) {
        snprintf(p, sizeof p, "%s/eval2/cache/%s.npy", dir, entries[i]);
        int ok = read_npy(p, ev_seq, GEN, S, S);
        snprintf(p, sizeof p, "%s/eval1/cache/%s.npy", dir, entries[i]);
        ok &= read_npy(p, ev, GEN, S, S);
        CHECK(ok && first_diff(ev, ev_seq, GEN * fb) < 0, "%s: eval --threads 2 and --threads 1 frames identical",
              entries[i]);
    }
    snprintf(p, sizeof p, "%s/eval1/cache/mv/video_0.npy", dir);
    CHECK(read_npy(p, ev, GEN, S, S), "eval frames of video 0");
    /* generate: the method from the checkpoint (no --method), PNGs of every frame */
    rc = tu_sh("%s generate --ae %s --dit %s --data %s --video 0 --context %d --frames %d --steps %d --seed %d "
               "--threads 1 --out %s/g.mp4 --png-dir %s/png > %s/gen.log 2>&1", bin(), AE, DIT, data, CTX, FRAMES,
               STEPS, SEED, dir, dir, dir);
    CHECK(rc == 0, "generate (rc %d, see %s/gen.log)", rc, dir);
    /* the example program, public header only */
    rc = tu_sh("mkdir -p %s/ex && %s/examples/generate %s %s %s 0 %d %s/ex %d %d 1 > %s/ex.log 2>&1", dir, tu_build_dir(),
               AE, DIT, data, FRAMES, dir, SEED, STEPS, dir);
    CHECK(rc == 0, "examples/generate (rc %d, see %s/ex.log)", rc, dir);
    /* in process, one thread */
    mv_set_threads(1);
    CHECK(api_generate(data, api, S), "mv_generate");
    mv_set_threads(2);
    int png_same = 1, ppm_same = 1;
    for (int k = 0; k < GEN; k++) {
        snprintf(p, sizeof p, "%s/png/frame_%05d.png", dir, CTX + k);
        png_same &= read_png(p, img, S, S) && first_diff(img, ev + k * fb, fb) < 0;
        snprintf(p, sizeof p, "%s/ex/frame_%05d.ppm", dir, CTX + k);
        ppm_same &= read_ppm(p, img, S, S) && first_diff(img, ev + k * fb, fb) < 0;
    }
    CHECK(png_same, "generate's PNG frames equal eval's frames byte for byte");
    CHECK(ppm_same, "the example's frames equal eval's frames byte for byte");
    int d = first_diff(api, ev, GEN * fb);
    CHECK(d < 0, "mv_generate frames equal eval's frames (first difference at byte %d)", d);
    /* the generated frames are not the ground truth (a test that cannot fail is worse than none) */
    mv_data *dd = NULL;
    if (mv_data_open(&dd, data) == MV_OK) {
        CHECK(first_diff(ev, mv_data_video(dd, 0) + (size_t)CTX * fb, GEN * fb) >= 0, "frames are generated");
        mv_data_close(dd);
    }
    free(ev), free(api), free(img), free(ev_seq);
}

/* An autoencoder of the mini configuration with other (random) weights, so another ae_hash. */
static int make_other_ae(const char *path) {
    mv_ckpt_meta meta;
    mv_safetensors f;
    if (mv_ckpt_open(&f, &meta, AE, "autoencoder")) return 0;
    mv_st_close(&f);
    mv_ae ae;
    mv_ae_variant var;
    if (mv_ae_variant_parse(meta.variant, &var) || mv_ae_create(&ae, &meta.config, var, 0)) return 0;
    mv_ae_init_weights(&ae, 123);
    int ok = mv_ckpt_save(path, &ae.params, &meta, NULL) == MV_OK;
    mv_ae_free(&ae);
    return ok;
}

static void test_policy(const char *dir) {
    char other[600];
    snprintf(other, sizeof other, "%s/other_ae.safetensors", dir);
    CHECK(make_other_ae(other), "other autoencoder: %s", mv_last_error());
    mv_generator *g = NULL;
    mv_generator_params gp;
    mv_generator_params_init(&gp);
    gp.ae_path = other, gp.dit_path = DIT;
    mv_status s = mv_generator_create(&g, &gp);
    CHECK(s == MV_ERR_ARG && !g && strstr(mv_last_error(), "another autoencoder") && strstr(mv_last_error(), DIT),
          "another autoencoder refused: %s", mv_last_error());
    gp.allow_ae_mismatch = 1;
    CHECK(mv_generator_create(&g, &gp) == MV_OK && g, "allowed mismatch: %s", mv_last_error());
    mv_generator_free(g), g = NULL;
    gp.ae_path = AE, gp.allow_ae_mismatch = 0, gp.method = "fullres";
    s = mv_generator_create(&g, &gp);
    CHECK(s == MV_ERR_ARG && strstr(mv_last_error(), "'millivid', not fullres"), "other method refused: %s",
          mv_last_error());
    gp.method = "millivid";
    CHECK(mv_generator_create(&g, &gp) == MV_OK, "matching --method accepted: %s", mv_last_error());
    mv_generator_free(g), g = NULL;
    gp.method = NULL, gp.dit_path = AE;
    CHECK(mv_generator_create(&g, &gp) != MV_OK && strstr(mv_last_error(), "ae_mini"), "an AE as the DiT: %s",
          mv_last_error());
    gp.dit_path = NULL;
    CHECK(mv_generator_create(&g, &gp) == MV_ERR_ARG, "no DiT path");
    /* the CLI: the same rule, and its flag */
    int rc = tu_sh("%s generate --ae %s --dit %s --data %s/data --video 0 --frames %d --steps 1 --out %s/o.mp4 "
                   "> %s/o.log 2>&1", bin(), other, DIT, dir, FRAMES, dir, dir);
    char p[700];
    snprintf(p, sizeof p, "%s/o.log", dir);
    char *log = tu_slurp(p, NULL);
    CHECK(rc != 0 && log && strstr(log, "another autoencoder"), "generate refuses another autoencoder (rc %d)", rc);
    free(log);
    rc = tu_sh("%s generate --ae %s --dit %s --data %s/data --video 0 --frames %d --steps 1 --allow-ae-mismatch "
               "--out %s/o.mp4 > %s/o.log 2>&1", bin(), other, DIT, dir, FRAMES, dir, dir);
    CHECK(rc == 0, "generate --allow-ae-mismatch (rc %d)", rc);
}

int main(void) {
    const char *dir = tu_tmpdir("pipeline");
    mv_set_threads(2);
    test_same_frames(dir);
    test_policy(dir);
    return tu_finish();
}
