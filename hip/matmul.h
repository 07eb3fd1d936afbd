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

#include "hip_compat.h"

#define MM_WARPS 4            /* warps per block */
#define MM_TOKEN_TILES 4      /* most tiles of 8 tokens per warp (8 measured slower on an H100: less in flight) */
#define DECODE_ROWS 8         /* steps of up to this many rows are latency-bound: one token tile, prefetches, weights before the wait */
/* A dense matmul's blocks load weights while the kernel before them (the
 * attention, the combine: chains of short dependent steps) still runs.
 * Loads queue in the memory system in order, so 20 MB issued at once make
 * each of that kernel's own reads wait ~7 us behind them; spread over time
 * they still arrive before they are needed (H100, batch 1, the o and q/k/v
 * matmuls: 284 -> 287.5 tok/s at 300-400 ns, 600 ns too slow). */
#define PRELOAD_PACE_NS 350

enum { DT_F32 = 0, DT_BF16 = 1, DT_MXFP4 = 2 };
enum { MM_PARTIAL, MM_BIAS, MM_SWIGLU }; /* dense partial sums; the experts' down (+ bias) and gate_up (+ SwiGLU) */

/* A matrix, or a stack of E matrices of `rows` rows each, on the device. */
struct WeightView {
    const uint8_t *data;   /* F32/BF16 values, or MXFP4 blocks (16 bytes per 32 values) */
    const uint8_t *scales; /* MXFP4: one e8m0 byte per 32 values */
    int dtype, rows, cols;
    int tiled;             /* experts: stored in the tiled order (see tiled_index) */
};

/* Bytes of a weight's values (MXFP4: without its scales). */
__host__ __device__ inline size_t weight_bytes(const WeightView &w) {
    size_t n = (size_t)w.rows * w.cols;
    return w.dtype == DT_F32 ? 4 * n : w.dtype == DT_BF16 ? 2 * n : n / 2;
}

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
    int splits;  /* MM_PARTIAL, MM_BIAS: k ranges summed later, in order */
    void *out;   /* MM_PARTIAL: f32 [split][n_tokens][rows]; MM_BIAS: f32 [split][pair][ldo], n_tokens = pairs;
                    MM_SWIGLU: packed [pair][ldo / 4] (the down matmul's input) */
    int ldo;
    float limit; /* MM_SWIGLU clamp */
};

/* Writes the z-th record of a MatmulJob's routing. */
__device__ inline void set_route(int *routing, int z, int expert, int first, int count) {
    routing[1 + 3 * z] = expert, routing[2 + 3 * z] = first, routing[3 + 3 * z] = count;
}

/* Per lane and chunk: V consecutive values of a row (F32: 8, so 32 k per
 * chunk; BF16: 16, 64 k; MXFP4: 32, 128 k), loaded raw, U chunks at a time
 * (one-token-tile launches: decode_group_chunks): each row is read in runs
 * of 4 V values per chunk. */
template <int DT> struct Lane {
    enum {
        V = DT == DT_MXFP4 ? 32 : DT == DT_BF16 ? 16 : 8,
        U = DT == DT_MXFP4 ? 2 : 4,
        WORDS = DT == DT_MXFP4 ? 1 : 2 /* uint4 loads per lane and row */
    };
};
/* Chunks per register group of a one-token-tile launch (two groups in
 * flight). The BF16 expert matmuls stream faster with fewer bytes in flight
 * than the dense ones, which load theirs before the kernel ahead ends:
 * gate_up with 3 (the 20b shape's 45 chunks in 15 whole groups), down with 2
 * (H100, batch 1: 314 -> 324 tok/s against 4 / 4; 3 / 3, 2 / 2, 4 / 3 and
 * 3 / 1 measured lower, bench/RESULTS.md "Ninth session"). */
template <int DT, int MODE> __device__ constexpr int decode_group_chunks() {
    if (DT == DT_BF16 && MODE == MM_SWIGLU) return 3;
    if (DT == DT_BF16 && MODE == MM_BIAS) return 2;
    return Lane<DT>::U;
}
template <int DT> struct RawWeights {
    uint4 v[Lane<DT>::WORDS];
    uint32_t scale2; /* MXFP4: the block's scale as a bf16 pair */
};

