#include "requests.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include "batch_api.h"
#include "logprobs_out.h"
#include "sampler.h"
#include "json.h"

char *unescape_line(const char *s, size_t len, size_t *out_len, Error *err) {
    char *out = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        char e = i + 1 < len ? s[i + 1] : 0;
        if (e == 'n') out[n++] = '\n';
        else if (e == 't') out[n++] = '\t';
        else if (e == '\\') out[n++] = '\\';
        else {
            free(out);
            if (e == 0) error_set(err, "backslash at the end of the line (write \\\\ for a literal backslash)");
            else error_set(err, "unknown escape '\\%c' (only \\n, \\t and \\\\ are allowed)", e);
            return NULL;
        }
        i++;
    }
    out[n] = 0;
    *out_len = n;
    return out;
}

void write_escaped(FILE *f, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') fputs("\\n", f);
        else if (s[i] == '\t') fputs("\\t", f);
        else if (s[i] == '\\') fputs("\\\\", f);
        else fputc(s[i], f);
    }
}

const char *finish_reason_name(FinishReason r) {
    switch (r) {
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    case FINISH_CONTEXT: return "context";
    }
    return "?";
}

void request_init(Request *r, int line) {
    memset(r, 0, sizeof *r);
    r->line = line;
    r->max_tokens = -1;
    r->temperature = r->top_p = r->min_p = -1.0f;
    r->reasoning_effort = -1;
    r->top_k = -1;
    r->logprobs = -2;
    r->n_choices = 0;
}

void requests_number_results(RequestSet *rs, int default_choices) {
    rs->n_results = 0;
    for (int i = 0; i < rs->n; i++) {
        if (rs->items[i].n_choices < 1) rs->items[i].n_choices = default_choices;
        rs->items[i].first_result = rs->n_results;
        rs->n_results += rs->items[i].n_choices;
    }
}

void requests_free(RequestSet *rs) {
    for (int i = 0; i < rs->n; i++) {
        Request *r = &rs->items[i];
        free(r->prompt);
        free(r->id);
        free(r->custom_id);
        free(r->error);
        for (int k = 0; k < r->n_messages; k++) free(r->messages[k].content);
        free(r->messages);
        for (int k = 0; k < r->n_stop; k++) free(r->stop[k]);
        free(r->stop);
    }
    free(rs->items);
    memset(rs, 0, sizeof *rs);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Splits buf into lines (without "\n" or a trailing "\r"). NULL when there
 * are too many to count in an int. */
typedef struct {
    const char *start;
    size_t len;
} Line;

static Line *split_lines(const char *buf, size_t len, int *n_out) {
    size_t n = 0, cap = 16;
    Line *lines = xmalloc(cap * sizeof *lines);
    size_t i = 0;
    while (i < len) {
        if (n == INT_MAX - 1) {
            free(lines);
            return NULL;
        }
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (n == cap) lines = xrealloc(lines, (cap *= 2) * sizeof *lines);
        size_t l = end - i;
        if (l > 0 && buf[i + l - 1] == '\r') l--;
        lines[n].start = buf + i;
        lines[n].len = l;
        n++;
        i = end + 1;
    }
    *n_out = (int)n;
    return lines;
}

static int read_plain(const char *path, const Line *lines, int n_lines, RequestSet *rs, Error *err) {
    char count_text[32];
    size_t cl = lines[0].len < sizeof count_text - 1 ? lines[0].len : sizeof count_text - 1;
    memcpy(count_text, lines[0].start, cl);
    count_text[cl] = 0;
    char *end;
    errno = 0;
    long count = strtol(count_text, &end, 10);
    while (*end == ' ' || *end == '\t') end++;
    if (cl == 0 || *end != 0 || errno || count < 0 || count > 100000000 || lines[0].len >= sizeof count_text - 1)
        return error_set(err, "%s:1: the first line must be the number of requests, got '%.*s'", path, (int)cl, count_text);
    if (count == 0) return error_set(err, "%s:1: the file declares 0 requests; nothing to do", path);
    if (n_lines - 1 != count)
        return error_set(err, "%s:%d: the first line declares %ld requests but the file has %d prompt lines", path,
                         n_lines - 1 < count ? n_lines : (int)count + 2, count, n_lines - 1);
    rs->items = xcalloc((size_t)count, sizeof(Request));
    for (int i = 0; i < count; i++) {
        Request *r = &rs->items[i];
        request_init(r, i + 2);
        Error e;
        r->prompt = unescape_line(lines[i + 1].start, lines[i + 1].len, &r->prompt_len, &e);
        rs->n = i + 1;
        if (!r->prompt) return error_set(err, "%s:%d: %s", path, r->line, e.msg);
    }
    return 0;
}

const char *request_json_type_name(JsonType t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    }
    return "?";
}

