/* app.h - the steps of a getp run that getp and getp_mpi share: turning
 * validated requests into token ids, choosing the backend, and turning
 * generated ids back into text. */
#ifndef GETP_APP_H
#define GETP_APP_H

#include "backend.h"
#include "generate.h"
#include "options.h"
#include "requests.h"
#include "tokenizer.h"

/* The context limit for this run: --ctx, else min(model max_context, 4096). */
int app_context_limit(const Options *o, const ModelConfig *c);
/* The context the backend keeps for each sequence: --ctx when given, else
 * what reqs[0..n) need (the longest prompt plus max_tokens - 1) within
 * app_context_limit, so that a KV cache of whole contexts holds more
 * sequences. A request's tokens are the same either way. */
int app_backend_context(const Options *o, const ModelConfig *c, const GenRequest *reqs, int n);

/* Whether request r is a chat (rendered by src/harmony.h, its completion
 * split by channel): with --chat, or given as "messages". */
int app_is_chat(const Options *o, const Request *r);

/* Tokenizes every request (a chat rendered as harmony), fills in the
 * command-line defaults and checks each prompt against the context and the
 * model's vocabulary. Errors name "FILE:LINE". Only the requests that run
 * are in reqs[0..*n), a request of n choices as n of them: reqs[k].index is
 * the request's place in rs, reqs[k].result its choice's place in the results
 * (rs->n_results of them: requests_number_results, done here). A Batch API
 * line already refused is left out; with rs->record_errors a request that
 * fails these checks is refused (batch_api_reject) and left out, else it
 * fails the call. reqs[k].prompt points into *storage (free both). */
int app_build_requests(const Options *o, const Tokenizer *tok, RequestSet *rs, const char *path, int vocab, int context,
                       GenRequest **reqs, int *n, int **storage, Error *err);

/* Runs reqs[0..n) (from app_build_requests) and puts each result at
 * res[reqs[k].result]; the results of requests that did not run stay zero. */
int app_generate(Backend *be, const GenRequest *reqs, int n, GenLimits limits, RequestResult *res, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err);

/* app_decode_text for each result of every request (res: rs->n_results). */
void app_decode_all(const Options *o, const Tokenizer *tok, const RequestSet *rs, RequestResult *res);

/* Fills res->text from res->tokens, and for a chat res->reasoning and
 * res->content (free them with result_free_text). With r's stop strings
 * (r may be NULL), the text ends where the first one begins, the tokens
 * wholly before it stay and the finish is FINISH_STOP. */
void app_decode_text(const Tokenizer *tok, int chat, const Request *r, RequestResult *res);

/* The model file named on the command line, or with --dummy-weights a
 * virtual model of the preset's shape (weights made on the GPU). */
int app_open_model(const Options *o, Model *m, Error *err);

/* The backend named by --backend ("auto": the GPU if this build has one and a
 * device is present, else the CPU), computing at --precision. */
Backend *app_create_backend(const Options *o, const Model *m, int slots, int context, GpuLoad *load, Error *err);

/* Checks, before any work, that path can take this run's output and is none
 * of its input files (src/output_file.h says what is refused). */
int app_check_output(const Options *o, const char *path, Error *err);

/* The same for --report FILE (nothing without one), which may not be the
 * output itself either. */
int app_check_report(const Options *o, Error *err);

/* Writes the results to path (safely: src/output_file.h), in request order.
 * JSONL when path ends in ".jsonl" (for "-", when the requests were JSONL). */
int app_write_results(const Options *o, const Tokenizer *tok, const char *path, const RequestSet *rs, const RequestResult *res, Error *err);

#endif
