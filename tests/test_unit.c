/* test_unit - unit tests of the core modules against values worked out by
 * hand or by an independent computation in the test itself.
 * usage: test_unit TOKENIZER_FILE CORPUS_FILE
 * Prints one "PASS name" or "FAIL name: why" line per check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../src/gptoss_math.h"
#include "../src/json.h"
#include "../src/model_writer.h"
#include "../src/requests.h"
#include "../src/rng.h"
#include "../src/presets.h"
#include "../src/step_work.h"
#include "../src/tokenizer.h"
#include "check.h"


static void test_codecs(void) {
    /* bf16: round to nearest even */
    check(f32_to_bf16(1.0f) == 0x3f80 && bf16_to_f32(0x3f80) == 1.0f, "bf16 of 1.0", "");
    check(f32_to_bf16(1.00390625f) == 0x3f80, "bf16 ties round to even (down)", "");
    check(f32_to_bf16(1.01171875f) == 0x3f82, "bf16 ties round to even (up)", "");
    /* mxfp4: values exactly representable round-trip, the scale is a power of two */
    float src[64], back[64];
    /* e2m1 as the OCP MX spec lists it, against gptoss_math.h's decoding */
    static const float e2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
    int fp4_ok = 1;
    for (uint32_t i = 0; i < 16; i++) fp4_ok &= gptoss_fp4_value(i) == e2m1[i] && signbit(gptoss_fp4_value(i)) == signbit(e2m1[i]);
    check(fp4_ok, "fp4 (e2m1) decoding equals the spec's table", "");
    for (int i = 0; i < 32; i++) src[i] = e2m1[i % 16] * 0.25f;
    for (int i = 32; i < 64; i++) src[i] = e2m1[(i * 7) % 16] * 8.0f;
    uint8_t packed[64 / 2 + 64 / 32];
    encode_f32_as(DTYPE_MXFP4, src, 64, 64, packed);
    Tensor t = {.dtype = DTYPE_MXFP4, .ndim = 1, .shape = {64}, .data = packed};
    tensor_read_row(&t, 0, back);
    int same = 1;
    for (int i = 0; i < 64; i++) same &= back[i] == src[i];
    check(same, "mxfp4 encode/decode round-trips representable values", "");
    check(packed[32] == 127 - 3 + 1 && packed[33] == 127 + 3, "mxfp4 block scales are 2^(e-127)", "");
    check(gptoss_e8m0_value(127) == 1.0f && gptoss_e8m0_value(130) == 8.0f && gptoss_e8m0_value(0) == ldexpf(1.0f, -127) &&
              isnan(gptoss_e8m0_value(255)),
          "e8m0 decoding (0: 2^-127, 255: NaN)", "");
    check(dtype_nbytes(DTYPE_MXFP4, 64) == 34, "mxfp4 size is 17 bytes per 32 values", "");
}

static void test_memcpy_parallel(void) {
    /* an odd size over several 4 MiB pieces, each byte compared with the source */
    size_t n = (size_t)13 << 20 | 12345;
    uint8_t *src = malloc(n), *dst = calloc(n, 1);
    Rng r = rng_stream(7, 0);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(rng_u64(&r) >> 56);
    memcpy_parallel(dst, src, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += dst[i] != src[i];
    check(bad == 0, "memcpy_parallel copies every byte (13 MiB + 12345)", "bytes differ");
    free(src);
    free(dst);
}

static void test_config(void) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c = (ModelConfig){.vocab_size = 100, .hidden = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .n_experts = 4,
                      .experts_per_token = 2, .intermediate = 64, .max_context = 128, .initial_context = 64, .sliding_window = 8,
                      .rope_theta = 10000, .rope_scaling_factor = 1, .rope_beta_fast = 32, .rope_beta_slow = 1, .swiglu_limit = 7,
                      .rms_eps = 1e-5f};
    Error err;
    check(model_config_validate(&c, &err) == 0, "a sane config validates", err.msg);
    ModelConfig bad = c;
    bad.n_kv_heads = 3;
    check(model_config_validate(&bad, &err) != 0 && strstr(err.msg, "n_kv_heads"), "kv heads must divide heads", err.msg);
    bad = c;
    bad.experts_per_token = 5;
    check(model_config_validate(&bad, &err) != 0, "top-k cannot exceed the experts", "");
    bad = c;
    bad.hidden = 48;
    check(model_config_validate(&bad, &err) != 0, "hidden must be a multiple of 32", "");
}

/* The ordinary tokens by their bytes, built from tokenizer_token_bytes alone
 * (ids below TOKEN_STARTOFTEXT), for the reference merge below. */
