/* The evaluation protocol loop and its per-(video, method) cache; see evaluate.h. */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/evaluate_internal.h"
#include "eval/metrics.h"
#include "io/files.h"
#include "io/tensorfile.h"
#include "models/checkpoint.h"
#include "rollout/rollout.h"

#define EV_BATCH 8 /* frames per autoencoder call */

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

mv_status mv_file_hash(const char *path, char out[17]) {
    FILE *f = fopen(path, "rb");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = 1469598103934665603ull;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 1099511628211ull;
    int err = ferror(f);
    fclose(f);
    if (err) return mv_fail(MV_ERR_IO, "%s: read error", path);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return MV_OK;
}

static void str_hash(const char *s, char out[17]) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* FNV-1a 64 over the evaluated part of video v: frames and actions [0, T). */
static uint64_t video_hash(const mv_dataset *d, int v, int T) {
    uint64_t h = 1469598103934665603ull;
    size_t fb = (size_t)T * d->size * d->size * 3, ab = (size_t)T * 6 * sizeof(float);
    const unsigned char *f = mv_dataset_frame(d, v, 0), *a = (const unsigned char *)mv_dataset_action(d, v, 0);
    for (size_t i = 0; i < fb; i++) h = (h ^ f[i]) * 1099511628211ull;
    for (size_t i = 0; i < ab; i++) h = (h ^ a[i]) * 1099511628211ull;
    return h;
}

/* The key of cache entry (method, video): everything its result depends on (the autoencoder and method
 * files, the video's data, context, frames, seed, sampler steps) and nothing else, so changing only the
 * summary options (revisit, long horizon) with --force reuses the cache. */
static void entry_key(const ev_run *r, int mi, int v, char out[17]) {
    char s[512];
    snprintf(s, sizeof s, "v1|%s|%016llx|%d|%d|%llu|%s|%d", r->ae_file_hash, (unsigned long long)r->vhash[v], r->C,
             r->T, (unsigned long long)r->p->seed, mi < r->nm ? r->m[mi].file_hash : "autoencoded",
             mi < r->nm ? r->m[mi].steps : 0);
    str_hash(s, out);
}


void ev_cache_path(char *dst, size_t n, const ev_run *r, int method, int video, const char *ext) {
    snprintf(dst, n, "%s/cache/%s/video_%d.%s", r->p->out_dir, r->m[method].name, video, ext);
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
    MV_TRY(mv_file_hash(p->ae_path, r->ae_file_hash));
    MV_TRY(mv_ae_load(&r->ae, p->ae_path, 0));
    r->ae_ok = 1;
    mv_ae_hash(&r->ae, r->ae_hash);
    r->H = r->ae.H;
    if (r->ae.H != d->size)
        return mv_fail(MV_ERR_SHAPE, "%s has %dx%d frames but the autoencoder %s expects %dx%d", p->data_dir, d->size,
                       d->size, p->ae_path, r->ae.H, r->ae.H);
    return MV_OK;
}

static mv_status check_dit_config(const char *path, const char *ae_path, const mv_config *c, const mv_ae *ae) {
    const struct {
        const char *key;
        int dit, ae;
    } k[] = {{"image_size", c->image_size, ae->H},
             {"patch", c->patch, ae->P},
             {"levels", c->levels, ae->L},
             {"latent_channels", c->latent_channels, ae->C}};
    for (size_t i = 0; i < MV_ARRAY_LEN(k); i++)
        if (k[i].dit != k[i].ae)
            return mv_fail(MV_ERR_SHAPE, "%s: config '%s' is %d, but the autoencoder %s has %d", path, k[i].key,
                           k[i].dit, ae_path, k[i].ae);
    return MV_OK;
}