/* What a bad field value was, for its message: a number as written (cut at
 * 40 characters), else its type. */
static void describe_value(const JsonValue *v, char *out, size_t cap) {
    if (v->type == JSON_NUMBER) snprintf(out, cap, "%.40s%s", v->string, v->len > 40 ? "..." : "");
    else snprintf(out, cap, "%s", request_json_type_name(v->type));
}

/* An integer field in [0, max], read exactly from the number's text (as a
 * double, a seed above 2^53 would be rounded). Absent or null: *present = 0. */
int request_uint_field(const JsonValue *obj, const char *key, uint64_t max, int *present, uint64_t *out, const char *path, int line,
                      Error *err) {
    const JsonValue *v = json_get(obj, key);
    *present = 0;
    if (!v || v->type == JSON_NULL) return 0;
    int negative;
    uint64_t m;
    if (json_integer(v, &negative, &m) == JSON_INT_OK && !(negative && m > 0) && m <= max) {
        *present = 1;
        *out = m;
        return 0;
    }
    char got[64];
    describe_value(v, got, sizeof got);
    return error_set(err, "%s:%d: \"%s\" must be an integer in [0, %" PRIu64 "], got %s", path, line, key, max, got);
}

/* A number field in [lo, hi]; absent or null leaves *out alone. */
int request_real_field(const JsonValue *obj, const char *key, double lo, double hi, float *out, const char *path, int line, Error *err) {
    const JsonValue *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type == JSON_NUMBER && v->number >= lo && v->number <= hi) {
        *out = (float)v->number;
        return 0;
    }
    char got[64];
    describe_value(v, got, sizeof got);
    return error_set(err, "%s:%d: \"%s\" must be a number in [%g, %g], got %s", path, line, key, lo, hi, got);
}

/* The id as the JSON text to echo in the output: a number exactly as written
 * (1e300 stays 1e300, 7 stays 7, not "7"), a string re-escaped (same value). */
static int id_field(const JsonValue *obj, char **out, const char *path, int line, Error *err) {
    const JsonValue *v = json_get(obj, "id");
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type == JSON_NUMBER) {
        *out = xstrdup(v->string);
        return 0;
    }
    if (v->type != JSON_STRING)
        return error_set(err, "%s:%d: \"id\" must be a string or a number, got %s", path, line, request_json_type_name(v->type));
    size_t size;
    FILE *f = open_memstream(out, &size);
    if (!f) return error_set(err, "%s:%d: out of memory", path, line);
    json_write_string(f, v->string, v->len);
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return error_set(err, "%s:%d: out of memory", path, line);
    }
    return 0;
}

/* Whether s[0..len) is text a prompt may hold: valid UTF-8 without NULs. */
int request_is_text(const char *s, size_t len) { return utf8_valid_prefix(s, len) == len && !memchr(s, 0, len); }

/* One entry of "messages": {"role": ..., "content": "..."}. */
static int message_entry(const JsonValue *m, int k, HarmonyTurn *t, const char *path, int line, Error *err) {
    if (m->type != JSON_OBJECT) return error_set(err, "%s:%d: \"messages\"[%d] must be an object, got %s", path, line, k, request_json_type_name(m->type));
    const JsonValue *role = json_get(m, "role"), *content = json_get(m, "content");
    if (!role || role->type != JSON_STRING)
        return error_set(err, "%s:%d: \"messages\"[%d] needs a string \"role\"", path, line, k);
    if (memchr(role->string, 0, role->len) || harmony_role_parse(role->string, &t->role) != 0)
        return error_set(err, "%s:%d: \"messages\"[%d]: unknown role \"%.40s\" (system, developer, user, assistant)", path, line, k,
                         role->string);
    if (!content || content->type != JSON_STRING)
        return error_set(err, "%s:%d: \"messages\"[%d] needs a string \"content\", got %s", path, line, k,
                         content ? request_json_type_name(content->type) : "none");
    if (!request_is_text(content->string, content->len))
        return error_set(err, "%s:%d: \"messages\"[%d]: \"content\" is not valid UTF-8 text", path, line, k);
    return 0;
}

/* "messages": a non-empty array of turns, the system and developer ones
 * before the others (they become one developer message at the top). */
