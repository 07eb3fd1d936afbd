/* backend.h - the interface between the decode loop and whatever device runs
 * the gpt-oss forward pass (the CPU reference in cpu_backend.c, the GPU in
 * hip/). The decode loop only ever sees this.
 *
 * A backend owns `max_slots` KV caches of `max_context` positions each. One
 * forward call processes a batch of rows; each row is one token of one
 * sequence (slot) at one position. Rows of the same slot must appear in
 * increasing position order and start where the slot's previous call ended
 * (or at 0 for a new sequence, which simply overwrites the old cache).
 * Prefill is many rows of one slot; a decode step is one row per active slot;
 * both may be mixed in one call. */
#ifndef GETP_BACKEND_H
#define GETP_BACKEND_H

#include "model.h"
#include "sampler.h"

typedef struct {
    int slot;
    int pos;
    int token;
    int want_logits; /* 1: this row's logits are returned */
} BatchRow;

/* A row token that the device feeds back itself (see submit_sample). */
#define TOKEN_OF_PREVIOUS(j) (-1 - (j))

typedef struct Backend Backend;

/* The arithmetic of the experts' matmuls (--precision). EXACT: their
 * activations enter with about 16 mantissa bits (the GPU multiplies a bf16
 * hi and lo part), so every backend stays within 1e-4 of the CPU's F32.
 * BF16_EXPERTS: the experts' activations (post-attention's normed rows,
 * gate_up's SwiGLU output) are rounded to bf16 first, as production
 * engines feed their tensor cores; the weights and every other matmul are
 * as in EXACT. Each backend rounds the same values the same way, so the CPU
 * stays the oracle of the GPU in either. */
typedef enum { PRECISION_EXACT = 0, PRECISION_BF16_EXPERTS } Precision;

typedef struct {
    const char *name;
    /* The call path of the decode loop. submit_sample enqueues a forward call
     * and returns; it samples each want_logits row j with spec[j], exactly as
     * src/sampler.h defines it. collect_sample waits for the oldest call not
     * yet collected and gives its tokens (tokens[j] for want_logits row j).
     * At most two calls are outstanding, so the host builds and enqueues the
     * next decode step while the device still runs the current one (at batch
     * 1 the host's turn between steps is otherwise device time lost). A row
     * whose token is TOKEN_OF_PREVIOUS(j) takes the token that the call
     * submitted just before it sampled for its want_logits row j. A backend
     * that computes in the caller's thread does it all in submit
     * (src/sync_calls.h). */
    int (*submit_sample)(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, Error *err);
    int (*collect_sample)(Backend *b, int *tokens, TokenLogprobs *logprobs, Error *err);
    /* For tests and tools: the logits, [rows with want_logits, vocab] in row
     * order; needs no call outstanding. */
    int (*forward)(Backend *b, const BatchRow *rows, int n_rows, float *logits, Error *err);
    /* Optional (NULL: the decode loop prefills each choice itself): makes
     * positions [0, n_positions) of slot dst's cache those of slot src, as
     * if dst had computed them; ordered after every call submitted before
     * it (which may still be in flight) and before every call after it.
     * Needs src at most max_slot_rows positions past n_positions (a
     * sliding layer may keep only its window and max_slot_rows positions
     * more). */
    int (*copy_prefix)(Backend *b, int dst_slot, int src_slot, int n_positions, Error *err);
    /* Optional (NULL: every slot always holds max_context positions): a
     * paged KV cache, whose slots hold positions only once reserved. Gives
     * back what slot held, then makes it hold positions [0, n_positions)
     * (0: none). Returns 0; 1 when the cache has too little room free now
     * (the slot then holds none); -1 with err. What the slot gave back
     * may go to another slot at once, while a call in flight still has
     * rows of the slot's old request (dropped once collected): a backend
     * must place each row by the pages its slot held when the call was
     * submitted, and run calls in order, so that those rows write before
     * any later call's rows write the same pages (the CPU backend computes
     * at submit). */
    int (*reserve)(Backend *b, int slot, int n_positions, Error *err);
    void (*destroy)(Backend *b);
    /* Optional (NULL: EXACT only): sets the arithmetic of the calls to come
     * (EXACT until set); before the first call. */
    int (*set_precision)(Backend *b, Precision p, Error *err);
} BackendOps;

