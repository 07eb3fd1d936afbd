#include "generate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "stop_match.h"
#include "tokenizer.h"

/* A prompt prefix that most requests share (a chat's system message) is
 * computed once, in a slot of its own, and copied into each request that
 * starts with it, when it is at least SHARED_PREFIX_MIN tokens and there is
 * a spare slot or at least SHARED_PREFIX_MIN_BATCH of them. */
#define SHARED_PREFIX_MIN 16
#define SHARED_PREFIX_MIN_BATCH 16

int is_stop_token(int id) { return id == TOKEN_RETURN || id == TOKEN_ENDOFTEXT || id == TOKEN_CALL; }

typedef enum {
    SLOT_FREE,
    SLOT_WAIT_PREFIX, /* waiting to copy a prefix's cache: an earlier choice's prompt, or the shared prefix */
    SLOT_PREFILL,     /* prompt rows still to submit */
    SLOT_DECODE,      /* one row per step */
} SlotPhase;

typedef struct {
    int request; /* index into reqs, -1 when the slot is free */
    SlotPhase phase;
    int fed;           /* positions submitted so far: the next row's position */
    int last;          /* last accepted token: the next input when none is pending */
    long pending_call; /* the call whose sample this slot's next row needs, -1: none */
    long row_call;     /* the call of its last decode row (or of its admission) */
    int pending_j;     /* ... its sampled row there */
    int prefix_slot, prefix_request, prefix_len; /* SLOT_WAIT_PREFIX: the slot whose first prefix_len positions it copies */
    Rng rng;
    StopMatch stop; /* the completion's text, where the request has stop strings */
} Slot;

/* Records a sampled token for slot s, that token to be fed at position
 * feed_pos; returns 1 when the request is finished. */
static int accept_token(Slot *s, const GenRequest *r, RequestResult *res, int token, const TokenLogprobs *lp, int feed_pos, int max_context) {
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
    if (feed_pos >= max_context) { /* no room to feed the token back */
        res->finish = FINISH_CONTEXT;
        return 1;
    }
    return 0;
}

/* One forward call being built or in flight: its rows, and for each row
 * that samples (in row order) its spec, whose it is, and the token it got. */
typedef struct {
    long seq; /* calls are numbered from 1 as they are built */
    BatchRow *rows;
    int n_rows, prefill_rows;
    SampleSpec *spec;
    int *want_slot, *want_request, *want_pos, *want_first; /* want_first: a prompt's last row */
    int n_want;
    int *tokens;
    TokenLogprobs *logprobs; /* for rows whose spec asked */
    double seconds;          /* wall time charged to it (see collect_in_flight) */
} Call;

/* Everything the loop carries between calls. */
typedef struct {
    Backend *b;
    const GenRequest *reqs;
    RequestResult *out;
    int n, done, max_batch, step_rows;
    int *order, next; /* the requests in the order they are admitted; next: the first of them not yet admitted */
    int cursor;        /* the slot where turns among equal chains start in the next call */
    struct Claim *ready, *prompt_claims; /* scratch of add_decode_rows: [max_batch], [max_batch + 1] (the prefix, then prompts
                                            in slots or bound for free ones) */
    int admit_refused; /* the KV cache had no room for the next request; none has ended since */
    Slot *slots;
    int *queue, n_queue; /* slots waiting for or in prefill, in the order they were admitted */
    Call calls[2];
    Call *in_flight; /* submitted, not yet collected: at most one between steps */
    long n_calls;
    int share_slot;      /* the slot of the last request admitted with its own prompt, for its later choices */
    struct {
        int slot, len, fed; /* slot -1: none; fed: positions added to calls */
        long last_call;     /* the call with its last row */
        const int *tokens;
    } prefix;            /* the prompt prefix most requests share, in a slot of its own */
    GenStats *stats;
    double t_start;      /* now_seconds() when the run began: the requests' times count from it */
    double t_mark;       /* when the last call was collected */
    double submit_since; /* seconds spent submitting since then */
    GenProgress progress;
    void *progress_ctx;
} Loop;

