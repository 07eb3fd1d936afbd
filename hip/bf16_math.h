/* bf16_math.h - the numeric building blocks of the matmuls: bf16 pairs in
 * 32-bit words, the hi + lo split that keeps products near f32, and the
 * tensor-core multiply (mma) with its AMD stand-in. */
#ifndef GETP_HIP_BF16_MATH_H
#define GETP_HIP_BF16_MATH_H

#include "hip_compat.h"

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

/* The same four as their bf16 hi pairs alone (x_hi_only: the compact rows
 * that tiled_gemm.h stages with half the bytes). */
__device__ inline uint2 pack_hi4(float a, float b, float c, float d) { return make_uint2(bf16_bits(a) | bf16_bits(b) << 16, bf16_bits(c) | bf16_bits(d) << 16); }

/* D += A B for one 16x8 tile, k = 16, bf16 inputs, f32 accumulation, in the
 * register layout of NVIDIA's mma.m16n8k16 (lane = 4 g + q):
 *   a[0] = A[g][2q..+1]  a[1] = A[g+8][2q..+1]  a[2] = A[g][2q+8..+9]  a[3] = A[g+8][2q+8..+9]
 *   b[0] = B[2q..+1][g]  b[1] = B[2q+8..+9][g]
 *   d[0..1] = D[g][2q..+1]  d[2..3] = D[g+8][2q..+1]
 * Each element's sum depends only on its own row and column, never on the
 * others, which keeps results independent of the batch. On AMD the same
 * layout is computed with shuffles (correct, not tuned). */
__device__ inline void mma_bf16_16x8x16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(GETP_EMU) && !defined(GETP_EMU_SHUFFLE_MMA)
    emu_mma_bf16_16x8x16(d, a, b); /* the emulator's warp-level mma (GETP_EMU_SHUFFLE_MMA: AMD's stand-in) */
#elif defined(GETP_AMD)
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

#endif
