/* Loopcraft: world, renderer, agent, policy, data-set writer, CLI errors, PNG + font. */
#include <math.h>
#include <sys/stat.h>

#include "core/core.h"
#include "io/image.h"
#include "io/tensorfile.h"
#include "world/world.h"
#include "testutil.h"

static char g_dir[1024];

static const char *bin(void) {
    static char path[512];
    const char *b = getenv("MV_BUILD");
    snprintf(path, sizeof path, "%s/millivid", b ? b : "build");
    return path;
}

static int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

/* ---------------- policy ---------------- */
static void test_bundles(void) {
    mv_rng r;
    mv_rng_init(&r, 11);
    int nb = 20000, kcount[5] = {0}, bad = 0, f4[12] = {0};
    uint8_t b[MV_BUNDLE_MAX];
    for (int i = 0; i < nb; i++) {
        int n = mv_policy_bundle(&r, b), k = 0, f = 0, dir = -1;
        if (b[0] != MV_ACT_FORWARD) bad++;
        for (int j = 1; j < n; j++) {
            if (b[j] == MV_ACT_FORWARD) f++;
            else {
                k++;
                if (dir >= 0 && b[j] != dir) bad++;
                dir = b[j];
            }
        }
        if (k < 1 || k > 4 || f < k || f >= 3 * k) bad++;
        else kcount[k]++;
        if (k == 4 && f >= 4 && f < 12) f4[f]++;
    }
    CHECK(bad == 0, "%d malformed bundles (leading forward, one direction, k turns, forwards in [k,3k))", bad);
    const double want[5] = {0, 0.1, 0.3, 0.1, 0.5};
    for (int k = 1; k <= 4; k++)
        CHECK(fabs((double)kcount[k] / nb - want[k]) < 0.015, "P(k=%d) = %.3f, want %.1f", k,
              (double)kcount[k] / nb, want[k]);
    int f4min = nb, f4max = 0; /* forwards uniform in [4, 12) when k = 4: about 1250 each */
    for (int f = 4; f < 12; f++) f4min = MV_MIN(f4min, f4[f]), f4max = MV_MAX(f4max, f4[f]);
    CHECK(f4min > 1050 && f4max < 1450, "forwards for k=4 not uniform: %d..%d", f4min, f4max);
    /* Per-frame walk: every action held 9 frames. */
    int T = 4000;
    uint8_t *a = malloc(T);
    mv_policy_train(&r, T, a);
    int run_bad = 0, run = 1;
    for (int t = 1; t < T; t++) {
        if (a[t] != a[t - 1]) {
            if (run % MV_WORLD_HOLD) run_bad++;
            run = 0;
        }
        run++;
    }
    CHECK(run_bad == 0, "%d action runs not a multiple of 9 frames", run_bad);
    CHECK(a[0] == MV_ACT_FORWARD, "walk starts with a forward");
    free(a);
}

static void test_chamfer(void) {
    float a[2] = {0, 0}, b[4] = {3, 4, 6, 8};
    CHECK(fabs(mv_chamfer2d(a, 1, b, 2) - (5.0 + 7.5)) < 1e-9, "chamfer %g", mv_chamfer2d(a, 1, b, 2));
    uint8_t acts[20] = {0};
    float pos[42];
    mv_policy_turtle(acts, 20, pos);
    CHECK(pos[0] == 0 && pos[1] == 0 && fabsf(pos[40] - 20) < 1e-5f, "turtle starts at origin, unit steps");
    /* Loop-biased test walks score clearly lower than train walks. */
    int T = 256, C = 128, n = 24;
    uint8_t *w = malloc(T);
    double tr = 0, te = 0;
    mv_rng r;
    mv_rng_init(&r, 5);
    for (int i = 0; i < n; i++) {
        mv_policy_train(&r, T, w);
        tr += mv_policy_loop_score(w, T, C);
        CHECK(mv_policy_test(&r, T, C, 60, 0.1, w) == MV_OK, "policy_test");
        te += mv_policy_loop_score(w, T, C);
    }
    CHECK(te < 0.6 * tr, "turtle Chamfer: test %.2f vs train %.2f", te / n, tr / n);
    free(w);
}

