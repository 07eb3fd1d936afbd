/* async_copy.h - 16-byte copies from global to shared memory that run in the
 * background while the block computes (cp.async on NVIDIA sm_80+; a plain
 * copy on AMD, where the wait is then a no-op). A group of copies is
 * committed, and a wait returns when all but the newest `pending` groups
 * have landed; a __syncthreads after it makes them visible to the block. */
#ifndef GETP_HIP_ASYNC_COPY_H
#define GETP_HIP_ASYNC_COPY_H

#include "hip_compat.h"

/* Copies 16 bytes from src to dst, or writes 16 zero bytes when !ok (src is
 * then not read). */
__device__ inline void async_copy16(uint4 *dst, const uint4 *src, bool ok) {
#ifndef GETP_AMD
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 16 : 0) : "memory");
#else
    *dst = ok ? *src : make_uint4(0, 0, 0, 0);
#endif
}
/* The same for 4 bytes (src and dst 4-byte aligned). */
__device__ inline void async_copy4(uint32_t *dst, const uint32_t *src, bool ok) {
#ifndef GETP_AMD
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 4 : 0) : "memory");
#else
    *dst = ok ? *src : 0u;
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