/* Loads a DiT checkpoint (mv_dit_load) and checks it fits the autoencoder, the data and the context. */
static mv_status load_method(ev_run *r, ev_method *m) {
    const char *path = m->path;
    mv_ckpt_meta meta;
    MV_TRY(mv_file_hash(path, m->file_hash));
    mv_status s = mv_dit_load(&m->dit, path, &meta);
    if (s) return mv_fail_prefix(s, "method '%s'", m->name);
    m->dit_ok = 1;
    int fp = m->dit.kind == MV_DIT_FRAMEPACK;
    if (mv_method_from_string(meta.variant, &m->method) || (m->method == MV_METHOD_FRAMEPACK) != fp)
        return mv_fail(MV_ERR_FORMAT, "%s (method '%s'): unknown method kind '%s' for a %s model (expected %s)", path,
                       m->name, meta.variant, meta.model, fp ? "framepack" : "millivid or fullres");
    if (!meta.ae_hash[0])
        MV_WARN("%s: no ae_hash metadata; cannot check it was trained on %s", path, r->p->ae_path);
    else if (strcmp(meta.ae_hash, r->ae_hash))
        return mv_fail(MV_ERR_ARG, "%s (method '%s') was trained on another autoencoder (ae_hash %s), but --ae %s "
                       "has hash %s; evaluate it with the autoencoder it was trained on", path, m->name, meta.ae_hash,
                       r->p->ae_path, r->ae_hash);
    MV_TRY(check_dit_config(path, r->p->ae_path, &meta.config, &r->ae));
    if ((s = mv_schedule_build(&m->sched, m->method, &meta.config))) return mv_fail_prefix(s, "%s: stored config", path);
    m->steps = r->p->steps > 0 ? r->p->steps : meta.config.sample_steps;
    m->guidance = (float)meta.config.guidance;
    /* the checkpoint's eval.context records the preset at training time; the default follows its windows */
    m->reach_context = mv_config_reach(&meta.config) + 1;
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
        if (r->C < m->sched.S)
            return mv_fail(MV_ERR_ARG, "method '%s' (%s): its rollout needs at least %d context frames, got %s %d",
                           m->name, m->path, m->sched.S, how, r->C);
        mv_status s = mv_rollout_chunks(&m->sched, r->C, r->T, &cs0, &nch, &lim);
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
        r->reach[i] = (mv_reach){r->m[i].sched.S, r->m[i].sched.A};
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
    cJSON_AddStringToObject(j, "ae_file_hash", r->ae_file_hash);
    cJSON_AddStringToObject(j, "ae_hash", r->ae_hash);
    cJSON_AddStringToObject(j, "data", p->data_dir);
    uint64_t dh = 1469598103934665603ull;
    for (int v = 0; v < r->V; v++) dh = (dh ^ r->vhash[v]) * 1099511628211ull;
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
        cJSON_AddStringToObject(m, "file_hash", r->m[i].file_hash);
        cJSON_AddStringToObject(m, "kind", mv_method_name(r->m[i].method));
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
        MV_TRY(ev_read_text(path, &old));
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
    MV_TRY(ev_write_text(path, r->config_json));
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
    if (access(path, R_OK) || ev_read_text(path, &text)) {
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
    mv_status s = ev_write_text(path, text);
    free(text);
    return s;
}

/* ---------------------------------------------------------------- computing one video */

typedef struct {
    ev_run *r;
    mv_ae_work *work;
    int v;
    float *lat;     /* [T, Tpyr, C] latents of video v */
    float *patches; /* [EV_BATCH, Tpyr, 3P^2] */
    float *dec;     /* [EV_BATCH, Tpyr, 3P^2] */
    float *img;     /* [EV_BATCH, H, H, 3] */
    float *latb;    /* [EV_BATCH, Tpyr, C] pending level-0 frames to decode */
    int pending_first, pending;
    uint8_t *gen;   /* [G, H, H, 3] generated frames of the current entry */
    mv_progress prog;
    long done, total;
    int quiet;
} ev_video;

static void encode_video(ev_video *e) {
    const mv_ae *ae = &e->r->ae;
    for (int f0 = 0; f0 < e->r->T; f0 += EV_BATCH) {
        int n = MV_MIN(EV_BATCH, e->r->T - f0);
        mv_ae_pyramid_u8(ae, e->work, e->patches, mv_dataset_frame(&e->r->d, e->v, f0), n);
        mv_ae_encode(ae, e->work, e->lat + (size_t)f0 * ae->T * ae->C, e->patches, n);
    }
}

/* Decodes the pending latents (level 0 kept) into e->gen. */
static void flush_decode(ev_video *e) {
    if (!e->pending) return;
    const mv_ae *ae = &e->r->ae;
    int keep[EV_BATCH] = {0};
    mv_ae_decode(ae, e->work, e->dec, e->latb, keep, e->pending);
    mv_ae_image0(ae, e->img, e->dec, e->pending);
    size_t n = (size_t)e->pending * ae->H * ae->H * 3;
    uint8_t *dst = e->gen + (size_t)(e->pending_first - e->r->C) * ae->H * ae->H * 3;
    for (size_t i = 0; i < n; i++) {
        float x = e->img[i] < 0 ? 0 : e->img[i] > 1 ? 1 : e->img[i];
        dst[i] = (uint8_t)lrintf(x * 255.0f);
    }
    e->pending = 0;
}

static mv_status frame_cb(void *user, int frame, const float *level0) {
    ev_video *e = user;
    const mv_ae *ae = &e->r->ae;
    if (!e->pending) e->pending_first = frame;
    MV_ASSERT(frame == e->pending_first + e->pending && frame >= e->r->C && frame < e->r->T);
    float *dst = e->latb + (size_t)e->pending * ae->T * ae->C;
    memset(dst, 0, (size_t)ae->T * ae->C * sizeof(float));
    memcpy(dst, level0, (size_t)ae->tokens[0] * ae->C * sizeof(float));
    if (++e->pending == EV_BATCH || frame == e->r->T - 1) flush_decode(e);
    e->done++;
    if (!e->quiet) mv_progress_update(&e->prog, e->done, NULL);
    return MV_OK;
}

static mv_status context_cb(void *user, int frame, int level, float *dst) {
    ev_video *e = user;
    const mv_ae *ae = &e->r->ae;
    if (frame < 0 || frame >= e->r->C || level < 0 || level >= ae->L)
        return mv_fail(MV_ERR_INTERNAL, "rollout asked for context frame %d level %d", frame, level);
    memcpy(dst, e->lat + ((size_t)frame * ae->T + ae->offset[level]) * ae->C,
           (size_t)ae->tokens[level] * ae->C * sizeof(float));
    return MV_OK;
}

static mv_status run_method(ev_video *e, int mi) {
    ev_run *r = e->r;
    ev_method *m = &r->m[mi];
    size_t o = ev_idx(r, mi, e->v);
    double t0 = mv_now();
    if (mi == r->nm) { /* autoencoded: level 0 of the encoded ground truth */
        for (int f = r->C; f < r->T; f++) MV_TRY(frame_cb(e, f, e->lat + (size_t)f * r->ae.T * r->ae.C));
        r->dit_calls[o] = -1, r->tokens_per_step[o] = -1;
    } else {
        int *actions = malloc((size_t)r->T * sizeof(int));
        if (!actions) return mv_fail(MV_ERR_NOMEM, "out of memory");
        for (int f = 0; f < r->T; f++) actions[f] = (int)lrintf(mv_dataset_action(&r->d, e->v, f)[0]);
        mv_rollout_params rp;
        mv_rollout_params_init(&rp);
        rp.context = r->C, rp.frames = r->T, rp.sample_steps = m->steps, rp.guidance = m->guidance;
        rp.seed = r->p->seed + (uint64_t)e->v * 0x9E3779B97F4A7C15ull;
        rp.actions = actions;
        rp.context_fn = context_cb, rp.context_user = e, rp.frame_fn = frame_cb, rp.frame_user = e;
        mv_rollout_stats st;
        mv_status s = mv_rollout_run(&m->dit, &m->sched, &rp, &st);
        free(actions);
        if (s) return mv_fail_prefix(s, "method '%s', video %d", m->name, e->v);
        r->dit_calls[o] = st.dit_calls, r->tokens_per_step[o] = st.tokens_per_step;
    }
    flush_decode(e);
    r->seconds[o] = mv_now() - t0;
    double *ps = r->psnr + o * r->G, *ss = r->ssim + o * r->G;
    mv_metrics_u8_frames(ps, ss, e->gen, mv_dataset_frame(&r->d, e->v, r->C), r->G, r->H, r->H);
    for (int i = 0; i < r->G; i++) ps[i] = MV_MIN(ps[i], EV_PSNR_CAP);
    MV_TRY(cache_save(r, mi, e->v, e->gen));
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

static mv_status alloc_video(ev_video *e, ev_run *r) {
    const mv_ae *ae = &r->ae;
    size_t Tp = (size_t)ae->T;
    MV_TRY(mv_ae_work_create(&e->work, ae, EV_BATCH, 0));
    e->lat = mv_alloc((size_t)r->T * Tp * ae->C * sizeof(float));
    e->patches = mv_alloc(EV_BATCH * Tp * ae->PD * sizeof(float));
    e->dec = mv_alloc(EV_BATCH * Tp * ae->PD * sizeof(float));
    e->img = mv_alloc((size_t)EV_BATCH * ae->H * ae->H * 3 * sizeof(float));
    e->latb = mv_alloc(EV_BATCH * Tp * ae->C * sizeof(float));
    e->gen = mv_alloc((size_t)r->G * ae->H * ae->H * 3);
    if (!e->lat || !e->patches || !e->dec || !e->img || !e->latb || !e->gen) return MV_ERR_NOMEM;
    return MV_OK;
}

static void free_video(ev_video *e) {
    mv_ae_work_free(e->work);
    mv_free(e->lat), mv_free(e->patches), mv_free(e->dec), mv_free(e->img), mv_free(e->latb), mv_free(e->gen);
}

static mv_status compute_all(ev_run *r) {
    int nent = r->nm + 1;
    uint8_t *todo = calloc((size_t)nent * r->V, 1);
    if (!todo) return mv_fail(MV_ERR_NOMEM, "out of memory");
    long total = 0;
    for (int v = 0; v < r->V; v++)
        for (int mi = 0; mi < nent; mi++)
            if (!cache_load(r, mi, v)) todo[mi * r->V + v] = 1, total += r->G;
            else r->cached++;
    ev_video e;
    memset(&e, 0, sizeof e);
    e.r = r, e.quiet = r->p->quiet, e.total = total;
    mv_status s = MV_OK;
    if (r->cached) MV_INFO("cache: %d of %d (video, method) entries reused", r->cached, nent * r->V);
    if (total == 0) goto done;
    if ((s = alloc_video(&e, r))) goto done;
    if (!e.quiet) mv_progress_start(&e.prog, "eval", total, "frames");
    for (int v = 0; v < r->V && !s; v++) {
        int any = 0;
        for (int mi = 0; mi < nent; mi++) any |= todo[mi * r->V + v];
        if (!any) continue;
        e.v = v;
        encode_video(&e);
        for (int mi = 0; mi < nent && !s; mi++)
            if (todo[mi * r->V + v]) s = run_method(&e, mi);
    }
    if (!s && !e.quiet) mv_progress_end(&e.prog, e.done, NULL);
done:
    free_video(&e);
    free(todo);
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
    for (int i = 0; i < r->nm; i++) {
        if (r->m[i].dit_ok) mv_dit_free(&r->m[i].dit);
        mv_schedule_free(&r->m[i].sched);
    }
    if (r->ae_ok) mv_ae_free(&r->ae);
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
