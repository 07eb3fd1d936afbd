/* test_forward - checks the CPU backend against a Hugging Face fixture
 * (tests/hf/make_fixtures.py): every prompt position's logits within 1e-4
 * relative (max abs error over max abs logit), and the 32-token greedy
 * continuation identical.
 * usage: test_forward MODEL.bin FIXTURE_DIR [TOLERANCE [exact|bf16]]
 * bf16: the backend at --precision bf16 against HF with the experts'
 * activations rounded alike (logits_bf16_experts.f32, greedy_bf16_experts.txt:
 * make_fixtures.py --bf16-experts). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/backend.h"
#include "../src/generate.h"

static int read_ids(const char *path, int *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 3 || (argc > 4 && strcmp(argv[4], "exact") && strcmp(argv[4], "bf16"))) {
        fprintf(stderr, "usage: test_forward MODEL.bin FIXTURE_DIR [TOLERANCE [exact|bf16]]\n");
        return 2;
    }
    double tol = argc > 3 ? atof(argv[3]) : 1e-4;
    const Precision precision = argc > 4 && !strcmp(argv[4], "bf16") ? PRECISION_BF16_EXPERTS : PRECISION_EXACT;
    const char *suffix = precision == PRECISION_EXACT ? "" : "_bf16_experts";
    Error err;
    Model m;
    if (model_open(&m, argv[1], &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    char path[4096];
    int prompt[256], expect[256];
    snprintf(path, sizeof path, "%s/prompt.txt", argv[2]);
    int T = read_ids(path, prompt, 256);
    snprintf(path, sizeof path, "%s/greedy%s.txt", argv[2], suffix);
    int G = read_ids(path, expect, 256);
    snprintf(path, sizeof path, "%s/logits%s.f32", argv[2], suffix);
    size_t len;
    char *ref = read_file(path, &len, &err);
    int V = (int)m.config.vocab_size;
    if (T <= 0 || G <= 0 || !ref || len != (size_t)T * V * 4) {
        fprintf(stderr, "FAIL: fixture %s is incomplete (prompt %d, greedy %d, logits %zu bytes for vocab %d)\n", argv[2], T, G,
                ref ? len : 0, V);
        return 1;
    }
    Backend *b = backend_cpu_create(&m, 1, 256, 0, 0, &err);
    BatchRow rows[256];
    for (int t = 0; t < T; t++) rows[t] = (BatchRow){0, t, prompt[t], 1};
    float *logits = xmalloc((size_t)T * V * sizeof(float));
    if (!b || backend_set_precision(b, precision, &err) != 0 || backend_forward(b, rows, T, logits, &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    int failures = 0;
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double maxerr = 0, maxref = 0;
        for (int v = 0; v < V; v++) {
            double r = read_f32le((const uint8_t *)ref + ((size_t)t * V + v) * 4);
            maxerr = fmax(maxerr, fabs(logits[(size_t)t * V + v] - r));
            maxref = fmax(maxref, fabs(r));
        }
        double rel = maxerr / maxref;
        if (!(rel <= tol)) {
            printf("position %d: relative logit error %.3g > %.1g\n", t, rel, tol);
            failures++;
        }
        if (rel > worst || isnan(rel)) worst = rel;
    }
    printf("%s logits: %d positions, worst relative error %.3g (tolerance %.1g)\n", failures ? "FAIL" : "PASS", T, worst, tol);

    GenRequest req = {prompt, T, {G, sample_params(0.0f, 1.0f), 0, 1, NULL, 0, NULL}, 0, 0, 0};
    RequestResult res = {0};
    GenStats stats;
    if (generate_run(b, &req, 1, (GenLimits){1, 0, 0}, &res, &stats, NULL, NULL, &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    int same = res.n_tokens == G;
    for (int i = 0; same && i < G; i++) same = res.tokens[i] == expect[i];
    if (!same) {
        printf("got     :");
        for (int i = 0; i < res.n_tokens; i++) printf(" %d", res.tokens[i]);
        printf("\nexpected:");
        for (int i = 0; i < G; i++) printf(" %d", expect[i]);
        printf("\n");
    }
    printf("%s greedy: %d tokens %s\n", same ? "PASS" : "FAIL", G, same ? "identical" : "differ");
    free(res.tokens);
    free(logits);
    free(ref);
    backend_destroy(b);
    model_close(&m);
    return failures || !same;
}
