#define _POSIX_C_SOURCE 200809L
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "presets.h"
#include "sampler.h"
#include "util.h"

void options_usage(FILE *f, const char *prog, const ExtraOptions *extra) {
    fprintf(f,
            "usage: %s MODEL -m getp -i REQUESTS -o OUTPUT [options]\n"
            "       %s MODEL -m generate -i \"PROMPT\" [options]\n"
            "       %s [MODEL] -m tokenize -i TEXTFILE\n"
            "       %s [MODEL] -m render -i REQUESTS [--chat ...]\n"
            "\n"
            "Batch inference for gpt-oss models (docs/request-format.md describes the files).\n"
            "\n"
            "Every option has a long form (--max-tokens 64, --max-tokens=64); -h, --help.\n"
            "\n"
            "  -m, --mode MODE  getp (default), generate, tokenize, or render (print each\n"
            "                   request's prompt as getp would feed it: a chat's harmony\n"
            "                   rendering, special tokens spelled out)\n"
            "  -i, --input INPUT   request file (count then one prompt a line, or JSONL:\n"
            "                   recognised by its first character), - for stdin; the prompt\n"
            "                   itself (generate), or a text file (tokenize)\n"
            "  --input-format auto|getp|batch   the request file's format: from its content\n"
            "                   (default), getp's own (plain or JSONL), or the OpenAI Batch API\n"
            "  --on-error record|abort   a bad request line: its output line carries the\n"
            "                   error and the run goes on (default for Batch API files), or\n"
            "                   the run fails with no output (getp's own formats: always)\n"
            "  -o, --output OUTPUT output file (getp); .jsonl gives JSON lines with token ids;\n"
            "                   - is standard output; written safely (never over an input)\n"
            "  -n, --max-tokens N  max new tokens per request (default 256)\n"
            "  -t, --temperature T temperature; 0 = greedy (default 0)\n"
            "  -p, --top-p P    nucleus sampling mass (default 1.0)\n"
            "  --top-k K        sample among the K most likely tokens (default 0: all)\n"
            "  --min-p P        drop tokens less likely than P times the most likely (default 0)\n"
            "  --logprobs N     JSONL/Batch output: each token's log-probability and its N most\n"
            "                   likely alternatives (0-20; default: none)\n"
            "  --choices N      completions per request, each its own random stream, the\n"
            "                   prompt prefilled once (default 1; JSONL \"n\")\n"
            "  -s, --seed SEED  sampling seed (default 0); request i uses stream (SEED, i)\n"
            "  --ignore-eos     do not stop at <|return|>, <|endoftext|> or <|call|>\n"
            "  --chat           render each prompt as a harmony chat (system message, user\n"
            "                   turn; JSONL \"messages\" requests always are one)\n"
            "  --reasoning-effort low|medium|high   a chat's reasoning effort (default medium)\n"
            "  --system-date YYYY-MM-DD|none   a chat's current date (default " OPTIONS_DEFAULT_SYSTEM_DATE ")\n"
            "  --developer TEXT developer instructions for chats that have none of their own\n"
            "  --output-channels final|all   a chat's plain text output: its final channel\n"
            "                   (default) or the whole completion\n"
            "  --timings        JSONL output: each completion's first_token_s and finish_s\n"
            "                   (seconds from the start of generation; they vary run to run)\n"
            "  --batch B        sequences in flight (default 16)\n"
            "  --step-tokens N  tokens one forward call computes: a token of every decoding\n"
            "                   sequence, prompt chunks filling the rest (default and most:\n"
            "                   the backend's limit, 1024 on a GPU, 256 on the CPU); with\n"
            "                   more sequences, calls take turns among them\n"
            "  --order longest|file   the order requests start in: the longest first\n"
            "                   (default: most max_tokens, then the longest prompt; the run\n"
            "                   does not end with its longest requests alone) or the file's;\n"
            "                   the output is in the file's order and the same either way\n"
            "  --ctx N          context limit in tokens (default: what the requests need,\n"
            "                   their longest prompt plus max_tokens, at most min(model, 4096))\n"
            "  --threads N      CPU threads (default: all)\n"
            "  --backend B      auto (default), cpu or hip\n"
            "  --precision exact|bf16\n"
            "                   the experts' activations: exact (default; every backend\n"
            "                   within 1e-4 of F32) or rounded to bf16 as production engines\n"
            "                   do (GPU: about 15%% more tok/s at large batch; logits move by\n"
            "                   about 1e-3, more where the rounding tips a near-tied router\n"
            "                   to another expert; the CPU backend rounds the same way)\n"
            "  --kv-mem GIB     memory for the KV cache, paged: requests hold their prompt\n"
            "                   and max_tokens and wait for room (GPU default: most of\n"
            "                   what is free; CPU: every sequence's whole context)\n"
            "  --dummy-weights PRESET[:bf16|mxfp4]\n"
            "                   no model file: random weights of a preset shape (%s)\n"
            "                   made on the GPU, experts BF16 unless :mxfp4; for benchmarks\n"
            "  --tokenizer F    tokenizer file (default data/o200k_harmony.tok)\n"
            "  --progress, --no-progress   progress line on stderr (default: when a tty)\n"
            "  --report FILE    the report as JSON too (getp_mpi: a row per rank)\n",
            prog, prog, prog, prog, preset_names());
    if (extra) fputs(extra->usage, f);
    fprintf(f, "  -h, --help       this text\n");
}

