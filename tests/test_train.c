/* millivid train (video DiT) end to end on a tiny synthetic data set + latents:
 *  - millivid: 4 steps in one run == 2 steps + --resume + 2 steps (identical log lines, identical weights);
 *  - a run killed at every point of a checkpoint save resumes to the same weights and log;
 *  - no overwrite without --force; the optimizer (muon / adamw) is kept on resume; --init;
 *  - framepack and fullres train and write checkpoints with method, config and ae_hash metadata;
 *  - --bf16: a few steps give losses within 1% of the fp32 run;
 *  - generate: millivid and framepack checkpoints + a small random autoencoder write an mp4 of
 *    context + generated frames and one PNG per frame; --actions FILE.jsonl (per generated frame); the
 *    checkpoints record another ae_hash, refused without --allow-ae-mismatch;
 *  - bad input: unknown method, latents of other channels / levels, a checkpoint of another method on
 *    --resume, missing options: non-zero exit and one clear message;
 *  - the library loop alone (pipeline/train.h, no CLI) on a toy least-squares model: progress callback,
 *    log lines, and 6 steps in one run == 3 steps + resume + 3 steps (bit-identical weights and log). */
#include <math.h>
#include <unistd.h>

#include "core/core.h"
#include "core/rng.h"
#include "io/config.h"
#include "io/tensorfile.h"
#include "io/video.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "pipeline/train.h"
#include "testutil.h"


#define TINY "--set dit.width=24 --set dit.depth=1 --set dit.heads=2 --batch 2 --threads 2 --log-every 1"

static int train(const char *dir, const char *method, const char *out, const char *extra, const char *errfile) {
    return tu_sh("%s/millivid train --method %s --latents %s/latents.safetensors --data %s --out %s/%s " TINY
                 " %s >/dev/null 2>%s/%s",
                 tu_build_dir(), method, dir, dir, dir, out, extra, dir, errfile);
}

static int err_has(const char *dir, const char *errfile, const char *what) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, errfile);
    char *s = tu_slurp(path, NULL);
    int ok = s && strstr(s, what) != NULL;
    if (!ok) fprintf(stderr, "stderr of %s lacks '%s':\n%s\n", errfile, what, s ? s : "(none)");
    free(s);
    return ok;
}

static void test_resume(const char *dir) {
    CHECK(train(dir, "millivid", "a.safetensors", "--steps 4 --seed 3", "a.err") == 0, "4-step run");
    CHECK(train(dir, "millivid", "b.safetensors", "--steps 2 --seed 3", "b.err") == 0, "2-step run");
    CHECK(train(dir, "millivid", "b.safetensors", "--steps 4 --resume", "b2.err") == 0, "resumed run");
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/a.log.jsonl", dir);
    snprintf(pb, sizeof pb, "%s/b.log.jsonl", dir);
    char *la = tu_slurp(pa, NULL), *lb = tu_slurp(pb, NULL);
    CHECK(la && lb && !strcmp(la, lb), "logs identical:\n%s---\n%s", la ? la : "", lb ? lb : "");
    int lines = 0;
    for (const char *c = la ? la : ""; *c; c++) lines += *c == '\n';
    CHECK(lines == 4, "4 log lines, got %d", lines);
    free(la);
    free(lb);
    mv_safetensors fa, fb;
    mv_ckpt_meta ma, mb;
    snprintf(pa, sizeof pa, "%s/a.safetensors", dir);
    snprintf(pb, sizeof pb, "%s/b.safetensors", dir);
    if (mv_ckpt_open(&fa, &ma, pa, "video_universal") == MV_OK) {
        if (mv_ckpt_open(&fb, &mb, pb, "video_universal") == MV_OK) {
            CHECK(ma.step == 4 && mb.step == 4, "steps %ld %ld", ma.step, mb.step);
            CHECK(!strcmp(ma.variant, "millivid"), "variant %s", ma.variant);
            CHECK(!strcmp(ma.ae_hash, "0123456789abcdef"), "ae_hash copied: %s", ma.ae_hash);
            CHECK(ma.config.dit_width == 24 && ma.config.dit_depth == 1, "config stored");
            int same = fa.count == fb.count;
            for (int i = 0; same && i < fa.count; i++)
                same = fa.tensors[i].nbytes == fb.tensors[i].nbytes &&
                       !memcmp(fa.tensors[i].data, fb.tensors[i].data, fa.tensors[i].nbytes);
            CHECK(same, "weights after 4 steps identical with and without resume");
            mv_st_close(&fb);
        } else CHECK(0, "open b: %s", mv_last_error());
        mv_st_close(&fa);
    } else CHECK(0, "open a: %s", mv_last_error());
}

