/* The evaluation report: bootstrap intervals, then a synthetic report (3 methods + 3 bounds, 2 videos,
 * 64 frames, side-by-side mp4s made with the ffmpeg CLI) checked as a person would in headless
 * Chromium by tools/check_report.py (table and plots render, every video loads with the right
 * duration, screenshot saved); a report with a broken video name must fail that check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/rng.h"
#include "eval/report.h"
#include "testutil.h"

#define NF 64    /* frames on the axis */
#define CTX 16   /* context frames */
#define NV 2     /* test videos */
#define NM 6     /* 3 methods + 3 bounds */
#define FPS 20

static void test_bootstrap(void) {
    mv_ci ci;
    double c[5] = {2, 2, 2, 2, 2};
    CHECK(mv_bootstrap_ci(&ci, c, 5, 1000, 1) == MV_OK && ci.mean == 2 && ci.lo == 2 && ci.hi == 2,
          "constant data: %g [%g, %g]", ci.mean, ci.lo, ci.hi);
    double one = 3.5;
    CHECK(mv_bootstrap_ci(&ci, &one, 1, 0, 1) == MV_OK && ci.lo == 3.5 && ci.hi == 3.5, "one value");
    CHECK(mv_bootstrap_ci(&ci, c, 0, 1000, 1) == MV_ERR_ARG, "no values is an error");
    double bad[3] = {1, INFINITY, 2};
    CHECK(mv_bootstrap_ci(&ci, bad, 3, 1000, 1) == MV_ERR_ARG && strstr(mv_last_error(), "not finite"),
          "non-finite value is an error: %s", mv_last_error());
    /* normal data: the interval is close to mean +- 1.96 sd / sqrt(n) */
    enum { N = 60 };
    float z[N];
    double x[N], s = 0, ss = 0;
    mv_rng rng;
    mv_rng_init(&rng, 5);
    mv_rng_normal(&rng, z, N);
    for (int i = 0; i < N; i++) x[i] = 10 + 2 * z[i], s += x[i];
    double m = s / N;
    for (int i = 0; i < N; i++) ss += (x[i] - m) * (x[i] - m);
    double half = 1.96 * sqrt(ss / N) / sqrt((double)N);
    CHECK(mv_bootstrap_ci(&ci, x, N, 1000, 42) == MV_OK, "bootstrap: %s", mv_last_error());
    CHECK(fabs(ci.mean - m) < 1e-12 && ci.lo < m && ci.hi > m, "mean %g inside [%g, %g]", m, ci.lo, ci.hi);
    CHECK(fabs((ci.hi - ci.lo) / 2 - half) < 0.15 * half, "half width %g vs normal theory %g", (ci.hi - ci.lo) / 2,
          half);
    mv_ci again, other;
    mv_bootstrap_ci(&again, x, N, 1000, 42);
    mv_bootstrap_ci(&other, x, N, 1000, 43);
    CHECK(again.lo == ci.lo && again.hi == ci.hi, "same seed, same interval");
    CHECK(other.lo != ci.lo || other.hi != ci.hi, "another seed, another interval");
    /* curves: frame f of [videos, frames] equals the scalar helper on that column; non-finite -> NAN */
    double grid[3 * 4] = {1, 2, 3, NAN, 4, 5, 6, 7, 7, 9, 8, 1};
    double mean[4], lo[4], hi[4];
    CHECK(mv_bootstrap_curves(mean, lo, hi, grid, 3, 4, 500, 9) == MV_OK, "curves: %s", mv_last_error());
    CHECK(fabs(mean[0] - 4.0) < 1e-12 && fabs(mean[2] - 17.0 / 3) < 1e-12 && isnan(mean[3]) && isnan(lo[3]),
          "curve means %g %g %g", mean[0], mean[2], mean[3]);
    CHECK(lo[1] >= 2 && hi[1] <= 9 && lo[1] < hi[1], "curve band inside the data range");
}

