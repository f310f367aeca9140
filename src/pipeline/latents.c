/* Latents files: reading for training, writing for `millivid encode` (see latents.h). */
#include "pipeline/latents.h"

#include <errno.h>

#include "core/core.h"
#include "io/files.h"

/* ------------------------------------------------------------------ reading */

mv_status mv_latents_open(mv_latents *l, const char *path, const mv_config *cfg, int need_levels) {
    memset(l, 0, sizeof *l);
    MV_TRY(mv_st_open(&l->file, path));
    mv_status s = MV_OK;
    const char *h = mv_st_meta(&l->file, "ae_hash");
    snprintf(l->ae_hash, sizeof l->ae_hash, "%s", h ? h : "");
    for (int lv = 0; lv < MV_MAX_LEVELS; lv++) {
        char name[24];
        snprintf(name, sizeof name, "level%d", lv);
        const mv_tensor_view *t = mv_st_find(&l->file, name);
        if (!t) break;
        if (t->ndim != 4 || (t->dtype != MV_DT_BF16 && t->dtype != MV_DT_F32)) {
            s = mv_fail(MV_ERR_FORMAT, "%s: tensor %s must be (videos, frames, tokens, channels) BF16 or F32",
                        path, name);
            goto fail;
        }
        if (lv == 0) {
            l->videos = (int)t->shape[0], l->frames = (int)t->shape[1], l->C = (int)t->shape[3];
        } else if (t->shape[0] != l->videos || t->shape[1] != l->frames || t->shape[3] != l->C) {
            s = mv_fail(MV_ERR_FORMAT, "%s: %s has a different video/frame/channel count than level0", path, name);
            goto fail;
        }
        l->level[lv] = t;
        l->levels = lv + 1;
    }
    if (l->levels == 0) {
        s = mv_fail(MV_ERR_FORMAT, "%s: no 'level0' tensor: not a latents file (make one with millivid encode)", path);
        goto fail;
    }
    if (l->C != cfg->latent_channels) {
        s = mv_fail(MV_ERR_SHAPE, "%s: latents have %d channels, the config (%s) has latent_channels %d", path, l->C,
                    cfg->preset, cfg->latent_channels);
        goto fail;
    }
    if (l->levels < need_levels || l->levels > cfg->levels) {
        s = mv_fail(MV_ERR_SHAPE, "%s: latents have %d levels, the config (%s) has %d levels (%d needed)", path,
                    l->levels, cfg->preset, cfg->levels, need_levels);
        goto fail;
    }
    for (int lv = 0; lv < l->levels; lv++)
        if (l->level[lv]->shape[2] != mv_config_tokens(cfg, lv)) {
            s = mv_fail(MV_ERR_SHAPE, "%s: level%d has %lld tokens per frame, the config (%s) expects %d", path, lv,
                        (long long)l->level[lv]->shape[2], cfg->preset, mv_config_tokens(cfg, lv));
            goto fail;
        }
    return MV_OK;
fail:
    mv_latents_close(l);
    return s;
}

void mv_latents_close(mv_latents *l) {
    mv_st_close(&l->file);
    memset(l, 0, sizeof *l);
}

void mv_latents_read(const mv_latents *l, int level, int video, int frame, float *dst) {
    const mv_tensor_view *t = l->level[level];
    size_t n = (size_t)t->shape[2] * t->shape[3];
    size_t off = ((size_t)video * t->shape[1] + frame) * n;
    if (t->dtype == MV_DT_F32) {
        memcpy(dst, (const float *)t->data + off, n * sizeof(float));
    } else {
        const uint16_t *src = (const uint16_t *)t->data + off;
        for (size_t i = 0; i < n; i++) dst[i] = mv_bf16_to_f32(src[i]);
    }
}

/* ------------------------------------------------------------------ writing */

struct mv_latents_writer {
    mv_st_writer *st;
    int L, T, C, max_batch;
    int tokens[MV_MAX_LEVELS], offset[MV_MAX_LEVELS];
    long frames_total;           /* videos * frames of the data set */
    FILE *spill[MV_MAX_LEVELS];  /* levels 1..L-1, BF16 rows in frame order */
    float *lat0;                 /* [max_batch, T_0, C] */
    uint16_t *bf;                /* [max_batch, T, C] */
};

static mv_status write_meta(mv_st_writer *w, const mv_ae *ae, const mv_dataset *d, const char *src) {
    char hash[17], nv[32], nf[32], lv[16], ver[16];
    mv_ae_hash(ae, hash);
    snprintf(nv, sizeof nv, "%d", d->videos);
    snprintf(nf, sizeof nf, "%d", d->frames_per_video);
    snprintf(lv, sizeof lv, "%d", ae->L);
    snprintf(ver, sizeof ver, "%d", MV_LATENTS_FORMAT_VERSION);
    char *cfg = mv_config_to_json(&ae->cfg);
    if (!cfg) return MV_ERR_NOMEM;
    const char *kv[] = {"content", "latents", "format_version", ver, "ae_hash", hash,
                        "ae_variant", mv_ae_variant_name(ae->variant), "config", cfg, "source", src,
                        "split", d->split, "videos", nv, "frames", nf, "levels", lv};
    mv_status s = MV_OK;
    for (size_t i = 0; i < MV_ARRAY_LEN(kv) && !s; i += 2) s = mv_st_writer_meta(w, kv[i], kv[i + 1]);
    free(cfg);
    return s;
}