static void call_alloc(Call *c, int max_rows) {
    c->rows = xmalloc((size_t)max_rows * sizeof *c->rows);
    c->spec = xmalloc((size_t)max_rows * sizeof *c->spec);
    c->want_slot = xmalloc((size_t)max_rows * sizeof *c->want_slot);
    c->want_request = xmalloc((size_t)max_rows * sizeof *c->want_request);
    c->want_pos = xmalloc((size_t)max_rows * sizeof *c->want_pos);
    c->want_first = xmalloc((size_t)max_rows * sizeof *c->want_first);
    c->tokens = xmalloc((size_t)max_rows * sizeof *c->tokens);
    c->logprobs = xmalloc((size_t)max_rows * sizeof *c->logprobs);
}
static void call_free(Call *c) {
    free(c->rows);
    free(c->spec);
    free(c->want_slot);
    free(c->want_request);
    free(c->want_pos);
    free(c->want_first);
    free(c->tokens);
    free(c->logprobs);
}

static void finish_slot(Loop *L, Slot *s) {
    L->out[s->request].finish_s = now_seconds() - L->t_start;
    Error ignored; /* giving back cannot fail */
    if (L->b->ops->reserve && s->phase != SLOT_FREE) L->b->ops->reserve(L->b, (int)(s - L->slots), 0, &ignored);
    s->request = -1;
    s->phase = SLOT_FREE;
    L->admit_refused = 0;
    L->done++;
    if (L->progress) L->progress(L->progress_ctx, L->done, L->n, L->stats);
}

static void add_row(Loop *L, Call *c, int si, int token, int want, int first) {
    Slot *s = &L->slots[si];
    c->rows[c->n_rows++] = (BatchRow){si, s->fed, token, want};
    c->prefill_rows += !want || first;
    if (want) {
        int j = c->n_want++;
        c->spec[j] = sample_spec(&L->reqs[s->request].params.sample, &s->rng);
        c->want_slot[j] = si, c->want_request[j] = s->request, c->want_pos[j] = s->fed, c->want_first[j] = first;
        s->pending_call = c->seq, s->pending_j = j;
    }
    s->fed++;
}

/* Waits for the call in flight and hands each sampled token to its slot.
 * Rows of requests that ended meanwhile (a row enqueued before its
 * request's stop token was seen) are dropped. The wall time since the last
 * collect, less the submits (charged to the calls submitted), is this
 * call's; a call with both kinds of rows counts toward prefill and decode
 * in proportion to its rows. */
static int collect_in_flight(Loop *L, Error *err) {
    Call *c = L->in_flight;
    L->in_flight = NULL;
    if (backend_collect_logprobs(L->b, c->tokens, c->logprobs, err) != 0) return -1;
    double now = now_seconds();
    c->seconds += now - L->t_mark - L->submit_since;
    L->t_mark = now, L->submit_since = 0;
    double prefill_share = (double)c->prefill_rows / c->n_rows;
    L->stats->prefill_seconds += c->seconds * prefill_share;
    L->stats->decode_seconds += c->seconds * (1.0 - prefill_share);
    for (int j = 0; j < c->n_want; j++) {
        Slot *s = &L->slots[c->want_slot[j]];
        if (s->request != c->want_request[j]) continue;
        const GenRequest *r = &L->reqs[s->request];
        if (s->pending_call == c->seq) s->pending_call = -1;
        if (c->want_first[j]) L->out[s->request].first_token_s = now - L->t_start;
        else L->stats->decode_tokens++;
        if (accept_token(s, r, &L->out[s->request], c->tokens[j], &c->logprobs[j], c->want_pos[j] + 1, L->b->max_context)) finish_slot(L, s);
    }
    if (L->progress) L->progress(L->progress_ctx, L->done, L->n, L->stats); /* redrawn every few seconds */
    return 0;
}

/* Whether slot s's pending sample can end its request only by being a stop
 * token (or completing a stop string): then its next row may be enqueued
 * before that token is known (at worst it is computed and dropped). A
 * request that may end at its length or the context waits instead. */
static int only_a_stop_can_end(const Loop *L, const Slot *s) {
    return L->out[s->request].n_tokens + 1 < L->reqs[s->request].params.max_new_tokens && s->fed < L->b->max_context;
}

