/* hip_compat.h - the HIP runtime calls getp uses, for both vendors.
 *
 * AMD (hipcc): the real HIP runtime. NVIDIA (nvcc): each call maps onto its
 * CUDA twin, because Debian's HIP 5.2 NVIDIA headers do not compile against
 * CUDA 13. Keep this list to what hip/ actually calls. */
#ifndef GETP_HIP_COMPAT_H
#define GETP_HIP_COMPAT_H

#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#define WARP_SIZE 64
#else
#include <cuda_runtime.h>
#define WARP_SIZE 32
typedef cudaError_t hipError_t;
typedef cudaStream_t hipStream_t;
#define hipSuccess cudaSuccess
#define hipErrorNoDevice cudaErrorNoDevice
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipSetDevice cudaSetDevice
#define hipGetDevice cudaGetDevice
#define hipDeviceGetPCIBusId cudaDeviceGetPCIBusId
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemGetInfo cudaMemGetInfo
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemset cudaMemset
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipStreamCreate cudaStreamCreate
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#endif

/* warp-wide sum, the same on both vendors */
#if defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC__)
__device__ inline float warp_sum(float v) {
    for (int off = WARP_SIZE / 2; off > 0; off >>= 1) v += __shfl_xor(v, off);
    return v;
}
#else
__device__ inline float warp_sum(float v) {
    for (int off = WARP_SIZE / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
#endif

#endif