__device__ inline float fp4_value(uint32_t n) {
    uint32_t e = (n >> 1) & 3u, m = n & 1u;
    float mag = e == 0 ? 0.5f * (float)m : __uint_as_float((e + 126u) << 23 | m << 22);
    return (n & 8u) ? -mag : mag;
}
__device__ inline float e8m0_value(uint32_t s) { return s == 0 ? __uint_as_float(0x00400000u) : __uint_as_float(s << 23); }
/* An e8m0 scale byte as a bf16 pair (a power of 2: exact in bf16). */
__device__ inline uint32_t e8m0_bf16x2(uint32_t s) {
    uint32_t f = __float_as_uint(e8m0_value(s));
    return f >> 16 | (f & 0xffff0000u);
}
/* Values per 16-byte word of a weight (MXFP4: 32, also one scale byte). */
__host__ __device__ constexpr int values_per_word(int dtype) { return dtype == DT_F32 ? 4 : dtype == DT_BF16 ? 8 : 32; }

/* The lane's V values of row r from column k; zeros when !ok. */
template <int DT> __device__ inline void load_raw(const WeightView &w, long r, int k, bool ok, RawWeights<DT> &raw) {
    for (int i = 0; i < Lane<DT>::WORDS; i++) raw.v[i] = make_uint4(0, 0, 0, 0);
    raw.scale2 = 0;
    if (!ok) return;
    if (DT == DT_BF16) {
        const uint4 *p = (const uint4 *)(w.data + ((size_t)r * w.cols + k) * 2);
#pragma unroll
        for (int i = 0; i < Lane<DT>::WORDS; i++) raw.v[i] = p[i];
    } else if (DT == DT_F32) {
        const uint4 *p = (const uint4 *)(w.data + ((size_t)r * w.cols + k) * 4);
        raw.v[0] = p[0];
        raw.v[(Lane<DT>::WORDS - 1)] = p[1];
    } else {
        raw.v[0] = *(const uint4 *)(w.data + (size_t)r * (w.cols / 2) + k / 2);
        raw.scale2 = e8m0_bf16x2(w.scales[(size_t)r * (w.cols / 32) + k / 32]);
    }
}

/* Expert weights whose rows hold whole chunks are stored "tiled" on the
 * device (tile_expert_weights in hip_backend.hip reorders them after the
 * upload): within each tile of 16 rows, chunk by chunk, the 16-byte words
 * that one load instruction of the warp reads lie together, so it reads one
 * contiguous run of 512 bytes rather than 64 bytes from each of 8 rows, and
 * a lane's loads sit at fixed offsets from one address. A tile's bytes stay
 * within its own 16 rows, so the reorder is a permutation in place.
 *
 * W: 16-byte words per lane, row and chunk. Lane (g, q) reads slots g and
 * g+8 of its tile (tile_slot_of_row); word w of its run in chunk c is word
 * c 4W + q W + w of the row, and lies at tiled_index from the tile's start
 * (16 rows x RW words). MXFP4 scale bytes (one per 32 values: as many as
 * the row's words) are ordered the same way with W = 1, in bytes.
 *
 * Rows with a short last chunk (MXFP4 with 2880 columns: 22.5 chunks of
 * 128) stay row-major: every form of addressing the short chunk that was
 * tried cost more than the layout gained (bench/RESULTS.md). */
__host__ __device__ inline long tiled_index(int slot, int c, int q, int w, int W) {
    return (long)c * 64 * W + (long)((slot / 8) * W + w) * 32 + (slot % 8) * 4 + q;
}
/* Row of a tile (0..15) -> its slot. SwiGLU: slot g holds channel g's gate
 * (row 2g), slot g+8 its up (row 2g+1), which meet in one lane. */
__host__ __device__ inline int tile_slot_of_row(int row, bool swiglu) { return swiglu ? (row % 2) * 8 + row / 2 : row; }

