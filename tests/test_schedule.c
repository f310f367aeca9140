/* Rollout schedules (OFFICIAL_MODULES.md §4): the worked table of §4.2 cell by cell, N/S/A of the
 * official configurations, rollout invariants (each (frame, level) generated once, tokens per step,
 * causality of the context), training step probabilities, FramePack / full-res counts, JSON output. */
#include <math.h>

#include "core/core.h"
#include "core/rng.h"
#include "rollout/schedule.h"
#include "testutil.h"

/* mini: 64x64, patch 8 (64/16/4/1 tokens); paper: 256x256, patch 16 (256/64/16/4). */
static mv_config make_config(int paper) {
    mv_config c;
    memset(&c, 0, sizeof(c));
    snprintf(c.preset, sizeof(c.preset), "%s", paper ? "paper" : "mini");
    c.image_size = paper ? 256 : 64;
    c.patch = paper ? 16 : 8;
    c.levels = 4;
    c.latent_channels = paper ? 32 : 16;
    int w[4] = {1, 4, 16, 64}, wp[4] = {3, 12, 48, 192};
    for (int l = 0; l < 4; l++) {
        c.mv_windows[l] = paper ? wp[l] : w[l];
        c.fp_context[l] = paper ? wp[l] : w[l];
    }
    c.mv_budget = paper ? 768 : 64;
    c.fp_denoise = paper ? 3 : 1;
    c.fr_frames = paper ? 14 : 5;
    c.sample_steps = paper ? 50 : 20;
    c.guidance = 1;
    c.context_frames = paper ? 256 : 128;
    c.video_frames = paper ? 1024 : 384;
    return c;
}

static int build(mv_schedule *s, mv_method m, const mv_config *c) {
    mv_status st = mv_schedule_build(s, m, c);
    CHECK(st == MV_OK, "build %s: %s", mv_method_name(m), mv_last_error());
    return st == MV_OK;
}

/* Compares the rows of step k at chunk_start with the table strings (level 0 first) and f0. */
static void check_step(const mv_schedule *s, int k, int cs, int target, const char *const rows[4], int f0) {
    char buf[512];
    CHECK(s->steps[k].target_level == target, "step %d target %d, want %d", k, s->steps[k].target_level, target);
    for (int l = 0; l < 4; l++) {
        if (!rows[l]) continue;
        mv_step_describe(s, k, l, cs, buf, sizeof(buf));
        CHECK(!strcmp(buf, rows[l]), "chunk_start %d step %d level %d: got '%s', want '%s'", cs, k, l, buf, rows[l]);
    }
    if (f0 >= 0) {
        mv_cell cells[4 * 512];
        int tok, first;
        MV_ASSERT(s->levels * s->N <= 4 * 512);
        int n = mv_step_cells(s, k, cs, cells, &tok, &first);
        CHECK(first == f0, "step %d f0 %d, want %d", k, first, f0);
        CHECK(tok == s->steps[k].tokens, "step %d cells tokens %d vs %d", k, tok, s->steps[k].tokens);
        int sorted = n > 0;
        for (int i = 1; i < n; i++)
            sorted &= cells[i].level > cells[i - 1].level ||
                      (cells[i].level == cells[i - 1].level && cells[i].frame > cells[i - 1].frame);
        CHECK(sorted, "step %d cells level-major then frame", k);
    }
}