/* Synthetic per-video per-frame metrics for method k: a decay after the context, a bump at revisits. */
static double synth(int k, int v, int f, int metric, int revisit, mv_rng *rng) {
    static const double psnr0[NM] = {24, 22, 20, 31, 11, 16}, decay[NM] = {0.05, 0.12, 0.2, 0, 0, 0.08};
    static const double ssim0[NM] = {0.80, 0.72, 0.66, 0.95, 0.35, 0.5}, sdecay[NM] = {0.002, 0.005, 0.008, 0, 0,
                                                                                        0.004};
    int bound = k >= 3;
    if (!bound && f < CTX) return NAN; /* the context is given, not generated */
    double t = f < CTX ? 0 : f - CTX, noise = mv_rng_uniform1(rng) - 0.5;
    double bump = revisit && k == 0 ? 1.0 : 0.0;
    if (metric == 0) return psnr0[k] - decay[k] * t + 2.5 * bump + 1.2 * noise + 0.4 * v;
    return ssim0[k] - sdecay[k] * t + 0.05 * bump + 0.03 * noise + 0.01 * v;
}

typedef struct {
    double curves[NM][6][NF]; /* mean, lo, hi for PSNR then SSIM */
    mv_report_method methods[NM];
    int revisit[16], reach[8], revisit_count[NV], reach_count[NV];
    const char *videos[NV], *captions[NV];
} synth_report;

static void summary_ci(mv_ci *out, const double *per_video_frames /* [NV, NF] */, int from, int to, const int *only,
                       int n_only, uint64_t seed) {
    double avg[NV];
    for (int v = 0; v < NV; v++) {
        double s = 0;
        int n = 0;
        for (int f = from; f < to; f++) {
            int use = !only;
            for (int i = 0; only && i < n_only; i++) use |= only[i] == f;
            if (use) s += per_video_frames[v * NF + f], n++;
        }
        avg[v] = s / n;
    }
    mv_bootstrap_ci(out, avg, NV, 1000, seed);
}

static void synth_fill(synth_report *s, mv_report *r, const char *const *videos) {
    static const char *names[NM] = {"MilliVid (coarse-to-fine)", "FramePack", "full-resolution rollout",
                                    "autoencoded (upper bound)", "random video (lower bound)",
                                    "hold last context frame"};
    int nrev = 0, nreach = 0;
    for (int f = 40; f < 48; f++) s->revisit[nrev++] = f;
    for (int f = 55; f < 59; f++) s->revisit[nrev++] = f;
    for (int f = 44; f < 48; f++) s->reach[nreach++] = f; /* the second half of the first run */
    for (int v = 0; v < NV; v++) s->revisit_count[v] = 12 - 3 * v, s->reach_count[v] = 4 - v;
    mv_rng rng;
    mv_rng_init(&rng, 2026);
    for (int k = 0; k < NM; k++) {
        double pv[2][NV * NF];
        for (int metric = 0; metric < 2; metric++)
            for (int v = 0; v < NV; v++)
                for (int f = 0; f < NF; f++) {
                    int rev = 0;
                    for (int i = 0; i < nrev; i++) rev |= s->revisit[i] == f;
                    pv[metric][v * NF + f] = synth(k, v, f, metric, rev, &rng);
                }
        for (int metric = 0; metric < 2; metric++)
            mv_bootstrap_curves(s->curves[k][3 * metric], s->curves[k][3 * metric + 1], s->curves[k][3 * metric + 2],
                                pv[metric], NV, NF, 1000, 77 + k);
        mv_report_method *m = &s->methods[k];
        mv_report_method_init(m);
        m->name = names[k];
        m->is_bound = k >= 3;
        m->psnr = s->curves[k][0], m->psnr_lo = s->curves[k][1], m->psnr_hi = s->curves[k][2];
        m->ssim = s->curves[k][3], m->ssim_lo = s->curves[k][4], m->ssim_hi = s->curves[k][5];
        summary_ci(&m->psnr_all, pv[0], CTX, NF, NULL, 0, 1), summary_ci(&m->ssim_all, pv[1], CTX, NF, NULL, 0, 2);
        summary_ci(&m->psnr_long, pv[0], 48, NF, NULL, 0, 3), summary_ci(&m->ssim_long, pv[1], 48, NF, NULL, 0, 4);
        summary_ci(&m->psnr_revisit, pv[0], CTX, NF, s->revisit, nrev, 5);
        summary_ci(&m->ssim_revisit, pv[1], CTX, NF, s->revisit, nrev, 6);
        summary_ci(&m->psnr_reach, pv[0], CTX, NF, s->reach, nreach, 7);
        summary_ci(&m->ssim_reach, pv[1], CTX, NF, s->reach, nreach, 8);
        m->dit_calls = m->is_bound ? -1 : (k == 0 ? 255 : 48);
        m->tokens_per_step = m->is_bound ? -1 : 320;
        m->wall_seconds = m->is_bound ? NAN : 12.5 + 30 * k;
    }
    for (int i = 0; i < NV; i++) s->videos[i] = videos[i];
    s->captions[0] = "test video 0: ground truth | MilliVid | FramePack | full-res";
    s->captions[1] = "test video 1 <revisits the tower>"; /* must be escaped */
    memset(r, 0, sizeof *r);
    r->title = "MilliVid vs baselines — synthetic test report";
    r->config_text = "{\n  \"preset\": \"mini\",\n  \"context_frames\": 16,\n  \"note\": \"<synthetic & fake>\"\n}";
    r->n_videos_evaluated = NV;
    r->n_frames = NF, r->first_frame = 0, r->context_frames = CTX;
    r->long_from = 48, r->long_to = NF;
    r->revisit = s->revisit, r->n_revisit = nrev;
    r->methods = s->methods, r->n_methods = NM;
    r->videos = s->videos, r->video_captions = s->captions, r->n_videos = NV;
    r->video_note = "Left to right: ground truth, MilliVid, FramePack, full-resolution rollout.";
    r->revisit_reach = s->reach, r->n_revisit_reach = nreach;
    r->reach_text = "among the 20 frames before the first frame of its chunk <synthetic>";
    r->revisit_count = s->revisit_count, r->reach_count = s->reach_count;
}

