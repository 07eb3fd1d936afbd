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
 * R tok/s", with R the decode rate inside the forward calls so far and the
 * ETA the elapsed time scaled by the requests still to do. */
typedef struct {
    const char *who;  /* "getp", "getp_mpi rank 0" */
    const char *what; /* "requests", "of its requests" */
    double started;   /* now_seconds() at the start of the run */
    double shown;     /* when the line was last drawn (0: never) */
    int ended;        /* the last request's line is drawn */
} ProgressLine;

/* How often the line is redrawn while requests run, in seconds. */
#define PROGRESS_EVERY_S 2.0

/* A GenProgress (generate.h) that redraws the line on stderr at most every
 * PROGRESS_EVERY_S seconds, and when the last request ends (which ends the
 * line); ctx is a ProgressLine. */
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
void run_report_print_latency(FILE *f, const Latency *l);

/* What getp reports at the end of a run, as text and (--report) as JSON. */
typedef struct {
    const char *backend, *device;
    int requests, batch, context;
    double load_s, generate_s;
    GenStats stats;
    long generated, prompt_tokens;
    Latency latency;
} RunSummary;
RunSummary run_report_summarize(const Backend *be, const RequestResult *res, int n, int batch, int context, double load_s,
                                const GenStats *stats, double generate_s);
void run_report_print(FILE *f, const RunSummary *s);
/* Writes the summary as one JSON object to path (safely: output_file.h). */
int run_report_write_json(const char *path, const RunSummary *s, Error *err);

/* The line both reports end with: generated tokens over the run's seconds. */
void run_report_throughput(FILE *f, long generated, double seconds);

#endif
