/* The bad-input catalogue: every subcommand of BUILD/millivid run on inputs a careless or hostile user
 * may give it (missing, empty, truncated and corrupt files, files of the wrong kind, NaN weights, a
 * header that claims a huge model, data sets of the wrong size or channels, out-of-range and unknown
 * options, output paths that cannot be written). Every case must
 *   - exit non-zero (1..125) by itself, not by a signal (the sanitizer build turns any memory error or
 *     undefined behaviour into a report, which counts as a failure too),
 *   - print exactly one error line, naming the file or option at fault,
 *   - leave its folder as it was: no output and no temporary file.
 * Listed in tests/SAN_TESTS, so CI runs it under AddressSanitizer + UndefinedBehaviorSanitizer. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/tensorfile.h"
#include "models/checkpoint.h"
#include "testutil.h"

#define AE_PATH "models/ae_mini.safetensors"
#define DIT_PATH "models/dit_millivid_mini.safetensors"

static char g_bin[512]; /* BUILD/millivid */
static char g_in[512];  /* the shared inputs (read only for the cases) */
static char g_cases[512];

/* What exists in a case folder before the run. */
enum { SETUP_NONE, SETUP_FILE /* C/file, a regular file */, SETUP_FULL /* C/full/x, a non-empty folder */ };

typedef struct {
    const char *args; /* space-separated; {C} the case folder, {I} the inputs, {AE}, {DIT} the shipped models */
    const char *want; /* the error line must contain this (the file or the option) */
    int setup;
} bad_case;

