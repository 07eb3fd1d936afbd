/* generate.h - the getp decode loop: continuous batching of many requests
 * over one backend.
 *
 * Up to max_batch sequences are in flight. Every forward call (a step) has
 * a row for each decoding sequence, then prompt rows (chunked prefill) up
 * to step_rows, the oldest prompts first; a free slot is refilled at once
 * with the next request while the step has room. So prompts never stall
 * the sequences that decode, and their rows ride along with decode rows
 * rather than in calls of their own; waiting prompts keep an eighth of
 * every call (at least a row), and when more sequences decode than the
 * rest holds, they take turns. A request's tokens depend only on its
 * prompt, its parameters and (seed, index): never on the batch, the slot,
 * how its prompt was chunked or the process that runs it. The choices of
 * one request admitted together share its prompt's cache (backend.h's
 * copy_prefix): the prompt is prefilled once and each choice samples its
 * own first token. A prefix that most prompts share (a chat's system
 * message) is computed once, in a spare slot (or one of 16 or more), and
 * copied into every request that starts with 16 or more of its tokens. Each step is submitted before the tokens of the one
 * ahead of it come back (backend.h's submit/collect); a sequence whose
 * token in flight can end it other than by a stop token sits that step
 * out. The results are those of one call at a time. */
#ifndef GETP_GENERATE_H
#define GETP_GENERATE_H

#include <stdint.h>

#include "backend.h"
#include "requests.h"
#include "tokenizer.h"

typedef struct {
    int max_new_tokens;
    SampleParams sample;
    uint64_t seed;
    int ignore_eos;
    /* Stop strings and the tokenizer that spells the tokens (n_stop 0:
     * none): generation ends once the text's first stop string is settled
     * (src/stop_match.h); the caller cuts the text (app_decode_text). */
    const char *const *stop;
    int n_stop;
    const Tokenizer *tok;
} GenParams;

/* One completion to generate: a request with n choices is n GenRequests,
 * choice 0..n-1, next to each other. */
typedef struct {
    const int *prompt;
    int prompt_len;
    GenParams params;
    uint64_t index; /* global request index: with choice, keys the RNG stream */
    int choice;
    int result; /* where the caller puts its result (app.h) */
} GenRequest;

/* The RNG stream of (seed, request index, choice); choice 0's is
 * rng_stream(seed, index), as for a request with one choice. */
static inline Rng gen_choice_stream(uint64_t seed, uint64_t index, int choice) {
    Rng r = rng_stream(seed, index);
    return choice == 0 ? r : rng_stream(r.state, (uint64_t)choice);
}

/* Sequences in flight (capped at the backend's slots), rows in one
 * forward call (0 or more than the backend's limit: that limit), and the
 * order requests start in: the longest first (0), or the given order (1).
 * Results go to their own places either way, and a request's tokens do not
 * depend on the order. */
typedef struct {
    int max_batch;
    int step_rows;
    int file_order;
} GenLimits;

/* The run's wall time, charged to the calls (a call: its submit, and the
 * time from the previous collect to its own), and split between prefill
 * and decode in proportion to each call's prompt and decode rows; the
 * prompt rows computed and the decode rows' tokens taken. */
typedef struct {
    double prefill_seconds, decode_seconds;
    long prefill_tokens, decode_tokens;
    long steps, mixed_steps; /* forward calls, and those with both prompt and decode rows */
    int sequences;           /* the most sequences in flight: --batch within the backend's slots, less a shared prefix's */
    long shared_prefix_tokens; /* prompt positions copied (another choice's prompt, the shared prefix), not computed */
} GenStats;

/* Called after each request finishes (done of total) and after each decode
 * step, for progress lines (which limit how often they draw). */
typedef void (*GenProgress)(void *ctx, int done, int total, const GenStats *stats);

/* Runs every request to completion. out[i] receives prompt_tokens, tokens,
 * n_tokens and finish (text is left to the caller). On a paged backend
 * (backend.h's reserve) the slots hold no positions afterwards. On error a
 * call may still be in flight and positions reserved: destroy the backend. */
int generate_run(Backend *b, const GenRequest *reqs, int n, GenLimits limits, RequestResult *out, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err);

/* True for the tokens that end a completion: <|return|>, <|endoftext|>, <|call|>. */
int is_stop_token(int id);

#endif
