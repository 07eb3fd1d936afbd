/* sample.h - the sampler of src/sampler.h on the GPU, one block per row, so
 * that only token ids cross to the host. Same definition step by step:
 * argmax (ties to the lowest id) at temperature 0; otherwise softmax, the
 * nucleus threshold found by bisection on the float bit patterns, and the
 * draw walking ids upwards. exp and all sums are double, p is rounded once
 * to float as on the CPU; the two can differ only where a running sum lands
 * within double rounding of top_p or of the coin's target. */
#ifndef GETP_HIP_SAMPLE_H
#define GETP_HIP_SAMPLE_H

#include "early_start.h"
#include "hip_state.h"
#include "reduce.h"

#define SAMPLE_THREADS 1024
#define ARGMAX_SLICES 64 /* the argmax's first pass: blocks per row */
#define ARGMAX_THREADS 256

__device__ inline void better(float &v, int &i, float v2, int i2) {
    if (v2 > v || (v2 == v && i2 < i)) v = v2, i = i2;
}

/* The block's largest (v, i), ties to the lowest i, in every thread. */
__device__ inline void block_argmax(float &v, int &i) {
    __shared__ float best_v[32];
    __shared__ int best_i[32];
    int lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    for (int m = WARP / 2; m > 0; m >>= 1) better(v, i, lane_xor(v, m), lane_xor_i(i, m));
    __syncthreads(); /* best_* free from an earlier call */
    if (lane == 0) best_v[w] = v, best_i[w] = i;
    __syncthreads();
    v = best_v[0], i = best_i[0];
    for (int k = 1; k < nw; k++) better(v, i, best_v[k], best_i[k]);
}

/* First pass of the argmax: block (r, y) finds the largest logit of slice y
 * of row r, so that a 201k-entry row is read by 64 multiprocessors, not one.
 * Slices combined in order with the same tie rule give the row's argmax. */
__global__ void __launch_bounds__(ARGMAX_THREADS) argmax_slices_kernel(int2 *part, const float *logits, int V) {
    BLOCK_TRACE(TK_ARGMAX);
    wait_prior_kernel();
    let_next_kernel_start();
    int r = blockIdx.x, per = (V + ARGMAX_SLICES - 1) / ARGMAX_SLICES, a = blockIdx.y * per, b = min(V, a + per);
    const float *l = logits + (size_t)r * V;
    float bv = -INFINITY;
    int bi = 0x7fffffff;
#pragma unroll 4
    for (int i = a + threadIdx.x; i < b; i += blockDim.x) better(bv, bi, l[i], i);
    block_argmax(bv, bi);
    if (threadIdx.x == 0) part[(size_t)r * ARGMAX_SLICES + blockIdx.y] = make_int2(__float_as_int(bv), bi);
}

/* sum over the block of each thread's share of p_i >= v */
__device__ inline double mass_at_or_above(const float *p, int V, float v, double *shared) {
    double s = 0.0;
#pragma unroll 8
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (p[i] >= v) s += p[i];
    return block_sum(s, shared);
}