static void test_worked_table(void) {
    mv_config c = make_config(0); /* w = [1,4,16,64], B = T_0 = 64 */
    mv_schedule s;
    if (!build(&s, MV_METHOD_MILLIVID, &c)) return;
    CHECK(s.N == 149 && s.S == 85 && s.A == 64, "N %d S %d A %d", s.N, s.S, s.A);
    CHECK(s.nsteps == 85 && s.ngroups == 4, "steps %d groups %d", s.nsteps, s.ngroups);
    CHECK(s.extra[0] == 1 && s.extra[1] == 4 && s.extra[2] == 16 && s.extra[3] == 64, "e");
    int cs0, nchunks, limit;
    CHECK(mv_rollout_chunks(&s, 128, 384, &cs0, &nchunks, &limit) == MV_OK, "rollout: %s", mv_last_error());
    CHECK(cs0 == 43 && nchunks == 4 && limit == 384, "chunk_start %d chunks %d limit %d", cs0, nchunks, limit);
    const char *const t[8][4] = {
        {"C 127", "C 123-126", "C 107-122", "C 43-106; D 128-191"},
        {"C 127", "C 123-126", "C 107-122; D 128-143", "C 128-191"},
        {"C 127", "C 123-126; D 128-131", "C 128-143", "C 107-122, 144-191"},
        {"C 127; D 128", "C 128-131", "C 123-126, 132-143", "C 107-122, 144-191"},
        {"C 128; D 129", "C 127, 129-131", "C 123-126, 132-143", "C 107-122, 144-191"},
        {"C 129; D 130", "C 127-128, 130-131", "C 123-126, 132-143", "C 107-122, 144-191"},
        {"C 130; D 131", "C 127-129, 131", "C 123-126, 132-143", "C 107-122, 144-191"},
        {"C 131", "C 127-130; D 132-135", "C 123-126, 132-143", "C 107-122, 144-191"},
    };
    const int target[8] = {3, 2, 1, 0, 0, 0, 0, 1}, f0[8] = {43, 107, 107, 107, 107, 107, 107, 107};
    for (int k = 0; k < 8; k++) check_step(&s, k, cs0, target[k], t[k], f0[k]);
    char buf[256], want[64];
    for (int k = 8; k < 12; k++) { /* steps 8-11: L0 frames 132-135 */
        snprintf(want, sizeof(want), "D %d", 124 + k);
        mv_step_describe(&s, k, 0, cs0, buf, sizeof(buf));
        CHECK(s.steps[k].target_level == 0 && strstr(buf, want), "step %d L0 '%s' want %s", k, buf, want);
    }
    mv_step_describe(&s, 12, 1, cs0, buf, sizeof(buf));
    CHECK(s.steps[12].target_level == 1 && strstr(buf, "D 136-139"), "step 12 L1 '%s'", buf);
    mv_step_describe(&s, 22, 2, cs0, buf, sizeof(buf));
    CHECK(s.steps[22].target_level == 2 && strstr(buf, "D 144-159"), "step 22 L2 '%s'", buf);
    mv_step_describe(&s, 84, 0, cs0, buf, sizeof(buf));
    CHECK(s.steps[84].target_level == 0 && strstr(buf, "D 191") && !strstr(buf, "D 191-"), "step 84 L0 '%s'", buf);
    const char *const chunk2[4] = {"C 191", "C 187-190", "C 171-186", "C 107-170; D 192-255"};
    check_step(&s, 0, cs0 + s.A, 3, chunk2, 107);
    mv_schedule_free(&s);
}

