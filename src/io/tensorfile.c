/* safetensors and NumPy .npy: validating memory-mapped readers and atomic streaming writers.
 * Format notes are in docs/FORMATS.md. Every error names the file and the problem. */
#include "io/tensorfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* 100 MB of JSON is far beyond any real file */
#define MAX_EXACT_INT 9007199254740992.0    /* 2^53: larger JSON numbers are not exact */

/* ---------------- dtypes and conversions ---------------- */

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
    [MV_DT_F32] = {"F32", 4}, [MV_DT_F16] = {"F16", 2}, [MV_DT_BF16] = {"BF16", 2}, [MV_DT_U8] = {"U8", 1},
    [MV_DT_I32] = {"I32", 4}, [MV_DT_I64] = {"I64", 8}, [MV_DT_F64] = {"F64", 8},
};

const char *mv_dtype_name(mv_dtype d) {
    return (unsigned)d < MV_ARRAY_LEN(dtype_table) ? dtype_table[d].name : "?";
}
size_t mv_dtype_size(mv_dtype d) { return (unsigned)d < MV_ARRAY_LEN(dtype_table) ? dtype_table[d].size : 0; }

static int dtype_parse(const char *s, mv_dtype *d) {
    for (size_t i = 0; i < MV_ARRAY_LEN(dtype_table); i++)
        if (!strcmp(s, dtype_table[i].name)) {
            *d = (mv_dtype)i;
            return 1;
        }
    return 0;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float mv_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t mv_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                         /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float mv_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
    if (exp == 0) {                                                     /* zero or subnormal */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t mv_f32_to_f16(float f) {
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN stays NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: infinity */
    if (a < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;          /* below half the smallest subnormal */
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* value = man * 2^(exp-150) = q * 2^-24 */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 (in place, mantissa shifted below) */
    uint32_t q = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

/* Convert n elements of dtype dt at src (any alignment) to float32. */
static void convert_to_f32(float *dst, const void *src, mv_dtype dt, size_t n) {
    const unsigned char *s = src;
    if (dt == MV_DT_F32) {
        memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        int32_t i32;
        int64_t i64;
        double f64;
        switch (dt) {
        case MV_DT_F16: memcpy(&h, s + 2 * i, 2), dst[i] = mv_f16_to_f32(h); break;
        case MV_DT_BF16: memcpy(&h, s + 2 * i, 2), dst[i] = mv_bf16_to_f32(h); break;
        case MV_DT_U8: dst[i] = (float)s[i]; break;
        case MV_DT_I32: memcpy(&i32, s + 4 * i, 4), dst[i] = (float)i32; break;
        case MV_DT_I64: memcpy(&i64, s + 8 * i, 8), dst[i] = (float)i64; break;
        case MV_DT_F64: /* out-of-range double -> float is undefined in C: saturate to infinity */
            memcpy(&f64, s + 8 * i, 8);
            dst[i] = f64 > FLT_MAX ? INFINITY : f64 < -FLT_MAX ? -INFINITY : (float)f64;
            break;
        default: MV_ASSERT(0);
        }
    }
}

/* Convert n float32 values to dtype dt into dst (n * size bytes). */
static void convert_from_f32(void *dst, const float *src, mv_dtype dt, size_t n) {
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) {
        float f = src[i];
        uint16_t h;
        int32_t i32;
        int64_t i64;
        double f64;
        switch (dt) {
        case MV_DT_F32: memcpy(d + 4 * i, &f, 4); break;
        case MV_DT_F16: h = mv_f32_to_f16(f), memcpy(d + 2 * i, &h, 2); break;
        case MV_DT_BF16: h = mv_f32_to_bf16(f), memcpy(d + 2 * i, &h, 2); break;
        case MV_DT_U8: d[i] = (unsigned char)(f <= 0 ? 0 : f >= 255 ? 255 : lrintf(f)); break;
        case MV_DT_I32: /* saturating, NaN -> 0 */
            i32 = f != f ? 0
                  : f >= 2147483648.0f  ? INT32_MAX
                  : f <= -2147483648.0f ? INT32_MIN
                                        : (int32_t)lrintf(f);
            memcpy(d + 4 * i, &i32, 4);
            break;
        case MV_DT_I64:
            i64 = f != f ? 0
                  : f >= 9223372036854775808.0f  ? INT64_MAX
                  : f <= -9223372036854775808.0f ? INT64_MIN
                                                 : (int64_t)llrintf(f);
            memcpy(d + 8 * i, &i64, 8);
            break;
        case MV_DT_F64: f64 = f, memcpy(d + 8 * i, &f64, 8); break;
        }
    }
}

/* numel of a shape with overflow checks (also of numel * elem_size); 0 on overflow. */
static int shape_numel(int ndim, const int64_t *shape, size_t elem, size_t *numel) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return 0;
        if (shape[d] && n > SIZE_MAX / (size_t)shape[d]) return 0;
        n *= (size_t)shape[d];
    }
    if (elem && n > SIZE_MAX / elem) return 0;
    *numel = n;
    return 1;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* ---------------- mapping files ---------------- */

static mv_status map_file(const char *path, void **map, size_t *size) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    mv_status s = MV_OK;
    if (fstat(fd, &st) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        s = mv_fail(MV_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size == 0) {
        s = mv_fail(MV_ERR_FORMAT, "%s: empty file", path);
        goto fail;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        s = mv_fail(MV_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    *map = m;
    *size = (size_t)st.st_size;
fail:
    close(fd);
    return s;
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---------------- safetensors reader ---------------- */

/* An exact non-negative integer from a JSON number, or -1. */
static int64_t json_uint(const cJSON *j) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0) || v > MAX_EXACT_INT || v != floor(v)) return -1;
    return (int64_t)v;
}

static mv_status st_parse_meta(mv_safetensors *f, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return mv_fail(MV_ERR_FORMAT, "%s: __metadata__ is not an object", f->path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    f->meta_vals = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_vals) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", f->path);
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return mv_fail(MV_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", f->path, m->string);
        for (int i = 0; i < f->meta_count; i++)
            if (!strcmp(f->meta_keys[i], m->string))
                return mv_fail(MV_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", f->path, m->string);
        f->meta_keys[f->meta_count] = str_dup(m->string);
        f->meta_vals[f->meta_count] = str_dup(m->valuestring);
        if (!f->meta_keys[f->meta_count] || !f->meta_vals[f->meta_count])
            return mv_fail(MV_ERR_NOMEM, "%s: out of memory", f->path);
        f->meta_count++;
    }
    return MV_OK;
}

/* One tensor entry: dtype, shape, data_offsets, all checked against the data section. */
static mv_status st_parse_tensor(mv_safetensors *f, const cJSON *e, const unsigned char *data,
                                 size_t data_size, mv_tensor_view *t) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': entry is not an object", f->path, nm);
    for (const cJSON *k = e->child; k; k = k->next)
        if (strcmp(k->string, "dtype") && strcmp(k->string, "shape") && strcmp(k->string, "data_offsets"))
            return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", f->path, nm, k->string);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': missing dtype", f->path, nm);
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s' (F32, F16, BF16, U8, I32, I64, F64)",
                       f->path, nm, dt->valuestring);
    if (!cJSON_IsArray(sh)) return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': missing shape", f->path, nm);
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > MV_TF_MAX_DIMS)
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", f->path, nm, t->ndim,
                       MV_TF_MAX_DIMS);
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++)
        if ((t->shape[d] = json_uint(x)) < 0)
            return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer", f->path,
                           nm, d);
    if (!shape_numel(t->ndim, t->shape, mv_dtype_size(t->dtype), &t->numel))
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': shape product overflows", f->path, nm);
    t->nbytes = t->numel * mv_dtype_size(t->dtype);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end]", f->path, nm);
    int64_t b = json_uint(off->child), en = json_uint(off->child->next);
    if (b < 0 || en < 0 || en < b)
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", f->path, nm);
    if ((uint64_t)en > data_size)
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': data_offsets end %lld is past the end of the data (%zu bytes)",
                       f->path, nm, (long long)en, data_size);
    if ((uint64_t)(en - b) != t->nbytes)
        return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s': %lld bytes stored but shape and dtype need %zu", f->path, nm,
                       (long long)(en - b), t->nbytes);
    t->data = data + b;
    if (!(t->name = str_dup(nm))) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", f->path);
    return MV_OK;
}

