/* block_counters.h - counters between the blocks of one kernel, for a
 * persistent kernel whose blocks take work items in dependency order
 * (issue 25): a block signals that its part of a phase is written, another
 * waits until a counter reaches a value before it reads that part. Blocks
 * may wait on each other only when all of them are resident at once: launch
 * such a kernel with launch_cooperative (early_start.h), never with more
 * blocks than fit. The emulator runs a cooperative grid's blocks side by
 * side and switches to another block while one spins; there each block
 * has shared memory of its own only in its dynamic area (DYNAMIC_SHARED),
 * so a kernel launched so keeps its shared arrays there. */
#ifndef GETP_HIP_BLOCK_COUNTERS_H
#define GETP_HIP_BLOCK_COUNTERS_H

#include "hip_compat.h"

/* A waiting thread lets the others run a little. */
__device__ inline void spin_pause() {
#if defined(GETP_EMU)
    emu_spin_yield();
#elif defined(GETP_AMD)
    __builtin_amdgcn_s_sleep(1);
#else
    __nanosleep(64);
#endif
}

/* After the block's writes of a phase: *counter += add, seen by other
 * blocks only after those writes (the barrier, then a fence). */
__device__ inline void counter_signal(int *counter, int add = 1) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(counter, add);
    }
}

/* Until *counter >= value; then every thread of the block may read what
 * the signalling blocks wrote before they signalled. */
__device__ inline void counter_wait(const int *counter, int value) {
    if (threadIdx.x == 0) {
        while (*(const volatile int *)counter < value) spin_pause();
        __threadfence();
    }
    __syncthreads();
}

/* A persistent kernel's work item's gate (see ChainGate, early_start.h):
 * it waits until *counter reaches value (no counter: nothing to wait for,
 * the kernel waited once at its start); let_next does nothing, the kernel
 * having let the next one start once, at its start. */
struct CounterGate {
    const int *counter;
    int value;
    __device__ void wait() const {
        if (counter) counter_wait(counter, value);
    }
    __device__ void let_next() const {}
};

/* The end of a work item of a persistent kernel whose launch has n_items:
 * its writes are signalled (signal, when not null), the item counted in
 * items_done; the launch's last item resets every counter (n_counters from
 * `counters`, items_done among them) for the next launch: all the others
 * have signalled and are past their waits by then. */
__device__ inline void item_done(int *signal, int *items_done, int n_items, int *counters, int n_counters) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        if (signal) atomicAdd(signal, 1);
        if (atomicAdd(items_done, 1) == n_items - 1)
            for (int c = 0; c < n_counters; c++) counters[c] = 0;
    }
}

#endif
