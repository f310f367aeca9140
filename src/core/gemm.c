#include "gemm.h"

#include <dnnl.h>
#include <omp.h>

#include "core.h"

#include <string.h>

void mv_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    dnnl_status_t st = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B,
                                  ldb, beta, C, ldc);
    MV_ASSERT(st == dnnl_success);
}

void mv_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = transA ? A[k * lda + i] : A[i * lda + k];
                float b = transB ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * b;
            }
            C[i * ldc + j] = (float)(alpha * acc + (beta == 0 ? 0.0 : (double)beta * C[i * ldc + j]));
        }
}

/* ---- mixed precision (bf16 operands, fp32 accumulation) through the oneDNN matmul primitive ---- */

static mv_matmul_precision g_precision = MV_MATMUL_FP32;

void mv_set_matmul_precision(mv_matmul_precision p) { g_precision = p; }
mv_matmul_precision mv_get_matmul_precision(void) { return g_precision; }


void mv_bf16_round_n(uint16_t *out, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) out[i] = mv_bf16_round(x[i]);
}

/* rows x cols floats with row stride ld -> compact bf16 [rows, cols] */
static void bf16_pack(uint16_t *out, const float *x, int64_t rows, int64_t cols, int64_t ld) {
    if (ld == cols) {
        mv_bf16_round_n(out, x, (size_t)(rows * cols));
        return;
    }
#pragma omp parallel for schedule(static) if (rows * cols >= 65536)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[r * cols + c] = mv_bf16_round(x[r * ld + c]);
}

enum { MM_CACHE = 48 };

typedef struct {
    int64_t M, N, K, ldc;
    int ta, tb, beta1, nthr; /* nthr: OpenMP threads when built (oneDNN plans its split then) */
    int ok;                  /* 0: no optimised bf16 matmul for this shape (use fp32) */
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} mm_entry;

/* Per thread (the callers run outside parallel regions; a thread-local cache needs no lock). */
static _Thread_local mm_entry t_cache[MM_CACHE];
static _Thread_local int t_cache_n, t_cache_next;
static _Thread_local dnnl_engine_t t_engine;
static _Thread_local dnnl_stream_t t_stream;
static _Thread_local uint16_t *t_abuf, *t_bbuf;
static _Thread_local size_t t_acap, t_bcap;

static void mm_entry_release(mm_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

/* Builds the matmul C[M,N] (f32, row stride ldc) = A[M,K] x B[K,N] on compact bf16 operands stored
 * as given (transposed storage through strides); beta1 adds a sum post-op (C += ...). */
static void mm_entry_make(mm_entry *e) {
    dnnl_memory_desc_t ad, bd, cd;
    dnnl_dims_t da = {e->M, e->K}, db = {e->K, e->N}, dc = {e->M, e->N};
    dnnl_dims_t sa = {e->ta ? 1 : e->K, e->ta ? e->M : 1}, sb = {e->tb ? 1 : e->N, e->tb ? e->K : 1},
                sc = {e->ldc, 1};
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = NULL;
    e->ok = 0;
    if (dnnl_memory_desc_init_by_strides(&ad, 2, da, dnnl_bf16, sa) ||
        dnnl_memory_desc_init_by_strides(&bd, 2, db, dnnl_bf16, sb) ||
        dnnl_memory_desc_init_by_strides(&cd, 2, dc, dnnl_f32, sc) || dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd) ||
        dnnl_primitive_attr_create(&attr))
        goto done;
    if (e->beta1 && (dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, 1.0f) ||
                     dnnl_primitive_attr_set_post_ops(attr, po)))
        goto done;
    if (dnnl_primitive_desc_create(&pd, &md, attr, t_engine, NULL) ||
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl)
        goto done;
    if (!strncmp(impl, "ref", 3)) goto done; /* no hardware bf16: the reference kernel is far slower */
    if (dnnl_primitive_create(&e->prim, pd) || dnnl_memory_create(&e->a, &ad, t_engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&e->b, &bd, t_engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&e->c, &cd, t_engine, DNNL_MEMORY_NONE))
        goto done;
    e->ok = 1;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!e->ok) {
        int64_t M = e->M, N = e->N, K = e->K, ldc = e->ldc;
        int ta = e->ta, tb = e->tb, b1 = e->beta1, nthr = e->nthr;
        mm_entry_release(e);
        e->M = M, e->N = N, e->K = K, e->ldc = ldc, e->ta = ta, e->tb = tb, e->beta1 = b1, e->nthr = nthr;
    }
}

static mm_entry *mm_lookup(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t ldc, int beta1) {
    int nthr = omp_get_max_threads();
    for (int i = 0; i < t_cache_n; i++) {
        mm_entry *e = &t_cache[i];
        if (e->M == M && e->N == N && e->K == K && e->ldc == ldc && e->ta == ta && e->tb == tb &&
            e->beta1 == beta1 && e->nthr == nthr)
            return e;
    }
    mm_entry *e;
    if (t_cache_n < MM_CACHE) {
        e = &t_cache[t_cache_n++];
    } else { /* round-robin eviction */
        e = &t_cache[t_cache_next];
        t_cache_next = (t_cache_next + 1) % MM_CACHE;
        mm_entry_release(e);
    }
    e->M = M, e->N = N, e->K = K, e->ldc = ldc, e->ta = ta, e->tb = tb, e->beta1 = beta1, e->nthr = nthr;
    mm_entry_make(e);
    return e;
}

