/* test_generate - the decode loop (src/generate.c) against a naive one:
 * each request alone, one call per token, its prompt in one call.
 *
 * The loop keeps up to max_batch sequences in flight, refills slots as
 * requests end, and submits each decode step before the tokens of the one
 * ahead of it come back (the backend feeds them back: TOKEN_OF_PREVIOUS),
 * dropping the rows of requests that turn out to have stopped. None of that
 * may change a request's tokens. A test backend wraps the CPU backend: it
 * queues calls as a device would (two in flight) and, so that requests end
 * early and often, turns every sampled id divisible by STOP_EVERY into
 * <|return|>; the naive loop applies the same rule. Every request's tokens
 * and finish reason must equal the naive loop's at batch 1, 3 and 8, with
 * stops, length limits, the context limit and refills; the loop must have
 * fed tokens back and dropped rows of requests that had stopped. Also: the
 * CPU backend's own submit/collect (src/sync_calls.c) gives the naive
 * tokens, and a backend error reaches the caller. Some requests use top_k,
 * min_p and logprobs (which must equal the naive loop's too), and two have
 * several choices, which share their prompt's cache (copy_prefix) when
 * admitted together: each choice must still equal its naive run.
 * usage: test_generate MODEL.bin [quick]   (quick: two of the batch shapes, for the sanitizer build) */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/backend.h"
#include "../src/generate.h"
#include "../src/run_report.h"
#include "../src/tokenizer.h"

#define STOP_EVERY 7
#define N_PROMPTS 11
#define N_REQ 14 /* with three extra choices */
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
    TokenLogprobs queued_lp[2][256];
    long copied;             /* prompt positions copied between slots */
    int widest;              /* the most rows of one submitted call */
    int widest_span;         /* the most positions one slot's rows of one call span */
    int fed_pos[256];        /* per slot: the position of its last row submitted */
    int reserved[256];       /* positions each slot holds of a paged cache */
    long held, most_held;    /* their sum, now and at most */
    long refused;            /* reserves the cache had no room for */
    long last_call[256];     /* per slot: the call of its last sampled row, and that row's position */
    int last_pos[256];
    long widest_gap;         /* the most calls between two sampled rows of a sequence (consecutive positions) */
} Wrap;

static int wrap_forward(Backend *b, const BatchRow *rows, int n, float *logits, Error *err) {
    Wrap *w = b->impl;
    w->prev_n = 0;
    return backend_forward(w->cpu, rows, n, logits, err);
}

/* The sampler, then the stop rule. */
static int sample_with_stops(const Wrap *w, const float *logits, int V, SampleSpec spec) {
    int id = sample_with_coin(logits, V, spec, w->scratch);
    return w->stop_every && id % w->stop_every == 0 ? TOKEN_RETURN : id;
}

static int wrap_forward_sample(Backend *b, const BatchRow *rows, int n, const SampleSpec *spec, int *tokens, TokenLogprobs *lp, Error *err) {
    Wrap *w = b->impl;
    int V = (int)b->model->config.vocab_size, n_out = 0;
    if (backend_forward(w->cpu, rows, n, w->logits, err) != 0) return -1;
    for (int t = 0; t < n; t++)
        if (rows[t].want_logits) {
            tokens[n_out] = sample_with_stops(w, w->logits + (size_t)n_out * V, V, spec[n_out]);
            if (spec[n_out].logprobs >= 0)
                sample_logprobs(w->logits + (size_t)n_out * V, V, tokens[n_out], spec[n_out].logprobs, &lp[n_out]);
            n_out++;
        }
    w->prev_n = n_out;
    return 0;
}

