/* Core: errors, RNG reproducibility across thread counts, RNG statistics, GEMM vs naive. */
#include <math.h>
#include <omp.h>

#include "core/core.h"
#include "core/gemm.h"
#include "core/params.h"
#include "core/rng.h"
#include "testutil.h"

static void test_errors(void) {
    mv_status s = mv_fail(MV_ERR_IO, "file %s: %s", "x.bin", "missing");
    CHECK(s == MV_ERR_IO, "status passes through");
    CHECK(!strcmp(mv_last_error(), "file x.bin: missing"), "message: %s", mv_last_error());
    mv_fail_prefix(MV_ERR_IO, "loading");
    CHECK(!strcmp(mv_last_error(), "loading: file x.bin: missing"), "prefix: %s", mv_last_error());
}

static void test_rng(void) {
    size_t n = 300001;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    mv_rng r;
    mv_set_threads(1);
    mv_rng_init(&r, 42);
    mv_rng_normal(&r, a, n);
    mv_set_threads(2);
    mv_rng_init(&r, 42);
    mv_rng_normal(&r, b, n);
    CHECK(!memcmp(a, b, n * 4), "normal fill identical for 1 and 2 threads");
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += a[i];
    mean /= n;
    for (size_t i = 0; i < n; i++) var += (a[i] - mean) * (a[i] - mean);
    var /= n;
    CHECK(fabs(mean) < 0.01 && fabs(var - 1) < 0.01, "N(0,1) moments: mean %g var %g", mean, var);
    /* Two fills in a row equal one fill of the combined length split at a multiple of 4. */
    mv_rng_init(&r, 7);
    mv_rng_uniform(&r, a, 1000);
    mv_rng_uniform(&r, a + 1000, 1000);
    mv_rng_init(&r, 7);
    mv_rng_uniform(&r, b, 2000);
    CHECK(!memcmp(a, b, 2000 * 4), "streams continue across calls");
    double um = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < 2000; i++) um += a[i], lo = fminf(lo, a[i]), hi = fmaxf(hi, a[i]);
    CHECK(fabs(um / 2000 - 0.5) < 0.03 && lo >= 0 && hi < 1, "uniform mean %g range [%g,%g]", um / 2000, lo, hi);
    mv_rng f1 = mv_rng_fork(&r, 1), f2 = mv_rng_fork(&r, 2);
    CHECK(f1.seed != f2.seed, "forks differ");
    int counts[3] = {0};
    for (int i = 0; i < 30000; i++) counts[mv_rng_below(&r, 3)]++;
    CHECK(abs(counts[0] - 10000) < 500 && abs(counts[2] - 10000) < 500, "below(3): %d %d %d", counts[0], counts[1], counts[2]);
    free(a);
    free(b);
}

static void test_gemm(void) {
    int M = 37, N = 29, K = 53;
    mv_rng r;
    mv_rng_init(&r, 3);
    float *A = malloc(M * K * 4), *B = malloc(K * N * 4), *C1 = malloc(M * N * 4), *C2 = malloc(M * N * 4);
    mv_rng_normal(&r, A, M * K);
    mv_rng_normal(&r, B, K * N);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            mv_rng_normal(&r, C1, M * N);
            memcpy(C2, C1, M * N * 4);
            int lda = ta ? M : K, ldb = tb ? K : N;
            mv_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C1, N);
            mv_sgemm_naive(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.5f, C2, N);
            char what[64];
            snprintf(what, sizeof what, "sgemm transA=%d transB=%d", ta, tb);
            tu_close(what, C1, C2, M * N, 1e-4, 1e-4);
        }
    free(A), free(B), free(C1), free(C2);
}

static void test_params(void) {
    mv_params p;
    mv_params_init(&p);
    int64_t s1[2] = {3, 5}, s2[1] = {7};
    int i1, i2;
    CHECK(mv_params_add(&p, "a.weight", 2, s1, &i1) == MV_OK, "add");
    CHECK(mv_params_add(&p, "a.bias", 1, s2, &i2) == MV_OK, "add");
    CHECK(mv_params_alloc(&p, 1) == MV_OK, "alloc");
    CHECK(((uintptr_t)mv_params_data(&p, i2) & 63) == 0, "aligned views");
    CHECK(mv_params_find(&p, "a.bias") == i2 && mv_params_find(&p, "nope") == -1, "find");
    CHECK(p.info[i2].offset >= 15, "no overlap");
    mv_params_free(&p);
}

int main(void) {
    test_errors();
    test_rng();
    test_gemm();
    test_params();
    return tu_finish();
}