static void test_official_configs(void) {
    mv_config c = make_config(1); /* main: w = [3,12,48,192], B = 768 */
    mv_schedule s;
    int cs0, nchunks, limit;
    if (build(&s, MV_METHOD_MILLIVID, &c)) {
        CHECK(s.N == 447 && s.S == 255 && s.A == 192 && s.nsteps == 85, "main N %d S %d A %d", s.N, s.S, s.A);
        CHECK(s.tokens_per_step_max == 3840, "main tokens %d", s.tokens_per_step_max);
        CHECK(mv_rollout_chunks(&s, 256, 1024, &cs0, &nchunks, &limit) == MV_OK, "main rollout");
        CHECK(cs0 == 1 && nchunks == 4 && limit == 1024, "main chunk_start %d chunks %d", cs0, nchunks);
        const char *const step0[4] = {"C 253-255", "C 241-252", "C 193-240", "C 1-192; D 256-447"};
        check_step(&s, 0, cs0, 3, step0, 1);
        mv_schedule_free(&s);
    }
    /* ablation: w = [1,4,16,64], B = 256 at paper size */
    int w[4] = {1, 4, 16, 64};
    for (int l = 0; l < 4; l++) c.mv_windows[l] = w[l], c.fp_context[l] = w[l];
    c.mv_budget = 256;
    if (build(&s, MV_METHOD_MILLIVID, &c)) {
        CHECK(s.N == 149 && s.S == 85 && s.A == 64 && s.tokens_per_step_max == 1280, "ablation N %d S %d", s.N, s.S);
        CHECK(mv_rollout_chunks(&s, 256, 1024, &cs0, &nchunks, &limit) == MV_OK, "ablation rollout");
        CHECK(cs0 == 171 && nchunks == 12 && nchunks * s.nsteps == 1020, "ablation %d chunks from %d", nchunks, cs0);
        mv_schedule_free(&s);
    }
    c.fp_denoise = 1; /* ablation FramePack: F = 86, 1280 tokens, 768 chunks */
    if (build(&s, MV_METHOD_FRAMEPACK, &c)) {
        CHECK(s.N == 86 && s.S == 85 && s.A == 1 && s.tokens_per_step_max == 1280, "fp ablation N %d", s.N);
        CHECK(mv_rollout_chunks(&s, 256, 1024, &cs0, &nchunks, &limit) == MV_OK && cs0 == 171 && nchunks == 768,
              "fp ablation chunks %d from %d", nchunks, cs0);
        mv_schedule_free(&s);
    }
    c = make_config(1); /* main FramePack: ctx [3,12,48,192], n_d 3: F = 258, 3840 tokens, 256 chunks */
    if (build(&s, MV_METHOD_FRAMEPACK, &c)) {
        CHECK(s.N == 258 && s.S == 255 && s.A == 3 && s.tokens_per_step_max == 3840, "fp main N %d tok %d", s.N,
              s.tokens_per_step_max);
        CHECK(mv_rollout_chunks(&s, 256, 1024, &cs0, &nchunks, &limit) == MV_OK && cs0 == 1 && nchunks == 256,
              "fp main chunks %d from %d", nchunks, cs0);
        const char *const rows[4] = {"C 253-255; D 256-258", "C 241-252", "C 193-240", "C 1-192"};
        check_step(&s, 0, cs0, 0, rows, 1);
        mv_schedule_free(&s);
    }
    if (build(&s, MV_METHOD_FULLRES, &c)) { /* main full-res: N = 14 (7 + 7), 3584 tokens, 110 chunks */
        CHECK(s.N == 14 && s.S == 7 && s.A == 7 && s.tokens_per_step_max == 3584, "fullres main N %d", s.N);
        CHECK(mv_rollout_chunks(&s, 256, 1024, &cs0, &nchunks, &limit) == MV_OK && cs0 == 249 && nchunks == 110 &&
                  limit == 1026, "fullres main chunk_start %d chunks %d limit %d", cs0, nchunks, limit);
        mv_schedule_free(&s);
    }
    c.fr_frames = 4; /* ablation full-res: 2 + 2, 1024 tokens */
    if (build(&s, MV_METHOD_FULLRES, &c)) {
        CHECK(s.N == 4 && s.S == 2 && s.A == 2 && s.tokens_per_step_max == 1024, "fullres ablation");
        mv_schedule_free(&s);
    }
}

/* Simulates a rollout cell by cell: every CONTEXT cell must be ground truth (frame < context) or
 * generated by an earlier step; every (row, frame) in [context, limit) of a denoised row is DENOISED
 * exactly once, never a ground-truth frame. FramePack context rows are compressions of level-0
 * latents, so they need frame f at level 0. */
