/* The memory probe (src/eval/probe.c, `millivid probe`):
 *  - probe-point choice on a constructed walk that returns to places: the exact qualifying frames, the
 *    remembered frame s within [p - R, p - 32] (both ends inclusive), the hold-last exclusion (the last
 *    frames before p at the place the window ends), returns too recent or too old, yaw, the horizon end;
 *    the revisit part agrees with eval/protocol.c's mv_revisit_mask; the draw is deterministic, spaced,
 *    and depends on the seed; random non-revisit frames revisit nothing;
 *  - hold-last PSNR / SSIM against a hand computation; the t quantile and interval;
 *  - the schedule prefix: its length on the mini schedules, and the frames it gives equal the full
 *    rollout's bit for bit (small random model);
 *  - `millivid probe` end to end on a tiny Loopcraft split with the shipped mini models: the JSON fields
 *    and finite values; bad input (no poses, all-zero poses, too few revisits, another autoencoder,
 *    missing files, settings out of range), each a clear message, non-zero exit, nothing written. */
#include <cJSON.h>
#include <math.h>
#include <unistd.h>

#include "io/config.h"
#include "core/core.h"
#include "core/rng.h"
#include "eval/probe.h"
#include "eval/protocol.h"
#include "io/dataset.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "rollout/rollout.h"
#include "testutil.h"

#define R 85
#define K 8

/* ---------------------------------------------------------------- a constructed walk */

#define WT 260

/* Default: frame t at x = 10 + 3t (every frame 3 blocks from every other), z 0, yaw 0; then some frames
 * take the pose of an earlier, unmodified frame (a return to that place). */
static void copy_pose(float *poses, int to, int from, float dyaw) {
    memcpy(poses + to * 6, poses + from * 6, 6 * sizeof(float));
    poses[to * 6 + 4] += dyaw;
}

static void make_walk(float *poses) {
    for (int t = 0; t < WT; t++) {
        float *q = poses + t * 6;
        q[0] = 0, q[1] = 10 + 3.0f * t, q[2] = 30, q[3] = 0, q[4] = 0, q[5] = -10;
    }
    copy_pose(poses, 86, 1, 0), copy_pose(poses, 93, 40, 0);     /* point at R + 1; s = p - R */
    copy_pose(poses, 130, 98, 0), copy_pose(poses, 137, 60, 0);  /* point; s = p - 32 */
    copy_pose(poses, 120, 50, 0);                                /* revisit, but the window ends unseen */
    copy_pose(poses, 160, 70, 0), copy_pose(poses, 167, 100, 0); /* the place is 90 frames back (> R) */
    copy_pose(poses, 175, 150, 0), copy_pose(poses, 182, 110, 0); /* the place is 25 frames back (< 32) */
    copy_pose(poses, 210, 140, 0), copy_pose(poses, 217, 150, 0); /* revisit, but frame 208 (one of the */
    copy_pose(poses, 208, 150, 0);                                /* last 4) is where the window ends   */
    copy_pose(poses, 230, 155, 45), copy_pose(poses, 237, 165, 0); /* same place, yaw 45 degrees off */
    copy_pose(poses, 245, 180, 25), copy_pose(poses, 252, 190, 0); /* point; yaw 25 degrees off */
    copy_pose(poses, 255, 190, 0);                                 /* would end past the video */
}

static void rule_for_walk(mv_probe_rule *r) {
    mv_probe_rule_init(r);
    r->reach = R, r->horizon = K, r->spacing = K;
    r->revisit.wrap_blocks = 0;
}

