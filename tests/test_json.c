/* test_json - the JSON reader (src/json.h: values, strict numbers and
 * strings) and the request files (src/requests.h: reading, escapes), against
 * values worked out by hand.
 * usage: test_json
 * Prints one "PASS name" or "FAIL name: why" line per check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/json.h"
#include "../src/requests.h"
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

int main(void) {
    test_json();
    test_json_numbers();
    test_json_strict();
    test_requests_read();
    test_escapes();
    return failures != 0;
}
