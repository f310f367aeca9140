/* `millivid eval` end to end with tiny random-initialised models (no trained weights): metrics.json
 * fields (three bounds, revisits within reach), the per-(video, method) cache resuming, the output folder
 * guard, the default context (the MilliVid reach + 1), and bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/rng.h"
#include "eval/protocol.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "testutil.h"

static const char *bin(void) {
    static char b[512];
    const char *d = getenv("MV_BUILD");
    snprintf(b, sizeof b, "%s/millivid", d && *d ? d : "build");
    return b;
}

static int tiny_config(mv_config *c) {
    const char *sets[] = {"image_size=32", "levels=3", "patch=4", "latent_channels=8", "ae.width=32",
                          "ae.depth=1", "ae.heads=2", "dit.width=24", "dit.depth=1", "dit.heads=2",
                          "millivid.windows=[1,4,16]", "millivid.budget=64", "framepack.context=[1,4,16]",
                          "framepack.denoise=1", "fullres.frames=5", "sample.steps=2"};
    if (mv_config_load(c, "mini")) return 0;
    for (size_t i = 0; i < MV_ARRAY_LEN(sets); i++)
        if (mv_config_set(c, sets[i])) return 0;
    return mv_config_validate(c) == MV_OK;
}

/* A random video model saved as dir/<file>; variant is the method kind written to the metadata. */
static void save_dit(const mv_config *cfg, const char *path, const char *variant, const char *ae_hash,
                     uint64_t seed) {
    int fp = !strcmp(variant, "framepack");
    mv_dit m;
    if (mv_dit_create(&m, cfg, fp ? MV_DIT_FRAMEPACK : MV_DIT_UNIVERSAL, 0)) {
        CHECK(0, "dit create: %s", mv_last_error());
        return;
    }
    mv_rng r;
    mv_rng_init(&r, seed);
    mv_rng_normal(&r, m.params.data, m.params.total);
    for (size_t i = 0; i < m.params.total; i++) m.params.data[i] *= 0.15f;
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", fp ? "video_framepack" : "video_universal");
    snprintf(meta.variant, sizeof meta.variant, "%s", variant);
    snprintf(meta.ae_hash, sizeof meta.ae_hash, "%s", ae_hash);
    meta.config = *cfg;
    CHECK(mv_ckpt_save(path, &m.params, &meta, NULL) == MV_OK, "save %s: %s", path, mv_last_error());
    mv_dit_free(&m);
}

static int make_models(const char *dir, char *hash) {
    mv_config cfg;
    if (!tiny_config(&cfg)) {
        CHECK(0, "tiny config: %s", mv_last_error());
        return 0;
    }
    mv_ae ae;
    if (mv_ae_create(&ae, &cfg, MV_AE_ADAPTIVE, 0)) {
        CHECK(0, "ae create: %s", mv_last_error());
        return 0;
    }
    mv_ae_init_weights(&ae, 5);
    mv_ae_hash(&ae, hash);
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "adaptive");
    meta.config = cfg;
    char p[600];
    snprintf(p, sizeof p, "%s/ae.safetensors", dir);
    CHECK(mv_ckpt_save(p, &ae.params, &meta, NULL) == MV_OK, "save ae: %s", mv_last_error());
    mv_ae_free(&ae);
    const struct {
        const char *file, *variant, *hash;
    } d[] = {{"mv", "millivid", hash},   {"fp", "framepack", hash},          {"fr", "fullres", hash},
             {"other", "millivid", "0123456789abcdef"}, {"odd", "sideways", hash}};
    for (size_t i = 0; i < MV_ARRAY_LEN(d); i++) {
        snprintf(p, sizeof p, "%s/%s.safetensors", dir, d[i].file);
        save_dit(&cfg, p, d[i].variant, d[i].hash, 11 + i);
    }
    return 1;
}

/* Runs eval with the common options plus `extra`; stderr+stdout into dir/log.txt. Returns the exit code. */
static int run_eval(const char *dir, const char *out, const char *extra) {
    return tu_sh("%s eval --ae %s/ae.safetensors --data %s/data --context 24 --steps 2 --threads 2 --quiet "
                 "--out %s/%s %s > %s/log.txt 2>&1",
                 bin(), dir, dir, dir, out, extra, dir);
}

static int log_has(const char *dir, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/log.txt", dir);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    int found = strstr(buf, text) != NULL;
    if (!found) fprintf(stderr, "log (looking for '%s'):\n%s\n", text, buf);
    return found;
}

#define METHODS(d) "--method MilliVid=%s/mv.safetensors --method FramePack=%s/fp.safetensors " \
                   "--method fullres=%s/fr.safetensors", d, d, d

