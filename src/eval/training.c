/* Reading a training campaign folder (loss logs, checkpoints' metadata, probe files); see training.h. */
#include "eval/training.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <unistd.h>

#include "core/core.h"
#include "io/files.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "rollout/schedule.h"

#define LOG_MAX_BYTES ((size_t)1 << 30)
#define PROBE_MAX_BYTES ((size_t)64 << 20)
#define SUFFIX ".log.jsonl"

/* ---------------------------------------------------------------- folder listing */

typedef struct {
    char **name;
    long *num; /* probe files: N of step_<N>.json */
    int n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name), free(l->num);
    memset(l, 0, sizeof *l);
}

static mv_status names_add(name_list *l, const char *s, long num) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **n = realloc(l->name, (size_t)cap * sizeof *n);
        if (n) l->name = n;
        long *k = realloc(l->num, (size_t)cap * sizeof *k);
        if (k) l->num = k;
        if (!n || !k) return mv_fail(MV_ERR_NOMEM, "out of memory");
        l->cap = cap;
    }
    if (!(l->name[l->n] = strdup(s))) return mv_fail(MV_ERR_NOMEM, "out of memory");
    l->num[l->n++] = num;
    return MV_OK;
}

/* "dit_<name>.log.jsonl" with a non-empty name: the length of <name>, else 0. */
static size_t log_name_len(const char *f) {
    size_t n = strlen(f), s = strlen(SUFFIX);
    if (n <= 4 + s || strncmp(f, "dit_", 4) || strcmp(f + n - s, SUFFIX)) return 0;
    return n - 4 - s;
}

/* "step_<N>.json" (N digits only): N, else -1. */
static long probe_file_step(const char *f) {
    if (strncmp(f, "step_", 5) || !isdigit((unsigned char)f[5])) return -1;
    char *end;
    errno = 0;
    long n = strtol(f + 5, &end, 10);
    return !errno && !strcmp(end, ".json") ? n : -1;
}

static int cmp_names(const name_list *l, int a, int b) {
    if (l->num[a] != l->num[b]) return l->num[a] < l->num[b] ? -1 : 1;
    return strcmp(l->name[a], l->name[b]);
}

/* Insertion sort by (num, name): lists are short. */
static void names_sort(name_list *l) {
    for (int i = 1; i < l->n; i++)
        for (int j = i; j > 0 && cmp_names(l, j - 1, j) > 0; j--) {
            char *t = l->name[j];
            l->name[j] = l->name[j - 1], l->name[j - 1] = t;
            long k = l->num[j];
            l->num[j] = l->num[j - 1], l->num[j - 1] = k;
        }
}

/* The files of dir that are logs (probes 0) or probe files (probes 1). A missing dir is an error unless
 * optional. */
static mv_status list_dir(name_list *l, const char *dir, int probes, int optional) {
    DIR *d = opendir(dir);
    if (!d) {
        if (optional && errno == ENOENT) return MV_OK;
        return mv_fail(MV_ERR_IO, "%s: cannot open the training folder: %s", dir, strerror(errno));
    }
    mv_status s = MV_OK;
    for (struct dirent *e; !s && (e = readdir(d));) {
        long num = probes ? probe_file_step(e->d_name) : 0;
        if (probes ? num >= 0 : log_name_len(e->d_name) > 0) s = names_add(l, e->d_name, num);
    }
    closedir(d);
    if (!s) names_sort(l);
    return s;
}

/* ---------------------------------------------------------------- loss logs */

static mv_status run_push(mv_training_run *r, int *cap, long step, double loss) {
    if (r->n == *cap) {
        int c = *cap ? 2 * *cap : 256;
        long *st = realloc(r->step, (size_t)c * sizeof *st);
        if (st) r->step = st;
        double *lo = realloc(r->loss, (size_t)c * sizeof *lo);
        if (lo) r->loss = lo;
        if (!st || !lo) return mv_fail(MV_ERR_NOMEM, "out of memory");
        *cap = c;
    }
    r->step[r->n] = step, r->loss[r->n] = loss, r->n++;
    return MV_OK;
}

