/* cpu_roofline - the two numbers a CPU decode benchmark is judged against:
 * the machine's memory bandwidth (a large multi-threaded copy, bytes read +
 * written) and the bytes a batch-1 decode step must read for a model
 * (every dense weight once, the embedding row, and experts_per_token of the
 * experts in each layer).
 * usage: cpu_roofline MODEL.bin */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model.h"

static double copy_bandwidth(void) {
    size_t n = (size_t)512 << 20; /* 512 MiB each way: far past any cache */
    char *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = omp_get_wtime();
#pragma omp parallel
        {
            int t = omp_get_thread_num(), k = omp_get_num_threads();
            size_t chunk = n / (size_t)k;
            memcpy(b + chunk * (size_t)t, a + chunk * (size_t)t, chunk);
        }
        double gbs = 2.0 * (double)n / (omp_get_wtime() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    free(a);
    free(b);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cpu_roofline MODEL.bin\n");
        return 2;
    }
    Error err;
    Model m;
    if (model_open(&m, argv[1], &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const ModelConfig *c = &m.config;
    double bytes = 0;
    for (uint32_t i = 0; i < m.n_tensors; i++) {
        const Tensor *t = &m.tensors[i];
        if (!strcmp(t->name, "embedding")) bytes += (double)t->nbytes / c->vocab_size;
        else if (strstr(t->name, ".experts.")) bytes += (double)t->nbytes * c->experts_per_token / c->n_experts;
        else bytes += (double)t->nbytes;
    }
    double bw = copy_bandwidth();
    printf("threads %d, copy bandwidth %.1f GB/s, bytes per batch-1 token %.1f MB, roofline %.1f tok/s\n", omp_get_max_threads(), bw,
           bytes / 1e6, bw * 1e9 / bytes);
    model_close(&m);
    return 0;
}
