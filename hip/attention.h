/* attention.h - causal attention with sinks over the KV cache, full or
 * sliding window: one block per (row, query head), or at larger steps per
 * (row, KV head) for all its query heads. */
#ifndef GETP_HIP_ATTENTION_H
#define GETP_HIP_ATTENTION_H

#include "bf16_math.h"
#include "early_start.h"
#include "hip_state.h"
#include "qkv_rope.h"
#include "reduce.h"

#define ATTN_WARPS 4

/* One block per (row, query head), ATTN_WARPS warps each taking every
 * ATTN_WARPS-th chunk of 32 visible positions: softmax with a running max,
 * each lane scoring one position and accumulating its value row. Lanes, then
 * warps (in order) are merged at the end, with the head's sink.
 * EARLY_V (decode-sized steps, HD <= 64): each value row's loads go out
 * with the scores, before the softmax's shuffles (H100, batch 1: 11.7 ->
 * 9.5 us a layer; at batch 256 its 255 registers cost 1.6%). Both orders
 * compute the same sums.
 * FUSED (GETP_FUSED_ROPE=1, decode-sized steps whose rows are all of
 * different slots, HD <= 64; an experiment, off until measured): no
 * qkv_finish kernel before it; the block finishes its own query head and
 * its KV head's key and value of this position from the q/k/v partials
 * (qkv_rope.h's functions, so the same values), the KV group's first head
 * writes them to the cache, and every head reads this position's from
 * shared memory (the others' cache writes may not have landed). */
template <int HD, bool EARLY_V, bool FUSED = false>
__global__ void __launch_bounds__(ATTN_WARPS *WARP) attention_kernel(uint4 *out, const float *q, StepRows rows, LayerCache cache, const float *sinks,
                                                                   int nh, int nkv, QkvParts parts) {
    BLOCK_TRACE(TK_ATTENTION);
    static_assert(!FUSED || 3 * HD / 2 <= ATTN_WARPS * WARP, "a thread per rotary pair of q, k and v");
    __shared__ float part_acc[ATTN_WARPS][HD], part_m[ATTN_WARPS], part_l[ATTN_WARPS];
    __shared__ float4 fused_qkv[3][FUSED ? HD / 4 : 1]; /* FUSED: this position's q, k and v (float4: aligned for its reads) */
    float *fused_q = (float *)fused_qkv[0], *fused_k = (float *)fused_qkv[1], *fused_v = (float *)fused_qkv[2];
    int t = blockIdx.x, h = blockIdx.y, w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int kvh = h / (nh / nkv), KVD = nkv * HD, pos = rows.pos[t];
    /* FUSED: thread role 0 / 1 / 2 finishes pair i of q / k / v (3: idle) */
    const int half = HD / 2, role = (int)threadIdx.x / half, pair = (int)threadIdx.x % half, fo = (role == 0 ? h : kvh) * HD + pair;
    float fb1 = 0.0f, fb2 = 0.0f, fcs = 1.0f, fsn = 0.0f;
    if (FUSED && role < 3) {
        const float *bias = role == 0 ? parts.bq : role == 1 ? parts.bk : parts.bv;
        fb1 = bias[fo], fb2 = bias[fo + half];
        if (role < 2) rope_rotation(parts, pos, pair, fcs, fsn);
    }
    int p0 = cache.window ? max(0, pos - cache.window + 1) : 0;
    /* the kernels before write only this position's key and value: the
     * earlier positions' can be on their way to L2 while they run (at
     * decode-sized steps, asked by the first head of each kv group only:
     * the others read the same rows) */
    for (int p = p0 + (int)threadIdx.x; decode_sized_step() && h % (nh / nkv) == 0 && p < pos; p += blockDim.x) {
        size_t at = kv_entry(cache, rows.slot[t], p) * KVD + (size_t)kvh * HD;
        for (int b = 0; b < HD * 4; b += 128) prefetch_l2_line((const char *)(cache.k + at) + b), prefetch_l2_line((const char *)(cache.v + at) + b);
    }
    const float scale = rsqrtf((float)HD), sink = sinks[h];
    wait_prior_kernel();
    let_next_kernel_start();
    if constexpr (FUSED) {
        if (role < 3) {
            const float *part = role == 0 ? parts.part_q : role == 1 ? parts.part_k : parts.part_v;
            float x1, x2;
            finish_pair(part, parts, t, role == 0 ? nh * HD : KVD, fo, half, fb1, fb2, role < 2, fcs, fsn, x1, x2);
            float *dst = role == 0 ? fused_q : role == 1 ? fused_k : fused_v;
            dst[pair] = x1, dst[pair + half] = x2;
            if (role > 0 && h % (nh / nkv) == 0) { /* the KV group's first head stores this position's */
                float *row = (role == 1 ? cache.k : cache.v) + kv_entry(cache, rows.slot[t], pos) * KVD + (size_t)kvh * HD;
                row[pair] = x1, row[pair + half] = x2;
            }
        }
        __syncthreads();
    }
    const float *qh = FUSED ? fused_q : q + ((size_t)t * nh + h) * HD;
    float qv[HD], acc[HD];
#pragma unroll
    for (int i = 0; i < HD; i += 4) {
        float4 v = *(const float4 *)(qh + i);
        qv[i] = v.x, qv[i + 1] = v.y, qv[i + 2] = v.z, qv[i + 3] = v.w;
    }
#pragma unroll
    for (int i = 0; i < HD; i++) acc[i] = 0.0f;
    const int slot = rows.slot[t];
    float m = -INFINITY, l = 0.0f;
    for (int p = p0 + w * WARP; p <= pos; p += ATTN_WARPS * WARP) {
        int j = p + lane;
        bool valid = j <= pos;
        size_t at = valid ? kv_entry(cache, slot, j) * KVD + (size_t)kvh * HD : 0;
        const bool here = FUSED && j == pos; /* FUSED: this position's key and value from shared memory, in place of the cache's */
        float s = -INFINITY;
        if (valid) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < HD; i += 4) {
                float4 k = *(const float4 *)(cache.k + at + i);
                if (here) k = fused_qkv[1][i / 4];
                d += qv[i] * k.x + qv[i + 1] * k.y + qv[i + 2] * k.z + qv[i + 3] * k.w;
            }
            s = d * scale;
        }
        float4 vr[EARLY_V ? HD / 4 : 1];
        if constexpr (EARLY_V)