/* Lane<DT>::WORDS for a runtime dtype. */
__host__ __device__ inline int lane_words(int dtype) {
    return dtype == DT_MXFP4 ? (int)Lane<DT_MXFP4>::WORDS : dtype == DT_BF16 ? (int)Lane<DT_BF16>::WORDS : (int)Lane<DT_F32>::WORDS;
}
/* 16-byte words per row of a weight (MXFP4: also its scale bytes). */
__host__ __device__ inline int row_words(const WeightView &w) { return w.cols / values_per_word(w.dtype); }
/* Whether a weight's rows hold whole chunks (so it can be tiled). */
__host__ __device__ inline bool rows_hold_whole_chunks(const WeightView &w) { return row_words(w) % (4 * lane_words(w.dtype)) == 0; }

/* load_raw for tiled expert weights: slot g + 8h of global tile `tile`, chunk c. */
template <int DT>
__device__ inline void load_raw_tiled(const WeightView &w, long tile, int h, int lane, int c, bool ok, RawWeights<DT> &raw) {
    constexpr int W = Lane<DT>::WORDS;
    for (int i = 0; i < W; i++) raw.v[i] = make_uint4(0, 0, 0, 0);
    raw.scale2 = 0;
    if (!ok) return;
    const long start = tile * 16 * (w.cols / values_per_word(DT)); /* the tile's first word */
    const uint4 *p = (const uint4 *)w.data + start + tiled_index(8 * h, c, lane, 0, W); /* lane = 4g + q */
#pragma unroll
    for (int i = 0; i < W; i++) raw.v[i] = p[32 * i];
    if (DT == DT_MXFP4) raw.scale2 = e8m0_bf16x2(w.scales[start + tiled_index(8 * h, c, lane, 0, 1)]);
}

