/* sampler.h - picks the next token from logits; the definition every backend
 * implements (the GPU sampler in hip/ follows it step by step).
 *
 * temperature <= 0: argmax, ties to the lowest id.
 * Otherwise, with p = softmax(logits / temperature), the token is drawn from
 * the set {i : p_i >= tau}, where tau is the largest of three thresholds:
 *   top_k (> 0): tau_k, the largest value with at least top_k tokens at or
 *     above it (0 when top_k is off or >= the vocabulary); M_k, the mass of
 *     the tokens at or above tau_k (taken as exactly 1 when top_k is off);
 *   top_p (< 1): tau_p, the largest value >= tau_k for which the tokens at
 *     or above it hold at least top_p * M_k (the nucleus of the top-k set);
 *   min_p (> 0): min_p * max_i p_i, the product rounded to float.
 * Tokens tied at the threshold all belong to the set. With M its mass, the
 * token drawn is the first member, walking ids upwards, at which the
 * running mass exceeds coin * M.
 * Thresholds and a draw in id order need no sort, so a GPU computes the same
 * thing with a few reductions. The coin is one uniform [0, 1) number from
 * the request's own RNG stream, drawn on the host, so a request's tokens
 * depend only on (seed, request index, choice) and its logits.
 *
 * Log-probabilities (OpenAI's logprobs) are those of the model itself:
 * log_softmax of the raw logits (temperature 1, before any truncation),
 * exp, log and sums in double, rounded once to float. The top alternatives
 * are the tokens with the largest logits, ties to the lowest id. */
#ifndef GETP_SAMPLER_H
#define GETP_SAMPLER_H

#include "rng.h"

/* The most top alternatives a token's logprobs carry (OpenAI's limit). */
#define SAMPLE_MAX_TOP_LOGPROBS 20

/* A request's sampling settings. */
typedef struct {
    float temperature;
    float top_p;    /* 1: off */
    float min_p;    /* 0: off */
    int top_k;      /* 0: off */
    int logprobs;   /* -1: none; else the chosen token's and this many alternatives' */
} SampleParams;

/* One row's settings as the backends take them: the params and the coin. */
typedef struct {
    float temperature;
    float top_p;
    float min_p;
    int top_k;
    int logprobs;
    float coin; /* uniform in [0, 1); unused when temperature <= 0 */
} SampleSpec;

/* A sampled token's log-probability and its top alternatives. */
typedef struct TokenLogprobs {
    float logprob;
    int n_top;
    int top_id[SAMPLE_MAX_TOP_LOGPROBS];
    float top_logprob[SAMPLE_MAX_TOP_LOGPROBS];
} TokenLogprobs;

int sample_argmax(const float *logits, int n);

/* One row's spec; draws the coin from rng only when temperature > 0. */
SampleSpec sample_spec(const SampleParams *p, Rng *rng);

/* The settings of plain temperature / nucleus sampling. */
static inline SampleParams sample_params(float temperature, float top_p) {
    SampleParams p = {temperature, top_p, 0.0f, 0, -1};
    return p;
}

/* scratch: room for n floats */
int sample_with_coin(const float *logits, int n, SampleSpec spec, float *scratch);

static inline int sample_token(const float *logits, int n, float temperature, float top_p, Rng *rng, float *scratch) {
    SampleParams p = sample_params(temperature, top_p);
    return sample_with_coin(logits, n, sample_spec(&p, rng), scratch);
}

/* token's log-probability and the n_top (<= SAMPLE_MAX_TOP_LOGPROBS) most
 * likely tokens', largest first; the entries past n_top are 0. */
void sample_logprobs(const float *logits, int n, int token, int n_top, TokenLogprobs *out);

#endif