#pragma unroll
            for (int i = 0; i < HD; i += 4) vr[i / 4] = !valid ? make_float4(0.0f, 0.0f, 0.0f, 0.0f) : here ? fused_qkv[2][i / 4] : *(const float4 *)(cache.v + at + i);
        float m_new = fmaxf(m, warp_max(s));
        float corr = expf(m - m_new), pr = valid ? expf(s - m_new) : 0.0f;
        l = l * corr + warp_sum(pr);
#pragma unroll
        for (int i = 0; i < HD; i++) acc[i] *= corr;
        if (valid)
#pragma unroll
            for (int i = 0; i < HD; i += 4) {
                float4 v = EARLY_V ? vr[i / 4] : here ? fused_qkv[2][i / 4] : *(const float4 *)(cache.v + at + i);
                acc[i] += pr * v.x, acc[i + 1] += pr * v.y, acc[i + 2] += pr * v.z, acc[i + 3] += pr * v.w;
            }
        m = m_new;
    }
    BLOCK_TRACE_MARK(1);
#pragma unroll
    for (int i = 0; i < HD; i++) {
        float v = warp_sum(acc[i]);
        if (lane == i % WARP) part_acc[w][i] = v;
    }
    if (lane == 0) part_m[w] = m, part_l[w] = l;
    __syncthreads();
    BLOCK_TRACE_MARK(2);
    if (w != 0) return;
    float mt = sink;
    for (int i = 0; i < ATTN_WARPS; i++) mt = fmaxf(mt, part_m[i]);
    float denom = expf(sink - mt);
    for (int i = 0; i < ATTN_WARPS; i++) denom += part_m[i] == -INFINITY ? 0.0f : part_l[i] * expf(part_m[i] - mt);
    uint4 *o = out + ((size_t)t * nh + h) * HD / 4; /* packed for the o matmul */
    for (int d4 = lane; d4 < HD / 4; d4 += WARP) {
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int i = 0; i < ATTN_WARPS; i++)
            if (part_m[i] != -INFINITY) {
                float scale_i = expf(part_m[i] - mt);
                for (int j = 0; j < 4; j++) v[j] += part_acc[i][4 * d4 + j] * scale_i;
            }
        o[d4] = pack_split4(v[0] / denom, v[1] / denom, v[2] / denom, v[3] / denom);
    }
}