typedef struct {
    const Tokenizer *t;
    int32_t *slots; /* ids, -1 empty */
    uint32_t mask;
} RankIndex;

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static RankIndex rank_index_build(const Tokenizer *t) {
    enum { SLOTS = 1 << 20 }; /* a power of two, 5 times the 199998 ranks */
    RankIndex ix = {t, malloc(SLOTS * sizeof(int32_t)), SLOTS - 1};
    memset(ix.slots, 0xff, SLOTS * sizeof(int32_t));
    for (int id = 0; id < TOKEN_STARTOFTEXT; id++) {
        size_t len;
        const uint8_t *b = tokenizer_token_bytes(t, id, &len);
        uint32_t h = fnv1a(b, len) & ix.mask;
        while (ix.slots[h] >= 0) h = (h + 1) & ix.mask;
        ix.slots[h] = id;
    }
    return ix;
}

static int rank_index_find(const RankIndex *ix, const uint8_t *p, size_t n) {
    for (uint32_t h = fnv1a(p, n) & ix->mask; ix->slots[h] >= 0; h = (h + 1) & ix->mask) {
        size_t len;
        const uint8_t *b = tokenizer_token_bytes(ix->t, ix->slots[h], &len);
        if (len == n && memcmp(b, p, n) == 0) return ix->slots[h];
    }
    return -1;
}

/* The merge as getp did it before the heap (a copy of the old bpe_piece):
 * after each merge, rescan every adjacent pair for the lowest rank, leftmost
 * on ties. O(n^2), obviously tiktoken's byte_pair_merge. */
static int reference_bpe(const RankIndex *ix, const uint8_t *p, size_t n, int *ids) {
    int whole = rank_index_find(ix, p, n), cnt = 0;
    if (whole >= 0) {
        ids[0] = whole;
        return 1;
    }
    size_t *start = malloc((n + 1) * sizeof(size_t)); /* part i is p[start[i]..start[i+1]) */
    size_t parts = n;
    for (size_t i = 0; i <= n; i++) start[i] = i;
    while (parts > 1) {
        int best_rank = -1;
        size_t best = 0;
        for (size_t i = 0; i + 1 < parts; i++) {
            int r = rank_index_find(ix, p + start[i], start[i + 2] - start[i]);
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
        int r = rank_index_find(ix, p + start[i], start[i + 1] - start[i]);
        if (r >= 0) ids[cnt++] = r;
    }
    free(start);
    return cnt;
}

static size_t put_utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) return out[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return out[0] = (uint8_t)(0xc0 | cp >> 6), out[1] = (uint8_t)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12), out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | cp >> 18), out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* A random piece of at most max bytes (max >= 4), of one of three kinds:
 * bytes from a small alphabet, runs of one letter (now and then broken by
 * another), or UTF-8 text from one or two scripts. Returns its length. */
static size_t random_piece(Rng *r, uint8_t *out, size_t max) {
    /* lengths log-uniform in 1..max: mostly short pieces, some long */
    size_t len = (size_t)exp(rng_uniform(r) * log((double)max)), n = 0;
    if (len < 1) len = 1;
    if (len > max - 3) len = max - 3;
    int kind = (int)(rng_u64(r) % 3);
    if (kind == 0) {
        static const struct {
            const char *bytes;
            size_t n;
        } alphabets[] = {{"ab", 2},         {"abc ", 4},     {"aab", 3},   {"xyz\n", 4},
                         {"0123456789", 10}, {" \t\n", 3},    {"!?.,", 4},  {"\xe2\x80\x99\xc3\xa9", 5},
                         {"\x80\xff\0a", 4}};
        size_t k = rng_u64(r) % (sizeof alphabets / sizeof *alphabets);
        while (n < len) out[n++] = (uint8_t)alphabets[k].bytes[rng_u64(r) % alphabets[k].n];
    } else if (kind == 1) {
        static const char letters[] = "aAbz !-=\n0";
        uint8_t letter = (uint8_t)letters[rng_u64(r) % (sizeof letters - 1)];
        uint64_t every = 2 + rng_u64(r) % 200; /* sometimes a different letter */
        int broken = rng_u64(r) % 2;
        while (n < len) out[n++] = broken && rng_u64(r) % every == 0 ? (uint8_t)('a' + rng_u64(r) % 26) : letter;
    } else {
        static const uint32_t scripts[][2] = {
            {'a', 'z'}, {0xe0, 0xff}, {0x430, 0x44f}, {0x3b1, 0x3c9}, {0x4e00, 0x4fff}, {0xac00, 0xac80},
            {0x627, 0x64a}, {0x905, 0x94d}, {0xe01, 0xe4e}, {0x1f600, 0x1f64f}, {0x3041, 0x3096}, {' ', ' '},
        };
        size_t ns = sizeof scripts / sizeof *scripts;
        size_t s1 = rng_u64(r) % ns, s2 = rng_u64(r) % 2 ? s1 : rng_u64(r) % ns;
        while (n < len) {
            size_t s = rng_u64(r) % 2 ? s1 : s2;
            n += put_utf8(out + n, scripts[s][0] + (uint32_t)(rng_u64(r) % (scripts[s][1] - scripts[s][0] + 1)));
        }
    }
    return n;
}

