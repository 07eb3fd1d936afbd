/* schedule.h - which rank runs which request.
 *
 * work[i] estimates request i's cost (prompt tokens + token budget).
 *   block:    contiguous runs of requests, equal counts;
 *   cyclic:   request i to rank i mod K;
 *   balanced: longest first, each to the rank with the least work so far
 *             (LPT), so that ranks finish together.
 * Fills owner[i] and, per rank, the order in which it runs its requests
 * (order[] lists request indices grouped by rank, first[r]..first[r+1]). */
#ifndef GETP_SCHEDULE_H
#define GETP_SCHEDULE_H

typedef enum { SCHEDULE_BALANCED, SCHEDULE_BLOCK, SCHEDULE_CYCLIC } ScheduleKind;

int schedule_parse(const char *name, ScheduleKind *kind);
/* owner: [n]; order: [n]; first: [k + 1] */
void schedule_assign(ScheduleKind kind, const long *work, int n, int k, int *owner, int *order, int *first);

#endif
