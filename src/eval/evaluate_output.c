/* Outputs of the evaluation protocol: summaries with bootstrap intervals, metrics.json, the report
 * (summary.md, plots, report.html via report.h) and the side-by-side mp4s; see evaluate.h. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include "eval/evaluate_internal.h"
#include "eval/report.h"
#include "io/files.h"
#include "io/image.h"
#include "io/tensorfile.h"
#include "io/video.h"

#define EV_RESAMPLES 1000
#define EV_PANEL_MIN 128 /* side-by-side panels are upscaled (nearest) to at least this many pixels */
#define EV_BAND 20       /* label band above the panels, pixels */

/* ---------------------------------------------------------------- summaries */

typedef struct {
    double *all, *lng, *rev, *reach;     /* [V] per-video means (PSNR then SSIM: two of these) */
    double *curve, *curve_lo, *curve_hi; /* [G] */
    mv_ci ci_all, ci_long, ci_rev, ci_reach;
} ev_metric;

typedef struct {
    ev_metric psnr, ssim;
    long dit_calls;
    int tokens_per_step;
    double seconds;
} ev_summary;

/* Bootstrap interval over the finite entries of x [n]; all-NaN gives NAN. */
static mv_status ci_finite(mv_ci *out, const double *x, int n, uint64_t seed) {
    double *y = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!y) return mv_fail(MV_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) y[k++] = x[i];
    mv_status s = MV_OK;
    out->mean = out->lo = out->hi = NAN;
    if (k > 0) s = mv_bootstrap_ci(out, y, k, EV_RESAMPLES, seed);
    free(y);
    return s;
}

static mv_status summarise_metric(ev_metric *m, const ev_run *r, const double *x /* [V, G] */, int from, int to,
                                  uint64_t seed) {
    for (int v = 0; v < r->V; v++) {
        const double *xv = x + (size_t)v * r->G;
        m->all[v] = mv_range_mean(xv, 0, r->G);
        m->lng[v] = mv_range_mean(xv, from - r->C, to - r->C);
        m->rev[v] = r->p->no_revisit ? NAN : mv_mask_mean(xv, r->mask + (size_t)v * r->T + r->C, r->G);
        m->reach[v] = r->p->no_revisit ? NAN : mv_mask_mean(xv, r->reach_mask + (size_t)v * r->T + r->C, r->G);
    }
    MV_TRY(ci_finite(&m->ci_all, m->all, r->V, seed));
    MV_TRY(ci_finite(&m->ci_long, m->lng, r->V, seed + 1));
    MV_TRY(ci_finite(&m->ci_rev, m->rev, r->V, seed + 2));
    MV_TRY(ci_finite(&m->ci_reach, m->reach, r->V, seed + 4));
    return mv_bootstrap_curves(m->curve, m->curve_lo, m->curve_hi, x, r->V, r->G, EV_RESAMPLES, seed + 3);
}

static double *dbl_alloc(size_t n, double **pool, size_t *used) {
    double *p = *pool + *used;
    *used += n;
    return p;
}

/* ---------------------------------------------------------------- metrics.json */

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *ci_json(const mv_ci *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "mean", num(c->mean));
    cJSON_AddItemToObject(o, "lo", num(c->lo));
    cJSON_AddItemToObject(o, "hi", num(c->hi));
    return o;
}

static cJSON *arr_json(const double *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, num(x[i]));
    return a;
}

static void add_metric(cJSON *o, const char *name, const ev_metric *m, int V) {
    char k[64];
    snprintf(k, sizeof k, "%s_mean", name), cJSON_AddItemToObject(o, k, ci_json(&m->ci_all));
    snprintf(k, sizeof k, "%s_long_horizon", name), cJSON_AddItemToObject(o, k, ci_json(&m->ci_long));
    snprintf(k, sizeof k, "%s_revisit", name), cJSON_AddItemToObject(o, k, ci_json(&m->ci_rev));
    snprintf(k, sizeof k, "%s_revisit_reach", name), cJSON_AddItemToObject(o, k, ci_json(&m->ci_reach));
    snprintf(k, sizeof k, "%s_per_video_mean", name), cJSON_AddItemToObject(o, k, arr_json(m->all, V));
}