static int same_ids(const int *a, int na, const int *b, int nb) { return na == nb && memcmp(a, b, (size_t)na * sizeof(int)) == 0; }

/* The heap merge against the reference, token for token. */
static void test_bpe_equivalence(const Tokenizer *t) {
    RankIndex ix = rank_index_build(t);
    enum { MAX_PIECE = 3000 };
    uint8_t *piece = malloc(MAX_PIECE + 4);
    int *want = malloc((MAX_PIECE + 4) * sizeof(int)), *ids = NULL, n = 0, cap = 0;
    Error err;
    Rng r = rng_stream(2024, 7);
    int pieces = 0, differ = 0;
    size_t bytes = 0;
    char why[256] = "";
    double t0 = now_seconds();
    for (int i = 0; i < 3000; i++) {
        size_t len = random_piece(&r, piece, MAX_PIECE);
        int nw = reference_bpe(&ix, piece, len, want);
        n = 0;
        int rc = tokenizer_encode_piece(t, piece, len, &ids, &n, &cap, &err);
        pieces++;
        bytes += len;
        if (rc != 0 || !same_ids(ids, n, want, nw)) {
            if (!differ++)
                snprintf(why, sizeof why, "piece %d (%zu bytes, first byte 0x%02x): %d tokens, reference %d", i, len, piece[0], n, nw);
        }
    }
    /* long runs of one letter, the case that was quadratic, also through the
     * regex split (a run of letters is one piece) */
    const char run_letters[] = "a !0\n";
    for (size_t k = 0; k < sizeof run_letters - 1; k++)
        for (size_t len = 1; len <= MAX_PIECE; len = len * 3 / 2 + 1) {
            memset(piece, run_letters[k], len);
            int nw = reference_bpe(&ix, piece, len, want);
            n = 0;
            int rc = tokenizer_encode_piece(t, piece, len, &ids, &n, &cap, &err);
            pieces++;
            bytes += len;
            if (rc != 0 || !same_ids(ids, n, want, nw)) {
                if (!differ++) snprintf(why, sizeof why, "a run of %zu x 0x%02x: %d tokens, reference %d", len, run_letters[k], n, nw);
            }
            if (k == 0) {
                n = 0;
                rc = tokenizer_encode(t, (const char *)piece, len, 0, &ids, &n, &cap, &err);
                if (rc != 0 || !same_ids(ids, n, want, nw)) {
                    if (!differ++) snprintf(why, sizeof why, "tokenizer_encode of %zu x 'a': %d tokens, reference %d", len, n, nw);
                }
            }
        }
    char name[160];
    snprintf(name, sizeof name, "heap BPE equals the quadratic reference on %d pieces (%zu bytes, %.1f s)", pieces, bytes,
             now_seconds() - t0);
    check(differ == 0, name, why);
    free(piece);
    free(want);
    free(ids);
    free(ix.slots);
}

/* A line of `len` bytes repeating `unit`. */
static char *repeated_text(const char *unit, size_t len) {
    char *s = malloc(len + 1);
    size_t u = strlen(unit);
    for (size_t i = 0; i < len; i++) s[i] = unit[i % u];
    s[len] = 0;
    return s;
}

