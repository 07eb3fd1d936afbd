/* sample.h - the sampler of src/sampler.h on the GPU, one block per row, so
 * that only token ids cross to the host. Same definition step by step:
 * argmax (ties to the lowest id) at temperature 0; otherwise softmax, the
 * top_k and nucleus thresholds found by bisection on the float bit
 * patterns, min_p times the largest p, and the draw walking ids upwards.
 * exp and all sums are double, p is rounded once to float as on the CPU;
 * the two can differ only where a running sum lands within double rounding
 * of top_p's target or of the coin's (counts are exact). Rows that ask for
 * logprobs get them from a kernel after the sampler (sample_logprobs of
 * src/sampler.c), which only calls with such rows launch. */
#ifndef GETP_HIP_SAMPLE_H
#define GETP_HIP_SAMPLE_H

#include "early_start.h"
#include "hip_state.h"
#include "reduce.h"

#define SAMPLE_THREADS 1024
#define ARGMAX_SLICES 64 /* the argmax's first pass: blocks per row */
#define ARGMAX_THREADS 256
#define LOGPROBS_THREADS 1024

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

/* how many p_i >= v, over the block (exact: integers) */
__device__ inline int count_at_or_above(const float *p, int V, float v, int *shared) {
    int c = 0;
#pragma unroll 8
    for (int i = threadIdx.x; i < V; i += blockDim.x) c += p[i] >= v;
    return block_sum(c, shared);
}

/* The threshold tau of src/sampler.c's sample_threshold, step by step over
 * p (pmax its largest value). Every value deciding a branch or a loop is a
 * block sum, the same in every thread, so the block stays together through
 * the reductions' __syncthreads. Bisection on bit patterns: the largest v
 * below hi with the property, which holds at lo; the property is monotone
 * in v (counts and masses of supersets), so the result does not depend on
 * where the search starts. */
__device__ inline float sample_threshold(const float *p, int V, float pmax, const SampleSpec &sp, double *shared, int *count_shared) {
    float tau = 0.0f;
    double mass_k = 1.0; /* top_k off: exactly 1 */
    const uint32_t hi_end = __float_as_uint(pmax) + 1; /* just above pmax: no token holds */
    if (sp.top_k > 0 && sp.top_k < V) {
        uint32_t lo = 0, hi = hi_end;
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (count_at_or_above(p, V, __uint_as_float(mid), count_shared) >= sp.top_k) lo = mid;
            else hi = mid;
        }
        tau = __uint_as_float(lo);
        mass_k = mass_at_or_above(p, V, tau, shared);
    }
    if (sp.top_p > 0.0f && sp.top_p < 1.0f) {
        const double target = sp.top_p * mass_k;
        uint32_t lo = __float_as_uint(tau), hi = hi_end;
        if (tau == 0.0f) {
            /* below (1 - top_p) / (V - 1) the mass always suffices: start
             * there (rounding: else from 0) */
            float cutoff = V > 1 ? (1.0f - sp.top_p) / (float)(V - 1) : 0.0f;
            if (mass_at_or_above(p, V, cutoff, shared) >= target) lo = __float_as_uint(cutoff);
        }
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (mass_at_or_above(p, V, __uint_as_float(mid), shared) >= target) lo = mid;
            else hi = mid;
        }
        tau = __uint_as_float(lo);
    }
    if (sp.min_p > 0.0f) {
        float m = sp.min_p * pmax; /* rounded to float, as on the CPU */
        if (m > tau) tau = m;
    }
    return tau;
}

/* Row r's argmax (value, id) in every thread: argmax_slices_kernel's
 * winners combined in slice order with the same tie rule. */
__device__ inline void row_argmax(const int2 *argmax_part, int r, float &bv, int &bi) {
    bv = -INFINITY, bi = 0x7fffffff;
    for (int i = threadIdx.x; i < ARGMAX_SLICES; i += blockDim.x) {
        int2 part = argmax_part[(size_t)r * ARGMAX_SLICES + i];
        better(bv, bi, __int_as_float(part.x), part.y);
    }
    block_argmax(bv, bi);
}

