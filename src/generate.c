#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "stop_match.h"
#include "tokenizer.h"

int is_stop_token(int id) { return id == TOKEN_RETURN || id == TOKEN_ENDOFTEXT || id == TOKEN_CALL; }

typedef struct {
    int request; /* index into reqs, -1 when the slot is free */
    int pos;     /* next position to fill */
    int last;    /* last sampled token (the next input) */
    Rng rng;
    StopMatch stop; /* the completion's text, where the request has stop strings */
} Slot;

/* Records a sampled token for slot s; returns 1 when the request is finished. */
static int accept_token(Slot *s, const GenRequest *r, RequestResult *res, int token, const TokenLogprobs *lp, int max_context) {
    if (!r->params.ignore_eos && is_stop_token(token)) {
        res->finish = FINISH_STOP;
        return 1;
    }
    if (res->logprobs) res->logprobs[res->n_tokens] = *lp;
    res->tokens[res->n_tokens++] = token;
    if (r->params.n_stop > 0) {
        size_t n = 0;
        const uint8_t *bytes = tokenizer_token_bytes(r->params.tok, token, &n);
        if (stop_match_append(&s->stop, r->params.stop, r->params.n_stop, bytes ? bytes : (const uint8_t *)"", bytes ? n : 0)) {
            res->finish = FINISH_STOP; /* app_decode_text cuts the text where the stop string begins */
            return 1;
        }
    }
    s->last = token;
    if (res->n_tokens >= r->params.max_new_tokens) {
        res->finish = FINISH_LENGTH;
        return 1;
    }
    if (s->pos >= max_context) { /* no room to feed the token back */
        res->finish = FINISH_CONTEXT;
        return 1;
    }
    return 0;
}

/* One forward call being built or in flight: its rows, and for each row
 * that samples (in row order) its spec, its slot and the token it got. */
typedef struct {
    BatchRow *rows;
    int n_rows;
    SampleSpec *spec;
    int *want_slot;
    int n_want;
    int *tokens;
    TokenLogprobs *logprobs; /* for rows whose spec asked */
} Call;

/* Everything the loop carries between calls. */
typedef struct {
    Backend *b;
    const GenRequest *reqs;
    RequestResult *out;
    int n, done, max_batch;
    Slot *slots;
    Call call, ahead; /* ahead: the decode step enqueued behind `call` */
    GenStats *stats;
    double t_start; /* now_seconds() when the run began: the requests' times count from it */
    GenProgress progress;
    void *progress_ctx;
} Loop;

static void call_alloc(Call *c, int max_rows) {
    c->rows = xmalloc((size_t)max_rows * sizeof *c->rows);
    c->spec = xmalloc((size_t)max_rows * sizeof *c->spec);
    c->want_slot = xmalloc((size_t)max_rows * sizeof *c->want_slot);
    c->tokens = xmalloc((size_t)max_rows * sizeof *c->tokens);
    c->logprobs = xmalloc((size_t)max_rows * sizeof *c->logprobs);
    c->n_rows = c->n_want = 0;
}
static void call_free(Call *c) {
    free(c->rows);
    free(c->spec);
    free(c->want_slot);
    free(c->tokens);
    free(c->logprobs);
}

static void finish_slot(Loop *L, Slot *s) {
    L->out[s->request].finish_s = now_seconds() - L->t_start;
    s->request = -1;
    L->done++;
    if (L->progress) L->progress(L->progress_ctx, L->done, L->n, L->stats);
}

/* Hands each sampled token of a finished call to its slot. Rows of slots
 * that are no longer active (a pipelined step enqueued before its slot's
 * stop token was seen) are dropped. */
static void accept_call(Loop *L, Call *c, int decode) {
    double now = now_seconds() - L->t_start;
    for (int j = 0; j < c->n_want; j++) {
        Slot *s = &L->slots[c->want_slot[j]];
        if (s->request < 0) continue;
        const GenRequest *r = &L->reqs[s->request];
        s->pos = decode ? s->pos + 1 : r->prompt_len;
        if (!decode) L->out[s->request].first_token_s = now;
        if (decode) L->stats->decode_tokens++;
        if (accept_token(s, r, &L->out[s->request], c->tokens[j], &c->logprobs[j], L->b->max_context)) finish_slot(L, s);
    }
    c->n_rows = c->n_want = 0;
}