static int grow(uint16_t **buf, size_t *cap, size_t n) {
    if (*cap >= n) return 1;
    mv_free(*buf);
    *buf = mv_alloc(n * sizeof(uint16_t));
    *cap = *buf ? n : 0;
    return *buf != NULL;
}

/* Returns 0 when the bf16 path could not run (the caller then uses fp32). */
static int gemm_bf16(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (!t_engine && (dnnl_engine_create(&t_engine, dnnl_cpu, 0) ||
                      dnnl_stream_create(&t_stream, t_engine, dnnl_stream_default_flags))) {
        t_engine = NULL;
        return 0;
    }
    mm_entry *e = mm_lookup(ta, tb, M, N, K, ldc, beta != 0.0f);
    if (!e->ok || !grow(&t_abuf, &t_acap, (size_t)(M * K)) || !grow(&t_bbuf, &t_bcap, (size_t)(K * N))) return 0;
    /* stored A: [M, K] (or [K, M] transposed), stored B: [K, N] (or [N, K]) */
    bf16_pack(t_abuf, A, ta ? K : M, ta ? M : K, lda);
    bf16_pack(t_bbuf, B, tb ? N : K, tb ? K : N, ldb);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    if (dnnl_memory_set_data_handle(e->a, t_abuf) || dnnl_memory_set_data_handle(e->b, t_bbuf) ||
        dnnl_memory_set_data_handle(e->c, C))
        return 0;
    dnnl_status_t st = dnnl_primitive_execute(e->prim, t_stream, 3, args);
    if (st == dnnl_success) st = dnnl_stream_wait(t_stream);
    MV_ASSERT(st == dnnl_success); /* C may be partly written: no silent fallback after this point */
    return 1;
}

void mv_gemm_mixed(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (g_precision == MV_MATMUL_BF16 && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && M >= 32 && N >= 32 &&
        K >= 32 && gemm_bf16(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc))
        return;
    mv_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- batched bf16 matmul on caller-packed operands (attention) ---- */

enum { BMM_CACHE = 128 }; /* the block and attention shapes of a few token counts */

typedef struct {
    int64_t b0, b1, M, N, K, sa[4], sb[4], sc[4];
    float beta; /* C = A B + beta C (a sum post-op when nonzero) */
    int bias, nthr, ok;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, bias_mem;
} bmm_entry;

static _Thread_local bmm_entry t_bcache[BMM_CACHE];
static _Thread_local int t_bcache_n, t_bcache_next;

static void bmm_entry_release(bmm_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    if (e->bias_mem) dnnl_memory_destroy(e->bias_mem);
    e->prim = NULL, e->a = e->b = e->c = e->bias_mem = NULL;
    e->ok = 0;
}

/* Builds the primitive of e's shape (e->ok = 0 when oneDNN offers only its reference kernel). */
static void bmm_entry_make(bmm_entry *e) {
    dnnl_memory_desc_t ad, bd, cd, biasd;
    dnnl_dims_t da = {e->b0, e->b1, e->M, e->K}, db = {e->b0, e->b1, e->K, e->N}, dc = {e->b0, e->b1, e->M, e->N};
    dnnl_dims_t sa = {e->sa[0], e->sa[1], e->sa[2], e->sa[3]}, sb = {e->sb[0], e->sb[1], e->sb[2], e->sb[3]},
                sc = {e->sc[0], e->sc[1], e->sc[2], e->sc[3]}, dbias = {1, 1, 1, e->N}, sbias = {e->N, e->N, e->N, 1};
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = NULL;
    e->ok = 0;
    /* leading batch dimensions of 1 are dropped: for a single product oneDNN then picks its brgemm
     * kernels (~20% faster here than the gemm kernel it takes for a batch of one) */
    int nd = e->b0 > 1 || e->b1 > 1 ? 4 : 2, o = 4 - nd;
    if (dnnl_memory_desc_init_by_strides(&ad, nd, da + o, dnnl_bf16, sa + o) ||
        dnnl_memory_desc_init_by_strides(&bd, nd, db + o, dnnl_bf16, sb + o) ||
        dnnl_memory_desc_init_by_strides(&cd, nd, dc + o, dnnl_f32, sc + o) ||
        dnnl_memory_desc_init_by_strides(&biasd, nd, dbias + o, dnnl_f32, sbias + o) ||
        dnnl_matmul_desc_init(&md, &ad, &bd, e->bias ? &biasd : NULL, &cd) || dnnl_primitive_attr_create(&attr))
        goto done;
    if (e->beta != 0.0f && (dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, e->beta) ||
                            dnnl_primitive_attr_set_post_ops(attr, po)))
        goto done;
    if (dnnl_primitive_desc_create(&pd, &md, attr, t_engine, NULL) ||
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl)
        goto done;
    if (!strncmp(impl, "ref", 3)) goto done;
    if (dnnl_primitive_create(&e->prim, pd) || dnnl_memory_create(&e->a, &ad, t_engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&e->b, &bd, t_engine, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&e->c, &cd, t_engine, DNNL_MEMORY_NONE) ||
        (e->bias && dnnl_memory_create(&e->bias_mem, &biasd, t_engine, DNNL_MEMORY_NONE)))
        goto done;
    e->ok = 1;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!e->ok) bmm_entry_release(e);
}

