/* rank_report.h - what each rank did, gathered on rank 0: the failures
 * ("rank R (host): reason"), the per-rank table with the replicas' load
 * lines and the totals on stdout (stderr when stdout carries the results),
 * and the same as JSON with --report FILE. */
#ifndef GETP_RANK_REPORT_H
#define GETP_RANK_REPORT_H

#include <mpi.h>
#include <stdio.h>

#include "../src/options.h"
#include "../src/run_report.h"
#include "place.h"
#include "replica.h"

/* One rank's part (sent as bytes: one build, one cluster, one byte layout). */
typedef struct {
    int rank, local_rank, local_size, n_requests, failed;
    char host[64];
    ReplicaInfo replica;
    double load_s;  /* binding, opening the model, making the backend (the weights' trip included) */
    double prefill_s, decode_s; /* inside the forward calls */
    double gen_s;   /* the whole decode loop */
    double wait_s;  /* waiting for the slowest rank at the end */
    long prefill_tokens, decode_tokens, generated;
    char error[sizeof(((Error *)0)->msg)];
} RankReport;

void rank_report_init(RankReport *me, const RankPlace *p, int n_requests);

/* Marks the rank failed, with err's reason. */
void rank_report_fail(RankReport *me, const Error *err);

/* Collective over comm: every rank's report to rank 0, which gets them all
 * (the others get NULL) and prints "PROG: error: rank R (host): reason" on
 * stderr for each rank that failed. */
RankReport *rank_report_gather(const RankReport *mine, const char *prog, MPI_Comm comm);

/* The whole run, from the reports and the requests' latency. */
typedef struct {
    int ranks, requests;
    long generated;
    double wall_s;        /* from the start of the load to the report */
    double imbalance;     /* the slowest rank's load + generate time over the mean */
    double slowest_gen_s; /* the slowest rank's decode loop */
    Latency latency;      /* over all the job's requests, each timed on its rank from the start of that rank's run */
} RunTotals;

RunTotals rank_report_totals(const RankReport *all, int ranks, int requests, double wall_s, const Latency *latency);

/* The table, a row per rank; the replicas' load lines when any GPU loaded
 * weights; the totals, the latency lines (src/run_report.h) and the
 * throughput line. */
void rank_report_print(FILE *f, const RankReport *all, const RunTotals *t);


/* The report as JSON at path, written like the output (src/output_file.h). */
int rank_report_write_json(const char *path, const RankReport *all, const RunTotals *t, Error *err);

#endif