/* Closes the spill files and frees w (not the safetensors writer). */
static void writer_free(mv_latents_writer *w) {
    for (int l = 1; l < MV_MAX_LEVELS; l++)
        if (w->spill[l]) fclose(w->spill[l]);
    free(w->lat0);
    free(w->bf);
    free(w);
}

void mv_latents_abort(mv_latents_writer *w) {
    if (!w) return;
    if (w->st) mv_st_writer_abort(w->st);
    writer_free(w);
}

mv_status mv_latents_create(mv_latents_writer **out, const char *path, const mv_ae *ae, const mv_dataset *d,
                            const char *source, int max_batch) {
    *out = NULL;
    mv_latents_writer *w = calloc(1, sizeof *w);
    if (!w) return mv_fail(MV_ERR_NOMEM, "out of memory");
    w->L = ae->L, w->T = ae->T, w->C = ae->C, w->max_batch = max_batch;
    memcpy(w->tokens, ae->tokens, sizeof w->tokens);
    memcpy(w->offset, ae->offset, sizeof w->offset);
    w->frames_total = (long)d->videos * d->frames_per_video;
    mv_status s = MV_OK;
    w->lat0 = malloc((size_t)max_batch * ae->T * ae->C * sizeof(float));
    w->bf = malloc((size_t)max_batch * ae->T * ae->C * sizeof(uint16_t));
    for (int l = 1; l < ae->L; l++) w->spill[l] = tmpfile();
    for (int l = 1; l < ae->L; l++)
        if (!w->spill[l]) s = mv_fail(MV_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    if (!s && (!w->lat0 || !w->bf)) s = mv_fail(MV_ERR_NOMEM, "out of memory");
    if (s || (s = mv_make_parent_dirs(path)) || (s = mv_st_writer_open(&w->st, path))) goto fail;
    if ((s = write_meta(w->st, ae, d, source))) goto fail;
    for (int l = 0; l < ae->L && !s; l++) {
        char name[16];
        int64_t shape[4] = {d->videos, d->frames_per_video, ae->tokens[l], ae->C};
        snprintf(name, sizeof name, "level%d", l);
        s = mv_st_writer_declare(w->st, name, MV_DT_BF16, 4, shape);
    }
    if (s) goto fail;
    *out = w;
    return MV_OK;
fail:
    mv_latents_abort(w);
    return s;
}

/* Appends the BF16 rows of levels 1..L-1 of lat [n, T, C] to their spill files. */
static mv_status spill(mv_latents_writer *w, const float *lat, int n) {
    for (int l = 1; l < w->L; l++) {
        size_t k = 0, row = (size_t)w->tokens[l] * w->C;
        for (int b = 0; b < n; b++) {
            const float *src = lat + ((size_t)b * w->T + w->offset[l]) * w->C;
            for (size_t i = 0; i < row; i++) w->bf[k++] = mv_f32_to_bf16(src[i]);
        }
        if (fwrite(w->bf, sizeof *w->bf, k, w->spill[l]) != k)
            return mv_fail(MV_ERR_IO, "cannot write a temporary file: %s", strerror(errno));
    }
    return MV_OK;
}

mv_status mv_latents_append(mv_latents_writer *w, const float *lat, int n) {
    MV_ASSERT(n >= 0 && n <= w->max_batch);
    size_t row0 = (size_t)w->tokens[0] * w->C;
    for (int b = 0; b < n; b++) /* level-0 rows of every frame, contiguous for the writer */
        memcpy(w->lat0 + b * row0, lat + (size_t)b * w->T * w->C, row0 * sizeof(float));
    MV_TRY(mv_st_writer_write_f32(w->st, w->lat0, (size_t)n * row0));
    return spill(w, lat, n);
}

static mv_status copy_spill(mv_st_writer *st, FILE *f, size_t bytes) {
    char buf[1 << 16];
    rewind(f);
    while (bytes) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        if (fread(buf, 1, n, f) != n) return mv_fail(MV_ERR_IO, "cannot read back a temporary file");
        MV_TRY(mv_st_writer_write(st, buf, n));
        bytes -= n;
    }
    return MV_OK;
}

mv_status mv_latents_finish(mv_latents_writer *w) {
    mv_status s = MV_OK;
    for (int l = 1; l < w->L && !s; l++)
        s = copy_spill(w->st, w->spill[l], (size_t)w->frames_total * w->tokens[l] * w->C * sizeof(uint16_t));
    if (s) {
        mv_latents_abort(w);
        return s;
    }
    s = mv_st_writer_finish(w->st);
    writer_free(w);
    return s;
}
