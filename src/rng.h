/* rng.h - deterministic random streams.
 *
 * A stream is identified by 64-bit keys and produces the same numbers on every
 * machine, process and thread, which is what makes a request's sampled tokens
 * independent of where it runs. SplitMix64 (Steele et al.) is tiny, passes
 * BigCrush, and its state is one integer that is cheap to carry per request. */
#ifndef GETP_RNG_H
#define GETP_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} Rng;

static inline uint64_t splitmix64_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The stream for (a, b): e.g. (seed, request index). Mixing both keys through
 * the finalizer keeps nearby pairs uncorrelated. */
static inline Rng rng_stream(uint64_t a, uint64_t b) {
    uint64_t s = a;
    uint64_t x = splitmix64_next(&s) ^ (b * 0xd1b54a32d192ed03ull);
    Rng r = {splitmix64_next(&x)};
    return r;
}

static inline uint64_t rng_u64(Rng *r) { return splitmix64_next(&r->state); }

/* Uniform in [0, 1) with 24 bits, exactly representable as float. */
static inline float rng_uniform(Rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

/* FNV-1a of a string, to key a stream by a name. */
static inline uint64_t hash_string(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
    return h;
}

#endif
