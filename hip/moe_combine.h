/* moe_combine.h - the experts' outputs summed into the residual with their
 * router weights, and the next norm (the next layer's, or the final one for
 * the rows that want logits). */
#ifndef GETP_HIP_MOE_COMBINE_H
#define GETP_HIP_MOE_COMBINE_H

#include "early_start.h"
#include "hip_state.h"
#include "rows.h"

/* x += sum_k weight_k * expert_out[(t, k)], k in order, each expert's output
 * the sum of the down matmul's SPLITS k ranges, in order; then xn = rmsnorm(x)
 * with the next norm (the next layer's, or the final one, written to the
 * row's logits row and skipped for rows without one). Row t of T, by a
 * block of ROW_THREADS; gate: as in matmul_block; decode_sized: a step of
 * at most DECODE_ROWS rows; shared: 32 floats. EA: experts whose outputs
 * are loaded at once (the sums are the same for any EA). */
template <int SPLITS, int EA = (4 / SPLITS > 0 ? 4 / SPLITS : 1), typename Gate>
__device__ inline void combine_row(float *x, uint4 *xn, const float *expert_out, const float *topk_w, int K, int H, const float *norm, float eps,
                                   const int *out_row, int t, int T, bool decode_sized, const Gate gate, float *shared) {
    float4 wn[ROW_GROUPS];
    load_groups(wn, norm, H); /* weights: before the wait */
    /* At decode-sized steps the next q/k/v matmul may launch now: its
     * weights then stream while down still runs, not behind this kernel's
     * own reads (H100, batch 1: combine 11.0 -> 4.4 us, down 30.6 -> 33.9,
     * 293 -> 297 tok/s) */
    if (decode_sized) gate.let_next();
    gate.wait();
    if (!decode_sized) gate.let_next();
    float4 *xr = (float4 *)(x + (size_t)t * H), v[ROW_GROUPS], sum[ROW_GROUPS];
    int g;
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++) {
        sum[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (row_group(j, H, g)) v[j] = xr[g];
    }
    /* the loads of EA experts' splits at once, then their sums */
    const size_t split_stride = (size_t)T * K * H / 4; /* float4s between the splits */
    for (int k0 = 0; k0 < K; k0 += EA) {
        float4 e[ROW_GROUPS][EA][SPLITS];
        float wk[EA];
#pragma unroll
        for (int k = 0; k < EA; k++) wk[k] = k0 + k < K ? topk_w[t * K + k0 + k] : 0.0f;
#pragma unroll
        for (int j = 0; j < ROW_GROUPS; j++)
            if (row_group(j, H, g))
#pragma unroll
                for (int k = 0; k < EA; k++)
                    if (k0 + k < K)
#pragma unroll
                        for (int sp = 0; sp < SPLITS; sp++)
                            e[j][k][sp] = ((const float4 *)(expert_out + ((size_t)t * K + k0 + k) * H))[sp * split_stride + g];
#pragma unroll
        for (int j = 0; j < ROW_GROUPS; j++)
            if (row_group(j, H, g))
#pragma unroll
                for (int k = 0; k < EA; k++)
                    if (k0 + k < K) {
                        float4 ek = e[j][k][0];
#pragma unroll
                        for (int sp = 1; sp < SPLITS; sp++)
                            ek.x += e[j][k][sp].x, ek.y += e[j][k][sp].y, ek.z += e[j][k][sp].z, ek.w += e[j][k][sp].w;
                        sum[j].x += wk[k] * ek.x, sum[j].y += wk[k] * ek.y, sum[j].z += wk[k] * ek.z, sum[j].w += wk[k] * ek.w;
                    }
    }
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++)
        if (row_group(j, H, g)) {
            v[j].x += sum[j].x, v[j].y += sum[j].y, v[j].z += sum[j].z, v[j].w += sum[j].w;
            xr[g] = v[j];
        }
    int dst = out_row ? out_row[t] : t; /* the same for the whole block */
    BLOCK_TRACE_MARK(1);
    rmsnorm_groups(v, H, wn, eps, shared, dst < 0 ? nullptr : xn + (size_t)dst * H / 4, nullptr);
}

template <int SPLITS>
__global__ void __launch_bounds__(ROW_THREADS) combine_kernel(float *x, uint4 *xn, const float *__restrict__ expert_out, const float *__restrict__ topk_w,
                                                              int K, int H, const float *__restrict__ norm, float eps, const int *out_row) {
    BLOCK_TRACE(TK_COMBINE);
    __shared__ float shared[32];
    combine_row<SPLITS>(x, xn, expert_out, topk_w, K, H, norm, eps, out_row, (int)blockIdx.x, (int)gridDim.x, decode_sized_step(), ChainGate(), shared);
}

/* Early start: loads the next norm weight before its wait. At
 * decode-sized steps it lets the next layer's q/k/v matmul launch before
 * its own wait, so those weights stream while down still runs; at large
 * batches only after it. */
static int launch_moe_combine(const HipState *s, int l, StepRows rows, int T, Error *err) {
    const ModelConfig *c = &s->c;
    int K = c->experts_per_token, H = c->hidden, last = l + 1 == (int)c->n_layers;
    (void)launch_chained(combine_kernel<DOWN_SPLITS>, dim3(T), dim3(ROW_THREADS), 0, s->stream, s->x, s->xn, s->expert_out, s->topk_w, K, H,
                         last ? s->final_norm : s->layers[l + 1].attn_norm, c->rms_eps, last ? rows.out_row : nullptr);
    CHECK_LAUNCH(err);
    return 0;
}

#endif