/* 1 when the two checkpoints (paths under dir) hold byte-identical tensors. */
static int same_weights(const char *dir, const char *a, const char *b) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    mv_safetensors fa, fb;
    mv_ckpt_meta ma, mb;
    int same = 0;
    if (mv_ckpt_open(&fa, &ma, pa, NULL) == MV_OK) {
        if (mv_ckpt_open(&fb, &mb, pb, NULL) == MV_OK) {
            same = fa.count == fb.count && ma.step == mb.step;
            for (int i = 0; same && i < fa.count; i++)
                same = fa.tensors[i].nbytes == fb.tensors[i].nbytes &&
                       !memcmp(fa.tensors[i].data, fb.tensors[i].data, fa.tensors[i].nbytes);
            mv_st_close(&fb);
        }
        mv_st_close(&fa);
    }
    return same;
}

static int same_file(const char *dir, const char *a, const char *b) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    char *sa = tu_slurp(pa, NULL), *sb = tu_slurp(pb, NULL);
    int same = sa && sb && !strcmp(sa, sb);
    free(sa);
    free(sb);
    return same;
}

/* A trainer killed at every point of a checkpoint save (after the optimizer state is written, after
 * the model file is renamed) resumes, and ends bit for bit where an uninterrupted run ends. */
static void test_kill_resume(const char *dir) {
    static const char *points[] = {"ckpt-after-optim:2", "ckpt-after-optim:3", "ckpt-after-model:1",
                                   "ckpt-after-model:2", "ckpt-after-model:3"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char out[64], log[64], extra[200];
        snprintf(out, sizeof out, "k%zu.safetensors", i);
        snprintf(log, sizeof log, "k%zu.log.jsonl", i);
        snprintf(extra, sizeof extra, "--steps 4 --seed 3 --checkpoint-every 1 --force");
        int rc = tu_sh("MV_TEST_KILL_AT=%s %s/millivid train --method millivid --latents %s/latents.safetensors "
                       "--data %s --out %s/%s " TINY " %s >/dev/null 2>%s/k.err",
                       points[i], tu_build_dir(), dir, dir, dir, out, extra, dir);
        CHECK(rc != 0, "run killed at %s (rc %d)", points[i], rc);
        CHECK(train(dir, "millivid", out, "--steps 4 --resume --checkpoint-every 1", "k2.err") == 0,
              "resume after a kill at %s", points[i]);
        CHECK(same_weights(dir, "a.safetensors", out), "killed at %s: weights equal the uninterrupted run's",
              points[i]);
        CHECK(same_file(dir, "a.log.jsonl", log), "killed at %s: log equals the uninterrupted run's", points[i]);
        char next[700];
        snprintf(next, sizeof next, "%s/k%zu.optim.next.safetensors", dir, i);
        CHECK(access(next, F_OK) != 0, "no .next file left after resuming (%s)", points[i]);
    }
    /* Killed before its first model file: nothing to resume (a clear error), and a new run under the
     * same name needs no --force. */
    CHECK(tu_sh("MV_TEST_KILL_AT=ckpt-after-optim %s/millivid train --method millivid --latents "
                "%s/latents.safetensors --data %s --out %s/k9.safetensors " TINY
                " --steps 4 --seed 3 --checkpoint-every 1 >/dev/null 2>%s/k.err",
                tu_build_dir(), dir, dir, dir, dir) != 0, "killed before the first model file");
    CHECK(train(dir, "millivid", "k9.safetensors", "--steps 4 --resume", "k3.err") != 0 &&
              err_has(dir, "k3.err", "k9.safetensors"), "resume without a model file: one clear error");
    CHECK(train(dir, "millivid", "k9.safetensors", "--steps 4 --seed 3", "k4.err") == 0 &&
              same_weights(dir, "a.safetensors", "k9.safetensors"), "started again without --force");
}