/* The same attention for steps of more rows than DECODE_ROWS, one block per
 * (row, KV head) serving its G query heads, so that each key and value row
 * comes from memory once per row rather than once per query head (G times).
 * The block stages each chunk of 32 positions in shared memory; warp w is
 * query head kvh * G + w and runs attention_kernel's ATTN_WARPS warps of
 * that head one after the other (virtual warp vw takes chunks vw, vw +
 * ATTN_WARPS, ...), with attention_kernel's arithmetic, term for term, and
 * merges them in the same order: a row's output is bit-identical to the one
 * attention_kernel gives it at a decode-sized step (batch invariance). */
#define ATTN_GROUP_PAD 4 /* floats after each staged row: lanes' float4 reads of 32 rows hit distinct banks */
template <int HD, int G>
__global__ void __launch_bounds__(G *WARP) attention_group_kernel(uint4 *out, const float *q, StepRows rows, LayerCache cache,
                                                                 const float *sinks, int nh, int nkv) {
    BLOCK_TRACE(TK_ATTENTION);
    constexpr int RS = HD + ATTN_GROUP_PAD;
    __shared__ float4 k_tile[WARP * RS / 4], v_tile[WARP * RS / 4];
    __shared__ float q_sh[G][HD], part_acc[G][ATTN_WARPS][HD], part_m[G][ATTN_WARPS], part_l[G][ATTN_WARPS];
    const int t = blockIdx.x, kvh = blockIdx.y, w = threadIdx.x / WARP, lane = threadIdx.x % WARP, h = kvh * G + w;
    const int KVD = nkv * HD, pos = rows.pos[t];
    const int p0 = cache.window ? max(0, pos - cache.window + 1) : 0;
    const float scale = rsqrtf((float)HD), sink = sinks[h];
    wait_prior_kernel();
    let_next_kernel_start();
    for (int i = lane; i < HD; i += WARP) q_sh[w][i] = q[((size_t)t * nh + h) * HD + i];
    const int slot = rows.slot[t];
    for (int vw = 0; vw < ATTN_WARPS; vw++) {
        float acc[HD], m = -INFINITY, l = 0.0f;
#pragma unroll
        for (int i = 0; i < HD; i++) acc[i] = 0.0f;
        for (int p = p0 + vw * WARP; p <= pos; p += ATTN_WARPS * WARP) {
            __syncthreads(); /* the previous chunk is no longer read */
            for (int e = threadIdx.x; e < WARP * HD / 4; e += blockDim.x) {
                int r = e / (HD / 4), c = e % (HD / 4), j = p + r;
                if (j > pos) continue;
                size_t at = kv_entry(cache, slot, j) * KVD + (size_t)kvh * HD;
                k_tile[r * RS / 4 + c] = ((const float4 *)(cache.k + at))[c];
                v_tile[r * RS / 4 + c] = ((const float4 *)(cache.v + at))[c];
            }
            __syncthreads();
            const float *qv = q_sh[w];
            const float4 *kr = k_tile + lane * RS / 4, *vr = v_tile + lane * RS / 4;
            bool valid = p + lane <= pos;
            float s = -INFINITY;
            if (valid) {
                float d = 0.0f;
#pragma unroll
                for (int i = 0; i < HD; i += 4) {
                    float4 k = kr[i / 4];
                    d += qv[i] * k.x + qv[i + 1] * k.y + qv[i + 2] * k.z + qv[i + 3] * k.w;
                }
                s = d * scale;
            }
            float m_new = fmaxf(m, warp_max(s));
            float corr = expf(m - m_new), pr = valid ? expf(s - m_new) : 0.0f;
            l = l * corr + warp_sum(pr);
#pragma unroll
            for (int i = 0; i < HD; i++) acc[i] *= corr;
            if (valid)
#pragma unroll
                for (int i = 0; i < HD; i += 4) {
                    float4 v = vr[i / 4];
                    acc[i] += pr * v.x, acc[i + 1] += pr * v.y, acc[i + 2] += pr * v.z, acc[i + 3] += pr * v.w;
                }
            m = m_new;
        }
#pragma unroll
        for (int i = 0; i < HD; i++) {
            float v = warp_sum(acc[i]);
            if (lane == i % WARP) part_acc[w][vw][i] = v;
        }
        if (lane == 0) part_m[w][vw] = m, part_l[w][vw] = l;
    }
    warp_sync(); /* the merge reads only this warp's own partials */
    float mt = sink;
    for (int i = 0; i < ATTN_WARPS; i++) mt = fmaxf(mt, part_m[w][i]);
    float denom = expf(sink - mt);
    for (int i = 0; i < ATTN_WARPS; i++) denom += part_m[w][i] == -INFINITY ? 0.0f : part_l[w][i] * expf(part_m[w][i] - mt);
    uint4 *o = out + ((size_t)t * nh + h) * HD / 4;
    for (int d4 = lane; d4 < HD / 4; d4 += WARP) {
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int i = 0; i < ATTN_WARPS; i++)
            if (part_m[w][i] != -INFINITY) {
                float scale_i = expf(part_m[w][i] - mt);
                for (int j = 0; j < 4; j++) v[j] += part_acc[w][i][4 * d4 + j] * scale_i;
            }
        o[d4] = pack_split4(v[0] / denom, v[1] / denom, v[2] / denom, v[3] / denom);
    }
}

