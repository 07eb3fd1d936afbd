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
#include "../src/sampler.h"
#include "../src/stop_match.h"
#include "../src/tokenizer.h"
#include "check.h"


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

/* json_parse(doc) must fail with a message containing want. */
static void check_rejects(const char *doc, size_t len, const char *want, const char *name) {
    Error err = {{0}};
    JsonValue *v = json_parse(doc, len, &err);
    char detail[1200];
    snprintf(detail, sizeof detail, v ? "accepted" : "message '%s' lacks '%s'", err.msg, want);
    check(!v && strstr(err.msg, want) != NULL, name, detail);
    json_free(v);
}

/* Numbers: JSON's grammar exactly, the literal kept, exact integers. */
static void test_json_numbers(void) {
    Error err;
    const char *good[] = {"0", "-0", "-0.0", "1e300", "1E+2", "1.5e-3", "123", "0.5", "1e-400",
                          "1234567890123456789012345678901234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        JsonValue *v = json_parse(good[i], strlen(good[i]), &err);
        char name[128];
        snprintf(name, sizeof name, "json_parse accepts the number %.40s and keeps its text", good[i]);
        int ok = v && v->type == JSON_NUMBER && v->len == strlen(good[i]) && !strcmp(v->string, good[i]) &&
                 v->number == strtod(good[i], NULL);
        check(ok, name, v ? "wrong value or text" : err.msg);
        json_free(v);
    }
    struct {
        const char *doc, *want;
    } bad[] = {{"01", "leading zeros"}, {"-01", "leading zeros"}, {"00", "leading zeros"}, {"[1, 01]", "leading zeros"},
               {"{\"max_tokens\": 01}", "leading zeros"}, {"+1", "'+'"}, {".5", "before '.'"}, {"1.", "after '.'"},
               {"1.e3", "after '.'"}, {"1e", "exponent"}, {"1e+", "exponent"}, {"0x1f", "hexadecimal"}, {"NaN", "NaN"},
               {"Infinity", "Infinity"}, {"-Infinity", "after '-'"}, {"-", "after '-'"}, {"1.2.3", "not a JSON number"},
               {"12abc", "not a JSON number"}, {"1e400", "out of range"}, {"-1e400", "out of range"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[96];
        snprintf(name, sizeof name, "json_parse rejects the number %s", bad[i].doc);
        check_rejects(bad[i].doc, strlen(bad[i].doc), bad[i].want, name);
    }
    struct {
        const char *doc;
        JsonIntStatus st;
        int negative;
        uint64_t value;
    } ints[] = {{"0", JSON_INT_OK, 0, 0},
                {"-0", JSON_INT_OK, 1, 0},
                {"0.000", JSON_INT_OK, 0, 0},
                {"0e999999999999", JSON_INT_OK, 0, 0},
                {"7", JSON_INT_OK, 0, 7},
                {"-1", JSON_INT_OK, 1, 1},
                {"5.0", JSON_INT_OK, 0, 5},
                {"1e3", JSON_INT_OK, 0, 1000},
                {"1.5e1", JSON_INT_OK, 0, 15},
                {"100e-2", JSON_INT_OK, 0, 1},
                {"12345678901234567890e-1", JSON_INT_OK, 0, 1234567890123456789ull},
                {"9007199254740993", JSON_INT_OK, 0, 9007199254740993ull}, /* 2^53 + 1: no double holds it */
                {"18446744073709551615", JSON_INT_OK, 0, UINT64_MAX},
                {"1e19", JSON_INT_OK, 0, 10000000000000000000ull},
                {"0.5", JSON_INT_NOT_INTEGER, 0, 0},
                {"1e-1", JSON_INT_NOT_INTEGER, 0, 0},
                {"1e-999999999999", JSON_INT_NOT_INTEGER, 0, 0},
                {"18446744073709551616", JSON_INT_TOO_LARGE, 0, 0},
                {"1e20", JSON_INT_TOO_LARGE, 0, 0},
                {"1e300", JSON_INT_TOO_LARGE, 0, 0},
                {"1234567890123456789012345678901234567890123456789012345678901234567890", JSON_INT_TOO_LARGE, 0, 0}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        JsonValue *v = json_parse(ints[i].doc, strlen(ints[i].doc), &err);
        int negative = -1;
        uint64_t m = 12345;
        JsonIntStatus st = v ? json_integer(v, &negative, &m) : (JsonIntStatus)-1;
        char name[128], detail[96];
        snprintf(name, sizeof name, "json_integer(%.30s) is exact", ints[i].doc);
        snprintf(detail, sizeof detail, "status %d, negative %d, value %llu", (int)st, negative, (unsigned long long)m);
        check(st == ints[i].st && (st != JSON_INT_OK || (negative == ints[i].negative && m == ints[i].value)), name, detail);
        json_free(v);
    }
    JsonValue s = {.type = JSON_STRING, .string = "5", .len = 1};
    int negative;
    uint64_t m;
    check(json_integer(&s, &negative, &m) == JSON_INT_NOT_INTEGER, "json_integer refuses a string", "");
}

/* Keys, strings, nesting and size. */
static void test_json_strict(void) {
    Error err;
    /* a key with an embedded NUL is not "prompt" */
    const char *nul = "{\"prompt\\u0000x\": \"a\"}";
    JsonValue *v = json_parse(nul, strlen(nul), &err);
    check(v && json_get(v, "prompt") == NULL && v->key_lens[0] == 8 && !memcmp(v->keys[0], "prompt\0x", 8),
          "a key with an embedded \\u0000 keeps its length and does not match \"prompt\"", v ? "matched" : err.msg);
    json_free(v);
    const char *nul2 = "{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3}";
    v = json_parse(nul2, strlen(nul2), &err);
    check(v && v->n == 3 && json_get(v, "a") == &v->items[2], "keys differing after a NUL are distinct", v ? "" : err.msg);
    json_free(v);
    /* duplicates */
    const char *dup = "{\"prompt\": \"a\", \"x\": 1, \"prompt\": \"b\"}";
    check_rejects(dup, strlen(dup), "duplicate key \"prompt\" at byte 24", "json_parse rejects a duplicate key, naming it and its place");
    const char *dupn = "{\"a\\u0000b\": 1, \"a\\u0000b\": 2}";
    check_rejects(dupn, strlen(dupn), "duplicate key \"a\\u0000b\"", "a duplicate key with a NUL is named visibly");
    const char *dupin = "[{\"k\": 1}, {\"k\": 2, \"j\": {\"z\": 1, \"z\": 2}}]";
    check_rejects(dupin, strlen(dupin), "duplicate key \"z\"", "json_parse rejects a duplicate key in a nested object");
    /* a large object: 5000 distinct keys pass, a repeat of key 2500 at the end fails */
    size_t cap = 200000, n = 0;
    char *big = xmalloc(cap);
    n += (size_t)snprintf(big + n, cap - n, "{");
    for (int i = 0; i < 5000; i++) n += (size_t)snprintf(big + n, cap - n, "%s\"key%d\": %d", i ? ", " : "", i, i);
    memcpy(big + n, "}", 2);
    v = json_parse(big, n + 1, &err);
    check(v && v->n == 5000 && json_get(v, "key4999") && json_get(v, "key4999")->number == 4999, "json_parse takes an object of 5000 keys",
          v ? "" : err.msg);
    json_free(v);
    n += (size_t)snprintf(big + n, cap - n, ", \"key2500\": 0}");
    check_rejects(big, n, "duplicate key \"key2500\"", "json_parse finds a duplicate among 5000 keys");
    free(big);
    /* strings */
    check_rejects("\"\\u12", 5, "truncated \\u escape", "json_parse rejects a \\u escape cut by the end of input");
    check_rejects("\"\\u12\"", 6, "truncated \\u escape", "json_parse rejects a \\u escape of 2 digits");
    check_rejects("\"\\u12g4\"", 8, "bad hex digit", "json_parse rejects a bad hex digit");
    check_rejects("\"\\ud800\"", 8, "lone high surrogate", "json_parse rejects a lone high surrogate");
    check_rejects("\"\\ud800\\u0041\"", 14, "lone high surrogate", "json_parse rejects a high surrogate before a non-surrogate");
    check_rejects("\"\\udc00\"", 8, "lone low surrogate", "json_parse rejects a lone low surrogate");
    check_rejects("\"\\ud800", 7, "lone high surrogate", "json_parse rejects a high surrogate at the end of input");
    check_rejects("\"a\x01z\"", 5, "control character", "json_parse rejects a raw control character in a string");
    check_rejects("\"a\tz\"", 5, "control character", "json_parse rejects a raw tab in a string");
    check_rejects("\"a\nz\"", 5, "control character", "json_parse rejects a raw newline in a string");
    check_rejects("\"a\0z\"", 5, "control character", "json_parse rejects a raw NUL in a string");
    check_rejects("\"\xff\"", 3, "invalid UTF-8", "json_parse rejects invalid UTF-8 in a string");
    check_rejects("\"\\x41\"", 6, "invalid escape", "json_parse rejects an unknown escape");
    check_rejects("\xef\xbb\xbf{}", 5, "byte-order mark", "json_parse names a stray byte-order mark");
    v = json_parse("\"a\x7f\\u0000\\ud83d\\ude00\"", 22, &err);
    check(v && v->len == 7 && !memcmp(v->string, "a\x7f\0\xf0\x9f\x98\x80", 7), "DEL, \\u0000 and a surrogate pair are accepted",
          v ? "wrong bytes" : err.msg);
    json_free(v);
    /* nesting: 256 levels are fine, 257 and 100,000 are refused without recursing that deep */
    size_t depth = 100000;
    char *deep = xmalloc(2 * depth);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    v = json_parse(deep + depth - 256, 512, &err);
    check(v != NULL, "json_parse takes 256 nested arrays", v ? "" : err.msg);
    json_free(v);
    check_rejects(deep + depth - 257, 514, "nesting deeper than 256 levels", "json_parse refuses 257 nested arrays");
    check_rejects(deep, 2 * depth, "nesting deeper than 256 levels", "json_parse refuses 100,000 nested arrays (no stack overflow)");
    memset(deep, '{', depth);
    check_rejects(deep, depth, "expected a string key", "json_parse refuses 100,000 open braces");
    free(deep);
    /* a large input: 1,000,000 numbers and a 4 MB string */
    size_t count = 1000000, blen = 2 * count + 1;
    big = xmalloc(blen + 1);
    big[0] = '[';
    for (size_t i = 0; i < count; i++) big[1 + 2 * i] = '7', big[2 + 2 * i] = i + 1 < count ? ',' : ']';
    v = json_parse(big, blen, &err);
    check(v && v->n == count && v->items[count - 1].number == 7, "json_parse takes an array of 1,000,000 numbers", v ? "" : err.msg);
    json_free(v);
    free(big);
    size_t slen = 4 << 20;
    big = xmalloc(slen + 2);
    memset(big, 'x', slen + 2);
    big[0] = big[slen + 1] = '"';
    v = json_parse(big, slen + 2, &err);
    check(v && v->type == JSON_STRING && v->len == slen, "json_parse takes a 4 MB string", v ? "" : err.msg);
    json_free(v);
    check_rejects(big, slen + 1, "unterminated string", "json_parse rejects a 4 MB string without its closing quote");
    free(big);
}

/* requests_read on small JSONL files: ids kept as written, exact seeds, the
 * byte-order mark skipped. */
static void test_requests_read(void) {
    struct {
        const char *text, *want_id[3];
        uint64_t seed;
    } cases[] = {
        {"{\"prompt\": \"a\", \"id\": 1e300, \"seed\": 18446744073709551615}\n"
         "{\"prompt\": \"b\", \"id\": 7}\n{\"prompt\": \"c\", \"id\": \"7\"}\n",
         {"1e300", "7", "\"7\""}, UINT64_MAX},
        {"\xef\xbb\xbf{\"prompt\": \"a\", \"id\": -0.0, \"seed\": 9007199254740993}\n"
         "{\"prompt\": \"b\", \"id\": \"q\\\"\\u00e9\\n\\u0000\"}\n"
         "{\"prompt\": \"c\"}\n",
         {"-0.0", "\"q\\\"\xc3\xa9\\n\\u0000\"", NULL}, 9007199254740993ull},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char path[] = "/tmp/getp_test_XXXXXX.jsonl";
        int fd = mkstemps(path, 6);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            check(0, "requests_read: temporary file", "cannot create");
            return;
        }
        fputs(cases[c].text, f);
        fclose(f);
        RequestSet rs;
        Error err;
        int rc = requests_read(path, &rs, &err);
        int ok = rc == 0 && rs.n == 3 && rs.items[0].has_seed && rs.items[0].seed == cases[c].seed;
        for (int i = 0; ok && i < 3; i++)
            ok = cases[c].want_id[i] ? rs.items[i].id && !strcmp(rs.items[i].id, cases[c].want_id[i]) : rs.items[i].id == NULL;
        char name[96];
        snprintf(name, sizeof name, "requests_read keeps ids as written and seeds exact (case %zu)", c);
        check(ok, name, rc ? err.msg : "wrong id or seed");
        if (rc == 0) requests_free(&rs);
        unlink(path);
    }
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

/* top-k, then the nucleus of the top-k set, then min-p, by the textbook
 * recipe: sort, keep the first k (and ties), renormalize, keep the shortest
 * prefix reaching top_p (and ties), drop tokens below min_p * max; then the
 * draw walking ids upwards. */
static int reference_full(const float *logits, int n, SampleSpec s) {
    double p[64], sorted[64], maxv = logits[0], sum = 0;
    for (int i = 1; i < n; i++) maxv = fmax(maxv, logits[i]);
    for (int i = 0; i < n; i++) sum += p[i] = exp((logits[i] - maxv) / s.temperature);
    for (int i = 0; i < n; i++) sorted[i] = p[i] /= sum;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    double tau = 0, mass_k = 1;
    if (s.top_k > 0 && s.top_k < n) {
        tau = sorted[s.top_k - 1];
        mass_k = 0;
        for (int i = 0; i < n; i++) mass_k += p[i] >= tau ? p[i] : 0;
    }
    if (s.top_p > 0 && s.top_p < 1) {
        double cum = 0, t = tau;
        for (int i = 0; i < n && cum < (double)s.top_p * mass_k; i++) cum += t = sorted[i];
        if (t > tau) tau = t;
    }
    double m = (float)(s.min_p * (float)sorted[0]);
    if (s.min_p > 0 && m > tau) tau = m;
    double mass = 0, acc = 0;
    for (int i = 0; i < n; i++) mass += p[i] >= tau ? p[i] : 0;
    int last = 0;
    for (int i = 0; i < n; i++)
        if (p[i] >= tau) {
            acc += p[i], last = i;
            if (s.coin * mass < acc) return i;
        }
    return last;
}

/* log_softmax by the textbook, and the top tokens by sorting ids. */
static void test_logprobs(void) {
    float l[6] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f, 2.0f};
    TokenLogprobs lp;
    sample_logprobs(l, 6, 4, 4, &lp);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    int order[4] = {1, 3, 5, 0}, ok = lp.n_top == 4 && fabs(lp.logprob - (0.5 - log(z))) < 1e-6;
    for (int k = 0; k < 4; k++) ok = ok && lp.top_id[k] == order[k] && fabs(lp.top_logprob[k] - (l[order[k]] - log(z))) < 1e-6;
    check(ok, "logprobs: log_softmax of the chosen token, top ids by logit (ties to the lowest id)", "");
    double total = 0;
    for (int i = 0; i < 6; i++) {
        sample_logprobs(l, 6, i, 0, &lp);
        total += exp(lp.logprob);
    }
    check(fabs(total - 1.0) < 1e-6 && lp.n_top == 0, "logprobs: exp sums to 1 over the vocabulary", "");
    sample_logprobs(l, 6, 0, 50, &lp);
    check(lp.n_top == 6, "logprobs: asking for more alternatives than tokens gives them all", "");
}