static int file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void test_report_files(void) {
    const char *tmp = tu_tmpdir("report");
    char dir[1100], bad[1100], path[1300];
    snprintf(dir, sizeof dir, "%s/good", tmp);
    snprintf(bad, sizeof bad, "%s/broken", tmp);
    CHECK(tu_sh("mkdir -p '%s/videos' '%s/videos'", dir, bad) == 0, "mkdir");
    /* side-by-side mp4s: 4 panels of 64x64, 64 frames at 20 fps = 3.2 s */
    for (int v = 0; v < NV; v++) {
        int rc = tu_sh("ffmpeg -loglevel error -y -f lavfi -i testsrc=size=256x64:rate=%d -frames:v %d "
                       "-pix_fmt yuv420p -c:v libx264 '%s/videos/video_%03d.mp4' </dev/null", FPS, NF, dir, v);
        CHECK(rc == 0, "ffmpeg failed (exit %d)", rc);
    }
    CHECK(tu_sh("cp '%s'/videos/*.mp4 '%s/videos/'", dir, bad) == 0, "copy videos");
    static synth_report s;
    mv_report r;
    const char *good_names[NV] = {"videos/video_000.mp4", "videos/video_001.mp4"};
    synth_fill(&s, &r, good_names);
    mv_status st = mv_report_write(&r, dir);
    CHECK(st == MV_OK, "mv_report_write: %s", mv_last_error());
    const char *files[4] = {"summary.md", "plot_psnr.svg", "plot_ssim.svg", "report.html"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "%s written", path);
        if (f) fclose(f);
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    CHECK(file_contains(path, "&lt;revisits the tower&gt;") && !file_contains(path, "<revisits"),
          "captions are HTML-escaped");
    CHECK(file_contains(path, "&lt;synthetic &amp; fake&gt;"), "configuration is HTML-escaped");
    CHECK(file_contains(path, "lies among the 20 frames before the first frame of its chunk &lt;synthetic&gt;."),
          "the reach definition is in the page, escaped");
    CHECK(file_contains(path, "<i>hold last context frame</i> (the last ground-truth context frame, repeated)"),
          "the hold-last bound is explained");
    snprintf(path, sizeof path, "%s/summary.md", dir);
    CHECK(file_contains(path, "| MilliVid (coarse-to-fine) | **"), "MilliVid is the best method in the table");
    CHECK(file_contains(path, "| PSNR revisits | PSNR revisits in reach |") &&
              file_contains(path, "| SSIM revisits | SSIM revisits in reach | DiT calls |"),
          "summary.md has the revisits-in-reach columns");
    CHECK(file_contains(path, "Revisit frames per test video: 12, 9 (in reach: 4, 3)."), "per-video counts");
    CHECK(file_contains(path, "| *hold last context frame* |"), "the hold-last bound is a table row");
    snprintf(path, sizeof path, "%s/plot_psnr.svg", dir);
    CHECK(file_contains(path, "<rect class=\"revisit\" x=\"") &&
              file_contains(path, "<rect class=\"revisit-reach\" x=\"") &&
              file_contains(path, ">revisits within reach</text>"),
          "revisits and revisits within reach shaded differently, both in the legend");
    /* the page as a person sees it */
    int rc = tu_python("tools/check_report.py '%s' --videos %d --duration %.2f --rows %d --curves %d "
                       "--screenshot '%s/screenshot.png'", dir, NV, (double)NF / FPS, NM, NM, dir);
    CHECK(rc == 0, "tools/check_report.py on the good report failed (exit %d)", rc);
    /* a broken video name must make the check fail */
    const char *bad_names[NV] = {"videos/video_000.mp4", "videos/no_such_video.mp4"};
    synth_fill(&s, &r, bad_names);
    CHECK(mv_report_write(&r, bad) == MV_OK, "mv_report_write: %s", mv_last_error());
    rc = tu_python("tools/check_report.py '%s' --videos %d --duration %.2f --rows %d --curves %d", bad, NV,
                   (double)NF / FPS, NM, NM);
    CHECK(rc != 0, "tools/check_report.py must fail when a video does not load (exit %d)", rc);
    /* bad arguments are errors, not crashes */
    mv_report empty = {0};
    CHECK(mv_report_write(&empty, dir) == MV_ERR_ARG, "empty report rejected");
    synth_fill(&s, &r, good_names);
    CHECK(mv_report_write(&r, "/nonexistent/dir") == MV_ERR_IO && strstr(mv_last_error(), "/nonexistent/dir"),
          "unwritable directory: %s", mv_last_error());
}