/* A request waiting for a prompt prefix's cache (slot si, SLOT_WAIT_PREFIX)
 * copies it, when a call is being built, once its source has submitted
 * that much: the shared prefix, or an earlier choice's prompt but the last
 * row (each choice computes that row itself, sampling its own first token).
 * The copy is ordered after the calls in flight, so it needs none
 * collected. Should a choice's source have ended meanwhile (it was decoding
 * when the choice came, and its cache may have gone back to the pool), the
 * choice prefills the prompt itself. */
static int copy_prefix_if_ready(Loop *L, int si, Error *err) {
    Slot *s = &L->slots[si];
    int n = s->prefix_len;
    if (s->prefix_slot == L->prefix.slot) {
        if (L->prefix.fed < n || L->prefix.last_call >= L->n_calls) return 0; /* not yet all in submitted calls */
    } else {
        const Slot *src = &L->slots[s->prefix_slot];
        if (src->request == s->prefix_request && src->fed < n) return 0;
        if (src->request != s->prefix_request) n = 0;
    }
    s->phase = SLOT_PREFILL;
    if (n == 0) return 0;
    if (L->b->ops->copy_prefix(L->b, si, s->prefix_slot, n, err) != 0) return -1;
    s->fed = n;
    L->stats->shared_prefix_tokens += n;
    return 0;
}

/* The prompt prefix that most requests share (a chat's system message):
 * request 0's first tokens that at least half of the first 64 requests
 * (each choice once), and at least two, start with. */
static int shared_prefix_len(const GenRequest *reqs, int n) {
    enum { LOOK = 64 };
    int common[LOOK], k = 0;
    for (int i = 0; i < n && k < LOOK; i++) {
        if (reqs[i].choice > 0) continue;
        int m = 0, limit = reqs[i].prompt_len < reqs[0].prompt_len ? reqs[i].prompt_len : reqs[0].prompt_len;
        while (m < limit && reqs[i].prompt[m] == reqs[0].prompt[m]) m++;
        common[k++] = m;
    }
    if (k < 2) return 0;
    for (int i = 1; i < k; i++) /* descending */
        for (int j = i; j > 0 && common[j] > common[j - 1]; j--) {
            int t = common[j];
            common[j] = common[j - 1], common[j - 1] = t;
        }
    return common[(k - 1) / 2 > 1 ? (k - 1) / 2 : 1];
}

/* How much of r's prompt the shared prefix gives it: all the prefix
 * r starts with, but not its last row (which samples); 0 when too short to
 * be worth a copy, or when the prefix runs more than max_slot_rows past it
 * (backend.h's copy_prefix). */
static int shared_prefix_of(const Loop *L, const GenRequest *r) {
    int m = 0;
    if (L->prefix.slot < 0) return 0;
    while (m < L->prefix.len && m < r->prompt_len - 1 && r->prompt[m] == L->prefix.tokens[m]) m++;
    return m >= SHARED_PREFIX_MIN && L->prefix.len - m <= L->b->max_slot_rows ? m : 0;
}

/* The positions a request may fill: its prompt and the tokens fed back
 * (one fewer than max_tokens), within the context. */
static int positions_needed(const GenRequest *r, int max_context) {
    long n = (long)r->prompt_len + r->params.max_new_tokens - 1;
    return n < max_context ? (int)n : max_context;
}

/* Puts the next request into free slot si, reserving its positions of a
 * paged KV cache. Returns 0; 1 when the cache has no room for it until
 * running requests end; -1 when it cannot run. */
