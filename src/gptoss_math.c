#include "gptoss_math.h"

#include "model.h"

void rope_yarn_tables(const struct ModelConfig *c, float *inv_freq, float *concentration) {
    int half = (int)c->head_dim / 2;
    double base = c->rope_theta, factor = c->rope_scaling_factor, d = c->head_dim;
    *concentration = factor > 1.0 ? (float)(0.1 * log(factor) + 1.0) : 1.0f;
    /* YaRN: dimensions that rotate fewer than beta_slow times over the original
     * context are interpolated (divided by factor), those that rotate more than
     * beta_fast times are kept, and a linear ramp blends the ones between. */
    double low = d * log(c->initial_context / (c->rope_beta_fast * 2 * M_PI)) / (2 * log(base));
    double high = d * log(c->initial_context / (c->rope_beta_slow * 2 * M_PI)) / (2 * log(base));
    if (low < 0) low = 0;
    if (high > d - 1) high = d - 1;
    if (high == low) high += 0.001;
    for (int i = 0; i < half; i++) {
        double freq = pow(base, 2.0 * i / d);
        double extrapolation = 1.0 / freq, interpolation = 1.0 / (factor * freq);
        double ramp = (i - low) / (high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        double keep = factor > 1.0 ? 1.0 - ramp : 1.0; /* weight of the unscaled frequency */
        inv_freq[i] = (float)(interpolation * (1.0 - keep) + extrapolation * keep);
    }
}
