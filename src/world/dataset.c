/* `millivid world` data sets: per-video worlds and walks, frames.npy / actions.npy streamed to disk,
 * index.json, optional mp4s, all written into DIR.tmp-XXXXXX and renamed into place at the end. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/files.h"
#include "io/tensorfile.h"
#include "io/video.h"
#include "world/world.h"

void mv_world_params_init(mv_world_params *p) {
    memset(p, 0, sizeof *p);
    p->videos = 16;
    p->frames = 256;
    p->size = 64;
    p->seed = 0;
    p->context = 128;
    p->candidates = 100;
    p->keep_fraction = 0.1;
    p->threads = 0;
}

mv_status mv_world_params_check(const mv_world_params *p) {
    if (!p->out || !p->out[0]) return mv_fail(MV_ERR_ARG, "world: --out DIR is required");
    if (p->size < 8 || p->size > 256 || p->size % 8)
        return mv_fail(MV_ERR_ARG, "world: --size must be a multiple of 8 in [8, 256], got %d", p->size);
    if (p->videos < 1 || p->videos > 1000000)
        return mv_fail(MV_ERR_ARG, "world: --videos must be in [1, 1000000], got %d", p->videos);
    if (p->frames < 1 || p->frames > 100000)
        return mv_fail(MV_ERR_ARG, "world: --frames must be in [1, 100000], got %d", p->frames);
    if (p->seed < 0) return mv_fail(MV_ERR_ARG, "world: --seed must be >= 0, got %ld", p->seed);
    if (p->test_split) {
        if (p->context < 1 || p->context >= p->frames)
            return mv_fail(MV_ERR_ARG, "world: --context must be in [1, frames-1] = [1, %d], got %d",
                           p->frames - 1, p->context);
        if (p->candidates < 1 || p->candidates > 100000)
            return mv_fail(MV_ERR_ARG, "world: --candidates must be in [1, 100000], got %d", p->candidates);
        if (!(p->keep_fraction > 0 && p->keep_fraction <= 1))
            return mv_fail(MV_ERR_ARG, "world: --keep-fraction must be in (0, 1], got %g", p->keep_fraction);
    }
    return MV_OK;
}

uint32_t mv_world_video_seed(long seed, int video) {
    mv_rng base;
    mv_rng_init(&base, (uint64_t)seed);
    mv_rng f = mv_rng_fork(&base, (uint64_t)video);
    uint32_t o[4];
    mv_philox(f.seed, 0, o);
    return o[0];
}

mv_status mv_world_video(const mv_world_params *p, int video, const mv_world *w, float *a6, uint8_t *rgb) {
    int T = p->frames, S = p->size;
    uint8_t *acts = malloc((size_t)T);
    if (!acts) return mv_fail(MV_ERR_NOMEM, "world: out of memory");
    mv_rng base, r;
    mv_rng_init(&base, mv_world_video_seed(p->seed, video));
    r = mv_rng_fork(&base, 1);
    mv_status st = MV_OK;
    if (p->test_split) st = mv_policy_test(&r, T, p->context, p->candidates, p->keep_fraction, acts);
    else mv_policy_train(&r, T, acts);
    if (st != MV_OK) goto fail;
    mv_agent ag;
    mv_agent_reset(&ag, w); /* the reset observation is not saved */
    for (int i = 0; i < T; i++) {
        mv_agent_step(&ag, w, acts[i]);
        float *q = a6 + (size_t)i * 6;
        q[0] = acts[i], q[1] = (float)ag.x, q[2] = (float)ag.y, q[3] = (float)ag.z;
        q[4] = (float)ag.yaw, q[5] = (float)ag.pitch;
        if (rgb) mv_world_render(w, q[1], q[2], q[3], q[4], q[5], S, rgb + (size_t)i * S * S * 3);
    }
fail:
    free(acts);
    return st;
}

/* ---------------- directories ---------------- */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}
static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* 1 if path exists and is a non-empty directory; -1 if it exists and is not a directory. */
static int dir_state(const char *path, int *exists) {
    struct stat sb;
    *exists = stat(path, &sb) == 0;
    if (!*exists) return 0;
    if (!S_ISDIR(sb.st_mode)) return -1;
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n > 0;
}

