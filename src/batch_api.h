/* batch_api.h - the OpenAI Batch API's request and output files
 * (docs/request-format.md, "OpenAI Batch API").
 *
 * In: one JSON object a line, {"custom_id", "method": "POST", "url":
 * "/v1/chat/completions" | "/v1/completions", "body": {...}}. A chat body's
 * "messages" are rendered as harmony (as a JSONL "messages" request); a
 * completions body's "prompt" is raw text. The body's "model" is ignored.
 * A line that is bad (not JSON, an unknown field, a bad value, a field getp
 * does not support yet at other than its default) gets Request.error and
 * does not run, unless abort_on_error: then the first one fails the read.
 *
 * Out: one line a request, in input order: {"id", "custom_id", "response":
 * {"status_code": 200, "request_id", "body": {...}}, "error": null} for a line
 * that ran, {"id", "custom_id", "response": null, "error": {"code",
 * "message"}} for one that did not. Ids are "batch_req_<line index>" and
 * "req_<line index>": the same for every run and every rank count. */
#ifndef GETP_BATCH_API_H
#define GETP_BATCH_API_H

#include <stddef.h>
#include <stdio.h>

#include "requests.h"

/* Whether text (a whole request file) is a Batch API file: its first
 * non-blank line is a JSON object with "custom_id" and "body". */
int batch_api_detect(const char *text, size_t len);

/* Reads every line of text (the file path, for messages) into rs (rs->batch
 * set). Returns 0; -1 with err set when the file has no requests, or with
 * abort_on_error at the first bad line ("FILE:LINE: reason"). */
int batch_api_read(const char *path, const char *text, size_t len, int abort_on_error, RequestSet *rs, Error *err);

/* Marks r as not run: code (a static string) and message, which is
 * "PATH:LINE: reason" (written out as "line LINE: reason", so that the output
 * does not depend on where the file was). */
void batch_api_reject(Request *r, const char *code, const char *path, const char *message);

/* The completions API's most "logprobs" alternatives. */
#define BATCH_MAX_COMPLETION_LOGPROBS 5

/* Writes the output lines of a Batch API request set (res: rs->n_results;
 * a request's n choices are its body's "choices"). */
void batch_api_write(FILE *f, const Tokenizer *tok, const RequestSet *rs, const RequestResult *res);

#endif
