// unit_tests.hip - hip/'s building blocks against host references, on the
// GPU (make test-gpu) and on the CPU emulator (make test-emu): the MXFP4
// decode (pair order, folded and plain scales) for every scale and value,
// the mma's register layout, warpgroup_mma (wgmma on sm_90a), the warp
// collectives and the async copies, counters between the blocks of a
// cooperative launch, tiled_gemm.h's GEMM against matmul.h's kernel, and
// the router's top-k against the CPU's.
// The same checks on both sides are what tie the emulator to the GPU: a
// layout the emulator got wrong fails here on the GPU. Prints PASS/FAIL
// lines; exits non-zero on a failure.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async_copy.h"
#include "block_counters.h"
#include "early_start.h"
#include "matmul_load.h"
#include "reduce.h"
#include "warpgroup_mma.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function" /* the backend's launchers: not used here */
#include "matmul.h"
#include "moe_route.h"
#pragma GCC diagnostic pop

static int failures = 0;
static void report(bool ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    failures += !ok;
}
#define OK(call)                                                                                         \
    do {                                                                                                 \
        hipError_t e_ = (call);                                                                          \
        if (e_ != hipSuccess) {                                                                          \
            printf("FAIL %s: %s\n", #call, hipGetErrorString(e_));                                       \
            exit(1);                                                                                     \
        }                                                                                                \
    } while (0)

static uint32_t host_bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u >> 16; /* the references here are exact in bf16 */
}
static float host_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- MXFP4: thread s decodes the 32 values of one chunk at scale byte s ---- */
template <bool FOLD> __global__ void mxfp4_decode_kernel(const uint4 *chunk, uint32_t *out) {
    int s = (int)threadIdx.x;
    RawWeights<DT_MXFP4> raw;
    raw.v[0] = *chunk;
    raw.scale2 = mxfp4_scale_pair<FOLD>((uint32_t)s);
    for (int st = 0; st < 8; st++) {
        uint32_t hi[2], lo[2];
        unpack_step<DT_MXFP4, FOLD>(raw, st, hi, lo);
        out[s * 16 + 2 * st] = hi[0], out[s * 16 + 2 * st + 1] = hi[1];
    }
}

/* Values 4s..4s+3 of a chunk (value j: nibble j of the file's bytes, low
 * nibble first) come out of unpack_step as pairs (4s, 4s+1), (4s+2, 4s+3). */
static void test_mxfp4_decode() {
    uint8_t file[16]; /* 32 values: every nibble twice, in two orders */
    for (int j = 0; j < 32; j++) {
        int v = j < 16 ? j : 31 - j;
        file[j / 2] = (uint8_t)(j % 2 ? (file[j / 2] & 0x0F) | v << 4 : v);
    }
    uint32_t words[4];
    for (int i = 0; i < 4; i++) words[i] = mxfp4_pair_order((uint32_t)file[4 * i] | (uint32_t)file[4 * i + 1] << 8 | (uint32_t)file[4 * i + 2] << 16 | (uint32_t)file[4 * i + 3] << 24);
    uint4 *d_chunk;
    uint32_t *d_out, *out = (uint32_t *)malloc(256 * 16 * 4);
    OK(hipMalloc(&d_chunk, 16));
    OK(hipMalloc(&d_out, 256 * 16 * 4));
    OK(hipMemcpy(d_chunk, words, 16, hipMemcpyHostToDevice));
    for (int fold = 0; fold < 2; fold++) {
        if (fold) OK(launch_chained(mxfp4_decode_kernel<true>, dim3(1), dim3(256), 0, (hipStream_t)0, (const uint4 *)d_chunk, d_out));
        else OK(launch_chained(mxfp4_decode_kernel<false>, dim3(1), dim3(256), 0, (hipStream_t)0, (const uint4 *)d_chunk, d_out));
        OK(hipGetLastError());
        OK(hipMemcpy(out, d_out, 256 * 16 * 4, hipMemcpyDeviceToHost));
        int bad = 0, checked = 0;
        for (int s = 0; s < (fold ? 129 : 256); s++) /* a folded scale holds up to 2 (byte 128) */
            for (int j = 0; j < 32; j++) {
                int v = j < 16 ? j : 31 - j;
                float want = gptoss_fp4_value((uint32_t)v) * gptoss_e8m0_value((uint32_t)s);
                uint32_t got = (out[s * 16 + j / 2] >> (16 * (j % 2))) & 0xFFFFu;
                float g = host_float(got << 16);
                bool same = isnan(want) ? isnan(g) : got == host_bf16_bits(want);
                bad += !same, checked++;
                if (!same && bad <= 3) printf("  scale byte %d, value %d (nibble %d): got %g (0x%04x), want %g\n", s, j, v, g, got, want);
            }
        char what[160];
        snprintf(what, sizeof what, "MXFP4 decode in pair order (%s scales): %d of %d values exact (every nibble, scale bytes 0..%d)",
                 fold ? "folded" : "plain", checked - bad, checked, fold ? 128 : 255);
        report(bad == 0, what);
    }
    OK(hipFree(d_chunk));
    OK(hipFree(d_out));
    free(out);
}