static int cmp_view_offset(const void *a, const void *b) {
    const mv_tensor_view *x = a, *y = b;
    const char *p = x->data, *q = y->data;
    if (p != q) return p < q ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int cmp_name_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Tensors sorted by offset: no overlaps. Names: unique (via a name-sorted check). */
static mv_status st_check_layout(mv_safetensors *f) {
    qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, cmp_view_offset);
    const mv_tensor_view *last = NULL; /* the non-empty tensor reaching furthest so far */
    for (int i = 0; i < f->count; i++) {
        const mv_tensor_view *t = &f->tensors[i];
        if (!t->nbytes) continue;
        if (last && (const char *)last->data + last->nbytes > (const char *)t->data)
            return mv_fail(MV_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", f->path, last->name, t->name);
        last = t;
    }
    if (f->count < 2) return MV_OK;
    const char **names = malloc((size_t)f->count * sizeof *names);
    if (!names) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", f->path);
    for (int i = 0; i < f->count; i++) names[i] = f->tensors[i].name;
    qsort(names, (size_t)f->count, sizeof *names, cmp_name_ptr);
    mv_status s = MV_OK;
    for (int i = 1; i < f->count && s == MV_OK; i++)
        if (!strcmp(names[i - 1], names[i]))
            s = mv_fail(MV_ERR_FORMAT, "%s: tensor name '%s' appears twice", f->path, names[i]);
    free(names);
    return s;
}

static mv_status st_parse_header(mv_safetensors *f, cJSON *root, const unsigned char *data, size_t data_size) {
    if (!cJSON_IsObject(root)) return mv_fail(MV_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    int n = cJSON_GetArraySize(root);
    f->tensors = calloc((size_t)n + 1, sizeof *f->tensors);
    if (!f->tensors) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", f->path);
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++) return mv_fail(MV_ERR_FORMAT, "%s: __metadata__ appears twice", f->path);
            MV_TRY(st_parse_meta(f, e));
            continue;
        }
        MV_TRY(st_parse_tensor(f, e, data, data_size, &f->tensors[f->count]));
        f->count++;
    }
    return st_check_layout(f);
}