static void test_classify(void) {
    float poses[WT * 6];
    make_walk(poses);
    mv_probe_rule r;
    rule_for_walk(&r);
    const struct {
        int p, verdict, remembered;
    } want[] = {{86, MV_PROBE_POINT, 1},          {130, MV_PROBE_POINT, 98},       {245, MV_PROBE_POINT, 180},
                {120, MV_PROBE_END_UNSEEN, 50},   {160, MV_PROBE_NO_REVISIT, -1},  {175, MV_PROBE_NO_REVISIT, -1},
                {210, MV_PROBE_HELD, 140},        {230, MV_PROBE_NO_REVISIT, -1},  {255, MV_PROBE_OUT_OF_RANGE, -1},
                {85, MV_PROBE_OUT_OF_RANGE, -1},  {93, MV_PROBE_END_UNSEEN, 40},   {100, MV_PROBE_NO_REVISIT, -1}};
    for (size_t i = 0; i < MV_ARRAY_LEN(want); i++) {
        int s = -2;
        int v = mv_probe_classify(poses, WT, want[i].p, &r, &s);
        CHECK(v == want[i].verdict, "frame %d: verdict %d, want %d", want[i].p, v, want[i].verdict);
        CHECK(s == want[i].remembered, "frame %d: remembered %d, want %d", want[i].p, s, want[i].remembered);
    }
    /* exactly three frames qualify; each remembered frame lies in [p - R, p - 32] */
    int n = 0, pts[WT];
    for (int p = 0; p < WT; p++) {
        int s;
        if (mv_probe_classify(poses, WT, p, &r, &s) != MV_PROBE_POINT) continue;
        pts[n++] = p;
        CHECK(s >= p - R && s <= p - 32, "point %d: remembered frame %d outside [%d, %d]", p, s, p - R, p - 32);
    }
    CHECK(n == 3 && pts[0] == 86 && pts[1] == 130 && pts[2] == 245, "qualifying frames: %d (%d %d %d)", n, pts[0],
          n > 1 ? pts[1] : -1, n > 2 ? pts[2] : -1);
    /* the hold-last exclusion is what removes 210: without frame 208 at the end place it qualifies */
    float moved[WT * 6];
    memcpy(moved, poses, sizeof moved);
    moved[208 * 6 + 1] = 10 + 3.0f * 208;
    CHECK(mv_probe_classify(moved, WT, 210, &r, NULL) == MV_PROBE_POINT, "210 with frame 208 elsewhere");
    r.hold_frames = 1; /* 208 is 2 frames back: outside a 1-frame hold window */
    CHECK(mv_probe_classify(poses, WT, 210, &r, NULL) == MV_PROBE_POINT, "210 with hold_frames 1");
    rule_for_walk(&r);
    /* the revisit part equals the evaluation's definition (mv_revisit_mask on frames p - R .. p with
     * context p - R .. p - 32) at every frame */
    int bad = 0;
    for (int p = R + 1; p + K <= WT; p++) {
        uint8_t mask[R + 1];
        CHECK(mv_revisit_mask(mask, NULL, poses + (p - R) * 6, R + 1, R - 32 + 1, &r.revisit) == MV_OK, "mask");
        int v = mv_probe_classify(poses, WT, p, &r, NULL);
        bad += mask[R] != (v != MV_PROBE_NO_REVISIT);
    }
    CHECK(bad == 0, "%d frames where the probe's revisit test differs from mv_revisit_mask", bad);
    /* periodic worlds: x 255.5 and 0.5 are 1 block apart when the world wraps at 256 */
    float w[120 * 6];
    for (int t = 0; t < 120; t++) {
        float *q = w + t * 6;
        q[0] = 0, q[1] = 100 + 1.0f * t, q[2] = 30, q[3] = 0, q[4] = (float)(t * 40 % 360), q[5] = 0;
    }
    w[40 * 6 + 1] = 255.5f, w[40 * 6 + 4] = 0, w[100 * 6 + 1] = 0.5f, w[100 * 6 + 4] = 350; /* yaw 10 apart */
    w[42 * 6 + 1] = 255.7f, w[42 * 6 + 4] = 0, w[107 * 6 + 1] = 0.3f, w[107 * 6 + 4] = 0;
    r.revisit.wrap_blocks = 256;
    CHECK(mv_probe_classify(w, 120, 100, &r, NULL) == MV_PROBE_POINT, "wrapped point");
    r.revisit.wrap_blocks = 0;
    CHECK(mv_probe_classify(w, 120, 100, &r, NULL) == MV_PROBE_NO_REVISIT, "no wrap: no revisit");
}

