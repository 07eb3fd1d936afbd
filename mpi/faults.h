/* faults.h - the test hooks that make one rank fail on purpose, so that the
 * tests can check every rank still ends, with one message. Set
 * GETP_INJECT_FAULT=WHAT@RANK:
 *   load@R             rank R fails to load its model;
 *   kill@R             rank R SIGKILLs itself after its first finished request;
 *   unlink-requests@0  rank 0 deletes the request file right after validating it;
 *   refuse-peer@R      rank R behaves as if peer access to the GPU holding its
 *                      node's first replica were refused. */
#ifndef GETP_FAULTS_H
#define GETP_FAULTS_H

#include "../src/generate.h"

/* True when GETP_INJECT_FAULT is what@rank. */
int fault_injected(const char *what, int rank);

/* kill@R's GenProgress: raises SIGKILL when the first request finishes. */
void fault_kill_self(void *ctx, int done, int total, const GenStats *stats);

#endif