/* No silent overwrite; the optimizer is recorded and kept; --init starts from weights. */
static void test_run_files(const char *dir) {
    CHECK(train(dir, "millivid", "a.safetensors", "--steps 4 --seed 3", "o1.err") != 0 &&
              err_has(dir, "o1.err", "--force"), "a finished run is not overwritten without --force");
    CHECK(same_weights(dir, "a.safetensors", "b.safetensors"), "the refused run left the files alone");
    CHECK(train(dir, "millivid", "w.safetensors", "--steps 2 --optimizer adamw", "o2.err") == 0, "adamw run");
    CHECK(train(dir, "millivid", "w.safetensors", "--steps 3 --resume --optimizer muon", "o3.err") != 0 &&
              err_has(dir, "o3.err", "--optimizer adamw"), "resuming with another optimizer is refused");
    CHECK(train(dir, "millivid", "w.safetensors", "--steps 3 --resume", "o4.err") == 0 &&
              err_has(dir, "o4.err", "optimizer adamw"), "resume keeps the run's optimizer");
    CHECK(train(dir, "millivid", "x.safetensors", "--steps 3 --optimizer sgd", "o5.err") != 0 &&
              err_has(dir, "o5.err", "muon or adamw"), "unknown optimizer refused");
    char extra[700];
    snprintf(extra, sizeof extra, "--steps 6 --init %s/a.safetensors", dir);
    CHECK(train(dir, "millivid", "i.safetensors", extra, "o6.err") == 0 && err_has(dir, "o6.err", "step 4"),
          "--init starts from the weights of step 4");
    char path[700];
    snprintf(path, sizeof path, "%s/i.log.jsonl", dir);
    char *log = tu_slurp(path, NULL);
    CHECK(log && strstr(log, "\"step\": 5,") && !strstr(log, "\"step\": 4,"), "the --init run logs steps 5-6:\n%s",
          log ? log : "");
    free(log);
    snprintf(extra, sizeof extra, "--steps 6 --resume --init %s/a.safetensors", dir);
    CHECK(train(dir, "millivid", "i.safetensors", extra, "o7.err") != 0 && err_has(dir, "o7.err", "exclude"),
          "--resume with --init refused");
    snprintf(extra, sizeof extra, "--steps 6 --init %s/fp.safetensors", dir);
    CHECK(train(dir, "millivid", "j.safetensors", extra, "o8.err") != 0 && err_has(dir, "o8.err", "cannot resume"),
          "--init from another method refused");
}

static void test_methods(const char *dir) {
    CHECK(train(dir, "framepack", "fp.safetensors", "--steps 2", "fp.err") == 0, "framepack trains");
    CHECK(train(dir, "fullres", "fr.safetensors", "--steps 2", "fr.err") == 0, "fullres trains");
    char p[600];
    mv_safetensors f;
    mv_ckpt_meta m;
    snprintf(p, sizeof p, "%s/fp.safetensors", dir);
    if (mv_ckpt_open(&f, &m, p, "video_framepack") == MV_OK) {
        CHECK(!strcmp(m.variant, "framepack") && m.step == 2, "framepack meta %s %ld", m.variant, m.step);
        CHECK(mv_st_find(&f, "dit.patchify.3.weight") != NULL, "framepack kernels stored");
        mv_st_close(&f);
    } else CHECK(0, "open fp: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/fp.log.jsonl", dir);
    char *s = tu_slurp(p, NULL);
    CHECK(s && strstr(s, "\"step\": 2") && !strstr(s, "nan"), "framepack log: %s", s ? s : "");
    free(s);
    /* context-cache training runs (mask path) */
    CHECK(train(dir, "millivid", "cc.safetensors", "--steps 1 --set dit.context_cache=1", "cc.err") == 0, "context cache trains");
}

