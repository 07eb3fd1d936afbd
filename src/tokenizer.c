#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

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
    size_t max_token_len; /* the longest ordinary token: a piece of L bytes is at least ceil(L / this) tokens */
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
    Tokenizer *t = tokenizer_load_buffer(buf, len, path, err);
    free(buf);
    return t;
}

Tokenizer *tokenizer_load_buffer(const char *buf, size_t len, const char *path, Error *err) {
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
        if (n > t->max_token_len) t->max_token_len = n;
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
    /* byte-level BPE: with every byte a token, any piece can be encoded and
     * ceil(length / max_token_len) bounds its token count from below */
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        if (table_find(t, t->table, t->table_mask, &byte, 1) < 0) BAD("a single byte is not among the ranks");
    }
    return t;
#undef BAD
fail:
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

/* Where encoding appends: to *ids (*n ids, room for *cap), until *n reaches
 * limit_n, the count at which one more token would pass the caller's limit. */
typedef struct {
    int **ids;
    int *n, *cap;
    int limit_n;
} Output;

/* Appends id; 1 (appending nothing) when that would pass the limit. */
static int output_push(Output *o, int id) {
    if (*o->n >= o->limit_n) return 1;
    if (*o->n == *o->cap) {
        *o->cap = *o->cap == 0 ? 64 : *o->cap > INT_MAX / 2 ? INT_MAX : *o->cap * 2;
        *o->ids = xrealloc(*o->ids, (size_t)*o->cap * sizeof(int));
    }
    (*o->ids)[(*o->n)++] = id;
    return 0;
}

/* A candidate merge of the adjacent parts [start, mid) and [mid, end) of a
 * piece, whose concatenation is the ordinary token `rank`. mid is not kept:
 * part boundaries only ever disappear, so if start still begins a part whose
 * successor ends at end, the boundary between them is still mid. */
typedef struct {
    int32_t rank;
    uint32_t start, end;
} Merge;

/* Heap order: lowest rank first, leftmost on ties, as tiktoken picks. */
static int merge_before(Merge a, Merge b) { return a.rank < b.rank || (a.rank == b.rank && a.start < b.start); }

static void heap_sift_down(Merge *heap, size_t size, size_t i) {
    Merge m = heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && merge_before(heap[c + 1], heap[c])) c++;
        if (!merge_before(heap[c], m)) break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = m;
}

static void heap_push(Merge *heap, size_t *size, Merge m) {
    size_t i = (*size)++;
    while (i > 0 && merge_before(m, heap[(i - 1) / 2])) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = m;
}

static Merge heap_pop(Merge *heap, size_t *size) {
    Merge top = heap[0];
    heap[0] = heap[--*size];
    if (*size > 0) heap_sift_down(heap, *size, 0);
    return top;
}

/* The rank of p[start..end) as one ordinary token, -1 if it is none. */
static int32_t rank_of(const Tokenizer *t, const uint8_t *p, size_t start, size_t end) {
    if (end - start > t->max_token_len) return -1;
    return table_find(t, t->table, t->table_mask, p + start, end - start);
}

enum { SMALL_PIECE = 32 }; /* pieces up to this long merge in stack buffers (most pieces are < 20 bytes) */

/* tiktoken's byte_pair_merge: start from single bytes and repeatedly merge the
 * adjacent pair whose concatenation has the lowest rank (leftmost on ties).
 * The parts are a linked list over byte positions and the candidate pairs a
 * min-heap, each merge adding the two pairs it creates: O(n log n) where
 * rescanning every pair after each merge was O(n^2) (25 s for 100,000 'a').
 * Entries made stale by a merge stay in the heap and are skipped when popped.
 * Returns 0, or 1 when the output limit is reached. */
static int bpe_piece(const Tokenizer *t, const uint8_t *p, size_t n, Output *out) {
    int whole = n <= t->max_token_len ? table_find(t, t->table, t->table_mask, p, n) : -1;
    if (whole >= 0) return output_push(out, whole);
    /* end_of[s]: the end of the part that starts at s, 0 when no part starts
     * there (0 is never a part's end); prev_start[s]: the start of the part
     * before it (for s > 0). Each merge pops one entry and pushes at most two, so the heap
     * never holds more than (n - 1) + (n - 1) entries. */
    Merge small_heap[2 * SMALL_PIECE];
    uint32_t small_end[SMALL_PIECE + 1], small_prev[SMALL_PIECE + 1];
    int on_stack = n <= SMALL_PIECE;
    Merge *heap = on_stack ? small_heap : xmalloc(2 * n * sizeof *heap);
    uint32_t *end_of = on_stack ? small_end : xmalloc((n + 1) * sizeof *end_of);
    uint32_t *prev_start = on_stack ? small_prev : xmalloc((n + 1) * sizeof *prev_start);
    size_t size = 0;
    for (size_t i = 0; i < n; i++) {
        end_of[i] = (uint32_t)(i + 1);
        if (i > 0) prev_start[i] = (uint32_t)(i - 1);
        int32_t r = i + 1 < n ? rank_of(t, p, i, i + 2) : -1;
        if (r >= 0) heap[size++] = (Merge){r, (uint32_t)i, (uint32_t)(i + 2)};
    }
    end_of[n] = 0;
    for (size_t i = size / 2; i-- > 0;) heap_sift_down(heap, size, i);
    while (size > 0) {
        Merge m = heap_pop(heap, &size);
        uint32_t mid = end_of[m.start];
        if (mid == 0 || mid >= m.end || end_of[mid] != m.end) continue; /* stale: a part changed since */
        end_of[m.start] = m.end;
        end_of[mid] = 0;
        if (m.end < n) prev_start[m.end] = m.start;
        if (m.start > 0) {
            uint32_t before = prev_start[m.start];
            int32_t r = rank_of(t, p, before, m.end);
            if (r >= 0) heap_push(heap, &size, (Merge){r, before, m.end});
        }
        if (m.end < n) {
            int32_t r = rank_of(t, p, m.start, end_of[m.end]);
            if (r >= 0) heap_push(heap, &size, (Merge){r, m.start, end_of[m.end]});
        }
    }
    int rc = 0;
    for (size_t s = 0; s < n && rc == 0; s = end_of[s]) {
        int32_t r = rank_of(t, p, s, end_of[s]);
        if (r >= 0) rc = output_push(out, r); /* always: every single byte has a rank (checked at load) */
    }
    if (!on_stack) {
        free(heap);
        free(end_of);
        free(prev_start);
    }
    return rc;
}