/* After argmax_slices_kernel, one block per row. */
__global__ void __launch_bounds__(SAMPLE_THREADS) sample_kernel(int *tokens, const float *logits, const int2 *argmax_part, float *prob, int V,
                                                               const SampleSpec *spec) {
    BLOCK_TRACE(TK_SAMPLE);
    __shared__ double shared[32], seg_sum[SAMPLE_THREADS];
    __shared__ int best_i[32], count_shared[32];
    wait_prior_kernel();
    int r = blockIdx.x, lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    const float *l = logits + (size_t)r * V;
    float *p = prob + (size_t)r * V;
    SampleSpec sp = spec[r];

    float bv;
    int bi;
    row_argmax(argmax_part, r, bv, bi);
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
    /* the largest p: its exp is exactly 1 */
    const float pmax = (float)(1.0 / z), tau = sample_threshold(p, V, pmax, sp, shared, count_shared);
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
        tokens[r] = f != 0x7fffffff ? f : max(lm, 0); /* no member at all: 0, as on the CPU */
    }
}

/* sample_logprobs of src/sampler.c after sample_kernel, one block per
 * sampled row; rows whose spec asks for none leave their entry as it was
 * (the host hands out only the rows that asked). log_z from the row's
 * largest logit (the argmax's slices) and a block sum in double; the top
 * n_top as n_top rounds of a block argmax over the tokens ranked after the
 * previous pick (larger logit first, ties to the lower id), as on the CPU:
 * no sort. */
__global__ void __launch_bounds__(LOGPROBS_THREADS) logprobs_kernel(TokenLogprobs *out, const int *tokens, const float *logits,
                                                                   const int2 *argmax_part, int V, const SampleSpec *spec) {
    BLOCK_TRACE(TK_LOGPROBS);
    __shared__ double shared[32];
    wait_prior_kernel();
    const int r = blockIdx.x;
    int n_top = spec[r].logprobs;
    if (n_top < 0) return; /* the whole block: the spec is the row's */
    n_top = min(min(n_top, SAMPLE_MAX_TOP_LOGPROBS), V);
    const float *l = logits + (size_t)r * V;
    TokenLogprobs *o = out + r;

    float bv; /* the first pick: the row's argmax */
    int bi;
    row_argmax(argmax_part, r, bv, bi);
    double z = 0.0, mx = bv;
    for (int i = threadIdx.x; i < V; i += blockDim.x) z += exp((double)l[i] - mx);
    const double log_z = mx + log(block_sum(z, shared));
    if (threadIdx.x == 0) o->logprob = (float)((double)l[tokens[r]] - log_z), o->n_top = n_top;
    /* the entries past n_top zeroed, so that a row's record never depends on an earlier call's */
    const int t = threadIdx.x;
    if (t >= n_top && t < SAMPLE_MAX_TOP_LOGPROBS) o->top_id[t] = 0, o->top_logprob[t] = 0.0f;
    for (int k = 0; k < n_top; k++) { /* n_top is the block's: a uniform loop around block_argmax */
        if (k > 0) {
            const float pv = bv;
            const int pi = bi;
            bv = -INFINITY, bi = 0x7fffffff;
            for (int i = threadIdx.x; i < V; i += blockDim.x) {
                float v = l[i];
                if (v < pv || (v == pv && i > pi)) better(bv, bi, v, i);
            }
            block_argmax(bv, bi);
        }
        if (threadIdx.x == 0) o->top_id[k] = bi, o->top_logprob[k] = (float)((double)bv - log_z);
    }
}

/* The unembedding's logits to token ids: the argmax's slices, then the
 * sampler, one block per row; with logprobs (a call with a row that asks),
 * then logprobs_kernel. Early start: none loads anything before its wait;
 * the argmax lets the sampler launch once it has waited; the sampler lets
 * nothing start early, so logprobs_kernel launches once it has ended. */
static int launch_sample(const HipState *s, int T, int n_out, bool logprobs, Error *err) {
    int V = s->c.vocab_size;
    const SampleSpec *spec = step_specs(s->d_input, T);
    (void)launch_chained(argmax_slices_kernel, dim3(n_out, ARGMAX_SLICES), dim3(ARGMAX_THREADS), 0, s->stream, s->argmax_part,
                         (const float *)s->logits, V);
    CHECK_LAUNCH(err);
    (void)launch_chained(sample_kernel, dim3(n_out), dim3(SAMPLE_THREADS), 0, s->stream, s->d_tokens, (const float *)s->logits,
                         (const int2 *)s->argmax_part, s->prob, V, spec);
    CHECK_LAUNCH(err);
    if (!logprobs) return 0;
    (void)launch_chained(logprobs_kernel, dim3(n_out), dim3(LOGPROBS_THREADS), 0, s->stream, s->d_logprobs, (const int *)s->d_tokens,
                         (const float *)s->logits, (const int2 *)s->argmax_part, V, spec);
    CHECK_LAUNCH(err);
    return 0;
}

#endif
