/* Self-describing tensor files: safetensors (weights, latents) and NumPy .npy (frames, actions).
 * Readers memory-map and validate everything; writers stream to "<path>.tmp" and rename at the end
 * (atomic: a crash never leaves a file that looks complete). Errors name the file and the problem. */
#ifndef MV_TENSORFILE_H
#define MV_TENSORFILE_H
#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "millivid.h"

typedef enum { MV_DT_F32, MV_DT_F16, MV_DT_BF16, MV_DT_U8, MV_DT_I32, MV_DT_I64, MV_DT_F64 } mv_dtype;
const char *mv_dtype_name(mv_dtype d); /* safetensors names: "F32", "F16", "BF16", "U8", ... */
size_t mv_dtype_size(mv_dtype d);
float mv_bf16_to_f32(uint16_t h);
uint16_t mv_f32_to_bf16(float f); /* round to nearest even */
float mv_f16_to_f32(uint16_t h);
uint16_t mv_f32_to_f16(float f);

#define MV_TF_MAX_DIMS 8

typedef struct {
    char *name;
    mv_dtype dtype;
    int ndim;
    int64_t shape[MV_TF_MAX_DIMS];
    size_t numel;
    const void *data; /* points into the mapping */
    size_t nbytes;
} mv_tensor_view;

/* ---------------- safetensors ---------------- */
typedef struct {
    char *path;
    void *map;
    size_t size;
    mv_tensor_view *tensors; /* in file (offset) order */
    int count;
    char **meta_keys, **meta_vals; /* __metadata__ (string -> string) */
    int meta_count;
} mv_safetensors;

mv_status mv_st_open(mv_safetensors *f, const char *path);
void mv_st_close(mv_safetensors *f);
const mv_tensor_view *mv_st_find(const mv_safetensors *f, const char *name); /* NULL if absent */
const char *mv_st_meta(const mv_safetensors *f, const char *key);             /* NULL if absent */
/* Copy a tensor converted to float32; fails (naming file and tensor) if absent or numel differs. */
mv_status mv_st_read_f32(const mv_safetensors *f, const char *name, float *dst, size_t numel);
/* Copy a slice of rows [row0, row0+nrows) of the outermost dimension, converted to float32. */
mv_status mv_st_read_rows_f32(const mv_safetensors *f, const char *name, int64_t row0, int64_t nrows,
                              float *dst);

/* Streaming writer: declare every tensor (and metadata), then write their bytes in declared order. */
typedef struct mv_st_writer mv_st_writer;
mv_status mv_st_writer_open(mv_st_writer **w, const char *path);
mv_status mv_st_writer_meta(mv_st_writer *w, const char *key, const char *value);
mv_status mv_st_writer_declare(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim,
                               const int64_t *shape);
/* Append raw bytes (already in the declared dtype) of the tensors, in order; may be called in pieces. */
mv_status mv_st_writer_write(mv_st_writer *w, const void *data, size_t bytes);
/* Append float32 values converted to the dtype of the tensor being written. */
mv_status mv_st_writer_write_f32(mv_st_writer *w, const float *data, size_t numel);
/* Checks every declared byte was written, flushes, fsyncs and renames into place. Frees w. */
mv_status mv_st_writer_finish(mv_st_writer *w);
void mv_st_writer_abort(mv_st_writer *w); /* removes the temporary file, frees w */

/* A parameter arena as one file: every tensor under its name, `arr` is p->data, p->m or p->v.
 * meta: NULL-terminated list of key, value, key, value, ..., NULL. */
mv_status mv_st_save_params(const char *path, const mv_params *p, const float *arr, mv_dtype store,
                            const char *const *meta);
/* Checks, without reading any data, that every arena tensor is present under prefix + name with the same
 * shape (message says expected vs found); extra tensors in the file are an error unless allow_extra.
 * Loaders call it before allocating the arena, so a file's metadata alone cannot force a large allocation. */
mv_status mv_st_check_params(const mv_safetensors *f, const mv_params *p, const char *prefix, int allow_extra);
/* Load by name into `arr` (p->data, m or v) after mv_st_check_params; every value must be finite (a NaN
 * or infinity fails, naming the file and the tensor). */
mv_status mv_st_load_params(const mv_safetensors *f, const mv_params *p, float *arr,
                            const char *prefix, int allow_extra);

/* ---------------- NumPy .npy (v1/v2/v3 read, v1 write; C order, little-endian) ---------------- */
typedef struct {
    char *path;
    void *map;
    size_t size;
    mv_dtype dtype; /* U8 or F32 (also I32/I64/F64 for reading) */
    int ndim;
    int64_t shape[MV_TF_MAX_DIMS];
    size_t numel;
    const void *data; /* into the mapping, or into `copy`; aligned to the element size */
    void *copy;       /* an aligned copy of the data when the file's data offset is not a multiple of
                       * the element size (any .npy writer may pad the header so), else NULL */
} mv_npy;
mv_status mv_npy_open(mv_npy *a, const char *path);
void mv_npy_close(mv_npy *a);
mv_status mv_npy_save(const char *path, mv_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* Streaming: the full shape is known up front; append bytes in C order, finish checks the count. */
typedef struct mv_npy_writer mv_npy_writer;
mv_status mv_npy_writer_open(mv_npy_writer **w, const char *path, mv_dtype dtype, int ndim,
                             const int64_t *shape);
mv_status mv_npy_writer_append(mv_npy_writer *w, const void *data, size_t bytes);
mv_status mv_npy_writer_finish(mv_npy_writer *w);
void mv_npy_writer_abort(mv_npy_writer *w);
#endif
