/* millivid encode: every frame of a data set through the autoencoder's encoder, written as one
 * safetensors file with a BF16 tensor per level, "level{l}" of shape (videos, frames, tokens_l, C)
 * (token-major, row-major cells, channel last), plus metadata (ae_hash, config, source, ...).
 * One pass over the data: level 0 streams straight into the file, the coarser levels (1/3 of the size
 * together) are spilled to temporary files and appended at the end, so memory stays bounded. */
#include <errno.h>

#include "common.h"
#include "io/dataset.h"
#include "io/files.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"

#define ENCODE_FORMAT_VERSION 1

typedef struct {
    const char *ae, *data, *out;
    int batch, threads;
} encode_opts;

static const cli_command encode_cmd = {
    "encode", "usage: millivid encode --ae FILE --data DIR --out FILE.safetensors [--batch B] [--threads T]\n"
              "  writes level0 ... level{L-1} latents (videos, frames, tokens, C) in BF16\n", NULL};

static int parse_opts(int argc, char **argv, encode_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 32;
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &o->ae, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_STRING("--data", "DIR", &o->data, "data set to encode", .required = 1),
        CLI_OPT_STRING("--out", "FILE", &o->out, "latents (FILE.safetensors)", .required = 1),
        CLI_OPT_INT("--batch", "B", &o->batch, 1, 4096, "frames per encoder call [32]"),
        CLI_OPT_INT("--threads", "T", &o->threads, 0, 1024, "OpenMP + GEMM threads [all cores]"),
    };
    return cli_parse(argc, argv, &encode_cmd, opts, MV_ARRAY_LEN(opts));
}

