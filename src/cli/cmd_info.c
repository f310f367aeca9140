/* millivid info FILE|DIR: describe a safetensors file (checkpoint, latents), an .npy array or a data
 * set directory. Corrupt input: one error line naming the file, non-zero exit. */
#include <math.h>
#include <sys/stat.h>

#include "cli.h"
#include "io/dataset.h"
#include "io/tensorfile.h"

static const cli_command info_cmd = {
    "info",
    "usage: millivid info FILE|DIR [--no-stats]\n\n"
    "Describes a .safetensors file (tensors, dtypes, shapes, sizes, metadata), a .npy array\n"
    "(dtype, shape, size, value range) or a data set directory (videos, frames, size, split,\n"
    "action histogram). Exits non-zero with one message if the input is corrupt.\n\n",
    NULL};

static void human_size(char *buf, size_t cap, double bytes) {
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) bytes /= 1024, i++;
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "%s)", ndim == 1 ? "," : "");
}

/* Metadata values may be multi-line JSON: indent continuation lines. */
static void print_meta_value(const char *v) {
    for (const char *c = v; *c; c++) {
        putchar(*c);
        if (*c == '\n') fputs("      ", stdout);
    }
    putchar('\n');
}

static int info_safetensors(const char *path) {
    mv_safetensors f;
    if (mv_st_open(&f, path) != MV_OK) return 1;
    size_t values = 0, bytes = 0;
    for (int i = 0; i < f.count; i++) values += f.tensors[i].numel, bytes += f.tensors[i].nbytes;
    char sz[32], tb[32], sh[200];
    human_size(sz, sizeof sz, (double)f.size);
    human_size(tb, sizeof tb, (double)bytes);
    printf("%s: safetensors, %s, %d tensors, %zu values (%s of data)\n", path, sz, f.count, values, tb);
    if (f.meta_count) {
        printf("metadata (%d keys):\n", f.meta_count);
        for (int i = 0; i < f.meta_count; i++) {
            printf("  %s = ", f.meta_keys[i]);
            print_meta_value(f.meta_vals[i]);
        }
    }
    int w = 4;
    for (int i = 0; i < f.count; i++) w = MV_MAX(w, (int)strlen(f.tensors[i].name));
    printf("%-*s  %-5s  %-24s  %12s  %10s\n", w, "name", "dtype", "shape", "values", "bytes");
    for (int i = 0; i < f.count; i++) {
        const mv_tensor_view *t = &f.tensors[i];
        shape_text(sh, sizeof sh, t->ndim, t->shape);
        printf("%-*s  %-5s  %-24s  %12zu  %10zu\n", w, t->name, mv_dtype_name(t->dtype), sh, t->numel, t->nbytes);
    }
    mv_st_close(&f);
    return 0;
}

/* min, max, mean of a numeric array, in double. */
static void npy_stats(const mv_npy *a) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    size_t nan = 0, chunk = 4096;
    const char *p = a->data;
    size_t esz = mv_dtype_size(a->dtype);
    for (size_t i = 0; i < a->numel; i += chunk) {
        size_t n = MV_MIN(chunk, a->numel - i);
        for (size_t k = 0; k < n; k++) {
            const char *e = p + (i + k) * esz;
            double v = 0;
            switch (a->dtype) {
            case MV_DT_F32: { float x; memcpy(&x, e, 4); v = x; } break;
            case MV_DT_F64: memcpy(&v, e, 8); break;
            case MV_DT_U8: v = (unsigned char)*e; break;
            case MV_DT_I32: { int32_t x; memcpy(&x, e, 4); v = x; } break;
            case MV_DT_I64: { int64_t x; memcpy(&x, e, 8); v = (double)x; } break;
            case MV_DT_F16: { uint16_t x; memcpy(&x, e, 2); v = mv_f16_to_f32(x); } break;
            case MV_DT_BF16: { uint16_t x; memcpy(&x, e, 2); v = mv_bf16_to_f32(x); } break;
            }
            if (isnan(v)) {
                nan++;
                continue;
            }
            lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
        }
    }
    if (a->numel > nan)
        printf("values: min %g  max %g  mean %g%s", lo, hi, sum / (double)(a->numel - nan), nan ? "" : "\n");
    if (nan) printf("  (%zu NaN)\n", nan);
}