/* One log line (NUL-terminated, without its newline) into step and loss. */
static mv_status parse_log_line(const char *path, int line_no, const char *line, long *step, double *loss) {
    cJSON *j = cJSON_Parse(line);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step"), *l = cJSON_GetObjectItemCaseSensitive(j, "loss");
    int ok = cJSON_IsObject(j) && cJSON_IsNumber(s) && cJSON_IsNumber(l) && s->valuedouble >= 0 &&
             s->valuedouble == floor(s->valuedouble) && s->valuedouble < 1e15 && isfinite(l->valuedouble);
    if (ok) *step = (long)s->valuedouble, *loss = l->valuedouble;
    cJSON_Delete(j);
    if (ok) return MV_OK;
    return mv_fail(MV_ERR_FORMAT, "%s: line %d: expected a JSON object with a whole \"step\" >= 0 and a finite "
                   "\"loss\", got '%.60s%s'", path, line_no, line, strlen(line) > 60 ? "..." : "");
}

static mv_status read_log(mv_training_run *r, const char *path) {
    char *text = NULL;
    size_t len = 0;
    int cap = 0, line_no = 0;
    MV_TRY(mv_read_file(path, LOG_MAX_BYTES, &text, &len));
    mv_status s = MV_OK;
    for (char *p = text, *nl; !s && (nl = memchr(p, '\n', len - (size_t)(p - text))); p = nl + 1) {
        line_no++;
        *nl = 0;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue; /* a blank line */
        long step = 0;
        double loss = 0;
        if ((s = parse_log_line(path, line_no, p, &step, &loss))) break;
        if (r->n > 0 && step <= r->step[r->n - 1])
            s = mv_fail(MV_ERR_FORMAT, "%s: line %d: step %ld does not follow step %ld (steps must increase)", path,
                        line_no, step, r->step[r->n - 1]);
        else
            s = run_push(r, &cap, step, loss);
    }
    free(text);
    return s;
}

/* The method, batch and tokens per training sample of a run from its checkpoint's metadata. */
static mv_status read_checkpoint(mv_training_run *r, const char *path) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    if (access(path, F_OK))
        return mv_fail(MV_ERR_IO, "%s: %s; the training report reads the batch and tokens per sample of run '%s' "
                       "from it", path, strerror(errno), r->name);
    MV_TRY(mv_ckpt_open(&f, &meta, path, NULL));
    mv_st_close(&f);
    mv_method m;
    if (strcmp(meta.model, "video_universal") && strcmp(meta.model, "video_framepack"))
        return mv_fail(MV_ERR_FORMAT, "%s: millivid_model is '%s', not a video DiT; the training report needs the "
                       "run's checkpoint (millivid train) for its tokens per step", path, meta.model);
    if (mv_method_from_string(meta.variant, &m)) return mv_fail_prefix(MV_ERR_FORMAT, "%s: variant", path);
    snprintf(r->method, sizeof r->method, "%s", mv_method_name(m));
    r->batch = meta.config.dit_batch;
    if (mv_method_dit_kind(m) == MV_DIT_FRAMEPACK) {
        r->sample_tokens = mv_dit_fp_tokens(&meta.config);
    } else {
        mv_schedule sched;
        memset(&sched, 0, sizeof sched);
        mv_status s = mv_schedule_build(&sched, m, &meta.config);
        r->sample_tokens = sched.tokens_per_step_max;
        mv_schedule_free(&sched);
        if (s) return mv_fail_prefix(s, "%s: its configuration", path);
    }
    if (r->batch < 1 || r->sample_tokens < 1)
        return mv_fail(MV_ERR_FORMAT, "%s: batch %d x %d tokens per sample: cannot count training tokens", path,
                       r->batch, r->sample_tokens);
    r->tokens_per_step = (long)r->batch * r->sample_tokens;
    return MV_OK;
}

/* ---------------------------------------------------------------- probe files */

/* obj[key] as a number; NAN with *ok = 0 when absent or not a number (null allowed when nullable). */
static double num_at(const cJSON *obj, const char *key, int nullable, int *ok) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) return v->valuedouble;
    if (!(nullable && cJSON_IsNull(v))) *ok = 0;
    return NAN;
}

static mv_status missing(const char *path, const char *key) {
    return mv_fail(MV_ERR_FORMAT, "%s: %s missing or not of the expected type (is it a `millivid probe` result?)",
                   path, key);
}

