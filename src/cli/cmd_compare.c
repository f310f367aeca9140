/* millivid compare: per-frame PSNR / SSIM between two uint8 frame arrays (T,H,W,3) or (N,T,H,W,3). */
#include <math.h>

#include <cJSON.h>

#include "cli.h"
#include "eval/metrics.h"
#include "io/files.h"
#include "io/tensorfile.h"

static const cli_command compare_cmd = {
    "compare",
    "usage: millivid compare --ref A.npy --gen B.npy [--json OUT.json] [--quiet] [--threads N]\n\n"
    "Per-frame PSNR (dB, peak 1) and SSIM (scikit-image conventions: Gaussian window sigma 1.5,\n"
    "11 taps, 5-px border cropped, channel mean) between two uint8 frame arrays of the same\n"
    "shape, (T,H,W,3) or (N,T,H,W,3), frames at least 11x11. Prints one line per frame and the\n"
    "means; --json writes {\"psnr\": [...], \"ssim\": [...], \"psnr_mean\", \"ssim_mean\", ...}.\n"
    "Identical frames have infinite PSNR (null in the JSON; psnr_mean is then null too).\n",
    NULL};

/* Opens path and checks it holds uint8 frames (T,H,W,3) or (N,T,H,W,3). */
static mv_status compare_open(mv_npy *a, const char *what, const char *path) {
    MV_TRY(mv_npy_open(a, path));
    if (a->dtype != MV_DT_U8)
        return mv_fail(MV_ERR_FORMAT, "%s: %s frames must be uint8, found %s", path, what, mv_dtype_name(a->dtype));
    if (a->ndim != 4 && a->ndim != 5)
        return mv_fail(MV_ERR_SHAPE, "%s: %s frames must have shape (T,H,W,3) or (N,T,H,W,3), found %d dims",
                       path, what, a->ndim);
    if (a->shape[a->ndim - 1] != 3)
        return mv_fail(MV_ERR_SHAPE, "%s: %s frames have %lld channels, RGB frames need 3", path, what,
                       (long long)a->shape[a->ndim - 1]);
    int64_t h = a->shape[a->ndim - 3], w = a->shape[a->ndim - 2];
    if (h < 11 || w < 11)
        return mv_fail(MV_ERR_SHAPE, "%s: frames are %lldx%lld; SSIM needs at least 11x11", path, (long long)h,
                       (long long)w);
    if (a->numel == 0) return mv_fail(MV_ERR_SHAPE, "%s: %s holds no frames", path, what);
    return MV_OK;
}

static void shape_str(const mv_npy *a, char *buf, size_t n) {
    size_t k = 0;
    k += snprintf(buf + k, n - k, "(");
    for (int i = 0; i < a->ndim && k < n; i++)
        k += snprintf(buf + k, n - k, "%lld%s", (long long)a->shape[i], i + 1 < a->ndim ? "," : ")");
}

static mv_status compare_check_shapes(const mv_npy *r, const mv_npy *g) {
    int same = r->ndim == g->ndim;
    for (int i = 0; same && i < r->ndim; i++) same = r->shape[i] == g->shape[i];
    if (same) return MV_OK;
    char sr[128], sg[128];
    shape_str(r, sr, sizeof sr);
    shape_str(g, sg, sizeof sg);
    return mv_fail(MV_ERR_SHAPE, "shapes differ: --ref %s is %s but --gen %s is %s", r->path, sr, g->path, sg);
}

