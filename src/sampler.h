/* sampler.h - picks the next token from logits; the definition every backend
 * implements (the GPU sampler in hip/ follows it step by step).
 *
 * temperature <= 0: argmax, ties to the lowest id.
 * Otherwise, with p = softmax(logits / temperature):
 *   the nucleus is {i : p_i >= tau}, where tau is the largest value for which
 *   the tokens at or above it hold at least top_p of the mass (all tokens
 *   when top_p >= 1; tokens tied at tau all belong to it);
 *   with M its mass, the token drawn is the first nucleus member, walking ids
 *   upwards, at which the running mass exceeds coin * M.
 * Defining the nucleus by a threshold and the draw by id order needs no sort,
 * so a GPU computes the same thing with a few reductions. The coin is one
 * uniform [0, 1) number from the request's own RNG stream, drawn on the host,
 * so a request's tokens depend only on (seed, request index) and its logits. */
#ifndef GETP_SAMPLER_H
#define GETP_SAMPLER_H

#include "rng.h"

typedef struct {
    float temperature;
    float top_p;
    float coin; /* uniform in [0, 1); unused when temperature <= 0 */
} SampleSpec;

int sample_argmax(const float *logits, int n);

/* One row's settings; draws the coin from rng only when temperature > 0. */
SampleSpec sample_spec(float temperature, float top_p, Rng *rng);

/* scratch: room for n floats */
int sample_with_coin(const float *logits, int n, SampleSpec spec, float *scratch);

static inline int sample_token(const float *logits, int n, float temperature, float top_p, Rng *rng, float *scratch) {
    return sample_with_coin(logits, n, sample_spec(temperature, top_p, rng), scratch);
}

#endif