/* After argmax_slices_kernel, one block per row. */
__global__ void __launch_bounds__(SAMPLE_THREADS) sample_kernel(int *tokens, const float *logits, const int2 *argmax_part, float *prob, int V,
                                                               const SampleSpec *spec) {
    BLOCK_TRACE(TK_SAMPLE);
    __shared__ double shared[32], seg_sum[SAMPLE_THREADS];
    __shared__ int best_i[32];
    wait_prior_kernel();
    int r = blockIdx.x, lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    const float *l = logits + (size_t)r * V;
    float *p = prob + (size_t)r * V;
    SampleSpec sp = spec[r];

    /* argmax: the slices' winners, in slice order */
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < ARGMAX_SLICES; i += blockDim.x) {
        int2 part = argmax_part[(size_t)r * ARGMAX_SLICES + i];
        better(bv, bi, __int_as_float(part.x), part.y);
    }
    block_argmax(bv, bi);
    if (sp.temperature <= 0.0f) {
        if (threadIdx.x == 0) tokens[r] = bi;
        return;
    }

    /* p = softmax(l / T) */
    double z = 0.0, mx = bv;
    for (int i = threadIdx.x; i < V; i += blockDim.x) z += exp(((double)l[i] - mx) / sp.temperature);
    z = block_sum(z, shared);
    for (int i = threadIdx.x; i < V; i += blockDim.x) p[i] = (float)(exp(((double)l[i] - mx) / sp.temperature) / z);
    __syncthreads();
    float pmax = (float)(1.0 / z), tau = 0.0f;

    if (sp.top_p > 0.0f && sp.top_p < 1.0f) {
        float cutoff = V > 1 ? (1.0f - sp.top_p) / (float)(V - 1) : 0.0f;
        uint32_t lo = __float_as_uint(cutoff), hi = __float_as_uint(pmax) + 1;
        if (mass_at_or_above(p, V, __uint_as_float(lo), shared) < sp.top_p) lo = 0;
        while (hi - lo > 1) { /* every thread holds the same sums: uniform loop */
            uint32_t mid = lo + (hi - lo) / 2;
            if (mass_at_or_above(p, V, __uint_as_float(mid), shared) >= sp.top_p) lo = mid;
            else hi = mid;
        }
        tau = __uint_as_float(lo);
    }
    double target = sp.coin * mass_at_or_above(p, V, tau, shared);

    /* the draw: each thread owns a contiguous run of ids */
    int seg = (V + blockDim.x - 1) / blockDim.x, a = threadIdx.x * seg, b = min(V, a + seg);
    double mine = 0.0;
    int last_member = -1;
    for (int i = a; i < b; i++)
        if (p[i] >= tau) mine += p[i], last_member = i;
    seg_sum[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) { /* exclusive prefix, in id order */
        double run = 0.0;
        for (int i = 0; i < (int)blockDim.x; i++) {
            double m = seg_sum[i];
            seg_sum[i] = run;
            run += m;
        }
    }
    __syncthreads();
    double acc = seg_sum[threadIdx.x];
    int found = 0x7fffffff;
    if (target < acc + mine)
        for (int i = a; i < b; i++)
            if (p[i] >= tau) {
                acc += p[i];
                if (target < acc) {
                    found = i;
                    break;
                }
            }
    /* the lowest id found, else (rounding) the last member */
    for (int m = WARP / 2; m > 0; m >>= 1) found = min(found, lane_xor_i(found, m)), last_member = max(last_member, lane_xor_i(last_member, m));
    __syncthreads();
    __shared__ int last_of[32];
    if (lane == 0) best_i[w] = found, last_of[w] = last_member;
    __syncthreads();
    if (threadIdx.x == 0) {
        int f = 0x7fffffff, lm = -1;
        for (int i = 0; i < nw; i++) f = min(f, best_i[i]), lm = max(lm, last_of[i]);
        tokens[r] = f != 0x7fffffff ? f : lm;
    }
}

/* The unembedding's logits to token ids: the argmax's slices, then the
 * sampler, one block per row. Early start: neither loads anything before
 * its wait; the argmax lets the sampler launch once it has waited. */
static int launch_sample(const HipState *s, int T, int n_out, Error *err) {
    int V = s->c.vocab_size;
    (void)launch_chained(argmax_slices_kernel, dim3(n_out, ARGMAX_SLICES), dim3(ARGMAX_THREADS), 0, s->stream, s->argmax_part,
                         (const float *)s->logits, V);
    CHECK_LAUNCH(err);
    (void)launch_chained(sample_kernel, dim3(n_out), dim3(SAMPLE_THREADS), 0, s->stream, s->d_tokens, (const float *)s->logits,
                         (const int2 *)s->argmax_part, s->prob, V, step_specs(s->d_input, T));
    CHECK_LAUNCH(err);
    return 0;
}

#endif
