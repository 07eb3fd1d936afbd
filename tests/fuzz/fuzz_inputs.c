/* fuzz_inputs - a bounded, deterministic fuzzer for the readers of untrusted
 * input: request files (requests_read), model headers (model_open), tokenizer
 * text (tokenizer_encode) and JSON (json_parse on safetensors headers and
 * config.json). `make sanitize` builds it with ASan and UBSan into build/san;
 * tests/run_sanitize.sh runs it (and, with --emit, uses it to make mutated
 * checkpoints for the convert_hf process).
 *
 * Input I of kind K is a pure function of (--seed, K, I): any input can be
 * made again from its index, and the run is the same on every machine.
 *
 * The parent forks one child per batch of inputs. Before each input the child
 * writes the input's index to shared memory, so when a sanitizer report (or a
 * signal) ends the child the parent knows which input did it, saves it under
 * --crash-dir and goes on with the next index in a new child. An alarm per
 * input makes a hang a failure. In ASan builds LeakSanitizer checks the heap
 * every 50 inputs; a batch that leaked is run again one check per input, to
 * name the input. After a successful read, each kind also checks what it got
 * back (a "wrong result": the reader accepted something it should not have,
 * or returned something inconsistent).
 *
 * Ends with "fuzz: KIND N inputs, N crashes, N hangs, N leaks, N wrong
 * results" and exits 1 if any of these is non-zero. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/json.h"
#include "../../src/model.h"
#include "../../src/model_layout.h"
#include "../../src/requests.h"
#include "../../src/rng.h"
#include "../../src/tokenizer.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

/* ---- deterministic randomness: splitmix64 over src/rng.h's Rng (one
 * uint64_t of state; requests.h brings it in) ---- */

static uint64_t rng_next(Rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n); n > 0 (the modulo bias does not matter here). */
static size_t rng_below(Rng *r, size_t n) { return (size_t)(rng_next(r) % n); }
static int rng_chance(Rng *r, unsigned one_in) { return rng_below(r, one_in) == 0; }

/* ---- a growable byte buffer ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t n) {
    if (n <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}
static void buf_set(Buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p, data, n);
    b->len = n;
}
static void buf_insert(Buf *b, size_t pos, const void *data, size_t n) {
    if (n == 0) return; /* b->p may still be NULL, which memmove may not get */
    buf_reserve(b, b->len + n);
    memmove(b->p + pos + n, b->p + pos, b->len - pos);
    memcpy(b->p + pos, data, n);
    b->len += n;
}
static void buf_erase(Buf *b, size_t pos, size_t n) {
    memmove(b->p + pos, b->p + pos + n, b->len - pos - n);
    b->len -= n;
}
static void buf_free(Buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- seeds and dictionaries ---- */

typedef struct {
    const char *text;
    size_t len; /* 0: strlen(text) */
} Seed;

#define SEED(s) {s, sizeof(s) - 1}

static const Seed PLAIN_REQUEST_SEEDS[] = {
    SEED("6\nHello, world!\nThe capital of France is\nA much longer prompt that runs well past the sliding window of the tiny "
         "model, so that the window matters.\\nIt has two lines.\n\xe7\x9f\xad\xe3\x81\x84\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n"
         "def fib(n):\\n\\treturn n if n < 2 else fib(n-1) + fib(n-2)\n1 2 3 4 5 6 7 8 9 10\n"),
    SEED("1\nA single request\n"),
    SEED("3\r\nfirst\r\nsecond \\\\ backslash\r\nthird\\ttab\r\n"),
    SEED("2\nemoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and <|start|> text\n\n"),
    SEED("  4\t\na\nb\nc\nd"),
};

static const Seed JSONL_REQUEST_SEEDS[] = {
    SEED("{\"prompt\": \"Hello, world!\", \"id\": \"a\"}\n"
         "{\"prompt\": \"The same prompt\", \"seed\": 1, \"temperature\": 1.0, \"id\": \"s1\"}\n"
         "{\"prompt\": \"No tokens please\", \"max_tokens\": 0}\n\n"
         "{\"prompt\": \"Special <|start|> text and emoji \xf0\x9f\x91\x8d\", \"max_tokens\": 3, \"id\": 7}\n"),
    SEED("{\"prompt\": \"x\", \"max_tokens\": 1000000000, \"temperature\": 100, \"top_p\": 1, \"seed\": 18000000000000000000, "
         "\"id\": \"big\"}\n"),
    SEED("{\"prompt\": \"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\", \"id\": 1.5e300}\n  \t\n"
         "{\"prompt\": \"\", \"seed\": null, \"top_p\": 0.5}\r\n"),
    SEED("{\"prompt\":\"nested\",\"id\":{\"a\":[1,2,{\"b\":null}]},\"extra\":[true,false,-0.0,1e-5]}\n"),
    SEED("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"2+2?\"}, "
         "{\"role\": \"assistant\", \"content\": \"4\"}, {\"role\": \"user\", \"content\": \"<|end|>\"}], \"reasoning_effort\": \"low\"}\n"),
};

static const char *const REQUEST_DICT[] = {
    "\\n", "\\t", "\\\\", "\\q", "\\", "\n", "\r\n", "\r", "{", "}", "[", "]", "\"", ":", ",", "\"prompt\"", "\"max_tokens\"",
    "\"temperature\"", "\"top_p\"", "\"seed\"", "\"id\"", "null", "true", "1e999", "-1", "-0", "0.5", "1e9", "1000000001",
    "18446744073709551615", "1.8e19", "1.9e19", "100000000", "100000001", "2147483648", "\\u0000", "\\ud800", "\\udc00",
    "\\ud83d\\ude00", "\\u00", "\xff", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80", "\xc0\x80", "\x00", " ", "\t", "0", "1",
    "\"messages\"", "\"role\"", "\"content\"", "\"user\"", "\"system\"", "\"developer\"", "\"assistant\"", "\"tool\"",
    "\"reasoning_effort\"", "\"high\"",
};

static const Seed TOKENIZER_SEEDS[] = {
    SEED("Hello, world!"),
    SEED("The capital of France is Paris. I'm sure you're right; they'll see we've done it, he'd say."),
    SEED("def fib(n):\n\treturn n if n < 2 else fib(n-1) + fib(n-2)\n"),
    SEED("\xe7\x9f\xad\xe3\x81\x84\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x97\xe3\x83\xad\xe3\x83\xb3\xe3\x83\x97"
         "\xe3\x83\x88 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xd0\xa0\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9 "
         "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac \xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9"),
    SEED("emoji \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"),
    SEED("<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant<|channel|>final<|message|>4<|return|>"),
    SEED("<|start <|start| |> <||> <|endoftext|> <|startoftext|x <|constrain|> |<|> <|<|start|>|>"),
    SEED("1234567890 3.14159 -42 1e10 0x1F 2024-01-01 12:34:56"),
    SEED("   \t\t\n\n\r\n  x  \n \n\n\n\t"),
    SEED("!!!???...,,,;;; ((([[[{{{}}}]]]))) /// \\\\\\ --- === +++ ***"),
    SEED("bad \xff\xfe bytes, a lone \xc3\x28 lead, a cut \xe2\x82 and \xf0\x9f\x98 seq"),
    SEED("surrogate \xed\xa0\x80 overlong \xc0\xaf \xe0\x80\xaf too big \xf4\x90\x80\x80 \xf8\x88\x80\x80\x80"),
};

static const char *const TOKENIZER_DICT[] = {
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>", "<|constrain|>", "<|endoftext|>",
    "<|startoftext|>", "<|endofprompt|>", "<|", "|>", "<|start", "start|>", "<|end", "\xff", "\xfe", "\xc3", "\x80", "\xbf",
    "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\x80", "\xf4\x90\x80\x80", "\xef\xbb\xbf", "\xe2\x80\x8d", " ", "  ",
    "\n", "\r\n", "\t", "'s", "'ll", "'RE", "123", "4567", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    "\xcc\x81", "a", "Z", ".", "\x00",
};

static const Seed JSON_SEEDS[] = {
    SEED("{\"prompt\": \"Hello\", \"max_tokens\": 3, \"temperature\": 0.5, \"top_p\": 0.9, \"seed\": 42, \"id\": \"x\"}"),
    SEED("[1, -2.5e-3, 1E+2, 0, -0, true, false, null, \"\\u00e9\\ud83d\\ude00\\n\", [], {}, [[[]]], {\"a\": {\"b\": [1]}}]"),
    SEED("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}"),
};

static const char *const JSON_DICT[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud800", "\\udc00", "\\ud800\\udc00", "\\u0000", "\\\"", "true",
    "false", "null", "-", "0", "1e999", "-1e999", "1e308", "-0", "1e-400", "0.0000001", "18446744073709551616", "1.8e19",
    "4294967296", "4294967295", "-1", "NaN", "Infinity", "01", "1.", ".5", "1e", "\"dtype\"", "\"F32\"", "\"BF16\"", "\"U8\"",
    "\"F16\"", "\"I64\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "]]]]]]]]]]]]]]]]", "{\"a\":{\"a\":{\"a\":{\"a\":", "\x00", "\xff", "\t", "\n", " ",
};

