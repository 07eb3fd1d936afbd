#include "place.h"

#include <stdio.h>

void place_find(RankPlace *p) {
    MPI_Comm_rank(MPI_COMM_WORLD, &p->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p->size);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, p->rank, MPI_INFO_NULL, &p->node);
    MPI_Comm_rank(p->node, &p->local_rank);
    MPI_Comm_size(p->node, &p->local_size);
    char host[MPI_MAX_PROCESSOR_NAME];
    int len;
    MPI_Get_processor_name(host, &len);
    snprintf(p->host, sizeof p->host, "%.*s", len, host);
}
