/* `millivid import`: user videos (+ JSON-lines actions) -> a millivid data set directory.
 * Pass 1 decodes each video once (one at a time, constant memory) into a raw scratch file inside the
 * temporary output directory and counts its frames; pass 2 streams the first T frames of each into
 * frames.npy with the streaming .npy writer. The temporary directory is renamed into place at the end. */
#include "io/import.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/actions.h"
#include "io/files.h"
#include "io/tensorfile.h"
#include "io/video.h"

void mv_import_params_init(mv_import_params *p) {
    memset(p, 0, sizeof *p);
    p->size = 64;
}

mv_status mv_import_params_check(const mv_import_params *p) {
    if (!p->out || !p->out[0]) return mv_fail(MV_ERR_ARG, "no output directory (--out DIR)");
    if (p->size < 8 || p->size > 1024 || p->size % 8)
        return mv_fail(MV_ERR_ARG, "--size must be a multiple of 8 in [8, 1024], got %d", p->size);
    if (!(p->fps >= 0) || p->fps > 1000)
        return mv_fail(MV_ERR_ARG, "--fps must be in (0, 1000], got %g", p->fps);
    if (p->frames < 0) return mv_fail(MV_ERR_ARG, "--frames must be positive, got %d", p->frames);
    if (p->n_videos <= 0) return mv_fail(MV_ERR_ARG, "no input videos given");
    if (p->n_actions != 0 && p->n_actions != p->n_videos)
        return mv_fail(MV_ERR_ARG, "--actions: %d actions files for %d videos (give one per video, in the same order)",
                       p->n_actions, p->n_videos);
    return MV_OK;
}

/* ---------------------------------------------------------------- directories */

/* Removes a directory this run created and the plain files in it (never recurses further). */
static void remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4400];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* 1 when dir exists and has entries, 0 when missing or empty; error when it is not a directory. */
static mv_status dir_state(const char *dir, int *nonempty, int *exists) {
    struct stat st;
    *nonempty = *exists = 0;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT) return MV_OK;
        return mv_fail(MV_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return mv_fail(MV_ERR_IO, "%s: exists and is not a directory", dir);
    *exists = 1;
    DIR *d = opendir(dir);
    if (!d) return mv_fail(MV_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) *nonempty = 1;
    closedir(d);
    return MV_OK;
}

static const char *const out_files[] = {"frames.npy", "actions.npy", "index.json"};

/* Moves the finished files from tmp to out: rename the directory when out is missing or empty,
 * otherwise (--force) replace the three files one by one. */
static mv_status move_into_place(const char *tmp, const char *out) {
    int nonempty, exists;
    char a[4200], b[4200];
    MV_TRY(dir_state(out, &nonempty, &exists));
    if (exists && !nonempty && rmdir(out) != 0)
        return mv_fail(MV_ERR_IO, "%s: cannot replace: %s", out, strerror(errno));
    if (!nonempty) {
        if (rename(tmp, out) != 0)
            return mv_fail(MV_ERR_IO, "%s: cannot rename %s into place: %s", out, tmp, strerror(errno));
        return MV_OK;
    }
    for (size_t i = 0; i < MV_ARRAY_LEN(out_files); i++) {
        snprintf(a, sizeof a, "%s/%s", tmp, out_files[i]);
        snprintf(b, sizeof b, "%s/%s", out, out_files[i]);
        if (rename(a, b) != 0)
            return mv_fail(MV_ERR_IO, "%s: cannot move into place: %s", b, strerror(errno));
    }
    remove_flat_dir(tmp);
    return MV_OK;
}

/* ---------------------------------------------------------------- the import */

typedef struct {
    const mv_import_params *p;
    char tmp[4096];
    int64_t *counts; /* [n_videos] frames decoded (after fps resampling) */
    int **ids;       /* [n_videos] action ids or NULL */
    int *n_ids;      /* [n_videos] */
    double fps0;     /* source rate of the first video */
    mv_progress bar;
    long done, total;
} import_ctx;

static void raw_path(const import_ctx *c, int v, char *buf, size_t n) {
    snprintf(buf, n, "%s/.raw-%05d.u8", c->tmp, v);
}

