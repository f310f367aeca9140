/* Video I/O through the FFmpeg libraries and `millivid import`: H.264 mp4 writing (ffprobe, byte-identical
 * rewrites, atomic tmp/rename), decoding (PSNR against the originals, crop + area resampling, frame-rate
 * resampling), and clear errors for bad inputs, both from the library and from the command line. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "io/dataset.h"
#include "io/video.h"
#include "testutil.h"

enum { W = 96, H = 64, T = 40, FPS = 20 };

static char g_dir[1024], g_bin[1024];

/* Smooth background + two moving coloured squares (soft edges), frame t. */
static void synth_frame(int t, uint8_t *rgb /* [H, W, 3] */) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double r = 60 + 1.2 * x + t, g = 40 + 2.0 * y, b = 150 + 40 * sin(0.05 * (x + y) + 0.1 * t);
            double sx[2] = {8 + 1.5 * t, 70 - 1.0 * t}, sy[2] = {10 + 0.5 * t, 30};
            double col[2][3] = {{230, 40, 40}, {40, 220, 90}};
            for (int k = 0; k < 2; k++) {
                double dx = fabs(x - sx[k]) - 8, dy = fabs(y - sy[k]) - 8, d = fmax(dx, dy);
                double a = d < -1 ? 1 : d > 1 ? 0 : (1 - d) / 2; /* 2-pixel soft edge */
                r = a * col[k][0] + (1 - a) * r, g = a * col[k][1] + (1 - a) * g,
                b = a * col[k][2] + (1 - a) * b;
            }
            uint8_t *p = rgb + ((size_t)y * W + x) * 3;
            p[0] = (uint8_t)fmin(255, fmax(0, r + 0.5)), p[1] = (uint8_t)fmin(255, fmax(0, g + 0.5));
            p[2] = (uint8_t)fmin(255, fmax(0, b + 0.5));
        }
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 * n / se);
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

static long read_file(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(n + 1);
    if (fread(*out, 1, n, f) != (size_t)n)
        n = -1;
    else
        (*out)[n] = 0;
    fclose(f);
    return n;
}

static mv_status write_clip(const char *path, int crf) {
    uint8_t *f = malloc((size_t)W * H * 3);
    mv_video_writer *w;
    mv_status s = mv_video_writer_open(&w, path, W, H, FPS, crf);
    for (int t = 0; s == MV_OK && t < T; t++) {
        synth_frame(t, f);
        s = mv_video_writer_add(w, f);
        if (s != MV_OK) mv_video_writer_abort(w);
    }
    if (s == MV_OK) s = mv_video_writer_close(w);
    free(f);
    return s;
}

/* Reads every frame at size x size; returns the count (-1 on error, message printed). */
static int read_all(const char *path, int size, double fps, uint8_t *out /* [max, size, size, 3] */,
                    int max) {
    mv_video_reader *r;
    if (mv_video_reader_open(&r, path, size, fps) != MV_OK) {
        printf("reader: %s\n", mv_last_error());
        return -1;
    }
    uint8_t *tmp = malloc((size_t)size * size * 3);
    int n = 0, got;
    for (;;) {
        if (mv_video_reader_next(r, tmp, &got) != MV_OK) {
            printf("reader: %s\n", mv_last_error());
            n = -1;
            break;
        }
        if (!got) break;
        if (n < max) memcpy(out + (size_t)n * size * size * 3, tmp, (size_t)size * size * 3);
        n++;
    }
    free(tmp);
    mv_video_reader_close(r);
    return n;
}

