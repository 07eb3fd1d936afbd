#include "app.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "batch_api.h"
#include "output_file.h"
#include "presets.h"
#include "stop_match.h"

int app_context_limit(const Options *o, const ModelConfig *c) {
    int ctx = o->context > 0 ? o->context : 4096;
    return ctx > (int)c->max_context ? (int)c->max_context : ctx;
}

int app_backend_context(const Options *o, const ModelConfig *c, const GenRequest *reqs, int n) {
    int limit = app_context_limit(o, c);
    if (o->context > 0) return limit;
    long need = 1;
    for (int i = 0; i < n; i++) {
        long k = (long)reqs[i].prompt_len + (reqs[i].params.max_new_tokens > 1 ? reqs[i].params.max_new_tokens - 1 : 0);
        if (k > need) need = k;
    }
    return need < limit ? (int)need : limit;
}

int app_is_chat(const Options *o, const Request *r) {
    if (r->batch_url != BATCH_URL_NONE) return r->batch_url == BATCH_URL_CHAT; /* a Batch API line says which it is */
    return o->chat || r->n_messages > 0;
}

/* Appends request r's prompt ids: the harmony rendering for a chat, else the
 * prompt's text (where "<|start|>" is the special token). Returns as
 * tokenizer_encode_limited: 1 when it is more than max_tokens ids. */
static int encode_prompt(const Options *o, const Tokenizer *tok, const Request *r, int max_tokens, int **ids, int *n, int *cap, Error *err) {
    if (!app_is_chat(o, r)) return tokenizer_encode_limited(tok, r->prompt, r->prompt_len, 1, max_tokens, ids, n, cap, err);
    HarmonySystem sys = {r->reasoning_effort >= 0 ? (HarmonyEffort)r->reasoning_effort : o->reasoning_effort, o->system_date, o->developer};
    HarmonyTurn prompt = {HARMONY_USER, r->prompt, r->prompt_len};
    if (r->n_messages > 0) return harmony_render(tok, &sys, r->messages, r->n_messages, max_tokens, ids, n, cap, err);
    return harmony_render(tok, &sys, &prompt, 1, max_tokens, ids, n, cap, err);
}

/* Appends request r's prompt ids and checks them. Returns 0, or -1 with err
 * ("FILE:LINE: reason") and *code (a Batch API error code) set. */
static int build_one(const Options *o, const Tokenizer *tok, const Request *r, const char *path, int vocab, int context, int **ids, int *n_ids,
                     int *cap, const char **code, Error *err) {
    int start = *n_ids;
    *code = "invalid_request";
    /* a prompt longer than the context is refused as soon as that is known, not after tokenizing all of it */
    int rc = encode_prompt(o, tok, r, context, ids, n_ids, cap, err);
    if (rc == 1) {
        *code = "context_length_exceeded";
        return error_set(err, "%s:%d: the prompt is longer than the context of %d tokens (see --ctx)", path, r->line, context);
    }
    if (rc != 0) return error_prefix(err, "%s:%d", path, r->line);
    if (*n_ids == start) return error_set(err, "%s:%d: the prompt is empty", path, r->line);
    for (int k = start; k < *n_ids; k++)
        if ((*ids)[k] >= vocab) return error_set(err, "%s:%d: token %d is outside the model's vocabulary of %d", path, r->line, (*ids)[k], vocab);
    return 0;
}

/* The command line's defaults for what request r leaves out. */
static GenParams request_params(const Options *o, const Tokenizer *tok, const Request *r) {
    GenParams p;
    p.stop = (const char *const *)r->stop;
    p.n_stop = r->n_stop;
    p.tok = tok;
    p.max_new_tokens = r->max_tokens >= 0 ? r->max_tokens : o->max_new_tokens;
    p.sample.temperature = r->temperature >= 0 ? r->temperature : o->temperature;
    p.sample.top_p = r->top_p >= 0 ? r->top_p : o->top_p;
    p.sample.min_p = r->min_p >= 0 ? r->min_p : o->min_p;
    p.sample.top_k = r->top_k >= 0 ? r->top_k : o->top_k;
    p.sample.logprobs = r->logprobs >= -1 ? r->logprobs : o->logprobs;
    p.seed = r->has_seed ? r->seed : o->seed;
    p.ignore_eos = o->ignore_eos;
    return p;
}