/* Opens every video once (fails early on a bad one) to sum the frame-count hints for the progress bar. */
static mv_status import_probe(import_ctx *c) {
    const mv_import_params *p = c->p;
    for (int v = 0; v < p->n_videos; v++) {
        mv_video_reader *r;
        MV_TRY(mv_video_reader_open(&r, p->videos[v], p->size, p->fps));
        int64_t hint = mv_video_reader_frames_hint(r);
        double fps = mv_video_reader_fps(r);
        mv_video_reader_close(r);
        if (v == 0)
            c->fps0 = fps;
        else if (p->fps <= 0 && fabs(fps - c->fps0) > 1e-3)
            MV_WARN("%s: %.3g fps but %s has %.3g fps (use --fps to resample them to one rate)", p->videos[v],
                    fps, p->videos[0], c->fps0);
        c->total += hint > 0 ? (long)hint : 1;
    }
    return MV_OK;
}

/* Pass 1 for one video: decode every frame into its raw scratch file; keep at most `keep` frames. */
static mv_status import_decode(import_ctx *c, int v) {
    const mv_import_params *p = c->p;
    size_t fb = (size_t)p->size * p->size * 3;
    char raw[4200];
    mv_status s = MV_OK;
    mv_video_reader *r = NULL;
    int got = 0;
    raw_path(c, v, raw, sizeof raw);
    uint8_t *frame = malloc(fb); /* [S, S, 3] */
    FILE *f = fopen(raw, "wb");
    if (!frame || !f) {
        s = frame ? mv_fail(MV_ERR_IO, "%s: cannot create: %s", raw, strerror(errno))
                  : mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = mv_video_reader_open(&r, p->videos[v], p->size, p->fps)) != MV_OK) goto fail;
    int64_t n = 0;
    for (;;) {
        if ((s = mv_video_reader_next(r, frame, &got)) != MV_OK) goto fail;
        if (!got) break;
        if ((p->frames <= 0 || n < p->frames) && fwrite(frame, 1, fb, f) != fb) {
            s = mv_fail(MV_ERR_IO, "%s: write failed (disk full?): %s", raw, strerror(errno));
            goto fail;
        }
        n++, c->done++;
        if (!p->quiet) {
            if (c->done > c->bar.total) c->bar.total = c->done;
            mv_progress_update(&c->bar, c->done, p->videos[v]);
        }
    }
    c->counts[v] = n;
    if (fclose(f) != 0) {
        f = NULL;
        s = mv_fail(MV_ERR_IO, "%s: write failed: %s", raw, strerror(errno));
        goto fail;
    }
    f = NULL;
    if (c->ids && c->n_ids[v] != n) {
        s = mv_fail(MV_ERR_SHAPE, "%s has %d actions but %s has %lld frames%s (one action per frame)",
                    p->actions[v], c->n_ids[v], p->videos[v], (long long)n,
                    p->fps > 0 ? " after resampling to --fps" : "");
        goto fail;
    }
fail:
    if (f) fclose(f);
    mv_video_reader_close(r);
    free(frame);
    return s;
}

