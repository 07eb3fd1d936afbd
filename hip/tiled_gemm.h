/* tiled_gemm.h - the matmuls of large steps as a tiled GEMM: the experts'
 * (the default; GETP_EXPERT_GEMM=0: matmul_kernel; issue 23 item 1) and the
 * dense ones (GETP_DENSE_GEMM=1, the default since ledger L169: +2.5% at 1024 rows).
 *
 * A block multiplies EG_MTILES tiles of 16 rows of one expert's W (256
 * rows; gate_up: 128 channels) by up to 64 (or 32) of that expert's tokens,
 * or of a dense W by 32 of the step's tokens.
 * Both go through shared memory in stages of EG_STEPS mma k steps, two
 * buffers: while the block multiplies one stage, the next stage's x lands by
 * async copies and its weights load into registers, to be decoded into the
 * other buffer after the mmas. So each weight is loaded and decoded once for
 * 64 tokens (matmul.h's several-token-tile kernel: once for 32, by the warp
 * that multiplies it, in its own registers), and each staged x word feeds
 * 256 rows (there: 128). What bounds these matmuls is L2's traffic, most of
 * it x (bf16 hi + lo: 4 bytes a value, read again by every row group): ncu
 * of the 128-row form, L2 77% busy, tensor pipes 30% (ledger L166); 256 rows
 * halve x's share (L167).
 *
 * The sums are matmul_kernel's, bit for bit: every output gets the same mma
 * instructions with the same operands in the same order (the chunks of its
 * split in order, a chunk's k steps in order, x's hi then lo), the A
 * fragments made by the same load_raw / unpack_step, the B fragments from the
 * same packed words of x. The tokens a block takes and where they sit in it
 * change nothing in a sum, so batch invariance holds across both kernels
 * (test_gpu compares batch 1, which runs matmul_kernel, with large batches).
 *
 * Dense matrices are split along k by the shape alone (choose_splits: enough
 * blocks for batch 1), each split's partial sum written to memory and the
 * partials added in order by the kernel that reads them (qkv_finish or,
 * with GETP_FUSED_ROPE, the attention; the post-attention). At a large step those partials are most of the traffic,
 * so a dense block runs every split of its rows itself, adding each split's
 * sum in the same order into a running total (0 + p0 + p1 + ...: the reader's
 * own float additions), and writes the total as the one partial: the reader
 * is then told there is one (dense_parts), and adds it to 0, which leaves it
 * unchanged. The same bits again.
 *
 * With GETP_X_HI_ONLY=3 the experts' x arrives as compact rows, the bf16 hi
 * pairs alone (8 bytes per 4 values, the same word indices), written so by
 * post-attention and by gate_up's SwiGLU: the stages hold half the x bytes
 * and each product is one mma, hi alone, as matmul_kernel computes it at
 * batch 1 with that setting (ledger L170: +15-18% at 256-1024 rows).
 *
 * Included by matmul.h after its kernel (it uses MatmulJob and the lane's
 * weight loads), before the launchers that choose between the two. */
#ifndef GETP_HIP_TILED_GEMM_H
#define GETP_HIP_TILED_GEMM_H

#include <type_traits>

#define EG_WARPS 8   /* 256 threads; with 128 registers each, 2 blocks a multiprocessor */
#define EG_MTILES 16 /* tiles of 16 weight rows a block: 256 rows */
#define EG_STEPS 4   /* mma k steps a stage (MXFP4: half a chunk, BF16: a chunk) */

/* NTILES tiles of 8 tokens a block (the expert tile list's groups: 8
 * NTILES tokens), each warp 4 of them: 8 as 4 x 2 warps of 4 row tiles
 * each, 4 as 8 x 1 warps of 2 row tiles. A warp decodes 2 row tiles. */
template <int NTILES> struct TiledGemmShape {
    static_assert(NTILES == 4 || NTILES == 8, "32 or 64 tokens a block");
    enum { WN = NTILES / 4, WM = EG_WARPS / WN, MI = EG_MTILES / WM, TOKENS = 8 * NTILES };
};

