/* logprobs_out.h - a completion's log-probabilities (src/sampler.h's
 * TokenLogprobs) written as JSON in the three shapes getp answers in
 * (docs/request-format.md shows each):
 *   getp's JSONL: [{"id", "token", "logprob", "top_logprobs": [{"id", "token", "logprob"}]}]
 *   the chat API: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}
 *   the completions API: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}
 * A token's text is its bytes; bytes that are not UTF-8 on their own (part
 * of a character) are written as U+FFFD, and "bytes" gives them exactly. */
#ifndef GETP_LOGPROBS_OUT_H
#define GETP_LOGPROBS_OUT_H

#include <stdio.h>

#include "requests.h"
#include "sampler.h"
#include "tokenizer.h"

void logprobs_write_getp(FILE *f, const Tokenizer *tok, const RequestResult *r);
void logprobs_write_chat(FILE *f, const Tokenizer *tok, const RequestResult *r);
void logprobs_write_completions(FILE *f, const Tokenizer *tok, const RequestResult *r);

#endif
