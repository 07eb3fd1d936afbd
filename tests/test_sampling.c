/* test_sampling - the sampler (src/sampler.h: temperature, top_p, top_k,
 * min_p, the coin's draw, logprobs) against textbook recipes that sort, and
 * the stop strings found while a text grows (src/stop_match.h) against the
 * whole text's first stop.
 * usage: test_sampling
 * Prints one "PASS name" or "FAIL name: why" line per check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/rng.h"
#include "../src/sampler.h"
#include "../src/stop_match.h"
#include "check.h"

/* The nucleus by the textbook recipe, for comparison: sort by probability,
 * keep the shortest prefix whose mass reaches top_p plus every token tied
 * with its last member, then draw walking ids upwards. */
static int reference_top_p(const float *logits, int n, float temperature, float top_p, float coin) {
    double p[64], sorted[64], maxv = logits[0], sum = 0, cum = 0, tau = 0, mass = 0, acc = 0;
    for (int i = 1; i < n; i++) maxv = fmax(maxv, logits[i]);
    for (int i = 0; i < n; i++) sum += p[i] = exp((logits[i] - maxv) / temperature);
    for (int i = 0; i < n; i++) sorted[i] = p[i] /= sum;
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    for (int i = 0; i < n && cum < top_p; i++) cum += tau = sorted[i];
    for (int i = 0; i < n; i++) mass += p[i] >= tau ? p[i] : 0;
    int last = 0;
    for (int i = 0; i < n; i++)
        if (p[i] >= tau) {
            acc += p[i], last = i;
            if (coin * mass < acc) return i;
        }
    return last;
}

/* top-k, then the nucleus of the top-k set, then min-p, by the textbook
 * recipe: sort, keep the first k (and ties), renormalize, keep the shortest
 * prefix reaching top_p (and ties), drop tokens below min_p * max; then the
 * draw walking ids upwards. */
static int reference_full(const float *logits, int n, SampleSpec s) {
    double p[64], sorted[64], maxv = logits[0], sum = 0;
    for (int i = 1; i < n; i++) maxv = fmax(maxv, logits[i]);
    for (int i = 0; i < n; i++) sum += p[i] = exp((logits[i] - maxv) / s.temperature);
    for (int i = 0; i < n; i++) sorted[i] = p[i] /= sum;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    double tau = 0, mass_k = 1;
    if (s.top_k > 0 && s.top_k < n) {
        tau = sorted[s.top_k - 1];
        mass_k = 0;
        for (int i = 0; i < n; i++) mass_k += p[i] >= tau ? p[i] : 0;
    }
    if (s.top_p > 0 && s.top_p < 1) {
        double cum = 0, t = tau;
        for (int i = 0; i < n && cum < (double)s.top_p * mass_k; i++) cum += t = sorted[i];
        if (t > tau) tau = t;
    }
    double m = (float)(s.min_p * (float)sorted[0]);
    if (s.min_p > 0 && m > tau) tau = m;
    double mass = 0, acc = 0;
    for (int i = 0; i < n; i++) mass += p[i] >= tau ? p[i] : 0;
    int last = 0;
    for (int i = 0; i < n; i++)
        if (p[i] >= tau) {
            acc += p[i], last = i;
            if (s.coin * mass < acc) return i;
        }
    return last;
}

/* log_softmax by the textbook, and the top tokens by sorting ids. */
static void test_logprobs(void) {
    float l[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f};
    TokenLogprobs lp;
    sample_logprobs(l, 6, 4, 4, &lp);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    int order[4] = {1, 3, 5, 0}, ok = lp.n_top == 4 && fabs(lp.logprob - (0.5 - log(z))) < 1e-6;
    for (int k = 0; k < 4; k++) ok = ok && lp.top_id[k] == order[k] && fabs(lp.top_logprob[k] - (l[order[k]] - log(z))) < 1e-6;
    check(ok, "logprobs: log_softmax of the chosen token, top ids by logit (ties to the lowest id)", "");
    double total = 0;
    for (int i = 0; i < 6; i++) {
        sample_logprobs(l, 6, i, 0, &lp);
        total += exp(lp.logprob);
    }
    check(fabs(total - 1.0) < 1e-6 && lp.n_top == 0, "logprobs: exp sums to 1 over the vocabulary", "");
    sample_logprobs(l, 6, 0, 50, &lp);
    check(lp.n_top == 6, "logprobs: asking for more alternatives than tokens gives them all", "");
}

