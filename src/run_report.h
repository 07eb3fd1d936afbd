/* run_report.h - what getp and getp_mpi tell the user about a run, where the
 * two say the same thing: the progress line while the requests run, where
 * the report goes, and its closing throughput line. */
#ifndef GETP_RUN_REPORT_H
#define GETP_RUN_REPORT_H

#include <stdio.h>

#include "generate.h"
#include "options.h"

/* count per second; 0 when no time has passed. */
double per_second(double count, double seconds);

/* Whose progress the line shows: "\r[WHO] DONE/TOTAL WHAT (P%), E s, ETA S s,
 * R tok/s", with R the decode rate inside the forward calls so far (getp_mpi:
 * the ranks' rates summed) and the ETA the elapsed time scaled by the
 * requests still to do. */
typedef struct {
    const char *who;  /* "getp", "getp_mpi, 3 ranks" */
    const char *what; /* "requests" */
    double started;   /* now_seconds() at the start of the run */
    double shown;     /* when the line was last drawn (0: never) */
    int ended;        /* the last request's line is drawn */
} ProgressLine;

/* How often the line is redrawn while requests run, in seconds. */
#define PROGRESS_EVERY_S 2.0

/* Draws the line on stderr: at most every PROGRESS_EVERY_S seconds, and
 * always when `last` (which ends the line; nothing is drawn after it). */
void progress_line_draw(ProgressLine *line, int done, int total, double tok_per_s, int last);

/* The decode rate the line shows for stats: decode tokens over the seconds
 * inside the forward calls. */
double progress_rate(const GenStats *stats);

/* A GenProgress (generate.h) that draws the line (progress_line_draw), the
 * last request's end ending it; ctx is a ProgressLine. */
void run_report_progress(void *ctx, int done, int total, const GenStats *stats);

/* --progress, --no-progress, or by default: in -m getp when stderr is a terminal. */
int run_report_wants_progress(const Options *o);

/* The report's stream: stdout, unless stdout carries the results (-o -, or
 * the text of -m generate); then stderr. */
FILE *run_report_stream(const Options *o);

/* Latency over the requests: time to first token and time per output token
 * after the first ((finish - first) / (tokens - 1), requests of 2 tokens or
 * more), median and 99th percentile. */
typedef struct {
    double ttft_p50, ttft_p99, tpot_p50, tpot_p99; /* seconds */
} Latency;
Latency run_report_latency(const RequestResult *res, int n);
/* The same over the requests that ran, res[ran[k].result] for k < n_ran: a
 * refused Batch API line never ran and has no times. */
Latency run_report_latency_of(const RequestResult *res, const GenRequest *ran, int n_ran);
void run_report_print_latency(FILE *f, const Latency *l);

/* What getp reports at the end of a run, as text and (--report) as JSON. */
typedef struct {
    const char *backend, *device;
    int requests, completions, batch, context; /* completions: with n > 1 choices, more than the requests */
    double load_s, generate_s;
    GenStats stats;
    long generated, prompt_tokens; /* prompt_tokens: each request's once, however many choices it has */
    Latency latency;
} RunSummary;
/* res[0..n): every completion's result (requests: the file's requests);
 * ran[0..n_ran): the completions that ran. */
RunSummary run_report_summarize(const Backend *be, const RequestResult *res, int n, int requests, const GenRequest *ran, int n_ran, int batch,
                                int context, double load_s, const GenStats *stats, double generate_s);
void run_report_print(FILE *f, const RunSummary *s);
/* Writes the summary as one JSON object to path (safely: output_file.h). */
int run_report_write_json(const char *path, const RunSummary *s, Error *err);

/* The line both reports end with: generated tokens over the run's seconds. */
void run_report_throughput(FILE *f, long generated, double seconds);

#endif