static bmm_entry *bmm_lookup(const bmm_entry *key) {
    for (int i = 0; i < t_bcache_n; i++) {
        bmm_entry *e = &t_bcache[i];
        if (e->b0 == key->b0 && e->b1 == key->b1 && e->M == key->M && e->N == key->N && e->K == key->K &&
            e->beta == key->beta && e->bias == key->bias &&
            e->nthr == key->nthr && !memcmp(e->sa, key->sa, sizeof e->sa) && !memcmp(e->sb, key->sb, sizeof e->sb) &&
            !memcmp(e->sc, key->sc, sizeof e->sc))
            return e;
    }
    bmm_entry *e;
    if (t_bcache_n < BMM_CACHE) {
        e = &t_bcache[t_bcache_n++];
    } else {
        e = &t_bcache[t_bcache_next];
        t_bcache_next = (t_bcache_next + 1) % BMM_CACHE;
        bmm_entry_release(e);
    }
    *e = *key;
    e->prim = NULL, e->a = e->b = e->c = e->bias_mem = NULL;
    bmm_entry_make(e);
    return e;
}

/* The batched product with an optional bias [N] added to every row (see mv_gemm_bf16_batched);
 * probe: 1 = only say whether it is available, 2 = the same for the variant with a bias. */
static int bmm_run(int64_t b0, int64_t b1, int64_t M, int64_t N, int64_t K, const uint16_t *A, const int64_t sa[4],
                   const uint16_t *B, const int64_t sb[4], const float *bias, float *C, const int64_t sc[4],
                   float beta, int probe) {
    if (b0 <= 0 || b1 <= 0 || M <= 0 || N <= 0) return 1;
    if (!t_engine && (dnnl_engine_create(&t_engine, dnnl_cpu, 0) ||
                      dnnl_stream_create(&t_stream, t_engine, dnnl_stream_default_flags))) {
        t_engine = NULL;
        return 0;
    }
    bmm_entry key = {.b0 = b0, .b1 = b1, .M = M, .N = N, .K = K, .beta = beta,
                     .bias = bias != NULL || probe == 2, .nthr = omp_get_max_threads()};
    memcpy(key.sa, sa, sizeof key.sa);
    memcpy(key.sb, sb, sizeof key.sb);
    memcpy(key.sc, sc, sizeof key.sc);
    bmm_entry *e = bmm_lookup(&key);
    if (!e->ok || probe) return e->ok;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c},
                               {DNNL_ARG_BIAS, e->bias_mem}};
    if (dnnl_memory_set_data_handle(e->a, (void *)A) || dnnl_memory_set_data_handle(e->b, (void *)B) ||
        dnnl_memory_set_data_handle(e->c, C) || (bias && dnnl_memory_set_data_handle(e->bias_mem, (void *)bias)))
        return 0;
    dnnl_status_t st = dnnl_primitive_execute(e->prim, t_stream, bias ? 4 : 3, args);
    if (st == dnnl_success) st = dnnl_stream_wait(t_stream);
    MV_ASSERT(st == dnnl_success);
    return 1;
}

int mv_gemm_bf16_batched(int64_t b0, int64_t b1, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                         const int64_t sa[4], const uint16_t *B, const int64_t sb[4], float *C, const int64_t sc[4],
                         int accumulate) {
    return bmm_run(b0, b1, M, N, K, A, sa, B, sb, NULL, C, sc, accumulate ? 1.0f : 0.0f, C == NULL);
}

int mv_gemm_bf16_batched_beta(int64_t b0, int64_t b1, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                              const int64_t sa[4], const uint16_t *B, const int64_t sb[4], float *C,
                              const int64_t sc[4], float beta) {
    return bmm_run(b0, b1, M, N, K, A, sa, B, sb, NULL, C, sc, beta, C == NULL);
}

int mv_gemm_bf16(int transA, int transB, int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda,
                 const uint16_t *B, int64_t ldb, const float *bias, float *C, int64_t ldc, int accumulate) {
    int64_t ra = (transA ? K : M) * lda, rb = (transB ? N : K) * ldb;
    int64_t sa[4] = {ra, ra, transA ? 1 : lda, transA ? lda : 1}, sb[4] = {rb, rb, transB ? 1 : ldb, transB ? ldb : 1},
            sc[4] = {M * ldc, M * ldc, ldc, 1};
    return bmm_run(1, 1, M, N, K, A, sa, B, sb, bias, C, sc, accumulate ? 1.0f : 0.0f,
                   C == NULL ? (bias ? 2 : 1) : 0);
}