static void add_curves(cJSON *o, const ev_summary *s, const ev_run *r, int mi) {
    cJSON *c = cJSON_AddObjectToObject(o, "curves");
    cJSON_AddNumberToObject(c, "first_frame", r->C);
    cJSON_AddItemToObject(c, "psnr", arr_json(s->psnr.curve, r->G));
    cJSON_AddItemToObject(c, "psnr_lo", arr_json(s->psnr.curve_lo, r->G));
    cJSON_AddItemToObject(c, "psnr_hi", arr_json(s->psnr.curve_hi, r->G));
    cJSON_AddItemToObject(c, "ssim", arr_json(s->ssim.curve, r->G));
    cJSON_AddItemToObject(c, "ssim_lo", arr_json(s->ssim.curve_lo, r->G));
    cJSON_AddItemToObject(c, "ssim_hi", arr_json(s->ssim.curve_hi, r->G));
    cJSON *pv = cJSON_AddArrayToObject(c, "per_video_psnr"), *sv = cJSON_AddArrayToObject(c, "per_video_ssim");
    for (int v = 0; v < r->V; v++) {
        size_t o2 = ev_idx(r, mi, v) * r->G;
        cJSON_AddItemToArray(pv, arr_json(r->psnr + o2, r->G));
        cJSON_AddItemToArray(sv, arr_json(r->ssim + o2, r->G));
    }
}

/* [V] arrays of the frames t with mask[v, t], and their counts. */
static void add_frames(cJSON *j, const char *frames_key, const char *counts_key, const ev_run *r,
                       const uint8_t *mask) {
    cJSON *fr = cJSON_AddArrayToObject(j, frames_key), *cn = cJSON_AddArrayToObject(j, counts_key);
    for (int v = 0; v < r->V; v++) {
        cJSON *a = cJSON_CreateArray();
        int n = 0;
        for (int t = 0; t < r->T; t++)
            if (mask[(size_t)v * r->T + t]) cJSON_AddItemToArray(a, cJSON_CreateNumber(t)), n++;
        cJSON_AddItemToArray(fr, a);
        cJSON_AddItemToArray(cn, cJSON_CreateNumber(n));
    }
}

/* What "within reach" means, completing "whose matching context frame lies ..." (report and metrics.json). */
static void reach_text(char *dst, size_t n, const ev_run *r) {
    const ev_method *lead = &r->m[r->reach_lead];
    const mv_reach *lr = &r->reach[r->reach_lead];
    int len = snprintf(dst, n, "among the S frames before the first frame of the rollout chunk that generates it, "
                       "for at least one method (S as `millivid schedule` prints it:");
    for (int i = 0; i < r->nm && len < (int)n; i++)
        len += snprintf(dst + len, n - len, "%s %s %d, chunks of %d frame%s", i ? ";" : "", r->m[i].name,
                        r->reach[i].back, r->reach[i].advance, r->reach[i].advance == 1 ? "" : "s");
    if (len < (int)n)
        snprintf(dst + len, n - len, "); %s, reaching furthest, sees context frames %d-%d for generated frames %d-%d",
                 lead->name, MV_MAX(0, r->C - lr->back), r->C - 1, r->C, MV_MIN(r->T, r->C + lr->advance) - 1);
}

