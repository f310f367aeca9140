/* The generation pipeline (see generator.h) and the public generation API of include/millivid.h. */
#include "pipeline/generator.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "io/dataset.h"
#include "io/files.h"

/* ---------------------------------------------------------------- models */

mv_status mv_gen_ae_load(mv_gen_ae *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->path = path;
    MV_TRY(mv_file_hash(path, a->file_hash));
    MV_TRY(mv_ae_load(&a->ae, path, 0));
    a->loaded = 1;
    mv_ae_hash(&a->ae, a->hash);
    return MV_OK;
}

void mv_gen_ae_free(mv_gen_ae *a) {
    if (a->loaded) mv_ae_free(&a->ae);
    a->loaded = 0;
}

/* The checkpoint's method (meta.variant) must name a method the model kind can run. */
static mv_status model_method(mv_gen_model *m) {
    if (mv_method_from_string(m->meta.variant, &m->method) || mv_method_dit_kind(m->method) != m->dit.kind) {
        mv_clear_error();
        return mv_fail(MV_ERR_FORMAT, "%s: unknown method kind '%s' for a %s model (expected %s)", m->path,
                       m->meta.variant, m->meta.model,
                       m->dit.kind == MV_DIT_FRAMEPACK ? "framepack" : "millivid or fullres");
    }
    return MV_OK;
}

static mv_status check_fit(const mv_gen_model *m, const mv_gen_ae *a, int allow_ae_mismatch) {
    const mv_config *c = &m->meta.config;
    const mv_ae *ae = &a->ae;
    const struct {
        const char *key;
        int dit, ae;
    } k[] = {{"image_size", c->image_size, ae->H},
             {"patch", c->patch, ae->P},
             {"levels", c->levels, ae->L},
             {"latent_channels", c->latent_channels, ae->C}};
    for (size_t i = 0; i < MV_ARRAY_LEN(k); i++)
        if (k[i].dit != k[i].ae)
            return mv_fail(MV_ERR_SHAPE, "%s: config '%s' is %d, but the autoencoder %s has %d", m->path, k[i].key,
                           k[i].dit, a->path, k[i].ae);
    if (!m->meta.ae_hash[0]) {
        MV_WARN("%s: no ae_hash metadata; cannot check it was trained on %s", m->path, a->path);
    } else if (strcmp(m->meta.ae_hash, a->hash)) {
        if (!allow_ae_mismatch)
            return mv_fail(MV_ERR_ARG, "%s was trained on another autoencoder (ae_hash %s), but %s has hash %s; use "
                           "the autoencoder it was trained on", m->path, m->meta.ae_hash, a->path, a->hash);
        MV_WARN("%s was trained on latents of autoencoder %s, but %s is %s (mismatch allowed)", m->path,
                m->meta.ae_hash, a->path, a->hash);
    }
    return MV_OK;
}

mv_status mv_gen_model_load(mv_gen_model *m, const char *path, const mv_gen_ae *ae, const char *expect_method,
                            int allow_ae_mismatch) {
    memset(m, 0, sizeof *m);
    m->path = path;
    mv_method want = MV_METHOD_MILLIVID;
    if (expect_method) MV_TRY(mv_method_from_string(expect_method, &want));
    MV_TRY(mv_file_hash(path, m->file_hash));
    MV_TRY(mv_dit_load(&m->dit, path, &m->meta));
    m->loaded = 1;
    MV_TRY(model_method(m));
    if (expect_method && want != m->method)
        return mv_fail(MV_ERR_ARG, "%s: checkpoint was trained for method '%s', not %s", path, m->meta.variant,
                       mv_method_name(want));
    MV_TRY(check_fit(m, ae, allow_ae_mismatch));
    mv_status s = mv_schedule_build(&m->sched, m->method, &m->meta.config);
    if (s) return mv_fail_prefix(s, "%s: stored config", path);
    return MV_OK;
}

void mv_gen_model_free(mv_gen_model *m) {
    if (m->loaded) mv_dit_free(&m->dit);
    mv_schedule_free(&m->sched);
    m->loaded = 0;
}

int mv_gen_model_default_context(const mv_gen_model *m) { return mv_config_reach(&m->meta.config) + 1; }

float mv_gen_model_guidance(const mv_gen_model *m, double requested) {
    if (m->method == MV_METHOD_FRAMEPACK) return 1.0f;
    return (float)(requested >= 0 ? requested : m->meta.config.guidance);
}

/* ---------------------------------------------------------------- per-thread work */