static void test_end_to_end(const char *dir) {
    char extra[2048];
    snprintf(extra, sizeof extra, METHODS(dir));
    int rc = run_eval(dir, "out", extra);
    CHECK(rc == 0 && log_has(dir, "8 of 8 (video, method) entries computed, 0 reused"), "first run rc %d", rc);
    CHECK(log_has(dir, "| MilliVid"), "summary table printed");
    CHECK(tu_python("tools/check_eval.py %s/out 3 2 24 48", dir) == 0, "metrics.json fields");
    /* resume: delete one cache entry, only that one is recomputed */
    tu_sh("cp %s/out/metrics.json %s/first.json && rm -f %s/out/cache/FramePack/video_1.json", dir, dir, dir);
    rc = run_eval(dir, "out", extra);
    CHECK(rc == 0 && log_has(dir, "1 of 8 (video, method) entries computed, 7 reused"), "resume rc %d", rc);
    CHECK(tu_python("tools/check_eval.py %s/out 3 2 24 48 %s/first.json", dir, dir) == 0,
          "metrics.json after the resume equals the first run");
    /* another configuration into the same folder is refused; --force accepts it */
    strcat(extra, " --seed 3");
    rc = run_eval(dir, "out", extra);
    CHECK(rc != 0 && log_has(dir, "another configuration ('seed' differs)"), "other config refused (rc %d)", rc);
    /* --force with only another summary option reuses every cache entry */
    snprintf(extra, sizeof extra, METHODS(dir));
    strcat(extra, " --force --revisit-min-gap 12");
    rc = run_eval(dir, "out", extra);
    CHECK(rc == 0 && log_has(dir, "0 of 8 (video, method) entries computed, 8 reused"), "--force, new revisit gap (rc %d)",
          rc);
    CHECK(tu_python("tools/check_eval.py %s/out 3 2 24 48 %s/first.json", dir, dir) == 0 &&
              tu_python("-c \"import json; assert json.load(open('%s/out/metrics.json'))['config']['revisit_min_gap']"
                        " == 12\"", dir) == 0, "revisit frames with a gap");
    CHECK(tu_sh("test -f %s/out/report.html && test -f %s/out/videos/video_0.mp4 && test -f %s/out/plot_psnr.svg",
                dir, dir, dir) == 0, "report, plots and videos exist");
    /* --training: the same evaluation (every entry reused) with a training section for a one-run campaign */
    CHECK(tu_sh("mkdir -p %s/campaign && cp %s/mv.safetensors %s/campaign/dit_MilliVid.safetensors && printf "
                "'{\"step\": 10, \"loss\": 0.5}\\n{\"step\": 20, \"loss\": 0.25}\\n' > "
                "%s/campaign/dit_MilliVid.log.jsonl", dir, dir, dir, dir) == 0, "campaign folder");
    snprintf(extra, sizeof extra, METHODS(dir));
    strcat(extra, " --force --revisit-min-gap 12 --training ");
    strcat(extra, dir);
    strcat(extra, "/campaign");
    rc = run_eval(dir, "out", extra);
    CHECK(rc == 0 && log_has(dir, "0 of 8 (video, method) entries computed, 8 reused") && log_has(dir, "### Training"),
          "--training reuses the evaluation (rc %d)", rc);
    CHECK(tu_sh("grep -q 'id=\"mv-training\"' %s/out/report.html && test -f %s/out/plot_training_loss.svg && "
                "test -f %s/out/plot_training_recall.svg", dir, dir, dir) == 0, "training section and plots written");
    /* revisits within reach: full-res rollout alone reaches 2 frames back from chunks of 3, so some revisits
     * (a loose definition: 6 blocks, 90 degrees, gap 2) are within its reach and some are not */
    snprintf(extra, sizeof extra, "--method fr=%s/fr.safetensors --side-by-side 0 --revisit-min-gap 2 "
             "--revisit-radius 6 --revisit-yaw 90", dir);
    rc = run_eval(dir, "reach", extra);
    CHECK(rc == 0 && tu_python("tools/check_eval.py %s/reach 1 2 24 48", dir) == 0, "revisits in reach (rc %d)", rc);
    CHECK(tu_python("-c \"import json; m = json.load(open('%s/reach/metrics.json')); a, b = sum(m['revisit_counts']), "
                    "sum(m['revisit_reach_counts']); assert 0 < b < a, (a, b); "
                    "assert m['methods']['fr']['psnr_revisit_reach']['mean'] is not None\"", dir) == 0,
          "some revisits within reach, some not");
}