/* ---------------- world + agent ---------------- */
static void test_agent(void) {
    int bad_collide = 0, bad_turn = 0, bad_move = 0, bad_pose = 0, frames = 0, moved = 0;
    for (int s = 0; s < 3; s++) {
        mv_world *w = NULL;
        CHECK(mv_world_create(&w, 1000u + s) == MV_OK, "world create");
        if (!w) return;
        CHECK(mv_world_landmarks(w) >= 5, "landmarks: %d", mv_world_landmarks(w));
        double sx, sy, sz;
        mv_world_spawn(w, &sx, &sy, &sz);
        int below = mv_world_block(w, (int)floor(sx), (int)sy - 1, (int)floor(sz));
        CHECK(below != MV_B_WATER && below != MV_B_AIR && sy > MV_WORLD_SEA, "spawn on dry ground (%d)", below);
        CHECK(!mv_agent_collides(w, sx, sy, sz), "spawn is free");
        mv_world_params p;
        mv_world_params_init(&p);
        p.frames = 600;
        p.size = 8;
        float *a6 = malloc(sizeof(float) * 6 * p.frames);
        CHECK(mv_world_video(&p, s, w, a6, NULL) == MV_OK, "video");
        mv_agent ag;
        mv_agent_reset(&ag, w);
        for (int i = 0; i < p.frames; i++) {
            const float *q = a6 + 6 * i;
            double px = ag.x, py = ag.y, pz = ag.z, pyaw = ag.yaw;
            mv_agent_step(&ag, w, (int)q[0]);
            frames++;
            if (mv_agent_collides(w, ag.x, ag.y, ag.z)) bad_collide++;
            if ((float)ag.x != q[1] || (float)ag.y != q[2] || (float)ag.z != q[3] || (float)ag.yaw != q[4] ||
                q[5] != (float)MV_WORLD_PITCH)
                bad_pose++;
            double dyaw = ag.yaw - pyaw, dxz = hypot(ag.x - px, ag.z - pz);
            int id = (int)q[0];
            if ((id == 1 && dyaw != -10) || (id == 2 && dyaw != 10) || (id == 0 && dyaw != 0)) bad_turn++;
            if (id != 0 && (ag.x != px || ag.y != py || ag.z != pz)) bad_move++;
            if (id == 0 && dxz > 0.2 + 1e-9) bad_move++;
            if (id == 0 && dxz > 0.1) moved++;
            if (i > 0) { /* the same checks on the stored float poses */
                const float *pq = q - 6;
                float fy = q[4] - pq[4];
                if ((id == 1 && fy != -10.0f) || (id == 2 && fy != 10.0f) || (id == 0 && fy != 0.0f)) bad_turn++;
                if (id != 0 && (q[1] != pq[1] || q[2] != pq[2] || q[3] != pq[3])) bad_move++;
            }
        }
        /* reset observation not saved: frame 0 is after the first (forward) action */
        CHECK(a6[0] == 0 && (a6[1] != (float)sx || a6[2] != (float)sy || a6[3] != (float)sz),
              "frame 0 is produced by action 0 (forward), not the reset pose");
        free(a6);
        mv_world_free(w);
    }
    CHECK(bad_collide == 0, "%d of %d frames inside a solid block", bad_collide, frames);
    CHECK(bad_turn == 0, "%d frames with a wrong yaw change", bad_turn);
    CHECK(bad_move == 0, "%d frames moving on a turn or faster than 0.2", bad_move);
    CHECK(bad_pose == 0, "%d stored poses differ from the simulation", bad_pose);
    CHECK(moved > frames / 4, "agent walks: %d forward moves in %d frames", moved, frames);
}

static void test_walls(void) {
    /* Walk straight for a long time in many directions: never inside a block, sometimes blocked. */
    mv_world *w = NULL;
    CHECK(mv_world_create(&w, 77) == MV_OK, "world");
    if (!w) return;
    int bad = 0, climbs = 0;
    for (int dir = 0; dir < 36; dir++) {
        mv_agent a;
        mv_agent_reset(&a, w);
        for (int k = 0; k < dir; k++) mv_agent_step(&a, w, MV_ACT_RIGHT);
        double y0 = a.y;
        for (int i = 0; i < 300; i++) {
            mv_agent_step(&a, w, MV_ACT_FORWARD);
            if (mv_agent_collides(w, a.x, a.y, a.z)) bad++;
            if (a.y > y0 + 0.99) climbs++, y0 = a.y;
        }
    }
    CHECK(bad == 0, "%d frames inside a block while walking straight", bad);
    CHECK(climbs > 0, "auto-jump climbs steps (%d)", climbs);
    mv_world_free(w);
}

