/* The evaluation protocol loop and its per-(video, method) cache; see evaluate.h. */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/evaluate_internal.h"
#include "eval/metrics.h"
#include "io/files.h"
#include "io/tensorfile.h"
#include "rollout/rollout.h"

void mv_eval_params_init(mv_eval_params *p) {
    memset(p, 0, sizeof *p);
    mv_revisit_params_init(&p->revisit);
    p->revisit.wrap_blocks = -1;
    p->long_fraction = 0.5;
    p->side_by_side = 4;
    /* The frames right after the context are trivially near its last poses; a revisit is a return
     * to a place seen at least 32 frames (1.6 s) earlier. */
    p->revisit_min_gap = 32;
}

/* FNV-1a 64 over the evaluated part of video v: frames and actions [0, T). */
static uint64_t video_hash(const mv_dataset *d, int v, int T) {
    uint64_t h = mv_fnv1a(MV_HASH_SEED, mv_dataset_frame(d, v, 0), (size_t)T * d->size * d->size * 3);
    return mv_fnv1a(h, mv_dataset_action(d, v, 0), (size_t)T * 6 * sizeof(float));
}

/* The key of cache entry (method, video): everything its result depends on (the autoencoder and method
 * files, the video's data, context, frames, seed, sampler steps) and nothing else, so changing only the
 * summary options (revisit, long horizon) with --force reuses the cache. */
static void entry_key(const ev_run *r, int mi, int v, char out[17]) {
    char s[512];
    snprintf(s, sizeof s, "v1|%s|%016llx|%d|%d|%llu|%s|%d", r->ae.file_hash, (unsigned long long)r->vhash[v], r->C,
             r->T, (unsigned long long)r->p->seed, mi < r->nm ? r->m[mi].model.file_hash : "autoencoded",
             mi < r->nm ? r->m[mi].steps : 0);
    snprintf(out, 17, "%016llx", (unsigned long long)mv_fnv1a(MV_HASH_SEED, s, strlen(s)));
}

/* ---------------------------------------------------------------- checking the inputs */

static mv_status check_params(const mv_eval_params *p) {
    if (!p->ae_path || !p->data_dir || !p->out_dir)
        return mv_fail(MV_ERR_ARG, "the autoencoder, the test data and the output folder are required");
    if (p->n_methods < 1 || p->n_methods > MV_EVAL_MAX_METHODS)
        return mv_fail(MV_ERR_ARG, "need 1 to %d methods, got %d", MV_EVAL_MAX_METHODS, p->n_methods);
    if (p->context < 0) return mv_fail(MV_ERR_ARG, "the context length must be >= 1 (0: the default), got %d",
                                       p->context);
    if (!(p->long_fraction > 0 && p->long_fraction <= 1))
        return mv_fail(MV_ERR_ARG, "the long-horizon fraction must be in (0, 1], got %g", p->long_fraction);
    for (int i = 0; i < p->n_methods; i++) {
        const char *n = p->methods[i].name;
        if (!n || !*n || strlen(n) > 48) return mv_fail(MV_ERR_ARG, "method %d: name missing or too long", i + 1);
        for (const char *c = n; *c; c++)
            if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-' || *c == '.'))
                return mv_fail(MV_ERR_ARG, "method name '%s': use letters, digits, '_', '-' and '.' only", n);
        if (!strcmp(n, "autoencoded") || !strcmp(n, "random") || !strcmp(n, "hold_last") ||
            !strcmp(n, "ground_truth"))
            return mv_fail(MV_ERR_ARG, "method name '%s' is reserved for a bound; choose another", n);
        for (int j = 0; j < i; j++)
            if (!strcmp(n, p->methods[j].name)) return mv_fail(MV_ERR_ARG, "method name '%s' given twice", n);
        if (!p->methods[i].path) return mv_fail(MV_ERR_ARG, "method '%s': no checkpoint file", n);
    }
    return MV_OK;
}

