/* matmul.h - the one matrix kernel of the GPU backend: out = W x for a list
 * of tokens, W in F32, BF16 or MXFP4, on the tensor cores.
 *
 * A warp computes a 16-row tile of W against up to 8 tokens (decode), or
 * two 16-row tiles against up to 32 tokens (4 tiles of 8), k in chunks.
 * Each lane loads V consecutive weights of its two rows per tile
 * with wide loads; the mma's k positions are assigned so that the lane's
 * own weights meet the x values it loads itself (the sum over k does not
 * care which physical k sits in which slot, as long as A and B agree).
 *
 * Precision: x is split into bf16 hi + lo and both are multiplied (F32
 * weights are split too, adding lo(W) x hi(x)), so products carry ~16
 * mantissa bits and sums are F32: close to the CPU's F32, not bf16-rounded.
 * Determinism: each output's k order is fixed by the matrix shape alone
 * (chunks in order, splits summed in order by the caller), never by the
 * number of tokens or their place in the batch. */
#ifndef GETP_HIP_MATMUL_H
#define GETP_HIP_MATMUL_H

#include "async_copy.h"
#include "early_start.h"
#include "hip_state.h"
#include "matmul_load.h"
#include "step_types.h"
#include "warpgroup_mma.h"

#define MM_WARPS 4            /* warps per block */
#define MM_TOKEN_TILES 4      /* most tiles of 8 tokens per warp (8 measured slower on an H100: less in flight) */
/* A dense matmul's blocks load weights while the kernel before them (the
 * attention, the combine: chains of short dependent steps) still runs.
 * Loads queue in the memory system in order, so 20 MB issued at once make
 * each of that kernel's own reads wait ~7 us behind them; spread over time
 * they still arrive before they are needed (H100, batch 1, the o and q/k/v
 * matmuls: 284 -> 287.5 tok/s at 300-400 ns, 600 ns too slow). */
#define PRELOAD_PACE_NS 350
/* Knobs of the decode-sized path (one token tile), built with -D: the
 * defaults are what is measured best. X_AHEAD_ONE_TILE: x staged one group
 * ahead by async copies, as at several tiles (0: off; 1: the dense
 * matmuls only, the default: batch 4 +1.2%, batch 8 +3.8%, batch 1 level,
 * H100, ledger L177; 2: every matmul, L174: batch 1 -2.5% / -4.2%);
 * MXFP4_DECODE_CHUNKS (below): weight bytes in flight a warp at batch 1
 * (4: 128-131 registers, no spills; batch 1 -1.8%, batch 8 -13%: L176).
 * X_AHEAD_ONE_TILE=1 costs the dense BF16 kernel a 20-byte spill at its
 * 168 cap. bench/gpu_checkup.sh `onetile` compares them. */
#ifndef X_AHEAD_ONE_TILE
#define X_AHEAD_ONE_TILE 1
#endif
/* ONE_TILE_LEAN: at one token tile, fewer instructions a k step and a
 * chunk, the same loads and mmas in the same order: each lane's row
 * addresses worked out once (not a 64-bit product per load), x_hi_only
 * read once, and no token-tile test (one tile always has tokens) between
 * the steps, so that a group's steps form one block the compiler can
 * schedule across (the SASS of batch 1's gate_up had about 33
 * instructions a step, 26 a load, an ISETP + BRA around each step).
 * H100, ledger L179: 20b:mxfp4 batch 1 +18%, batch 8 +11%, 20b batch 1
 * +2.7%. The default since `make test-gpu` passed with it (H100, session
 * 26). With it the opt-in persistent kernel (GETP_PERSISTENT_MOE) spills
 * 28-108 bytes (12-28 without; its speed with it not measured). */
#ifndef ONE_TILE_LEAN
#define ONE_TILE_LEAN 1
#endif
/* Knobs measured slower and removed (ledger; the commit named there has
 * each): ONE_TILE_PREFETCH, each expert lane asking L2 for its rows' bytes
 * at its start (L189, L195); the bulk form of it (L198); RING_X_AHEAD, the
 * ring's x staged a group ahead (L201); ONE_TILE_ROW_TILES, two row tiles
 * a one-tile expert warp (L185); WEIGHT_LOAD_HINT, weight loads without
 * an L1 line (L184, L186); RING_DIAG, diagnostics with wrong sums (L202,
 * L204: without the loop's x copy and its barriers the experts gain 8% at
 * batch 1 and 18% at batch 8; without their DRAM stream, 5%);
 * X_WHOLE_ONE_TILE, a block's x of all its chunks copied into shared memory
 * once (the experts': batch 1 -6%, L183; read at fixed offsets -4.9%, L186;
 * down's alone -0.6%, L192; every matmul's, not timed); X_LANE_DIRECT, the ring's
 * lanes reading their x words for the mmas straight from memory, with no
 * copy and no barrier (batch 1 -10.8%, batch 8 -21.5%; with L1 prefetch
 * hints -11.8% to -14.3% at batch 1: L205). */
/* X_ROWS_ONCE (an experiment's knob, 0 until measured): 1: at one token
 * tile, the rows of x a thread copies into the staging buffer each group are
 * resolved once before the loop. An expert's row is a load of J.pairs, so
 * the loop's copy was two dependent L2 round trips (the row, then x) between
 * two barriers, every group. 2: also each group's x loaded into registers
 * during the group before. The same x: the same sums. */
#ifndef X_ROWS_ONCE
#define X_ROWS_ONCE 0
#endif
/* ONE_TILE_WEIGHT_RING (D = 4 on NVIDIA since L189-L191; 0 on AMD): D > 0:
 * at one token tile each MXFP4 expert lane streams its 16-byte words of
 * the next D chunks through its own slots of a per-warp ring in shared
 * memory (cp.async, a group a chunk; D KB a warp), and the warp's tile's
 * scale bytes (16 rows of k / 32, contiguous) are copied there once at the
 * start. The weights then wait in shared memory, not in registers: D
 * chunks in flight a warp where the registers hold two groups of two
 * (L176: four cost registers), and no barrier for them (a lane reads only
 * what it copied). Where k > 3072, a row tile crosses the matrix's end or
 * the scales are not 16-byte aligned, the block loads into registers as
 * before. The same words and scales enter the same mmas: the same sums.
 * Its dynamic shared memory (D KB + 1.5 KB a warp) is asked for only by
 * launches that can take it (row-major weights, one row tile a warp); with
 * the kernel's static staging (8 KB) it passes the default 48 KB from D = 9,
 * so the launch sets the kernel's limit. H100 (L189-L190): D = 4 gives
 * batch 1 +4.3%, batch 4 and 8 +9%, 120b batch 1 +3%, batch 64 and 256
 * level; D = 2 and 3 are level with the
 * registers, 5, 6 and 8 below 4. On AMD async_copy is a plain copy (the
 * ring would add a trip through LDS, unmeasured), so AMD keeps 0. The
 * emulator runs D = 4, which checks the ring's slots and sums (its copies
 * are plain there and its waits no-ops: a missing wait shows only on a
 * GPU); make emu-knobs runs it with 0. */
#ifndef ONE_TILE_WEIGHT_RING
#if defined(GETP_AMD) && !defined(GETP_EMU)
#define ONE_TILE_WEIGHT_RING 0
#else
#define ONE_TILE_WEIGHT_RING 4
#endif
#endif
#define RING_SCALE_BYTES (16 * 3072 / 32) /* a tile's scale bytes, k <= 3072 */
#define RING_BYTES (MM_WARPS * (ONE_TILE_WEIGHT_RING * 64 * 16 + RING_SCALE_BYTES)) /* the weight ring's dynamic shared memory */

