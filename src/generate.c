#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "tokenizer.h"

int is_stop_token(int id) { return id == TOKEN_RETURN || id == TOKEN_ENDOFTEXT || id == TOKEN_CALL; }

typedef struct {
    int request; /* index into reqs, -1 when the slot is free */
    int pos;     /* next position to fill */
    int last;    /* last sampled token (the next input) */
    Rng rng;
} Slot;

/* Runs the rows and samples each want_logits row j with spec[j]: on the
 * device when the backend can, else from logits on the host (room for one
 * row per slot: a call never has more rows that want a token). */
static int forward_and_sample(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, int n_sample, int *tokens,
                              float *logits, float *scratch, Error *err) {
    if (b->ops->forward_sample) return b->ops->forward_sample(b, rows, n_rows, spec, tokens, err);
    int vocab = (int)b->model->config.vocab_size;
    if (backend_forward(b, rows, n_rows, logits, err) != 0) return -1;
    for (int j = 0; j < n_sample; j++) tokens[j] = sample_with_coin(logits + (size_t)j * vocab, vocab, spec[j], scratch);
    return 0;
}

/* Records a sampled token for slot s; returns 1 when the request is finished. */
static int accept_token(Slot *s, const GenRequest *r, RequestResult *res, int token, int max_context) {
    if (!r->params.ignore_eos && is_stop_token(token)) {
        res->finish = FINISH_STOP;
        return 1;
    }
    res->tokens[res->n_tokens++] = token;
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

/* Everything the loop carries between calls. */
typedef struct {
    Backend *b;
    const GenRequest *reqs;
    RequestResult *out;
    int n, done, max_batch;
    Slot *slots;
    BatchRow *rows;     /* the call being built: n_rows rows */
    int n_rows;
    SampleSpec *spec;   /* one per want_logits row, in row order */
    int *want_slot;     /* the slot of each want_logits row */
    int n_want;
    int *tokens;
    float *logits, *scratch;
    GenStats *stats;
    GenProgress progress;
    void *progress_ctx;
} Loop;

static void finish_slot(Loop *L, Slot *s) {
    s->request = -1;
    L->done++;
    if (L->progress) L->progress(L->progress_ctx, L->done, L->n, L->stats);
}

/* Runs the call built so far and hands each sampled token to its slot. */
static int run_call(Loop *L, int decode, Error *err) {
    Backend *b = L->b;
    if (L->n_rows == 0) return 0;
    double t0 = now_seconds();
    int rc = forward_and_sample(b, L->rows, L->n_rows, L->spec, L->n_want, L->tokens, L->logits, L->scratch, err);
    double dt = now_seconds() - t0;
    if (decode) L->stats->decode_seconds += dt, L->stats->decode_tokens += L->n_rows;
    else L->stats->prefill_seconds += dt, L->stats->prefill_tokens += L->n_rows;
    L->n_rows = 0;
    if (rc != 0) return rc;
    for (int j = 0; j < L->n_want; j++) {
        Slot *s = &L->slots[L->want_slot[j]];
        const GenRequest *r = &L->reqs[s->request];
        s->pos = decode ? s->pos + 1 : r->prompt_len;
        if (accept_token(s, r, &L->out[s->request], L->tokens[j], b->max_context)) finish_slot(L, s);
    }
    L->n_want = 0;
    return 0;
}

static void add_row(Loop *L, int slot, int pos, int token, int want, const GenParams *p) {
    L->rows[L->n_rows++] = (BatchRow){slot, pos, token, want};
    if (!want) return;
    L->spec[L->n_want] = sample_spec(p->temperature, p->top_p, &L->slots[slot].rng);
    L->want_slot[L->n_want++] = slot;
}

/* Puts the next requests into free slots and prefills their prompts
 * together, in calls of up to max_rows rows (a long prompt spans calls);
 * each prompt's last row samples its first token. Returns how many were
 * admitted, or -1. */
static int admit_and_prefill(Loop *L, int *next, Error *err) {
    Backend *b = L->b;
    int admitted = 0;
    for (int si = 0; si < L->max_batch && *next < L->n; si++) {
        Slot *s = &L->slots[si];
        if (s->request >= 0) continue;
        const GenRequest *r = &L->reqs[*next];
        RequestResult *res = &L->out[*next];
        res->prompt_tokens = r->prompt_len;
        res->tokens = xmalloc((size_t)(r->params.max_new_tokens > 0 ? r->params.max_new_tokens : 1) * sizeof(int));
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
        s->rng = rng_stream(r->params.seed, r->index);
        admitted++;
        for (int t = 0; t < r->prompt_len; t++) {
            add_row(L, si, t, r->prompt[t], t == r->prompt_len - 1, &r->params);
            if (L->n_rows == b->max_rows && run_call(L, 0, err) != 0) return -1;
        }
    }
    if (run_call(L, 0, err) != 0) return -1;
    return admitted;
}

int generate_run(Backend *b, const GenRequest *reqs, int n, int max_batch, RequestResult *out, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err) {
    int vocab = (int)b->model->config.vocab_size;
    if (max_batch > b->max_slots) max_batch = b->max_slots;
    if (max_batch < 1) max_batch = 1;
    if (max_batch > b->max_rows) max_batch = b->max_rows; /* a decode step is one row per slot */
    Loop L = {.b = b, .reqs = reqs, .out = out, .n = n, .max_batch = max_batch, .stats = stats, .progress = progress,
              .progress_ctx = progress_ctx};
    L.slots = xcalloc((size_t)max_batch, sizeof *L.slots);
    for (int i = 0; i < max_batch; i++) L.slots[i].request = -1;
    L.rows = xmalloc((size_t)b->max_rows * sizeof *L.rows);
    L.spec = xmalloc((size_t)b->max_rows * sizeof *L.spec);
    L.want_slot = xmalloc((size_t)b->max_rows * sizeof *L.want_slot);
    L.tokens = xmalloc((size_t)b->max_rows * sizeof *L.tokens);
    L.scratch = xmalloc((size_t)vocab * sizeof(float));
    if (!b->ops->forward_sample) L.logits = xmalloc((size_t)max_batch * vocab * sizeof(float));
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
        /* one decode step for every active slot */
        for (int si = 0; si < max_batch; si++)
            if (L.slots[si].request >= 0) add_row(&L, si, L.slots[si].pos, L.slots[si].last, 1, &reqs[L.slots[si].request].params);
        rc = run_call(&L, 1, err);
    }
    free(L.slots);
    free(L.rows);
    free(L.spec);
    free(L.want_slot);
    free(L.tokens);
    free(L.logits);
    free(L.scratch);
    return rc;
}
