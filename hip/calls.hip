// calls.hip - one forward call of the backend interface (src/backend.h):
// the rows checked and copied in (one packed copy), the step enqueued (a
// captured graph for decode steps), the tokens (and logprobs where a row
// asks) or logits copied out; and
// the two-deep queue of submit/collect, so the host builds the next decode
// step while the device runs this one.
#include "hip_state.h"

/* Whether a step's q/k/v are finished inside the attention kernel
 * (GETP_FUSED_ROPE=1): a decode-sized step whose rows are all of different
 * slots (a row reads the keys of its slot's other rows from the cache,
 * which only a kernel boundary orders), heads of at most 64 values. */
static bool fused_rope_step(const HipState *s, const BatchRow *rows, int T) {
    if (!s->fused_rope || T > DECODE_ROWS || s->c.head_dim > 64) return false;
    for (int a = 0; a < T; a++)
        for (int b = 0; b < a; b++)
            if (rows[a].slot == rows[b].slot) return false;
    return true;
}

/* The step for rows already on the device: replayed from a graph when it
 * is a decode step (every row wants logits) of a size, kind (`sample`,
 * STEP_*) and fused_rope_step seen before. */
static int enqueue_graph_or_step(HipState *s, int T, int n_out, int sample, bool fused_rope, Error *err) {
    if (block_trace_begin(s, err)) return -1;
    if (n_out != T || s->no_graphs) return forward_enqueue_step(s, T, n_out, sample, fused_rope, err);

    GraphEntry *g = nullptr;
    for (int i = 0; i < s->n_graphs && !g; i++)
        if (s->graphs[i].n_rows == T && s->graphs[i].sample == sample && s->graphs[i].fused_rope == fused_rope) g = &s->graphs[i];
    if (!g && s->n_graphs < MAX_GRAPHS) {
        hipGraph_t graph;
        CHECK(hipStreamBeginCapture(s->stream, hipStreamCaptureModeThreadLocal), err);
        int rc = forward_enqueue_step(s, T, n_out, sample, fused_rope, err);
        hipError_t e = hipStreamEndCapture(s->stream, &graph);
        if (rc != 0) return -1;
        CHECK(e, err);
        g = &s->graphs[s->n_graphs];
        e = hipGraphInstantiate(&g->exec, graph, nullptr, nullptr, 0);
        (void)hipGraphDestroy(graph); /* the instance no longer needs it; e says whether there is one */
        CHECK(e, err);
        g->n_rows = T, g->sample = sample, g->fused_rope = fused_rope;
        s->n_graphs++;
    }
    if (!g) return forward_enqueue_step(s, T, n_out, sample, fused_rope, err);
    CHECK(hipGraphLaunch(g->exec, s->stream), err);
    return 0;
}

/* A slot's rows in one call may span at most max_slot_rows positions: a
 * sliding layer's ring holds the window and that many more. Checked for
 * calls of more rows than that (a call of fewer could span more only with
 * positions left out between its rows, which no caller makes). slot_span
 * stays all -1 between calls. */
static int check_slot_spans(HipState *s, const BatchRow *rows, int T, Error *err) {
    int bad = -1, lo = 0, hi = 0;
    for (int t = 0; t < T; t++) {
        int *span = s->slot_span + 2 * rows[t].slot, p = rows[t].pos;
        if (span[1] < 0) span[0] = span[1] = p;
        span[0] = p < span[0] ? p : span[0], span[1] = p > span[1] ? p : span[1];
    }
    for (int t = 0; t < T; t++) {
        int *span = s->slot_span + 2 * rows[t].slot;
        if (bad < 0 && span[1] >= 0 && span[1] - span[0] >= s->max_slot_rows) bad = rows[t].slot, lo = span[0], hi = span[1];
        span[0] = span[1] = -1;
    }
    if (bad >= 0)
        return error_set(err, "hip backend: slot %d has positions %d to %d in one call; one call adds at most %d positions to a slot", bad, lo, hi,
                         s->max_slot_rows);
    return 0;
}

