/* layers.h - the kernels of one decoder block besides the matrix products,
 * each fused with its neighbours so a decode step stays a few launches a
 * layer. Every reduction runs in a fixed order that depends on the model's
 * shape only, never on the batch. The math mirrors src/cpu_backend.c. */
#ifndef GETP_HIP_LAYERS_H
#define GETP_HIP_LAYERS_H

#include "hip_compat.h"
#include "matmul.h"

/* One block per token row. At batch 1 the whole step waits on these blocks,
 * so each thread issues all its loads at once and keeps its part of the row
 * in registers (ROW_GROUPS float4s: hidden <= ROW_MAX_HIDDEN).
 * 256 or 1024 threads measured the same for embed and combine. */
#define ROW_THREADS 256
#define ROW_GROUPS 4
#define ROW_MAX_HIDDEN (4 * ROW_GROUPS * ROW_THREADS) /* the host refuses larger models */

/* Whether a kernel launched with one block (column) per row runs a
 * decode-sized step (see DECODE_ROWS). */
__device__ inline bool decode_sized_step() { return gridDim.x <= DECODE_ROWS; }

/* What the host sends for each row of a step. */
struct StepRows {
    const int *slot, *pos, *token; /* token TOKEN_OF_PREVIOUS(j) (-1 - j): fed_back[j] */
    const int *out_row;            /* row of the logits output, or -1 */
    const int *fed_back;           /* the tokens the previous call sampled */
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

/* The thread's float4 groups of a row: group j is elements
 * 4 (threadIdx.x + j blockDim.x) .. +3; sum of squares in a fixed order. */
__device__ inline bool row_group(int j, int H, int &g) {
    g = threadIdx.x + j * blockDim.x;
    return 4 * g < H;
}
template <int RG> __device__ inline float sum_squares(const float4 (&v)[RG], int H) {
    float ss = 0.0f;
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++)
        if (row_group(j, H, g)) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    return ss;
}

/* The thread's groups of a vector (norm weights, biases: 16-byte aligned),
 * loaded before the kernel waits for its predecessor. */
template <int RG> __device__ inline void load_groups(float4 (&out)[RG], const float *vec, int H) {
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++) out[j] = row_group(j, H, g) ? ((const float4 *)vec)[g] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

/* xn = rmsnorm(v) * weight for the row the block holds, packed for a
 * matmul (out: the row's H / 4 entries; skipped when null), and as floats
 * in xs when it is not null. Every thread of the block must call it. */
template <int RG>
__device__ inline void rmsnorm_groups(const float4 (&v)[RG], int H, const float4 (&weight)[RG], float eps, float *shared, uint4 *out, float *xs) {
    float inv = 1.0f / sqrtf(block_sum(sum_squares(v, H), shared) / (float)H + eps);
    int g;
#pragma unroll
    for (int j = 0; j < RG; j++)
        if (row_group(j, H, g)) {
            const float4 &wv = weight[j];
            float4 n = make_float4(wv.x * (v[j].x * inv), wv.y * (v[j].y * inv), wv.z * (v[j].z * inv), wv.w * (v[j].w * inv));
            if (xs) ((float4 *)xs)[g] = n;
            if (out) out[g] = pack_split4(n.x, n.y, n.z, n.w);
        }
}

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
    BLOCK_TRACE(TK_QKV_FINISH);
    /* everything but the partials is known before the q/k/v matmul ends */
    int t = blockIdx.x, half = hd / 2, QD = nh * hd, KVD = nkv * hd;
    int h = blockIdx.y * QKV_HEADS + threadIdx.x / half, i = threadIdx.x % half;
    bool active = (int)threadIdx.x < QKV_HEADS * half && h < nh + 2 * nkv;
    const float *part = h < nh ? part_q : h < nh + nkv ? part_k : part_v, *bias = h < nh ? bq : h < nh + nkv ? bk : bv;
    int n = h < nh ? QD : KVD, o = (h < nh ? h : h < nh + nkv ? h - nh : h - nh - nkv) * hd + i;
    float b1 = 0.0f, b2 = 0.0f, cs = 1.0f, sn = 0.0f;
    float *dst = nullptr;
    if (active) {
        b1 = bias[o], b2 = bias[o + half];
        int pos = rows.pos[t];
        if (h < nh + nkv) {
            float angle = (float)pos * inv_freq[i];
            cs = cosf(angle) * concentration, sn = sinf(angle) * concentration;
        }
        size_t at = ((size_t)rows.slot[t] * cache.ring + pos % cache.ring) * KVD;
        dst = h < nh ? q_out + (size_t)t * QD : h < nh + nkv ? cache.k + at : cache.v + at;
    }
    wait_prior_kernel();
    let_next_kernel_start();
    if (!active) return;
    float x1 = sum_splits(part, splits, T, t, n, o) + b1, x2 = sum_splits(part, splits, T, t, n, o + half) + b2;
    if (h < nh + nkv) {
        float r1 = x1 * cs - x2 * sn, r2 = x2 * cs + x1 * sn;
        x1 = r1, x2 = r2;
    }
    dst[o] = x1;
    dst[o + half] = x2;
}