static mv_status write_metrics_json(const ev_run *r, const ev_summary *sum, int from, int to) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "config", cJSON_Parse(r->config_json));
    cJSON_AddStringToObject(j, "ae", r->p->ae_path);
    cJSON_AddStringToObject(j, "ae_file_hash", r->ae.file_hash);
    cJSON_AddStringToObject(j, "ae_hash", r->ae.hash);
    cJSON *ck = cJSON_AddObjectToObject(j, "checkpoint_hashes");
    for (int i = 0; i < r->nm; i++) cJSON_AddStringToObject(ck, r->m[i].path, r->m[i].model.file_hash);
    cJSON_AddStringToObject(ck, r->p->ae_path, r->ae.file_hash);
    cJSON_AddNumberToObject(j, "videos", r->V);
    cJSON_AddNumberToObject(j, "context", r->C);
    cJSON_AddNumberToObject(j, "frames", r->T);
    cJSON_AddNumberToObject(j, "generated_frames", r->G);
    cJSON *lh = cJSON_AddObjectToObject(j, "long_horizon");
    cJSON_AddNumberToObject(lh, "from", from);
    cJSON_AddNumberToObject(lh, "to", to);
    add_frames(j, "revisit_frames", "revisit_counts", r, r->mask);
    add_frames(j, "revisit_reach_frames", "revisit_reach_counts", r, r->reach_mask);
    char def[2048];
    reach_text(def, sizeof def, r);
    cJSON *re = cJSON_AddObjectToObject(j, "reach");
    cJSON_AddStringToObject(re, "definition", def);
    cJSON_AddStringToObject(re, "furthest", r->m[r->reach_lead].name);
    cJSON *rm = cJSON_AddObjectToObject(re, "methods");
    for (int i = 0; i < r->nm; i++) {
        cJSON *o = cJSON_AddObjectToObject(rm, r->m[i].name);
        cJSON_AddNumberToObject(o, "back", r->reach[i].back);
        cJSON_AddNumberToObject(o, "advance", r->reach[i].advance);
    }
    cJSON_AddItemToObject(j, "random_partners", cJSON_CreateIntArray(r->partner, r->V));
    cJSON *en = cJSON_AddObjectToObject(j, "entries");
    cJSON_AddNumberToObject(en, "total", (r->nm + 1) * r->V);
    cJSON_AddNumberToObject(en, "computed", r->computed);
    cJSON_AddNumberToObject(en, "cached", r->cached);
    cJSON *ms = cJSON_AddObjectToObject(j, "methods");
    for (int mi = 0; mi < ev_rows(r); mi++) {
        const ev_summary *s = &sum[mi];
        cJSON *o = cJSON_AddObjectToObject(ms, r->m[mi].name);
        cJSON_AddBoolToObject(o, "is_bound", r->m[mi].is_bound);
        cJSON_AddStringToObject(o, "kind", mi < r->nm ? mv_method_name(r->m[mi].model.method) : r->m[mi].name);
        if (mi < r->nm) cJSON_AddStringToObject(o, "checkpoint", r->m[mi].path);
        if (mi < r->nm) cJSON_AddNumberToObject(o, "sample_steps", r->m[mi].steps);
        add_metric(o, "psnr", &s->psnr, r->V);
        add_metric(o, "ssim", &s->ssim, r->V);
        cJSON_AddItemToObject(o, "dit_calls", s->dit_calls >= 0 ? cJSON_CreateNumber((double)s->dit_calls) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "tokens_per_step", s->tokens_per_step >= 0 ? cJSON_CreateNumber(s->tokens_per_step) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "wall_seconds", num(s->seconds));
        add_curves(o, s, r, mi);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return mv_fail(MV_ERR_NOMEM, "out of memory");
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.json", r->p->out_dir);
    mv_status st = mv_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* ---------------------------------------------------------------- side-by-side videos */

static void blit(uint8_t *dst, int W, const uint8_t *src, int H, int k, int x0, int y0) {
    for (int y = 0; y < H * k; y++)
        for (int x = 0; x < H * k; x++)
            memcpy(dst + ((size_t)(y0 + y) * W + x0 + x) * 3, src + ((size_t)(y / k) * H + x / k) * 3, 3);
}

static void label(uint8_t *img, int W, int Hh, int x0, int P, const char *text) {
    static const uint8_t white[3] = {255, 255, 255};
    int len = (int)strlen(text), sc = len * 12 <= P - 4 ? 2 : 1;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", MV_MAX(1, (P - 4) / (6 * sc)), text);
    mv_draw_text(img, W, Hh, x0 + 3, (EV_BAND - 7 * sc) / 2, buf, sc, white);
}

/* One mp4 per video: ground truth | each method | autoencoded, over all frames (the context frames
 * show the ground truth in every panel, on a blue label band). */
static mv_status write_video(const ev_run *r, int v, const char *path) {
    int np = r->nm + 2, k = (EV_PANEL_MIN + r->H - 1) / r->H, P = r->H * k, W = np * P, Hh = P + EV_BAND;
    mv_npy gen[MV_EVAL_MAX_METHODS + 1];
    int opened = 0;
    mv_status s = MV_OK;
    mv_video_writer *w = NULL;
    uint8_t *img = malloc((size_t)W * Hh * 3);
    if (!img) return mv_fail(MV_ERR_NOMEM, "out of memory");
    for (; opened < r->nm + 1; opened++) {
        char p[1200];
        ev_cache_path(p, sizeof p, r, opened, v, "npy");
        if ((s = mv_npy_open(&gen[opened], p))) goto fail;
        if (gen[opened].dtype != MV_DT_U8 || gen[opened].numel != (size_t)r->G * r->H * r->H * 3) {
            s = mv_fail(MV_ERR_FORMAT, "%s: expected %d frames of %dx%dx3 uint8 (delete it to recompute)", p, r->G,
                        r->H, r->H);
            opened++;
            goto fail;
        }
    }
    if ((s = mv_video_writer_open(&w, path, W, Hh, 20, 18))) goto fail;
    size_t fb = (size_t)r->H * r->H * 3;
    for (int f = 0; f < r->T && !s; f++) {
        int ctx = f < r->C;
        for (size_t i = 0; i < (size_t)W * EV_BAND; i++) {
            img[i * 3] = ctx ? 20 : 0, img[i * 3 + 1] = ctx ? 40 : 0, img[i * 3 + 2] = ctx ? 110 : 0;
        }
        const uint8_t *gt = mv_dataset_frame(&r->d, v, f);
        char t[64];
        snprintf(t, sizeof t, "GT %d%s", f, ctx ? " ctx" : "");
        blit(img, W, gt, r->H, k, 0, EV_BAND);
        label(img, W, Hh, 0, P, t);
        for (int q = 0; q < r->nm + 1; q++) {
            const uint8_t *src = ctx ? gt : (const uint8_t *)gen[q].data + (size_t)(f - r->C) * fb;
            blit(img, W, src, r->H, k, (q + 1) * P, EV_BAND);
            label(img, W, Hh, (q + 1) * P, P, r->m[q].name);
        }
        s = mv_video_writer_add(w, img);
    }
    if (!s) s = mv_video_writer_close(w);
    else mv_video_writer_abort(w);
fail:
    for (int i = 0; i < opened; i++) mv_npy_close(&gen[i]);
    free(img);
    return s;
}

/* ---------------------------------------------------------------- the report */

static mv_status write_report(const ev_run *r, const ev_summary *sum, int from, int to, int nvid, char *summary_path,
                              size_t n) {
    mv_report_method rm[MV_EVAL_MAX_METHODS + EV_BOUNDS];
    char *names[MV_EVAL_MAX_METHODS + EV_BOUNDS] = {0};
    int *rev = malloc((size_t)r->T * sizeof(int)), nrev = 0, *reach = malloc((size_t)r->T * sizeof(int)), nreach = 0;
    int *rev_count = calloc((size_t)r->V, sizeof(int)), *reach_count = calloc((size_t)r->V, sizeof(int));
    char **vids = calloc((size_t)(nvid > 0 ? nvid : 1), sizeof(char *));
    char **caps = calloc((size_t)(nvid > 0 ? nvid : 1), sizeof(char *));
    char note[1024], reach_def[2048];
    mv_status s = MV_OK;
    if (!rev || !reach || !rev_count || !reach_count || !vids || !caps) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int t = r->C; t < r->T; t++) { /* union over videos; a frame within reach in any video shades as such */
        int any = 0, in = 0;
        for (int v = 0; v < r->V; v++) {
            size_t o = (size_t)v * r->T + t;
            any |= r->mask[o], in |= r->reach_mask[o];
            rev_count[v] += r->mask[o], reach_count[v] += r->reach_mask[o];
        }
        if (any) rev[nrev++] = t;
        if (in) reach[nreach++] = t;
    }
    reach_text(reach_def, sizeof reach_def, r);
    int len = snprintf(note, sizeof note, "left to right: ground truth");
    for (int mi = 0; mi < ev_rows(r); mi++) {
        const ev_summary *sm = &sum[mi];
        mv_report_method *m = &rm[mi];
        mv_report_method_init(m);
        names[mi] = malloc(96);
        if (!names[mi]) {
            s = mv_fail(MV_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (mi == r->nm + 2) snprintf(names[mi], 96, "hold last context frame");
        else
            snprintf(names[mi], 96, "%s%s", r->m[mi].name,
                     mi == r->nm ? " (upper bound)" : mi == r->nm + 1 ? " video (lower bound)" : "");
        m->name = names[mi];
        m->is_bound = r->m[mi].is_bound;
        m->psnr = sm->psnr.curve, m->psnr_lo = sm->psnr.curve_lo, m->psnr_hi = sm->psnr.curve_hi;
        m->ssim = sm->ssim.curve, m->ssim_lo = sm->ssim.curve_lo, m->ssim_hi = sm->ssim.curve_hi;
        m->psnr_all = sm->psnr.ci_all, m->psnr_long = sm->psnr.ci_long, m->psnr_revisit = sm->psnr.ci_rev;
        m->ssim_all = sm->ssim.ci_all, m->ssim_long = sm->ssim.ci_long, m->ssim_revisit = sm->ssim.ci_rev;
        m->psnr_reach = sm->psnr.ci_reach, m->ssim_reach = sm->ssim.ci_reach;
        m->dit_calls = sm->dit_calls, m->tokens_per_step = sm->tokens_per_step, m->wall_seconds = sm->seconds;
        if (mi <= r->nm && len < (int)sizeof note) len += snprintf(note + len, sizeof note - len, ", %s", r->m[mi].name);
    }
    for (int v = 0; v < nvid; v++) {
        vids[v] = malloc(64), caps[v] = malloc(128);
        if (!vids[v] || !caps[v]) {
            s = mv_fail(MV_ERR_NOMEM, "out of memory");
            goto fail;
        }
        snprintf(vids[v], 64, "videos/video_%d.mp4", v);
        snprintf(caps[v], 128, "test video %d: %d revisit frames (%d within reach); random partner: video %d", v,
                 rev_count[v], reach_count[v], r->partner[v]);
    }
    if (len < (int)sizeof note)
        snprintf(note + len, sizeof note - len, "; frames %d-%d (blue label band) are the given context", 0, r->C - 1);
    mv_report rep = {.title = "millivid evaluation",
                     .config_text = r->config_json,
                     .n_videos_evaluated = r->V,
                     .n_frames = r->G,
                     .first_frame = r->C,
                     .context_frames = r->C,
                     .long_from = from,
                     .long_to = to,
                     .revisit = rev,
                     .n_revisit = nrev,
                     .methods = rm,
                     .n_methods = ev_rows(r),
                     .videos = (const char *const *)vids,
                     .video_captions = (const char *const *)caps,
                     .n_videos = nvid,
                     .video_note = note,
                     .revisit_reach = reach,
                     .n_revisit_reach = nreach,
                     .reach_text = reach_def,
                     .revisit_count = r->p->no_revisit ? NULL : rev_count,
                     .reach_count = r->p->no_revisit ? NULL : reach_count,
                     .training = r->p->training_dir ? &r->training : NULL};
    s = mv_report_write(&rep, r->p->out_dir);
    snprintf(summary_path, n, "%s/summary.md", r->p->out_dir);
fail:
    for (int i = 0; i < ev_rows(r); i++) free(names[i]);
    for (int v = 0; v < nvid && vids && caps; v++) free(vids[v]), free(caps[v]);
    free(vids), free(caps), free(rev), free(reach), free(rev_count), free(reach_count);
    return s;
}

static mv_status summarise(const ev_run *r, ev_summary *sum, int from, int to) {
    for (int mi = 0; mi < ev_rows(r); mi++) {
        ev_summary *s = &sum[mi];
        size_t o = ev_idx(r, mi, 0);
        uint64_t seed = r->p->seed * 1000003ull + (uint64_t)mi * 16;
        MV_TRY(summarise_metric(&s->psnr, r, r->psnr + o * r->G, from, to, seed));
        MV_TRY(summarise_metric(&s->ssim, r, r->ssim + o * r->G, from, to, seed + 8));
        long calls = 0, tps = -1;
        double sec = 0;
        for (int v = 0; v < r->V; v++) {
            calls += r->dit_calls[o + v];
            tps = MV_MAX(tps, (long)r->tokens_per_step[o + v]);
            sec += r->seconds[o + v];
        }
        s->dit_calls = r->m[mi].is_bound ? -1 : lround((double)calls / r->V);
        s->tokens_per_step = r->m[mi].is_bound ? -1 : (int)tps;
        s->seconds = sec;
    }
    return MV_OK;
}

mv_status ev_write_outputs(ev_run *r, char *summary_path, size_t n) {
    int nm = ev_rows(r), from, to;
    MV_TRY(mv_long_horizon_range(&from, &to, r->T, r->C, r->p->long_fraction));
    ev_summary *sum = calloc((size_t)nm, sizeof *sum);
    size_t per = 2 * (4 * (size_t)r->V + 3 * (size_t)r->G), used = 0;
    double *pool = malloc((size_t)nm * per * sizeof(double));
    mv_status s = MV_OK;
    if (!sum || !pool) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int mi = 0; mi < nm; mi++) {
        ev_metric *ms[2] = {&sum[mi].psnr, &sum[mi].ssim};
        for (int k = 0; k < 2; k++) {
            ms[k]->all = dbl_alloc(r->V, &pool, &used), ms[k]->lng = dbl_alloc(r->V, &pool, &used);
            ms[k]->rev = dbl_alloc(r->V, &pool, &used), ms[k]->reach = dbl_alloc(r->V, &pool, &used);
            ms[k]->curve = dbl_alloc(r->G, &pool, &used), ms[k]->curve_lo = dbl_alloc(r->G, &pool, &used);
            ms[k]->curve_hi = dbl_alloc(r->G, &pool, &used);
        }
    }
    if ((s = summarise(r, sum, from, to))) goto fail;
    if ((s = write_metrics_json(r, sum, from, to))) goto fail;
    int nvid = MV_MIN(r->p->side_by_side, r->V);
    if (nvid > 0) {
        char dir[1200], path[1300];
        snprintf(dir, sizeof dir, "%s/videos", r->p->out_dir);
        if (mkdir(dir, 0777) && errno != EEXIST) {
            s = mv_fail(MV_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
            goto fail;
        }
        for (int v = 0; v < nvid && !s; v++) {
            snprintf(path, sizeof path, "%s/video_%d.mp4", dir, v);
            s = write_video(r, v, path);
        }
        if (s) goto fail;
    }
    s = write_report(r, sum, from, to, nvid, summary_path, n);
fail:
    free(pool);
    free(sum);
    return s;
}