static mv_status out_prepare(const mv_world_params *p, char *tmp, size_t cap) {
    int exists, st = dir_state(p->out, &exists);
    if (st < 0) return mv_fail(MV_ERR_ARG, "world: %s exists and is not a directory", p->out);
    if (st > 0 && !p->force)
        return mv_fail(MV_ERR_ARG, "world: %s is not empty (use --force to replace it)", p->out);
    size_t n = strlen(p->out);
    while (n > 1 && p->out[n - 1] == '/') n--;
    if ((size_t)snprintf(tmp, cap, "%.*s.tmp-XXXXXX", (int)n, p->out) >= cap)
        return mv_fail(MV_ERR_ARG, "world: output path too long: %s", p->out);
    MV_TRY(mv_make_parent_dirs(p->out));
    if (!mkdtemp(tmp))
        return mv_fail(MV_ERR_IO, "world: cannot write next to %s (creating %s: %s)", p->out, tmp, strerror(errno));
    mode_t mask = umask(0);
    umask(mask);
    chmod(tmp, 0777 & ~mask);
    return MV_OK;
}

static mv_status out_commit(const mv_world_params *p, const char *tmp) {
    int exists, st = dir_state(p->out, &exists);
    char old[4200] = "";
    if (exists) {
        snprintf(old, sizeof old, "%s.old-%ld", tmp, (long)getpid());
        if (st == 0 ? rmdir(p->out) != 0 : rename(p->out, old) != 0)
            return mv_fail(MV_ERR_IO, "world: cannot replace %s: %s", p->out, strerror(errno));
    }
    if (rename(tmp, p->out) != 0)
        return mv_fail(MV_ERR_IO, "world: cannot rename %s to %s: %s", tmp, p->out, strerror(errno));
    if (exists && st > 0) rm_tree(old);
    return MV_OK;
}

/* ---------------- index.json ---------------- */
static mv_status index_write(const mv_world_params *p, const char *dir) {
    cJSON *j = cJSON_CreateObject(), *seeds = cJSON_CreateArray(), *cols = cJSON_CreateArray();
    const char *colnames[] = {"id", "x", "y", "z", "yaw_deg", "pitch_deg"};
    cJSON_AddNumberToObject(j, "format_version", 1);
    cJSON_AddStringToObject(j, "generator", "millivid world " MV_VERSION_STRING);
    cJSON_AddStringToObject(j, "split", p->test_split ? "test" : "train");
    cJSON_AddNumberToObject(j, "videos", p->videos);
    cJSON_AddNumberToObject(j, "frames", p->frames);
    cJSON_AddNumberToObject(j, "size", p->size);
    cJSON_AddNumberToObject(j, "seed", (double)p->seed);
    if (p->test_split) {
        cJSON_AddNumberToObject(j, "context", p->context);
        cJSON_AddNumberToObject(j, "candidates", p->candidates);
        cJSON_AddNumberToObject(j, "keep_fraction", p->keep_fraction);
    }
    cJSON_AddBoolToObject(j, "has_poses", 1);
    cJSON_AddBoolToObject(j, "mp4", p->mp4);
    cJSON_AddNumberToObject(j, "fps", 20);
    cJSON_AddNumberToObject(j, "fov_deg", MV_WORLD_FOV);
    cJSON_AddNumberToObject(j, "pitch_deg", MV_WORLD_PITCH);
    cJSON_AddNumberToObject(j, "turn_deg", MV_WORLD_TURN);
    cJSON_AddNumberToObject(j, "hold_frames", MV_WORLD_HOLD);
    cJSON_AddNumberToObject(j, "forward_speed", 0.2);
    cJSON_AddNumberToObject(j, "eye_height", 1.6);
    cJSON_AddNumberToObject(j, "fog_distance", MV_WORLD_FOG);
    cJSON_AddNumberToObject(j, "world_width", MV_WORLD_W);
    cJSON_AddNumberToObject(j, "world_height", MV_WORLD_H);
    cJSON_AddNumberToObject(j, "sea_level", MV_WORLD_SEA);
    cJSON_AddStringToObject(j, "actions", "0 forward, 1 left (yaw -10), 2 right (yaw +10); actions[i] produced frame i");
    cJSON_AddStringToObject(j, "pose", "x, y, z: feet centre (eye 1.6 above), unwrapped; world wraps every 256 in x and z");
    for (int i = 0; i < 6; i++) cJSON_AddItemToArray(cols, cJSON_CreateString(colnames[i]));
    cJSON_AddItemToObject(j, "action_columns", cols);
    for (int v = 0; v < p->videos; v++) cJSON_AddItemToArray(seeds, cJSON_CreateNumber(mv_world_video_seed(p->seed, v)));
    cJSON_AddItemToObject(j, "world_seeds", seeds);
    char *text = cJSON_Print(j), path[4300];
    cJSON_Delete(j);
    if (!text) return mv_fail(MV_ERR_NOMEM, "world: out of memory for index.json");
    snprintf(path, sizeof path, "%s/index.json", dir);
    FILE *f = fopen(path, "w");
    mv_status st = MV_OK;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0) st = mv_fail(MV_ERR_IO, "world: cannot write %s", path);
    if (f && fclose(f) != 0 && st == MV_OK) st = mv_fail(MV_ERR_IO, "world: cannot write %s", path);
    cJSON_free(text);
    return st;
}

