/* File formats and configuration: .npy and safetensors round trips with numpy / a plain Python
 * reader-writer (tools/io_ref.py), corrupt files rejected by `millivid info` with one message,
 * parameter arenas, data set validation, config presets, overrides and validation. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/rng.h"
#include "io/config.h"
#include "io/dataset.h"
#include "io/tensorfile.h"
#include "testutil.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static char g_bin[512]; /* the millivid binary of this build */

static void pattern(float *x, size_t n, double scale, double offset) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)i * scale + offset);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---------------- .npy ---------------- */

static void test_npy_from_numpy(const char *dir) {
    char p[1024];
    mv_npy a;
    float want[60], got[60];
    pattern(want, 60, 0.25, -3.0);
    snprintf(p, sizeof p, "%s/f32_v1.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK, "%s", mv_last_error());
    CHECK(a.dtype == MV_DT_F32 && a.ndim == 3 && a.shape[0] == 3 && a.shape[1] == 4 && a.shape[2] == 5 &&
              a.numel == 60, "f32 v1 header");
    if (a.data) {
        memcpy(got, a.data, sizeof got);
        tu_close("npy v1 float32 from numpy", got, want, 60, 0, 0);
    }
    mv_npy_close(&a);

    snprintf(p, sizeof p, "%s/u8_v2.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK, "%s", mv_last_error());
    int ok = a.dtype == MV_DT_U8 && a.ndim == 3 && a.numel == 24;
    for (int i = 0; ok && i < 24; i++) ok = ((const uint8_t *)a.data)[i] == i;
    CHECK(ok, "u8 v2 array read");
    mv_npy_close(&a);

    snprintf(p, sizeof p, "%s/f32_v3.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.ndim == 1 && a.shape[0] == 6 && ((const float *)a.data)[5] == -1.75f,
          "v3: %s", mv_last_error());
    mv_npy_close(&a);

    snprintf(p, sizeof p, "%s/i32.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.dtype == MV_DT_I32 && ((const int32_t *)a.data)[0] == -5, "i32");
    mv_npy_close(&a);
    snprintf(p, sizeof p, "%s/i64.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.dtype == MV_DT_I64 && ((const int64_t *)a.data)[9] == 4, "i64");
    mv_npy_close(&a);
    snprintf(p, sizeof p, "%s/f64.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.dtype == MV_DT_F64 && ((const double *)a.data)[7] == -1.25, "f64");
    mv_npy_close(&a);
    snprintf(p, sizeof p, "%s/scalar.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.ndim == 0 && a.numel == 1 && ((const float *)a.data)[0] == 2.5f,
          "0-d array: %s", mv_last_error());
    mv_npy_close(&a);
    snprintf(p, sizeof p, "%s/empty.npy", dir);
    CHECK(mv_npy_open(&a, p) == MV_OK && a.ndim == 2 && a.numel == 0, "empty array: %s", mv_last_error());
    mv_npy_close(&a);
}

static void test_npy_to_numpy(const char *dir) {
    char p[1024];
    float f[24];
    pattern(f, 24, 0.25, -3.0);
    int64_t s3[3] = {2, 3, 4}, s2[2] = {5, 7}, s4[4] = {4, 6, 6, 3}, s1[1] = {3};
    snprintf(p, sizeof p, "%s/c_f32.npy", dir);
    CHECK(mv_npy_save(p, MV_DT_F32, 3, s3, f) == MV_OK, "%s", mv_last_error());
    uint8_t u[432];
    for (int i = 0; i < 35; i++) u[i] = (uint8_t)(i * 7 % 256);
    snprintf(p, sizeof p, "%s/c_u8.npy", dir);
    CHECK(mv_npy_save(p, MV_DT_U8, 2, s2, u) == MV_OK, "%s", mv_last_error());
    int64_t i64[3] = {-1, 0, (int64_t)1 << 40};
    snprintf(p, sizeof p, "%s/c_i64.npy", dir);
    CHECK(mv_npy_save(p, MV_DT_I64, 1, s1, i64) == MV_OK, "%s", mv_last_error());

    /* Streaming, in uneven pieces (as frames arrive from a renderer). */
    for (int i = 0; i < 432; i++) u[i] = (uint8_t)(i % 251);
    mv_npy_writer *w;
    snprintf(p, sizeof p, "%s/c_stream.npy", dir);
    CHECK(mv_npy_writer_open(&w, p, MV_DT_U8, 4, s4) == MV_OK, "%s", mv_last_error());
    CHECK(mv_npy_writer_append(w, u, 100) == MV_OK, "piece 1");
    CHECK(!file_exists(p), "nothing at the final path before finish");
    CHECK(mv_npy_writer_append(w, u + 100, 332) == MV_OK, "piece 2");
    CHECK(mv_npy_writer_finish(w) == MV_OK, "%s", mv_last_error());
    CHECK(tu_python("tools/io_ref.py npy_check %s", dir) == 0, "numpy.load reads the C-written .npy files");

    /* A short write is refused and leaves neither the file nor its temporary behind. */
    snprintf(p, sizeof p, "%s/c_short.npy", dir);
    CHECK(mv_npy_writer_open(&w, p, MV_DT_U8, 4, s4) == MV_OK, "%s", mv_last_error());
    mv_npy_writer_append(w, u, 431);
    CHECK(mv_npy_writer_finish(w) != MV_OK && strstr(mv_last_error(), "431 of 432"), "short: %s", mv_last_error());
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CHECK(!file_exists(p) && !file_exists(tmp), "no file left after a short write");
    CHECK(mv_npy_writer_open(&w, p, MV_DT_U8, 4, s4) == MV_OK, "%s", mv_last_error());
    CHECK(mv_npy_writer_append(w, u, 433) != MV_OK, "too many bytes refused");
    mv_npy_writer_abort(w);
    CHECK(!file_exists(tmp), "abort removes the temporary");
}

/* ---------------- safetensors ---------------- */

static void test_st_from_python(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/py.safetensors", dir);
    mv_safetensors f;
    CHECK(mv_st_open(&f, p) == MV_OK, "%s", mv_last_error());
    if (!f.map) return;
    CHECK(f.count == 13, "13 tensors, got %d", f.count);
    CHECK(f.meta_count == 2 && mv_st_meta(&f, "format") && !strcmp(mv_st_meta(&f, "format"), "pt"), "metadata");
    const char *note = mv_st_meta(&f, "note");
    CHECK(note && !strcmp(note, "caf\xc3\xa9 \"quoted\"\n2"), "escaped metadata: %s", note ? note : "(null)");
    CHECK(!strcmp(f.tensors[0].name, "f32") && !strcmp(f.tensors[1].name, "bf16"), "offset order");
    float want[24], got[24];
    pattern(want, 24, 0.25, -3.0);
    static const char *names[] = {"f32", "bf16", "f16"};
    for (int k = 0; k < 3; k++) {
        memset(got, 0, sizeof got);
        CHECK(mv_st_read_f32(&f, names[k], got, 24) == MV_OK, "%s", mv_last_error());
        tu_close(names[k], got, want, 24, 0, 0); /* pattern values are exact in all three */
    }
    CHECK(mv_st_read_f32(&f, "f32", got, 23) == MV_ERR_SHAPE && strstr(mv_last_error(), "expected 23 elements found 24"),
          "numel check: %s", mv_last_error());
    CHECK(mv_st_read_f32(&f, "nope", got, 1) != MV_OK && strstr(mv_last_error(), p), "missing names the file");
    CHECK(mv_st_read_rows_f32(&f, "f32", 1, 1, got) == MV_OK, "rows");
    tu_close("row slice", got, want + 12, 12, 0, 0);
    CHECK(mv_st_read_rows_f32(&f, "f32", 1, 2, got) == MV_ERR_SHAPE, "rows past the end refused");
    float u8[6], i32[3], i64[2], f64[4], sc;
    CHECK(mv_st_read_f32(&f, "u8", u8, 6) == MV_OK && u8[0] == 250 && u8[5] == 255, "u8");
    CHECK(mv_st_read_f32(&f, "i32", i32, 3) == MV_OK && i32[0] == -7 && i32[2] == 2147483648.0f, "i32");
    CHECK(mv_st_read_f32(&f, "i64", i64, 2) == MV_OK && i64[0] == -9 && i64[1] == 1099511627776.0f, "i64");
    CHECK(mv_st_read_f32(&f, "f64", f64, 4) == MV_OK && f64[3] == -2.25f, "f64");
    CHECK(mv_st_read_f32(&f, "scalar", &sc, 1) == MV_OK && sc == 1.5f && mv_st_find(&f, "scalar")->ndim == 0,
          "scalar");
    CHECK(mv_st_find(&f, "empty") && mv_st_find(&f, "empty")->numel == 0, "empty tensor");

    /* Every half-precision bit pattern against numpy's float16 -> float32. */
    float *a = malloc(65536 * 4), *b = malloc(65536 * 4);
    CHECK(mv_st_read_f32(&f, "all_f16", a, 65536) == MV_OK, "all f16");
    CHECK(mv_st_read_f32(&f, "all_f16_as_f32", b, 65536) == MV_OK, "all f16 as f32");
    int bad = 0;
    for (int i = 0; i < 65536; i++)
        bad += !(isnan(a[i]) ? isnan(b[i]) : memcmp(&a[i], &b[i], 4) == 0);
    CHECK(bad == 0, "f16 -> f32 differs from numpy for %d bit patterns", bad);
    CHECK(mv_st_read_f32(&f, "all_bf16", a, 65536) == MV_OK, "all bf16");
    bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint32_t u = i << 16;
        bad += memcmp(&a[i], &u, 4) != 0;
    }
    CHECK(bad == 0, "bf16 -> f32 is not a 16-bit shift for %d patterns", bad);
    free(a);
    free(b);
    mv_st_close(&f);
}

/* The metadata and tensor declarations of c.safetensors (np probe values). */
static void declare_c(mv_st_writer *wr, size_t np) {
    int64_t s34[2] = {3, 4}, s12[1] = {12}, s26[2] = {2, 6}, sp[1] = {(int64_t)np}, s0[1] = {0};
    mv_st_writer_meta(wr, "kind", "test");
    mv_st_writer_meta(wr, "config", "{\"a\": [1, 2]}\n");
    mv_st_writer_meta(wr, "empty", "");
    mv_st_writer_declare(wr, "w.f32", MV_DT_F32, 2, s34);
    mv_st_writer_declare(wr, "w.bf16", MV_DT_BF16, 1, s12);
    mv_st_writer_declare(wr, "w.f16", MV_DT_F16, 2, s26);
    mv_st_writer_declare(wr, "probe.bf16", MV_DT_BF16, 1, sp);
    mv_st_writer_declare(wr, "probe.f16", MV_DT_F16, 1, sp);
    mv_st_writer_declare(wr, "zero", MV_DT_F32, 1, s0);
}

static void test_st_to_python(const char *dir) {
    char p[1024], pp[1024];
    snprintf(pp, sizeof pp, "%s/py.safetensors", dir);
    mv_safetensors probe_file;
    const mv_tensor_view *probe = NULL;
    if (mv_st_open(&probe_file, pp) == MV_OK) probe = mv_st_find(&probe_file, "probe");
    CHECK(probe != NULL, "the probe values from Python");
    if (!probe) return;
    size_t np = probe->numel;
    float *pv = malloc(np * 4);
    mv_st_read_f32(&probe_file, "probe", pv, np);

    float w[12];
    pattern(w, 12, 0.37, -2.0);
    int64_t s34[2] = {3, 4}, s12[1] = {12};
    snprintf(p, sizeof p, "%s/c.safetensors", dir);
    mv_st_writer *wr;
    CHECK(mv_st_writer_open(&wr, p) == MV_OK, "%s", mv_last_error());
    declare_c(wr, np);
    CHECK(mv_st_writer_declare(wr, "w.f32", MV_DT_F32, 1, s12) != MV_OK, "duplicate declaration refused");
    mv_st_writer_abort(wr);

    CHECK(mv_st_writer_open(&wr, p) == MV_OK, "%s", mv_last_error());
    declare_c(wr, np);
    CHECK(mv_st_writer_write(wr, w, 20) == MV_OK, "raw bytes in pieces");
    CHECK(mv_st_writer_write(wr, (const char *)w + 20, 28) == MV_OK, "raw bytes in pieces");
    float ww[24]; /* w twice: the values of w.bf16 then of w.f16 */
    memcpy(ww, w, sizeof w);
    memcpy(ww + 12, w, sizeof w);
    CHECK(mv_st_writer_write_f32(wr, ww, 5) == MV_OK, "f32 converted in pieces");
    CHECK(mv_st_writer_write_f32(wr, ww + 5, 19) == MV_OK, "across a tensor boundary");
    CHECK(mv_st_writer_write_f32(wr, pv, np) == MV_OK, "probe bf16");
    CHECK(mv_st_writer_write_f32(wr, pv, np) == MV_OK, "probe f16");
    CHECK(!file_exists(p), "nothing at the final path before finish");
    CHECK(mv_st_writer_finish(wr) == MV_OK, "%s", mv_last_error());
    CHECK(tu_python("tools/io_ref.py st_check %s", dir) == 0,
          "the Python reader reads the C file (order, metadata, BF16/F16 round to nearest even)");
    mv_safetensors f;
    CHECK(mv_st_open(&f, p) == MV_OK && f.count == 6, "C reads its own file: %s", mv_last_error());
    mv_st_close(&f);

    /* Incomplete tensors: refused, nothing left behind. */
    snprintf(p, sizeof p, "%s/c_short.safetensors", dir);
    CHECK(mv_st_writer_open(&wr, p) == MV_OK, "%s", mv_last_error());
    mv_st_writer_declare(wr, "a", MV_DT_F32, 2, s34);
    mv_st_writer_write_f32(wr, w, 11);
    CHECK(mv_st_writer_finish(wr) != MV_OK && strstr(mv_last_error(), "'a' incomplete"), "short: %s",
          mv_last_error());
    snprintf(pp, sizeof pp, "%s.tmp", p);
    CHECK(!file_exists(p) && !file_exists(pp), "no file after a short write");
    free(pv);
    mv_st_close(&probe_file);
}

static void test_conversions(void) {
    CHECK(mv_f32_to_bf16(1.0f) == 0x3f80 && mv_bf16_to_f32(0x3f80) == 1.0f, "bf16 of 1");
    CHECK(mv_f32_to_f16(1.0f) == 0x3c00 && mv_f16_to_f32(0x3c00) == 1.0f, "f16 of 1");
    CHECK(mv_f32_to_f16(65504.0f) == 0x7bff && mv_f32_to_f16(65520.0f) == 0x7c00, "f16 max and overflow");
    CHECK(mv_f32_to_f16(5.9604645e-8f) == 1 && mv_f32_to_f16(2.9802322e-8f) == 0, "f16 smallest subnormal, tie to 0");
    CHECK(isnan(mv_f16_to_f32(mv_f32_to_f16(NAN))) && isnan(mv_bf16_to_f32(mv_f32_to_bf16(NAN))), "NaN stays NaN");
    CHECK(mv_dtype_size(MV_DT_BF16) == 2 && !strcmp(mv_dtype_name(MV_DT_BF16), "BF16"), "dtype table");
}

/* ---------------- parameter arenas ---------------- */

static void make_params(mv_params *p, int swap) {
    mv_params_init(p);
    int64_t a[2] = {swap ? 3 : 2, swap ? 2 : 3}, b[1] = {5}, c[3] = {2, 2, 2};
    mv_params_add(p, "blocks.0.attn.qkv.weight", 2, a, NULL);
    mv_params_add(p, "blocks.0.attn.qkv.bias", 1, b, NULL);
    mv_params_add(p, "level_embedding.weight", 3, c, NULL);
    mv_params_alloc(p, 1);
    for (int t = 0; t < p->count; t++)
        for (size_t i = 0; i < p->info[t].numel; i++) {
            size_t k = p->info[t].offset + i;
            p->data[k] = (float)k * 0.5f - 4.0f, p->m[k] = (float)k;
        }
}

static void test_params(const char *dir) {
    mv_params p, q, r;
    make_params(&p, 0);
    make_params(&q, 0);
    make_params(&r, 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    const char *meta[] = {"model", "autoencoder", "step", "42", NULL};
    CHECK(mv_st_save_params(path, &p, p.data, MV_DT_F32, meta) == MV_OK, "%s", mv_last_error());
    mv_safetensors f;
    CHECK(mv_st_open(&f, path) == MV_OK, "%s", mv_last_error());
    memset(q.data, 0, q.total * 4);
    CHECK(mv_st_load_params(&f, &q, q.data, "", 0) == MV_OK, "%s", mv_last_error());
    tu_close("params round trip (F32)", q.data, p.data, p.total, 0, 0);
    CHECK(mv_st_meta(&f, "step") && !strcmp(mv_st_meta(&f, "step"), "42"), "params metadata");
    CHECK(mv_st_load_params(&f, &r, r.data, "", 0) == MV_ERR_SHAPE &&
              strstr(mv_last_error(), "expected shape [3, 2] found [2, 3]") && strstr(mv_last_error(), path),
          "shape mismatch: %s", mv_last_error());
    CHECK(mv_st_load_params(&f, &q, q.data, "dit.", 0) == MV_ERR_SHAPE &&
              strstr(mv_last_error(), "'dit.blocks.0.attn.qkv.weight'"), "prefix: %s", mv_last_error());
    mv_st_close(&f);

    /* Extra tensors: an error unless allowed. */
    mv_params small;
    mv_params_init(&small);
    int64_t b[1] = {5};
    mv_params_add(&small, "blocks.0.attn.qkv.bias", 1, b, NULL);
    mv_params_alloc(&small, 0);
    mv_st_open(&f, path);
    CHECK(mv_st_load_params(&f, &small, small.data, NULL, 0) == MV_ERR_SHAPE &&
              strstr(mv_last_error(), "unexpected tensor"), "extra: %s", mv_last_error());
    CHECK(mv_st_load_params(&f, &small, small.data, NULL, 1) == MV_OK, "allow_extra");
    mv_st_close(&f);
    /* And the other direction: a tensor of the model missing from the file. */
    snprintf(path, sizeof path, "%s/small.safetensors", dir);
    mv_st_save_params(path, &small, small.data, MV_DT_F32, NULL);
    mv_st_open(&f, path);
    CHECK(mv_st_load_params(&f, &q, q.data, NULL, 0) == MV_ERR_SHAPE &&
              strstr(mv_last_error(), "expected tensor 'blocks.0.attn.qkv.weight', not found"), "missing: %s",
          mv_last_error());
    mv_st_close(&f);

    /* BF16 storage of the moments: values within bf16 rounding. */
    snprintf(path, sizeof path, "%s/params_bf16.safetensors", dir);
    CHECK(mv_st_save_params(path, &p, p.m, MV_DT_BF16, NULL) == MV_OK, "%s", mv_last_error());
    mv_st_open(&f, path);
    CHECK(mv_st_load_params(&f, &q, q.m, "", 0) == MV_OK, "%s", mv_last_error());
    tu_close("params round trip (BF16)", q.m, p.m, p.total, 0, 1.0 / 256);
    mv_st_close(&f);
    /* `millivid info` lists every tensor with dtype, shape, sizes, and the metadata. */
    char out[1100];
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    snprintf(out, sizeof out, "%s/params.info", dir);
    CHECK(tu_sh("%s info %s >'%s'", g_bin, path, out) == 0, "info on a checkpoint");
    char *txt = tu_slurp(out, NULL);
    CHECK(txt && strstr(txt, "3 tensors, 19 values") && strstr(txt, "step = 42") && strstr(txt, "model = autoencoder") &&
              strstr(txt, "blocks.0.attn.qkv.weight  F32    (2, 3)") && strstr(txt, "level_embedding.weight    F32    (2, 2, 2)"),
          "info text: %s", txt ? txt : "");
    free(txt);
    snprintf(out, sizeof out, "%s/npy.info", dir);
    CHECK(tu_sh("%s info %s/f32_v1.npy >'%s'", g_bin, dir, out) == 0, "info on an .npy");
    txt = tu_slurp(out, NULL);
    CHECK(txt && strstr(txt, "dtype F32, shape (3, 4, 5), 60 values") && strstr(txt, "min -3  max 11.75"),
          "npy info text: %s", txt ? txt : "");
    free(txt);

    /* `millivid convert`: F32 -> BF16 keeps names, shapes and metadata, values within bf16 rounding;
     * and back to F32 exactly (bf16 values are representable). */
    char p16[1100], p32[1100];
    snprintf(p16, sizeof p16, "%s/params_conv16.safetensors", dir);
    snprintf(p32, sizeof p32, "%s/params_conv32.safetensors", dir);
    CHECK(tu_sh("%s convert --in %s --out %s 2>/dev/null", g_bin, path, p16) == 0, "convert to bf16");
    CHECK(tu_sh("%s convert --in %s --out %s --dtype f32 2>/dev/null", g_bin, p16, p32) == 0, "convert to f32");
    if (mv_st_open(&f, p16) == MV_OK) {
        CHECK(f.count == 3 && f.tensors[0].dtype == MV_DT_BF16 && mv_st_meta(&f, "step") &&
                  !strcmp(mv_st_meta(&f, "step"), "42") && !strcmp(mv_st_meta(&f, "model"), "autoencoder"),
              "bf16 file: tensors and metadata");
        CHECK(mv_st_load_params(&f, &q, q.data, "", 0) == MV_OK, "%s", mv_last_error());
        tu_close("convert to BF16", q.data, p.data, p.total, 0, 1.0 / 256);
        mv_st_close(&f);
    } else CHECK(0, "convert wrote no readable file: %s", mv_last_error());
    if (mv_st_open(&f, p32) == MV_OK) {
        float *back = calloc(p.total, sizeof(float));
        CHECK(f.tensors[0].dtype == MV_DT_F32, "f32 file dtype");
        CHECK(mv_st_load_params(&f, &p, back, "", 0) == MV_OK, "%s", mv_last_error());
        tu_close("BF16 -> F32 is exact", back, q.data, p.total, 0, 0);
        free(back);
        mv_st_close(&f);
    } else CHECK(0, "convert wrote no readable f32 file: %s", mv_last_error());
    snprintf(out, sizeof out, "%s/convert.err", dir);
    CHECK(tu_sh("%s convert --in %s --out %s/x.safetensors --dtype q4 2>'%s'", g_bin, path, dir, out) == 2,
          "unknown dtype: usage error");
    txt = tu_slurp(out, NULL);
    CHECK(txt && strstr(txt, "unknown dtype 'q4'"), "dtype message: %s", txt ? txt : "");
    free(txt);
    CHECK(tu_sh("%s convert --in %s/none.safetensors --out %s/x.safetensors 2>'%s'", g_bin, dir, dir, out) == 1,
          "missing input: exit 1");
    txt = tu_slurp(out, NULL);
    CHECK(txt && strstr(txt, "none.safetensors: cannot open"), "missing-input message: %s", txt ? txt : "");
    free(txt);
    mv_params_free(&p);
    mv_params_free(&q);
    mv_params_free(&r);
    mv_params_free(&small);
}

/* ---------------- corrupt files ---------------- */

/* `millivid info path` must exit non-zero (not a crash) with one stderr line naming the file;
 * the library must refuse it in-process too (under the sanitizer build this is the ASan check). */
static void expect_rejected(const char *dir, const char *name, int is_npy) {
    char path[1024], err[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(err, sizeof err, "%s.err", path);
    mv_status s;
    if (is_npy) {
        mv_npy a;
        s = mv_npy_open(&a, path);
        if (s == MV_OK) mv_npy_close(&a);
    } else {
        mv_safetensors f;
        s = mv_st_open(&f, path);
        if (s == MV_OK) mv_st_close(&f);
    }
    CHECK(s != MV_OK && strstr(mv_last_error(), path), "%s: library accepted it or did not name the file: %s", name,
          mv_last_error());
    int rc = tu_sh("%s info '%s' >/dev/null 2>'%s'", g_bin, path, err);
    char *msg = tu_slurp(err, NULL);
    int lines = 0;
    for (const char *c = msg ? msg : ""; *c; c++) lines += *c == '\n';
    CHECK(rc > 0 && rc < 126, "%s: exit code %d (want a clean non-zero exit)", name, rc);
    CHECK(msg && strstr(msg, path) && lines == 1, "%s: want one line naming the file, got: %s", name,
          msg ? msg : "(nothing)");
    if (msg && rc > 0) printf("ok   %s -> %s", name, msg);
    free(msg);
}

static void test_corrupt(const char *dir) {
    static const char *st[] = {
        "st_truncated", "st_header_past_end", "st_empty", "st_short", "st_bad_json", "st_unknown_dtype",
        "st_negative_shape", "st_overflow_shape", "st_offsets_past_end", "st_overlap", "st_overlap_past_empty",
        "st_byte_mismatch",
        "st_meta_not_string", "st_duplicate", "st_not_object", "st_fraction_shape", "st_too_many_dims",
        "st_offsets_reversed", "st_offsets_one", "st_junk_after_json", "st_missing_dtype", "st_meta_not_object",
    };
    static const char *npy[] = {
        "npy_bad_magic", "npy_truncated", "npy_fortran", "npy_dtype", "npy_big_endian", "npy_bad_header",
        "npy_bad_shape", "npy_missing_key", "npy_header_past_end", "npy_version", "npy_trailing", "npy_empty",
    };
    char name[128];
    for (size_t i = 0; i < MV_ARRAY_LEN(st); i++) {
        snprintf(name, sizeof name, "%s.safetensors", st[i]);
        expect_rejected(dir, name, 0);
    }
    for (size_t i = 0; i < MV_ARRAY_LEN(npy); i++) {
        snprintf(name, sizeof name, "%s.npy", npy[i]);
        expect_rejected(dir, name, 1);
    }
    /* Specific messages for a few. */
    char p[1024];
    mv_safetensors f;
    snprintf(p, sizeof p, "%s/st_duplicate.safetensors", dir);
    mv_st_open(&f, p);
    CHECK(strstr(mv_last_error(), "appears twice"), "duplicate: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/st_overlap.safetensors", dir);
    mv_st_open(&f, p);
    CHECK(strstr(mv_last_error(), "overlap"), "overlap: %s", mv_last_error());
    mv_npy a;
    snprintf(p, sizeof p, "%s/npy_fortran.npy", dir);
    mv_npy_open(&a, p);
    CHECK(strstr(mv_last_error(), "Fortran"), "fortran: %s", mv_last_error());
    /* The good files next to them are accepted by `millivid info`. */
    CHECK(tu_sh("%s info %s/good.safetensors >/dev/null", g_bin, dir) == 0, "good safetensors accepted");
    CHECK(tu_sh("%s info %s/good.npy >/dev/null", g_bin, dir) == 0, "good npy accepted");
    CHECK(tu_sh("%s info %s/does_not_exist.npy 2>/dev/null", g_bin, dir) == 1, "missing file: exit 1");
}

/* Random byte flips and truncations of good files: every result is a clean accept or a rejection
 * naming the file (the sanitizer build turns any out-of-bounds read into a failure). */
static void test_mutations(const char *dir, const char *good, int is_npy, int rounds) {
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/%s", dir, good);
    snprintf(dst, sizeof dst, "%s/mutant_%s", dir, good);
    FILE *f = fopen(src, "rb");
    unsigned char orig[4096], buf[4096];
    size_t n = f ? fread(orig, 1, sizeof orig, f) : 0;
    if (f) fclose(f);
    CHECK(n > 16 && n < sizeof orig, "%s readable", src);
    if (n <= 16 || n >= sizeof orig) return;
    mv_rng r;
    mv_rng_init(&r, 1234 + is_npy);
    int rejected = 0, unnamed = 0;
    for (int it = 0; it < rounds; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
        int kind = (int)mv_rng_below(&r, 4);
        if (kind == 0) len = mv_rng_below(&r, (uint32_t)n);
        int flips = 1 + (int)mv_rng_below(&r, 4);
        for (int k = 0; kind && k < flips; k++) {
            size_t at = mv_rng_below(&r, (uint32_t)(kind == 1 ? MV_MIN(n, 96) : n)); /* header-heavy */
            buf[at] = kind == 3 ? (unsigned char)"{}[],:\"0123456789-eE. "[mv_rng_below(&r, 21)]
                                : (unsigned char)mv_rng_below(&r, 256);
        }
        FILE *o = fopen(dst, "wb");
        if (!o) break;
        fwrite(buf, 1, len, o);
        fclose(o);
        mv_status s;
        if (is_npy) {
            mv_npy a;
            if ((s = mv_npy_open(&a, dst)) == MV_OK) mv_npy_close(&a);
        } else {
            mv_safetensors st;
            if ((s = mv_st_open(&st, dst)) == MV_OK) {
                float tmp[64];
                for (int i = 0; i < st.count; i++)
                    if (st.tensors[i].numel <= 64) mv_st_read_f32(&st, st.tensors[i].name, tmp, st.tensors[i].numel);
                mv_st_close(&st);
            }
        }
        if (s != MV_OK) rejected++, unnamed += !strstr(mv_last_error(), dst);
    }
    CHECK(rejected > rounds / 4 && unnamed == 0, "%s mutations: %d of %d rejected, %d without the file name", good,
          rejected, rounds, unnamed);
    printf("ok   %s: %d mutants, %d rejected, every message names the file\n", good, rounds, rejected);
}

/* ---------------- data sets ---------------- */

static void test_dataset(const char *dir) {
    char p[1024];
    mv_dataset d;
    snprintf(p, sizeof p, "%s/good", dir);
    CHECK(mv_dataset_open(&d, p) == MV_OK, "%s", mv_last_error());
    CHECK(d.videos == 2 && d.frames_per_video == 5 && d.size == 8 && !strcmp(d.split, "train") && d.has_poses,
          "data set fields");
    if (d.frames.data) {
        CHECK(mv_dataset_frame(&d, 1, 2)[0] == (uint8_t)(((1 * 5 + 2) * 192) % 256), "frame accessor");
        CHECK(mv_dataset_action(&d, 1, 2)[0] == 1 && mv_dataset_action(&d, 1, 3)[1] == 0.6f, "action accessor");
    }
    mv_dataset_close(&d);
    char out[1100];
    snprintf(out, sizeof out, "%s/good.info", dir);
    CHECK(tu_sh("%s info %s/good >'%s'", g_bin, dir, out) == 0, "millivid info on a data set");
    char *txt = tu_slurp(out, NULL);
    CHECK(txt && strstr(txt, "videos 2, frames per video 5") && strstr(txt, "forward (0)") &&
              strstr(txt, "40.0%"), "info text: %s", txt ? txt : "");
    free(txt);
    static const struct {
        const char *name, *want;
    } bad[] = {
        {"no_actions", "missing actions.npy"}, {"no_index", "missing index.json"},
        {"frames_f32", "frames must be uint8"}, {"frames_4d", "frames must have shape"},
        {"actions_count", "actions are for 1 videos"}, {"actions_width", "actions must have shape"},
        {"actions_bad_id", "video 1 frame 3: action id 7"}, {"index_version", "format_version 99"},
        {"index_mismatch", "\"videos\" does not match"}, {"index_bad_json", "not a JSON object"},
        {"index_size", "\"size\" does not match the arrays (which say 8)"},
        {"missing_dir", "cannot open data set directory"},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(bad); i++) {
        snprintf(p, sizeof p, "%s/%s", dir, bad[i].name);
        mv_status s = mv_dataset_open(&d, p);
        CHECK(s != MV_OK && strstr(mv_last_error(), bad[i].want) && strstr(mv_last_error(), bad[i].name),
              "%s: %s", bad[i].name, mv_last_error());
        if (s == MV_OK) mv_dataset_close(&d);
    }
}

/* ---------------- alignment, channels, non-finite weights ---------------- */

/* A v1 .npy written by hand whose header is hlen bytes long, so the data starts at byte 10 + hlen. */
static void write_npy_raw(const char *path, const char *descr, const char *shape, const void *data, size_t bytes,
                          int hlen) {
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    memset(hdr + k, ' ', (size_t)(hlen - k - 1));
    hdr[hlen - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(pre, 1, 10, f);
    fwrite(hdr, 1, (size_t)hlen, f);
    fwrite(data, 1, bytes, f);
    fclose(f);
}

/* A data set folder: frames (1, T, h, w, c) uint8 and actions (1, T, 6) float32 (id 0), the actions
 * stored with their data at byte 10 + actions_hlen. */
static void write_small_dataset(const char *dir, int T, int h, int w, int c, int actions_hlen) {
    char p[1100], shape[64];
    mkdir(dir, 0777);
    int64_t fs[5] = {1, T, h, w, c};
    uint8_t *fr = calloc((size_t)T * h * w * c, 1);
    snprintf(p, sizeof p, "%s/frames.npy", dir);
    mv_npy_save(p, MV_DT_U8, 5, fs, fr);
    free(fr);
    float act[64 * 6];
    for (int t = 0; t < T * 6; t++) act[t] = t % 6 == 0 ? (float)(t / 6 % 3) : 0.25f * t;
    snprintf(p, sizeof p, "%s/actions.npy", dir);
    snprintf(shape, sizeof shape, "(1, %d, 6)", T);
    write_npy_raw(p, "<f4", shape, act, sizeof(float) * 6 * (size_t)T, actions_hlen);
    snprintf(p, sizeof p, "%s/index.json", dir);
    FILE *f = fopen(p, "w");
    if (f) fputs("{\"format_version\": 1, \"split\": \"train\"}\n", f), fclose(f);
}

/* Float data at an offset that is not a multiple of 4 (numpy pads headers to 64 bytes, other writers
 * need not): the reader hands out an aligned pointer to the same values, for .npy files and the actions
 * of a data set (float loads at a misaligned address are undefined behaviour, which UBSan reports). */
static void test_npy_misaligned(const char *dir) {
    char p[1024];
    float v[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
    snprintf(p, sizeof p, "%s/misaligned.npy", dir);
    write_npy_raw(p, "<f4", "(2, 3)", v, sizeof v, 72); /* data at byte 82 */
    mv_npy a;
    CHECK(mv_npy_open(&a, p) == MV_OK, "%s", mv_last_error());
    if (a.data) {
        CHECK((uintptr_t)a.data % 4 == 0, "float data of %s handed out at a misaligned address", p);
        float got[6];
        memcpy(got, a.data, sizeof got);
        CHECK(!memcmp(got, v, sizeof v), "misaligned .npy values");
    }
    mv_npy_close(&a);
    snprintf(p, sizeof p, "%s/misaligned_actions", dir);
    write_small_dataset(p, 4, 8, 8, 3, 72);
    mv_dataset d;
    CHECK(mv_dataset_open(&d, p) == MV_OK, "%s", mv_last_error());
    if (d.actions.data) {
        const float *act = mv_dataset_action(&d, 0, 2);
        CHECK((uintptr_t)act % 4 == 0, "mv_dataset_action returns a misaligned pointer");
        float got[6];
        memcpy(got, act, sizeof got);
        CHECK(got[0] == 2 && got[1] == 0.25f * 13 && got[5] == 0.25f * 17, "misaligned actions values");
    }
    mv_dataset_close(&d);
}

/* frames.npy with 4 channels or non-square frames: the message says which, not "found 5 dims". */
static void test_dataset_frame_shape(const char *dir) {
    static const struct {
        const char *name;
        int h, w, c;
        const char *want;
    } bad[] = {{"frames_4ch", 8, 8, 4, "4 channels, RGB frames need 3"}, {"frames_2ch", 8, 8, 2, "2 channels"},
               {"frames_nonsquare", 8, 16, 3, "8x16"}};
    for (size_t i = 0; i < MV_ARRAY_LEN(bad); i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, bad[i].name);
        write_small_dataset(p, 2, bad[i].h, bad[i].w, bad[i].c, 118);
        mv_dataset d;
        mv_status s = mv_dataset_open(&d, p);
        CHECK(s != MV_OK && strstr(mv_last_error(), bad[i].want) && strstr(mv_last_error(), "frames.npy") &&
                  !strstr(mv_last_error(), "dims"), "%s: %s", bad[i].name, mv_last_error());
        if (s == MV_OK) mv_dataset_close(&d);
    }
}

/* A NaN or an infinity in stored weights is refused at load, naming the file and the tensor, whatever
 * the stored dtype (F32, BF16, F16); the same arena with finite values loads. */
static void test_params_nonfinite(const char *dir) {
    mv_params p, q;
    make_params(&p, 0);
    make_params(&q, 0);
    static const struct {
        mv_dtype dtype;
        float bad;
        const char *file;
    } cases[] = {{MV_DT_F32, NAN, "nan_f32.safetensors"}, {MV_DT_BF16, INFINITY, "inf_bf16.safetensors"},
                 {MV_DT_F16, -INFINITY, "inf_f16.safetensors"}};
    int bias = mv_params_find(&p, "blocks.0.attn.qkv.bias");
    for (size_t i = 0; i < MV_ARRAY_LEN(cases); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
        float keep = mv_params_data(&p, bias)[3];
        mv_params_data(&p, bias)[3] = cases[i].bad;
        CHECK(mv_st_save_params(path, &p, p.data, cases[i].dtype, NULL) == MV_OK, "%s", mv_last_error());
        mv_params_data(&p, bias)[3] = keep;
        mv_safetensors f;
        if (mv_st_open(&f, path) != MV_OK) continue;
        mv_status s = mv_st_load_params(&f, &q, q.data, "", 0);
        CHECK(s == MV_ERR_FORMAT && strstr(mv_last_error(), cases[i].file) &&
                  strstr(mv_last_error(), "'blocks.0.attn.qkv.bias'") && strstr(mv_last_error(), "non-finite"),
              "%s: %s", cases[i].file, s == MV_OK ? "loaded" : mv_last_error());
        mv_st_close(&f);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/finite.safetensors", dir);
    mv_safetensors f;
    CHECK(mv_st_save_params(path, &p, p.data, MV_DT_BF16, NULL) == MV_OK && mv_st_open(&f, path) == MV_OK &&
              mv_st_load_params(&f, &q, q.data, "", 0) == MV_OK, "finite weights load: %s", mv_last_error());
    mv_st_close(&f);
    mv_params_free(&p);
    mv_params_free(&q);
}

/* ---------------- configuration ---------------- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

static void test_config_presets(void) {
    mv_config c;
    CHECK(mv_config_load(&c, "mini") == MV_OK, "%s", mv_last_error());
    CHECK(!strcmp(c.preset, "mini") && c.image_size == 64 && c.levels == 4 && c.patch == 8 && c.latent_channels == 16,
          "mini pyramid");
    CHECK(c.ae_width == 192 && c.ae_depth == 4 && c.ae_heads == 4 && c.ae_lr == 1e-3 && c.ae_warmup == 500 &&
              c.ae_batch == 16 && c.ae_checkpoint_every == 500, "mini ae");
    CHECK(c.dit_width == 256 && c.dit_depth == 6 && c.dit_heads == 4 && c.dit_lr == 5e-4 && c.dit_batch == 8 &&
              c.context_cache == 0 && c.weight_decay == 0.01, "mini dit");
    CHECK(c.mv_windows[0] == 1 && c.mv_windows[3] == 64 && c.mv_budget == 64 && c.fp_context[2] == 16 &&
              c.fp_denoise == 1 && c.fr_frames == 5 && c.sample_steps == 20 && c.guidance == 1 &&
              c.context_frames == 0 && mv_config_eval_context(&c) == 86 && c.video_frames == 384, "mini rollout / eval");
    CHECK(mv_config_tokens(&c, 0) == 64 && mv_config_tokens(&c, 3) == 1, "mini tokens per level");
    CHECK(mv_config_load(&c, "paper") == MV_OK, "%s", mv_last_error());
    CHECK(c.image_size == 256 && c.patch == 16 && c.latent_channels == 32 && c.ae_width == 768 && c.ae_depth == 12 &&
              c.dit_heads == 12 && c.dit_lr == 1e-3 && c.ae_batch == 224 && c.dit_batch == 48 && c.mv_budget == 768 &&
              c.mv_windows[3] == 192 && c.fp_denoise == 3 && c.fr_frames == 14 && c.sample_steps == 50 &&
              mv_config_eval_context(&c) == 256 && c.video_frames == 1024, "paper preset");
    char *j = mv_config_to_json(&c);
    mv_config d;
    CHECK(j && mv_config_from_json(&d, j) == MV_OK && !memcmp(&c, &d, sizeof c), "JSON round trip: %s",
          mv_last_error());
    free(j);
    CHECK(mv_config_load(&c, "nope") == MV_ERR_IO && strstr(mv_last_error(), "configs/nope.json"),
          "missing preset names the paths: %s", mv_last_error());
    CHECK(mv_config_load(&c, "../etc/x") != MV_OK, "odd names refused");
}

static void test_config_set(void) {
    mv_config c;
    mv_config_load(&c, "mini");
    CHECK(mv_config_set(&c, "dit.depth=8") == MV_OK && c.dit_depth == 8, "set int");
    CHECK(mv_config_set(&c, "ae.lr=2.5e-4") == MV_OK && c.ae_lr == 2.5e-4, "set double");
    CHECK(mv_config_set(&c, "millivid.windows=[2,8,32,128]") == MV_OK && c.mv_windows[3] == 128, "set array");
    CHECK(mv_config_validate(&c) != MV_OK && strstr(mv_last_error(), "millivid.budget") &&
              strstr(mv_last_error(), "windows[0]"), "budget names the level: %s", mv_last_error());
    CHECK(mv_config_set(&c, "millivid.budget=128") == MV_OK && mv_config_validate(&c) == MV_OK, "%s",
          mv_last_error());
    CHECK(mv_config_set(&c, "dit.dpeth=3") == MV_ERR_ARG && strstr(mv_last_error(), "unknown key 'dit.dpeth'"),
          "unknown key: %s", mv_last_error());
    CHECK(mv_config_set(&c, "dit.depth=abc") == MV_ERR_ARG && strstr(mv_last_error(), "'dit.depth'"), "bad int: %s",
          mv_last_error());
    CHECK(mv_config_set(&c, "dit.depth=2.5") == MV_ERR_ARG, "fraction for an int");
    CHECK(mv_config_set(&c, "ae.lr=[1]") == MV_ERR_ARG && strstr(mv_last_error(), "'ae.lr'"), "array for a number");
    CHECK(mv_config_set(&c, "millivid.windows=[1,2,3,4,5]") == MV_ERR_ARG, "too many levels");
    CHECK(mv_config_set(&c, "nokey") == MV_ERR_ARG && strstr(mv_last_error(), "key=value"), "no '='");
    CHECK(c.dit_depth == 8, "failed sets leave the value alone");

    static const struct {
        const char *set, *want;
    } invalid[] = {
        {"image_size=72", "image_size"},  {"dit.heads=5", "dit.width"},         {"ae.width=190", "ae.width"},
        {"levels=3", "millivid.windows"}, {"millivid.windows=[1,3,16,64]", "must divide"},
        {"patch=0", "patch"},             {"eval.frames=80", "eval.frames"},   {"ae.lr=0", "ae.lr"},
        {"dit.batch=0", "dit.batch"},     {"dit.context_cache=2", "context_cache"},
        {"framepack.denoise=0", "framepack.denoise"},
    };
    for (size_t i = 0; i < MV_ARRAY_LEN(invalid); i++) {
        mv_config_load(&c, "mini");
        CHECK(mv_config_set(&c, invalid[i].set) == MV_OK, "%s: %s", invalid[i].set, mv_last_error());
        CHECK(mv_config_validate(&c) == MV_ERR_ARG && strstr(mv_last_error(), invalid[i].want), "%s -> %s",
              invalid[i].set, mv_last_error());
    }
}

static void test_config_files(const char *dir) {
    char p[1024], env[1024];
    mv_config c;
    snprintf(p, sizeof p, "%s/typo.json", dir);
    write_text(p, "{\"base\": \"mini\", \"dit\": {\"dpeth\": 3}}");
    CHECK(mv_config_load(&c, p) == MV_ERR_ARG && strstr(mv_last_error(), "unknown key 'dit.dpeth'") &&
              strstr(mv_last_error(), p), "unknown key in a file: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/wrongtype.json", dir);
    write_text(p, "{\"base\": \"mini\", \"sample\": {\"steps\": \"many\"}}");
    CHECK(mv_config_load(&c, p) == MV_ERR_ARG && strstr(mv_last_error(), "'sample.steps': expected an integer"),
          "wrong type: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/partial.json", dir);
    write_text(p, "{\"image_size\": 64}");
    CHECK(mv_config_load(&c, p) == MV_ERR_ARG && strstr(mv_last_error(), "missing key 'levels'"), "missing: %s",
          mv_last_error());
    snprintf(p, sizeof p, "%s/badjson.json", dir);
    write_text(p, "{\"image_size\": 64,\n");
    CHECK(mv_config_load(&c, p) == MV_ERR_ARG && strstr(mv_last_error(), "not valid JSON") &&
              !strchr(mv_last_error(), '\n'), "bad JSON: %s", mv_last_error());
    snprintf(p, sizeof p, "%s/invalid.json", dir);
    write_text(p, "{\"base\": \"mini\", \"millivid\": {\"budget\": 65}}");
    CHECK(mv_config_load(&c, p) == MV_ERR_ARG && strstr(mv_last_error(), p) &&
              strstr(mv_last_error(), "millivid.budget"), "invalid values name the file: %s", mv_last_error());
    /* A preset that extends mini, found through MILLIVID_CONFIGS. */
    snprintf(p, sizeof p, "%s/mine.json", dir);
    write_text(p, "{\"base\": \"mini\", \"dit\": {\"depth\": 3}, \"weight_decay\": 0}");
    char cwd[512], text[700];
    snprintf(p, sizeof p, "%s/mini.json", dir);
    snprintf(text, sizeof text, "{\"base\": \"%s/configs/mini.json\"}", getcwd(cwd, sizeof cwd) ? cwd : ".");
    write_text(p, text);
    snprintf(env, sizeof env, "%s", dir);
    setenv("MILLIVID_CONFIGS", env, 1);
    CHECK(mv_config_load(&c, "mine") == MV_OK && c.dit_depth == 3 && c.weight_decay == 0 && c.dit_width == 256 &&
              !strcmp(c.preset, "mine"), "base + MILLIVID_CONFIGS: %s", mv_last_error());
    CHECK(mv_config_load(&c, "paper") == MV_ERR_IO && strstr(mv_last_error(), dir), "env dir is reported: %s",
          mv_last_error());
    unsetenv("MILLIVID_CONFIGS");
}

int main(void) {
    const char *b = getenv("MV_BUILD");
    snprintf(g_bin, sizeof g_bin, "%s/millivid", b ? b : "build");
    CHECK(file_exists(g_bin), "%s missing: build it first (make)", g_bin);
    test_conversions();
    const char *d = tu_tmpdir("test_io");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", d);
    CHECK(tu_python("tools/io_ref.py npy_write %s", dir) == 0, "numpy writes the reference arrays");
    test_npy_from_numpy(dir);
    test_npy_to_numpy(dir);
    CHECK(tu_python("tools/io_ref.py st_write %s", dir) == 0, "python writes the reference safetensors");
    test_st_from_python(dir);
    test_st_to_python(dir);
    test_params(dir);
    CHECK(tu_python("tools/io_ref.py corrupt %s", dir) == 0, "python writes the corrupt files");
    test_corrupt(dir);
    const char *fz = getenv("MV_FUZZ_ROUNDS"); /* more rounds for a one-off longer run */
    int rounds = fz && atoi(fz) > 0 ? atoi(fz) : 2000;
    test_mutations(dir, "good.safetensors", 0, rounds);
    test_mutations(dir, "good.npy", 1, rounds);
    CHECK(tu_python("tools/io_ref.py dataset %s", dir) == 0, "python writes the data sets");
    test_dataset(dir);
    test_npy_misaligned(dir);
    test_dataset_frame_shape(dir);
    test_params_nonfinite(dir);
    test_config_presets();
    test_config_set();
    test_config_files(dir);
    return tu_finish();
}