static void test_encode_limited(const Tokenizer *t) {
    Error err;
    int *ids = NULL, n = 0, cap = 0, *full = NULL, n_full = 0, cap_full = 0;
    const char *text = "Hello world, a test of the limit. <|start|>user<|message|>Hi there<|end|>";
    size_t len = strlen(text);
    tokenizer_encode(t, text, len, 1, &full, &n_full, &cap_full, &err);
    /* two ids already there (and a full array): the limit counts only what
     * this call appends */
    ids = malloc(2 * sizeof(int));
    ids[0] = 11, ids[1] = 22, n = 2, cap = 2;
    int rc = tokenizer_encode_limited(t, text, len, 1, n_full, &ids, &n, &cap, &err);
    check(rc == 0 && n == 2 + n_full && ids[0] == 11 && ids[1] == 22 && same_ids(ids + 2, n - 2, full, n_full),
          "encode_limited at exactly the token count returns 0 and the same ids", "");
    n = 2;
    err.msg[0] = 0;
    rc = tokenizer_encode_limited(t, text, len, 1, n_full - 1, &ids, &n, &cap, &err);
    check(rc == 1 && n == 2 && err.msg[0] == 0, "encode_limited one below the count returns 1, *n as it was, err untouched", "");
    /* the special token at the end is what passes the limit */
    size_t cut = len - strlen("<|end|>");
    n = 0;
    rc = tokenizer_encode_limited(t, text, len, 1, n_full - 1, &ids, &n, &cap, &err);
    int n_cut = 0;
    tokenizer_encode_limited(t, text, cut, 1, n_full - 1, &ids, &n_cut, &cap, &err);
    check(rc == 1 && n_cut == n_full - 1, "encode_limited counts special tokens", "");
    n = 0;
    check(tokenizer_encode_limited(t, "", 0, 1, 0, &ids, &n, &cap, &err) == 0 && n == 0 &&
              tokenizer_encode_limited(t, "a", 1, 1, 0, &ids, &n, &cap, &err) == 1 && n == 0,
          "encode_limited with a limit of 0: empty text fits, one letter does not", "");
    check(tokenizer_encode_limited(t, "a", 1, 1, -1, &ids, &n, &cap, &err) == -1, "encode_limited rejects a negative limit", "");
    /* 10 MB lines refused early at a prompt-sized limit */
    static const struct {
        const char *unit, *what;
    } lines[] = {{"a", "one letter"},
                 {"A", "one capital"},
                 {" ", "spaces"},
                 {"word ", "words \"word word ...\""},
                 {"\xe6\xbc\xa2", "one CJK char"}};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        size_t big = 10u << 20;
        big -= big % strlen(lines[i].unit);
        char *s = repeated_text(lines[i].unit, big);
        n = 0;
        double t0 = now_seconds();
        rc = tokenizer_encode_limited(t, s, big, 1, 4096, &ids, &n, &cap, &err);
        char name[160];
        snprintf(name, sizeof name, "a 10 MB line of %s is refused at a 4096-token limit (%.3f s)", lines[i].what, now_seconds() - t0);
        check(rc == 1 && n == 0, name, rc < 0 ? err.msg : "not refused");
        free(s);
    }
    /* invalid UTF-8: an error naming the byte, from both entry points */
    static const struct {
        const char *text;
        size_t len, bad;
    } invalid[] = {{"ok \xff", 4, 3}, {"ab\xe6\xbc", 4, 2}, {"\xed\xa0\x80", 3, 0}, {"x\xc0\x80", 3, 1}, {"<|start|>\x80", 10, 9}};
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char want[64], name[96];
        snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", invalid[i].bad);
        n = 0;
        rc = tokenizer_encode_limited(t, invalid[i].text, invalid[i].len, 1, 4096, &ids, &n, &cap, &err);
        int ok = rc == -1 && n == 0 && strcmp(err.msg, want) == 0;
        rc = tokenizer_encode(t, invalid[i].text, invalid[i].len, 1, &ids, &n, &cap, &err);
        ok &= rc == -1 && n == 0 && strcmp(err.msg, want) == 0;
        snprintf(name, sizeof name, "invalid UTF-8 %zu is an error: %s", i, want);
        check(ok, name, err.msg);
    }
    n = 0;
    rc = tokenizer_encode(t, "a\0b", 3, 1, &ids, &n, &cap, &err);
    size_t l0;
    const uint8_t *b0 = n == 3 ? tokenizer_token_bytes(t, ids[1], &l0) : NULL;
    check(rc == 0 && b0 && l0 == 1 && b0[0] == 0, "a NUL byte is ordinary text", rc ? err.msg : "");
    free(ids);
    free(full);
}

