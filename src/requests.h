/* requests.h - request files in, output files out (docs/request-format.md).
 *
 * Plain text: the first line is the count N, then N prompts, one per line,
 * with the escapes \n \t \\ (any other backslash sequence is an error).
 * JSONL (file name ending in .jsonl): one object per line with "prompt" or
 * "messages" (a chat: [{"role", "content"}], system and developer first),
 * and optional "max_tokens", "temperature", "top_p", "seed", "id",
 * "reasoning_effort".
 * An OpenAI Batch API file (src/batch_api.h) is recognised by its first line.
 * A UTF-8 byte-order mark at the very start of either kind is skipped.
 * Every problem is reported as "FILE:LINE: reason". */
#ifndef GETP_REQUESTS_H
#define GETP_REQUESTS_H

#include <stdint.h>
#include <stdio.h>

#include "harmony.h"
#include "json.h"
#include "util.h"

typedef struct {
    char *prompt; /* unescaped UTF-8, NUL-terminated; NULL for a chat given as messages */
    size_t prompt_len;
    HarmonyTurn *messages; /* JSONL "messages" (then there is no prompt) */
    int n_messages;
    int reasoning_effort; /* a HarmonyEffort; < 0: the command-line default */
    /* JSONL "id" as the JSON text to write back: a number's literal exactly
     * as written (unquoted), or a string re-escaped with its quotes, so
     * id[0] == '"' tells a string id. NULL: none (the index is written). */
    char *id;
    int line;          /* 1-based line in the request file */
    int max_tokens;    /* < 0: the command-line default */
    float temperature; /* < 0: default */
    float top_p;       /* < 0: default */
    int has_seed;
    uint64_t seed;
    char **stop; /* "stop": up to REQUEST_MAX_STOP strings that end the completion (matched on its text) */
    int n_stop;
    int top_k;    /* < 0: default; 0: off */
    float min_p;  /* < 0: default */
    int logprobs; /* < -1: default; -1: none; else the alternatives per token (src/sampler.h) */
    int n_choices;    /* "n": completions of this prompt, each its own RNG stream; < 1: the default */
    int first_result; /* where its choices' results begin in the results array (RequestSet.n_results) */
    /* A Batch API line (src/batch_api.h): which endpoint, its "custom_id" as
     * JSON text (NULL: written as null), and, for a line that does not run,
     * why: error_code (a static string) and error (the message). */
    int batch_url; /* a BatchUrl */
    char *custom_id;
    const char *error_code;
    char *error;
} Request;

typedef enum { BATCH_URL_NONE, BATCH_URL_CHAT, BATCH_URL_COMPLETIONS } BatchUrl;

typedef struct {
    Request *items;
    int n;
    int n_results; /* the sum of the requests' n_choices */
    int jsonl;
    int batch;         /* an OpenAI Batch API file */
    int record_errors; /* a bad request becomes its line's error instead of failing the run */
} RequestSet;

/* --input-format: recognised from the content, or given. */
typedef enum { INPUT_FORMAT_AUTO, INPUT_FORMAT_GETP, INPUT_FORMAT_BATCH } InputFormat;
/* --on-error: record bad lines (the default for Batch API files, the only
 * choice there is for them to be recorded) or fail the run on the first. */
typedef enum { ON_ERROR_DEFAULT, ON_ERROR_RECORD, ON_ERROR_ABORT } OnError;

/* A request with every optional field at its default. */
void request_init(Request *r, int line);

int requests_read(const char *path, RequestSet *out, Error *err);
/* The same with the format given, and what a bad line does (record: Batch
 * API files only; getp's own formats are always strict). */
int requests_read_as(const char *path, InputFormat format, OnError on_error, RequestSet *out, Error *err);
void requests_free(RequestSet *rs);

/* Field readers that src/batch_api.c shares; errors are "FILE:LINE: reason".
 * An integer in [0, max] (absent or null: *present = 0); a number in
 * [lo, hi] (absent or null: *out unchanged); "messages" into r->messages;
 * "reasoning_effort" into r->reasoning_effort. */