static void test_select(void) {
    float poses[WT * 6];
    make_walk(poses);
    mv_probe_rule r;
    rule_for_walk(&r);
    int f[16], s[16], cand = -1;
    int n = mv_probe_select(f, s, &cand, poses, WT, &r, 10, 7, 0);
    CHECK(n == 3 && cand == 3, "select all: %d of %d", n, cand);
    CHECK(n == 3 && f[0] == 86 && f[1] == 130 && f[2] == 245 && s[0] == 1 && s[1] == 98 && s[2] == 180,
          "chosen %d %d %d, remembered %d %d %d", f[0], f[1], f[2], s[0], s[1], s[2]);
    /* two of three: a subset in increasing order, the same for the same seed, not always the same */
    int subsets = 0, seen[8] = {0};
    for (uint64_t seed = 0; seed < 20; seed++) {
        int a[4], b[4];
        int na = mv_probe_select(a, NULL, NULL, poses, WT, &r, 2, seed, 3);
        int nb = mv_probe_select(b, NULL, NULL, poses, WT, &r, 2, seed, 3);
        CHECK(na == 2 && nb == 2 && a[0] == b[0] && a[1] == b[1], "seed %llu: not repeatable", (unsigned long long)seed);
        CHECK(a[0] < a[1], "not increasing");
        int code = 0;
        for (int i = 0; i < 2; i++) code |= (a[i] == 86 ? 1 : a[i] == 130 ? 2 : a[i] == 245 ? 4 : 8);
        CHECK(code < 8, "chose a frame that does not qualify");
        if (!seen[code & 7]) seen[code & 7] = 1, subsets++;
    }
    CHECK(subsets >= 2, "20 seeds drew %d distinct subsets", subsets);
    /* spacing: 87 qualifies too (86's walk shifted by one), but lies within K of 86 */
    copy_pose(poses, 87, 2, 0), copy_pose(poses, 94, 41, 0);
    CHECK(mv_probe_classify(poses, WT, 87, &r, NULL) == MV_PROBE_POINT, "87 qualifies");
    n = mv_probe_select(f, NULL, &cand, poses, WT, &r, 10, 7, 0);
    CHECK(cand == 4 && n == 3 && (f[0] == 86 || f[0] == 87) && f[1] == 130 && f[2] == 245,
          "spaced choice: %d of %d (%d %d %d)", n, cand, f[0], f[1], f[2]);
    /* random non-revisit frames: in range, spaced, and none revisits anything */
    int q[8];
    int nq = mv_probe_select_plain(q, poses, WT, &r, 8, 5, 1);
    CHECK(nq == 8, "plain frames: %d", nq);
    for (int i = 0; i < nq; i++) {
        CHECK(q[i] >= R + 1 && q[i] < WT, "plain frame %d out of range", q[i]);
        CHECK(i == 0 || q[i] - q[i - 1] >= K, "plain frames %d, %d closer than %d", q[i - 1], q[i], K);
        uint8_t mask[WT];
        int cnt;
        CHECK(mv_revisit_mask_gap(mask, &cnt, poses, q[i] + 1, q[i] - 32 + 1, &r.revisit, 0) == MV_OK, "mask");
        CHECK(!mask[q[i]], "plain frame %d revisits a place", q[i]);
    }
}

/* ---------------------------------------------------------------- helpers */