static void test_render(void) {
    mv_world *w = NULL;
    CHECK(mv_world_create(&w, 4242) == MV_OK, "world");
    if (!w) return;
    int S = 32;
    uint8_t *a = malloc(S * S * 3), *b = malloc(S * S * 3);
    double x, y, z;
    mv_world_spawn(w, &x, &y, &z);
    mv_set_threads(1);
    mv_world_render(w, x, y, z, 30, MV_WORLD_PITCH, S, a);
    mv_set_threads(2);
    mv_world_render(w, x, y, z, 30, MV_WORLD_PITCH, S, b);
    CHECK(!memcmp(a, b, S * S * 3), "render identical at 1 and 2 threads");
    float poses[18] = {0, (float)x, (float)y, (float)z, 30, MV_WORLD_PITCH, 0, (float)x + 3, (float)y + 2, (float)z,
                       -70, MV_WORLD_PITCH, 2, (float)x + 256, (float)y, (float)z - 512, 30, MV_WORLD_PITCH};
    uint8_t *batch = malloc(3 * S * S * 3);
    CHECK(mv_world_render_batch(w, poses, 3, S, batch) == MV_OK, "batch render");
    int same = 1;
    for (int f = 0; f < 3; f++) {
        const float *q = poses + 6 * f;
        mv_world_render(w, q[1], q[2], q[3], q[4], q[5], S, b);
        same &= !memcmp(b, batch + f * S * S * 3, S * S * 3);
    }
    CHECK(same, "batch render equals single renders");
    CHECK(!memcmp(batch, batch + 2 * S * S * 3, S * S * 3), "the world wraps every 256 blocks");
    free(batch);
    /* top row: sky-ish (blue dominant); the image is not flat */
    int skyish = 0;
    double mean = 0, var = 0;
    for (int i = 0; i < S; i++) skyish += a[i * 3 + 2] > a[i * 3] && a[i * 3 + 2] > 150;
    for (int i = 0; i < S * S * 3; i++) mean += a[i];
    mean /= S * S * 3;
    for (int i = 0; i < S * S * 3; i++) var += (a[i] - mean) * (a[i] - mean);
    CHECK(skyish > S / 2, "top row mostly sky: %d of %d", skyish, S);
    CHECK(sqrt(var / (S * S * 3)) > 15, "image has contrast (std %.1f)", sqrt(var / (S * S * 3)));
    free(a);
    free(b);
    mv_world_free(w);
}

/* ---------------- data sets ---------------- */
static mv_status write_set(const char *out, int test, int threads, int videos, int frames, int size) {
    mv_world_params p;
    mv_world_params_init(&p);
    p.out = out;
    p.test_split = test;
    p.videos = videos;
    p.frames = frames;
    p.size = size;
    p.seed = 9;
    p.context = frames / 2;
    p.candidates = 40;
    p.threads = threads;
    p.quiet = 1;
    return mv_world_write_dataset(&p);
}

