/* place.h - where this rank sits: its rank among all of the job's, and among
 * the ranks of its node, whose position picks its GPU and its cores. */
#ifndef GETP_PLACE_H
#define GETP_PLACE_H

#include <mpi.h>

typedef struct {
    int rank, size;             /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* among the ranks of this node */
    MPI_Comm node;              /* the ranks of this node (shared memory) */
    char host[64];
} RankPlace;

/* Collective (splits MPI_COMM_WORLD by node). */
void place_find(RankPlace *p);

#endif
