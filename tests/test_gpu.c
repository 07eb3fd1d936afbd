/* test_gpu - the GPU backend against the CPU reference (make test-gpu).
 * For a model: prefill a prompt and decode a few steps on both backends and
 * compare every logit row (max abs error over max abs logit); then check
 * batch invariance: one request's logits alone in slot 0 equal its logits in
 * slot 5 of a batch of 7 different sequences.
 * usage: test_gpu MODEL.bin TOLERANCE */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../src/backend.h"

#define STEPS 6
#define PROMPT 24

static double rel_err(const float *a, const float *b, int n) {
    double e = 0, m = 0;
    for (int i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_gpu MODEL.bin TOLERANCE\n");
        return 2;
    }
    double tol = atof(argv[2]);
    Error err;
    Model m;
    if (model_open(&m, argv[1], &err) != 0) {
        printf("FAIL open: %s\n", err.msg);
        return 1;
    }
    int V = (int)m.config.vocab_size, failures = 0;
    Backend *cpu = backend_cpu_create(&m, 8, 512, 0, &err);
    Backend *gpu = hip_backend_create_if_available(&m, 8, 512, 0, &err);
    if (!cpu || !gpu) {
        printf("FAIL backend: %s\n", err.msg);
        return 1;
    }
    float *lc = malloc((size_t)PROMPT * V * sizeof(float)), *lg = malloc((size_t)PROMPT * V * sizeof(float));
    BatchRow rows[PROMPT];
    unsigned seed = 12345;
    for (int t = 0; t < PROMPT; t++) rows[t] = (BatchRow){0, t, (int)((seed = seed * 1103515245u + 12345u) % (unsigned)V), 1};
    double worst = 0;
    if (backend_forward(cpu, rows, PROMPT, lc, &err) || backend_forward(gpu, rows, PROMPT, lg, &err)) {
        printf("FAIL forward: %s\n", err.msg);
        return 1;
    }
    for (int t = 0; t < PROMPT; t++) worst = fmax(worst, rel_err(lg + (size_t)t * V, lc + (size_t)t * V, V));
    int tok = rows[PROMPT - 1].token;
    for (int s = 0; s < STEPS; s++) { /* decode: feed the CPU's argmax to both */
        int best = 0;
        for (int i = 1; i < V; i++)
            if (lc[i] > lc[best]) best = i;
        tok = best;
        BatchRow r = {0, PROMPT + s, tok, 1};
        if (backend_forward(cpu, &r, 1, lc, &err) || backend_forward(gpu, &r, 1, lg, &err)) {
            printf("FAIL decode: %s\n", err.msg);
            return 1;
        }
        worst = fmax(worst, rel_err(lg, lc, V));
    }
    printf("%s gpu logits vs cpu: %d prefill + %d decode rows, worst relative error %.3g (tolerance %.1g)\n", worst <= tol ? "PASS" : "FAIL",
           PROMPT, STEPS, worst, tol);
    failures += !(worst <= tol);

    /* batch invariance: the request alone (slot 0) vs in slot 5 among 7 */
    float *alone = malloc((size_t)V * sizeof(float)), *batch = malloc((size_t)7 * V * sizeof(float));
    BatchRow prompt[7 * 8];
    int n = 0;
    for (int q = 0; q < 7; q++)
        for (int t = 0; t < 8; t++) prompt[n++] = (BatchRow){q, t, q == 5 ? rows[t].token : (q * 977 + t * 131) % V, t == 7};
    BatchRow solo[8];
    for (int t = 0; t < 8; t++) solo[t] = (BatchRow){0, t, rows[t].token, t == 7};
    if (backend_forward(gpu, solo, 8, alone, &err) || backend_forward(gpu, prompt, n, batch, &err)) {
        printf("FAIL batch: %s\n", err.msg);
        return 1;
    }
    int same = memcmp(alone, batch + (size_t)5 * V, (size_t)V * sizeof(float)) == 0;
    printf("%s batch invariance: a request's logits are bit-identical alone and in slot 5 of a batch of 7\n", same ? "PASS" : "FAIL");
    failures += !same;
    backend_destroy(gpu);
    backend_destroy(cpu);
    model_close(&m);
    return failures != 0;
}