static int admit(Loop *L, int si, Error *err) {
    Slot *s = &L->slots[si];
    const GenRequest *r = &L->reqs[L->order[L->next]];
    RequestResult *res = &L->out[L->order[L->next]];
    if (r->prompt_len <= 0 || r->prompt_len > L->b->max_context)
        return error_set(err, "request %llu: prompt of %d tokens does not fit the context of %d", (unsigned long long)r->index, r->prompt_len,
                         L->b->max_context);
    if (r->params.max_new_tokens > 0 && L->b->ops->reserve) {
        int rc = L->b->ops->reserve(L->b, si, positions_needed(r, L->b->max_context), err);
        if (rc != 0) return rc;
    }
    res->prompt_tokens = r->prompt_len;
    size_t cap = (size_t)(r->params.max_new_tokens > 0 ? r->params.max_new_tokens : 1);
    res->tokens = xmalloc(cap * sizeof(int));
    res->logprobs = r->params.sample.logprobs >= 0 ? xmalloc(cap * sizeof *res->logprobs) : NULL;
    res->n_tokens = 0;
    s->request = L->order[L->next++];
    if (r->params.max_new_tokens <= 0) {
        res->finish = FINISH_LENGTH;
        finish_slot(L, s);
        return 0;
    }
    s->fed = 0;
    s->pending_call = -1;
    s->row_call = L->n_calls;
    s->rng = gen_choice_stream(r->params.seed, r->index, r->choice);
    stop_match_reset(&s->stop);
    s->phase = SLOT_PREFILL;
    /* a later choice of a request that another slot runs shares its
     * prompt, while that slot is at most max_slot_rows positions past it
     * (backend.h's copy_prefix); the copy waits for the prompt's rows */
    const Slot *src = L->share_slot >= 0 && L->share_slot != si ? &L->slots[L->share_slot] : NULL;
    if (r->choice > 0 && src && src->request >= 0 && L->reqs[src->request].index == r->index &&
        src->fed - (r->prompt_len - 1) <= L->b->max_slot_rows && r->prompt_len > 1 && L->b->ops->copy_prefix) {
        s->phase = SLOT_WAIT_PREFIX;
        s->prefix_slot = L->share_slot, s->prefix_request = src->request, s->prefix_len = r->prompt_len - 1;
    } else {
        L->share_slot = si;
        int m = shared_prefix_of(L, r); /* the prefix most requests share, computed once */
        if (m > 0) s->phase = SLOT_WAIT_PREFIX, s->prefix_slot = L->prefix.slot, s->prefix_request = -1, s->prefix_len = m;
    }
    L->queue[L->n_queue++] = si;
    return s->prefix_slot == L->prefix.slot && s->phase == SLOT_WAIT_PREFIX ? copy_prefix_if_ready(L, si, err) : 0;
}

/* Adds slot si's next prompt rows, as many as the call has room for (at
 * most max_slot_rows); the prompt's last row samples the first token. */
static void add_prompt_rows(Loop *L, Call *c, int si) {
    Slot *s = &L->slots[si];
    const GenRequest *r = &L->reqs[s->request];
    for (int k = 0; k < L->b->max_slot_rows && s->fed < r->prompt_len && c->n_rows < L->step_rows; k++)
        add_row(L, c, si, r->prompt[s->fed], s->fed == r->prompt_len - 1, 1);
    if (s->fed == r->prompt_len) s->phase = SLOT_DECODE;
}

/* How a call is shared between decode and prompt rows. A request is a
 * chain of steps: its prompt (up to max_slot_rows rows a call), then a row a
 * call for each token, and the chains still running once the last request
 * is admitted set how many calls the run takes. So the split follows the
 * longest chains (Hu's rule for chains of unit steps): a decoding sequence
 * counts its tokens still to come, a waiting prompt its request's whole
 * max_tokens, and the call's rows go to the longest first, decode rows to
 * the sequences with the most tokens to come (equal ones in turns from a
 * cursor). Each side keeps an eighth of the call (at least a row) while it
 * has work, so neither starves, and a sequence that has waited a round of
 * calls (the decoding sequences over that eighth) goes first: none waits
 * more than two rounds, however long the others' chains.
 * Measured by the calls of the CPU backend (the same schedule as a GPU's):
 * decode rows first in turns, 256 requests of 64 + 128 tokens at 256 rows
 * took 285 calls (their starts spread, so did their ends, and the last
 * calls ran thin; ledger L137), this rule 200, where 192 is the least. */

/* A decoding sequence that can take a row now: its slot, its place from the
 * cursor, and the tokens still to come at most (max_tokens less those taken
 * and the one in flight); or prompt rows that could run now, `to_come` then
 * their request's max_tokens. */
typedef struct Claim {
    int slot, place, to_come, rows;
} Claim;
static int claim_compare(const void *a, const void *b) { /* the longest chain first, then from the cursor */
    const Claim *x = a, *y = b;
    if (x->to_come != y->to_come) return x->to_come > y->to_come ? -1 : 1;
    return (x->place > y->place) - (x->place < y->place);
}
static int claim_place_compare(const void *a, const void *b) {
    const Claim *x = a, *y = b;
    return (x->place > y->place) - (x->place < y->place);
}