static mv_status open_inputs(ev_run *r) {
    const mv_eval_params *p = r->p;
    MV_TRY(mv_dataset_open(&r->d, p->data_dir));
    r->d_ok = 1;
    const mv_dataset *d = &r->d;
    if (p->videos > d->videos)
        return mv_fail(MV_ERR_ARG, "%s: --videos %d but the data set has only %d videos", p->data_dir, p->videos,
                       d->videos);
    r->V = p->videos ? p->videos : d->videos;
    if (p->frames > d->frames_per_video)
        return mv_fail(MV_ERR_ARG, "%s: --frames %d but its videos have only %d frames", p->data_dir, p->frames,
                       d->frames_per_video);
    r->T = p->frames ? p->frames : d->frames_per_video;
    if (r->V < 2)
        return mv_fail(MV_ERR_ARG, "%s: need at least 2 test videos (the random-video bound pairs videos), got %d",
                       p->data_dir, r->V);
    if (!p->no_revisit && !d->has_poses)
        return mv_fail(MV_ERR_ARG,
                       "%s: the data set has no camera poses (has_poses false), so revisits cannot be found; "
                       "pass --no-revisit to evaluate without the revisit summary", p->data_dir);
    r->wrap = p->revisit.wrap_blocks >= 0 ? p->revisit.wrap_blocks : mv_dataset_world_width(d);
    if (!(r->vhash = malloc((size_t)r->V * sizeof(uint64_t)))) return mv_fail(MV_ERR_NOMEM, "out of memory");
    for (int v = 0; v < r->V; v++) r->vhash[v] = video_hash(d, v, r->T);
    MV_TRY(mv_gen_ae_load(&r->ae, p->ae_path));
    r->H = r->ae.ae.H;
    if (r->H != d->size)
        return mv_fail(MV_ERR_SHAPE, "%s has %dx%d frames but the autoencoder %s expects %dx%d", p->data_dir, d->size,
                       d->size, p->ae_path, r->H, r->H);
    return MV_OK;
}

/* Loads a DiT checkpoint through the generator (method, autoencoder fit) and takes its sampling settings. */
static mv_status load_method(ev_run *r, ev_method *m) {
    mv_status s = mv_gen_model_load(&m->model, m->path, &r->ae, NULL, 0);
    if (s) return mv_fail_prefix(s, "method '%s'", m->name);
    const mv_config *c = &m->model.meta.config;
    m->steps = r->p->steps > 0 ? r->p->steps : c->sample_steps;
    m->guidance = mv_gen_model_guidance(&m->model, -1);
    /* the checkpoint's eval.context records the preset at training time; the default follows its windows */
    m->reach_context = mv_gen_model_default_context(&m->model);
    return MV_OK;
}

/* The context a test split chose its loops for (index.json "context" when "split" is "test"); -1 otherwise. */
static int data_cut(const mv_dataset *d) {
    int cut = -1;
    cJSON *j = d->index_json ? cJSON_Parse(d->index_json) : NULL;
    cJSON *sp = j ? cJSON_GetObjectItemCaseSensitive(j, "split") : NULL;
    cJSON *c = j ? cJSON_GetObjectItemCaseSensitive(j, "context") : NULL;
    if (cJSON_IsString(sp) && !strcmp(sp->valuestring, "test") && cJSON_IsNumber(c)) cut = c->valueint;
    cJSON_Delete(j);
    return cut;
}

/* The context: --context, or the largest MilliVid reach + 1 of the checkpoints; then checks it against the
 * video, every method's schedule and the test split's cut. */
