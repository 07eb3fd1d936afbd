/* embed.h - the first kernel of a step: each row's token embedding, and its
 * norm with the first layer's weight (the q/k/v matmul's input). */
#ifndef GETP_HIP_EMBED_H
#define GETP_HIP_EMBED_H

#include "early_start.h"
#include "hip_state.h"
#include "rows.h"

/* x = embedding[token]; xn = rmsnorm(x) with the first layer's weight. */
__global__ void __launch_bounds__(ROW_THREADS) embed_kernel(float *x, uint4 *xn, StepRows rows, WeightView emb, const float *norm, int H, float eps) {
    BLOCK_TRACE(TK_EMBED);
    __shared__ float shared[32];
    float4 v[ROW_GROUPS], wn[ROW_GROUPS];
    load_groups(wn, norm, H);
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x, token = rows.token[t], g;
    if (token < 0) token = rows.fed_back[-1 - token];
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++)
        if (row_group(j, H, g)) {
            v[j] = make_float4(weight_elem(emb, token, 4 * g), weight_elem(emb, token, 4 * g + 1), weight_elem(emb, token, 4 * g + 2),
                               weight_elem(emb, token, 4 * g + 3));
            ((float4 *)(x + (size_t)t * H))[g] = v[j];
        }
    rmsnorm_groups(v, H, wn, eps, shared, xn + (size_t)t * H / 4, nullptr);
}

/* Early start: loads the norm weight before its wait; lets the next kernel
 * (the q/k/v matmul, which streams weights) start as soon as it has waited. */
static int launch_embed(const HipState *s, StepRows rows, int T, Error *err) {
    const ModelConfig *c = &s->c;
    int H = c->hidden;
    (void)launch_chained(embed_kernel, dim3(T), dim3(ROW_THREADS), 0, s->stream, s->x, s->xn, rows, s->emb, s->layers[0].attn_norm, H, c->rms_eps);
    CHECK_LAUNCH(err);
    return 0;
}

#endif
