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

SampleSpec sample_spec(float temperature, float top_p, Rng *rng) {
    SampleSpec s = {temperature, top_p, 0.0f};
    if (temperature > 0.0f) s.coin = rng_uniform(rng);
    return s;
}

/* Mass of the tokens with p >= v. */
static double mass_at_or_above(const float *p, int n, float v) {
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (p[i] >= v) s += p[i];
    return s;
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
    float tau = 0.0f;
    if (spec.top_p > 0.0f && spec.top_p < 1.0f) {
        /* Bisect on the bit patterns of positive floats, which order like the
         * values. Below (1 - top_p) / (n - 1) the condition always holds, so
         * the search starts there; just above pmax it never does. */
        float cutoff = n > 1 ? (1.0f - spec.top_p) / (float)(n - 1) : 0.0f;
        uint32_t lo = float_to_bits(cutoff), hi = float_to_bits(pmax) + 1;
        if (mass_at_or_above(p, n, bits_to_float(lo)) < spec.top_p) lo = 0; /* rounding: fall back to the full range */
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (mass_at_or_above(p, n, bits_to_float(mid)) >= spec.top_p) lo = mid;
            else hi = mid;
        }
        tau = bits_to_float(lo);
    }
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
