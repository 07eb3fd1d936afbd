/* test_gpu_sampling - part of test_gpu (see its list): the GPU sampler's
 * top_k, min_p and logprobs against src/sampler.c on the GPU's own logits,
 * copy_prefix, the decode loop's choices sharing a prompt on the GPU, and
 * the paged KV cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_gpu.h"

/* Rows 0..SROWS-1 (slots 0..) at position pos, random tokens: the step's
 * logits (forward), then the same step as a sampling call with spec[i] for
 * row i (it rewrites the cache with the same values): tokens, and logprobs
 * into lp unless NULL. */
enum { SROWS = 16 };
static int sampled_step(Backend *gpu, int pos, unsigned *seed, const SampleSpec *spec, float *logits, int *tokens, TokenLogprobs *lp,
                        Error *err) {
    int V = (int)gpu->model->config.vocab_size;
    BatchRow rows[SROWS];
    for (int i = 0; i < SROWS; i++) rows[i] = (BatchRow){i, pos, (int)(lcg(seed) % (unsigned)V), 1};
    if (backend_forward(gpu, rows, SROWS, logits, err) != 0) return -1;
    return backend_sample_logprobs(gpu, rows, SROWS, spec, tokens, lp, err);
}

/* 3b. top_k and min_p, alone, together and with top_p, at several
 * temperatures and coins: every draw equals the CPU sampler's on the GPU's
 * own logits; and the settings bite (some draws differ from plain top-p
 * sampling's with the same coin). */