static void test_hold_last(void) {
    enum { H = 16, NF = 4 };
    static uint8_t v[NF][H][H][3];
    memset(v[0], 100, sizeof v[0]);
    memset(v[1], 110, sizeof v[1]);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < H; x++)
            for (int c = 0; c < 3; c++) v[2][y][x][c] = x < H / 2 ? 100 : 120;
    memcpy(v[3], v[0], sizeof v[0]);
    double psnr[3], ssim[3];
    mv_probe_hold_last(psnr, ssim, &v[0][0][0][0], 1, 3, H, H);
    /* by hand: MSE (10/255)^2 -> 20 log10(25.5); half the values 20 off -> MSE 200/255^2; identical -> cap */
    double want0 = 20 * log10(25.5), want1 = 10 * log10(255.0 * 255.0 / 200.0);
    CHECK(fabs(psnr[0] - want0) < 1e-9, "hold-last PSNR frame 1: %.10f, want %.10f", psnr[0], want0);
    CHECK(fabs(psnr[1] - want1) < 1e-9, "hold-last PSNR frame 2: %.10f, want %.10f", psnr[1], want1);
    CHECK(psnr[2] == MV_PROBE_PSNR_CAP, "identical frames: %g, want the cap %g", psnr[2], MV_PROBE_PSNR_CAP);
    CHECK(fabs(ssim[2] - 1) < 1e-12 && ssim[0] < 1 && ssim[0] > 0, "SSIM %g %g", ssim[0], ssim[2]);
    /* the metric of a constant shift: SSIM of two flat frames 10 apart, the luminance term alone */
    double mu1 = 100 / 255.0, mu2 = 110 / 255.0, C1 = 1e-4;
    double lum = (2 * mu1 * mu2 + C1) / (mu1 * mu1 + mu2 * mu2 + C1);
    CHECK(fabs(ssim[0] - lum) < 1e-9, "flat-frame SSIM %.12f, want %.12f", ssim[0], lum);
}

static void test_stats(void) {
    CHECK(fabs(mv_probe_t975(1) - 12.706) < 1e-3 && fabs(mv_probe_t975(10) - 2.228) < 1e-3, "t table");
    /* beyond the table: scipy.stats.t.ppf(0.975, df) = 2.0211 (40), 2.0003 (60), 1.9799 (120), 1.9623 (1000) */
    const double df[4] = {40, 60, 120, 1000}, want[4] = {2.021075, 2.000298, 1.979930, 1.962339};
    for (int i = 0; i < 4; i++)
        CHECK(fabs(mv_probe_t975((int)df[i]) - want[i]) < 2e-4, "t975(%g) = %.6f, want %.6f", df[i],
              mv_probe_t975((int)df[i]), want[i]);
    CHECK(isnan(mv_probe_t975(0)), "t975(0)");
    double x[3] = {1, 2, 3};
    mv_probe_stat s = mv_probe_stat_of(x, 3);
    double half = 4.303 / sqrt(3.0);
    CHECK(s.n == 3 && fabs(s.mean - 2) < 1e-12 && fabs(s.lo - (2 - half)) < 1e-9 && fabs(s.hi - (2 + half)) < 1e-9,
          "interval %g [%g, %g]", s.mean, s.lo, s.hi);
    s = mv_probe_stat_of(x, 1);
    CHECK(s.mean == 1 && isnan(s.lo) && isnan(s.hi), "one value: no interval");
}

/* ---------------------------------------------------------------- the schedule prefix */

typedef struct {
    int C, grid0, first, n;
    float *out; /* [n, T0, C] */
} sink;

static mv_status ctx_fn(void *user, int frame, int level, float *dst) {
    sink *k = user;
    int g = k->grid0 >> level;
    for (int i = 0; i < g * g * k->C; i++) dst[i] = 0.8f * sinf(0.37f * frame + 1.3f * level + 0.11f * i);
    return MV_OK;
}

static mv_status frame_fn(void *user, int frame, const float *lat0) {
    sink *k = user;
    int i = frame - k->first;
    if (i < 0 || i >= k->n) return mv_fail(MV_ERR_INTERNAL, "frame %d outside the window", frame);
    memcpy(k->out + (size_t)i * k->grid0 * k->grid0 * k->C, lat0, (size_t)k->grid0 * k->grid0 * k->C * 4);
    return MV_OK;
}