/* Prints to errs unless it is NULL (the quiet ranks of getp_mpi). */
static void say(FILE *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *errs, const char *fmt, ...) {
    if (!errs) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(errs, fmt, ap);
    va_end(ap);
}

static int parse_int(FILE *errs, const char *prog, const char *opt, const char *v, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        say(errs, "%s: %s expects an integer in [%ld, %ld], got '%s'\n", prog, opt, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int parse_float(FILE *errs, const char *prog, const char *opt, const char *v, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi)) {
        say(errs, "%s: %s expects a number in [%g, %g], got '%s'\n", prog, opt, lo, hi, v);
        return -1;
    }
    *out = (float)x;
    return 0;
}

/* The long options, as getopt_long takes them: the common ones (the short
 * options' long forms among them), then extra's. Each returns its index in
 * the table plus LONG_BASE; a short option returns its letter. */
enum { LONG_BASE = 256, MAX_LONG = 64 };
static const struct {
    const char *name;
    int has_arg;
} COMMON_LONG[] = {{"help", no_argument}, {"mode", required_argument}, {"input", required_argument}, {"output", required_argument},
                   {"max-tokens", required_argument}, {"temperature", required_argument}, {"top-p", required_argument},
                   {"seed", required_argument}, {"ignore-eos", no_argument}, {"chat", no_argument}, {"progress", no_argument},
                   {"no-progress", no_argument}, {"batch", required_argument}, {"step-tokens", required_argument}, {"order", required_argument}, {"ctx", required_argument}, {"threads", required_argument},
                   {"backend", required_argument}, {"kv-mem", required_argument}, {"dummy-weights", required_argument},
                   {"tokenizer", required_argument}, {"reasoning-effort", required_argument}, {"system-date", required_argument},
                   {"developer", required_argument}, {"output-channels", required_argument},
                   {"report", required_argument}, {"input-format", required_argument},
                   {"on-error", required_argument}, {"top-k", required_argument}, {"min-p", required_argument},
                   {"logprobs", required_argument}, {"choices", required_argument}, {"timings", no_argument},
                   {"precision", required_argument}};
enum { N_COMMON_LONG = sizeof COMMON_LONG / sizeof *COMMON_LONG };

/* Fills opts (NULL-terminated) and the "--name" spelling of each. */
static int build_long_options(const ExtraOptions *extra, struct option *opts, char names[][32]) {
    int n = 0;
    for (int i = 0; i < N_COMMON_LONG; i++, n++) opts[n] = (struct option){COMMON_LONG[i].name, COMMON_LONG[i].has_arg, NULL, LONG_BASE + n};
    for (int k = 0; extra && k < 2; k++)
        for (const char *const *x = k ? extra->valued : extra->flags; x && *x && n < MAX_LONG - 1; x++, n++)
            opts[n] = (struct option){*x + 2, k ? required_argument : no_argument, NULL, LONG_BASE + n};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    for (int i = 0; i < n; i++) snprintf(names[i], sizeof names[i], "--%s", opts[i].name);
    return n;
}

