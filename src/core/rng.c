/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011). */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void mv_philox(uint64_t seed, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0x6d766964u, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void mv_rng_init(mv_rng *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
}

mv_rng mv_rng_fork(const mv_rng *r, uint64_t stream) {
    uint32_t w[4];
    mv_philox(r->seed ^ 0x5851F42D4C957F2Dull, stream, w);
    mv_rng out = {((uint64_t)w[0] << 32) | w[1], 0};
    return out;
}

static inline float u32_to_unit(uint32_t x) { return (x >> 8) * (1.0f / 16777216.0f); }

void mv_rng_uniform(mv_rng *r, float *out, size_t n) {
    size_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t b = 0; b < blocks; b++) {
        uint32_t w[4];
        mv_philox(r->seed, r->counter + b, w);
        for (int k = 0; k < 4 && b * 4 + k < n; k++) out[b * 4 + k] = u32_to_unit(w[k]);
    }
    r->counter += blocks;
}

void mv_rng_normal(mv_rng *r, float *out, size_t n) {
    /* Each block gives 4 words = 2 Box-Muller pairs = 4 normals. */
    size_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t b = 0; b < blocks; b++) {
        uint32_t w[4];
        mv_philox(r->seed, r->counter + b, w);
        for (int pr = 0; pr < 2; pr++) {
            double u1 = ((w[2 * pr] >> 8) + 1.0) / 16777217.0; /* (0,1] avoids log(0) */
            double u2 = (w[2 * pr + 1] >> 8) / 16777216.0;
            double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
            size_t i = b * 4 + 2 * pr;
            if (i < n) out[i] = (float)(rad * cos(th));
            if (i + 1 < n) out[i + 1] = (float)(rad * sin(th));
        }
    }
    r->counter += blocks;
}

double mv_rng_uniform1(mv_rng *r) {
    uint32_t w[4];
    mv_philox(r->seed, r->counter++, w);
    uint64_t x = ((uint64_t)w[0] << 21) ^ (w[1] >> 11);
    return (double)(x & ((1ull << 53) - 1)) / 9007199254740992.0;
}

uint32_t mv_rng_below(mv_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    return (uint32_t)(mv_rng_uniform1(r) * n) % n;
}
