// kv_cache.hip - the KV cache: a ring per slot for each sliding layer, and
// for the full layers a pool of pages that slots hold only once reserved
// (backend.h's reserve; the books are src/kv_pages.h's), so that the pool
// bounds the positions held rather than slots x context. Also the copy of
// one slot's first positions to another (copy_prefix). step_types.h's
// LayerCache says where a position lives.
#include <limits.h>

#include "early_start.h"
#include "hip_state.h"

/* Positions a sliding layer keeps per slot: the window plus the most one
 * call can add to a slot (so a call never overwrites a position one of its
 * own rows still needs), or the context if that is less. */
static int sliding_ring(const ModelConfig *c, int ctx, int slot_rows) {
    long ring = (long)c->sliding_window + slot_rows;
    return ring < ctx ? (int)ring : ctx;
}

/* Bytes of keys and values: per slot (the sliding layers' rings) and per
 * pooled position (one in every full layer). */
static void kv_sizes(const ModelConfig *c, int ctx, int slot_rows, size_t *slot_bytes, size_t *position_bytes) {
    size_t row = (size_t)c->n_kv_heads * c->head_dim * 2 * sizeof(float);
    *slot_bytes = *position_bytes = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        if (c->layer_sliding[l]) *slot_bytes += (size_t)sliding_ring(c, ctx, slot_rows) * row;
        else *position_bytes += row;
    }
}

extern "C" size_t hip_kv_cache_bytes(const ModelConfig *c, int max_slots, int max_context, long positions) {
    if ((uint32_t)max_context > c->max_context) max_context = (int)c->max_context; /* as the backend's creation */
    size_t slot_bytes, position_bytes;
    const int rows = MAX_ROWS_SETTING();
    kv_sizes(c, max_context, slot_rows_for(rows > 0 ? rows : MAX_ROWS), &slot_bytes, &position_bytes);
    /* kv_cache_alloc's pool: at least one whole context, at most every slot's */
    long per_slot = (max_context + KV_PAGE - 1) / KV_PAGE, pages = (positions + KV_PAGE - 1) / KV_PAGE;
    if (pages < per_slot) pages = per_slot;
    if (pages > per_slot * max_slots) pages = per_slot * max_slots;
    return slot_bytes * (size_t)max_slots + position_bytes * (size_t)pages * KV_PAGE;
}

/* A slot's page ids (the books' row) into the device page table, in
 * launches that carry the ids as their argument: each is ordered on the
 * stream after the calls submitted before it, and the host's buffer is
 * free at once. */
#define PAGE_IDS_PER_LAUNCH 256
struct PageIds {
    int n, id[PAGE_IDS_PER_LAUNCH];
};
__global__ void set_page_ids_kernel(int *table, PageIds ids) {
    for (int i = (int)threadIdx.x; i < ids.n; i += (int)blockDim.x) table[i] = ids.id[i];
}

static int upload_slot_pages(HipState *s, int slot, Error *err) {
    const KvPages *kp = &s->pages;
    const int *row = kp->table + (size_t)slot * kp->pages_per_slot;
    for (int at = 0; at < kp->held[slot]; at += PAGE_IDS_PER_LAUNCH) {
        PageIds ids;
        ids.n = kp->held[slot] - at < PAGE_IDS_PER_LAUNCH ? kp->held[slot] - at : PAGE_IDS_PER_LAUNCH;
        memcpy(ids.id, row + at, (size_t)ids.n * sizeof(int));
        launch_plain(set_page_ids_kernel, dim3(1), dim3(PAGE_IDS_PER_LAUNCH), s->stream, s->d_pages + (size_t)slot * kp->pages_per_slot + at, ids);
        CHECK_LAUNCH(err);
    }
    return 0;
}