/* The rows of a prompt with `left` rows to go that one call can take. */
static int chunk_rows(const Loop *L, int left) { return left < L->b->max_slot_rows ? left : L->b->max_slot_rows; }

/* The prompt rows that could run in the next call (the shared prefix's,
 * admitted prompts', the next requests' that free slots would take unless
 * the KV cache has just refused one), about step_rows in all, into
 * L->prompt_claims; returns their count and sets *rows to their rows. */
static int prompt_claims(Loop *L, int *rows) {
    int n = 0, free_slots = 0;
    *rows = 0;
    if (L->prefix.fed < L->prefix.len) { /* requests wait for it: before everything */
        L->prompt_claims[n] = (Claim){-1, n, INT_MAX, chunk_rows(L, L->prefix.len - L->prefix.fed)};
        *rows += L->prompt_claims[n++].rows;
    }
    for (int si = 0; si < L->max_batch; si++) {
        const Slot *s = &L->slots[si];
        free_slots += s->request < 0;
        if (s->phase == SLOT_PREFILL && *rows < L->step_rows) {
            const GenRequest *r = &L->reqs[s->request];
            L->prompt_claims[n] = (Claim){si, n, r->params.max_new_tokens, chunk_rows(L, r->prompt_len - s->fed)};
            *rows += L->prompt_claims[n++].rows;
        }
    }
    for (int i = L->next; !L->admit_refused && i < L->n && i < L->next + free_slots && *rows < L->step_rows; i++) {
        const GenRequest *r = &L->reqs[L->order[i]];
        L->prompt_claims[n] = (Claim){-1, n, r->params.max_new_tokens, chunk_rows(L, r->prompt_len)};
        *rows += L->prompt_claims[n++].rows;
    }
    return n;
}

/* Adds the call's decode rows, as the rule above shares the call. */
static void add_decode_rows(Loop *L, Call *c) {
    int n = 0, waiting = 0;
    for (int k = 0; k < L->max_batch; k++) {
        int si = (L->cursor + k) % L->max_batch;
        const Slot *s = &L->slots[si];
        if (s->phase != SLOT_DECODE || (s->pending_call >= 0 && !only_a_stop_can_end(L, s))) continue;
        int to_come = L->reqs[s->request].params.max_new_tokens - L->out[s->request].n_tokens - (s->pending_call >= 0);
        L->ready[n++] = (Claim){si, k, to_come, 1};
    }
    const int eighth = L->step_rows / 8 > 1 ? L->step_rows / 8 : 1, round = (n + eighth - 1) / eighth;
    for (int i = 0; i < n; i++)
        if (c->seq - L->slots[L->ready[i].slot].row_call > round) L->ready[i].to_come = INT_MAX - 1; /* waited a round: first */
    int np = prompt_claims(L, &waiting);
    qsort(L->ready, (size_t)n, sizeof *L->ready, claim_compare);
    qsort(L->prompt_claims, (size_t)np, sizeof *L->prompt_claims, claim_compare);
    int budget = L->step_rows, taken = 0;
    for (int j = 0; budget > 0 && (taken < n || j < np);) { /* a prompt first on a tie: its chain is a step longer */
        if (j < np && (taken >= n || L->prompt_claims[j].to_come >= L->ready[taken].to_come)) {
            budget -= L->prompt_claims[j].rows < budget ? L->prompt_claims[j].rows : budget;
            j++;
        } else {
            budget--;
            taken++;
        }
    }
    const int most = L->step_rows - (waiting < eighth ? waiting : eighth);
    if (taken > most) taken = most;
    if (taken < eighth) taken = eighth < n ? eighth : n;
    qsort(L->ready, (size_t)taken, sizeof *L->ready, claim_place_compare); /* the longest chains, in slot order from the cursor */
    if (taken < n) L->cursor = (L->cursor + L->ready[taken - 1].place + 1) % L->max_batch; /* equal chains take turns */
    for (int i = 0; i < taken; i++) {
        Slot *s = &L->slots[L->ready[i].slot];
        s->row_call = c->seq;
        add_row(L, c, L->ready[i].slot, s->pending_call < 0 ? s->last : TOKEN_OF_PREVIOUS(s->pending_j), 1, 0);
    }
}