/* Runs the call at once (a device would only enqueue it); its tokens wait in the queue. */
static int wrap_submit(Backend *b, const BatchRow *rows, int n, const SampleSpec *spec, Error *err) {
    Wrap *w = b->impl;
    if (w->submitted - w->collected == 2) return error_set(err, "test backend: a third call submitted");
    BatchRow fed[256] = {{0}};
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
    if (wrap_forward_sample(b, fed, n, spec, w->queued[slot], w->queued_lp[slot], err) != 0) return -1;
    w->n_queued[slot] = w->prev_n;
    w->submitted++;
    w->submitted_rows += n;
    if (n > w->widest) w->widest = n;
    int lo[256], hi[256];
    for (int t = 0; t < n; t++) lo[rows[t].slot] = INT_MAX, hi[rows[t].slot] = -1;
    for (int t = 0; t < n; t++) {
        int sl = rows[t].slot, p = rows[t].pos;
        lo[sl] = p < lo[sl] ? p : lo[sl], hi[sl] = p > hi[sl] ? p : hi[sl];
        if (hi[sl] - lo[sl] + 1 > w->widest_span) w->widest_span = hi[sl] - lo[sl] + 1;
        w->fed_pos[sl] = p;
    }
    for (int t = 0; t < n; t++) {
        int sl = rows[t].slot;
        if (!rows[t].want_logits) { /* a prompt row: the next sampled row starts a chain */
            w->last_pos[sl] = -2;
            continue;
        }
        if (rows[t].pos > 0 && rows[t].pos == w->last_pos[sl] + 1 && w->submitted - w->last_call[sl] > w->widest_gap)
            w->widest_gap = w->submitted - w->last_call[sl];
        w->last_call[sl] = w->submitted, w->last_pos[sl] = rows[t].pos;
    }
    return 0;
}

static int wrap_collect(Backend *b, int *tokens, TokenLogprobs *lp, Error *err) {
    Wrap *w = b->impl;
    if (w->collected == w->submitted) return error_set(err, "test backend: collect with no call in flight");
    if (w->fail_after > 0 && w->collected >= w->fail_after) return error_set(err, "test backend: injected failure");
    int slot = (int)(w->collected++ % 2);
    memcpy(tokens, w->queued[slot], (size_t)w->n_queued[slot] * sizeof(int));
    if (lp) memcpy(lp, w->queued_lp[slot], (size_t)w->n_queued[slot] * sizeof *lp);
    return 0;
}

/* backend.h's bound, which the CPU backend (whole contexts) does not need:
 * src at most max_slot_rows positions past n */
static int wrap_copy_prefix(Backend *b, int dst, int src, int n, Error *err) {
    Wrap *w = b->impl;
    if (w->fed_pos[src] + 1 - n > b->max_slot_rows)
        return error_set(err, "test backend: copy of %d positions from slot %d, which holds %d (more than %d past them)", n, src,
                         w->fed_pos[src] + 1, b->max_slot_rows);
    w->copied += n;
    return w->cpu->ops->copy_prefix(w->cpu, dst, src, n, err);
}

static int wrap_reserve(Backend *b, int slot, int n, Error *err) {
    Wrap *w = b->impl;
    int rc = w->cpu->ops->reserve(w->cpu, slot, n, err);
    w->held -= w->reserved[slot];
    w->reserved[slot] = rc == 0 ? n : 0;
    w->held += w->reserved[slot];
    if (w->held > w->most_held) w->most_held = w->held;
    w->refused += rc == 1;
    return rc;
}

static void wrap_destroy(Backend *b) { (void)b; }

static const BackendOps PIPELINED_OPS = {
    .name = "pipelined", .submit_sample = wrap_submit, .collect_sample = wrap_collect, .forward = wrap_forward,
    .copy_prefix = wrap_copy_prefix, .reserve = wrap_reserve, .destroy = wrap_destroy};

/* The CPU backend behind ops; slot_rows > 0: fewer rows of one slot a call
 * than it allows (as a GPU's sliding rings do). */
static Backend wrap(Backend *cpu, Wrap *w, const BackendOps *ops, int slot_rows) {
    memset(w, 0, sizeof *w);
    w->cpu = cpu;
    w->stop_every = STOP_EVERY;
    for (int i = 0; i < 256; i++) w->last_pos[i] = -2, w->fed_pos[i] = -1;
    int V = (int)cpu->model->config.vocab_size;
    w->logits = xmalloc((size_t)cpu->max_rows * V * sizeof(float));
    w->scratch = xmalloc((size_t)V * sizeof(float));
    Backend b = *cpu;
    b.ops = ops, b.impl = w;
    if (slot_rows > 0) b.max_slot_rows = slot_rows;
    return b;
}