/* Stop strings found while the text grows: where generation would end
 * (the first settled point) the text's first stop is the whole text's. */
static void test_stop_match(void) {
    Rng g = rng_stream(2024, 12);
    int agree = 1, early = 0, trials = 0;
    char why[160] = "";
    for (int t = 0; t < 3000 && agree; t++, trials++) {
        char text[96], stops[4][8];
        const char *stop[4];
        int len = 1 + (int)(rng_u64(&g) % 90), n_stop = 1 + (int)(rng_u64(&g) % 4);
        for (int i = 0; i < len; i++) text[i] = (char)('a' + rng_u64(&g) % 3); /* a small alphabet: many overlaps */
        for (int k = 0; k < n_stop; k++) {
            int sl = 1 + (int)(rng_u64(&g) % 6);
            for (int i = 0; i < sl; i++) stops[k][i] = (char)('a' + rng_u64(&g) % 3);
            stops[k][sl] = 0;
            stop[k] = stops[k];
        }
        long whole = stop_first(stop, n_stop, text, (size_t)len);
        StopMatch m;
        stop_match_init(&m);
        int at = 0, ended = 0;
        while (at < len && !ended) { /* tokens of 1-4 bytes */
            int n = 1 + (int)(rng_u64(&g) % 4);
            if (n > len - at) n = len - at;
            ended = stop_match_append(&m, stop, n_stop, (const uint8_t *)text + at, (size_t)n);
            at += n;
        }
        long cut = stop_first(stop, n_stop, text, (size_t)at);
        if (cut != whole || (ended && whole < 0)) {
            agree = 0;
            snprintf(why, sizeof why, "trial %d: %.*s: ended at %d (first %ld), whole text's first %ld", t, len, text, at, cut, whole);
        }
        early += ended && at < len;
        stop_match_free(&m);
    }
    char detail[200];
    snprintf(detail, sizeof detail, "%d of %d trials ended early; %s", early, trials, why);
    check(agree && early > 100, "stop strings: ending where the first one is settled gives the whole text's first stop", detail);
}

