/* layers.h - the kernels of one decoder block besides the matrix products,
 * each fused with its neighbours so a decode step stays a few launches a
 * layer. Every reduction runs in a fixed order that depends on the model's
 * shape only, never on the batch. The math mirrors src/cpu_backend.c. */
#ifndef GETP_HIP_LAYERS_H
#define GETP_HIP_LAYERS_H

#include "hip_compat.h"
#include "matmul.h"

#define ROW_THREADS 1024 /* one block per token row: at batch 1 the whole step rests on it */

/* What the host sends for each row of a step. */
struct StepRows {
    const int *slot, *pos, *token;
    const int *out_row; /* row of the logits output, or -1 */
};

/* The KV cache of one layer: [slot][ring][kv_dim] for keys and values.
 * Position p lives at p % ring: full layers have ring = context, sliding
 * layers only the window plus the most positions one call may add. */
struct LayerCache {
    float *k, *v;
    int ring, window; /* window 0: full attention */
};

/* Element i of row r of any weight, widened (embedding, router). */
__device__ inline float weight_elem(const WeightView &w, long r, int i) {
    if (w.dtype == DT_F32) return ((const float *)w.data)[(size_t)r * w.cols + i];
    if (w.dtype == DT_BF16) return __uint_as_float((uint32_t)((const uint16_t *)w.data)[(size_t)r * w.cols + i] << 16);
    uint8_t byte = w.data[(size_t)r * (w.cols / 2) + i / 2];
    return fp4_value(i & 1 ? byte >> 4 : byte & 15) * e8m0_value(w.scales[(size_t)r * (w.cols / 32) + i / 32]);
}

/* out = x / rms(x) * weight, for one row held by the block. */
__device__ inline void rmsnorm_row(float *out, const float *x, const float *weight, int H, float eps, float *shared) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(block_sum(ss, shared) / (float)H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x) out[i] = weight[i] * (x[i] * inv);
}

/* The same, written packed for a matmul (pack_split4; H % 4 == 0). */
__device__ inline void rmsnorm_row_packed(uint4 *out, const float *x, const float *weight, int H, float eps, float *shared) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(block_sum(ss, shared) / (float)H + eps);
    for (int i = threadIdx.x; i < H / 4; i += blockDim.x) {
        const float *xv = x + 4 * i, *wv = weight + 4 * i;
        out[i] = pack_split4(wv[0] * (xv[0] * inv), wv[1] * (xv[1] * inv), wv[2] * (xv[2] * inv), wv[3] * (xv[3] * inv));
    }
}

/* x = embedding[token]; xn = rmsnorm(x) with the first layer's weight. */
__global__ void embed_kernel(float *x, uint4 *xn, StepRows rows, WeightView emb, const float *norm, int H, float eps) {
    __shared__ float shared[32];
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x;
    float *xr = x + (size_t)t * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) xr[i] = weight_elem(emb, rows.token[t], i);
    __syncthreads();
    rmsnorm_row_packed(xn + (size_t)t * H / 4, xr, norm, H, eps, shared);
}

/* Sums the q/k/v split partials and adds the biases, applies RoPE (YaRN
 * tables) to q and k, and stores k and v in the cache. One thread per
 * (head, rotary pair); grid (rows, heads / QKV_HEADS), heads being the nh
 * query heads, then nkv key heads, then nkv value heads. */
#define QKV_HEADS 4
__device__ inline float sum_splits(const float *part, int splits, int T, int t, int n, int o) {
    float sum = 0.0f;
#pragma unroll 8
    for (int s = 0; s < splits; s++) sum += part[((size_t)s * T + t) * n + o];
    return sum;
}

__global__ void qkv_finish_kernel(float *q_out, const float *part_q, const float *part_k, const float *part_v, int splits, int T,
                                  const float *bq, const float *bk, const float *bv, StepRows rows, const float *inv_freq,
                                  float concentration, int nh, int nkv, int hd, LayerCache cache) {
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x, half = hd / 2, QD = nh * hd, KVD = nkv * hd;
    int h = blockIdx.y * QKV_HEADS + threadIdx.x / half, i = threadIdx.x % half;
    if ((int)threadIdx.x >= QKV_HEADS * half || h >= nh + 2 * nkv) return;
    const float *part = h < nh ? part_q : h < nh + nkv ? part_k : part_v, *bias = h < nh ? bq : h < nh + nkv ? bk : bv;
    int n = h < nh ? QD : KVD, o = (h < nh ? h : h < nh + nkv ? h - nh : h - nh - nkv) * hd + i;
    float x1 = sum_splits(part, splits, T, t, n, o) + bias[o], x2 = sum_splits(part, splits, T, t, n, o + half) + bias[o + half];
    int pos = rows.pos[t];
    if (h < nh + nkv) {
        float angle = (float)pos * inv_freq[i];
        float cs = cosf(angle) * concentration, sn = sinf(angle) * concentration;
        float r1 = x1 * cs - x2 * sn, r2 = x2 * cs + x1 * sn;
        x1 = r1, x2 = r2;
    }
    size_t at = ((size_t)rows.slot[t] * cache.ring + pos % cache.ring) * KVD;
    float *dst = h < nh ? q_out + (size_t)t * QD : h < nh + nkv ? cache.k + at : cache.v + at;
    dst[o] = x1;
    dst[o + half] = x2;
}