/* Numbers that make casts and range checks interesting (config.json,
 * safetensors shapes and offsets). */
static const char *const INTERESTING_NUMBERS[] = {
    "0", "1", "-1", "-0", "2", "31", "32", "33", "64", "255", "256", "257", "4095", "4096", "65536", "65537",
    "2147483647", "2147483648", "4294967295", "4294967296", "1e10", "1e19", "1.8446744073709552e19", "1e30", "1e308",
    "-1e30", "0.5", "3.5", "-0.5", "1e-9", "9007199254740993", "16777217",
};

/* ---- generic byte mutations ---- */

typedef struct {
    const char *const *dict;
    size_t n_dict;
    const Seed *seeds; /* splice partners */
    size_t n_seeds;
    size_t max_len;
    size_t max_run; /* longest repeated run the "long run" mutation inserts */
} MutateCfg;

static const uint8_t INTERESTING_BYTES[] = {0, 0xff, 0x7f, 0x80, 0xc0, 0xe0, 0xf0, '"', '\\', '{', '}', '[', ']', ',',
                                            ':', '0', '1', '5', '9', '-', '.', 'e', '\n', '\r', '\t', ' ', '<', '|', '>'};

static size_t seed_len(const Seed *s) { return s->len ? s->len : strlen(s->text); }

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
static void mutate_values(Buf *b, Rng *r) {
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
static void make_mutant(Buf *b, Rng *r, const MutateCfg *cfg) {
    const Seed *s = &cfg->seeds[rng_below(r, cfg->n_seeds)];
    buf_set(b, s->text, seed_len(s));
    size_t n = 1 + rng_below(r, 1 + rng_below(r, 8));
    for (size_t k = 0; k < n; k++) mutate_once(b, r, cfg);
}

/* ---- the fuzzer's state ---- */

/* tokenizer: any bytes, invalid UTF-8 included; tokenizer-utf8: the same
 * mutants made valid, so that a crash on invalid UTF-8 does not hide what
 * valid text does (long runs, special-token fragments). */
typedef enum { KIND_REQUESTS, KIND_MODEL, KIND_TOKENIZER, KIND_TOKENIZER_UTF8, KIND_JSON, KIND_CONVERT } Kind;
static const char *const KIND_NAMES[] = {"requests", "model", "tokenizer", "tokenizer-utf8", "json", "convert"};

typedef struct {
    uint8_t *head; /* header + tensor directory */
    size_t head_len;
    size_t file_len;
    uint32_t n_tensors;
} ModelSeed;

#define MAX_MODEL_SEEDS 4

typedef struct {
    Kind kind;
    uint64_t seed;
    long start, count, batch;
    unsigned timeout;
    long max_failures, max_hangs;
    const char *crash_dir, *work_dir, *tokenizer_path, *fixtures, *replay, *emit, *prog;
    const char *model_paths[MAX_MODEL_SEEDS];
    int n_model_paths;
    /* loaded before forking; the children share them */
    Tokenizer *tok;
    ModelSeed models[MAX_MODEL_SEEDS];
    Seed *json_seeds; /* JSON_SEEDS + the fixtures' safetensors headers and config.json files */
    size_t n_json_seeds;
    Buf fixture_config[2], fixture_st[2]; /* json and convert: hf_f32, hf_mxfp4 */
    char work_path[4096];
} Fuzz;

/* One input: bytes (a whole file, or for the model kind the header region of
 * a file of file_len bytes whose remaining bytes are zero), plus how to read
 * them. */
typedef struct {
    Buf bytes;
    size_t file_len; /* model */
    int jsonl;       /* requests */
    int allow_special; /* tokenizer */
} Input;

typedef enum { VERDICT_REJECTED, VERDICT_ACCEPTED, VERDICT_WRONG } Verdict;

/* What the messages call the input being run: "json input 12", or a replayed file. */
static char g_label[4200];

static Rng rng_for(const Fuzz *fz, long index) {
    /* tokenizer-utf8 input I is tokenizer input I made valid */
    Kind stream = fz->kind == KIND_TOKENIZER_UTF8 ? KIND_TOKENIZER : fz->kind;
    Rng r = {fz->seed * 0x9e3779b97f4a7c15ull + (uint64_t)stream * 0xd1b54a32d192ed03ull + (uint64_t)index};
    rng_next(&r);
    return r;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_inputs: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* Writes n bytes (at most total_len) and sets the length to total_len. No
 * O_TRUNC: on ext4 a truncation to zero followed by a rewrite makes close()
 * flush the data to disk (auto_da_alloc), which costs milliseconds a file. */
static void write_file_or_die(const char *path, const uint8_t *p, size_t n, size_t total_len) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) die("%s: %s", path, strerror(errno));
    size_t w = n < total_len ? n : total_len;
    for (size_t done = 0; done < w;) {
        ssize_t k = write(fd, p + done, w - done);
        if (k <= 0) die("%s: write failed: %s", path, strerror(errno));
        done += (size_t)k;
    }
    /* Cut what an earlier input left, then extend: the model kind's data
     * region is a hole that reads as zeros, so a 50 MB model costs one small
     * write. */
    if (ftruncate(fd, (off_t)w) != 0 || ftruncate(fd, (off_t)total_len) != 0) die("%s: ftruncate: %s", path, strerror(errno));
    close(fd);
}

