/* The report's training section (eval/training.h, report.c, plot.c): a synthetic campaign folder (two runs
 * with metadata-only checkpoints of different methods and batches, loss logs with a blank and a torn last
 * line, probe files whose numeric order differs from their name order, a method of no run) is read back
 * exactly; the table numbers, recomputed here from the values written, appear in summary.md and
 * report.html; both training SVGs are well-formed with one series per run, and the page passes
 * tools/check_report.py in headless Chromium. Every malformed folder is refused with an error naming
 * the file (and line or key). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/core.h"
#include "eval/report.h"
#include "eval/report_internal.h"
#include "eval/training.h"
#include "models/checkpoint.h"
#include "testutil.h"

#define NA 30 /* alpha: logged steps 10, 20, ..., 300 */
#define NB 12 /* beta: logged steps 5, 10, ..., 60 */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) fputs(text, f), fclose(f);
}

/* A checkpoint with metadata only (no tensors): enough for the tokens per step. */
static void write_ckpt(const char *path, const char *model, const char *variant, int batch) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", model);
    snprintf(meta.variant, sizeof meta.variant, "%s", variant);
    CHECK(mv_config_load(&meta.config, "mini") == MV_OK, "%s", mv_last_error());
    meta.config.dit_batch = batch;
    meta.step = 100;
    mv_params none;
    mv_params_init(&none);
    CHECK(mv_ckpt_save(path, &none, &meta, NULL) == MV_OK, "%s", mv_last_error());
}

static double alpha_loss(int i) { return 0.8 * exp(-i / 10.0) + 0.01 * ((i * 7) % 5) + 0.02; }
static double beta_loss(int i) { return 0.5 - 0.03 * i + 0.004 * (i % 3); }

/* A probe result as `millivid probe` writes it (the keys the report reads, plus a few it ignores). */
static void write_probe(const char *path, const char *methods, const char *bounds, int videos, int points,
                        int horizon, int steps, const char *data) {
    char text[8192];
    snprintf(text, sizeof text,
             "{\"format\": \"millivid-probe\", \"format_version\": 1, \"data\": \"%s\",\n"
             " \"settings\": {\"videos\": %d, \"horizon\": %d, \"sample_steps\": %d, \"seed\": 0},\n"
             " \"counts\": {\"videos\": %d, \"candidates\": 40, \"points\": %d, \"random_frames\": 12},\n"
             " \"methods\": [%s],\n \"bounds\": [%s], \"seconds\": 12.5}\n",
             data, videos, horizon, steps, videos, points, methods, bounds);
    write_text(path, text);
}