/* ---- the mma: one warp, D = A B + C against the host ---- */
__global__ void mma_kernel(const uint32_t *a, const uint32_t *b, float *d) {
    int lane = (int)threadIdx.x;
    uint32_t af[4] = {a[lane * 4], a[lane * 4 + 1], a[lane * 4 + 2], a[lane * 4 + 3]}, bf[2] = {b[lane * 2], b[lane * 2 + 1]};
    float acc[4] = {d[lane * 4], d[lane * 4 + 1], d[lane * 4 + 2], d[lane * 4 + 3]};
    mma_bf16_16x8x16(acc, af, bf);
    for (int i = 0; i < 4; i++) d[lane * 4 + i] = acc[i];
}

static void test_mma() {
    /* small integers times powers of two: every product and sum exact */
    float A[16][16], B[16][8], C[16][8];
    unsigned seed = 7;
    auto next = [&]() { return seed = seed * 1103515245u + 12345u, (int)(seed >> 16) % 15 - 7; };
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 16; k++) A[r][k] = (float)next() * 0.25f;
    for (int k = 0; k < 16; k++)
        for (int c = 0; c < 8; c++) B[k][c] = (float)next() * 0.5f;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 8; c++) C[r][c] = (float)next();
    uint32_t a[32 * 4], b[32 * 2];
    float d[32 * 4];
    auto pair = [](float lo, float hi) { return host_bf16_bits(lo) | host_bf16_bits(hi) << 16; };
    for (int lane = 0; lane < 32; lane++) { /* bf16_math.h's layout */
        int g = lane >> 2, q = lane & 3;
        a[lane * 4] = pair(A[g][2 * q], A[g][2 * q + 1]), a[lane * 4 + 1] = pair(A[g + 8][2 * q], A[g + 8][2 * q + 1]);
        a[lane * 4 + 2] = pair(A[g][2 * q + 8], A[g][2 * q + 9]), a[lane * 4 + 3] = pair(A[g + 8][2 * q + 8], A[g + 8][2 * q + 9]);
        b[lane * 2] = pair(B[2 * q][g], B[2 * q + 1][g]), b[lane * 2 + 1] = pair(B[2 * q + 8][g], B[2 * q + 9][g]);
        d[lane * 4] = C[g][2 * q], d[lane * 4 + 1] = C[g][2 * q + 1], d[lane * 4 + 2] = C[g + 8][2 * q], d[lane * 4 + 3] = C[g + 8][2 * q + 1];
    }
    uint32_t *da, *db;
    float *dd;
    OK(hipMalloc(&da, sizeof a));
    OK(hipMalloc(&db, sizeof b));
    OK(hipMalloc(&dd, sizeof d));
    OK(hipMemcpy(da, a, sizeof a, hipMemcpyHostToDevice));
    OK(hipMemcpy(db, b, sizeof b, hipMemcpyHostToDevice));
    OK(hipMemcpy(dd, d, sizeof d, hipMemcpyHostToDevice));
    OK(launch_chained(mma_kernel, dim3(1), dim3(32), 0, (hipStream_t)0, (const uint32_t *)da, (const uint32_t *)db, dd));
    OK(hipGetLastError());
    OK(hipMemcpy(d, dd, sizeof d, hipMemcpyDeviceToHost));
    int bad = 0;
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            int g = lane >> 2, q = lane & 3, r = g + (i >= 2 ? 8 : 0), c = 2 * q + (i & 1);
            float want = C[r][c];
            for (int k = 0; k < 16; k++) want += A[r][k] * B[k][c];
            bad += d[lane * 4 + i] != want;
        }
    char what[128];
    snprintf(what, sizeof what, "mma m16n8k16 (bf16_math.h's register layout): %d of 128 outputs exact", 128 - bad);
    report(bad == 0, what);
    OK(hipFree(da));
    OK(hipFree(db));
    OK(hipFree(dd));
}

/* ---- warpgroup_mma: 4 warps, D (64 x 32) = A B + C against the host ---- */
__global__ void warpgroup_mma_kernel(const uint32_t *a, const uint32_t *b, float *d) {
    __shared__ WarpgroupB<32> bs;
    const int t = (int)threadIdx.x, w = t / WARP, lane = t % WARP;
    for (int i = t; i < (int)(sizeof bs / 4); i += blockDim.x) (&bs.w[0][0][0][0])[i] = b[i];
    __syncthreads();
    uint32_t af[4] = {a[(w * 32 + lane) * 4], a[(w * 32 + lane) * 4 + 1], a[(w * 32 + lane) * 4 + 2], a[(w * 32 + lane) * 4 + 3]};
    float acc[4][4];
    for (int n = 0; n < 4; n++)
        for (int i = 0; i < 4; i++) acc[n][i] = d[(t * 4 + n) * 4 + i];
    warpgroup_fence();
    warpgroup_mma<32>(acc, af, bs);
    warpgroup_commit();
    warpgroup_wait<0>();
    for (int n = 0; n < 4; n++)
        for (int i = 0; i < 4; i++) d[(t * 4 + n) * 4 + i] = acc[n][i];
}

