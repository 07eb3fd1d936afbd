/* test_unit - unit tests of the core modules against values worked out by
 * hand or by an independent computation in the test itself.
 * usage: test_unit TOKENIZER_FILE CORPUS_FILE
 * Prints one "PASS name" or "FAIL name: why" line per check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../src/json.h"
#include "../src/model_writer.h"
#include "../src/requests.h"
#include "../src/rng.h"
#include "../src/sampler.h"
#include "../src/tokenizer.h"

static int failures;

static void check(int ok, const char *name, const char *detail) {
    if (ok) printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, detail);
        failures++;
    }
}

static void test_json(void) {
    Error err;
    const char *doc = "{\"a\": [1, 2.5, -3e2], \"s\": \"x\\n\\u00e9\\ud83d\\ude00\", \"t\": true, \"n\": null}";
    JsonValue *v = json_parse(doc, strlen(doc), &err);
    int ok = v && json_get(v, "a")->n == 3 && json_get(v, "a")->items[2].number == -300.0 && json_get(v, "t")->number == 1 &&
             json_get(v, "n")->type == JSON_NULL && !strcmp(json_get(v, "s")->string, "x\n\xc3\xa9\xf0\x9f\x98\x80");
    check(ok, "json_parse nested values, escapes and surrogate pairs", v ? "wrong values" : err.msg);
    json_free(v);
    const char *bad[] = {"{\"a\":}", "[1,]", "\"\\ud800\"", "{\"a\":1} x", "\"unterminated", "01x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        JsonValue *b = json_parse(bad[i], strlen(bad[i]), &err);
        char name[64];
        snprintf(name, sizeof name, "json_parse rejects bad input %zu", i);
        check(b == NULL, name, bad[i]);
        json_free(b);
    }
    check(utf8_valid_prefix("ok\xc3\xa9\xff", 5) == 4, "utf8_valid_prefix stops at an invalid byte", "");
    check(utf8_valid_prefix("\xed\xa0\x80", 3) == 0, "utf8_valid_prefix rejects encoded surrogates", "");
    check(utf8_valid_prefix("\xc0\x80", 2) == 0, "utf8_valid_prefix rejects overlong forms", "");
}

static void test_escapes(void) {
    Error err;
    size_t n;
    char *s = unescape_line("a\\nb\\tc\\\\d", 11, &n, &err);
    check(s && n == 8 && !memcmp(s, "a\nb\tc\\d", 8), "unescape_line decodes \\n \\t \\\\", "");
    free(s);
    s = unescape_line("bad\\q", 5, &n, &err);
    check(!s && strstr(err.msg, "\\q"), "unescape_line rejects unknown escapes", err.msg);
    s = unescape_line("end\\", 4, &n, &err);
    check(!s, "unescape_line rejects a trailing backslash", "");
}

/* The nucleus by the textbook recipe, for comparison: sort by probability,
 * keep the shortest prefix whose mass reaches top_p plus every token tied
 * with its last member, then draw walking ids upwards. */
static int reference_top_p(const float *logits, int n, float temperature, float top_p, float coin) {
    double p[64], sorted[64], maxv = logits[0], sum = 0, cum = 0, tau = 0, mass = 0, acc = 0;
    for (int i = 1; i < n; i++) maxv = fmax(maxv, logits[i]);
    for (int i = 0; i < n; i++) sum += p[i] = exp((logits[i] - maxv) / temperature);
    for (int i = 0; i < n; i++) sorted[i] = p[i] /= sum;
    for (int i = 1; i < n; i++) /* insertion sort, descending */
        for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    for (int i = 0; i < n && cum < top_p; i++) cum += tau = sorted[i];
    for (int i = 0; i < n; i++) mass += p[i] >= tau ? p[i] : 0;
    int last = 0;
    for (int i = 0; i < n; i++)
        if (p[i] >= tau) {
            acc += p[i], last = i;
            if (coin * mass < acc) return i;
        }
    return last;
}