enum { MM_PARTIAL, MM_BIAS, MM_SWIGLU }; /* dense partial sums; the experts' down (+ bias) and gate_up (+ SwiGLU) */

struct MatmulJob {
    WeightView w;
    const float *bias;   /* [E][rows] f32; MM_BIAS and MM_SWIGLU */
    const uint4 *x;      /* activations packed by pack_split4: row r, values k..k+3 at x[r * ldx + k / 4] */
    int ldx;
    /* Dense: tokens 0..n_tokens-1 are x rows 0..n_tokens-1.
     * Experts: routing[0] experts have pairs; the z-th of them (grid.z) is
     * expert routing[1 + 3z], its tokens pairs[f .. f + n), f = routing[2 +
     * 3z], n = routing[3 + 3z], pair p reading x row p / pair_div and
     * writing output row p (one record, so a block reads it in one trip). */
    int n_tokens;
    const int *pairs, *routing;
    int pair_div, n_experts;
    /* Experts at several token tiles: grid.y walks the step's list of
     * (expert, group of 8 NT tokens) that moe_route writes after the
     * routing records (expert_tile_list), grid.z is 1; else grid.y is every
     * token group and grid.z every expert slot, most of them empty */
    int tile_list;
    int splits;  /* MM_PARTIAL, MM_BIAS: k ranges summed later, in order */
    void *out;   /* MM_PARTIAL: f32 [split][n_tokens][rows]; MM_BIAS: f32 [split][pair][ldo], n_tokens = pairs;
                    MM_SWIGLU: packed [pair][ldo / 4] (the down matmul's input) */
    int ldo;
    float limit; /* MM_SWIGLU clamp */
    int x_hi_only; /* 1: x's bf16 hi alone enters the mmas (GETP_X_HI_ONLY; issue 23 item 6), not hi + lo */
    int x_compact, out_compact; /* x's rows, SwiGLU's output rows: hi pairs alone (uint2 a 4 values; tiled_gemm.h only) */
};

/* Writes the z-th record of a MatmulJob's routing. */
__device__ inline void set_route(int *routing, int z, int expert, int first, int count) {
    routing[1 + 3 * z] = expert, routing[2 + 3 * z] = first, routing[3 + 3 * z] = count;
}

/* Chunks per register group of a one-token-tile launch (two groups in
 * flight). The BF16 expert matmuls stream faster with fewer bytes in flight
 * than the dense ones, which load theirs before the kernel ahead ends:
 * gate_up with 3 (the 20b shape's 45 chunks in 15 whole groups), down with 2
 * (H100, batch 1: 314 -> 324 tok/s against 4 / 4; 3 / 3, 2 / 2, 4 / 3 and
 * 3 / 1 measured lower: ledger L94-L96). */
#ifndef MXFP4_DECODE_CHUNKS
#define MXFP4_DECODE_CHUNKS 2 /* MXFP4's chunks a group (Lane::U); an experiment's knob, see X_AHEAD_ONE_TILE */
#endif
template <int DT, int MODE> __device__ constexpr int decode_group_chunks() {
    if (DT == DT_MXFP4) return MXFP4_DECODE_CHUNKS;
    if (DT == DT_BF16 && MODE == MM_SWIGLU) return 3;
    if (DT == DT_BF16 && MODE == MM_BIAS) return 2;
    return Lane<DT>::U;
}
/* Row of x that token `tok` of the block's list reads. */
__device__ inline const uint4 *xrow_of(const MatmulJob &J, bool experts, int first, int tok) {
    int row = experts ? J.pairs[first + tok] / J.pair_div : tok;
    return J.x + (size_t)row * J.ldx;
}
/* The same, J.pairs read from L2 (volatile): for a kernel that resolves rows
 * before its wait, when this multiprocessor's L1 may hold the last layer's
 * (the routing is read so too; ledger L203) */
__device__ inline const uint4 *xrow_of_l2(const MatmulJob &J, bool experts, int first, int tok) {
    const volatile int *pairs = J.pairs;
    return J.x + (size_t)(experts ? pairs[first + tok] / J.pair_div : tok) * J.ldx;
}

/* One launch: the experts' job, or up to 3 dense jobs over the same x whose
 * blocks follow each other along grid.x (job j has blocks[j] of them). */
struct MatmulJobs {
    MatmulJob job[3];
    int n_jobs, blocks[3];
    /* bytes the next kernel reads that nothing before it writes (the
     * router's weights): the blocks ask L2 for their shares, so that kernel
     * finds them there */
    const void *prefetch;
    size_t prefetch_bytes;
    /* the pause between a block's chunk loads before its wait (0: none);
     * the host sets it for one-wave dense launches of one token tile, see
     * PRELOAD_PACE_NS */
    int pace_ns;
};

/* Row tiles per warp: two at large batch, so that each x fragment read from
 * shared memory feeds two mmas (the kernel is bound by L1/shared-memory
 * throughput there, not DRAM); one at decode-sized batches (two there
 * measured batch 1 -13%: ledger L185). */
template <int NT, int MODE> struct RowTiles {
    enum { MT = NT > 1 ? 2 : 1 };
};

/* The dynamic shared memory of a one-token-tile launch of MODE: the weight
 * ring (MXFP4 experts, row-major, one row tile a warp: where matmul_block's
 * ring_able holds). */
__host__ __device__ constexpr int one_tile_shared_bytes(int mode, int dt, bool tiled) {
    return ONE_TILE_WEIGHT_RING && mode != MM_PARTIAL && dt == DT_MXFP4 && !tiled ? RING_BYTES : 0;
}
static_assert(one_tile_shared_bytes(MM_BIAS, DT_MXFP4, false) <= 160 * 1024, "one-tile launches: dynamic shared memory beside the staging, within a multiprocessor's");

/* The shape of one matmul variant's work: values a lane loads per chunk (V),
 * chunks per register group (U), mma k steps per chunk (S), x buffers (XBUF),
 * and the shared memory staging x for a block. */
template <int DT, int MODE, int NT> struct MatmulShape {
    enum {
        MT = RowTiles<NT, MODE>::MT,
        V = Lane<DT>::V,
        CH = 4 * V,
        /* chunks per group: NT = 1 keeps two groups in flight */
        U = NT == 1 ? decode_group_chunks<DT, MODE>() : (Lane<DT>::U / MT > 0 ? Lane<DT>::U / MT : 1),
        S = V / 4,
        /* several token tiles: x staged by async copies one group ahead, in
         * two buffers (ledger L133: +4-6% at batch 256-512) */
        /* one token tile: x staged ahead too (X_AHEAD_ONE_TILE; 1: the
         * dense matmuls, MM_PARTIAL, only) */
        X_AHEAD = NT == 1 && (X_AHEAD_ONE_TILE == 2 || (X_AHEAD_ONE_TILE == 1 && MODE == MM_PARTIAL)),
        XBUF = NT > 1 || X_AHEAD ? 2 : 1
    };
    typedef uint4 Staging[XBUF][U][S][NT][WARP];
};

/* Where a block's work sits in its launch's grid: a kernel's blockIdx and
 * gridDim, or a work item of a persistent kernel (moe_persistent.h). */
struct BlockPlace {
    unsigned x, y, z, grid_x, grid_y;
};