/* Mean of v[n]; inf propagates (identical frames). */
static double mean_of(const double *v, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

static cJSON *json_number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static mv_status compare_write_json(const char *path, const mv_npy *r, const char *gen_path, const double *psnr,
                                    const double *ssim, long n) {
    mv_status st = MV_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject(), *jp = cJSON_AddArrayToObject(root, "psnr");
    cJSON *js = cJSON_AddArrayToObject(root, "ssim");
    for (long i = 0; i < n; i++) {
        cJSON_AddItemToArray(jp, json_number_or_null(psnr[i]));
        cJSON_AddItemToArray(js, cJSON_CreateNumber(ssim[i]));
    }
    cJSON_AddItemToObject(root, "psnr_mean", json_number_or_null(mean_of(psnr, n)));
    cJSON_AddNumberToObject(root, "ssim_mean", mean_of(ssim, n));
    cJSON_AddNumberToObject(root, "frames", (double)n);
    cJSON_AddNumberToObject(root, "videos", r->ndim == 5 ? (double)r->shape[0] : 1.0);
    cJSON_AddNumberToObject(root, "frames_per_video", (double)r->shape[r->ndim - 4]);
    cJSON_AddStringToObject(root, "ref", r->path);
    cJSON_AddStringToObject(root, "gen", gen_path);
    text = cJSON_Print(root);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL; /* the JSON and a newline */
    if (!line) {
        st = mv_fail(MV_ERR_NOMEM, "%s: cannot format the JSON", path);
        goto fail;
    }
    text = line;
    memcpy(text + len, "\n", 2);
    if ((st = mv_make_parent_dirs(path)) == MV_OK) st = mv_write_file_atomic(path, text, len + 1);
fail:
    free(text);
    cJSON_Delete(root);
    return st;
}

static void compare_print(const mv_npy *r, const double *psnr, const double *ssim, long n, int quiet) {
    long t_per = (long)r->shape[r->ndim - 4];
    int multi = r->ndim == 5;
    if (!quiet) {
        printf(multi ? "video  frame  PSNR(dB)      SSIM\n" : "frame  PSNR(dB)      SSIM\n");
        for (long i = 0; i < n; i++) {
            if (multi) printf("%5ld  ", i / t_per);
            printf("%5ld  %8.3f  %8.5f\n", i % t_per, psnr[i], ssim[i]);
        }
    }
    long ident = 0;
    for (long i = 0; i < n; i++) ident += isinf(psnr[i]);
    printf("mean over %ld frames: PSNR %.3f dB  SSIM %.5f\n", n, mean_of(psnr, n), mean_of(ssim, n));
    if (ident) printf("note: %ld identical frame(s) have infinite PSNR\n", ident);
}

int cmd_compare(int argc, char **argv) {
    const char *ref = NULL, *gen = NULL, *json = NULL;
    int quiet = 0, rc = 1;
    mv_npy r = {0}, g = {0};
    double *psnr = NULL, *ssim = NULL;
    int threads = 0;
    const cli_option opts[] = {
        CLI_OPT_STRING("--ref", "A.npy", &ref, "reference frames", .required = 1),
        CLI_OPT_STRING("--gen", "B.npy", &gen, "generated frames", .required = 1),
        CLI_OPT_STRING("--json", "OUT.json", &json, "also write the numbers as JSON"),
        CLI_OPT_FLAG("--quiet", &quiet, "print only the means"),
        CLI_OPT_INT("--threads", "N", &threads, 1, 1024, "worker threads (default: all cores)"),
    };
    int prc = cli_parse(argc, argv, &compare_cmd, opts, MV_ARRAY_LEN(opts));
    if (prc) return prc < 0 ? 0 : prc;
    if (threads) mv_set_threads(threads);
    if (compare_open(&r, "--ref", ref) != MV_OK || compare_open(&g, "--gen", gen) != MV_OK ||
        compare_check_shapes(&r, &g) != MV_OK)
        goto fail;
    int h = (int)r.shape[r.ndim - 3], w = (int)r.shape[r.ndim - 2];
    long n = (long)(r.numel / ((size_t)h * w * 3));
    psnr = malloc(sizeof(double) * n);
    ssim = malloc(sizeof(double) * n);
    if (!psnr || !ssim) {
        mv_fail(MV_ERR_NOMEM, "out of memory for %ld frames", n);
        goto fail;
    }
    mv_metrics_u8_frames(psnr, ssim, r.data, g.data, n, h, w);
    compare_print(&r, psnr, ssim, n, quiet);
    if (json && compare_write_json(json, &r, g.path, psnr, ssim, n) != MV_OK) goto fail;
    if (json && !quiet) printf("wrote %s\n", json);
    rc = 0;
fail:
    free(psnr);
    free(ssim);
    mv_npy_close(&r);
    mv_npy_close(&g);
    return rc;
}
