/* fuzz_tokenizer.c - fuzzing tokenizer text (tests/fuzz/fuzz.h):
 * tokenizer_encode on mutated text, invalid UTF-8 included (the
 * tokenizer-utf8 kind: the same made valid), ending at a guard page; the
 * tokens of an accepted text must decode back to it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

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

void gen_tokenizer(const Fuzz *fz, Rng *r, Input *in, long index) {
    (void)fz;
    MutateCfg cfg = {TOKENIZER_DICT, sizeof TOKENIZER_DICT / sizeof *TOKENIZER_DICT, TOKENIZER_SEEDS,
                     sizeof TOKENIZER_SEEDS / sizeof *TOKENIZER_SEEDS, 1 << 16, 1 << 15};
    make_mutant(&in->bytes, r, &cfg);
    in->allow_special = (int)(index & 1);
}

/* Replaces each byte that does not start a valid UTF-8 sequence with U+FFFD. */
void make_valid_utf8(Buf *b) {
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

Verdict check_tokenizer(const Tokenizer *tok, const uint8_t *p, size_t n, int allow_special) {
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
