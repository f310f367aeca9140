/* The one RNG of millivid: Philox4x32-10, counter-based. A stream is (seed, counter); element i of a
 * fill depends only on (seed, counter + i), so fills are identical for any thread count. */
#ifndef MV_RNG_H
#define MV_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seed;
    uint64_t counter; /* advances by the number of 128-bit blocks each fill consumes */
} mv_rng;

void mv_rng_init(mv_rng *r, uint64_t seed);
/* A new independent stream derived from r's seed and a stream id (does not advance r). */
mv_rng mv_rng_fork(const mv_rng *r, uint64_t stream);
/* The four 32-bit words of block `counter` of stream `seed`. */
void mv_philox(uint64_t seed, uint64_t counter, uint32_t out[4]);

void mv_rng_uniform(mv_rng *r, float *out, size_t n);            /* U[0,1) */
void mv_rng_normal(mv_rng *r, float *out, size_t n);             /* N(0,1), Box-Muller */
double mv_rng_uniform1(mv_rng *r);                               /* one U[0,1) double */
uint32_t mv_rng_below(mv_rng *r, uint32_t n);                    /* uniform integer in [0,n) */
#endif
