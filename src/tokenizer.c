#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

/* An open-addressing hash map from token bytes to id, over one byte pool. */
struct Tokenizer {
    int vocab_size;
    int n_ranks;
    uint8_t *pool;     /* all token bytes */
    uint32_t *offset;  /* [vocab_size + 1]: token id's bytes are pool[offset[id]..offset[id+1]) */
    uint8_t *present;  /* [vocab_size]: 1 when the id has bytes */
    int32_t *table;    /* hash slots holding ids of ordinary tokens, -1 empty */
    uint32_t table_mask;
    int32_t *special_table; /* same, for special tokens by their text */
    uint32_t special_mask;
    pcre2_code *regex;
};

static uint32_t hash_bytes(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static size_t token_len(const Tokenizer *t, int id) { return t->offset[id + 1] - t->offset[id]; }

static void table_insert(const Tokenizer *t, int32_t *table, uint32_t mask, int id) {
    uint32_t h = hash_bytes(t->pool + t->offset[id], token_len(t, id)) & mask;
    while (table[h] >= 0) h = (h + 1) & mask;
    table[h] = id;
}

static int table_find(const Tokenizer *t, const int32_t *table, uint32_t mask, const uint8_t *p, size_t n) {
    uint32_t h = hash_bytes(p, n) & mask;
    for (; table[h] >= 0; h = (h + 1) & mask) {
        int id = table[h];
        if (token_len(t, id) == n && memcmp(t->pool + t->offset[id], p, n) == 0) return id;
    }
    return -1;
}

static uint32_t table_size_for(uint32_t n) {
    uint32_t s = 1;
    while (s < 2 * n) s <<= 1;
    return s;
}

Tokenizer *tokenizer_load(const char *path, Error *err) {
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return NULL;
    const uint8_t *p = (const uint8_t *)buf, *end = p + len;
    Tokenizer *t = NULL;
#define BAD(why) \
    do { \
        error_set(err, "%s: invalid tokenizer file: %s", path, why); \
        goto fail; \
    } while (0)
    if (len < 28 || memcmp(p, "GETPTOKN", 8) != 0) BAD("bad magic (run scripts/setup.sh to build it)");
    if (read_u32le(p + 8) != 1) BAD("unsupported version");
    uint32_t vocab = read_u32le(p + 12), n_ranks = read_u32le(p + 16), n_special = read_u32le(p + 20), pat_len = read_u32le(p + 24);
    if (vocab == 0 || vocab > (1u << 24) || n_ranks > vocab || n_special > vocab) BAD("counts out of range");
    p += 28;
    if (pat_len > (size_t)(end - p)) BAD("truncated pattern");
    char *pattern = xmalloc(pat_len + 1);
    memcpy(pattern, p, pat_len);
    pattern[pat_len] = 0;
    p += pat_len;

    t = xcalloc(1, sizeof *t);
    t->vocab_size = (int)vocab;
    t->n_ranks = (int)n_ranks;
    t->offset = xcalloc(vocab + 1, sizeof *t->offset);
    t->present = xcalloc(vocab, 1);
    /* pass 1: lengths, to size the pool and check bounds */
    const uint8_t *q = p;
    uint32_t *lens = xcalloc(vocab, sizeof *lens);
    const uint8_t **src = xcalloc(vocab, sizeof *src);
    for (uint32_t i = 0; i < n_ranks; i++) {
        if (end - q < 2) { free(lens); free(src); free(pattern); BAD("truncated rank table"); }
        uint32_t n = (uint32_t)q[0] | (uint32_t)q[1] << 8;
        q += 2;
        if ((size_t)(end - q) < n || n == 0) { free(lens); free(src); free(pattern); BAD("truncated or empty token"); }
        lens[i] = n;
        src[i] = q;
        t->present[i] = 1;
        q += n;
    }
    for (uint32_t i = 0; i < n_special; i++) {
        if (end - q < 6) { free(lens); free(src); free(pattern); BAD("truncated special token table"); }
        uint32_t id = read_u32le(q), n = (uint32_t)q[4] | (uint32_t)q[5] << 8;
        q += 6;
        if (id < n_ranks || id >= vocab || t->present[id] || (size_t)(end - q) < n || n == 0) {
            free(lens); free(src); free(pattern);
            BAD("special token id out of range, duplicated, or truncated");
        }
        lens[id] = n;
        src[id] = q;
        t->present[id] = 1;
        q += n;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < vocab; i++) {
        t->offset[i] = (uint32_t)total;
        total += lens[i];
    }
    t->offset[vocab] = (uint32_t)total;
    t->pool = xmalloc(total ? total : 1);
    for (uint32_t i = 0; i < vocab; i++)
        if (lens[i]) memcpy(t->pool + t->offset[i], src[i], lens[i]);
    free(lens);
    free(src);

    uint32_t ts = table_size_for(n_ranks), ss = table_size_for(n_special + 1);
    t->table = xmalloc(ts * sizeof(int32_t));
    t->special_table = xmalloc(ss * sizeof(int32_t));
    memset(t->table, 0xff, ts * sizeof(int32_t));
    memset(t->special_table, 0xff, ss * sizeof(int32_t));
    t->table_mask = ts - 1;
    t->special_mask = ss - 1;
    for (uint32_t i = 0; i < n_ranks; i++) table_insert(t, t->table, t->table_mask, (int)i);
    for (uint32_t i = n_ranks; i < vocab; i++)
        if (t->present[i]) table_insert(t, t->special_table, t->special_mask, (int)i);

    int ecode;
    PCRE2_SIZE eoff;
    t->regex = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ecode, &eoff, NULL);
    free(pattern);
    if (!t->regex) {
        char m[256];
        pcre2_get_error_message(ecode, (PCRE2_UCHAR *)m, sizeof m);
        error_set(err, "%s: pre-tokenization regex does not compile at offset %zu: %s", path, (size_t)eoff, m);
        goto fail;
    }
    pcre2_jit_compile(t->regex, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    free(buf);
    return t;
#undef BAD
fail:
    free(buf);
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    if (t->regex) pcre2_code_free(t->regex);
    free(t->pool);
    free(t->offset);
    free(t->present);
    free(t->table);
    free(t->special_table);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }

const uint8_t *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len) {
    if (id < 0 || id >= t->vocab_size || !t->present[id]) return NULL;
    *len = token_len(t, id);
    return t->pool + t->offset[id];
}

