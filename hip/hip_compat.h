/* hip_compat.h - the HIP runtime calls and warp primitives getp uses, for
 * both vendors.
 *
 * AMD (hipcc): the real HIP runtime. NVIDIA (nvcc): each call maps onto its
 * CUDA twin, because Debian's HIP 5.2 NVIDIA headers do not compile against
 * CUDA 13. Keep this list to what hip/ actually calls.
 *
 * Kernels think in 32-lane warps on both vendors (on AMD's 64-lane
 * wavefronts, each half is one warp: shuffles take width 32). */
#ifndef GETP_HIP_COMPAT_H
#define GETP_HIP_COMPAT_H

#include <stdint.h>

#include <tuple>
#include <type_traits>

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#define GETP_AMD 1
#ifndef hipHostRegisterReadOnly /* older HIP: registering read-only memory is the default */
#define hipHostRegisterReadOnly hipHostRegisterDefault
#endif
#else
#include <cuda_runtime.h>
typedef cudaError_t hipError_t;
typedef cudaStream_t hipStream_t;
typedef cudaGraph_t hipGraph_t;
typedef cudaGraphExec_t hipGraphExec_t;
typedef cudaDeviceProp hipDeviceProp_t;
typedef cudaIpcMemHandle_t hipIpcMemHandle_t;
typedef cudaEvent_t hipEvent_t;
#define hipEventCreate cudaEventCreate
#define hipEventCreateWithFlags cudaEventCreateWithFlags
#define hipEventDisableTiming cudaEventDisableTiming
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime
#define hipEventDestroy cudaEventDestroy
#define hipSuccess cudaSuccess
#define hipErrorNoDevice cudaErrorNoDevice
#define hipErrorNotSupported cudaErrorNotSupported
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipSetDevice cudaSetDevice
#define hipGetDevice cudaGetDevice
#define hipDeviceGetPCIBusId cudaDeviceGetPCIBusId
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipHostMalloc(p, n, flags) cudaMallocHost(p, n)
#define hipHostFree cudaFreeHost
#define hipHostRegister cudaHostRegister
#define hipHostUnregister cudaHostUnregister
#define hipHostRegisterReadOnly cudaHostRegisterReadOnly
#define hipHostRegisterDefault cudaHostRegisterDefault
#define hipHostMallocDefault 0
#define hipMemGetInfo cudaMemGetInfo
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemcpyToSymbol cudaMemcpyToSymbol
#define hipMemcpyPeerAsync cudaMemcpyPeerAsync
#define hipMemset cudaMemset
#define hipMemsetAsync cudaMemsetAsync
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipDeviceCanAccessPeer cudaDeviceCanAccessPeer
#define hipDeviceEnablePeerAccess cudaDeviceEnablePeerAccess
#define hipIpcGetMemHandle cudaIpcGetMemHandle
#define hipIpcOpenMemHandle cudaIpcOpenMemHandle
#define hipIpcCloseMemHandle cudaIpcCloseMemHandle
#define hipIpcMemLazyEnablePeerAccess cudaIpcMemLazyEnablePeerAccess
#define hipStreamCreateWithFlags cudaStreamCreateWithFlags
#define hipStreamNonBlocking cudaStreamNonBlocking
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#define hipStreamBeginCapture cudaStreamBeginCapture
#define hipStreamEndCapture cudaStreamEndCapture
#define hipStreamCaptureModeThreadLocal cudaStreamCaptureModeThreadLocal
#define hipGraphInstantiate(e, g, a, b, c) cudaGraphInstantiate(e, g, 0)
#define hipGraphLaunch cudaGraphLaunch
#define hipGraphDestroy cudaGraphDestroy
#define hipGraphExecDestroy cudaGraphExecDestroy
#define hipFuncSetAttribute cudaFuncSetAttribute
#define hipOccupancyMaxActiveBlocksPerMultiprocessor cudaOccupancyMaxActiveBlocksPerMultiprocessor
#define hipFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize
#endif

#define WARP 32

#include "block_trace.h"