/* Which kernel: at decode-sized steps attention_kernel (EARLY_V where
 * HD <= 64); above, the gpt-oss shape (8 query heads a KV head, HD <= 64)
 * takes attention_group_kernel, the rest attention_kernel. All compute the
 * same sums for a row. Early start: at decode-sized steps attention_kernel
 * asks L2 for the earlier positions' keys and values (the kernels before
 * write only this position's); every variant loads the sink before its
 * wait and lets the o matmul start once it has waited. fused: the step's
 * q/k/v are finished here (attention_kernel's FUSED, which also loads the
 * biases and works out the rotation before its wait; calls.hip's
 * fused_rope_step decides). */
#define ATTN_GROUP 8
template <int HD> static void launch_attention_hd(const HipState *s, const LayerDev *L, StepRows rows, int T, bool fused) {
    const ModelConfig *c = &s->c;
    dim3 grid(T, c->n_heads), block(ATTN_WARPS * WARP);
    int nh = c->n_heads, nkv = c->n_kv_heads;
    if constexpr (HD <= 64)
        if (T > DECODE_ROWS && nh == ATTN_GROUP * nkv && !s->attention_per_head) {
            (void)launch_chained(attention_group_kernel<HD, ATTN_GROUP>, dim3(T, nkv), dim3(ATTN_GROUP * WARP), 0, s->stream, s->attn, s->q, rows,
                                 L->cache, L->sinks, nh, nkv);
            return;
        }
    const QkvParts parts = qkv_parts(s, L, T);
    if constexpr (HD <= 64)
        if (T <= DECODE_ROWS) {
            (void)launch_chained(fused ? attention_kernel<HD, true, true> : attention_kernel<HD, true>, grid, block, 0, s->stream, s->attn, s->q, rows,
                                 L->cache, L->sinks, nh, nkv, parts);
            return;
        }
    (void)launch_chained(attention_kernel<HD, false>, grid, block, 0, s->stream, s->attn, s->q, rows, L->cache, L->sinks, nh, nkv, parts);
}

static int launch_attention(const HipState *s, const LayerDev *L, StepRows rows, int T, bool fused, Error *err) {
    switch (s->c.head_dim) {
    case 16: launch_attention_hd<16>(s, L, rows, T, fused); break;
    case 32: launch_attention_hd<32>(s, L, rows, T, fused); break;
    case 64: launch_attention_hd<64>(s, L, rows, T, fused); break;
    case 128: launch_attention_hd<128>(s, L, rows, T, false); break;
    default: return error_set(err, "hip backend: head_dim %u is not supported (16, 32, 64 or 128)", s->c.head_dim);
    }
    CHECK_LAUNCH(err);
    return 0;
}

#endif