static void test_dataset(void) {
    char a[1200], b[1200], fa[1300], fb[1300];
    snprintf(a, sizeof a, "%s/t1", g_dir);
    snprintf(b, sizeof b, "%s/t2", g_dir);
    CHECK(write_set(a, 1, 1, 2, 40, 16) == MV_OK, "write (1 thread): %s", mv_last_error());
    CHECK(write_set(b, 1, 2, 2, 40, 16) == MV_OK, "write (2 threads): %s", mv_last_error());
    const char *names[] = {"frames.npy", "actions.npy", "index.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(fa, sizeof fa, "%s/%s", a, names[i]);
        snprintf(fb, sizeof fb, "%s/%s", b, names[i]);
        CHECK(files_equal(fa, fb), "%s identical for 1 and 2 threads", names[i]);
    }
    mv_set_threads(2);
    CHECK(write_set(b, 1, 2, 2, 40, 16) != MV_OK, "refuses a non-empty output directory");
    CHECK(strstr(mv_last_error(), "--force") != NULL, "message mentions --force: %s", mv_last_error());
    mv_world_params p;
    mv_world_params_init(&p);
    p.out = b, p.test_split = 1, p.videos = 2, p.frames = 40, p.size = 16, p.seed = 9, p.context = 20;
    p.candidates = 40, p.quiet = 1, p.force = 1;
    CHECK(mv_world_write_dataset(&p) == MV_OK, "--force replaces: %s", mv_last_error());
    snprintf(fb, sizeof fb, "%s/frames.npy", b);
    snprintf(fa, sizeof fa, "%s/frames.npy", a);
    CHECK(files_equal(fa, fb), "forced rewrite identical");
    CHECK(tu_sh("ls -d %s.tmp-* >/dev/null 2>&1", b) != 0, "no temporary directory left behind");
    int rc = tu_python("-c \"import numpy as np, json; d='%s'; f=np.load(d+'/frames.npy'); "
                       "a=np.load(d+'/actions.npy'); j=json.load(open(d+'/index.json')); "
                       "assert f.shape==(2,40,16,16,3) and f.dtype==np.uint8, f.shape; "
                       "assert a.shape==(2,40,6) and a.dtype==np.float32, a.shape; "
                       "assert j['split']=='test' and j['videos']==2 and j['frames']==40 and j['size']==16 "
                       "and j['seed']==9 and j['format_version']==1 and j['has_poses'] is True; "
                       "assert len(j['world_seeds'])==2; assert f.std()>10\"",
                       a);
    CHECK(rc == 0, "numpy reads the data set with the right shapes and dtypes");
    /* frames[i] is the render of the pose stored at i (read back through the npy reader) */
    mv_npy fr, ac;
    snprintf(fa, sizeof fa, "%s/frames.npy", a);
    snprintf(fb, sizeof fb, "%s/actions.npy", a);
    if (mv_npy_open(&fr, fa) == MV_OK && mv_npy_open(&ac, fb) == MV_OK) {
        mv_world *w = NULL;
        uint8_t img[16 * 16 * 3];
        int mism = 0;
        CHECK(mv_world_create(&w, mv_world_video_seed(9, 1)) == MV_OK, "world of video 1");
        for (int t = 0; w && t < 40; t += 13) {
            const float *q = (const float *)ac.data + (40 + t) * 6;
            mv_world_render(w, q[1], q[2], q[3], q[4], q[5], 16, img);
            mism += memcmp(img, (const uint8_t *)fr.data + (size_t)(40 + t) * 16 * 16 * 3, sizeof img) != 0;
        }
        CHECK(mism == 0, "%d frames differ from the render of their stored pose", mism);
        mv_world_free(w);
        mv_npy_close(&fr);
        mv_npy_close(&ac);
    } else {
        CHECK(0, "npy open: %s", mv_last_error());
    }
}

static double xz_chamfer(const float *a6, int T, int C) {
    float *pos = malloc(sizeof(float) * 2 * T);
    for (int i = 0; i < T; i++) pos[2 * i] = a6[6 * i + 1], pos[2 * i + 1] = a6[6 * i + 3];
    double s = mv_chamfer2d(pos, C, pos + 2 * C, T - C);
    free(pos);
    return s;
}

static void test_splits(void) {
    /* Real agent positions: test-split videos loop back more than train ones. */
    int T = 200, C = 100, n = 6;
    double tr = 0, te = 0;
    float *a6 = malloc(sizeof(float) * 6 * T);
    for (int v = 0; v < n; v++) {
        mv_world_params p;
        mv_world_params_init(&p);
        p.frames = T, p.size = 8, p.seed = 21, p.context = C, p.candidates = 50;
        mv_world *w = NULL;
        if (mv_world_create(&w, mv_world_video_seed(p.seed, v)) != MV_OK) break;
        p.test_split = 0;
        mv_world_video(&p, v, w, a6, NULL);
        tr += xz_chamfer(a6, T, C);
        p.test_split = 1;
        mv_world_video(&p, v, w, a6, NULL);
        te += xz_chamfer(a6, T, C);
        mv_world_free(w);
    }
    CHECK(te < 0.75 * tr, "agent Chamfer (x,z): test %.2f vs train %.2f", te / n, tr / n);
    free(a6);
}

