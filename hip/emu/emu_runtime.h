/* emu_runtime.h - the GPU backend on the host CPU: the HIP subset hip/ uses
 * (hip_compat.h's list), for g++.
 *
 * Why: CI has no GPU, and device time is scarce. Compiled with -DGETP_EMU,
 * hip/'s kernels and host code build into ordinary programs (build/emu/)
 * that run test_gpu and getp_gpu on the CPU. A launch runs its blocks one
 * after another; each thread of a block is a fiber (its own stack) that
 * runs until it reaches a barrier (__syncthreads, or a warp collective:
 * shuffle, ballot, mma), where the next fiber takes over. So the kernels'
 * indexing, barriers, fragment layouts and the host's launch sequence,
 * graphs and copies are checked; not their speed, the GPU's memory model,
 * or the inline PTX (kernels take the plain C++ paths written for AMD; the
 * mma is emulated per warp in NVIDIA's m16n8k16 register layout).
 *
 * What it catches beyond wrong results: a block whose threads wait at
 * different barriers (reported as a deadlock, with the kernel's address),
 * a launch of more than 1024 threads or more dynamic shared memory than
 * the kernel was allowed (hipErrorInvalidValue from hipGetLastError).
 * GETP_EMU_POISON=1 fills new device memory and each block's dynamic
 * shared memory with 0xFF bytes (NaN floats) instead of zeros, so a read
 * of memory nothing wrote shows; GETP_EMU_ORDER=reverse runs a block's
 * threads last to first (a missing barrier shows in one order or the
 * other). Not thread-safe: one host thread drives it. */
#ifndef GETP_HIP_EMU_RUNTIME_H
#define GETP_HIP_EMU_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>

/* ---- the device language ---- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __constant__
#define __launch_bounds__(...)
/* a block's threads share one copy; blocks run one at a time */
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }

/* the running fiber's coordinates */
const dim3 &emu_thread_idx();
const dim3 &emu_block_idx();
const dim3 &emu_block_dim();
const dim3 &emu_grid_dim();
#define threadIdx (emu_thread_idx())
#define blockIdx (emu_block_idx())
#define blockDim (emu_block_dim())
#define gridDim (emu_grid_dim())