static int info_npy(const char *path, int stats) {
    mv_npy a;
    if (mv_npy_open(&a, path) != MV_OK) return 1;
    char sz[32], sh[200];
    human_size(sz, sizeof sz, (double)a.size);
    shape_text(sh, sizeof sh, a.ndim, a.shape);
    printf("%s: npy, %s, dtype %s, shape %s, %zu values\n", path, sz, mv_dtype_name(a.dtype), sh, a.numel);
    if (stats && a.numel) npy_stats(&a);
    mv_npy_close(&a);
    return 0;
}

/* Range of x, y, z, yaw, pitch over the whole data set. */
static void print_pose_ranges(const mv_dataset *d) {
    static const char *names[] = {"x", "y", "z", "yaw", "pitch"};
    float lo[5], hi[5];
    for (int k = 0; k < 5; k++) lo[k] = INFINITY, hi[k] = -INFINITY;
    for (int v = 0; v < d->videos; v++)
        for (int t = 0; t < d->frames_per_video; t++) {
            const float *a = mv_dataset_action(d, v, t);
            for (int k = 0; k < 5; k++) lo[k] = fminf(lo[k], a[k + 1]), hi[k] = fmaxf(hi[k], a[k + 1]);
        }
    printf("poses:");
    for (int k = 0; k < 5; k++) printf("  %s [%.1f, %.1f]", names[k], lo[k], hi[k]);
    printf("\n");
}

static int info_dataset(const char *dir) {
    mv_dataset d;
    if (mv_dataset_open(&d, dir) != MV_OK) return 1;
    char sz[32];
    human_size(sz, sizeof sz, (double)(d.frames.size + d.actions.size));
    printf("%s: data set, split '%s', %s\n", dir, d.split[0] ? d.split : "?", sz);
    printf("videos %d, frames per video %d (%.1f s at 20 fps), frames %dx%d RGB, poses %s\n", d.videos,
           d.frames_per_video, d.frames_per_video / 20.0, d.size, d.size, d.has_poses ? "yes" : "no");
    long hist[4] = {0};
    for (int v = 0; v < d.videos; v++)
        for (int t = 0; t < d.frames_per_video; t++) hist[(int)mv_dataset_action(&d, v, t)[0] + 1]++;
    double total = (double)d.videos * d.frames_per_video;
    static const char *names[] = {"none (-1)", "forward (0)", "left (1)", "right (2)"};
    printf("actions:\n");
    for (int k = 0; k < 4; k++) printf("  %-12s %10ld  %5.1f%%\n", names[k], hist[k], 100.0 * hist[k] / total);
    if (d.has_poses) print_pose_ranges(&d);
    mv_dataset_close(&d);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Guess the kind of a file from its first bytes when the extension does not say. */
static int sniff_npy(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char m[6] = {0};
    if (!f) return 0;
    size_t n = fread(m, 1, 6, f);
    fclose(f);
    return n == 6 && !memcmp(m, "\x93NUMPY", 6);
}

int cmd_info(int argc, char **argv) {
    int no_stats = 0;
    const char *item[2];
    cli_args paths = {.item = item, .cap = 2};
    const cli_option opts[] = {
        CLI_OPT_FLAG("--no-stats", &no_stats, "skip the value range of .npy arrays (faster on large files)"),
        CLI_OPT_ARGS("FILE|DIR", NULL, &paths, "the file or data set folder to describe"),
    };
    int rc = cli_parse(argc, argv, &info_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc < 0 ? 0 : rc;
    if (paths.n != 1) {
        mv_fail(MV_ERR_ARG, "expected one FILE or DIR, got %d (see millivid info --help)", paths.n);
        return 2;
    }
    const char *path = paths.item[0];
    int stats = !no_stats;
    struct stat st;
    if (stat(path, &st) != 0) {
        mv_fail(MV_ERR_IO, "%s: no such file or directory", path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) return info_dataset(path);
    if (ends_with(path, ".npy")) return info_npy(path, stats);
    if (ends_with(path, ".safetensors")) return info_safetensors(path);
    if (sniff_npy(path)) return info_npy(path, stats);
    return info_safetensors(path);
}