int request_uint_field(const JsonValue *obj, const char *key, uint64_t max, int *present, uint64_t *out, const char *path, int line,
                       Error *err);
int request_real_field(const JsonValue *obj, const char *key, double lo, double hi, float *out, const char *path, int line, Error *err);
int request_messages_field(const JsonValue *v, Request *r, const char *path, int line, Error *err);
int request_effort_field(const JsonValue *obj, Request *r, const char *path, int line, Error *err);
/* "stop": null, a string, or an array of 1..REQUEST_MAX_STOP strings, none empty. */
#define REQUEST_MAX_STOP 4
int request_stop_field(const JsonValue *obj, Request *r, const char *path, int line, Error *err);
/* "top_k" (an integer, 0: off), "min_p" (in [0, 1]) and "n" (1 to
 * REQUEST_MAX_CHOICES). */
#define REQUEST_MAX_CHOICES 128
int request_sampling_fields(const JsonValue *obj, Request *r, const char *path, int line, Error *err);
/* Chat-style logprobs: "logprobs" (true/false) and "top_logprobs" (0 to
 * SAMPLE_MAX_TOP_LOGPROBS, which needs "logprobs": true). */
int request_chat_logprobs_fields(const JsonValue *obj, Request *r, const char *path, int line, Error *err);
/* Gives requests without "n" default_choices and numbers each request's
 * results (first_result, n_results). */
void requests_number_results(RequestSet *rs, int default_choices);
/* Whether s[0..len) is text a prompt may hold: valid UTF-8 without NULs. */
int request_is_text(const char *s, size_t len);
const char *request_json_type_name(JsonType t);

/* Decodes getp's escapes in s[0..len) into a new string. Returns NULL and
 * sets err (without file/line; the caller adds them) on a bad escape. */
char *unescape_line(const char *s, size_t len, size_t *out_len, Error *err);
/* Writes bytes with \n, \t and \\ escaped. */
void write_escaped(FILE *f, const char *s, size_t len);

typedef enum { FINISH_STOP, FINISH_LENGTH, FINISH_CONTEXT } FinishReason;
const char *finish_reason_name(FinishReason r);

struct TokenLogprobs;

/* What one request produced. */
typedef struct {
    int prompt_tokens;
    int *tokens; /* generated ids, without the stop token */
    int n_tokens;
    struct TokenLogprobs *logprobs; /* [n_tokens] where the request asked for them, else NULL (src/sampler.h) */
    FinishReason finish;
    char *text; /* decoded bytes of tokens */
    size_t text_len;
    /* A chat request's completion split by channel (src/harmony.h): the
     * analysis channel and the final one (with any text that had no
     * header). NULL: the completion has no such message, or the request was
     * no chat (chat = 0). */
    int chat;
    char *reasoning, *content;
    size_t reasoning_len, content_len;
    /* Seconds from the start of the run (every request is there at the start:
     * an offline batch) to its first token (the one its prefill sampled, a
     * stop token too) and to its end. */
    double first_token_s, finish_s;
} RequestResult;

/* Frees a result's text, reasoning and content. */
void result_free_text(RequestResult *r);
/* Frees all a result holds (tokens and logprobs too). */
void result_free(RequestResult *r);

/* Writes the results to f (res: rs->n_results, each request's choices from
 * its first_result), one line per request in request order (plain text: one
 * line per choice); format.jsonl selects the JSONL form, where a request of n > 1
 * choices has "choices" in place of one completion's fields. The tokenizer
 * spells out logprobs' tokens. A chat result in plain text is its final channel,
 * unless format.all_channels (then the whole text). (Where f goes safely:
 * src/output_file.h.) */
typedef struct {
    int jsonl;
    int all_channels; /* plain text: a chat's whole text, not its final channel */
    int timings;      /* JSONL: each completion's first_token_s and finish_s */
} ResultsFormat;
void results_write(FILE *f, const Tokenizer *tok, const RequestSet *rs, const RequestResult *res, ResultsFormat format);

#endif