/* Splits s[0..len) (valid UTF-8) with the pre-tokenization regex and merges
 * each piece. Returns 0, 1 when the output limit would be passed, or -1. */
static int encode_ordinary(const Tokenizer *t, const uint8_t *s, size_t len, pcre2_match_data *md, pcre2_match_context *mc,
                           Output *out, Error *err) {
    /* PCRE2's default limit of 10 million backtracking steps per match (a
     * guard against catastrophic backtracking) fails a run of 10 million
     * capitals or spaces, over which the o200k pattern backtracks once: allow
     * steps in proportion to the text instead */
    uint64_t steps = 10000000 + 4 * (uint64_t)len;
    pcre2_set_match_limit(mc, steps < UINT32_MAX ? (uint32_t)steps : UINT32_MAX);
    size_t off = 0;
    while (off < len) {
        /* NO_UTF_CHECK: the text was validated once; PCRE2 would otherwise
         * check the rest of the subject on every call, quadratic over a line */
        int rc = pcre2_match(t->regex, s, len, off, PCRE2_NO_UTF_CHECK, md, mc);
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
        size_t piece = ov[1] - ov[0];
        /* a piece needs at least ceil(piece / longest token) tokens: refuse a
         * too-long one before merging it */
        if ((piece + t->max_token_len - 1) / t->max_token_len > (size_t)(out->limit_n - *out->n)) return 1;
        if (piece > UINT32_MAX - 1) return error_set(err, "tokenizer: a pre-tokenization piece of %zu bytes (4 GiB or more)", piece);
        if (bpe_piece(t, s + ov[0], piece, out)) return 1;
        off = ov[1];
    }
    return 0;
}

/* The next special token's text in s[from..len): its start and end, or 0 when
 * there is none. A special token is "<|name|>" where name has no "|>". */
static int next_special(const Tokenizer *t, const uint8_t *s, size_t from, size_t len, size_t *start, size_t *end, int *id) {
    for (size_t i = from; i + 1 < len; i++) {
        const uint8_t *lt = memchr(s + i, '<', len - 1 - i);
        if (!lt) return 0;
        i = (size_t)(lt - s);
        if (s[i + 1] != '|') continue;
        for (size_t j = i + 2; j + 1 < len && j < i + 64; j++)
            if (s[j] == '|' && s[j + 1] == '>') {
                int found = table_find(t, t->special_table, t->special_mask, s + i, j + 2 - i);
                if (found >= 0) {
                    *start = i, *end = j + 2, *id = found;
                    return 1;
                }
                break;
            }
    }
    return 0;
}

int tokenizer_encode_limited(const Tokenizer *t, const char *text, size_t len, int allow_special, int max_tokens, int **ids, int *n,
                             int *cap, Error *err) {
    if (max_tokens < 0) return error_set(err, "tokenizer: max_tokens %d is negative", max_tokens);
    /* PCRE2 is told not to check (see encode_ordinary); its JIT crashes on invalid UTF-8 */
    size_t valid = utf8_valid_prefix(text, len);
    if (valid != len) return error_set(err, "invalid UTF-8 at byte %zu", valid);
    const uint8_t *s = (const uint8_t *)text;
    int n_start = *n;
    Output out = {ids, n, cap, n_start + (max_tokens < INT_MAX - n_start ? max_tokens : INT_MAX - n_start)};
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return error_set(err, "tokenizer: out of memory for the regex match");
    }
    int rc = 0;
    size_t seg = 0; /* start of the ordinary text not yet encoded */
    size_t sp_start, sp_end;
    int sp_id;
    /* special tokens split the text on ASCII bytes ('<' and '>'), so every
     * segment handed to the regex is valid UTF-8 on its own */
    while (rc == 0 && allow_special && next_special(t, s, seg, len, &sp_start, &sp_end, &sp_id)) {
        rc = encode_ordinary(t, s + seg, sp_start - seg, md, mc, &out, err);
        if (rc == 0) rc = output_push(&out, sp_id);
        seg = sp_end;
    }
    if (rc == 0) rc = encode_ordinary(t, s + seg, len - seg, md, mc, &out, err);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    if (rc != 0) *n = n_start;
    return rc;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int allow_special, int **ids, int *n, int *cap, Error *err) {
    int rc = tokenizer_encode_limited(t, text, len, allow_special, INT_MAX, ids, n, cap, err);
    if (rc == 1) return error_set(err, "tokenizer: the text has more than %d tokens", INT_MAX - *n);
    return rc;
}

int tokenizer_encode_piece(const Tokenizer *t, const uint8_t *piece, size_t len, int **ids, int *n, int *cap, Error *err) {
    if (len == 0) return 0;
    if (len > UINT32_MAX - 1) return error_set(err, "tokenizer: a piece of %zu bytes (4 GiB or more)", len);
    Output out = {ids, n, cap, INT_MAX};
    if (bpe_piece(t, piece, len, &out)) return error_set(err, "tokenizer: more than %d tokens", INT_MAX);
    return 0;
}