int request_messages_field(const JsonValue *v, Request *r, const char *path, int line, Error *err) {
    if (v->type != JSON_ARRAY || v->n == 0)
        return error_set(err, "%s:%d: \"messages\" must be a non-empty array of {\"role\", \"content\"} objects", path, line);
    if (v->n > 1000000) return error_set(err, "%s:%d: \"messages\" has more than 1000000 entries", path, line);
    r->messages = xcalloc(v->n, sizeof *r->messages);
    int conversation_started = 0;
    for (size_t k = 0; k < v->n; k++) {
        HarmonyTurn *t = &r->messages[k];
        if (message_entry(&v->items[k], (int)k, t, path, line, err) != 0) return -1;
        int instructions = t->role == HARMONY_SYSTEM || t->role == HARMONY_DEVELOPER;
        if (instructions && conversation_started)
            return error_set(err, "%s:%d: \"messages\"[%d]: system and developer messages must come before the user and assistant ones",
                             path, line, (int)k);
        conversation_started |= !instructions;
        const JsonValue *content = json_get(&v->items[k], "content");
        t->content = xmalloc(content->len + 1);
        memcpy(t->content, content->string, content->len + 1);
        t->content_len = content->len;
        r->n_messages = (int)k + 1;
    }
    return 0;
}

/* "prompt" or "messages", exactly one of them. */
static int prompt_fields(const JsonValue *v, Request *r, const char *path, int line, Error *err) {
    const JsonValue *prompt = json_get(v, "prompt"), *messages = json_get(v, "messages");
    if (prompt && prompt->type == JSON_NULL) prompt = NULL; /* null counts as absent, as for every field */
    if (messages && messages->type == JSON_NULL) messages = NULL;
    if (prompt && messages) return error_set(err, "%s:%d: give \"prompt\" or \"messages\", not both", path, line);
    if (messages) return request_messages_field(messages, r, path, line, err);
    if (!prompt || prompt->type != JSON_STRING) return error_set(err, "%s:%d: missing string field \"prompt\" (or \"messages\")", path, line);
    if (!request_is_text(prompt->string, prompt->len)) return error_set(err, "%s:%d: \"prompt\" is not valid UTF-8 text", path, line);
    r->prompt = xmalloc(prompt->len + 1);
    memcpy(r->prompt, prompt->string, prompt->len + 1);
    r->prompt_len = prompt->len;
    return 0;
}

int request_effort_field(const JsonValue *obj, Request *r, const char *path, int line, Error *err) {
    const JsonValue *v = json_get(obj, "reasoning_effort");
    if (!v || v->type == JSON_NULL) return 0;
    HarmonyEffort e;
    if (v->type != JSON_STRING || memchr(v->string, 0, v->len) || harmony_effort_parse(v->string, &e) != 0)
        return error_set(err, "%s:%d: \"reasoning_effort\" must be \"low\", \"medium\" or \"high\"", path, line);
    r->reasoning_effort = (int)e;
    return 0;
}

int request_stop_field(const JsonValue *obj, Request *r, const char *path, int line, Error *err) {
    const JsonValue *v = json_get(obj, "stop");
    if (!v || v->type == JSON_NULL) return 0;
    const JsonValue *items = v->type == JSON_ARRAY ? v->items : v;
    size_t n = v->type == JSON_ARRAY ? v->n : 1;
    if ((v->type != JSON_ARRAY && v->type != JSON_STRING) || n == 0 || n > REQUEST_MAX_STOP)
        return error_set(err, "%s:%d: \"stop\" must be a string or an array of 1 to %d strings", path, line, REQUEST_MAX_STOP);
    for (size_t k = 0; k < n; k++)
        if (items[k].type != JSON_STRING || items[k].len == 0 || !request_is_text(items[k].string, items[k].len))
            return error_set(err, "%s:%d: \"stop\" must hold non-empty text strings", path, line);
    r->stop = xcalloc(n, sizeof *r->stop);
    for (size_t k = 0; k < n; k++) r->stop[r->n_stop++] = xstrdup(items[k].string);
    return 0;
}

int request_sampling_fields(const JsonValue *obj, Request *r, const char *path, int line, Error *err) {
    int has_k, has_n;
    uint64_t k = 0, n = 1;
    if (request_uint_field(obj, "top_k", 1000000000, &has_k, &k, path, line, err) != 0 ||
        request_real_field(obj, "min_p", 0, 1, &r->min_p, path, line, err) != 0)
        return -1;
    if (request_uint_field(obj, "n", REQUEST_MAX_CHOICES, &has_n, &n, path, line, err) != 0 || (has_n && n == 0)) {
        char got[64];
        describe_value(json_get(obj, "n"), got, sizeof got);
        return error_set(err, "%s:%d: \"n\" must be an integer in [1, %d], got %s", path, line, REQUEST_MAX_CHOICES, got);
    }
    if (has_k) r->top_k = (int)k;
    if (has_n) r->n_choices = (int)n;
    return 0;
}

