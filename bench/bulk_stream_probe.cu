// bulk_stream_probe.cu - batch 1's MXFP4 gate_up (4 experts x 5760 rows x
// 2880 columns, one token) two ways, to see whether weights streamed into
// shared memory by bulk copies beat per-warp loads into registers (issue 25;
// docs/perf-log/s28.md, "Next"):
//   direct  each warp its 16-row tile, row-major rows; its lanes load their
//           16-byte words into registers, two groups of two chunks in flight
//           (the shape of matmul_kernel<MXFP4, SWIGLU, 1>'s loop)
//   bulk    a block's 4 tiles laid chunk by chunk; a producer warp copies
//           stages of CPS chunks (4 KB a chunk + its scales) with
//           cp.async.bulk, NSTAGE stages deep (the variants: 2 x 4, 1 x 8,
//           2 x 6, 1 x 4), each completing on an mbarrier; the 4 consumer
//           warps read their words from shared memory and free a stage on
//           a second mbarrier
//   ring    direct's warps and row-major weights, each lane streaming its
//           words through its own slots of a per-warp ring of D chunks in
//           shared memory by cp.async (D = 4, 8, 12): D KB in flight a warp,
//           no registers held, no barriers
// Both decode with the project's unpack_step (device pair order, folded
// scales) and multiply by the same mmas in the same order (hi then lo, chunk
// by chunk), x whole in shared memory: their outputs must agree bit for bit,
// and both with a float64 CPU reference to 1e-4 (x enters as bf16 hi + lo).
// Timing: NSETS copies of the weights (more than L2 holds), one per launch in
// turn, launches back to back, CUDA events; bytes = weights + scales.
// usage: build/bulk_stream_probe [iterations]      (sm_90: cp.async.bulk, mbarrier)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../hip/async_copy.h"
#include "../hip/matmul_load.h"
#include "cuda_check.h"


constexpr int EXPERTS = 4, ROWS = 5760, K = 2880, NSETS = 8;
constexpr int ROW_BYTES = K / 2, ROW_SCALES = K / 32;  /* 1440, 90 */
constexpr int CHUNKS = (K + 127) / 128;                /* 23: the last one half (64 values) */
constexpr int GROUP_ROWS = 64;                         /* a block's 4 tiles */
constexpr int GROUPS = ROWS / GROUP_ROWS;              /* 90 an expert */
constexpr int CHUNK_BYTES = GROUP_ROWS * 64, CHUNK_SCALES = GROUP_ROWS * 4; /* a group's full chunk: 4096, 256 */
constexpr int X_WORDS = CHUNKS * 32;                   /* uint4 words of x, zeros past K */
constexpr size_t SET_BYTES = (size_t)EXPERTS * ROWS * ROW_BYTES, SET_SCALES = (size_t)EXPERTS * ROWS * ROW_SCALES;

/* bytes of chunk c of a group: the last chunk holds 32 bytes a row */
__host__ __device__ constexpr int chunk_row_bytes(int c) { return c == CHUNKS - 1 ? (K - 128 * c) / 2 : 64; }

/* ---- the mbarrier and bulk-copy instructions (sm_90) ---- */
__device__ inline unsigned smem_addr(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ inline void mbar_init(uint64_t *bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ inline void mbar_expect_tx(uint64_t *bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ inline void mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ inline void mbar_wait(uint64_t *bar, unsigned parity) {
    unsigned done = 0;
    while (!done)
        asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                     : "=r"(done)
                     : "r"(smem_addr(bar)), "r"(parity)
                     : "memory");
}
__device__ inline void bulk_copy(void *dst, const void *src, unsigned bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)), "l"(src), "r"(bytes),
                 "r"(smem_addr(bar))
                 : "memory");
}