/* Where a warp's sums of one row tile go (lane holds rows g, g+8 of the
 * tile x tokens 2q, 2q+1 of each of its NT token tiles, the first at token
 * t0 of the block's list, n_tiles of them with tokens): MM_PARTIAL and
 * MM_BIAS store them (the bias joins split 0); MM_SWIGLU applies the SwiGLU
 * to each channel's gate and up, and lanes g..g+3, which hold 4 consecutive
 * channels, pack them into the first one's word. r0, r1: the rows in the
 * expert stack; ok: the row exists. Every lane of the warp calls it. */
template <int MODE, int NT>
__device__ inline void store_tile(const MatmulJob &J, const float (&acc)[NT][4], int e, int first, int count, int split, int tile, int t0,
                                  int n_tiles, long r0, long r1, bool ok0, bool ok1) {
    const int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3, O = J.w.rows;
    if constexpr (MODE != MM_SWIGLU) {
        for (int nt = 0; nt < n_tiles; nt++)
            for (int c = 0; c < 2; c++) {
                int i = t0 + nt * 8 + 2 * q + c;
                if (i >= count) continue;
                if (MODE == MM_PARTIAL) {
                    float *o = (float *)J.out + ((size_t)split * J.n_tokens + i) * O;
                    if (ok0) o[r0] = acc[nt][c];
                    if (ok1) o[r1] = acc[nt][2 + c];
                } else {
                    int p = J.pairs[first + i];
                    float *o = (float *)J.out + ((size_t)split * J.n_tokens + p) * J.ldo - (long)e * O;
                    if (ok0) o[r0] = acc[nt][c] + (split == 0 ? J.bias[r0] : 0.0f);
                    if (ok1) o[r1] = acc[nt][2 + c] + (split == 0 ? J.bias[r1] : 0.0f);
                }
            }
    } else {
        for (int nt = 0; nt < NT; nt++)
            for (int c = 0; c < 2; c++) {
                int i = t0 + nt * 8 + 2 * q + c, ch = tile * 8 + g;
                float v = ok0 && ok1 ? gptoss_swiglu(acc[nt][c] + J.bias[r0], acc[nt][2 + c] + J.bias[r1], J.limit) : 0.0f;
                float v1 = lane_shfl(v, (lane + 4) % WARP), v2 = lane_shfl(v, (lane + 8) % WARP), v3 = lane_shfl(v, (lane + 12) % WARP);
                if (nt < n_tiles && i < count && g % 4 == 0 && ok0) {
                    int p = J.pairs[first + i];
                    if (J.out_compact) ((uint2 *)J.out)[(size_t)p * (J.ldo / 4) + ch / 4] = pack_hi4(v, v1, v2, v3);
                    else ((uint4 *)J.out)[(size_t)p * (J.ldo / 4) + ch / 4] = pack_split4(v, v1, v2, v3);
                }
            }
    }
}

/* grid: x = (group of MW * MT tiles) x split (dense: of each job in turn), y = groups of 8 NT tokens, z = the z-th expert
 * that has tokens (dense: 1). The block's MW warps share the split and the
 * tokens, so x is staged once per block in shared memory, already split into
 * bf16 hi/lo in the mma's B layout, while the weights stream into registers.
 * TILED: the experts' weights are tiled (see tiled_index).
 * One block's work, as a function of its place, its gate (where it waits
 * for the work before it and lets the next start) and its shared staging:
 * the matmul kernel's whole body, and a persistent kernel's work item.
 * About 210 lines, an exception to the 120-line rule: its length is its
 * math (the weight pipeline, the x staging and the three epilogues share
 * its registers and lambdas); it stays whole so that the code the compiler
 * makes of it (measured at length: ledger) is not moved. */
