/* job_progress.h - getp_mpi's progress line (src/run_report.h's format) for
 * the whole job: requests done of all the job's, with the ranks' decode
 * rates summed, drawn by rank 0 on stderr while it runs its own share and
 * while it waits for the other ranks.
 *
 * No rank ever waits on another for it. Each rank other than 0 sends its
 * count with MPI_Isend at most every JOB_PROGRESS_SEND_S seconds from its
 * decode loop's progress callback (skipping a turn while its last update is
 * still on the way), and one final message at the end of its share, failed
 * or not. Rank 0 polls (MPI_Iprobe) from its own callback and, once its
 * share is done, until every other rank's final message is in; then it ends
 * the line. The messages travel on a duplicate of the world communicator,
 * so they can match nothing else (the scatter, the gathers, the failure
 * votes), and the non-overtaking rule puts each rank's final message after
 * its updates: once rank 0 has every final one, nothing is left unreceived.
 * A rank that dies takes the job down (the MPI launcher ends every rank),
 * rank 0's polling included.
 *
 * Off (no line wanted on rank 0), it sends nothing and every call is cheap. */
#ifndef GETP_JOB_PROGRESS_H
#define GETP_JOB_PROGRESS_H

#include <mpi.h>

#include "../src/run_report.h"

/* How often a rank sends its count to rank 0, at most, in seconds. */
#define JOB_PROGRESS_SEND_S 1.0

/* What one rank last told rank 0. */
typedef struct {
    int done;    /* requests of its share finished */
    double rate; /* its decode tok/s inside the forward calls (progress_rate) */
    int final;   /* its share has ended */
} RankCount;

typedef struct {
    int on;        /* the line is drawn (the same on every rank) */
    int rank, size;
    MPI_Comm comm; /* the messages' own communicator; MPI_COMM_NULL when off */
    RankCount mine;
    /* a rank other than 0: its two sends, each with its own buffer */
    double last_sent;
    double update_buf[3], final_buf[3]; /* done, rate, final: what an MPI_Isend reads until it completes */
    MPI_Request update, final;
    /* rank 0: the line and every rank's last count */
    int total; /* the job's requests */
    char who[48];
    ProgressLine line; /* its who is the who above: a JobProgress stays where it was started */
    RankCount *counts;
    int finals; /* ranks other than 0 whose final message is in */
    double last_poll;
} JobProgress;

/* Collective over world, right before the ranks generate. want_line and
 * total (the job's requests) count on rank 0 only; the others learn from it
 * whether the line is on. */
void job_progress_start(JobProgress *jp, int want_line, int total, MPI_Comm world);

/* The GenProgress (src/generate.h) of every rank's decode loop; ctx is the
 * JobProgress. Never blocks. */
void job_progress_update(void *ctx, int done, int total, const GenStats *stats);

/* At the end of this rank's share, whether it succeeded or not (a rank with
 * no share too). A rank other than 0 sends its final count and returns at
 * once; rank 0 keeps drawing the line until every final count is in, then
 * ends it. */
void job_progress_end_share(JobProgress *jp);

/* Collective, after job_progress_end_share: completes the sends, frees the
 * communicator. */
void job_progress_free(JobProgress *jp);

#endif
