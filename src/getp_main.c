/* getp - single-process batch inference: read and validate the requests,
 * load the model, run the decode loop, write the output atomically, report. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "app.h"

static const char *PROG = "getp";

static int die(const Error *err) {
    fprintf(stderr, "%s: error: %s\n", PROG, err->msg);
    return 1;
}

static void print_progress(void *ctx, int done, int total, const GenStats *s) {
    (void)ctx;
    double secs = s->prefill_seconds + s->decode_seconds;
    fprintf(stderr, "\r[getp] %d/%d requests, %.1f tok/s%s", done, total, secs > 0 ? (double)s->decode_tokens / secs : 0.0,
            done == total ? "\n" : "");
    fflush(stderr);
}

static int run_tokenize(const Options *o, const Tokenizer *tok) {
    Error err;
    size_t len;
    char *text = read_file(o->input, &len, &err);
    if (!text) return die(&err);
    int rc = 0, line = 1, *ids = NULL, n = 0, cap = 0;
    for (size_t pos = 0; pos < len && rc == 0; line++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t out_len;
        char *s = unescape_line(text + pos, end - pos, &out_len, &err);
        if (!s) {
            char inner[sizeof err.msg];
            memcpy(inner, err.msg, sizeof inner);
            error_set(&err, "%s:%d: %s", o->input, line, inner);
            rc = die(&err);
            break;
        }
        n = 0;
        if (tokenizer_encode(tok, s, out_len, 1, &ids, &n, &cap, &err) != 0) rc = die(&err);
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        free(s);
        pos = end + 1;
    }
    free(ids);
    free(text);
    return rc;
}

int main(int argc, char **argv) {
    Options o;
    int prc = options_parse(&o, argc, argv, PROG, 0, stderr);
    if (prc != 0) return prc > 0 ? 0 : 2;
    Error err;
    char *tok_path = options_tokenizer_path(&o);
    Tokenizer *tok = tokenizer_load(tok_path, &err);
    free(tok_path);
    if (!tok) return die(&err);
    if (o.mode == MODE_TOKENIZE) {
        int rc = run_tokenize(&o, tok);
        tokenizer_free(tok);
        return rc;
    }

    /* Validate every request before spending time on the model. */
    RequestSet rs;
    const char *req_path = o.input;
    if (o.mode == MODE_GENERATE) {
        memset(&rs, 0, sizeof rs);
        rs.n = 1;
        rs.items = xcalloc(1, sizeof(Request));
        rs.items[0] = (Request){xstrdup(o.input), strlen(o.input), NULL, 1, -1, -1.0f, -1.0f, 0, 0};
        req_path = "<prompt>";
    } else if (requests_read(o.input, &rs, &err) != 0) {
        return die(&err);
    }

    double t0 = now_seconds();
    Model model;
    if (app_open_model(&o, &model, &err) != 0) return die(&err);
    int context = app_context_limit(&o, &model.config);
    GenRequest *reqs;
    int *storage;
    if (app_build_requests(&o, tok, &rs, req_path, (int)model.config.vocab_size, context, &reqs, &storage, &err) != 0) return die(&err);
    int slots = o.batch < rs.n ? o.batch : rs.n;
    Backend *be = app_create_backend(&o, &model, slots, context, NULL, &err);
    if (!be) return die(&err);
    double load_seconds = now_seconds() - t0;

    RequestResult *res = xcalloc((size_t)rs.n, sizeof *res);
    GenStats stats;
    int show_progress = o.progress == 1 || (o.progress < 0 && isatty(2) && o.mode == MODE_GETP);
    double t1 = now_seconds();
    if (generate_run(be, reqs, rs.n, o.batch, res, &stats, show_progress ? print_progress : NULL, NULL, &err) != 0) return die(&err);
    double gen_seconds = now_seconds() - t1;
    long generated = 0, prompt_tokens = 0;
    for (int i = 0; i < rs.n; i++) {
        app_decode_text(tok, &res[i]);
        generated += res[i].n_tokens;
        prompt_tokens += res[i].prompt_tokens;
    }

    FILE *report = stdout;
    if (o.mode == MODE_GENERATE) {
        fwrite(res[0].text, 1, res[0].text_len, stdout);
        putchar('\n');
        report = stderr;
    } else if (results_write(o.output, &rs, res, strstr(o.output, ".jsonl") != NULL, &err) != 0) {
        return die(&err);
    }
    fprintf(report, "backend: %s, requests: %d, batch: %d, context: %d\n", be->ops->name, rs.n, slots < be->max_slots ? slots : be->max_slots, context);
    if (be->info[0]) fprintf(report, "device: %s\n", be->info);
    fprintf(report, "load time (s): %.3f\n", load_seconds);
    fprintf(report, "prefill: %ld tokens in %.3f s (%.1f tok/s)\n", stats.prefill_tokens, stats.prefill_seconds,
            stats.prefill_seconds > 0 ? stats.prefill_tokens / stats.prefill_seconds : 0.0);
    fprintf(report, "decode: %ld tokens in %.3f s (%.1f tok/s)\n", stats.decode_tokens, stats.decode_seconds,
            stats.decode_seconds > 0 ? stats.decode_tokens / stats.decode_seconds : 0.0);
    fprintf(report, "generated tokens: %ld (prompt tokens: %ld) in %.3f s\n", generated, prompt_tokens, gen_seconds);
    fprintf(report, "achieved throughput TPS (tok/s): %.2f\n", gen_seconds > 0 ? generated / gen_seconds : 0.0);

    for (int i = 0; i < rs.n; i++) {
        free(res[i].tokens);
        free(res[i].text);
    }
    free(res);
    free(reqs);
    free(storage);
    backend_destroy(be);
    model_close(&model);
    requests_free(&rs);
    tokenizer_free(tok);
    return 0;
}