/* ---- requests: requests_read on a mutated plain-text or JSONL file ---- */

static void gen_requests(const Fuzz *fz, Rng *r, Input *in) {
    (void)fz;
    int jsonl = rng_chance(r, 2);
    MutateCfg cfg = {REQUEST_DICT, sizeof REQUEST_DICT / sizeof *REQUEST_DICT,
                     jsonl ? JSONL_REQUEST_SEEDS : PLAIN_REQUEST_SEEDS,
                     jsonl ? sizeof JSONL_REQUEST_SEEDS / sizeof *JSONL_REQUEST_SEEDS : sizeof PLAIN_REQUEST_SEEDS / sizeof *PLAIN_REQUEST_SEEDS,
                     1 << 16, 1 << 13};
    make_mutant(&in->bytes, r, &cfg);
    /* now and then the other reader gets the file */
    in->jsonl = rng_chance(r, 16) ? !jsonl : jsonl;
}

static int names_the_file(const Error *e, const char *path) {
    size_t n = strlen(path);
    return e->msg[0] && strncmp(e->msg, path, n) == 0 && (e->msg[n] == ':');
}

static Verdict check_requests(const char *path) {
    RequestSet rs;
    Error err;
    err.msg[0] = 0;
    if (requests_read(path, &rs, &err) != 0) {
        if (!names_the_file(&err, path)) {
            fprintf(stderr, "fuzz: %s: the error does not start with the file name: '%s'\n", g_label, err.msg);
            return VERDICT_WRONG;
        }
        if (rs.items || rs.n) {
            fprintf(stderr, "fuzz: %s: a failed read left requests behind\n", g_label);
            return VERDICT_WRONG;
        }
        return VERDICT_REJECTED;
    }
    const char *why = NULL;
    if (rs.n <= 0 || !rs.items) why = "no requests";
    for (int i = 0; i < rs.n && !why; i++) {
        const Request *q = &rs.items[i];
        /* a request is a prompt or a chat's messages, each text exactly as long as said and valid UTF-8 */
        const char *text = q->prompt;
        size_t text_len = q->prompt_len;
        if (!q->prompt && q->n_messages > 0) text = q->messages[0].content, text_len = q->messages[0].content_len;
        for (int k = 0; k < q->n_messages && !why; k++)
            if (!q->messages[k].content || strlen(q->messages[k].content) != q->messages[k].content_len ||
                utf8_valid_prefix(q->messages[k].content, q->messages[k].content_len) != q->messages[k].content_len ||
                q->messages[k].role > HARMONY_ASSISTANT)
                why = "a message's content or role is wrong";
        if (why) break;
        if ((q->prompt != NULL) == (q->n_messages > 0)) why = "a request has both a prompt and messages, or neither";
        else if (q->reasoning_effort < -1 || q->reasoning_effort > HARMONY_EFFORT_HIGH) why = "reasoning_effort out of range";
        else if (!text || strlen(text) != text_len) why = "a prompt's length is wrong (or it holds a NUL)";
        else if (utf8_valid_prefix(text, text_len) != text_len) why = "a prompt is not valid UTF-8";
        else if (q->line < 1 || (i > 0 && q->line <= rs.items[i - 1].line)) why = "line numbers are not increasing";
        else if (!rs.jsonl && q->line != i + 2) why = "a plain-text prompt has the wrong line number";
        else if (q->max_tokens < -1 || q->max_tokens > 1000000000) why = "max_tokens out of range";
        else if (!(q->temperature == -1.0f || (q->temperature >= 0 && q->temperature <= 100))) why = "temperature out of range";
        else if (!(q->top_p == -1.0f || (q->top_p >= 0 && q->top_p <= 1))) why = "top_p out of range";
        else if (q->id && strlen(q->id) > (1u << 20)) why = "an absurd id";
    }
    if (why) fprintf(stderr, "fuzz: %s: requests_read accepted the file but %s\n", g_label, why);
    requests_free(&rs);
    return why ? VERDICT_WRONG : VERDICT_ACCEPTED;
}