/* Builds the next call: the decode rows add_decode_rows gives (sequences
 * whose next token is known or may be fed back by the device), then prompt
 * rows up to step_rows, the oldest prompts first, then new requests into
 * free slots while there is room. */
static int build_call(Loop *L, Call *c, Error *err) {
    c->seq = ++L->n_calls;
    c->n_rows = c->prefill_rows = c->n_want = 0;
    c->seconds = 0;
    for (int q = 0; q < L->n_queue; q++)
        if (L->slots[L->queue[q]].phase == SLOT_WAIT_PREFIX && copy_prefix_if_ready(L, L->queue[q], err) != 0) return -1;
    add_decode_rows(L, c);
    for (int k = 0; k < L->b->max_slot_rows && L->prefix.fed < L->prefix.len && c->n_rows < L->step_rows;
         k++, L->prefix.fed++, c->prefill_rows++) { /* before the prompts that wait for it */
        c->rows[c->n_rows++] = (BatchRow){L->prefix.slot, L->prefix.fed, L->prefix.tokens[L->prefix.fed], 0};
        L->prefix.last_call = c->seq;
    }
    int kept = 0;
    for (int q = 0; q < L->n_queue; q++) {
        int si = L->queue[q];
        if (L->slots[si].phase == SLOT_PREFILL) add_prompt_rows(L, c, si);
        if (L->slots[si].phase == SLOT_PREFILL || L->slots[si].phase == SLOT_WAIT_PREFIX) L->queue[kept++] = si;
    }
    L->n_queue = kept;
    for (int si = 0; si < L->max_batch && c->n_rows < L->step_rows && L->next < L->n; si++) {
        if (L->slots[si].request >= 0) continue;
        int rc = admit(L, si, err);
        if (rc < 0) return -1;
        if (rc == 1) { /* requests are admitted in order: it waits for room, unless nothing else holds any */
            L->admit_refused = 1;
            int running = 0;
            for (int i = 0; i < L->max_batch; i++) running |= L->slots[i].request >= 0;
            if (running) break;
            const GenRequest *r = &L->reqs[L->order[L->next]];
            return error_set(err, "request %llu needs %d positions of the KV cache (its prompt and max_tokens), more than the %ld it holds",
                             (unsigned long long)r->index, positions_needed(r, L->b->max_context), L->b->kv_positions);
        }
        if (L->slots[si].request < 0) si--; /* it asked for no tokens: the slot is still free */
        else if (L->slots[si].phase == SLOT_PREFILL) {
            add_prompt_rows(L, c, si);
            if (L->slots[si].phase != SLOT_PREFILL) L->n_queue--; /* all of it fit: out of the queue again */
        }
    }
    return 0;
}

/* The order requests are admitted in: the file's, or the longest first
 * (most max_tokens, then the longest prompt, then the file's order), so
 * that the run does not end with its longest requests decoding alone for
 * hundreds of thin calls (the ShareGPT-like file of bench/workload.py: 3016
 * calls in the file's order, 2048 longest first, its longest request's
 * max_tokens). Choices of one request stay next to each other. */
typedef struct {
    int max_tokens, prompt_len, index;
} AdmitKey;
static int admit_key_compare(const void *a, const void *b) {
    const AdmitKey *x = a, *y = b;
    if (x->max_tokens != y->max_tokens) return x->max_tokens > y->max_tokens ? -1 : 1;
    if (x->prompt_len != y->prompt_len) return x->prompt_len > y->prompt_len ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}
static int *admission_order(const GenRequest *reqs, int n, int file_order) {
    int *order = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    AdmitKey *keys = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    for (int i = 0; i < n; i++) keys[i] = (AdmitKey){reqs[i].params.max_new_tokens, reqs[i].prompt_len, i};
    if (!file_order) qsort(keys, (size_t)n, sizeof *keys, admit_key_compare);
    for (int i = 0; i < n; i++) order[i] = keys[i].index;
    free(keys);
    return order;
}

