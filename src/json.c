#include "json.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const char *s;
    size_t len, pos;
    Error *err;
    int depth;
} Parser;

static int perr(Parser *p, const char *what) { return error_set(p->err, "%s at byte %zu", what, p->pos); }

static void skip_ws(Parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r')) p->pos++;
}

static void put_utf8(char **buf, size_t *n, size_t *cap, uint32_t cp) {
    if (*n + 4 >= *cap) *buf = xrealloc(*buf, *cap = *cap * 2 + 8);
    char *o = *buf + *n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        *n += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        *n += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        *n += 3;
    } else {
        o[0] = (char)(0xf0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        *n += 4;
    }
}

static int hex4(Parser *p, uint32_t *out) {
    if (p->pos + 4 > p->len) return perr(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return perr(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static int parse_string(Parser *p, char **out, size_t *out_len) {
    p->pos++; /* opening quote */
    size_t cap = 16, n = 0;
    char *buf = xmalloc(cap);
    while (p->pos < p->len) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            buf[n] = 0;
            *out = buf;
            *out_len = n;
            return 0;
        }
        if (c < 0x20) {
            free(buf);
            return perr(p, "control character in string");
        }
        if (c == '\\') {
            if (++p->pos >= p->len) break;
            char e = p->s[p->pos++];
            uint32_t cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(p, &cp) != 0) {
                    free(buf);
                    return -1;
                }
                if (cp >= 0xd800 && cp < 0xdc00) {
                    uint32_t lo;
                    if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        free(buf);
                        return perr(p, "unpaired surrogate in \\u escape");
                    }
                    p->pos += 2;
                    if (hex4(p, &lo) != 0 || lo < 0xdc00 || lo >= 0xe000) {
                        free(buf);
                        return perr(p, "unpaired surrogate in \\u escape");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000) {
                    free(buf);
                    return perr(p, "unpaired surrogate in \\u escape");
                }
                break;
            default:
                free(buf);
                return perr(p, "invalid escape in string");
            }
            put_utf8(&buf, &n, &cap, cp);
            continue;
        }
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        buf[n++] = (char)c;
        p->pos++;
    }
    free(buf);
    return perr(p, "unterminated string");
}

static int parse_value(Parser *p, JsonValue *v);

static int parse_container(Parser *p, JsonValue *v, int is_object) {
    char close = is_object ? '}' : ']';
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    p->pos++;
    size_t cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = xrealloc(v->items, cap * sizeof(JsonValue));
            if (is_object) v->keys = xrealloc(v->keys, cap * sizeof(char *));
        }
        skip_ws(p);
        if (is_object) {
            size_t klen;
            if (p->pos >= p->len || p->s[p->pos] != '"') return perr(p, "expected a string key");
            if (parse_string(p, &v->keys[v->n], &klen) != 0) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(v->keys[v->n]);
                return perr(p, "expected ':'");
            }
            p->pos++;
        }
        memset(&v->items[v->n], 0, sizeof(JsonValue));
        int rc = parse_value(p, &v->items[v->n]);
        v->n++;
        if (rc != 0) return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return perr(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(Parser *p, JsonValue *v) {
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, "unexpected end of input");
    if (++p->depth > 64) return perr(p, "nesting too deep");
    char c = p->s[p->pos];
    int rc = 0;
    if (c == '{' || c == '[') {
        rc = parse_container(p, v, c == '{');
    } else if (c == '"') {
        v->type = JSON_STRING;
        rc = parse_string(p, &v->string, &v->len);
    } else if (c == 't' && p->len - p->pos >= 4 && !memcmp(p->s + p->pos, "true", 4)) {
        v->type = JSON_BOOL;
        v->number = 1;
        p->pos += 4;
    } else if (c == 'f' && p->len - p->pos >= 5 && !memcmp(p->s + p->pos, "false", 5)) {
        v->type = JSON_BOOL;
        p->pos += 5;
    } else if (c == 'n' && p->len - p->pos >= 4 && !memcmp(p->s + p->pos, "null", 4)) {
        v->type = JSON_NULL;
        p->pos += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        size_t k = 0;
        while (p->pos < p->len && k < sizeof tmp - 1 && strchr("+-0123456789.eE", p->s[p->pos])) tmp[k++] = p->s[p->pos++];
        tmp[k] = 0;
        char *end;
        v->type = JSON_NUMBER;
        v->number = strtod(tmp, &end);
        if (*end != 0 || !isfinite(v->number)) rc = perr(p, "invalid number");
    } else {
        rc = perr(p, "unexpected character");
    }
    p->depth--;
    return rc;
}

static void free_inner(JsonValue *v) {
    free(v->string);
    for (size_t i = 0; i < v->n; i++) {
        free_inner(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

JsonValue *json_parse(const char *text, size_t len, Error *err) {
    Parser p = {text, len, 0, err, 0};
    JsonValue *v = xcalloc(1, sizeof *v);
    if (parse_value(&p, v) != 0) {
        json_free(v);
        return NULL;
    }
    skip_ws(&p);
    if (p.pos != len) {
        perr(&p, "trailing characters after the value");
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    return NULL;
}

double json_number(const JsonValue *obj, const char *key, double def) {
    const JsonValue *v = json_get(obj, key);
    return v && v->type == JSON_NUMBER ? v->number : def;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp < 0xe000)) return 0;
    return n;
}

size_t utf8_valid_prefix(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(u + i, len - i);
        if (!n) return i;
        i += n;
    }
    return len;
}

void json_write_string(FILE *f, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0) {
            fputs("\xef\xbf\xbd", f);
            i++;
            continue;
        }
        unsigned char c = u[i];
        if (n == 1) {
            if (c == '"') fputs("\\\"", f);
            else if (c == '\\') fputs("\\\\", f);
            else if (c == '\n') fputs("\\n", f);
            else if (c == '\t') fputs("\\t", f);
            else if (c == '\r') fputs("\\r", f);
            else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        } else {
            fwrite(u + i, 1, n, f);
        }
        i += n;
    }
    fputc('"', f);
}
