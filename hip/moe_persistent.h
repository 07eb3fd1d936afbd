/* moe_persistent.h - the experts' half of a decode-sized layer (gate_up,
 * down, the combine) as one persistent kernel (issue 25): every block is
 * resident at once and takes work items in one global order, waiting on
 * counters where the multi-kernel path waits for a kernel to end.
 *
 * Items, in order: gate_up's blocks of each expert with work (the z-th of
 * routing's records), down's blocks of each z, the combine of each row.
 * Item i goes to block i mod gridDim.x, which takes its items in
 * increasing order; an item waits
 * only on items before it (down of z on gate_up of z, a row's combine on
 * every down item), so the earliest unfinished item can always go on.
 * Down's items load their weights before they wait, as down's blocks do
 * before their kernel wait: they stream while gate_up ends.
 *
 * Each item is the multi-kernel path's own block of work (matmul_block,
 * combine_row) with the same tiles, splits and sums, so the logits are
 * bit-identical to it (test_gpu's batch-invariance checks compare the two:
 * decode-sized steps take this path, larger ones the kernels).
 * Only MXFP4 experts (the published checkpoints'): ROW_THREADS threads a
 * block for the combine's sums, and their registers leave two blocks a
 * multiprocessor; BF16's weights in flight would not fit in that. */
#ifndef GETP_HIP_MOE_PERSISTENT_H
#define GETP_HIP_MOE_PERSISTENT_H

#include "block_counters.h"
#include "matmul.h"
#include "moe_combine.h"

#define MOE_TAIL_WARPS (ROW_THREADS / WARP) /* a matmul item's warps, each with its row tiles (RowTiles) as in matmul_kernel */

struct MoeTail {
    MatmulJobs gate_up, down; /* one job each, as their kernels have */
    unsigned gate_up_x, down_x; /* blocks along x for one z (row tile groups x splits) */
    int n_z, rows;              /* the grid's z (experts with work at most); the step's rows */
    /* the combine (combine_row's arguments) */
    float *x;
    uint4 *xn;
    const float *expert_out, *topk_w, *norm;
    int K, H;
    float eps;
    const int *out_row;
    int *counters; /* [z]: gate_up items of z done; [n_z]: down items done; [n_z + 1]: items done. Zero between launches */
};

template <int DT, bool TILED, bool FOLD> struct MoeTailShared {
    typedef typename MatmulShape<DT, MM_SWIGLU, 1>::Staging GateUp;
    typedef typename MatmulShape<DT, MM_BIAS, 1>::Staging Down;
    enum { BYTES = sizeof(GateUp) > sizeof(Down) ? sizeof(GateUp) : sizeof(Down) };
    static_assert(BYTES >= 32 * sizeof(float), "the combine's sums fit");
};

template <int DT, bool TILED, bool FOLD>
__global__ void __launch_bounds__(ROW_THREADS, 2) moe_tail_kernel(const MoeTail m) {
    typedef MoeTailShared<DT, TILED, FOLD> Shared;
    DYNAMIC_SHARED(uint4, shared); /* the items' staging, one after another */
    /* the routing and xn are post-attention's (which has ended, unless the
     * launch is chained: GETP_PERSISTENT_MOE=2) */
    wait_prior_kernel();
    /* the next layer's q/k/v blocks may take the multiprocessors that our
     * blocks leave when they run out of items, and load their weights */
    let_next_kernel_start();
    /* items only for the experts that have pairs (routing[0] of n_z): the
     * same count in every block, read after the wait */
    const int n_active = *(const volatile int *)m.gate_up.job[0].routing;
    const int n_gate_up = (int)m.gate_up_x * n_active, n_down = (int)m.down_x * n_active, n_items = n_gate_up + n_down + m.rows;
    int *down_done = m.counters + m.n_z, *items_done = down_done + 1;
    for (int i = blockIdx.x; i < n_items; i += gridDim.x) {
        /* the block tracer records each item as a block of its kernel's kind */
        BLOCK_TRACE(i < n_gate_up ? TK_MATMUL + MM_SWIGLU : i < n_gate_up + n_down ? TK_MATMUL + MM_BIAS : TK_COMBINE);
        int *signal = nullptr;
        if (i < n_gate_up) {
            const unsigned z = i / m.gate_up_x;
            const BlockPlace at = {i % m.gate_up_x, 0, z, m.gate_up_x, 1};
            matmul_block<DT, MM_SWIGLU, 1, TILED, FOLD, 0, MOE_TAIL_WARPS>(m.gate_up, at, CounterGate{nullptr, 0},
                                                                          *reinterpret_cast<typename Shared::GateUp *>(shared));
            signal = m.counters + z;
        } else if (i < n_gate_up + n_down) {
            const unsigned j = i - n_gate_up, z = j / m.down_x;
            const BlockPlace at = {j % m.down_x, 0, z, m.down_x, 1};
            matmul_block<DT, MM_BIAS, 1, TILED, FOLD, 0, MOE_TAIL_WARPS>(m.down, at, CounterGate{m.counters + z, (int)m.gate_up_x},
                                                                        *reinterpret_cast<typename Shared::Down *>(shared));
            signal = down_done;
        } else {
            combine_row<DOWN_SPLITS, 1>(m.x, m.xn, m.expert_out, m.topk_w, m.K, m.H, m.norm, m.eps, m.out_row, i - n_gate_up - n_down, m.rows, true,
                                     CounterGate{down_done, n_down}, (float *)shared);
        }
        item_done(signal, items_done, n_items, m.counters, m.n_z + 2);
    }
}

