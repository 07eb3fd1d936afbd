#include "requests.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

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

void requests_free(RequestSet *rs) {
    for (int i = 0; i < rs->n; i++) {
        free(rs->items[i].prompt);
        free(rs->items[i].id);
    }
    free(rs->items);
    memset(rs, 0, sizeof *rs);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Splits buf into lines (without "\n" or a trailing "\r"). */
typedef struct {
    const char *start;
    size_t len;
} Line;

static Line *split_lines(const char *buf, size_t len, int *n_out) {
    int n = 0, cap = 16;
    Line *lines = xmalloc((size_t)cap * sizeof *lines);
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (n == cap) lines = xrealloc(lines, (size_t)(cap *= 2) * sizeof *lines);
        size_t l = end - i;
        if (l > 0 && buf[i + l - 1] == '\r') l--;
        lines[n].start = buf + i;
        lines[n].len = l;
        n++;
        i = end + 1;
    }
    *n_out = n;
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
        r->line = i + 2;
        r->max_tokens = -1;
        r->temperature = r->top_p = -1.0f;
        Error e;
        r->prompt = unescape_line(lines[i + 1].start, lines[i + 1].len, &r->prompt_len, &e);
        rs->n = i + 1;
        if (!r->prompt) return error_set(err, "%s:%d: %s", path, r->line, e.msg);
    }
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
        r->line = i + 1;
        r->max_tokens = -1;
        r->temperature = r->top_p = -1.0f;
        const JsonValue *prompt = json_get(v, "prompt");
        int rc = 0;
        if (v->type != JSON_OBJECT) rc = error_set(err, "%s:%d: each line must be a JSON object", path, i + 1);
        else if (!prompt || prompt->type != JSON_STRING) rc = error_set(err, "%s:%d: missing string field \"prompt\"", path, i + 1);
        else if (utf8_valid_prefix(prompt->string, prompt->len) != prompt->len || memchr(prompt->string, 0, prompt->len))
            rc = error_set(err, "%s:%d: \"prompt\" is not valid UTF-8 text", path, i + 1);
        if (rc == 0) {
            r->prompt = xmalloc(prompt->len + 1);
            memcpy(r->prompt, prompt->string, prompt->len + 1);
            r->prompt_len = prompt->len;
            struct {
                const char *key;
                double lo, hi;
            } ranges[] = {{"max_tokens", 0, 1e9}, {"temperature", 0, 100}, {"top_p", 0, 1}, {"seed", 0, 1.8e19}};
            for (size_t f = 0; f < 4 && rc == 0; f++) {
                const JsonValue *fv = json_get(v, ranges[f].key);
                if (!fv || fv->type == JSON_NULL) continue;
                if (fv->type != JSON_NUMBER || fv->number < ranges[f].lo || fv->number > ranges[f].hi ||
                    ((f == 0 || f == 3) && fv->number != floor(fv->number)))
                    rc = error_set(err, "%s:%d: \"%s\" must be a number in [%g, %g]%s", path, i + 1, ranges[f].key, ranges[f].lo,
                                   ranges[f].hi, f == 0 || f == 3 ? " (an integer)" : "");
            }
            if (rc == 0) {
                r->max_tokens = (int)json_number(v, "max_tokens", -1);
                r->temperature = (float)json_number(v, "temperature", -1);
                r->top_p = (float)json_number(v, "top_p", -1);
                const JsonValue *seed = json_get(v, "seed");
                if (seed && seed->type == JSON_NUMBER) {
                    r->has_seed = 1;
                    r->seed = (uint64_t)seed->number;
                }
                const JsonValue *id = json_get(v, "id");
                if (id && id->type == JSON_STRING) r->id = xstrdup(id->string);
                else if (id && id->type == JSON_NUMBER) {
                    char tmp[64];
                    snprintf(tmp, sizeof tmp, "%.17g", id->number);
                    r->id = xstrdup(tmp);
                }
            }
        }
        json_free(v);
        if (rc != 0) return rc;
    }
    if (rs->n == 0) return error_set(err, "%s: no requests in the file", path);
    return 0;
}

int requests_read(const char *path, RequestSet *rs, Error *err) {
    memset(rs, 0, sizeof *rs);
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return -1;
    int rc;
    if (len == 0) {
        rc = error_set(err, "%s: the request file is empty", path);
    } else if (utf8_valid_prefix(buf, len) != len || memchr(buf, 0, len)) {
        size_t bad = utf8_valid_prefix(buf, len);
        if (memchr(buf, 0, len) && (size_t)((char *)memchr(buf, 0, len) - buf) < bad) bad = (size_t)((char *)memchr(buf, 0, len) - buf);
        int line = 1;
        for (size_t i = 0; i < bad; i++) line += buf[i] == '\n';
        rc = error_set(err, "%s:%d: invalid UTF-8 (or a NUL byte) at byte %zu", path, line, bad);
    } else {
        int n_lines;
        Line *lines = split_lines(buf, len, &n_lines);
        rs->jsonl = ends_with(path, ".jsonl");
        rc = rs->jsonl ? read_jsonl(path, lines, n_lines, rs, err) : read_plain(path, lines, n_lines, rs, err);
        free(lines);
    }
    free(buf);
    if (rc != 0) requests_free(rs);
    return rc;
}

void results_write(FILE *f, const RequestSet *rs, const RequestResult *res, int jsonl) {
    for (int i = 0; i < rs->n; i++) {
        const RequestResult *r = &res[i];
        if (!jsonl) {
            write_escaped(f, r->text, r->text_len);
            fputc('\n', f);
            continue;
        }
        fputs("{\"id\":", f);
        if (rs->items[i].id) json_write_string(f, rs->items[i].id, strlen(rs->items[i].id));
        else fprintf(f, "%d", i);
        fprintf(f, ",\"prompt_tokens\":%d,\"completion_tokens\":%d,\"finish_reason\":\"%s\",\"tokens\":[", r->prompt_tokens, r->n_tokens,
                finish_reason_name(r->finish));
        for (int t = 0; t < r->n_tokens; t++) fprintf(f, t ? ",%d" : "%d", r->tokens[t]);
        fputs("],\"text\":", f);
        json_write_string(f, r->text, r->text_len);
        fputs("}\n", f);
    }
}