static void check_rollout(const mv_schedule *s, int context, int frames, int step_tokens, const char *what) {
    int cs0, nchunks, limit, L = s->levels;
    if (mv_rollout_chunks(s, context, frames, &cs0, &nchunks, &limit) != MV_OK) {
        CHECK(0, "%s: rollout: %s", what, mv_last_error());
        return;
    }
    uint8_t *gen = calloc((size_t)L * limit, 1), *den_row = calloc((size_t)L, 1);
    int *count = calloc((size_t)L * limit, sizeof(int));
    long bad_ctx = 0, bad_den = 0, outside = 0, two_levels = 0, bad_tokens = 0;
    for (int l = 0; l < L; l++)
        for (int f = 0; f < context; f++) gen[(size_t)l * limit + f] = 1;
    for (int c = 0; c < nchunks; c++) {
        int cs = cs0 + c * s->A;
        for (int k = 0; k < s->nsteps; k++) {
            if (step_tokens && s->steps[k].tokens != step_tokens) bad_tokens++;
            for (int f = 0; f < s->N; f++) {
                int nontarget = 0;
                for (int l = 0; l < L; l++) {
                    int r = mv_step_role(s, k, l, f), a = cs + f;
                    if (r == MV_ROLE_UNSEEN) continue;
                    if (a < 0 || a >= limit) {
                        outside++;
                        continue;
                    }
                    nontarget += l != s->steps[k].target_level;
                    int gl = s->method == MV_METHOD_FRAMEPACK ? 0 : l;
                    if (r == MV_ROLE_CONTEXT && !gen[(size_t)gl * limit + a]) bad_ctx++;
                    if (r == MV_ROLE_DENOISED) {
                        if (a < context) bad_den++;
                        count[(size_t)l * limit + a]++;
                        den_row[l] = 1;
                    }
                }
                if (s->method == MV_METHOD_MILLIVID && nontarget > 1) two_levels++;
            }
            for (int l = 0; l < L; l++) /* generated frames become visible after the step */
                for (int f = 0; f < s->N; f++)
                    if (mv_step_role(s, k, l, f) == MV_ROLE_DENOISED) gen[(size_t)l * limit + cs + f] = 1;
        }
    }
    long not_once = 0;
    int rows = 0;
    for (int l = 0; l < L; l++) {
        rows += den_row[l];
        for (int f = context; f < limit && den_row[l]; f++) not_once += count[(size_t)l * limit + f] != 1;
    }
    CHECK(limit >= frames, "%s: limit %d covers %d", what, limit, frames);
    CHECK(rows == (s->method == MV_METHOD_MILLIVID ? L : 1), "%s: %d denoised rows", what, rows);
    CHECK(not_once == 0, "%s: %ld (frame, level) cells not denoised exactly once", what, not_once);
    CHECK(bad_den == 0, "%s: %ld ground-truth cells denoised", what, bad_den);
    CHECK(bad_ctx == 0, "%s: %ld context cells not yet generated", what, bad_ctx);
    CHECK(outside == 0, "%s: %ld cells outside [0, limit)", what, outside);
    CHECK(two_levels == 0, "%s: %ld frames at two non-target levels", what, two_levels);
    CHECK(bad_tokens == 0, "%s: %ld steps without %d tokens", what, bad_tokens, step_tokens);
    free(gen);
    free(den_row);
    free(count);
}

static void test_invariants(void) {
    for (int paper = 0; paper < 2; paper++) {
        mv_config c = make_config(paper);
        const mv_method ms[3] = {MV_METHOD_MILLIVID, MV_METHOD_FRAMEPACK, MV_METHOD_FULLRES};
        for (int i = 0; i < 3; i++) {
            mv_schedule s;
            if (!build(&s, ms[i], &c)) continue;
            char what[64];
            snprintf(what, sizeof(what), "%s %s", c.preset, mv_method_name(ms[i]));
            /* MilliVid: (L+1) B tokens in every step; the baselines match that budget too. */
            int tokens = (c.levels + 1) * c.mv_budget;
            if (ms[i] == MV_METHOD_FULLRES) tokens = c.fr_frames * mv_config_tokens(&c, 0);
            check_rollout(&s, c.context_frames, c.video_frames, tokens, what);
            /* a rollout whose length is not a multiple of A (padding past the end) */
            check_rollout(&s, c.context_frames + 5, c.video_frames - 2, tokens, what);
            mv_schedule_free(&s);
        }
    }
    /* ratio 2 windows [1,2,4,8] (§4.2 lists it): same structure, tokens vary by step */
    mv_config c = make_config(0);
    int w2[4] = {1, 2, 4, 8};
    for (int l = 0; l < 4; l++) c.mv_windows[l] = w2[l];
    c.mv_budget = 64; /* w[l] T_l != B here: tokens vary by step, the structure must still hold */
    mv_schedule s;
    if (build(&s, MV_METHOD_MILLIVID, &c)) {
        CHECK(s.nsteps == 15 && s.A == 8, "[1,2,4,8] steps %d A %d", s.nsteps, s.A);
        int cs0, nchunks, limit;
        CHECK(mv_rollout_chunks(&s, 200, 300, &cs0, &nchunks, &limit) == MV_OK, "[1,2,4,8] rollout");
        check_rollout(&s, 200, 300, 0, "[1,2,4,8]");
        mv_schedule_free(&s);
    }
}

