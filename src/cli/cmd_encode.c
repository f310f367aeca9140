/* millivid encode: every frame of a data set through the autoencoder's encoder, written as a latents
 * file (src/pipeline/latents.h: a BF16 tensor "level{l}" (videos, frames, tokens_l, C) per level plus
 * metadata), in batches of --batch frames. */
#include "common.h"
#include "io/dataset.h"
#include "models/autoencoder.h"
#include "pipeline/latents.h"

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

typedef struct {
    mv_ae ae;
    mv_dataset d;
    mv_ae_work *work;
    float *patches, *lat;
    mv_latents_writer *w;
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
        MV_TRY(mv_latents_append(r->w, r->lat, n));
        mv_progress_update(&prog, f0 + n, NULL);
    }
    mv_progress_end(&prog, total, NULL);
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
    if (!r.patches || !r.lat) s = mv_fail(MV_ERR_NOMEM, "out of memory");
    if (s || (s = mv_latents_create(&r.w, o->out, ae, &r.d, o->data, B))) goto fail;
    fprintf(stderr, "encoding %s (%d videos x %d frames) with %s (%s, %d levels, C %d) -> %s\n", o->data,
            r.d.videos, r.d.frames_per_video, o->ae, mv_ae_variant_name(ae->variant), ae->L, ae->C, o->out);
    if ((s = encode_all(o, &r))) goto fail;
    s = mv_latents_finish(r.w);
    r.w = NULL;
fail:
    mv_latents_abort(r.w);
    free(r.patches), free(r.lat);
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
