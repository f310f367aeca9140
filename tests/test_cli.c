/* The millivid command line as a user meets it, run as a separate process (BUILD/millivid) with the
 * shipped mini models:
 *  - the demo's steps (tools/demo.sh) and every other command that writes a path, each writing under
 *    folders that do not exist yet (as in a fresh clone without out/);
 *  - a file-size limit (ulimit -f): a clean error, no signal, no output or temporary file left;
 *  - JSON outputs (compare --json, ae-eval --json) replaced atomically: a failed write keeps the old file;
 *  - --threads above the available cores is capped with a warning;
 *  - NaN weights refused by encode (autoencoder) and generate (DiT), naming the file and the tensor;
 *  - frames with 4 channels reported as such;
 *  - --help of every command exits 0 without running it. */
#include <dirent.h>
#include <fcntl.h>
#include <omp.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/tensorfile.h"
#include "testutil.h"

#define AE_PATH "models/ae_mini.safetensors"
#define DIT_PATH "models/dit_millivid_mini.safetensors"

static char g_bin[512];  /* BUILD/millivid */
static char g_dir[512];  /* this test's scratch folder */
static char g_data[700]; /* a small test-split data set (1 video of 96 frames, 64x64) */

/* Runs millivid with the NULL-terminated arguments; stderr into err[cap]. fsize: RLIMIT_FSIZE or 0. */
static int mv_run(char *err, size_t cap, int *signaled, long fsize, ...) {
    char *argv[64];
    int n = 0;
    va_list ap;
    va_start(ap, fsize);
    argv[n++] = g_bin;
    for (char *a; n < 63 && (a = va_arg(ap, char *));) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return tu_run(argv, fsize, err, cap, signaled);
}