static void test_sampling(void) {
    mv_config c = make_config(0);
    mv_schedule s;
    if (!build(&s, MV_METHOD_MILLIVID, &c)) return;
    const double want[4] = {1.0 / 256, 1.0 / 64, 1.0 / 16, 1.0 / 4};
    int per_group[4] = {0}, probs_ok = 1;
    for (int k = 0; k < s.nsteps; k++) {
        per_group[s.steps[k].target_level]++;
        probs_ok &= fabs(s.steps[k].prob - want[s.steps[k].target_level]) < 1e-15;
    }
    CHECK(probs_ok, "step probabilities 1/4, 1/16, 1/64, 1/256");
    CHECK(per_group[0] == 64 && per_group[1] == 16 && per_group[2] == 4 && per_group[3] == 1, "steps per group");
    CHECK(mv_schedule_offsets(&s, 149) == 1 && mv_schedule_offsets(&s, 148) == 0 &&
              mv_schedule_offsets(&s, 1024) == 876, "training offsets");
    CHECK(fabs(s.cdf[s.nsteps - 1] - 1) < 1e-12, "cdf ends at 1: %.17g", s.cdf[s.nsteps - 1]);
    CHECK(mv_schedule_sample_step(&s, 0.0) == 0, "u=0 -> step 0");
    CHECK(mv_schedule_sample_step(&s, 0.25) == 0, "u=0.25 -> step 0 (left)");
    CHECK(mv_schedule_sample_step(&s, 0.25 + 1e-12) == 1, "u just above 1/4 -> step 1");
    CHECK(mv_schedule_sample_step(&s, 0.3125) == 1, "u=5/16 -> step 1");
    CHECK(mv_schedule_sample_step(&s, 1.0) == 84 && mv_schedule_sample_step(&s, 2.0) == 84, "clamp");
    mv_rng r;
    mv_rng_init(&r, 1);
    int hist[4] = {0}, n = 200000, h3 = 0;
    for (int i = 0; i < n; i++) {
        int k = mv_schedule_sample_step(&s, mv_rng_uniform1(&r));
        hist[s.steps[k].target_level]++;
        h3 += k == 3;
    }
    for (int g = 0; g < 4; g++)
        CHECK(fabs(hist[g] / (double)n - 0.25) < 0.005, "group %d frequency %.4f", g, hist[g] / (double)n);
    CHECK(fabs(h3 / (double)n - 1.0 / 256) < 0.001, "one L0 step frequency %.5f", h3 / (double)n);
    mv_schedule_free(&s);
    if (build(&s, MV_METHOD_FRAMEPACK, &c)) {
        CHECK(s.nsteps == 1 && s.steps[0].prob == 1 && mv_schedule_sample_step(&s, 0.7) == 0, "framepack 1 step");
        mv_schedule_free(&s);
    }
}