static void push(int **ids, int *n, int *cap, int id) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *ids = xrealloc(*ids, (size_t)*cap * sizeof(int));
    }
    (*ids)[(*n)++] = id;
}

/* tiktoken's byte_pair_merge: start from single bytes and repeatedly merge the
 * adjacent pair whose concatenation has the lowest rank (leftmost on ties). */
static void bpe_piece(const Tokenizer *t, const uint8_t *p, size_t n, int **ids, int *cnt, int *cap) {
    int whole = table_find(t, t->table, t->table_mask, p, n);
    if (whole >= 0) {
        push(ids, cnt, cap, whole);
        return;
    }
    size_t *start = xmalloc((n + 1) * sizeof(size_t)); /* part i is p[start[i]..start[i+1]) */
    size_t parts = n;
    for (size_t i = 0; i <= n; i++) start[i] = i;
    while (parts > 1) {
        int best_rank = -1;
        size_t best = 0;
        for (size_t i = 0; i + 1 < parts; i++) {
            int r = table_find(t, t->table, t->table_mask, p + start[i], start[i + 2] - start[i]);
            if (r >= 0 && (best_rank < 0 || r < best_rank)) {
                best_rank = r;
                best = i;
            }
        }
        if (best_rank < 0) break;
        memmove(&start[best + 1], &start[best + 2], (parts - best - 1) * sizeof(size_t));
        parts--;
    }
    for (size_t i = 0; i < parts; i++) {
        int r = table_find(t, t->table, t->table_mask, p + start[i], start[i + 1] - start[i]);
        if (r >= 0) push(ids, cnt, cap, r); /* every single byte has a rank in o200k */
    }
    free(start);
}

static int encode_ordinary(const Tokenizer *t, const uint8_t *s, size_t len, pcre2_match_data *md, int **ids, int *n, int *cap,
                           Error *err) {
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(t->regex, s, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char m[256];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)m, sizeof m);
            return error_set(err, "tokenizer: regex match failed: %s", m);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0]) { /* cannot happen with o200k's pattern; never loop */
            off = ov[0] + 1;
            continue;
        }
        bpe_piece(t, s + ov[0], ov[1] - ov[0], ids, n, cap);
        off = ov[1];
    }
    return 0;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int **ids, int *n, int *cap, Error *err) {
    const uint8_t *s = (const uint8_t *)text;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex, NULL);
    int rc = 0;
    size_t seg = 0; /* start of the ordinary text not yet encoded */
    for (size_t i = 0; allow_special && i + 1 < len; i++) {
        if (s[i] != '<' || s[i + 1] != '|') continue;
        const uint8_t *close = NULL;
        for (size_t j = i + 2; j + 1 < len && j < i + 64; j++)
            if (s[j] == '|' && s[j + 1] == '>') {
                close = s + j + 2;
                break;
            }
        if (!close) continue;
        int id = table_find(t, t->special_table, t->special_mask, s + i, (size_t)(close - (s + i)));
        if (id < 0) continue;
        if ((rc = encode_ordinary(t, s + seg, i - seg, md, ids, n, cap, err)) != 0) break;
        push(ids, n, cap, id);
        seg = (size_t)(close - s);
        i = seg - 1;
    }
    if (rc == 0) rc = encode_ordinary(t, s + seg, len - seg, md, ids, n, cap, err);
    pcre2_match_data_free(md);
    return rc;
}