static void test_sampler(void) {
    float tie[5] = {1, 3, 0, 3, 2};
    check(sample_argmax(tie, 5) == 1, "argmax ties go to the lowest id", "");
    Rng r = rng_stream(7, 3);
    float scratch[64];
    check(sample_token(tie, 5, 0.0f, 1.0f, &r, scratch) == 1, "temperature 0 is argmax", "");
    /* top_p small: only the two tied most probable tokens can be drawn, both are */
    int seen[5] = {0};
    for (int i = 0; i < 400; i++) seen[sample_token(tie, 5, 1.0f, 0.1f, &r, scratch)]++;
    check(seen[1] > 0 && seen[3] > 0 && seen[1] + seen[3] == 400, "top_p keeps only the nucleus (ties at its edge included)", "");
    /* the threshold search against the sorting recipe on random rows */
    Rng g = rng_stream(99, 1);
    int agree = 1, trials = 0;
    char why[128] = "";
    for (int t = 0; t < 2000 && agree; t++, trials++) {
        int n = 2 + (int)(rng_u64(&g) % 60);
        float l[64];
        for (int i = 0; i < n; i++) l[i] = (float)(rng_uniform(&g) * 8.0 - 4.0);
        if (t % 5 == 0) l[1] = l[0]; /* ties */
        float temp = 0.2f + 2.0f * rng_uniform(&g), top_p = rng_uniform(&g), coin = rng_uniform(&g);
        int got = sample_with_coin(l, n, (SampleSpec){temp, top_p, coin}, scratch), want = reference_top_p(l, n, temp, top_p, coin);
        if (got != want) {
            agree = 0;
            snprintf(why, sizeof why, "row %d: n %d T %.3f top_p %.3f coin %.3f: got %d, want %d", t, n, temp, top_p, coin, got, want);
        }
    }
    check(agree, "top-p sampler matches the sorting recipe on 2000 random rows", why);
    /* distribution at T=1, top_p=1 follows softmax: compare frequencies */
    float logits[3] = {0.0f, (float)log(2.0), (float)log(5.0)}; /* probabilities 1/8, 2/8, 5/8 */
    int counts[3] = {0};
    Rng d = rng_stream(11, 0);
    for (int i = 0; i < 40000; i++) counts[sample_token(logits, 3, 1.0f, 1.0f, &d, scratch)]++;
    double e[3] = {5000, 10000, 25000};
    double chi2 = 0;
    for (int i = 0; i < 3; i++) chi2 += (counts[i] - e[i]) * (counts[i] - e[i]) / e[i];
    char detail[96];
    snprintf(detail, sizeof detail, "counts %d %d %d, chi2 %.2f", counts[0], counts[1], counts[2], chi2);
    check(chi2 < 13.8, "sampling frequencies follow softmax (chi2, 2 dof, p=0.001)", detail);
    /* temperature sharpens: at T=0.5 probabilities are 1/30, 4/30, 25/30 */
    int top = 0;
    for (int i = 0; i < 30000; i++) top += sample_token(logits, 3, 0.5f, 1.0f, &d, scratch) == 2;
    check(fabs(top - 25000.0) < 4 * sqrt(30000 * (25.0 / 30) * (5.0 / 30)), "temperature scales logits", "");
    /* streams: same keys give the same numbers, different request index differs */
    Rng a = rng_stream(42, 5), b = rng_stream(42, 5), c = rng_stream(42, 6);
    uint64_t x = rng_u64(&a);
    check(x == rng_u64(&b) && x != rng_u64(&c), "rng streams depend only on (seed, index)", "");
}

static void test_codecs(void) {
    /* bf16: round to nearest even */
    check(f32_to_bf16(1.0f) == 0x3f80 && bf16_to_f32(0x3f80) == 1.0f, "bf16 of 1.0", "");
    check(f32_to_bf16(1.00390625f) == 0x3f80, "bf16 ties round to even (down)", "");
    check(f32_to_bf16(1.01171875f) == 0x3f82, "bf16 ties round to even (up)", "");
    /* mxfp4: values exactly representable round-trip, the scale is a power of two */
    float src[64], back[64];
    for (int i = 0; i < 32; i++) src[i] = MXFP4_VALUES[i % 16] * 0.25f;
    for (int i = 32; i < 64; i++) src[i] = MXFP4_VALUES[(i * 7) % 16] * 8.0f;
    uint8_t packed[64 / 2 + 64 / 32];
    encode_f32_as(DTYPE_MXFP4, src, 64, 64, packed);
    Tensor t = {.dtype = DTYPE_MXFP4, .ndim = 1, .shape = {64}, .data = packed};
    tensor_read_row(&t, 0, back);
    int same = 1;
    for (int i = 0; i < 64; i++) same &= back[i] == src[i];
    check(same, "mxfp4 encode/decode round-trips representable values", "");
    check(packed[32] == 127 - 3 + 1 && packed[33] == 127 + 3, "mxfp4 block scales are 2^(e-127)", "");
    check(e8m0_to_f32(127) == 1.0f && e8m0_to_f32(130) == 8.0f && e8m0_to_f32(0) == ldexpf(1.0f, -127), "e8m0 decoding", "");
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
    tokenizer_free(t);
}

int main(int argc, char **argv) {
    test_json();
    test_escapes();
    test_sampler();
    test_codecs();
    test_config();
    test_memcpy_parallel();
    if (argc >= 3) test_tokenizer(argv[1], argv[2]);
    return failures != 0;
}