static void make_campaign(const char *dir) {
    char p[1200];
    CHECK(tu_sh("mkdir -p '%s/probes'", dir) == 0, "mkdir");
    FILE *f;
    snprintf(p, sizeof p, "%s/dit_alpha.log.jsonl", dir);
    if ((f = fopen(p, "w"))) {
        for (int i = 0; i < NA; i++) {
            fprintf(f, "{\"step\": %d, \"loss\": %.9g, \"lr\": 0.001}\n", 10 * (i + 1), alpha_loss(i));
            if (i == 4) fprintf(f, "\n"); /* a blank line is skipped */
        }
        fprintf(f, "{\"step\": 310, \"loss\": 0.0"); /* torn: the trainer is writing it */
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/dit_beta.log.jsonl", dir);
    if ((f = fopen(p, "w"))) {
        for (int i = 0; i < NB; i++) fprintf(f, "{\"step\": %d, \"loss\": %.9g}\n", 5 * (i + 1), beta_loss(i));
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/dit_alpha.safetensors", dir);
    write_ckpt(p, "video_universal", "millivid", 6);
    snprintf(p, sizeof p, "%s/dit_beta.safetensors", dir);
    write_ckpt(p, "video_framepack", "framepack", 4);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_text(p, "not a log\n");
    /* step_90 sorts after step_200 by name but is the earlier probe */
    snprintf(p, sizeof p, "%s/probes/step_90.json", dir);
    write_probe(p,
                "{\"name\": \"alpha\", \"method\": \"millivid\", \"checkpoint\": \"elsewhere/dit_alpha.safetensors\", "
                "\"step\": 90, \"recall\": {\"psnr\": {\"mean\": 14.5, \"lo\": 13, \"hi\": 16, \"n\": 9}}},"
                "{\"name\": \"framepack\", \"checkpoint\": \"x/dit_beta.safetensors\", \"step\": 50, "
                "\"recall\": {\"psnr\": {\"mean\": 15.25, \"lo\": null, \"hi\": null, \"n\": 1}}},"
                "{\"name\": \"gamma\", \"step\": 90, \"recall\": {\"psnr\": {\"mean\": 11, \"lo\": 10, \"hi\": 12, "
                "\"n\": 9}}}",
                "{\"name\": \"hold_last\", \"recall\": {\"psnr\": {\"mean\": 13, \"lo\": 12, \"hi\": 14, \"n\": 9}}}",
                5, 9, 8, 10, "data/val");
    snprintf(p, sizeof p, "%s/probes/step_200.json", dir);
    write_probe(p,
                "{\"name\": \"alpha\", \"step\": 200, \"recall\": {\"psnr\": {\"mean\": 16.0, \"lo\": 15.0, "
                "\"hi\": 17.25, \"n\": 11}}}",
                "{\"name\": \"hold_last\", \"recall\": {\"psnr\": {\"mean\": 13.5, \"lo\": 12, \"hi\": 14, \"n\": 11}}},"
                "{\"name\": \"autoencoded\", \"recall\": {\"psnr\": {\"mean\": 27.0, \"lo\": 26, \"hi\": 28, \"n\": 11}}},"
                "{\"name\": \"random_video\", \"recall\": {\"psnr\": {\"mean\": 10.0, \"lo\": 9, \"hi\": 11, \"n\": 11}}}",
                6, 11, 6, 12, "data/val <2>");
    snprintf(p, sizeof p, "%s/probes/step_300.json.tmp", dir);
    write_text(p, "{half a probe"); /* a probe being written: not a step_<N>.json */
}

static int file_contains(const char *path, const char *needle) {
    char *s = tu_slurp(path, NULL);
    int found = s && strstr(s, needle);
    free(s);
    return found;
}

static void test_read(const char *dir, mv_training *t) {
    CHECK(mv_training_read(t, dir) == MV_OK, "read: %s", mv_last_error());
    CHECK(t->n_runs == 2 && !strcmp(t->runs[0].name, "alpha") && !strcmp(t->runs[1].name, "beta"), "two runs by name");
    if (t->n_runs != 2) return;
    const mv_training_run *a = &t->runs[0], *b = &t->runs[1];
    /* mini: a MilliVid step and a FramePack sample both hold 320 tokens (64 denoised + 4 x 64 context) */
    CHECK(!strcmp(a->method, "millivid") && a->batch == 6 && a->sample_tokens == 320 && a->tokens_per_step == 1920,
          "alpha: %s, %d x %d", a->method, a->batch, a->sample_tokens);
    CHECK(!strcmp(b->method, "framepack") && b->batch == 4 && b->sample_tokens == 320 && b->tokens_per_step == 1280,
          "beta: %s, %d x %d", b->method, b->batch, b->sample_tokens);
    CHECK(a->n == NA && b->n == NB, "logged points: %d, %d (the torn line skipped)", a->n, b->n);
    int same = a->n == NA;
    for (int i = 0; same && i < NA; i++) same = a->step[i] == 10 * (i + 1) && fabs(a->loss[i] - alpha_loss(i)) < 1e-8;
    CHECK(same, "alpha's steps and losses read back");
    /* recall: alpha at 90 and 200 (numeric order), beta at 50 by its checkpoint's name; gamma has no run */
    CHECK(a->n_recall == 2 && a->recall[0].step == 90 && a->recall[1].step == 200, "alpha recall points");
    if (a->n_recall == 2)
        CHECK(a->recall[1].mean == 16.0 && a->recall[1].lo == 15.0 && a->recall[1].hi == 17.25 && a->recall[1].n == 11 &&
                  a->recall[0].tokens == 90.0 * 1920,
              "alpha recall values");
    CHECK(b->n_recall == 1 && b->recall[0].step == 50 && b->recall[0].mean == 15.25 && isnan(b->recall[0].lo) &&
              b->recall[0].tokens == 50.0 * 1280,
          "beta recall: no interval");
    CHECK(t->n_probes == 2 && t->probe_step == 200 && strstr(t->probe_path, "step_200.json") &&
              t->probe_videos == 6 && t->probe_points == 11 && t->probe_horizon == 6 && t->probe_sample_steps == 12 &&
              !strcmp(t->probe_data, "data/val <2>"),
          "the latest probe's settings: %s", t->probe_path);
    CHECK(t->n_bounds == 3 && !strcmp(t->bounds[2].name, "random_video") && t->bounds[2].mean == 10.0 &&
              t->bounds[0].mean == 13.5,
          "the latest probe's bounds");
    /* the smoothing and the tail mean, recomputed */
    double sm[NA], worst = 0;
    mv_training_smooth(sm, a, MV_TRAINING_SMOOTH);
    for (int i = 0; i < NA; i++) {
        double s = 0;
        int n = 0;
        for (int j = i; j >= 0 && j > i - MV_TRAINING_SMOOTH; j--) s += alpha_loss(j), n++;
        worst = fmax(worst, fabs(sm[i] - s / n));
    }
    CHECK(worst < 1e-8, "moving mean: worst difference %g", worst);
}

static void test_report(const char *dir, const mv_training *t) {
    enum { F = 20 };
    static double p[2][F], q[2][F];
    mv_report_method m[2];
    static const char *names[2] = {"beta", "alpha"}; /* the colours follow the names, not the order */
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < F; i++) p[k][i] = 20 - i * 0.1 - k, q[k][i] = 0.7 - i * 0.01;
        mv_report_method_init(&m[k]);
        m[k].name = names[k], m[k].psnr = p[k], m[k].ssim = q[k];
    }
    mv_report r = {.title = "training section", .n_videos_evaluated = 2, .n_frames = F, .first_frame = 8,
                   .context_frames = 8, .methods = m, .n_methods = 2, .training = t};
    const char *color, *dash;
    mv_report_style(&r, 1, &color, &dash);
    CHECK(!strcmp(mv_report_training_color(&r, 0), color), "run alpha has the colour of method alpha");
    CHECK(mv_report_write(&r, dir) == MV_OK, "report: %s", mv_last_error());
    /* the table, recomputed from the values written */
    double tail_a = 0, tail_b = 0;
    for (int i = NA - MV_TRAINING_SMOOTH; i < NA; i++) tail_a += alpha_loss(i) / MV_TRAINING_SMOOTH;
    for (int i = NB - MV_TRAINING_SMOOTH; i < NB; i++) tail_b += beta_loss(i) / MV_TRAINING_SMOOTH;
    char row_a[256], row_b[256], cell[128], path[1200];
    snprintf(row_a, sizeof row_a, "| alpha | millivid | 300 | %.2f | 6 × 320 = 1,920 | %.4f | 16.00 [15.00, 17.25] | 200 |",
             300 * 1920 / 1e6, tail_a);
    snprintf(row_b, sizeof row_b, "| beta | framepack | 60 | %.2f | 4 × 320 = 1,280 | %.4f | 15.25 | 50 |",
             60 * 1280 / 1e6, tail_b);
    snprintf(path, sizeof path, "%s/summary.md", dir);
    CHECK(file_contains(path, "### Training\n"), "summary.md has the training section");
    CHECK(file_contains(path, row_a), "summary.md row: %s", row_a);
    CHECK(file_contains(path, row_b), "summary.md row: %s", row_b);
    CHECK(file_contains(path, "mean PSNR over 11 revisit points on 6 validation videos, 12 sampler steps (latest "
                              "probe, step 200)") && file_contains(path, "generates the next 6 frames"),
          "the caption names the probe's points, videos, horizon and steps");
    snprintf(path, sizeof path, "%s/report.html", dir);
    CHECK(file_contains(path, "<h2>Training</h2>") && file_contains(path, "<table id=\"mv-training\">"),
          "report.html has the training section and table");
    snprintf(cell, sizeof cell, "<td>%.4f</td><td>16.00 [15.00, 17.25]</td><td>200</td>", tail_a);
    CHECK(file_contains(path, cell), "report.html cells: %s", cell);
    CHECK(file_contains(path, "on data/val &lt;2&gt;") && !file_contains(path, "val <2>"), "probe data escaped");
    CHECK(file_contains(path, "id=\"train-loss-svg\"") && file_contains(path, "id=\"train-recall-svg\""),
          "both training plots inlined");
    snprintf(path, sizeof path, "%s/plot_training_recall.svg", dir);
    CHECK(file_contains(path, ">hold last frame</text>") && file_contains(path, ">random video (lower bound)</text>"),
          "the bounds are in the recall legend");
    CHECK(file_contains(path, "<path class=\"ci\""), "interval bars drawn");
    /* well-formed SVGs: one series per run (loss: both; recall: both, beta a single point) */
    int rc = tu_python("-c \"import sys, xml.etree.ElementTree as E; n = lambda f: sum(1 for g in E.parse(sys.argv[1] "
                       "+ f).getroot().iter('{http://www.w3.org/2000/svg}g') if g.get('class') == 'series'); "
                       "sys.exit(0 if n('/plot_training_loss.svg') == 2 and n('/plot_training_recall.svg') == 2 "
                       "else 1)\" '%s'", dir);
    CHECK(rc == 0, "training SVGs are well-formed XML with 2 series each");
    rc = tu_python("tools/check_report.py '%s' --videos 0 --duration 0 --rows 2 --curves 2 --training-rows 2 "
                   "--training-series 2 2", dir);
    CHECK(rc == 0, "tools/check_report.py on the report with a training section failed (exit %d)", rc);
    /* the check notices a missing training section */
    r.training = NULL;
    char plain[1200];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    mkdir(plain, 0777);
    CHECK(mv_report_write(&r, plain) == MV_OK, "plain report: %s", mv_last_error());
    rc = tu_python("tools/check_report.py '%s' --videos 0 --duration 0 --rows 2 --curves 2 --training-rows 2 "
                   "--training-series 2 2", plain);
    CHECK(rc != 0, "tools/check_report.py must fail without the training section (exit %d)", rc);
    char *svg = NULL;
    CHECK(mv_report_training_svg(&svg, &r, 0, "x") == MV_ERR_ARG && !svg, "no training: plot refused");
}