/* One chunk of the lane's two rows: 8 mma steps of 16 k, hi then lo. */
__device__ inline void multiply_chunk(float acc[4], const uint4 &w0, const uint4 &w1, uint32_t s0, uint32_t s1, const uint4 *xs) {
    RawWeights<DT_MXFP4> r0, r1;
    r0.v[0] = w0, r1.v[0] = w1, r0.scale2 = mxfp4_scale_pair<true>(s0), r1.scale2 = mxfp4_scale_pair<true>(s1);
#pragma unroll
    for (int st = 0; st < 8; st++) {
        uint32_t h0[2], l0[2], h1[2], l1[2];
        unpack_step<DT_MXFP4, true>(r0, st, h0, l0);
        unpack_step<DT_MXFP4, true>(r1, st, h1, l1);
        const uint32_t a[4] = {h0[0], h1[0], h0[1], h1[1]};
        const uint4 b = xs[st];
        const uint32_t bh[2] = {b.x, b.y}, bl[2] = {b.z, b.w};
        mma_bf16_16x8x16(acc, a, bh);
        mma_bf16_16x8x16(acc, a, bl);
    }
}

/* x (one token, as every lane's column) into shared memory. */
__device__ inline void stage_x(uint4 *xs, const uint4 *x) {
    for (int i = threadIdx.x; i < X_WORDS; i += blockDim.x) xs[i] = x[i];
}

/* direct: block = 4 warps = 4 tiles of one expert; row-major weights. */
__global__ void __launch_bounds__(128) direct_kernel(const uint8_t *w, const uint8_t *scales, const uint4 *x, float *out) {
    __shared__ uint4 xs[X_WORDS];
    stage_x(xs, x);
    __syncthreads();
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4, warp = threadIdx.x / 32;
    const int e = blockIdx.x / GROUPS, row0 = (blockIdx.x % GROUPS) * GROUP_ROWS + warp * 16 + g;
    const uint8_t *p0 = w + ((size_t)e * ROWS + row0) * ROW_BYTES, *p1 = p0 + 8 * ROW_BYTES;
    const uint8_t *s0 = scales + ((size_t)e * ROWS + row0) * ROW_SCALES, *s1 = s0 + 8 * ROW_SCALES;
    uint4 wa[2][2], wb[2][2];
    uint32_t sa[2][2], sb[2][2];
    auto load = [&](uint4 (&wv)[2][2], uint32_t (&sv)[2][2], int c0) {
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const int c = c0 + u;
            const bool in = c < CHUNKS && 128 * c + 32 * q < K;
            wv[u][0] = in ? *(const uint4 *)(p0 + 64 * c + 16 * q) : make_uint4(0, 0, 0, 0);
            wv[u][1] = in ? *(const uint4 *)(p1 + 64 * c + 16 * q) : make_uint4(0, 0, 0, 0);
            sv[u][0] = in ? s0[4 * c + q] : 0, sv[u][1] = in ? s1[4 * c + q] : 0;
        }
    };
    float acc[4] = {0, 0, 0, 0};
    load(wa, sa, 0);
    load(wb, sb, 2);
    for (int c = 0; c < CHUNKS; c += 4) {
#pragma unroll
        for (int u = 0; u < 2; u++)
            if (c + u < CHUNKS) multiply_chunk(acc, wa[u][0], wa[u][1], sa[u][0], sa[u][1], xs + 32 * (c + u) + 8 * q);
        load(wa, sa, c + 4);
#pragma unroll
        for (int u = 0; u < 2; u++)
            if (c + 2 + u < CHUNKS) multiply_chunk(acc, wb[u][0], wb[u][1], sb[u][0], sb[u][1], xs + 32 * (c + 2 + u) + 8 * q);
        load(wb, sb, c + 6);
    }
    if (q == 0) out[(size_t)e * ROWS + row0] = acc[0], out[(size_t)e * ROWS + row0 + 8] = acc[2];
}

/* ring: direct's warps and row-major weights, but each lane streams its
 * 16-byte words of chunk c into its own slot of a per-warp ring of D chunks
 * in shared memory (cp.async, one group a chunk) and reads them back once
 * cp.async.wait_group says they landed: D chunks in flight a warp (D KB)
 * with no registers held for them and no barrier (a lane reads only what it
 * copied). The tile's scales (16 rows x 90 bytes, contiguous) are copied
 * once at the start. Shared: x, then [warp][D][lane][2] words, then
 * [warp][16 x 90] scale bytes. */
