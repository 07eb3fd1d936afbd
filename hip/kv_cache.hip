// kv_cache.hip - the KV cache: every layer's keys and values for each slot,
// as many slots as fit the budget (--kv-mem, or most of the free memory).
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
