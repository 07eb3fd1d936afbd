/* replica.h - this rank's copy of the model, ready to generate: the rank
 * bound to the cores nearest its GPU, the model opened, the backend made.
 *
 * Each rank of a node drives the GPU of its node-local index. With --load
 * auto or peer and several GPU ranks on a node, the replicas are peer-fed:
 * in a first phase the node's local rank 0 loads from the host and exports
 * its device weights; in the second, after a broadcast over the node, the
 * others copy those weights GPU to GPU (the backend falls back to the host
 * where it cannot). Every rank of the node takes part in that broadcast,
 * even one with no requests, which loads nothing. */
#ifndef GETP_REPLICA_H
#define GETP_REPLICA_H

#include "../src/app.h"
#include "mpi_options.h"
#include "place.h"

/* How this rank runs, for the report. */
typedef struct {
    char device[64];       /* "hip gpu 1", "cpu (4 threads)", or "idle" */
    char binding[96];      /* the cores it is bound to, or why it is not */
    char load_method[160]; /* how the weights reached the GPU; "-" without a GPU load */
    double weights_bytes;  /* the weights' trip to the GPU: bytes and seconds */
    double weights_s;
} ReplicaInfo;

/* The replica lives until the process ends, which frees it (host and
 * device memory alike). */
typedef struct {
    Options opts; /* the run's options, with this rank's GPU and thread count */
    Model model;
    Backend *be;  /* NULL on an idle rank */
    ReplicaInfo info;
} Replica;

/* Collective over p->node. reqs[0..n_requests): this rank's share (the
 * backend's context is what they need); with none it only binds. Returns
 * 0, or -1 with err. */
int replica_load(Replica *r, const Options *o, const MpiOptions *mo, const RankPlace *p, const GenRequest *reqs, int n_requests, Error *err);

#endif
