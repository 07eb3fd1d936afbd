// hip_backend.hip - the gpt-oss forward pass on one GPU, in HIP.
//
// First version: correct and complete, one kernel per step of the math in
// src/cpu_backend.c, F32 accumulation, weights dequantized inside the
// kernels (F32, BF16, MXFP4). Every reduction has a fixed order that does not
// depend on the batch, so a request's logits are the same in any batch and
// slot. Not yet done (issue 4): continuous-batching KV sized from free memory
// with sliding-window trimming, tokens grouped by expert, GPU sampling,
// graph replay, and the bandwidth work.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip_compat.h"

extern "C" {
#include "../src/backend.h"
}

#define CHECK(call, err)                                                                                          \
    do {                                                                                                          \
        hipError_t e_ = (call);                                                                                   \
        if (e_ != hipSuccess) return error_set(err, "hip: %s failed: %s (%s:%d)", #call, hipGetErrorString(e_), \
                                               __FILE__, __LINE__);                                               \
    } while (0)
#define CHECK_LAUNCH(err) CHECK(hipGetLastError(), err)

#define SWIGLU_ALPHA 1.702f
#define MAX_ROWS 256

struct DTensor {
    const uint8_t *data;
    int dtype;
    uint64_t rows, cols; // as a 2-D view: the last dimension is the row
};

__device__ __forceinline__ float bf16f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

__device__ __forceinline__ float e8m0f(uint8_t e) {
    return e == 0 ? __uint_as_float(0x00400000u) : __uint_as_float((uint32_t)e << 23);
}

__constant__ float FP4[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// Element i of row r, widened to f32.
__device__ __forceinline__ float weight_at(const DTensor &w, uint64_t r, uint64_t i) {
    if (w.dtype == DTYPE_F32) return ((const float *)w.data)[r * w.cols + i];
    if (w.dtype == DTYPE_BF16) return bf16f(((const uint16_t *)w.data)[r * w.cols + i]);
    uint64_t nblk = w.cols / 32;
    uint8_t byte = w.data[r * nblk * 16 + i / 2];
    uint8_t scale = w.data[w.rows * nblk * 16 + r * nblk + i / 32];
    return FP4[(i & 1) ? byte >> 4 : byte & 15] * e8m0f(scale);
}

// One warp per output row o: out[t, o] = W[row0 + o] . x[t] + bias, for all T rows.
__global__ void matmul_kernel(float *out, const float *x, int T, DTensor w, uint64_t row0, int O, int n_in, DTensor bias,
                              uint64_t bias_row, int has_bias) {
    int o = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (o >= O) return;
    float b = has_bias ? weight_at(bias, bias_row, o) : 0.0f;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n_in;
        float acc = 0.0f;
        for (int i = lane; i < n_in; i += WARP_SIZE) acc += weight_at(w, row0 + o, i) * xr[i];
        acc = warp_sum(acc);
        if (lane == 0) out[(size_t)t * O + o] = acc + b;
    }
}

// Expert matmul: pair p = (t, k) uses expert idx[p]; one warp per (p, o).
__global__ void expert_matmul_kernel(float *out, const float *x, int x_per_pair, const int *idx, int K, DTensor w, int O, int n_in,
                                     DTensor bias) {
    int o = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    int p = blockIdx.y;
    if (o >= O) return;
    int e = idx[p];
    const float *xr = x + (size_t)(x_per_pair ? p : p / K) * n_in;
    float acc = 0.0f;
    for (int i = lane; i < n_in; i += WARP_SIZE) acc += weight_at(w, (uint64_t)e * O + o, i) * xr[i];
    acc = warp_sum(acc);
    if (lane == 0) out[(size_t)p * O + o] = acc + weight_at(bias, e, o);
}

__global__ void embed_kernel(float *x, const int *tokens, DTensor emb, int H) {
    int t = blockIdx.x;
    for (int i = threadIdx.x; i < H; i += blockDim.x) x[(size_t)t * H + i] = weight_at(emb, tokens[t], i);
}

// One block per row; the sum of squares in a fixed tree order.
__global__ void rmsnorm_kernel(float *out, const float *x, DTensor w, int H, float eps) {
    __shared__ float partial[256];
    int t = blockIdx.x;
    const float *xr = x + (size_t)t * H;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) ss += xr[i] * xr[i];
    partial[threadIdx.x] = ss;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    float inv = 1.0f / sqrtf(partial[0] / (float)H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x) out[(size_t)t * H + i] = weight_at(w, 0, i) * (xr[i] * inv);
}