static void test_warpgroup_mma() {
    static float A[64][16], B[16][32], C[64][32];
    unsigned seed = 11;
    auto next = [&]() { return seed = seed * 1103515245u + 12345u, (int)(seed >> 16) % 15 - 7; };
    for (int r = 0; r < 64; r++)
        for (int k = 0; k < 16; k++) A[r][k] = (float)next() * 0.25f;
    for (int k = 0; k < 16; k++)
        for (int c = 0; c < 32; c++) B[k][c] = (float)next() * 0.5f;
    for (int r = 0; r < 64; r++)
        for (int c = 0; c < 32; c++) C[r][c] = (float)next();
    static uint32_t a[128 * 4], b[sizeof(WarpgroupB<32>) / 4];
    static float d[128 * 16];
    auto pair = [](float lo, float hi) { return host_bf16_bits(lo) | host_bf16_bits(hi) << 16; };
    for (int t = 0; t < 128; t++) { /* warp w: rows 16w.. in mma's A layout; D per n tile in mma's D layout */
        int w = t / 32, g = t % 32 >> 2, q = t % 4, r0 = 16 * w + g, r1 = r0 + 8;
        a[t * 4] = pair(A[r0][2 * q], A[r0][2 * q + 1]), a[t * 4 + 1] = pair(A[r1][2 * q], A[r1][2 * q + 1]);
        a[t * 4 + 2] = pair(A[r0][2 * q + 8], A[r0][2 * q + 9]), a[t * 4 + 3] = pair(A[r1][2 * q + 8], A[r1][2 * q + 9]);
        for (int n = 0; n < 4; n++) {
            int c = 8 * n + 2 * q;
            d[(t * 4 + n) * 4] = C[r0][c], d[(t * 4 + n) * 4 + 1] = C[r0][c + 1], d[(t * 4 + n) * 4 + 2] = C[r1][c], d[(t * 4 + n) * 4 + 3] = C[r1][c + 1];
        }
    }
    for (int n = 0; n < 4; n++) /* WarpgroupB's layout: [n tile][k half][column][q] */
        for (int h = 0; h < 2; h++)
            for (int c = 0; c < 8; c++)
                for (int q = 0; q < 4; q++) b[((n * 2 + h) * 8 + c) * 4 + q] = pair(B[8 * h + 2 * q][8 * n + c], B[8 * h + 2 * q + 1][8 * n + c]);
    uint32_t *da, *db;
    float *dd;
    OK(hipMalloc(&da, sizeof a));
    OK(hipMalloc(&db, sizeof b));
    OK(hipMalloc(&dd, sizeof d));
    OK(hipMemcpy(da, a, sizeof a, hipMemcpyHostToDevice));
    OK(hipMemcpy(db, b, sizeof b, hipMemcpyHostToDevice));
    OK(hipMemcpy(dd, d, sizeof d, hipMemcpyHostToDevice));
    OK(launch_chained(warpgroup_mma_kernel, dim3(1), dim3(128), 0, (hipStream_t)0, (const uint32_t *)da, (const uint32_t *)db, dd));
    OK(hipGetLastError());
    OK(hipMemcpy(d, dd, sizeof d, hipMemcpyDeviceToHost));
    int bad = 0;
    for (int t = 0; t < 128; t++)
        for (int n = 0; n < 4; n++)
            for (int i = 0; i < 4; i++) {
                int w = t / 32, g = t % 32 >> 2, q = t % 4, r = 16 * w + g + (i >= 2 ? 8 : 0), c = 8 * n + 2 * q + (i & 1);
                float want = C[r][c];
                for (int k = 0; k < 16; k++) want += A[r][k] * B[k][c];
                bad += d[(t * 4 + n) * 4 + i] != want;
            }
    char what[160];
#ifdef GETP_WGMMA
    const char *how = "wgmma";
#else
    const char *how = "per-warp mma";
#endif
    snprintf(what, sizeof what, "warpgroup_mma 64x32x16 (%s; A in mma's layout, B as core matrices): %d of 2048 outputs exact", how, 2048 - bad);
    report(bad == 0, what);
    OK(hipFree(da));
    OK(hipFree(db));
    OK(hipFree(dd));
}

/* ---- warp collectives and async copies: two warps, some lanes ended ---- */
__global__ void collectives_kernel(int *out, const uint4 *src) {
    int lane = (int)threadIdx.x % WARP, w = (int)threadIdx.x / WARP;
    float v = (float)(lane + 100 * w);
    out[threadIdx.x * 4] = (int)lane_shfl(v, (lane + 5) % WARP);
    out[threadIdx.x * 4 + 1] = (int)warp_sum(v);
    __shared__ uint4 staged[64];
    async_copy(&staged[threadIdx.x], src + threadIdx.x, threadIdx.x % 3 != 0);
    async_copy_commit();
    async_copy_wait<0>();
    __syncthreads();
    out[threadIdx.x * 4 + 2] = (int)staged[(threadIdx.x + 1) % 64].y;
    if (lane >= 20 && w == 1) return; /* lanes that ended vote false */
    out[threadIdx.x * 4 + 3] = (int)warp_ballot(lane % 3 == 0);
}