int app_build_requests(const Options *o, const Tokenizer *tok, RequestSet *rs, const char *path, int vocab, int context,
                       GenRequest **reqs_out, int *n_out, int **storage_out, Error *err) {
    requests_number_results(rs, o->choices);
    GenRequest *reqs = xcalloc((size_t)(rs->n_results > 0 ? rs->n_results : 1), sizeof *reqs);
    int *ids = NULL, n_ids = 0, cap = 0, n = 0;
    int *start = xmalloc((size_t)(rs->n_results > 0 ? rs->n_results : 1) * sizeof(int));
    for (int i = 0; i < rs->n; i++) {
        Request *r = &rs->items[i];
        if (r->error) continue; /* a Batch API line already refused: it does not run */
        start[n] = n_ids;
        const char *code;
        if (build_one(o, tok, r, path, vocab, context, &ids, &n_ids, &cap, &code, err) != 0) {
            n_ids = start[n];
            if (rs->record_errors) {
                batch_api_reject(r, code, path, err->msg);
                continue;
            }
            free(reqs);
            free(ids);
            free(start);
            return -1;
        }
        for (int c = 0; c < r->n_choices; c++, n++) { /* the choices share the prompt's ids */
            start[n] = start[n - c];
            reqs[n].params = request_params(o, tok, r);
            reqs[n].prompt_len = n_ids - start[n];
            reqs[n].index = (uint64_t)i; /* its place in the file: the output's order and its RNG stream */
            reqs[n].choice = c;
            reqs[n].result = r->first_result + c;
        }
    }
    for (int k = 0; k < n; k++) reqs[k].prompt = ids + start[k];
    free(start);
    *reqs_out = reqs;
    *n_out = n;
    *storage_out = ids;
    return 0;
}

void app_decode_text(const Tokenizer *tok, int chat, const Request *r, RequestResult *res) {
    size_t cap = 64, n = 0;
    char *text = xmalloc(cap);
    size_t *ends = xmalloc((size_t)(res->n_tokens > 0 ? res->n_tokens : 1) * sizeof *ends); /* where each token's bytes end */
    for (int i = 0; i < res->n_tokens; i++) {
        size_t len = 0;
        const uint8_t *b = tokenizer_token_bytes(tok, res->tokens[i], &len);
        if (b) { /* else an id the tokenizer lacks (a model with a larger vocabulary) */
            if (n + len + 1 > cap) text = xrealloc(text, cap = 2 * (n + len + 1));
            memcpy(text + n, b, len);
            n += len;
        }
        ends[i] = n;
    }
    long stop = r ? stop_first((const char *const *)r->stop, r->n_stop, text, n) : -1;
    if (stop >= 0) { /* the text ends where the stop string begins; the tokens wholly before it stay */
        int keep = 0;
        while (keep < res->n_tokens && ends[keep] <= (size_t)stop) keep++;
        res->n_tokens = keep;
        res->finish = FINISH_STOP;
        n = (size_t)stop;
    }
    free(ends);
    text[n] = 0;
    res->text = text;
    res->text_len = n;
    res->chat = chat;
    if (!chat) return;
    HarmonyCompletion c;
    harmony_parse_completion(tok, res->tokens, res->n_tokens, &c);
    res->reasoning = harmony_channel_text(&c, "analysis", 0, &res->reasoning_len);
    res->content = harmony_channel_text(&c, "final", 1, &res->content_len);
    harmony_completion_free(&c);
}

void app_decode_all(const Options *o, const Tokenizer *tok, const RequestSet *rs, RequestResult *res) {
    for (int i = 0; i < rs->n; i++)
        for (int c = 0; c < rs->items[i].n_choices; c++)
            app_decode_text(tok, app_is_chat(o, &rs->items[i]), &rs->items[i], &res[rs->items[i].first_result + c]);
}

