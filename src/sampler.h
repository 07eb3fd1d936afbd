/* sampler.h - picks the next token from logits.
 *
 * temperature 0: argmax, ties to the lowest id. Otherwise softmax(logits /
 * temperature), keep the most probable tokens whose mass first reaches top_p
 * (ties ordered by id), and draw one of them with one number from the
 * request's own RNG stream. Each call consumes exactly one draw, so a
 * request's tokens depend only on (seed, request index) and its logits. */
#ifndef GETP_SAMPLER_H
#define GETP_SAMPLER_H

#include "rng.h"

typedef struct {
    float prob;
    int id;
} ProbIndex;

int sample_argmax(const float *logits, int n);

/* scratch: room for n entries */
int sample_token(const float *logits, int n, float temperature, float top_p, Rng *rng, ProbIndex *scratch);

#endif