int request_chat_logprobs_fields(const JsonValue *obj, Request *r, const char *path, int line, Error *err) {
    const JsonValue *on = json_get(obj, "logprobs");
    if (on && on->type != JSON_NULL && on->type != JSON_BOOL)
        return error_set(err, "%s:%d: \"logprobs\" must be true or false, got %s", path, line, request_json_type_name(on->type));
    int has_top;
    uint64_t top = 0;
    if (request_uint_field(obj, "top_logprobs", SAMPLE_MAX_TOP_LOGPROBS, &has_top, &top, path, line, err) != 0) return -1;
    int wanted = on && on->type == JSON_BOOL && on->number != 0;
    if (has_top && !wanted) return error_set(err, "%s:%d: \"top_logprobs\" needs \"logprobs\": true", path, line);
    if (on && on->type == JSON_BOOL) r->logprobs = wanted ? (int)top : -1;
    return 0;
}

/* Every field of one request line. */
static int read_object(const JsonValue *v, Request *r, const char *path, int line, Error *err) {
    if (v->type != JSON_OBJECT) return error_set(err, "%s:%d: each line must be a JSON object", path, line);
    int has_max;
    uint64_t max_tokens = 0;
    if (prompt_fields(v, r, path, line, err) != 0 || request_uint_field(v, "max_tokens", 1000000000, &has_max, &max_tokens, path, line, err) != 0 ||
        request_real_field(v, "temperature", 0, 100, &r->temperature, path, line, err) != 0 ||
        request_real_field(v, "top_p", 0, 1, &r->top_p, path, line, err) != 0 ||
        request_uint_field(v, "seed", UINT64_MAX, &r->has_seed, &r->seed, path, line, err) != 0 || id_field(v, &r->id, path, line, err) != 0 ||
        request_effort_field(v, r, path, line, err) != 0 || request_stop_field(v, r, path, line, err) != 0 ||
        request_sampling_fields(v, r, path, line, err) != 0 || request_chat_logprobs_fields(v, r, path, line, err) != 0)
        return -1;
    if (has_max) r->max_tokens = (int)max_tokens;
    return 0;
}

static int read_jsonl(const char *path, const Line *lines, int n_lines, RequestSet *rs, Error *err) {
    rs->items = xcalloc((size_t)n_lines, sizeof(Request));
    for (int i = 0; i < n_lines; i++) {
        const Line *l = &lines[i];
        size_t k = 0;
        while (k < l->len && (l->start[k] == ' ' || l->start[k] == '\t')) k++;
        if (k == l->len) continue; /* blank lines are allowed in JSONL */
        Error e;
        JsonValue *v = json_parse(l->start, l->len, &e);
        if (!v) return error_set(err, "%s:%d: invalid JSON: %s", path, i + 1, e.msg);
        Request *r = &rs->items[rs->n++];
        request_init(r, i + 1);
        int rc = read_object(v, r, path, i + 1, err);
        json_free(v);
        if (rc != 0) return rc;
    }
    if (rs->n == 0) return error_set(err, "%s: no requests in the file", path);
    return 0;
}

int requests_read(const char *path, RequestSet *rs, Error *err) { return requests_read_as(path, INPUT_FORMAT_AUTO, ON_ERROR_DEFAULT, rs, err); }

/* A file whose text is valid: Batch API, JSONL or plain. */
static int read_text(const char *path, const char *text, size_t len, InputFormat format, OnError on_error, RequestSet *rs, Error *err) {
    rs->batch = format == INPUT_FORMAT_BATCH || (format == INPUT_FORMAT_AUTO && batch_api_detect(text, len));
    if (rs->batch) return batch_api_read(path, text, len, on_error == ON_ERROR_ABORT, rs, err);
    if (on_error == ON_ERROR_RECORD)
        return error_set(err, "%s: --on-error record is for OpenAI Batch API files; getp's own formats stop at the first bad line", path);
    int n_lines, rc;
    Line *lines = split_lines(text, len, &n_lines);
    /* JSONL by name, or by content: a plain file starts with its count, never with '{' */
    size_t first = strspn(text, " \t\r\n");
    rs->jsonl = ends_with(path, ".jsonl") || (first < len && text[first] == '{');
    if (!lines) rc = error_set(err, "%s: more than %d lines", path, INT_MAX - 2);
    else rc = rs->jsonl ? read_jsonl(path, lines, n_lines, rs, err) : read_plain(path, lines, n_lines, rs, err);
    free(lines);
    return rc;
}

