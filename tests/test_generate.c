/* test_generate - the decode loop's pipelined path (submit_sample /
 * collect_sample: the next step enqueued before the current one's tokens
 * are seen) against its one-call-at-a-time path.
 *
 * A test backend wraps the CPU backend: it samples on the host exactly as
 * the loop does for the CPU backend, and, so that requests end early and
 * often, turns every sampled id divisible by STOP_EVERY into <|return|>.
 * Offered with forward_sample only, the loop runs one call at a time;
 * offered with submit/collect as well, it pipelines, and the backend
 * resolves TOKEN_OF_PREVIOUS rows from the previous call's tokens as a
 * device would. Every request's tokens and finish reason must be the same
 * both ways, at batch 1, 3 and 8, with stops, length limits, the context
 * limit and refills; and the pipelined path must have fed tokens back and
 * dropped rows of requests that had stopped. Also: the backend's errors
 * reach the caller.
 * usage: test_generate MODEL.bin */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/backend.h"
#include "../src/generate.h"
#include "../src/tokenizer.h"

#define STOP_EVERY 7
#define N_REQ 11
#define CONTEXT 48

typedef struct {
    Backend *cpu;
    float *logits, *scratch;
    int queued[2][256], n_queued[2]; /* tokens of submitted calls: call i in queued[i % 2] */
    long submitted, collected;
    int prev_n;              /* tokens the last submitted call sampled */
    long fed_back, submitted_rows;
    int stop_every;          /* 0: no stop rule */
    int fail_after;          /* > 0: the call after this many collects fails */
} Wrap;

static int wrap_forward(Backend *b, const BatchRow *rows, int n, float *logits, Error *err) {
    Wrap *w = b->impl;
    w->prev_n = 0;
    return backend_forward(w->cpu, rows, n, logits, err);
}

static int wrap_forward_sample(Backend *b, const BatchRow *rows, int n, const SampleSpec *spec, int *tokens, Error *err) {
    Wrap *w = b->impl;
    int V = (int)b->model->config.vocab_size, n_out = 0;
    if (backend_forward(w->cpu, rows, n, w->logits, err) != 0) return -1;
    for (int t = 0; t < n; t++)
        if (rows[t].want_logits) {
            int id = sample_with_coin(w->logits + (size_t)n_out * V, V, spec[n_out], w->scratch);
            tokens[n_out++] = w->stop_every && id % w->stop_every == 0 ? TOKEN_RETURN : id;
        }
    w->prev_n = n_out;
    return 0;
}

/* Runs the call at once (a device would only enqueue it); its tokens wait in the queue. */
static int wrap_submit(Backend *b, const BatchRow *rows, int n, const SampleSpec *spec, Error *err) {
    Wrap *w = b->impl;
    if (w->submitted - w->collected == 2) return error_set(err, "test backend: a third call submitted");
    BatchRow fed[256];
    const int *prev = w->queued[(w->submitted + 1) % 2]; /* the call submitted just before */
    for (int t = 0; t < n; t++) {
        fed[t] = rows[t];
        if (rows[t].token < 0) {
            int j = -1 - rows[t].token;
            if (j >= w->prev_n) return error_set(err, "test backend: row %d feeds back row %d of a call that sampled %d", t, j, w->prev_n);
            fed[t].token = prev[j];
            w->fed_back++;
        }
    }
    int slot = (int)(w->submitted % 2);
    if (wrap_forward_sample(b, fed, n, spec, w->queued[slot], err) != 0) return -1;
    w->n_queued[slot] = w->prev_n;
    w->submitted++;
    w->submitted_rows += n;
    return 0;
}

static int wrap_collect(Backend *b, int *tokens, Error *err) {
    Wrap *w = b->impl;
    if (w->collected == w->submitted) return error_set(err, "test backend: collect with no call in flight");
    if (w->fail_after > 0 && w->collected >= w->fail_after) return error_set(err, "test backend: injected failure");
    int slot = (int)(w->collected++ % 2);
    memcpy(tokens, w->queued[slot], (size_t)w->n_queued[slot] * sizeof(int));
    return 0;
}

static void wrap_destroy(Backend *b) { (void)b; }

static const BackendOps SERIAL_OPS = {.name = "serial", .forward = wrap_forward, .forward_sample = wrap_forward_sample, .destroy = wrap_destroy};
static const BackendOps PIPELINED_OPS = {.name = "pipelined",
                                         .forward = wrap_forward,
                                         .forward_sample = wrap_forward_sample,
                                         .submit_sample = wrap_submit,
                                         .collect_sample = wrap_collect,
                                         .destroy = wrap_destroy};

static Backend wrap(Backend *cpu, Wrap *w, const BackendOps *ops) {
    memset(w, 0, sizeof *w);
    w->cpu = cpu;
    w->stop_every = STOP_EVERY;
    int V = (int)cpu->model->config.vocab_size;
    w->logits = xmalloc((size_t)cpu->max_rows * V * sizeof(float));
    w->scratch = xmalloc((size_t)V * sizeof(float));
    Backend b = *cpu;
    b.ops = ops, b.impl = w;
    return b;
}

/* The requests: prompts of 1..30 tokens, up to 40 new tokens (some past
 * the context), greedy and sampled. */