/* A folder with one run "x" (log text, checkpoint or not) and optional probe step_10.json text. */
static void bad_folder(const char *dir, const char *log, int ckpt, const char *probe) {
    char p[1200];
    CHECK(tu_sh("rm -rf '%s' && mkdir -p '%s/probes'", dir, dir) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/dit_x.log.jsonl", dir);
    if (log) write_text(p, log);
    snprintf(p, sizeof p, "%s/dit_x.safetensors", dir);
    if (ckpt == 1) write_ckpt(p, "video_universal", "fullres", 2);
    if (ckpt == 2) write_ckpt(p, "autoencoder", "adaptive", 2);
    snprintf(p, sizeof p, "%s/probes/step_10.json", dir);
    if (probe) write_text(p, probe);
}

static void expect_error(const char *dir, const char *want, const char *what) {
    mv_training t;
    mv_status s = mv_training_read(&t, dir);
    CHECK(s != MV_OK && strstr(mv_last_error(), want), "%s: status %d, error '%s' should contain '%s'", what, s,
          mv_last_error(), want);
    mv_training_free(&t);
}

static void test_bad(const char *tmp) {
    char d[1100];
    const char *ok_log = "{\"step\": 10, \"loss\": 0.5}\n";
    const char *good_method = "{\"name\": \"x\", \"step\": 10, \"recall\": {\"psnr\": {\"mean\": 12, \"lo\": 11, "
                              "\"hi\": 13, \"n\": 3}}}";
    snprintf(d, sizeof d, "%s/nosuch", tmp);
    expect_error(d, "nosuch: cannot open the training folder", "missing folder");
    snprintf(d, sizeof d, "%s/nologs", tmp);
    bad_folder(d, NULL, 1, NULL);
    expect_error(d, "nologs: no training log", "no log");
    snprintf(d, sizeof d, "%s/badline", tmp);
    bad_folder(d, "{\"step\": 10, \"loss\": 0.5}\n{\"step\": 20, \"loss\": }\n", 1, NULL);
    expect_error(d, "badline/dit_x.log.jsonl: line 2", "malformed JSON line");
    snprintf(d, sizeof d, "%s/noloss", tmp);
    bad_folder(d, "{\"step\": 10}\n", 1, NULL);
    expect_error(d, "noloss/dit_x.log.jsonl: line 1", "line without a loss");
    snprintf(d, sizeof d, "%s/back", tmp);
    bad_folder(d, "{\"step\": 20, \"loss\": 0.5}\n{\"step\": 10, \"loss\": 0.4}\n", 1, NULL);
    expect_error(d, "line 2: step 10 does not follow step 20", "decreasing steps");
    snprintf(d, sizeof d, "%s/nockpt", tmp);
    bad_folder(d, ok_log, 0, NULL);
    expect_error(d, "nockpt/dit_x.safetensors", "no checkpoint");
    snprintf(d, sizeof d, "%s/aeckpt", tmp);
    bad_folder(d, ok_log, 2, NULL);
    expect_error(d, "aeckpt/dit_x.safetensors: millivid_model is 'autoencoder'", "an autoencoder as the run's checkpoint");
    snprintf(d, sizeof d, "%s/probejson", tmp);
    bad_folder(d, ok_log, 1, "{\"format\": \"millivid-probe\", \"methods\": [");
    expect_error(d, "probes/step_10.json: not valid JSON", "probe not JSON");
    snprintf(d, sizeof d, "%s/probefmt", tmp);
    bad_folder(d, ok_log, 1, "{\"format\": \"other\", \"methods\": []}");
    expect_error(d, "step_10.json: \"format\" is not \"millivid-probe\"", "probe of another format");
    snprintf(d, sizeof d, "%s/probemean", tmp);
    bad_folder(d, ok_log, 1, "{\"format\": \"millivid-probe\", \"methods\": [{\"name\": \"x\", \"step\": 10, "
                             "\"recall\": {\"psnr\": {\"lo\": 1, \"hi\": 2, \"n\": 3}}}]}");
    expect_error(d, "step_10.json: methods[0].recall.psnr.mean missing", "probe without a mean");
    snprintf(d, sizeof d, "%s/probecounts", tmp);
    char probe[1024];
    snprintf(probe, sizeof probe, "{\"format\": \"millivid-probe\", \"methods\": [%s], \"bounds\": [], "
                                  "\"counts\": {\"videos\": 3}, \"settings\": {\"horizon\": 8, \"sample_steps\": 10}}",
             good_method);
    bad_folder(d, ok_log, 1, probe);
    expect_error(d, "step_10.json: counts.points missing", "probe without its point count");
    /* and the same folder with the count reads */
    snprintf(probe, sizeof probe, "{\"format\": \"millivid-probe\", \"methods\": [%s], \"bounds\": [], "
                                  "\"counts\": {\"videos\": 3, \"points\": 3}, \"settings\": {\"horizon\": 8, "
                                  "\"sample_steps\": 10}}", good_method);
    bad_folder(d, ok_log, 1, probe);
    mv_training t;
    CHECK(mv_training_read(&t, d) == MV_OK && t.n_runs == 1 && t.runs[0].n_recall == 1 && t.n_bounds == 0,
          "the repaired probe reads: %s", mv_last_error());
    mv_training_free(&t);
}

int main(void) {
    const char *tmp = tu_tmpdir("training");
    char dir[1100], out[1100];
    snprintf(dir, sizeof dir, "%s/campaign", tmp);
    snprintf(out, sizeof out, "%s/report", tmp);
    mkdir(out, 0777);
    make_campaign(dir);
    mv_training t;
    test_read(dir, &t);
    if (t.n_runs == 2) test_report(out, &t);
    mv_training_free(&t);
    test_bad(tmp);
    return tu_finish();
}
