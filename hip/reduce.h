/* reduce.h - sums and maxima over a warp or a block, in an order fixed by
 * the launch shape alone (never by the data), so that every result is the
 * same at any batch size. */
#ifndef GETP_HIP_REDUCE_H
#define GETP_HIP_REDUCE_H

#include "hip_compat.h"

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
/* The largest and the smallest of the warp's integers (exact in any order:
 * one instruction on NVIDIA, redux.sync). */
__device__ inline unsigned warp_max_u32(unsigned v) {
#if !defined(GETP_AMD) && !defined(GETP_EMU)
    return __reduce_max_sync(0xffffffffu, v);
#else
    for (int m = WARP / 2; m > 0; m >>= 1) {
        const unsigned o = (unsigned)lane_xor((int)v, m);
        v = o > v ? o : v;
    }
    return v;
#endif
}
__device__ inline int warp_min_i32(int v) {
#if !defined(GETP_AMD) && !defined(GETP_EMU)
    return __reduce_min_sync(0xffffffffu, v);
#else
    for (int m = WARP / 2; m > 0; m >>= 1) v = min(v, lane_xor(v, m));
    return v;
#endif
}

#endif
