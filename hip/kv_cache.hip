// kv_cache.hip - the KV cache: every layer's keys and values for each slot,
// as many slots as fit the budget (--kv-mem, or most of the free memory),
// and the copy of one slot's first positions to another (copy_prefix).
#include "hip_state.h"

/* Positions a layer keeps per slot: all of them, or for sliding layers the
 * window plus the most one call can add (so a call never overwrites a
 * position one of its own rows still needs). */
static int layer_ring(const ModelConfig *c, int l, int ctx) {
    if (!c->layer_sliding[l]) return ctx;
    long ring = (long)c->sliding_window + MAX_ROWS;
    return ring < ctx ? (int)ring : ctx;
}

int kv_cache_alloc(HipState *s, Backend *b, size_t budget, Error *err) {
    const ModelConfig *c = &s->c;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, per_slot = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) per_slot += (size_t)layer_ring(c, l, b->max_context) * kvd * 2 * sizeof(float);
    if (budget == 0) {
        size_t free_b = 0, total_b = 0;
        CHECK(hipMemGetInfo(&free_b, &total_b), err);
        size_t reserve = (size_t)1 << 30;
        if (total_b / 20 > reserve) reserve = total_b / 20;
        budget = free_b > reserve ? free_b - reserve : 0;
    }
    size_t fit = budget / per_slot;
    if (fit < 1)
        return error_set(err, "hip backend: one sequence of %d positions needs %.2f GiB of KV cache, only %.2f GiB available (lower --ctx, or set --kv-mem)",
                         b->max_context, per_slot / 1073741824.0, budget / 1073741824.0);
    if ((size_t)b->max_slots > fit) b->max_slots = (int)fit;
    s->kv_bytes = per_slot * b->max_slots;
    b->kv_positions = (long)b->max_slots * b->max_context; /* not paged: each slot holds its context */
    if (device_alloc(&s->kv, s->kv_bytes, err)) return -1;
    float *at = s->kv;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        LayerCache *lc = &s->layers[l].cache;
        lc->ring = layer_ring(c, l, b->max_context);
        lc->window = c->layer_sliding[l] ? (int)c->sliding_window : 0;
        size_t n = (size_t)b->max_slots * lc->ring * kvd;
        lc->k = at;
        lc->v = at + n;
        at += 2 * n;
    }
    return 0;
}

/* backend.h's copy_prefix: positions [0, n) of slot dst made those of slot
 * src, one device-to-device copy per layer for the keys and one for the
 * values, on the backend's stream (after the calls submitted before it,
 * before those after). Position p lives at entry p % ring, so [0, n) is in
 * the first min(n, ring) entries: in a sliding layer whose ring is shorter
 * than n, the whole ring, which holds the last `ring` positions before n.
 * Were src already past n, its later positions come along in the entries
 * of positions one ring earlier; dst rewrites those entries before it reads
 * them as long as src is at most MAX_ROWS positions past n (ring = window +
 * MAX_ROWS: what was lost lies outside every later window). The decode
 * loop copies n = prompt length - 1 from a slot at most MAX_ROWS past it. */
int kv_cache_copy_prefix(Backend *b, int dst, int src, int n, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (dst < 0 || src < 0 || dst >= b->max_slots || src >= b->max_slots || n < 0 || n > b->max_context)
        return error_set(err, "hip backend: copy of %d positions from slot %d to slot %d is out of range (%d slots of %d positions)", n, src, dst,
                         b->max_slots, b->max_context);
    if (dst == src || n == 0) return 0; /* the copies follow the calls in flight on the stream */
    const size_t kvd = (size_t)s->c.n_kv_heads * s->c.head_dim;
    for (uint32_t l = 0; l < s->c.n_layers; l++) {
        const LayerCache *lc = &s->layers[l].cache;
        size_t slot_floats = (size_t)lc->ring * kvd, bytes = (size_t)(n < lc->ring ? n : lc->ring) * kvd * sizeof(float);
        CHECK(hipMemcpyAsync(lc->k + dst * slot_floats, lc->k + src * slot_floats, bytes, hipMemcpyDeviceToDevice, s->stream), err);
        CHECK(hipMemcpyAsync(lc->v + dst * slot_floats, lc->v + src * slot_floats, bytes, hipMemcpyDeviceToDevice, s->stream), err);
    }
    return 0;
}
