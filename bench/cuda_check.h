/* cuda_check.h - how the bench probes that exit on a failed CUDA runtime call
 * check it: the call, the error and where, on stderr, then exit status 1. */
#ifndef GETP_BENCH_CUDA_CHECK_H
#define GETP_BENCH_CUDA_CHECK_H

#include <cstdio>
#include <cstdlib>

#define CUDA_CHECK(call)                                                                                          \
    do {                                                                                                          \
        cudaError_t e_ = (call);                                                                                  \
        if (e_ != cudaSuccess) {                                                                                  \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));         \
            exit(1);                                                                                              \
        }                                                                                                         \
    } while (0)

#endif