template <int DT, int MODE, int NT, bool TILED, bool FOLD, int WG, int MW, typename Gate>
__device__ inline void matmul_block(const MatmulJobs &jobs, const BlockPlace at, const Gate gate, typename MatmulShape<DT, MODE, NT>::Staging &staged_all) {
    /* NT token tiles per warp: 1 for decode-sized batches, with twice the
     * weight chunks in flight (and room for 3 blocks per multiprocessor);
     * each output's sum is the same either way */
    typedef MatmulShape<DT, MODE, NT> Shape;
    constexpr int MT = Shape::MT, V = Shape::V, CH = Shape::CH, U = Shape::U, S = Shape::S, XBUF = Shape::XBUF;
    uint4(*staged)[S][NT][WARP] = staged_all[0];
    /* WG (several token tiles, experts): the same bytes as core matrices for
     * warpgroup_mma, the bf16 hi and lo halves of x apart: [buf][u][st][hi, lo].
     * WG 1: each step's wgmmas waited for before the next step decodes;
     * WG 2: a step's wgmmas run while the next step decodes into the other
     * of two A buffers (waited for before that buffer is written again) */
    static_assert(!WG || (NT > 1 && MW == 4 && sizeof(WarpgroupB<8 * NT>) * 2 == sizeof(uint4) * NT * WARP), "warpgroup B layout");
    auto wg_b = reinterpret_cast<WarpgroupB<8 * NT>(*)[U][S][2]>(&staged_all[0][0][0][0][0]);
    int wg_buf = 0;
    /* MM_BIAS, MM_SWIGLU: the experts' jobs; MM_PARTIAL: dense. Read from the
     * jobs, not the template: the compile-time form gave the dense kernels
     * at batch 64-256 30 fewer registers and 3-7% more time (H100, CUPTI) */
    const bool experts = jobs.job[0].pairs != nullptr;
    static_assert(MODE != MM_PARTIAL || !TILED, "only expert weights are tiled");
    /* the token groups of one tile group are neighbours in launch order, so
     * the weights they share come from DRAM about once (then from L2) */
    const int lin = at.y * at.grid_x + at.x, by = lin % at.grid_y;
    int bx = lin / at.grid_y, j = 0;
    while (j + 1 < jobs.n_jobs && bx >= jobs.blocks[j]) bx -= jobs.blocks[j++];
    const MatmulJob &J = jobs.job[j];
    if (jobs.prefetch) {
        size_t n = at.grid_x * at.grid_y, share = (jobs.prefetch_bytes + n - 1) / n, from = (size_t)lin * share;
        if (from < jobs.prefetch_bytes) prefetch_l2((const char *)jobs.prefetch + from, min(share, jobs.prefetch_bytes - from));
    }
    /* The early-start contract of each matmul launch is stated with the
     * launchers ("the matrix products of a step", below); these three flags
     * are how the kernel keeps it. */
    const bool routing_ready = experts && NT == 1 && MODE == MM_BIAS, next_reads_routing = experts && NT == 1 && MODE == MM_SWIGLU;
    const bool weights_first = !experts || routing_ready;
    if (next_reads_routing) gate.wait();
    gate.let_next();
    if (!weights_first && !next_reads_routing) gate.wait();
    const int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3;
    const int O = J.w.rows, K = J.w.cols, tiles = MODE == MM_SWIGLU ? (O / 2 + 7) / 8 : (O + 15) / 16;
    const int split = bx % J.splits, tile0 = bx / J.splits * MW * MT;
    if (tile0 >= tiles) return; /* the whole block: this job has fewer tiles */
    const int wtile = tile0 + threadIdx.x / WARP * MT; /* the warp's first tile */
    const bool active = wtile < tiles;                  /* inactive warps still stage x */
    int e = 0, first = 0, count = J.n_tokens, t0 = by * 8 * NT;
    if (experts) {
        const volatile int *routing = J.routing; /* from L2: possibly read before the wait */
        int z = at.z;
        if (NT > 1 && J.tile_list) {
            const volatile int *list = routing + 1 + 3 * J.n_experts; /* [0]: its length */
            if (by >= list[0]) return;
            const int item = list[1 + by];
            z = item >> 16, t0 = (item & 0xffff) * 8 * NT;
        }
        const int n_active = routing[0], ez = routing[1 + 3 * z], fz = routing[2 + 3 * z], nz = routing[3 + 3 * z];
        if (z >= n_active) return; /* fewer experts have tokens than the grid allows */
        e = ez, first = fz, count = nz;
    }
    if (t0 >= count) return;
    const int n_tiles = min(NT, (count - t0 + 7) / 8), n_valid = min(8 * NT, count - t0);
    for (int i = threadIdx.x; i < XBUF * U * S * NT * WARP; i += blockDim.x) (&staged_all[0][0][0][0][0])[i] = make_uint4(0, 0, 0, 0);

    /* the lane's two weight rows of each of its tiles (g and g+8 of the tile) */
    long r0[MT], r1[MT];
    bool ok0[MT], ok1[MT];
#pragma unroll
    for (int m = 0; m < MT; m++) {
        const int tile = wtile + m;
        if (MODE == MM_SWIGLU) { /* rows g: gate of channel c, g+8: its up (interleaved in W) */
            int c = tile * 8 + g;
            r0[m] = 2L * c, r1[m] = 2L * c + 1;
        } else {
            r0[m] = tile * 16 + g, r1[m] = r0[m] + 8;
        }
        ok0[m] = tile < tiles && r0[m] < O, ok1[m] = tile < tiles && r1[m] < O;
        r0[m] += (long)e * O, r1[m] += (long)e * O;
    }

    float acc[MT][NT][4];
#pragma unroll
    for (int m = 0; m < MT; m++)
        for (int nt = 0; nt < NT; nt++)
            for (int i = 0; i < 4; i++) acc[m][nt][i] = 0.0f;

    /* NT > 1 staging: thread -> its token my_tl and every n_cols-th column */
    const int my_tl = threadIdx.x % (8 * NT), my_col0 = threadIdx.x / (8 * NT), n_cols = MW * WARP / (8 * NT);
    const uint4 *my_row = (NT > 1 || Shape::X_AHEAD) && my_tl < n_valid ? xrow_of(J, experts, first, t0 + my_tl) : nullptr;

    const int chunks = (K + CH - 1) / CH, c0 = split * chunks / J.splits, c1 = (split + 1) * chunks / J.splits;
    constexpr bool lean = NT == 1 && ONE_TILE_LEAN;
    WeightRow row0[MT], row1[MT]; /* lean: the lane's rows */
    if constexpr (lean && !TILED)
#pragma unroll
        for (int m = 0; m < MT; m++) row0[m] = weight_row<DT>(J.w, r0[m]), row1[m] = weight_row<DT>(J.w, r1[m]);
    /* ONE_TILE_WEIGHT_RING: block-uniform (the ring's loop has a barrier of its own) */
    constexpr bool ring_able = ONE_TILE_WEIGHT_RING > 0 && lean && !TILED && DT == DT_MXFP4 && MT == 1 && MODE != MM_PARTIAL && !WG &&
                               std::is_same<Gate, ChainGate>::value;
    const long ring_tile_row = (long)e * O + 16L * wtile; /* the warp's tile's first row */
    const bool ring = ring_able && K <= 3072 && 16 * (tile0 + MW) <= O && ((uintptr_t)J.w.data & 15) == 0 &&
                      ((uintptr_t)(J.w.scales + ((long)e * O + 16L * tile0) * (K / 32)) & 15) == 0;
    const bool x_hi_only = J.x_hi_only; /* lean: read once */
    /* The lane's weights of the U chunks from cb (zeros past c1 or K). */
    auto load_group = [&](RawWeights<DT>(&w0)[MT][U], RawWeights<DT>(&w1)[MT][U], int cb, int pace_ns = 0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (pace_ns && u > 0) sleep_ns((unsigned)pace_ns);
            int k = (cb + u) * CH + q * V;
            bool kin = cb + u < c1 && k < K;
#pragma unroll
            for (int m = 0; m < MT; m++) {
                if constexpr (lean && !TILED) {
                    load_raw_row<DT, FOLD>(row0[m], k, kin && ok0[m], w0[m][u]);
                    load_raw_row<DT, FOLD>(row1[m], k, kin && ok1[m], w1[m][u]);
                } else if (TILED) {
                    const long tile = (long)e * tiles + wtile + m;
                    load_raw_tiled<DT, FOLD>(J.w, tile, 0, lane, cb + u, kin && ok0[m], w0[m][u]);
                    load_raw_tiled<DT, FOLD>(J.w, tile, 1, lane, cb + u, kin && ok1[m], w1[m][u]);
                } else {
                    load_raw<DT, FOLD>(J.w, r0[m], k, kin && ok0[m], w0[m][u]);
                    load_raw<DT, FOLD>(J.w, r1[m], k, kin && ok1[m], w1[m][u]);
                }
            }
        }
    };
    /* the mmas of the U chunks from cb, x from `staged` */
    uint32_t wg_a[WG == 2 ? 2 : 1][MT][4]; /* the A fragments of a step (WG 2: two steps) */
    auto mma_group = [&](const RawWeights<DT>(&w0)[MT][U], const RawWeights<DT>(&w1)[MT][U], int cb) {
        if (!active && !WG) return; /* WG: every warp of the block takes part (inactive ones with zero weights) */
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (cb + u >= c1) break;
#pragma unroll
            for (int st = 0; st < S; st++) {
                const int step = u * S + st; /* compile-time: the A buffer of WG 2 */
                uint32_t ah_step[MT][4], al[MT][4];
                uint32_t(&ah)[MT][4] = WG == 2 ? wg_a[step % 2] : ah_step;
                if constexpr (WG == 2) warpgroup_wait<1>(); /* the wgmmas that read this buffer two steps ago are done */
#pragma unroll
                for (int m = 0; m < MT; m++) {
                    uint32_t h0[2], l0[2], h1[2], l1[2];
                    unpack_step<DT, FOLD>(w0[m][u], st, h0, l0);
                    unpack_step<DT, FOLD>(w1[m][u], st, h1, l1);
                    ah[m][0] = h0[0], ah[m][1] = h1[0], ah[m][2] = h0[1], ah[m][3] = h1[1];
                    al[m][0] = l0[0], al[m][1] = l1[0], al[m][2] = l0[1], al[m][3] = l1[1];
                }
                if constexpr (WG) { /* each output: hi, lo (then F32's lo weights) as below */
                    warpgroup_fence();
#pragma unroll
                    for (int m = 0; m < MT; m++) {
                        warpgroup_mma<8 * NT>(acc[m], ah[m], wg_b[wg_buf][u][st][0]);
                        if (!J.x_hi_only) warpgroup_mma<8 * NT>(acc[m], ah[m], wg_b[wg_buf][u][st][1]);
                        if (DT == DT_F32) warpgroup_mma<8 * NT>(acc[m], al[m], wg_b[wg_buf][u][st][0]);
                    }
                    warpgroup_commit();
                    if constexpr (WG == 1) warpgroup_wait<0>();
                } else {
#pragma unroll
                    for (int nt = 0; nt < NT; nt++) {
                        if (!lean && nt >= n_tiles) break;
                        const uint4 b = staged[u][st][nt][lane]; /* one read, MT tiles of mmas */
                        uint32_t bh[2] = {b.x, b.y}, bl[2] = {b.z, b.w};
#pragma unroll
                        for (int m = 0; m < MT; m++) {
                            mma_bf16_16x8x16(acc[m][nt], ah[m], bh);
                            if (!(lean ? x_hi_only : J.x_hi_only)) mma_bf16_16x8x16(acc[m][nt], ah[m], bl);
                            if (DT == DT_F32) mma_bf16_16x8x16(acc[m][nt], al[m], bh);
                        }
                    }
                }
            }
        }
        if constexpr (WG == 2) warpgroup_wait<0>(); /* x's buffer and the accumulators, before the group ends */
    };
    /* X_ROWS_ONCE: the rows of x each thread stages (pass j: entry
     * threadIdx.x + j MW WARP of a group; the block has MW WARP threads),
     * resolved once. Down (weights first) resolves them before its wait, so
     * J.pairs is read from L2 (volatile), as the routing is: written by the
     * router before the kernel began, but this multiprocessor's L1 may still
     * hold the last layer's (a plain load here failed test_gpu on an H100,
     * not in the emulator: ledger L203). 2: each group's x is loaded into
     * registers during the group before (the first group's when it starts):
     * the copy into shared memory waits for no L2 round trip. */
    constexpr bool rows_once = NT == 1 && X_ROWS_ONCE;
    constexpr int X_ENTRIES = U * S * 4, X_PASSES = rows_once ? (X_ENTRIES * 8 + MW * WARP - 1) / (MW * WARP) : 1;
    const uint4 *x_rows[X_PASSES];
    uint4 x_next[X_PASSES]; /* X_ROWS_ONCE 2: the thread's entries of the next group */
    if constexpr (rows_once)