struct mv_gen_work {
    const mv_ae *ae;
    mv_ae_work *aw;
    float *patches; /* [MV_GEN_BATCH, T_pyr, 3P^2] */
    float *dec;     /* [MV_GEN_BATCH, T_pyr, 3P^2] */
    float *img;     /* [MV_GEN_BATCH, H, W, 3] */
    float *latb;    /* [MV_GEN_BATCH, T_pyr, C] level-0 frames waiting to be decoded */
    uint8_t *rgb;   /* [MV_GEN_BATCH, H, W, 3] */
    /* the rollout's decode queue */
    int pending_first, pending;
    mv_gen_frame_fn fn;
    void *user;
};

mv_status mv_gen_work_create(mv_gen_work **out, const mv_ae *ae) {
    *out = NULL;
    mv_gen_work *w = calloc(1, sizeof *w);
    if (!w) return mv_fail(MV_ERR_NOMEM, "out of memory");
    size_t Tp = (size_t)ae->T, px = (size_t)ae->H * ae->H * 3;
    w->ae = ae;
    mv_status s = mv_ae_work_create(&w->aw, ae, MV_GEN_BATCH, 0);
    if (s) {
        free(w);
        return s;
    }
    w->patches = mv_alloc(MV_GEN_BATCH * Tp * ae->PD * sizeof(float));
    w->dec = mv_alloc(MV_GEN_BATCH * Tp * ae->PD * sizeof(float));
    w->img = mv_alloc(MV_GEN_BATCH * px * sizeof(float));
    w->latb = mv_alloc(MV_GEN_BATCH * Tp * ae->C * sizeof(float));
    w->rgb = mv_alloc(MV_GEN_BATCH * px);
    if (!w->patches || !w->dec || !w->img || !w->latb || !w->rgb) {
        mv_gen_work_free(w);
        return mv_fail(MV_ERR_NOMEM, "out of memory for the autoencoder work buffers");
    }
    *out = w;
    return MV_OK;
}

void mv_gen_work_free(mv_gen_work *w) {
    if (!w) return;
    mv_ae_work_free(w->aw);
    mv_free(w->patches), mv_free(w->dec), mv_free(w->img), mv_free(w->latb), mv_free(w->rgb);
    free(w);
}

/* ---------------------------------------------------------------- encode, decode */

void mv_gen_to_u8(uint8_t *dst, const float *img, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = img[i] < 0 ? 0 : img[i] > 1 ? 1 : img[i];
        dst[i] = (uint8_t)lrintf(x * 255.0f);
    }
}

void mv_gen_encode(const mv_ae *ae, mv_gen_work *w, float *lat, const uint8_t *frames, int n) {
    size_t px = (size_t)ae->H * ae->H * 3;
    for (int f0 = 0; f0 < n; f0 += MV_GEN_BATCH) {
        int b = MV_MIN(MV_GEN_BATCH, n - f0);
        mv_ae_pyramid_u8(ae, w->aw, w->patches, frames + (size_t)f0 * px, b);
        mv_ae_encode(ae, w->aw, lat + (size_t)f0 * ae->T * ae->C, w->patches, b);
    }
}

/* Decodes b <= MV_GEN_BATCH frames of latents and hands them out as frames first, first + 1, ... */
static mv_status decode_batch(const mv_ae *ae, mv_gen_work *w, const float *lat, int first, int b,
                              mv_gen_frame_fn fn, void *user) {
    static const int keep[MV_GEN_BATCH] = {0};
    size_t px = (size_t)ae->H * ae->H * 3;
    mv_ae_decode(ae, w->aw, w->dec, lat, keep, b);
    mv_ae_image0(ae, w->img, w->dec, b);
    mv_gen_to_u8(w->rgb, w->img, (size_t)b * px);
    for (int i = 0; i < b; i++) MV_TRY(fn(user, first + i, w->rgb + (size_t)i * px));
    return MV_OK;
}

mv_status mv_gen_decode(const mv_ae *ae, mv_gen_work *w, const float *lat, int first, int n, mv_gen_frame_fn fn,
                        void *user) {
    for (int f0 = 0; f0 < n; f0 += MV_GEN_BATCH)
        MV_TRY(decode_batch(ae, w, lat + (size_t)f0 * ae->T * ae->C, first + f0, MV_MIN(MV_GEN_BATCH, n - f0), fn,
                            user));
    return MV_OK;
}

/* ---------------------------------------------------------------- rollout */

void mv_gen_request_init(mv_gen_request *rq) {
    memset(rq, 0, sizeof *rq);
    rq->guidance = -1;
    rq->use_cache = 1;
}

typedef struct {
    const mv_gen_request *rq;
    const mv_ae *ae;
    mv_gen_work *w;
} gen_call;