int app_open_model(const Options *o, Model *m, Error *err) {
    if (!o->dummy_weights) return model_open(m, o->model_path, err);
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(o->dummy_weights, ":"), o->dummy_weights);
    ModelConfig c;
    if (preset_config(name, &c) != 0) return error_set(err, "--dummy-weights: unknown preset '%s' (%s)", name, preset_names());
    const char *suffix = strchr(o->dummy_weights, ':');
    return model_create_virtual(m, &c, DTYPE_BF16, suffix && !strcmp(suffix, ":mxfp4") ? DTYPE_MXFP4 : DTYPE_BF16, err);
}

/* The backend --backend names (auto: the GPU where there is one). */
static Backend *create_backend(const Options *o, const Model *m, int slots, int context, GpuLoad *load, Error *err) {
    size_t kv_bytes = (size_t)((double)o->kv_mem_gib * (1u << 30));
    if (strcmp(o->backend, "cpu") != 0) {
        Backend *b = hip_backend_create_if_available(m, slots, context, o->device, kv_bytes, load, err);
        if (b || strcmp(o->backend, "hip") == 0 || m->virtual_weights) return b;
    }
    /* keys and values in F32 for every layer */
    const ModelConfig *c = &m->config;
    size_t position_bytes = (size_t)2 * c->n_layers * c->n_kv_heads * c->head_dim * sizeof(float);
    return backend_cpu_create(m, slots, context, o->threads, kv_bytes ? (long)(kv_bytes / position_bytes) : 0, err);
}

Backend *app_create_backend(const Options *o, const Model *m, int slots, int context, GpuLoad *load, Error *err) {
    Backend *b = create_backend(o, m, slots, context, load, err);
    if (!b || o->precision == PRECISION_EXACT) return b;
    if (backend_set_precision(b, o->precision, err) != 0) {
        backend_destroy(b);
        return NULL;
    }
    size_t used = strlen(b->info);
    snprintf(b->info + used, sizeof b->info - used, "; experts' activations bf16");
    return b;
}

/* The files a run reads, which its outputs must never be. Returns the
 * tokenizer path, which the caller frees. */
static char *run_inputs(const Options *o, OutputInput in[3]) {
    char *tok_path = options_tokenizer_path(o);
    in[0] = (OutputInput){"the request file", o->mode == MODE_GETP ? o->input : NULL};
    in[1] = (OutputInput){"the model file", o->dummy_weights ? NULL : o->model_path};
    in[2] = (OutputInput){"the tokenizer file", tok_path};
    return tok_path;
}

int app_check_output(const Options *o, const char *path, Error *err) {
    OutputInput in[3];
    char *tok_path = run_inputs(o, in);
    int rc = output_check(path, in, 3, err);
    free(tok_path);
    return rc;
}

int app_write_results(const Options *o, const Tokenizer *tok, const char *path, const RequestSet *rs, const RequestResult *res, Error *err) {
    OutputInput in[3];
    OutputFile f;
    char *tok_path = run_inputs(o, in);
    int rc = output_open(&f, path, in, 3, err);
    free(tok_path);
    if (rc != 0) return -1;
    /* a Batch API file is answered in the Batch API's output format, whatever the name */
    ResultsFormat format = {strcmp(path, "-") ? output_is_jsonl(path) : rs->jsonl, o->all_channels, o->timings};
    results_write(f.fp, tok, rs, res, format);
    return output_commit(&f, err);
}

int app_generate(Backend *be, const GenRequest *reqs, int n, GenLimits limits, RequestResult *res, GenStats *stats, GenProgress progress,
                 void *progress_ctx, Error *err) {
    RequestResult *ran = xcalloc((size_t)(n > 0 ? n : 1), sizeof *ran);
    int rc = generate_run(be, reqs, n, limits, ran, stats, progress, progress_ctx, err);
    for (int k = 0; k < n; k++) res[reqs[k].result] = ran[k]; /* even on failure: the caller frees the tokens */
    free(ran);
    return rc;
}

int app_check_report(const Options *o, Error *err) {
    if (!o->report_json) return 0;
    if (o->output && output_same_target(o->report_json, o->output))
        return error_set(err, "--report %s: the same file as the output (-o %s)", o->report_json, o->output);
    return app_check_output(o, o->report_json, err);
}