#define ATTN_WARPS 4

/* One block per (row, query head), ATTN_WARPS warps each taking every
 * ATTN_WARPS-th chunk of 32 visible positions: softmax with a running max,
 * each lane scoring one position and accumulating its value row. Lanes, then
 * warps (in order) are merged at the end, with the head's sink.
 * EARLY_V (decode-sized steps, HD <= 64): each value row's loads go out
 * with the scores, before the softmax's shuffles (H100, batch 1: 11.7 ->
 * 9.5 us a layer; at batch 256 its 255 registers cost 1.6%). Both orders
 * compute the same sums. */
template <int HD, bool EARLY_V>
__global__ void __launch_bounds__(ATTN_WARPS *WARP) attention_kernel(uint4 *out, const float *q, StepRows rows, LayerCache cache, const float *sinks,
                                                                   int nh, int nkv) {
    BLOCK_TRACE(TK_ATTENTION);
    __shared__ float part_acc[ATTN_WARPS][HD], part_m[ATTN_WARPS], part_l[ATTN_WARPS];
    int t = blockIdx.x, h = blockIdx.y, w = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    int kvh = h / (nh / nkv), KVD = nkv * HD, pos = rows.pos[t];
    int p0 = cache.window ? max(0, pos - cache.window + 1) : 0;
    /* the kernel before writes only this position's key and value: the
     * earlier positions' can be on their way to L2 while it runs (at
     * decode-sized steps, asked by the first head of each kv group only:
     * the others read the same rows) */
    for (int p = p0 + (int)threadIdx.x; decode_sized_step() && h % (nh / nkv) == 0 && p < pos; p += blockDim.x) {
        size_t at = ((size_t)rows.slot[t] * cache.ring + (size_t)(p % cache.ring)) * KVD + (size_t)kvh * HD;
        for (int b = 0; b < HD * 4; b += 128) prefetch_l2_line((const char *)(cache.k + at) + b), prefetch_l2_line((const char *)(cache.v + at) + b);
    }
    const float scale = rsqrtf((float)HD), sink = sinks[h];
    wait_prior_kernel();
    let_next_kernel_start();
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
        float4 vr[EARLY_V ? HD / 4 : 1];
        if constexpr (EARLY_V)
#pragma unroll
            for (int i = 0; i < HD; i += 4) vr[i / 4] = valid ? *(const float4 *)(cache.v + at + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        float m_new = fmaxf(m, warp_max(s));
        float corr = expf(m - m_new), pr = valid ? expf(s - m_new) : 0.0f;
        l = l * corr + warp_sum(pr);
#pragma unroll
        for (int i = 0; i < HD; i++) acc[i] *= corr;
        if (valid)
#pragma unroll
            for (int i = 0; i < HD; i += 4) {
                float4 v = EARLY_V ? vr[i / 4] : *(const float4 *)(cache.v + at + i);
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

/* After attention, for one row: x += o-projection (split partials in order)
 * + bias; xn = rmsnorm(x); router logits; top-k (ties to the lower expert)
 * and the softmax over them. Then the pairs (row, k) are grouped by expert,
 * in pair order, for the expert matmuls (pairs, and routing: see
 * MatmulJob): by the row's first warp at a single-row step, else by the
 * last row to finish. At batch 1 this kernel is a chain of round trips and
 * barriers with the DRAM idle (its phases: bench/RESULTS.md, sixth
 * session). */
#define POST_THREADS ROW_THREADS
#define ROUTER_EXPERTS 4 /* router rows a warp computes at once, sharing its x in registers */
#define ROUTER_RUNS 6    /* runs of 8 values per lane and row in flight */
/* Its dynamic shared memory: the normed row (H floats), the logits (E),
 * then the per-expert counts (E ints) and the experts of the T*K pairs. */
static inline size_t post_attention_shared(size_t H, size_t E, size_t pairs) { return (H + 2 * E + pairs) * sizeof(float); }

/* One pass of router_logits: words (runs of 8 values) c0 + u WARP of the
 * ROUTER_EXPERTS rows e0 + i warps (zeros past E or the row). */
struct RouterPass {
    uint4 r[ROUTER_EXPERTS][ROUTER_RUNS];
};
__device__ inline void router_load_pass(const WeightView &router, int H, int E, int e0, int c0, RouterPass &p) {
    const int nw = blockDim.x / WARP, runs = H / 8;
#pragma unroll
    for (int i = 0; i < ROUTER_EXPERTS; i++)
#pragma unroll
        for (int u = 0; u < ROUTER_RUNS; u++) {
            int e = e0 + i * nw, c = c0 + u * WARP;
            p.r[i][u] = router.dtype == DT_BF16 && e < E && c < runs ? ((const uint4 *)(router.data + (size_t)e * H * 2))[c] : make_uint4(0, 0, 0, 0);
        }
}

/* logit[e] = router row e . xs (the normed row), for every e < E: warp w
 * takes experts w, w + warps, ... ROUTER_EXPERTS at a time; lane l the runs
 * of 8 values l, l + 32, ...; each pass reads the lane's x once from shared
 * memory for all the warp's rows (one row per warp per pass re-read x for
 * every row: bound by shared-memory reads, 3.3 us for the 20b router). Sums:
 * the lane's runs in order, then a butterfly, so fixed by the shape. first:
 * the warp's first pass, loaded by the caller before its wait. */
__device__ inline void router_logits(const WeightView &router, int H, int E, const float *xs, const float *router_b, float *logit,
                                     const RouterPass &first) {
    const int lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP, runs = H / 8;
    for (int e0 = w; e0 < E; e0 += ROUTER_EXPERTS * nw) {
        float d[ROUTER_EXPERTS] = {};
        if (router.dtype == DT_BF16) {
            for (int c0 = lane; c0 < runs; c0 += ROUTER_RUNS * WARP) {
                RouterPass pass;
                if (e0 == w && c0 == lane) pass = first;
                else router_load_pass(router, H, E, e0, c0, pass);
#pragma unroll
                for (int u = 0; u < ROUTER_RUNS; u++) {
                    int c = c0 + u * WARP;
                    if (c >= runs) break;
                    float4 a = ((const float4 *)xs)[2 * c], b = ((const float4 *)xs)[2 * c + 1];
#pragma unroll
                    for (int i = 0; i < ROUTER_EXPERTS; i++) {
                        const uint4 &r = pass.r[i][u];
                        d[i] += bf16_lo(r.x) * a.x + bf16_hi(r.x) * a.y + bf16_lo(r.y) * a.z + bf16_hi(r.y) * a.w + bf16_lo(r.z) * b.x + bf16_hi(r.z) * b.y +
                                bf16_lo(r.w) * b.z + bf16_hi(r.w) * b.w;
                    }
                }
            }
        } else {
            for (int k = lane; k < H; k += WARP)
#pragma unroll
                for (int i = 0; i < ROUTER_EXPERTS; i++)
                    if (e0 + i * nw < E) d[i] += weight_elem(router, e0 + i * nw, k) * xs[k];
        }
#pragma unroll
        for (int i = 0; i < ROUTER_EXPERTS; i++) {
            float sum = warp_sum(d[i]);
            int e = e0 + i * nw;
            if (lane == 0 && e < E) logit[e] = sum + router_b[e];
        }
    }
}

/* The K largest logits (ties to the lower expert) by rank: expert e is the
 * k-th chosen when k logits come before it; then the softmax over the K,
 * summed in rank order. One warp; E <= 4 * WARP, K <= 8. */
__device__ inline void top_k_by_rank(const float *logit, int E, int K, int *chosen, float *weight) {
    const int lane = threadIdx.x % WARP;
    if (lane < K) chosen[lane] = lane; /* NaN logits rank nowhere: the choice stays a valid expert */
    warp_sync();
    for (int e = lane; e < E; e += WARP) {
        float v = logit[e];
        int rank = 0;
#pragma unroll 8
        for (int i = 0; i < E; i++) {
            float o = logit[i];
            rank += o > v || (o == v && i < e);
        }
        if (rank < K) chosen[rank] = e;
    }
    warp_sync();
    if (lane < K) {
        float mx = logit[chosen[0]], sum = 0.0f;
        for (int k = 0; k < K; k++) sum += expf(logit[chosen[k]] - mx); /* in rank order, the same in every lane */
        weight[lane] = expf(logit[chosen[lane]] - mx) / sum;
    }
    warp_sync();
}

/* Groups the K pairs of a single-row step by expert (see
 * post_attention_kernel): the chosen experts are all different, so the one
 * pair of the z-th of them in expert order is pair z of the grouping. One
 * warp; E <= 4 * WARP. */
__device__ inline void group_one_row(const int *chosen, int K, int E, int *pairs, int *routing) {
    const int lane = threadIdx.x % WARP;
    int below = 0; /* chosen experts under this round's first */
    for (int e0 = 0; e0 < E; e0 += WARP) {
        int e = e0 + lane, k_of_e = -1;
        for (int k = 0; k < K; k++)
            if (chosen[k] == e) k_of_e = k;
        unsigned mask = warp_ballot(k_of_e >= 0);
        int z = below + __popc(mask & ((1u << lane) - 1u));
        if (k_of_e >= 0) {
            set_route(routing, z, e, z, 1);
            pairs[z] = k_of_e;
        }
        below += __popc(mask);
    }
    if (lane == 0) routing[0] = K;
}

__global__ void __launch_bounds__(POST_THREADS) post_attention_kernel(float *x, uint4 *xn, const float *__restrict__ part_o, int splits, int T,
                                                                      const float *__restrict__ bo, const float *__restrict__ norm, WeightView router,
                                                                      const float *__restrict__ router_b, int H, int E, int K, float eps,
                                                                      int *topk_idx, float *topk_w, int *pairs, int *routing, int *done_counter) {
    BLOCK_TRACE(TK_POST_ATTENTION);
    extern __shared__ float sh[]; /* see post_attention_shared */
    __shared__ float shared[32], chosen_w[8];
    __shared__ int chosen[8], ticket;
    float4 v[ROW_GROUPS], sum[ROW_GROUPS], bias[ROW_GROUPS], wn[ROW_GROUPS];
    load_groups(bias, bo, H); /* weights: before the wait */
    load_groups(wn, norm, H);
    RouterPass first_pass; /* the router's weights: its first pass in flight during the sums and the norm */
    router_load_pass(router, H, E, threadIdx.x / WARP, threadIdx.x % WARP, first_pass);
    wait_prior_kernel();
    let_next_kernel_start();
    const int t = blockIdx.x, lane = threadIdx.x % WARP, w = threadIdx.x / WARP;
    float *xs = sh, *logit = sh + H;
    int *count = (int *)(logit + E), *all = count + E, g;
    float4 *xr = (float4 *)(x + (size_t)t * H);
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++) {
        sum[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (row_group(j, H, g)) v[j] = xr[g];
    }
#pragma unroll 8
    for (int s = 0; s < splits; s++) { /* the partials in order */
        const float4 *part = (const float4 *)(part_o + ((size_t)s * T + t) * H);
#pragma unroll
        for (int j = 0; j < ROW_GROUPS; j++)
            if (row_group(j, H, g)) {
                float4 p = part[g];
                sum[j].x += p.x, sum[j].y += p.y, sum[j].z += p.z, sum[j].w += p.w;
            }
    }
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++)
        if (row_group(j, H, g)) {
            v[j].x += sum[j].x + bias[j].x, v[j].y += sum[j].y + bias[j].y, v[j].z += sum[j].z + bias[j].z, v[j].w += sum[j].w + bias[j].w;
            xr[g] = v[j];
        }
    rmsnorm_groups(v, H, wn, eps, shared, xn + (size_t)t * H / 4, xs);
    __syncthreads();
    BLOCK_TRACE_MARK(1);
    router_logits(router, H, E, xs, router_b, logit, first_pass);
    __syncthreads();
    BLOCK_TRACE_MARK(2);
    if (w == 0) {
        top_k_by_rank(logit, E, K, chosen, chosen_w);
        if (lane < K) topk_idx[(size_t)t * K + lane] = chosen[lane], topk_w[(size_t)t * K + lane] = chosen_w[lane];
        if (gridDim.x == 1) {
            group_one_row(chosen, K, E, pairs, routing);
        } else if (lane == 0) {
            __threadfence();
            ticket = atomicAdd(done_counter, 1);
        }
    }
    if (gridDim.x == 1) return;
    __syncthreads();
    if (ticket != (int)gridDim.x - 1) return;
    BLOCK_TRACE_MARK(3);
    /* the last row: counting sort of the T*K pairs by expert */
    const int np = T * K;
    __threadfence();
    for (int p = threadIdx.x; p < np; p += blockDim.x) all[p] = ((volatile const int *)topk_idx)[p];
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int c = 0;
        for (int p = 0; p < np; p++) c += all[p] == e;
        count[e] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        /* the experts with pairs, in order; the expert matmuls' grid covers
         * only these. count[e] becomes expert e's first pair. */
        int run = 0, n_active = 0;
        for (int e = 0; e < E; e++) {
            int c = count[e];
            if (c) set_route(routing, n_active++, e, run, c);
            count[e] = run;
            run += c;
        }
        routing[0] = n_active;
        *done_counter = 0; /* ready for the next layer */
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int at = count[e];
        for (int p = 0; p < np; p++)
            if (all[p] == e) pairs[at++] = p;
    }
}

/* x += sum_k weight_k * expert_out[(t, k)], k in order, each expert's output
 * the sum of the down matmul's SPLITS k ranges, in order; then xn = rmsnorm(x)
 * with the next norm (the next layer's, or the final one, written to the
 * row's logits row and skipped for rows without one). */
template <int SPLITS>
__global__ void __launch_bounds__(ROW_THREADS) combine_kernel(float *x, uint4 *xn, const float *__restrict__ expert_out, const float *__restrict__ topk_w,
                                                              int K, int H, const float *__restrict__ norm, float eps, const int *out_row) {
    BLOCK_TRACE(TK_COMBINE);
    __shared__ float shared[32];
    float4 wn[ROW_GROUPS];
    load_groups(wn, norm, H); /* weights: before the wait */
    /* At decode-sized steps the next q/k/v matmul may launch now: its
     * weights then stream while down still runs, not behind this kernel's
     * own reads (H100, batch 1: combine 11.0 -> 4.4 us, down 30.6 -> 33.9,
     * 293 -> 297 tok/s) */
    if (decode_sized_step()) let_next_kernel_start();
    wait_prior_kernel();
    if (!decode_sized_step()) let_next_kernel_start();
    const int t = blockIdx.x;
    float4 *xr = (float4 *)(x + (size_t)t * H), v[ROW_GROUPS], sum[ROW_GROUPS];
    int g;
#pragma unroll
    for (int j = 0; j < ROW_GROUPS; j++) {
        sum[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (row_group(j, H, g)) v[j] = xr[g];
    }
    /* the loads of 4 / SPLITS experts' splits at once, then their sums */
    constexpr int EA = 4 / SPLITS > 0 ? 4 / SPLITS : 1;
    const size_t split_stride = (size_t)gridDim.x * K * H / 4; /* float4s between the splits */
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

#endif