#pragma unroll
        for (int j = 0; j < X_PASSES; j++) {
            const int tl = (threadIdx.x + j * MW * WARP) / X_ENTRIES;
            x_rows[j] = tl < n_valid ? xrow_of_l2(J, experts, first, t0 + tl) : nullptr;
        }
    /* X_ROWS_ONCE: the thread's entries of group cb into x_next (zeros past c1 or K) */
    auto load_x = [&](int cb) {
#pragma unroll
        for (int j = 0; j < X_PASSES; j++) {
            const int i = threadIdx.x + j * MW * WARP;
            if (i >= X_ENTRIES * n_valid) break;
            const int qq = i % 4, st = i / 4 % S, u = i / (4 * S) % U, k = (cb + u) * CH + qq * V + 4 * st;
            x_next[j] = cb + u < c1 && k < K ? x_rows[j][k / 4] : make_uint4(0, 0, 0, 0);
        }
    };
    /* One token tile: x of the U chunks from cb into shared memory, then the mmas. */
    auto multiply_group = [&](const RawWeights<DT>(&w0)[MT][U], const RawWeights<DT>(&w1)[MT][U], int cb) {
        __syncthreads(); /* the previous chunks' x is no longer read */
        /* copies of the real tokens' entries (the others stay zero), each
         * token's run of k contiguous across threads */
        if constexpr (rows_once) {
            if (X_ROWS_ONCE == 1 || cb == c0) load_x(cb);
#pragma unroll
            for (int j = 0; j < X_PASSES; j++) {
                const int i = threadIdx.x + j * MW * WARP;
                if (i >= X_ENTRIES * n_valid) break;
                const int qq = i % 4, st = i / 4 % S, u = i / (4 * S) % U, tl = i / X_ENTRIES;
                staged[u][st][tl / 8][(tl % 8) * 4 + qq] = x_next[j];
            }
            if (X_ROWS_ONCE == 2 && cb + U < c1) load_x(cb + U); /* in flight during this group's mmas */
        } else
            for (int i = threadIdx.x; i < U * S * 4 * n_valid; i += blockDim.x) {
                int qq = i % 4, st = i / 4 % S, u = i / (4 * S) % U, tl = i / (4 * S * U), k = (cb + u) * CH + qq * V + 4 * st;
                staged[u][st][tl / 8][(tl % 8) * 4 + qq] = cb + u < c1 && k < K ? xrow_of(J, experts, first, t0 + tl)[k / 4] : make_uint4(0, 0, 0, 0);
            }
        __syncthreads();
        mma_group(w0, w1, cb);
    };
    /* Several token tiles: the x of the U chunks from cb into buffer buf, in
     * the background, each thread its own token's row (the real tokens'
     * entries; the others stay zero) */
    auto stage_async = [&](int buf, int cb) {
        if (my_row)
            for (int col = my_col0; col < U * S * 4; col += n_cols) {
                int u = col / (S * 4), st = col / 4 % S, qq = col % 4, k = (cb + u) * CH + qq * V + 4 * st;
                bool in = cb + u < c1 && k < K;
                if constexpr (WG) { /* words hi(k, k+1), hi(k+2, k+3), lo(..), lo(..) to their core matrices */
                    const uint32_t *src = (const uint32_t *)(in ? my_row + k / 4 : my_row);
                    for (int part = 0; part < 4; part++)
                        async_copy(&wg_b[buf][u][st][part / 2].w[my_tl / 8][part % 2][my_tl % 8][qq], src + part, in);
                } else {
                    async_copy(&staged_all[buf][u][st][my_tl / 8][(my_tl % 8) * 4 + qq], in ? my_row + k / 4 : my_row, in);
                }
            }
        async_copy_commit();
    };
    if (NT == 1) {
        /* two register buffers: one group's loads stay in flight while the
         * other's are multiplied (measured level with one buffer of twice
         * the chunks, which leaves no loads in flight during its mmas) */
        RawWeights<DT> wa0[MT][U], wa1[MT][U], wb0[MT][U], wb1[MT][U];
        auto run_ring = [&]() {
            if constexpr (ring_able) {
                /* ONE_TILE_WEIGHT_RING: chunk c's words in slot (c - c0) % D of the warp's ring, [slot][row g, g + 8][lane] */
                constexpr int D = ONE_TILE_WEIGHT_RING > 0 ? ONE_TILE_WEIGHT_RING : 1; /* (nvcc reads the discarded branch's % too) */
                static_assert(D >= U, "the ring holds a group");
                DYNAMIC_SHARED(uint4, area);
                uint4 *ring_area = area, *slots = ring_area + threadIdx.x / WARP * D * 64 + lane;
                uint8_t *tile_scales = (uint8_t *)(ring_area + MW * D * 64) + threadIdx.x / WARP * RING_SCALE_BYTES;
                const int row_scales = K / 32, lr0 = (int)(r0[0] - ring_tile_row), lr1 = (int)(r1[0] - ring_tile_row);
                for (int i = lane; i < row_scales; i += WARP) /* 16 rows x k / 32 bytes: k / 32 words */
                    async_copy((uint4 *)tile_scales + i, (const uint4 *)(J.w.scales + ring_tile_row * row_scales) + i, true);
                async_copy_commit();
                auto ring_issue = [&](int c) { /* chunk c into its slot (zeros past c1 or K) */
                    const int k = c * CH + q * V;
                    const bool kin = c < c1 && k < K;
                    uint4 *slot = slots + (c - c0) % D * 64;
                    async_copy(slot, (const uint4 *)(row0[0].values + (kin ? k / 2 : 0)), kin);
                    async_copy(slot + WARP, (const uint4 *)(row1[0].values + (kin ? k / 2 : 0)), kin);
                    async_copy_commit();
                };
#pragma unroll
                for (int c = 0; c < D; c++) ring_issue(c0 + c);
                if (weights_first) gate.wait();
                async_copy_wait<D>(); /* the scales */
                __syncthreads();
                for (int cb = c0; cb < c1; cb += U) {
                    async_copy_wait<D - U>(); /* chunks cb .. cb + U - 1 */
                    if (cb == c0) BLOCK_TRACE_MARK(2); /* the ring's fill: thread 0's copies of the first group are in (mark 1: the loop's end) */
                    RawWeights<DT> w0[MT][U], w1[MT][U];
#pragma unroll
                    for (int u = 0; u < U; u++) {
                        const int c = cb + u, k = c * CH + q * V;
                        const bool kin = c < c1 && k < K;
                        const uint4 *slot = slots + (c - c0) % D * 64;
                        w0[0][u].v[0] = slot[0], w1[0][u].v[0] = slot[WARP];
                        w0[0][u].scale2 = kin ? mxfp4_scale_pair<FOLD>(tile_scales[lr0 * row_scales + k / 32]) : 0;
                        w1[0][u].scale2 = kin ? mxfp4_scale_pair<FOLD>(tile_scales[lr1 * row_scales + k / 32]) : 0;
                    }
                    multiply_group(w0, w1, cb);
#pragma unroll
                    for (int u = 0; u < U; u++) ring_issue(cb + D + u); /* the slots just read */
                }
                async_copy_wait<0>(); /* no copy outlives the block (the last ones are zero fills) */
            }
        };
        if (ring) run_ring();
        else {
            load_group(wa0, wa1, c0, jobs.pace_ns);
            if (jobs.pace_ns) sleep_ns((unsigned)jobs.pace_ns);
            load_group(wb0, wb1, c0 + U, jobs.pace_ns);
            if (weights_first) gate.wait(); /* x and the outputs' previous readers */
            /* X_AHEAD_ONE_TILE: x staged one group ahead as at several tiles */
            constexpr bool x_ahead = Shape::X_AHEAD;
            auto multiply_ahead = [&](const RawWeights<DT>(&w0)[MT][U], const RawWeights<DT>(&w1)[MT][U], int cb, int buf) {
                if (cb + U < c1) stage_async(buf ^ 1, cb + U);
                else async_copy_commit();
                async_copy_wait<1>();
                __syncthreads();
                staged = staged_all[buf];
                mma_group(w0, w1, cb);
                __syncthreads();
            };
            if (x_ahead) {
                __syncthreads(); /* the zeros are written before any copy lands */
                stage_async(0, c0);
            }
            for (int cb = c0; cb < c1; cb += 2 * U) {
                if (x_ahead) multiply_ahead(wa0, wa1, cb, 0);
                else multiply_group(wa0, wa1, cb);
                if (cb + 2 * U < c1) load_group(wa0, wa1, cb + 2 * U);
                if (cb + U >= c1) break;
                if (x_ahead) multiply_ahead(wb0, wb1, cb + U, 1);
                else multiply_group(wb0, wb1, cb + U);
                if (cb + 3 * U < c1) load_group(wb0, wb1, cb + 3 * U);
            }
        }
    } else {
        RawWeights<DT> w0[MT][U], w1[MT][U];
        load_group(w0, w1, c0);
        if (weights_first) gate.wait();
        __syncthreads(); /* the zeros are written before any copy lands */
        stage_async(0, c0);
        for (int cb = c0, buf = 0; cb < c1; cb += U, buf ^= 1) {
            if (cb + U < c1) stage_async(buf ^ 1, cb + U);
            else async_copy_commit(); /* an empty group: the wait below counts alike */
            if (cb != c0) load_group(w0, w1, cb);
            async_copy_wait<1>();
            __syncthreads();
            staged = staged_all[buf], wg_buf = buf;
            mma_group(w0, w1, cb);
            __syncthreads(); /* buf is read no more: the next chunk but one may land in it */
        }
    }
    BLOCK_TRACE_MARK(1);
    if (!active) return;