int requests_read_as(const char *path, InputFormat format, OnError on_error, RequestSet *rs, Error *err) {
    memset(rs, 0, sizeof *rs);
    size_t file_len;
    char *buf = read_file(path, &file_len, err);
    if (!buf) return -1;
    /* A UTF-8 byte-order mark (which some editors write) is not text: skip it
     * at the start of the file; anywhere else it is ordinary text. */
    size_t bom = file_len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
    const char *text = buf + bom;
    size_t len = file_len - bom;
    int rc;
    if (len == 0) {
        rc = error_set(err, "%s: the request file is empty", path);
    } else if (utf8_valid_prefix(text, len) != len || memchr(text, 0, len)) {
        size_t bad = utf8_valid_prefix(text, len);
        const char *nul = memchr(text, 0, len);
        if (nul && (size_t)(nul - text) < bad) bad = (size_t)(nul - text);
        size_t line = 1;
        for (size_t i = 0; i < bad; i++) line += text[i] == '\n';
        rc = error_set(err, "%s:%zu: invalid UTF-8 (or a NUL byte) at byte %zu", path, line, bad + bom);
    } else {
        rc = read_text(path, text, len, format, on_error, rs, err);
    }
    free(buf);
    if (rc != 0) requests_free(rs);
    return rc;
}

void result_free(RequestResult *r) {
    free(r->tokens);
    free(r->logprobs);
    r->tokens = NULL;
    r->logprobs = NULL;
    result_free_text(r);
}

void result_free_text(RequestResult *r) {
    free(r->text);
    free(r->reasoning);
    free(r->content);
    r->text = r->reasoning = r->content = NULL;
}

/* A JSON field with a string value, or null for NULL. */
static void write_string_field(FILE *f, const char *key, const char *s, size_t len) {
    fprintf(f, ",\"%s\":", key);
    if (s) json_write_string(f, s, len);
    else fputs("null", f);
}

/* One completion's fields in getp's JSONL (after the line's or the choice's opening). */
static void write_completion(FILE *f, const Tokenizer *tok, const RequestResult *r, int timings) {
    fprintf(f, "\"completion_tokens\":%d,\"finish_reason\":\"%s\",\"tokens\":[", r->n_tokens, finish_reason_name(r->finish));
    for (int t = 0; t < r->n_tokens; t++) fprintf(f, t ? ",%d" : "%d", r->tokens[t]);
    fputs("]", f);
    write_string_field(f, "text", r->text, r->text_len);
    if (r->chat) {
        write_string_field(f, "reasoning", r->reasoning, r->reasoning_len);
        write_string_field(f, "content", r->content, r->content_len);
    }
    if (r->logprobs) {
        fputs(",\"logprobs\":", f);
        logprobs_write_getp(f, tok, r);
    }
    if (timings) fprintf(f, ",\"first_token_s\":%.6f,\"finish_s\":%.6f", r->first_token_s, r->finish_s);
}

void results_write(FILE *f, const Tokenizer *tok, const RequestSet *rs, const RequestResult *res, ResultsFormat format) {
    if (rs->batch) {
        batch_api_write(f, tok, rs, res);
        return;
    }
    for (int i = 0; i < rs->n; i++) {
        const Request *q = &rs->items[i];
        const RequestResult *first = &res[q->first_result];
        if (!format.jsonl) {
            for (int c = 0; c < q->n_choices; c++) {
                const RequestResult *r = first + c;
                if (r->chat && !format.all_channels) write_escaped(f, r->content ? r->content : "", r->content_len);
                else write_escaped(f, r->text, r->text_len);
                fputc('\n', f);
            }
            continue;
        }
        fputs("{\"id\":", f);
        if (q->id) fputs(q->id, f); /* already JSON text */
        else fprintf(f, "%d", i);
        fprintf(f, ",\"prompt_tokens\":%d,", first->prompt_tokens);
        if (q->n_choices == 1) {
            write_completion(f, tok, first, format.timings);
        } else {
            fputs("\"choices\":[", f);
            for (int c = 0; c < q->n_choices; c++) {
                fprintf(f, "%s{\"index\":%d,", c ? "," : "", c);
                write_completion(f, tok, first + c, format.timings);
                fputc('}', f);
            }
            fputc(']', f);
        }
        fputs("}\n", f);
    }
}