/* recall.psnr of a method or bound entry. */
static mv_status recall_psnr(const char *path, const char *what, int i, const cJSON *e, double *mean, double *lo,
                             double *hi, int *n) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "recall"), "psnr");
    char key[96];
    int ok = cJSON_IsObject(p);
    snprintf(key, sizeof key, "%s[%d].recall.psnr", what, i);
    if (!ok) return missing(path, key);
    *mean = num_at(p, "mean", 0, &ok);
    if (!ok) return missing(path, strcat(key, ".mean"));
    *lo = num_at(p, "lo", 1, &ok);
    *hi = num_at(p, "hi", 1, &ok);
    if (!ok) return missing(path, strcat(key, ".lo/.hi"));
    double nn = num_at(p, "n", 1, &ok);
    if (!ok) return missing(path, strcat(key, ".n"));
    *n = isfinite(nn) ? (int)nn : 0;
    if (!(isfinite(*lo) && isfinite(*hi))) *lo = *hi = NAN;
    return MV_OK;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The run a probed method belongs to: by its checkpoint's file name, else by name; -1 when none. */
static int find_run(const mv_training *t, const char *name, const char *checkpoint) {
    for (int i = 0; checkpoint && i < t->n_runs; i++) {
        char want[96];
        snprintf(want, sizeof want, "dit_%s.safetensors", t->runs[i].name);
        if (!strcmp(base_name(checkpoint), want)) return i;
    }
    for (int i = 0; i < t->n_runs; i++)
        if (!strcmp(t->runs[i].name, name)) return i;
    return -1;
}

static mv_status add_recall(mv_training_run *r, const mv_training_recall *p) {
    mv_training_recall *a = realloc(r->recall, (size_t)(r->n_recall + 1) * sizeof *a);
    if (!a) return mv_fail(MV_ERR_NOMEM, "out of memory");
    r->recall = a;
    int k = r->n_recall++;
    while (k > 0 && a[k - 1].step > p->step) a[k] = a[k - 1], k--; /* keep steps in order */
    a[k] = *p;
    return MV_OK;
}

static mv_status read_methods(mv_training *t, const char *path, const cJSON *methods) {
    for (int i = 0; i < cJSON_GetArraySize(methods); i++) {
        const cJSON *m = cJSON_GetArrayItem(methods, i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name"),
                    *ckpt = cJSON_GetObjectItemCaseSensitive(m, "checkpoint");
        char key[64];
        int ok = 1;
        snprintf(key, sizeof key, "methods[%d].name", i);
        if (!cJSON_IsString(name)) return missing(path, key);
        double step = num_at(m, "step", 0, &ok);
        snprintf(key, sizeof key, "methods[%d].step", i);
        if (!ok || step < 0) return missing(path, key);
        mv_training_recall p = {.step = (long)step};
        MV_TRY(recall_psnr(path, "methods", i, m, &p.mean, &p.lo, &p.hi, &p.n));
        int run = find_run(t, name->valuestring, cJSON_IsString(ckpt) ? ckpt->valuestring : NULL);
        if (run < 0) {
            MV_WARN("%s: method '%s' has no training log in %s; left out of the training plot", path, name->valuestring,
                    t->dir);
            continue;
        }
        p.tokens = (double)p.step * (double)t->runs[run].tokens_per_step;
        MV_TRY(add_recall(&t->runs[run], &p));
    }
    return MV_OK;
}

/* The settings, counts and bounds of the latest probe file. */
static mv_status read_latest(mv_training *t, const char *path, long step, const cJSON *j) {
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(j, "counts"),
                *settings = cJSON_GetObjectItemCaseSensitive(j, "settings"),
                *bounds = cJSON_GetObjectItemCaseSensitive(j, "bounds"),
                *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    int ok = 1;
    t->probe_videos = (int)num_at(counts, "videos", 0, &ok);
    if (!ok) return missing(path, "counts.videos");
    t->probe_points = (int)num_at(counts, "points", 0, &ok);
    if (!ok) return missing(path, "counts.points");
    t->probe_horizon = (int)num_at(settings, "horizon", 0, &ok);
    if (!ok) return missing(path, "settings.horizon");
    t->probe_sample_steps = (int)num_at(settings, "sample_steps", 0, &ok);
    if (!ok) return missing(path, "settings.sample_steps");
    if (!cJSON_IsArray(bounds)) return missing(path, "bounds");
    snprintf(t->probe_path, sizeof t->probe_path, "%s", path);
    snprintf(t->probe_data, sizeof t->probe_data, "%s", cJSON_IsString(data) ? data->valuestring : "");
    t->probe_step = step;
    t->n_bounds = 0;
    for (int i = 0; i < cJSON_GetArraySize(bounds) && t->n_bounds < MV_TRAINING_MAX_BOUNDS; i++) {
        const cJSON *b = cJSON_GetArrayItem(bounds, i), *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        char key[64];
        snprintf(key, sizeof key, "bounds[%d].name", i);
        if (!cJSON_IsString(name)) return missing(path, key);
        mv_training_bound *tb = &t->bounds[t->n_bounds++];
        int n;
        snprintf(tb->name, sizeof tb->name, "%s", name->valuestring);
        MV_TRY(recall_psnr(path, "bounds", i, b, &tb->mean, &tb->lo, &tb->hi, &n));
    }
    return MV_OK;
}

static mv_status read_probe(mv_training *t, const char *path, long step, int latest) {
    char *text = NULL;
    MV_TRY(mv_read_file(path, PROBE_MAX_BYTES, &text, NULL));
    cJSON *j = cJSON_Parse(text);
    mv_status s = MV_OK;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format"),
                *methods = cJSON_GetObjectItemCaseSensitive(j, "methods");
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        s = mv_fail(MV_ERR_FORMAT, "%s: not valid JSON (near byte %ld)", path,
                    at && at >= text && at <= text + strlen(text) ? (long)(at - text) : 0L);
    } else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "millivid-probe")) {
        s = mv_fail(MV_ERR_FORMAT, "%s: \"format\" is not \"millivid-probe\" (not a `millivid probe` result)", path);
    } else if (!cJSON_IsArray(methods)) {
        s = missing(path, "methods");
    } else if (!(s = read_methods(t, path, methods)) && latest) {
        s = read_latest(t, path, step, j);
    }
    cJSON_Delete(j);
    free(text);
    return s;
}

