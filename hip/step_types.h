/* step_types.h - what one forward call hands its kernels: the rows (slot,
 * position, token, logits row) and each layer's KV cache. */
#ifndef GETP_HIP_STEP_TYPES_H
#define GETP_HIP_STEP_TYPES_H

#include "hip_compat.h"

#define DECODE_ROWS 8         /* steps of up to this many rows are latency-bound: one token tile, prefetches, weights before the wait */

/* k ranges of the down matmul, summed in order by the combine, at every
 * batch size. One range left its blocks (4 experts x 45 at batch 1) on the
 * multiprocessors gate_up's blocks leave first, 3 each on ~80 of 132; two
 * fill them (H100, batch 1: down 31.6 -> 26.3 us, 306 -> 312 tok/s).
 * -DDOWN_SPLITS=N builds another count (bench/gpu_checkup.sh onetile: ds3,
 * ds4); every path sums the same ranges in the same order. */
#ifndef DOWN_SPLITS
#define DOWN_SPLITS 2
#endif

/* At decode-sized steps a row's router (moe_route.h) is spread over blocks
 * of this many experts each, each block summing o and norming the row for
 * itself, the last to finish going on with all the logits: one block read
 * all E rows of the router through one multiprocessor (120b: 128 x 2880 x
 * 2 bytes, 12 us at batch 1), while the handover costs about a
 * microsecond (20b's 32 experts stay in one block; ledger L194). 0: one
 * block a row at every step. GETP_ROUTER_BLOCK_EXPERTS sets it for a run. */
#ifndef ROUTER_BLOCK_EXPERTS
#define ROUTER_BLOCK_EXPERTS 32
#endif

/* One block per token row. At batch 1 the whole step waits on these blocks,
 * so each thread issues all its loads at once and keeps its part of the row
 * in registers (ROW_GROUPS float4s: hidden <= ROW_MAX_HIDDEN).
 * 256 or 1024 threads measured the same for embed and combine. */
#define ROW_THREADS 256
#define ROW_GROUPS 4
#define ROW_MAX_HIDDEN (4 * ROW_GROUPS * ROW_THREADS) /* the host refuses larger models */

/* Whether a kernel launched with one block (column) per row runs a
 * decode-sized step (see DECODE_ROWS). */
__device__ inline bool decode_sized_step() { return gridDim.x <= DECODE_ROWS; }

/* What the host sends for each row of a step. */
struct StepRows {
    const int *slot, *pos, *token; /* token TOKEN_OF_PREVIOUS(j) (-1 - j): fed_back[j] */
    const int *out_row;            /* row of the logits output, or -1 */
    const int *fed_back;           /* the tokens the previous call sampled */
};

#define KV_PAGE 16 /* positions in a page of a full layer's KV cache */

/* The KV cache of one layer: keys and values, [entry][kv_dim] each. Full
 * layers are paged: position p of a slot is entry pages[slot][p / KV_PAGE]
 * x KV_PAGE + p % KV_PAGE of a pool all slots share (the host keeps the
 * books in src/kv_pages.h and sends a slot's row of the table when it
 * reserves). Sliding layers keep a ring per slot of the window plus the most
 * positions one call may add: position p at entry slot x ring + p % ring. */
struct LayerCache {
    float *k, *v;
    int ring, window;   /* sliding layers; window 0: full attention */
    const int *pages;   /* full layers: [slot][pages_per_slot] page ids */
    int pages_per_slot;
};

__device__ inline size_t kv_entry(const LayerCache &c, int slot, int pos) {
    if (c.pages) return (size_t)c.pages[(size_t)slot * c.pages_per_slot + pos / KV_PAGE] * KV_PAGE + (size_t)(pos % KV_PAGE);
    return (size_t)slot * c.ring + (size_t)(pos % c.ring);
}

#endif