// RoPE on q and k of row t, then k and v into the slot's cache.
__global__ void rope_store_kernel(float *q, float *k, const float *v, const int *slot, const int *pos, const float *inv_freq,
                                  float concentration, int nh, int nkv, int hd, float *kc, float *vc, size_t slot_stride,
                                  size_t layer_off) {
    int t = blockIdx.x, half = hd / 2;
    float *qt = q + (size_t)t * nh * hd, *kt = k + (size_t)t * nkv * hd;
    for (int j = threadIdx.x; j < (nh + nkv) * half; j += blockDim.x) {
        int h = j / half, i = j % half;
        float *vec = h < nh ? qt + (size_t)h * hd : kt + (size_t)(h - nh) * hd;
        float angle = (float)pos[t] * inv_freq[i];
        float cs = cosf(angle) * concentration, sn = sinf(angle) * concentration;
        float x1 = vec[i], x2 = vec[i + half];
        vec[i] = x1 * cs - x2 * sn;
        vec[i + half] = x2 * cs + x1 * sn;
    }
    __syncthreads();
    size_t kvd = (size_t)nkv * hd, at = (size_t)slot[t] * slot_stride + layer_off + (size_t)pos[t] * kvd;
    for (size_t i = threadIdx.x; i < kvd; i += blockDim.x) {
        kc[at + i] = kt[i];
        vc[at + i] = v[(size_t)t * kvd + i];
    }
}

// One block per (row, head): softmax over the visible keys plus the sink.
__global__ void attention_kernel(float *out, const float *q, const float *kc, const float *vc, const int *slot, const int *pos,
                                 DTensor sinks, int nh, int nkv, int hd, int window, size_t slot_stride, size_t layer_off,
                                 float *scratch, int max_context) {
    __shared__ float red[256];
    int t = blockIdx.x, h = blockIdx.y, kvh = h / (nh / nkv);
    int p_end = pos[t], p0 = window ? max(0, p_end - window + 1) : 0, n = p_end - p0 + 1;
    const float *qh = q + ((size_t)t * nh + h) * hd;
    float *sc = scratch + ((size_t)t * nh + h) * max_context;
    size_t kvd = (size_t)nkv * hd, base = (size_t)slot[t] * slot_stride + layer_off;
    float scale = rsqrtf((float)hd), sink = weight_at(sinks, 0, h);
    float m = sink;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float *kk = kc + base + (size_t)(p0 + j) * kvd + (size_t)kvh * hd;
        float d = 0.0f;
        for (int i = 0; i < hd; i++) d += qh[i] * kk[i];
        sc[j] = d * scale;
        m = fmaxf(m, sc[j]);
    }
    red[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
        __syncthreads();
    }
    m = red[0];
    __syncthreads();
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) sum += (sc[j] = expf(sc[j] - m));
    red[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    float denom = red[0] + expf(sink - m);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < n; j++) acc += sc[j] * vc[base + (size_t)(p0 + j) * kvd + (size_t)kvh * hd + i];
        out[((size_t)t * nh + h) * hd + i] = acc / denom;
    }
}

__global__ void add_kernel(float *x, const float *y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

// One thread per row: top-k (ties to the lower expert), softmax over them.
__global__ void route_kernel(const float *logits, int T, int E, int K, int *idx, float *w) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T) return;
    const float *l = logits + (size_t)t * E;
    int *it = idx + (size_t)t * K;
    float *wt = w + (size_t)t * K;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            bool taken = false;
            for (int j = 0; j < k; j++) taken |= it[j] == e;
            if (!taken && (best < 0 || l[e] > l[best])) best = e;
        }
        it[k] = best;
    }
    float m = l[it[0]], s = 0.0f;
    for (int k = 0; k < K; k++) s += (wt[k] = expf(l[it[k]] - m));
    for (int k = 0; k < K; k++) wt[k] /= s;
}

__global__ void swiglu_kernel(float *act, const float *h, int pairs, int I, float limit) {
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= (size_t)pairs * I) return;
    size_t p = j / I, c = j % I;
    float gate = fminf(h[p * 2 * I + 2 * c], limit);
    float up = fmaxf(fminf(h[p * 2 * I + 2 * c + 1], limit), -limit);
    act[j] = (up + 1.0f) * (gate / (1.0f + expf(-SWIGLU_ALPHA * gate)));
}