static void test_sampler(void) {
    float tie[5] = {1, 3, 0, 3, 2};
    check(sample_argmax(tie, 5) == 1, "argmax ties go to the lowest id", "");
    Rng r = rng_stream(7, 3);
    float scratch[64];
    check(sample_token(tie, 5, 0.0f, 1.0f, &r, scratch) == 1, "temperature 0 is argmax", "");
    /* top_p small: only the two tied most probable tokens can be drawn, both are */
    int seen[5] = {0};
    for (int i = 0; i < 400; i++) seen[sample_token(tie, 5, 1.0f, 0.1f, &r, scratch)]++;
    check(seen[1] > 0 && seen[3] > 0 && seen[1] + seen[3] == 400, "top_p keeps only the nucleus (ties at its edge included)", "");
    /* the threshold search against the sorting recipe on random rows */
    Rng g = rng_stream(99, 1);
    int agree = 1, trials = 0;
    char why[128] = "";
    for (int t = 0; t < 2000 && agree; t++, trials++) {
        int n = 2 + (int)(rng_u64(&g) % 60);
        float l[64];
        for (int i = 0; i < n; i++) l[i] = (float)(rng_uniform(&g) * 8.0 - 4.0);
        if (t % 5 == 0) l[1] = l[0]; /* ties */
        float temp = 0.2f + 2.0f * rng_uniform(&g), top_p = rng_uniform(&g), coin = rng_uniform(&g);
        int got = sample_with_coin(l, n, (SampleSpec){temp, top_p, 0.0f, 0, -1, coin}, scratch), want = reference_top_p(l, n, temp, top_p, coin);
        if (got != want) {
            agree = 0;
            snprintf(why, sizeof why, "row %d: n %d T %.3f top_p %.3f coin %.3f: got %d, want %d", t, n, temp, top_p, coin, got, want);
        }
    }
    check(agree, "top-p sampler matches the sorting recipe on 2000 random rows", why);
    /* top_k, top_p and min_p together against the textbook recipe */
    agree = 1;
    for (int t = 0; t < 3000 && agree; t++) {
        int n = 2 + (int)(rng_u64(&g) % 60);
        float l[64];
        for (int i = 0; i < n; i++) l[i] = (float)(rng_uniform(&g) * 8.0 - 4.0);
        if (t % 4 == 0) l[2 % n] = l[0]; /* ties */
        SampleSpec s = {0.2f + 2.0f * rng_uniform(&g), t % 3 ? rng_uniform(&g) : 1.0f, t % 2 ? 0.5f * rng_uniform(&g) : 0.0f,
                        t % 5 ? (int)(rng_u64(&g) % (uint64_t)(n + 2)) : 0, -1, rng_uniform(&g)};
        int got = sample_with_coin(l, n, s, scratch), want = reference_full(l, n, s);
        if (got != want) {
            agree = 0;
            snprintf(why, sizeof why, "row %d: n %d T %.3f top_p %.3f min_p %.3f top_k %d coin %.3f: got %d, want %d", t, n, s.temperature,
                     s.top_p, s.min_p, s.top_k, s.coin, got, want);
        }
    }
    check(agree, "top_k + top_p + min_p match the sorting recipe on 3000 random rows", why);
    /* top_k 2 on {1/8, 2/8, 5/8}: token 0 is never drawn; min_p 0.5: only token 2 */
    float three[3] = {0.0f, (float)log(2.0), (float)log(5.0)};
    int k_seen[3] = {0}, m_seen[3] = {0};
    Rng kr = rng_stream(5, 5);
    SampleParams kp = {1.0f, 1.0f, 0.0f, 2, -1}, mp = {1.0f, 1.0f, 0.5f, 0, -1};
    for (int i = 0; i < 2000; i++) {
        k_seen[sample_with_coin(three, 3, sample_spec(&kp, &kr), scratch)]++;
        m_seen[sample_with_coin(three, 3, sample_spec(&mp, &kr), scratch)]++;
    }
    check(k_seen[0] == 0 && k_seen[1] > 0 && k_seen[2] > k_seen[1], "top_k 2 draws from the two most likely only", "");
    check(m_seen[2] == 2000, "min_p 0.5 keeps only tokens at least half as likely as the best", "");
    /* distribution at T=1, top_p=1 follows softmax: compare frequencies */
    float logits[3] = {0.0f, (float)log(2.0), (float)log(5.0)}; /* probabilities 1/8, 2/8, 5/8 */
    int counts[3] = {0};
    Rng d = rng_stream(11, 0);
    for (int i = 0; i < 40000; i++) counts[sample_token(logits, 3, 1.0f, 1.0f, &d, scratch)]++;
    double e[3] = {5000, 10000, 25000};
    double chi2 = 0;
    for (int i = 0; i < 3; i++) chi2 += (counts[i] - e[i]) * (counts[i] - e[i]) / e[i];
    char detail[96];
    snprintf(detail, sizeof detail, "counts %d %d %d, chi2 %.2f", counts[0], counts[1], counts[2], chi2);
    check(chi2 < 13.8, "sampling frequencies follow softmax (chi2, 2 dof, p=0.001)", detail);
    /* temperature sharpens: at T=0.5 probabilities are 1/30, 4/30, 25/30 */
    int top = 0;
    for (int i = 0; i < 30000; i++) top += sample_token(logits, 3, 0.5f, 1.0f, &d, scratch) == 2;
    check(fabs(top - 25000.0) < 4 * sqrt(30000 * (25.0 / 30) * (5.0 / 30)), "temperature scales logits", "");
    /* streams: same keys give the same numbers, different request index differs */
    Rng a = rng_stream(42, 5), b = rng_stream(42, 5), c = rng_stream(42, 6);
    uint64_t x = rng_u64(&a);
    check(x == rng_u64(&b) && x != rng_u64(&c), "rng streams depend only on (seed, index)", "");
}

int main(void) {
    test_sampler();
    test_logprobs();
    test_stop_match();
    return failures != 0;
}