/* One stage in shared memory: the A fragments of its k steps for every row
 * tile (rows g and g+8 of the tile as the lane's mma registers), and x's
 * packed words for every token tile in matmul_kernel's B layout. 40 or 48 KB
 * (compact rows: 36 or 40). */
template <int NTILES, bool COMPACT = false> struct TiledGemmStage {
    typedef typename std::conditional<COMPACT, uint2, uint4>::type XWord; /* compact: x's hi pairs alone */
    uint4 a[EG_MTILES][EG_STEPS][WARP];
    XWord b[EG_STEPS][NTILES][WARP];
};

/* Rows of W that lane g of row tile `tile` holds (matmul_block's mapping):
 * SwiGLU: channel tile * 8 + g's gate and up rows; else rows g and g + 8. */
template <int MODE> __device__ inline void tile_rows(int tile, int g, long &r0, long &r1) {
    if (MODE == MM_SWIGLU) r0 = 2L * (tile * 8 + g), r1 = r0 + 1;
    else r0 = tile * 16L + g, r1 = r0 + 8;
}

template <int DT, int MODE, bool TILED, bool FOLD, int NTILES, bool COMPACT = false>
__global__ void __launch_bounds__(EG_WARPS * WARP, 2) tiled_gemm_kernel(const MatmulJobs jobs) {
    typedef TiledGemmShape<NTILES> Shape;
    constexpr int WN = Shape::WN, MI = Shape::MI, TOKENS = Shape::TOKENS;
    constexpr bool DENSE = MODE == MM_PARTIAL;
    static_assert(DT == DT_BF16 || (DT == DT_MXFP4 && !DENSE), "the GEMM takes BF16 weights, or MXFP4 experts");
    static_assert(!DENSE || (NTILES == 4 && !TILED), "dense: row-major, 32 tokens a block (the splits' total doubles the sums)");
    constexpr int V = Lane<DT>::V, CH = 4 * V, S = V / 4, SPC = S / EG_STEPS; /* stages a chunk */
    static_assert(SPC >= 1 && S % EG_STEPS == 0, "a stage is whole k steps of one chunk");
    BLOCK_TRACE(TK_MATMUL + MODE);
    DYNAMIC_SHARED(uint4, shared); /* one type for every instance */
    typedef TiledGemmStage<NTILES, COMPACT> Stage;
    typedef typename Stage::XWord XWord;
    Stage *stage = reinterpret_cast<Stage *>(shared); /* [2] */
    /* early start (see the launchers in matmul.h): the experts wait first
     * (they read the routing); a dense block loads its first weights first */
    const ChainGate gate;
    gate.let_next();
    if (!DENSE) gate.wait();

    /* the block's job (dense: up to 3 along grid.x, jobs.blocks[j] each) */
    int bx = blockIdx.x, j = 0;
    if (DENSE)
        while (j + 1 < jobs.n_jobs && bx >= jobs.blocks[j]) bx -= jobs.blocks[j++];
    const MatmulJob &J = jobs.job[j];
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, g = lane >> 2, q = lane & 3;
    const int O = J.w.rows, K = J.w.cols, tiles = MODE == MM_SWIGLU ? (O / 2 + 7) / 8 : (O + 15) / 16;
    const int split = DENSE ? 0 : bx % J.splits, tile0 = (DENSE ? bx : bx / J.splits) * EG_MTILES;
    if (tile0 >= tiles) return;
    int e = 0, first = 0, count = J.n_tokens, t0 = blockIdx.y * TOKENS;
    if (!DENSE) { /* the expert and its tokens: entry blockIdx.y of the step's tile list */
        const volatile int *routing = J.routing, *list = routing + 1 + 3 * J.n_experts;
        if ((int)blockIdx.y >= list[0]) return;
        const int item = list[1 + blockIdx.y], z = item >> 16;
        t0 = (item & 0xffff) * TOKENS;
        if (z >= routing[0]) return;
        e = routing[1 + 3 * z], first = routing[2 + 3 * z], count = routing[3 + 3 * z];
    }
    if (t0 >= count) return;
    const int n_valid = min((int)TOKENS, count - t0), n_tiles = (n_valid + 7) / 8;

    /* the producer's side: this warp loads and decodes row tiles 2 warp, 2 warp + 1 */
    static_assert(EG_MTILES == 2 * EG_WARPS, "each warp decodes two row tiles");
    long pr0[2], pr1[2];
    bool pok0[2], pok1[2];
    for (int m = 0; m < 2; m++) {
        const int tile = tile0 + 2 * warp + m;
        tile_rows<MODE>(tile, g, pr0[m], pr1[m]);
        pok0[m] = tile < tiles && pr0[m] < O, pok1[m] = tile < tiles && pr1[m] < O;
        pr0[m] += (long)e * O, pr1[m] += (long)e * O;
    }
    /* x: thread copies words (si, qq) of tokens tl0 + TOKENS_A_PASS j (16 words a token and stage) */
    const int si_mine = threadIdx.x % EG_STEPS, qq_mine = threadIdx.x / EG_STEPS % 4, tl0 = threadIdx.x / (4 * EG_STEPS);
    constexpr int TOKENS_A_PASS = EG_WARPS * WARP / (4 * EG_STEPS), PASSES = TOKENS / TOKENS_A_PASS;
    int xrow[PASSES]; /* word offset of the token's x row, -1: none */
#pragma unroll
    for (int j = 0; j < PASSES; j++) {
        const int tl = tl0 + j * TOKENS_A_PASS;
        xrow[j] = tl < n_valid ? (DENSE ? t0 + tl : J.pairs[first + t0 + tl] / J.pair_div) * J.ldx : -1;
    }

    /* experts: the chunks of the block's split; dense: all, the splits' bounds
     * where the running total takes the sum so far */
    const int chunks = (K + CH - 1) / CH, c0 = DENSE ? 0 : split * chunks / J.splits, c1 = DENSE ? chunks : (split + 1) * chunks / J.splits;
    const int n_stages = (c1 - c0) * SPC;
    RawWeights<DT> raw[2][2];
    auto load_chunk = [&](int c) {
        const int k = c * CH + q * V;
        const bool kin = k < K;
#pragma unroll
        for (int m = 0; m < 2; m++) {
            if (TILED) {
                const long tile = (long)e * tiles + tile0 + 2 * warp + m;
                load_raw_tiled<DT, FOLD>(J.w, tile, 0, lane, c, kin && pok0[m], raw[m][0]);
                load_raw_tiled<DT, FOLD>(J.w, tile, 1, lane, c, kin && pok1[m], raw[m][1]);
            } else {
                load_raw<DT, FOLD>(J.w, pr0[m], k, kin && pok0[m], raw[m][0]);
                load_raw<DT, FOLD>(J.w, pr1[m], k, kin && pok1[m], raw[m][1]);
            }
        }
    };
    /* stage s's A fragments (its chunk's raw weights are loaded) into buffer buf */
    auto decode_stage = [&](int s, int buf) {
#pragma unroll
        for (int h = 0; h < SPC; h++) {
            if (h != s % SPC) continue;
#pragma unroll
            for (int i = 0; i < EG_STEPS; i++)
#pragma unroll
                for (int m = 0; m < 2; m++) {
                    uint32_t h0[2], l0[2], h1[2], l1[2];
                    unpack_step<DT, FOLD>(raw[m][0], h * EG_STEPS + i, h0, l0);
                    unpack_step<DT, FOLD>(raw[m][1], h * EG_STEPS + i, h1, l1);
                    stage[buf].a[2 * warp + m][i][lane] = make_uint4(h0[0], h1[0], h0[1], h1[1]);
                }
        }
    };
    /* stage s's x words into buffer buf, in the background (zeros past the tokens or K) */
    auto stage_x = [&](int s, int buf) {
        const int c = c0 + s / SPC, st = s % SPC * EG_STEPS + si_mine, k = c * CH + qq_mine * V + 4 * st;
#pragma unroll
        for (int j = 0; j < PASSES; j++) {
            const int tl = tl0 + j * TOKENS_A_PASS;
            const bool in = xrow[j] >= 0 && k < K;
            const XWord *x = reinterpret_cast<const XWord *>(J.x); /* compact rows: the same word indices */
            async_copy(&stage[buf].b[si_mine][tl / 8][(tl % 8) * 4 + qq_mine], in ? x + xrow[j] + k / 4 : x, in);
        }
        async_copy_commit();
    };

    /* the consumer's side: row tiles MI wm.., token tiles 4 wn.. */
    const int wm = warp / WN, wn = warp % WN;
    float acc[MI][4][4];
#pragma unroll
    for (int mi = 0; mi < MI; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.0f;
    const int my_tiles = min(4, n_tiles - 4 * wn); /* token tiles of this warp with tokens */
    float total[DENSE ? MI : 1][4][4]; /* dense: the splits' sum so far */
    int next_split = 1;                /* dense: the split whose first chunk comes next */
    auto add_to_total = [&]() {
#pragma unroll
        for (int mi = 0; mi < MI; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int i = 0; i < 4; i++) total[DENSE ? mi : 0][ni][i] += acc[mi][ni][i], acc[mi][ni][i] = 0.0f;
    };
    if (DENSE)
#pragma unroll
        for (int mi = 0; mi < MI; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int i = 0; i < 4; i++) total[DENSE ? mi : 0][ni][i] = 0.0f;

    if (n_stages > 0) load_chunk(c0);
    if (DENSE) gate.wait(); /* x and the partials' previous readers */
    if (n_stages > 0) {
        stage_x(0, 0);
        decode_stage(0, 0);
    }
    for (int s = 0; s < n_stages; s++) {
        const int buf = s & 1;
        if (DENSE && s % SPC == 0) /* the split(s) that end before this chunk: into the total */
            for (const int c = c0 + s / SPC; next_split < J.splits && c == next_split * chunks / J.splits; next_split++) add_to_total();
        async_copy_wait<0>();
        __syncthreads(); /* stage s is in buf; every warp is done with buf ^ 1 */
        if (s + 1 < n_stages) {
            stage_x(s + 1, buf ^ 1);
            if ((s + 1) % SPC == 0) load_chunk(c0 + (s + 1) / SPC);
        }
        const Stage &in = stage[buf];
#pragma unroll
        for (int i = 0; i < EG_STEPS; i++) {
            uint4 a[MI];
#pragma unroll
            for (int mi = 0; mi < MI; mi++) a[mi] = in.a[MI * wm + mi][i][lane];
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                if (ni >= my_tiles) break;
                const XWord b = in.b[i][4 * wn + ni][lane];
                uint32_t bh[2] = {b.x, b.y}, bl[2] = {0, 0};
                if constexpr (!COMPACT) bl[0] = b.z, bl[1] = b.w;
#pragma unroll
                for (int mi = 0; mi < MI; mi++) {
                    const uint32_t am[4] = {a[mi].x, a[mi].y, a[mi].z, a[mi].w};
                    mma_bf16_16x8x16(acc[mi][ni], am, bh);
                    if (!COMPACT && !J.x_hi_only) mma_bf16_16x8x16(acc[mi][ni], am, bl);
                }
            }
        }
        if (s + 1 < n_stages) decode_stage(s + 1, buf ^ 1);
    }
    BLOCK_TRACE_MARK(1);
    if (DENSE) /* the last split, and any empty ones after it */
        for (; next_split <= J.splits; next_split++) add_to_total();

#pragma unroll
    for (int mi = 0; mi < MI; mi++) {
        const int tile = tile0 + MI * wm + mi;
        long r0, r1;
        tile_rows<MODE>(tile, g, r0, r1);
        const bool ok0 = tile < tiles && r0 < O, ok1 = tile < tiles && r1 < O;
        r0 += (long)e * O, r1 += (long)e * O;
        store_tile<MODE, 4>(J, DENSE ? total[DENSE ? mi : 0] : acc[mi], e, first, count, split, tile, t0 + 32 * wn, my_tiles, r0, r1, ok0, ok1);
    }
}

