/* options.h - the command line shared by getp and getp_mpi. */
#ifndef GETP_OPTIONS_H
#define GETP_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "harmony.h"
#include "requests.h"

typedef enum { MODE_GETP, MODE_GENERATE, MODE_TOKENIZE, MODE_RENDER } RunMode;

typedef struct {
    const char *model_path;
    RunMode mode;
    const char *input;  /* request file, prompt (generate) or text file (tokenize) */
    const char *output; /* getp mode */
    const char *tokenizer_path;
    const char *backend; /* "auto", "cpu", "hip" */
    int max_new_tokens;
    float temperature;
    float top_p;
    float min_p;  /* 0: off */
    int top_k;    /* 0: off */
    int logprobs; /* -1: none; else top alternatives per token */
    int choices;  /* completions per request (JSONL "n" overrides) */
    uint64_t seed;
    int ignore_eos;
    int chat;                      /* render plain prompts as harmony chats (src/harmony.h) */
    HarmonyEffort reasoning_effort; /* chats' default "Reasoning:" */
    const char *system_date;        /* chats' "Current date:"; NULL: no such line */
    const char *developer;          /* chats' default developer instructions; NULL: none */
    int all_channels;               /* plain text output of a chat: the whole text, not the final channel */
    int timings;                    /* JSONL output: each completion's first-token and finish times */
    int batch;
    int step_tokens; /* rows of one forward call; 0: the backend's limit */
    int file_order;  /* --order file: requests start in the file's order (default: the longest first) */
    int context; /* 0: min(model max_context, 4096) */
    int threads;
    int progress; /* -1 auto (tty), 0 off, 1 on */
    const char *report_json; /* --report FILE: the report as JSON too (getp_mpi: per rank) */
    int device;   /* GPU index (getp_mpi: the node-local rank) */
    float kv_mem_gib;          /* GPU KV-cache budget; 0: from free memory */
    const char *dummy_weights; /* "PRESET[:bf16|mxfp4]": random weights on the GPU, no model file */
    InputFormat input_format;  /* --input-format: auto (from the content), getp or batch */
    OnError on_error;          /* --on-error: what a bad request line does */
    Precision precision;       /* --precision: the experts' activations exact (default) or rounded to bf16 */
} Options;

/* Options a program adds to the common ones (getp_mpi's: mpi/mpi_options.h).
 * options_parse meets them where they stand on the command line, so their
 * errors come in the same order as everyone else's. */
typedef struct {
    const char *usage;          /* their lines of --help */
    const char *const *flags;   /* those without a value; NULL-terminated */
    const char *const *valued;  /* those that take one; NULL-terminated */
    /* Takes opt (value NULL for a flag). Returns 0, or -1 after saying why
     * on errs (unless errs is NULL). */
    int (*set)(void *ctx, const char *opt, const char *value, const char *prog, FILE *errs);
    void *ctx;
} ExtraOptions;

/* Parses argv: the common options, and extra's (NULL: none). Returns 0 to
 * run, 1 when --help was printed, -1 on a usage error (message already
 * printed to errs; NULL prints nothing). */
int options_parse(Options *o, int argc, char **argv, const char *prog, const ExtraOptions *extra, FILE *errs);
void options_usage(FILE *f, const char *prog, const ExtraOptions *extra);

/* The fixed default of --system-date, so that runs are reproducible. */
#define OPTIONS_DEFAULT_SYSTEM_DATE "2026-01-01"

/* The tokenizer file to use: --tokenizer, else $GETP_TOKENIZER, else
 * data/o200k_harmony.tok next to the executable (or its parent). Returns a
 * malloc'd path. */
char *options_tokenizer_path(const Options *o);

#endif