static void test_writer(const char *clip) {
    char clip2[1200], tmp[1300], out[1200], *a, *b;
    CHECK(write_clip(clip, 18) == MV_OK, "write: %s", mv_last_error());
    snprintf(tmp, sizeof tmp, "%s.tmp", clip);
    CHECK(file_exists(clip) && !file_exists(tmp), "the mp4 is in place and no .tmp is left");
    snprintf(out, sizeof out, "%s/probe.txt", g_dir);
    int rc = tu_sh("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                   "stream=nb_read_frames,codec_name,pix_fmt,width,height -of csv=p=0 '%s' > '%s'",
                   clip, out);
    long n = read_file(out, &a);
    CHECK(rc == 0 && n > 0, "ffprobe ran (rc %d)", rc);
    if (n > 0) {
        printf("ffprobe: %s", a);
        CHECK(!strcmp(a, "h264,96,64,yuv420p,40\n"), "ffprobe says h264 96x64 yuv420p 40 frames, got %s", a);
    }
    free(a);
    /* moov before mdat (+faststart): browsers can start playing before the whole file arrives */
    long la = read_file(clip, &a);
    char *moov = la > 0 ? memmem(a, la, "moov", 4) : NULL, *mdat = la > 0 ? memmem(a, la, "mdat", 4) : NULL;
    CHECK(moov && mdat && moov < mdat, "moov atom at the front");
    CHECK(la > 0 && !memmem(a, la, "Lavf", 4), "no muxer version string (bitexact)");
    snprintf(clip2, sizeof clip2, "%s/clip2.mp4", g_dir);
    CHECK(write_clip(clip2, 18) == MV_OK, "second write: %s", mv_last_error());
    long lb = read_file(clip2, &b);
    CHECK(la > 0 && la == lb && !memcmp(a, b, la), "two writes are byte-identical (%ld vs %ld bytes)", la,
          lb);
    printf("clip: %ld bytes\n", la);
    free(a);
    free(b);
}

static void test_writer_errors(void) {
    mv_video_writer *w;
    char path[1200], tmp[1300];
    snprintf(path, sizeof path, "%s/aborted.mp4", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(mv_video_writer_open(&w, path, 95, 64, 20, 18) == MV_ERR_ARG, "odd width refused");
    CHECK(strstr(mv_last_error(), "aborted.mp4") != NULL, "message names the file: %s", mv_last_error());
    uint8_t *f = calloc((size_t)W * H * 3, 1);
    CHECK(mv_video_writer_open(&w, path, W, H, 20, 18) == MV_OK, "open: %s", mv_last_error());
    CHECK(file_exists(tmp), "writes to <path>.tmp");
    CHECK(mv_video_writer_add(w, f) == MV_OK, "add: %s", mv_last_error());
    mv_video_writer_abort(w);
    CHECK(!file_exists(tmp) && !file_exists(path), "abort leaves nothing behind");
    snprintf(path, sizeof path, "%s/no/such/dir/x.mp4", g_dir);
    CHECK(mv_video_writer_open(&w, path, W, H, 20, 18) == MV_ERR_IO, "unwritable path refused");
    free(f);
}

static void test_reader(const char *clip) {
    size_t fb64 = 64 * 64 * 3, fb32 = 32 * 32 * 3;
    uint8_t *orig = malloc((size_t)W * H * 3), *crop = malloc(fb64), *box = malloc(fb32);
    uint8_t *r64 = malloc(fb64 * T), *r32 = malloc(fb32 * T), *r10 = malloc(fb32 * T);
    CHECK(read_all(clip, 64, 0, r64, T) == T, "40 frames at the source rate");
    CHECK(read_all(clip, 32, 0, r32, T) == T, "40 frames at size 32");
    double worst64 = 99, worst32 = 99;
    for (int t = 0; t < T; t++) {
        synth_frame(t, orig);
        for (int y = 0; y < 64; y++)
            memcpy(crop + y * 64 * 3, orig + ((size_t)y * W + 16) * 3, 64 * 3); /* centre */
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++) {
                    int s = crop[((2 * y) * 64 + 2 * x) * 3 + c] + crop[((2 * y) * 64 + 2 * x + 1) * 3 + c] +
                            crop[((2 * y + 1) * 64 + 2 * x) * 3 + c] +
                            crop[((2 * y + 1) * 64 + 2 * x + 1) * 3 + c];
                    box[(y * 32 + x) * 3 + c] = (uint8_t)((s + 2) / 4);
                }
        worst64 = fmin(worst64, psnr(crop, r64 + t * fb64, fb64));
        worst32 = fmin(worst32, psnr(box, r32 + t * fb32, fb32));
    }
    printf("decoded vs original: worst PSNR %.2f dB (64x64 centre crop), %.2f dB (32x32 area)\n", worst64,
           worst32);
    CHECK(worst64 > 30, "centre crop PSNR %.2f dB > 30", worst64);
    CHECK(worst32 > 32, "area-resampled PSNR %.2f dB > 32", worst32);
    int n10 = read_all(clip, 32, 10, r10, T);
    CHECK(n10 == 20, "40 frames at 20 fps read at 10 fps give 20, got %d", n10);
    int same = 1;
    for (int k = 0; k < 20 && n10 == 20; k++) same &= !memcmp(r10 + k * fb32, r32 + 2 * k * fb32, fb32);
    CHECK(same, "10 fps frame k is source frame 2k");
    int n7 = read_all(clip, 32, 7.5, r10, T);
    CHECK(n7 == 15, "2 s read at 7.5 fps give 15 frames, got %d", n7);
    int n40 = read_all(clip, 32, 40, NULL, 0);
    CHECK(n40 == 80, "2 s read at 40 fps give 80 frames, got %d", n40);
    free(orig), free(crop), free(box), free(r64), free(r32), free(r10);
}