/* ---------------- writer ---------------- */
#define DS_BATCH 16 /* frames rendered per parallel region */
typedef struct {
    mv_npy_writer *frames, *actions;
    float *a6;    /* [T, 6] */
    uint8_t *rgb; /* [DS_BATCH, S, S, 3] */
    mv_progress prog;
} ds_state;

static mv_status ds_video(const mv_world_params *p, ds_state *s, const char *dir, int v) {
    int T = p->frames, S = p->size;
    mv_world *w = NULL;
    mv_video_writer *vw = NULL;
    mv_status st = mv_world_create(&w, mv_world_video_seed(p->seed, v));
    if (st != MV_OK) return st;
    if ((st = mv_world_video(p, v, w, s->a6, NULL)) != MV_OK) goto fail;
    if (p->mp4) {
        char path[4300];
        snprintf(path, sizeof path, "%s/videos/%05d.mp4", dir, v);
        if ((st = mv_video_writer_open(&vw, path, S, S, 20, 18)) != MV_OK) goto fail;
    }
    for (int i0 = 0; i0 < T; i0 += DS_BATCH) {
        int nb = MV_MIN(DS_BATCH, T - i0);
        if ((st = mv_world_render_batch(w, s->a6 + (size_t)i0 * 6, nb, S, s->rgb)) != MV_OK) goto fail;
        if ((st = mv_npy_writer_append(s->frames, s->rgb, (size_t)nb * S * S * 3)) != MV_OK) goto fail;
        for (int i = 0; vw && i < nb; i++)
            if ((st = mv_video_writer_add(vw, s->rgb + (size_t)i * S * S * 3)) != MV_OK) goto fail;
        if (!p->quiet) mv_progress_update(&s->prog, (long)v * T + i0 + nb, NULL);
    }
    if ((st = mv_npy_writer_append(s->actions, s->a6, sizeof(float) * 6 * (size_t)T)) != MV_OK) goto fail;
    if (vw) {
        st = mv_video_writer_close(vw);
        vw = NULL;
    }
fail:
    if (vw) mv_video_writer_abort(vw);
    mv_world_free(w);
    return st;
}

mv_status mv_world_write_dataset(const mv_world_params *p) {
    MV_TRY(mv_world_params_check(p));
    char tmp[4096], path[4300];
    MV_TRY(out_prepare(p, tmp, sizeof tmp));
    if (p->threads > 0) mv_set_threads(p->threads);
    int N = p->videos, T = p->frames, S = p->size;
    ds_state s = {0};
    mv_status st = MV_ERR_NOMEM;
    s.a6 = malloc(sizeof(float) * 6 * (size_t)T);
    s.rgb = malloc((size_t)DS_BATCH * S * S * 3);
    if (!s.a6 || !s.rgb) {
        st = mv_fail(MV_ERR_NOMEM, "world: out of memory");
        goto fail;
    }
    int64_t fshape[5] = {N, T, S, S, 3}, ashape[3] = {N, T, 6};
    snprintf(path, sizeof path, "%s/frames.npy", tmp);
    if ((st = mv_npy_writer_open(&s.frames, path, MV_DT_U8, 5, fshape)) != MV_OK) goto fail;
    snprintf(path, sizeof path, "%s/actions.npy", tmp);
    if ((st = mv_npy_writer_open(&s.actions, path, MV_DT_F32, 3, ashape)) != MV_OK) goto fail;
    snprintf(path, sizeof path, "%s/videos", tmp);
    if (p->mp4 && mkdir(path, 0777) != 0) {
        st = mv_fail(MV_ERR_IO, "world: cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!p->quiet) mv_progress_start(&s.prog, "world", (long)N * T, "frames");
    for (int v = 0; v < N; v++)
        if ((st = ds_video(p, &s, tmp, v)) != MV_OK) goto fail;
    if (!p->quiet) mv_progress_end(&s.prog, (long)N * T, NULL);
    st = mv_npy_writer_finish(s.frames);
    s.frames = NULL;
    if (st != MV_OK) goto fail;
    st = mv_npy_writer_finish(s.actions);
    s.actions = NULL;
    if (st != MV_OK) goto fail;
    if ((st = index_write(p, tmp)) != MV_OK) goto fail;
    if ((st = out_commit(p, tmp)) != MV_OK) goto fail;
    free(s.a6);
    free(s.rgb);
    return MV_OK;
fail:
    if (s.frames) mv_npy_writer_abort(s.frames);
    if (s.actions) mv_npy_writer_abort(s.actions);
    free(s.a6);
    free(s.rgb);
    rm_tree(tmp);
    return st;
}
