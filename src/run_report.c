#include "run_report.h"

#include <unistd.h>

#include "output_file.h"

double per_second(double count, double seconds) { return seconds > 0 ? count / seconds : 0.0; }

void run_report_progress(void *ctx, int done, int total, const GenStats *s) {
    const ProgressLine *line = ctx;
    fprintf(stderr, "\r[%s] %d/%d %s, %.1f tok/s%s", line->who, done, total, line->what,
            per_second((double)s->decode_tokens, s->prefill_seconds + s->decode_seconds), done == total ? "\n" : "");
    fflush(stderr);
}

int run_report_wants_progress(const Options *o) { return o->progress == 1 || (o->progress < 0 && isatty(2) && o->mode == MODE_GETP); }

FILE *run_report_stream(const Options *o) {
    return o->mode == MODE_GENERATE || output_is_stdout(o->output) ? stderr : stdout;
}

void run_report_throughput(FILE *f, long generated, double seconds) {
    fprintf(f, "achieved throughput TPS (tok/s): %.2f\n", per_second((double)generated, seconds));
}