template <int D> constexpr size_t ring_shared() { return 16 * X_WORDS + 4 * D * 64 * 16 + 4 * 16 * ROW_SCALES; }
template <int D> __global__ void __launch_bounds__(128) ring_kernel(const uint8_t *w, const uint8_t *scales, const uint4 *x, float *out) {
    extern __shared__ __align__(16) uint8_t ring_shared_area[];
    uint4 *xs = reinterpret_cast<uint4 *>(ring_shared_area), *ring = xs + X_WORDS;
    uint8_t *sc = reinterpret_cast<uint8_t *>(ring + 4 * D * 64);
    const int lane = threadIdx.x % 32, g = lane / 4, q = lane % 4, warp = threadIdx.x / 32;
    const int e = blockIdx.x / GROUPS, tile_row = (blockIdx.x % GROUPS) * GROUP_ROWS + warp * 16;
    const uint8_t *p0 = w + ((size_t)e * ROWS + tile_row + g) * ROW_BYTES, *p1 = p0 + 8 * ROW_BYTES;
    const uint4 *tile_sc = reinterpret_cast<const uint4 *>(scales + ((size_t)e * ROWS + tile_row) * ROW_SCALES);
    uint8_t *my_sc = sc + warp * 16 * ROW_SCALES;
    uint4 *my_ring = ring + warp * D * 64 + 2 * lane;
    for (int i = lane; i < 16 * ROW_SCALES / 16; i += 32) async_copy(reinterpret_cast<uint4 *>(my_sc) + i, tile_sc + i, true);
    async_copy_commit();
    auto issue = [&](int c) { /* chunk c into slot c % D (zeros past K) */
        const bool in = c < CHUNKS && 128 * c + 32 * q < K;
        const int o = in ? 64 * c + 16 * q : 0;
        async_copy(my_ring + c % D * 64, reinterpret_cast<const uint4 *>(p0 + o), in);
        async_copy(my_ring + c % D * 64 + 1, reinterpret_cast<const uint4 *>(p1 + o), in);
        async_copy_commit();
    };
#pragma unroll
    for (int c = 0; c < D; c++) issue(c);
    stage_x(xs, x);
    async_copy_wait<D>(); /* the scales */
    __syncthreads();
    float acc[4] = {0, 0, 0, 0};
    for (int c = 0; c < CHUNKS; c++) {
        async_copy_wait<D - 1>(); /* chunk c */
        const uint4 w0 = my_ring[c % D * 64], w1 = my_ring[c % D * 64 + 1];
        const bool in = 128 * c + 32 * q < K;
        const uint32_t s0 = in ? my_sc[g * ROW_SCALES + 4 * c + q] : 0, s1 = in ? my_sc[(g + 8) * ROW_SCALES + 4 * c + q] : 0;
        multiply_chunk(acc, w0, w1, s0, s1, xs + 32 * c + 8 * q);
        issue(c + D); /* after the slot's words are used */
    }
    async_copy_wait<0>(); /* the last zero fills */
    const size_t row = (size_t)e * ROWS + tile_row + g;
    if (q == 0) out[row] = acc[0], out[row + 8] = acc[2];
}

/* bulk: block = 4 consumer warps (4 tiles of one group) + 1 producer warp;
 * weights [expert][group][chunk][64 rows][64 bytes] (the last chunk 32 a
 * row), scales [expert][group][chunk][64 rows][4] (the last chunk 2). */