/* Pass 2: frames.npy from the raw files (first T frames of each), then actions.npy. */
static mv_status import_write_arrays(import_ctx *c, int T) {
    const mv_import_params *p = c->p;
    size_t fb = (size_t)p->size * p->size * 3;
    char path[4200], raw[4200];
    mv_status s = MV_OK;
    mv_npy_writer *w = NULL;
    FILE *f = NULL;
    uint8_t *frame = malloc(fb);                /* [S, S, 3] */
    float *act = malloc(sizeof(float) * 6 * T); /* [T, 6] */
    if (!frame || !act) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t fshape[5] = {p->n_videos, T, p->size, p->size, 3};
    snprintf(path, sizeof path, "%s/frames.npy", c->tmp);
    if ((s = mv_npy_writer_open(&w, path, MV_DT_U8, 5, fshape)) != MV_OK) goto fail;
    for (int v = 0; v < p->n_videos; v++) {
        raw_path(c, v, raw, sizeof raw);
        if (!(f = fopen(raw, "rb"))) {
            s = mv_fail(MV_ERR_IO, "%s: cannot reopen: %s", raw, strerror(errno));
            goto fail;
        }
        for (int t = 0; t < T; t++) {
            if (fread(frame, 1, fb, f) != fb) {
                s = mv_fail(MV_ERR_IO, "%s: short read", raw);
                goto fail;
            }
            if ((s = mv_npy_writer_append(w, frame, fb)) != MV_OK) goto fail;
        }
        fclose(f);
        f = NULL;
        unlink(raw);
    }
    s = mv_npy_writer_finish(w);
    w = NULL;
    if (s != MV_OK) goto fail;
    int64_t ashape[3] = {p->n_videos, T, 6};
    snprintf(path, sizeof path, "%s/actions.npy", c->tmp);
    if ((s = mv_npy_writer_open(&w, path, MV_DT_F32, 3, ashape)) != MV_OK) goto fail;
    for (int v = 0; v < p->n_videos; v++) {
        memset(act, 0, sizeof(float) * 6 * T);
        for (int t = 0; t < T; t++) act[6 * t] = c->ids ? (float)c->ids[v][t] : -1.0f;
        if ((s = mv_npy_writer_append(w, act, sizeof(float) * 6 * T)) != MV_OK) goto fail;
    }
    s = mv_npy_writer_finish(w);
    w = NULL;
fail:
    if (w) mv_npy_writer_abort(w);
    if (f) fclose(f);
    free(frame);
    free(act);
    return s;
}

static mv_status import_write_index(const import_ctx *c, int T) {
    const mv_import_params *p = c->p;
    char path[4200];
    mv_status s = MV_OK;
    char *text = NULL;
    cJSON *root = cJSON_CreateObject(), *src = cJSON_CreateArray(), *cnt = cJSON_CreateArray();
    cJSON *acts = p->n_actions ? cJSON_CreateArray() : cJSON_CreateNull();
    if (!root || !src || !cnt || !acts) {
        cJSON_Delete(src), cJSON_Delete(cnt), cJSON_Delete(acts);
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "split", "import");
    cJSON_AddNumberToObject(root, "videos", p->n_videos);
    cJSON_AddNumberToObject(root, "frames", T);
    cJSON_AddNumberToObject(root, "size", p->size);
    cJSON_AddNumberToObject(root, "fps", p->fps > 0 ? p->fps : c->fps0);
    cJSON_AddBoolToObject(root, "has_poses", 0);
    for (int v = 0; v < p->n_videos; v++) {
        cJSON_AddItemToArray(src, cJSON_CreateString(p->videos[v]));
        cJSON_AddItemToArray(cnt, cJSON_CreateNumber((double)c->counts[v]));
        if (p->n_actions) cJSON_AddItemToArray(acts, cJSON_CreateString(p->actions[v]));
    }
    cJSON_AddItemToObject(root, "sources", src);
    cJSON_AddItemToObject(root, "source_frames", cnt);
    cJSON_AddItemToObject(root, "actions_files", acts);
    text = cJSON_Print(root);
    snprintf(path, sizeof path, "%s/index.json", c->tmp);
    FILE *f = text ? fopen(path, "wb") : NULL;
    if (!f) {
        s = mv_fail(MV_ERR_IO, "%s: cannot create: %s", path, text ? strerror(errno) : "out of memory");
        goto fail;
    }
    int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (fclose(f) != 0 || bad) s = mv_fail(MV_ERR_IO, "%s: write failed", path);
fail:
    cJSON_Delete(root);
    free(text);
    return s;
}