static void test_tokenizer(const char *tok_path, const char *corpus_path) {
    Error err;
    Tokenizer *t = tokenizer_load(tok_path, &err);
    check(t != NULL, "tokenizer loads", t ? "" : err.msg);
    if (!t) return;
    check(tokenizer_vocab_size(t) == 201088, "vocab is 201088", "");
    size_t len;
    const uint8_t *b = tokenizer_token_bytes(t, TOKEN_RETURN, &len);
    check(b && len == 10 && !memcmp(b, "<|return|>", 10), "id 200002 is <|return|>", "");
    b = tokenizer_token_bytes(t, 200001, &len);
    check(b && len == 19 && !memcmp(b, "<|reserved_200001|>", 19), "unnamed ids are <|reserved_N|>", "");
    /* special tokens: recognized only when allowed */
    int *ids = NULL, n = 0, cap = 0;
    tokenizer_encode(t, "<|start|>x", 10, 1, &ids, &n, &cap, &err);
    check(n == 2 && ids[0] == TOKEN_START, "special token text becomes its id when allowed", "");
    n = 0;
    tokenizer_encode(t, "<|start|>x", 10, 0, &ids, &n, &cap, &err);
    check(n > 2 && ids[0] != TOKEN_START, "special token text is ordinary text when not allowed", "");
    /* decode(encode(s)) == s over the corpus */
    char *text = read_file(corpus_path, &len, &err);
    int lines = 0, bad = 0;
    for (char *p = text, *e; text && p < text + len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(text + len - p));
        if (!e) e = text + len;
        size_t sl;
        char *s = unescape_line(p, (size_t)(e - p), &sl, &err);
        if (!s) continue;
        n = 0;
        tokenizer_encode(t, s, sl, 1, &ids, &n, &cap, &err);
        size_t out_len = 0;
        char *out = xmalloc(sl * 4 + 16);
        for (int i = 0; i < n; i++) {
            size_t tl;
            const uint8_t *tb = tokenizer_token_bytes(t, ids[i], &tl);
            memcpy(out + out_len, tb, tl);
            out_len += tl;
        }
        bad += out_len != sl || memcmp(out, s, sl) != 0;
        lines++;
        free(out);
        free(s);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "%d of %d lines differ", bad, lines);
    check(text && lines >= 300 && bad == 0, "decode(encode(s)) == s on the corpus", detail);
    free(text);
    free(ids);
    test_encode_limited(t);
    test_bpe_equivalence(t);
    tokenizer_free(t);
}

/* The work model of the GPU profile's roofline columns (src/step_work.h) on
 * gpt-oss-20b's shape: a token's FLOPs are twice the active parameters
 * (OpenAI's model card: 3.6 B active of 21 B); the experts' bytes grow with
 * the rows until every expert is read; a sliding layer's keys stop at the
 * window. */
static void test_step_work(void) {
    ModelConfig c;
    Model m;
    Error err;
    if (preset_config("20b", &c) != 0 || model_create_virtual(&m, &c, DTYPE_BF16, DTYPE_MXFP4, &err) != 0) {
        check(0, "step_work: the 20b preset", "cannot make it");
        return;
    }
    double flops = 0;
    for (int l = 0; l < (int)c.n_layers; l++)
        for (int k = WORK_QKV; k < WORK_UNEMBEDDING; k++) flops += step_work(&m, l, (WorkKind)k, 1, 1, 0).flops;
    flops += step_work(&m, 0, WORK_UNEMBEDDING, 1, 0, 1).flops;
    char detail[96];
    snprintf(detail, sizeof detail, "%.2f GFLOP a token", flops * 1e-9);
    check(fabs(flops / 7.2e9 - 1) < 0.05, "step_work: a token's FLOPs are twice gpt-oss-20b's 3.6 B active parameters (within 5%)", detail);
    const LayerWeights *L = &m.weights.layers[0];
    double b1 = step_work(&m, 0, WORK_GATE_UP, 1, 0, 0).bytes, b8 = step_work(&m, 0, WORK_GATE_UP, 8, 0, 0).bytes,
           b256 = step_work(&m, 0, WORK_GATE_UP, 256, 0, 0).bytes;
    check(b1 * c.n_experts == (double)L->gate_up_w->nbytes * c.experts_per_token && b8 == (double)L->gate_up_w->nbytes && b256 == b8,
          "step_work: gate_up reads k of E experts at 1 row, all of them from 8 rows on", "");
    int sliding = c.layer_sliding[0] ? 0 : 1;
    check(step_work_keys(&c, sliding, 5000) == (long)c.sliding_window && step_work_keys(&c, 1 - sliding, 5000) == 5001,
          "step_work: a sliding layer reads the window's keys, a full one every position", "");
    model_close(&m);
}

int main(int argc, char **argv) {
    test_codecs();
    test_config();
    test_memcpy_parallel();
    test_step_work();
    if (argc >= 3) test_tokenizer(argv[1], argv[2]);
    return failures != 0;
}
