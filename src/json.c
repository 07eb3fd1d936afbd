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

static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* What could continue a number-like token: digits, letters, '+', '-', '.'. */
static int is_number_char(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

static void skip_ws(Parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r')) p->pos++;
}

/* Copies s[0..len) into out for an error message: printable as is, control
 * bytes (and NUL) as \u00XX, cut at a character boundary with "..." when
 * longer than about 60 bytes. s is valid UTF-8. */
static void describe_text(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0, i = 0;
    while (i < len && o + 8 < cap && o < 60) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            o += (size_t)snprintf(out + o, cap - o, c == '"' || c == '\\' ? "\\%c" : "\\u%04x", c);
            i++;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)s + i, len - i);
        if (k == 0) k = 1;
        if (o + k + 8 >= cap) break;
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    if (i < len && o + 4 <= cap) memcpy(out + o, "...", 3), o += 3;
    out[o] = 0;
}

/* "unexpected character" with the character named: a stray byte-order mark
 * or other invisible byte would otherwise make a puzzling message. */
static int unexpected(Parser *p) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c > 0x20 && c < 0x7f) return error_set(p->err, "unexpected character '%c' at byte %zu", c, p->pos);
    if (p->len - p->pos >= 3 && !memcmp(p->s + p->pos, "\xef\xbb\xbf", 3))
        return error_set(p->err, "unexpected byte-order mark (U+FEFF) at byte %zu", p->pos);
    return error_set(p->err, "unexpected byte 0x%02x at byte %zu", c, p->pos);
}

static int hex4(Parser *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++, p->pos++) {
        if (p->pos >= p->len || p->s[p->pos] == '"') return perr(p, "truncated \\u escape (it takes 4 hex digits)");
        char c = p->s[p->pos];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return perr(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* A \u escape (p->pos just past the 'u'). A surrogate must come as a high
 * and low pair; a lone one is rejected rather than turned into U+FFFD, since
 * it cannot be represented in UTF-8 and silently changing text is worse. */
static int parse_u_escape(Parser *p, uint32_t *cp) {
    size_t at = p->pos - 2;
    if (hex4(p, cp) != 0) return -1;
    if (*cp >= 0xdc00 && *cp < 0xe000) {
        p->pos = at;
        return perr(p, "lone low surrogate in \\u escape");
    }
    if (*cp < 0xd800 || *cp >= 0xdc00) return 0;
    uint32_t lo;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
        p->pos = at;
        return perr(p, "lone high surrogate in \\u escape (no low surrogate follows)");
    }
    p->pos += 2;
    if (hex4(p, &lo) != 0) return -1;
    if (lo < 0xdc00 || lo >= 0xe000) {
        p->pos = at;
        return perr(p, "lone high surrogate in \\u escape (no low surrogate follows)");
    }
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
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
            return perr(p, "control character in string (write it as an escape, e.g. \\n or \\u0001)");
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
                if (parse_u_escape(p, &cp) != 0) {
                    free(buf);
                    return -1;
                }
                break;
            default:
                p->pos -= 2;
                free(buf);
                return perr(p, "invalid escape in string");
            }
            utf8_append(&buf, &n, &cap, cp);
            continue;
        }
        /* JSON text is UTF-8 (RFC 8259); keys and values are used as text. */
        size_t k = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (k == 0) {
            free(buf);
            return perr(p, "invalid UTF-8 in string");
        }
        if (n + k >= cap) buf = xrealloc(buf, cap *= 2);
        memcpy(buf + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    free(buf);
    return perr(p, "unterminated string");
}

/* A rejected number, named with the text it starts with. */
static int number_error(Parser *p, size_t start, const char *why) {
    size_t end = start;
    while (end < p->len && end - start < 40 && is_number_char(p->s[end])) end++;
    int more = end < p->len && is_number_char(p->s[end]);
    char text[64];
    describe_text(p->s + start, end - start, text, sizeof text);
    p->pos = start;
    return error_set(p->err, "invalid number '%s%s': %s at byte %zu", text, more ? "..." : "", why, start);
}

/* JSON's number grammar, exactly: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
 * with no length limit; the value keeps its text (for exact integers) and
 * the nearest double. */
