/* millivid ae-eval: reconstruction quality of the autoencoder from each level alone. Frames (evenly
 * spaced in the first --videos videos) are encoded, decoded with only level l kept, and the level-0
 * output (clipped to [0,1]) is compared with the ground truth: a table of PSNR and SSIM per level,
 * optional JSON, per-level reconstructions as .npy (uint8, shaped like frames.npy) and a PNG contact
 * sheet (ground truth, then the decode from each level). */
#include <errno.h>
#include <math.h>

#include "common.h"
#include "eval/metrics.h"
#include "io/dataset.h"
#include "io/files.h"
#include "io/image.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"

#define SHEET_ROWS 8

typedef struct {
    const char *ae, *data, *json, *recon_dir, *png;
    int videos, per_video, batch, threads, level;
} eval_opts;

static const cli_command ae_eval_cmd = {"ae-eval", "usage: millivid ae-eval --ae FILE --data DIR [options]\n", NULL};

static int parse_opts(int argc, char **argv, eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 16;
    o->level = -1;
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &o->ae, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_STRING("--data", "DIR", &o->data, "data set to evaluate on", .required = 1),
        CLI_OPT_INT("--videos", "N", &o->videos, 1, 1 << 30, "first N videos [min(8, all)]"),
        CLI_OPT_INT("--frames-per-video", "K", &o->per_video, 1, 1 << 30, "K evenly spaced frames of each [min(8, all)]"),
        CLI_OPT_INT("--level", "L", &o->level, 0, 1 << 20, "evaluate only level L [all]"),
        CLI_OPT_STRING("--json", "OUT", &o->json, "write the table as JSON"),
        CLI_OPT_STRING("--save-recon", "DIR", &o->recon_dir, "write DIR/recon_level{l}.npy (videos, K, S, S, 3) uint8"),
        CLI_OPT_STRING("--png", "FILE", &o->png, "contact sheet: ground truth, then the decode of each level"),
        CLI_OPT_INT("--batch", "B", &o->batch, 1, 4096, "frames per model call [16]"),
        CLI_OPT_INT("--threads", "T", &o->threads, 0, 1024, "threads [all cores]"),
    };
    return cli_parse(argc, argv, &ae_eval_cmd, opts, MV_ARRAY_LEN(opts));
}

typedef struct {
    mv_ae ae;
    mv_dataset d;
    mv_ae_work *work;
    int V, K, n, l0, l1;       /* videos, frames per video, frames total, levels [l0, l1) */
    float *gt, *patches, *lat, *out, *img; /* [B, ...] */
    uint8_t *u8;               /* [B, S, S, 3] */
    int *keep;
    double psnr[MV_MAX_LEVELS], ssim[MV_MAX_LEVELS];
    mv_npy_writer *npy[MV_MAX_LEVELS];
    uint8_t *sheet;            /* contact sheet RGB or NULL */
    int sheet_w, sheet_h, up, rows;
} eval_run;

static void sheet_cell(eval_run *r, int row, int col, const uint8_t *rgb) {
    int S = r->ae.H, up = r->up, cell = S * up + 4;
    for (int y = 0; y < S * up; y++)
        for (int x = 0; x < S * up; x++) {
            const uint8_t *s = rgb + ((size_t)(y / up) * S + x / up) * 3;
            uint8_t *d = r->sheet + ((size_t)(14 + row * cell + 2 + y) * r->sheet_w + col * cell + 2 + x) * 3;
            d[0] = s[0], d[1] = s[1], d[2] = s[2];
        }
}

static mv_status sheet_begin(eval_run *r) {
    int S = r->ae.H;
    r->up = S < 128 ? 2 : 1;
    r->rows = MV_MIN(SHEET_ROWS, r->n);
    int cell = S * r->up + 4, cols = 1 + r->l1 - r->l0;
    r->sheet_w = cols * cell, r->sheet_h = 14 + r->rows * cell;
    r->sheet = calloc((size_t)r->sheet_w * r->sheet_h * 3, 1);
    if (!r->sheet) return mv_fail(MV_ERR_NOMEM, "out of memory");
    const uint8_t white[3] = {255, 255, 255};
    mv_draw_text(r->sheet, r->sheet_w, r->sheet_h, 4, 4, "truth", 1, white);
    for (int l = r->l0; l < r->l1; l++) {
        char label[32];
        snprintf(label, sizeof label, "level %d", l);
        mv_draw_text(r->sheet, r->sheet_w, r->sheet_h, (1 + l - r->l0) * cell + 4, 4, label, 1, white);
    }
    return MV_OK;
}