static int exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int exists(const char *fmt, ...) {
    char p[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    struct stat st;
    return stat(p, &st) == 0;
}

/* Entries of a folder other than . and .. (-1 when it cannot be listed). */
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* ---------------------------------------------------------------- outputs under missing folders */

/* world --out DIR of the test data set (the demo's world, shortened to 96 frames). */
static int write_world(const char *out, char *err, size_t cap) {
    int sig;
    return mv_run(err, cap, &sig, 0, "world", "--out", out, "--split", "test", "--videos", "1", "--frames", "96",
                  "--size", "64", "--seed", "7", "--context", "88", "--candidates", "2", "--mp4", "--force", "--quiet",
                  NULL);
}

/* tools/demo.sh, shortened (96 frames, one sampler step), each output under a folder that does not exist.
 * The steps after world read g_data, so that each step's own output is checked even if world failed. */
static void test_demo_steps(void) {
    char err[8192], world[700], sheet[700], mp4[700], png[700];
    int sig;
    snprintf(world, sizeof world, "%s/fresh1/out/demo_world", g_dir);
    int rc = write_world(world, err, sizeof err);
    CHECK(rc == 0 && exists("%s/frames.npy", world) && exists("%s/videos/00000.mp4", world),
          "world under a missing folder: rc %d: %s", rc, err);
    rc = mv_run(err, sizeof err, &sig, 0, "info", world, NULL);
    CHECK(rc == 0, "info: rc %d: %s", rc, err);
    snprintf(sheet, sizeof sheet, "%s/fresh2/out/demo_ae_sheet.png", g_dir);
    rc = mv_run(err, sizeof err, &sig, 0, "ae-eval", "--ae", AE_PATH, "--data", g_data, "--videos", "1",
                "--frames-per-video", "4", "--png", sheet, NULL);
    CHECK(rc == 0 && exists("%s", sheet), "ae-eval --png under a missing folder: rc %d: %s", rc, err);
    snprintf(mp4, sizeof mp4, "%s/fresh3/out/demo_millivid.mp4", g_dir);
    snprintf(png, sizeof png, "%s/fresh4/out/demo_png", g_dir);
    rc = mv_run(err, sizeof err, &sig, 0, "generate", "--ae", AE_PATH, "--dit", DIT_PATH, "--method", "millivid",
                "--data", g_data, "--video", "0", "--context", "88", "--frames", "96", "--steps", "1", "--out", mp4,
                "--png-dir", png, "--threads", "2", NULL);
    CHECK(rc == 0 && exists("%s", mp4) && exists("%s/frame_00095.png", png),
          "generate --out / --png-dir under missing folders: rc %d: %s", rc, err);
}

/* Every other command that writes a path. ae-eval --save-recon DIR creates DIR itself. */
static void test_other_outputs(void) {
    char err[8192], p[800], q[800], video[800];
    int sig, rc;
    snprintf(p, sizeof p, "%s/enc/a/b/latents.safetensors", g_dir);
    rc = mv_run(err, sizeof err, &sig, 0, "encode", "--ae", AE_PATH, "--data", g_data, "--out", p, NULL);
    CHECK(rc == 0 && exists("%s", p), "encode --out under a missing folder: rc %d: %s", rc, err);
    snprintf(p, sizeof p, "%s/conv/a/ae_f16.safetensors", g_dir);
    rc = mv_run(err, sizeof err, &sig, 0, "convert", "--in", AE_PATH, "--out", p, "--dtype", "f16", NULL);
    CHECK(rc == 0 && exists("%s", p), "convert --out under a missing folder: rc %d: %s", rc, err);
    snprintf(p, sizeof p, "%s/cmp/a/metrics.json", g_dir);
    snprintf(q, sizeof q, "%s/frames.npy", g_data);
    rc = mv_run(err, sizeof err, &sig, 0, "compare", "--ref", q, "--gen", q, "--json", p, "--quiet", NULL);
    CHECK(rc == 0 && exists("%s", p), "compare --json under a missing folder: rc %d: %s", rc, err);
    snprintf(p, sizeof p, "%s/aej/a/table.json", g_dir);
    snprintf(q, sizeof q, "%s/recon/a/b", g_dir);
    rc = mv_run(err, sizeof err, &sig, 0, "ae-eval", "--ae", AE_PATH, "--data", g_data, "--videos", "1",
                "--frames-per-video", "2", "--json", p, "--save-recon", q, NULL);
    CHECK(rc == 0 && exists("%s", p) && exists("%s/recon_level0.npy", q) && exists("%s/recon_level3.npy", q),
          "ae-eval --json / --save-recon under missing folders: rc %d: %s", rc, err);
    snprintf(p, sizeof p, "%s/imp/a/data", g_dir);
    snprintf(video, sizeof video, "%s/videos/00000.mp4", g_data);
    rc = mv_run(err, sizeof err, &sig, 0, "import", "--out", p, "--size", "32", "--quiet", video, NULL);
    CHECK(rc == 0 && exists("%s/frames.npy", p), "import --out under a missing folder: rc %d: %s", rc, err);
}

/* ---------------------------------------------------------------- file-size limit */

/* Under RLIMIT_FSIZE a write fails with EFBIG instead of killing the process with SIGXFSZ: one error
 * line, exit 1, and the output folder holds neither the output nor a temporary file or folder. */
static void test_file_size_limit(void) {
    char err[8192], dir[700], out[800];
    int sig, rc;
    snprintf(dir, sizeof dir, "%s/fsize_world", g_dir);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%s/w", dir);
    rc = mv_run(err, sizeof err, &sig, 64 << 10, "world", "--out", out, "--videos", "1", "--frames", "64", "--size",
                "64", "--quiet", NULL);
    CHECK(!sig && rc == 1 && lines(err) == 1 && strstr(err, "File too large") && dir_entries(dir) == 0,
          "world past the file-size limit: rc %d, signal %d, %d entries left in %s: %s", rc, sig, dir_entries(dir),
          dir, err);
    snprintf(dir, sizeof dir, "%s/fsize_encode", g_dir);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%s/latents.safetensors", dir);
    rc = mv_run(err, sizeof err, &sig, 64 << 10, "encode", "--ae", AE_PATH, "--data", g_data, "--out", out, NULL);
    CHECK(!sig && rc == 1 && strstr(err, "latents.safetensors") && dir_entries(dir) == 0,
          "encode past the file-size limit: rc %d, signal %d, %d entries left in %s: %s", rc, sig, dir_entries(dir),
          dir, err);
    snprintf(dir, sizeof dir, "%s/fsize_generate", g_dir);
    mkdir(dir, 0777);
    snprintf(out, sizeof out, "%s/rollout.mp4", dir);
    rc = mv_run(err, sizeof err, &sig, 4 << 10, "generate", "--ae", AE_PATH, "--dit", DIT_PATH, "--method",
                "millivid", "--data", g_data, "--video", "0", "--context", "88", "--frames", "96", "--steps", "1",
                "--out", out, "--threads", "2", NULL);
    CHECK(!sig && rc == 1 && strstr(err, "rollout.mp4") && dir_entries(dir) == 0,
          "generate past the file-size limit: rc %d, signal %d, %d entries left in %s: %s", rc, sig, dir_entries(dir),
          dir, err);
}

/* ---------------------------------------------------------------- atomic JSON */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

/* A JSON write that fails (file-size limit of 16 bytes) leaves the previous file as it was and no
 * temporary file; a write that succeeds replaces it. */
static void test_json_atomic(void) {
    char err[8192], dir[700], json[800], frames[800];
    int sig, rc;
    snprintf(dir, sizeof dir, "%s/json", g_dir);
    mkdir(dir, 0777);
    snprintf(json, sizeof json, "%s/metrics.json", dir);
    snprintf(frames, sizeof frames, "%s/frames.npy", g_data);
    write_file(json, "{\"old\": 1}\n");
    rc = mv_run(err, sizeof err, &sig, 16, "compare", "--ref", frames, "--gen", frames, "--json", json, "--quiet",
                NULL);
    char *text = tu_slurp(json, NULL);
    CHECK(!sig && rc == 1 && lines(err) == 1 && strstr(err, "metrics.json") && text && !strcmp(text, "{\"old\": 1}\n") &&
              dir_entries(dir) == 1, "compare --json failing: rc %d signal %d, file now '%s', %d entries: %s", rc, sig,
          text ? text : "(none)", dir_entries(dir), err);
    free(text);
    rc = mv_run(err, sizeof err, &sig, 0, "compare", "--ref", frames, "--gen", frames, "--json", json, "--quiet", NULL);
    text = tu_slurp(json, NULL);
    CHECK(rc == 0 && text && strstr(text, "\"ssim_mean\"") && dir_entries(dir) == 1, "compare --json: rc %d: %s", rc,
          err);
    free(text);
    snprintf(json, sizeof json, "%s/table.json", dir);
    write_file(json, "{\"old\": 2}\n");
    rc = mv_run(err, sizeof err, &sig, 16, "ae-eval", "--ae", AE_PATH, "--data", g_data, "--videos", "1",
                "--frames-per-video", "2", "--json", json, NULL);
    text = tu_slurp(json, NULL);
    CHECK(!sig && rc == 1 && strstr(err, "table.json") && text && !strcmp(text, "{\"old\": 2}\n") &&
              dir_entries(dir) == 2, "ae-eval --json failing: rc %d signal %d, file now '%s', %d entries: %s", rc,
          sig, text ? text : "(none)", dir_entries(dir), err);
    free(text);
}

/* ---------------------------------------------------------------- --threads */

static void test_threads_cap(void) {
    char err[8192], out[700], want[64], frames[800];
    int sig, cores = omp_get_num_procs();
    if (cores >= 1024) return;
    snprintf(out, sizeof out, "%s/threads/w", g_dir);
    int rc = mv_run(err, sizeof err, &sig, 0, "world", "--out", out, "--videos", "1", "--frames", "4", "--size", "8",
                    "--threads", "1024", NULL);
    snprintf(want, sizeof want, " threads=%d ", cores);
    CHECK(rc == 0 && strstr(err, want) && strstr(err, "warning: --threads 1024"),
          "world --threads 1024 runs %d threads with a warning: rc %d: %s", cores, rc, err);
    snprintf(frames, sizeof frames, "%s/frames.npy", g_data);
    rc = mv_run(err, sizeof err, &sig, 0, "compare", "--ref", frames, "--gen", frames, "--threads", "1024", "--quiet",
                NULL);
    CHECK(rc == 0 && strstr(err, "warning: --threads 1024"), "compare --threads 1024 warns: rc %d: %s", rc, err);
}

/* ---------------------------------------------------------------- NaN weights */

/* A copy of src with a NaN as the first value of tensor `name` (F32, BF16 or F16 storage). */
static int copy_with_nan(const char *src, const char *dst, const char *name) {
    mv_safetensors f;
    if (mv_st_open(&f, src) != MV_OK) return 0;
    const mv_tensor_view *t = mv_st_find(&f, name);
    long off = t ? (long)((const char *)t->data - (const char *)f.map) : -1;
    int dt = t ? (int)t->dtype : -1;
    mv_st_close(&f);
    if (off < 0) return 0;
    if (tu_sh("cp '%s' '%s'", src, dst) != 0) return 0;
    unsigned char nan32[4] = {0x00, 0x00, 0xc0, 0x7f}, nan16[2] = {0xc0, 0x7f}, nanh[2] = {0x00, 0x7e};
    const unsigned char *b = dt == MV_DT_F32 ? nan32 : dt == MV_DT_BF16 ? nan16 : nanh;
    int fd = open(dst, O_WRONLY);
    int ok = fd >= 0 && pwrite(fd, b, dt == MV_DT_F32 ? 4 : 2, off) > 0;
    if (fd >= 0) close(fd);
    return ok;
}

static void test_nan_weights(void) {
    char err[8192], dir[700], ae[800], dit[800], out[800];
    int sig, rc;
    snprintf(dir, sizeof dir, "%s/nan", g_dir);
    mkdir(dir, 0777);
    snprintf(ae, sizeof ae, "%s/ae_nan.safetensors", dir);
    snprintf(dit, sizeof dit, "%s/dit_nan.safetensors", dir);
    CHECK(copy_with_nan(AE_PATH, ae, "encoder.patchify.weight"), "NaN copy of %s", AE_PATH);
    CHECK(copy_with_nan(DIT_PATH, dit, "dit.patchify.weight"), "NaN copy of %s", DIT_PATH);
    snprintf(out, sizeof out, "%s/latents.safetensors", dir);
    rc = mv_run(err, sizeof err, &sig, 0, "encode", "--ae", ae, "--data", g_data, "--out", out, NULL);
    CHECK(rc == 1 && lines(err) == 1 && strstr(err, "ae_nan.safetensors") && strstr(err, "encoder.patchify.weight") &&
              strstr(err, "non-finite") && !exists("%s", out) && !exists("%s.tmp", out),
          "encode with a NaN autoencoder weight: rc %d: %s", rc, err);
    snprintf(out, sizeof out, "%s/rollout.mp4", dir);
    rc = mv_run(err, sizeof err, &sig, 0, "generate", "--ae", AE_PATH, "--dit", dit, "--method", "millivid", "--data",
                g_data, "--video", "0", "--context", "88", "--frames", "96", "--steps", "1", "--out", out, NULL);
    CHECK(rc == 1 && lines(err) == 1 && strstr(err, "dit_nan.safetensors") && strstr(err, "dit.patchify.weight") &&
              !exists("%s", out), "generate with a NaN DiT weight: rc %d: %s", rc, err);
}

/* ---------------------------------------------------------------- channels */

static void test_four_channels(void) {
    char err[8192], dir[700], p[800];
    int sig, rc;
    snprintf(dir, sizeof dir, "%s/rgba", g_dir);
    mkdir(dir, 0777);
    int64_t fs[5] = {1, 2, 16, 16, 4}, as[3] = {1, 2, 6};
    uint8_t *fr = calloc(2 * 16 * 16 * 4, 1);
    float act[12] = {0};
    snprintf(p, sizeof p, "%s/frames.npy", dir);
    CHECK(fr && mv_npy_save(p, MV_DT_U8, 5, fs, fr) == MV_OK, "%s", mv_last_error());
    free(fr);
    snprintf(p, sizeof p, "%s/actions.npy", dir);
    CHECK(mv_npy_save(p, MV_DT_F32, 3, as, act) == MV_OK, "%s", mv_last_error());
    snprintf(p, sizeof p, "%s/index.json", dir);
    write_file(p, "{\"format_version\": 1}\n");
    rc = mv_run(err, sizeof err, &sig, 0, "info", dir, NULL);
    CHECK(rc == 1 && lines(err) == 1 && strstr(err, "frames.npy") && strstr(err, "4 channels"),
          "info on a data set of 4-channel frames: rc %d: %s", rc, err);
    snprintf(p, sizeof p, "%s/frames.npy", dir);
    rc = mv_run(err, sizeof err, &sig, 0, "compare", "--ref", p, "--gen", p, NULL);
    CHECK(rc == 1 && lines(err) == 1 && strstr(err, "4 channels"), "compare on 4-channel frames: rc %d: %s", rc, err);
}

/* --help of every command exits 0 with no error (a training command must not go on to run after it). */
static void test_help(void) {
    static const char *const cmds[] = {"world", "import", "train-ae", "encode", "ae-eval", "schedule", "train",
                                       "generate", "eval", "probe", "compare", "info", "convert"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char err[4096];
        int sig = 0, rc = mv_run(err, sizeof err, &sig, 0, cmds[i], "--help", NULL);
        CHECK(rc == 0 && !strstr(err, "error"), "%s --help: rc %d, stderr: %s", cmds[i], rc, err);
    }
}

int main(void) {
    const char *b = getenv("MV_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b ? b : "build");
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir("test_cli"));
    CHECK(exists("%s", g_bin), "%s missing: build it first (make)", g_bin);
    CHECK(exists(AE_PATH) && exists(DIT_PATH), "the shipped models %s and %s are missing", AE_PATH, DIT_PATH);
    if (tu_failures) return tu_finish();
    test_help();
    char err[8192];
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    int rc = write_world(g_data, err, sizeof err);
    CHECK(rc == 0, "world: rc %d: %s", rc, err);
    if (rc) return tu_finish(); /* everything below reads it */
    test_demo_steps();
    test_other_outputs();
    test_file_size_limit();
    test_json_atomic();
    test_threads_cap();
    test_nan_weights();
    test_four_channels();
    return tu_finish();
}