static mv_status rollout(const mv_dit *m, const mv_schedule *s, sink *k, int context, int n, const int *actions,
                         mv_rollout_stats *st) {
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = context, p.frames = context + n, p.sample_steps = 2, p.seed = 11, p.actions = actions;
    p.context_fn = ctx_fn, p.context_user = k, p.frame_fn = frame_fn, p.frame_user = k;
    k->C = m->C, k->grid0 = m->grid0, k->first = context, k->n = n;
    memset(k->out, 0, (size_t)n * m->grid0 * m->grid0 * m->C * 4);
    return mv_rollout_run(m, s, &p, st);
}

static void test_prefix(void) {
    mv_config c;
    CHECK(mv_config_load(&c, "mini") == MV_OK, "mini config: %s", mv_last_error());
    mv_schedule full, pre;
    memset(&full, 0, sizeof full);
    CHECK(mv_schedule_build(&full, MV_METHOD_MILLIVID, &c) == MV_OK, "schedule: %s", mv_last_error());
    const int hz[5] = {1, 8, 16, 64, 65}, want[5] = {4, 12, 22, 85, 85};
    for (int i = 0; i < 5; i++) {
        CHECK(mv_probe_schedule_prefix(&pre, &full, hz[i]) == MV_OK, "prefix");
        CHECK(pre.nsteps == want[i], "millivid prefix for %d frames: %d steps, want %d", hz[i], pre.nsteps, want[i]);
    }
    CHECK(mv_probe_schedule_prefix(&pre, &full, 0) != MV_OK, "horizon 0 accepted");
    for (int m = MV_METHOD_FRAMEPACK; m <= MV_METHOD_FULLRES; m++) {
        mv_schedule s;
        memset(&s, 0, sizeof s);
        CHECK(mv_schedule_build(&s, (mv_method)m, &c) == MV_OK, "schedule %d", m);
        CHECK(mv_probe_schedule_prefix(&pre, &s, 8) == MV_OK && pre.nsteps == s.nsteps, "%s: prefix %d of %d",
              mv_method_name((mv_method)m), pre.nsteps, s.nsteps);
        mv_schedule_free(&s);
    }
    /* the frames of the prefix rollout equal those of the full rollout, bit for bit */
    c.dit_width = 24, c.dit_depth = 1, c.dit_heads = 2;
    mv_dit dit;
    CHECK(mv_dit_create(&dit, &c, MV_DIT_UNIVERSAL, 0) == MV_OK, "dit: %s", mv_last_error());
    mv_rng g;
    mv_rng_init(&g, 3);
    mv_rng_normal(&g, dit.params.data, dit.params.total);
    for (size_t i = 0; i < dit.params.total; i++) dit.params.data[i] *= 0.15f;
    int actions[120];
    for (int f = 0; f < 120; f++) actions[f] = (f / 9) % 3;
    size_t fl = (size_t)K * dit.grid0 * dit.grid0 * dit.C;
    sink a = {.out = calloc(fl, 4)}, b = {.out = calloc(fl, 4)};
    mv_rollout_stats sa, sb;
    CHECK(mv_probe_schedule_prefix(&pre, &full, K) == MV_OK, "prefix");
    CHECK(rollout(&dit, &full, &a, 100, K, actions, &sa) == MV_OK, "full rollout: %s", mv_last_error());
    CHECK(rollout(&dit, &pre, &b, 100, K, actions, &sb) == MV_OK, "prefix rollout: %s", mv_last_error());
    CHECK(sa.steps == 85 && sb.steps == 12, "steps %ld and %ld", sa.steps, sb.steps);
    CHECK(memcmp(a.out, b.out, fl * 4) == 0, "the prefix rollout's %d frames differ from the full rollout's", K);
    double amax = 0;
    for (size_t i = 0; i < fl; i++) amax = fmax(amax, fabs(a.out[i]));
    CHECK(amax > 0.01, "generated latents are all ~0 (%g): the comparison shows nothing", amax);
    free(a.out), free(b.out);
    mv_dit_free(&dit);
    mv_schedule_free(&full);
}

/* ---------------------------------------------------------------- the command */