/* Reads the "loss" of every line of a training log into loss[] (at most n); returns the count. */
static int log_losses(const char *path, double *loss, int n) {
    char *s = tu_slurp(path, NULL);
    int k = 0;
    for (const char *c = s; c && k < n && (c = strstr(c, "\"loss\": ")); c += 8) loss[k++] = atof(c + 8);
    free(s);
    return k;
}

/* --bf16 (linear layers with bf16 operands): a few steps of a model wide enough for the bf16 path
 * (width 64) give losses within 1% of the fp32 run; the checkpoint is written as usual. */
static void test_bf16(const char *dir) {
    /* adaLN-Zero starts at v = 0: warm-up 1 and a large lr so that the later steps use trained weights */
    const char *wide = "--set dit.width=64 --set dit.heads=2 --set dit.warmup=1 --set dit.lr=3e-3 --steps 5 --seed 5";
    char extra[256];
    CHECK(train(dir, "millivid", "f32.safetensors", wide, "f32.err") == 0, "fp32 run");
    snprintf(extra, sizeof extra, "%s --bf16", wide);
    CHECK(train(dir, "millivid", "b16.safetensors", extra, "b16.err") == 0, "--bf16 run");
    char pa[600], pb[600];
    double la[8], lb[8];
    snprintf(pa, sizeof pa, "%s/f32.log.jsonl", dir);
    snprintf(pb, sizeof pb, "%s/b16.log.jsonl", dir);
    int na = log_losses(pa, la, 8), nb = log_losses(pb, lb, 8);
    CHECK(na == 5 && nb == 5, "5 logged losses each, got %d and %d", na, nb);
    for (int i = 0; i < na && i < nb; i++)
        CHECK(fabs(lb[i] - la[i]) <= 0.01 * fabs(la[i]), "step %d: --bf16 loss %.6f vs fp32 %.6f", i + 1, lb[i],
              la[i]);
}

static void test_bad(const char *dir, const char *bad_c, const char *bad_l) {
    CHECK(train(dir, "sora", "x.safetensors", "--steps 1", "e1.err") != 0 && err_has(dir, "e1.err", "sora"),
          "unknown method refused");
    CHECK(train(dir, "framepack", "fp.safetensors", "--steps 4 --resume", "e2.err") == 0, "resume same method ok");
    CHECK(train(dir, "millivid", "fp.safetensors", "--steps 5 --resume", "e3.err") != 0 &&
              err_has(dir, "e3.err", "cannot resume"), "checkpoint of another method refused");
    CHECK(tu_sh("%s/millivid train --method millivid --latents %s/latents.safetensors --data %s --out %s/y "
                TINY " --steps 1 >/dev/null 2>%s/e4.err", tu_build_dir(), bad_c, dir, dir, dir) != 0 &&
              err_has(dir, "e4.err", "channels"), "latents of other channels refused");
    CHECK(tu_sh("%s/millivid train --method millivid --latents %s/latents.safetensors --data %s --out %s/y "
                TINY " --steps 1 >/dev/null 2>%s/e5.err", tu_build_dir(), bad_l, dir, dir, dir) != 0 &&
              err_has(dir, "e5.err", "levels"), "latents with too few levels refused");
    CHECK(tu_sh("%s/millivid train --method millivid --data %s >/dev/null 2>%s/e6.err", tu_build_dir(), dir, dir) != 0 &&
              err_has(dir, "e6.err", "required"), "missing options refused");
    CHECK(tu_sh("%s/millivid train --method millivid --latents %s/latents.safetensors --data %s --out %s/b "
                TINY " --steps 6 --resume --set latent_channels=8 >/dev/null 2>%s/e8.err", tu_build_dir(), bad_c, dir,
                dir, dir) != 0 && err_has(dir, "e8.err", "latent_channels"),
          "resuming a checkpoint on latents of other channels refused");
    CHECK(train(dir, "millivid", "b.safetensors", "--steps 4 --resume", "e7.err") != 0 &&
              err_has(dir, "e7.err", "nothing to do"), "resume at the end refused");
}

