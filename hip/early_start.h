/* early_start.h - how a kernel may start before the one ahead of it ends
 * (programmatic dependent launch on NVIDIA sm_90; plain launches on AMD).
 *
 * Every kernel of a step is launched with launch_chained (but the persistent
 * experts kernel: launch_cooperative, which waits for the kernel before it
 * to end). Inside, two calls at fixed points state its contract:
 *   wait_prior_kernel()      nothing the kernels before it wrote is read
 *                            before this call (weights and other constants
 *                            may be loaded before it);
 *   let_next_kernel_start()  the next kernel in the stream may launch now
 *                            (it will still wait before reading our output).
 * Each launcher in hip/ states, where it launches, what its kernel loads
 * before its wait and when it lets the next one start. */
#ifndef GETP_HIP_EARLY_START_H
#define GETP_HIP_EARLY_START_H

#include <tuple>
#include <type_traits>

#include "block_trace.h"
#include "hip_compat.h"

/* On NVIDIA (sm_90) a kernel launched with launch_chained may start while
 * the kernel before it in the stream is finishing. On AMD these are no-ops. */
__device__ inline void wait_prior_kernel() {
#ifndef GETP_AMD
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    BLOCK_TRACE_MARK(0);
}
__device__ inline void let_next_kernel_start() {
#ifndef GETP_AMD
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

/* The two points above as an argument of a block's work written once for
 * a kernel of its own (this gate) and for a persistent kernel's work items
 * (CounterGate, block_counters.h): wait() and let_next(). */
struct ChainGate {
    __device__ void wait() const { wait_prior_kernel(); }
    __device__ void let_next() const { let_next_kernel_start(); }
};

/* Lets the warp sleep about ns nanoseconds (a no-op on AMD, where nothing
 * runs ahead of its wait, see above). */
__device__ inline void sleep_ns(unsigned ns) {
#ifndef GETP_AMD
    __nanosleep(ns);
#else
    (void)ns;
#endif
}

/* Asks L2 to fetch the 128-byte line holding p ahead of its use. A hint:
 * nothing waits for it (a no-op on AMD). */
__device__ inline void prefetch_l2_line(const void *p) {
#ifndef GETP_AMD
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}
/* The same for [p, p + bytes), the block's threads sharing the lines. */
__device__ inline void prefetch_l2(const void *p, size_t bytes) {
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)127, end = (uintptr_t)p + bytes;
    for (a += (uintptr_t)threadIdx.x * 128; a < end; a += (uintptr_t)blockDim.x * 128) prefetch_l2_line((const void *)a);
}

/* launch(argv) with argv the addresses of the kernel's arguments, each
 * converted to its parameter's type (the runtime's launch calls take them so). */
template <typename... Params, typename Launch, typename... Args>
static inline hipError_t with_kernel_args(void (*)(Params...), Launch launch, Args... args) {
    std::tuple<std::remove_cv_t<Params>...> values(static_cast<Params>(args)...);
    void *argv[sizeof...(Params) > 0 ? sizeof...(Params) : 1];
    std::apply([&](auto &...v) { int i = 0; ((argv[i++] = (void *)&v), ...); }, values);
    return launch(argv);
}

template <typename... Params, typename... Args>
static inline hipError_t launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, hipStream_t stream,
                                        Args... args) {
#if defined(GETP_EMU)
    return emu_launch(kernel, grid, block, shared, stream, args...);
#elif defined(GETP_AMD)
    return with_kernel_args(
        kernel, [&](void **argv) { return hipLaunchKernel((const void *)kernel, grid, block, argv, shared, stream); }, args...);
#else
    cudaLaunchConfig_t config = {};
    config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared, config.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr, config.numAttrs = 1;
    return cudaLaunchKernelEx(&config, kernel, (Params)args...);
#endif
}

/* A launch whose blocks are all resident at once, so that they may wait on
 * each other (block_counters.h); fails when the grid is larger than fits.
 * chained: also as launch_chained's (NVIDIA: its blocks may start while the
 * kernel before ends; they wait for it with wait_prior_kernel). */
template <typename... Params, typename... Args>
static inline hipError_t launch_cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, hipStream_t stream, bool chained,
                                            Args... args) {
#if defined(GETP_EMU)
    (void)chained;
    return emu_launch_cooperative(kernel, grid, block, shared, stream, args...);
#elif defined(GETP_AMD)
    (void)chained;
    return with_kernel_args(
        kernel, [&](void **argv) { return hipLaunchCooperativeKernel((const void *)kernel, grid, block, argv, (unsigned)shared, stream); },
        args...);
#else /* the launch-attribute form: what graphs capture as a cooperative kernel node */
    cudaLaunchConfig_t config = {};
    config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared, config.stream = stream;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[1].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr, config.numAttrs = chained ? 2 : 1;
    return cudaLaunchKernelEx(&config, kernel, (Params)args...);
#endif
}

/* A launch outside a step's chain (the weights' set-up): a plain one. */
template <typename... Params, typename... Args>
static inline void launch_plain(void (*kernel)(Params...), dim3 grid, dim3 block, hipStream_t stream, Args... args) {
#if defined(GETP_EMU)
    (void)emu_launch(kernel, grid, block, 0, stream, args...);
#else
    kernel<<<grid, block, 0, stream>>>(static_cast<Params>(args)...);
#endif
}

#endif