static const bad_case cases[] = {
    /* world */
    {"world --videos 1", "--out", SETUP_NONE},
    {"world --out {C}/w --videos 0", "--videos", SETUP_NONE},
    {"world --out {C}/w --size 12", "--size", SETUP_NONE},
    {"world --out {C}/w --split val", "--split", SETUP_NONE},
    {"world --out {C}/w --seed -1", "--seed", SETUP_NONE},
    {"world --out {C}/w --split test --keep-fraction 2", "--keep-fraction", SETUP_NONE},
    {"world --out {C}/w --threads many", "--threads", SETUP_NONE},
    {"world --out {C}/w --frames", "--frames", SETUP_NONE},
    {"world --out {C}/w --bogus 1", "--bogus", SETUP_NONE},
    {"world --out {C}/w stray", "stray", SETUP_NONE},
    {"world --out {C}/file --videos 1 --frames 2 --size 8 --quiet", "file", SETUP_FILE},
    {"world --out {C}/full --videos 1 --frames 2 --size 8 --quiet", "full", SETUP_FULL},
    {"world --out {C}/file/w --videos 1 --frames 2 --size 8 --quiet", "file", SETUP_FILE},
    /* import */
    {"import --out {C}/d --size 32", "no input videos", SETUP_NONE},
    {"import --size 32 {I}/data/videos/00000.mp4", "--out", SETUP_NONE},
    {"import --out {C}/d --size 30 {I}/data/videos/00000.mp4", "--size", SETUP_NONE},
    {"import --out {C}/d --size 32 --fps 0 {I}/data/videos/00000.mp4", "--fps", SETUP_NONE},
    {"import --out {C}/d --size 32 {I}/missing.mp4", "missing.mp4", SETUP_NONE},
    {"import --out {C}/d --size 32 {I}/garbage.mp4", "garbage.mp4", SETUP_NONE},
    {"import --out {C}/d --size 32 {I}/data/videos/00000.mp4 --actions {I}/bad.jsonl", "bad.jsonl", SETUP_NONE},
    {"import --out {C}/d --size 32 {I}/data/videos/00000.mp4 --actions {I}/bad.jsonl {I}/bad.jsonl", "--actions",
     SETUP_NONE},
    {"import --out {C}/full --size 32 {I}/data/videos/00000.mp4", "full", SETUP_FULL},
    /* train-ae */
    {"train-ae --data {I}/missing --out {C}/ae.safetensors", "missing", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --config nosuchpreset", "nosuchpreset", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --config {I}/bad_config.json", "bad_config.json", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --set ae.width=wide", "ae.width", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --set nosuch.key=1", "nosuch.key", SETUP_NONE},
    {"train-ae --data {I}/data8 --out {C}/ae.safetensors", "data8", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --variant fancy", "fancy", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --resume", "ae.safetensors", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --steps 0", "--steps", SETUP_NONE},
    {"train-ae --data {I}/data --out {C}/ae.safetensors --lr -1", "--lr", SETUP_NONE},
    /* encode */
    {"encode --ae {I}/missing.safetensors --data {I}/data --out {C}/l.safetensors", "missing.safetensors", SETUP_NONE},
    {"encode --ae {I}/garbage.safetensors --data {I}/data --out {C}/l.safetensors", "garbage.safetensors", SETUP_NONE},
    {"encode --ae {I}/empty.safetensors --data {I}/data --out {C}/l.safetensors", "empty.safetensors", SETUP_NONE},
    {"encode --ae {I}/trunc.safetensors --data {I}/data --out {C}/l.safetensors", "trunc.safetensors", SETUP_NONE},
    {"encode --ae {DIT} --data {I}/data --out {C}/l.safetensors", "dit_millivid_mini.safetensors", SETUP_NONE},
    {"encode --ae {I}/nan_ae.safetensors --data {I}/data --out {C}/l.safetensors", "nan_ae.safetensors", SETUP_NONE},
    {"encode --ae {I}/claim.safetensors --data {I}/data --out {C}/l.safetensors", "claim.safetensors", SETUP_NONE},
    {"encode --ae {AE} --data {I}/data8 --out {C}/l.safetensors", "data8", SETUP_NONE},
    {"encode --ae {AE} --data {I}/garbage.safetensors --out {C}/l.safetensors", "garbage.safetensors", SETUP_NONE},
    {"encode --ae {AE} --data {I}/rgba --out {C}/l.safetensors", "4 channels", SETUP_NONE},
    {"encode --ae {AE} --data {I}/noactions --out {C}/l.safetensors", "actions.npy", SETUP_NONE},
    {"encode --ae {AE} --data {I}/badindex --out {C}/l.safetensors", "index.json", SETUP_NONE},
    {"encode --ae {AE} --data {I}/data --out {C}/l.safetensors --batch 0", "--batch", SETUP_NONE},
    {"encode --ae {AE} --data {I}/data", "--out", SETUP_NONE},
    {"encode --ae {AE} --data {I}/data --out {C}/file/l.safetensors", "file", SETUP_FILE},
    /* ae-eval */
    {"ae-eval --ae {AE} --data {I}/data --level 9", "--level", SETUP_NONE},
    {"ae-eval --ae {I}/garbage.safetensors --data {I}/data", "garbage.safetensors", SETUP_NONE},
    {"ae-eval --ae {AE} --data {I}/missing", "missing", SETUP_NONE},
    {"ae-eval --ae {AE} --data {I}/data --batch 0", "--batch", SETUP_NONE},
    {"ae-eval --ae {AE} --data {I}/data --json {C}/file/t.json", "file", SETUP_FILE},
    {"ae-eval --ae {AE} --data {I}/data --save-recon {C}/file", "file", SETUP_FILE},
    {"ae-eval --ae {AE} --data {I}/data --png {C}/file/s.png", "file", SETUP_FILE},
    /* schedule */
    {"schedule --method nomethod", "nomethod", SETUP_NONE},
    {"schedule --method millivid --frames 0", "--frames", SETUP_NONE},
    {"schedule --method millivid --config nosuchpreset", "nosuchpreset", SETUP_NONE},
    {"schedule --method millivid --set levels=9", "levels", SETUP_NONE},
    /* train */
    {"train", "--method", SETUP_NONE},
    {"train --method nomethod --latents {I}/latents.safetensors --data {I}/data --out {C}/d.safetensors", "nomethod",
     SETUP_NONE},
    {"train --method millivid --latents {I}/missing.safetensors --data {I}/data --out {C}/d.safetensors",
     "missing.safetensors", SETUP_NONE},
    {"train --method millivid --latents {I}/garbage.safetensors --data {I}/data --out {C}/d.safetensors",
     "garbage.safetensors", SETUP_NONE},
    {"train --method millivid --latents {AE} --data {I}/data --out {C}/d.safetensors", "ae_mini.safetensors",
     SETUP_NONE},
    {"train --method millivid --latents {I}/latents.safetensors --data {I}/data8 --out {C}/d.safetensors",
     "latents.safetensors",
     SETUP_NONE},
    /* generate */
    {"generate --ae {AE} --dit {DIT} --method fullres --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4", "fullres", SETUP_NONE},
    {"generate --ae {AE} --dit {I}/garbage.safetensors --method millivid --data {I}/data --video 0 --context 8 "
     "--frames 16 --out {C}/g.mp4", "garbage.safetensors", SETUP_NONE},
    {"generate --ae {AE} --dit {AE} --method millivid --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4", "ae_mini.safetensors", SETUP_NONE},
    {"generate --ae {I}/nan_ae.safetensors --dit {DIT} --method millivid --data {I}/data --video 0 --context 8 "
     "--frames 16 --out {C}/g.mp4", "nan_ae.safetensors", SETUP_NONE},
    {"generate --ae {AE} --dit {I}/nan_dit.safetensors --method millivid --data {I}/data --video 0 --context 8 "
     "--frames 16 --out {C}/g.mp4", "nan_dit.safetensors", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 5 --context 8 --frames 16 --out "
     "{C}/g.mp4", "--video", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 0 --context 20 --frames 16 --out "
     "{C}/g.mp4", "--context", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4 --actions {I}/bad.jsonl", "bad.jsonl", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4 --actions {I}/missing.jsonl", "missing.jsonl", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/missing --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4", "missing", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4 --guidance -1", "--guidance", SETUP_NONE},
    {"generate --ae {AE} --dit {DIT} --method millivid --data {I}/data --video 0 --context 8 --frames 16 --out "
     "{C}/g.mp4", "context", SETUP_NONE},
    /* eval */
    {"eval --ae {AE} --data {I}/data --method nofile --context 8 --out {C}/e", "--method", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={I}/missing.safetensors --context 8 --out {C}/e",
     "missing.safetensors", SETUP_NONE},
    {"eval --ae {I}/garbage.safetensors --data {I}/data --method m={DIT} --context 8 --out {C}/e",
     "garbage.safetensors", SETUP_NONE},
    {"eval --ae {AE} --data {I}/missing --method m={DIT} --context 8 --out {C}/e", "missing", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --videos 0 --out {C}/e", "--videos", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --out {C}/e --training {I}/missing_runs",
     "missing_runs", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --out {C}/e --training {I}/data",
     "data: no training log", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --out {C}/e --training {I}/train_badline",
     "dit_m.log.jsonl: line 2", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --out {C}/e --training {I}/train_nockpt",
     "dit_m.safetensors", SETUP_NONE},
    {"eval --ae {AE} --data {I}/data --method m={DIT} --context 8 --out {C}/e --training {I}/train_badprobe",
     "step_100.json: methods[0].recall.psnr", SETUP_NONE},
    /* compare */
    {"compare --ref {I}/missing.npy --gen {I}/data/frames.npy", "missing.npy", SETUP_NONE},
    {"compare --ref {I}/f32.npy --gen {I}/data/frames.npy", "f32.npy", SETUP_NONE},
    {"compare --ref {I}/rgba/frames.npy --gen {I}/rgba/frames.npy", "4 channels", SETUP_NONE},
    {"compare --ref {I}/data/frames.npy --gen {I}/u8.npy", "shapes differ", SETUP_NONE},
    {"compare --ref {I}/data8/frames.npy --gen {I}/data8/frames.npy", "11x11", SETUP_NONE},
    {"compare --ref {I}/empty.npy --gen {I}/data/frames.npy", "empty.npy", SETUP_NONE},
    {"compare --ref {I}/badmagic.npy --gen {I}/data/frames.npy", "badmagic.npy", SETUP_NONE},
    {"compare --ref {I}/data/frames.npy --gen {I}/data/frames.npy --json {C}/file/m.json", "file", SETUP_FILE},
    {"compare --ref {I}/data/frames.npy", "--gen", SETUP_NONE},
    /* info */
    {"info {I}/missing.safetensors", "missing.safetensors", SETUP_NONE},
    {"info {I}/garbage.safetensors", "garbage.safetensors", SETUP_NONE},
    {"info {I}/trunc.safetensors", "trunc.safetensors", SETUP_NONE},
    {"info {I}/badmagic.npy", "badmagic.npy", SETUP_NONE},
    {"info {I}/noactions", "actions.npy", SETUP_NONE},
    {"info {I}/rgba", "4 channels", SETUP_NONE},
    {"info {I}/data {I}/data8", "expected one FILE", SETUP_NONE},
    {"info --bogus", "--bogus", SETUP_NONE},
    /* convert */
    {"convert --in {I}/missing.safetensors --out {C}/x.safetensors", "missing.safetensors", SETUP_NONE},
    {"convert --in {I}/trunc.safetensors --out {C}/x.safetensors", "trunc.safetensors", SETUP_NONE},
    {"convert --in {AE} --out {C}/x.safetensors --dtype q4", "--dtype", SETUP_NONE},
    {"convert --in {AE}", "--out", SETUP_NONE},
    {"convert --in {AE} --out {C}/file/x.safetensors", "file", SETUP_FILE},
    /* no such command */
    {"nosuchcommand --help", "nosuchcommand", SETUP_NONE},
};

/* ---------------------------------------------------------------- inputs */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

static char *in_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_in, name);
    return buf;
}

