#include "batch_api.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "logprobs_out.h"

/* What a body field is, and so what is done with it. */
typedef enum {
    FIELD_IGNORED,     /* "model", "user": read past (a string or null) */
    FIELD_MESSAGES,    /* chat: the conversation */
    FIELD_PROMPT,      /* completions: raw text */
    FIELD_MAX_TOKENS,  /* "max_tokens", "max_completion_tokens": the smaller wins */
    FIELD_TEMPERATURE, /* [0, 2] as OpenAI's */
    FIELD_TOP_P,
    FIELD_SEED,
    FIELD_EFFORT,
    FIELD_STOP,
    FIELD_SAMPLING,         /* "n", and vLLM's "top_k" and "min_p" */
    FIELD_CHAT_LOGPROBS,    /* "logprobs": bool and "top_logprobs": 0-20 */
    FIELD_COMPLETION_LOGPROBS, /* "logprobs": 0-5 alternatives */
    FIELD_DEFAULT_ONLY /* not supported yet: accepted only at its default */
} FieldKind;

/* The defaults a FIELD_DEFAULT_ONLY field may have besides null. */
enum { DEFAULT_FALSE = 1, DEFAULT_ONE = 2, DEFAULT_ZERO = 4 };

typedef struct {
    const char *name;
    FieldKind kind;
    int defaults;
} BodyField;

static const BodyField CHAT_FIELDS[] = {
    {"model", FIELD_IGNORED, 0},          {"user", FIELD_IGNORED, 0},
    {"messages", FIELD_MESSAGES, 0},      {"max_tokens", FIELD_MAX_TOKENS, 0},
    {"max_completion_tokens", FIELD_MAX_TOKENS, 0}, {"temperature", FIELD_TEMPERATURE, 0},
    {"top_p", FIELD_TOP_P, 0},            {"seed", FIELD_SEED, 0},
    {"reasoning_effort", FIELD_EFFORT, 0}, {"stop", FIELD_STOP, 0},
    {"n", FIELD_SAMPLING, 0},             {"top_k", FIELD_SAMPLING, 0},
    {"min_p", FIELD_SAMPLING, 0},         {"logprobs", FIELD_CHAT_LOGPROBS, 0},
    {"top_logprobs", FIELD_CHAT_LOGPROBS, 0}, {"stream", FIELD_DEFAULT_ONLY, DEFAULT_FALSE},
    {"tools", FIELD_DEFAULT_ONLY, 0},     {"tool_choice", FIELD_DEFAULT_ONLY, 0},
    {"response_format", FIELD_DEFAULT_ONLY, 0}, {"logit_bias", FIELD_DEFAULT_ONLY, 0},
    {"frequency_penalty", FIELD_DEFAULT_ONLY, DEFAULT_ZERO}, {"presence_penalty", FIELD_DEFAULT_ONLY, DEFAULT_ZERO},
    {NULL, 0, 0}};

static const BodyField COMPLETION_FIELDS[] = {
    {"model", FIELD_IGNORED, 0},          {"user", FIELD_IGNORED, 0},
    {"prompt", FIELD_PROMPT, 0},          {"max_tokens", FIELD_MAX_TOKENS, 0},
    {"temperature", FIELD_TEMPERATURE, 0}, {"top_p", FIELD_TOP_P, 0},
    {"seed", FIELD_SEED, 0},              {"stop", FIELD_STOP, 0},
    {"n", FIELD_SAMPLING, 0},             {"top_k", FIELD_SAMPLING, 0},
    {"min_p", FIELD_SAMPLING, 0},         {"best_of", FIELD_DEFAULT_ONLY, DEFAULT_ONE},
    {"logprobs", FIELD_COMPLETION_LOGPROBS, 0}, {"echo", FIELD_DEFAULT_ONLY, DEFAULT_FALSE},
    {"suffix", FIELD_DEFAULT_ONLY, 0},    {"stream", FIELD_DEFAULT_ONLY, DEFAULT_FALSE},
    {"logit_bias", FIELD_DEFAULT_ONLY, 0}, {"frequency_penalty", FIELD_DEFAULT_ONLY, DEFAULT_ZERO},
    {"presence_penalty", FIELD_DEFAULT_ONLY, DEFAULT_ZERO}, {NULL, 0, 0}};

