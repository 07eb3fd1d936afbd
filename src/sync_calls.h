/* sync_calls.h - the submit/collect call interface (backend.h) for a backend
 * that computes in the caller's thread, as the CPU reference does.
 *
 * submit runs the forward pass at once, samples each want_logits row on the
 * host (src/sampler.h) and queues its tokens (and logprobs where asked); collect hands back the oldest
 * queued call's tokens. A row whose token is TOKEN_OF_PREVIOUS(j) takes
 * token j of the call submitted just before, as a device would feed it back.
 * At most two calls are outstanding, as backend.h allows. */
#ifndef GETP_SYNC_CALLS_H
#define GETP_SYNC_CALLS_H

#include "backend.h"

typedef struct {
    int *tokens[2]; /* tokens of submitted call i in tokens[i % 2] */
    TokenLogprobs *logprobs[2]; /* and their logprobs, for rows that asked */
    int n_tokens[2];
    long submitted, collected;
    BatchRow *fed;   /* a call's rows with fed-back tokens filled in */
    float *logits;   /* [max_samples, vocab] */
    float *scratch;  /* [vocab], for the sampler */
    int max_rows, max_samples, vocab;
} SyncCalls;

/* max_rows: the backend's max_rows; max_samples: the most rows of one call
 * that want a token (one per slot). */
void sync_calls_init(SyncCalls *c, int max_rows, int max_samples, int vocab);
void sync_calls_free(SyncCalls *c);
int sync_calls_submit(SyncCalls *c, Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, Error *err);
int sync_calls_collect(SyncCalls *c, int *tokens, TokenLogprobs *logprobs, Error *err);

#endif