static mv_status resolve_context(ev_run *r) {
    const mv_eval_params *p = r->p;
    r->C = p->context;
    for (int i = 0; i < r->nm && !p->context; i++) r->C = MV_MAX(r->C, r->m[i].reach_context);
    const char *how = p->context ? "--context" : "the default context (the MilliVid reach + 1 of the checkpoints)";
    if (!p->context) MV_INFO("context: %d frames, the MilliVid reach + 1 of the checkpoints' configurations", r->C);
    if (r->C >= r->T)
        return mv_fail(MV_ERR_ARG, "%s: %s is %d frames; it must be shorter than the evaluated video (%d frames)",
                       p->data_dir, how, r->C, r->T);
    r->G = r->T - r->C;
    for (int i = 0; i < r->nm; i++) {
        ev_method *m = &r->m[i];
        int cs0, nch, lim;
        if (r->C < m->model.sched.S)
            return mv_fail(MV_ERR_ARG, "method '%s' (%s): its rollout needs at least %d context frames, got %s %d",
                           m->name, m->path, m->model.sched.S, how, r->C);
        mv_status s = mv_rollout_chunks(&m->model.sched, r->C, r->T, &cs0, &nch, &lim);
        if (s) return mv_fail_prefix(s, "method '%s' (%s)", m->name, m->path);
    }
    int cut = data_cut(&r->d);
    if (cut > 0 && cut != r->C)
        MV_WARN("%s: the test split chose its loops for a context of %d frames (index.json), but this evaluation "
                "gives %d: its loop selection no longer matches; make the split with `millivid world --split test "
                "--context %d`", p->data_dir, cut, r->C, r->C);
    return MV_OK;
}

static mv_status load_methods(ev_run *r) {
    const mv_eval_params *p = r->p;
    r->nm = p->n_methods;
    for (int i = 0; i < r->nm; i++) {
        snprintf(r->m[i].name, sizeof r->m[i].name, "%s", p->methods[i].name);
        r->m[i].path = p->methods[i].path;
        MV_TRY(load_method(r, &r->m[i]));
    }
    static const char *const bounds[EV_BOUNDS] = {"autoencoded", "random", "hold_last"};
    for (int b = 0; b < EV_BOUNDS; b++) {
        snprintf(r->m[r->nm + b].name, sizeof r->m[0].name, "%s", bounds[b]);
        r->m[r->nm + b].is_bound = 1;
    }
    MV_TRY(resolve_context(r));
    for (int i = 0; i < r->nm; i++) {
        r->reach[i] = (mv_reach){r->m[i].model.sched.S, r->m[i].model.sched.A};
        if (r->reach[i].back > r->reach[r->reach_lead].back) r->reach_lead = i;
    }
    return MV_OK;
}

/* ---------------------------------------------------------------- configuration and output folder */