/* The option as the user wrote it, for messages: "-n", or "--max-tokens" without "=value". */
static void spelled(char *out, size_t cap, int c, const char *arg) {
    if (c > 0 && c < LONG_BASE) snprintf(out, cap, "-%c", c);
    else snprintf(out, cap, "%.*s", (int)strcspn(arg, "="), arg);
}

/* The common options without a value. Returns 1 when a is one of them. */
static int set_flag(Options *o, const char *a) {
    if (!strcmp(a, "--ignore-eos")) o->ignore_eos = 1;
    else if (!strcmp(a, "--chat")) o->chat = 1;
    else if (!strcmp(a, "--progress")) o->progress = 1;
    else if (!strcmp(a, "--no-progress")) o->progress = 0;
    else if (!strcmp(a, "--timings")) o->timings = 1;
    else return 0;
    return 1;
}

static int set_seed(Options *o, const char *v, const char *opt, const char *prog, FILE *errs) {
    char *end;
    errno = 0;
    o->seed = strtoull(v, &end, 10);
    /* strtoull skips blanks and wraps a sign ("-1", " -1" -> 2^64-1): digits only */
    if (errno || *end || end == v || v[0] < '0' || v[0] > '9') {
        say(errs, "%s: %s expects a non-negative integer, got '%s'\n", prog, opt, v);
        return -1;
    }
    return 0;
}

static int set_dummy_weights(Options *o, const char *v, const char *prog, FILE *errs) {
    o->dummy_weights = v;
    ModelConfig c;
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(v, ":"), v);
    const char *suffix = strchr(v, ':');
    if (preset_config(name, &c) != 0 || (suffix && strcmp(suffix, ":bf16") && strcmp(suffix, ":mxfp4"))) {
        say(errs, "%s: --dummy-weights expects PRESET[:bf16|mxfp4] with PRESET one of: %s; got '%s'\n", prog, preset_names(), v);
        return -1;
    }
    return 0;
}

/* YYYY-MM-DD: what the model saw in training ("Current date: 2025-06-28"). */
static int is_date(const char *v) {
    for (int i = 0; i < 10; i++)
        if (!v[i] || (i == 4 || i == 7 ? v[i] != '-' : v[i] < '0' || v[i] > '9')) return 0;
    return v[10] == 0;
}

static int set_chat_option(Options *o, const char *a, const char *v, const char *prog, FILE *errs) {
    if (!strcmp(a, "--reasoning-effort")) {
        if (harmony_effort_parse(v, &o->reasoning_effort) == 0) return 0;
        say(errs, "%s: --reasoning-effort expects low, medium or high, got '%s'\n", prog, v);
    } else if (!strcmp(a, "--system-date")) {
        o->system_date = strcmp(v, "none") ? v : NULL;
        if (!o->system_date || is_date(v)) return 0;
        say(errs, "%s: --system-date expects YYYY-MM-DD or none, got '%s'\n", prog, v);
    } else if (!strcmp(a, "--developer")) {
        o->developer = v;
        return 0;
    } else {
        o->all_channels = !strcmp(v, "all");
        if (o->all_channels || !strcmp(v, "final")) return 0;
        say(errs, "%s: --output-channels expects final or all, got '%s'\n", prog, v);
    }
    return -1;
}

/* --input-format and --on-error. */
static int set_format_option(Options *o, const char *a, const char *v, const char *prog, FILE *errs) {
    if (!strcmp(a, "--input-format")) {
        if (!strcmp(v, "auto")) o->input_format = INPUT_FORMAT_AUTO;
        else if (!strcmp(v, "getp")) o->input_format = INPUT_FORMAT_GETP;
        else if (!strcmp(v, "batch")) o->input_format = INPUT_FORMAT_BATCH;
        else {
            say(errs, "%s: --input-format expects auto, getp or batch, got '%s'\n", prog, v);
            return -1;
        }
        return 0;
    }
    if (!strcmp(v, "record")) o->on_error = ON_ERROR_RECORD;
    else if (!strcmp(v, "abort")) o->on_error = ON_ERROR_ABORT;
    else {
        say(errs, "%s: --on-error expects record or abort, got '%s'\n", prog, v);
        return -1;
    }
    return 0;
}