#pragma unroll
    for (int m = 0; m < MT; m++) store_tile<MODE, NT>(J, acc[m], e, first, count, split, wtile + m, t0, n_tiles, r0[m], r1[m], ok0[m], ok1[m]);
}

/* The matmul kernel: one matmul_block per block of its grid. */
template <int DT, int MODE, int NT, bool TILED = false, bool FOLD = false, int WG = 0>
__global__ void __launch_bounds__(MM_WARPS * WARP, NT == 1 ? 3 : 0) matmul_kernel(const MatmulJobs jobs) {
    BLOCK_TRACE(TK_MATMUL + MODE);
    alignas(128) __shared__ typename MatmulShape<DT, MODE, NT>::Staging staged_all; /* 128: WG's core matrices, whole lines */
    const BlockPlace at = {blockIdx.x, blockIdx.y, blockIdx.z, gridDim.x, gridDim.y};
    matmul_block<DT, MODE, NT, TILED, FOLD, WG, MM_WARPS>(jobs, at, ChainGate(), staged_all);
}

#include "tiled_gemm.h"

/* ---- launchers ---- */

/* How many blocks of the batch-1 dense matmul the GPU runs at once. */
static int resident_matmul_blocks(HipState *s, int dtype, Error *err) {
    int per_sm = 0;
    const void *kernel = dtype == DT_F32    ? (const void *)matmul_kernel<DT_F32, MM_PARTIAL, 1>
                         : dtype == DT_BF16 ? (const void *)matmul_kernel<DT_BF16, MM_PARTIAL, 1>
                                            : (const void *)matmul_kernel<DT_MXFP4, MM_PARTIAL, 1>;
    CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, MM_WARPS * WARP, 0), err);
    s->resident_blocks = (per_sm > 0 ? per_sm : 1) * s->sm_count;
    return 0;
}

/* Splits of k for a dense matrix: as many as fill the blocks the GPU holds
 * at once (one wave: a second would leave a tail), at least 2 chunks of 32
 * values each. Depends on the shape and the GPU only (batch invariance). */
static int choose_splits(const HipState *s, int rows, int cols) {
    int groups = (int)cdiv(cdiv(rows, 16), MM_WARPS), chunks = (cols + 31) / 32;
    int splits = s->resident_blocks / groups;
    if (splits > chunks / 2) splits = chunks / 2;
    return splits < 1 ? 1 : splits;
}

/* x: packed rows of `cols` values */
static MatmulJob dense_job(const HipState *s, WeightView w, const uint4 *x, int cols, int n, int splits, float *out) {
    MatmulJob j;
    memset(&j, 0, sizeof j);
    j.w = w, j.x = x, j.ldx = cols / 4, j.n_tokens = n, j.splits = splits, j.out = out, j.pair_div = 1, j.x_hi_only = s->x_hi_only == 1;
    return j;
}

/* Token tiles per warp by batch size: 1 for decode-sized batches (deeper
 * weight prefetch), else 4. Every variant computes each output with the
 * same sum. grid.y covers the tokens in groups of 8 NT. */
static int token_tiles(int max_tokens) { return max_tokens <= DECODE_ROWS ? 1 : MM_TOKEN_TILES; }
/* The most entries of the experts' tile list (MatmulJob::tile_list) at a
 * step of n_rows: n_rows * k pairs in groups of `group` tokens (the
 * smallest groups: 8 MM_TOKEN_TILES), one partial group per expert. */