static void test_cli(void) {
    const char *m = bin();
    char out[1200];
    snprintf(out, sizeof out, "%s/cli", g_dir);
    struct {
        const char *args, *msg;
    } bad[] = {
        {"--size 12", "multiple of 8"},
        {"--size 512", "--size"},
        {"--videos 0", "--videos"},
        {"--frames 0", "--frames"},
        {"--frames 99999999", "--frames"},
        {"--bogus 3", "unknown option"},
        {"--split val", "--split"},
        {"--split test --context 500", "--context"},
        {"--split test --keep-fraction 2", "--keep-fraction"},
        {"--context 5", "--split test"},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(bad); i++) {
        int rc = tu_sh("%s world --out %s --frames 16 --videos 1 --size 8 --quiet %s > %s/err.txt 2>&1", m, out,
                       bad[i].args, g_dir);
        char path[1300], line[512] = "";
        snprintf(path, sizeof path, "%s/err.txt", g_dir);
        FILE *f = fopen(path, "r");
        int lines = 0;
        if (f) {
            char buf[512];
            while (fgets(buf, sizeof buf, f)) {
                if (!lines) snprintf(line, sizeof line, "%s", buf);
                lines++;
            }
            fclose(f);
        }
        CHECK(rc != 0 && lines == 1 && strstr(line, bad[i].msg), "'%s': rc %d, %d lines: %s", bad[i].args, rc,
              lines, line);
    }
    CHECK(tu_sh("%s world --out /proc/nope/x --videos 1 --frames 4 --size 8 --quiet 2>/dev/null", m) != 0,
          "unwritable output refused");
    CHECK(tu_sh("%s world --videos 1 --frames 4 --size 8 --quiet 2>/dev/null", m) != 0, "missing --out refused");
    int rc = tu_sh("%s world --out %s --videos 1 --frames 12 --size 8 --seed 4 2>%s/log.txt", m, out, g_dir);
    CHECK(rc == 0, "CLI run succeeds");
    CHECK(tu_sh("grep -q 'fov 70' %s/log.txt && grep -q 'frames/s' %s/log.txt", g_dir, g_dir) == 0,
          "prints the configuration and a progress bar");
    CHECK(tu_sh("%s world --out %s --videos 1 --frames 12 --size 8 --quiet 2>/dev/null", m, out) != 0,
          "non-empty output refused without --force");
    CHECK(tu_sh("%s world --help | grep -q -- --keep-fraction", m) == 0, "--help lists the options");
    /* --mp4: one H.264 video per data-set video */
    rc = tu_sh("%s world --out %s --force --mp4 --videos 2 --frames 10 --size 16 --seed 4 --quiet", m, out);
    CHECK(rc == 0, "--mp4 run succeeds");
    CHECK(tu_sh("test -s %s/videos/00000.mp4 && test -s %s/videos/00001.mp4", out, out) == 0, "two mp4 files");
    if (tu_sh("command -v ffprobe >/dev/null") == 0)
        CHECK(tu_sh("ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,nb_read_frames "
                    "-of csv=p=0 %s/videos/00001.mp4 | grep -q 'h264,10'", out) == 0,
              "mp4 is H.264 with 10 frames");
}

static void test_png(void) {
    int w = 40, h = 12;
    uint8_t *img = calloc(w * h * 3, 1);
    const uint8_t white[3] = {255, 255, 255};
    mv_draw_text(img, w, h, 1, 1, "A1:x", 1, white);
    mv_draw_text(img, w, h, 30, 8, "ZZZZ", 2, white); /* clipped, must not write out of bounds */
    int lit = 0;
    for (int i = 0; i < w * h; i++) lit += img[i * 3] == 255;
    CHECK(lit > 20 && lit < w * h, "text drawn (%d lit pixels)", lit);
    img[0] = 7, img[1] = 8, img[2] = 9;
    char path[1200];
    snprintf(path, sizeof path, "%s/t.png", g_dir);
    CHECK(mv_png_write(path, img, w, h) == MV_OK, "png write: %s", mv_last_error());
    int rc = tu_python("-c \"import numpy as np, skimage.io as io; a=io.imread('%s'); "
                       "assert a.shape==(12,40,3), a.shape; assert tuple(a[0,0])==(7,8,9); "
                       "assert int((a[:,:,0]==255).sum())==%d\"",
                       path, lit - 0);
    CHECK(rc == 0, "PNG reads back with the same pixels");
    CHECK(mv_png_write("/proc/nope/x.png", img, w, h) != MV_OK, "unwritable PNG path fails");
    free(img);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir("test_world"));
    test_bundles();
    test_chamfer();
    test_png();
    test_render();
    test_agent();
    test_walls();
    test_splits();
    test_dataset();
    test_cli();
    return tu_finish();
}
