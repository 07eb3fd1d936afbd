/* moe_route.h - the step between attention and the experts, fused into one
 * kernel a row: the residual with the o projection, the MLP norm, the
 * router, top-k with its softmax, and the grouping of (row, expert) pairs by
 * expert that the expert matmuls read. At batch 1 these phases are a chain
 * of short dependent steps; one kernel keeps them out of launch gaps. */
#ifndef GETP_HIP_MOE_ROUTE_H
#define GETP_HIP_MOE_ROUTE_H

#include "early_start.h"
#include "hip_state.h"
#include "matmul.h"
#include "rows.h"

/* After attention, for one row: x += o-projection (split partials in order)
 * + bias; xn = rmsnorm(x); router logits; top-k (logit_order_key)
 * and the softmax over them. Then the pairs (row, k) are grouped by expert,
 * in pair order, for the expert matmuls (pairs, and routing: see
 * MatmulJob): by the row's first warp at a single-row step, else by the
 * last row to finish, which also lists the (expert, token group) tiles of
 * the expert matmuls when tile_tokens is not 0 (MatmulJob::tile_list).
 * A row is one block, or at decode-sized steps of many experts several
 * (router_blocks: the grid's y), of which the last to finish its
 * logits writes x and xn and goes on. At batch 1 this kernel is a chain of
 * round trips and barriers with the DRAM idle (its phases: ledger L122,
 * L193). */
#define POST_THREADS ROW_THREADS
#define ROUTER_EXPERTS 4 /* router rows a warp computes at once, sharing its x in registers */
#define ROUTER_RUNS 6    /* runs of 8 values per lane and row in flight */
/* Its dynamic shared memory: the normed row (H floats), when the row's
 * router is spread over blocks the new x (H floats), the logits (E), then
 * the per-expert counts (E ints) and the experts of the T*K pairs. */
static inline size_t post_attention_shared(size_t H, size_t E, size_t pairs, bool spread) {
    return ((spread ? 2 : 1) * H + 2 * E + pairs) * sizeof(float);
}

/* One pass of router_logits: words (runs of 8 values) c0 + u WARP of the
 * ROUTER_EXPERTS rows e0 + i warps (zeros from row `end` on, or past the row). */
struct RouterPass {
    uint4 r[ROUTER_EXPERTS][ROUTER_RUNS];
};
__device__ inline void router_load_pass(const WeightView &router, int H, int end, int e0, int c0, RouterPass &p) {
    const int nw = blockDim.x / WARP, runs = H / 8;
#pragma unroll
    for (int i = 0; i < ROUTER_EXPERTS; i++)
#pragma unroll
        for (int u = 0; u < ROUTER_RUNS; u++) {
            int e = e0 + i * nw, c = c0 + u * WARP;
            p.r[i][u] = router.dtype == DT_BF16 && e < end && c < runs ? ((const uint4 *)(router.data + (size_t)e * H * 2))[c] : make_uint4(0, 0, 0, 0);
        }
}

/* logit[e] = router row e . xs (the normed row), for e in [begin, end): warp
 * w takes experts begin + w, + warps, ... ROUTER_EXPERTS at a time; lane l the runs
 * of 8 values l, l + 32, ...; each pass reads the lane's x once from shared
 * memory for all the warp's rows (one row per warp per pass re-read x for
 * every row: bound by shared-memory reads, 3.3 us for the 20b router). Sums:
 * the lane's runs in order, then a butterfly, so fixed by the shape (and
 * the same whichever block, warp or slot i takes the expert). first: the
 * warp's first pass, loaded by the caller before its wait. */