/* ---- launcher ---- */

/* Whether layer L's experts at a step of T rows take the persistent kernel:
 * GETP_PERSISTENT_MOE=1 (or 2: its launch chained to post-attention's as
 * the kernels' are, so that it hides its launch; on NVIDIA both launch
 * attributes at once, an experiment), a decode-sized step, MXFP4 experts
 * (both tiled or both not, as the kernel's variant assumes). */
static bool moe_tail_applies(const HipState *s, const LayerDev *L, int T) {
    return s->moe_tail_blocks > 0 && T <= DECODE_ROWS && L->gate_up.dtype == DT_MXFP4 && L->down.dtype == DT_MXFP4 &&
           L->gate_up.tiled == L->down.tiled && L->gate_up.small_scales == L->down.small_scales;
}

template <bool TILED, bool FOLD> static const void *moe_tail_variant() { return (const void *)moe_tail_kernel<DT_MXFP4, TILED, FOLD>; }

/* The blocks of a persistent launch: as many as the GPU holds at once of
 * the variant holding fewest (0: the GPU cannot run it; GETP_PERSISTENT_MOE
 * is then refused). */
static int moe_tail_init(HipState *s, Error *err) {
    const void *variants[] = {moe_tail_variant<false, false>(), moe_tail_variant<false, true>(), moe_tail_variant<true, false>(),
                              moe_tail_variant<true, true>()};
    int fewest = 1 << 30;
    for (const void *k : variants) {
        int per_sm = 0;
        CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, ROW_THREADS, MoeTailShared<DT_MXFP4, false, false>::BYTES), err);
        if (per_sm < fewest) fewest = per_sm;
    }
    s->moe_tail_blocks = fewest * s->sm_count;
    if (s->moe_tail_blocks <= 0) return error_set(err, "hip backend: GETP_PERSISTENT_MOE: this GPU cannot hold the persistent kernel's blocks");
    return 0;
}

template <bool TILED, bool FOLD> static hipError_t launch_moe_tail_variant(const HipState *s, int blocks, const MoeTail &m) {
    return launch_cooperative(moe_tail_kernel<DT_MXFP4, TILED, FOLD>, dim3(blocks), dim3(ROW_THREADS), (size_t)MoeTailShared<DT_MXFP4, TILED, FOLD>::BYTES,
                              s->stream, s->persistent_moe == 2, m);
}

/* gate_up, down and the combine of layer l (see launch_gate_up, launch_down,
 * launch_moe_combine: the same jobs). Launched cooperatively, so that all
 * its blocks are resident; it waits for post-attention to end (chained:
 * with wait_prior_kernel). */
static int launch_moe_tail(const HipState *s, int l, StepRows rows, int T, Error *err) {
    const ModelConfig *c = &s->c;
    const LayerDev *L = &s->layers[l];
    MoeTail m;
    memset(&m, 0, sizeof m);
    m.gate_up.job[0] = gate_up_job(s, L, T), m.down.job[0] = down_job(s, L, T);
    m.gate_up.n_jobs = m.down.n_jobs = 1;
    /* blocks along x: row tile groups of MOE_TAIL_WARPS warps (RowTiles' tiles a warp at decode-sized steps) x splits */
    m.gate_up_x = cdiv(expert_row_tiles<MM_SWIGLU>(L->gate_up), MOE_TAIL_WARPS * RowTiles<1, MM_SWIGLU>::MT) * (unsigned)m.gate_up.job[0].splits;
    m.down_x = cdiv(expert_row_tiles<MM_BIAS>(L->down), MOE_TAIL_WARPS * RowTiles<1, MM_BIAS>::MT) * (unsigned)m.down.job[0].splits;
    m.gate_up.blocks[0] = (int)m.gate_up_x, m.down.blocks[0] = (int)m.down_x;
    m.n_z = expert_grid_z(s, T), m.rows = T;
    const int last = l + 1 == (int)c->n_layers;
    m.x = s->x, m.xn = s->xn, m.expert_out = s->expert_out, m.topk_w = s->topk_w, m.K = c->experts_per_token, m.H = c->hidden;
    m.norm = last ? s->final_norm : s->layers[l + 1].attn_norm, m.eps = c->rms_eps, m.out_row = last ? rows.out_row : nullptr;
    m.counters = s->moe_counters;
    const int n_items = (int)(m.gate_up_x + m.down_x) * m.n_z + T, blocks = n_items < s->moe_tail_blocks ? n_items : s->moe_tail_blocks;
    const bool tiled = L->gate_up.tiled, fold = L->gate_up.small_scales;
    CHECK(tiled ? (fold ? launch_moe_tail_variant<true, true>(s, blocks, m) : launch_moe_tail_variant<true, false>(s, blocks, m))
                : (fold ? launch_moe_tail_variant<false, true>(s, blocks, m) : launch_moe_tail_variant<false, false>(s, blocks, m)),
          err);
    return 0;
}

#endif