/* Programmatic dependent launch. On NVIDIA (sm_90) a kernel launched with
 * launch_chained may start while the kernel before it in the stream is
 * finishing: it must call wait_prior_kernel() before reading anything that
 * kernel (or any earlier one) wrote, and may do independent work, such as
 * loading weights, before. On AMD these are plain launches and no-ops. */
__device__ inline void wait_prior_kernel() {
#ifndef GETP_AMD
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    BLOCK_TRACE_MARK(0);
}
__device__ inline void let_next_kernel_start() {
#ifndef GETP_AMD
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/* Lets the warp sleep about ns nanoseconds (a no-op on AMD, where nothing
 * runs ahead of its wait, see above). */
__device__ inline void sleep_ns(unsigned ns) {
#ifndef GETP_AMD
    __nanosleep(ns);
#else
    (void)ns;
#endif
}

/* Asks L2 to fetch the 128-byte line holding p ahead of its use. A hint:
 * nothing waits for it (a no-op on AMD). */
__device__ inline void prefetch_l2_line(const void *p) {
#ifndef GETP_AMD
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}
/* The same for [p, p + bytes), the block's threads sharing the lines. */
__device__ inline void prefetch_l2(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)127, end = (uintptr_t)p + bytes;
    for (a += (uintptr_t)threadIdx.x * 128; a < end; a += (uintptr_t)blockDim.x * 128) prefetch_l2_line((const void *)a);
}

/* Two bf16 products (bf16 pairs in 32-bit words, low half first); used
 * where the products are exact (fp4 values times powers of two). */
__device__ inline uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
#ifndef GETP_AMD
    uint32_t r;
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    float lo = __uint_as_float(a << 16) * __uint_as_float(b << 16), hi = __uint_as_float(a & 0xffff0000u) * __uint_as_float(b & 0xffff0000u);
    return __float_as_uint(lo) >> 16 | (__float_as_uint(hi) & 0xffff0000u);
#endif
}

template <typename... Params, typename... Args>
static inline hipError_t launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, hipStream_t stream,
                                        Args... args) {
#ifdef GETP_AMD
    std::tuple<std::remove_cv_t<Params>...> values(static_cast<Params>(args)...);
    void *argv[sizeof...(Params) > 0 ? sizeof...(Params) : 1];
    std::apply([&](auto &...v) { int i = 0; ((argv[i++] = (void *)&v), ...); }, values);
    return hipLaunchKernel((const void *)kernel, grid, block, argv, shared, stream);
#else
    cudaLaunchConfig_t config = {};
    config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared, config.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr, config.numAttrs = 1;
    return cudaLaunchKernelEx(&config, kernel, (Params)args...);
#endif
}

