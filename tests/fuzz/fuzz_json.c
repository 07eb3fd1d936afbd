/* fuzz_json.c - fuzzing JSON (tests/fuzz/fuzz.h): json_parse on mutated
 * JSON seeds, the test checkpoints' safetensors headers and config.json; an
 * accepted text must give a well-formed tree and hold no raw control
 * characters. Also loads those checkpoints (the convert kind uses them). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "fuzz.h"

static const Seed JSON_SEEDS[] = {
    SEED("{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0.5, \"top_p\": 0.9, \"seed\": 42, \"id\": \"x\"}"),
    SEED("[1, -2.5e-3, 1E+2, 0, -0, true, false, null, \"\\u00e9\\ud83d\\ude00\\n\", [], {}, [[[]]], {\"a\": {\"b\": [1]}}]"),
    SEED("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"),
};

const char *const JSON_DICT[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud800", "\\udc00", "\\ud800\\udc00", "\\u0000", "\\\"", "true",
    "false", "null", "-", "0", "1e999", "-1e999", "1e308", "-0", "1e-400", "0.0000001", "18446744073709551616", "1.8e19",
    "4294967296", "4294967295", "-1", "NaN", "Infinity", "01", "1.", ".5", "1e", "\"dtype\"", "\"F32\"", "\"BF16\"", "\"U8\"",
    "\"F16\"", "\"I64\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "]]]]]]]]]]]]]]]]", "{\"a\":{\"a\":{\"a\":{\"a\":", "\x00", "\xff", "\t", "\n", " ",
};
const size_t N_JSON_DICT = sizeof JSON_DICT / sizeof *JSON_DICT;

void gen_json(const Fuzz *fz, Rng *r, Input *in) {
    MutateCfg cfg = {JSON_DICT, sizeof JSON_DICT / sizeof *JSON_DICT, fz->json_seeds, fz->n_json_seeds, 1 << 16, 1 << 12};
    make_mutant(&in->bytes, r, &cfg);
}

/* Every node is well formed; returns the first problem or NULL. */
static const char *json_tree_problem(const JsonValue *v, int depth) {
    if (depth > 70) return "nested deeper than the parser allows";
    switch (v->type) {
    case JSON_NULL: return NULL;
    case JSON_BOOL: return v->number == 0 || v->number == 1 ? NULL : "a bool that is neither 0 nor 1";
    case JSON_NUMBER: return isfinite(v->number) ? NULL : "a number that is not finite";
    case JSON_STRING: return v->string && v->string[v->len] == 0 ? NULL : "a string without its terminating NUL";
    case JSON_ARRAY:
    case JSON_OBJECT:
        for (size_t i = 0; i < v->n; i++) {
            if (v->type == JSON_OBJECT && !v->keys[i]) return "an object member without a key";
            const char *p = json_tree_problem(&v->items[i], depth + 1);
            if (p) return p;
        }
        return NULL;
    }
    return "an unknown value type";
}

Verdict check_json(const uint8_t *p, size_t n) {
    /* an exact-size copy without a terminating NUL: ASan sees any read past the end */
    char *text = xmalloc(n ? n : 1);
    if (n) memcpy(text, p, n);
    Error err;
    err.msg[0] = 0;
    JsonValue *v = json_parse(text, n, &err);
    const char *why = NULL;
    if (!v) {
        if (!err.msg[0]) why = "failed without a message";
    } else {
        why = json_tree_problem(v, 0);
        /* JSON text has no raw control characters but the three whitespace
         * ones (RFC 8259: inside strings they must be escaped) */
        static char msg[96];
        for (size_t i = 0; i < n && !why; i++)
            if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
                snprintf(msg, sizeof msg, "accepted text with the raw control character 0x%02x at byte %zu", p[i], i);
                why = msg;
            }
        if (!why) {
            (void)json_get(v, "dtype");
            (void)json_number(v, "hidden_size", -1);
        }
    }
    (void)utf8_valid_prefix(text, n);
    json_free(v);
    free(text);
    if (why) {
        fprintf(stderr, "fuzz: %s: json_parse %s\n", g_label, why);
        return VERDICT_WRONG;
    }
    return v ? VERDICT_ACCEPTED : VERDICT_REJECTED;
}

void load_fixtures(Fuzz *fz) {
    const char *dirs[2] = {"hf_f32", "hf_mxfp4"};
    char path[4096];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s/config.json", fz->fixtures, dirs[i]);
        read_into(&fz->fixture_config[i], path);
        snprintf(path, sizeof path, "%s/%s/model.safetensors", fz->fixtures, dirs[i]);
        read_into(&fz->fixture_st[i], path);
        const Buf *st = &fz->fixture_st[i];
        if (st->len < 8 || read_u64le(st->p) > st->len - 8) die("%s: not a safetensors file", path);
    }
    size_t n_builtin = sizeof JSON_SEEDS / sizeof *JSON_SEEDS;
    fz->n_json_seeds = n_builtin + 4;
    fz->json_seeds = xcalloc(fz->n_json_seeds, sizeof(Seed));
    memcpy(fz->json_seeds, JSON_SEEDS, sizeof JSON_SEEDS);
    for (int i = 0; i < 2; i++) {
        fz->json_seeds[n_builtin + 2 * i] = (Seed){(const char *)fz->fixture_config[i].p, fz->fixture_config[i].len};
        fz->json_seeds[n_builtin + 2 * i + 1] = (Seed){(const char *)fz->fixture_st[i].p + 8, (size_t)read_u64le(fz->fixture_st[i].p)};
    }
}