mv_status mv_st_open(mv_safetensors *f, const char *path) {
    memset(f, 0, sizeof *f);
    cJSON *root = NULL;
    mv_status s;
    if (!(f->path = str_dup(path))) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    if ((s = map_file(path, &f->map, &f->size)) != MV_OK) goto fail;
    const unsigned char *m = f->map;
    if (f->size < 8) {
        s = mv_fail(MV_ERR_FORMAT, "%s: file too short (%zu bytes) for a safetensors header", path, f->size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | m[i];
    if (hlen < 2) {
        s = mv_fail(MV_ERR_FORMAT, "%s: header length %llu is too small for a safetensors header", path,
                    (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > f->size - 8 || hlen > ST_MAX_HEADER) {
        s = mv_fail(MV_ERR_FORMAT, "%s: header length %llu does not fit the file size %zu (not a safetensors file, "
                    "or truncated)", path, (unsigned long long)hlen, f->size);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts((const char *)m + 8, (size_t)hlen, &end, 0);
    if (!root) {
        s = mv_fail(MV_ERR_FORMAT, "%s: header is not valid JSON (near byte %ld)", path,
                    end ? (long)(end - (const char *)m) : -1L);
        goto fail;
    }
    for (const char *c = end; c < (const char *)m + 8 + hlen; c++)
        if (*c != ' ' && *c != '\n' && *c != '\t' && *c != '\r' && *c != 0) {
            s = mv_fail(MV_ERR_FORMAT, "%s: junk after the JSON header", path);
            goto fail;
        }
    s = st_parse_header(f, root, m + 8 + hlen, f->size - 8 - (size_t)hlen);
    if (s != MV_OK) goto fail;
    cJSON_Delete(root);
    return MV_OK;
fail:
    cJSON_Delete(root);
    mv_st_close(f);
    return s;
}

void mv_st_close(mv_safetensors *f) {
    if (f->map) munmap(f->map, f->size);
    if (f->tensors)
        for (int i = 0; i <= f->count; i++) free(f->tensors[i].name); /* count+1: a half-parsed entry */
    free(f->tensors);
    for (int i = 0; f->meta_keys && f->meta_keys[i]; i++) free(f->meta_keys[i]);
    for (int i = 0; f->meta_vals && f->meta_vals[i]; i++) free(f->meta_vals[i]);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const mv_tensor_view *mv_st_find(const mv_safetensors *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *mv_st_meta(const mv_safetensors *f, const char *key) {
    for (int i = 0; i < f->meta_count; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

mv_status mv_st_read_f32(const mv_safetensors *f, const char *name, float *dst, size_t numel) {
    const mv_tensor_view *t = mv_st_find(f, name);
    if (!t) return mv_fail(MV_ERR_FORMAT, "%s: no tensor named '%s'", f->path, name);
    if (t->numel != numel)
        return mv_fail(MV_ERR_SHAPE, "%s: tensor '%s': expected %zu elements found %zu", f->path, name, numel,
                       t->numel);
    convert_to_f32(dst, t->data, t->dtype, numel);
    return MV_OK;
}

mv_status mv_st_read_rows_f32(const mv_safetensors *f, const char *name, int64_t row0, int64_t nrows,
                              float *dst) {
    const mv_tensor_view *t = mv_st_find(f, name);
    if (!t) return mv_fail(MV_ERR_FORMAT, "%s: no tensor named '%s'", f->path, name);
    if (t->ndim < 1) return mv_fail(MV_ERR_SHAPE, "%s: tensor '%s' is a scalar, it has no rows", f->path, name);
    if (row0 < 0 || nrows < 0 || row0 > t->shape[0] || nrows > t->shape[0] - row0)
        return mv_fail(MV_ERR_SHAPE, "%s: tensor '%s': rows [%lld, %lld) outside [0, %lld)", f->path, name,
                       (long long)row0, (long long)(row0 + nrows), (long long)t->shape[0]);
    size_t row = t->shape[0] ? t->numel / (size_t)t->shape[0] : 0, esz = mv_dtype_size(t->dtype);
    convert_to_f32(dst, (const char *)t->data + (size_t)row0 * row * esz, t->dtype, (size_t)nrows * row);
    return MV_OK;
}

/* ---------------- growing string (JSON header building) ---------------- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = MV_MAX(b->cap * 2, b->len + n + 64);
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void sb_puts(strbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_putn(b, tmp, MV_MIN((size_t)n, sizeof tmp - 1));
}
/* A JSON string literal with escapes. */
static void sb_json_str(strbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            sb_putn(b, e, 2);
        } else if (*c < 0x20) {
            sb_printf(b, "\\u%04x", *c);
        } else {
            sb_putn(b, (const char *)c, 1);
        }
    }
    sb_puts(b, "\"");
}

/* ---------------- atomic output files ---------------- */

typedef struct {
    char *path, *tmp;
    FILE *fp;
} outfile;

static mv_status outfile_open(outfile *o, const char *path) {
    memset(o, 0, sizeof *o);
    size_t n = strlen(path);
    o->path = str_dup(path);
    o->tmp = malloc(n + 5);
    if (!o->path || !o->tmp) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmp", 5);
    if (!(o->fp = fopen(o->tmp, "wb"))) return mv_fail(MV_ERR_IO, "%s: cannot create: %s", o->tmp, strerror(errno));
    return MV_OK;
}

static mv_status outfile_write(outfile *o, const void *data, size_t bytes) {
    if (bytes && fwrite(data, 1, bytes, o->fp) != bytes)
        return mv_fail(MV_ERR_IO, "%s: write failed: %s", o->tmp, strerror(errno));
    return MV_OK;
}

static void outfile_free(outfile *o, int remove_tmp) {
    if (o->fp) fclose(o->fp);
    if (remove_tmp && o->tmp) remove(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}

/* Flush, fsync, close and rename into place; frees o (removing the temporary on failure). */
static mv_status outfile_commit(outfile *o) {
    mv_status s = MV_OK;
    if (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: write failed: %s", o->tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(o->fp);
    o->fp = NULL;
    if (rc != 0) {
        s = mv_fail(MV_ERR_IO, "%s: close failed: %s", o->tmp, strerror(errno));
        goto fail;
    }
    if (rename(o->tmp, o->path) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot rename into place: %s", o->path, strerror(errno));
        goto fail;
    }
    outfile_free(o, 0);
    return MV_OK;
fail:
    outfile_free(o, 1);
    return s;
}

/* ---------------- safetensors writer ---------------- */

typedef struct {
    char *name;
    mv_dtype dtype;
    int ndim;
    int64_t shape[MV_TF_MAX_DIMS];
    size_t nbytes;
} st_decl;

struct mv_st_writer {
    outfile out;
    st_decl *decl;
    int count, cap;
    char **meta; /* key, value pairs */
    int meta_count;
    int header_done, failed;
    int cur;          /* tensor being written */
    size_t cur_bytes; /* bytes of it written so far */
};

mv_status mv_st_writer_open(mv_st_writer **w, const char *path) {
    *w = calloc(1, sizeof **w);
    if (!*w) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    mv_status s = outfile_open(&(*w)->out, path);
    if (s != MV_OK) {
        outfile_free(&(*w)->out, 0);
        free(*w);
        *w = NULL;
    }
    return s;
}

static mv_status st_writer_fail(mv_st_writer *w, mv_status s) {
    w->failed = 1;
    return s;
}

mv_status mv_st_writer_meta(mv_st_writer *w, const char *key, const char *value) {
    if (w->header_done)
        return st_writer_fail(w, mv_fail(MV_ERR_INTERNAL, "%s: metadata added after data", w->out.path));
    char **m = realloc(w->meta, (size_t)(w->meta_count + 1) * 2 * sizeof *m);
    if (!m) return st_writer_fail(w, mv_fail(MV_ERR_NOMEM, "%s: out of memory", w->out.path));
    w->meta = m;
    m[2 * w->meta_count] = str_dup(key);
    m[2 * w->meta_count + 1] = str_dup(value);
    w->meta_count++;
    if (!m[2 * w->meta_count - 2] || !m[2 * w->meta_count - 1])
        return st_writer_fail(w, mv_fail(MV_ERR_NOMEM, "%s: out of memory", w->out.path));
    return MV_OK;
}

mv_status mv_st_writer_declare(mv_st_writer *w, const char *name, mv_dtype dtype, int ndim,
                               const int64_t *shape) {
    const char *path = w->out.path;
    if (w->header_done) return st_writer_fail(w, mv_fail(MV_ERR_INTERNAL, "%s: tensor declared after data", path));
    if (ndim < 0 || ndim > MV_TF_MAX_DIMS || mv_dtype_size(dtype) == 0 || !strcmp(name, "__metadata__"))
        return st_writer_fail(w, mv_fail(MV_ERR_ARG, "%s: bad declaration of tensor '%s'", path, name));
    for (int i = 0; i < w->count; i++)
        if (!strcmp(w->decl[i].name, name))
            return st_writer_fail(w, mv_fail(MV_ERR_ARG, "%s: tensor '%s' declared twice", path, name));
    if (w->count == w->cap) {
        int cap = w->cap ? 2 * w->cap : 32;
        st_decl *d = realloc(w->decl, (size_t)cap * sizeof *d);
        if (!d) return st_writer_fail(w, mv_fail(MV_ERR_NOMEM, "%s: out of memory", path));
        w->decl = d, w->cap = cap;
    }
    st_decl *d = &w->decl[w->count];
    memset(d, 0, sizeof *d);
    size_t numel;
    if (!shape_numel(ndim, shape, mv_dtype_size(dtype), &numel))
        return st_writer_fail(w, mv_fail(MV_ERR_ARG, "%s: tensor '%s': bad shape", path, name));
    if (!(d->name = str_dup(name))) return st_writer_fail(w, mv_fail(MV_ERR_NOMEM, "%s: out of memory", path));
    d->dtype = dtype, d->ndim = ndim, d->nbytes = numel * mv_dtype_size(dtype);
    memcpy(d->shape, shape, (size_t)ndim * sizeof *shape);
    w->count++;
    return MV_OK;
}

static mv_status st_writer_header(mv_st_writer *w) {
    strbuf b = {0};
    sb_puts(&b, "{");
    if (w->meta_count) {
        sb_puts(&b, "\"__metadata__\":{");
        for (int i = 0; i < w->meta_count; i++) {
            if (i) sb_puts(&b, ",");
            sb_json_str(&b, w->meta[2 * i]);
            sb_puts(&b, ":");
            sb_json_str(&b, w->meta[2 * i + 1]);
        }
        sb_puts(&b, "}");
    }
    size_t off = 0;
    for (int i = 0; i < w->count; i++) {
        const st_decl *d = &w->decl[i];
        if (i || w->meta_count) sb_puts(&b, ",");
        sb_json_str(&b, d->name);
        sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", mv_dtype_name(d->dtype));
        for (int k = 0; k < d->ndim; k++) sb_printf(&b, "%s%lld", k ? "," : "", (long long)d->shape[k]);
        sb_printf(&b, "],\"data_offsets\":[%zu,%zu]}", off, off + d->nbytes);
        off += d->nbytes;
    }
    sb_puts(&b, "}");
    while (!b.oom && b.len % 8) sb_puts(&b, " ");
    mv_status s = MV_OK;
    if (b.oom) {
        s = mv_fail(MV_ERR_NOMEM, "%s: out of memory", w->out.path);
        goto fail;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    if ((s = outfile_write(&w->out, len8, 8)) != MV_OK) goto fail;
    if ((s = outfile_write(&w->out, b.s, b.len)) != MV_OK) goto fail;
    w->header_done = 1;
fail:
    free(b.s);
    return s;
}

/* Skip past finished (and empty) tensors. */
static void st_writer_advance(mv_st_writer *w) {
    while (w->cur < w->count && w->cur_bytes == w->decl[w->cur].nbytes) w->cur++, w->cur_bytes = 0;
}

mv_status mv_st_writer_write(mv_st_writer *w, const void *data, size_t bytes) {
    if (w->failed) return MV_ERR_IO;
    if (!w->header_done) {
        mv_status s = st_writer_header(w);
        if (s != MV_OK) return st_writer_fail(w, s);
    }
    const char *p = data;
    while (bytes) {
        st_writer_advance(w);
        if (w->cur >= w->count)
            return st_writer_fail(w, mv_fail(MV_ERR_INTERNAL, "%s: more bytes written than declared", w->out.path));
        size_t n = MV_MIN(bytes, w->decl[w->cur].nbytes - w->cur_bytes);
        mv_status s = outfile_write(&w->out, p, n);
        if (s != MV_OK) return st_writer_fail(w, s);
        w->cur_bytes += n, p += n, bytes -= n;
    }
    return MV_OK;
}

mv_status mv_st_writer_write_f32(mv_st_writer *w, const float *data, size_t numel) {
    if (w->failed) return MV_ERR_IO;
    unsigned char buf[8192];
    while (numel) {
        st_writer_advance(w);
        if (w->cur >= w->count)
            return st_writer_fail(w, mv_fail(MV_ERR_INTERNAL, "%s: more values written than declared", w->out.path));
        const st_decl *d = &w->decl[w->cur];
        size_t esz = mv_dtype_size(d->dtype), left = (d->nbytes - w->cur_bytes) / esz;
        size_t n = MV_MIN(MV_MIN(numel, left), sizeof buf / 8);
        convert_from_f32(buf, data, d->dtype, n);
        MV_TRY(mv_st_writer_write(w, buf, n * esz));
        data += n, numel -= n;
    }
    return MV_OK;
}

static void st_writer_free(mv_st_writer *w, int remove_tmp) {
    outfile_free(&w->out, remove_tmp);
    for (int i = 0; i < w->count; i++) free(w->decl[i].name);
    for (int i = 0; i < 2 * w->meta_count; i++) free(w->meta[i]);
    free(w->decl);
    free(w->meta);
    free(w);
}

mv_status mv_st_writer_finish(mv_st_writer *w) {
    mv_status s = MV_OK;
    if (w->failed) {
        s = mv_fail_prefix(MV_ERR_IO, "%s: not written (an earlier write failed)", w->out.path);
        goto fail;
    }
    if (!w->header_done && (s = st_writer_header(w)) != MV_OK) goto fail;
    st_writer_advance(w);
    if (w->cur != w->count) {
        s = mv_fail(MV_ERR_INTERNAL, "%s: tensor '%s' incomplete (%zu of %zu bytes written)", w->out.path,
                    w->decl[w->cur].name, w->cur_bytes, w->decl[w->cur].nbytes);
        goto fail;
    }
    s = outfile_commit(&w->out);
    st_writer_free(w, 0);
    return s;
fail:
    st_writer_free(w, 1);
    return s;
}

void mv_st_writer_abort(mv_st_writer *w) {
    if (w) st_writer_free(w, 1);
}

/* ---------------- parameter arenas ---------------- */

mv_status mv_st_save_params(const char *path, const mv_params *p, const float *arr, mv_dtype store,
                            const char *const *meta) {
    mv_st_writer *w;
    MV_TRY(mv_st_writer_open(&w, path));
    mv_status s = MV_OK;
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2)
        if ((s = mv_st_writer_meta(w, meta[i], meta[i + 1])) != MV_OK) goto fail;
    for (int i = 0; i < p->count; i++)
        if ((s = mv_st_writer_declare(w, p->info[i].name, store, p->info[i].ndim, p->info[i].shape)) != MV_OK)
            goto fail;
    for (int i = 0; i < p->count; i++)
        if ((s = mv_st_writer_write_f32(w, arr + p->info[i].offset, p->info[i].numel)) != MV_OK) goto fail;
    return mv_st_writer_finish(w);
fail:
    mv_st_writer_abort(w);
    return s;
}

mv_status mv_st_check_params(const mv_safetensors *f, const mv_params *p, const char *prefix, int allow_extra) {
    if (!prefix) prefix = "";
    size_t plen = strlen(prefix);
    char name[512], want[160], got[160];
    for (int i = 0; i < p->count; i++) {
        const mv_param_info *pi = &p->info[i];
        snprintf(name, sizeof name, "%s%s", prefix, pi->name);
        const mv_tensor_view *t = mv_st_find(f, name);
        if (!t) return mv_fail(MV_ERR_SHAPE, "%s: expected tensor '%s', not found (wrong model or config?)", f->path, name);
        int same = t->ndim == pi->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == pi->shape[d];
        if (!same) {
            shape_str(want, sizeof want, pi->ndim, pi->shape);
            shape_str(got, sizeof got, t->ndim, t->shape);
            return mv_fail(MV_ERR_SHAPE, "%s: tensor '%s': expected shape %s found %s (checkpoint from another config?)",
                           f->path, name, want, got);
        }
    }
    if (allow_extra) return MV_OK;
    for (int i = 0; i < f->count; i++) {
        const char *n = f->tensors[i].name;
        if (strncmp(n, prefix, plen) || mv_params_find(p, n + plen) >= 0) continue;
        return mv_fail(MV_ERR_SHAPE, "%s: unexpected tensor '%s' (not part of this model)", f->path, n);
    }
    return MV_OK;
}

mv_status mv_st_load_params(const mv_safetensors *f, const mv_params *p, float *arr, const char *prefix,
                            int allow_extra) {
    MV_TRY(mv_st_check_params(f, p, prefix, allow_extra));
    char name[512];
    for (int i = 0; i < p->count; i++) {
        const mv_param_info *pi = &p->info[i];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", pi->name);
        const mv_tensor_view *t = mv_st_find(f, name);
        float *dst = arr + pi->offset;
        convert_to_f32(dst, t->data, t->dtype, t->numel);
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(dst[k]))
                return mv_fail(MV_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value (%g at index %zu): the file "
                               "is corrupt or comes from a diverged run", f->path, name, dst[k], k);
    }
    return MV_OK;
}

/* ---------------- .npy ---------------- */

static const struct {
    const char *descr;
    mv_dtype dtype;
} npy_types[] = {
    {"<f4", MV_DT_F32}, {"|u1", MV_DT_U8}, {"<u1", MV_DT_U8}, {"<i4", MV_DT_I32},
    {"<i8", MV_DT_I64}, {"<f8", MV_DT_F64}, {"<f2", MV_DT_F16},
};

static const char *npy_descr(mv_dtype d) {
    for (size_t i = 0; i < MV_ARRAY_LEN(npy_types); i++)
        if (npy_types[i].dtype == d) return npy_types[i].descr;
    return NULL;
}

/* A tiny parser for the Python dict literal of an .npy header. */
typedef struct {
    const char *p, *end;
} npy_lex;

static void lex_ws(npy_lex *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}
static int lex_char(npy_lex *l, char c) {
    lex_ws(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 1;
    }
    return 0;
}
/* A quoted string into buf (truncated to cap-1); 0 if not a string. */
static int lex_string(npy_lex *l, char *buf, size_t cap) {
    lex_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return 0;
    char q = *l->p++;
    size_t n = 0;
    while (l->p < l->end && *l->p != q) {
        if (n + 1 < cap) buf[n++] = *l->p;
        l->p++;
    }
    buf[n] = 0;
    if (l->p >= l->end) return 0;
    l->p++;
    return 1;
}
static int lex_word(npy_lex *l, const char *w) {
    lex_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) >= n && !memcmp(l->p, w, n)) {
        l->p += n;
        return 1;
    }
    return 0;
}
/* "(a, b, c)" with optional trailing comma; 0 on a malformed tuple. */
static int lex_shape(npy_lex *l, int *ndim, int64_t *shape, int *too_many) {
    if (!lex_char(l, '(')) return 0;
    *ndim = 0;
    for (;;) {
        if (lex_char(l, ')')) return 1;
        lex_ws(l);
        if (l->p >= l->end || *l->p < '0' || *l->p > '9') return 0;
        int64_t v = 0;
        while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*l->p++ - '0');
        }
        if (l->p < l->end && *l->p == 'L') l->p++; /* Python 2 long */
        if (*ndim == MV_TF_MAX_DIMS) {
            *too_many = 1;
            return 0;
        }
        shape[(*ndim)++] = v;
        if (!lex_char(l, ',')) return lex_char(l, ')');
    }
}

static mv_status npy_parse_header(mv_npy *a, const char *h, size_t n) {
    npy_lex l = {h, h + n};
    int have_descr = 0, have_fo = 0, have_shape = 0, too_many = 0;
    char key[64], descr[64];
    if (!lex_char(&l, '{')) return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (no dict)", a->path);
    while (!lex_char(&l, '}')) {
        if (!lex_string(&l, key, sizeof key) || !lex_char(&l, ':'))
            return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header", a->path);
        if (!strcmp(key, "descr") && !have_descr++) {
            if (!lex_string(&l, descr, sizeof descr))
                return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (descr is not a string; structured dtypes "
                               "are not supported)", a->path);
        } else if (!strcmp(key, "fortran_order") && !have_fo++) {
            if (lex_word(&l, "True"))
                return mv_fail(MV_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported (save a C-order "
                               "array: numpy.ascontiguousarray)", a->path);
            if (!lex_word(&l, "False")) return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (fortran_order)", a->path);
        } else if (!strcmp(key, "shape") && !have_shape++) {
            if (!lex_shape(&l, &a->ndim, a->shape, &too_many))
                return too_many ? mv_fail(MV_ERR_UNSUPPORTED, "%s: more than %d dimensions", a->path, MV_TF_MAX_DIMS)
                                : mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (shape)", a->path);
        } else {
            return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (unexpected or repeated key '%s')", a->path, key);
        }
        if (!lex_char(&l, ',')) {
            if (!lex_char(&l, '}')) return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header", a->path);
            break;
        }
    }
    lex_ws(&l);
    if (l.p != l.end) return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (junk after the dict)", a->path);
    if (!have_descr || !have_fo || !have_shape)
        return mv_fail(MV_ERR_FORMAT, "%s: bad .npy header (needs descr, fortran_order and shape)", a->path);
    for (size_t i = 0; i < MV_ARRAY_LEN(npy_types); i++)
        if (!strcmp(descr, npy_types[i].descr)) {
            a->dtype = npy_types[i].dtype;
            return MV_OK;
        }
    return mv_fail(MV_ERR_UNSUPPORTED, "%s: unsupported dtype '%s' (supported: <f4 |u1 <i4 <i8 <f8 <f2, little-endian)",
                   a->path, descr);
}

mv_status mv_npy_open(mv_npy *a, const char *path) {
    memset(a, 0, sizeof *a);
    mv_status s;
    if (!(a->path = str_dup(path))) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    if ((s = map_file(path, &a->map, &a->size)) != MV_OK) goto fail;
    const unsigned char *m = a->map;
    if (a->size < 10 || memcmp(m, "\x93NUMPY", 6)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto fail;
    }
    int major = m[6];
    size_t hstart = major == 1 ? 10 : 12, hlen;
    if (major < 1 || major > 3 || a->size < hstart) {
        s = mv_fail(MV_ERR_FORMAT, "%s: unsupported .npy version %d.%d", path, m[6], m[7]);
        goto fail;
    }
    hlen = major == 1 ? (size_t)m[8] | (size_t)m[9] << 8
                      : (size_t)m[8] | (size_t)m[9] << 8 | (size_t)m[10] << 16 | (size_t)m[11] << 24;
    if (hlen > a->size - hstart) {
        s = mv_fail(MV_ERR_FORMAT, "%s: truncated .npy header (header length %zu, file %zu bytes)", path, hlen,
                    a->size);
        goto fail;
    }
    if ((s = npy_parse_header(a, (const char *)m + hstart, hlen)) != MV_OK) goto fail;
    size_t esz = mv_dtype_size(a->dtype), data_off = hstart + hlen, have = a->size - data_off;
    if (!shape_numel(a->ndim, a->shape, esz, &a->numel)) {
        s = mv_fail(MV_ERR_FORMAT, "%s: shape product overflows", path);
        goto fail;
    }
    if (have != a->numel * esz) {
        char sh[160];
        shape_str(sh, sizeof sh, a->ndim, a->shape);
        s = mv_fail(MV_ERR_FORMAT, "%s: %s data: shape %s needs %zu bytes, file has %zu", path,
                    have < a->numel * esz ? "truncated" : "unexpected trailing", sh, a->numel * esz, have);
        goto fail;
    }
    a->data = m + data_off;
    if (a->numel && (uintptr_t)a->data % esz) { /* float loads need aligned addresses */
        if (!(a->copy = malloc(a->numel * esz))) {
            s = mv_fail(MV_ERR_NOMEM, "%s: out of memory for %zu bytes", path, a->numel * esz);
            goto fail;
        }
        memcpy(a->copy, a->data, a->numel * esz);
        a->data = a->copy;
    }
    return MV_OK;
fail:
    mv_npy_close(a);
    return s;
}

void mv_npy_close(mv_npy *a) {
    if (a->map) munmap(a->map, a->size);
    free(a->copy);
    free(a->path);
    memset(a, 0, sizeof *a);
}

struct mv_npy_writer {
    outfile out;
    size_t expect, written;
    int failed;
};

/* Version 1.0 header, padded so the data starts at a multiple of 64 bytes (as numpy does). */
static mv_status npy_header(char *buf, size_t cap, size_t *len, const char *path, mv_dtype dtype, int ndim,
                            const int64_t *shape) {
    const char *descr = npy_descr(dtype);
    if (!descr || ndim < 0 || ndim > MV_TF_MAX_DIMS) return mv_fail(MV_ERR_ARG, "%s: cannot store this array", path);
    char dict[512];
    size_t k = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < ndim; d++)
        k += (size_t)snprintf(dict + k, sizeof dict - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    k += (size_t)snprintf(dict + k, sizeof dict - k, "%s), }", ndim == 1 ? "," : "");
    size_t total = (10 + k + 1 + 63) / 64 * 64;
    MV_ASSERT(total <= cap && total - 10 <= 65535);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, k);
    memset(buf + 10 + k, ' ', total - 10 - k - 1);
    buf[total - 1] = '\n';
    *len = total;
    return MV_OK;
}

mv_status mv_npy_writer_open(mv_npy_writer **w, const char *path, mv_dtype dtype, int ndim,
                             const int64_t *shape) {
    char hdr[640];
    size_t hlen = 0, numel = 0;
    *w = NULL;
    if (ndim < 0 || ndim > MV_TF_MAX_DIMS || !shape_numel(ndim, shape, mv_dtype_size(dtype), &numel))
        return mv_fail(MV_ERR_ARG, "%s: bad array shape", path);
    MV_TRY(npy_header(hdr, sizeof hdr, &hlen, path, dtype, ndim, shape));
    mv_npy_writer *n = calloc(1, sizeof *n);
    if (!n) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    n->expect = numel * mv_dtype_size(dtype);
    mv_status s = outfile_open(&n->out, path);
    if (s == MV_OK) s = outfile_write(&n->out, hdr, hlen);
    if (s != MV_OK) {
        mv_npy_writer_abort(n);
        return s;
    }
    *w = n;
    return MV_OK;
}

mv_status mv_npy_writer_append(mv_npy_writer *w, const void *data, size_t bytes) {
    if (w->failed) return MV_ERR_IO;
    if (bytes > w->expect - w->written) {
        w->failed = 1;
        return mv_fail(MV_ERR_INTERNAL, "%s: more bytes appended than the declared shape holds", w->out.path);
    }
    mv_status s = outfile_write(&w->out, data, bytes);
    if (s != MV_OK) w->failed = 1;
    w->written += bytes;
    return s;
}

mv_status mv_npy_writer_finish(mv_npy_writer *w) {
    mv_status s;
    if (w->failed) {
        s = mv_fail_prefix(MV_ERR_IO, "%s: not written (an earlier write failed)", w->out.path);
    } else if (w->written != w->expect) {
        s = mv_fail(MV_ERR_INTERNAL, "%s: %zu of %zu data bytes written", w->out.path, w->written, w->expect);
    } else {
        s = outfile_commit(&w->out);
        free(w);
        return s;
    }
    mv_npy_writer_abort(w);
    return s;
}

void mv_npy_writer_abort(mv_npy_writer *w) {
    if (!w) return;
    outfile_free(&w->out, 1);
    free(w);
}

mv_status mv_npy_save(const char *path, mv_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    mv_npy_writer *w;
    MV_TRY(mv_npy_writer_open(&w, path, dtype, ndim, shape));
    mv_status s = mv_npy_writer_append(w, data, w->expect);
    if (s != MV_OK) {
        mv_npy_writer_abort(w);
        return s;
    }
    return mv_npy_writer_finish(w);
}