// x[t] += sum_k w[t,k] * out[(t,k)], k in order.
__global__ void combine_kernel(float *x, const float *out, const float *w, int T, int K, int H) {
    size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= (size_t)T * H) return;
    size_t t = j / H, i = j % H;
    float acc = 0.0f;
    for (int k = 0; k < K; k++) acc += w[t * K + k] * out[(t * K + k) * H + i];
    x[j] += acc;
}

__global__ void gather_rows_kernel(float *dst, const float *src, const int *rows, int H) {
    int r = blockIdx.x;
    for (int i = threadIdx.x; i < H; i += blockDim.x) dst[(size_t)r * H + i] = src[(size_t)rows[r] * H + i];
}

struct HipState {
    const Model *model;
    ModelConfig c;
    int device;
    uint8_t *weights; // the whole model file
    DTensor emb, final_norm, unemb;
    float *key_cache, *value_cache;
    size_t slot_stride, layer_stride;
    float *inv_freq;
    float concentration;
    int *d_slot, *d_pos, *d_tok, *d_sel, *d_idx;
    float *x, *xn, *q, *k, *v, *attn, *proj, *router, *topk_w, *moe_h, *moe_a, *moe_o, *logits, *scratch;
};

static DTensor dt(const HipState *s, const Tensor *t) {
    DTensor d;
    d.data = s->weights + (t->data - s->model->map);
    d.dtype = (int)t->dtype;
    d.cols = tensor_row_len(t);
    d.rows = tensor_n_elems(t) / d.cols;
    return d;
}

static unsigned blocks_for(size_t n, unsigned per) { return (unsigned)((n + per - 1) / per); }

static int launch_matmul(float *out, const float *x, int T, DTensor w, uint64_t row0, int O, DTensor bias, int has_bias, Error *err) {
    matmul_kernel<<<blocks_for((size_t)O, 8), 8 * WARP_SIZE>>>(out, x, T, w, row0, O, (int)w.cols, bias, 0, has_bias);
    CHECK_LAUNCH(err);
    return 0;
}