__device__ inline uint32_t word_of(const uint4 &v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

/* Values 4s..4s+3 of the lane's row as two bf16 pairs (hi), and for F32
 * what bf16 left out (lo). */
template <int DT> __device__ inline void unpack_step(const RawWeights<DT> &raw, int s, uint32_t hi[2], uint32_t lo[2]) {
    if (DT == DT_BF16) {
        hi[0] = word_of(raw.v[s / 2], 2 * s % 4), hi[1] = word_of(raw.v[s / 2], 2 * s % 4 + 1);
        lo[0] = lo[1] = 0;
    } else if (DT == DT_F32) {
        const uint4 &v = raw.v[s >= 1 ? Lane<DT>::WORDS - 1 : 0];
        split_bf16x2(__uint_as_float(v.x), __uint_as_float(v.y), hi[0], lo[0]);
        split_bf16x2(__uint_as_float(v.z), __uint_as_float(v.w), hi[1], lo[1]);
    } else {
        /* fp4 (sign, 2 exponent bits, 1 mantissa bit) to bf16 by moving the
         * bits: s e e m placed at bf16 bits 15 and 8..6 reads as the value
         * times 2^-126 (e = 0, m = 1 as the subnormal 2^-127), so two exact
         * products give value x scale, two values per instruction */
        const uint32_t two_126 = 0x7E807E80u;
        for (int h = 0; h < 2; h++) { /* byte 2s+h holds values 4s+2h (low nibble) and 4s+2h+1 */
            int byte_index = 2 * s + h;
            uint32_t byte = (word_of(raw.v[0], byte_index / 4) >> (8 * (byte_index % 4))) & 0xFFu;
            uint32_t t = byte | byte << 12; /* the nibbles at bits 0..3 and 16..19 */
            uint32_t bits = (t & 0x00070007u) << 6 | (t & 0x00080008u) << 12;
            hi[h] = bf16x2_mul(bf16x2_mul(bits, two_126), raw.scale2);
        }
        lo[0] = lo[1] = 0;
    }
}

__device__ inline float swiglu(float gate, float up, float limit) {
    gate = fminf(gate, limit);
    up = fmaxf(fminf(up, limit), -limit);
    return (up + 1.0f) * (gate / (1.0f + expf(-1.702f * gate)));
}

/* Row of x that token `tok` of the block's list reads. */
__device__ inline const uint4 *xrow_of(const MatmulJob &J, bool experts, int first, int tok) {
    int row = experts ? J.pairs[first + tok] / J.pair_div : tok;
    return J.x + (size_t)row * J.ldx;
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
 * throughput there, not DRAM); one at decode-sized batches. */
template <int NT> struct RowTiles {
    enum { MT = NT == 1 ? 1 : 2 };
};

/* grid: x = (group of MM_WARPS * MT tiles) x split (dense: of each job in turn), y = groups of 8 NT tokens, z = the z-th expert
 * that has tokens (dense: 1). The block's warps share the split and the
 * tokens, so x is staged once per block in shared memory, already split into
 * bf16 hi/lo in the mma's B layout, while the weights stream into registers.
 * TILED: the experts' weights are tiled (see tiled_index). */
template <int DT, int MODE, int NT, bool TILED = false>
__global__ void __launch_bounds__(MM_WARPS * WARP, NT == 1 ? 3 : 0) matmul_kernel(const MatmulJobs jobs) {
    BLOCK_TRACE(TK_MATMUL + MODE);
    /* NT token tiles per warp: 1 for decode-sized batches, with twice the
     * weight chunks in flight (and room for 3 blocks per multiprocessor);
     * each output's sum is the same either way */
    constexpr int MT = RowTiles<NT>::MT;
    /* chunks per group: NT = 1 keeps two groups in flight */
    constexpr int V = Lane<DT>::V, CH = 4 * V, U = NT == 1 ? decode_group_chunks<DT, MODE>() : (Lane<DT>::U / MT > 0 ? Lane<DT>::U / MT : 1), S = V / 4;
    __shared__ uint4 staged[U][S][NT][WARP];
    /* MM_BIAS, MM_SWIGLU: the experts' jobs; MM_PARTIAL: dense. Read from the
     * jobs, not the template: the compile-time form gave the dense kernels
     * at batch 64-256 30 fewer registers and 3-7% more time (H100, CUPTI) */
    const bool experts = jobs.job[0].pairs != nullptr;
    static_assert(MODE != MM_PARTIAL || !TILED, "only expert weights are tiled");
    /* the token groups of one tile group are neighbours in launch order, so
     * the weights they share come from DRAM about once (then from L2) */
    const int lin = blockIdx.y * gridDim.x + blockIdx.x, by = lin % gridDim.y;
    int bx = lin / gridDim.y, j = 0;
    while (j + 1 < jobs.n_jobs && bx >= jobs.blocks[j]) bx -= jobs.blocks[j++];
    const MatmulJob &J = jobs.job[j];
    if (jobs.prefetch) {
        size_t n = gridDim.x * gridDim.y, share = (jobs.prefetch_bytes + n - 1) / n, at = (size_t)lin * share;
        if (at < jobs.prefetch_bytes) prefetch_l2((const char *)jobs.prefetch + at, min(share, jobs.prefetch_bytes - at));
    }
    /* Dense matmuls stream weights before x is ready. At decode-sized steps
     * (NT = 1) so does down (the experts' MM_BIAS job): it reads the
     * routing, written two kernels back by post-attention, before its wait;
     * so gate_up (MM_SWIGLU) lets it launch only once gate_up's own wait has
     * seen the routing written. At large batches down's early blocks
     * measured a loss, so there the experts wait first. */
    const bool routing_ready = experts && NT == 1 && MODE == MM_BIAS, next_reads_routing = experts && NT == 1 && MODE == MM_SWIGLU;
    const bool weights_first = !experts || routing_ready;
    if (next_reads_routing) wait_prior_kernel();
    let_next_kernel_start();
    if (!weights_first && !next_reads_routing) wait_prior_kernel();
    const int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3;
    const int O = J.w.rows, K = J.w.cols, tiles = MODE == MM_SWIGLU ? (O / 2 + 7) / 8 : (O + 15) / 16;
    const int split = bx % J.splits, tile0 = bx / J.splits * MM_WARPS * MT;
    if (tile0 >= tiles) return; /* the whole block: this job has fewer tiles */
    const int wtile = tile0 + threadIdx.x / WARP * MT; /* the warp's first tile */
    const bool active = wtile < tiles;                  /* inactive warps still stage x */
    int e = 0, first = 0, count = J.n_tokens;
    if (experts) {
        const volatile int *routing = J.routing; /* from L2: possibly read before the wait */
        const int z = blockIdx.z, n_active = routing[0], ez = routing[1 + 3 * z], fz = routing[2 + 3 * z], nz = routing[3 + 3 * z];
        if (z >= n_active) return; /* fewer experts have tokens than the grid allows */
        e = ez, first = fz, count = nz;
    }
    const int t0 = by * 8 * NT;
    if (t0 >= count) return;
    const int n_tiles = min(NT, (count - t0 + 7) / 8), n_valid = min(8 * NT, count - t0);
    for (int i = threadIdx.x; i < U * S * NT * WARP; i += blockDim.x) (&staged[0][0][0][0])[i] = make_uint4(0, 0, 0, 0);

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
    const int my_tl = threadIdx.x % (8 * NT), my_col0 = threadIdx.x / (8 * NT), n_cols = MM_WARPS * WARP / (8 * NT);
    const uint4 *my_row = NT > 1 && my_tl < n_valid ? xrow_of(J, experts, first, t0 + my_tl) : nullptr;

    const int chunks = (K + CH - 1) / CH, c0 = split * chunks / J.splits, c1 = (split + 1) * chunks / J.splits;
    /* The lane's weights of the U chunks from cb (zeros past c1 or K). */
    auto load_group = [&](RawWeights<DT>(&w0)[MT][U], RawWeights<DT>(&w1)[MT][U], int cb, int pace_ns = 0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (pace_ns && u > 0) sleep_ns((unsigned)pace_ns);
            int k = (cb + u) * CH + q * V;
            bool kin = cb + u < c1 && k < K;
#pragma unroll
            for (int m = 0; m < MT; m++) {
                if (TILED) {
                    const long tile = (long)e * tiles + wtile + m;
                    load_raw_tiled<DT>(J.w, tile, 0, lane, cb + u, kin && ok0[m], w0[m][u]);
                    load_raw_tiled<DT>(J.w, tile, 1, lane, cb + u, kin && ok1[m], w1[m][u]);
                } else {
                    load_raw<DT>(J.w, r0[m], k, kin && ok0[m], w0[m][u]);
                    load_raw<DT>(J.w, r1[m], k, kin && ok1[m], w1[m][u]);
                }
            }
        }
    };
    /* x of the U chunks from cb into shared memory, then the mmas. */
    auto multiply_group = [&](const RawWeights<DT>(&w0)[MT][U], const RawWeights<DT>(&w1)[MT][U], int cb) {
        __syncthreads(); /* the previous chunks' x is no longer read */
        /* copies of the real tokens' entries; the other tokens' stay zero.
         * One tile: each token's run of k contiguous across threads; four:
         * each thread its own token's row (both measured best for their case). */
        if (NT == 1) {
            for (int i = threadIdx.x; i < U * S * 4 * n_valid; i += blockDim.x) {
                int qq = i % 4, st = i / 4 % S, u = i / (4 * S) % U, tl = i / (4 * S * U), k = (cb + u) * CH + qq * V + 4 * st;
                staged[u][st][tl / 8][(tl % 8) * 4 + qq] =
                    cb + u < c1 && k < K ? xrow_of(J, experts, first, t0 + tl)[k / 4] : make_uint4(0, 0, 0, 0);
            }
        } else if (my_row) {
            for (int col = my_col0; col < U * S * 4; col += n_cols) {
                int u = col / (S * 4), st = col / 4 % S, qq = col % 4, k = (cb + u) * CH + qq * V + 4 * st;
                staged[u][st][my_tl / 8][(my_tl % 8) * 4 + qq] = cb + u < c1 && k < K ? my_row[k / 4] : make_uint4(0, 0, 0, 0);
            }
        }
        __syncthreads();
        if (!active) return;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (cb + u >= c1) break;
#pragma unroll
            for (int st = 0; st < S; st++) {
                uint32_t ah[MT][4], al[MT][4];
#pragma unroll
                for (int m = 0; m < MT; m++) {
                    uint32_t h0[2], l0[2], h1[2], l1[2];
                    unpack_step<DT>(w0[m][u], st, h0, l0);
                    unpack_step<DT>(w1[m][u], st, h1, l1);
                    ah[m][0] = h0[0], ah[m][1] = h1[0], ah[m][2] = h0[1], ah[m][3] = h1[1];
                    al[m][0] = l0[0], al[m][1] = l1[0], al[m][2] = l0[1], al[m][3] = l1[1];
                }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    if (nt >= n_tiles) break;
                    uint4 b = staged[u][st][nt][lane]; /* one read, MT tiles of mmas */
                    uint32_t bh[2] = {b.x, b.y}, bl[2] = {b.z, b.w};
#pragma unroll
                    for (int m = 0; m < MT; m++) {
                        mma_bf16_16x8x16(acc[m][nt], ah[m], bh);
                        mma_bf16_16x8x16(acc[m][nt], ah[m], bl);
                        if (DT == DT_F32) mma_bf16_16x8x16(acc[m][nt], al[m], bh);
                    }
                }
            }
        }
    };
    if (NT == 1) {
        /* two register buffers: one group's loads stay in flight while the
         * other's are multiplied (measured level with one buffer of twice
         * the chunks, which leaves no loads in flight during its mmas) */
        RawWeights<DT> wa0[MT][U], wa1[MT][U], wb0[MT][U], wb1[MT][U];
        load_group(wa0, wa1, c0, jobs.pace_ns);
        if (jobs.pace_ns) sleep_ns((unsigned)jobs.pace_ns);
        load_group(wb0, wb1, c0 + U, jobs.pace_ns);
        if (weights_first) wait_prior_kernel(); /* x and the outputs' previous readers */
        for (int cb = c0; cb < c1; cb += 2 * U) {
            multiply_group(wa0, wa1, cb);
            if (cb + 2 * U < c1) load_group(wa0, wa1, cb + 2 * U);
            if (cb + U >= c1) break;
            multiply_group(wb0, wb1, cb + U);
            if (cb + 3 * U < c1) load_group(wb0, wb1, cb + 3 * U);
        }
    } else {
        for (int cb = c0; cb < c1; cb += U) {
            RawWeights<DT> w0[MT][U], w1[MT][U];
            load_group(w0, w1, cb); /* weight loads first: bytes in flight */
            if (weights_first && cb == c0) wait_prior_kernel();
            multiply_group(w0, w1, cb);
        }
    }
    BLOCK_TRACE_MARK(1);
    if (!active) return;