/* ---- model: model_open on a file with a mutated header and directory ---- */

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void gen_model(const Fuzz *fz, Rng *r, Input *in) {
    const ModelSeed *ms = &fz->models[rng_below(r, (size_t)fz->n_model_paths)];
    buf_set(&in->bytes, ms->head, ms->head_len);
    uint8_t *h = in->bytes.p;
    size_t hl = ms->head_len, dir = LAYOUT_FIXED_HEADER;
    in->file_len = ms->file_len;
    size_t n = 1 + rng_below(r, 1 + rng_below(r, 4));
    for (size_t k = 0; k < n; k++) {
        /* a random directory entry, and a field in it */
        size_t entry = dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors);
        switch (rng_below(r, 10)) {
        case 0: /* flip a bit anywhere in the header region */
            h[rng_below(r, hl)] ^= (uint8_t)(1u << rng_below(r, 8));
            break;
        case 1: /* an interesting byte anywhere */
            h[rng_below(r, hl)] = INTERESTING_BYTES[rng_below(r, sizeof INTERESTING_BYTES)];
            break;
        case 2: { /* a header u32 field (version, count, config) set to an edge value */
            static const uint32_t vals[] = {0, 1, 2, 3, 31, 32, 33, 64, 255, 256, 257, 4096, 65536, 65537, 100000, 100001,
                                            1u << 24, (1u << 24) + 1, 0x7fffffffu, 0x80000000u, 0xffffffffu};
            size_t field = 8 + 4 * rng_below(r, 14);
            uint32_t v = rng_chance(r, 3) ? read_u32le(h + field) + (uint32_t)rng_below(r, 3) - 1u : vals[rng_below(r, sizeof vals / sizeof *vals)];
            put_u32(h + field, v);
            break;
        }
        case 3: { /* a config float set to an edge value */
            static const uint32_t bits[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x7f800000u, 0xff800000u,
                                            0x7fc00000u, 0x00000001u, 0x7f7fffffu, 0x3f000000u, 0x42000000u};
            put_u32(h + 64 + 4 * rng_below(r, 6), bits[rng_below(r, sizeof bits / sizeof *bits)]);
            break;
        }
        case 4: /* a layer's sliding flag */
            h[88 + rng_below(r, MODEL_MAX_LAYERS)] = (uint8_t)rng_below(r, 3);
            break;
        case 5: { /* an entry's dtype or rank */
            static const uint32_t vals[] = {0, 1, 2, 3, 4, 5, 0xffffffffu};
            put_u32(h + entry + 64 + 4 * rng_below(r, 2), vals[rng_below(r, sizeof vals / sizeof *vals)]);
            break;
        }
        case 6: { /* an entry's shape, offset or byte size set to an edge value */
            size_t field = entry + 72 + 8 * rng_below(r, 6);
            uint64_t old = read_u64le(h + field), fl = ms->file_len;
            uint64_t vals[] = {0, 1, 2, 32, 4096, 8192, old + 4096, old - 4096, old * 2, old + 1, fl, fl - 4096, fl + 4096,
                               1ull << 32, (1ull << 32) + 1, 1ull << 40, 1ull << 63, ~0ull, ~0ull - 4095,
                               read_u64le(h + dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors) + 104)};
            put_u64(h + field, vals[rng_below(r, sizeof vals / sizeof *vals)]);
            break;
        }
        case 7: { /* one entry copied over another: duplicate names, shared data */
            size_t other = dir + LAYOUT_DIR_ENTRY * rng_below(r, ms->n_tensors);
            if (rng_chance(r, 2)) memcpy(h + entry, h + other, LAYOUT_DIR_ENTRY);
            else memcpy(h + entry + 104, h + other + 104, 16); /* only the data range */
            break;
        }
        case 8: /* a name without its NUL, or emptied */
            if (rng_chance(r, 2)) memset(h + entry, 'A', MODEL_NAME_LEN);
            else h[entry] = 0;
            break;
        case 9: { /* splice: a range taken from another seed's header region */
            const ModelSeed *o = &fz->models[rng_below(r, (size_t)fz->n_model_paths)];
            size_t lim = o->head_len < hl ? o->head_len : hl, a = rng_below(r, lim), m = 1 + rng_below(r, lim - a);
            memcpy(h + a, o->head + a, m);
            break;
        }
        }
    }
    /* one in five is truncated (or extended) */
    if (rng_chance(r, 5)) {
        size_t fl = ms->file_len;
        switch (rng_below(r, 4)) {
        case 0: in->file_len = rng_below(r, hl + 1); break;
        case 1: in->file_len = rng_below(r, fl + 1); break;
        case 2: in->file_len = fl - 1 - rng_below(r, 4096); break;
        case 3: in->file_len = fl + rng_below(r, 8192); break;
        }
    }
}

static Verdict check_model(const char *path) {
    Model m;
    Error err;
    err.msg[0] = 0;
    if (model_open(&m, path, &err) != 0) {
        if (!names_the_file(&err, path)) {
            fprintf(stderr, "fuzz: %s: the error does not start with the file name: '%s'\n", g_label, err.msg);
            return VERDICT_WRONG;
        }
        return VERDICT_REJECTED;
    }
    /* the tensors the forward pass reads: inside the file, after the
     * directory, and not sharing bytes (docs/model-format.md) */
    const ModelWeights *w = &m.weights;
    uint32_t n_used = 3 + 17 * m.config.n_layers, k = 0;
    const Tensor **used = xcalloc(n_used, sizeof *used);
    used[k++] = w->embedding;
    used[k++] = w->final_norm;
    used[k++] = w->unembedding;
    for (uint32_t l = 0; l < m.config.n_layers; l++) {
        const LayerWeights *L = &w->layers[l];
        const Tensor *t[] = {L->attn_norm, L->wq, L->bq, L->wk, L->bk, L->wv, L->bv, L->wo, L->bo,
                             L->sinks, L->mlp_norm, L->router_w, L->router_b, L->gate_up_w, L->gate_up_b, L->down_w, L->down_b};
        for (size_t j = 0; j < sizeof t / sizeof *t; j++) used[k++] = t[j];
    }
    uint64_t dir_end = (uint64_t)LAYOUT_FIXED_HEADER + (uint64_t)m.n_tensors * LAYOUT_DIR_ENTRY;
    char why[512] = "";
    for (uint32_t i = 0; i < n_used && !why[0]; i++) {
        const Tensor *t = used[i];
        if (!t) snprintf(why, sizeof why, "a weight slot is empty");
        else if (t->offset < dir_end)
            snprintf(why, sizeof why, "tensor '%s' data at %llu overlaps the header and directory (%llu bytes)", t->name,
                     (unsigned long long)t->offset, (unsigned long long)dir_end);
        else if (t->offset > m.map_len || t->nbytes > m.map_len - t->offset)
            snprintf(why, sizeof why, "tensor '%s' runs past the end of the file", t->name);
        for (uint32_t j = 0; j < i && !why[0]; j++) {
            const Tensor *u = used[j];
            if (u != t && t->offset < u->offset + u->nbytes && u->offset < t->offset + t->nbytes)
                snprintf(why, sizeof why, "tensors '%s' [%llu, +%llu) and '%s' [%llu, +%llu) share bytes", u->name,
                         (unsigned long long)u->offset, (unsigned long long)u->nbytes, t->name, (unsigned long long)t->offset,
                         (unsigned long long)t->nbytes);
        }
    }
    /* read each tensor's first and last row, as the forward pass would */
    for (uint32_t i = 0; i < n_used && !why[0]; i++) {
        const Tensor *t = used[i];
        uint64_t row = tensor_row_len(t), rows = tensor_n_elems(t) / row;
        float *out = xmalloc(row * sizeof(float));
        tensor_read_row(t, 0, out);
        tensor_read_row(t, rows - 1, out);
        free(out);
    }
    free(used);
    model_close(&m);
    if (why[0]) {
        fprintf(stderr, "fuzz: %s: model_open accepted the file but %s\n", g_label, why);
        return VERDICT_WRONG;
    }
    return VERDICT_ACCEPTED;
}