/* The error codes of an output line's "error". */
static const char *const CODE_JSON = "invalid_json";
static const char *const CODE_INVALID = "invalid_request";
static const char *const CODE_UNSUPPORTED = "unsupported_parameter";

static JsonValue *first_line_value(const char *text, size_t len, Error *err) {
    size_t i = strspn(text, " \t\r\n");
    if (i >= len) return NULL;
    const char *nl = memchr(text + i, '\n', len - i);
    return json_parse(text + i, nl ? (size_t)(nl - text) - i : len - i, err);
}

int batch_api_detect(const char *text, size_t len) {
    Error err;
    JsonValue *v = first_line_value(text, len, &err);
    int batch = v && json_get(v, "custom_id") && json_get(v, "body");
    json_free(v);
    return batch;
}

void batch_api_reject(Request *r, const char *code, const char *path, const char *message) {
    size_t skip = strlen(path) + 1;
    if (strncmp(message, path, skip - 1) != 0 || message[skip - 1] != ':') skip = 0;
    size_t n = strlen(message + skip) + 6;
    free(r->error);
    r->error = xmalloc(n);
    snprintf(r->error, n, "line %s", message + skip);
    r->error_code = code;
}

/* The value's JSON text (a string re-escaped). */
static char *json_text(const JsonValue *v) {
    char *out = NULL;
    size_t size;
    FILE *f = open_memstream(&out, &size);
    if (!f) return NULL;
    json_write_string(f, v->string, v->len);
    fclose(f);
    return out;
}

static int is_default(const JsonValue *v, int defaults) {
    if (v->type == JSON_NULL) return 1;
    if (v->type == JSON_BOOL && v->number == 0) return (defaults & DEFAULT_FALSE) != 0;
    if (v->type == JSON_NUMBER && v->number == 1) return (defaults & DEFAULT_ONE) != 0;
    if (v->type == JSON_NUMBER && v->number == 0) return (defaults & DEFAULT_ZERO) != 0;
    return 0;
}

/* "prompt" of a completions line: one string (a list of prompts or of token ids is not supported yet). */
static int prompt_field(const JsonValue *v, Request *r, const char *path, int line, const char **code, Error *err) {
    if (v->type == JSON_ARRAY) {
        *code = CODE_UNSUPPORTED;
        return error_set(err, "%s:%d: body: \"prompt\" as an array is not supported yet (give one string)", path, line);
    }
    if (v->type != JSON_STRING) return error_set(err, "%s:%d: body: \"prompt\" must be a string, got %s", path, line, request_json_type_name(v->type));
    if (!request_is_text(v->string, v->len)) return error_set(err, "%s:%d: body: \"prompt\" is not valid UTF-8 text", path, line);
    r->prompt = xmalloc(v->len + 1);
    memcpy(r->prompt, v->string, v->len + 1);
    r->prompt_len = v->len;
    return 0;
}