/* A copy of src with a NaN as the first value of tensor `name` (F32 or BF16 storage). */
static int copy_with_nan(const char *src, const char *dst, const char *name) {
    mv_safetensors f;
    if (mv_st_open(&f, src) != MV_OK) return 0;
    const mv_tensor_view *t = mv_st_find(&f, name);
    long off = t ? (long)((const char *)t->data - (const char *)f.map) : -1;
    int f32 = t && t->dtype == MV_DT_F32;
    mv_st_close(&f);
    if (off < 0 || tu_sh("cp '%s' '%s'", src, dst) != 0) return 0;
    unsigned char nan32[4] = {0x00, 0x00, 0xc0, 0x7f}, nan16[2] = {0xc0, 0x7f};
    int fd = open(dst, O_WRONLY);
    int ok = fd >= 0 && pwrite(fd, f32 ? nan32 : nan16, f32 ? 4 : 2, off) > 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* A data set folder with frames (1, 2, s, s, c) uint8, actions (1, 2, 6) and index.json; the parts
 * named in `skip` ("actions", "index") left out, or index.json written as `index` when given. */
static void write_dataset(const char *dir, int s, int c, const char *skip, const char *index) {
    char p[800];
    mkdir(dir, 0777);
    int64_t fs[5] = {1, 2, s, s, c}, as[3] = {1, 2, 6};
    uint8_t *fr = calloc((size_t)2 * s * s * c, 1);
    float act[12] = {0};
    snprintf(p, sizeof p, "%s/frames.npy", dir);
    CHECK(fr && mv_npy_save(p, MV_DT_U8, 5, fs, fr) == MV_OK, "%s", mv_last_error());
    free(fr);
    snprintf(p, sizeof p, "%s/actions.npy", dir);
    if (!skip || !strstr(skip, "actions")) CHECK(mv_npy_save(p, MV_DT_F32, 3, as, act) == MV_OK, "%s", mv_last_error());
    snprintf(p, sizeof p, "%s/index.json", dir);
    if (!skip || !strstr(skip, "index")) write_text(p, index ? index : "{\"format_version\": 1}\n");
}

static int make_inputs(void) {
    char p[800], q[800], err[8192];
    int sig;
    char *world[] = {g_bin, "world", "--out", in_path(p, sizeof p, "data"), "--split", "train", "--videos", "2",
                     "--frames", "16", "--size", "64", "--seed", "3", "--mp4", "--quiet", NULL};
    int rc = tu_run(world, 0, err, sizeof err, &sig);
    CHECK(rc == 0, "world (input data): rc %d: %s", rc, err);
    char *world8[] = {g_bin, "world", "--out", in_path(p, sizeof p, "data8"), "--videos", "1", "--frames", "4",
                      "--size", "8", "--quiet", NULL};
    rc = tu_run(world8, 0, err, sizeof err, &sig);
    CHECK(rc == 0, "world (8x8 data): rc %d: %s", rc, err);
    char lat[800], data[800];
    char *encode[] = {g_bin, "encode", "--ae", AE_PATH, "--data", in_path(data, sizeof data, "data"), "--out",
                      in_path(lat, sizeof lat, "latents.safetensors"), NULL};
    rc = tu_run(encode, 0, err, sizeof err, &sig);
    CHECK(rc == 0, "encode (input latents): rc %d: %s", rc, err);
    write_text(in_path(p, sizeof p, "garbage.safetensors"), "this is not a safetensors file\n");
    write_text(in_path(p, sizeof p, "garbage.mp4"), "this is not a video\n");
    write_text(in_path(p, sizeof p, "empty.safetensors"), "");
    write_text(in_path(p, sizeof p, "empty.npy"), "");
    write_text(in_path(p, sizeof p, "badmagic.npy"), "NUMPY? no, just text that is long enough\n");
    write_text(in_path(p, sizeof p, "bad.jsonl"), "0\n1\n{\"action\": 7}\n");
    write_text(in_path(p, sizeof p, "bad_config.json"), "{\"base\": \"mini\", \"ae\": {\"width\": }\n");
    CHECK(tu_sh("head -c 300 %s > %s", AE_PATH, in_path(p, sizeof p, "trunc.safetensors")) == 0, "truncated copy");
    CHECK(copy_with_nan(AE_PATH, in_path(p, sizeof p, "nan_ae.safetensors"), "encoder.patchify.weight"),
          "NaN autoencoder");
    CHECK(copy_with_nan(DIT_PATH, in_path(p, sizeof p, "nan_dit.safetensors"), "dit.patchify.weight"), "NaN DiT");
    float f[16 * 16 * 3 * 2] = {0};
    int64_t fshape[4] = {2, 16, 16, 3};
    CHECK(mv_npy_save(in_path(p, sizeof p, "f32.npy"), MV_DT_F32, 4, fshape, f) == MV_OK, "%s", mv_last_error());
    CHECK(mv_npy_save(in_path(p, sizeof p, "u8.npy"), MV_DT_U8, 4, fshape, f) == MV_OK, "%s", mv_last_error());
    write_dataset(in_path(p, sizeof p, "rgba"), 64, 4, NULL, NULL);
    write_dataset(in_path(p, sizeof p, "noactions"), 64, 3, "actions", NULL);
    write_dataset(in_path(p, sizeof p, "badindex"), 64, 3, NULL, "{\"format_version\": 99}\n");
    /* A 1 KB autoencoder file whose metadata claims a 2048-wide, 16-deep model and holds no tensor. */
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "adaptive");
    CHECK(mv_config_load(&meta.config, "mini") == MV_OK, "%s", mv_last_error());
    meta.config.ae_width = 2048, meta.config.ae_depth = 16, meta.config.ae_heads = 16;
    mv_params none;
    mv_params_init(&none);
    CHECK(mv_ckpt_save(in_path(q, sizeof q, "claim.safetensors"), &none, &meta, NULL) == MV_OK, "%s",
          mv_last_error());
    /* training folders for eval --training: a malformed log line, a run without its checkpoint, a probe
     * result without the recall the report plots */
    const char *log = "{\"step\": 10, \"loss\": 0.5}\n{\"step\": 20, \"loss\": 0.4}\n";
    CHECK(tu_sh("mkdir -p %s/train_badline %s/train_nockpt %s/train_badprobe/probes", g_in, g_in, g_in) == 0, "mkdir");
    write_text(in_path(p, sizeof p, "train_badline/dit_m.log.jsonl"), "{\"step\": 10, \"loss\": 0.5}\n{\"step\": 20, \"loss\" 0.4}\n");
    write_text(in_path(p, sizeof p, "train_nockpt/dit_m.log.jsonl"), log);
    write_text(in_path(p, sizeof p, "train_badprobe/dit_m.log.jsonl"), log);
    write_text(in_path(p, sizeof p, "train_badprobe/probes/step_100.json"),
               "{\"format\": \"millivid-probe\", \"methods\": [{\"name\": \"m\", \"step\": 100}]}\n");
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "video_universal");
    snprintf(meta.variant, sizeof meta.variant, "millivid");
    CHECK(mv_config_load(&meta.config, "mini") == MV_OK, "%s", mv_last_error());
    CHECK(mv_ckpt_save(in_path(q, sizeof q, "train_badprobe/dit_m.safetensors"), &none, &meta, NULL) == MV_OK, "%s",
          mv_last_error());
    return tu_failures == 0;
}