/* The requests: prompts of 1..30 tokens, up to 40 new tokens (some past
 * the context), greedy and sampled (top_p; top_k, min_p or both on some),
 * some with logprobs; prompts 2 and 5 have more choices (2 and 3), each
 * right after the one before, as app_build_requests lays them out. */
static void make_requests(GenRequest *reqs, int *ids, int V) {
    static const int prompt_len[N_PROMPTS] = {5, 1, 20, 9, 3, 14, 7, 2, 11, 30, 6};
    static const int max_new[N_PROMPTS] = {40, 1, 12, 25, 2, 33, 0, 17, 40, 40, 9};
    static const int choices[N_PROMPTS] = {1, 1, 2, 1, 1, 3, 1, 1, 1, 1, 1};
    unsigned seed = 12345;
    for (int i = 0, k = 0; i < N_PROMPTS; i++) {
        for (int t = 0; t < prompt_len[i]; t++) ids[i * 32 + t] = (int)((seed = seed * 1103515245u + 12345u) >> 8) % V;
        SampleParams sp = {i % 3 ? 0.9f : 0.0f, 0.95f, i % 5 == 2 ? 0.05f : 0.0f, i % 4 == 1 ? 40 : 0, i % 3 == 2 ? 3 : -1};
        for (int c = 0; c < choices[i]; c++, k++) /* 3 and 9 ignore stops: one ends at its length, one at the context */
            reqs[k] = (GenRequest){ids + i * 32, prompt_len[i], {max_new[i], sp, 7, i == 3 || i == 9, NULL, 0, NULL}, (uint64_t)i, c, k};
    }
}

static int same_results(const RequestResult *a, const RequestResult *b) {
    for (int i = 0; i < N_REQ; i++) {
        if (a[i].n_tokens != b[i].n_tokens || a[i].finish != b[i].finish) return 0;
        if (a[i].n_tokens && memcmp(a[i].tokens, b[i].tokens, (size_t)a[i].n_tokens * sizeof(int))) return 0;
        if (!a[i].logprobs != !b[i].logprobs) return 0;
        if (a[i].logprobs && memcmp(a[i].logprobs, b[i].logprobs, (size_t)a[i].n_tokens * sizeof *a[i].logprobs)) return 0;
    }
    return 1;
}

static void free_results(RequestResult *r) {
    for (int i = 0; i < N_REQ; i++) result_free(&r[i]);
}

/* The naive loop: request r alone in slot 0, its prompt in one call, then
 * one call per token, sampled as the decode loop defines it. */