static mv_status build_config(ev_run *r) {
    const mv_eval_params *p = r->p;
    cJSON *j = cJSON_CreateObject();
    if (!j) return mv_fail(MV_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(j, "ae", p->ae_path);
    cJSON_AddStringToObject(j, "ae_file_hash", r->ae.file_hash);
    cJSON_AddStringToObject(j, "ae_hash", r->ae.hash);
    cJSON_AddStringToObject(j, "data", p->data_dir);
    uint64_t dh = MV_HASH_SEED; /* FNV-1a over the videos' hashes, one step per video */
    for (int v = 0; v < r->V; v++) dh = mv_fnv1a_step(dh, r->vhash[v]);
    char dhs[17];
    snprintf(dhs, sizeof dhs, "%016llx", (unsigned long long)dh);
    cJSON_AddStringToObject(j, "data_hash", dhs);
    cJSON_AddNumberToObject(j, "data_videos", r->d.videos);
    cJSON_AddNumberToObject(j, "data_frames", r->d.frames_per_video);
    cJSON_AddNumberToObject(j, "videos", r->V);
    cJSON_AddNumberToObject(j, "context", r->C);
    cJSON_AddNumberToObject(j, "frames", r->T);
    cJSON_AddNumberToObject(j, "steps", p->steps);
    cJSON_AddNumberToObject(j, "seed", (double)p->seed);
    cJSON_AddBoolToObject(j, "revisit", !p->no_revisit);
    cJSON_AddNumberToObject(j, "revisit_radius", p->revisit.radius_blocks);
    cJSON_AddNumberToObject(j, "revisit_yaw", p->revisit.yaw_deg);
    cJSON_AddNumberToObject(j, "revisit_wrap", r->wrap);
    cJSON_AddNumberToObject(j, "revisit_min_gap", p->revisit_min_gap);
    cJSON_AddNumberToObject(j, "long_fraction", p->long_fraction);
    cJSON *ms = cJSON_AddArrayToObject(j, "methods");
    for (int i = 0; i < r->nm; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "name", r->m[i].name);
        cJSON_AddStringToObject(m, "checkpoint", r->m[i].path);
        cJSON_AddStringToObject(m, "file_hash", r->m[i].model.file_hash);
        cJSON_AddStringToObject(m, "kind", mv_method_name(r->m[i].model.method));
        cJSON_AddNumberToObject(m, "sample_steps", r->m[i].steps);
        cJSON_AddItemToArray(ms, m);
    }
    r->config_json = cJSON_Print(j);
    cJSON_Delete(j);
    if (!r->config_json) return mv_fail(MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

/* Names the first top-level key whose value differs between two config.json texts. */
static void config_diff(const char *a, const char *b, char *key, size_t n) {
    cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
    snprintf(key, n, "?");
    for (cJSON *it = ja ? ja->child : NULL; it; it = it->next) {
        cJSON *o = jb ? cJSON_GetObjectItemCaseSensitive(jb, it->string) : NULL;
        if (!o || !cJSON_Compare(it, o, 1)) {
            snprintf(key, n, "%s", it->string);
            break;
        }
    }
    cJSON_Delete(ja);
    cJSON_Delete(jb);
}

static int dir_is_empty(const char *path) {
    char probe[1200];
    const char *names[] = {"metrics.json", "report.html", "summary.md", "cache"};
    for (size_t i = 0; i < MV_ARRAY_LEN(names); i++) {
        snprintf(probe, sizeof probe, "%s/%s", path, names[i]);
        if (access(probe, F_OK) == 0) return 0;
    }
    return 1;
}

static mv_status prepare_out(ev_run *r) {
    const char *out = r->p->out_dir;
    char path[1200];
    MV_TRY(mv_make_dirs(out));
    snprintf(path, sizeof path, "%s/config.json", out);
    char *old = NULL;
    if (access(path, F_OK) == 0) {
        MV_TRY(mv_read_file(path, EV_TEXT_MAX, &old, NULL));
        int same = !strcmp(old, r->config_json);
        char key[128];
        if (!same) config_diff(r->config_json, old, key, sizeof key);
        free(old);
        if (!same && !r->p->force)
            return mv_fail(MV_ERR_ARG, "%s: this folder holds an evaluation with another configuration ('%s' "
                           "differs); use another --out, or --force to replace its results", path, key);
        if (!same) MV_WARN("%s: another configuration ('%s' differs); --force: its results are replaced", path, key);
    } else if (!dir_is_empty(out) && !r->p->force) {
        return mv_fail(MV_ERR_ARG, "%s: holds evaluation results but no config.json; use another --out, or --force",
                       out);
    }
    MV_TRY(mv_write_file_atomic(path, r->config_json, strlen(r->config_json)));
    snprintf(path, sizeof path, "%s/cache", out);
    MV_TRY(mv_make_dirs(path));
    for (int i = 0; i <= r->nm; i++) {
        snprintf(path, sizeof path, "%s/cache/%s", out, r->m[i].name);
        MV_TRY(mv_make_dirs(path));
    }
    return MV_OK;
}

/* ---------------------------------------------------------------- the cache */

static double json_num(const cJSON *a) { return cJSON_IsNumber(a) ? a->valuedouble : NAN; }

/* Loads entry (method, video) when its json matches this configuration and its frames exist. */
static int cache_load(ev_run *r, int mi, int v) {
    char path[1200];
    char *text = NULL;
    ev_cache_path(path, sizeof path, r, mi, v, "npy");
    if (access(path, R_OK)) return 0;
    ev_cache_path(path, sizeof path, r, mi, v, "json");
    if (access(path, R_OK) || mv_read_file(path, EV_TEXT_MAX, &text, NULL)) {
        mv_clear_error();
        return 0;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    int ok = 0;
    cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "key");
    char key[17];
    entry_key(r, mi, v, key);
    cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "psnr"), *ss = cJSON_GetObjectItemCaseSensitive(j, "ssim");
    if (cJSON_IsString(h) && !strcmp(h->valuestring, key) && cJSON_GetArraySize(ps) == r->G &&
        cJSON_GetArraySize(ss) == r->G) {
        size_t o = ev_idx(r, mi, v);
        double *pp = r->psnr + o * r->G, *sp = r->ssim + o * r->G;
        for (int i = 0; i < r->G; i++) {
            pp[i] = json_num(cJSON_GetArrayItem(ps, i));
            sp[i] = json_num(cJSON_GetArrayItem(ss, i));
        }
        r->dit_calls[o] = (long)json_num(cJSON_GetObjectItemCaseSensitive(j, "dit_calls"));
        r->tokens_per_step[o] = (int)json_num(cJSON_GetObjectItemCaseSensitive(j, "tokens_per_step"));
        r->seconds[o] = json_num(cJSON_GetObjectItemCaseSensitive(j, "seconds"));
        ok = 1;
    }
    cJSON_Delete(j);
    return ok;
}

/* Frames first (npy), then the json that makes the entry valid. gen: [G, H, H, 3]. */
static mv_status cache_save(ev_run *r, int mi, int v, const uint8_t *gen) {
    char path[1200];
    ev_cache_path(path, sizeof path, r, mi, v, "npy");
    int64_t shape[4] = {r->G, r->H, r->H, 3};
    MV_TRY(mv_npy_save(path, MV_DT_U8, 4, shape, gen));
    size_t o = ev_idx(r, mi, v);
    cJSON *j = cJSON_CreateObject();
    char key[17];
    entry_key(r, mi, v, key);
    cJSON_AddStringToObject(j, "key", key);
    cJSON_AddStringToObject(j, "method", r->m[mi].name);
    cJSON_AddNumberToObject(j, "video", v);
    cJSON_AddNumberToObject(j, "first_frame", r->C);
    cJSON_AddNumberToObject(j, "dit_calls", (double)r->dit_calls[o]);
    cJSON_AddNumberToObject(j, "tokens_per_step", r->tokens_per_step[o]);
    cJSON_AddNumberToObject(j, "seconds", r->seconds[o]);
    cJSON *ps = cJSON_AddArrayToObject(j, "psnr"), *ss = cJSON_AddArrayToObject(j, "ssim");
    for (int i = 0; i < r->G; i++) {
        cJSON_AddItemToArray(ps, cJSON_CreateNumber(r->psnr[o * r->G + i]));
        cJSON_AddItemToArray(ss, cJSON_CreateNumber(r->ssim[o * r->G + i]));
    }
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return mv_fail(MV_ERR_NOMEM, "out of memory");
    ev_cache_path(path, sizeof path, r, mi, v, "json");
    mv_status s = mv_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

/* ---------------------------------------------------------------- computing one video */

/* Progress over all workers: frames done of all frames to compute (updated under a critical section). */
typedef struct {
    mv_progress prog;
    long done, total;
    int quiet;
} ev_progress;

/* One worker's state: the latents of the video it works on and the frames of its current entry. */
typedef struct {
    ev_run *r;
    ev_progress *pg;
    mv_gen_work *work;
    int v;          /* the video whose latents lat holds (-1: none) */
    float *lat;     /* [T, T_pyr, C] latents of video v */
    uint8_t *gen;   /* [G, H, H, 3] generated frames of the current entry */
} ev_video;

static mv_status frame_cb(void *user, int frame, const uint8_t *rgb) {
    ev_video *e = user;
    size_t px = (size_t)e->r->H * e->r->H * 3;
    MV_ASSERT(frame >= e->r->C && frame < e->r->T);
    memcpy(e->gen + (size_t)(frame - e->r->C) * px, rgb, px);
    ev_progress *pg = e->pg;
#pragma omp critical(ev_progress)
    {
        pg->done++;
        if (!pg->quiet) mv_progress_update(&pg->prog, pg->done, NULL);
    }
    return MV_OK;
}

/* Entry (method mi, video e->v): the rollout (or the autoencoded bound), its metrics and its cache files.
 * The rollout's noise comes from the video's own stream (seed + v * golden ratio), so the result does not
 * depend on which worker computes it or when. */
static mv_status run_method(ev_video *e, int mi) {
    ev_run *r = e->r;
    ev_method *m = &r->m[mi];
    const mv_ae *ae = &r->ae.ae;
    size_t o = ev_idx(r, mi, e->v);
    double t0 = mv_now();
    if (mi == r->nm) { /* autoencoded: level 0 of the encoded ground truth */
        MV_TRY(mv_gen_decode(ae, e->work, e->lat + (size_t)r->C * ae->T * ae->C, r->C, r->G, frame_cb, e));
        r->dit_calls[o] = -1, r->tokens_per_step[o] = -1;
    } else {
        int *actions = malloc((size_t)r->T * sizeof(int));
        if (!actions) return mv_fail(MV_ERR_NOMEM, "out of memory");
        for (int f = 0; f < r->T; f++) actions[f] = (int)lrintf(mv_dataset_action(&r->d, e->v, f)[0]);
        mv_gen_request rq;
        mv_gen_request_init(&rq);
        rq.context_lat = e->lat, rq.context = r->C, rq.frames = r->T, rq.actions = actions;
        rq.sample_steps = m->steps, rq.guidance = m->guidance;
        rq.seed = r->p->seed + (uint64_t)e->v * 0x9E3779B97F4A7C15ull;
        rq.frame_fn = frame_cb, rq.frame_user = e;
        mv_rollout_stats st;
        mv_status s = mv_gen_rollout(&m->model, ae, e->work, &rq, &st);
        free(actions);
        if (s) return mv_fail_prefix(s, "method '%s', video %d", m->name, e->v);
        r->dit_calls[o] = st.dit_calls, r->tokens_per_step[o] = st.tokens_per_step;
    }
    r->seconds[o] = mv_now() - t0;
    double *ps = r->psnr + o * r->G, *ss = r->ssim + o * r->G;
    mv_metrics_u8_frames(ps, ss, e->gen, mv_dataset_frame(&r->d, e->v, r->C), r->G, r->H, r->H);
    for (int i = 0; i < r->G; i++) ps[i] = MV_MIN(ps[i], EV_PSNR_CAP);
    MV_TRY(cache_save(r, mi, e->v, e->gen));
#pragma omp atomic
    r->computed++;
    return MV_OK;
}

static void random_bound(ev_run *r) {
    int mi = r->nm + 1;
    for (int v = 0; v < r->V; v++) {
        size_t o = ev_idx(r, mi, v);
        double *ps = r->psnr + o * r->G, *ss = r->ssim + o * r->G;
        mv_metrics_u8_frames(ps, ss, mv_dataset_frame(&r->d, r->partner[v], r->C), mv_dataset_frame(&r->d, v, r->C),
                             r->G, r->H, r->H);
        for (int i = 0; i < r->G; i++) ps[i] = MV_MIN(ps[i], EV_PSNR_CAP);
        r->dit_calls[o] = -1, r->tokens_per_step[o] = -1, r->seconds[o] = NAN;
    }
}

/* "hold_last": every generated frame compared with the last ground-truth context frame. */
static void hold_bound(ev_run *r) {
    int mi = r->nm + 2;
    for (int v = 0; v < r->V; v++) {
        size_t o = ev_idx(r, mi, v);
        double *ps = r->psnr + o * r->G, *ss = r->ssim + o * r->G;
        const uint8_t *last = mv_dataset_frame(&r->d, v, r->C - 1);
#pragma omp parallel for schedule(dynamic, 4)
        for (int i = 0; i < r->G; i++) {
            const uint8_t *gt = mv_dataset_frame(&r->d, v, r->C + i);
            ps[i] = MV_MIN(mv_psnr_u8(last, gt, r->H, r->H), EV_PSNR_CAP);
            ss[i] = mv_ssim_u8(last, gt, r->H, r->H);
        }
        r->dit_calls[o] = -1, r->tokens_per_step[o] = -1, r->seconds[o] = NAN;
    }
}

static mv_status alloc_video(ev_video *e, ev_run *r, ev_progress *pg) {
    const mv_ae *ae = &r->ae.ae;
    memset(e, 0, sizeof *e);
    e->r = r, e->pg = pg, e->v = -1;
    MV_TRY(mv_gen_work_create(&e->work, ae));
    e->lat = mv_alloc((size_t)r->T * ae->T * ae->C * sizeof(float));
    e->gen = mv_alloc((size_t)r->G * ae->H * ae->H * 3);
    if (!e->lat || !e->gen) return mv_fail(MV_ERR_NOMEM, "out of memory for the latents of a %d-frame video", r->T);
    return MV_OK;
}

static void free_video(ev_video *e) {
    mv_gen_work_free(e->work);
    mv_free(e->lat), mv_free(e->gen);
}

/* Computes entry (method mi, video v), encoding the video first unless the worker holds its latents. */
static mv_status run_entry(ev_video *e, int mi, int v) {
    ev_run *r = e->r;
    if (e->v != v) {
        mv_gen_encode(&r->ae.ae, e->work, e->lat, mv_dataset_frame(&r->d, v, 0), r->T);
        e->v = v;
    }
    return run_method(e, mi);
}

/* The relative cost of entry (method mi, any video): DiT calls x tokens per call; the autoencoded bound
 * (a decode only) costs 0. Used only to order the work, never to compute a result. */
static double entry_cost(const ev_run *r, int mi) {
    if (mi >= r->nm) return 0;
    const ev_method *m = &r->m[mi];
    int cs0, nch, lim;
    if (mv_rollout_chunks(&m->model.sched, r->C, r->T, &cs0, &nch, &lim)) {
        mv_clear_error();
        return 0;
    }
    return (double)nch * m->model.sched.nsteps * m->steps * (m->guidance != 1.0f ? 2 : 1) *
           m->model.sched.tokens_per_step_max;
}

typedef struct {
    int unit;    /* mi * V + v */
    double cost; /* entry_cost */
} ev_unit;

/* Most expensive first; among equals video-major, so a worker often keeps its video's latents. */
static int unit_order(const void *a, const void *b) {
    const ev_unit *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->unit - y->unit;
}

/* Computes every (video, method) entry the cache does not hold.
 * Every entry is computed with one thread per model call: the DiT's kernels do not give the same bits at
 * every thread count, so this is what makes an entry's frames independent of --threads, of which worker
 * computes it and of what the cache already held (a resumed run matches a fresh one). --threads N runs N
 * entries side by side (a 320-token DiT call is too small to keep several cores busy anyway). The most
 * expensive entries go first (entry_cost), so the last ones to finish are short and no worker idles long
 * at the end; a worker encodes a video again only when its next entry is of another video. */
static mv_status compute_all(ev_run *r) {
    int nent = r->nm + 1;
    ev_unit *units = malloc((size_t)nent * r->V * sizeof(ev_unit)); /* pending entries */
    if (!units) return mv_fail(MV_ERR_NOMEM, "out of memory");
    ev_progress pg = {.quiet = r->p->quiet};
    int nu = 0;
    for (int v = 0; v < r->V; v++)
        for (int mi = 0; mi < nent; mi++)
            if (!cache_load(r, mi, v)) units[nu++] = (ev_unit){mi * r->V + v, entry_cost(r, mi)}, pg.total += r->G;
            else r->cached++;
    qsort(units, nu, sizeof *units, unit_order);
    if (r->cached) MV_INFO("cache: %d of %d (video, method) entries reused", r->cached, nent * r->V);
    mv_status s = MV_OK;
    if (nu == 0) goto done;
    if (!pg.quiet) mv_progress_start(&pg.prog, "eval", pg.total, "frames");
    int workers = MV_MAX(1, MV_MIN(mv_get_threads(), nu));
    char err[1024] = ""; /* the first failure's message (messages are per thread) */
    int max_levels = omp_get_max_active_levels();
    omp_set_max_active_levels(1);
#pragma omp parallel num_threads(workers)
    {
        omp_set_num_threads(1); /* this worker's model calls and OpenMP loops: one thread */
        ev_video e;
        mv_status ws = alloc_video(&e, r, &pg);
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < nu; i++) {
            mv_status failed;
#pragma omp atomic read
            failed = s;
            if (!ws && !failed) ws = run_entry(&e, units[i].unit / r->V, units[i].unit % r->V);
        }
#pragma omp critical(ev_error)
        if (ws && !s) {
            snprintf(err, sizeof err, "%s", mv_last_error());
#pragma omp atomic write
            s = ws;
        }
        free_video(&e);
    }
    omp_set_max_active_levels(max_levels);
    if (s) {
        mv_fail(s, "%s", err);
        goto done;
    }
    if (!pg.quiet) mv_progress_end(&pg.prog, pg.done, NULL);
done:
    free(units);
    return s;
}

/* ---------------------------------------------------------------- the whole run */

static mv_status alloc_results(ev_run *r) {
    size_t ne = (size_t)ev_rows(r) * r->V;
    r->psnr = malloc(ne * r->G * sizeof(double));
    r->ssim = malloc(ne * r->G * sizeof(double));
    r->dit_calls = calloc(ne, sizeof(long));
    r->tokens_per_step = calloc(ne, sizeof(int));
    r->seconds = calloc(ne, sizeof(double));
    r->mask = calloc((size_t)r->V * r->T, 1);
    r->reach_mask = calloc((size_t)r->V * r->T, 1);
    r->partner = calloc((size_t)r->V, sizeof(int));
    if (!r->psnr || !r->ssim || !r->dit_calls || !r->tokens_per_step || !r->seconds || !r->mask || !r->reach_mask ||
        !r->partner)
        return mv_fail(MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

static mv_status revisits(ev_run *r) {
    MV_TRY(mv_random_partners(r->partner, r->V, r->p->seed));
    if (r->p->no_revisit) return MV_OK;
    mv_revisit_params rp = r->p->revisit;
    rp.wrap_blocks = r->wrap;
    for (int v = 0; v < r->V; v++) {
        const float *poses = mv_dataset_action(&r->d, v, 0);
        mv_status s = mv_revisit_mask_gap(r->mask + (size_t)v * r->T, NULL, poses, r->T, r->C, &rp,
                                          r->p->revisit_min_gap);
        if (!s)
            s = mv_revisit_mask_reach(r->reach_mask + (size_t)v * r->T, NULL, poses, r->T, r->C, &rp,
                                      r->p->revisit_min_gap, r->reach, r->nm);
        if (s) return mv_fail_prefix(s, "%s: video %d", r->p->data_dir, v);
    }
    return MV_OK;
}

static void free_run(ev_run *r) {
    for (int i = 0; i < r->nm; i++) mv_gen_model_free(&r->m[i].model);
    mv_gen_ae_free(&r->ae);
    if (r->d_ok) mv_dataset_close(&r->d);
    free(r->config_json);
    free(r->psnr), free(r->ssim), free(r->dit_calls), free(r->tokens_per_step), free(r->seconds);
    free(r->mask), free(r->reach_mask), free(r->partner), free(r->vhash);
    mv_training_free(&r->training);
}

mv_status mv_eval_run(const mv_eval_params *p, mv_eval_result *res) {
    ev_run *r = calloc(1, sizeof *r);
    if (!r) return mv_fail(MV_ERR_NOMEM, "out of memory");
    r->p = p;
    mv_status s;
    if ((s = check_params(p))) goto fail;
    if (p->training_dir && (s = mv_training_read(&r->training, p->training_dir))) goto fail;
    if ((s = open_inputs(r))) goto fail;
    if ((s = load_methods(r))) goto fail;
    if ((s = build_config(r))) goto fail;
    MV_INFO("eval configuration:\n%s", r->config_json);
    if ((s = prepare_out(r))) goto fail;
    if ((s = alloc_results(r))) goto fail;
    if ((s = revisits(r))) goto fail;
    if ((s = compute_all(r))) goto fail;
    random_bound(r);
    hold_bound(r);
    char summary[1024];
    if ((s = ev_write_outputs(r, summary, sizeof summary))) goto fail;
    if (res) {
        res->entries_total = (r->nm + 1) * r->V;
        res->entries_computed = r->computed;
        res->entries_cached = r->cached;
        snprintf(res->summary_path, sizeof res->summary_path, "%s", summary);
    }
fail:
    free_run(r);
    free(r);
    return s;
}