/* T: --frames, or the shortest video (with a warning when lengths differ). */
static mv_status import_pick_length(const import_ctx *c, int *T) {
    const mv_import_params *p = c->p;
    int shortest = 0, longest = 0;
    for (int v = 1; v < p->n_videos; v++) {
        if (c->counts[v] < c->counts[shortest]) shortest = v;
        if (c->counts[v] > c->counts[longest]) longest = v;
    }
    if (p->frames > 0) {
        if (c->counts[shortest] < p->frames)
            return mv_fail(MV_ERR_SHAPE, "%s: has %lld frames, fewer than --frames %d", p->videos[shortest],
                           (long long)c->counts[shortest], p->frames);
        *T = p->frames;
        return MV_OK;
    }
    if (c->counts[shortest] > INT32_MAX / 2)
        return mv_fail(MV_ERR_SHAPE, "%s: too many frames", p->videos[shortest]);
    *T = (int)c->counts[shortest];
    if (c->counts[longest] != c->counts[shortest])
        MV_WARN("videos differ in length: cutting all to %d frames, the length of the shortest (%s); "
                "the longest (%s) has %lld (use --frames to choose)",
                *T, p->videos[shortest], p->videos[longest], (long long)c->counts[longest]);
    return MV_OK;
}

static mv_status import_prepare(import_ctx *c) {
    const mv_import_params *p = c->p;
    int nonempty, exists;
    MV_TRY(dir_state(p->out, &nonempty, &exists));
    if (nonempty && !p->force)
        return mv_fail(MV_ERR_IO, "%s: output directory is not empty (use --force to replace its data set)",
                       p->out);
    size_t len = strlen(p->out);
    while (len > 1 && p->out[len - 1] == '/') len--;
    snprintf(c->tmp, sizeof c->tmp, "%.*s.import-tmp-%ld", (int)len, p->out, (long)getpid());
    remove_flat_dir(c->tmp); /* a leftover from a crashed run with the same pid */
    MV_TRY(mv_make_parent_dirs(p->out));
    if (mkdir(c->tmp, 0755) != 0)
        return mv_fail(MV_ERR_IO, "%s: cannot create the temporary directory: %s", c->tmp, strerror(errno));
    return MV_OK;
}

static mv_status import_read_all_actions(import_ctx *c) {
    const mv_import_params *p = c->p;
    if (!p->n_actions) return MV_OK;
    c->ids = calloc(p->n_videos, sizeof *c->ids);
    c->n_ids = calloc(p->n_videos, sizeof *c->n_ids);
    if (!c->ids || !c->n_ids) return mv_fail(MV_ERR_NOMEM, "out of memory");
    for (int v = 0; v < p->n_videos; v++)
        MV_TRY(mv_actions_read_jsonl(p->actions[v], &c->ids[v], &c->n_ids[v]));
    return MV_OK;
}

mv_status mv_import_run(const mv_import_params *p) {
    import_ctx c = {.p = p};
    mv_status s = MV_OK;
    int T = 0, tmp_made = 0, bar_open = 0;
    MV_TRY(mv_import_params_check(p));
    c.counts = calloc(p->n_videos, sizeof *c.counts);
    if (!c.counts) return mv_fail(MV_ERR_NOMEM, "out of memory");
    if ((s = import_read_all_actions(&c)) != MV_OK) goto fail;
    if ((s = import_probe(&c)) != MV_OK) goto fail;
    if ((s = import_prepare(&c)) != MV_OK) goto fail;
    tmp_made = 1;
    if (!p->quiet) {
        mv_progress_start(&c.bar, "import", c.total, "frames");
        bar_open = 1;
    }
    for (int v = 0; v < p->n_videos; v++)
        if ((s = import_decode(&c, v)) != MV_OK) goto fail;
    if (bar_open) {
        mv_progress_end(&c.bar, c.done, NULL);
        bar_open = 0;
    }
    if ((s = import_pick_length(&c, &T)) != MV_OK) goto fail;
    if ((s = import_write_arrays(&c, T)) != MV_OK) goto fail;
    if ((s = import_write_index(&c, T)) != MV_OK) goto fail;
    if ((s = move_into_place(c.tmp, p->out)) != MV_OK) goto fail;
    tmp_made = 0;
    MV_INFO("import: wrote %s: %d videos x %d frames of %dx%d", p->out, p->n_videos, T, p->size, p->size);
fail:
    if (bar_open) fprintf(stderr, "\n");
    if (tmp_made) remove_flat_dir(c.tmp);
    for (int v = 0; c.ids && v < p->n_videos; v++) free(c.ids[v]);
    free(c.ids);
    free(c.n_ids);
    free(c.counts);
    return s;
}