static char g_bin[512], g_dir[1024];

/* Runs `millivid probe ARGS`, stderr and stdout to log; returns the exit status. */
static int probe(const char *log, const char *args) {
    return tu_sh("%s probe %s >%s 2>&1", g_bin, args, log);
}

static int file_has(const char *path, const char *needle) {
    char *t = tu_slurp(path, NULL);
    int ok = t && strstr(t, needle);
    free(t);
    return ok;
}

static double num(const cJSON *o, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *it = o;
    for (char *tok = strtok(buf, "."); tok && it; tok = strtok(NULL, ".")) it = cJSON_GetObjectItemCaseSensitive(it, tok);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static int check_stat(const cJSON *o, const char *path, int want_n) {
    char p[256];
    snprintf(p, sizeof p, "%s.mean", path);
    double m = num(o, p);
    snprintf(p, sizeof p, "%s.lo", path);
    double lo = num(o, p);
    snprintf(p, sizeof p, "%s.hi", path);
    double hi = num(o, p);
    snprintf(p, sizeof p, "%s.n", path);
    double n = num(o, p);
    int ok = isfinite(m) && isfinite(lo) && isfinite(hi) && lo <= m && m <= hi && n == want_n;
    CHECK(ok, "%s: mean %g [%g, %g] n %g (want n %d)", path, m, lo, hi, n, want_n);
    return ok;
}

/* A copy of data set `src` at dst (frames linked), with index.json / actions.npy changed. */
static void copy_data(const char *src, const char *dst, int no_poses_flag, int zero_poses) {
    CHECK(tu_sh("mkdir -p %s && ln -sf \"$(cd %s && pwd)/frames.npy\" %s/frames.npy && cp %s/index.json %s/", dst, src,
                dst, src, dst) == 0, "copy %s", dst);
    if (no_poses_flag)
        CHECK(tu_sh("sed -i 's/\"has_poses\":[[:space:]]*true/\"has_poses\": false/' %s/index.json && grep -q "
                    "'\"has_poses\": false' %s/index.json", dst, dst) == 0, "has_poses false");
    char path[1200];
    snprintf(path, sizeof path, "%s/actions.npy", dst);
    if (!zero_poses) {
        CHECK(tu_sh("cp %s/actions.npy %s/", src, dst) == 0, "copy actions");
        return;
    }
    mv_dataset d;
    if (mv_dataset_open(&d, src)) {
        CHECK(0, "open %s: %s", src, mv_last_error());
        return;
    }
    size_t n = (size_t)d.videos * d.frames_per_video;
    float *a = malloc(n * 6 * sizeof(float));
    memcpy(a, d.actions.data, n * 6 * sizeof(float));
    for (size_t i = 0; i < n; i++) memset(a + i * 6 + 1, 0, 5 * sizeof(float));
    int64_t shape[3] = {d.videos, d.frames_per_video, 6};
    CHECK(mv_npy_save(path, MV_DT_F32, 3, shape, a) == MV_OK, "save: %s", mv_last_error());
    free(a);
    mv_dataset_close(&d);
}

/* The shipped autoencoder with one weight changed (another ae_hash), saved as path. */
static void other_ae(const char *path) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    memset(&f, 0, sizeof f);
    CHECK(mv_ckpt_open(&f, &meta, "models/ae_mini.safetensors", "autoencoder") == MV_OK, "%s", mv_last_error());
    mv_st_close(&f);
    mv_ae ae;
    if (mv_ae_load(&ae, "models/ae_mini.safetensors", 0)) {
        CHECK(0, "load ae: %s", mv_last_error());
        return;
    }
    ae.params.data[0] += 0.5f;
    CHECK(mv_ckpt_save(path, &ae.params, &meta, NULL) == MV_OK, "save: %s", mv_last_error());
    mv_ae_free(&ae);
}