static int parse_number(Parser *p, JsonValue *v) {
    const char *s = p->s;
    size_t start = p->pos, i = p->pos, len = p->len;
    char c = s[i];
    if (c == '+') return number_error(p, start, "JSON numbers have no '+' sign");
    if (c == '.') return number_error(p, start, "a digit must come before '.'");
    if (c == 'N' || c == 'I') return number_error(p, start, "NaN and Infinity are not JSON");
    if (c == '-') i++;
    if (i >= len || !is_digit(s[i])) return number_error(p, start, "expected a digit after '-'");
    if (s[i] == '0') {
        i++;
        if (i < len && is_digit(s[i])) return number_error(p, start, "leading zeros are not allowed");
        if (i < len && (s[i] == 'x' || s[i] == 'X')) return number_error(p, start, "hexadecimal is not JSON");
    } else {
        while (i < len && is_digit(s[i])) i++;
    }
    if (i < len && s[i] == '.') {
        if (++i >= len || !is_digit(s[i])) return number_error(p, start, "expected a digit after '.'");
        while (i < len && is_digit(s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !is_digit(s[i])) return number_error(p, start, "expected a digit in the exponent");
        while (i < len && is_digit(s[i])) i++;
    }
    /* "1.2.3", "1e5e5", "12abc": the grammar ended but the token did not */
    if (i < len && is_number_char(s[i])) return number_error(p, start, "not a JSON number");
    v->type = JSON_NUMBER;
    v->len = i - start;
    v->string = xmalloc(v->len + 1);
    memcpy(v->string, s + start, v->len);
    v->string[v->len] = 0;
    v->number = strtod(v->string, NULL);
    if (!isfinite(v->number)) return number_error(p, start, "out of range (beyond +-1.8e308)");
    p->pos = i;
    return 0;
}

typedef struct {
    const char *s;
    size_t len, pos;
} KeyRef;

static int keyref_cmp(const void *a, const void *b) {
    const KeyRef *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    int c = memcmp(x->s, y->s, x->len);
    if (c) return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Two members with one key would make the value depend on which one a reader
 * takes; reject. Sorting keeps this O(n log n) for objects of any size; the
 * message names the first repeat in document order. */
static int check_duplicates(Parser *p, const JsonValue *v, const size_t *key_pos) {
    if (v->n < 2) return 0;
    KeyRef *r = xmalloc(v->n * sizeof *r);
    for (size_t i = 0; i < v->n; i++) r[i] = (KeyRef){v->keys[i], v->key_lens[i], key_pos[i]};
    qsort(r, v->n, sizeof *r, keyref_cmp);
    size_t dup = 0, at = (size_t)-1;
    for (size_t i = 1; i < v->n; i++)
        if (r[i].len == r[i - 1].len && !memcmp(r[i].s, r[i - 1].s, r[i].len) && r[i].pos < at) at = r[i].pos, dup = i;
    int rc = 0;
    if (at != (size_t)-1) {
        char name[80];
        describe_text(r[dup].s, r[dup].len, name, sizeof name);
        rc = error_set(p->err, "duplicate key \"%s\" at byte %zu", name, at);
    }
    free(r);
    return rc;
}

static int parse_value(Parser *p, JsonValue *v);

static int parse_container(Parser *p, JsonValue *v, int is_object) {
    char close = is_object ? '}' : ']';
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    p->pos++;
    size_t cap = 0, *key_pos = NULL;
    int rc = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? cap * 2 : 4;
            v->items = xrealloc(v->items, cap * sizeof(JsonValue));
            if (is_object) {
                v->keys = xrealloc(v->keys, cap * sizeof(char *));
                v->key_lens = xrealloc(v->key_lens, cap * sizeof(size_t));
                key_pos = xrealloc(key_pos, cap * sizeof(size_t));
            }
        }
        skip_ws(p);
        if (is_object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                rc = perr(p, "expected a string key");
                break;
            }
            key_pos[v->n] = p->pos;
            if (parse_string(p, &v->keys[v->n], &v->key_lens[v->n]) != 0) {
                rc = -1;
                break;
            }
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(v->keys[v->n]);
                rc = perr(p, "expected ':'");
                break;
            }
            p->pos++;
        }
        memset(&v->items[v->n], 0, sizeof(JsonValue));
        rc = parse_value(p, &v->items[v->n]);
        v->n++;
        if (rc != 0) break;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            if (is_object) rc = check_duplicates(p, v, key_pos);
            break;
        }
        rc = perr(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    free(key_pos);
    return rc;
}

