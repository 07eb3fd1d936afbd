/* wire.h - the requests out from rank 0 to the ranks that run them, and the
 * results back, as MPI ints (one build on one cluster: ints and floats look
 * the same on every rank).
 *
 * A request travels as a header of ints (its index in the file, prompt
 * length, token budget, sampling parameters: wire.c lists them), then its
 * prompt tokens and its stop strings; a result as a header (its place in
 * the results, token count, finish reason, prompt tokens, the times of its
 * first token and of its end), then its generated tokens and their logprobs
 * where the request asked. Headers and tokens go in two collectives each,
 * every rank's part contiguous. */
#ifndef GETP_WIRE_H
#define GETP_WIRE_H

#include <mpi.h>

#include "../src/generate.h"
#include "schedule.h"

/* The requests one rank runs, in the order it runs them. */
typedef struct {
    GenRequest *reqs; /* reqs[j].index: the request's place in the file */
    int n;
    int *prompts;     /* the tokens reqs[j].prompt point into */
    const char **stop_ptrs; /* the stop strings reqs[j].params.stop point to */
    char *stop_text;
    int has_stops;          /* some request has stop strings: it needs a tokenizer (rank_share_set_tokenizer) */
} RankShare;

/* Collective over comm. Rank 0 passes the validated requests reqs[0..n) and
 * deals them out as the schedule says (schedule.h); the other ranks pass
 * NULL, 0. Every rank receives its share (rank_share_free frees it). */
void wire_scatter_requests(const GenRequest *reqs, int n, ScheduleKind kind, RankShare *mine, MPI_Comm comm);

/* Collective over comm. Each rank sends res[j], the result of mine->reqs[j].
 * Rank 0 gets back n results, each at its GenRequest's result (their times
 * as the rank that ran them measured them, from the start of its run; text
 * left to fill in; a request no rank ran, a refused Batch API line, stays
 * zero): their tokens point into *tokens, their logprobs are their own (free
 * the logprobs, the results and *tokens). The other ranks get NULL. */
RequestResult *wire_gather_results(const RankShare *mine, const RequestResult *res, int n, int **tokens, MPI_Comm comm);

/* Gives every request the tokenizer that spells its tokens for its stop strings. */
void rank_share_set_tokenizer(RankShare *s, const Tokenizer *tok);
void rank_share_free(RankShare *s);

#endif
