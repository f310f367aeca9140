/* Training-state files: model, optimizer state and loss log (see checkpoint.h). */
#include "models/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "core/core.h"

static const char ST_SUFFIX[] = ".safetensors";

static mv_status parse_long(const char *path, const char *key, const char *val, long *out);

mv_status mv_ckpt_path(char *dst, size_t n, const char *out, const char *suffix) {
    size_t len = strlen(out), sl = strlen(ST_SUFFIX);
    if (len > sl && !strcmp(out + len - sl, ST_SUFFIX)) len -= sl;
    if ((size_t)snprintf(dst, n, "%.*s%s", (int)len, out, suffix) >= n)
        return mv_fail(MV_ERR_ARG, "%s: path too long", out);
    return MV_OK;
}

static mv_status save_model(const char *path, const mv_params *p, const mv_ckpt_meta *meta) {
    char step[32], ver[16];
    char *cfg = mv_config_to_json(&meta->config);
    if (!cfg) return mv_fail(MV_ERR_NOMEM, "%s: cannot serialise the configuration", path);
    snprintf(step, sizeof step, "%ld", meta->step);
    snprintf(ver, sizeof ver, "%d", MV_CKPT_FORMAT_VERSION);
    const char *kv[] = {"millivid_model", meta->model, "variant", meta->variant, "config", cfg,
                        "step", step, "format_version", ver,
                        meta->ae_hash[0] ? "ae_hash" : NULL, meta->ae_hash, NULL};
    mv_status s = mv_st_save_params(path, p, p->data, MV_DT_F32, kv);
    free(cfg);
    return s;
}

static mv_status save_optim(const char *path, const mv_params *p, const mv_ckpt_meta *meta,
                            const mv_train_state *ts) {
    mv_st_writer *w;
    char buf[4][32], name[200];
    snprintf(buf[0], sizeof buf[0], "%ld", ts->step);
    snprintf(buf[1], sizeof buf[1], "%" PRIu64, ts->seed);
    snprintf(buf[2], sizeof buf[2], "%" PRIu64, ts->rng_counter);
    snprintf(buf[3], sizeof buf[3], "%ld", ts->warmup_start);
    MV_TRY(mv_st_writer_open(&w, path));
    mv_status s = MV_OK;
    char ver[16];
    snprintf(ver, sizeof ver, "%d", MV_CKPT_FORMAT_VERSION);
    const char *kv[] = {"millivid_model", meta->model, "step", buf[0], "seed", buf[1],
                        "rng_counter", buf[2], "format_version", ver,
                        "optimizer", ts->optimizer[0] ? ts->optimizer : "adamw", "warmup_start", buf[3]};
    for (size_t i = 0; i < MV_ARRAY_LEN(kv); i += 2)
        if ((s = mv_st_writer_meta(w, kv[i], kv[i + 1])) != MV_OK) goto fail;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < p->count; i++) {
            snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->info[i].name);
            if ((s = mv_st_writer_declare(w, name, MV_DT_F32, p->info[i].ndim, p->info[i].shape))) goto fail;
        }
    if (ts->data_state && ts->data_state_len > 0) {
        int64_t n = ts->data_state_len;
        if ((s = mv_st_writer_declare(w, "data_state", MV_DT_I64, 1, &n))) goto fail;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < p->count; i++) {
            const float *arr = (k ? p->v : p->m) + p->info[i].offset;
            if ((s = mv_st_writer_write_f32(w, arr, p->info[i].numel))) goto fail;
        }
    if (ts->data_state && ts->data_state_len > 0 &&
        (s = mv_st_writer_write(w, ts->data_state, (size_t)ts->data_state_len * sizeof(int64_t))))
        goto fail;
    return mv_st_writer_finish(w);
fail:
    mv_st_writer_abort(w);
    return s;
}

mv_status mv_ckpt_save(const char *out, const mv_params *p, const mv_ckpt_meta *meta,
                       const mv_train_state *ts) {
    char path[1024], next[1024], optim[1024];
    MV_TRY(mv_ckpt_path(path, sizeof path, out, ST_SUFFIX));
    if (!ts) return save_model(path, p, meta);
    MV_ASSERT(p->m && p->v);
    MV_TRY(mv_ckpt_path(next, sizeof next, out, ".optim.next.safetensors"));
    MV_TRY(mv_ckpt_path(optim, sizeof optim, out, ".optim.safetensors"));
    MV_TRY(save_optim(next, p, meta, ts));
    mv_test_kill_point("ckpt-after-optim");
    MV_TRY(save_model(path, p, meta));
    mv_test_kill_point("ckpt-after-model");
    if (rename(next, optim))
        return mv_fail(MV_ERR_IO, "%s: cannot rename to %s: %s", next, optim, strerror(errno));
    return MV_OK;
}