static void test_mini_baselines(void) {
    mv_config c = make_config(0);
    mv_schedule s;
    if (build(&s, MV_METHOD_FRAMEPACK, &c)) {
        CHECK(s.N == 86 && s.S == 85 && s.A == 1 && s.levels == 4, "framepack mini N %d S %d", s.N, s.S);
        CHECK(s.tokens_per_step_max == 320 && s.steps[0].denoised_tokens == 64, "framepack mini tokens %d",
              s.tokens_per_step_max);
        const char *const rows[4] = {"C 127; D 128", "C 123-126", "C 107-122", "C 43-106"};
        check_step(&s, 0, 43, 0, rows, 43);
        mv_schedule_free(&s);
    }
    if (build(&s, MV_METHOD_FULLRES, &c)) {
        CHECK(s.N == 5 && s.S == 2 && s.A == 3 && s.levels == 1, "fullres mini N %d S %d A %d", s.N, s.S, s.A);
        CHECK(s.tokens_per_step_max == 320 && s.steps[0].denoised_tokens == 192, "fullres mini tokens");
        int cs0, nchunks, limit;
        CHECK(mv_rollout_chunks(&s, 128, 384, &cs0, &nchunks, &limit) == MV_OK && cs0 == 126 && nchunks == 86 &&
                  limit == 386, "fullres mini chunk_start %d chunks %d limit %d", cs0, nchunks, limit);
        const char *const rows[4] = {"C 126-127; D 128-130", NULL, NULL, NULL};
        check_step(&s, 0, cs0, 0, rows, 126);
        mv_schedule_free(&s);
    }
}

static void test_errors(void) {
    mv_config c = make_config(0);
    mv_schedule s;
    int cs0, nchunks, limit;
    if (build(&s, MV_METHOD_MILLIVID, &c)) {
        CHECK(mv_rollout_chunks(&s, 40, 384, &cs0, &nchunks, &limit) == MV_ERR_ARG, "short context rejected");
        CHECK(strstr(mv_last_error(), "context 40 is shorter than the 85 frames"), "message: %s", mv_last_error());
        CHECK(mv_rollout_chunks(&s, 384, 384, &cs0, &nchunks, &limit) == MV_ERR_ARG, "context >= frames rejected");
        CHECK(strstr(mv_last_error(), "context 384"), "message: %s", mv_last_error());
        CHECK(mv_rollout_chunks(&s, 85, 86, &cs0, &nchunks, &limit) == MV_OK && cs0 == 0 && nchunks == 1,
              "exactly S context frames is enough");
        mv_schedule_free(&s);
    }
    mv_config bad = c;
    bad.mv_windows[2] = 6;
    CHECK(mv_schedule_build(&s, MV_METHOD_MILLIVID, &bad) == MV_ERR_ARG, "windows not nested rejected");
    CHECK(strstr(mv_last_error(), "millivid.windows[2]"), "message: %s", mv_last_error());
    mv_schedule_free(&s);
    bad = c;
    bad.fp_denoise = 0;
    CHECK(mv_schedule_build(&s, MV_METHOD_FRAMEPACK, &bad) == MV_ERR_ARG, "framepack.denoise 0 rejected");
    bad = c;
    bad.fr_frames = 1;
    CHECK(mv_schedule_build(&s, MV_METHOD_FULLRES, &bad) == MV_ERR_ARG, "fullres.frames 1 rejected");
    CHECK(strstr(mv_last_error(), "fullres.frames"), "message: %s", mv_last_error());
    mv_schedule_free(&s); /* freeing a failed build is safe */
    mv_method m;
    CHECK(mv_method_from_string("framepack", &m) == MV_OK && m == MV_METHOD_FRAMEPACK, "from_string");
    CHECK(mv_method_from_string("fullres", &m) == MV_OK && !strcmp(mv_method_name(m), "fullres"), "fullres name");
    CHECK(mv_method_from_string("frampack", &m) == MV_ERR_ARG && strstr(mv_last_error(), "frampack"),
          "unknown method: %s", mv_last_error());
}