/* A small random autoencoder checkpoint with C latent channels (mini pyramid). */
static int make_ae(const char *path, int C) {
    mv_config cfg;
    if (mv_config_load(&cfg, "mini")) return 1;
    cfg.ae_width = 24, cfg.ae_depth = 1, cfg.ae_heads = 2, cfg.latent_channels = C;
    mv_ae ae;
    if (mv_ae_create(&ae, &cfg, MV_AE_ADAPTIVE, 0)) return 1;
    mv_ae_init_weights(&ae, 4);
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "adaptive");
    meta.config = cfg;
    int bad = mv_ckpt_save(path, &ae.params, &meta, NULL) != MV_OK;
    mv_ae_free(&ae);
    return bad;
}

static int video_frames(const char *path) {
    mv_video_reader *r;
    if (mv_video_reader_open(&r, path, 64, 0)) return -1;
    uint8_t *rgb = malloc(64 * 64 * 3);
    int n = 0, got = 1;
    while (mv_video_reader_next(r, rgb, &got) == MV_OK && got) n++;
    mv_video_reader_close(r);
    free(rgb);
    return n;
}

/* The checkpoints here record a made-up ae_hash, hence --allow-ae-mismatch. */
static int gen(const char *dir, const char *ae, const char *dit, const char *method, const char *extra, const char *errf) {
    return tu_sh("%s/millivid generate --ae %s/%s --dit %s/%s --method %s --data %s --video 1 --threads 2 "
                 "--allow-ae-mismatch %s "
                 ">/dev/null 2>%s/%s", tu_build_dir(), dir, ae, dir, dit, method, dir, extra, dir, errf);
}

