#include "sampler.h"

#include <math.h>
#include <stdlib.h>

int sample_argmax(const float *logits, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static int by_prob_desc(const void *a, const void *b) {
    const ProbIndex *x = a, *y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->id - y->id;
}

int sample_token(const float *logits, int n, float temperature, float top_p, Rng *rng, ProbIndex *scratch) {
    if (temperature <= 0.0f) return sample_argmax(logits, n);
    float r = rng_uniform(rng);
    float maxv = logits[sample_argmax(logits, n)];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)((logits[i] - maxv) / temperature));
    if (!(top_p > 0.0f) || top_p > 1.0f) top_p = 1.0f;
    /* Tokens below (1 - top_p) / (n - 1) can never be inside the nucleus
     * (the kept tokens would otherwise already sum past top_p), so sorting
     * only the rest gives the same set, much faster. */
    double cutoff = n > 1 ? (1.0 - top_p) / (n - 1) : 0.0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        double p = exp((double)((logits[i] - maxv) / temperature)) / sum;
        if (p >= cutoff) {
            scratch[m].prob = (float)p;
            scratch[m].id = i;
            m++;
        }
    }
    qsort(scratch, (size_t)m, sizeof *scratch, by_prob_desc);
    double cum = 0.0;
    int last = m - 1;
    for (int i = 0; i < m; i++) {
        cum += scratch[i].prob;
        if (cum >= top_p) {
            last = i;
            break;
        }
    }
    double target = r * cum, acc = 0.0;
    for (int i = 0; i <= last; i++) {
        acc += scratch[i].prob;
        if (target < acc) return scratch[i].id;
    }
    return scratch[last].id;
}