static void test_collectives() {
    int *d_out, out[64 * 4];
    uint4 *d_src, src[64];
    for (int i = 0; i < 64; i++) src[i] = make_uint4(0, 1000u + (unsigned)i, 0, 0);
    OK(hipMalloc(&d_out, sizeof out));
    OK(hipMalloc(&d_src, sizeof src));
    OK(hipMemcpy(d_src, src, sizeof src, hipMemcpyHostToDevice));
    OK(hipMemset(d_out, 0, sizeof out));
    OK(launch_chained(collectives_kernel, dim3(1), dim3(64), 0, (hipStream_t)0, d_out, (const uint4 *)d_src));
    OK(hipGetLastError());
    OK(hipMemcpy(out, d_out, sizeof out, hipMemcpyDeviceToHost));
    int bad = 0;
    for (int t = 0; t < 64; t++) {
        int lane = t % 32, w = t / 32, nb = (t + 1) % 64;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            if (l % 3 == 0 && (w == 0 || l < 20)) ballot |= 1u << l;
        bad += out[t * 4] != (lane + 5) % 32 + 100 * w;
        bad += out[t * 4 + 1] != 496 + 3200 * w;
        bad += out[t * 4 + 2] != (nb % 3 != 0 ? 1000 + nb : 0);
        if (!(w == 1 && lane >= 20)) bad += out[t * 4 + 3] != (int)ballot;
    }
    char what[160];
    snprintf(what, sizeof what, "warp collectives and async copies (shuffle, sum, ballot with ended lanes, zero-filled copies): %d wrong", bad);
    report(bad == 0, what);
    OK(hipFree(d_out));
    OK(hipFree(d_src));
}

/* ---- counters between blocks: a chain from the last block to the first ----
 * Block b waits until the blocks above it have signalled, reads what block
 * b + 1 wrote, writes its own part and signals. Run one block after another
 * it could never finish (block 0 waits first): it needs the blocks side by
 * side, as a cooperative launch has them. */
__global__ void counter_chain_kernel(int *counter, int *order, int *data, int *seen) {
    const int b = (int)blockIdx.x, n = (int)gridDim.x, t = (int)threadIdx.x, T = (int)blockDim.x;
    counter_wait(counter, n - 1 - b);
    if (b + 1 < n) seen[b * T + t] = data[(b + 1) * T + t];
    data[b * T + t] = b * 1000 + t;
    if (t == 0) order[n - 1 - b] = b;
    counter_signal(counter);
}

