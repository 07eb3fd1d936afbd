#include "generate.h"

#include <stdlib.h>

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
 * device when the backend can, else from logits on the host. */
static int forward_and_sample(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, int n_sample, int *tokens,
                              float **logits, float *scratch, Error *err) {
    if (b->ops->forward_sample) return b->ops->forward_sample(b, rows, n_rows, spec, tokens, err);
    int vocab = (int)b->model->config.vocab_size;
    if (!*logits) *logits = xmalloc((size_t)b->max_rows * vocab * sizeof(float));
    if (backend_forward(b, rows, n_rows, *logits, err) != 0) return -1;
    for (int j = 0; j < n_sample; j++) tokens[j] = sample_with_coin(*logits + (size_t)j * vocab, vocab, spec[j], scratch);
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

int generate_run(Backend *b, const GenRequest *reqs, int n, int max_batch, RequestResult *out, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err) {
    int vocab = (int)b->model->config.vocab_size;
    if (max_batch > b->max_slots) max_batch = b->max_slots;
    if (max_batch < 1) max_batch = 1;
    int rows_cap = b->max_rows;
    if (max_batch > rows_cap) max_batch = rows_cap; /* a decode step is one row per slot */
    Slot *slots = xcalloc((size_t)max_batch, sizeof *slots);
    for (int i = 0; i < max_batch; i++) slots[i].request = -1;
    BatchRow *rows = xmalloc((size_t)rows_cap * sizeof *rows);
    float *logits = NULL; /* made on first use, for backends that return logits */
    int *row_slot = xmalloc((size_t)max_batch * sizeof(int));
    int *tokens = xmalloc((size_t)max_batch * sizeof(int));
    SampleSpec *spec = xmalloc((size_t)max_batch * sizeof(SampleSpec));
    float *scratch = xmalloc((size_t)vocab * sizeof(float));
    memset(stats, 0, sizeof *stats);
    int next = 0, done = 0, rc = 0;

    while (done < n && rc == 0) {
        /* refill free slots: prefill each new prompt, sample its first token */
        for (int si = 0; si < max_batch && next < n && rc == 0; si++) {
            Slot *s = &slots[si];
            if (s->request >= 0) continue;
            const GenRequest *r = &reqs[next];
            RequestResult *res = &out[next];
            s->request = next++;
            s->pos = 0;
            s->rng = rng_stream(r->params.seed, r->index);
            res->prompt_tokens = r->prompt_len;
            res->tokens = xmalloc((size_t)(r->params.max_new_tokens > 0 ? r->params.max_new_tokens : 1) * sizeof(int));
            res->n_tokens = 0;
            int finished = 0;
            if (r->prompt_len <= 0 || r->prompt_len > b->max_context) {
                rc = error_set(err, "request %llu: prompt of %d tokens does not fit the context of %d", (unsigned long long)r->index,
                               r->prompt_len, b->max_context);
                break;
            }
            if (r->params.max_new_tokens <= 0) {
                res->finish = FINISH_LENGTH;
                finished = 1;
            } else {
                double t0 = now_seconds();
                for (int start = 0; start < r->prompt_len && rc == 0; start += rows_cap) {
                    int m = r->prompt_len - start < rows_cap ? r->prompt_len - start : rows_cap, last = start + m == r->prompt_len;
                    for (int j = 0; j < m; j++)
                        rows[j] = (BatchRow){si, start + j, r->prompt[start + j], start + j == r->prompt_len - 1};
                    if (last) spec[0] = sample_spec(r->params.temperature, r->params.top_p, &s->rng);
                    rc = forward_and_sample(b, rows, m, spec, last, tokens, &logits, scratch, err);
                }
                stats->prefill_seconds += now_seconds() - t0;
                stats->prefill_tokens += r->prompt_len;
                if (rc != 0) break;
                s->pos = r->prompt_len;
                finished = accept_token(s, r, res, tokens[0], b->max_context);
            }
            if (finished) {
                s->request = -1;
                done++;
                if (progress) progress(progress_ctx, done, n, stats);
                si--; /* refill this slot again */
            }
        }
        if (rc != 0) break;

        /* one decode step for every active slot */
        int m = 0;
        for (int si = 0; si < max_batch; si++) {
            if (slots[si].request < 0) continue;
            const GenParams *gp = &reqs[slots[si].request].params;
            rows[m] = (BatchRow){si, slots[si].pos, slots[si].last, 1};
            spec[m] = sample_spec(gp->temperature, gp->top_p, &slots[si].rng);
            row_slot[m++] = si;
        }
        if (m == 0) continue;
        double t0 = now_seconds();
        rc = forward_and_sample(b, rows, m, spec, m, tokens, &logits, scratch, err);
        stats->decode_seconds += now_seconds() - t0;
        stats->decode_tokens += m;
        if (rc != 0) break;
        for (int j = 0; j < m; j++) {
            Slot *s = &slots[row_slot[j]];
            const GenRequest *r = &reqs[s->request];
            s->pos++;
            if (accept_token(s, r, &out[s->request], tokens[j], b->max_context)) {
                s->request = -1;
                done++;
                if (progress) progress(progress_ctx, done, n, stats);
            }
        }
    }
    free(slots);
    free(rows);
    free(logits);
    free(row_slot);
    free(tokens);
    free(spec);
    free(scratch);
    return rc;
}
