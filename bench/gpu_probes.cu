/* gpu_probes.cu - what the GPU allows the decode step's pieces, measured in
 * isolation (NVIDIA; docs/perf-log/ quotes them):
 *   stream: one launch reading N MB once (the sizes of the 20b layer's
 *     matrices at batch 1), with fresh bytes each time (not from L2);
 *   pattern: 133 MB read with the matmul's weight access (16-row tiles,
 *     4 lanes x 32 bytes per row and chunk), in plain row order, with the
 *     same access to weights stored chunk-major, and as a plain stream by
 *     the matmul's grid;
 *   chain: 400 kernels that each wait for the one before and pass one value
 *     on, replayed as a graph, with and without programmatic dependent launch.
 * usage: build/gpu_probes   (kernel times by CUDA events, us per launch) */
#include <cstdint>
#include <cstdio>

#define CHECK(call)                                                                                 \
    do {                                                                                            \
        cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess) {                                                                    \
            fprintf(stderr, "gpu_probes: %s failed: %s\n", #call, cudaGetErrorString(e_));          \
            return 1;                                                                               \
        }                                                                                           \
    } while (0)

__global__ void __launch_bounds__(256) stream_read(const uint4 *p, size_t n, uint32_t *sink) {
    uint32_t acc = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x, i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 7 * stride < n; i += 8 * stride) {
        uint4 v[8];
#pragma unroll
        for (int u = 0; u < 8; u++) v[u] = p[i + u * stride];
#pragma unroll
        for (int u = 0; u < 8; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
    }
    for (; i < n; i += stride) acc ^= p[i].x;
    if (acc == 0x12345678u) *sink = acc; /* keeps the loads */
}

constexpr int PATTERN_K = 2880, PATTERN_ROWS = 23040; /* gate_up of 4 experts, bf16 */
/* The matmul's weight loads: each warp a tile of 16 rows, 8 chunks of 64
 * values in flight, 4 lanes x 32 bytes per row and chunk. CHUNK_MAJOR: the
 * weights stored with the 64 values of chunk c of every row together, so
 * all warps at chunk c read one window of ROWS x 128 bytes (DRAM page
 * locality) instead of one stream each. */
template <bool CHUNK_MAJOR> __global__ void __launch_bounds__(128) tile_pattern(const uint8_t *w, uint32_t *sink) {
    int lane = threadIdx.x % 32, g = lane >> 2, q = lane & 3, tile = blockIdx.x * 4 + threadIdx.x / 32;
    long r0 = tile * 16 + g, r1 = r0 + 8;
    auto at = [&](long r, long c) { return (const uint4 *)(w + (CHUNK_MAJOR ? (c * PATTERN_ROWS + r) * 128 + q * 32 : (r * PATTERN_K + c * 64 + q * 16) * 2)); };
    uint32_t acc = 0;
    for (int cb = 0; cb < PATTERN_K / 64; cb += 8) {
        uint4 a[8][2], b[8][2];
#pragma unroll
        for (int u = 0; u < 8; u++) {
            bool ok = cb + u < PATTERN_K / 64;
            const uint4 *p0 = at(r0, cb + u), *p1 = at(r1, cb + u);
            for (int h = 0; h < 2; h++) a[u][h] = ok ? p0[h] : make_uint4(0, 0, 0, 0), b[u][h] = ok ? p1[h] : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < 8; u++) acc ^= a[u][0].x ^ a[u][1].y ^ b[u][0].z ^ b[u][1].w;
    }
    if (acc == 0x12345678u) *sink = acc;
}
__global__ void __launch_bounds__(128) row_order_pattern(const uint8_t *w, uint32_t *sink) {
    int lane = threadIdx.x % 32, tile = blockIdx.x * 4 + threadIdx.x / 32, n = 16 * PATTERN_K * 2 / 16;
    const uint4 *p = (const uint4 *)(w + (size_t)tile * 16 * PATTERN_K * 2);
    uint32_t acc = 0;
    for (int i = lane; i < n; i += 32 * 16) {
        uint4 v[16];
#pragma unroll
        for (int u = 0; u < 16; u++) v[u] = i + u * 32 < n ? p[i + u * 32] : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < 16; u++) acc ^= v[u].x ^ v[u].w;
    }
    if (acc == 0x12345678u) *sink = acc;
}

__global__ void chain_link(float *values, int i) {
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" :::);
    if (threadIdx.x == 0 && blockIdx.x == 0) values[i + 1] = values[i] + 1.0f; /* one dependent round trip */
}