int generate_run(Backend *b, const GenRequest *reqs, int n, GenLimits limits, RequestResult *out, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err) {
    int max_batch = limits.max_batch;
    if (max_batch > b->max_slots) max_batch = b->max_slots;
    if (max_batch < 1) max_batch = 1;
    int step_rows = limits.step_rows > 0 && limits.step_rows < b->max_rows ? limits.step_rows : b->max_rows;
    int prefix_len = b->ops->copy_prefix && n > 1 ? shared_prefix_len(reqs, n) : 0, prefix_slot = -1;
    if (prefix_len > b->max_context - 1) prefix_len = b->max_context - 1;
    if (prefix_len >= SHARED_PREFIX_MIN)
        prefix_slot = b->max_slots > max_batch ? max_batch : max_batch >= SHARED_PREFIX_MIN_BATCH ? --max_batch : -1;
    Loop L = {.b = b, .reqs = reqs, .out = out, .n = n, .max_batch = max_batch, .step_rows = step_rows, .share_slot = -1,
              .stats = stats, .t_start = now_seconds(), .progress = progress, .progress_ctx = progress_ctx};
    L.t_mark = L.t_start;
    L.order = admission_order(reqs, n, limits.file_order);
    L.slots = xcalloc((size_t)max_batch, sizeof *L.slots);
    L.queue = xmalloc((size_t)max_batch * sizeof *L.queue);
    L.ready = xmalloc((size_t)max_batch * sizeof *L.ready);
    L.prompt_claims = xmalloc((size_t)(max_batch + 1) * sizeof *L.prompt_claims);
    for (int i = 0; i < max_batch; i++) {
        L.slots[i].request = -1;
        stop_match_init(&L.slots[i].stop);
    }
    call_alloc(&L.calls[0], step_rows);
    call_alloc(&L.calls[1], step_rows);
    memset(stats, 0, sizeof *stats);
    stats->sequences = max_batch;
    int rc = 0, idle = 0; /* idle: calls in a row with no rows and none in flight (a copy waits one) */
    /* a paged cache's positions go to the requests as they are admitted */
    for (int si = 0; si < b->max_slots && b->ops->reserve && rc == 0; si++) rc = b->ops->reserve(b, si, 0, err) < 0 ? -1 : 0;
    L.prefix.slot = -1;
    if (rc == 0 && prefix_slot >= 0 && (!b->ops->reserve || b->ops->reserve(b, prefix_slot, prefix_len, err) == 0))
        L.prefix.slot = prefix_slot, L.prefix.len = prefix_len, L.prefix.tokens = reqs[0].prompt;
    /* Each call is submitted before the one ahead of it is collected, so
     * the host builds the next step while the device runs this one. */
    while (L.done < n && rc == 0) {
        Call *c = L.in_flight == &L.calls[0] ? &L.calls[1] : &L.calls[0];
        if ((rc = build_call(&L, c, err)) != 0) break;
        if (c->n_rows == 0) { /* every sequence waits for the call in flight or a prefix to copy, or the last requests asked for no tokens */
            if (L.in_flight) rc = collect_in_flight(&L, err);
            else if (L.done < n && idle++ > 0) rc = error_set(err, "decode loop: nothing to run with %d of %d requests unfinished", n - L.done, n);
            continue;
        }
        idle = 0;
        double t0 = now_seconds();
        if ((rc = backend_submit(b, c->rows, c->n_rows, c->spec, err)) != 0) break;
        c->seconds = now_seconds() - t0;
        L.submit_since += c->seconds;
        stats->steps++;
        stats->mixed_steps += c->prefill_rows > 0 && c->prefill_rows < c->n_rows;
        stats->prefill_tokens += c->prefill_rows;
        if (L.in_flight) rc = collect_in_flight(&L, err);
        L.in_flight = c;
    }
    if (rc == 0 && L.in_flight) rc = collect_in_flight(&L, err); /* rows of requests that had ended */
    Error ignored; /* giving back cannot fail */
    if (L.prefix.slot >= 0 && b->ops->reserve) b->ops->reserve(b, L.prefix.slot, 0, &ignored);
    for (int i = 0; i < max_batch; i++) stop_match_free(&L.slots[i].stop);
    free(L.slots);
    free(L.queue);
    free(L.order);
    free(L.ready);
    free(L.prompt_claims);
    call_free(&L.calls[0]);
    call_free(&L.calls[1]);
    return rc;
}