/* ---- tokenizer: tokenizer_encode on mutated text, invalid UTF-8 included ---- */

static void gen_tokenizer(const Fuzz *fz, Rng *r, Input *in, long index) {
    (void)fz;
    MutateCfg cfg = {TOKENIZER_DICT, sizeof TOKENIZER_DICT / sizeof *TOKENIZER_DICT, TOKENIZER_SEEDS,
                     sizeof TOKENIZER_SEEDS / sizeof *TOKENIZER_SEEDS, 1 << 16, 1 << 15};
    make_mutant(&in->bytes, r, &cfg);
    in->allow_special = (int)(index & 1);
}

/* Replaces each byte that does not start a valid UTF-8 sequence with U+FFFD. */
static void make_valid_utf8(Buf *b) {
    size_t i = 0;
    while ((i += utf8_valid_prefix((const char *)b->p + i, b->len - i)) < b->len) {
        buf_erase(b, i, 1);
        buf_insert(b, i, "\xef\xbf\xbd", 3);
        i += 3;
    }
}

/* The text ends at the end of a page followed by an inaccessible one, so
 * that an over-read by PCRE2 (whose JIT code ASan does not see) faults. */
typedef struct {
    uint8_t *map;
    size_t map_len;
    const char *text;
} GuardedText;

static GuardedText guarded_copy(const uint8_t *p, size_t n) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (n + page - 1) / page * page;
    GuardedText g;
    g.map_len = body + page;
    g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g.map == MAP_FAILED) die("mmap: %s", strerror(errno));
    if (mprotect(g.map + body, page, PROT_NONE) != 0) die("mprotect: %s", strerror(errno));
    uint8_t *text = g.map + body - n;
    if (n) memcpy(text, p, n);
    g.text = (const char *)text;
    return g;
}

static Verdict check_tokenizer(const Tokenizer *tok, const uint8_t *p, size_t n, int allow_special) {
    GuardedText g = guarded_copy(p, n);
    int *ids = NULL, count = 0, cap = 0;
    Error err;
    err.msg[0] = 0;
    int rc = tokenizer_encode(tok, g.text, n, allow_special, &ids, &count, &cap, &err);
    int valid = utf8_valid_prefix(g.text, n) == n;
    char why[256] = "";
    if (rc != 0) {
        if (valid) snprintf(why, sizeof why, "failed on valid UTF-8: %.200s", err.msg);
        else if (!err.msg[0]) snprintf(why, sizeof why, "failed without a message");
    } else {
        /* the tokens' bytes put together must be the text again */
        Buf back = {0};
        for (int i = 0; i < count && !why[0]; i++) {
            size_t len;
            const uint8_t *b = tokenizer_token_bytes(tok, ids[i], &len);
            if (!b) snprintf(why, sizeof why, "token %d is id %d, outside the vocabulary", i, ids[i]);
            else if (!allow_special && ids[i] >= TOKEN_STARTOFTEXT)
                snprintf(why, sizeof why, "token %d is the special id %d without allow_special", i, ids[i]);
            else buf_insert(&back, back.len, b, len);
        }
        if (!why[0] && (back.len != n || (n && memcmp(back.p, g.text, n) != 0))) {
            size_t at = 0;
            while (at < n && at < back.len && back.p[at] == (uint8_t)g.text[at]) at++;
            snprintf(why, sizeof why, "decoding the %d tokens gives %zu bytes, not the %zu of the text (first difference at byte %zu)",
                     count, back.len, n, at);
        }
        buf_free(&back);
    }
    free(ids);
    munmap(g.map, g.map_len);
    if (why[0]) {
        fprintf(stderr, "fuzz: %s (allow_special %d, %zu bytes, %s UTF-8): tokenizer_encode %s\n", g_label,
                allow_special, n, valid ? "valid" : "invalid", why);
        return VERDICT_WRONG;
    }
    return rc == 0 ? VERDICT_ACCEPTED : VERDICT_REJECTED;
}

/* ---- json: json_parse on mutated safetensors headers, config.json, JSONL lines ---- */

