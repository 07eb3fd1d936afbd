/* block_trace.h - a per-block timeline of one decode step, for tuning
 * (NVIDIA only; compiled in with -DGETP_BLOCK_TRACE, absent otherwise).
 *
 * Every kernel opens a BLOCK_TRACE(kind) scope: thread 0 of each block
 * records when the block started, when its wait for the kernel before
 * returned, up to three marks inside the kernel, and when the block ended
 * (on any return), all on the GPU's global nanosecond clock, with the
 * multiprocessor it ran on. The backend turns recording on for one step
 * (GETP_BLOCK_TRACE=step) and writes the records as CSV;
 * bench/block_trace.py reads them. Normal builds: the macros are empty.
 * The recorder (its __constant__ buffer and the macros) lives in the one
 * file that defines GETP_BLOCK_TRACE_RECORDER before including this,
 * forward.hip, whose kernels it records; the others see the types only. */
#ifndef GETP_HIP_BLOCK_TRACE_H
#define GETP_HIP_BLOCK_TRACE_H

#include "hip_compat.h"

enum { TK_EMBED, TK_QKV_FINISH, TK_ATTENTION, TK_POST_ATTENTION, TK_COMBINE, TK_ARGMAX, TK_SAMPLE, TK_MATMUL /* + mode */,
       TK_LOGPROBS = 16 /* past the matmul modes */ };

struct BlockTraceRecord {
    unsigned long long start, waited, mark[3], end;
    int kind, block, blocks, sm;
};
struct BlockTraceBuffer {
    BlockTraceRecord *rec;
    unsigned *n;
    const int *on;
    unsigned cap;
};

#if defined(GETP_BLOCK_TRACE) && !defined(GETP_AMD)
#define GETP_BLOCK_TRACE_ON 1
#endif

#if defined(GETP_BLOCK_TRACE_ON) && defined(GETP_BLOCK_TRACE_RECORDER)
__constant__ BlockTraceBuffer block_trace_buffer;

__device__ inline unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
/* waited, then the marks: one set per block */
__device__ inline unsigned long long *block_trace_times() {
    __shared__ unsigned long long times[4];
    return times;
}
struct BlockTraceScope {
    int kind;
    unsigned long long start;
    __device__ explicit BlockTraceScope(int k) : kind(k), start(global_ns()) {
        if (threadIdx.x == 0)
            for (int i = 0; i < 4; i++) block_trace_times()[i] = 0;
    }
    __device__ ~BlockTraceScope() {
        const BlockTraceBuffer &b = block_trace_buffer;
        if (threadIdx.x != 0 || !b.on || !*b.on) return;
        unsigned i = atomicAdd(b.n, 1u);
        if (i >= b.cap) return;
        BlockTraceRecord r;
        const unsigned long long *t = block_trace_times();
        r.start = start, r.waited = t[0], r.mark[0] = t[1], r.mark[1] = t[2], r.mark[2] = t[3], r.end = global_ns();
        r.kind = kind, r.block = (int)((blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x);
        r.blocks = (int)(gridDim.x * gridDim.y * gridDim.z);
        unsigned sm;
        asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
        r.sm = (int)sm;
        b.rec[i] = r;
    }
};
#define BLOCK_TRACE(kind) BlockTraceScope block_trace_scope_(kind)
#define BLOCK_TRACE_MARK(i)                                       \
    do {                                                          \
        if (threadIdx.x == 0) block_trace_times()[i] = global_ns(); \
    } while (0)
#else
#define BLOCK_TRACE(kind) \
    do {                  \
    } while (0)
#define BLOCK_TRACE_MARK(i) \
    do {                    \
    } while (0)
#endif

#endif
