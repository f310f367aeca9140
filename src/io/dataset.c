/* Opening a data set directory: frames.npy, actions.npy and index.json, every shape cross-checked. */
#include "io/dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include "core/core.h"
#include "io/files.h"

#define DATASET_FORMAT_VERSION 1

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* frames.npy: uint8 (N, T, S, S, 3) */
static mv_status check_frames(const mv_npy *a) {
    if (a->dtype != MV_DT_U8)
        return mv_fail(MV_ERR_FORMAT, "%s: frames must be uint8, found %s", a->path, mv_dtype_name(a->dtype));
    if (a->ndim != 5)
        return mv_fail(MV_ERR_FORMAT, "%s: frames must have shape (videos, frames, size, size, 3), found %d dims",
                       a->path, a->ndim);
    if (a->shape[4] != 3)
        return mv_fail(MV_ERR_FORMAT, "%s: frames have %lld channels, RGB frames need 3 (shape (videos, frames, "
                       "size, size, 3))", a->path, (long long)a->shape[4]);
    if (a->shape[2] != a->shape[3])
        return mv_fail(MV_ERR_FORMAT, "%s: frames are %lldx%lld (height x width); they must be square", a->path,
                       (long long)a->shape[2], (long long)a->shape[3]);
    if (a->shape[0] < 1 || a->shape[1] < 1 || a->shape[2] < 1 || a->shape[0] > (1 << 30) || a->shape[1] > (1 << 30) ||
        a->shape[2] > (1 << 15))
        return mv_fail(MV_ERR_FORMAT, "%s: frames shape (%lld, %lld, %lld, %lld, 3) is empty or too large", a->path,
                       (long long)a->shape[0], (long long)a->shape[1], (long long)a->shape[2], (long long)a->shape[3]);
    return MV_OK;
}

/* actions.npy: float32 (N, T, 6), N and T as in frames, action ids -1, 0, 1 or 2. */
static mv_status check_actions(const mv_npy *a, const mv_npy *fr) {
    if (a->dtype != MV_DT_F32)
        return mv_fail(MV_ERR_FORMAT, "%s: actions must be float32, found %s", a->path, mv_dtype_name(a->dtype));
    if (a->ndim != 3 || a->shape[2] != 6)
        return mv_fail(MV_ERR_FORMAT, "%s: actions must have shape (videos, frames, 6)", a->path);
    if (a->shape[0] != fr->shape[0] || a->shape[1] != fr->shape[1])
        return mv_fail(MV_ERR_FORMAT, "%s: actions are for %lld videos x %lld frames but frames.npy has %lld x %lld",
                       a->path, (long long)a->shape[0], (long long)a->shape[1], (long long)fr->shape[0],
                       (long long)fr->shape[1]);
    const float *p = a->data;
    for (size_t i = 0; i < a->numel; i += 6) {
        float id = p[i];
        if (!(id == -1 || id == 0 || id == 1 || id == 2))
            return mv_fail(MV_ERR_FORMAT, "%s: video %zu frame %zu: action id %g (expected -1, 0, 1 or 2)", a->path,
                           i / 6 / (size_t)a->shape[1], i / 6 % (size_t)a->shape[1], id);
        for (int k = 1; k < 6; k++)
            if (!isfinite(p[i + k]))
                return mv_fail(MV_ERR_FORMAT, "%s: video %zu frame %zu: non-finite pose value", a->path,
                               i / 6 / (size_t)a->shape[1], i / 6 % (size_t)a->shape[1]);
    }
    return MV_OK;
}

/* An optional integer field of index.json that must agree with the arrays. */
static mv_status index_agree(const char *path, const cJSON *root, const char *key, long long want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return MV_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)want)
        return mv_fail(MV_ERR_FORMAT, "%s: \"%s\" does not match the arrays (which say %lld)", path, key, want);
    return MV_OK;
}