/* The paper's layout: curves start at the context boundary, no bands, no revisits, no videos, no config. */
static void test_minimal_report(void) {
    const char *dir = tu_tmpdir("report_minimal");
    enum { F = 300 };
    static double p[F], q[F];
    for (int i = 0; i < F; i++) p[i] = 20 - i * 0.01, q[i] = 0.7 - i * 0.001;
    mv_report_method m;
    mv_report_method_init(&m);
    CHECK(isnan(m.psnr_all.mean) && isnan(m.ssim_revisit.hi) && m.dit_calls == -1 && isnan(m.wall_seconds),
          "method init: unknown values");
    m.name = "only & <one>", m.psnr = p, m.ssim = q, m.dit_calls = 10, m.tokens_per_step = 5;
    m.psnr_all.mean = 18.5;
    mv_report r = {.title = "minimal", .n_videos_evaluated = 1, .n_frames = F, .first_frame = 256,
                   .context_frames = 256, .long_from = 400, .long_to = 556, .methods = &m, .n_methods = 1};
    CHECK(mv_report_write(&r, dir) == MV_OK, "minimal report: %s", mv_last_error());
    int rc = tu_python("-c \"import sys, xml.etree.ElementTree as E; [E.parse(sys.argv[1] + f) for f in "
                       "('/plot_psnr.svg', '/plot_ssim.svg')]\" '%s'", dir);
    CHECK(rc == 0, "minimal report SVGs are well-formed XML");
    char *svg = NULL;
    CHECK(mv_report_svg(&svg, &r, 2, "x") == MV_ERR_ARG && svg == NULL, "metric 2 rejected");
    CHECK(mv_report_svg(&svg, &r, 1, "x") == MV_OK && svg && strstr(svg, "only &amp; &lt;one&gt;"),
          "legend names escaped in the SVG");
    free(svg);
    char path[1200];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    CHECK(file_contains(path, "| only & &lt;one&gt; | **18.50** | – | – | – | – | – | – | – | 10 | 5 | – |"),
          "unknown values shown as dashes in summary.md");
}

int main(void) {
    test_bootstrap();
    test_report_files();
    test_minimal_report();
    return tu_finish();
}
