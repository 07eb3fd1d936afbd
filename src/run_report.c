#include "run_report.h"

#include <stdlib.h>
#include <unistd.h>

#include "json.h"
#include "output_file.h"

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

void progress_line_draw(ProgressLine *line, int done, int total, double tok_per_s, int last) {
    double now = now_seconds(), elapsed = now - line->started;
    if (line->ended || (!last && line->shown > 0 && now - line->shown < PROGRESS_EVERY_S)) return;
    line->shown = now;
    line->ended = last;
    char eta[32] = "?";
    if (done > 0) snprintf(eta, sizeof eta, "%.0f s", elapsed * (total - done) / done);
    fprintf(stderr, "\r[%s] %d/%d %s (%.1f%%), %.0f s, ETA %s, %.1f tok/s   %s", line->who, done, total, line->what,
            total > 0 ? 100.0 * done / total : 100.0, elapsed, eta, tok_per_s, last ? "\n" : "");
    fflush(stderr);
}

double progress_rate(const GenStats *s) { return per_second((double)s->decode_tokens, s->prefill_seconds + s->decode_seconds); }

void run_report_progress(void *ctx, int done, int total, const GenStats *s) {
    progress_line_draw(ctx, done, total, progress_rate(s), done == total);
}

int run_report_wants_progress(const Options *o) { return o->progress == 1 || (o->progress < 0 && isatty(2) && o->mode == MODE_GETP); }

FILE *run_report_stream(const Options *o) {
    return o->mode == MODE_GENERATE || output_is_stdout(o->output) ? stderr : stdout;
}

void run_report_throughput(FILE *f, long generated, double seconds) {
    fprintf(f, "achieved throughput TPS (tok/s): %.2f\n", per_second((double)generated, seconds));
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorted in place), nearest rank; 0 when n == 0. */
static double quantile(double *v, int n, double q) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    int k = (int)(q * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

Latency run_report_latency(const RequestResult *res, int n) {
    double *ttft = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *ttft), *tpot = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *tpot);
    int n_ttft = 0, n_tpot = 0;
    for (int i = 0; i < n; i++) {
        if (res[i].n_tokens == 0 && res[i].finish == FINISH_LENGTH) continue; /* max_tokens 0: never ran */
        ttft[n_ttft++] = res[i].first_token_s;
        if (res[i].n_tokens >= 2) tpot[n_tpot++] = (res[i].finish_s - res[i].first_token_s) / (res[i].n_tokens - 1);
    }
    Latency l = {quantile(ttft, n_ttft, 0.5), quantile(ttft, n_ttft, 0.99), quantile(tpot, n_tpot, 0.5), quantile(tpot, n_tpot, 0.99)};
    free(ttft);
    free(tpot);
    return l;
}

Latency run_report_latency_of(const RequestResult *res, const GenRequest *ran, int n_ran) {
    RequestResult *picked = xmalloc((size_t)(n_ran > 0 ? n_ran : 1) * sizeof *picked);
    for (int k = 0; k < n_ran; k++) picked[k] = res[ran[k].result];
    Latency l = run_report_latency(picked, n_ran);
    free(picked);
    return l;
}

void run_report_print_latency(FILE *f, const Latency *l) {
    fprintf(f, "time to first token (s): median %.3f, p99 %.3f\n", l->ttft_p50, l->ttft_p99);
    fprintf(f, "time per output token (ms): median %.2f, p99 %.2f\n", 1e3 * l->tpot_p50, 1e3 * l->tpot_p99);
}

RunSummary run_report_summarize(const Backend *be, const RequestResult *res, int n, int requests, const GenRequest *ran, int n_ran, int batch,
                                int context, double load_s, const GenStats *stats, double generate_s) {
    if (stats->sequences > 0) batch = stats->sequences; /* what the decode loop ran */
    RunSummary s = {be->ops->name, be->info, requests, n, batch < be->max_slots ? batch : be->max_slots, context, load_s, generate_s, *stats, 0, 0,
                    run_report_latency_of(res, ran, n_ran)};
    for (int i = 0; i < n; i++) s.generated += res[i].n_tokens;
    for (int k = 0; k < n_ran; k++)
        if (ran[k].choice == 0) s.prompt_tokens += res[ran[k].result].prompt_tokens;
    return s;
}

void run_report_print(FILE *f, const RunSummary *s) {
    fprintf(f, "backend: %s, requests: %d", s->backend, s->requests);
    if (s->completions != s->requests) fprintf(f, " (%d completions)", s->completions);
    fprintf(f, ", batch: %d, context: %d\n", s->batch, s->context);
    if (s->device[0]) fprintf(f, "device: %s\n", s->device);
    fprintf(f, "load time (s): %.3f\n", s->load_s);
    fprintf(f, "prefill: %ld tokens in %.3f s (%.1f tok/s)", s->stats.prefill_tokens, s->stats.prefill_seconds,
            per_second((double)s->stats.prefill_tokens, s->stats.prefill_seconds));
    if (s->stats.shared_prefix_tokens) fprintf(f, "; %ld more copied from shared prompt prefixes", s->stats.shared_prefix_tokens);
    fputc('\n', f);
    fprintf(f, "decode: %ld tokens in %.3f s (%.1f tok/s)\n", s->stats.decode_tokens, s->stats.decode_seconds,
            per_second((double)s->stats.decode_tokens, s->stats.decode_seconds));
    fprintf(f, "forward calls: %ld (%ld with prompt and decode rows)\n", s->stats.steps, s->stats.mixed_steps);
    fprintf(f, "generated tokens: %ld (prompt tokens: %ld) in %.3f s\n", s->generated, s->prompt_tokens, s->generate_s);
    run_report_print_latency(f, &s->latency);
    run_report_throughput(f, s->generated, s->generate_s);
}

int run_report_write_json(const char *path, const RunSummary *s, Error *err) {
    OutputFile out;
    if (output_open(&out, path, NULL, 0, err) != 0) return -1;
    FILE *f = out.fp;
    fputs("{\"backend\": ", f);
    json_write_string(f, s->backend, strlen(s->backend));
    fputs(", \"device\": ", f);
    json_write_string(f, s->device, strlen(s->device));
    const GenStats *g = &s->stats;
    fprintf(f,
            ", \"requests\": %d, \"completions\": %d, \"batch\": %d, \"context\": %d, \"load_s\": %.6f, \"prefill_tokens\": %ld, \"prefill_s\": %.6f, "
            "\"decode_tokens\": %ld, \"decode_s\": %.6f, \"shared_prefix_tokens\": %ld, \"steps\": %ld, \"mixed_steps\": %ld, \"generated_tokens\": %ld, \"prompt_tokens\": %ld, \"generate_s\": %.6f, "
            "\"tok_per_s\": %.3f, \"ttft_p50_s\": %.6f, \"ttft_p99_s\": %.6f, \"tpot_p50_s\": %.6f, \"tpot_p99_s\": %.6f}\n",
            s->requests, s->completions, s->batch, s->context, s->load_s, g->prefill_tokens, g->prefill_seconds, g->decode_tokens, g->decode_seconds,
            g->shared_prefix_tokens, g->steps, g->mixed_steps,            s->generated, s->prompt_tokens, s->generate_s, per_second((double)s->generated, s->generate_s), s->latency.ttft_p50,
            s->latency.ttft_p99, s->latency.tpot_p50, s->latency.tpot_p99);
    return output_commit(&out, err);
}