static int hip_forward(Backend *b, const BatchRow *rows, int T, float *logits_out, Error *err) {
    HipState *s = (HipState *)b->impl;
    const ModelConfig *c = &s->c;
    int H = c->hidden, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads, E = c->n_experts, K = c->experts_per_token;
    int I = c->intermediate, QD = nh * hd, KVD = nkv * hd, V = c->vocab_size;
    if (T <= 0) return 0;
    if (T > b->max_rows) return error_set(err, "hip backend: %d rows exceed the batch limit %d", T, b->max_rows);
    int slot[MAX_ROWS], pos[MAX_ROWS], tok[MAX_ROWS], sel[MAX_ROWS], n_sel = 0;
    for (int t = 0; t < T; t++) {
        if (rows[t].slot < 0 || rows[t].slot >= b->max_slots || rows[t].pos < 0 || rows[t].pos >= b->max_context ||
            rows[t].token < 0 || rows[t].token >= V)
            return error_set(err, "hip backend: row %d (slot %d, position %d, token %d) out of range", t, rows[t].slot, rows[t].pos,
                             rows[t].token);
        slot[t] = rows[t].slot, pos[t] = rows[t].pos, tok[t] = rows[t].token;
        if (rows[t].want_logits) sel[n_sel++] = t;
    }
    CHECK(hipMemcpy(s->d_slot, slot, T * sizeof(int), hipMemcpyHostToDevice), err);
    CHECK(hipMemcpy(s->d_pos, pos, T * sizeof(int), hipMemcpyHostToDevice), err);
    CHECK(hipMemcpy(s->d_tok, tok, T * sizeof(int), hipMemcpyHostToDevice), err);
    if (n_sel) CHECK(hipMemcpy(s->d_sel, sel, n_sel * sizeof(int), hipMemcpyHostToDevice), err);

    embed_kernel<<<T, 256>>>(s->x, s->d_tok, s->emb, H);
    CHECK_LAUNCH(err);
    DTensor none = {};
    for (int l = 0; l < (int)c->n_layers; l++) {
        const LayerWeights *L = &s->model->weights.layers[l];
        size_t layer_off = (size_t)l * s->layer_stride;
        rmsnorm_kernel<<<T, 256>>>(s->xn, s->x, dt(s, L->attn_norm), H, c->rms_eps);
        CHECK_LAUNCH(err);
        if (launch_matmul(s->q, s->xn, T, dt(s, L->wq), 0, QD, dt(s, L->bq), 1, err) || launch_matmul(s->k, s->xn, T, dt(s, L->wk), 0, KVD, dt(s, L->bk), 1, err) ||
            launch_matmul(s->v, s->xn, T, dt(s, L->wv), 0, KVD, dt(s, L->bv), 1, err))
            return -1;
        rope_store_kernel<<<T, 128>>>(s->q, s->k, s->v, s->d_slot, s->d_pos, s->inv_freq, s->concentration, nh, nkv, hd, s->key_cache,
                                      s->value_cache, s->slot_stride, layer_off);
        CHECK_LAUNCH(err);
        attention_kernel<<<dim3(T, nh), 256>>>(s->attn, s->q, s->key_cache, s->value_cache, s->d_slot, s->d_pos, dt(s, L->sinks), nh, nkv,
                                               hd, c->layer_sliding[l] ? (int)c->sliding_window : 0, s->slot_stride, layer_off, s->scratch,
                                               b->max_context);
        CHECK_LAUNCH(err);
        if (launch_matmul(s->proj, s->attn, T, dt(s, L->wo), 0, H, dt(s, L->bo), 1, err)) return -1;
        add_kernel<<<blocks_for((size_t)T * H, 256), 256>>>(s->x, s->proj, (size_t)T * H);
        CHECK_LAUNCH(err);
        rmsnorm_kernel<<<T, 256>>>(s->xn, s->x, dt(s, L->mlp_norm), H, c->rms_eps);
        CHECK_LAUNCH(err);
        if (launch_matmul(s->router, s->xn, T, dt(s, L->router_w), 0, E, dt(s, L->router_b), 1, err)) return -1;
        route_kernel<<<blocks_for(T, 64), 64>>>(s->router, T, E, K, s->d_idx, s->topk_w);
        CHECK_LAUNCH(err);
        expert_matmul_kernel<<<dim3(blocks_for(2 * I, 8), T * K), 8 * WARP_SIZE>>>(s->moe_h, s->xn, 0, s->d_idx, K, dt(s, L->gate_up_w),
                                                                                   2 * I, H, dt(s, L->gate_up_b));
        CHECK_LAUNCH(err);
        swiglu_kernel<<<blocks_for((size_t)T * K * I, 256), 256>>>(s->moe_a, s->moe_h, T * K, I, c->swiglu_limit);
        CHECK_LAUNCH(err);
        expert_matmul_kernel<<<dim3(blocks_for(H, 8), T * K), 8 * WARP_SIZE>>>(s->moe_o, s->moe_a, 1, s->d_idx, K, dt(s, L->down_w), H, I,
                                                                               dt(s, L->down_b));
        CHECK_LAUNCH(err);
        combine_kernel<<<blocks_for((size_t)T * H, 256), 256>>>(s->x, s->moe_o, s->topk_w, T, K, H);
        CHECK_LAUNCH(err);
    }
    if (n_sel == 0) {
        CHECK(hipDeviceSynchronize(), err);
        return 0;
    }
    gather_rows_kernel<<<n_sel, 256>>>(s->proj, s->x, s->d_sel, H);
    CHECK_LAUNCH(err);
    rmsnorm_kernel<<<n_sel, 256>>>(s->xn, s->proj, s->final_norm, H, c->rms_eps);
    CHECK_LAUNCH(err);
    if (launch_matmul(s->logits, s->xn, n_sel, s->unemb, 0, V, none, 0, err)) return -1;
    CHECK(hipMemcpy(logits_out, s->logits, (size_t)n_sel * V * sizeof(float), hipMemcpyDeviceToHost), err);
    return 0;
}

static void hip_destroy(Backend *b) {
    HipState *s = (HipState *)b->impl;
    void *bufs[] = {s->weights, s->key_cache, s->value_cache, s->inv_freq, s->d_slot, s->d_pos, s->d_tok, s->d_sel, s->d_idx,
                    s->x, s->xn, s->q, s->k, s->v, s->attn, s->proj, s->router, s->topk_w, s->moe_h, s->moe_a, s->moe_o,
                    s->logits, s->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) hipFree(bufs[i]);
    free(s);
    free(b);
}