/* One body field (key, v) as fields says. */
static int body_field(const JsonValue *body, const char *key, const JsonValue *v, const BodyField *fields, Request *r, const char *path,
                      int line, const char **code, Error *err) {
    const BodyField *f = fields;
    while (f->name && strcmp(f->name, key) != 0) f++;
    if (!f->name) return error_set(err, "%s:%d: body: unknown field \"%.60s\"", path, line, key);
    int present;
    uint64_t n;
    switch (f->kind) {
    case FIELD_IGNORED:
        if (v->type == JSON_NULL || v->type == JSON_STRING) return 0;
        return error_set(err, "%s:%d: body: \"%s\" must be a string", path, line, key);
    case FIELD_MESSAGES: return request_messages_field(v, r, path, line, err);
    case FIELD_PROMPT: return prompt_field(v, r, path, line, code, err);
    case FIELD_MAX_TOKENS:
        if (request_uint_field(body, key, 1000000000, &present, &n, path, line, err) != 0) return -1;
        if (present && (r->max_tokens < 0 || (int)n < r->max_tokens)) r->max_tokens = (int)n;
        return 0;
    case FIELD_TEMPERATURE: return request_real_field(body, key, 0, 2, &r->temperature, path, line, err);
    case FIELD_TOP_P: return request_real_field(body, key, 0, 1, &r->top_p, path, line, err);
    case FIELD_SEED: return request_uint_field(body, key, UINT64_MAX, &r->has_seed, &r->seed, path, line, err);
    case FIELD_EFFORT: return request_effort_field(body, r, path, line, err);
    case FIELD_STOP: return request_stop_field(body, r, path, line, err);
    case FIELD_SAMPLING: return request_sampling_fields(body, r, path, line, err); /* reads all three: once per key is the same */
    case FIELD_CHAT_LOGPROBS: return request_chat_logprobs_fields(body, r, path, line, err);
    case FIELD_COMPLETION_LOGPROBS:
        if (request_uint_field(body, key, BATCH_MAX_COMPLETION_LOGPROBS, &present, &n, path, line, err) != 0) return -1;
        if (present) r->logprobs = (int)n;
        return 0;
    case FIELD_DEFAULT_ONLY:
        if (is_default(v, f->defaults)) return 0;
        *code = CODE_UNSUPPORTED;
        return error_set(err, "%s:%d: body: \"%s\" is not supported yet (only its default is accepted)", path, line, key);
    }
    return 0;
}

/* The body of a line whose url chose fields. */
static int read_body(const JsonValue *body, const BodyField *fields, Request *r, const char *path, int line, const char **code, Error *err) {
    if (body->type != JSON_OBJECT) return error_set(err, "%s:%d: \"body\" must be an object", path, line);
    for (size_t k = 0; k < body->n; k++) {
        if (memchr(body->keys[k], 0, body->key_lens[k])) return error_set(err, "%s:%d: body: a key holds a NUL", path, line);
        if (body_field(body, body->keys[k], &body->items[k], fields, r, path, line, code, err) != 0) return -1;
    }
    if (r->batch_url == BATCH_URL_CHAT && r->n_messages == 0) return error_set(err, "%s:%d: body: missing \"messages\"", path, line);
    if (r->batch_url == BATCH_URL_COMPLETIONS && !r->prompt) return error_set(err, "%s:%d: body: missing \"prompt\"", path, line);
    return 0;
}

/* The envelope {"custom_id", "method", "url", "body"}, then the body. */
static int read_object(const JsonValue *v, Request *r, const char *path, int line, const char **code, Error *err) {
    if (v->type != JSON_OBJECT) return error_set(err, "%s:%d: each line must be a JSON object", path, line);
    const JsonValue *id = json_get(v, "custom_id"), *method = json_get(v, "method"), *url = json_get(v, "url"), *body = json_get(v, "body");
    if (id && id->type == JSON_STRING) r->custom_id = json_text(id);
    for (size_t k = 0; k < v->n; k++)
        if (strcmp(v->keys[k], "custom_id") && strcmp(v->keys[k], "method") && strcmp(v->keys[k], "url") && strcmp(v->keys[k], "body"))
            return error_set(err, "%s:%d: unknown field \"%.60s\" (custom_id, method, url, body)", path, line, v->keys[k]);
    if (!id || id->type != JSON_STRING) return error_set(err, "%s:%d: missing string field \"custom_id\"", path, line);
    if (!method || method->type != JSON_STRING || strcmp(method->string, "POST") != 0)
        return error_set(err, "%s:%d: \"method\" must be \"POST\"", path, line);
    if (url && url->type == JSON_STRING && !strcmp(url->string, "/v1/chat/completions")) r->batch_url = BATCH_URL_CHAT;
    else if (url && url->type == JSON_STRING && !strcmp(url->string, "/v1/completions")) r->batch_url = BATCH_URL_COMPLETIONS;
    else return error_set(err, "%s:%d: \"url\" must be \"/v1/chat/completions\" or \"/v1/completions\"", path, line);
    if (!body) return error_set(err, "%s:%d: missing field \"body\"", path, line);
    return read_body(body, r->batch_url == BATCH_URL_CHAT ? CHAT_FIELDS : COMPLETION_FIELDS, r, path, line, code, err);
}

