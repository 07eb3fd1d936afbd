/* test_gpu.h - what tests/test_gpu.c and tests/test_gpu_sampling.c share:
 * the small helpers, and the sampling tests (3b, 3c, 5, 6 of test_gpu.c's
 * list) that test_gpu_sampling.c holds. Each test prints its PASS/FAIL lines
 * and returns its number of failures. */
#ifndef GETP_TESTS_TEST_GPU_H
#define GETP_TESTS_TEST_GPU_H

#include "../src/backend.h"
#include "../src/generate.h"

static inline unsigned lcg(unsigned *s) { return *s = *s * 1103515245u + 12345u; }

static inline SampleSpec spec_of(float temperature, float top_p, float min_p, int top_k, int logprobs, float coin) {
    SampleSpec s = {.temperature = temperature, .top_p = top_p, .min_p = min_p, .top_k = top_k, .logprobs = logprobs, .coin = coin};
    return s;
}

/* lg, scratch: room for 16 rows of logits and one of the CPU sampler's scratch */
int test_truncation(Backend *gpu, int V, float *lg, float *scratch);
int test_logprobs(Backend *gpu, int V, float *lg, float *scratch);
int test_copy_prefix(Backend *gpu, int V);
int test_generate_choices(Backend *gpu, int V);
int test_paged_cache(Backend *gpu, int V, Precision precision); /* makes backends of its own beside gpu, at gpu's precision */

#endif
