/* The shipped mini models (models/ *.safetensors) still load and still work, end to end through the CLI:
 *  - each DiT file says its method, was trained on the shipped autoencoder (ae_hash), and loads;
 *  - on two freshly rendered test videos (a world seed no training or evaluation used), a short `millivid
 *    eval` of all three methods: every method's first generated frames are far closer to the ground
 *    truth than the random-video bound, and stay below the autoencoded upper bound.
 * MV_MODELS (default "models") points the test at another folder with the same file names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/core.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "testutil.h"

static const char *const METHODS[] = {"millivid", "framepack", "fullres"};
/* The first generated frames of a trained model must beat the random-video bound by this much (dB).
 * Measured at shipping (6 sampler steps, these two videos): random 9.69 dB; the shipped models (4,500
 * steps) 19.75 / 20.76 / 21.04 dB (millivid / framepack / fullres); the same models after only 300
 * steps 12.46 / 14.22 / 15.89 dB, which this margin rejects. */
#define MARGIN_DB 8.0
#define FIRST_FRAMES 4

static char g_bin[512], g_dir[512];

static void check_files(char ae_hash[17]) {
    char path[1024];
    mv_ae ae;
    snprintf(path, sizeof path, "%s/ae_mini.safetensors", g_dir);
    if (mv_ae_load(&ae, path, 0) != MV_OK) {
        CHECK(0, "shipped autoencoder: %s", mv_last_error());
        ae_hash[0] = 0;
        return;
    }
    mv_ae_hash(&ae, ae_hash);
    mv_ae_free(&ae);
    for (size_t i = 0; i < MV_ARRAY_LEN(METHODS); i++) {
        snprintf(path, sizeof path, "%s/dit_%s_mini.safetensors", g_dir, METHODS[i]);
        mv_dit m;
        mv_ckpt_meta meta;
        if (mv_dit_load(&m, path, &meta) != MV_OK) {
            CHECK(0, "shipped DiT %s: %s", METHODS[i], mv_last_error());
            continue;
        }
        CHECK(!strcmp(meta.variant, METHODS[i]), "%s: variant '%s'", path, meta.variant);
        CHECK(!strcmp(meta.ae_hash, ae_hash), "%s: trained on autoencoder %s, shipped one is %s", path, meta.ae_hash,
              ae_hash);
        CHECK(meta.step >= 1000, "%s: only %ld training steps", path, meta.step);
        mv_dit_free(&m);
    }
}

static double method_value(cJSON *methods, const char *name, int first_n) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(methods, name);
    cJSON *psnr = m ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "curves"), "psnr") : NULL;
    if (!psnr || cJSON_GetArraySize(psnr) < first_n) return -1;
    double s = 0;
    for (int i = 0; i < first_n; i++) s += cJSON_GetArrayItem(psnr, i)->valuedouble;
    return s / first_n;
}

static void check_rollouts(void) {
    const char *dir = tu_tmpdir("test_models");
    char data[1100], out[1100], cmd[4096];
    snprintf(data, sizeof data, "%s/world", dir);
    snprintf(out, sizeof out, "%s/eval", dir);
    CHECK(tu_sh("%s world --out %s --split test --videos 2 --frames 160 --size 64 --seed 91 --context 128 --quiet "
                ">/dev/null 2>&1", g_bin, data) == 0, "render the test world");
    int k = snprintf(cmd, sizeof cmd, "%s eval --ae %s/ae_mini.safetensors --data %s --context 128 --frames %d "
                     "--steps 6 --no-revisit --side-by-side 0 --quiet --out %s", g_bin, g_dir, data,
                     128 + FIRST_FRAMES, out);
    for (size_t i = 0; i < MV_ARRAY_LEN(METHODS); i++)
        k += snprintf(cmd + k, sizeof cmd - k, " --method %s=%s/dit_%s_mini.safetensors", METHODS[i], g_dir,
                      METHODS[i]);
    CHECK(tu_sh("%s >%s.log 2>&1", cmd, out) == 0, "eval of the shipped models (see %s.log)", out);
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.json", out);
    char *txt = tu_slurp(path, NULL);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON *methods = root ? cJSON_GetObjectItemCaseSensitive(root, "methods") : NULL;
    CHECK(methods != NULL, "%s: no methods", path);
    double rnd = method_value(methods, "random", FIRST_FRAMES), up = method_value(methods, "autoencoded", FIRST_FRAMES);
    CHECK(rnd > 0 && up > rnd, "bounds: random %.2f, autoencoded %.2f dB", rnd, up);
    for (size_t i = 0; i < MV_ARRAY_LEN(METHODS); i++) {
        double p = method_value(methods, METHODS[i], FIRST_FRAMES);
        fprintf(stderr, "%-10s first %d generated frames: %.2f dB (random %.2f, autoencoded %.2f)\n", METHODS[i],
                FIRST_FRAMES, p, rnd, up);
        CHECK(p > rnd + MARGIN_DB, "%s: %.2f dB is not %.1f dB above the random-video bound %.2f", METHODS[i], p,
              MARGIN_DB, rnd);
        CHECK(p < up + 0.5, "%s: %.2f dB above the autoencoded bound %.2f (metrics broken?)", METHODS[i], p, up);
    }
    cJSON_Delete(root);
}

int main(void) {
    const char *b = getenv("MV_BUILD"), *m = getenv("MV_MODELS");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b && *b ? b : "build");
    snprintf(g_dir, sizeof g_dir, "%s", m && *m ? m : "models");
    char ae_hash[17];
    check_files(ae_hash);
    if (ae_hash[0]) check_rollouts();
    return tu_finish();
}
