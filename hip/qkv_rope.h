/* qkv_rope.h - after the q/k/v matmul: the split partials summed with the
 * biases, RoPE with the YaRN tables on q and k, k and v into the KV cache. */
#ifndef GETP_HIP_QKV_ROPE_H
#define GETP_HIP_QKV_ROPE_H

#include "early_start.h"
#include "hip_state.h"
#include "matmul.h"

/* Sums the q/k/v split partials and adds the biases, applies RoPE (YaRN
 * tables) to q and k, and stores k and v in the cache. One thread per
 * (head, rotary pair); grid (rows, heads / QKV_HEADS), heads being the nh
 * query heads, then nkv key heads, then nkv value heads. At decode-sized
 * steps with GETP_FUSED_ROPE=1 the attention kernel does the same for its
 * heads (attention.h), through the same functions below. */
#define QKV_HEADS 4
__device__ inline float sum_splits(const float *part, int splits, int T, int t, int n, int o) {
    float sum = 0.0f;
#pragma unroll 8
    for (int s = 0; s < splits; s++) sum += part[((size_t)s * T + t) * n + o];
    return sum;
}

/* What finishes the q/k/v matmul's output: its split partials ([split][row][n]),
 * the biases, the RoPE tables. */
struct QkvParts {
    const float *part_q, *part_k, *part_v, *bq, *bk, *bv, *inv_freq;
    float concentration;
    int splits, T;
};

/* The rotation of pair i at position pos. */
__device__ inline void rope_rotation(const QkvParts &p, int pos, int i, float &cs, float &sn) {
    float angle = (float)pos * p.inv_freq[i];
    cs = cosf(angle) * p.concentration, sn = sinf(angle) * p.concentration;
}

/* Pair (o, o + half) of row t's output of n values, into x1, x2: the
 * partials summed in order with the biases b1, b2, then rotated (cs, sn; q
 * and k) or not (v). */
__device__ inline void finish_pair(const float *part, const QkvParts &p, int t, int n, int o, int half, float b1, float b2, bool rotate, float cs,
                                   float sn, float &x1, float &x2) {
    x1 = sum_splits(part, p.splits, p.T, t, n, o) + b1, x2 = sum_splits(part, p.splits, p.T, t, n, o + half) + b2;
    if (rotate) {
        float r1 = x1 * cs - x2 * sn, r2 = x2 * cs + x1 * sn;
        x1 = r1, x2 = r2;
    }
}

__global__ void qkv_finish_kernel(float *q_out, QkvParts p, StepRows rows, int nh, int nkv, int hd, LayerCache cache) {
    BLOCK_TRACE(TK_QKV_FINISH);
    /* everything but the partials is known before the q/k/v matmul ends */
    int t = blockIdx.x, half = hd / 2, QD = nh * hd, KVD = nkv * hd;
    int h = blockIdx.y * QKV_HEADS + threadIdx.x / half, i = threadIdx.x % half;
    bool active = (int)threadIdx.x < QKV_HEADS * half && h < nh + 2 * nkv;
    const float *part = h < nh ? p.part_q : h < nh + nkv ? p.part_k : p.part_v, *bias = h < nh ? p.bq : h < nh + nkv ? p.bk : p.bv;
    int n = h < nh ? QD : KVD, o = (h < nh ? h : h < nh + nkv ? h - nh : h - nh - nkv) * hd + i;
    float b1 = 0.0f, b2 = 0.0f, cs = 1.0f, sn = 0.0f;
    float *dst = nullptr;
    if (active) {
        b1 = bias[o], b2 = bias[o + half];
        int pos = rows.pos[t];
        if (h < nh + nkv) rope_rotation(p, pos, i, cs, sn);
        size_t at = kv_entry(cache, rows.slot[t], pos) * KVD;
        dst = h < nh ? q_out + (size_t)t * QD : h < nh + nkv ? cache.k + at : cache.v + at;
    }
    wait_prior_kernel();
    let_next_kernel_start();
    if (!active) return;
    float x1, x2;
    finish_pair(part, p, t, n, o, half, b1, b2, h < nh + nkv, cs, sn, x1, x2);
    dst[o] = x1;
    dst[o + half] = x2;
}

/* The kernel's inputs for layer L at a step of T rows. */
static QkvParts qkv_parts(const HipState *s, const LayerDev *L, int T) {
    QkvParts p;
    p.part_q = s->part_q, p.part_k = s->part_k, p.part_v = s->part_v, p.bq = L->bq, p.bk = L->bk, p.bv = L->bv, p.inv_freq = s->inv_freq;
    p.concentration = s->concentration, p.splits = dense_parts(s, T, s->splits_q, L->wq.dtype), p.T = T;
    return p;
}

/* Early start: computes its rotation and cache addresses (positions, the
 * RoPE tables, the biases) before its wait; lets the attention start once
 * it has waited. */
static int launch_qkv_rope(const HipState *s, const LayerDev *L, StepRows rows, int T, Error *err) {
    const ModelConfig *c = &s->c;
    int nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
    (void)launch_chained(qkv_finish_kernel, dim3(T, cdiv(nh + 2 * nkv, QKV_HEADS)), dim3(QKV_HEADS * hd / 2), 0, s->stream, s->q, qkv_parts(s, L, T), rows, nh,
                         nkv, hd, L->cache);
    CHECK_LAUNCH(err);
    return 0;
}

#endif