int test_truncation(Backend *gpu, int V, float *lg, float *scratch) {
    static const struct {
        float temperature, top_p, min_p;
        int top_k;
    } cases[] = {{1.0f, 1.0f, 0.0f, 1},   {1.0f, 1.0f, 0.0f, 5},  {1.0f, 1.0f, 0.0f, 50},  {0.7f, 1.0f, 0.0f, 50},
                 {2.0f, 1.0f, 0.0f, 5},   {1.0f, 1.0f, 0.05f, 0}, {1.3f, 1.0f, 0.3f, 0},   {0.7f, 1.0f, 0.05f, 0},
                 {2.0f, 1.0f, 0.3f, 0},   {1.0f, 0.9f, 0.0f, 50}, {2.0f, 0.5f, 0.0f, 5},   {0.7f, 0.9f, 0.05f, 0},
                 {1.3f, 0.98f, 0.3f, 50}, {2.0f, 0.9f, 0.05f, 5}, {1.0f, 1.0f, 0.3f, 1},   {0.7f, 0.95f, 0.05f, 50}};
    int n_cases = (int)(sizeof cases / sizeof *cases), agree = 0, total = 0, bites = 0;
    unsigned seed = 4242;
    Rng coins = rng_stream(6, 6);
    Error err;
    for (int k = 0; k < n_cases; k++) {
        SampleSpec spec[SROWS];
        int tokens[SROWS];
        for (int i = 0; i < SROWS; i++)
            spec[i] = spec_of(cases[k].temperature, cases[k].top_p, cases[k].min_p, cases[k].top_k, -1, rng_uniform(&coins));
        if (sampled_step(gpu, 64 + k, &seed, spec, lg, tokens, NULL, &err) != 0) {
            printf("FAIL top_k/min_p sampling run: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; i < SROWS; i++, total++) {
            const float *l = lg + (size_t)i * V;
            int want = sample_with_coin(l, V, spec[i], scratch);
            SampleSpec plain = spec[i];
            plain.top_k = 0, plain.min_p = 0.0f;
            agree += tokens[i] == want;
            bites += sample_with_coin(l, V, plain, scratch) != want;
        }
    }
    int ok = agree == total && bites > 0;
    printf("%s gpu sampler with top_k 1/5/50 and min_p 0.05/0.3 (alone, together, with top-p; T 0.7-2) equals the cpu sampler on the gpu's "
           "logits: %d of %d draws (%d differ from plain top-p sampling's)\n",
           ok ? "PASS" : "FAIL", agree, total, bites);
    return !ok;
}

/* Whether the GPU's logprobs equal the CPU's: ids exactly, values within 1e-5. */
static int same_logprobs(const TokenLogprobs *got, const TokenLogprobs *want) {
    const double tol = 1e-5;
    if (got->n_top != want->n_top || !(fabs((double)got->logprob - want->logprob) <= tol)) return 0;
    for (int k = 0; k < want->n_top; k++)
        if (got->top_id[k] != want->top_id[k] || !(fabs((double)got->top_logprob[k] - want->top_logprob[k]) <= tol)) return 0;
    return 1;
}

/* 3c. logprobs on the GPU equal sample_logprobs on the GPU's logits for 0,
 * 1, 5 and 20 alternatives, in a mix with rows that ask for none, whose
 * entries the call must leave untouched. Calls: a decode step (a graph
 * captured with the logprobs kernel), another (that graph replayed), one of
 * the same size with no row asking (the graph without it, logprobs passed
 * all the same), and a prefill-shaped call (rows without logits: launched
 * directly). The tokens equal the CPU sampler's too. */
int test_logprobs(Backend *gpu, int V, float *lg, float *scratch) {
    static const int n_tops[4] = {0, 1, 5, 20};
    unsigned seed = 777;
    Rng coins = rng_stream(8, 8);
    int asked = 0, right = 0, quiet = 0, untouched = 0, agree = 0, draws = 0, rc = 0;
    Error err;
    TokenLogprobs lp[SROWS], sentinel;
    memset(&sentinel, 0x5a, sizeof sentinel);
    for (int round = 0; round < 4 && rc == 0; round++) {
        SampleSpec spec[SROWS];
        int tokens[SROWS], n_out = SROWS;
        for (int i = 0; i < SROWS; i++) {
            int ask = round == 2 || (i + round) % 3 == 2 ? -1 : n_tops[(i + round) % 4];
            spec[i] = spec_of(i % 4 == 0 ? 0.0f : 1.0f, i % 2 ? 0.9f : 1.0f, 0.0f, i % 5 == 1 ? 50 : 0, ask, rng_uniform(&coins));
            lp[i] = sentinel;
        }
        if (round < 3) {
            rc = sampled_step(gpu, 96 + round, &seed, spec, lg, tokens, lp, &err);
        } else { /* 4 prompts of 4 rows (slots 16..19), each one's last row sampled */
            BatchRow rows[16];
            for (int i = 0; i < 4; i++)
                for (int t = 0; t < 4; t++) rows[i * 4 + t] = (BatchRow){16 + i, t, (int)(lcg(&seed) % (unsigned)V), t == 3};
            n_out = 4;
            rc = backend_forward(gpu, rows, 16, lg, &err);
            if (rc == 0) rc = backend_sample_logprobs(gpu, rows, 16, spec, tokens, lp, &err);
        }
        for (int i = 0; i < SROWS && rc == 0; i++) {
            if (i >= n_out || spec[i].logprobs < 0) { /* not asked (or no such row) */
                quiet++;
                untouched += memcmp(&lp[i], &sentinel, sizeof sentinel) == 0;
            }
            if (i >= n_out) continue;
            const float *l = lg + (size_t)i * V;
            draws++;
            agree += tokens[i] == sample_with_coin(l, V, spec[i], scratch);
            if (spec[i].logprobs < 0) continue;
            TokenLogprobs want;
            sample_logprobs(l, V, tokens[i], spec[i].logprobs, &want);
            asked++;
            right += same_logprobs(&lp[i], &want);
        }
    }
    if (rc != 0) {
        printf("FAIL logprobs run: %s\n", err.msg);
        return 1;
    }
    int ok = asked > 0 && right == asked && quiet > 0 && untouched == quiet && agree == draws;
    printf("%s gpu logprobs equal sample_logprobs on the gpu's logits: %d of %d rows (0/1/5/20 alternatives; decode steps through a "
           "graph, captured and replayed, and a prefill call); %d of %d entries of rows that did not ask untouched; %d of %d draws equal "
           "the cpu sampler's\n",
           ok ? "PASS" : "FAIL", right, asked, untouched, quiet, agree, draws);
    return !ok;
}

/* tokens[0..n) in `slot` at positions 0.., in calls of at most max_slot_rows rows,
 * no logits. */
static int run_prompt(Backend *gpu, int slot, const int *tokens, int n, Error *err) {
    BatchRow *rows = malloc((size_t)n * sizeof *rows);
    int rc = 0;
    for (int t = 0; t < n; t++) rows[t] = (BatchRow){slot, t, tokens[t], 0};
    for (int at = 0; at < n && rc == 0; at += gpu->max_slot_rows)
        rc = backend_forward(gpu, rows + at, n - at < gpu->max_slot_rows ? n - at : gpu->max_slot_rows, NULL, err);
    free(rows);
    return rc;
}

/* 5. copy_prefix: slot 0 runs prompt A of L tokens; slot 3, which holds
 * another prompt's first L - 1 positions, gets A's by copy_prefix and runs
 * A's last token: its logits equal, bit for bit, those of A's last token
 * run again in slot 0 (and differ from slot 3's before the copy). L = 24,
 * and 400: past the sliding layers' ring (window + 256 positions) of every
 * test model, so a wrapped ring is copied. Then out-of-range arguments and
 * a copy while a call is in flight are refused with the reason, and the
 * call in flight is still collected. */
int test_copy_prefix(Backend *gpu, int V) {
    Error err;
    int failures = 0;
    size_t bytes = (size_t)V * sizeof(float);
    float *got = malloc(bytes), *fresh = malloc(bytes), *before = malloc(bytes);
    static const int lens[2] = {24, 400};
    unsigned seed = 31337;
    for (int k = 0; k < 2; k++) {
        int L = lens[k] < gpu->max_context ? lens[k] : gpu->max_context;
        int *a = malloc((size_t)L * sizeof(int)), *other = malloc((size_t)L * sizeof(int));
        for (int t = 0; t < L; t++) a[t] = (int)(lcg(&seed) % (unsigned)V), other[t] = (int)(lcg(&seed) % (unsigned)V);
        BatchRow last3 = {3, L - 1, a[L - 1], 1}, last0 = {0, L - 1, a[L - 1], 1};
        int rc = run_prompt(gpu, 3, other, L - 1, &err);
        if (rc == 0) rc = backend_forward(gpu, &last3, 1, before, &err);
        if (rc == 0) rc = run_prompt(gpu, 0, a, L, &err);
        if (rc == 0) rc = gpu->ops->copy_prefix(gpu, 3, 0, L - 1, &err);
        if (rc == 0) rc = backend_forward(gpu, &last3, 1, got, &err);
        if (rc == 0) rc = backend_forward(gpu, &last0, 1, fresh, &err);
        int ok = rc == 0 && memcmp(got, fresh, bytes) == 0 && memcmp(before, fresh, bytes) != 0;
        printf("%s copy_prefix: %d positions copied from slot 0 to slot 3, the last token's logits there bit-identical to slot 0's "
               "(and not before the copy)%s%s\n",
               ok ? "PASS" : "FAIL", L - 1, rc ? ": " : "", rc ? err.msg : "");
        failures += !ok;
        free(a), free(other);
    }
    free(got), free(fresh), free(before);

    Error e1 = {""}, e2 = {""}, e3 = {""};
    int refused = 0;
    refused += gpu->ops->copy_prefix(gpu, gpu->max_slots, 0, 4, &e1) != 0 && strstr(e1.msg, "out of range");
    refused += gpu->ops->copy_prefix(gpu, 3, -1, 4, &e2) != 0 && strstr(e2.msg, "out of range");
    refused += gpu->ops->copy_prefix(gpu, 3, 0, gpu->max_context + 1, &e3) != 0 && strstr(e3.msg, "out of range");
    printf("%s copy_prefix refuses slots and lengths out of range (%d of 3: '%s' / '%s' / '%s')\n", refused == 3 ? "PASS" : "FAIL", refused,
           e1.msg, e2.msg, e3.msg);
    failures += refused != 3;

    /* with the call that writes the prompt still in flight, the copy follows it on the stream (the decode loop copies so) */
    enum { P = 6 };
    BatchRow rows[P - 1];
    int toks[P], token = -1;
    for (int t = 0; t < P; t++) toks[t] = (int)(lcg(&seed) % (unsigned)V);
    for (int t = 0; t < P - 1; t++) rows[t] = (BatchRow){0, t, toks[t], t == P - 2};
    SampleSpec greedy = spec_of(0.0f, 1.0f, 0.0f, 0, -1, 0.0f);
    float *a3 = malloc((size_t)V * sizeof(float)), *a0 = malloc((size_t)V * sizeof(float));
    BatchRow next3 = {3, P - 1, toks[P - 1], 1}, next0 = {0, P - 1, toks[P - 1], 1};
    int rc = backend_submit(gpu, rows, P - 1, &greedy, &err), copied = 0;
    if (rc == 0) copied = (rc = gpu->ops->copy_prefix(gpu, 3, 0, P - 1, &err)) == 0;
    if (copied) rc = backend_collect(gpu, &token, &err);
    if (rc == 0) rc = backend_forward(gpu, &next3, 1, a3, &err);
    if (rc == 0) rc = backend_forward(gpu, &next0, 1, a0, &err);
    int ok = rc == 0 && copied && token >= 0 && token < V && memcmp(a3, a0, (size_t)V * sizeof(float)) == 0;
    printf("%s copy_prefix with the prompt's call in flight: the copy follows it, the next position's logits bit-identical in both slots%s%s\n",
           ok ? "PASS" : "FAIL", rc ? ": " : "", rc ? err.msg : "");
    free(a3), free(a0);
    return failures + !ok;
}

/* Whether two runs gave the same tokens, finish reasons and logprobs. */
static int same_generation(const RequestResult *a, const RequestResult *b, int n) {
    for (int i = 0; i < n; i++) {
        if (a[i].n_tokens != b[i].n_tokens || a[i].finish != b[i].finish || !a[i].logprobs != !b[i].logprobs) return 0;
        if (a[i].n_tokens && memcmp(a[i].tokens, b[i].tokens, (size_t)a[i].n_tokens * sizeof(int))) return 0;
        for (int t = 0; a[i].logprobs && t < a[i].n_tokens; t++) {
            const TokenLogprobs *x = &a[i].logprobs[t], *y = &b[i].logprobs[t];
            if (x->logprob != y->logprob || x->n_top != y->n_top) return 0;
            for (int k = 0; k < x->n_top; k++)
                if (x->top_id[k] != y->top_id[k] || x->top_logprob[k] != y->top_logprob[k]) return 0;
        }
    }
    return 1;
}

/* 6. generate_run over the GPU with requests of several choices (laid out
 * as app_build_requests does: a prompt's choices next to each other),
 * admitted together at batch 8, so the choices after the first copy the
 * prompt's cache (copy_prefix; one prompt of 300 tokens spans two prefill
 * calls and wraps the sliding ring); then the same with copy_prefix taken
 * out of the ops table, each choice prefilling its prompt itself. Tokens,
 * finish reasons and logprobs must be the same, with positions shared in
 * the first run and none in the second. */
enum { GEN_PROMPTS = 6, GEN_REQ = 11, GEN_MAX_PROMPT = 300 };
/* The requests of tests 6 and 7: the first 8 completions (prompts 0-3) are
 * admitted together. ids: room for GEN_PROMPTS x GEN_MAX_PROMPT tokens.
 * Returns their number. */
static int gen_requests(int V, int *ids, GenRequest reqs[GEN_REQ]) {
    static const int plen[GEN_PROMPTS] = {GEN_MAX_PROMPT, 5, 1, 20, 9, 14}, choices[GEN_PROMPTS] = {2, 2, 1, 3, 1, 2};
    static const int max_new[GEN_PROMPTS] = {8, 12, 6, 10, 8, 12};
    static const SampleParams params[GEN_PROMPTS] = {
        {1.0f, 0.95f, 0.0f, 0, 2},  {0.9f, 0.95f, 0.0f, 0, -1}, {0.9f, 1.0f, 0.0f, 40, 3},
        {1.0f, 0.9f, 0.05f, 0, 5},  {0.0f, 1.0f, 0.0f, 0, 0},   {0.8f, 1.0f, 0.0f, 40, -1}};
    unsigned seed = 2024;
    int n = 0;
    for (int i = 0; i < GEN_PROMPTS; i++) {
        int *p = ids + (size_t)i * GEN_MAX_PROMPT;
        for (int t = 0; t < plen[i]; t++) p[t] = (int)(lcg(&seed) % (unsigned)V);
        for (int c = 0; c < choices[i]; c++, n++)
            reqs[n] = (GenRequest){p, plen[i], {max_new[i], params[i], 7, i % 2, NULL, 0, NULL}, (uint64_t)i, c, n};
    }
    return n;
}

int test_generate_choices(Backend *gpu, int V) {
    int *ids = malloc((size_t)GEN_PROMPTS * GEN_MAX_PROMPT * sizeof(int));
    GenRequest reqs[GEN_REQ];
    int n = gen_requests(V, ids, reqs);
    BackendOps no_copy_ops = *gpu->ops;
    no_copy_ops.copy_prefix = NULL;
    Backend no_copy = *gpu; /* the same device state, without copy_prefix */
    no_copy.ops = &no_copy_ops;
    RequestResult with[GEN_REQ], without[GEN_REQ];
    memset(with, 0, sizeof with), memset(without, 0, sizeof without);
    GenStats s1, s2;
    Error err;
    int rc = generate_run(gpu, reqs, n, (GenLimits){8, 0, 0}, with, &s1, NULL, NULL, &err);
    if (rc == 0) rc = generate_run(&no_copy, reqs, n, (GenLimits){8, 0, 0}, without, &s2, NULL, NULL, &err);
    long tokens = 0;
    for (int i = 0; i < n; i++) tokens += with[i].n_tokens;
    int ok = rc == 0 && n == GEN_REQ && same_generation(with, without, n) && tokens > 0 && s1.shared_prefix_tokens > 0 &&
             s2.shared_prefix_tokens == 0;
    printf("%s generate with choices: %d completions (%ld tokens) the same with copy_prefix (%ld prompt positions shared) as without%s%s\n",
           ok ? "PASS" : "FAIL", n, tokens, rc == 0 ? s1.shared_prefix_tokens : 0L, rc ? ": " : "", rc ? err.msg : "");
    for (int i = 0; i < n; i++) result_free(&with[i]), result_free(&without[i]);
    free(ids);
    return !ok;
}

/* Test 7's count of a backend's reserves: those refused for room, the
 * positions held at once (at most), and now. */
static struct {
    const BackendOps *ops;
    int reserved[64];
    long held, most_held, refused;
} counted;
static int counted_reserve(Backend *b, int slot, int n, Error *err) {
    int rc = counted.ops->reserve(b, slot, n, err);
    counted.held -= counted.reserved[slot];
    counted.reserved[slot] = rc == 0 ? n : 0;
    counted.held += counted.reserved[slot];
    counted.refused += rc == 1;
    if (counted.held > counted.most_held) counted.most_held = counted.held;
    return rc;
}

/* 7. the paged KV cache. (a) generate_run on a second GPU backend whose
 * pool holds 400 positions for 8 slots of 320 (the first 8 completions
 * need 476 at once):
 * requests wait for pages that others give back, never more than the pool
 * is held, none at the end, and the tokens, finish reasons and logprobs
 * equal those of the first backend, whose pool holds every slot's context.
 * (b) A backend whose pool is one context of 48 positions (3 pages): rows
 * and copies beyond what a slot holds are refused, a full pool answers 1,
 * more than the context is an error; a prompt in slot 1, in pages slot 0
 * wrote and gave back, gives logits bit-identical to the first backend's;
 * and its first 15 positions copied into slot 0's page (copy_prefix by
 * the page table) give position 15 the same logits there. */
/* A GPU backend of its own beside the test's, at the same precision. */
static Backend *another_gpu(const Model *m, int slots, int context, long positions, Precision precision, Error *err) {
    Backend *b = hip_backend_create_if_available(m, slots, context, 0, hip_kv_cache_bytes(&m->config, slots, context, positions), NULL, err);
    if (b && backend_set_precision(b, precision, err) != 0) {
        backend_destroy(b);
        return NULL;
    }
    return b;
}

int test_paged_cache(Backend *gpu, int V, Precision precision) {
    const Model *m = gpu->model;
    int *ids = malloc((size_t)GEN_PROMPTS * GEN_MAX_PROMPT * sizeof(int)), failures = 0;
    GenRequest reqs[GEN_REQ];
    int n = gen_requests(V, ids, reqs);
    Error err;
    Backend *small = another_gpu(m, 8, 320, 400, precision, &err);
    RequestResult big_r[GEN_REQ], small_r[GEN_REQ];
    memset(big_r, 0, sizeof big_r), memset(small_r, 0, sizeof small_r);
    GenStats stats;
    int rc = small ? generate_run(gpu, reqs, n, (GenLimits){8, 0, 0}, big_r, &stats, NULL, NULL, &err) : -1;
    if (rc == 0) {
        BackendOps ops = *small->ops;
        Backend watched = *small;
        counted.ops = small->ops, ops.reserve = counted_reserve, watched.ops = &ops;
        rc = generate_run(&watched, reqs, n, (GenLimits){8, 0, 0}, small_r, &stats, NULL, NULL, &err);
    }
    int ok = rc == 0 && small->max_slots == 8 && small->kv_positions == 400 && same_generation(big_r, small_r, n) &&
             counted.refused > 0 && counted.most_held <= small->kv_positions && counted.held == 0;
    printf("%s paged KV cache: %d completions over a pool of %ld positions equal those over one of %ld (%ld reserves waited for room, at "
           "most %ld positions held at once, none at the end)%s%s\n",
           ok ? "PASS" : "FAIL", n, small ? small->kv_positions : 0L, gpu->kv_positions, counted.refused, counted.most_held, rc ? ": " : "",
           rc ? err.msg : "");
    failures += !ok;
    for (int i = 0; i < n; i++) result_free(&big_r[i]), result_free(&small_r[i]);
    backend_destroy(small);
    free(ids);

    enum { CTX = 48, PLEN = 24 };
    Backend *one = another_gpu(m, 2, CTX, CTX, precision, &err);
    if (!one) {
        printf("FAIL paged KV cache: a backend of one context: %s\n", err.msg);
        return failures + 1;
    }
    float *la = malloc((size_t)PLEN * V * sizeof(float)), *lb = malloc((size_t)PLEN * V * sizeof(float));
    BatchRow rows[PLEN], r1 = {1, 0, 1, 1}, r16 = {0, 16, 1, 1};
    unsigned seed = 77;
    for (int t = 0; t < PLEN; t++) rows[t] = (BatchRow){1, t, (int)(lcg(&seed) % (unsigned)V), 1};
    BatchRow fill[CTX];
    for (int t = 0; t < CTX; t++) fill[t] = (BatchRow){0, t, (int)(lcg(&seed) % (unsigned)V), t == CTX - 1};
    Error e0, e1, e2, e3, e4, e5, e6, e7;
    int filled = backend_forward(one, fill, CTX, la, &e0) == 0; /* slot 0 writes all 3 pages: slot 1 gets written pages below */
    int unheld = backend_forward(one, &r1, 1, la, &e1) != 0 && strstr(e1.msg, "slot 1 holds 0 positions of the KV cache, not position 0");
    int shrunk = one->ops->reserve(one, 0, 16, &e2) == 0;
    int past = backend_forward(one, &r16, 1, la, &e3) != 0 && strstr(e3.msg, "slot 0 holds 16 positions of the KV cache, not position 16");
    int full = one->ops->reserve(one, 1, 40, &e4) == 1;
    int too_long = one->ops->reserve(one, 0, CTX + 1, &e4) == -1 && strstr(e4.msg, "cannot reserve 49 positions for slot 0");
    int copy = one->ops->copy_prefix(one, 1, 0, 5, &e5) != 0 && strstr(e5.msg, "to slot 1 (holding 0)");
    int moved = one->ops->reserve(one, 1, 32, &e6) == 0 && backend_forward(one, rows, PLEN, la, &e6) == 0;
    /* copy_prefix by the page table: slot 1's first 15 positions into slot 0's one page, then position 15 in slot 0 */
    BatchRow r15 = rows[15];
    r15.slot = 0;
    int copied = moved && one->ops->copy_prefix(one, 0, 1, 15, &e7) == 0 && backend_forward(one, &r15, 1, lb, &e7) == 0 &&
                 memcmp(lb, la + (size_t)15 * V, (size_t)V * sizeof(float)) == 0;
    for (int t = 0; t < PLEN; t++) rows[t].slot = 0;
    moved = moved && gpu->ops->reserve(gpu, 0, PLEN, &e6) == 0 && backend_forward(gpu, rows, PLEN, lb, &e6) == 0 &&
            memcmp(la, lb, (size_t)PLEN * V * sizeof(float)) == 0;
    ok = filled && unheld && shrunk && past && full && too_long && copy && moved && copied;
    printf("%s paged KV cache: rows and copies a slot does not hold are refused, a full pool says so (1), more than the context is an "
           "error, a prompt in pages another slot wrote and gave back has the same logits, a copy by pages gives the next position's "
           "(%d %d %d %d %d %d %d %d %d)\n",
           ok ? "PASS" : "FAIL", filled, unheld, shrunk, past, full, too_long, copy, moved, copied);
    failures += !ok;
    free(la), free(lb);
    backend_destroy(one);
    return failures;
}