static mv_status write_meta(mv_st_writer *w, const mv_ae *ae, const mv_dataset *d, const char *src) {
    char hash[17], nv[32], nf[32], lv[16], ver[16];
    mv_ae_hash(ae, hash);
    snprintf(nv, sizeof nv, "%d", d->videos);
    snprintf(nf, sizeof nf, "%d", d->frames_per_video);
    snprintf(lv, sizeof lv, "%d", ae->L);
    snprintf(ver, sizeof ver, "%d", ENCODE_FORMAT_VERSION);
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

/* Appends the BF16 rows of levels 1..L-1 of lat [B, T, C] to their spill files. */
static mv_status spill(FILE **sp, uint16_t *buf, const mv_ae *ae, const float *lat, int B) {
    for (int l = 1; l < ae->L; l++) {
        size_t n = 0, row = (size_t)ae->tokens[l] * ae->C;
        for (int b = 0; b < B; b++) {
            const float *src = lat + ((size_t)b * ae->T + ae->offset[l]) * ae->C;
            for (size_t i = 0; i < row; i++) buf[n++] = mv_f32_to_bf16(src[i]);
        }
        if (fwrite(buf, sizeof *buf, n, sp[l]) != n)
            return mv_fail(MV_ERR_IO, "cannot write a temporary file: %s", strerror(errno));
    }
    return MV_OK;
}

static mv_status copy_spill(mv_st_writer *w, FILE *f, size_t bytes) {
    char buf[1 << 16];
    rewind(f);
    while (bytes) {
        size_t n = bytes < sizeof buf ? bytes : sizeof buf;
        if (fread(buf, 1, n, f) != n) return mv_fail(MV_ERR_IO, "cannot read back a temporary file");
        MV_TRY(mv_st_writer_write(w, buf, n));
        bytes -= n;
    }
    return MV_OK;
}

typedef struct {
    mv_ae ae;
    mv_dataset d;
    mv_ae_work *work;
    float *patches, *lat, *lat0;
    uint16_t *bf;
    FILE *spill[MV_MAX_LEVELS];
    mv_st_writer *w;
} encode_run;

static mv_status encode_all(const encode_opts *o, encode_run *r) {
    const mv_ae *ae = &r->ae;
    long total = (long)r->d.videos * r->d.frames_per_video;
    int B = o->batch;
    mv_progress prog;
    mv_progress_start(&prog, "encode", total, "frames");
    for (long f0 = 0; f0 < total; f0 += B) {
        int n = (int)MV_MIN((long)B, total - f0);
        const uint8_t *frames = mv_dataset_frame(&r->d, 0, 0) + (size_t)f0 * ae->H * ae->H * 3;
        mv_ae_pyramid_u8(ae, r->work, r->patches, frames, n);
        mv_ae_encode(ae, r->work, r->lat, r->patches, n);
        for (int b = 0; b < n; b++) /* level-0 rows of every frame, contiguous for the writer */
            memcpy(r->lat0 + (size_t)b * ae->tokens[0] * ae->C, r->lat + (size_t)b * ae->T * ae->C,
                   (size_t)ae->tokens[0] * ae->C * sizeof(float));
        MV_TRY(mv_st_writer_write_f32(r->w, r->lat0, (size_t)n * ae->tokens[0] * ae->C));
        MV_TRY(spill(r->spill, r->bf, ae, r->lat, n));
        mv_progress_update(&prog, f0 + n, NULL);
    }
    mv_progress_end(&prog, total, NULL);
    for (int l = 1; l < ae->L; l++)
        MV_TRY(copy_spill(r->w, r->spill[l], (size_t)total * ae->tokens[l] * ae->C * sizeof(uint16_t)));
    return MV_OK;
}

static mv_status run(const encode_opts *o) {
    mv_set_threads(o->threads);
    encode_run r;
    memset(&r, 0, sizeof r);
    mv_status s;
    const mv_ae *ae = &r.ae;
    if ((s = cli_open_ae_data(&r.ae, o->ae, &r.d, o->data))) goto fail;
    int B = o->batch;
    if ((s = mv_ae_work_create(&r.work, ae, B, 0))) goto fail;
    r.patches = malloc((size_t)B * ae->T * ae->PD * sizeof(float));
    r.lat = malloc((size_t)B * ae->T * ae->C * sizeof(float));
    r.lat0 = malloc((size_t)B * ae->T * ae->C * sizeof(float));
    r.bf = malloc((size_t)B * ae->T * ae->C * sizeof(uint16_t));
    for (int l = 1; l < ae->L; l++) r.spill[l] = tmpfile();
    for (int l = 1; l < ae->L; l++)
        if (!r.spill[l]) s = mv_fail(MV_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    if (!s && (!r.patches || !r.lat || !r.lat0 || !r.bf)) s = mv_fail(MV_ERR_NOMEM, "out of memory");
    if (s || (s = mv_make_parent_dirs(o->out)) || (s = mv_st_writer_open(&r.w, o->out))) goto fail;
    if ((s = write_meta(r.w, ae, &r.d, o->data))) goto fail;
    for (int l = 0; l < ae->L && !s; l++) {
        char name[16];
        int64_t shape[4] = {r.d.videos, r.d.frames_per_video, ae->tokens[l], ae->C};
        snprintf(name, sizeof name, "level%d", l);
        s = mv_st_writer_declare(r.w, name, MV_DT_BF16, 4, shape);
    }
    fprintf(stderr, "encoding %s (%d videos x %d frames) with %s (%s, %d levels, C %d) -> %s\n", o->data,
            r.d.videos, r.d.frames_per_video, o->ae, mv_ae_variant_name(ae->variant), ae->L, ae->C, o->out);
    if (s || (s = encode_all(o, &r))) goto fail;
    s = mv_st_writer_finish(r.w);
    r.w = NULL;
fail:
    if (r.w) mv_st_writer_abort(r.w);
    for (int l = 1; l < MV_MAX_LEVELS; l++)
        if (r.spill[l]) fclose(r.spill[l]);
    free(r.patches), free(r.lat), free(r.lat0), free(r.bf);
    mv_ae_work_free(r.work);
    mv_dataset_close(&r.d);
    mv_ae_free(&r.ae);
    return s;
}

int cmd_encode(int argc, char **argv) {
    encode_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    return run(&o) == MV_OK ? 0 : 1;
}