static const BackendOps HIP_OPS = {"hip", hip_forward, hip_destroy};

static int alloc(void *p, size_t bytes, Error *err) {
    CHECK(hipMalloc((void **)p, bytes ? bytes : 1), err);
    return 0;
}

static int hip_init(HipState *s, const Model *m, int slots, int ctx, Error *err) {
    const ModelConfig *c = &m->config;
    size_t R = MAX_ROWS, H = c->hidden, QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim;
    size_t I = c->intermediate, K = c->experts_per_token, V = c->vocab_size;
    if (alloc(&s->weights, m->map_len, err)) return -1;
    CHECK(hipMemcpy(s->weights, m->map, m->map_len, hipMemcpyHostToDevice), err);
    s->emb = dt(s, m->weights.embedding);
    s->final_norm = dt(s, m->weights.final_norm);
    s->unemb = dt(s, m->weights.unembedding);
    s->layer_stride = (size_t)ctx * KVD;
    s->slot_stride = s->layer_stride * c->n_layers;
    if (alloc(&s->key_cache, (size_t)slots * s->slot_stride * 4, err) || alloc(&s->value_cache, (size_t)slots * s->slot_stride * 4, err))
        return -1;
    float *inv = (float *)xmalloc(c->head_dim / 2 * sizeof(float));
    rope_yarn_tables(c, inv, &s->concentration);
    int rc = alloc(&s->inv_freq, c->head_dim / 2 * 4, err);
    if (rc == 0) {
        hipError_t e = hipMemcpy(s->inv_freq, inv, c->head_dim / 2 * 4, hipMemcpyHostToDevice);
        if (e != hipSuccess) rc = error_set(err, "hip: copying RoPE tables failed: %s", hipGetErrorString(e));
    }
    free(inv);
    if (rc) return -1;
    struct {
        void *p;
        size_t bytes;
    } bufs[] = {{&s->d_slot, R * 4}, {&s->d_pos, R * 4}, {&s->d_tok, R * 4}, {&s->d_sel, R * 4}, {&s->d_idx, R * K * 4},
                {&s->x, R * H * 4}, {&s->xn, R * H * 4}, {&s->q, R * QD * 4}, {&s->k, R * KVD * 4}, {&s->v, R * KVD * 4},
                {&s->attn, R * QD * 4}, {&s->proj, R * H * 4}, {&s->router, R * c->n_experts * 4}, {&s->topk_w, R * K * 4},
                {&s->moe_h, R * K * 2 * I * 4}, {&s->moe_a, R * K * I * 4}, {&s->moe_o, R * K * H * 4}, {&s->logits, R * V * 4},
                {&s->scratch, R * c->n_heads * (size_t)ctx * 4}};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (alloc(bufs[i].p, bufs[i].bytes, err)) return -1;
    return 0;
}

extern "C" int hip_device_count(void) {
    int n = 0;
    return hipGetDeviceCount(&n) == hipSuccess ? n : 0;
}

extern "C" int hip_device_pci_bus_id(int device, char *buf, int len) {
    return hipDeviceGetPCIBusId(buf, len, device) == hipSuccess ? 0 : -1;
}

extern "C" Backend *hip_backend_create_if_available(const Model *m, int max_slots, int max_context, int device, Error *err) {
    int n = 0;
    hipError_t e = hipGetDeviceCount(&n);
    if (e != hipSuccess || n == 0) {
        error_set(err, "hip backend: no GPU found (%s)", e != hipSuccess ? hipGetErrorString(e) : "0 devices");
        return NULL;
    }
    if (device < 0 || device >= n || hipSetDevice(device) != hipSuccess) {
        error_set(err, "hip backend: cannot use GPU %d of %d", device, n);
        return NULL;
    }
    if ((uint32_t)max_context > m->config.max_context) max_context = (int)m->config.max_context;
    HipState *s = (HipState *)xcalloc(1, sizeof *s);
    s->model = m;
    s->c = m->config;
    s->device = device;
    Backend *b = (Backend *)xcalloc(1, sizeof *b);
    b->ops = &HIP_OPS;
    b->model = m;
    b->max_slots = max_slots;
    b->max_context = max_context;
    b->max_rows = MAX_ROWS;
    b->impl = s;
    if (hip_init(s, m, max_slots, max_context, err) != 0) {
        hip_destroy(b);
        return NULL;
    }
    return b;
}