/* ---------------------------------------------------------------- one case */

/* Every path under dir (relative, one per line, sorted) into a malloc'ed string. */
static char **g_list;
static int g_list_n, g_list_cap;
static size_t g_root_len;
static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    if (g_list_n == g_list_cap) {
        g_list_cap = g_list_cap ? 2 * g_list_cap : 64;
        g_list = realloc(g_list, (size_t)g_list_cap * sizeof *g_list);
    }
    g_list[g_list_n++] = strdup(path + g_root_len);
    return 0;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char *tree(const char *dir) {
    g_list_n = 0;
    g_root_len = strlen(dir);
    nftw(dir, list_one, 16, FTW_PHYS);
    qsort(g_list, (size_t)g_list_n, sizeof *g_list, cmp_str);
    size_t len = 1;
    for (int i = 0; i < g_list_n; i++) len += strlen(g_list[i]) + 1;
    char *s = malloc(len), *e = s;
    for (int i = 0; i < g_list_n; i++) {
        e += sprintf(e, "%s\n", g_list[i]);
        free(g_list[i]);
    }
    *e = 0;
    return s;
}

/* args with {C}, {I}, {AE}, {DIT} replaced, split at spaces into argv (after the binary). */
static int build_argv(const char *args, const char *cdir, char *buf, size_t cap, char **argv, int max) {
    size_t n = 0;
    for (const char *a = args; *a && n + 1 < cap;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (!strncmp(a, "{C}", 3)) rep = cdir, skip = 3;
        else if (!strncmp(a, "{I}", 3)) rep = g_in, skip = 3;
        else if (!strncmp(a, "{AE}", 4)) rep = AE_PATH, skip = 4;
        else if (!strncmp(a, "{DIT}", 5)) rep = DIT_PATH, skip = 5;
        if (rep) {
            for (const char *r = rep; *r && n + 1 < cap; r++) buf[n++] = *r;
            a += skip;
        } else {
            buf[n++] = *a++;
        }
    }
    buf[n] = 0;
    int argc = 0;
    argv[argc++] = g_bin;
    for (char *t = strtok(buf, " "); t && argc < max - 1; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    return argc;
}

/* The lines of err that report an error ("error:" from millivid; sanitizer reports also match). */
static int error_lines(const char *err, const char **first) {
    int n = 0;
    *first = NULL;
    for (const char *l = err; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)MV_MIN(len, sizeof line - 1), l);
        if (strstr(line, "error:") || strstr(line, "ERROR") || strstr(line, "Sanitizer")) {
            if (!n) *first = l;
            n++;
        }
        l += len + (end ? 1 : 0);
    }
    return n;
}