/* Checks the rows, copies them in from host buffer `buf`, enqueues the
 * step (a graph for decode steps) and, when sampling, the copy of its
 * tokens back, and of their logprobs when a row asks; records
 * call_done[buf]. Does not wait. */
static int run_step(Backend *b, const BatchRow *rows, int T, const SampleSpec *spec, int buf, int *n_out_ret, Error *err) {
    HipState *s = (HipState *)b->impl;
    int V = s->c.vocab_size, n_out = 0, *in = s->h_input[buf];
    if (T > b->max_rows) return error_set(err, "hip backend: %d rows exceed the batch limit %d", T, b->max_rows);
    for (int t = 0; t < T; t++) {
        const BatchRow *r = &rows[t];
        if (r->slot < 0 || r->slot >= b->max_slots || r->pos < 0 || r->pos >= b->max_context || r->token < -s->fed_back_n || r->token >= V)
            return error_set(err, "hip backend: row %d (slot %d, position %d, token %d) out of range%s", t, r->slot, r->pos, r->token,
                             r->token < 0 ? " (a fed-back token names a row the previous call did not sample)" : "");
        if (!kv_cache_holds(s, r->slot, r->pos))
            return error_set(err, "hip backend: slot %d holds %d positions of the KV cache, not position %d (reserve it first)", r->slot,
                             kv_pages_positions(&s->pages, r->slot), r->pos);
        in[t] = r->slot;
        in[T + t] = r->pos;
        in[2 * T + t] = r->token;
        in[3 * T + t] = r->want_logits ? n_out++ : -1;
    }
    if (s->max_slot_rows < T && check_slot_spans(s, rows, T, err)) return -1;
    profile_step(s, rows, T, n_out);
    int sample = spec != nullptr ? STEP_TOKENS : STEP_LOGITS;
    if (sample) memcpy(step_specs(in, T), spec, (size_t)n_out * sizeof *spec);
    for (int j = 0; sample && j < n_out; j++)
        if (spec[j].logprobs >= 0) sample = STEP_LOGPROBS;
    CHECK(hipMemcpyAsync(s->d_input, in, step_input_bytes(T, sample ? n_out : 0), hipMemcpyHostToDevice, s->stream), err);
    int rc = enqueue_graph_or_step(s, T, n_out, sample, fused_rope_step(s, rows, T), err);
    if (rc == 0 && sample && n_out)
        CHECK(hipMemcpyAsync(s->h_tokens[buf], s->d_tokens, (size_t)n_out * sizeof(int), hipMemcpyDeviceToHost, s->stream), err);
    if (rc == 0 && sample == STEP_LOGPROBS) /* n_out > 0: a row asked */
        CHECK(hipMemcpyAsync(s->h_logprobs[buf], s->d_logprobs, (size_t)n_out * sizeof(TokenLogprobs), hipMemcpyDeviceToHost, s->stream), err);
    if (rc == 0) CHECK(hipEventRecord(s->call_done[buf], s->stream), err);
    s->fed_back_n = sample ? n_out : 0;
    s->call_rows[buf] = T, s->call_logprobs[buf] = sample == STEP_LOGPROBS;
    *n_out_ret = n_out;
    return rc;
}

/* The calls in flight must be collected before a call that waits for
 * itself (forward). */
int no_call_in_flight(const HipState *s, Error *err) {
    if (s->submitted != s->collected)
        return error_set(err, "hip backend: %ld call(s) submitted and not collected", s->submitted - s->collected);
    return 0;
}

/* After a call's wait: the profile's and the block trace's records. */
static int call_finished(HipState *s, Error *err) {
    profile_collect(s);
    return block_trace_end(s, err);
}

int calls_forward(Backend *b, const BatchRow *rows, int T, float *logits, Error *err) {
    HipState *s = (HipState *)b->impl;
    int n_out, buf = (int)(s->submitted % 2);
    if (T <= 0) return 0;
    if (no_call_in_flight(s, err) || run_step(b, rows, T, nullptr, buf, &n_out, err) != 0) return -1;
    if (n_out) CHECK(hipMemcpyAsync(logits, s->logits, (size_t)n_out * s->c.vocab_size * sizeof(float), hipMemcpyDeviceToHost, s->stream), err);
    CHECK(hipStreamSynchronize(s->stream), err);
    return call_finished(s, err);
}