__device__ inline void router_logits(const WeightView &router, int H, int begin, int end, const float *xs, const float *router_b, float *logit,
                                     const RouterPass &first) {
    const int lane = threadIdx.x % WARP, w = threadIdx.x / WARP, nw = blockDim.x / WARP, runs = H / 8;
    for (int e0 = begin + w; e0 < end; e0 += ROUTER_EXPERTS * nw) {
        float d[ROUTER_EXPERTS] = {};
        if (router.dtype == DT_BF16) {
            for (int c0 = lane; c0 < runs; c0 += ROUTER_RUNS * WARP) {
                RouterPass pass;
                if (e0 == begin + w && c0 == lane) pass = first;
                else router_load_pass(router, H, end, e0, c0, pass);
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
                    if (e0 + i * nw < end) d[i] += weight_elem(router, e0 + i * nw, k) * xs[k];
        }
#pragma unroll
        for (int i = 0; i < ROUTER_EXPERTS; i++) {
            float sum = warp_sum(d[i]);
            int e = e0 + i * nw;
            if (lane == 0 && e < end) logit[e] = sum + router_b[e];
        }
    }
}

/* A logit as an integer in the order the top-k picks: the larger first, a
 * NaN after every number (1), -0 as +0 (ties then go to the lower expert,
 * as in the CPU's route); 0 is below every logit. */
__device__ inline unsigned logit_order_key(float v) {
    if (v != v) return 1u;
    const unsigned u = v == 0.0f ? 0u : __float_as_uint(v);
    return u & 0x80000000u ? ~u : u | 0x80000000u; /* a number's key is at least ~bits(-inf) = 0x007fffff */
}

/* The K largest logits in order (logit_order_key, ties to the lower
 * expert), then the softmax over them, summed in that order. One warp, K
 * rounds: each lane's best of its experts lane, lane + 32, ...; then the
 * warp's largest key and the lowest expert holding it. (Counting each
 * expert's rank against all E took 14 us at E = 128: ledger L193.)
 * E <= 4 * WARP, K <= 8. */
__device__ inline void top_k_in_warp(const float *logit, int E, int K, int *chosen, float *weight) {
    const int lane = threadIdx.x % WARP;
    unsigned key[4];
#pragma unroll
    for (int j = 0; j < 4; j++) key[j] = lane + j * WARP < E ? logit_order_key(logit[lane + j * WARP]) : 0u; /* 0: none, or taken */
    for (int k = 0; k < K; k++) {
        unsigned best = 0u;
        int at = E; /* none */
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (key[j] > best) best = key[j], at = lane + j * WARP; /* strictly: a tie keeps the lower expert */
        const unsigned top = warp_max_u32(best);
        at = warp_min_i32(best == top ? at : E);
        if (lane == 0) chosen[k] = at;
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (at == lane + j * WARP) key[j] = 0u;
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
                                                                      int *topk_idx, float *topk_w, int *pairs, int *routing, int *done_counter,
                                                                      int tile_tokens, int compact, float *row_logits, int *row_counters) {
    BLOCK_TRACE(TK_POST_ATTENTION);
    DYNAMIC_SHARED(float, sh); /* see post_attention_shared */
    __shared__ float shared[32], chosen_w[8];
    __shared__ int chosen[8], ticket;
    /* gridDim.y blocks a row (router_blocks): this one's experts */
    const int per_block = (E + gridDim.y - 1) / gridDim.y, e_begin = blockIdx.y * per_block, e_end = min(E, e_begin + per_block);
    const bool spread = gridDim.y > 1;
    float4 v[ROW_GROUPS], sum[ROW_GROUPS], bias[ROW_GROUPS], wn[ROW_GROUPS];
    load_groups(bias, bo, H); /* weights: before the wait */
    load_groups(wn, norm, H);
    RouterPass first_pass; /* the router's weights: its first pass in flight during the sums and the norm */
    router_load_pass(router, H, e_end, e_begin + threadIdx.x / WARP, threadIdx.x % WARP, first_pass);
    wait_prior_kernel();
    let_next_kernel_start();
    const int t = blockIdx.x, lane = threadIdx.x % WARP, w = threadIdx.x / WARP;
    float *xs = sh, *xv = sh + H, *logit = sh + (spread ? 2 : 1) * H; /* xv: spread only */
    int *count = (int *)(logit + E), *all = count + E, g;
    float4 *xr = (float4 *)(x + (size_t)t * H);
    uint4 *xn_row = compact ? xn + (size_t)t * H / 8 : xn + (size_t)t * H / 4;
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
            if (spread) ((float4 *)xv)[g] = v[j]; /* the row's last block writes it, when every block has read x */
            else xr[g] = v[j];
        }
    rmsnorm_groups(v, H, wn, eps, shared, spread ? nullptr : xn_row, xs, compact);
    __syncthreads();
    BLOCK_TRACE_MARK(1);
    router_logits(router, H, e_begin, e_end, xs, router_b, spread ? row_logits + (size_t)t * E : logit, first_pass);
    if (spread) __threadfence(); /* by every writer of row_logits (on AMD a barrier and one thread's fence may not order other waves' stores) */
    __syncthreads();
    if (spread) { /* the row's last block to finish its experts goes on, with all E logits */
        if (threadIdx.x == 0) ticket = atomicAdd(&row_counters[t], 1);
        __syncthreads();
        if (ticket != (int)gridDim.y - 1) return;
        __threadfence();
        for (int e = threadIdx.x; e < E; e += blockDim.x) logit[e] = ((volatile const float *)row_logits)[(size_t)t * E + e];
#pragma unroll
        for (int j = 0; j < ROW_GROUPS; j++)
            if (row_group(j, H, g)) xr[g] = ((const float4 *)xv)[g]; /* this thread's own groups: no barrier needed */
        store_normed_row(xs, H, xn_row, compact);
        if (threadIdx.x == 0) row_counters[t] = 0; /* ready for the next layer */
        __syncthreads();
    }
    BLOCK_TRACE_MARK(2);
    if (w == 0) {
        top_k_in_warp(logit, E, K, chosen, chosen_w);
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
        int run = 0, n_active = 0, n_listed = 0, *list = routing + 1 + 3 * E; /* list[0]: its length */
        for (int e = 0; e < E; e++) {
            int c = count[e];
            for (int g = 0; tile_tokens && g * tile_tokens < c; g++) list[1 + n_listed++] = n_active << 16 | g;
            if (c) set_route(routing, n_active++, e, run, c);
            count[e] = run;
            run += c;
        }
        routing[0] = n_active;
        if (tile_tokens) list[0] = n_listed;
        *done_counter = 0; /* ready for the next layer */
    }
    __syncthreads();
    for (int e = threadIdx.x; e < E; e += blockDim.x) {
        int at = count[e];
        for (int p = 0; p < np; p++)
            if (all[p] == e) pairs[at++] = p;
    }
}

/* Blocks a row: at decode-sized steps enough for router_block_experts
 * experts each (ROUTER_BLOCK_EXPERTS). */
static int router_blocks(const HipState *s, int T, int E) {
    const int per = s->router_block_experts;
    return per > 0 && T <= DECODE_ROWS ? (E + per - 1) / per : 1;
}

/* Early start: loads the o bias, the norm weight and its first pass of the
 * router's weights before its wait; lets gate_up start once it has waited
 * (gate_up waits in turn before it reads the routing). */
static int launch_moe_route(const HipState *s, const LayerDev *L, int T, Error *err) {
    const ModelConfig *c = &s->c;
    int H = c->hidden, E = c->n_experts, K = c->experts_per_token;
    const int blocks = router_blocks(s, T, E);
    size_t shared = post_attention_shared(H, E, (size_t)T * K, blocks > 1);
    const int tile_tokens = expert_group_tokens(s, T, L); /* the expert matmuls' token groups */
    (void)launch_chained(post_attention_kernel, dim3(T, blocks), dim3(POST_THREADS), shared, s->stream, s->x, s->xn, s->part_o, dense_parts(s, T, s->splits_o, L->wo.dtype), T,
                         L->bo, L->mlp_norm, L->router, L->router_b, H, E, K, c->rms_eps, s->topk_idx, s->topk_w, s->pairs, s->routing,
                         s->counter, tile_tokens, (int)x_compact(s, T, L), s->row_logits, s->row_counters);
    CHECK_LAUNCH(err);
    return 0;
}

#endif
