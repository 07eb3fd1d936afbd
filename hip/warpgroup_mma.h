/* warpgroup_mma.h - D += A B for a block of 4 warps at once (64 rows x N
 * columns, k = 16): each warp's 16-row A fragment in registers, in
 * mma_bf16_16x8x16's layout, and B (16 x N) in shared memory as 8 x 8 core
 * matrices, which the tensor cores read themselves.
 *
 * On sm_90a this is one wgmma (A from registers, B by a shared-memory
 * descriptor): no shared-memory loads by the warps, no B fragments in
 * registers. Elsewhere (AMD, the emulator, plain sm_90) each warp runs its
 * N/8 mma_bf16_16x8x16 on the same shared memory, which sums each output's
 * products exactly as the per-warp matmul does (whether wgmma's sums equal
 * mma's bit for bit is bench/wgmma_probe.cu's question). */
#ifndef GETP_HIP_WARPGROUP_MMA_H
#define GETP_HIP_WARPGROUP_MMA_H

#include "bf16_math.h"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(GETP_AMD)
#define GETP_WGMMA 1
#endif

/* B of one k step: core matrix (n tile t, k half h) holds columns 8t..8t+7,
 * each a row of 16 bytes: its k = 8h + 2q, 8h + 2q + 1 as word q (the
 * logical k of mma's fragments: lane q's b[0] is k 2q..2q+1, b[1] 2q+8..). */
template <int N> struct WarpgroupB {
    uint32_t w[N / 8][2][8][4];
};

/* Orders the warps' register writes before a wgmma reads them (a no-op
 * without wgmma). */
__device__ inline void warpgroup_fence() {
#ifdef GETP_WGMMA
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
/* Closes a group of the wgmmas issued since the last one. */
__device__ inline void warpgroup_commit() {
#ifdef GETP_WGMMA
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
/* Waits until at most `pending` committed groups are still running (their
 * D and A registers are not to be touched until then). */
template <int pending> __device__ inline void warpgroup_wait() {
#ifdef GETP_WGMMA
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(pending) : "memory");
#endif
}

#ifdef GETP_WGMMA
/* The shared-memory descriptor of a WarpgroupB: no swizzle; 128 bytes from
 * one k half to the next (leading), 256 from one n tile to the next
 * (stride); addresses and offsets in units of 16 bytes. */
__device__ inline uint64_t warpgroup_b_desc(const void *b) {
    uint64_t addr = (uint64_t)__cvta_generic_to_shared(b);
    return ((addr & 0x3FFFF) >> 4) | (uint64_t)(128 >> 4) << 16 | (uint64_t)(256 >> 4) << 32;
}
#endif

template <int N> __device__ inline void warpgroup_mma(float (&d)[N / 8][4], const uint32_t a[4], const WarpgroupB<N> &b);

template <> __device__ inline void warpgroup_mma<8>(float (&d)[1][4], const uint32_t a[4], const WarpgroupB<8> &b) {
#ifdef GETP_WGMMA
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, p, 1, 1, 0;\n}\n"
                 : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(warpgroup_b_desc(&b)), "r"(1));
#else
    const int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3;
    uint32_t bb[2] = {b.w[0][0][g][q], b.w[0][1][g][q]};
    mma_bf16_16x8x16(d[0], a, bb);
#endif
}

template <> __device__ inline void warpgroup_mma<32>(float (&d)[4][4], const uint32_t a[4], const WarpgroupB<32> &b) {
#ifdef GETP_WGMMA
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
                 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1, 0;\n}\n"
                 : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
                   "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(warpgroup_b_desc(&b)), "r"(1));
#else
    const int lane = threadIdx.x % WARP, g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int t = 0; t < 4; t++) {
        uint32_t bb[2] = {b.w[t][0][g][q], b.w[t][1][g][q]};
        mma_bf16_16x8x16(d[t], a, bb);
    }
#endif
}

#endif