/* Chromium (when installed) loads the mp4 and decodes the first frame with the right colours. */
static void test_chromium(const char *clip) {
    char html[1200], out[1200], *dom = NULL;
    if (tu_sh("command -v chromium > /dev/null 2>&1") != 0) {
        printf("chromium not installed: browser playback check skipped\n");
        return;
    }
    snprintf(html, sizeof html, "%s/play.html", g_dir);
    snprintf(out, sizeof out, "%s/play.dom", g_dir);
    FILE *f = fopen(html, "w");
    fprintf(f, "<html><body><div id=\"out\">pending</div><video id=\"v\" src=\"%s\" muted autoplay></video><script>\n"
               "const v = document.getElementById('v'), o = document.getElementById('out');\n"
               "v.addEventListener('error', () => { o.textContent = 'error ' + v.error.code; });\n"
               "v.addEventListener('loadeddata', () => {\n"
               "  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;\n"
               "  const g = c.getContext('2d'); g.drawImage(v, 0, 0); const p = g.getImageData(8, 10, 1, 1).data;\n"
               "  o.textContent = 'loaded ' + v.videoWidth + 'x' + v.videoHeight + ' dur ' + v.duration +\n"
               "                  ' px ' + p[0] + ' ' + p[1] + ' ' + p[2] + ' end'; });\n"
               "</script></body></html>\n",
            strrchr(clip, '/') + 1);
    fclose(f);
    int rc = tu_sh("cd '%s' && timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir=chromium "
                   "--autoplay-policy=no-user-gesture-required "
                   "--allow-file-access-from-files --virtual-time-budget=10000 --dump-dom \"file://$PWD/play.html\" "
                   "> play.dom 2> /dev/null",
                   g_dir);
    if (read_file(out, &dom) <= 0 || !strstr(dom, "id=\"out\"")) {
        printf("chromium did not run here (rc %d): browser playback check skipped\n", rc);
        free(dom);
        return;
    }
    const char *res = strstr(dom, "id=\"out\">") + 9;
    int r = -1, g = -1, b = -1;
    CHECK(sscanf(res, "loaded 96x64 dur 2 px %d %d %d end", &r, &g, &b) == 3, "chromium plays it: %.60s", res);
    printf("chromium: %.48s\n", res);
    CHECK(abs(r - 230) < 10 && abs(g - 40) < 10 && abs(b - 40) < 10, "chromium colours %d %d %d ~ 230 40 40", r, g, b);
    free(dom);
}

/* Expects the reader to refuse `path` with a message containing `want`. */
static void reader_refuses(const char *path, const char *want) {
    int n = read_all(path, 32, 0, NULL, 0);
    CHECK(n < 0, "%s: refused", path);
    CHECK(strstr(mv_last_error(), path) && strstr(mv_last_error(), want),
          "%s: message '%s' names the file and says '%s'", path, mv_last_error(), want);
}

/* Our crop + area filter (+ display rotation) against the ffmpeg CLI (autorotate, crop, SWS_AREA). */
static void test_reader_vs_ffmpeg(const char *src) {
    const int rots[] = {0, 90, 270};
    uint8_t mine[32 * 32 * 3], *ref = NULL;
    char path[1200], raw[1200];
    for (size_t i = 0; i < sizeof rots / sizeof rots[0]; i++) {
        snprintf(path, sizeof path, "%s/rot%d.mp4", g_dir, rots[i]);
        snprintf(raw, sizeof raw, "%s/rot%d.rgb", g_dir, rots[i]);
        int rc = tu_sh("ffmpeg -v error -y -i '%s' -c copy -metadata:s:v:0 rotate=%d '%s' && ffmpeg -v error -y "
                       "-i '%s' -sws_flags bicubic+accurate_rnd+full_chroma_int -vf format=rgb24,crop=64:64,"
                       "scale=32:32:flags=area -frames:v 1 -f rawvideo -pix_fmt rgb24 '%s'",
                       src, rots[i], path, path, raw);
        long n = read_file(raw, (char **)&ref);
        CHECK(rc == 0 && n == (long)sizeof mine, "ffmpeg reference for rotation %d", rots[i]);
        if (n == (long)sizeof mine && read_all(path, 32, 0, mine, 1) == 30) {
            double db = psnr(mine, ref, sizeof mine);
            printf("rotation %3d: reader vs ffmpeg crop+area: %.2f dB\n", rots[i], db);
            CHECK(db > 40, "rotation %d: reader matches ffmpeg (%.2f dB > 40)", rots[i], db);
        } else CHECK(0, "rotation %d: read %s", rots[i], path);
        free(ref);
        ref = NULL;
    }
}

