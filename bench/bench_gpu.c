/* bench_gpu - decode throughput of the GPU backend on a full-size shape,
 * through the real decode loop (generate_run: continuous batching, GPU
 * sampling), with random prompts and --ignore-eos so every request makes
 * exactly NEW tokens.
 *
 * Also measures the device's copy bandwidth (a large device-to-device copy,
 * counting bytes read and written) and the bytes one batch-1 decode step must
 * read (the dense weights, K of E experts per layer, the unembedding, the KV
 * cache), which give the batch-1 roofline.
 *
 * usage: bench_gpu (--dummy PRESET[:mxfp4] | MODEL.bin) [--batch B]
 *                  [--requests N] [--prompt P] [--new NEW] [--greedy|--top-p P]
 *                  [--top-k K] [--min-p P] [--logprobs N]   (sampling at temperature 1; what they cost)
 * prints one line: key=value ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/app.h"
#include "../src/presets.h"
#include "../src/run_report.h"

double gpu_copy_bandwidth(void); /* hip/bench_support.hip */

static uint64_t batch1_step_bytes(const Model *m, int context) {
    const ModelConfig *c = &m->config;
    uint64_t bytes = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->weights.layers[l];
        bytes += L->wq->nbytes + L->wk->nbytes + L->wv->nbytes + L->wo->nbytes + L->router_w->nbytes;
        bytes += (L->gate_up_w->nbytes + L->down_w->nbytes) / c->n_experts * c->experts_per_token;
        int keys = c->layer_sliding[l] && (int)c->sliding_window < context ? (int)c->sliding_window : context;
        bytes += (uint64_t)keys * c->n_kv_heads * c->head_dim * 2 * sizeof(float);
    }
    return bytes + m->weights.unembedding->nbytes + (uint64_t)c->hidden * 2;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *dummy = NULL;
    int batch = 1, n_req = 0, prompt = 64, new_tokens = 256, step_tokens = 0;
    float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
    int top_k = 0, logprobs = -1;
    const char *usage = "usage: bench_gpu (--dummy PRESET[:mxfp4] | MODEL.bin) [--batch B] [--requests N] [--prompt P] [--new NEW] [--top-p P]\n"
                        "                 [--top-k K] [--min-p P] [--logprobs N] [--step-tokens N]\n"
                        "Runs getp's decode loop on the GPU backend and prints one line of key=value figures.\n";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--dummy")) dummy = v, i++;
        else if (!strcmp(a, "--batch")) batch = atoi(v), i++;
        else if (!strcmp(a, "--step-tokens")) step_tokens = atoi(v), i++;
        else if (!strcmp(a, "--requests")) n_req = atoi(v), i++;
        else if (!strcmp(a, "--prompt")) prompt = atoi(v), i++;
        else if (!strcmp(a, "--new")) new_tokens = atoi(v), i++;
        else if (!strcmp(a, "--top-p")) temperature = 1.0f, top_p = (float)atof(v), i++;
        else if (!strcmp(a, "--top-k")) temperature = 1.0f, top_k = atoi(v), i++;
        else if (!strcmp(a, "--min-p")) temperature = 1.0f, min_p = (float)atof(v), i++;
        else if (!strcmp(a, "--logprobs")) logprobs = atoi(v), i++;
        else if (a[0] != '-') model_path = a;
        else {
            fprintf(stderr, "bench_gpu: unknown option %s\n", a);
            return 2;
        }
    }
    if (n_req <= 0) n_req = batch;
    if ((!model_path && !dummy) || batch < 1 || prompt < 1 || new_tokens < 1) {
        fputs(usage, stderr);
        return 2;
    }
    Options o;
    memset(&o, 0, sizeof o);
    o.model_path = model_path, o.dummy_weights = dummy, o.backend = "hip";
    Error err;
    Model m;
    double t0 = now_seconds();
    if (app_open_model(&o, &m, &err) != 0) {
        fprintf(stderr, "bench_gpu: %s\n", err.msg);
        return 1;
    }
    int context = prompt + new_tokens;
    Backend *b = app_create_backend(&o, &m, batch, context, NULL, &err);
    if (!b) {
        fprintf(stderr, "bench_gpu: %s\n", err.msg);
        return 1;
    }
    double load_s = now_seconds() - t0;
    int V = (int)m.config.vocab_size;
    int *ids = malloc((size_t)n_req * prompt * sizeof(int));
    GenRequest *reqs = calloc((size_t)n_req, sizeof *reqs);
    RequestResult *res = calloc((size_t)n_req, sizeof *res);
    Rng r = rng_stream(2026, 11);
    for (int i = 0; i < n_req; i++) {
        for (int t = 0; t < prompt; t++) ids[(size_t)i * prompt + t] = (int)(rng_u64(&r) % (uint64_t)V);
        reqs[i].prompt = ids + (size_t)i * prompt;
        reqs[i].prompt_len = prompt;
        SampleParams sp = {temperature, top_p, min_p, top_k, logprobs};
        reqs[i].params = (GenParams){new_tokens, sp, 7, 1, NULL, 0, NULL};
        reqs[i].index = (uint64_t)i;
    }
    /* warm-up: one short request captures nothing that the run reuses
     * except compiled kernels and the first allocations */
    GenRequest warm = reqs[0];
    warm.params.max_new_tokens = 4;
    RequestResult warm_res;
    memset(&warm_res, 0, sizeof warm_res);
    GenStats stats;
    if (generate_run(b, &warm, 1, (GenLimits){1, 0, 0}, &warm_res, &stats, NULL, NULL, &err) != 0) {
        fprintf(stderr, "bench_gpu: %s\n", err.msg);
        return 1;
    }
    double t1 = now_seconds();
    if (generate_run(b, reqs, n_req, (GenLimits){batch, step_tokens, 0}, res, &stats, NULL, NULL, &err) != 0) {
        fprintf(stderr, "bench_gpu: %s\n", err.msg);
        return 1;
    }
    double run_s = now_seconds() - t1;
    long generated = 0;
    for (int i = 0; i < n_req; i++) generated += res[i].n_tokens;
    double bw = gpu_copy_bandwidth();
    uint64_t step_bytes = batch1_step_bytes(&m, context);
    double decode_tps = stats.decode_seconds > 0 ? stats.decode_tokens / stats.decode_seconds : 0;
    Latency lat = run_report_latency(res, n_req);
    /* the sequences actually in flight: the decode loop takes at most max_slots (those the KV cache holds) */
    int in_flight = batch < b->max_slots ? batch : b->max_slots;
    printf("model=%s batch=%d requests=%d prompt=%d new=%d sampling=t%g,p%g,k%d,m%g,lp%d load_s=%.2f prefill_tok_s=%.1f decode_tok_s=%.1f overall_tok_s=%.1f "
           "steps=%ld mixed_steps=%ld ttft_p50_s=%.3f ttft_p99_s=%.3f tpot_p50_ms=%.2f tpot_p99_ms=%.2f "
           "copy_bw_GBs=%.0f step_bytes_GB=%.3f roofline_b1_tok_s=%.1f info=\"%s\"\n",
           dummy ? dummy : model_path, in_flight, n_req, prompt, new_tokens, temperature, top_p, top_k, min_p, logprobs, load_s,
           stats.prefill_seconds > 0 ? stats.prefill_tokens / stats.prefill_seconds : 0, decode_tps, generated / run_s, stats.steps, stats.mixed_steps, lat.ttft_p50,
           lat.ttft_p99, 1e3 * lat.tpot_p50, 1e3 * lat.tpot_p99, bw / 1e9, step_bytes / 1e9, bw / step_bytes, b->info);
    backend_destroy(b);
    model_close(&m);
    return 0;
}