enum { NOT_COMMON = 1 };

/* The common options with a value. Returns 0, -1 on a bad value (said on
 * errs), or NOT_COMMON when a is none of them. */
static int set_valued(Options *o, const char *a, const char *v, const char *prog, FILE *errs) {
    if (!strcmp(a, "-m") || !strcmp(a, "--mode")) {
        if (!strcmp(v, "getp")) o->mode = MODE_GETP;
        else if (!strcmp(v, "generate")) o->mode = MODE_GENERATE;
        else if (!strcmp(v, "tokenize")) o->mode = MODE_TOKENIZE;
        else if (!strcmp(v, "render")) o->mode = MODE_RENDER;
        else {
            say(errs, "%s: unknown mode '%s' (getp, generate, tokenize, render)\n", prog, v);
            return -1;
        }
    } else if (!strcmp(a, "-i") || !strcmp(a, "--input")) {
        o->input = v;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
        o->output = v;
    } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
        return parse_int(errs, prog, a, v, 0, 1 << 24, &o->max_new_tokens);
    } else if (!strcmp(a, "-t") || !strcmp(a, "--temperature")) {
        return parse_float(errs, prog, a, v, 0, 100, &o->temperature);
    } else if (!strcmp(a, "-p") || !strcmp(a, "--top-p")) {
        return parse_float(errs, prog, a, v, 0, 1, &o->top_p);
    } else if (!strcmp(a, "--top-k")) {
        return parse_int(errs, prog, a, v, 0, 1 << 30, &o->top_k);
    } else if (!strcmp(a, "--min-p")) {
        return parse_float(errs, prog, a, v, 0, 1, &o->min_p);
    } else if (!strcmp(a, "--logprobs")) {
        return parse_int(errs, prog, a, v, 0, SAMPLE_MAX_TOP_LOGPROBS, &o->logprobs);
    } else if (!strcmp(a, "--choices")) {
        return parse_int(errs, prog, a, v, 1, REQUEST_MAX_CHOICES, &o->choices);
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        return set_seed(o, v, a, prog, errs);
    } else if (!strcmp(a, "--batch")) {
        return parse_int(errs, prog, a, v, 1, 4096, &o->batch);
    } else if (!strcmp(a, "--step-tokens")) {
        return parse_int(errs, prog, a, v, 1, 1 << 20, &o->step_tokens);
    } else if (!strcmp(a, "--order")) {
        if (strcmp(v, "longest") && strcmp(v, "file")) {
            say(errs, "%s: unknown --order '%s' (longest, file)\n", prog, v);
            return -1;
        }
        o->file_order = !strcmp(v, "file");
    } else if (!strcmp(a, "--ctx")) {
        return parse_int(errs, prog, a, v, 1, 1 << 24, &o->context);
    } else if (!strcmp(a, "--threads")) {
        return parse_int(errs, prog, a, v, 1, 4096, &o->threads);
    } else if (!strcmp(a, "--backend")) {
        o->backend = v;
        if (strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "hip")) {
            say(errs, "%s: unknown backend '%s' (auto, cpu, hip)\n", prog, v);
            return -1;
        }
    } else if (!strcmp(a, "--precision")) {
        if (!strcmp(v, "exact")) o->precision = PRECISION_EXACT;
        else if (!strcmp(v, "bf16")) o->precision = PRECISION_BF16_EXPERTS;
        else {
            say(errs, "%s: --precision expects exact or bf16, got '%s'\n", prog, v);
            return -1;
        }
    } else if (!strcmp(a, "--kv-mem")) {
        return parse_float(errs, prog, a, v, 0.001, 1 << 20, &o->kv_mem_gib);
    } else if (!strcmp(a, "--dummy-weights")) {
        return set_dummy_weights(o, v, prog, errs);
    } else if (!strcmp(a, "--tokenizer")) {
        o->tokenizer_path = v;
    } else if (!strcmp(a, "--report")) {
        o->report_json = v;
    } else if (!strcmp(a, "--reasoning-effort") || !strcmp(a, "--system-date") || !strcmp(a, "--developer") ||
               !strcmp(a, "--output-channels")) {
        return set_chat_option(o, a, v, prog, errs);
    } else if (!strcmp(a, "--input-format") || !strcmp(a, "--on-error")) {
        return set_format_option(o, a, v, prog, errs);
    } else {
        return NOT_COMMON;
    }
    return 0;
}

