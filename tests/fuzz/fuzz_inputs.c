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
 * A child process per batch of inputs runs them (fuzz_run.c), so that a
 * crash, a hang or a leak costs one input, not the run. After a successful
 * read, each kind also checks what it got back (a "wrong result": the reader
 * accepted something it should not have, or returned something inconsistent).
 *
 * This file is the driver: options, setup, --replay, and one input's
 * generation and run, dispatched to the file of its kind (fuzz.h lists them).
 *
 * Ends with "fuzz: KIND N inputs, N crashes, N hangs, N leaks, N wrong
 * results" and exits 1 if any of these is non-zero. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

const char *const KIND_NAMES[6] = {"requests", "model", "tokenizer", "tokenizer-utf8", "json", "convert"};

char g_label[4200];

Rng rng_for(const Fuzz *fz, long index) {
    /* tokenizer-utf8 input I is tokenizer input I made valid */
    Kind stream = fz->kind == KIND_TOKENIZER_UTF8 ? KIND_TOKENIZER : fz->kind;
    Rng r = {fz->seed * 0x9e3779b97f4a7c15ull + (uint64_t)stream * 0xd1b54a32d192ed03ull + (uint64_t)index};
    rng_next(&r);
    return r;
}

void die(const char *fmt, ...) {
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
void write_file_or_die(const char *path, const uint8_t *p, size_t n, size_t total_len) {
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

int names_the_file(const Error *e, const char *path) {
    size_t n = strlen(path);
    return e->msg[0] && strncmp(e->msg, path, n) == 0 && (e->msg[n] == ':');
}

void read_into(Buf *b, const char *path) {
    size_t len;
    Error err;
    char *text = read_file(path, &len, &err);
    if (!text) die("%s", err.msg);
    buf_set(b, text, len);
    free(text);
}

/* ---- one input, start to end ---- */

void generate(const Fuzz *fz, long index, Input *in) {
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

Verdict run_input(const Fuzz *fz, const Input *in) {
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

void save_input(const Fuzz *fz, long index, char *saved, size_t saved_len) {
    Input in;
    generate(fz, index, &in);
    mkdir(fz->crash_dir, 0755);
    snprintf(saved, saved_len, "%s/%s-%ld%s", fz->crash_dir, KIND_NAMES[fz->kind], index, input_ext(fz, &in));
    write_file_or_die(saved, in.bytes.p, in.bytes.len, in.file_len);
    buf_free(&in.bytes);
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