/* Frame i of the evaluation set -> its (video, t). */
static const uint8_t *eval_frame(const eval_run *r, int i) {
    int v = i / r->K, k = i % r->K;
    int t = (int)((long)k * r->d.frames_per_video / r->K);
    return mv_dataset_frame(&r->d, v, t);
}

static mv_status eval_batch(eval_run *r, int i0, int B) {
    const mv_ae *ae = &r->ae;
    size_t hw3 = (size_t)ae->H * ae->H * 3;
    for (int b = 0; b < B; b++) {
        memcpy(r->u8 + b * hw3, eval_frame(r, i0 + b), hw3);
        for (size_t j = 0; j < hw3; j++) r->gt[b * hw3 + j] = r->u8[b * hw3 + j] / 255.0f;
        if (r->sheet && i0 + b < r->rows) sheet_cell(r, i0 + b, 0, r->u8 + b * hw3);
    }
    mv_ae_pyramid_u8(ae, r->work, r->patches, r->u8, B);
    mv_ae_encode(ae, r->work, r->lat, r->patches, B);
    for (int l = r->l0; l < r->l1; l++) {
        for (int b = 0; b < B; b++) r->keep[b] = l;
        mv_ae_decode(ae, r->work, r->out, r->lat, r->keep, B);
        mv_ae_image0(ae, r->img, r->out, B);
        for (int b = 0; b < B; b++) {
            r->psnr[l] += mv_psnr_f32(r->img + b * hw3, r->gt + b * hw3, ae->H, ae->H);
            r->ssim[l] += mv_ssim_f32(r->img + b * hw3, r->gt + b * hw3, ae->H, ae->H);
        }
        for (size_t j = 0; j < B * hw3; j++) r->u8[j] = (uint8_t)lrintf(fminf(fmaxf(r->img[j], 0), 1) * 255);
        if (r->npy[l]) MV_TRY(mv_npy_writer_append(r->npy[l], r->u8, B * hw3));
        for (int b = 0; r->sheet && b < B && i0 + b < r->rows; b++)
            sheet_cell(r, i0 + b, 1 + l - r->l0, r->u8 + b * hw3);
    }
    return MV_OK;
}

static mv_status open_recon(const eval_opts *o, eval_run *r) {
    for (int l = r->l0; l < r->l1; l++) {
        char path[1024];
        int64_t shape[5] = {r->V, r->K, r->ae.H, r->ae.H, 3};
        snprintf(path, sizeof path, "%s/recon_level%d.npy", o->recon_dir, l);
        MV_TRY(mv_npy_writer_open(&r->npy[l], path, MV_DT_U8, 5, shape));
    }
    return MV_OK;
}

/* The table as JSON, written atomically (temporary file + rename). */
static mv_status write_json(const eval_opts *o, const eval_run *r) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return mv_fail(MV_ERR_NOMEM, "%s: cannot format the JSON: %s", o->json, strerror(errno));
    fprintf(f, "{\n  \"ae\": \"%s\",\n  \"data\": \"%s\",\n  \"variant\": \"%s\",\n  \"frames\": %d,\n  \"levels\": [",
            o->ae, o->data, mv_ae_variant_name(r->ae.variant), r->n);
    for (int l = r->l0; l < r->l1; l++)
        fprintf(f, "%s\n    {\"level\": %d, \"tokens\": %d, \"psnr\": %.4f, \"ssim\": %.5f}", l > r->l0 ? "," : "", l,
                r->ae.tokens[l], r->psnr[l], r->ssim[l]);
    fprintf(f, "\n  ]\n}\n");
    mv_status s = fclose(f) ? mv_fail(MV_ERR_NOMEM, "%s: cannot format the JSON", o->json)
                            : mv_write_file_atomic(o->json, text, len);
    free(text);
    return s;
}

