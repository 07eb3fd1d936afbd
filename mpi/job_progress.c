#include "job_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/util.h"

/* The one tag on the line's own communicator; a count is these doubles. */
enum { TAG_COUNT = 1 };
enum { MSG_DONE, MSG_RATE, MSG_FINAL, MSG_LEN };

/* How often rank 0 looks for counts, from its decode loop and while it waits. */
#define POLL_EVERY_S 0.05

void job_progress_start(JobProgress *jp, int want_line, int total, MPI_Comm world) {
    memset(jp, 0, sizeof *jp);
    MPI_Comm_rank(world, &jp->rank);
    MPI_Comm_size(world, &jp->size);
    jp->comm = MPI_COMM_NULL;
    jp->update = jp->final = MPI_REQUEST_NULL;
    int on = jp->rank == 0 && want_line;
    MPI_Bcast(&on, 1, MPI_INT, 0, world); /* only rank 0 knows whether its stderr is a terminal */
    jp->on = on;
    if (!on) return;
    MPI_Comm_dup(world, &jp->comm);
    jp->last_sent = now_seconds();
    if (jp->rank != 0) return;
    jp->total = total;
    snprintf(jp->who, sizeof jp->who, "getp_mpi, %d rank%s", jp->size, jp->size == 1 ? "" : "s");
    jp->line = (ProgressLine){jp->who, "requests", now_seconds(), 0, 0};
    jp->counts = xcalloc((size_t)jp->size, sizeof *jp->counts);
}

/* Rank 0: takes in every count that has arrived, without waiting for any. */
static void receive_counts(JobProgress *jp) {
    for (;;) {
        int arrived;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_COUNT, jp->comm, &arrived, &st);
        if (!arrived) break;
        double m[MSG_LEN];
        MPI_Recv(m, MSG_LEN, MPI_DOUBLE, st.MPI_SOURCE, TAG_COUNT, jp->comm, MPI_STATUS_IGNORE); /* there already */
        RankCount *c = &jp->counts[st.MPI_SOURCE];
        c->done = (int)m[MSG_DONE];
        c->rate = m[MSG_RATE];
        if (m[MSG_FINAL] != 0 && !c->final) c->final = 1, jp->finals++;
    }
    jp->last_poll = now_seconds();
}

/* Rank 0: the line for the whole job; it ends when every request is done, or when `last`. */
static void draw(JobProgress *jp, int last) {
    int done = jp->mine.done;
    double rate = jp->mine.rate;
    for (int r = 1; r < jp->size; r++) done += jp->counts[r].done, rate += jp->counts[r].rate;
    progress_line_draw(&jp->line, done, jp->total, rate, last || done == jp->total);
}

static void pack(double *m, const RankCount *c, int final) {
    m[MSG_DONE] = c->done;
    m[MSG_RATE] = c->rate;
    m[MSG_FINAL] = final;
}

void job_progress_update(void *ctx, int done, int total, const GenStats *stats) {
    (void)total; /* this rank's share; rank 0 knows the job's */
    JobProgress *jp = ctx;
    if (!jp->on) return;
    jp->mine.done = done;
    jp->mine.rate = progress_rate(stats);
    double now = now_seconds();
    if (jp->rank == 0) {
        if (now - jp->last_poll >= POLL_EVERY_S) receive_counts(jp);
        draw(jp, 0);
        return;
    }
    if (now - jp->last_sent < JOB_PROGRESS_SEND_S) return;
    int sent = 1;
    if (jp->update != MPI_REQUEST_NULL) MPI_Test(&jp->update, &sent, MPI_STATUS_IGNORE);
    if (!sent) return; /* the last update is still on its way (its buffer in use): try next turn */
    pack(jp->update_buf, &jp->mine, 0);
    MPI_Isend(jp->update_buf, MSG_LEN, MPI_DOUBLE, 0, TAG_COUNT, jp->comm, &jp->update);
    jp->last_sent = now;
}

static void nap(double seconds) {
    struct timespec t = {0, (long)(seconds * 1e9)};
    nanosleep(&t, NULL);
}

void job_progress_end_share(JobProgress *jp) {
    if (!jp->on) return;
    if (jp->rank != 0) { /* completed in job_progress_free, by when rank 0 has it */
        pack(jp->final_buf, &jp->mine, 1);
        MPI_Isend(jp->final_buf, MSG_LEN, MPI_DOUBLE, 0, TAG_COUNT, jp->comm, &jp->final);
        return;
    }
    for (;;) {
        receive_counts(jp);
        if (jp->finals == jp->size - 1) break;
        draw(jp, 0);
        nap(POLL_EVERY_S);
    }
    draw(jp, 1);
}

void job_progress_free(JobProgress *jp) {
    if (!jp->on) return;
    MPI_Wait(&jp->update, MPI_STATUS_IGNORE); /* MPI_REQUEST_NULL: returns at once */
    MPI_Wait(&jp->final, MPI_STATUS_IGNORE);
    MPI_Comm_free(&jp->comm);
    free(jp->counts);
}