static void gen_json(const Fuzz *fz, Rng *r, Input *in) {
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

static Verdict check_json(const uint8_t *p, size_t n) {
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

/* ---- convert: a mutated checkpoint directory for the convert_hf process ---- */

static void emit_convert(const Fuzz *fz, long index) {
    Rng r = rng_for(fz, index);
    int which = (int)(index & 1); /* hf_f32, hf_mxfp4 */
    const Buf *config = &fz->fixture_config[which], *st = &fz->fixture_st[which];
    uint64_t hlen = read_u64le(st->p);
    Seed own[2] = {{(const char *)config->p, config->len}, {(const char *)st->p + 8, (size_t)hlen}};
    Buf out = {0};
    char path[4096], target[4096];
    const char *names[2] = {"config.json", "model.safetensors"};
    int mutated[2] = {0, 0};
    /* mostly well-formed JSON with values at their edges (what the
     * converter does with them is the point); now and then anything */
    size_t what = rng_below(&r, 10);
    if (what < 5) { /* config.json */
        MutateCfg cfg = {JSON_DICT, sizeof JSON_DICT / sizeof *JSON_DICT, &own[0], 1, 1 << 16, 1 << 10};
        if (what < 4) {
            buf_set(&out, own[0].text, own[0].len);
            mutate_values(&out, &r);
        } else {
            make_mutant(&out, &r, &cfg);
        }
        snprintf(path, sizeof path, "%s/config.json", fz->emit);
        unlink(path);
        write_file_or_die(path, out.p, out.len, out.len);
        mutated[0] = 1;
    } else { /* the safetensors header (its length prefix kept right, mostly) or the file's length */
        Buf hdr = {0};
        MutateCfg cfg = {JSON_DICT, sizeof JSON_DICT / sizeof *JSON_DICT, &own[1], 1, 1 << 16, 1 << 10};
        size_t file_len = st->len;
        buf_set(&hdr, own[1].text, own[1].len);
        if (what < 8) mutate_values(&hdr, &r);
        else if (what == 8) make_mutant(&hdr, &r, &cfg);
        else file_len = 8 + hlen + rng_below(&r, st->len - 8 - hlen);
        uint8_t len8[8];
        put_u64(len8, rng_chance(&r, 10) ? (uint64_t)rng_next(&r) >> rng_below(&r, 64) : (uint64_t)hdr.len);
        buf_set(&out, len8, 8);
        buf_insert(&out, 8, hdr.p, hdr.len);
        buf_insert(&out, out.len, st->p + 8 + hlen, st->len - 8 - hlen);
        if (file_len - (8 + hlen) + 8 + hdr.len < out.len) out.len = file_len - (8 + hlen) + 8 + hdr.len;
        snprintf(path, sizeof path, "%s/model.safetensors", fz->emit);
        unlink(path);
        write_file_or_die(path, out.p, out.len, out.len);
        buf_free(&hdr);
        mutated[1] = 1;
    }
    /* the file left alone is a link to the fixture */
    for (int f = 0; f < 2; f++) {
        if (mutated[f]) continue;
        snprintf(path, sizeof path, "%s/%s", fz->emit, names[f]);
        char *dir = realpath(fz->fixtures, NULL);
        if (!dir) die("%s: %s", fz->fixtures, strerror(errno));
        snprintf(target, sizeof target, "%s/hf_%s/%s", dir, which ? "mxfp4" : "f32", names[f]);
        free(dir);
        unlink(path);
        if (symlink(target, path) != 0) die("%s: symlink: %s", path, strerror(errno));
    }
    buf_free(&out);
}

/* ---- one input, start to end ---- */

static void generate(const Fuzz *fz, long index, Input *in) {
    Rng r = rng_for(fz, index);
    memset(in, 0, sizeof *in);
    switch (fz->kind) {
    case KIND_REQUESTS: gen_requests(fz, &r, in); break;
    case KIND_MODEL: gen_model(fz, &r, in); break;
    case KIND_TOKENIZER: gen_tokenizer(fz, &r, in, index); break;
    case KIND_TOKENIZER_UTF8:
        gen_tokenizer(fz, &r, in, index);
        make_valid_utf8(&in->bytes);
        break;
    case KIND_JSON: gen_json(fz, &r, in); break;
    case KIND_CONVERT: break;
    }
    if (fz->kind != KIND_MODEL) in->file_len = in->bytes.len;
}

static const char *input_ext(const Fuzz *fz, const Input *in) {
    switch (fz->kind) {
    case KIND_REQUESTS: return in->jsonl ? ".jsonl" : ".txt";
    case KIND_MODEL: return ".bin";
    case KIND_TOKENIZER:
    case KIND_TOKENIZER_UTF8: return in->allow_special ? ".special.txt" : ".txt";
    default: return ".json";
    }
}

static Verdict run_input(const Fuzz *fz, const Input *in) {
    switch (fz->kind) {
    case KIND_REQUESTS:
    case KIND_MODEL: {
        char path[4200];
        snprintf(path, sizeof path, "%s%s", fz->work_path, input_ext(fz, in));
        write_file_or_die(path, in->bytes.p, in->bytes.len, in->file_len);
        return fz->kind == KIND_MODEL ? check_model(path) : check_requests(path);
    }
    case KIND_TOKENIZER:
    case KIND_TOKENIZER_UTF8: return check_tokenizer(fz->tok, in->bytes.p, in->bytes.len, in->allow_special);
    case KIND_JSON: return check_json(in->bytes.p, in->bytes.len);
    case KIND_CONVERT: break;
    }
    return VERDICT_REJECTED;
}

static void save_input(const Fuzz *fz, long index, char *saved, size_t saved_len) {
    Input in;
    generate(fz, index, &in);
    mkdir(fz->crash_dir, 0755);
    snprintf(saved, saved_len, "%s/%s-%ld%s", fz->crash_dir, KIND_NAMES[fz->kind], index, input_ext(fz, &in));
    write_file_or_die(saved, in.bytes.p, in.bytes.len, in.file_len);
    buf_free(&in.bytes);
}

/* ---- the batch loop: a child per batch, the parent keeps count ---- */

enum { STATE_RUNNING, STATE_DONE, STATE_HANG, STATE_LEAK };
enum { EXIT_HANG = 97, EXIT_LEAK = 98 };

/* A leak check scans the whole heap (milliseconds with the tokenizer loaded),
 * so the child checks every LEAK_CHECK_EVERY inputs; when one finds a leak,
 * the parent runs those inputs again, checking after each one. */
#define LEAK_CHECK_EVERY 50

typedef struct {
    volatile long current;   /* the input the child is on */
    volatile long leak_from; /* STATE_LEAK: the first input since the last clean check */
    volatile int state;
    volatile long accepted, wrong, failures;
} Shared;

static Shared *g_shared;
static char g_hang_msg[256];
static size_t g_hang_msg_len;

static void on_alarm(int sig) {
    (void)sig;
    g_shared->state = STATE_HANG;
    ssize_t w = write(2, g_hang_msg, g_hang_msg_len);
    (void)w;
    _exit(EXIT_HANG);
}

/* Runs inputs [from, to), checking for leaks every check_every of them.
 * rerun: these inputs ran before (finding a leak); do not count them again. */
static void child_run(const Fuzz *fz, long from, long to, long check_every, int rerun) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    long clean_from = from;
    for (long i = from; i < to; i++) {
        if (!rerun && fz->max_failures && g_shared->failures >= fz->max_failures) break;
        g_shared->current = i;
        Input in;
        generate(fz, i, &in);
        g_hang_msg_len = (size_t)snprintf(g_hang_msg, sizeof g_hang_msg, "fuzz: %s input %ld: no result after %u s (hang)\n",
                                          KIND_NAMES[fz->kind], i, fz->timeout);
        alarm(fz->timeout);
        snprintf(g_label, sizeof g_label, "%s input %ld", KIND_NAMES[fz->kind], i);
        Verdict v = run_input(fz, &in);
        alarm(0);
        buf_free(&in.bytes);
        if (v == VERDICT_ACCEPTED && !rerun) g_shared->accepted++;
        if (v == VERDICT_WRONG && !rerun) {
            char saved[4300];
            save_input(fz, i, saved, sizeof saved);
            fprintf(stderr, "fuzz: %s input %ld saved as %s; reproduce: %s --kind %s --replay %s\n", KIND_NAMES[fz->kind], i, saved,
                    fz->prog, KIND_NAMES[fz->kind], saved);
            g_shared->wrong++;
            g_shared->failures++;
        }
#if HAVE_LSAN
        int last = i + 1 == to || (!rerun && fz->max_failures && g_shared->failures >= fz->max_failures);
        if ((i + 1 - from) % check_every == 0 || last) {
            if (__lsan_do_recoverable_leak_check()) {
                g_shared->leak_from = clean_from;
                g_shared->state = STATE_LEAK;
                fflush(stderr);
                _exit(EXIT_LEAK);
            }
            clean_from = i + 1;
        }
#else
        (void)check_every;
        (void)clean_from;
#endif
    }
    g_shared->state = STATE_DONE;
    fflush(stderr);
    _exit(0);
}

static int run_fuzz(const Fuzz *fz) {
    g_shared = mmap(NULL, sizeof *g_shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_shared == MAP_FAILED) die("mmap: %s", strerror(errno));
    memset((void *)g_shared, 0, sizeof *g_shared);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long next = fz->start, end = fz->start + fz->count, crashes = 0, hangs = 0, leaks = 0;
    long rerun_to = -1; /* > next: inputs [next, rerun_to) leaked together; run them one check at a time */
    const char *name = KIND_NAMES[fz->kind];
    /* each hang costs --timeout seconds: a second limit for them */
    while (next < end && (rerun_to > next || !((fz->max_failures && g_shared->failures >= fz->max_failures) ||
                                               (fz->max_hangs && hangs >= fz->max_hangs)))) {
        int rerun = rerun_to > next;
        long to = rerun ? rerun_to : next + fz->batch < end ? next + fz->batch : end;
        rerun_to = -1;
        g_shared->state = STATE_RUNNING;
        g_shared->current = next - 1;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) die("fork: %s", strerror(errno));
        if (pid == 0) child_run(fz, next, to, rerun ? 1 : LEAK_CHECK_EVERY, rerun);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) die("waitpid: %s", strerror(errno));
        long at = g_shared->current;
        if (g_shared->state == STATE_DONE && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            if (rerun) { /* the leak did not come back one input at a time: count it, name the range */
                leaks++;
                g_shared->failures++;
                fprintf(stderr, "fuzz: %s inputs %ld..%ld leaked together, but none of them alone\n", name, next, to - 1);
            }
            next = at + 1;
            if (!rerun && next < to) break; /* the child stopped at the failure limit */
            continue;
        }
        if (at < next) die("the child died before its first input (status %d)", status);
        if (g_shared->state == STATE_LEAK && !rerun && at > g_shared->leak_from) {
            next = g_shared->leak_from;
            rerun_to = at + 1;
            continue;
        }
        char how[64];
        if (g_shared->state == STATE_HANG) {
            hangs++;
            snprintf(how, sizeof how, "hangs");
        } else if (g_shared->state == STATE_LEAK) {
            leaks++;
            snprintf(how, sizeof how, "leaks memory (the LeakSanitizer report is above)");
        } else {
            crashes++;
            if (WIFSIGNALED(status)) snprintf(how, sizeof how, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
            else snprintf(how, sizeof how, "crashed: exit status %d (the sanitizer report is above)", WEXITSTATUS(status));
        }
        g_shared->failures++;
        char saved[4300];
        save_input(fz, at, saved, sizeof saved);
        fprintf(stderr, "fuzz: %s input %ld %s; saved as %s; reproduce: %s --kind %s --replay %s\n", name, at, how, saved, fz->prog,
                name, saved);
        next = at + 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ran = next - fz->start;
    const char *stopped = next >= end ? "" : fz->max_hangs && hangs >= fz->max_hangs ? "; stopped at the hang limit" : "; stopped at the failure limit";
    printf("fuzz: %s %ld inputs, %ld crashes, %ld hangs, %ld leaks, %ld wrong results (%ld accepted; %.1f s%s)\n", name, ran, crashes,
           hangs, leaks, (long)g_shared->wrong, (long)g_shared->accepted,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), stopped);
    char path[4200];
    for (int j = 0; j < 3; j++) {
        snprintf(path, sizeof path, "%s%s", fz->work_path, j == 0 ? ".txt" : j == 1 ? ".jsonl" : ".bin");
        unlink(path);
    }
    return crashes || hangs || leaks || g_shared->wrong ? 1 : 0;
}