static void test_bad_input(const char *dir) {
    char extra[2048];
    int rc;
    snprintf(extra, sizeof extra, "--method MV=%s/other.safetensors", dir);
    rc = run_eval(dir, "bad1", extra);
    CHECK(rc != 0 && log_has(dir, "other.safetensors") && log_has(dir, "ae.safetensors") &&
              log_has(dir, "another autoencoder"), "other AE refused (rc %d)", rc);
    struct {
        const char *out, *method, *want, *what; /* method: "NAME=FILE" with %s for the folder (1 or 2 times) */
    } bad[] = {
        {"bad2", "MV=%s/odd.safetensors", "unknown method kind 'sideways'", "unknown kind"},
        {"bad3", "MV=%s/missing.safetensors", "missing.safetensors", "missing file"},
        {"bad4", "MV=%s/fr.safetensors --frames 20", "must be shorter than the evaluated video", "context too long"},
        {"bad5", "MV=%s/fr.safetensors --method MV=%s/fr.safetensors", "given twice", "duplicate name"},
        {"bad6", "random=%s/fr.safetensors", "reserved", "reserved name"},
        {"bad6b", "hold_last=%s/fr.safetensors", "reserved", "reserved name of the hold-last bound"},
        {"bad7", "MV%s/fr.safetensors", "NAME=DIT_FILE", "no '='"},
        {"bad8", "MV=%s/ae.safetensors", "found autoencoder", "AE as a method"},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(bad); i++) {
        char method[1024];
        snprintf(method, sizeof method, bad[i].method, dir, dir);
        snprintf(extra, sizeof extra, "--method %s", method);
        rc = run_eval(dir, bad[i].out, extra);
        CHECK(rc != 0 && log_has(dir, bad[i].want), "%s (rc %d)", bad[i].what, rc);
        CHECK(tu_sh("test ! -e %s/%s/config.json", dir, bad[i].out) == 0, "%s: nothing written", bad[i].what);
    }
    /* data without poses: refused unless --no-revisit */
    tu_sh("rm -rf %s/nopose && cp -r %s/data %s/nopose && sed -i 's/\"has_poses\":[^,]*/\"has_poses\": false/' "
          "%s/nopose/index.json", dir, dir, dir, dir);
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/nopose --context 24 --frames 32 --steps 2 --quiet --side-by-side 0 "
               "--method fr=%s/fr.safetensors --out %s/bad9 > %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "has no camera poses") && log_has(dir, "--no-revisit"), "no poses (rc %d)", rc);
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/nopose --context 24 --frames 32 --steps 2 --quiet --side-by-side 0 "
               "--no-revisit --method fr=%s/fr.safetensors --out %s/new/ok9 > %s/log.txt 2>&1", bin(), dir, dir, dir, dir,
               dir);
    CHECK(rc == 0 && log_has(dir, "entries computed"), "--no-revisit runs, --out in a new folder (rc %d)", rc);
    tu_sh("mv %s/new/ok9 %s/ok9", dir, dir);
    CHECK(tu_python("-c \"import json,math; m=json.load(open('%s/ok9/metrics.json'))['methods']['fr'];"
                    " assert m['psnr_revisit']['mean'] is None and m['psnr_mean']['mean'] > 0\"", dir) == 0,
          "no revisit summary without poses");
    const char *again = "%s eval --ae %s/ae.safetensors --data %s/nopose --context 24 --frames 32 --steps 2 --quiet --side-by-side 0 "
                        "--no-revisit --method fr=%s/fr.safetensors --out %s/ok9 --seed 5 %s > %s/log.txt 2>&1";
    rc = tu_sh(again, bin(), dir, dir, dir, dir, "", dir);
    CHECK(rc != 0 && log_has(dir, "'seed' differs") && log_has(dir, "--force"), "other seed refused (rc %d)", rc);
    rc = tu_sh(again, bin(), dir, dir, dir, dir, "--force", dir);
    CHECK(rc == 0 && log_has(dir, "4 of 4 (video, method) entries computed, 0 reused"), "--force recomputes (rc %d)", rc);
    /* missing autoencoder / data */
    rc = tu_sh("%s eval --ae %s/nope.safetensors --data %s/data --context 24 --method fr=%s/fr.safetensors --out %s/bad10 "
               "> %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "nope.safetensors"), "missing autoencoder (rc %d)", rc);
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/nodata --context 24 --method fr=%s/fr.safetensors --out %s/bad11 "
               "> %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "nodata"), "missing data (rc %d)", rc);
    /* no --context: the largest MilliVid reach + 1 of the checkpoints (windows [1,4,16]: 22), which is not the cut
     * the test split (made for 24) chose its loops at */
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/data --frames 32 --steps 2 --quiet --side-by-side 0 "
               "--method fr=%s/fr.safetensors --method mv=%s/mv.safetensors --out %s/ctx > %s/log.txt 2>&1", bin(), dir,
               dir, dir, dir, dir, dir);
    CHECK(rc == 0 && log_has(dir, "context: 22 frames") && log_has(dir, "for a context of 24 frames") &&
              log_has(dir, "--split test --context 22"), "default context 22, split-cut warning (rc %d)", rc);
    CHECK(tu_python("tools/check_eval.py %s/ctx 2 2 22 32", dir) == 0, "metrics.json with the default context");
    rc = tu_sh("%s generate --ae %s/ae.safetensors --dit %s/fr.safetensors --method fullres --data %s/data --video 0 "
               "--frames 26 --steps 1 --out %s/gen.mp4 > %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc == 0 && log_has(dir, "fullres: 22 context + 4 generated frames"), "generate: default context 22 (rc %d)",
          rc);
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/data --frames 20 --method mv=%s/mv.safetensors --out %s/bad12 "
               "> %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "the default context (the MilliVid reach + 1 of the checkpoints) is 22 frames") &&
              tu_sh("test ! -e %s/bad12", dir) == 0, "default context longer than the video (rc %d)", rc);
    rc = tu_sh("%s eval --ae %s/ae.safetensors --data %s/data --context 10 --method MV=%s/mv.safetensors --out %s/bad13 "
               "> %s/log.txt 2>&1", bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "needs at least 21 context frames"), "context shorter than the schedule (rc %d)", rc);
    /* frames of another size than the autoencoder's */
    rc = tu_sh("%s world --split test --videos 2 --frames 30 --size 40 --context 24 --quiet --out %s/data40 > /dev/null "
               "2>&1 && %s eval --ae %s/ae.safetensors --data %s/data40 --context 24 --method fr=%s/fr.safetensors "
               "--out %s/bad14 > %s/log.txt 2>&1", bin(), dir, bin(), dir, dir, dir, dir, dir);
    CHECK(rc != 0 && log_has(dir, "has 40x40 frames but the autoencoder"), "frame size mismatch (rc %d)", rc);
}