static mv_status context_cb(void *user, int frame, int level, float *dst) {
    const gen_call *g = user;
    const mv_ae *ae = g->ae;
    if (frame < g->rq->context_first || frame >= g->rq->context || level < 0 || level >= ae->L)
        return mv_fail(MV_ERR_INTERNAL, "rollout asked for context frame %d level %d; frames %d-%d are given", frame,
                       level, g->rq->context_first, g->rq->context - 1);
    memcpy(dst, g->rq->context_lat + ((size_t)frame * ae->T + ae->offset[level]) * ae->C,
           (size_t)ae->tokens[level] * ae->C * sizeof(float));
    return MV_OK;
}

static int oracle_cb(void *user, int frame, int level, float *dst) {
    const gen_call *g = user;
    const mv_ae *ae = g->ae;
    if (frame < g->rq->context_first || frame >= g->rq->known_frames || level < 0 || level >= ae->L) return 0;
    memcpy(dst, g->rq->context_lat + ((size_t)frame * ae->T + ae->offset[level]) * ae->C,
           (size_t)ae->tokens[level] * ae->C * sizeof(float));
    return 1;
}

static mv_status flush(gen_call *g) {
    mv_gen_work *w = g->w;
    if (!w->pending) return MV_OK;
    int n = w->pending;
    w->pending = 0;
    return decode_batch(g->ae, w, w->latb, w->pending_first, n, w->fn, w->user);
}

static mv_status frame_cb(void *user, int frame, const float *level0) {
    gen_call *g = user;
    mv_gen_work *w = g->w;
    const mv_ae *ae = g->ae;
    if (!w->pending) w->pending_first = frame;
    if (frame != w->pending_first + w->pending)
        return mv_fail(MV_ERR_INTERNAL, "rollout returned frame %d, expected %d", frame, w->pending_first + w->pending);
    float *dst = w->latb + (size_t)w->pending * ae->T * ae->C;
    memset(dst, 0, (size_t)ae->T * ae->C * sizeof(float));
    memcpy(dst + (size_t)ae->offset[0] * ae->C, level0, (size_t)ae->tokens[0] * ae->C * sizeof(float));
    if (++w->pending == MV_GEN_BATCH) return flush(g);
    return MV_OK;
}

mv_status mv_gen_rollout(const mv_gen_model *m, const mv_ae *ae, mv_gen_work *w, const mv_gen_request *rq,
                         mv_rollout_stats *stats) {
    if (!rq->frame_fn || !rq->actions || !rq->context_lat)
        return mv_fail(MV_ERR_ARG, "generation needs context latents, actions and a frame callback");
    const mv_schedule *s = rq->schedule ? rq->schedule : &m->sched;
    if (s->method != m->method)
        return mv_fail(MV_ERR_ARG, "a %s schedule for a %s model", mv_method_name(s->method),
                       mv_method_name(m->method));
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = rq->context, p.frames = rq->frames, p.seed = rq->seed;
    p.sample_steps = rq->sample_steps > 0 ? rq->sample_steps : m->meta.config.sample_steps;
    p.guidance = mv_gen_model_guidance(m, rq->guidance);
    p.use_cache = rq->use_cache;
    p.actions = rq->actions;
    gen_call g = {rq, ae, w};
    p.context_fn = context_cb, p.context_user = &g;
    p.frame_fn = frame_cb, p.frame_user = &g;
    p.progress_fn = rq->progress_fn, p.progress_user = rq->progress_user;
    p.oracle_levels = rq->oracle_levels, p.oracle_fn = oracle_cb, p.oracle_user = &g;
    w->pending = 0, w->fn = rq->frame_fn, w->user = rq->frame_user;
    mv_rollout_stats st;
    double t0 = mv_now();
    mv_status status = mv_rollout_run(&m->dit, s, &p, &st);
    if (!status) status = flush(&g);
    w->pending = 0;
    if (status) return status;
    st.seconds = mv_now() - t0;
    if (stats) *stats = st;
    return MV_OK;
}

/* ---------------------------------------------------------------- public API: data sets */

struct mv_data {
    mv_dataset d;
};

mv_status mv_data_open(mv_data **out, const char *dir) {
    *out = NULL;
    mv_data *d = calloc(1, sizeof *d);
    if (!d) return mv_fail(MV_ERR_NOMEM, "out of memory");
    mv_status s = mv_dataset_open(&d->d, dir);
    if (s) {
        free(d);
        return s;
    }
    *out = d;
    return MV_OK;
}

void mv_data_close(mv_data *d) {
    if (!d) return;
    mv_dataset_close(&d->d);
    free(d);
}

int mv_data_videos(const mv_data *d) { return d->d.videos; }
int mv_data_frames(const mv_data *d) { return d->d.frames_per_video; }
int mv_data_size(const mv_data *d) { return d->d.size; }

const uint8_t *mv_data_video(const mv_data *d, int video) {
    if (video < 0 || video >= d->d.videos) return NULL;
    return mv_dataset_frame(&d->d, video, 0);
}