#ifdef GETP_AMD
__device__ inline float lane_shfl(float v, int src) { return __shfl(v, src, WARP); }
__device__ inline uint32_t lane_shfl_u(uint32_t v, int src) { return (uint32_t)__shfl((int)v, src, WARP); }
__device__ inline float lane_xor(float v, int m) { return __shfl_xor(v, m, WARP); }
__device__ inline int lane_xor_i(int v, int m) { return __shfl_xor(v, m, WARP); }
__device__ inline double lane_xor(double v, int m) { return __shfl_xor(v, m, WARP); }
/* bit l: lane l of this 32-lane warp (this half of the wavefront) has p */
__device__ inline unsigned warp_ballot(bool p) { return (unsigned)(__ballot(p) >> (threadIdx.x / WARP % 2 * WARP)); }
__device__ inline void warp_sync() {} /* a wavefront runs in lockstep */
#else
__device__ inline float lane_shfl(float v, int src) { return __shfl_sync(0xffffffffu, v, src, WARP); }
__device__ inline uint32_t lane_shfl_u(uint32_t v, int src) { return __shfl_sync(0xffffffffu, v, src, WARP); }
__device__ inline float lane_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline int lane_xor_i(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline double lane_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline unsigned warp_ballot(bool p) { return __ballot_sync(0xffffffffu, p); }
__device__ inline void warp_sync() { __syncwarp(); }
#endif

/* Butterfly reductions: every lane ends with the result, in an order that
 * never depends on the data or the launch. */
template <typename T> __device__ inline T warp_sum(T v) {
    for (int m = WARP / 2; m > 0; m >>= 1) v += lane_xor(v, m);
    return v;
}
/* The same over the block, every thread getting the total; shared holds
 * one value per warp. */
template <typename T> __device__ inline T block_sum(T v, T *shared) {
    int lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[w] = v;
    __syncthreads();
    T total = 0;
    for (int i = 0; i < nw; i++) total += shared[i]; /* same order in every thread */
    return total;
}
__device__ inline float warp_max(float v) {
    for (int m = WARP / 2; m > 0; m >>= 1) v = fmaxf(v, lane_xor(v, m));
    return v;
}

__device__ inline float bf16_lo(uint32_t pair) { return __uint_as_float(pair << 16); }
__device__ inline float bf16_hi(uint32_t pair) { return __uint_as_float(pair & 0xffff0000u); }

/* bf16 bits of x, rounded to nearest even (finite x). */
__device__ inline uint32_t bf16_bits(float x) {
    uint32_t u = __float_as_uint(x);
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
/* Two floats as a bf16 pair (a in the low half), and what rounding left out. */
__device__ inline void split_bf16x2(float a, float b, uint32_t &hi, uint32_t &lo) {
    uint32_t ha = bf16_bits(a), hb = bf16_bits(b);
    hi = ha | hb << 16;
    lo = bf16_bits(a - __uint_as_float(ha << 16)) | bf16_bits(b - __uint_as_float(hb << 16)) << 16;
}

/* Four activations as the matmul reads them: bf16 hi pairs, then what
 * rounding left out (lo pairs). Producers write matmul inputs this way, so
 * the split is done once per value, not once per weight tile. */
__device__ inline uint4 pack_split4(float a, float b, float c, float d) {
    uint4 r;
    split_bf16x2(a, b, r.x, r.z);
    split_bf16x2(c, d, r.y, r.w);
    return r;
}

/* D += A B for one 16x8 tile, k = 16, bf16 inputs, f32 accumulation, in the
 * register layout of NVIDIA's mma.m16n8k16 (lane = 4 g + q):
 *   a[0] = A[g][2q..+1]  a[1] = A[g+8][2q..+1]  a[2] = A[g][2q+8..+9]  a[3] = A[g+8][2q+8..+9]
 *   b[0] = B[2q..+1][g]  b[1] = B[2q+8..+9][g]
 *   d[0..1] = D[g][2q..+1]  d[2..3] = D[g+8][2q..+1]
 * Each element's sum depends only on its own row and column, never on the
 * others, which keeps results independent of the batch. On AMD the same
 * layout is computed with shuffles (correct, not tuned). */
__device__ inline void mma_bf16_16x8x16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#ifdef GETP_AMD
    int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3;
    float s[4] = {0, 0, 0, 0};
    for (int kq = 0; kq < 4; kq++) { /* the 4 logical k owned by lanes with q == kq */
        uint32_t ag0 = lane_shfl_u(a[0], g * 4 + kq), ag8 = lane_shfl_u(a[1], g * 4 + kq);
        uint32_t ag2 = lane_shfl_u(a[2], g * 4 + kq), ag10 = lane_shfl_u(a[3], g * 4 + kq);
        for (int c = 0; c < 2; c++) {
            int src = (2 * q + c) * 4 + kq;
            uint32_t b0 = lane_shfl_u(b[0], src), b1 = lane_shfl_u(b[1], src);
            float p0 = bf16_lo(ag0) * bf16_lo(b0) + bf16_hi(ag0) * bf16_hi(b0) + bf16_lo(ag2) * bf16_lo(b1) + bf16_hi(ag2) * bf16_hi(b1);
            float p8 = bf16_lo(ag8) * bf16_lo(b0) + bf16_hi(ag8) * bf16_hi(b0) + bf16_lo(ag10) * bf16_lo(b1) + bf16_hi(ag10) * bf16_hi(b1);
            s[c] += p0;
            s[2 + c] += p8;
        }
    }
    for (int i = 0; i < 4; i++) d[i] += s[i];
#else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

#endif