static void test_generate(const char *dir) {
    char p[700], extra[2400];
    snprintf(p, sizeof p, "%s/ae.safetensors", dir);
    CHECK(make_ae(p, 16) == 0, "ae: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/ae8.safetensors", dir);
    CHECK(make_ae(p, 8) == 0, "ae8: %s", mv_last_error());
    snprintf(extra, sizeof extra, "--context 90 --frames 100 --steps 1 --out %s/mv.mp4 --png-dir %s/png", dir, dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g1.err") == 0, "millivid generate");
    snprintf(p, sizeof p, "%s/mv.mp4", dir);
    CHECK(video_frames(p) == 100, "mp4 holds 100 frames (%d)", video_frames(p));
    snprintf(p, sizeof p, "%s/png/frame_00099.png", dir);
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL, "last PNG written");
    if (f) fclose(f);
    /* framepack with actions for the generated frames only (10 lines, mixed forms) */
    snprintf(p, sizeof p, "%s/act.jsonl", dir);
    f = fopen(p, "w");
    for (int i = 0; f && i < 10; i++) fprintf(f, i % 2 ? "%d\n" : "{\"action\": %d}\n", i % 3);
    if (f) fclose(f);
    snprintf(extra, sizeof extra, "--context 90 --frames 100 --steps 1 --actions %s/act.jsonl --out %s/fp.mp4", dir, dir);
    CHECK(gen(dir, "ae.safetensors", "fp.safetensors", "framepack", extra, "g2.err") == 0, "framepack generate");
    snprintf(p, sizeof p, "%s/fp.mp4", dir);
    CHECK(video_frames(p) == 100, "framepack mp4 holds 100 frames");
    /* bad input */
    snprintf(extra, sizeof extra, "--context 100 --frames 100 --out %s/x.mp4", dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g3.err") != 0 && err_has(dir, "g3.err", "shorter"),
          "context >= frames refused");
    snprintf(extra, sizeof extra, "--context 90 --frames 200 --out %s/x.mp4", dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g4.err") != 0 && err_has(dir, "g4.err", "--actions"),
          "video shorter than --frames without actions refused");
    snprintf(extra, sizeof extra, "--context 90 --frames 101 --actions %s/act.jsonl --out %s/x.mp4", dir, dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g5.err") != 0 && err_has(dir, "g5.err", "10 actions"),
          "actions of the wrong length refused");
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    f = fopen(p, "w");
    for (int i = 0; f && i < 10; i++) fprintf(f, "%d\n", i == 4 ? 7 : 1);
    if (f) fclose(f);
    snprintf(extra, sizeof extra, "--context 90 --frames 100 --actions %s/bad.jsonl --out %s/x.mp4", dir, dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g6.err") != 0 && err_has(dir, "g6.err", "bad.jsonl:5:"),
          "unknown action id refused");
    snprintf(extra, sizeof extra, "--context 90 --frames 100 --out %s/x.mp4", dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "framepack", extra, "g7.err") != 0 && err_has(dir, "g7.err", "method"),
          "checkpoint of another method refused");
    CHECK(gen(dir, "ae8.safetensors", "a.safetensors", "millivid", extra, "g8.err") != 0 && err_has(dir, "g8.err", "channels"),
          "autoencoder of other channels refused");
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "mystery", extra, "g9.err") != 0 && err_has(dir, "g9.err", "mystery"),
          "unknown method refused");
    snprintf(extra, sizeof extra, "--context 40 --frames 100 --out %s/x.mp4", dir);
    CHECK(gen(dir, "ae.safetensors", "a.safetensors", "millivid", extra, "g10.err") != 0 && err_has(dir, "g10.err", "reaches back"),
          "context shorter than the schedule refused");
    CHECK(tu_sh("%s/millivid generate --ae %s/ae.safetensors --dit %s/a.safetensors --data %s --video 1 --context 90 "
                "--frames 100 --steps 1 --out %s/x.mp4 >/dev/null 2>%s/g11.err", tu_build_dir(), dir, dir, dir, dir,
                dir) != 0 && err_has(dir, "g11.err", "another autoencoder"),
          "a checkpoint built on another autoencoder refused without --allow-ae-mismatch (method from the file)");
}

/* ---------------------------------------------------------------- the library loop alone */

/* A least-squares toy: loss = mean((w - target)^2) over a [4, 8] weight; counts progress calls. */
typedef struct {
    mv_params p;
    mv_train_opts o;
    mv_config cfg;
    mv_train_position pos;
    int calls, first_done, last_done;
} toy_run;

static mv_status toy_step(void *user, long step, float *loss, double *weight) {
    toy_run *r = user;
    double sum = 0;
    for (size_t i = 0; i < r->p.total; i++) {
        float d = r->p.data[i] - (float)(0.1 * i - 1.0);
        sum += (double)d * d;
        r->p.grad[i] += 2.0f * d / (float)r->p.total;
    }
    *loss = (float)(sum / r->p.total);
    *weight = 1;
    return MV_OK;
}

static void toy_log_line(void *user, char *buf, size_t cap, long done, float loss, float lr) {
    snprintf(buf, cap, "{\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g}", done, loss, lr);
}

static mv_status toy_save(void *user, long done) {
    toy_run *r = user;
    return mv_train_save(&r->o, &r->p, "toy", "toy", NULL, &r->cfg, done, &r->pos);
}

static void toy_progress(void *user, const mv_train_progress *p) {
    toy_run *r = user;
    if (r->calls++ == 0) r->first_done = (int)p->done;
    r->last_done = (int)p->done;
}

