#include "sync_calls.h"

#include <stdlib.h>

void sync_calls_init(SyncCalls *c, int max_rows, int max_samples, int vocab) {
    memset(c, 0, sizeof *c);
    c->max_rows = max_rows, c->max_samples = max_samples, c->vocab = vocab;
    for (int i = 0; i < 2; i++) {
        c->tokens[i] = xmalloc((size_t)max_samples * sizeof(int));
        c->logprobs[i] = xmalloc((size_t)max_samples * sizeof(TokenLogprobs));
    }
    c->fed = xmalloc((size_t)max_rows * sizeof *c->fed);
    c->logits = xmalloc((size_t)max_samples * vocab * sizeof(float));
    c->scratch = xmalloc((size_t)vocab * sizeof(float));
}

void sync_calls_free(SyncCalls *c) {
    free(c->tokens[0]);
    free(c->tokens[1]);
    free(c->logprobs[0]);
    free(c->logprobs[1]);
    free(c->fed);
    free(c->logits);
    free(c->scratch);
    memset(c, 0, sizeof *c);
}

int sync_calls_submit(SyncCalls *c, Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, Error *err) {
    if (c->submitted - c->collected == 2) return error_set(err, "%s backend: a third call submitted before a collect", b->ops->name);
    if (n_rows > c->max_rows) return error_set(err, "%s backend: %d rows in one call (at most %d)", b->ops->name, n_rows, c->max_rows);
    int prev = (int)((c->submitted + 1) % 2), n_want = 0;
    for (int t = 0; t < n_rows; t++) {
        c->fed[t] = rows[t];
        n_want += rows[t].want_logits != 0;
        if (rows[t].token >= 0) continue;
        int j = -1 - rows[t].token;
        if (c->submitted == 0 || j >= c->n_tokens[prev])
            return error_set(err, "%s backend: row %d feeds back token %d of a call that sampled %d", b->ops->name, t, j,
                             c->submitted ? c->n_tokens[prev] : 0);
        c->fed[t].token = c->tokens[prev][j];
    }
    if (n_want > c->max_samples)
        return error_set(err, "%s backend: %d rows want a token in one call (at most %d)", b->ops->name, n_want, c->max_samples);
    if (backend_forward(b, c->fed, n_rows, c->logits, err) != 0) return -1;
    int mine = (int)(c->submitted % 2);
    for (int j = 0; j < n_want; j++) {
        const float *l = c->logits + (size_t)j * c->vocab;
        c->tokens[mine][j] = sample_with_coin(l, c->vocab, spec[j], c->scratch);
        if (spec[j].logprobs >= 0) sample_logprobs(l, c->vocab, c->tokens[mine][j], spec[j].logprobs, &c->logprobs[mine][j]);
    }
    c->n_tokens[mine] = n_want;
    c->submitted++;
    return 0;
}

int sync_calls_collect(SyncCalls *c, int *tokens, TokenLogprobs *logprobs, Error *err) {
    if (c->collected == c->submitted) return error_set(err, "collect with no call in flight");
    int k = (int)(c->collected++ % 2);
    memcpy(tokens, c->tokens[k], (size_t)c->n_tokens[k] * sizeof(int));
    if (logprobs) memcpy(logprobs, c->logprobs[k], (size_t)c->n_tokens[k] * sizeof *logprobs);
    return 0;
}