/* Stop strings found while the text grows: where generation would end
 * (the first settled point) the text's first stop is the whole text's. */
static void test_stop_match(void) {
    Rng g = rng_stream(2024, 12);
    int agree = 1, early = 0, trials = 0;
    char why[160] = "";
    for (int t = 0; t < 3000 && agree; t++, trials++) {
        char text[96], stops[4][8];
        const char *stop[4];
        int len = 1 + (int)(rng_u64(&g) % 90), n_stop = 1 + (int)(rng_u64(&g) % 4);
        for (int i = 0; i < len; i++) text[i] = (char)('a' + rng_u64(&g) % 3); /* a small alphabet: many overlaps */
        for (int k = 0; k < n_stop; k++) {
            int sl = 1 + (int)(rng_u64(&g) % 6);
            for (int i = 0; i < sl; i++) stops[k][i] = (char)('a' + rng_u64(&g) % 3);
            stops[k][sl] = 0;
            stop[k] = stops[k];
        }
        long whole = stop_first(stop, n_stop, text, (size_t)len);
        StopMatch m;
        stop_match_init(&m);
        int at = 0, ended = 0;
        while (at < len && !ended) { /* tokens of 1-4 bytes */
            int n = 1 + (int)(rng_u64(&g) % 4);
            if (n > len - at) n = len - at;
            ended = stop_match_append(&m, stop, n_stop, (const uint8_t *)text + at, (size_t)n);
            at += n;
        }
        long cut = stop_first(stop, n_stop, text, (size_t)at);
        if (cut != whole || (ended && whole < 0)) {
            agree = 0;
            snprintf(why, sizeof why, "trial %d: %.*s: ended at %d (first %ld), whole text's first %ld", t, len, text, at, cut, whole);
        }
        early += ended && at < len;
        stop_match_free(&m);
    }
    char detail[200];
    snprintf(detail, sizeof detail, "%d of %d trials ended early; %s", early, trials, why);
    check(agree && early > 100, "stop strings: ending where the first one is settled gives the whole text's first stop", detail);
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
        int got = sample_with_coin(l, n, (SampleSpec){temp, top_p, 0.0f, 0, -1, coin}, scratch), want = reference_top_p(l, n, temp, top_p, coin);
        if (got != want) {
            agree = 0;
            snprintf(why, sizeof why, "row %d: n %d T %.3f top_p %.3f coin %.3f: got %d, want %d", t, n, temp, top_p, coin, got, want);
        }
    }
    check(agree, "top-p sampler matches the sorting recipe on 2000 random rows", why);
    /* top_k, top_p and min_p together against the textbook recipe */
    agree = 1;
    for (int t = 0; t < 3000 && agree; t++) {
        int n = 2 + (int)(rng_u64(&g) % 60);
        float l[64];
        for (int i = 0; i < n; i++) l[i] = (float)(rng_uniform(&g) * 8.0 - 4.0);
        if (t % 4 == 0) l[2 % n] = l[0]; /* ties */
        SampleSpec s = {0.2f + 2.0f * rng_uniform(&g), t % 3 ? rng_uniform(&g) : 1.0f, t % 2 ? 0.5f * rng_uniform(&g) : 0.0f,
                        t % 5 ? (int)(rng_u64(&g) % (uint64_t)(n + 2)) : 0, -1, rng_uniform(&g)};
        int got = sample_with_coin(l, n, s, scratch), want = reference_full(l, n, s);
        if (got != want) {
            agree = 0;
            snprintf(why, sizeof why, "row %d: n %d T %.3f top_p %.3f min_p %.3f top_k %d coin %.3f: got %d, want %d", t, n, s.temperature,
                     s.top_p, s.min_p, s.top_k, s.coin, got, want);
        }
    }
    check(agree, "top_k + top_p + min_p match the sorting recipe on 3000 random rows", why);
    /* top_k 2 on {1/8, 2/8, 5/8}: token 0 is never drawn; min_p 0.5: only token 2 */
    float three[3] = {0.0f, (float)log(2.0), (float)log(5.0)};
    int k_seen[3] = {0}, m_seen[3] = {0};
    Rng kr = rng_stream(5, 5);
    SampleParams kp = {1.0f, 1.0f, 0.0f, 2, -1}, mp = {1.0f, 1.0f, 0.5f, 0, -1};
    for (int i = 0; i < 2000; i++) {
        k_seen[sample_with_coin(three, 3, sample_spec(&kp, &kr), scratch)]++;
        m_seen[sample_with_coin(three, 3, sample_spec(&mp, &kr), scratch)]++;
    }
    check(k_seen[0] == 0 && k_seen[1] > 0 && k_seen[2] > k_seen[1], "top_k 2 draws from the two most likely only", "");
    check(m_seen[2] == 2000, "min_p 0.5 keeps only tokens at least half as likely as the best", "");
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

int main(int argc, char **argv) {
    test_json();
    test_json_numbers();
    test_json_strict();
    test_requests_read();
    test_escapes();
    test_sampler();
    test_logprobs();
    test_stop_match();
    test_codecs();
    test_config();
    test_memcpy_parallel();
    if (argc >= 3) test_tokenizer(argv[1], argv[2]);
    return failures != 0;
}