static void run_case(int k, const bad_case *c) {
    char cdir[700], p[800], buf[4096], err[16384];
    char *argv[64];
    snprintf(cdir, sizeof cdir, "%s/%03d", g_cases, k);
    mkdir(cdir, 0777);
    if (c->setup == SETUP_FILE) {
        snprintf(p, sizeof p, "%s/file", cdir);
        write_text(p, "not a folder\n");
    }
    if (c->setup == SETUP_FULL) {
        snprintf(p, sizeof p, "%s/full", cdir);
        mkdir(p, 0777);
        snprintf(p, sizeof p, "%s/full/x", cdir);
        write_text(p, "keep\n");
    }
    build_argv(c->args, cdir, buf, sizeof buf, argv, 64);
    char *before = tree(cdir);
    int sig;
    int rc = tu_run(argv, 0, err, sizeof err, &sig);
    char *after = tree(cdir);
    const char *line;
    int nerr = error_lines(err, &line);
    char first[1024] = "";
    if (line) snprintf(first, sizeof first, "%.*s", (int)strcspn(line, "\n"), line);
    CHECK(!sig && rc >= 1 && rc <= 125, "case %d (%s): exit %d%s", k, c->args, rc, sig ? " by a signal" : "");
    CHECK(nerr == 1, "case %d (%s): %d error lines:\n%s", k, c->args, nerr, err);
    CHECK(nerr < 1 || strstr(first, c->want), "case %d (%s): the error does not name '%s': %s", k, c->args, c->want,
          first);
    CHECK(!strcmp(before, after), "case %d (%s): the folder changed:\nbefore:\n%safter:\n%s", k, c->args, before, after);
    printf("ok %3d  rc %d  %s\n        %s\n", k, rc, c->args, first);
    free(before);
    free(after);
}

int main(void) {
    const char *b = getenv("MV_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b ? b : "build");
    const char *d = tu_tmpdir("test_bad_input");
    snprintf(g_in, sizeof g_in, "%s/inputs", d);
    snprintf(g_cases, sizeof g_cases, "%s/cases", d);
    mkdir(g_in, 0777);
    mkdir(g_cases, 0777);
    struct stat st;
    CHECK(stat(g_bin, &st) == 0, "%s missing: build it first (make)", g_bin);
    CHECK(stat(AE_PATH, &st) == 0 && stat(DIT_PATH, &st) == 0, "the shipped models are missing");
    if (tu_failures || !make_inputs()) return tu_finish();
    int n = (int)MV_ARRAY_LEN(cases);
    for (int k = 0; k < n; k++) run_case(k, &cases[k]);
    printf("%d bad inputs over 12 subcommands\n", n);
    free(g_list);
    return tu_finish();
}
