/* async_copy.h - 16-byte copies from global to shared memory that run in the
 * background while the block computes (cp.async on NVIDIA sm_80+; a plain
 * copy on AMD, where the wait is then a no-op). A group of copies is
 * committed, and a wait returns when all but the newest `pending` groups
 * have landed; a __syncthreads after it makes them visible to the block. */
#ifndef GETP_HIP_ASYNC_COPY_H
#define GETP_HIP_ASYNC_COPY_H

#include "hip_compat.h"

/* Copies one T (uint4: 16 bytes, through L2 only; uint2: 8 bytes; uint32_t: 4 bytes) from
 * src to dst, or writes zeros when !ok (src is then not read). */
template <typename T> __device__ inline void async_copy(T *dst, const T *src, bool ok) {
    static_assert(sizeof(T) == 16 || sizeof(T) == 8 || sizeof(T) == 4, "cp.async copies 16, 8 or 4 bytes here");
#ifndef GETP_AMD
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    if constexpr (sizeof(T) == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 16 : 0) : "memory");
    else if constexpr (sizeof(T) == 8)
        asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 8 : 0) : "memory");
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 4 : 0) : "memory");
#else
    *dst = ok ? *src : T{};
#endif
}
__device__ inline void async_copy_commit() {
#ifndef GETP_AMD
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int pending> __device__ inline void async_copy_wait() {
#ifndef GETP_AMD
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}

#endif