static void make_requests(GenRequest *reqs, int *ids, int V) {
    static const int prompt_len[N_REQ] = {5, 1, 20, 9, 3, 14, 7, 2, 11, 30, 6};
    static const int max_new[N_REQ] = {40, 1, 12, 25, 2, 33, 0, 17, 40, 40, 9};
    unsigned seed = 12345;
    for (int i = 0; i < N_REQ; i++) {
        for (int t = 0; t < prompt_len[i]; t++) ids[i * 32 + t] = (int)((seed = seed * 1103515245u + 12345u) >> 8) % V;
        /* 3 and 9 ignore stops: one ends at its length, one at the context */
        reqs[i] = (GenRequest){ids + i * 32, prompt_len[i], {max_new[i], i % 3 ? 0.9f : 0.0f, 0.95f, 7, i == 3 || i == 9}, (uint64_t)i};
    }
}

static int same_results(const RequestResult *a, const RequestResult *b) {
    for (int i = 0; i < N_REQ; i++) {
        if (a[i].n_tokens != b[i].n_tokens || a[i].finish != b[i].finish) return 0;
        if (a[i].n_tokens && memcmp(a[i].tokens, b[i].tokens, (size_t)a[i].n_tokens * sizeof(int))) return 0;
    }
    return 1;
}

static void free_results(RequestResult *r) {
    for (int i = 0; i < N_REQ; i++) free(r[i].tokens);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_generate MODEL.bin\n");
        return 2;
    }
    Error err;
    Model m;
    if (model_open(&m, argv[1], &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    Backend *cpu = backend_cpu_create(&m, 8, CONTEXT, 0, &err);
    if (!cpu) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    int V = (int)m.config.vocab_size, ids[N_REQ * 32], failed = 0;
    GenRequest reqs[N_REQ];
    make_requests(reqs, ids, V);
    static const int batches[] = {1, 3, 8};
    for (int k = 0; k < 3; k++) {
        int batch = batches[k];
        Wrap ws, wp;
        Backend serial = wrap(cpu, &ws, &SERIAL_OPS), pipelined = wrap(cpu, &wp, &PIPELINED_OPS);
        RequestResult rs[N_REQ], rp[N_REQ];
        memset(rs, 0, sizeof rs), memset(rp, 0, sizeof rp);
        GenStats ss, sp;
        if (generate_run(&serial, reqs, N_REQ, batch, rs, &ss, NULL, NULL, &err) != 0 ||
            generate_run(&pipelined, reqs, N_REQ, batch, rp, &sp, NULL, NULL, &err) != 0) {
            printf("FAIL batch %d: %s\n", batch, err.msg);
            return 1;
        }
        int stops = 0, lengths = 0, contexts = 0;
        for (int i = 0; i < N_REQ; i++) {
            stops += rs[i].finish == FINISH_STOP;
            lengths += rs[i].finish == FINISH_LENGTH;
            contexts += rs[i].finish == FINISH_CONTEXT;
        }
        long dropped = wp.submitted_rows - sp.decode_tokens; /* only decode steps are submitted */
        int ok = same_results(rs, rp) && ss.decode_tokens == sp.decode_tokens && stops > 0 && lengths > 0 && contexts > 0 &&
                 wp.fed_back > 0 && dropped > 0 && wp.submitted == wp.collected;
        printf("%s decode loop, batch %d: pipelined tokens equal one-call-at-a-time for %d requests (%d stopped, %d at length, %d at "
               "the context; %ld tokens fed back, %ld rows dropped after a stop)\n",
               ok ? "PASS" : "FAIL", batch, N_REQ, stops, lengths, contexts, wp.fed_back, dropped);
        failed += !ok;
        free_results(rs), free_results(rp);
        free(ws.logits), free(ws.scratch), free(wp.logits), free(wp.scratch);
    }

    /* without the stop rule, the pipelined loop gives the CPU backend's own tokens */
    {
        Wrap wp;
        Backend pipelined = wrap(cpu, &wp, &PIPELINED_OPS);
        wp.stop_every = 0;
        RequestResult rc[N_REQ], rp[N_REQ];
        memset(rc, 0, sizeof rc), memset(rp, 0, sizeof rp);
        GenStats s1, s2;
        int rc1 = generate_run(cpu, reqs, N_REQ, 4, rc, &s1, NULL, NULL, &err);
        int rc2 = rc1 ? -1 : generate_run(&pipelined, reqs, N_REQ, 4, rp, &s2, NULL, NULL, &err);
        int ok = rc1 == 0 && rc2 == 0 && same_results(rc, rp) && wp.fed_back > 0;
        printf("%s decode loop: pipelined over the test backend, the CPU backend's own tokens (batch 4, %ld fed back)\n", ok ? "PASS" : "FAIL",
               wp.fed_back);
        failed += !ok;
        free_results(rc), free_results(rp);
        free(wp.logits), free(wp.scratch);
    }

    /* a failing collect ends the run with the backend's message */
    {
        Wrap wp;
        Backend pipelined = wrap(cpu, &wp, &PIPELINED_OPS);
        wp.fail_after = 5;
        RequestResult rp[N_REQ];
        memset(rp, 0, sizeof rp);
        GenStats sp;
        int rc = generate_run(&pipelined, reqs, N_REQ, 3, rp, &sp, NULL, NULL, &err);
        int ok = rc != 0 && strstr(err.msg, "injected failure") != NULL;
        printf("%s decode loop: a backend error in a pipelined step is returned (%s)\n", ok ? "PASS" : "FAIL", rc ? err.msg : "no error");
        failed += !ok;
        free_results(rp);
        free(wp.logits), free(wp.scratch);
    }
    backend_destroy(cpu);
    model_close(&m);
    return failed != 0;
}
