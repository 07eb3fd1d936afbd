// bench_support.hip - device measurements for bench/bench_gpu.c.
#include "hip_compat.h"

/* Copy bandwidth of the current device: a 2 GiB device-to-device copy,
 * bytes read plus bytes written over the median of 10 timed copies. */
extern "C" double gpu_copy_bandwidth(void) {
    size_t n = (size_t)1 << 31;
    void *a = nullptr, *b = nullptr;
    if (hipMalloc(&a, n) != hipSuccess || hipMalloc(&b, n) != hipSuccess) return 0;
    hipMemset(a, 1, n);
    double best[10];
    for (int i = -2; i < 10; i++) {
        hipEvent_t s, e;
        hipEventCreate(&s), hipEventCreate(&e);
        hipEventRecord(s, 0);
        hipMemcpy(b, a, n, hipMemcpyDeviceToDevice);
        hipEventRecord(e, 0);
        hipEventSynchronize(e);
        float ms = 0;
        hipEventElapsedTime(&ms, s, e);
        if (i >= 0) best[i] = 2.0 * n / (ms / 1e3);
        hipEventDestroy(s), hipEventDestroy(e);
    }
    for (int i = 1; i < 10; i++) /* sort for the median */
        for (int j = i; j > 0 && best[j] < best[j - 1]; j--) {
            double t = best[j];
            best[j] = best[j - 1], best[j - 1] = t;
        }
    hipFree(a), hipFree(b);
    return (best[4] + best[5]) / 2;
}