#define ATTN_WARPS 4

/* One block per (row, query head), ATTN_WARPS warps each taking every
 * ATTN_WARPS-th chunk of 32 visible positions: softmax with a running max,
 * each lane scoring one position and accumulating its value row. Lanes, then
 * warps (in order) are merged at the end, with the head's sink. */
template <int HD>
__global__ void __launch_bounds__(ATTN_WARPS *WARP) attention_kernel(uint4 *out, const float *q, StepRows rows, LayerCache cache, const float *sinks,
                                                                   int nh, int nkv) {
    __shared__ float part_acc[ATTN_WARPS][HD], part_m[ATTN_WARPS], part_l[ATTN_WARPS];
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x, h = blockIdx.y, w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int kvh = h / (nh / nkv), KVD = nkv * HD, pos = rows.pos[t];
    int p0 = cache.window ? max(0, pos - cache.window + 1) : 0;
    const float *qh = q + ((size_t)t * nh + h) * HD;
    float qv[HD], acc[HD];
#pragma unroll
    for (int i = 0; i < HD; i += 4) {
        float4 v = *(const float4 *)(qh + i);
        qv[i] = v.x, qv[i + 1] = v.y, qv[i + 2] = v.z, qv[i + 3] = v.w;
    }
#pragma unroll
    for (int i = 0; i < HD; i++) acc[i] = 0.0f;
    const size_t base = (size_t)rows.slot[t] * cache.ring * KVD + (size_t)kvh * HD;
    const float scale = rsqrtf((float)HD), sink = sinks[h];
    float m = -INFINITY, l = 0.0f;
    for (int p = p0 + w * WARP; p <= pos; p += ATTN_WARPS * WARP) {
        int j = p + lane;
        bool valid = j <= pos;
        size_t at = base + (size_t)(j % cache.ring) * KVD;
        float s = -INFINITY;
        if (valid) {
            float d = 0.0f;
#pragma unroll
            for (int i = 0; i < HD; i += 4) {
                float4 k = *(const float4 *)(cache.k + at + i);
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
                float4 v = *(const float4 *)(cache.v + at + i);
                acc[i] += pr * v.x, acc[i + 1] += pr * v.y, acc[i + 2] += pr * v.z, acc[i + 3] += pr * v.w;
            }
        m = m_new;
    }
#pragma unroll
    for (int i = 0; i < HD; i++) {
        float v = warp_sum(acc[i]);
        if (lane == i % WARP) part_acc[w][i] = v;
    }
    if (lane == 0) part_m[w] = m, part_l[w] = l;
    __syncthreads();
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

/* After attention, for one row: x += o-projection (split partials in order)
 * + bias; xn = rmsnorm(x); router logits; top-k (ties to the lower expert)
 * and the softmax over them. The last block to finish then groups the
 * (row, k) pairs by expert, in pair order, for the expert matmuls, and
 * lists the experts that have pairs (offsets: [E + 1] starts, the number of
 * experts with pairs, their ids). */
__global__ void post_attention_kernel(float *x, uint4 *xn, const float *part_o, int splits, int T, const float *bo, const float *norm,
                                      WeightView router, const float *router_b, int H, int E, int K, float eps, int *topk_idx,
                                      float *topk_w, int *pairs, int *offsets, int *done_counter) {
    extern __shared__ float sh[]; /* H + E floats, then E + T*K ints */
    __shared__ float shared[32];
    __shared__ int ticket;
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x, lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP;
    float *xr = x + (size_t)t * H, *xs = sh, *logit = sh + H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        float sum = 0.0f;
#pragma unroll 8
        for (int s = 0; s < splits; s++) sum += part_o[((size_t)s * T + t) * H + i];
        xr[i] += sum + bo[i];
    }
    __syncthreads();
    rmsnorm_row(xs, xr, norm, H, eps, shared);
    __syncthreads();
    for (int i = threadIdx.x; i < H / 4; i += blockDim.x)
        xn[(size_t)t * H / 4 + i] = pack_split4(xs[4 * i], xs[4 * i + 1], xs[4 * i + 2], xs[4 * i + 3]);
    for (int e = w; e < E; e += nw) {
        float d = 0.0f;
        if (router.dtype == DT_BF16) { /* 8 weights a load, all loads independent */
            const uint4 *row = (const uint4 *)(router.data + (size_t)e * H * 2);
#pragma unroll 4
            for (int i = lane; i < H / 8; i += WARP) {
                uint4 v = row[i];
                const float *xv = xs + 8 * i;
                d += bf16_lo(v.x) * xv[0] + bf16_hi(v.x) * xv[1] + bf16_lo(v.y) * xv[2] + bf16_hi(v.y) * xv[3] +
                     bf16_lo(v.z) * xv[4] + bf16_hi(v.z) * xv[5] + bf16_lo(v.w) * xv[6] + bf16_hi(v.w) * xv[7];
            }
        } else {
#pragma unroll 4
            for (int i = lane; i < H; i += WARP) d += weight_elem(router, e, i) * xs[i];
        }
        d = warp_sum(d);
        if (lane == 0) logit[e] = d + router_b[e];
    }
    __syncthreads();
    if (w == 0) { /* top-k by warp 0: K rounds of a warp-wide arg-max (E <= 4 * WARP) */
        float v[4];
        for (int j = 0; j < 4; j++) v[j] = lane + j * WARP < E ? logit[lane + j * WARP] : -INFINITY;
        bool taken[4] = {false, false, false, false};
        int idx[8];
        for (int k = 0; k < K; k++) {
            float bv = -INFINITY;
            int bi = 0x7fffffff;
            for (int j = 0; j < 4; j++) {
                int e = lane + j * WARP;
                if (e < E && !taken[j] && (v[j] > bv || bi == 0x7fffffff)) bv = v[j], bi = e;
            }
            for (int m = WARP / 2; m > 0; m >>= 1) { /* larger logit, then lower expert */
                float ov = lane_xor(bv, m);
                int oi = lane_xor_i(bi, m);
                if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
            }
            idx[k] = bi;
            if (bi % WARP == lane) taken[bi / WARP] = true;
        }
        if (lane == 0) {
            float mx = logit[idx[0]], wt[8], sum = 0.0f;
            for (int k = 0; k < K; k++) sum += (wt[k] = expf(logit[idx[k]] - mx));
            for (int k = 0; k < K; k++) {
                topk_idx[(size_t)t * K + k] = idx[k];
                topk_w[(size_t)t * K + k] = wt[k] / sum;
            }
            __threadfence();
            ticket = atomicAdd(done_counter, 1);
        }
    }
    __syncthreads();
    if (ticket != (int)gridDim.x - 1) return;
    /* the last block: counting sort of the T*K pairs by expert */
    __threadfence();
    int n = T * K;
    int *count = (int *)(sh + H + E), *all = count + E;
    for (int p = threadIdx.x; p < n; p += blockDim.x) all[p] = ((volatile const int *)topk_idx)[p];
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int c = 0;
        for (int p = 0; p < n; p++) c += all[p] == e;
        count[e] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int e = 0; e < E; e++) {
            offsets[e] = run;
            run += count[e];
        }
        offsets[E] = run;
        /* after the offsets: how many experts have pairs, then which, in
         * order; the expert matmuls' grid covers only these */
        int n_active = 0;
        for (int e = 0; e < E; e++)
            if (count[e]) offsets[E + 2 + n_active++] = e;
        offsets[E + 1] = n_active;
        *done_counter = 0; /* ready for the next layer */
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int at = offsets[e];
        for (int p = 0; p < n; p++)
            if (all[p] == e) pairs[at++] = p;
    }
}

/* x += sum_k weight_k * expert_out[(t, k)], k in order; then xn = rmsnorm(x)
 * with the next norm (the next layer's, or the final one, written to the
 * row's logits row and skipped for rows without one). */
__global__ void combine_kernel(float *x, uint4 *xn, const float *expert_out, const float *topk_w, int K, int H, const float *norm,
                               float eps, const int *out_row) {
    __shared__ float shared[32];
    wait_prior_kernel();
    let_next_kernel_start();
    int t = blockIdx.x;
    float *xr = x + (size_t)t * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        float sum = 0.0f;
        for (int k = 0; k < K; k++) sum += topk_w[t * K + k] * expert_out[((size_t)t * K + k) * H + i];
        xr[i] += sum;
    }
    __syncthreads();
    int dst = out_row ? out_row[t] : t;
    if (dst < 0) return;
    rmsnorm_row_packed(xn + (size_t)dst * H / 4, xr, norm, H, eps, shared);
}

#endif
