/* rows.h - what the kernels of a block per row (embed, moe_route, combine)
 * share: a row held in registers as float4 groups, its RMS norm, and one
 * element of any weight widened to f32. Every sum runs in a fixed order. */
#ifndef GETP_HIP_ROWS_H
#define GETP_HIP_ROWS_H

#include "bf16_math.h"
#include "matmul_load.h"
#include "reduce.h"
#include "step_types.h"

/* Element i of row r of any weight, widened (embedding, router). */
__device__ inline float weight_elem(const WeightView &w, long r, int i) {
    if (w.dtype == DT_F32) return ((const float *)w.data)[(size_t)r * w.cols + i];
    if (w.dtype == DT_BF16) return __uint_as_float((uint32_t)((const uint16_t *)w.data)[(size_t)r * w.cols + i] << 16);
    uint8_t byte = w.data[(size_t)r * (w.cols / 2) + i / 2];
    return gptoss_fp4_value(i & 1 ? byte >> 4 : byte & 15) * gptoss_e8m0_value(w.scales[(size_t)r * (w.cols / 32) + i / 32]);
}

/* The thread's float4 groups of a row: group j is elements
 * 4 (threadIdx.x + j blockDim.x) .. +3; sum of squares in a fixed order. */
__device__ inline bool row_group(int j, int H, int &g) {
    g = threadIdx.x + j * blockDim.x;
    return 4 * g < H;
}
template <int RG> __device__ inline float sum_squares(const float4 (&v)[RG], int H) {
    float ss = 0.0f;
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++)
        if (row_group(j, H, g)) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    return ss;
}

/* The thread's groups of a vector (norm weights, biases: 16-byte aligned),
 * loaded before the kernel waits for its predecessor. */
template <int RG> __device__ inline void load_groups(float4 (&out)[RG], const float *vec, int H) {
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++) out[j] = row_group(j, H, g) ? ((const float4 *)vec)[g] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

/* Group g (4 values) of a normed row, packed for a matmul: out holds the
 * row's H / 4 entries of bf16 hi and lo pairs, or with compact its hi pairs
 * alone in H / 8. */
__device__ inline void store_normed(uint4 *out, int g, float4 n, bool compact) {
    if (compact) ((uint2 *)out)[g] = pack_hi4(n.x, n.y, n.z, n.w);
    else out[g] = pack_split4(n.x, n.y, n.z, n.w);
}

/* A normed row already in shared memory (xs, floats) packed into out by the
 * block's threads. */
__device__ inline void store_normed_row(const float *xs, int H, uint4 *out, bool compact) {
    for (int g = threadIdx.x; 4 * g < H; g += blockDim.x) store_normed(out, g, ((const float4 *)xs)[g], compact);
}

/* xn = rmsnorm(v) * weight for the row the block holds, packed for a
 * matmul (out: the row's H / 4 entries, or with compact its bf16 hi pairs
 * alone in H / 8; skipped when null), and as floats in xs when it is not null. Every thread of the block must call it. */
template <int RG>
__device__ inline void rmsnorm_groups(const float4 (&v)[RG], int H, const float4 (&weight)[RG], float eps, float *shared, uint4 *out, float *xs,
                                      bool compact = false) {
    float inv = 1.0f / sqrtf(block_sum(sum_squares(v, H), shared) / (float)H + eps);
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++)
        if (row_group(j, H, g)) {
            const float4 &wv = weight[j];
            float4 n = make_float4(wv.x * (v[j].x * inv), wv.y * (v[j].y * inv), wv.z * (v[j].z * inv), wv.w * (v[j].w * inv));
            if (xs) ((float4 *)xs)[g] = n;
            if (out) store_normed(out, g, n, compact);
        }
}

#endif