static void test_reader_errors(const char *clip, const char *text, const char *audio) {
    char path[1200];
    snprintf(path, sizeof path, "%s/missing.mp4", g_dir);
    reader_refuses(path, "no such file");
    reader_refuses(text, "not a video");
    reader_refuses(audio, "no video stream");
    snprintf(path, sizeof path, "%s/truncated.mp4", g_dir);
    tu_sh("head -c 2500 '%s' > '%s'", clip, path);
    reader_refuses(path, "truncated");
}

/* Runs `millivid import ARGS`, output to a log; checks the exit status and that the log has `want`. */
static void cli_expect(int ok, const char *want, const char *args) {
    char log[1200], *text = NULL;
    snprintf(log, sizeof log, "%s/cli.log", g_dir);
    int rc = tu_sh("%s import --quiet %s > '%s' 2>&1", g_bin, args, log);
    read_file(log, &text);
    if (ok)
        CHECK(rc == 0, "import %s: exit 0, got %d: %s", args, rc, text ? text : "");
    else
        CHECK(rc != 0, "import %s: non-zero exit", args);
    if (want)
        CHECK(text && strstr(text, want), "import %s: output '%s' contains '%s'", args, text ? text : "",
              want);
    if (!ok) printf("refused as expected: %s", text ? text : "\n");
    free(text);
}

static void write_actions(const char *path, int n, const char *bad_line, int bad_at) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++)
        if (i == bad_at)
            fprintf(f, "%s\n", bad_line);
        else
            fprintf(f, "{\"action\": %d}\n", (i / 3) % 3);
    fclose(f);
}

