#include "replica.h"

#include <stdio.h>
#include <string.h>

#include "binding.h"
#include "faults.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Picks this rank's GPU (its node-local index) and binds it near that GPU,
 * or to its share of the node's cores. Returns the number of GPUs. */
static int bind_here(Replica *r, const MpiOptions *mo, const RankPlace *p) {
    Options *o = &r->opts;
    int cores = 0, gpus = strcmp(o->backend, "cpu") ? hip_device_count() : 0;
    char bus[32], *bus_id = NULL;
    if (gpus > 0) {
        o->device = p->local_rank % gpus;
        if (hip_device_pci_bus_id(o->device, bus, sizeof bus) == 0) bus_id = bus;
    }
    if (mo->no_bind) snprintf(r->info.binding, sizeof r->info.binding, "unbound (--no-bind)");
    else cores = bind_rank(p->local_rank, p->local_size, bus_id, r->info.binding, sizeof r->info.binding);
#ifdef _OPENMP
    if (!o->threads) o->threads = cores > 0 ? cores : (omp_get_num_procs() / p->local_size > 0 ? omp_get_num_procs() / p->local_size : 1);
#else
    (void)cores;
#endif
    return gpus;
}

/* Opens the model and makes the backend, its weights coming as gl says. */
static int load_here(Replica *r, GpuLoad *gl, const GenRequest *reqs, int n_requests, int rank, Error *err) {
    const Options *o = &r->opts;
    if (fault_injected("load", rank))
        return error_set(err, "%s: injected model load failure (GETP_INJECT_FAULT)", o->model_path ? o->model_path : o->dummy_weights);
    if (app_open_model(o, &r->model, err) != 0) return -1;
    int context = app_backend_context(o, &r->model.config, reqs, n_requests);
    r->be = app_create_backend(o, &r->model, o->batch < n_requests ? o->batch : n_requests, context, gl, err);
    if (!r->be) return -1;
    ReplicaInfo *info = &r->info;
    if (!strcmp(r->be->ops->name, "cpu")) snprintf(info->device, sizeof info->device, "cpu (%d threads)", o->threads);
    else snprintf(info->device, sizeof info->device, "%s gpu %d%s", r->be->ops->name, o->device,
                  o->precision == PRECISION_BF16_EXPERTS ? " (bf16 experts)" : "");
    if (gl->used[0]) {
        snprintf(info->load_method, sizeof info->load_method, "%s", gl->used);
        info->weights_bytes = (double)gl->bytes, info->weights_s = gl->seconds;
    }
    return 0;
}

/* What the node's first replica tells the others: where its weights are. */
typedef struct {
    int ok, device;
    unsigned char handle[WEIGHTS_HANDLE_BYTES];
} PeerWeights;

int replica_load(Replica *r, const Options *o, const MpiOptions *mo, const RankPlace *p, const GenRequest *reqs, int n_requests, Error *err) {
    memset(r, 0, sizeof *r);
    r->opts = *o;
    snprintf(r->info.device, sizeof r->info.device, "idle");
    snprintf(r->info.load_method, sizeof r->info.load_method, "-");
    int gpus = bind_here(r, mo, p);
    GpuLoad gl;
    memset(&gl, 0, sizeof gl);
    gl.method = LOAD_HOST;
    gl.refuse_peer = fault_injected("refuse-peer", p->rank);
    int peer_fed = gpus > 0 && p->local_size > 1 && mo->load != LOAD_HOST && !o->dummy_weights;
    int leader = peer_fed && p->local_rank == 0, failed = 0;
    /* Phase 1: the node's first GPU rank, from the host. */
    if (leader && n_requests > 0) failed = load_here(r, &gl, reqs, n_requests, p->rank, err) != 0;
    if (peer_fed) {
        PeerWeights peer = {0, 0, {0}};
        if (leader && r->be && strcmp(r->be->ops->name, "cpu") != 0) /* a failed export leaves the others on the host path */
            peer.ok = hip_backend_export_weights(r->be, peer.handle, err) == 0, peer.device = r->opts.device;
        MPI_Bcast(&peer, (int)sizeof peer, MPI_BYTE, 0, p->node);
        if (!leader && peer.ok) {
            gl.method = LOAD_PEER, gl.peer_device = peer.device;
            memcpy(gl.peer_handle, peer.handle, sizeof gl.peer_handle);
        }
    }
    /* Phase 2: every other rank, from the leader's GPU where it has the weights, else from the host. */
    if (!leader && n_requests > 0) failed = load_here(r, &gl, reqs, n_requests, p->rank, err) != 0;
    return failed ? -1 : 0;
}