static unsigned expert_list_length(const HipState *s, int n_rows, int group = 8 * MM_TOKEN_TILES) {
    size_t pairs = (size_t)n_rows * s->c.experts_per_token;
    return cdiv(pairs, (size_t)group) + (unsigned)(pairs < s->c.n_experts ? pairs : s->c.n_experts);
}

/* GETP_MM_WGMMA=1 or 2: the experts' several-token-tile launches multiply
 * by warpgroup_mma (wgmma on sm_90a; 2 pipelined); an experiment until
 * measured (ledger). */
template <int DT, int MODE, bool TILED, bool FOLD>
static void launch_variant(const HipState *s, const MatmulJobs &all, dim3 grid, int nt) {
    dim3 block(MM_WARPS * WARP);
    constexpr int WG1 = MODE != MM_PARTIAL ? 1 : 0, WG2 = MODE != MM_PARTIAL ? 2 : 0;
    if (nt == 1) {
        const auto kernel = matmul_kernel<DT, MODE, 1, TILED, FOLD>;
        const int shared = one_tile_shared_bytes(MODE, DT, TILED);
        /* with the static staging it may pass the default 48 KB; an error here shows at CHECK_LAUNCH */
        if (shared > 0) (void)hipFuncSetAttribute((const void *)kernel, hipFuncAttributeMaxDynamicSharedMemorySize, shared);
        (void)launch_chained(kernel, grid, block, shared, s->stream, all);
    } else if (MODE != MM_PARTIAL && s->mm_wgmma == 2)
        (void)launch_chained(matmul_kernel<DT, MODE, MM_TOKEN_TILES, TILED, FOLD, WG2>, grid, block, 0, s->stream, all);
    else if (MODE != MM_PARTIAL && s->mm_wgmma == 1)
        (void)launch_chained(matmul_kernel<DT, MODE, MM_TOKEN_TILES, TILED, FOLD, WG1>, grid, block, 0, s->stream, all);
    else (void)launch_chained(matmul_kernel<DT, MODE, MM_TOKEN_TILES, TILED, FOLD>, grid, block, 0, s->stream, all);
}
template <int DT, int MODE, bool TILED>
static void launch_variant(const HipState *s, const MatmulJobs &all, dim3 grid, int nt) {
    if constexpr (DT == DT_MXFP4)
        if (all.job[0].w.small_scales) return launch_variant<DT, MODE, TILED, true>(s, all, grid, nt);
    launch_variant<DT, MODE, TILED, false>(s, all, grid, nt);
}
template <int DT, int MODE>
static void launch_variant(const HipState *s, const MatmulJobs &all, dim3 grid, int nt) {
    if constexpr (MODE != MM_PARTIAL)
        if (all.job[0].w.tiled) return launch_variant<DT, MODE, true>(s, all, grid, nt);
    launch_variant<DT, MODE, false>(s, all, grid, nt);
}

/* tiles[i]: job i's row tiles (16 rows; SwiGLU: 8 channels) */
template <int MODE>
static int launch_matmul(const HipState *s, const MatmulJob *jobs, int n_jobs, const unsigned *tiles, unsigned grid_z, int max_tokens,
                         Error *err, const WeightView *prefetch = nullptr) {
    const bool listed = jobs[0].tile_list && token_tiles(max_tokens) > 1;
    MatmulJobs all;
    memset(&all, 0, sizeof all);
    if (prefetch) all.prefetch = prefetch->data, all.prefetch_bytes = weight_bytes(*prefetch);
    unsigned grid_x = 0;
    int nt = token_tiles(max_tokens), mt = nt == 1 ? (int)RowTiles<1, MODE>::MT : (int)RowTiles<MM_TOKEN_TILES, MODE>::MT;
    all.n_jobs = n_jobs;
    for (int i = 0; i < n_jobs; i++) {
        all.job[i] = jobs[i];
        all.blocks[i] = (int)(cdiv(tiles[i], (size_t)MM_WARPS * mt) * (unsigned)jobs[i].splits);
        grid_x += (unsigned)all.blocks[i];
    }
    /* listed: each (expert, token group) at most once; every group but each
     * expert's last is full */
    dim3 grid(grid_x, listed ? expert_list_length(s, max_tokens) : cdiv(max_tokens, 8 * nt), listed ? 1 : grid_z);
    /* only a launch that is one wave preloads all its weights during the kernel before */
    if (nt == 1 && MODE == MM_PARTIAL && (size_t)grid.x * grid.y * grid.z <= (size_t)s->resident_blocks) all.pace_ns = PRELOAD_PACE_NS;
    switch (jobs[0].w.dtype) {
    case DT_F32: launch_variant<DT_F32, MODE>(s, all, grid, nt); break;
    case DT_BF16: launch_variant<DT_BF16, MODE>(s, all, grid, nt); break;
    default: launch_variant<DT_MXFP4, MODE>(s, all, grid, nt); break;
    }
    CHECK_LAUNCH(err);
    return 0;
}

/* Steps from which the dense matmuls take the GEMM by default: its blocks
 * (256 rows x 32 tokens) fill an H100/H200 from 512 rows; at 256 rows q/k/v
 * are 160 blocks for 264 places, and the step lost 5.6% (H200, ledger L169). */
#define DENSE_GEMM_MIN_ROWS 512
/* Whether a step of n rows multiplies dense weights of this dtype by
 * tiled_gemm.h's GEMM (GETP_DENSE_GEMM=1, the default: from
 * DENSE_GEMM_MIN_ROWS; 2: every step above DECODE_ROWS; BF16, NVIDIA: see
 * expert_gemm_tiles). Either kernel gives the same bits. */
static bool dense_gemm_runs(const HipState *s, int n, int dtype) {
#if defined(GETP_AMD) && !defined(GETP_EMU)
    (void)s, (void)n, (void)dtype;
    return false;
#else
    return s->dense_gemm && token_tiles(n) > 1 && dtype == DT_BF16 && (s->dense_gemm == 2 || n >= DENSE_GEMM_MIN_ROWS);
#endif
}
/* The partials of a dense matmul of `splits` at a step of n rows that its
 * reader adds: one where the GEMM summed them itself. */
static int dense_parts(const HipState *s, int n, int splits, int dtype) { return dense_gemm_runs(s, n, dtype) ? 1 : splits; }

/* Dense matmuls of the same x: up to 3 matrices (q, k, v) in one launch;
 * prefetch: a weight the next kernel reads (see MatmulJobs). */
static int dense_matmul(const HipState *s, const MatmulJob *jobs, int n_jobs, int n, Error *err, const WeightView *prefetch = nullptr) {
    unsigned tiles[3];
    for (int i = 0; i < n_jobs; i++) {
        tiles[i] = cdiv(jobs[i].w.rows, 16);
        if (jobs[i].w.dtype != jobs[0].w.dtype) return error_set(err, "hip backend: q, k and v must share a dtype");
    }
    if (dense_gemm_runs(s, n, jobs[0].w.dtype)) return launch_dense_gemm(s, jobs, n_jobs, n, err);
    return launch_matmul<MM_PARTIAL>(s, jobs, n_jobs, tiles, 1, n, err, prefetch);
}