static mv_status setup(const eval_opts *o, eval_run *r) {
    MV_TRY(cli_open_ae_data(&r->ae, o->ae, &r->d, o->data));
    const mv_ae *ae = &r->ae;
    if (o->level >= ae->L)
        return mv_fail(MV_ERR_ARG, "--level %d: the autoencoder %s has %d levels (0-%d)", o->level, o->ae, ae->L,
                       ae->L - 1);
    r->l0 = o->level >= 0 ? o->level : 0;
    r->l1 = o->level >= 0 ? o->level + 1 : ae->L;
    r->V = MV_MIN(o->videos ? o->videos : 8, r->d.videos);
    r->K = MV_MIN(o->per_video ? o->per_video : 8, r->d.frames_per_video);
    if (o->videos > r->d.videos || o->per_video > r->d.frames_per_video)
        MV_WARN("%s has %d videos x %d frames: evaluating %d x %d", o->data, r->d.videos, r->d.frames_per_video,
                r->V, r->K);
    r->n = r->V * r->K;
    int B = o->batch;
    size_t hw3 = (size_t)ae->H * ae->H * 3;
    MV_TRY(mv_ae_work_create(&r->work, ae, B, 0));
    r->gt = malloc(B * hw3 * sizeof(float));
    r->img = malloc(B * hw3 * sizeof(float));
    r->u8 = malloc(B * hw3);
    r->patches = malloc((size_t)B * ae->T * ae->PD * sizeof(float));
    r->out = malloc((size_t)B * ae->T * ae->PD * sizeof(float));
    r->lat = malloc((size_t)B * ae->T * ae->C * sizeof(float));
    r->keep = malloc(B * sizeof(int));
    if (!r->gt || !r->img || !r->u8 || !r->patches || !r->out || !r->lat || !r->keep)
        return mv_fail(MV_ERR_NOMEM, "out of memory");
    /* The output folders before the evaluation, so that a path that cannot be written fails now. */
    if (o->recon_dir) MV_TRY(mv_make_dirs(o->recon_dir));
    if (o->json) MV_TRY(mv_make_parent_dirs(o->json));
    if (o->png) MV_TRY(mv_make_parent_dirs(o->png));
    if (o->recon_dir) MV_TRY(open_recon(o, r));
    if (o->png) MV_TRY(sheet_begin(r));
    return MV_OK;
}

static void print_table(const eval_run *r) {
    printf("autoencoder reconstruction from one level (%d frames, %dx%d):\n", r->n, r->ae.H, r->ae.H);
    printf("  level  tokens   PSNR (dB)   SSIM\n");
    for (int l = r->l0; l < r->l1; l++)
        printf("  %5d  %6d   %9.2f   %.4f\n", l, r->ae.tokens[l], r->psnr[l], r->ssim[l]);
}

static mv_status run(const eval_opts *o) {
    mv_set_threads(o->threads);
    eval_run r;
    memset(&r, 0, sizeof r);
    mv_status s = setup(o, &r);
    mv_progress prog;
    mv_progress_start(&prog, "ae-eval", r.n, "frames");
    for (int i = 0; !s && i < r.n; i += o->batch) {
        int B = MV_MIN(o->batch, r.n - i);
        s = eval_batch(&r, i, B);
        mv_progress_update(&prog, i + B, NULL);
    }
    if (!s) {
        mv_progress_end(&prog, r.n, NULL);
        for (int l = r.l0; l < r.l1; l++) r.psnr[l] /= r.n, r.ssim[l] /= r.n;
        print_table(&r);
        for (int l = r.l0; l < r.l1 && !s; l++)
            if (r.npy[l]) s = mv_npy_writer_finish(r.npy[l]), r.npy[l] = NULL;
        if (!s && o->json) s = write_json(o, &r);
        if (!s && r.sheet) s = mv_png_write(o->png, r.sheet, r.sheet_w, r.sheet_h);
    }
    for (int l = 0; l < MV_MAX_LEVELS; l++)
        if (r.npy[l]) mv_npy_writer_abort(r.npy[l]);
    free(r.gt), free(r.img), free(r.u8), free(r.patches), free(r.out), free(r.lat), free(r.keep), free(r.sheet);
    mv_ae_work_free(r.work);
    mv_dataset_close(&r.d);
    mv_ae_free(&r.ae);
    return s;
}

int cmd_ae_eval(int argc, char **argv) {
    eval_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    return run(&o) == MV_OK ? 0 : 1;
}