void emu_syncthreads();
#define __syncthreads() emu_syncthreads()
inline void __threadfence() {}
template <typename T> inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}
inline float __int_as_float(int i) { return __uint_as_float((unsigned)i); }
inline int __float_as_int(float f) { return (int)__float_as_uint(f); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* CUDA's global min and max take mixed types (the common type wins) */
template <typename A, typename B> inline typename std::common_type<A, B>::type min(A a, B b) {
    typename std::common_type<A, B>::type x = a, y = b;
    return y < x ? y : x;
}
template <typename A, typename B> inline typename std::common_type<A, B>::type max(A a, B b) {
    typename std::common_type<A, B>::type x = a, y = b;
    return x < y ? y : x;
}

/* Warp collectives (32 lanes): every live lane of the warp calls them in
 * the same order. Each deposits its value, waits for the warp, reads. */
uint64_t emu_warp_exchange(uint64_t mine, int src_lane);
unsigned emu_warp_ballot(bool p);
void emu_warp_sync();
/* D += A B, bf16 m16n8k16, NVIDIA's register layout (bf16_math.h) */
void emu_mma_bf16_16x8x16(float d[4], const uint32_t a[4], const uint32_t b[2]);
/* the dynamic shared memory of the running block */
void *emu_dynamic_shared();

/* ---- the runtime ---- */
typedef int hipError_t;
enum {
    hipSuccess = 0,
    hipErrorInvalidValue = 1,
    hipErrorMemoryAllocation = 2,
    hipErrorInvalidDevice = 101,
    hipErrorCooperativeLaunchTooLarge = 720,
    hipErrorNotSupported = 801,
    hipErrorStreamCaptureUnsupported = 900
};
typedef struct EmuStream *hipStream_t;
typedef struct EmuGraph *hipGraph_t;
typedef struct EmuGraph *hipGraphExec_t;
typedef struct EmuEvent *hipEvent_t;
struct hipDeviceProp_t {
    char name[256];
    int multiProcessorCount;
    size_t totalGlobalMem;
};
struct hipIpcMemHandle_t {
    char reserved[64];
};
enum hipMemcpyKind { hipMemcpyHostToHost, hipMemcpyHostToDevice, hipMemcpyDeviceToHost, hipMemcpyDeviceToDevice };
enum hipStreamCaptureMode { hipStreamCaptureModeGlobal, hipStreamCaptureModeThreadLocal, hipStreamCaptureModeRelaxed };
enum hipFuncAttribute { hipFuncAttributeMaxDynamicSharedMemorySize };
#define hipStreamNonBlocking 1u
#define hipEventDisableTiming 2u
#define hipHostMallocDefault 0u
#define hipHostRegisterDefault 0u
#define hipHostRegisterReadOnly 8u
#define hipIpcMemLazyEnablePeerAccess 1u

const char *hipGetErrorString(hipError_t e);
hipError_t hipGetLastError();
hipError_t hipGetDeviceCount(int *n);
hipError_t hipGetDeviceProperties(hipDeviceProp_t *p, int device);
hipError_t hipSetDevice(int device);
hipError_t hipDeviceGetPCIBusId(char *buf, int len, int device);
hipError_t hipDeviceCanAccessPeer(int *can, int device, int peer);
hipError_t hipMemGetInfo(size_t *free_b, size_t *total_b);
hipError_t emu_malloc(void **p, size_t n);
template <typename T> inline hipError_t hipMalloc(T **p, size_t n) { return emu_malloc((void **)p, n); }
hipError_t hipFree(void *p);
template <typename T> inline hipError_t hipHostMalloc(T **p, size_t n, unsigned flags) {
    (void)flags;
    return emu_malloc((void **)p, n);
}
hipError_t hipHostFree(void *p);
hipError_t hipHostRegister(void *p, size_t n, unsigned flags);
hipError_t hipHostUnregister(void *p);
hipError_t hipMemcpy(void *dst, const void *src, size_t n, hipMemcpyKind kind);
hipError_t hipMemcpyAsync(void *dst, const void *src, size_t n, hipMemcpyKind kind, hipStream_t s);
hipError_t hipMemcpyPeerAsync(void *dst, int dst_device, const void *src, int src_device, size_t n, hipStream_t s);
template <typename T> inline hipError_t hipMemcpyToSymbol(T &symbol, const void *src, size_t n, size_t offset = 0, hipMemcpyKind = hipMemcpyHostToDevice) {
    memcpy((char *)&symbol + offset, src, n);
    return hipSuccess;
}
hipError_t hipMemset(void *p, int v, size_t n);
hipError_t hipMemsetAsync(void *p, int v, size_t n, hipStream_t s);
hipError_t hipIpcGetMemHandle(hipIpcMemHandle_t *h, void *p);
hipError_t hipIpcOpenMemHandle(void **p, hipIpcMemHandle_t h, unsigned flags);
hipError_t hipIpcCloseMemHandle(void *p);
hipError_t hipStreamCreateWithFlags(hipStream_t *s, unsigned flags);
hipError_t hipStreamDestroy(hipStream_t s);
hipError_t hipStreamSynchronize(hipStream_t s);
hipError_t hipStreamBeginCapture(hipStream_t s, hipStreamCaptureMode mode);
hipError_t hipStreamEndCapture(hipStream_t s, hipGraph_t *g);
hipError_t hipGraphInstantiate(hipGraphExec_t *e, hipGraph_t g, void *, void *, size_t);
hipError_t hipGraphLaunch(hipGraphExec_t e, hipStream_t s);
hipError_t hipGraphDestroy(hipGraph_t g);
hipError_t hipGraphExecDestroy(hipGraphExec_t e);
hipError_t hipEventCreate(hipEvent_t *e);
hipError_t hipEventCreateWithFlags(hipEvent_t *e, unsigned flags);
hipError_t hipEventRecord(hipEvent_t e, hipStream_t s);
hipError_t hipEventSynchronize(hipEvent_t e);
hipError_t hipEventElapsedTime(float *ms, hipEvent_t a, hipEvent_t b);
hipError_t hipEventDestroy(hipEvent_t e);
hipError_t hipFuncSetAttribute(const void *kernel, hipFuncAttribute attr, int value);
hipError_t hipOccupancyMaxActiveBlocksPerMultiprocessor(int *n, const void *kernel, int block_threads, size_t shared);

/* A thread spin-waiting on memory that another thread or block writes lets
 * the others run: the next thread of its block, and once the whole block
 * waits, in a cooperative launch the next block. */
void emu_spin_yield();

/* A cooperative launch (hipLaunchCooperativeKernel): its blocks run side by
 * side, so that they may wait on each other; at most this many. */
#define EMU_COOPERATIVE_BLOCKS 64
#define EMU_COOPERATIVE_THREADS 16384 /* in all: each a fiber with a stack of its own */
hipError_t emu_enqueue_cooperative(const void *kernel, dim3 grid, dim3 block, size_t shared, hipStream_t s, std::function<void()> body);
template <typename... Params, typename... Args>
inline hipError_t emu_launch_cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, hipStream_t stream, Args... args) {
    std::tuple<std::remove_cv_t<Params>...> values(static_cast<Params>(args)...);
    return emu_enqueue_cooperative((const void *)kernel, grid, block, shared, stream, [kernel, values]() { std::apply(kernel, values); });
}

/* A launch: run now, or recorded into the graph its stream is capturing. */
hipError_t emu_enqueue_kernel(const void *kernel, dim3 grid, dim3 block, size_t shared, hipStream_t s, std::function<void()> body);
template <typename... Params, typename... Args>
inline hipError_t emu_launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, hipStream_t stream, Args... args) {
    std::tuple<std::remove_cv_t<Params>...> values(static_cast<Params>(args)...);
    return emu_enqueue_kernel((const void *)kernel, grid, block, shared, stream, [kernel, values]() { std::apply(kernel, values); });
}

#endif