static void test_command(void) {
    const char *b = getenv("MV_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b && *b ? b : "build");
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir("probe"));
    char data[1200], out[1200], log[1200], args[4096];
    snprintf(data, sizeof data, "%s/data", g_dir);
    snprintf(out, sizeof out, "%s/probe.json", g_dir);
    snprintf(log, sizeof log, "%s/probe.log", g_dir);
    /* seed 5: video 1 returns to places of its first 86 frames (32 qualifying frames for K = 8) */
    CHECK(tu_sh("%s world --split test --videos 2 --frames 200 --size 64 --context 86 --seed 5 --quiet --out %s "
                ">%s/world.log 2>&1", g_bin, data, g_dir) == 0, "world (see %s/world.log)", g_dir);
    const char *models = "--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors "
                         "--dit models/dit_fullres_mini.safetensors";
    snprintf(args, sizeof args, "%s --data %s --out %s --points 3 --sample-steps 2 --min-points 2 --threads 2 --quiet",
             models, data, out);
    double t0 = mv_now();
    int rc = probe(log, args);
    CHECK(rc == 0, "probe exited %d (see %s)", rc, log);
    printf("probe run: %.1f s\n", mv_now() - t0);
    CHECK(file_has(log, "recall PSNR") && file_has(log, "hold_last") && file_has(log, "wrote"), "summary table");
    char *text = tu_slurp(out, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECK(j != NULL, "%s: not JSON", out);
    if (j) {
        CHECK(num(j, "settings.horizon") == 8 && num(j, "settings.sample_steps") == 2 && num(j, "settings.reach") == 85 &&
              num(j, "settings.points_per_video") == 3 && num(j, "settings.min_gap") == 32, "settings");
        int np = (int)num(j, "counts.points"), nq = (int)num(j, "counts.random_frames");
        CHECK(np >= 2 && np <= 6 && nq >= 2 && nq <= 6, "counts: %d points, %d random frames", np, nq);
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(j, "points");
        CHECK(cJSON_GetArraySize(pts) == np, "points array");
        const cJSON *pt;
        cJSON_ArrayForEach(pt, pts) {
            double p = num(pt, "frame"), s = num(pt, "remembered_frame");
            CHECK(p >= 86 && p + 8 <= 200 && s >= p - 85 && s <= p - 32, "point %g remembers %g", p, s);
        }
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "methods");
        CHECK(cJSON_GetArraySize(ms) == 2, "two methods");
        const char *names[2] = {"millivid", "fullres"};
        for (int i = 0; i < 2 && i < cJSON_GetArraySize(ms); i++) {
            const cJSON *m = cJSON_GetArrayItem(ms, i);
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(m, "name");
            CHECK(cJSON_IsString(nm) && !strcmp(nm->valuestring, names[i]), "method %d name", i);
            CHECK(num(m, "step") == 4500 && num(m, "dit_calls") > 0 && num(m, "seconds") > 0, "%s: step, calls, time",
                  names[i]);
            check_stat(m, "recall.psnr", np);
            check_stat(m, "recall.ssim", np);
            check_stat(m, "recall.psnr_vs_hold_last", np);
            check_stat(m, "next_frame.revisit_psnr", np);
            check_stat(m, "next_frame.random_psnr", nq);
            const cJSON *rc0 = cJSON_GetObjectItemCaseSensitive(m, "recall");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rc0, "psnr_by_frame")) == 8, "psnr_by_frame");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rc0, "psnr_per_point")) == np, "psnr_per_point");
        }
        /* the model's first frame is generated from the true history: far better than an unrelated video */
        double ae = NAN, rnd = NAN, hold = NAN;
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(j, "bounds"), *bd;
        CHECK(cJSON_GetArraySize(bs) == 3, "three bounds");
        cJSON_ArrayForEach(bd, bs) {
            const char *n = cJSON_GetObjectItemCaseSensitive(bd, "name")->valuestring;
            check_stat(bd, "recall.psnr", np);
            check_stat(bd, "next_frame.random_psnr", nq);
            if (!strcmp(n, "autoencoded")) ae = num(bd, "recall.psnr.mean");
            if (!strcmp(n, "random_video")) rnd = num(bd, "recall.psnr.mean");
            if (!strcmp(n, "hold_last")) hold = num(bd, "recall.psnr.mean");
        }
        double mv = num(cJSON_GetArrayItem(ms, 0), "next_frame.revisit_psnr.mean");
        CHECK(ae > 24 && rnd < 14 && hold > rnd && hold < ae, "bounds: autoencoded %g, hold-last %g, random %g", ae, hold,
              rnd);
        CHECK(mv > rnd + 3, "millivid next frame %g vs random video %g", mv, rnd);
        cJSON_Delete(j);
    }
    free(text);

    /* bad input: a clear message, non-zero exit, no output file */
    char bad[1200], other[1200];
    snprintf(bad, sizeof bad, "%s/bad.json", g_dir);
    snprintf(other, sizeof other, "%s/ae_other.safetensors", g_dir);
    other_ae(other);
    char d_noflag[1200], d_zero[1200];
    snprintf(d_noflag, sizeof d_noflag, "%s/noposes", g_dir);
    snprintf(d_zero, sizeof d_zero, "%s/zeroposes", g_dir);
    copy_data(data, d_noflag, 1, 0);
    copy_data(data, d_zero, 0, 1);
    const struct {
        const char *fmt; /* %s: data dir, then out */
        const char *data;
        const char *needle;
        int rc;
    } cases[] = {
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s", d_noflag,
         "has no camera poses", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s", d_zero,
         "all-zero poses", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --min-points 100",
         data, "validation split has too few revisits: found", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --horizon 2",
         data, "too few revisits: found 0, need >= 8", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --horizon 150",
         data, "too short for --horizon 150", 1},
        {"--ae models/ae_mini.safetensors --dit models/no_such.safetensors --data %s --out %s", data, "no_such", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s_missing --out %s", data,
         "_missing", 1},
        {"--ae models/dit_millivid_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s", data,
         "autoencoder", 1},
        {"--ae models/ae_mini.safetensors --dit models/ae_mini.safetensors --data %s --out %s", data, "video", 1},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --horizon 0",
         data, "--horizon must be in [1, 256]", 2},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --horizon 999",
         data, "--horizon must be in [1, 256]", 2},
        {"--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s --out %s --points 0", data,
         "--points must be in [1, 1000]", 2},
        {"--ae models/ae_mini.safetensors --data %s --out %s", data, "are required", 2},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(cases); i++) {
        unlink(bad);
        snprintf(args, sizeof args, cases[i].fmt, cases[i].data, bad);
        rc = probe(log, args);
        CHECK(rc == cases[i].rc, "case %zu (%s): exit %d, want %d", i, args, rc, cases[i].rc);
        CHECK(file_has(log, cases[i].needle), "case %zu: message lacks '%s' (see %s)", i, cases[i].needle, log);
        CHECK(access(bad, F_OK) != 0, "case %zu wrote %s", i, bad);
    }
    /* another autoencoder; an output folder that does not exist */
    snprintf(args, sizeof args, "--ae %s --dit models/dit_millivid_mini.safetensors --data %s --out %s", other, data, bad);
    CHECK(probe(log, args) == 1 && file_has(log, "trained on another autoencoder"), "ae mismatch (see %s)", log);
    CHECK(access(bad, F_OK) != 0, "ae mismatch wrote %s", bad);
    snprintf(args, sizeof args, "--ae models/ae_mini.safetensors --dit models/dit_millivid_mini.safetensors --data %s "
             "--out %s/no_dir/x.json", data, g_dir);
    CHECK(probe(log, args) == 1 && file_has(log, "cannot write into folder"), "missing out folder (see %s)", log);
    /* nothing but the result and the logs in the folder: no temporary files left behind */
    CHECK(tu_sh("ls %s | grep -q tmp", g_dir) != 0, "temporary files left in %s", g_dir);
}

int main(void) {
    test_classify();
    test_select();
    test_hold_last();
    test_stats();
    test_prefix();
    test_command();
    return tu_finish();
}