/* Trains `out` to `steps` (resuming it when resume). */
static mv_status toy_train(toy_run *r, const char *out, int steps, int resume) {
    memset(r, 0, sizeof *r);
    mv_train_opts_init(&r->o);
    r->o.out = out, r->o.steps = steps, r->o.log_every = 3, r->o.resume = resume, r->o.optimizer = "adamw";
    MV_TRY(mv_config_load(&r->cfg, "mini"));
    mv_params_init(&r->p);
    int64_t shape[2] = {4, 8};
    MV_TRY(mv_params_add(&r->p, "w", 2, shape, NULL));
    MV_TRY(mv_params_alloc(&r->p, 1));
    if (resume) {
        mv_safetensors f;
        mv_ckpt_meta meta;
        char path[600];
        snprintf(path, sizeof path, "%s.safetensors", out);
        MV_TRY(mv_ckpt_open(&f, &meta, path, NULL));
        mv_status s = mv_ckpt_load_params(&f, &r->p, NULL);
        mv_st_close(&f);
        MV_TRY(s);
        MV_TRY(mv_train_resume(&r->o, &r->p, meta.step, &r->pos));
    } else {
        MV_TRY(mv_train_fresh(&r->o, &r->pos));
    }
    mv_train_loop_def d = {.params = &r->p, .lr = 0.05, .warmup = 2, .ckpt_every = 3, .pos = r->pos, .user = r,
                           .step = toy_step, .log_line = toy_log_line, .save = toy_save, .progress = toy_progress};
    return mv_train_loop(&r->o, &d);
}

static void test_library_loop(const char *dir) {
    char a[600], b[600], la[700], lb[700];
    snprintf(a, sizeof a, "%s/lib/toy_a", dir);
    snprintf(b, sizeof b, "%s/lib/toy_b", dir);
    toy_run ra, rb;
    CHECK(toy_train(&ra, a, 6, 0) == MV_OK, "library loop, 6 steps: %s", mv_last_error());
    CHECK(ra.calls == 7 && ra.first_done == 0 && ra.last_done == 6,
          "progress: once before the first step and after each (%d calls, done %d .. %d)", ra.calls, ra.first_done,
          ra.last_done);
    CHECK(toy_train(&rb, b, 3, 0) == MV_OK, "library loop, 3 steps: %s", mv_last_error());
    mv_params_free(&rb.p);
    CHECK(toy_train(&rb, b, 6, 1) == MV_OK, "library loop, resumed to 6: %s", mv_last_error());
    CHECK(rb.calls == 4 && rb.first_done == 3 && rb.last_done == 6, "resumed progress: %d calls, done %d .. %d",
          rb.calls, rb.first_done, rb.last_done);
    CHECK(ra.p.total == rb.p.total && !memcmp(ra.p.data, rb.p.data, ra.p.total * sizeof(float)),
          "6 steps == 3 + resume + 3: identical weights");
    snprintf(la, sizeof la, "%s.log.jsonl", a);
    snprintf(lb, sizeof lb, "%s.log.jsonl", b);
    char *ta = tu_slurp(la, NULL), *tb = tu_slurp(lb, NULL);
    CHECK(ta && tb && !strcmp(ta, tb) && strstr(ta, "\"step\": 6"), "identical loss logs (steps 3 and 6):\n%s",
          ta ? ta : "(none)");
    free(ta), free(tb);
    mv_params_free(&ra.p);
    mv_params_free(&rb.p);
}

int main(void) {
    const char *d = tu_tmpdir("train");
    char dir[512], bad_c[600], bad_l[600];
    snprintf(dir, sizeof dir, "%s", d);
    snprintf(bad_c, sizeof bad_c, "%s/badc", dir);
    snprintf(bad_l, sizeof bad_l, "%s/badl", dir);
    tu_sh("mkdir -p %s %s", bad_c, bad_l);
    CHECK(tu_make_train_data(dir, 2, 160, 16, 4, 1) == 0, "data: %s", mv_last_error());
    CHECK(tu_make_train_data(bad_c, 2, 160, 8, 4, 2) == 0, "data C=8");
    CHECK(tu_make_train_data(bad_l, 2, 160, 16, 1, 3) == 0, "data 1 level");
    test_resume(dir);
    test_methods(dir);
    test_kill_resume(dir);
    test_run_files(dir);
    test_bf16(dir);
    test_bad(dir, bad_c, bad_l);
    test_generate(dir);
    test_library_loop(dir);
    return tu_finish();
}