/* Completes or discards an interrupted save (see checkpoint.h) for a model file at model_step. */
static mv_status finish_interrupted_save(const char *out, long model_step) {
    char next[1024], optim[1024];
    MV_TRY(mv_ckpt_path(next, sizeof next, out, ".optim.next.safetensors"));
    MV_TRY(mv_ckpt_path(optim, sizeof optim, out, ".optim.safetensors"));
    if (access(next, F_OK)) return MV_OK;
    mv_safetensors f;
    long step = -1;
    if (mv_st_open(&f, next) == MV_OK) {
        if (parse_long(next, "step", mv_st_meta(&f, "step"), &step)) step = -1;
        mv_st_close(&f);
    }
    if (step == model_step) {
        MV_INFO("%s: completing the checkpoint of step %ld that a stopped run left half renamed", optim, step);
        if (rename(next, optim)) return mv_fail(MV_ERR_IO, "%s: cannot rename to %s: %s", next, optim, strerror(errno));
    } else {
        MV_INFO("%s: removing the unfinished checkpoint of step %ld (the model file is at step %ld)", next, step,
                model_step);
        if (remove(next)) return mv_fail(MV_ERR_IO, "%s: cannot remove: %s", next, strerror(errno));
    }
    return MV_OK;
}

static mv_status parse_long(const char *path, const char *key, const char *val, long *out) {
    char *end;
    errno = 0;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || errno || end == val || *end)
        return mv_fail(MV_ERR_FORMAT, "%s: metadata '%s' missing or not an integer", path, key);
    *out = v;
    return MV_OK;
}

static void copy_str(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

mv_status mv_ckpt_open(mv_safetensors *f, mv_ckpt_meta *meta, const char *path,
                       const char *expect_model) {
    memset(meta, 0, sizeof *meta);
    MV_TRY(mv_st_open(f, path));
    mv_status s;
    const char *model = mv_st_meta(f, "millivid_model");
    if (!model) {
        s = mv_fail(MV_ERR_FORMAT, "%s: not a millivid checkpoint (no 'millivid_model' metadata)%s%s",
                    path, expect_model ? "; expected an " : "", expect_model ? expect_model : "");
        goto fail;
    }
    if (expect_model && strcmp(model, expect_model)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: expected %s %s checkpoint, found %s", path,
                    strchr("aeiou", expect_model[0]) ? "an" : "a", expect_model, model);
        goto fail;
    }
    long ver = 0;
    if ((s = parse_long(path, "format_version", mv_st_meta(f, "format_version"), &ver))) goto fail;
    if (ver != MV_CKPT_FORMAT_VERSION) {
        s = mv_fail(MV_ERR_FORMAT, "%s: checkpoint format_version %ld, this build reads %d", path, ver,
                    MV_CKPT_FORMAT_VERSION);
        goto fail;
    }
    if ((s = parse_long(path, "step", mv_st_meta(f, "step"), &meta->step))) goto fail;
    const char *cfg = mv_st_meta(f, "config");
    if (!cfg) {
        s = mv_fail(MV_ERR_FORMAT, "%s: metadata 'config' missing", path);
        goto fail;
    }
    if ((s = mv_config_from_json(&meta->config, cfg))) {
        s = mv_fail_prefix(s, "%s: metadata 'config'", path);
        goto fail;
    }
    copy_str(meta->model, sizeof meta->model, model);
    copy_str(meta->variant, sizeof meta->variant, mv_st_meta(f, "variant"));
    copy_str(meta->ae_hash, sizeof meta->ae_hash, mv_st_meta(f, "ae_hash"));
    return MV_OK;
fail:
    mv_st_close(f);
    memset(f, 0, sizeof *f);
    return s;
}

mv_status mv_ckpt_load_params(const mv_safetensors *f, mv_params *p, const char *prefix) {
    int part = prefix && prefix[0];
    return mv_st_load_params(f, p, p->data, part ? prefix : "", part);
}

