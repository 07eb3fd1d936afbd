#include "sampler.h"

#include <math.h>
#include <string.h>

#include "util.h"

int sample_argmax(const float *logits, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

SampleSpec sample_spec(const SampleParams *p, Rng *rng) {
    SampleSpec s = {p->temperature, p->top_p, p->min_p, p->top_k, p->logprobs, 0.0f};
    if (p->temperature > 0.0f) s.coin = rng_uniform(rng);
    return s;
}

/* Mass of the tokens with p >= v. */
static double mass_at_or_above(const float *p, int n, float v) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (p[i] >= v) s += p[i];
    return s;
}

static int count_at_or_above(const float *p, int n, float v) {
    int c = 0;
    for (int i = 0; i < n; i++) c += p[i] >= v;
    return c;
}

/* Bisection on the bit patterns of non-negative floats, which order like
 * the values: the largest v in [lo, hi) with holds(v), given holds(lo) and
 * not holds(hi). */
#define BISECT_FLOAT(lo, hi, holds)                 \
    do {                                            \
        while ((hi) - (lo) > 1) {                   \
            uint32_t mid_ = (lo) + ((hi) - (lo)) / 2; \
            float v = bits_to_float(mid_);          \
            if (holds) (lo) = mid_;                 \
            else (hi) = mid_;                       \
        }                                           \
    } while (0)

/* The threshold of src/sampler.h over p (pmax its largest value). */
static float sample_threshold(const float *p, int n, float pmax, const SampleSpec *spec) {
    float tau = 0.0f;
    double mass_k = 1.0;
    uint32_t hi_end = float_to_bits(pmax) + 1; /* just above pmax: no token holds */
    if (spec->top_k > 0 && spec->top_k < n) {
        uint32_t lo = 0, hi = hi_end;
        BISECT_FLOAT(lo, hi, count_at_or_above(p, n, v) >= spec->top_k);
        tau = bits_to_float(lo);
        mass_k = mass_at_or_above(p, n, tau);
    }
    if (spec->top_p > 0.0f && spec->top_p < 1.0f) {
        double target = spec->top_p * mass_k;
        uint32_t lo = float_to_bits(tau), hi = hi_end;
        if (tau == 0.0f) {
            /* Below (1 - top_p) / (n - 1) the condition always holds, so the
             * search may start there (rounding: else the full range). */
            float cutoff = n > 1 ? (1.0f - spec->top_p) / (float)(n - 1) : 0.0f;
            if (mass_at_or_above(p, n, cutoff) >= target) lo = float_to_bits(cutoff);
        }
        BISECT_FLOAT(lo, hi, mass_at_or_above(p, n, v) >= target);
        tau = bits_to_float(lo);
    }
    if (spec->min_p > 0.0f) {
        float m = spec->min_p * pmax;
        if (m > tau) tau = m;
    }
    return tau;
}

int sample_with_coin(const float *logits, int n, SampleSpec spec, float *p) {
    if (spec.temperature <= 0.0f) return sample_argmax(logits, n);
    /* exp and every sum in double, p rounded once to float: a GPU doing the
     * same gets the same p bit for bit, whatever its own exp's last ulp */
    double maxv = logits[sample_argmax(logits, n)], sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp(((double)logits[i] - maxv) / spec.temperature);
    float pmax = 0.0f;
    for (int i = 0; i < n; i++) {
        p[i] = (float)(exp(((double)logits[i] - maxv) / spec.temperature) / sum);
        if (p[i] > pmax) pmax = p[i];
    }
    float tau = sample_threshold(p, n, pmax, &spec);
    double target = spec.coin * mass_at_or_above(p, n, tau), acc = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < tau) continue;
        acc += p[i];
        last = i;
        if (target < acc) return i;
    }
    return last;
}

/* Whether (v, i) ranks before (w, j): larger first, ties to the lower id. */
static int ranks_before(float v, int i, float w, int j) { return v > w || (v == w && i < j); }

void sample_logprobs(const float *logits, int n, int token, int n_top, TokenLogprobs *out) {
    double maxv = logits[sample_argmax(logits, n)], sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - maxv);
    double log_z = maxv + log(sum);
    out->logprob = (float)((double)logits[token] - log_z);
    if (n_top > SAMPLE_MAX_TOP_LOGPROBS) n_top = SAMPLE_MAX_TOP_LOGPROBS;
    if (n_top > n) n_top = n;
    out->n_top = n_top < 0 ? 0 : n_top;
    /* the entries past n_top zeroed: every byte of a record is defined (the GPU's too) */
    for (int k = out->n_top; k < SAMPLE_MAX_TOP_LOGPROBS; k++) out->top_id[k] = 0, out->top_logprob[k] = 0.0f;
    /* k passes, each the best token ranked after the previous one: no sort, as on a GPU */
    for (int k = 0; k < out->n_top; k++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (k > 0 && !ranks_before(logits[out->top_id[k - 1]], out->top_id[k - 1], logits[i], i)) continue;
            if (best < 0 || ranks_before(logits[i], i, logits[best], best)) best = i;
        }
        out->top_id[k] = best;
        out->top_logprob[k] = (float)((double)logits[best] - log_z);
    }
}