/* The job of an expert matmul (its routing from s->pairs, s->routing). */
template <int MODE>
static MatmulJob expert_job(const HipState *s, WeightView w, const float *bias, const uint4 *x, int cols, int pair_div, void *out, int ldo, int n_rows) {
    MatmulJob j;
    memset(&j, 0, sizeof j);
    j.w = w, j.bias = bias, j.x = x, j.ldx = cols / 4, j.pairs = s->pairs, j.routing = s->routing, j.pair_div = pair_div;
    j.n_experts = (int)s->c.n_experts, j.splits = MODE == MM_BIAS ? DOWN_SPLITS : 1, j.out = out, j.ldo = ldo, j.limit = s->c.swiglu_limit;
    j.n_tokens = n_rows * (int)s->c.experts_per_token; /* pairs: MM_BIAS's split stride */
    j.tile_list = s->expert_tile_list, j.x_hi_only = s->x_hi_only != 0;
    return j;
}
/* An expert matmul's row tiles: 16 rows (SwiGLU: 8 channels). */
template <int MODE> static unsigned expert_row_tiles(const WeightView &w) { return MODE == MM_SWIGLU ? cdiv(w.rows / 2, 8) : cdiv(w.rows, 16); }
/* n_rows tokens make n_rows * k (token, expert) pairs, so at most that many
 * experts have work (at batch 1, 4 of 32): the grid's z. */
static int expert_grid_z(const HipState *s, int n_rows) {
    int pairs = n_rows * (int)s->c.experts_per_token;
    return pairs < (int)s->c.n_experts ? pairs : (int)s->c.n_experts;
}

/* The experts' matmuls of a step: gate_up (+ SwiGLU) and down (+ bias). */
static MatmulJob gate_up_job(const HipState *s, const LayerDev *L, int T) {
    const ModelConfig *c = &s->c;
    return expert_job<MM_SWIGLU>(s, L->gate_up, L->gate_up_b, s->xn, c->hidden, c->experts_per_token, s->act, c->intermediate, T);
}
static MatmulJob down_job(const HipState *s, const LayerDev *L, int T) {
    const ModelConfig *c = &s->c;
    return expert_job<MM_BIAS>(s, L->down, L->down_b, s->act, c->intermediate, 1, s->expert_out, c->hidden, T);
}

/* The token tiles of tiled_gemm.h's blocks at a step of n_rows of layer L's
 * experts, 0 where they run matmul_kernel (off, a decode-sized step, or an
 * F32 matrix): 8 (64 tokens) once an expert gets 64 tokens on average, else
 * 4 (GETP_EXPERT_GEMM 2 and 3 force 4, 8). */
static int expert_gemm_tiles(const HipState *s, int n_rows, const LayerDev *L) {
#if defined(GETP_AMD) && !defined(GETP_EMU) /* (the emulator takes AMD's code paths, and runs the GEMM) */
    /* an MI250 workgroup holds 64 KB of LDS, not the GEMM's 96 KB */
    (void)s, (void)n_rows, (void)L;
    return 0;
#else
    /* both matrices or neither: gate_up and down read one tile list */
    const int gate_up = L->gate_up.dtype, down = L->down.dtype;
    if ((gate_up != DT_BF16 && gate_up != DT_MXFP4) || (down != DT_BF16 && down != DT_MXFP4)) return 0;
    if (!s->expert_gemm || !s->expert_tile_list || token_tiles(n_rows) == 1) return 0;
    if (s->expert_gemm > 1) return s->expert_gemm == 2 ? 4 : 8;
    return (long)n_rows * s->c.experts_per_token >= 64L * s->c.n_experts ? 8 : 4;
#endif
}
/* The tokens of an entry of the expert tile list at a step of n_rows (0: no list). */
static int expert_group_tokens(const HipState *s, int n_rows, const LayerDev *L) {
    if (!s->expert_tile_list || token_tiles(n_rows) == 1) return 0;
    const int gemm = expert_gemm_tiles(s, n_rows, L);
    return 8 * (gemm ? gemm : MM_TOKEN_TILES);
}

/* Whether the experts' x at a step of n_rows is in compact rows (hi pairs
 * alone: GETP_X_HI_ONLY=3 where the GEMM runs). */
static bool x_compact(const HipState *s, int n_rows, const LayerDev *L) { return s->x_hi_only == 3 && expert_gemm_tiles(s, n_rows, L) > 0; }

template <int MODE> static int expert_matmul(const HipState *s, const LayerDev *L, const MatmulJob &j0, int n_rows, Error *err) {
    unsigned tiles = expert_row_tiles<MODE>(j0.w);
    MatmulJob j = j0;
    j.x_compact = x_compact(s, n_rows, L), j.out_compact = MODE == MM_SWIGLU && j.x_compact;
    if (const int nt = expert_gemm_tiles(s, n_rows, L)) {
        unsigned list = expert_list_length(s, n_rows, 8 * nt);
        return j.w.dtype == DT_BF16 ? launch_expert_gemm<DT_BF16, MODE>(s, j, nt, tiles, list, err)
                                    : launch_expert_gemm<DT_MXFP4, MODE>(s, j, nt, tiles, list, err);
    }
    return launch_matmul<MODE>(s, &j, 1, &tiles, (unsigned)expert_grid_z(s, n_rows), n_rows, err);
}

/* ---- the matrix products of a step ----
 * Early start, per launch:
 *   q/k/v, o, unembedding (dense): stream their weight chunks before the
 *     wait (a one-wave launch paced PRELOAD_PACE_NS apart) and let the next
 *     kernel start at once; o also asks L2 for the router's weights, which
 *     moe_route reads next (decode-sized steps).
 *   gate_up (experts, SwiGLU): at decode-sized steps waits first, then lets
 *     down start, because down reads the routing before its own wait; at
 *     large batches waits before its weights.
 *   down (experts, + bias): at decode-sized steps reads the routing and
 *     streams its weights before its wait; at large batches waits first.
 * Why: down reads the routing, written two kernels back by moe_route, before
 * its wait, so gate_up lets it launch only after gate_up's own wait has seen
 * the routing written; at large batches down's early blocks measured a loss,
 * so there the experts wait first. (The kernel reads which case it is from
 * its jobs: routing_ready, next_reads_routing, weights_first.) */
static int launch_qkv_matmul(const HipState *s, const LayerDev *L, int T, Error *err) {
    int H = s->c.hidden;
    MatmulJob qkv[3] = {dense_job(s, L->wq, s->xn, H, T, s->splits_q, s->part_q), dense_job(s, L->wk, s->xn, H, T, s->splits_k, s->part_k),
                        dense_job(s, L->wv, s->xn, H, T, s->splits_v, s->part_v)};
    return dense_matmul(s, qkv, 3, T, err);
}

static int launch_o_matmul(const HipState *s, const LayerDev *L, int T, Error *err) {
    int QD = s->c.n_heads * s->c.head_dim;
    MatmulJob o = dense_job(s, L->wo, s->attn, QD, T, s->splits_o, s->part_o);
    return dense_matmul(s, &o, 1, T, err, T <= DECODE_ROWS ? &L->router : nullptr);
}

static int launch_gate_up(const HipState *s, const LayerDev *L, int T, Error *err) { return expert_matmul<MM_SWIGLU>(s, L, gate_up_job(s, L, T), T, err); }

static int launch_down(const HipState *s, const LayerDev *L, int T, Error *err) { return expert_matmul<MM_BIAS>(s, L, down_job(s, L, T), T, err); }

/* The logits of the n_out rows that want them (their final norms, packed by
 * the last combine at their logits rows). */
static int launch_unembedding(const HipState *s, int n_out, Error *err) {
    MatmulJob u = dense_job(s, s->unemb, s->xn, s->c.hidden, n_out, 1, s->logits);
    return dense_matmul(s, &u, 1, n_out, err);
}

#endif