int kv_cache_alloc(HipState *s, Backend *b, size_t budget, Error *err) {
    const ModelConfig *c = &s->c;
    const int ctx = b->max_context, pages_per_slot = (ctx + KV_PAGE - 1) / KV_PAGE;
    size_t slot_bytes, position_bytes;
    kv_sizes(c, ctx, s->max_slot_rows, &slot_bytes, &position_bytes);
    if (budget == 0) {
        size_t free_b = 0, total_b = 0;
        CHECK(hipMemGetInfo(&free_b, &total_b), err);
        size_t reserve = (size_t)1 << 30;
        if (total_b / 20 > reserve) reserve = total_b / 20;
        budget = free_b > reserve ? free_b - reserve : 0;
    }
    const size_t one_sequence = slot_bytes + position_bytes * pages_per_slot * KV_PAGE;
    if (budget < one_sequence)
        return error_set(err, "hip backend: one sequence of %d positions needs %.1f MiB of KV cache, only %.1f MiB available (lower --ctx, or set --kv-mem)",
                         ctx, one_sequence / 1048576.0, budget / 1048576.0);
    /* every slot its rings; the rest to the pool, which needs no more than every slot's whole context */
    if (slot_bytes && (size_t)b->max_slots > (budget - position_bytes * pages_per_slot * KV_PAGE) / slot_bytes)
        b->max_slots = (int)((budget - position_bytes * pages_per_slot * KV_PAGE) / slot_bytes);
    long n_pages = (long)pages_per_slot * b->max_slots;
    if (position_bytes) {
        size_t fit = (budget - slot_bytes * b->max_slots) / (position_bytes * KV_PAGE);
        if ((size_t)n_pages > fit) n_pages = (long)fit;
    }
    if (n_pages > INT_MAX / KV_PAGE) n_pages = INT_MAX / KV_PAGE;
    s->kv_bytes = slot_bytes * b->max_slots + position_bytes * (size_t)n_pages * KV_PAGE;
    b->kv_positions = n_pages * KV_PAGE;
    if (kv_pages_init(&s->pages, KV_PAGE, (int)n_pages, b->max_slots, ctx) != 0)
        return error_set(err, "hip backend: cannot keep the books of %ld KV pages for %d slots", n_pages, b->max_slots);
    if (device_alloc(&s->kv, s->kv_bytes, err) || device_alloc(&s->d_pages, (size_t)b->max_slots * pages_per_slot * sizeof(int), err)) return -1;
    float *at = s->kv;
    const size_t kvd = (size_t)c->n_kv_heads * c->head_dim;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        LayerCache *lc = &s->layers[l].cache;
        size_t entries = (size_t)n_pages * KV_PAGE;
        *lc = LayerCache{};
        if (c->layer_sliding[l]) {
            lc->ring = sliding_ring(c, ctx, s->max_slot_rows);
            lc->window = (int)c->sliding_window;
            entries = (size_t)b->max_slots * lc->ring;
        } else {
            lc->pages = s->d_pages;
            lc->pages_per_slot = pages_per_slot;
        }
        lc->k = at;
        lc->v = at + entries * kvd;
        at += 2 * entries * kvd;
    }
    LayerCache *full = (LayerCache *)xcalloc(c->n_layers, sizeof *full);
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (s->layers[l].cache.pages) full[s->n_full_layers++] = s->layers[l].cache;
    int rc = device_alloc(&s->d_full_caches, c->n_layers * sizeof *full, err);
    hipError_t e = rc ? hipSuccess : hipMemcpy(s->d_full_caches, full, s->n_full_layers * sizeof *full, hipMemcpyHostToDevice);
    free(full);
    if (rc) return -1;
    if (e != hipSuccess) return error_set(err, "hip: copying the KV cache's layout failed: %s", hipGetErrorString(e));
    /* as the CPU backend: each slot holds its whole context while the pool
     * lasts; the table goes to the device in one copy (rows past a slot's
     * pages are never read) */
    int slot = 0;
    while (slot < b->max_slots && kv_pages_reserve(&s->pages, slot, ctx) == 0) slot++;
    CHECK(hipMemcpy(s->d_pages, s->pages.table, (size_t)b->max_slots * pages_per_slot * sizeof(int), hipMemcpyHostToDevice), err);
    return 0;
}

void kv_cache_free(HipState *s) {
    kv_pages_free(&s->pages);
    if (s->d_pages) (void)hipFree(s->d_pages);
    if (s->d_full_caches) (void)hipFree(s->d_full_caches);
}