/* One launch of the GEMM with NTILES token tiles a block; grid.y: token
 * groups (experts: entries of the step's tile list, at most). */
template <int DT, int MODE, bool TILED, bool FOLD>
static int launch_tiled_gemm(const HipState *s, const MatmulJobs &jobs, int ntiles, dim3 grid, Error *err) {
    auto kernel = tiled_gemm_kernel<DT, MODE, TILED, FOLD, 4>;
    size_t shared = 2 * sizeof(TiledGemmStage<4>);
    if constexpr (MODE != MM_PARTIAL) { /* dense blocks take 32 tokens */
        const bool compact = jobs.job[0].x_compact;
        if (ntiles == 8) kernel = compact ? tiled_gemm_kernel<DT, MODE, TILED, FOLD, 8, true> : tiled_gemm_kernel<DT, MODE, TILED, FOLD, 8>;
        else if (compact) kernel = tiled_gemm_kernel<DT, MODE, TILED, FOLD, 4, true>;
        shared = 2 * (ntiles == 8 ? (compact ? sizeof(TiledGemmStage<8, true>) : sizeof(TiledGemmStage<8>))
                                  : (compact ? sizeof(TiledGemmStage<4, true>) : sizeof(TiledGemmStage<4>)));
    }
    CHECK(hipFuncSetAttribute((const void *)kernel, hipFuncAttributeMaxDynamicSharedMemorySize, (int)shared), err);
    (void)launch_chained(kernel, grid, dim3(EG_WARPS * WARP), shared, s->stream, jobs);
    CHECK_LAUNCH(err);
    return 0;
}
/* An expert job whose routing lists tiles of 8 ntiles tokens. */
template <int DT, int MODE>
static int launch_expert_gemm(const HipState *s, const MatmulJob &j, int ntiles, unsigned row_tiles, unsigned list_length, Error *err) {
    MatmulJobs jobs;
    memset(&jobs, 0, sizeof jobs);
    jobs.job[0] = j, jobs.n_jobs = 1;
    const dim3 grid((unsigned)cdiv(row_tiles, EG_MTILES) * (unsigned)j.splits, list_length, 1);
    const bool tiled = j.w.tiled, fold = DT == DT_MXFP4 && j.w.small_scales;
    if (tiled && fold) return launch_tiled_gemm<DT, MODE, true, true>(s, jobs, ntiles, grid, err);
    if (tiled) return launch_tiled_gemm<DT, MODE, true, false>(s, jobs, ntiles, grid, err);
    if (fold) return launch_tiled_gemm<DT, MODE, false, true>(s, jobs, ntiles, grid, err);
    return launch_tiled_gemm<DT, MODE, false, false>(s, jobs, ntiles, grid, err);
}
/* Up to 3 dense BF16 jobs over the same n tokens (each its splits summed in
 * the block: its reader then sums one partial, dense_parts). */
static int launch_dense_gemm(const HipState *s, const MatmulJob *job, int n_jobs, int n, Error *err) {
    MatmulJobs jobs;
    memset(&jobs, 0, sizeof jobs);
    jobs.n_jobs = n_jobs;
    unsigned grid_x = 0;
    for (int i = 0; i < n_jobs; i++) {
        jobs.job[i] = job[i];
        jobs.blocks[i] = (int)cdiv(cdiv(job[i].w.rows, 16), EG_MTILES);
        grid_x += (unsigned)jobs.blocks[i];
    }
    return launch_tiled_gemm<DT_BF16, MM_PARTIAL, false, false>(s, jobs, 4, dim3(grid_x, (unsigned)cdiv(n, 32), 1), err);
}

#endif