int mv_data_action(const mv_data *d, int video, int frame) {
    if (video < 0 || video >= d->d.videos || frame < 0 || frame >= d->d.frames_per_video) return -1;
    return (int)lrintf(mv_dataset_action(&d->d, video, frame)[0]);
}

/* ---------------------------------------------------------------- public API: generation */

struct mv_generator {
    mv_gen_ae ae;
    mv_gen_model model;
    mv_gen_work *work;
};

void mv_generator_params_init(mv_generator_params *p) { memset(p, 0, sizeof *p); }

mv_status mv_generator_create(mv_generator **out, const mv_generator_params *p) {
    *out = NULL;
    if (!p->ae_path || !p->dit_path) return mv_fail(MV_ERR_ARG, "an autoencoder and a DiT checkpoint are required");
    mv_generator *g = calloc(1, sizeof *g);
    if (!g) return mv_fail(MV_ERR_NOMEM, "out of memory");
    mv_status s = mv_gen_ae_load(&g->ae, p->ae_path);
    if (!s) s = mv_gen_model_load(&g->model, p->dit_path, &g->ae, p->method, p->allow_ae_mismatch);
    if (!s) s = mv_gen_work_create(&g->work, &g->ae.ae);
    if (s) {
        mv_generator_free(g);
        return s;
    }
    *out = g;
    return MV_OK;
}

void mv_generator_free(mv_generator *g) {
    if (!g) return;
    mv_gen_work_free(g->work);
    mv_gen_model_free(&g->model);
    mv_gen_ae_free(&g->ae);
    free(g);
}

const mv_gen_model *mv_generator_model(const mv_generator *g) { return &g->model; }
const char *mv_generator_method(const mv_generator *g) { return mv_method_name(g->model.method); }
int mv_generator_image_size(const mv_generator *g) { return g->ae.ae.H; }
int mv_generator_default_context(const mv_generator *g) { return mv_gen_model_default_context(&g->model); }
int mv_generator_min_context(const mv_generator *g) { return g->model.sched.S; }

void mv_generate_params_init(mv_generate_params *p) {
    memset(p, 0, sizeof *p);
    p->guidance = -1;
    p->use_cache = 1;
}

typedef struct {
    const mv_generate_params *p;
    int size;
} api_call;

static mv_status api_frame(void *user, int frame, const uint8_t *rgb) {
    const api_call *a = user;
    return a->p->frame_fn(a->p->frame_user, frame, rgb, a->size, a->size);
}

static void api_progress(void *user, long done, long total) {
    const api_call *a = user;
    a->p->progress_fn(a->p->progress_user, done, total);
}

mv_status mv_generate(mv_generator *g, const mv_generate_params *p, mv_generate_stats *stats) {
    const mv_ae *ae = &g->ae.ae;
    int C = p->context > 0 ? p->context : mv_generator_default_context(g);
    if (!p->frame_fn || !p->actions || !p->context_frames)
        return mv_fail(MV_ERR_ARG, "mv_generate needs context frames, actions and a frame callback");
    if (p->context < 0 || C >= p->frames)
        return mv_fail(MV_ERR_ARG, "the context (%d frames) must be shorter than the video (%d frames)", C, p->frames);
    for (int f = 0; f < p->frames; f++)
        if (p->actions[f] < 0 || p->actions[f] > 2)
            return mv_fail(MV_ERR_ARG, "action %d of frame %d: expected 0 (forward), 1 (left) or 2 (right)",
                           p->actions[f], f);
    float *lat = mv_alloc((size_t)C * ae->T * ae->C * sizeof(float));
    if (!lat) return mv_fail(MV_ERR_NOMEM, "out of memory for %d context frames", C);
    mv_gen_encode(ae, g->work, lat, p->context_frames, C);
    api_call a = {p, ae->H};
    mv_gen_request rq;
    mv_gen_request_init(&rq);
    rq.context_lat = lat, rq.context = C, rq.frames = p->frames, rq.actions = p->actions, rq.seed = p->seed;
    rq.sample_steps = p->sample_steps, rq.guidance = p->guidance, rq.use_cache = p->use_cache;
    rq.frame_fn = api_frame, rq.frame_user = &a;
    if (p->progress_fn) rq.progress_fn = api_progress, rq.progress_user = &a;
    mv_rollout_stats st;
    mv_status s = mv_gen_rollout(&g->model, ae, g->work, &rq, &st);
    mv_free(lat);
    if (s) return s;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->steps = st.steps, stats->dit_calls = st.dit_calls, stats->tokens_per_step = st.tokens_per_step;
        stats->chunks = st.chunks, stats->seconds = st.seconds;
    }
    return MV_OK;
}
