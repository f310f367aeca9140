/* Cached oneDNN matmul primitives (see matmul.h). Primitive creation costs about a millisecond, so
 * primitives are kept per shape/stride signature in a small table guarded by a mutex. */
#include "nn/matmul.h"

#include <dnnl.h>
#include <pthread.h>
#include <string.h>

enum { MM_CACHE = 48 };

typedef struct {
    int64_t key[9];
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, bias_md, c_md;
} mm_entry;

static pthread_mutex_t g_mm_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static mm_entry g_cache[MM_CACHE];
static int g_ncache, g_next_evict, g_failed;

static int mm_init_locked(void) {
    if (g_engine) return 0;
    if (g_failed) return -1;
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
        g_failed = 1;
        return -1;
    }
    return 0;
}

static int mm_create(mm_entry *e, const int64_t *key) {
    int64_t M = key[0], N = key[1], K = key[2];
    dnnl_dims_t ad = {M, K}, as = {key[3], key[4]}, bd = {K, N}, bs = {key[5], key[6]};
    dnnl_dims_t cd = {M, N}, cs = {N, 1}, biasd = {1, N}, biass = {N, 1};
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = 0;
    memset(&e->bias_md, 0, sizeof e->bias_md);
    if (dnnl_memory_desc_init_by_strides(&e->a_md, 2, ad, dnnl_f32, as) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&e->b_md, 2, bd, dnnl_f32, bs) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&e->c_md, 2, cd, dnnl_f32, cs) != dnnl_success)
        goto done;
    if (key[7] && dnnl_memory_desc_init_by_strides(&e->bias_md, 2, biasd, dnnl_f32, biass) != dnnl_success)
        goto done;
    if (dnnl_matmul_desc_init(&desc, &e->a_md, &e->b_md, key[7] ? &e->bias_md : NULL, &e->c_md) !=
            dnnl_success ||
        dnnl_primitive_attr_create(&attr) != dnnl_success)
        goto done;
    if (key[8]) {
        if (dnnl_post_ops_create(&ops) != dnnl_success || dnnl_post_ops_append_sum(ops, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success)
            goto done;
    }
    if (dnnl_primitive_desc_create(&pd, &desc, attr, g_engine, NULL) != dnnl_success) goto done;
    if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) goto done;
    memcpy(e->key, key, sizeof e->key);
    ok = 1;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok ? 0 : -1;
}

/* The cached entry for key (created on a miss); NULL when oneDNN refuses. Called with the lock. */
static mm_entry *mm_lookup_locked(const int64_t *key) {
    for (int i = 0; i < g_ncache; i++)
        if (!memcmp(g_cache[i].key, key, sizeof g_cache[i].key)) return &g_cache[i];
    mm_entry fresh;
    if (mm_create(&fresh, key) != 0) return NULL;
    int slot;
    if (g_ncache < MM_CACHE) {
        slot = g_ncache++;
    } else {
        slot = g_next_evict++ % MM_CACHE;
        dnnl_primitive_destroy(g_cache[slot].prim);
    }
    g_cache[slot] = fresh;
    return &g_cache[slot];
}

static int mm_execute(const mm_entry *e, float *C, const float *A, const float *B, const float *bias) {
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, mbias = NULL;
    int rc = -1;
    if (dnnl_memory_create(&ma, &e->a_md, g_engine, (void *)A) != dnnl_success ||
        dnnl_memory_create(&mb, &e->b_md, g_engine, (void *)B) != dnnl_success ||
        dnnl_memory_create(&mc, &e->c_md, g_engine, C) != dnnl_success)
        goto done;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {0, NULL}};
    int nargs = 3;
    if (bias) {
        if (dnnl_memory_create(&mbias, &e->bias_md, g_engine, (void *)bias) != dnnl_success) goto done;
        args[3] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, mbias};
        nargs = 4;
    }
    if (dnnl_primitive_execute(e->prim, g_stream, nargs, args) != dnnl_success) goto done;
    if (dnnl_stream_wait(g_stream) != dnnl_success) goto done;
    rc = 0;
done:
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    if (mbias) dnnl_memory_destroy(mbias);
    return rc;
}

int nn_matmul(float *C, const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
              int64_t csb, const float *bias, int64_t M, int64_t N, int64_t K, int accumulate) {
    int64_t key[9] = {M, N, K, rsa, csa, rsb, csb, bias != NULL, accumulate != 0};
    /* the lock is held through the execution so an eviction never destroys a running primitive */
    pthread_mutex_lock(&g_mm_lock);
    mm_entry *e = mm_init_locked() == 0 ? mm_lookup_locked(key) : NULL;
    int rc = e ? mm_execute(e, C, A, B, bias) : -1;
    pthread_mutex_unlock(&g_mm_lock);
    return rc;
}