/* backend.h's reserve. The rows of calls in flight read the table as it
 * was when they were submitted: the new row is written after them. */
int kv_cache_reserve(Backend *b, int slot, int n, Error *err) {
    HipState *s = (HipState *)b->impl;
    int rc = kv_pages_reserve(&s->pages, slot, n);
    if (rc < 0)
        return error_set(err, "hip backend: cannot reserve %d positions for slot %d (%d slots of %d positions)", n, slot, b->max_slots,
                         b->max_context);
    if (rc == 0 && upload_slot_pages(s, slot, err)) return -1;
    return rc;
}

int kv_cache_holds(const HipState *s, int slot, int pos) { return kv_pages_entry(&s->pages, slot, pos) >= 0; }

/* Positions [0, n) of the full layers' pages of slot src into those of dst,
 * one block per (position, layer), by the device's page table (so after
 * the reserves before it). */
__global__ void copy_pages_kernel(const LayerCache *full_caches, int dst, int src, int kvd) {
    const LayerCache c = full_caches[blockIdx.y];
    const int pos = (int)blockIdx.x;
    const size_t to = kv_entry(c, dst, pos) * kvd, from = kv_entry(c, src, pos) * kvd;
    for (int i = (int)threadIdx.x; i < kvd; i += (int)blockDim.x) c.k[to + i] = c.k[from + i], c.v[to + i] = c.v[from + i];
}

/* backend.h's copy_prefix: positions [0, n) of slot dst made those of slot
 * src, on the backend's stream (after the calls submitted before it,
 * before those after). Full layers copy by pages. In a sliding layer
 * position p lives at entry p % ring, so [0, n) is in the first min(n, ring)
 * entries: when the ring is shorter than n, the whole ring, which holds the
 * last `ring` positions before n. Were src already past n, its later
 * positions come along in the entries of positions one ring earlier; dst
 * rewrites those entries before it reads them as long as src is at most
 * max_slot_rows positions past n (ring = window + max_slot_rows: what was
 * lost lies outside every later window). The decode loop copies n = prompt
 * length - 1 from a slot at most max_slot_rows past it. */
int kv_cache_copy_prefix(Backend *b, int dst, int src, int n, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (dst < 0 || src < 0 || dst >= b->max_slots || src >= b->max_slots || n < 0 || n > b->max_context)
        return error_set(err, "hip backend: copy of %d positions from slot %d to slot %d is out of range (%d slots of %d positions)", n, src, dst,
                         b->max_slots, b->max_context);
    if (n > kv_pages_positions(&s->pages, dst) || n > kv_pages_positions(&s->pages, src))
        return error_set(err, "hip backend: copy of %d positions from slot %d (holding %d) to slot %d (holding %d)", n, src,
                         kv_pages_positions(&s->pages, src), dst, kv_pages_positions(&s->pages, dst));
    if (dst == src || n == 0) return 0; /* the copies follow the calls in flight on the stream */
    const int kvd = (int)(s->c.n_kv_heads * s->c.head_dim);
    for (uint32_t l = 0; l < s->c.n_layers; l++) {
        const LayerCache *lc = &s->layers[l].cache;
        if (lc->pages) continue;
        size_t slot_floats = (size_t)lc->ring * kvd, bytes = (size_t)(n < lc->ring ? n : lc->ring) * kvd * sizeof(float);
        CHECK(hipMemcpyAsync(lc->k + dst * slot_floats, lc->k + src * slot_floats, bytes, hipMemcpyDeviceToDevice, s->stream), err);
        CHECK(hipMemcpyAsync(lc->v + dst * slot_floats, lc->v + src * slot_floats, bytes, hipMemcpyDeviceToDevice, s->stream), err);
    }
    if (s->n_full_layers) {
        launch_plain(copy_pages_kernel, dim3(n, s->n_full_layers), dim3(256), s->stream, s->d_full_caches, dst, src, kvd);
        CHECK_LAUNCH(err);
    }
    return 0;
}