static mv_status parse_index(mv_dataset *d, const char *path) {
    cJSON *root = cJSON_Parse(d->index_json);
    mv_status s = MV_OK;
    if (!root || !cJSON_IsObject(root)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: not a JSON object", path);
        goto fail;
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "format_version");
    if (!cJSON_IsNumber(ver)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: missing \"format_version\"", path);
        goto fail;
    }
    if (ver->valuedouble != DATASET_FORMAT_VERSION) {
        s = mv_fail(MV_ERR_FORMAT, "%s: format_version %g, this build reads version %d", path, ver->valuedouble,
                    DATASET_FORMAT_VERSION);
        goto fail;
    }
    if ((s = index_agree(path, root, "videos", d->videos)) != MV_OK) goto fail;
    if ((s = index_agree(path, root, "frames", d->frames_per_video)) != MV_OK) goto fail;
    if ((s = index_agree(path, root, "size", d->size)) != MV_OK) goto fail;
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(root, "split");
    if (split && !cJSON_IsString(split)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: \"split\" must be a string", path);
        goto fail;
    }
    if (split) snprintf(d->split, sizeof d->split, "%s", split->valuestring);
    const cJSON *poses = cJSON_GetObjectItemCaseSensitive(root, "has_poses");
    if (poses && !cJSON_IsBool(poses)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: \"has_poses\" must be true or false", path);
        goto fail;
    }
    d->has_poses = poses ? cJSON_IsTrue(poses) : strcmp(d->split, "import") != 0;
fail:
    cJSON_Delete(root);
    return s;
}

static mv_status open_member(const char *dir, const char *name, char **path) {
    struct stat st;
    if (!(*path = path_join(dir, name))) return mv_fail(MV_ERR_NOMEM, "out of memory");
    if (stat(*path, &st) != 0)
        return mv_fail(MV_ERR_IO, "%s: missing %s (a data set directory holds frames.npy, actions.npy and index.json)",
                       dir, name);
    return MV_OK;
}

mv_status mv_dataset_open(mv_dataset *d, const char *dir) {
    memset(d, 0, sizeof *d);
    char *fpath = NULL, *apath = NULL, *ipath = NULL;
    struct stat st;
    mv_status s;
    if (stat(dir, &st) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot open data set directory: %s", dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        s = mv_fail(MV_ERR_IO, "%s: not a directory (a data set is a directory)", dir);
        goto fail;
    }
    if (!(d->dir = malloc(strlen(dir) + 1))) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    strcpy(d->dir, dir);
    if ((s = open_member(dir, "frames.npy", &fpath)) != MV_OK) goto fail;
    if ((s = open_member(dir, "actions.npy", &apath)) != MV_OK) goto fail;
    if ((s = open_member(dir, "index.json", &ipath)) != MV_OK) goto fail;
    if ((s = mv_npy_open(&d->frames, fpath)) != MV_OK) goto fail;
    if ((s = check_frames(&d->frames)) != MV_OK) goto fail;
    if ((s = mv_npy_open(&d->actions, apath)) != MV_OK) goto fail;
    if ((s = check_actions(&d->actions, &d->frames)) != MV_OK) goto fail;
    d->videos = (int)d->frames.shape[0];
    d->frames_per_video = (int)d->frames.shape[1];
    d->size = (int)d->frames.shape[2];
    if ((s = mv_read_file(ipath, (size_t)1 << 30, &d->index_json, NULL)) != MV_OK) goto fail;
    if ((s = parse_index(d, ipath)) != MV_OK) goto fail;
    free(fpath), free(apath), free(ipath);
    return MV_OK;
fail:
    free(fpath), free(apath), free(ipath);
    mv_dataset_close(d);
    return s;
}

void mv_dataset_close(mv_dataset *d) {
    mv_npy_close(&d->frames);
    mv_npy_close(&d->actions);
    free(d->dir);
    free(d->index_json);
    memset(d, 0, sizeof *d);
}

double mv_dataset_world_width(const mv_dataset *d) {
    double w = 0;
    cJSON *j = d->index_json ? cJSON_Parse(d->index_json) : NULL;
    cJSON *ww = j ? cJSON_GetObjectItemCaseSensitive(j, "world_width") : NULL;
    if (cJSON_IsNumber(ww) && ww->valuedouble > 0) w = ww->valuedouble;
    cJSON_Delete(j);
    return w;
}