static int parse_value(Parser *p, JsonValue *v) {
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, "unexpected end of input");
    /* Recursion per level: a cap keeps "[[[[..." from overflowing the stack. */
    if (p->depth >= JSON_MAX_DEPTH) return error_set(p->err, "nesting deeper than %d levels at byte %zu", JSON_MAX_DEPTH, p->pos);
    p->depth++;
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
    } else if (c == '-' || is_digit(c) || c == '+' || c == '.' || (c == 'N' && p->len - p->pos >= 3 && !memcmp(p->s + p->pos, "NaN", 3)) ||
               (c == 'I' && p->len - p->pos >= 8 && !memcmp(p->s + p->pos, "Infinity", 8))) {
        rc = parse_number(p, v);
    } else {
        rc = unexpected(p);
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
    free(v->key_lens);
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
    size_t klen = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->key_lens[i] == klen && memcmp(obj->keys[i], key, klen) == 0) return &obj->items[i];
    return NULL;
}

double json_number(const JsonValue *obj, const char *key, double def) {
    const JsonValue *v = json_get(obj, key);
    return v && v->type == JSON_NUMBER ? v->number : def;
}

JsonIntStatus json_integer(const JsonValue *v, int *negative, uint64_t *magnitude) {
    if (!v || v->type != JSON_NUMBER) return JSON_INT_NOT_INTEGER;
    /* The text is valid JSON (the parser checked): -?INT(.FRAC)?(e[+-]?EXP)?.
     * Its value is DIGITS x 10^(EXP - len(FRAC)) with DIGITS = INT FRAC. */
    const char *s = v->string, *end = v->string + v->len;
    *negative = *s == '-';
    if (*negative) s++;
    const char *int_start = s;
    while (s < end && is_digit(*s)) s++;
    const char *int_end = s, *frac_start = s, *frac_end = s;
    if (s < end && *s == '.') {
        frac_start = ++s;
        while (s < end && is_digit(*s)) s++;
        frac_end = s;
    }
    long long exp = 0;
    if (s < end && (*s == 'e' || *s == 'E')) {
        int eneg = *++s == '-';
        if (*s == '-' || *s == '+') s++;
        for (; s < end; s++)
            if (exp < 1000000000) exp = exp * 10 + (*s - '0'); /* saturates: far past any 64-bit value */
        if (eneg) exp = -exp;
    }
    /* the significant digits: INT FRAC without leading and trailing zeros */
    size_t n_int = (size_t)(int_end - int_start), n_frac = (size_t)(frac_end - frac_start), n = n_int + n_frac;
#define DIGIT(k) ((k) < n_int ? int_start[k] : frac_start[(k) - n_int])
    size_t first = 0, last = n;
    while (first < n && DIGIT(first) == '0') first++;
    while (last > first && DIGIT(last - 1) == '0') last--;
    *magnitude = 0;
    if (first == last) return JSON_INT_OK; /* zero, however written */
    long long scale = exp - (long long)n_frac + (long long)(n - last);
    if (scale < 0) return JSON_INT_NOT_INTEGER;
    if ((long long)(last - first) + scale > 20) return JSON_INT_TOO_LARGE;
    uint64_t m = 0;
    for (size_t k = first; k < last; k++) {
        unsigned d = (unsigned)(DIGIT(k) - '0');
        if (m > (UINT64_MAX - d) / 10) return JSON_INT_TOO_LARGE;
        m = m * 10 + d;
    }
#undef DIGIT
    for (long long k = 0; k < scale; k++) {
        if (m > UINT64_MAX / 10) return JSON_INT_TOO_LARGE;
        m *= 10;
    }
    *magnitude = m;
    return JSON_INT_OK;
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