/* ---- setup ---- */

static void load_model_seed(ModelSeed *ms, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) die("%s: %s (make it with gen_model %s --preset tiny)", path, strerror(errno), path);
    struct stat st;
    uint8_t fixed[LAYOUT_FIXED_HEADER];
    if (fstat(fd, &st) != 0 || pread(fd, fixed, sizeof fixed, 0) != (ssize_t)sizeof fixed) die("%s: cannot read the header", path);
    ms->n_tensors = read_u32le(fixed + 12);
    if (ms->n_tensors == 0 || ms->n_tensors > 100000) die("%s: not a model file", path);
    ms->head_len = LAYOUT_FIXED_HEADER + (size_t)ms->n_tensors * LAYOUT_DIR_ENTRY;
    ms->file_len = (size_t)st.st_size;
    ms->head = xmalloc(ms->head_len);
    if (pread(fd, ms->head, ms->head_len, 0) != (ssize_t)ms->head_len) die("%s: cannot read the directory", path);
    close(fd);
}

static void read_into(Buf *b, const char *path) {
    size_t len;
    Error err;
    char *text = read_file(path, &len, &err);
    if (!text) die("%s", err.msg);
    buf_set(b, text, len);
    free(text);
}

static void load_fixtures(Fuzz *fz) {
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

static void usage(FILE *f) {
    fprintf(f,
            "usage: fuzz_inputs --kind requests|model|tokenizer|tokenizer-utf8|json [options]\n"
            "       fuzz_inputs --kind KIND --replay FILE   (run one saved input in this process)\n"
            "       fuzz_inputs --kind convert --emit DIR --start I   (write mutated checkpoint I into DIR)\n"
            "  --start I          first input index (default 0)\n"
            "  --count N          inputs to run (default 2000)\n"
            "  --seed S           fuzzing seed (default 1); input I is the same for the same S\n"
            "  --batch N          inputs per child process (default 500)\n"
            "  --timeout SEC      an input taking longer is a hang (default 5)\n"
            "  --max-failures N   stop after N failures (default 5; 0: never)\n"
            "  --max-hangs N      stop after N hangs (default 2; 0: never)\n"
            "  --crash-dir DIR    failing inputs are saved here (default tests/out/fuzz-crashes)\n"
            "  --work-dir DIR     temporary input files (default $TMPDIR, else /dev/shm or /tmp)\n"
            "  --model PATH       a seed model for --kind model (repeatable; gen_model --preset tiny)\n"
            "  --tokenizer PATH   default data/o200k_harmony.tok\n"
            "  --fixtures DIR     the hf_f32 and hf_mxfp4 checkpoints (default tests/fixtures)\n");
}

static long parse_long(const char *opt, const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) die("%s expects a non-negative integer, got '%s'", opt, s);
    return v;
}

