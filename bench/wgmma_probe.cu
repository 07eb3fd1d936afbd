/* wgmma_probe.cu - what a warpgroup mma (sm_90a wgmma, A from registers, B
 * from shared memory) would mean for getp's matmuls, before a kernel is
 * built on it (issue 23). Three questions, each answered on the GPU:
 *   layout:    with A in mma.m16n8k16's register layout per warp (warp w:
 *              rows 16w..16w+15) and B in shared memory as 8x8 core
 *              matrices (K-major, no swizzle; the descriptor's leading
 *              offset between the two k halves), does D = A B come out
 *              exact, in mma's D layout? (small integers: exact sums)
 *   order:     over k = 2880 (180 steps of 16, random bf16 values), is
 *              each output of wgmma bit-identical to the same sums by
 *              mma.sync? If so, a wgmma kernel at large batches and the
 *              mma.sync kernel at decode give a row the same logits
 *              (batch invariance); if not, one of them must serve all.
 *   width:     the same with B 32 wide (four token tiles in one wgmma
 *              n32): is an output independent of the other columns?
 * usage: build/wgmma_probe   (prints one line per question, PASS/FAIL and
 * the count of outputs that differ; exits non-zero on a layout failure) */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#define CHECK(call)                                                                                 \
    do {                                                                                            \
        cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess) {                                                                    \
            fprintf(stderr, "wgmma_probe: %s failed: %s\n", #call, cudaGetErrorString(e_));         \
            return 1;                                                                               \
        }                                                                                           \
    } while (0)

constexpr int M = 64, K_STEPS = 180, K = 16 * K_STEPS, NMAX = 32;

/* Shared-memory matrix descriptor: no swizzle; start, leading-dimension
 * (the next core matrix along k) and stride-dimension (the next 8 columns)
 * byte offsets, each >> 4. */
__device__ inline uint64_t smem_desc(const void *p, uint32_t lead_bytes, uint32_t stride_bytes) {
    uint64_t addr = (uint64_t)__cvta_generic_to_shared(p);
    return ((addr & 0x3FFFF) >> 4) | (uint64_t)((lead_bytes & 0x3FFFF) >> 4) << 16 | (uint64_t)((stride_bytes & 0x3FFFF) >> 4) << 32;
}

__device__ inline void mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ inline void wgmma_n8(float d[4], const uint32_t a[4], uint64_t desc_b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, p, 1, 1, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}
__device__ inline void wgmma_n32(float d[16], const uint32_t a[4], uint64_t desc_b) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]),
                   "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}
__device__ inline void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ inline void wgmma_commit_wait() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}

/* a: bf16 [M][K] row-major; b: bf16 [NMAX][K] (column n of B, k contiguous).
 * One warpgroup. Writes D [M][n] by wgmma (n = 8 or 32) and, for n = 8, by
 * mma.sync (each warp its 16 rows) into d_mma. */
__global__ void __launch_bounds__(128) probe_kernel(const uint16_t *a, const uint16_t *b, int n, int k_steps, float *d_wg, float *d_mma) {
    /* one k step of B: for each 8 columns, two 8x8 core matrices (k 0..7,
     * 8..15) of 128 bytes, k contiguous within a column */
    __shared__ __align__(128) uint16_t bs[NMAX / 8][2][8][8];
    const int t = threadIdx.x, w = t / 32, lane = t % 32, g = lane >> 2, q = lane & 3;
    float acc_wg[16] = {0}, acc_mma[4] = {0};
    for (int s = 0; s < k_steps; s++) {
        __syncthreads();
        for (int i = t; i < n * 16; i += 128) {
            int col = i / 16, k = i % 16;
            bs[col / 8][k / 8][col % 8][k % 8] = b[(size_t)col * K + 16 * s + k];
        }
        __syncthreads();
        const uint16_t *ar = a + (size_t)(16 * w) * K + 16 * s;
        auto pair = [&](int row, int k) { return (uint32_t)ar[(size_t)row * K + k] | (uint32_t)ar[(size_t)row * K + k + 1] << 16; };
        uint32_t af[4] = {pair(g, 2 * q), pair(g + 8, 2 * q), pair(g, 2 * q + 8), pair(g + 8, 2 * q + 8)};
        /* leading offset: core matrix k 8..15 is 64 elements on; stride: the next 8 columns, 2 core matrices on */
        uint64_t desc = smem_desc(&bs[0][0][0][0], 128, 256);
        wgmma_fence();
        if (n == 8) wgmma_n8(acc_wg, af, desc);
        else wgmma_n32(acc_wg, af, desc);
        wgmma_commit_wait();
        if (n == 8) {
            uint32_t bf[2] = {(uint32_t)bs[0][0][g][2 * q] | (uint32_t)bs[0][0][g][2 * q + 1] << 16,
                              (uint32_t)bs[0][1][g][2 * q] | (uint32_t)bs[0][1][g][2 * q + 1] << 16};
            mma_m16n8k16(acc_mma, af, bf);
        }
    }
    for (int j = 0; j < n / 8; j++)
        for (int i = 0; i < 4; i++) {
            int row = 16 * w + g + (i >= 2 ? 8 : 0), col = 8 * j + 2 * q + (i & 1);
            d_wg[row * n + col] = acc_wg[4 * j + i];
            if (n == 8) d_mma[row * n + col] = acc_mma[i];
        }
}

static uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
static float float_of(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int main() {
    static uint16_t a[M * K], b[NMAX * K];
    static float d_wg8[M * 8], d_mma8[M * 8], d_wg32[M * NMAX];
    uint16_t *da, *db;
    float *dwg, *dmma;
    CHECK(cudaMalloc(&da, sizeof a));
    CHECK(cudaMalloc(&db, sizeof b));
    CHECK(cudaMalloc(&dwg, sizeof d_wg32));
    CHECK(cudaMalloc(&dmma, sizeof d_mma8));
    unsigned seed = 12345;
    auto rnd = [&]() { return seed = seed * 1103515245u + 12345u, (float)((seed >> 8) & 0xFFFF) / 65536.0f; };
    int failures = 0;

    /* layout: one k step of small integers */
    for (int i = 0; i < M * K; i++) a[i] = bf16_of((float)((int)(rnd() * 15) - 7) * 0.25f);
    for (int i = 0; i < NMAX * K; i++) b[i] = bf16_of((float)((int)(rnd() * 15) - 7) * 0.5f);
    CHECK(cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice));
    for (int n : {8, 32}) {
        probe_kernel<<<1, 128>>>(da, db, n, 1, dwg, dmma);
        CHECK(cudaGetLastError());
        CHECK(cudaMemcpy(d_wg32, dwg, sizeof(float) * M * n, cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int r = 0; r < M; r++)
            for (int c = 0; c < n; c++) {
                float want = 0;
                for (int k = 0; k < 16; k++) want += float_of(a[r * K + k]) * float_of(b[c * K + k]);
                bad += d_wg32[r * n + c] != want;
            }
        printf("%s layout: wgmma m64n%dk16 (A in registers, B K-major core matrices, lead 128 B, stride 256 B): %d of %d outputs exact\n",
               bad ? "FAIL" : "PASS", n, M * n - bad, M * n);
        failures += bad != 0;
    }

    /* order and width: 180 k steps of random values */
    for (int i = 0; i < M * K; i++) a[i] = bf16_of((rnd() - 0.5f) * 2.0f);
    for (int i = 0; i < NMAX * K; i++) b[i] = bf16_of((rnd() - 0.5f) * 2.0f);
    CHECK(cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice));
    probe_kernel<<<1, 128>>>(da, db, 8, K_STEPS, dwg, dmma);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(d_wg8, dwg, sizeof d_wg8, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(d_mma8, dmma, sizeof d_mma8, cudaMemcpyDeviceToHost));
    probe_kernel<<<1, 128>>>(da, db, 32, K_STEPS, dwg, dmma);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(d_wg32, dwg, sizeof d_wg32, cudaMemcpyDeviceToHost));
    int order_diff = 0, width_diff = 0;
    double worst = 0;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < 8; c++) {
            float x = d_wg8[r * 8 + c], y = d_mma8[r * 8 + c];
            order_diff += memcmp(&x, &y, 4) != 0;
            worst = fmax(worst, fabs((double)x - y) / fmax(1e-30, fabs((double)y)));
            width_diff += memcmp(&x, &d_wg32[r * NMAX + c], 4) != 0;
        }
    printf("%s order: wgmma and mma.sync over k = %d: %d of %d outputs differ in some bit (worst relative difference %.3g)\n",
           order_diff ? "DIFF" : "SAME", K, order_diff, M * 8, worst);
    printf("%s width: wgmma n8 and n32 over k = %d: %d of %d outputs of the first 8 columns differ\n", width_diff ? "DIFF" : "SAME", K,
           width_diff, M * 8);
    return failures != 0;
}