/* Runs the prefill call built so far, one call at a time, and hands each
 * sampled token to its slot. */
static int run_prefill_call(Loop *L, Error *err) {
    Call *c = &L->call;
    if (c->n_rows == 0) return 0;
    double t0 = now_seconds();
    int rc = backend_sample_logprobs(L->b, c->rows, c->n_rows, c->spec, c->tokens, c->logprobs, err);
    L->stats->prefill_seconds += now_seconds() - t0;
    L->stats->prefill_tokens += c->n_rows;
    if (rc != 0) return rc;
    accept_call(L, c, 0);
    return 0;
}

static void add_row(Loop *L, Call *c, int slot, int pos, int token, int want, const GenParams *p) {
    c->rows[c->n_rows++] = (BatchRow){slot, pos, token, want};
    if (!want) return;
    c->spec[c->n_want] = sample_spec(&p->sample, &L->slots[slot].rng);
    c->want_slot[c->n_want++] = slot;
}

/* Whether slot si's row in a decode step can end its request only by
 * sampling a stop token: then the next step's row for it may be enqueued
 * before that token is known (at worst it is computed and dropped). */
static int only_a_stop_can_end(const Loop *L, int si) {
    const Slot *s = &L->slots[si];
    return L->out[s->request].n_tokens + 1 < L->reqs[s->request].params.max_new_tokens && s->pos + 1 < L->b->max_context;
}

/* The decode step in L->call and the steps after it, each enqueued before
 * the tokens of the one ahead of it come back (the device feeds them back
 * itself), for as long as no request can end but by a stop token. Returns
 * with nothing in flight once a request ended, or may end at the step in
 * flight, so that the outer loop can refill its slot. A request's tokens
 * are those run_call would give step by step: they depend on it alone. */
static int run_decode(Loop *L, Error *err) {
    Backend *b = L->b;
    Call *cur = &L->call, *next = &L->ahead;
    double t0 = now_seconds();
    int rc = backend_submit(b, cur->rows, cur->n_rows, cur->spec, err);
    while (rc == 0) {
        int chain = 1;
        for (int j = 0; j < cur->n_want && chain; j++) chain = only_a_stop_can_end(L, cur->want_slot[j]);
        if (chain) {
            for (int j = 0; j < cur->n_want; j++) {
                const Slot *s = &L->slots[cur->want_slot[j]];
                add_row(L, next, cur->want_slot[j], s->pos + 1, TOKEN_OF_PREVIOUS(j), 1, &L->reqs[s->request].params);
            }
            if ((rc = backend_submit(b, next->rows, next->n_rows, next->spec, err)) != 0) break;
        }
        if ((rc = backend_collect_logprobs(b, cur->tokens, cur->logprobs, err)) != 0) break;
        double now = now_seconds(); /* counted step by step, so that the progress line's rate is current */
        L->stats->decode_seconds += now - t0;
        t0 = now;
        int done_before = L->done;
        accept_call(L, cur, 1);
        if (L->progress) L->progress(L->progress_ctx, L->done, L->n, L->stats); /* redrawn every few seconds */
        if (!chain) break;
        if (L->done != done_before) { /* a stop token: take the step in flight, then refill */
            if ((rc = backend_collect_logprobs(b, next->tokens, next->logprobs, err)) == 0) accept_call(L, next, 1);
            break;
        }
        Call in_flight = *next; /* becomes the current step; cur's buffers build the next */
        *next = *cur, *cur = in_flight;
    }
    L->stats->decode_seconds += now_seconds() - t0; /* wall time: the host's turns overlap the device's */
    return rc;
}

/* Puts the next requests into free slots and prefills their prompts
 * together, in calls of up to max_rows rows (a long prompt spans calls);
 * each prompt's last row samples its first token. Returns how many were
 * admitted, or -1. */