struct Backend {
    const BackendOps *ops;
    const Model *model;
    int max_slots;
    int max_context;
    int max_rows;      /* most rows one forward call accepts */
    int max_slot_rows; /* most positions of one slot in one call (a prompt's chunk), at most max_rows: the first and last of
                          a slot's rows in a call are less than max_slot_rows apart */
    long kv_positions; /* positions the KV cache holds in all (paged: what reserve shares out) */
    char info[200]; /* the device, its sizing and precision, for reports */
    void *impl;
};

static inline int backend_forward(Backend *b, const BatchRow *rows, int n_rows, float *logits, Error *err) {
    return b->ops->forward(b, rows, n_rows, logits, err);
}
static inline int backend_submit(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, Error *err) {
    return b->ops->submit_sample(b, rows, n_rows, spec, err);
}
static inline int backend_collect(Backend *b, int *tokens, Error *err) { return b->ops->collect_sample(b, tokens, NULL, err); }
static inline int backend_collect_logprobs(Backend *b, int *tokens, TokenLogprobs *logprobs, Error *err) {
    return b->ops->collect_sample(b, tokens, logprobs, err);
}
/* One call at a time: submit, then collect its tokens. */
static inline int backend_sample(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, int *tokens, Error *err) {
    return backend_submit(b, rows, n_rows, spec, err) != 0 ? -1 : backend_collect(b, tokens, err);
}
static inline int backend_sample_logprobs(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, int *tokens,
                                          TokenLogprobs *logprobs, Error *err) {
    return backend_submit(b, rows, n_rows, spec, err) != 0 ? -1 : backend_collect_logprobs(b, tokens, logprobs, err);
}
static inline int backend_set_precision(Backend *b, Precision p, Error *err) {
    if (b->ops->set_precision) return b->ops->set_precision(b, p, err);
    return p == PRECISION_EXACT ? 0 : error_set(err, "backend %s computes exactly only (no --precision bf16)", b->ops->name);
}
static inline void backend_destroy(Backend *b) {
    if (b) b->ops->destroy(b);
}

/* The CPU reference backend. n_threads <= 0 uses OpenMP's default. Its
 * KV cache is paged (reserve): kv_positions in all (0: every slot's whole
 * context), and each slot holds its whole context from the start while
 * they last. */
Backend *backend_cpu_create(const Model *m, int max_slots, int max_context, int n_threads, long kv_positions, Error *err);

/* How a GPU backend gets its weights (issue 7). HOST: from the mapped model
 * file, staged through pinned buffers in large asynchronous copies (with
 * GETP_LOAD_PIN=1 the mapping is registered in place instead). PEER: copied from
 * another GPU's replica on this node (its handle from
 * hip_backend_export_weights, opened through IPC), falling back to HOST
 * where peer access is not possible. The backend fills in what it did. */
typedef enum { LOAD_AUTO = 0, LOAD_HOST, LOAD_PEER } LoadMethod;
#define WEIGHTS_HANDLE_BYTES 64
typedef struct {
    LoadMethod method;
    unsigned char peer_handle[WEIGHTS_HANDLE_BYTES];
    int peer_device;      /* the GPU holding the peer replica */
    int refuse_peer;      /* tests: behave as if peer access were refused */
    char used[160];       /* out: "host (file pinned in place)", "peer from GPU 0", ... */
    size_t bytes;         /* out */
    double seconds;       /* out: weights to device memory */
} GpuLoad;

/* The GPU backend (hip/) on GPU `device`, or NULL with err when this build
 * has none or no such device is present (src/no_gpu.c stands in for builds
 * without HIP). The KV cache takes kv_bytes (0: most of the free memory);
 * when fewer than max_slots sequences fit, the backend's max_slots says how
 * many did. load may be NULL (host path). */
Backend *hip_backend_create_if_available(const Model *m, int max_slots, int max_context, int device, size_t kv_bytes, GpuLoad *load,
                                         Error *err);
/* The kv_bytes for which the GPU backend's KV cache holds `positions` (in
 * all, shared out by reserve; rounded up to pages, at least one whole
 * context, at most every slot's) for max_slots slots of max_context; 0 in
 * builds without HIP. */
size_t hip_kv_cache_bytes(const ModelConfig *c, int max_slots, int max_context, long positions);
/* The IPC handle of the backend's device weights, for peers on this node. */
int hip_backend_export_weights(Backend *b, unsigned char handle[WEIGHTS_HANDLE_BYTES], Error *err);
/* Number of GPUs this build can use (0 without HIP), and the PCI bus id
 * ("0000:3b:00.0") of one, for binding a rank near it; -1 if unknown. */
int hip_device_count(void);
int hip_device_pci_bus_id(int device, char *buf, int len);


#endif