/* ---------------------------------------------------------------- the folder */

void mv_training_free(mv_training *t) {
    for (int i = 0; t->runs && i < t->n_runs; i++) {
        free(t->runs[i].step), free(t->runs[i].loss), free(t->runs[i].recall);
    }
    free(t->runs);
    memset(t, 0, sizeof *t);
}

mv_status mv_training_read(mv_training *t, const char *dir) {
    memset(t, 0, sizeof *t);
    name_list logs = {0}, probes = {0};
    char path[2200], pdir[1100];
    mv_status s;
    if (strlen(dir) >= sizeof t->dir) return mv_fail(MV_ERR_ARG, "%.60s...: training folder path too long", dir);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    if ((s = list_dir(&logs, dir, 0, 0))) goto fail;
    if (logs.n == 0) {
        s = mv_fail(MV_ERR_ARG, "%s: no training log (dit_<name>.log.jsonl) in this folder", dir);
        goto fail;
    }
    if (!(t->runs = calloc((size_t)logs.n, sizeof *t->runs))) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < logs.n; i++) {
        mv_training_run *r = &t->runs[t->n_runs++];
        size_t len = log_name_len(logs.name[i]);
        if (len >= sizeof r->name) {
            s = mv_fail(MV_ERR_ARG, "%s/%s: run name too long", dir, logs.name[i]);
            goto fail;
        }
        snprintf(r->name, sizeof r->name, "%.*s", (int)len, logs.name[i] + 4);
        snprintf(path, sizeof path, "%s/%s", dir, logs.name[i]);
        if ((s = read_log(r, path))) goto fail;
        snprintf(path, sizeof path, "%s/dit_%s.safetensors", dir, r->name);
        if ((s = read_checkpoint(r, path))) goto fail;
    }
    snprintf(pdir, sizeof pdir, "%s/probes", dir);
    if ((s = list_dir(&probes, pdir, 1, 1))) goto fail;
    for (int i = 0; i < probes.n; i++) {
        snprintf(path, sizeof path, "%s/%s", pdir, probes.name[i]);
        if ((s = read_probe(t, path, probes.num[i], i == probes.n - 1))) goto fail;
        t->n_probes++;
    }
fail:
    names_free(&logs);
    names_free(&probes);
    return s;
}

double mv_training_loss_tail(const mv_training_run *r, int k) {
    if (r->n < 1) return NAN;
    int from = r->n > k ? r->n - k : 0;
    double s = 0;
    for (int i = from; i < r->n; i++) s += r->loss[i];
    return s / (r->n - from);
}

void mv_training_smooth(double *out, const mv_training_run *r, int k) {
    for (int i = 0; i < r->n; i++) {
        int from = i + 1 > k ? i + 1 - k : 0;
        double s = 0;
        for (int j = from; j <= i; j++) s += r->loss[j];
        out[i] = s / (i + 1 - from);
    }
}