/* mv_revisit_mask_gap: frames right after the context are near its last poses; a gap excludes them. */
static void test_revisit_gap(void) {
    enum { C = 10, T = 14 };
    float poses[T * 6];
    memset(poses, 0, sizeof poses);
    for (int t = 0; t < T; t++) poses[t * 6 + 4] = 90; /* yaw */
    for (int t = 0; t < C; t++) poses[t * 6 + 1] = (float)t;
    poses[10 * 6 + 1] = 9.5f; /* next to the last context frame (gap 1) */
    poses[11 * 6 + 1] = 0.5f; /* back at the start (gap 11 to frame 0) */
    poses[12 * 6 + 1] = 50;   /* nowhere */
    poses[13 * 6 + 1] = 6;    /* frame 6, gap 7; also frame 4 (gap 9) at distance 2 */
    uint8_t m0[T], m1[T];
    int n0 = -1, n1 = -1;
    CHECK(mv_revisit_mask_gap(m0, &n0, poses, T, C, NULL, 0) == MV_OK && mv_revisit_mask(m1, &n1, poses, T, C, NULL) ==
              MV_OK && !memcmp(m0, m1, T) && n0 == n1 && n0 == 3, "gap 0 = mv_revisit_mask (%d, %d)", n0, n1);
    CHECK(mv_revisit_mask_gap(m0, &n0, poses, T, C, NULL, 8) == MV_OK && n0 == 2 && !m0[10] && m0[11] && m0[13],
          "gap 8 (count %d)", n0);
    CHECK(mv_revisit_mask_gap(m0, &n0, poses, T, C, NULL, 10) == MV_OK && n0 == 1 && m0[11], "gap 10 (count %d)", n0);
    CHECK(mv_revisit_mask_gap(m0, &n0, poses, T, C, NULL, -1) == MV_ERR_ARG, "negative gap refused");
}

int main(void) {
    test_revisit_gap();
    const char *dir = tu_tmpdir("eval");
    char hash[17];
    if (!make_models(dir, hash)) return tu_finish();
    int rc = tu_sh("%s world --split test --videos 2 --frames 48 --size 32 --context 24 --quiet --out %s/data "
                   "> /dev/null 2>&1", bin(), dir);
    CHECK(rc == 0, "world data set (rc %d)", rc);
    if (rc) return tu_finish();
    test_end_to_end(dir);
    test_bad_input(dir);
    return tu_finish();
}
