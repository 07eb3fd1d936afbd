/* fuzz_mutate.c - the fuzz driver's generic mutations (tests/fuzz/fuzz.h):
 * the byte buffer, bit flips, interesting bytes and numbers, dictionary
 * tokens, splices, truncations, long runs, and the value mutations that keep
 * JSON well formed. Every choice comes from the input's own Rng. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

void buf_reserve(Buf *b, size_t n) {
    if (n <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}
void buf_set(Buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p, data, n);
    b->len = n;
}
void buf_insert(Buf *b, size_t pos, const void *data, size_t n) {
    if (n == 0) return; /* b->p may still be NULL, which memmove may not get */
    buf_reserve(b, b->len + n);
    memmove(b->p + pos + n, b->p + pos, b->len - pos);
    memcpy(b->p + pos, data, n);
    b->len += n;
}
void buf_erase(Buf *b, size_t pos, size_t n) {
    memmove(b->p + pos, b->p + pos + n, b->len - pos - n);
    b->len -= n;
}
void buf_free(Buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Numbers that make casts and range checks interesting (config.json,
 * safetensors shapes and offsets). */
static const char *const INTERESTING_NUMBERS[] = {
    "0", "1", "-1", "-0", "2", "31", "32", "33", "64", "255", "256", "257", "4095", "4096", "65536", "65537",
    "2147483647", "2147483648", "4294967295", "4294967296", "1e10", "1e19", "1.8446744073709552e19", "1e30", "1e308",
    "-1e30", "0.5", "3.5", "-0.5", "1e-9", "9007199254740993", "16777217",
};

const uint8_t INTERESTING_BYTES[] = {0, 0xff, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, '"', '\\', '{', '}', '[', ']', ',',
                                            ':', '0', '1', '5', '9', '-', '.', 'e', '\n', '\r', '\t', ' ', '<', '|', '>'};
const size_t N_INTERESTING_BYTES = sizeof INTERESTING_BYTES;

size_t seed_len(const Seed *s) { return s->len ? s->len : strlen(s->text); }

static void insert_run(Buf *b, Rng *r, const MutateCfg *cfg) {
    static const char *const units[] = {"a", "A", " ", "1", "\n", ".", "\t", "ab", "\xc3\xa9", "\xe6\x97\xa5", "<|", "|>",
                                        "\xff", "\\n", "[", "{\"a\":", "\xf0\x9f\x91\x8d"};
    const char *unit = rng_chance(r, 4) && cfg->n_dict ? cfg->dict[rng_below(r, cfg->n_dict)]
                                                       : units[rng_below(r, sizeof units / sizeof *units)];
    size_t ulen = strlen(unit) ? strlen(unit) : 1; /* the dictionary's "\x00" is one NUL byte */
    /* lengths spread over 16 .. max_run, most of them short */
    size_t want = (size_t)16 << rng_below(r, 13);
    if (want > cfg->max_run) want = cfg->max_run;
    want += rng_below(r, want / 2 + 1);
    if (b->len + ulen > cfg->max_len) return;
    size_t reps = want / ulen;
    if (reps * ulen > cfg->max_len - b->len) reps = (cfg->max_len - b->len) / ulen;
    size_t pos = rng_below(r, b->len + 1);
    buf_reserve(b, b->len + reps * ulen);
    memmove(b->p + pos + reps * ulen, b->p + pos, b->len - pos);
    for (size_t k = 0; k < reps; k++) memcpy(b->p + pos + k * ulen, unit, ulen);
    b->len += reps * ulen;
}

/* The number at or after a random position, replaced by one of vals. */
static void replace_number_with(Buf *b, Rng *r, const char *const *vals, size_t n_vals) {
    if (b->len == 0) return;
    size_t i = rng_below(r, b->len);
    while (i < b->len && !(b->p[i] >= '0' && b->p[i] <= '9')) i++;
    if (i == b->len) return;
    while (i > 0 && b->p[i - 1] && strchr("-+.eE0123456789", b->p[i - 1])) i--;
    size_t end = i;
    while (end < b->len && b->p[end] && strchr("-+.eE0123456789", b->p[end])) end++;
    const char *num = vals[rng_below(r, n_vals)];
    buf_erase(b, i, end - i);
    buf_insert(b, i, num, strlen(num));
    /* now and then a stray byte right after it: where a number ends is
     * where number parsers go wrong */
    if (rng_chance(r, 8)) {
        static const uint8_t stray[] = {0x00, 0x01, 0x1f, 0x7f, 0xff, '+', '-', '.', 'e', 'x', ' ', '\t', '"'};
        buf_insert(b, i + strlen(num), &stray[rng_below(r, sizeof stray)], 1);
    }
}

static void replace_number(Buf *b, Rng *r) {
    replace_number_with(b, r, INTERESTING_NUMBERS, sizeof INTERESTING_NUMBERS / sizeof *INTERESTING_NUMBERS);
}

/* Mutations that mostly keep JSON well formed, so that what reads it gets
 * past the parser: numbers at range edges, another dtype, a value of another
 * type, a line (one member of config.json) deleted. */
void mutate_values(Buf *b, Rng *r) {
    static const char *const dtypes[] = {"\"F32\"", "\"BF16\"", "\"F16\"", "\"U8\"", "\"I64\"", "\"F64\"", "\"\""};
    static const char *const others[] = {"null", "true", "\"12\"", "[]", "{}", "[1,2]", "-0.0", "1.5", "[64]"};
    for (size_t k = 1 + rng_below(r, 3); k > 0 && b->len; k--) {
        switch (rng_below(r, 6)) {
        case 0:
        case 1:
        case 2: replace_number(b, r); break;
        case 3: replace_number_with(b, r, others, sizeof others / sizeof *others); break;
        case 4: { /* the dtype string at or after a random position */
            for (size_t i = rng_below(r, b->len); i + 2 < b->len; i++) {
                size_t end = i + 1;
                if (b->p[i] != '"' || !(b->p[end] >= 'A' && b->p[end] <= 'Z')) continue;
                while (end < b->len && ((b->p[end] >= 'A' && b->p[end] <= 'Z') || (b->p[end] >= '0' && b->p[end] <= '9'))) end++;
                if (end == b->len || b->p[end] != '"' || end - i > 5) continue;
                const char *d = dtypes[rng_below(r, sizeof dtypes / sizeof *dtypes)];
                buf_erase(b, i, end + 1 - i);
                buf_insert(b, i, d, strlen(d));
                break;
            }
            break;
        }
        case 5: { /* the line after a random position */
            size_t at = rng_below(r, b->len);
            uint8_t *nl = memchr(b->p + at, '\n', b->len - at);
            size_t from = nl ? (size_t)(nl - b->p) + 1 : b->len;
            uint8_t *nl2 = from < b->len ? memchr(b->p + from, '\n', b->len - from) : NULL;
            if (nl2) buf_erase(b, from, (size_t)(nl2 - b->p) + 1 - from);
            break;
        }
        }
    }
}

/* One mutation; the buffer stays within cfg->max_len. */
static void mutate_once(Buf *b, Rng *r, const MutateCfg *cfg) {
    size_t len = b->len;
    switch (rng_below(r, 12)) {
    case 0: /* flip a bit */
        if (len) b->p[rng_below(r, len)] ^= (uint8_t)(1u << rng_below(r, 8));
        break;
    case 1: /* set a byte to an interesting value */
        if (len) b->p[rng_below(r, len)] = INTERESTING_BYTES[rng_below(r, sizeof INTERESTING_BYTES)];
        break;
    case 2: { /* insert a few random bytes */
        uint8_t tmp[8];
        size_t n = 1 + rng_below(r, sizeof tmp);
        for (size_t k = 0; k < n; k++) tmp[k] = (uint8_t)rng_next(r);
        if (len + n <= cfg->max_len) buf_insert(b, rng_below(r, len + 1), tmp, n);
        break;
    }
    case 3: { /* delete a range */
        if (!len) break;
        size_t pos = rng_below(r, len), n = 1 + rng_below(r, rng_chance(r, 4) ? len - pos : (len - pos < 8 ? len - pos : 8));
        buf_erase(b, pos, n);
        break;
    }
    case 4:
    case 5: { /* insert (or overwrite with) a dictionary token */
        const char *tok = cfg->dict[rng_below(r, cfg->n_dict)];
        size_t n = strlen(tok) ? strlen(tok) : 1;
        size_t pos = rng_below(r, len + 1);
        if (rng_chance(r, 2) && pos + n <= len) memcpy(b->p + pos, tok, n);
        else if (len + n <= cfg->max_len) buf_insert(b, pos, tok, n);
        break;
    }
    case 6: { /* splice: our head, another seed's tail */
        const Seed *s = &cfg->seeds[rng_below(r, cfg->n_seeds)];
        size_t slen = seed_len(s), cut = rng_below(r, len + 1), from = rng_below(r, slen + 1);
        b->len = cut;
        size_t n = slen - from;
        if (cut + n > cfg->max_len) n = cfg->max_len - cut;
        buf_insert(b, cut, s->text + from, n);
        break;
    }
    case 7: /* truncate */
        b->len = rng_below(r, len + 1);
        break;
    case 8: { /* duplicate a chunk, possibly a few times over */
        if (!len) break;
        size_t from = rng_below(r, len), n = 1 + rng_below(r, len - from < 256 ? len - from : 256);
        size_t times = rng_chance(r, 3) ? 1 + rng_below(r, 16) : 1, to = rng_below(r, len + 1);
        uint8_t *chunk = xmalloc(n);
        memcpy(chunk, b->p + from, n);
        for (size_t k = 0; k < times && b->len + n <= cfg->max_len; k++) buf_insert(b, to, chunk, n);
        free(chunk);
        break;
    }
    case 9: /* a number replaced by one at a range edge */
        replace_number(b, r);
        break;
    case 10: /* a long run (quadratic work, deep nesting, long lines) */
        if (rng_chance(r, 3)) insert_run(b, r, cfg);
        break;
    case 11: { /* swap two bytes */
        if (len < 2) break;
        size_t a = rng_below(r, len), c = rng_below(r, len);
        uint8_t t = b->p[a];
        b->p[a] = b->p[c];
        b->p[c] = t;
        break;
    }
    }
}

/* A seed, then 1..8 mutations (fewer more often). */
void make_mutant(Buf *b, Rng *r, const MutateCfg *cfg) {
    const Seed *s = &cfg->seeds[rng_below(r, cfg->n_seeds)];
    buf_set(b, s->text, seed_len(s));
    size_t n = 1 + rng_below(r, 1 + rng_below(r, 8));
    for (size_t k = 0; k < n; k++) mutate_once(b, r, cfg);
}