int batch_api_read(const char *path, const char *text, size_t len, int abort_on_error, RequestSet *rs, Error *err) {
    rs->batch = 1;
    rs->jsonl = 1;
    rs->record_errors = !abort_on_error;
    size_t cap = 16;
    rs->items = xcalloc(cap, sizeof *rs->items);
    int line = 0;
    for (size_t pos = 0; pos < len; pos++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, start = pos;
        pos = end;
        line++;
        if (strspn(text + start, " \t\r") >= end - start) continue; /* blank lines are allowed */
        if ((size_t)rs->n == cap) rs->items = xrealloc(rs->items, (cap *= 2) * sizeof *rs->items);
        Request *r = &rs->items[rs->n++];
        request_init(r, line);
        const char *code = CODE_INVALID;
        Error e;
        JsonValue *v = json_parse(text + start, end - start, &e);
        int rc;
        if (!v) {
            code = CODE_JSON;
            rc = error_set(err, "%s:%d: invalid JSON: %s", path, line, e.msg);
        } else {
            rc = read_object(v, r, path, line, &code, err);
        }
        json_free(v);
        if (rc != 0 && abort_on_error) return -1;
        if (rc != 0) batch_api_reject(r, code, path, err->msg);
    }
    if (rs->n == 0) return error_set(err, "%s: no requests in the file", path);
    return 0;
}

/* A JSON string field, or null for NULL. */
static void string_or_null(FILE *f, const char *key, const char *s, size_t len) {
    fprintf(f, "\"%s\":", key);
    if (s) json_write_string(f, s, len);
    else fputs("null", f);
}

/* One choice of a response body. */
static void write_choice(FILE *f, const Tokenizer *tok, int chat, int index, const RequestResult *r) {
    fprintf(f, "{\"index\":%d,", index);
    if (chat) {
        fputs("\"message\":{\"role\":\"assistant\",", f);
        string_or_null(f, "content", r->content, r->content_len);
        fputc(',', f);
        string_or_null(f, "reasoning_content", r->reasoning, r->reasoning_len);
        fputs("},", f);
    } else {
        string_or_null(f, "text", r->text ? r->text : "", r->text_len);
        fputc(',', f);
    }
    /* getp's "context" (the sequence reached the context limit) is a length limit too */
    fprintf(f, "\"finish_reason\":\"%s\",\"logprobs\":", r->finish == FINISH_STOP ? "stop" : "length");
    if (!r->logprobs) fputs("null", f);
    else if (chat) logprobs_write_chat(f, tok, r);
    else logprobs_write_completions(f, tok, r);
    fputc('}', f);
}

/* The response body of a line that ran: a chat.completion or a text_completion. */
static void write_body(FILE *f, const Tokenizer *tok, int i, const Request *q, const RequestResult *first) {
    int chat = q->batch_url == BATCH_URL_CHAT, completion_tokens = 0;
    fprintf(f, "{\"id\":\"%s-%d\",\"object\":\"%s\",\"choices\":[", chat ? "chatcmpl" : "cmpl", i, chat ? "chat.completion" : "text_completion");
    for (int c = 0; c < q->n_choices; c++) {
        if (c) fputc(',', f);
        write_choice(f, tok, chat, c, first + c);
        completion_tokens += first[c].n_tokens;
    }
    fprintf(f, "],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}", first->prompt_tokens, completion_tokens,
            first->prompt_tokens + completion_tokens);
}

void batch_api_write(FILE *f, const Tokenizer *tok, const RequestSet *rs, const RequestResult *res) {
    for (int i = 0; i < rs->n; i++) {
        const Request *q = &rs->items[i];
        fprintf(f, "{\"id\":\"batch_req_%d\",\"custom_id\":%s,\"response\":", i, q->custom_id ? q->custom_id : "null");
        if (q->error) {
            fprintf(f, "null,\"error\":{\"code\":\"%s\",", q->error_code);
            string_or_null(f, "message", q->error, strlen(q->error));
            fputs("}}\n", f);
            continue;
        }
        fprintf(f, "{\"status_code\":200,\"request_id\":\"req_%d\",\"body\":", i);
        write_body(f, tok, i, q, &res[q->first_result]);
        fputs("},\"error\":null}\n", f);
    }
}