static int admit_and_prefill(Loop *L, int *next, Error *err) {
    Backend *b = L->b;
    int admitted = 0, shared_slot = -1, shared_from = -1; /* the last prompt prefilled in this pass, and its request */
    for (int si = 0; si < L->max_batch && *next < L->n; si++) {
        Slot *s = &L->slots[si];
        if (s->request >= 0) continue;
        const GenRequest *r = &L->reqs[*next];
        RequestResult *res = &L->out[*next];
        res->prompt_tokens = r->prompt_len;
        size_t cap = (size_t)(r->params.max_new_tokens > 0 ? r->params.max_new_tokens : 1);
        res->tokens = xmalloc(cap * sizeof(int));
        res->logprobs = r->params.sample.logprobs >= 0 ? xmalloc(cap * sizeof *res->logprobs) : NULL;
        res->n_tokens = 0;
        if (r->prompt_len <= 0 || r->prompt_len > b->max_context)
            return error_set(err, "request %llu: prompt of %d tokens does not fit the context of %d", (unsigned long long)r->index,
                             r->prompt_len, b->max_context);
        s->request = (*next)++;
        if (r->params.max_new_tokens <= 0) {
            res->finish = FINISH_LENGTH;
            finish_slot(L, s);
            si--; /* still free */
            continue;
        }
        s->pos = 0;
        s->rng = gen_choice_stream(r->params.seed, r->index, r->choice);
        stop_match_reset(&s->stop);
        admitted++;
        int t = 0;
        if (r->choice > 0 && shared_slot >= 0 && L->reqs[shared_from].index == r->index && r->prompt_len > 1 && b->ops->copy_prefix) {
            /* an earlier choice's prompt, all but the last row: copied once it has run */
            if (run_prefill_call(L, err) != 0 || b->ops->copy_prefix(b, si, shared_slot, r->prompt_len - 1, err) != 0) return -1;
            t = r->prompt_len - 1;
            L->stats->shared_prefix_tokens += t;
        } else {
            shared_slot = si, shared_from = s->request;
        }
        for (; t < r->prompt_len; t++) {
            add_row(L, &L->call, si, t, r->prompt[t], t == r->prompt_len - 1, &r->params);
            if (L->call.n_rows == b->max_rows && run_prefill_call(L, err) != 0) return -1;
        }
    }
    if (run_prefill_call(L, err) != 0) return -1;
    return admitted;
}

int generate_run(Backend *b, const GenRequest *reqs, int n, int max_batch, RequestResult *out, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err) {
    if (max_batch > b->max_slots) max_batch = b->max_slots;
    if (max_batch < 1) max_batch = 1;
    if (max_batch > b->max_rows) max_batch = b->max_rows; /* a decode step is one row per slot */
    Loop L = {.b = b, .reqs = reqs, .out = out, .n = n, .max_batch = max_batch, .stats = stats, .t_start = now_seconds(),
              .progress = progress, .progress_ctx = progress_ctx};
    L.slots = xcalloc((size_t)max_batch, sizeof *L.slots);
    for (int i = 0; i < max_batch; i++) {
        L.slots[i].request = -1;
        stop_match_init(&L.slots[i].stop);
    }
    call_alloc(&L.call, b->max_rows);
    call_alloc(&L.ahead, b->max_rows);
    memset(stats, 0, sizeof *stats);
    int next = 0, rc = 0;
    while (L.done < n && rc == 0) {
        int admitted;
        do admitted = admit_and_prefill(&L, &next, err);
        while (admitted > 0);
        if (admitted < 0) {
            rc = -1;
            break;
        }
        /* one decode step for every active slot, and the steps chained after it */
        for (int si = 0; si < max_batch; si++)
            if (L.slots[si].request >= 0) add_row(&L, &L.call, si, L.slots[si].pos, L.slots[si].last, 1, &reqs[L.slots[si].request].params);
        if (L.call.n_rows == 0) continue;
        rc = run_decode(&L, err);
    }
    for (int i = 0; i < max_batch; i++) stop_match_free(&L.slots[i].stop);
    free(L.slots);
    call_free(&L.call);
    call_free(&L.ahead);
    return rc;
}