static void test_block_counters() {
    enum { N = 8, T = 64 };
    int *d, order[N], seen[N * T];
    OK(hipMalloc(&d, (1 + N + 2 * N * T) * sizeof(int)));
    OK(hipMemset(d, 0, (1 + N + 2 * N * T) * sizeof(int)));
    OK(launch_cooperative(counter_chain_kernel, dim3(N), dim3(T), 0, (hipStream_t)0, false, d, d + 1, d + 1 + N, d + 1 + N + N * T));
    OK(hipMemcpy(order, d + 1, sizeof order, hipMemcpyDeviceToHost));
    OK(hipMemcpy(seen, d + 1 + N + N * T, sizeof seen, hipMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < N; i++) bad += order[i] != N - 1 - i;
    for (int b = 0; b + 1 < N; b++)
        for (int t = 0; t < T; t++) bad += seen[b * T + t] != (b + 1) * 1000 + t;
    /* more blocks than can ever be resident: refused, not run */
    hipError_t too_large = launch_cooperative(counter_chain_kernel, dim3(100000), dim3(T), 0, (hipStream_t)0, false, d, d + 1, d + 1 + N, d + 1 + N + N * T);
    (void)hipGetLastError();
    char what[200];
    snprintf(what, sizeof what, "counters between the blocks of a cooperative launch: %d blocks chained last to first, %d wrong; 100000 blocks refused (%s)",
             N, bad, too_large != hipSuccess ? hipGetErrorString(too_large) : "launched");
    report(bad == 0 && too_large != hipSuccess, what);
    OK(hipFree(d));
}

/* ---- tiled_gemm.h against matmul_kernel, bit for bit ----
 * Experts (down's MM_BIAS, two splits): three experts of 70, 5 and 40
 * tokens, 320 rows (two row groups of the GEMM, the second short) and 320
 * columns (MXFP4: a short last chunk), by matmul_kernel at one and at four
 * token tiles and by the GEMM at 32 and 64 tokens a block. Dense (q/k/v's
 * MM_PARTIAL, three splits): the GEMM's one partial against matmul_kernel's
 * three added in order on the host, as their reader adds them. */
template <typename Kernel> static void launch_gemm(Kernel kernel, dim3 grid, dim3 block, size_t shared, const MatmulJobs &jobs) {
    if (shared > 0) OK(hipFuncSetAttribute((const void *)kernel, hipFuncAttributeMaxDynamicSharedMemorySize, (int)shared)); /* beside its static shared memory */
    OK(launch_chained(kernel, grid, block, shared, (hipStream_t)0, jobs));
    OK(hipGetLastError()); /* the copy back waits for it */
}

template <int DT, bool FOLD> static void test_tiled_gemm() {
    enum { E = 3, O = 320, K = 320, NX = 64, SPLITS = 2 };
    const int counts[E] = {70, 5, 40}, P = 115;
    unsigned seed = 11u + DT;
    auto next = [&]() { return seed = seed * 1103515245u + 12345u, seed >> 8; };
    /* weights: BF16 values of moderate size, or MXFP4 bytes and scales near 1 */
    const size_t wbytes = DT == DT_BF16 ? (size_t)E * O * K * 2 : (size_t)E * O * K / 2, sbytes = DT == DT_BF16 ? 0 : (size_t)E * O * K / 32;
    uint8_t *w = (uint8_t *)malloc(wbytes), *sc = (uint8_t *)malloc(sbytes + 1);
    for (size_t i = 0; i < wbytes; i++) w[i] = (uint8_t)next();
    if constexpr (DT == DT_BF16)
        for (size_t i = 0; i < wbytes / 2; i++) ((uint16_t *)w)[i] = (uint16_t)(0x3c00 + next() % 0x0600) ^ (next() & 1 ? 0x8000 : 0);
    else
        for (size_t i = 0; i < sbytes; i++) sc[i] = (uint8_t)(122 + next() % 7);
    /* x: NX rows of K values as packed bf16 hi + lo words, and the hi words alone (compact rows) */
    uint32_t *x = (uint32_t *)malloc((size_t)NX * K * 4), *xc = (uint32_t *)malloc((size_t)NX * K * 2);
    for (int i = 0; i < NX * K / 4; i++) {
        float v[4];
        for (int j = 0; j < 4; j++) v[j] = ((float)(next() % 20001) - 10000.0f) / 3333.0f;
        uint32_t hi[4], lo[4];
        for (int j = 0; j < 4; j++) hi[j] = host_bf16_bits(v[j]), lo[j] = host_bf16_bits(v[j] - host_float(hi[j] << 16));
        x[4 * i] = hi[0] | hi[1] << 16, x[4 * i + 1] = hi[2] | hi[3] << 16, x[4 * i + 2] = lo[0] | lo[1] << 16, x[4 * i + 3] = lo[2] | lo[3] << 16;
        xc[2 * i] = x[4 * i], xc[2 * i + 1] = x[4 * i + 1];
    }
    int pairs[P], routing[1 + 3 * E + 1 + 64];
    for (int p = 0; p < P; p++) pairs[p] = p; /* the pairs by expert: a shuffle of 0..P-1, each reading x row p / 2 */
    for (int p = P - 1; p > 0; p--) {
        int q = (int)(next() % (unsigned)(p + 1)), t = pairs[p];
        pairs[p] = pairs[q], pairs[q] = t;
    }
    float bias[E * O];
    for (int i = 0; i < E * O; i++) bias[i] = (float)(next() % 100) / 16.0f;
    uint8_t *dw, *ds;
    uint32_t *dx, *dxc;
    int *dpairs, *droute;
    float *dbias, *dout;
    const size_t out_floats = (size_t)SPLITS * P * O;
    OK(hipMalloc(&dw, wbytes));
    OK(hipMalloc(&ds, sbytes + 1));
    OK(hipMalloc(&dx, (size_t)NX * K * 4));
    OK(hipMalloc(&dxc, (size_t)NX * K * 2));
    OK(hipMalloc(&dpairs, sizeof pairs));
    OK(hipMalloc(&droute, sizeof routing));
    OK(hipMalloc(&dbias, sizeof bias));
    OK(hipMalloc(&dout, out_floats * 4));
    OK(hipMemcpy(dw, w, wbytes, hipMemcpyHostToDevice));
    OK(hipMemcpy(ds, sc, sbytes + 1, hipMemcpyHostToDevice));
    OK(hipMemcpy(dx, x, (size_t)NX * K * 4, hipMemcpyHostToDevice));
    OK(hipMemcpy(dxc, xc, (size_t)NX * K * 2, hipMemcpyHostToDevice));
    OK(hipMemcpy(dpairs, pairs, sizeof pairs, hipMemcpyHostToDevice));
    OK(hipMemcpy(dbias, bias, sizeof bias, hipMemcpyHostToDevice));

    MatmulJobs jobs;
    memset(&jobs, 0, sizeof jobs);
    MatmulJob &j = jobs.job[0];
    j.w.data = dw, j.w.scales = ds, j.w.dtype = DT, j.w.rows = O, j.w.cols = K;
    j.bias = dbias, j.x = (const uint4 *)dx, j.ldx = K / 4, j.n_tokens = P, j.pairs = dpairs, j.routing = droute, j.pair_div = 2;
    j.n_experts = E, j.splits = SPLITS, j.out = dout, j.ldo = O;
    jobs.n_jobs = 1;
    /* the routing records, then the tile list in groups of `group` tokens */
    auto route = [&](int group) {
        int first = 0, n = 0;
        routing[0] = E;
        for (int z = 0; z < E; z++) {
            routing[1 + 3 * z] = z, routing[2 + 3 * z] = first, routing[3 + 3 * z] = counts[z];
            for (int g = 0; g * group < counts[z]; g++) routing[1 + 3 * E + 1 + n++] = z << 16 | g;
            first += counts[z];
        }
        routing[1 + 3 * E] = n;
        OK(hipMemcpy(droute, routing, sizeof routing, hipMemcpyHostToDevice));
        return n;
    };
    /* 0-3: hi + lo; 4: matmul_kernel with x's hi alone (x_hi_only), 5: the GEMM on compact rows */
    float *results[6];
    const int tiles = O / 16;
    for (int v = 0; v < 6; v++) {
        OK(hipMemset(dout, 0xff, out_floats * 4));
        if (v == 0) { /* one token tile a warp, every expert slot */
            j.tile_list = 0, route(32);
            launch_gemm(matmul_kernel<DT, MM_BIAS, 1, false, FOLD>, dim3(cdiv(tiles, MM_WARPS) * SPLITS, cdiv(70, 8), E), dim3(MM_WARPS * WARP),
                        one_tile_shared_bytes(MM_BIAS, DT, false), jobs);
        } else if (v == 1) { /* four token tiles, the tile list */
            j.tile_list = 1;
            const int n = route(32);
            launch_gemm(matmul_kernel<DT, MM_BIAS, MM_TOKEN_TILES, false, FOLD>, dim3(cdiv(tiles, MM_WARPS * 2) * SPLITS, n, 1), dim3(MM_WARPS * WARP), 0, jobs);
        } else if (v == 4) {
            j.tile_list = 0, j.x_hi_only = 1, route(32);
            launch_gemm(matmul_kernel<DT, MM_BIAS, 1, false, FOLD>, dim3(cdiv(tiles, MM_WARPS) * SPLITS, cdiv(70, 8), E), dim3(MM_WARPS * WARP),
                        one_tile_shared_bytes(MM_BIAS, DT, false), jobs);
        } else if (v == 5) {
            j.tile_list = 1, j.x_compact = 1, j.x = (const uint4 *)dxc;
            const int n = route(64);
            launch_gemm(tiled_gemm_kernel<DT, MM_BIAS, false, FOLD, 8, true>, dim3(cdiv(tiles, EG_MTILES) * SPLITS, n, 1), dim3(EG_WARPS * WARP),
                        2 * sizeof(TiledGemmStage<8, true>), jobs);
            j.x_hi_only = 0, j.x_compact = 0, j.x = (const uint4 *)dx;
        } else {
            const int nt = v == 2 ? 4 : 8, n = route(8 * nt);
            launch_gemm(nt == 4 ? tiled_gemm_kernel<DT, MM_BIAS, false, FOLD, 4> : tiled_gemm_kernel<DT, MM_BIAS, false, FOLD, 8>,
                        dim3(cdiv(tiles, EG_MTILES) * SPLITS, n, 1), dim3(EG_WARPS * WARP),
                        2 * (nt == 4 ? sizeof(TiledGemmStage<4>) : sizeof(TiledGemmStage<8>)), jobs);
        }
        results[v] = (float *)malloc(out_floats * 4);
        OK(hipMemcpy(results[v], dout, out_floats * 4, hipMemcpyDeviceToHost));
    }
    int differ[6] = {0, 0, 0, 0, 0, 0}, unset = 0;
    for (size_t i = 0; i < out_floats; i++) {
        uint32_t a;
        memcpy(&a, &results[0][i], 4);
        unset += a == 0xffffffffu;
        for (int v = 1; v < 5; v++) differ[v] += memcmp(&results[0][i], &results[v][i], 4) != 0;
        differ[5] += memcmp(&results[4][i], &results[5][i], 4) != 0;
    }
    char what[240];
    snprintf(what, sizeof what,
             "tiled_gemm (%s%s experts, 3 experts of 70, 5, 40 tokens, 2 splits): outputs differing from matmul_kernel at one token tile: "
             "%d at four, %d for the GEMM at 32 tokens, %d at 64 (of %zu; %d never written)",
             DT == DT_BF16 ? "BF16" : "MXFP4", FOLD ? ", scales folded" : "", differ[1], differ[2], differ[3], out_floats, unset);
    report(differ[1] == 0 && differ[2] == 0 && differ[3] == 0 && unset == 0, what);
    snprintf(what, sizeof what,
             "tiled_gemm on compact x (%s%s experts, hi alone): %d of %zu outputs differ from matmul_kernel's with x_hi_only (which differ from hi + lo's "
             "in %d)",
             DT == DT_BF16 ? "BF16" : "MXFP4", FOLD ? ", scales folded" : "", differ[5], out_floats, differ[4]);
    report(differ[5] == 0 && (size_t)differ[4] > out_floats / 2, what);

    if constexpr (DT == DT_BF16) { /* dense: rows 0..O of expert 0 as one matrix, the tokens x rows 0..40, 3 splits */
        const int n = 40, splits = 3;
        MatmulJob &d = jobs.job[0];
        d.bias = nullptr, d.pairs = nullptr, d.routing = nullptr, d.n_tokens = n, d.splits = splits, d.tile_list = 0;
        jobs.blocks[0] = (int)cdiv(tiles, MM_WARPS * 2) * splits;
        launch_gemm(matmul_kernel<DT, MM_PARTIAL, MM_TOKEN_TILES>, dim3(jobs.blocks[0], cdiv(n, 32), 1), dim3(MM_WARPS * WARP), 0, jobs);
        float *parts = (float *)malloc((size_t)splits * n * O * 4), *total = (float *)malloc((size_t)n * O * 4);
        OK(hipMemcpy(parts, dout, (size_t)splits * n * O * 4, hipMemcpyDeviceToHost));
        jobs.blocks[0] = (int)cdiv(tiles, EG_MTILES);
        launch_gemm(tiled_gemm_kernel<DT, MM_PARTIAL, false, false, 4>, dim3(jobs.blocks[0], cdiv(n, 32), 1), dim3(EG_WARPS * WARP),
                    2 * sizeof(TiledGemmStage<4>), jobs);
        OK(hipMemcpy(total, dout, (size_t)n * O * 4, hipMemcpyDeviceToHost));
        int bad = 0;
        for (int i = 0; i < n * O; i++) {
            float sum = 0.0f; /* as sum_splits and the post-attention add them */
            for (int sp = 0; sp < splits; sp++) sum += parts[(size_t)sp * n * O + i];
            bad += memcmp(&sum, &total[i], 4) != 0;
        }
        snprintf(what, sizeof what, "tiled_gemm (dense BF16, 3 splits summed in the block): %d of %d outputs differ from matmul_kernel's partials added in order", bad, n * O);
        report(bad == 0, what);
        free(parts);
        free(total);
    }
    for (int v = 0; v < 6; v++) free(results[v]);
    free(w), free(sc), free(x), free(xc);
    OK(hipFree(dw));
    OK(hipFree(ds));
    OK(hipFree(dx));
    OK(hipFree(dxc));
    OK(hipFree(dpairs));
    OK(hipFree(droute));
    OK(hipFree(dbias));
    OK(hipFree(dout));
}

/* Which kernel a step's expert matmuls take (expert_gemm_tiles): the GEMM
 * above 8 rows with 64 tokens a block once an expert gets 64 on average;
 * matmul_kernel for decode-sized steps, F32 experts, GETP_EXPERT_GEMM=0 or
 * no tile list, and on AMD (its LDS) but not in the emulator. */
static void test_gemm_choice() {
    HipState &s = *(HipState *)calloc(1, sizeof(HipState)); /* zeros, then the fields the choice reads */
    LayerDev &L = *(LayerDev *)calloc(1, sizeof(LayerDev));
    s.c.n_experts = 32, s.c.experts_per_token = 4, s.expert_gemm = 1, s.expert_tile_list = 1;
    L.gate_up.dtype = L.down.dtype = DT_MXFP4;
    const int at8 = expert_gemm_tiles(&s, 8, &L), at64 = expert_gemm_tiles(&s, 64, &L), at512 = expert_gemm_tiles(&s, 512, &L);
    L.down.dtype = DT_F32;
    const int f32 = expert_gemm_tiles(&s, 512, &L), f32_group = expert_group_tokens(&s, 512, &L);
    L.down.dtype = DT_BF16;
    const int mixed = expert_gemm_tiles(&s, 512, &L);
    s.expert_gemm = 0;
    const int off = expert_gemm_tiles(&s, 512, &L);
#if defined(GETP_AMD) && !defined(GETP_EMU)
    const bool want = at8 == 0 && at64 == 0 && at512 == 0 && mixed == 0; /* AMD: matmul_kernel always */
#else
    const bool want = at8 == 0 && at64 == 4 && at512 == 8 && mixed == 8;
#endif
    char what[200];
    snprintf(what, sizeof what, "the experts' kernel: token tiles of the GEMM at 8 / 64 / 512 rows %d / %d / %d, with an F32 down %d (list groups %d), BF16 down %d, off %d",
             at8, at64, at512, f32, f32_group, mixed, off);
    report(want && f32 == 0 && f32_group == 32 && off == 0, what);
    free(&s), free(&L);
}

/* ---- the router's top-k (moe_route.h) against the CPU's route ----
 * One warp a case: E logits (many tied, some cases with NaNs), K chosen
 * and their softmax weights. The host picks as src/cpu_backend.c's route
 * does (the largest untaken, ties to the lower expert), with NaNs placed
 * after every number (the GPU's stated order; the CPU has no such rule). */
enum { TOPK_CASES = 14 };
__global__ void top_k_kernel(const float *logits, const int *shape, int *chosen, float *weight) {
    __shared__ int c[8];
    __shared__ float w[8];
    const int i = blockIdx.x, E = shape[2 * i], K = shape[2 * i + 1];
    top_k_in_warp(logits + i * 128, E, K, c, w);
    if ((int)threadIdx.x < K) chosen[i * 8 + threadIdx.x] = c[threadIdx.x], weight[i * 8 + threadIdx.x] = w[threadIdx.x];
}

static bool host_before(float a, int ia, float b, int ib) {
    if (isnan(a) != isnan(b)) return isnan(b);
    return a > b || (!(a < b) && ia < ib);
}

static void test_top_k() {
    static const int shape[TOPK_CASES][2] = {{8, 1}, {8, 4}, {8, 8}, {32, 4}, {32, 8}, {100, 4}, {128, 8}, {128, 8}, {128, 1}, {64, 4}, {128, 4}, {33, 4}, {128, 8}, {33, 8}};
    float logits[TOPK_CASES][128];
    unsigned seed = 12345;
    for (int i = 0; i < TOPK_CASES; i++)
        for (int e = 0; e < 128; e++) {
            seed = seed * 1103515245u + 12345u;
            const int r = (int)(seed >> 16) % 1000;
            logits[i][e] = i % 3 == 0 ? (float)(r % 5) - 2.0f : (float)r / 37.0f - 13.0f; /* every third: 5 values, many ties */
            if (logits[i][e] == 0.0f && r % 2) logits[i][e] = -0.0f;                       /* equal to +0: ties by expert */
            if (i >= 9 && r % 7 == 0) logits[i][e] = NAN;                                  /* cases 9-11: NaNs among them */
            if (i == 12) logits[i][e] = r % 2 ? -0.0f : 0.0f;                               /* all zeros: the lowest K experts */
            if (i == 13) logits[i][e] = e == 5 || e == 20 ? (float)e : NAN;                 /* more NaNs chosen than numbers */
        }
    float *d_logits, *d_weight, weight[TOPK_CASES * 8];
    int *d_shape, *d_chosen, chosen[TOPK_CASES * 8];
    OK(hipMalloc(&d_logits, sizeof logits));
    OK(hipMalloc(&d_shape, sizeof shape));
    OK(hipMalloc(&d_chosen, sizeof chosen));
    OK(hipMalloc(&d_weight, sizeof weight));
    OK(hipMemcpy(d_logits, logits, sizeof logits, hipMemcpyHostToDevice));
    OK(hipMemcpy(d_shape, shape, sizeof shape, hipMemcpyHostToDevice));
    OK(launch_chained(top_k_kernel, dim3(TOPK_CASES), dim3(WARP), 0, (hipStream_t)0, (const float *)d_logits, (const int *)d_shape, d_chosen, d_weight));
    OK(hipGetLastError());
    OK(hipMemcpy(chosen, d_chosen, sizeof chosen, hipMemcpyDeviceToHost));
    OK(hipMemcpy(weight, d_weight, sizeof weight, hipMemcpyDeviceToHost));
    int bad_choice = 0, bad_weight = 0;
    for (int i = 0; i < TOPK_CASES; i++) {
        const int E = shape[i][0], K = shape[i][1];
        const float *l = logits[i];
        int want[8];
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= want[j] == e;
                if (!taken && (best < 0 || host_before(l[e], e, l[best], best))) best = e;
            }
            want[k] = best;
        }
        float mx = l[want[0]], sum = 0.0f;
        for (int k = 0; k < K; k++) sum += expf(l[want[k]] - mx);
        for (int k = 0; k < K; k++) {
            bad_choice += chosen[i * 8 + k] != want[k] || chosen[i * 8 + k] < 0 || chosen[i * 8 + k] >= E;
            const float w = expf(l[want[k]] - mx) / sum;
            bad_weight += !(fabsf(weight[i * 8 + k] - w) <= 1e-6f * fabsf(w)) && !(isnan(w) && isnan(weight[i * 8 + k]));
        }
    }
    char what[200];
    snprintf(what, sizeof what, "router top-k against the CPU's order (%d cases, E 8-128, K 1-8, ties, -0 and +0, NaNs): %d choices and %d weights wrong", TOPK_CASES,
             bad_choice, bad_weight);
    report(bad_choice == 0 && bad_weight == 0, what);
    OK(hipFree(d_logits));
    OK(hipFree(d_shape));
    OK(hipFree(d_chosen));
    OK(hipFree(d_weight));
}

int main() {
    test_mxfp4_decode();
    test_mma();
    test_warpgroup_mma();
    test_collectives();
    test_block_counters();
    test_top_k();
    test_gemm_choice();
    test_tiled_gemm<DT_BF16, false>();
    test_tiled_gemm<DT_MXFP4, false>();
    test_tiled_gemm<DT_MXFP4, true>();
    return failures != 0;
}
