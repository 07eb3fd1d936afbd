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

typedef struct Backend Backend;

typedef struct {
    const char *name;
    /* logits: [number of rows with want_logits, vocab], in row order */
    int (*forward)(Backend *b, const BatchRow *rows, int n_rows, float *logits, Error *err);
    /* Optional (NULL: the caller samples the logits on the host): forward,
     * then sample each want_logits row j with spec[j] on the device, exactly
     * as src/sampler.h defines it; tokens[j] receives the id. */
    int (*forward_sample)(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, int *tokens, Error *err);
    void (*destroy)(Backend *b);
} BackendOps;

struct Backend {
    const BackendOps *ops;
    const Model *model;
    int max_slots;
    int max_context;
    int max_rows; /* most rows one forward call accepts */
    char info[160]; /* the device and its sizing, for reports */
    void *impl;
};

static inline int backend_forward(Backend *b, const BatchRow *rows, int n_rows, float *logits, Error *err) {
    return b->ops->forward(b, rows, n_rows, logits, err);
}
static inline void backend_destroy(Backend *b) {
    if (b) b->ops->destroy(b);
}

/* The CPU reference backend. n_threads <= 0 uses OpenMP's default. */
Backend *backend_cpu_create(const Model *m, int max_slots, int max_context, int n_threads, Error *err);

/* The GPU backend (hip/) on GPU `device`, or NULL with err when this build
 * has none or no such device is present (src/no_gpu.c stands in for builds
 * without HIP). The KV cache takes kv_bytes (0: most of the free memory);
 * when fewer than max_slots sequences fit, the backend's max_slots says how
 * many did. */
Backend *hip_backend_create_if_available(const Model *m, int max_slots, int max_context, int device, size_t kv_bytes, Error *err);
/* Number of GPUs this build can use (0 without HIP), and the PCI bus id
 * ("0000:3b:00.0") of one, for binding a rank near it; -1 if unknown. */
int hip_device_count(void);
int hip_device_pci_bus_id(int device, char *buf, int len);

/* RoPE with YaRN as gpt-oss defines it: the inverse frequency of each of the
 * head_dim/2 rotary pairs and the attention concentration that scales cos and
 * sin. Shared so every backend computes identical tables. */
void rope_yarn_tables(const ModelConfig *c, float *inv_freq, float *concentration);

#endif