static void test_json(void) {
    mv_config c = make_config(0);
    const char *dir = tu_tmpdir("schedule_json");
    const mv_method ms[3] = {MV_METHOD_MILLIVID, MV_METHOD_FRAMEPACK, MV_METHOD_FULLRES};
    for (int i = 0; i < 3; i++) {
        mv_schedule s;
        if (!build(&s, ms[i], &c)) continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s.json", dir, mv_method_name(ms[i]));
        FILE *f = fopen(path, "w");
        CHECK(f && mv_schedule_write_json(f, &s, 128, 384) == MV_OK, "write %s", path);
        if (f) fclose(f);
        mv_schedule_free(&s);
    }
    /* The whole rollout: every generated (level, frame) appears once as denoised, context frames are
     * absolute and earlier-or-planned. */
    int rc = tu_python(
        "-c 'import json, sys\n"
        "d = json.load(open(\"%s/millivid.json\"))\n"
        "assert d[\"method\"] == \"millivid\" and d[\"N\"] == 149 and d[\"S\"] == 85 and d[\"A\"] == 64, d\n"
        "assert d[\"tokens_per_step\"] == 320 and len(d[\"steps\"]) == 340\n"
        "s0 = d[\"steps\"][0]\n"
        "assert s0[\"target_level\"] == 3 and s0[\"denoised\"] == [{\"level\": 3, \"frames\": list(range(128, 192))}]\n"
        "assert s0[\"context\"][0] == {\"level\": 0, \"frames\": [127]}, s0\n"
        "seen = {}\n"
        "for s in d[\"steps\"]:\n"
        "    for g in s[\"denoised\"]:\n"
        "        for f in g[\"frames\"]: seen[(g[\"level\"], f)] = seen.get((g[\"level\"], f), 0) + 1\n"
        "assert sorted(seen) == [(l, f) for l in range(4) for f in range(128, 384)] and set(seen.values()) == {1}\n"
        "fp = json.load(open(\"%s/framepack.json\"))\n"
        "assert len(fp[\"steps\"]) == 256 and fp[\"steps\"][-1][\"denoised\"] == [{\"level\": 0, \"frames\": [383]}]\n"
        "fr = json.load(open(\"%s/fullres.json\"))\n"
        "assert fr[\"N\"] == 5 and len(fr[\"steps\"]) == 86 and fr[\"tokens_per_step\"] == 320\n"
        "'",
        dir, dir, dir);
    CHECK(rc == 0, "JSON parses and matches (python exit %d)", rc);
}

/* The CLI end to end (needs build/millivid and configs/mini.json, both built by `make test`). */
static void test_cli(void) {
    const char *b = getenv("MV_BUILD") ? getenv("MV_BUILD") : "build";
    const char *dir = tu_tmpdir("schedule_cli");
    int rc = tu_sh("%s/millivid schedule --method millivid --config mini --context 128 --frames 384 --json > %s/m.json",
                   b, dir);
    CHECK(rc == 0, "millivid schedule --json exit %d", rc);
    rc = tu_python("-c 'import json; d = json.load(open(\"%s/m.json\")); assert len(d[\"steps\"]) == 340'", dir);
    CHECK(rc == 0, "CLI JSON parses (python exit %d)", rc);
    rc = tu_sh("%s/millivid schedule --method fullres --set fullres.frames=6 --context 128 --frames 384 > %s/f.txt", b,
               dir);
    CHECK(rc == 0, "millivid schedule --set exit %d", rc);
    rc = tu_sh("grep -q 'N = 6 frames per chunk' %s/f.txt", dir);
    CHECK(rc == 0, "--set fullres.frames=6 applied");
    rc = tu_sh("%s/millivid schedule --context 10 --frames 384 2> %s/err.txt", b, dir);
    CHECK(rc != 0, "short context: non-zero exit");
    rc = tu_sh("grep -q 'context 10 is shorter than the 85 frames' %s/err.txt && test $(wc -l < %s/err.txt) -eq 1", dir,
               dir);
    CHECK(rc == 0, "short context: one clear message");
    rc = tu_sh("%s/millivid schedule --method bogus 2> /dev/null", b);
    CHECK(rc != 0, "unknown method: non-zero exit");
    rc = tu_sh("%s/millivid schedule --frames x 2> /dev/null", b);
    CHECK(rc != 0, "bad --frames: non-zero exit");
}