template <int CPS, int NSTAGE> struct BulkShared { /* CPS chunks a stage, NSTAGE stages */
    uint4 xs[X_WORDS];
    alignas(128) uint8_t w[NSTAGE][CPS * CHUNK_BYTES];
    alignas(16) uint8_t s[NSTAGE][CPS * CHUNK_SCALES];
    uint64_t full[NSTAGE], empty[NSTAGE];
};
template <int CPS, int NSTAGE>
__global__ void __launch_bounds__(160) bulk_kernel(const uint8_t *w, const uint8_t *scales, const uint4 *x, float *out) {
    constexpr int STAGES = (CHUNKS + CPS - 1) / CPS;
    extern __shared__ __align__(128) uint8_t raw_shared[];
    BulkShared<CPS, NSTAGE> &sh = *reinterpret_cast<BulkShared<CPS, NSTAGE> *>(raw_shared);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int e = blockIdx.x / GROUPS, grp = blockIdx.x % GROUPS;
    const uint8_t *gw = w + ((size_t)e * GROUPS + grp) * GROUP_ROWS * ROW_BYTES;
    const uint8_t *gs = scales + ((size_t)e * GROUPS + grp) * GROUP_ROWS * ROW_SCALES;
    if (threadIdx.x == 0) {
        for (int i = 0; i < NSTAGE; i++) mbar_init(&sh.full[i], 1), mbar_init(&sh.empty[i], 4);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    stage_x(sh.xs, x);
    __syncthreads();
    if (warp == 4) { /* the producer */
        if (lane != 0) return;
        for (int st = 0; st < STAGES; st++) {
            const int slot = st % NSTAGE, c0 = st * CPS, c1 = c0 + CPS < CHUNKS ? c0 + CPS : CHUNKS;
            if (st >= NSTAGE) mbar_wait(&sh.empty[slot], (st / NSTAGE - 1) & 1);
            unsigned wbytes = 0, sbytes = 0;
            for (int c = c0; c < c1; c++) wbytes += GROUP_ROWS * chunk_row_bytes(c), sbytes += GROUP_ROWS * chunk_row_bytes(c) / 16;
            mbar_expect_tx(&sh.full[slot], wbytes + sbytes);
            bulk_copy(sh.w[slot], gw + (size_t)c0 * CHUNK_BYTES, wbytes, &sh.full[slot]);
            bulk_copy(sh.s[slot], gs + (size_t)c0 * CHUNK_SCALES, sbytes, &sh.full[slot]);
        }
        return;
    }
    const int g = lane / 4, q = lane % 4, r0 = warp * 16 + g, r1 = r0 + 8; /* rows within the group */
    float acc[4] = {0, 0, 0, 0};
    for (int st = 0; st < STAGES; st++) {
        const int slot = st % NSTAGE, c0 = st * CPS, c1 = c0 + CPS < CHUNKS ? c0 + CPS : CHUNKS;
        mbar_wait(&sh.full[slot], (st / NSTAGE) & 1);
        for (int c = c0; c < c1; c++) {
            const int rb = chunk_row_bytes(c), off = (c - c0) * CHUNK_BYTES, soff = (c - c0) * CHUNK_SCALES;
            const bool in = 16 * q < rb;
            const uint4 w0 = in ? *(const uint4 *)(sh.w[slot] + off + r0 * rb + 16 * q) : make_uint4(0, 0, 0, 0);
            const uint4 w1 = in ? *(const uint4 *)(sh.w[slot] + off + r1 * rb + 16 * q) : make_uint4(0, 0, 0, 0);
            const uint32_t s0 = in ? sh.s[slot][soff + r0 * (rb / 16) + q] : 0, s1 = in ? sh.s[slot][soff + r1 * (rb / 16) + q] : 0;
            multiply_chunk(acc, w0, w1, s0, s1, sh.xs + 32 * c + 8 * q);
        }
        __syncwarp();
        if (lane == 0) mbar_arrive(&sh.empty[slot]);
    }
    const size_t row = (size_t)e * ROWS + grp * GROUP_ROWS + r0;
    if (q == 0) out[row] = acc[0], out[row + 8] = acc[2];
}

/* ---- host ---- */
static uint32_t rng_state = 12345u;
static uint32_t rng() { return rng_state = rng_state * 1664525u + 1013904223u; }
static float e2m1(int nib) {
    static const float mag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    return (nib & 8 ? -1.0f : 1.0f) * mag[nib & 7];
}
static uint16_t bf16_trunc(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}
static float bf16_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int main(int argc, char **argv) {
    const int iters = argc > 1 ? atoi(argv[1]) : 100;
    /* one set's values (file order: byte p holds values 2p, 2p + 1) and scales (2^-9 .. 2^0) */
    std::vector<uint8_t> file(SET_BYTES), sc(SET_SCALES);
    for (auto &b : file) b = (uint8_t)rng();
    for (auto &s : sc) s = (uint8_t)(118 + rng() % 10);
    std::vector<float> xf(K);
    for (auto &v : xf) v = ((int)(rng() % 20001) - 10000) / 5000.0f;
    /* x as the mma reads it: word j = {hi(4j, 4j+1), hi(4j+2, 4j+3), lo(..), lo(..)}, zeros past K */
    std::vector<uint32_t> xw(4 * X_WORDS, 0);
    for (int k = 0; k < K; k++) {
        uint16_t hi = bf16_trunc(xf[k]), lo = bf16_trunc(xf[k] - bf16_float(hi));
        int j = k / 4, pair = k % 4 / 2, half = k % 2;
        xw[4 * j + pair] |= (uint32_t)hi << (16 * half);
        xw[4 * j + 2 + pair] |= (uint32_t)lo << (16 * half);
    }
    /* the device's pair order, row-major; then the bulk layout */
    std::vector<uint8_t> rowmajor(SET_BYTES), tiled(SET_BYTES), tiled_sc(SET_SCALES);
    for (size_t i = 0; i < SET_BYTES; i += 4) {
        uint32_t v;
        memcpy(&v, &file[i], 4);
        v = mxfp4_pair_order(v);
        memcpy(&rowmajor[i], &v, 4);
    }
    for (int e = 0; e < EXPERTS; e++)
        for (int gi = 0; gi < GROUPS; gi++) {
            size_t gbase = ((size_t)e * GROUPS + gi) * GROUP_ROWS, wo = gbase * ROW_BYTES, so = gbase * ROW_SCALES;
            for (int c = 0; c < CHUNKS; c++) {
                int rb = chunk_row_bytes(c);
                for (int r = 0; r < GROUP_ROWS; r++) {
                    memcpy(&tiled[wo], &rowmajor[(gbase + r) * ROW_BYTES + 64 * c], rb), wo += rb;
                    memcpy(&tiled_sc[so], &sc[(gbase + r) * ROW_SCALES + 4 * c], rb / 16), so += rb / 16;
                }
            }
        }
    /* the float64 reference of set 0 */
    std::vector<double> ref((size_t)EXPERTS * ROWS);
    for (size_t r = 0; r < (size_t)EXPERTS * ROWS; r++) {
        double s = 0;
        for (int b = 0; b < ROW_SCALES; b++) {
            double block = 0;
            for (int k = 32 * b; k < 32 * b + 32; k++) block += (double)e2m1(file[r * ROW_BYTES + k / 2] >> (4 * (k % 2)) & 15) * xf[k];
            s += ldexp(block, sc[r * ROW_SCALES + b] - 127);
        }
        ref[r] = s;
    }
    uint8_t *d_row, *d_tiled, *d_sc, *d_tiled_sc;
    uint4 *d_x;
    CUDA_CHECK(cudaMalloc(&d_row, NSETS * SET_BYTES));
    CUDA_CHECK(cudaMalloc(&d_tiled, NSETS * SET_BYTES));
    CUDA_CHECK(cudaMalloc(&d_sc, NSETS * SET_SCALES));
    CUDA_CHECK(cudaMalloc(&d_tiled_sc, NSETS * SET_SCALES));
    CUDA_CHECK(cudaMalloc(&d_x, 16 * X_WORDS));
    for (int s = 0; s < NSETS; s++) {
        CUDA_CHECK(cudaMemcpy(d_row + s * SET_BYTES, rowmajor.data(), SET_BYTES, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(d_tiled + s * SET_BYTES, tiled.data(), SET_BYTES, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(d_sc + s * SET_SCALES, sc.data(), SET_SCALES, cudaMemcpyHostToDevice));
        CUDA_CHECK(cudaMemcpy(d_tiled_sc + s * SET_SCALES, tiled_sc.data(), SET_SCALES, cudaMemcpyHostToDevice));
    }
    CUDA_CHECK(cudaMemcpy(d_x, xw.data(), 16 * X_WORDS, cudaMemcpyHostToDevice));
    /* the variants: direct, then bulk at (chunks a stage, stages), each one wave at 360 blocks */
    struct Variant {
        const char *name;
        void (*kernel)(const uint8_t *, const uint8_t *, const uint4 *, float *);
        size_t shared;
        int threads; /* a block's */
        bool row_major; /* the weights and scales it reads: row-major, or the bulk layout */
    };
    const Variant variants[] = {
        {"direct (registers, 2 groups of 2 chunks)", direct_kernel, 0, 128, true},
        {"bulk (cp.async.bulk, 4 stages of 2 chunks)", bulk_kernel<2, 4>, sizeof(BulkShared<2, 4>), 160, false},
        {"bulk (8 stages of 1 chunk)", bulk_kernel<1, 8>, sizeof(BulkShared<1, 8>), 160, false},
        {"bulk (6 stages of 2 chunks)", bulk_kernel<2, 6>, sizeof(BulkShared<2, 6>), 160, false},
        {"bulk (4 stages of 1 chunk)", bulk_kernel<1, 4>, sizeof(BulkShared<1, 4>), 160, false},
        {"ring (per-warp cp.async, 4 chunks)", ring_kernel<4>, ring_shared<4>(), 128, true},
        {"ring (per-warp cp.async, 8 chunks)", ring_kernel<8>, ring_shared<8>(), 128, true},
        {"ring (per-warp cp.async, 12 chunks)", ring_kernel<12>, ring_shared<12>(), 128, true},
    };
    constexpr int NV = sizeof variants / sizeof *variants;
    for (int k = 1; k < NV; k++) CUDA_CHECK(cudaFuncSetAttribute(variants[k].kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)variants[k].shared));
    const int blocks = EXPERTS * GROUPS;
    std::vector<float *> d_out(NV);
    for (auto &o : d_out) CUDA_CHECK(cudaMalloc(&o, sizeof(float) * EXPERTS * ROWS));
    auto launch = [&](int k, int set) {
        const Variant &v = variants[k];
        const uint8_t *w = (v.row_major ? d_row : d_tiled) + set * SET_BYTES, *sc = (v.row_major ? d_sc : d_tiled_sc) + set * SET_SCALES;
        v.kernel<<<blocks, v.threads, v.shared>>>(w, sc, d_x, d_out[k]);
    };
    /* correctness: poisoned outputs, set 0; every variant bit for bit as direct, and near float64 */
    std::vector<std::vector<float>> got(NV);
    bool ok = true;
    for (int k = 0; k < NV; k++) {
        CUDA_CHECK(cudaMemset(d_out[k], 0xff, sizeof(float) * EXPERTS * ROWS)); /* NaN */
        launch(k, 0);
        CUDA_CHECK(cudaGetLastError());
        CUDA_CHECK(cudaDeviceSynchronize());
        got[k].resize((size_t)EXPERTS * ROWS);
        CUDA_CHECK(cudaMemcpy(got[k].data(), d_out[k], sizeof(float) * EXPERTS * ROWS, cudaMemcpyDeviceToHost));
        size_t differ = 0;
        double num = 0, den = 0;
        bool finite = true;
        for (size_t r = 0; r < got[k].size(); r++) {
            if (memcmp(&got[0][r], &got[k][r], 4) != 0) differ++;
            finite = finite && std::isfinite(got[k][r]), num += (got[k][r] - ref[r]) * (got[k][r] - ref[r]), den += ref[r] * ref[r];
        }
        const double err = sqrt(num / den);
        const bool this_ok = finite && differ == 0 && err < 1e-4;
        ok = ok && this_ok;
        printf("%s %-44s %zu of %zu outputs differ from direct's; relative error vs float64 %.2e%s\n", this_ok ? "PASS" : "FAIL", variants[k].name, differ,
               got[k].size(), err, finite ? "" : " (non-finite outputs)");
    }
    /* timing: every variant in turn, twice (the first round warms), NSETS weight sets in turn */
    const double bytes = (double)SET_BYTES + SET_SCALES;
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0));
    CUDA_CHECK(cudaEventCreate(&t1));
    std::vector<float> ms(NV);
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < NV; k++) {
            for (int i = 0; i < NSETS; i++) launch(k, i);
            CUDA_CHECK(cudaEventRecord(t0));
            for (int i = 0; i < iters; i++) launch(k, i % NSETS);
            CUDA_CHECK(cudaEventRecord(t1));
            CUDA_CHECK(cudaEventSynchronize(t1));
            CUDA_CHECK(cudaGetLastError());
            CUDA_CHECK(cudaEventElapsedTime(&ms[k], t0, t1));
        }
    for (int k = 0; k < NV; k++) {
        const double us = 1000.0 * ms[k] / iters;
        printf("%-44s %7.2f us a launch  %5.2f TB/s  (%.1f MB; %zu bytes of shared memory a block; %d blocks; %d launches)\n", variants[k].name, us,
               bytes / us / 1e6, bytes / 1e6, variants[k].shared, blocks, iters);
    }
    return ok ? 0 : 1;
}