int calls_submit(Backend *b, const BatchRow *rows, int T, const SampleSpec *spec, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (s->submitted - s->collected >= 2) return error_set(err, "hip backend: two calls are in flight already; collect one first");
    if (T <= 0) return error_set(err, "hip backend: a submitted call needs rows");
    int buf = (int)(s->submitted % 2);
    if (run_step(b, rows, T, spec, buf, &s->call_n_out[buf], err) != 0) return -1;
    s->submitted++;
    if (!s->serial) return 0;
    CHECK(hipEventSynchronize(s->call_done[buf]), err);
    return call_finished(s, err);
}

int calls_collect(Backend *b, int *tokens, TokenLogprobs *logprobs, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (s->collected == s->submitted) return error_set(err, "hip backend: no call in flight to collect");
    int buf = (int)(s->collected % 2);
    CHECK(hipEventSynchronize(s->call_done[buf]), err);
    memcpy(tokens, s->h_tokens[buf], (size_t)s->call_n_out[buf] * sizeof(int));
    if (logprobs && s->call_logprobs[buf]) { /* the rows that asked; the others' entries stay the caller's */
        const SampleSpec *spec = step_specs(s->h_input[buf], s->call_rows[buf]);
        for (int j = 0; j < s->call_n_out[buf]; j++)
            if (spec[j].logprobs >= 0) logprobs[j] = s->h_logprobs[buf][j];
    }
    s->collected++;
    return s->serial ? 0 : call_finished(s, err);
}

int calls_init(HipState *s, int max_slots, Error *err) {
    const size_t input_bytes = step_input_bytes(s->max_rows, s->max_rows); /* the largest call's */
    const size_t logprobs_bytes = s->max_rows * sizeof(TokenLogprobs);
    if (device_alloc(&s->d_input, input_bytes, err) || device_alloc(&s->d_tokens, s->max_rows * sizeof(int), err) ||
        device_alloc(&s->d_logprobs, logprobs_bytes, err))
        return -1;
    CHECK(hipMemset(s->d_input, 0, input_bytes), err);
    CHECK(hipMemset(s->d_logprobs, 0, logprobs_bytes), err); /* the rows that did not ask are copied back too */
    s->slot_span = (int *)xmalloc((size_t)max_slots * 2 * sizeof(int));
    memset(s->slot_span, 0xff, (size_t)max_slots * 2 * sizeof(int)); /* all -1 */
    for (int i = 0; i < 2; i++) {
        CHECK(hipHostMalloc((void **)&s->h_input[i], input_bytes, hipHostMallocDefault), err);
        CHECK(hipHostMalloc((void **)&s->h_tokens[i], s->max_rows * sizeof(int), hipHostMallocDefault), err);
        CHECK(hipHostMalloc((void **)&s->h_logprobs[i], logprobs_bytes, hipHostMallocDefault), err);
        CHECK(hipEventCreateWithFlags(&s->call_done[i], hipEventDisableTiming), err);
    }
    return 0;
}

/* teardown: nothing useful can be done about a failure here */
void calls_free(HipState *s) {
    for (int i = 0; i < s->n_graphs; i++) (void)hipGraphExecDestroy(s->graphs[i].exec);
    if (s->d_input) (void)hipFree(s->d_input);
    if (s->d_tokens) (void)hipFree(s->d_tokens);
    if (s->d_logprobs) (void)hipFree(s->d_logprobs);
    free(s->slot_span);
    for (int i = 0; i < 2; i++) {
        if (s->h_input[i]) (void)hipHostFree(s->h_input[i]);
        if (s->h_tokens[i]) (void)hipHostFree(s->h_tokens[i]);
        if (s->h_logprobs[i]) (void)hipHostFree(s->h_logprobs[i]);
        if (s->call_done[i]) (void)hipEventDestroy(s->call_done[i]);
    }
}