mv_status mv_ckpt_load_optim(const char *out, mv_params *p, mv_train_state *ts, long expect_step) {
    char path[1024];
    MV_TRY(finish_interrupted_save(out, expect_step));
    MV_TRY(mv_ckpt_path(path, sizeof path, out, ".optim.safetensors"));
    mv_safetensors f;
    MV_TRY(mv_st_open(&f, path));
    mv_status s;
    long step = 0;
    if ((s = parse_long(path, "step", mv_st_meta(&f, "step"), &step))) goto fail;
    if (step != expect_step) {
        s = mv_fail(MV_ERR_FORMAT, "%s: optimizer state is from step %ld but the model file is at step %ld",
                    path, step, expect_step);
        goto fail;
    }
    /* seed / rng_counter are unsigned 64-bit decimals */
    const char *sv = mv_st_meta(&f, "seed"), *cv = mv_st_meta(&f, "rng_counter");
    if (!sv || !cv) {
        s = mv_fail(MV_ERR_FORMAT, "%s: metadata 'seed' or 'rng_counter' missing", path);
        goto fail;
    }
    memset(ts, 0, sizeof *ts);
    ts->step = step;
    ts->seed = strtoull(sv, NULL, 10);
    ts->rng_counter = strtoull(cv, NULL, 10);
    const char *opt = mv_st_meta(&f, "optimizer"), *ws = mv_st_meta(&f, "warmup_start");
    snprintf(ts->optimizer, sizeof ts->optimizer, "%s", opt ? opt : "adamw");
    if (ws && (s = parse_long(path, "warmup_start", ws, &ts->warmup_start))) goto fail;
    if ((s = mv_st_load_params(&f, p, p->m, "exp_avg.", 1)) || (s = mv_st_load_params(&f, p, p->v, "exp_avg_sq.", 1)))
        goto fail;
    const mv_tensor_view *ds = mv_st_find(&f, "data_state");
    if (ds) {
        if (ds->dtype != MV_DT_I64 || ds->ndim != 1) {
            s = mv_fail(MV_ERR_FORMAT, "%s: 'data_state' must be a 1-D I64 tensor", path);
            goto fail;
        }
        ts->data_state = malloc(ds->nbytes ? ds->nbytes : 1);
        if (!ts->data_state) {
            s = mv_fail(MV_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(ts->data_state, ds->data, ds->nbytes);
        ts->data_state_len = (int64_t)ds->numel;
    }
    mv_st_close(&f);
    return MV_OK;
fail:
    mv_st_close(&f);
    return s;
}

#define CMP(field, key)                                                                        \
    do {                                                                                       \
        if (want->field != found->field)                                                       \
            return mv_fail(MV_ERR_SHAPE, "%s: config '%s' is %d in the file, expected %d (%s preset)", \
                           path, key, (int)found->field, (int)want->field, want->preset);       \
    } while (0)

mv_status mv_ckpt_check_config(const char *path, const char *model, const mv_config *want,
                               const mv_config *found) {
    CMP(image_size, "image_size");
    CMP(levels, "levels");
    CMP(patch, "patch");
    CMP(latent_channels, "latent_channels");
    if (!strcmp(model, "autoencoder")) {
        CMP(ae_width, "ae.width");
        CMP(ae_depth, "ae.depth");
        CMP(ae_heads, "ae.heads");
    } else {
        CMP(dit_width, "dit.width");
        CMP(dit_depth, "dit.depth");
        CMP(dit_heads, "dit.heads");
    }
    return MV_OK;
}
#undef CMP

/* The value of "step" in one JSON line, or -1 when absent. */
static long line_step(const char *line) {
    const char *s = strstr(line, "\"step\"");
    if (!s) return -1;
    s += 6;
    while (*s == ' ' || *s == ':') s++;
    return strtol(s, NULL, 10);
}

static mv_status log_truncate(const char *path, long resume_step) {
    FILE *in = fopen(path, "r");
    if (!in) return MV_OK; /* nothing logged yet */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return mv_fail(MV_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break; /* a torn last line from a crash */
        long st = line_step(line);
        if (st >= 0 && st <= resume_step) fputs(line, out);
    }
    free(line);
    fclose(in);
    int bad = ferror(out);
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path)) {
        remove(tmp);
        return mv_fail(MV_ERR_IO, "%s: cannot rewrite the log", path);
    }
    return MV_OK;
}

mv_status mv_ckpt_log_open(FILE **f, const char *out, long resume_step) {
    char path[1024];
    MV_TRY(mv_ckpt_path(path, sizeof path, out, ".log.jsonl"));
    if (resume_step >= 0) MV_TRY(log_truncate(path, resume_step));
    *f = fopen(path, resume_step >= 0 ? "a" : "w");
    if (!*f) return mv_fail(MV_ERR_IO, "%s: cannot open the log: %s", path, strerror(errno));
    return MV_OK;
}

mv_status mv_ckpt_log_write(FILE *f, const char *json) {
    if (fprintf(f, "%s\n", json) < 0 || fflush(f))
        return mv_fail(MV_ERR_IO, "cannot write the training log: %s", strerror(errno));
    return MV_OK;
}
