/* getp - single-process batch inference: read and validate the requests,
 * load the model, run the decode loop, write the output atomically, report. */
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "run_report.h"

static const char *PROG = "getp";

static int die(const Error *err) {
    fprintf(stderr, "%s: error: %s\n", PROG, err->msg);
    return 1;
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
            error_prefix(&err, "%s:%d", o->input, line);
            rc = die(&err);
            break;
        }
        n = 0;
        if (tokenizer_encode(tok, s, out_len, 1, &ids, &n, &cap, &err) != 0) {
            error_prefix(&err, "%s:%d", o->input, line);
            rc = die(&err);
            free(s);
            break;
        }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        free(s);
        pos = end + 1;
    }
    free(ids);
    free(text);
    return rc;
}

/* -m render: each request's prompt exactly as -m getp with the same options
 * would give it to the model (a chat rendered by src/harmony.h), one line
 * each, special tokens spelled out, with getp's escapes. No model: the
 * tokenizer's vocabulary and --ctx (if given) bound it. */
static int run_render(const Options *o, const Tokenizer *tok) {
    Error err;
    RequestSet rs;
    GenRequest *reqs = NULL;
    int *storage = NULL;
    int n = 0;
    if (requests_read_as(o->input, o->input_format, o->on_error, &rs, &err) != 0) return die(&err);
    int context = o->context > 0 ? o->context : 1 << 30;
    int rc = app_build_requests(o, tok, &rs, o->input, tokenizer_vocab_size(tok), context, &reqs, &n, &storage, &err);
    if (rc != 0) {
        requests_free(&rs);
        return die(&err);
    }
    for (int i = 0; i < n; i++) { /* a Batch API line refused has no prompt to show */
        RequestResult text = {.tokens = (int *)reqs[i].prompt, .n_tokens = reqs[i].prompt_len};
        app_decode_text(tok, 0, NULL, &text);
        write_escaped(stdout, text.text, text.text_len);
        putchar('\n');
        free(text.text);
    }
    for (int i = 0; i < rs.n; i++) /* a refused Batch API line: said, not rendered */
        if (rs.items[i].error) fprintf(stderr, "%s: %s: %s (%s, not rendered)\n", PROG, o->input, rs.items[i].error, rs.items[i].error_code);
    free(reqs);
    free(storage);
    requests_free(&rs);
    return 0;
}

/* Everything a run holds, so that every exit path frees it (LeakSanitizer
 * runs the error tests with leak checking on). */
typedef struct {
    Tokenizer *tok;
    RequestSet rs;
    Model model;
    int model_open;
    GenRequest *reqs; /* the requests that run: n_reqs of them */
    int n_reqs;
    int *storage;
    Backend *be;
    RequestResult *res;
} Run;

static void run_free(Run *r) {
    if (r->res)
        for (int i = 0; i < r->rs.n_results; i++) result_free(&r->res[i]);
    free(r->res);
    free(r->reqs);
    free(r->storage);
    if (r->be) backend_destroy(r->be);
    if (r->model_open) model_close(&r->model);
    requests_free(&r->rs);
    tokenizer_free(r->tok);
}

static int run_getp(const Options *o, Run *r, Error *err) {
    /* Validate every request and the output path before spending time on the model. */
    const char *req_path = o->input;
    if (o->mode == MODE_GENERATE) {
        r->rs.n = 1;
        r->rs.items = xcalloc(1, sizeof(Request));
        request_init(&r->rs.items[0], 1);
        r->rs.items[0].prompt = xstrdup(o->input);
        r->rs.items[0].prompt_len = strlen(o->input);
        req_path = "<prompt>";
    } else if (requests_read_as(o->input, o->input_format, o->on_error, &r->rs, err) != 0) {
        return -1;
    }
    if (o->mode == MODE_GETP && app_check_output(o, o->output, err) != 0) return -1;
    if (app_check_report(o, err) != 0) return -1;

    double t0 = now_seconds();
    if (app_open_model(o, &r->model, err) != 0) return -1;
    r->model_open = 1;
    int context = app_context_limit(o, &r->model.config);
    if (app_build_requests(o, r->tok, &r->rs, req_path, (int)r->model.config.vocab_size, context, &r->reqs, &r->n_reqs, &r->storage, err) != 0)
        return -1;
    int slots = o->batch < r->n_reqs ? o->batch : r->n_reqs > 0 ? r->n_reqs : 1;
    r->be = app_create_backend(o, &r->model, slots, app_backend_context(o, &r->model.config, r->reqs, r->n_reqs), NULL, err);
    if (!r->be) return -1;
    double load_seconds = now_seconds() - t0;

    r->res = xcalloc((size_t)(r->rs.n_results > 0 ? r->rs.n_results : 1), sizeof *r->res);
    GenStats stats;
    ProgressLine progress = {PROG, "requests", now_seconds(), 0, 0};
    int show = run_report_wants_progress(o);
    double t1 = now_seconds();
    if (app_generate(r->be, r->reqs, r->n_reqs, (GenLimits){o->batch, o->step_tokens, o->file_order}, r->res, &stats, show ? run_report_progress : NULL, &progress, err) != 0) return -1;
    double gen_seconds = now_seconds() - t1;
    app_decode_all(o, r->tok, &r->rs, r->res);

    if (o->mode == MODE_GENERATE) {
        for (int c = 0; c < r->rs.n_results; c++) { /* --choices: each on its own line */
            const RequestResult *g = &r->res[c];
            if (g->chat && !o->all_channels) fwrite(g->content ? g->content : "", 1, g->content_len, stdout);
            else fwrite(g->text, 1, g->text_len, stdout);
            putchar('\n');
        }
    } else if (app_write_results(o, r->tok, o->output, &r->rs, r->res, err) != 0) {
        return -1;
    }
    RunSummary sum = run_report_summarize(r->be, r->res, r->rs.n_results, r->rs.n, r->reqs, r->n_reqs, slots, r->be->max_context, load_seconds, &stats, gen_seconds);
    run_report_print(run_report_stream(o), &sum);
    return o->report_json ? run_report_write_json(o->report_json, &sum, err) : 0;
}

int main(int argc, char **argv) {
    Options o;
    int prc = options_parse(&o, argc, argv, PROG, NULL, stderr);
    if (prc != 0) return prc > 0 ? 0 : 2;
    Error err;
    Run r;
    memset(&r, 0, sizeof r);
    char *tok_path = options_tokenizer_path(&o);
    r.tok = tokenizer_load(tok_path, &err);
    free(tok_path);
    int rc;
    if (!r.tok) rc = die(&err);
    else if (o.mode == MODE_TOKENIZE) rc = run_tokenize(&o, r.tok);
    else if (o.mode == MODE_RENDER) rc = run_render(&o, r.tok);
    else rc = run_getp(&o, &r, &err) != 0 ? die(&err) : 0;
    run_free(&r);
    return rc;
}