#pragma unroll
    for (int m = 0; m < MT; m++) {
        const int tile = wtile + m;
        /* lane holds rows (g, g+8) x tokens (2q, 2q+1) of each token tile */
        for (int nt = 0; nt < n_tiles; nt++)
            for (int c = 0; c < 2; c++) {
                int i = t0 + nt * 8 + 2 * q + c;
                if (i >= count) continue;
                if (MODE == MM_PARTIAL) {
                    float *o = (float *)J.out + ((size_t)split * J.n_tokens + i) * O;
                    if (ok0[m]) o[r0[m]] = acc[m][nt][c];
                    if (ok1[m]) o[r1[m]] = acc[m][nt][2 + c];
                } else if (MODE == MM_BIAS) { /* the bias joins split 0 */
                    int p = J.pairs[first + i];
                    float *o = (float *)J.out + ((size_t)split * J.n_tokens + p) * J.ldo - (long)e * O;
                    if (ok0[m]) o[r0[m]] = acc[m][nt][c] + (split == 0 ? J.bias[r0[m]] : 0.0f);
                    if (ok1[m]) o[r1[m]] = acc[m][nt][2 + c] + (split == 0 ? J.bias[r1[m]] : 0.0f);
                }
            }
        if (MODE == MM_SWIGLU) { /* lanes g..g+3 hold 4 consecutive channels: the first packs them */
            for (int nt = 0; nt < NT; nt++)
                for (int c = 0; c < 2; c++) {
                    int i = t0 + nt * 8 + 2 * q + c, ch = tile * 8 + g;
                    float v = ok0[m] && ok1[m] ? swiglu(acc[m][nt][c] + J.bias[r0[m]], acc[m][nt][2 + c] + J.bias[r1[m]], J.limit) : 0.0f;
                    float v1 = lane_shfl(v, (lane + 4) % WARP), v2 = lane_shfl(v, (lane + 8) % WARP), v3 = lane_shfl(v, (lane + 12) % WARP);
                    if (nt < n_tiles && i < count && g % 4 == 0 && ok0[m]) {
                        int p = J.pairs[first + i];
                        ((uint4 *)J.out)[(size_t)p * (J.ldo / 4) + ch / 4] = pack_split4(v, v1, v2, v3);
                    }
                }
        }
    }
}

#endif
