/* fuzz.h - what the files of the fuzz driver share (tests/fuzz/README.md):
 * the deterministic random numbers, the byte buffer, the mutators' seeds and
 * settings, the fuzzer's state, one input, and each file's entry points.
 *   fuzz_inputs.c     the driver: options, setup, replay, one input's dispatch
 *   fuzz_run.c        the batch loop: a child per batch, hangs, crashes, leaks
 *   fuzz_mutate.c     the generic byte and value mutations
 *   fuzz_requests.c   request files (requests_read)
 *   fuzz_model.c      model headers and directories (model_open)
 *   fuzz_tokenizer.c  tokenizer text (tokenizer_encode)
 *   fuzz_json.c       JSON (json_parse): safetensors headers, config.json
 *   fuzz_convert.c    mutated checkpoints for the convert_hf process */
#ifndef GETP_FUZZ_H
#define GETP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/json.h"
#include "../../src/model.h"
#include "../../src/model_layout.h"
#include "../../src/requests.h"
#include "../../src/tokenizer.h"

/* ---- deterministic randomness: splitmix64 ---- */

typedef struct {
    uint64_t state;
} Rng;

static inline uint64_t rng_next(Rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n); n > 0 (the modulo bias does not matter here). */
static inline size_t rng_below(Rng *r, size_t n) { return (size_t)(rng_next(r) % n); }
static inline int rng_chance(Rng *r, unsigned one_in) { return rng_below(r, one_in) == 0; }

/* ---- a growable byte buffer (fuzz_mutate.c) ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

void buf_reserve(Buf *b, size_t n);
void buf_set(Buf *b, const void *data, size_t n);
void buf_insert(Buf *b, size_t pos, const void *data, size_t n);
void buf_erase(Buf *b, size_t pos, size_t n);
void buf_free(Buf *b);

/* ---- seeds and mutations (fuzz_mutate.c) ---- */

typedef struct {
    const char *text;
    size_t len; /* 0: strlen(text) */
} Seed;

#define SEED(s) {s, sizeof(s) - 1}

typedef struct {
    const char *const *dict;
    size_t n_dict;
    const Seed *seeds; /* splice partners */
    size_t n_seeds;
    size_t max_len;
    size_t max_run; /* longest repeated run the "long run" mutation inserts */
} MutateCfg;

/* Bytes that mean something to the readers (fuzz_mutate.c; the model kind
 * uses them too), and the JSON dictionary (fuzz_json.c; the convert kind
 * mutates with it too), with their lengths. */
extern const uint8_t INTERESTING_BYTES[];
extern const size_t N_INTERESTING_BYTES;
extern const char *const JSON_DICT[];
extern const size_t N_JSON_DICT;

size_t seed_len(const Seed *s);
/* Mutations that mostly keep JSON well formed (numbers at range edges,
 * another dtype, a value of another type, a line deleted). */
void mutate_values(Buf *b, Rng *r);
/* A seed, then 1..8 mutations (fewer more often). */
void make_mutant(Buf *b, Rng *r, const MutateCfg *cfg);

/* ---- the fuzzer's state ---- */

/* tokenizer: any bytes, invalid UTF-8 included; tokenizer-utf8: the same
 * mutants made valid, so that a crash on invalid UTF-8 does not hide what
 * valid text does (long runs, special-token fragments). */
typedef enum { KIND_REQUESTS, KIND_MODEL, KIND_TOKENIZER, KIND_TOKENIZER_UTF8, KIND_JSON, KIND_CONVERT } Kind;
extern const char *const KIND_NAMES[6];

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

static inline void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- the driver (fuzz_inputs.c) ---- */

/* What the messages call the input being run: "json input 12", or a replayed file. */
extern char g_label[4200];

Rng rng_for(const Fuzz *fz, long index);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void write_file_or_die(const char *path, const uint8_t *p, size_t n, size_t total_len);
void read_into(Buf *b, const char *path);
/* The error message starts with "PATH:". */
int names_the_file(const Error *e, const char *path);
/* Input index of fz's kind, made from its index alone. */
void generate(const Fuzz *fz, long index, Input *in);
Verdict run_input(const Fuzz *fz, const Input *in);
/* Writes input index under fz->crash_dir; saved gets its name. */
void save_input(const Fuzz *fz, long index, char *saved, size_t saved_len);

/* ---- the batch loop (fuzz_run.c) ---- */

/* Runs inputs [start, start + count) in child processes; prints the summary
 * line; returns 1 if anything failed. */
int run_fuzz(const Fuzz *fz);

/* ---- one file per input family ---- */

void gen_requests(const Fuzz *fz, Rng *r, Input *in);
Verdict check_requests(const char *path);

void gen_model(const Fuzz *fz, Rng *r, Input *in);
Verdict check_model(const char *path);
void load_model_seed(ModelSeed *ms, const char *path);

void gen_tokenizer(const Fuzz *fz, Rng *r, Input *in, long index);
void make_valid_utf8(Buf *b);
Verdict check_tokenizer(const Tokenizer *tok, const uint8_t *p, size_t n, int allow_special);

void gen_json(const Fuzz *fz, Rng *r, Input *in);
Verdict check_json(const uint8_t *p, size_t n);
/* The hf_f32 and hf_mxfp4 checkpoints' config.json and safetensors files,
 * and the JSON seeds made of them. */
void load_fixtures(Fuzz *fz);

void emit_convert(const Fuzz *fz, long index);

#endif
