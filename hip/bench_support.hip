// bench_support.hip - device measurements for bench/bench_gpu.c.
#include "hip_compat.h"

#define OK(call) ((call) == hipSuccess)

/* Copy bandwidth of the current device: a 2 GiB device-to-device copy,
 * bytes read plus bytes written, median of 10 timed copies; 0 on any error. */
extern "C" double gpu_copy_bandwidth(void) {
    size_t n = (size_t)1 << 31;
    void *a = nullptr, *b = nullptr;
    hipEvent_t start, stop;
    double rate[10];
    bool ok = OK(hipMalloc(&a, n)) && OK(hipMalloc(&b, n)) && OK(hipMemset(a, 1, n)) && OK(hipEventCreate(&start)) &&
              OK(hipEventCreate(&stop));
    for (int i = -2; i < 10 && ok; i++) { /* two warm-up copies */
        float ms = 0;
        ok = OK(hipEventRecord(start, 0)) && OK(hipMemcpy(b, a, n, hipMemcpyDeviceToDevice)) && OK(hipEventRecord(stop, 0)) &&
             OK(hipEventSynchronize(stop)) && OK(hipEventElapsedTime(&ms, start, stop));
        if (ok && i >= 0) rate[i] = 2.0 * n / (ms / 1e3);
    }
    if (a) (void)hipFree(a);
    if (b) (void)hipFree(b);
    if (!ok) return 0;
    for (int i = 1; i < 10; i++) /* sort for the median */
        for (int j = i; j > 0 && rate[j] < rate[j - 1]; j--) {
            double t = rate[j];
            rate[j] = rate[j - 1], rate[j - 1] = t;
        }
    return (rate[4] + rate[5]) / 2;
}