static void test_import(const char *text, const char *audio) {
    char src[1200], ds[1200], act[1200], args[8192], bad[1200];
    snprintf(src, sizeof src, "%s/testsrc.mp4", g_dir);
    snprintf(ds, sizeof ds, "%s/ds", g_dir);
    snprintf(act, sizeof act, "%s/actions.jsonl", g_dir);
    write_actions(act, 30, NULL, -1);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s' --actions '%s'", ds, src, act);
    cli_expect(1, NULL, args);
    int rc = tu_python(
        "-c \"import numpy as np, json; f = np.load('%s/frames.npy'); a = np.load('%s/actions.npy'); "
        "i = json.load(open('%s/index.json')); "
        "assert f.shape == (1, 30, 32, 32, 3) and f.dtype == np.uint8, f.shape; "
        "assert a.shape == (1, 30, 6) and a.dtype == np.float32, a.shape; "
        "assert list(a[0, :, 0]) == [(t // 3) %% 3 for t in range(30)] and not a[..., 1:].any(); "
        "assert i['format_version'] == 1 and i['split'] == 'import' and i['videos'] == 1; "
        "assert i['frames'] == 30 and i['size'] == 32 and i['has_poses'] is False and len(i['sources']) == "
        "1; "
        "assert f.std() > 20; print('numpy: frames', f.shape, 'actions', a.shape)\"",
        ds, ds, ds);
    CHECK(rc == 0, "numpy reads the imported data set with the right shapes and actions");
    mv_dataset d;
    mv_status ds_ok = mv_dataset_open(&d, ds);
    CHECK(ds_ok == MV_OK, "mv_dataset_open: %s", mv_last_error());
    if (ds_ok == MV_OK) {
        CHECK(d.videos == 1 && d.frames_per_video == 30 && d.size == 32 && !d.has_poses && !strcmp(d.split, "import"),
              "data set reads as 1 x 30 x 32, split import, no poses");
        CHECK(mv_dataset_action(&d, 0, 4)[0] == 1.0f, "action of frame 4 is 1");
        mv_dataset_close(&d);
    }
    /* two videos, one resampled: shortest wins, ids -1 without actions */
    char clip[1200];
    snprintf(clip, sizeof clip, "%s/clip.mp4", g_dir);
    snprintf(ds, sizeof ds, "%s/ds2", g_dir);
    snprintf(args, sizeof args, "--out '%s' --size 16 --fps 10 '%s' '%s'", ds, src, clip);
    cli_expect(1, NULL, args);
    rc = tu_python("-c \"import numpy as np; f = np.load('%s/frames.npy'); a = np.load('%s/actions.npy'); "
                   "assert f.shape == (2, 15, 16, 16, 3), f.shape; assert (a[..., 0] == -1).all()\"",
                   ds, ds);
    CHECK(rc == 0, "two videos at 10 fps cut to the shortest (15 frames), ids -1");
    /* bad inputs: each a non-zero exit naming the file */
    snprintf(ds, sizeof ds, "%s/ds_bad", g_dir);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s/nope.mp4'", ds, g_dir);
    cli_expect(0, "nope.mp4: no such file", args);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s'", ds, text);
    cli_expect(0, "notes.txt: not a video", args);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s'", ds, audio);
    cli_expect(0, "tone.m4a: has no video stream", args);
    write_actions(act, 29, NULL, -1);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s' --actions '%s'", ds, src, act);
    cli_expect(0, "actions.jsonl has 29 actions but", args);
    snprintf(bad, sizeof bad, "%s/bad_id.jsonl", g_dir);
    write_actions(bad, 30, "{\"action\": 7}", 4);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s' --actions '%s'", ds, src, bad);
    cli_expect(0, "bad_id.jsonl:5: unknown action id 7", args);
    write_actions(bad, 30, "{\"action\": 1", 9);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s' --actions '%s'", ds, src, bad);
    cli_expect(0, "bad_id.jsonl:10: not valid JSON", args);
    snprintf(args, sizeof args, "--out '%s' --size 32 '%s' '%s' --actions '%s'", ds, src, src, act);
    cli_expect(0, "1 actions files for 2 videos", args);
    snprintf(args, sizeof args, "--out '%s/ds' --size 32 '%s'", g_dir, src);
    cli_expect(0, "ds: output directory is not empty", args);
    snprintf(args, sizeof args, "--out '%s/ds' --size 32 --force '%s'", g_dir, src);
    cli_expect(1, NULL, args);
    snprintf(args, sizeof args, "--out '%s' --size 30 '%s'", ds, src);
    cli_expect(0, "--size must be a multiple of 8", args);
    snprintf(args, sizeof args, "--out '%s' --size 32 --frames 31 '%s'", ds, src);
    cli_expect(0, "testsrc.mp4: has 30 frames, fewer than --frames 31", args);
    CHECK(!file_exists(ds), "failed imports leave no output directory");
    rc = tu_sh("ls -d '%s'/*.import-tmp-* > /dev/null 2>&1", g_dir);
    CHECK(rc != 0, "failed imports leave no temporary directory");
}

int main(void) {
    const char *b = getenv("MV_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b ? b : "build");
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir("video"));
    char clip[1200], text[1200], audio[1200];
    snprintf(clip, sizeof clip, "%s/clip.mp4", g_dir);
    snprintf(text, sizeof text, "%s/notes.txt", g_dir);
    snprintf(audio, sizeof audio, "%s/tone.m4a", g_dir);
    tu_sh("echo 'just some text, not a video' > '%s'", text);
    CHECK(tu_sh("ffmpeg -v error -y -f lavfi -i sine=duration=1 '%s'", audio) == 0, "ffmpeg made %s", audio);
    test_writer(clip);
    test_writer_errors();
    test_chromium(clip);
    test_reader(clip);
    char src[1200];
    snprintf(src, sizeof src, "%s/testsrc.mp4", g_dir);
    int rc = tu_sh("ffmpeg -v error -y -f lavfi -i testsrc=size=96x64:rate=20 -frames:v 30 -pix_fmt yuv420p '%s'", src);
    CHECK(rc == 0, "ffmpeg made %s", src);
    test_reader_vs_ffmpeg(src);
    test_reader_errors(clip, text, audio);
    CHECK(file_exists(g_bin), "%s exists (build it with make)", g_bin);
    if (file_exists(g_bin)) test_import(text, audio);
    return tu_finish();
}