/* The evaluation context of both presets: the MilliVid reach (sum of millivid.windows) + 1, the reach equal to
 * S of the MilliVid and FramePack schedules; eval.context overrides it. */
static void test_eval_context(void) {
    for (int paper = 0; paper < 2; paper++) {
        mv_config c;
        const char *name = paper ? "paper" : "mini";
        if (mv_config_load(&c, name)) {
            CHECK(0, "load %s: %s", name, mv_last_error());
            continue;
        }
        int reach = paper ? 255 : 85;
        CHECK(mv_config_reach(&c) == reach && mv_config_eval_context(&c) == reach + 1 && c.context_frames == 0,
              "%s: reach %d, eval context %d (eval.context %d)", name, mv_config_reach(&c), mv_config_eval_context(&c),
              c.context_frames);
        mv_schedule s = {0};
        int cs0 = -1, nch, lim;
        for (int m = MV_METHOD_MILLIVID; m <= MV_METHOD_FRAMEPACK; m++) {
            if (!build(&s, (mv_method)m, &c)) continue;
            CHECK(s.S == reach, "%s %s: S %d = the reach", name, mv_method_name((mv_method)m), s.S);
            CHECK(mv_rollout_chunks(&s, mv_config_eval_context(&c), c.video_frames, &cs0, &nch, &lim) == MV_OK &&
                      cs0 == 1, "%s %s: the first chunk sees context frames from %d", name,
                  mv_method_name((mv_method)m), cs0);
            mv_schedule_free(&s);
        }
        CHECK(mv_config_set(&c, "eval.context=100") == MV_OK && mv_config_validate(&c) == MV_OK &&
                  mv_config_eval_context(&c) == 100, "%s: eval.context=100 overrides", name);
        CHECK(mv_config_set(&c, "eval.context=0") == MV_OK && mv_config_set(&c, "eval.frames=50") == MV_OK &&
                  mv_config_validate(&c) == MV_ERR_ARG && strstr(mv_last_error(), "eval.frames"),
              "%s: eval.frames not above the derived context refused: %s", name, mv_last_error());
    }
    mv_config c;
    CHECK(mv_config_load(&c, "mini") == MV_OK && mv_config_set(&c, "millivid.windows=[2,8,32,128]") == MV_OK &&
              mv_config_set(&c, "millivid.budget=128") == MV_OK && mv_config_validate(&c) == MV_OK &&
              mv_config_eval_context(&c) == 171, "derived from the windows: [2,8,32,128] gives 171");
    const char *b = getenv("MV_BUILD") ? getenv("MV_BUILD") : "build";
    const char *dir = tu_tmpdir("schedule_ctx");
    int rc = tu_sh("%s/millivid schedule --frames 200 > %s/mini.txt && grep -q 'rollout: context 0-85, generate 86-199'"
                   " %s/mini.txt", b, dir, dir);
    CHECK(rc == 0, "millivid schedule: mini context 86 by default");
    rc = tu_sh("%s/millivid schedule --config paper --frames 300 > %s/paper.txt && grep -q 'rollout: context 0-255, "
               "generate 256-299' %s/paper.txt", b, dir, dir);
    CHECK(rc == 0, "millivid schedule: paper context 256 by default");
    rc = tu_sh("%s/millivid world --split test --videos 1 --frames 100 --size 16 --candidates 4 --quiet --out %s/w && "
               "grep -q '\"context\":[[:space:]]*86,' %s/w/index.json", b, dir, dir);
    CHECK(rc == 0, "world --split test: loops chosen for the mini evaluation context 86 by default");
}

int main(void) {
    test_eval_context();
    test_worked_table();
    test_official_configs();
    test_invariants();
    test_sampling();
    test_mini_baselines();
    test_errors();
    test_json();
    test_cli();
    return tu_finish();
}