static void naive_generate(Wrap *w, const GenRequest *r, RequestResult *res) {
    Backend *cpu = w->cpu;
    int V = (int)cpu->model->config.vocab_size, ctx = cpu->max_context;
    Error err;
    memset(res, 0, sizeof *res);
    res->prompt_tokens = r->prompt_len;
    res->tokens = xmalloc((size_t)(r->params.max_new_tokens + 1) * sizeof(int));
    res->finish = FINISH_LENGTH;
    if (r->params.sample.logprobs >= 0) res->logprobs = xmalloc((size_t)(r->params.max_new_tokens + 1) * sizeof *res->logprobs);
    if (r->params.max_new_tokens <= 0) return;
    Rng rng = gen_choice_stream(r->params.seed, r->index, r->choice);
    BatchRow rows[64];
    for (int t = 0; t < r->prompt_len; t++) rows[t] = (BatchRow){0, t, r->prompt[t], t == r->prompt_len - 1};
    int n_rows = r->prompt_len, pos = r->prompt_len;
    for (;;) {
        SampleSpec spec = sample_spec(&r->params.sample, &rng);
        if (backend_forward(cpu, rows, n_rows, w->logits, &err) != 0) {
            printf("FAIL naive loop: %s\n", err.msg);
            exit(1);
        }
        int id = sample_with_stops(w, w->logits, V, spec);
        if (!r->params.ignore_eos && is_stop_token(id)) {
            res->finish = FINISH_STOP;
            return;
        }
        if (res->logprobs) sample_logprobs(w->logits, V, id, spec.logprobs, &res->logprobs[res->n_tokens]);
        res->tokens[res->n_tokens++] = id;
        if (res->n_tokens >= r->params.max_new_tokens) return; /* length */
        if (pos >= ctx) {
            res->finish = FINISH_CONTEXT;
            return;
        }
        rows[0] = (BatchRow){0, pos++, id, 1};
        n_rows = 1;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_generate MODEL.bin [quick]\n");
        return 2;
    }
    int quick = argc > 2 && !strcmp(argv[2], "quick"); /* under the sanitizers: two of the batch shapes */
    Error err;
    Model m;
    if (model_open(&m, argv[1], &err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    Backend *cpu = backend_cpu_create(&m, 8, CONTEXT, 0, 0, &err);
    if (!cpu) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        return 1;
    }
    int V = (int)m.config.vocab_size, ids[N_REQ * 32], failed = 0;
    GenRequest reqs[N_REQ];
    make_requests(reqs, ids, V);
    RequestResult naive[N_REQ], naive_no_stops[N_REQ];
    {
        Wrap w;
        wrap(cpu, &w, &PIPELINED_OPS, 0);
        for (int i = 0; i < N_REQ; i++) naive_generate(&w, &reqs[i], &naive[i]);
        w.stop_every = 0;
        memset(naive_no_stops, 0, sizeof naive_no_stops);
        for (int i = 0; i < (quick ? 1 : N_REQ); i++) naive_generate(&w, &reqs[i], &naive_no_stops[i]);
        free(w.logits), free(w.scratch);
    }
    /* batch, rows per call (0: the backend's 256) and rows of one slot per
     * call (0: as many, so whole prompts fit one call; a GPU's sliding
     * rings allow fewer than a call holds); the small ones chunk prompts and
     * mix them with decode rows, the smallest take turns among more
     * sequences than a call holds */
    static const int shapes[][3] = {{1, 0, 0}, {3, 0, 0}, {8, 0, 0}, {1, 3, 0}, {3, 4, 0}, {8, 8, 0}, {8, 11, 0},
                                    {8, 3, 0}, {8, 5, 0}, {8, 1, 0}, {8, 0, 4}, {3, 11, 7}};
    for (int k = 0; k < (int)(sizeof shapes / sizeof *shapes); k++) {
        int batch = shapes[k][0], step = shapes[k][1];
        if (quick && !(batch == 3 && step == 4) && !(batch == 8 && step == 3) && shapes[k][2] == 0) continue; /* mixing, turns, chunks */
        Wrap wp;
        Backend pipelined = wrap(cpu, &wp, &PIPELINED_OPS, shapes[k][2]);
        const int slot_rows = pipelined.max_slot_rows;
        RequestResult rp[N_REQ];
        memset(rp, 0, sizeof rp);
        GenStats sp;
        if (generate_run(&pipelined, reqs, N_REQ, (GenLimits){batch, step, 0}, rp, &sp, NULL, NULL, &err) != 0) {
            printf("FAIL batch %d, step %d: %s\n", batch, step, err.msg);
            return 1;
        }
        int stops = 0, lengths = 0, contexts = 0;
        long naive_decode = 0, prompt_rows = 0;
        for (int i = 0; i < N_REQ; i++) {
            stops += naive[i].finish == FINISH_STOP;
            lengths += naive[i].finish == FINISH_LENGTH;
            contexts += naive[i].finish == FINISH_CONTEXT;
            naive_decode += naive[i].n_tokens > 0 ? naive[i].n_tokens - 1 + (naive[i].finish == FINISH_STOP) : 0;
            prompt_rows += reqs[i].params.max_new_tokens > 0 ? reqs[i].prompt_len : 0;
        }
        long dropped = wp.submitted_rows - sp.decode_tokens - sp.prefill_tokens;
        int limit = step ? step : cpu->max_rows;
        /* each call gives decoding at least an eighth (at least a row), the sequences with the most tokens to come first,
         * those that waited a round of calls before them: one waits at most two rounds, and one more call for its token */
        int decode_cap = limit / 8 > 1 ? limit / 8 : 1, round = 2 * ((batch + decode_cap - 1) / decode_cap);
        /* at batch 1 a choice waits for a free slot and prefills its prompt itself; above, choices share it (and calls mix
         * prompt and decode rows), unless a call holds one row: then one sequence runs at a time */
        int together = batch > 1 && limit > 1;
        int ok = same_results(naive, rp) && stops > 0 && lengths > 0 && contexts > 0 && wp.fed_back > 0 && dropped > 0 &&
                 wp.submitted == wp.collected && sp.decode_tokens == naive_decode && (together ? wp.copied > 0 : wp.copied == 0) &&
                 wp.copied == sp.shared_prefix_tokens && sp.prefill_tokens + wp.copied == prompt_rows && wp.widest <= limit &&
                 wp.widest_span <= slot_rows && sp.steps == wp.submitted && (!together || sp.mixed_steps > 0) && wp.widest_gap <= round + 1;
        printf("%s decode loop, batch %d, %d rows a call, %d of a slot: tokens and logprobs equal the naive loop's for %d completions "
               "(%d stopped, %d at length, %d at the context; %ld tokens fed back, %ld rows dropped after a stop, %ld prompt positions "
               "shared by choices; %ld calls of at most %d rows, at most %d positions of a slot, %ld with prompt and decode rows; a "
               "sequence waited at most %ld calls for its next row)\n",
               ok ? "PASS" : "FAIL", batch, limit, slot_rows, N_REQ, stops, lengths, contexts, wp.fed_back, dropped, wp.copied, sp.steps,
               wp.widest, wp.widest_span, sp.mixed_steps, wp.widest_gap);
        failed += !ok;
        free_results(rp);
        free(wp.logits), free(wp.scratch);
    }

    /* a short request among long ones, 4 rows a call for 8 sequences (an eighth: 1): the longest chains go first, but a
     * sequence that waited a round of calls (8) goes before them, so it waits at most two rounds; by chain length alone
     * the short one waits until the long ones are down to its length */
    {
        enum { NL = 8 };
        GenRequest mix[NL];
        for (int i = 0; i < NL; i++) {
            mix[i] = reqs[0];
            mix[i].params.max_new_tokens = i == NL - 1 ? 8 : 40, mix[i].params.ignore_eos = 1, mix[i].params.n_stop = 0;
            mix[i].index = (uint64_t)(100 + i), mix[i].choice = 0, mix[i].result = i;
        }
        Wrap wl;
        Backend pipelined = wrap(cpu, &wl, &PIPELINED_OPS, 0);
        RequestResult rl[NL];
        memset(rl, 0, sizeof rl);
        GenStats sl;
        int rc = generate_run(&pipelined, mix, NL, (GenLimits){NL, 4, 0}, rl, &sl, NULL, NULL, &err);
        int ok = rc == 0 && rl[NL - 1].n_tokens == 8 && wl.widest_gap <= 2 * NL + 1;
        printf("%s decode loop: a short request among long ones (8 sequences, 4 rows a call) waits at most two rounds "
               "for its next row (at most %ld calls, bound %d)\n", ok ? "PASS" : "FAIL", wl.widest_gap, 2 * NL + 1);
        failed += !ok;
        for (int i = 0; i < NL; i++) result_free(&rl[i]);
        free(wl.logits), free(wl.scratch);
    }

    /* the CPU backend's own calls (src/sync_calls.c; quick: getp's runs cover them) */
    if (!quick) {
        RequestResult rc[N_REQ];
        memset(rc, 0, sizeof rc);
        GenStats s1;
        int rc1 = generate_run(cpu, reqs, N_REQ, (GenLimits){4, 0, 0}, rc, &s1, NULL, NULL, &err);
        int ok = rc1 == 0 && same_results(naive_no_stops, rc);
        printf("%s decode loop over the CPU backend's submit/collect: the naive loop's tokens (batch 4)%s%s\n", ok ? "PASS" : "FAIL",
               rc1 ? ": " : "", rc1 ? err.msg : "");
        failed += !ok;
        /* each request's times: its first token no later than its end, and a
         * request admitted later (a refill: batch 4 of 11) starts later */
        int ordered = 1;
        for (int i = 0; i < N_REQ; i++)
            if (rc[i].n_tokens) ordered &= rc[i].first_token_s > 0 && rc[i].first_token_s <= rc[i].finish_s;
        ordered &= rc[N_REQ - 1].first_token_s > rc[0].first_token_s;
        printf("%s decode loop: every request's first-token time precedes its end, and refills start later\n", ordered ? "PASS" : "FAIL");
        failed += !ordered;
        free_results(rc);
    }

    /* a failing collect ends the run with the backend's message */
    {
        Wrap wp;
        Backend pipelined = wrap(cpu, &wp, &PIPELINED_OPS, 0);
        wp.fail_after = 5;
        RequestResult rp[N_REQ];
        memset(rp, 0, sizeof rp);
        GenStats sp;
        int rc = generate_run(&pipelined, reqs, N_REQ, (GenLimits){3, 0, 0}, rp, &sp, NULL, NULL, &err);
        int ok = rc != 0 && strstr(err.msg, "injected failure") != NULL;
        printf("%s decode loop: a backend error in a pipelined step is returned (%s)\n", ok ? "PASS" : "FAIL", rc ? err.msg : "no error");
        failed += !ok;
        free_results(rp);
        free(wp.logits), free(wp.scratch);
    }
    /* a paged KV cache of three slots' contexts under eight slots: requests
     * wait, in order, for room, and still give the naive loop's tokens; one
     * that needs more than the whole cache is an error that says so */
    {
        Backend *small = backend_cpu_create(&m, 8, CONTEXT, 0, 3 * CONTEXT, &err);
        Wrap wp;
        Backend pipelined = wrap(small, &wp, &PIPELINED_OPS, 0);
        RequestResult rp[N_REQ];
        memset(rp, 0, sizeof rp);
        GenStats sp;
        for (int step = 0; step <= 1; step++) { /* 1 row a call: decoding keeps it while a request waits for room */
            memset(rp, 0, sizeof rp);
            wp.refused = wp.most_held = 0;
            int rc = generate_run(&pipelined, reqs, N_REQ, (GenLimits){8, step, 0}, rp, &sp, NULL, NULL, &err);
            int ok = rc == 0 && same_results(naive, rp) && (step == 1 || wp.refused > 0) && wp.most_held <= small->kv_positions && wp.held == 0;
            printf("%s decode loop over a paged KV cache of %ld positions for 8 slots of %d, %d rows a call: the naive loop's tokens (%ld "
                   "reserves waited for room, at most %ld positions held at once, none at the end)%s%s\n",
                   ok ? "PASS" : "FAIL", small->kv_positions, CONTEXT, step ? step : small->max_rows, wp.refused, wp.most_held, rc ? ": " : "",
                   rc ? err.msg : "");
            failed += !ok;
            free_results(rp);
        }
        free(wp.logits), free(wp.scratch);
        backend_destroy(small);

        Backend *tiny = backend_cpu_create(&m, 2, CONTEXT, 0, 32, &err);
        memset(rp, 0, sizeof rp);
        int rc = generate_run(tiny, reqs, N_REQ, (GenLimits){2, 0, 0}, rp, &sp, NULL, NULL, &err);
        /* the longest request starts first (GenLimits.file_order 0): request 9, max_tokens 40 and the longest prompt */
        int ok = rc != 0 && strstr(err.msg, "request 9 needs 48 positions of the KV cache") && strstr(err.msg, "the 32 it holds");
        printf("%s decode loop: a request that needs more of the KV cache than it holds fails the run (%s)\n", ok ? "PASS" : "FAIL",
               rc ? err.msg : "no error");
        failed += !ok;
        free_results(rp);
        backend_destroy(tiny);
    }
    /* the CPU backend's paged cache refuses what a slot does not hold: a
     * pool of one page (32 positions) cannot give slot 0 its context of 48 */
    {
        Backend *one = backend_cpu_create(&m, 2, CONTEXT, 0, CONTEXT, &err);
        float *lg = xmalloc((size_t)V * sizeof(float));
        BatchRow r0 = {0, 0, 1, 1}, r32 = {0, 32, 1, 1};
        Error e1, e2, e3, e4, e5;
        int unheld = backend_forward(one, &r0, 1, lg, &e1) != 0 && strstr(e1.msg, "slot 0 holds 0 positions of the KV cache, not position 0");
        int held = one->ops->reserve(one, 0, 32, &e2) == 0 && backend_forward(one, &r0, 1, lg, &e2) == 0;
        int past = backend_forward(one, &r32, 1, lg, &e3) != 0 && strstr(e3.msg, "slot 0 holds 32 positions of the KV cache, not position 32");
        int full = one->ops->reserve(one, 1, 1, &e4) == 1;
        int too_long = one->ops->reserve(one, 0, CONTEXT + 1, &e4) == -1 && strstr(e4.msg, "cannot reserve 49 positions for slot 0");
        int copy = one->ops->copy_prefix(one, 1, 0, 5, &e5) != 0 && strstr(e5.msg, "to slot 1 (holding 0)");
        int ok = one && unheld && held && past && full && too_long && copy;
        printf("%s cpu backend's paged KV cache: rows and copies a slot does not hold are refused, a full pool says so (1), more than the "
               "context is an error (%d %d %d %d %d %d)\n", ok ? "PASS" : "FAIL", unheld, held, past, full, too_long, copy);
        failed += !ok;
        free(lg);
        backend_destroy(one);
    }
    /* a prompt prefix most requests share (as a chat's system message) is
     * computed once in a spare slot and copied into each request that
     * starts with 16 or more of its tokens; their tokens stay the naive
     * loop's */
    {
        enum { NP = 10, PREFIX = 20 };
        /* 4: 10 of the prefix; 6: unrelated; 2: 16 of it, which a copy gives only where the prefix's slot
         * may be 4 positions past them (max_slot_rows 4 and more) */
        static const int lens[NP] = {21, 25, 17, 30, 10, 22, 8, 20, 40, 23};
        int ids2[NP * 40];
        GenRequest pre[NP];
        unsigned seed = 777;
        for (int i = 0; i < NP; i++) {
            for (int t = 0; t < lens[i]; t++)
                ids2[i * 40 + t] = (i == 6 || t >= PREFIX) ? (int)((seed = seed * 1103515245u + 12345u) >> 8) % V : ids[t] % V;
            SampleParams sp = {i % 2 ? 0.8f : 0.0f, 0.95f, 0.0f, 0, -1};
            pre[i] = (GenRequest){ids2 + i * 40, lens[i], {9, sp, 5, 0, NULL, 0, NULL}, (uint64_t)i, 0, i};
        }
        Backend *cpu9 = backend_cpu_create(&m, 9, CONTEXT, 0, 0, &err);
        RequestResult rn[NP];
        {
            Wrap wn;
            wrap(cpu9, &wn, &PIPELINED_OPS, 0);
            for (int i = 0; i < NP; i++) naive_generate(&wn, &pre[i], &rn[i]);
            free(wn.logits), free(wn.scratch);
        }
        for (int variant = 0; variant < 2; variant++) { /* the backend's rows of one slot a call, then 3 */
            Wrap wp;
            Backend pipelined = wrap(cpu9, &wp, &PIPELINED_OPS, variant ? 3 : 0);
            const int slot_rows = pipelined.max_slot_rows;
            long expect = 0;
            int given = 0;
            for (int i = 0; i < NP; i++) {
                int mm = i == 6 ? 0 : lens[i] - 1 < PREFIX ? lens[i] - 1 : PREFIX;
                if (mm >= 16 && PREFIX - mm <= slot_rows) expect += mm, given++;
            }
            RequestResult rp[NP];
            memset(rp, 0, sizeof rp);
            GenStats sp;
            int rc = generate_run(&pipelined, pre, NP, (GenLimits){8, 6, 0}, rp, &sp, NULL, NULL, &err);
            int ok = rc == 0 && wp.copied == expect && sp.shared_prefix_tokens == expect && wp.held == 0 && wp.widest_span <= slot_rows;
            for (int i = 0; i < NP && ok; i++)
                ok = rp[i].n_tokens == rn[i].n_tokens && rp[i].finish == rn[i].finish &&
                     !memcmp(rp[i].tokens, rn[i].tokens, (size_t)rn[i].n_tokens * sizeof(int));
            printf("%s decode loop: a 20-token prefix that most prompts share, computed once in a spare slot, gives %ld positions (expected "
                   "%ld, to %d of 10 requests), in calls of 6 rows, at most %d of a slot (widest %d); tokens equal the naive loop's%s%s\n",
                   ok ? "PASS" : "FAIL", wp.copied, expect, given, slot_rows, wp.widest_span, rc ? ": " : "", rc ? err.msg : "");
            failed += !ok;
            for (int i = 0; i < NP; i++) result_free(&rp[i]);
            free(wp.logits), free(wp.scratch);
        }
        for (int i = 0; i < NP; i++) result_free(&rn[i]);
        backend_destroy(cpu9);
    }
    /* requests that ask for no tokens, the last ones of the run included, end at once with none */
    {
        GenRequest zero[3] = {reqs[0], reqs[1], reqs[4]};
        zero[1].params.max_new_tokens = zero[2].params.max_new_tokens = 0;
        RequestResult rz[3];
        memset(rz, 0, sizeof rz);
        GenStats sz;
        int rc = generate_run(cpu, zero, 3, (GenLimits){1, 0, 0}, rz, &sz, NULL, NULL, &err);
        int ok = rc == 0 && rz[0].n_tokens == naive_no_stops[0].n_tokens && rz[1].n_tokens == 0 && rz[2].n_tokens == 0 &&
                 rz[1].finish == FINISH_LENGTH && rz[2].finish == FINISH_LENGTH;
        printf("%s decode loop: requests of max_tokens 0, the last ones too, end with no tokens%s%s\n", ok ? "PASS" : "FAIL", rc ? ": " : "",
               rc ? err.msg : "");
        failed += !ok;
        for (int i = 0; i < 3; i++) result_free(&rz[i]);
    }
    /* the latency summary: nearest-rank median and p99 of known times */
    {
        RequestResult r[5];
        memset(r, 0, sizeof r);
        for (int i = 0; i < 5; i++) r[i] = (RequestResult){.n_tokens = 3, .finish = FINISH_STOP, .first_token_s = 0.1 * (i + 1), .finish_s = 0.1 * (i + 1) + 0.02 * (i + 1)};
        r[4].n_tokens = 0, r[4].finish = FINISH_LENGTH; /* max_tokens 0: left out */
        Latency l = run_report_latency(r, 5);
        int ok = l.ttft_p50 == r[1].first_token_s && l.ttft_p99 == r[3].first_token_s && fabs(l.tpot_p50 - 0.02) < 1e-12 &&
                 fabs(l.tpot_p99 - 0.04) < 1e-12;
        printf("%s latency summary: median and p99 of first-token times and of per-token times (%.3f %.3f %.3f %.3f)\n", ok ? "PASS" : "FAIL",
               l.ttft_p50, l.ttft_p99, l.tpot_p50, l.tpot_p99);
        failed += !ok;
        /* over the requests that ran: r[1] (a refused Batch API line, all zeros) left out */
        GenRequest ran[3] = {{.index = 0, .result = 0}, {.index = 2, .result = 2}, {.index = 3, .result = 3}};
        r[1] = (RequestResult){0};
        l = run_report_latency_of(r, ran, 3);
        ok = l.ttft_p50 == r[2].first_token_s && l.ttft_p99 == r[3].first_token_s && fabs(l.tpot_p50 - 0.03) < 1e-12;
        printf("%s latency summary: a request that never ran is left out (median first token %.3f)\n", ok ? "PASS" : "FAIL", l.ttft_p50);
        failed += !ok;
    }
    free_results(naive), free_results(naive_no_stops);
    backend_destroy(cpu);
    model_close(&m);
    return failed != 0;
}