/* What every run needs once all options are read. */
static int check_complete(const Options *o, const char *prog, FILE *errs) {
    if (o->dummy_weights && o->model_path) {
        say(errs, "%s: give a model file or --dummy-weights, not both\n", prog);
        return -1;
    }
    if (!o->model_path && !o->dummy_weights && o->mode != MODE_TOKENIZE && o->mode != MODE_RENDER) {
        say(errs, "%s: no model file given (see --help)\n", prog);
        return -1;
    }
    if (!o->input) {
        say(errs, "%s: no input given: use -i (see --help)\n", prog);
        return -1;
    }
    if (o->mode == MODE_GETP && !o->output) {
        say(errs, "%s: -m getp needs an output file: use -o (see --help)\n", prog);
        return -1;
    }
    return 0;
}

/* One option: flags, then the common valued ones, then extra's. */
static int set_option(Options *o, const char *name, const char *v, const ExtraOptions *extra, const char *prog, FILE *errs) {
    if (!v) return set_flag(o, name) ? 0 : extra->set(extra->ctx, name, NULL, prog, errs);
    int rc = set_valued(o, name, v, prog, errs);
    return rc == NOT_COMMON ? extra->set(extra->ctx, name, v, prog, errs) : rc;
}

int options_parse(Options *o, int argc, char **argv, const char *prog, const ExtraOptions *extra, FILE *errs) {
    memset(o, 0, sizeof *o);
    o->mode = MODE_GETP;
    o->backend = "auto";
    o->max_new_tokens = 256;
    o->top_p = 1.0f;
    o->logprobs = -1;
    o->choices = 1;
    o->batch = 16;
    o->progress = -1;
    o->reasoning_effort = HARMONY_EFFORT_MEDIUM;
    o->system_date = OPTIONS_DEFAULT_SYSTEM_DATE;
    struct option opts[MAX_LONG];
    char names[MAX_LONG][32];
    build_long_options(extra, opts, names);
    optind = 0; /* GNU: start over (a test may parse twice) */
    opterr = 0; /* the messages are ours */
    for (int c; (c = getopt_long(argc, argv, ":m:i:o:n:t:p:s:h", opts, NULL)) != -1;) {
        char opt[64];
        if (c == '?' || c == ':') {
            spelled(opt, sizeof opt, optopt, argv[optind - 1]);
            if (c == '?') say(errs, "%s: unknown option '%s' (see --help)\n", prog, opt);
            else say(errs, "%s: option %s needs a value (see --help)\n", prog, opt);
            return -1;
        }
        if (c == 'h' || (c >= LONG_BASE && !strcmp(opts[c - LONG_BASE].name, "help"))) {
            if (errs) options_usage(stdout, prog, extra);
            return 1;
        }
        const char *name = c >= LONG_BASE ? names[c - LONG_BASE] : (snprintf(opt, sizeof opt, "-%c", c), opt);
        if (set_option(o, name, optarg, extra, prog, errs) != 0) return -1;
    }
    for (int i = optind; i < argc; i++) { /* the positional arguments: the model */
        if (o->model_path) {
            say(errs, "%s: unexpected argument '%s' (the model is already '%s')\n", prog, argv[i], o->model_path);
            return -1;
        }
        o->model_path = argv[i];
    }
    return check_complete(o, prog, errs);
}

char *options_tokenizer_path(const Options *o) {
    if (o->tokenizer_path) return xstrdup(o->tokenizer_path);
    const char *env = getenv("GETP_TOKENIZER");
    if (env && *env) return xstrdup(env);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *dir = dirname(exe);
        const char *candidates[] = {"%s/data/o200k_harmony.tok", "%s/../data/o200k_harmony.tok"};
        for (int i = 0; i < 2; i++) {
            char path[4200];
            snprintf(path, sizeof path, candidates[i], dir);
            if (access(path, R_OK) == 0) return xstrdup(path);
        }
    }
    return xstrdup("data/o200k_harmony.tok");
}
