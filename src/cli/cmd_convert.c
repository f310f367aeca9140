/* millivid convert: rewrite a checkpoint's floating-point tensors in another dtype (metadata kept).
 * The shipped models are stored in BF16 this way: half the bytes of F32, and every loader converts
 * back to F32 on load (io/tensorfile.c), so nothing else needs to know. */
#include <string.h>

#include "cli.h"
#include "io/files.h"
#include "io/tensorfile.h"

static const cli_command convert_cmd = {
    "convert",
    "usage: millivid convert --in FILE.safetensors --out FILE.safetensors [--dtype bf16|f16|f32]\n\n"
    "Rewrites every F32 / F16 / BF16 / F64 tensor of a safetensors file (a model checkpoint, latents)\n"
    "in the given dtype; integer tensors and all metadata are copied unchanged. BF16 halves a model\n"
    "file; weights are rounded to nearest even (about 3 significant digits), which the models were\n"
    "checked to tolerate before shipping. The output is written atomically; --in may equal --out.\n",
    NULL};

static int is_float(mv_dtype d) { return d == MV_DT_F32 || d == MV_DT_F16 || d == MV_DT_BF16 || d == MV_DT_F64; }

static mv_status convert_file(const char *in, const char *out, mv_dtype to) {
    mv_safetensors f;
    MV_TRY(mv_st_open(&f, in));
    mv_st_writer *w = NULL;
    float *buf = NULL;
    size_t cap = 0;
    mv_status s = mv_make_parent_dirs(out);
    if (!s) s = mv_st_writer_open(&w, out);
    for (int i = 0; !s && i < f.meta_count; i++) s = mv_st_writer_meta(w, f.meta_keys[i], f.meta_vals[i]);
    for (int i = 0; !s && i < f.count; i++) {
        const mv_tensor_view *t = &f.tensors[i];
        s = mv_st_writer_declare(w, t->name, is_float(t->dtype) ? to : t->dtype, t->ndim, t->shape);
    }
    for (int i = 0; !s && i < f.count; i++) {
        const mv_tensor_view *t = &f.tensors[i];
        if (!is_float(t->dtype)) {
            s = mv_st_writer_write(w, t->data, t->nbytes);
            continue;
        }
        if (t->numel > cap) {
            mv_free(buf);
            cap = t->numel;
            if (!(buf = mv_alloc(cap * sizeof(float)))) s = MV_ERR_NOMEM; /* message set by mv_alloc */
        }
        if (!s) s = mv_st_read_f32(&f, t->name, buf, t->numel);
        if (!s) s = mv_st_writer_write_f32(w, buf, t->numel);
    }
    if (w) {
        if (!s) s = mv_st_writer_finish(w);
        else mv_st_writer_abort(w);
    }
    mv_free(buf);
    mv_st_close(&f);
    return s;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *dtype = "bf16";
    const cli_option opts[] = {
        CLI_OPT_STRING("--in", "FILE", &in, "safetensors file to read", .required = 1),
        CLI_OPT_STRING("--out", "FILE", &out, "safetensors file to write", .required = 1),
        CLI_OPT_STRING("--dtype", "T", &dtype, "bf16 | f16 | f32 [bf16]"),
    };
    int rc = cli_parse(argc, argv, &convert_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc < 0 ? 0 : 1;
    mv_dtype to;
    if (!strcmp(dtype, "bf16")) to = MV_DT_BF16;
    else if (!strcmp(dtype, "f16")) to = MV_DT_F16;
    else if (!strcmp(dtype, "f32")) to = MV_DT_F32;
    else {
        mv_fail(MV_ERR_ARG, "--dtype: unknown dtype '%s' (bf16, f16 or f32)", dtype);
        return 2;
    }
    if (convert_file(in, out, to) != MV_OK) return 1;
    fprintf(stderr, "millivid convert: wrote %s (%s)\n", out, dtype);
    return 0;
}
