/* hprt_rng.h - seeded random numbers owned by their user (no rand(), no globals).
 *
 * Two kinds:
 *  - hprt_rng: a sequential generator (xoshiro256**, seeded through splitmix64)
 *    for initialisation and shuffling.  Its state is four words, saved in
 *    checkpoints.
 *  - hprt_hash_u32/hprt_hash_unit: a counter-based hash of (seed, stream, index)
 *    for dropout masks: stateless, so any thread can compute any element.
 */
#ifndef HPRT_RNG_H
#define HPRT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} hprt_rng;

void hprt_rng_seed(hprt_rng *r, uint64_t seed);
uint64_t hprt_rng_next(hprt_rng *r);
/* uniform in [0, 1) with 53 random bits */
double hprt_rng_uniform(hprt_rng *r);
/* uniform integer in [0, n), unbiased */
uint64_t hprt_rng_below(hprt_rng *r, uint64_t n);
/* standard normal (Box-Muller; consumes two uniforms per call) */
double hprt_rng_normal(hprt_rng *r);
/* Fisher-Yates shuffle of idx[0..n) */
void hprt_rng_shuffle(hprt_rng *r, uint32_t *idx, uint32_t n);

/* Counter-based: a well-mixed 32-bit value of (key, index). */
static inline uint32_t hprt_hash_u32(uint64_t key, uint64_t index)
{
    uint64_t z = key ^ (index * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}

#endif