int main(int argc, char **argv) {
    Fuzz fz;
    memset(&fz, 0, sizeof fz);
    fz.kind = (Kind)-1;
    fz.seed = 1;
    fz.count = 2000;
    fz.batch = 500;
    fz.timeout = 5;
    fz.max_failures = 5;
    fz.max_hangs = 2;
    fz.crash_dir = "tests/out/fuzz-crashes";
    /* a RAM file system where there is one: thousands of small files */
    fz.work_dir = getenv("TMPDIR") ? getenv("TMPDIR") : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    fz.tokenizer_path = "data/o200k_harmony.tok";
    fz.fixtures = "tests/fixtures";
    fz.prog = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            die("unknown option or missing value: '%s'", a);
        }
        i++;
        if (!strcmp(a, "--kind")) {
            for (int k = 0; k < (int)(sizeof KIND_NAMES / sizeof *KIND_NAMES); k++)
                if (!strcmp(v, KIND_NAMES[k])) fz.kind = (Kind)k;
            if ((int)fz.kind < 0) die("unknown kind '%s'", v);
        } else if (!strcmp(a, "--start")) fz.start = parse_long(a, v);
        else if (!strcmp(a, "--count")) fz.count = parse_long(a, v);
        else if (!strcmp(a, "--seed")) fz.seed = (uint64_t)parse_long(a, v);
        else if (!strcmp(a, "--batch")) fz.batch = parse_long(a, v);
        else if (!strcmp(a, "--timeout")) fz.timeout = (unsigned)parse_long(a, v);
        else if (!strcmp(a, "--max-failures")) fz.max_failures = parse_long(a, v);
        else if (!strcmp(a, "--max-hangs")) fz.max_hangs = parse_long(a, v);
        else if (!strcmp(a, "--crash-dir")) fz.crash_dir = v;
        else if (!strcmp(a, "--work-dir")) fz.work_dir = v;
        else if (!strcmp(a, "--tokenizer")) fz.tokenizer_path = v;
        else if (!strcmp(a, "--fixtures")) fz.fixtures = v;
        else if (!strcmp(a, "--replay")) fz.replay = v;
        else if (!strcmp(a, "--emit")) fz.emit = v;
        else if (!strcmp(a, "--model")) {
            if (fz.n_model_paths == MAX_MODEL_SEEDS) die("at most %d --model seeds", MAX_MODEL_SEEDS);
            fz.model_paths[fz.n_model_paths++] = v;
        } else {
            usage(stderr);
            die("unknown option '%s'", a);
        }
    }
    if ((int)fz.kind < 0) {
        usage(stderr);
        die("--kind is required");
    }
    if (fz.timeout == 0) fz.timeout = 1;
    if (fz.batch == 0) fz.batch = 1;
    snprintf(fz.work_path, sizeof fz.work_path, "%s/fuzz_inputs.%ld", fz.work_dir, (long)getpid());

    if (fz.kind == KIND_CONVERT && !fz.emit) die("--kind convert needs --emit DIR (tests/run_sanitize.sh runs convert_hf on it)");
    if (fz.kind == KIND_CONVERT || fz.kind == KIND_JSON) load_fixtures(&fz);
    if (fz.kind == KIND_TOKENIZER || fz.kind == KIND_TOKENIZER_UTF8) {
        Error err;
        fz.tok = tokenizer_load(fz.tokenizer_path, &err);
        if (!fz.tok) die("%s", err.msg);
    }
    if (fz.kind == KIND_MODEL && !fz.replay) {
        if (fz.n_model_paths == 0) die("--kind model needs --model PATH (a gen_model --preset tiny file)");
        for (int i = 0; i < fz.n_model_paths; i++) load_model_seed(&fz.models[i], fz.model_paths[i]);
    }

    int rc = 0;
    if (fz.kind == KIND_CONVERT) {
        emit_convert(&fz, fz.start);
    } else if (fz.replay) {
        /* one saved input, here and now: a sanitizer report shows directly */
        Verdict v = VERDICT_REJECTED;
        snprintf(g_label, sizeof g_label, "%s", fz.replay);
        if (fz.kind == KIND_REQUESTS) v = check_requests(fz.replay);
        else if (fz.kind == KIND_MODEL) v = check_model(fz.replay);
        else {
            Buf b = {0};
            read_into(&b, fz.replay);
            if (fz.kind == KIND_JSON) v = check_json(b.p, b.len);
            else {
                /* both ways, whatever the file's name says */
                v = check_tokenizer(fz.tok, b.p, b.len, 0);
                if (v != VERDICT_WRONG) v = check_tokenizer(fz.tok, b.p, b.len, 1);
            }
            buf_free(&b);
        }
        printf("fuzz: %s %s: %s\n", KIND_NAMES[fz.kind], fz.replay,
               v == VERDICT_WRONG ? "wrong result" : v == VERDICT_ACCEPTED ? "accepted" : "rejected");
        fflush(stdout);
        rc = v == VERDICT_WRONG;
    } else {
        rc = run_fuzz(&fz);
    }
    tokenizer_free(fz.tok);
    for (int i = 0; i < fz.n_model_paths; i++) free(fz.models[i].head);
    for (int i = 0; i < 2; i++) {
        buf_free(&fz.fixture_config[i]);
        buf_free(&fz.fixture_st[i]);
    }
    free(fz.json_seeds);
    return rc;
}
