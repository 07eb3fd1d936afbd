/* hip_compat.h - the HIP runtime calls and warp primitives getp uses, for
 * both vendors: nothing else.
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

#if defined(GETP_EMU)
/* the host emulator (make test-emu): kernels take the plain C++ paths
 * written for AMD, warps stay 32 lanes */
#include "emu/emu_runtime.h"
#define GETP_AMD 1
#elif defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
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
#define hipErrorNotSupported cudaErrorNotSupported
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipSetDevice cudaSetDevice
#define hipDeviceGetPCIBusId cudaDeviceGetPCIBusId
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipHostMalloc(p, n, flags) cudaMallocHost(p, n)
#define hipHostFree cudaFreeHost
#define hipHostRegister cudaHostRegister
#define hipHostUnregister cudaHostUnregister
#define hipHostRegisterReadOnly cudaHostRegisterReadOnly
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
#define hipDeviceCanAccessPeer cudaDeviceCanAccessPeer
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

/* The block's dynamic shared memory (the launch's `shared` bytes) as name[]. */
#if defined(GETP_EMU)
#define DYNAMIC_SHARED(type, name) type *name = (type *)emu_dynamic_shared()
#else
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#if defined(GETP_EMU)
template <typename T> inline T emu_shfl(T v, int src) {
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = emu_warp_exchange(bits, src);
    memcpy(&v, &bits, sizeof v);
    return v;
}
__device__ inline float lane_shfl(float v, int src) { return emu_shfl(v, src); }
__device__ inline uint32_t lane_shfl_u(uint32_t v, int src) { return emu_shfl(v, src); }
__device__ inline float lane_xor(float v, int m) { return emu_shfl(v, (int)(threadIdx.x % WARP) ^ m); }
__device__ inline int lane_xor_i(int v, int m) { return emu_shfl(v, (int)(threadIdx.x % WARP) ^ m); }
__device__ inline int lane_xor(int v, int m) { return emu_shfl(v, (int)(threadIdx.x % WARP) ^ m); }
__device__ inline double lane_xor(double v, int m) { return emu_shfl(v, (int)(threadIdx.x % WARP) ^ m); }
__device__ inline unsigned warp_ballot(bool p) { return emu_warp_ballot(p); }
__device__ inline void warp_sync() { emu_warp_sync(); }
#elif defined(GETP_AMD)
__device__ inline float lane_shfl(float v, int src) { return __shfl(v, src, WARP); }
__device__ inline uint32_t lane_shfl_u(uint32_t v, int src) { return (uint32_t)__shfl((int)v, src, WARP); }
__device__ inline float lane_xor(float v, int m) { return __shfl_xor(v, m, WARP); }
__device__ inline int lane_xor_i(int v, int m) { return __shfl_xor(v, m, WARP); }
__device__ inline int lane_xor(int v, int m) { return __shfl_xor(v, m, WARP); }
__device__ inline double lane_xor(double v, int m) { return __shfl_xor(v, m, WARP); }
/* bit l: lane l of this 32-lane warp (this half of the wavefront) has p */
__device__ inline unsigned warp_ballot(bool p) { return (unsigned)(__ballot(p) >> (threadIdx.x / WARP % 2 * WARP)); }
__device__ inline void warp_sync() {} /* a wavefront runs in lockstep */
#else
__device__ inline float lane_shfl(float v, int src) { return __shfl_sync(0xffffffffu, v, src, WARP); }
__device__ inline uint32_t lane_shfl_u(uint32_t v, int src) { return __shfl_sync(0xffffffffu, v, src, WARP); }
__device__ inline float lane_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline int lane_xor_i(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline int lane_xor(int v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline double lane_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m, WARP); }
__device__ inline unsigned warp_ballot(bool p) { return __ballot_sync(0xffffffffu, p); }
__device__ inline void warp_sync() { __syncwarp(); }
#endif

#endif