static int chain(int pdl, int blocks, int threads, float *us) {
    const int N = 400;
    cudaStream_t st;
    float *values;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cudaEvent_t e0, e1;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CHECK(cudaMalloc(&values, (N + 1) * sizeof(float)));
    CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < N; i++) {
        cudaLaunchConfig_t config = {};
        cudaLaunchAttribute attr[1];
        config.gridDim = blocks, config.blockDim = threads, config.stream = st;
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = pdl;
        config.attrs = attr, config.numAttrs = 1;
        CHECK(cudaLaunchKernelEx(&config, chain_link, values, i));
    }
    CHECK(cudaStreamEndCapture(st, &graph));
    CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    CHECK(cudaGraphLaunch(exec, st)); /* warm-up */
    CHECK(cudaEventRecord(e0, st));
    for (int r = 0; r < 10; r++) CHECK(cudaGraphLaunch(exec, st));
    CHECK(cudaEventRecord(e1, st));
    CHECK(cudaEventSynchronize(e1));
    float ms;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    *us = ms * 1000.0f / (10 * N);
    cudaGraphExecDestroy(exec), cudaGraphDestroy(graph), cudaFree(values), cudaStreamDestroy(st);
    return 0;
}

int main() {
    const size_t pattern_bytes = (size_t)PATTERN_ROWS * PATTERN_K * 2, regions = 12, total = pattern_bytes * regions;
    uint8_t *buf;
    uint32_t *sink;
    int sms;
    cudaEvent_t e0, e1;
    CHECK(cudaMalloc(&buf, total));
    CHECK(cudaMalloc(&sink, 4));
    CHECK(cudaMemset(buf, 1, total));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    const double sizes_mb[] = {23.6, 29.5, 66.5, 133, 1160}; /* o, q/k/v, down and gate_up of 4 experts, unembedding */
    for (double mb : sizes_mb) {
        size_t bytes = (size_t)(mb * 1e6) & ~(size_t)255, per = total / bytes < 20 ? total / bytes : 20;
        float best = 1e30f;
        for (int r = 0; r < 20; r++) { /* each launch its own bytes: none of them in L2 */
            const uint4 *p = (const uint4 *)(buf + (r % per) * bytes);
            CHECK(cudaEventRecord(e0));
            stream_read<<<sms * 4, 256>>>(p, bytes / 16, sink);
            CHECK(cudaEventRecord(e1));
            CHECK(cudaEventSynchronize(e1));
            float ms;
            CHECK(cudaEventElapsedTime(&ms, e0, e1));
            if (ms < best) best = ms;
        }
        printf("stream %7.1f MB: %8.2f us (%.2f TB/s), best of 20, launch included\n", mb, best * 1000, bytes / (best * 1e-3) / 1e12);
    }
    const char *pattern_names[] = {"matmul tile", "row order", "chunk-major", "stream 360x128"};
    for (int kind = 0; kind < 4; kind++) {
        CHECK(cudaEventRecord(e0));
        for (int i = 0; i < 24; i++) {
            const uint8_t *w = buf + (i % regions) * pattern_bytes;
            if (kind == 0) tile_pattern<false><<<PATTERN_ROWS / 64, 128>>>(w, sink);
            else if (kind == 1) row_order_pattern<<<PATTERN_ROWS / 64, 128>>>(w, sink);
            else if (kind == 2) tile_pattern<true><<<PATTERN_ROWS / 64, 128>>>(w, sink);
            else stream_read<<<PATTERN_ROWS / 64, 128>>>((const uint4 *)w, pattern_bytes / 16, sink);
        }
        CHECK(cudaEventRecord(e1));
        CHECK(cudaEventSynchronize(e1));
        float ms;
        CHECK(cudaEventElapsedTime(&ms, e0, e1));
        printf("pattern %-14s 133 MB: %8.2f us per launch back to back (%.2f TB/s)\n", pattern_names[kind], ms * 1000 / 24,
               pattern_bytes / (ms / 24 * 1e-3) / 1e12);
    }
    for (int pdl = 0; pdl < 2; pdl++)
        for (int blocks : {1, 132}) {
            float us;
            if (chain(pdl, blocks, 256, &us)) return 1;
            printf("chain %s, %3d blocks: %.2f us per dependent kernel\n", pdl ? "programmatic launch" : "plain launch       ", blocks, us);
        }
    return 0;
}
