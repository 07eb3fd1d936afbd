/* cpu_backend.c - the gpt-oss forward pass on the CPU, in F32.
 *
 * This is the reference every other backend is checked against, so it is
 * written to be read top to bottom (forward_layer below is the whole decoder
 * block) rather than to be fast. Weights stay in the mmapped file in their
 * stored dtype and are widened a row at a time; OpenMP splits matrix rows
 * and attention heads across threads. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "gptoss_math.h"
#include "kv_pages.h"
#include "sync_calls.h"

#define CPU_KV_PAGE 32 /* positions per KV page */

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    const Model *model;
    ModelConfig c;
    int n_threads;
    /* KV cache: pages of CPU_KV_PAGE positions, [page][layer][position in
     * page][n_kv_heads * head_dim]; pages says which a slot holds */
    float *key_cache, *value_cache;
    KvPages pages;
    /* RoPE tables */
    float *inv_freq;
    float concentration;
    /* scratch, sized for max_rows rows */
    float *x, *xn, *q, *k, *v, *attn, *proj, *router, *moe_in, *moe_hidden, *moe_act, *moe_out;
    int *expert_rows;
    float *expert_row_weight;
    int *topk_idx;
    float *topk_w;
    float *row_buf; /* per-thread dequantization buffer */
    /* small vectors widened once per use, kept here so the step allocates nothing */
    float *layer_bias, *expert_bias, *norm_weight, *sinks;
    size_t row_buf_len;
    SyncCalls calls; /* submit/collect: computed at submit, in this thread */
    Precision precision;
} CpuState;

static float *thread_row_buf(CpuState *s) {
#ifdef _OPENMP
    return s->row_buf + (size_t)omp_get_thread_num() * s->row_buf_len;
#else
    return s->row_buf;
#endif
}

/* Eight running sums: a fixed summation order the compiler can vectorize
 * without -ffast-math, and the same order whatever the batch size. */
static float dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/* out[t, o] = sum_i x[t, i] * W[row0 + o, i] (+ bias[o]) for t < T, o < O.
 * W is read one row at a time, so each weight is widened once per call however
 * many rows the batch has. */
static void matmul(CpuState *s, float *out, const float *x, int T, const Tensor *w, uint64_t row0, int O, const float *bias,
                   const Tensor *bias_t, uint64_t bias_row) {
    int n_in = (int)tensor_row_len(w);
    if (bias_t) { /* a bias row of an expert-stacked tensor */
        tensor_read_row(bias_t, bias_row, s->expert_bias);
        bias = s->expert_bias;
    }
#pragma omp parallel for schedule(static) num_threads(s->n_threads)
    for (int o = 0; o < O; o++) {
        const float *wr;
        if (w->dtype == DTYPE_F32) {
            wr = (const float *)w->data + (row0 + (uint64_t)o) * (uint64_t)n_in;
        } else {
            float *buf = thread_row_buf(s);
            tensor_read_row(w, row0 + (uint64_t)o, buf);
            wr = buf;
        }
        for (int t = 0; t < T; t++) out[(size_t)t * O + o] = dot(wr, x + (size_t)t * n_in, n_in) + (bias ? bias[o] : 0.0f);
    }
}

static void read_vector(const Tensor *t, float *out) { tensor_read_row(t, 0, out); }

static void rmsnorm(CpuState *s, float *out, const float *x, int T, int H, const Tensor *weight, float eps) {
    float *w = s->norm_weight;
    read_vector(weight, w);
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * H;
        float ss = 0.0f;
        for (int i = 0; i < H; i++) ss += xr[i] * xr[i];
        float inv = 1.0f / sqrtf(ss / (float)H + eps);
        for (int i = 0; i < H; i++) out[(size_t)t * H + i] = w[i] * (xr[i] * inv);
    }
}

/* Rotates each head's two halves (gpt-oss pairs element i with i + hd/2). */
static void rope(CpuState *s, float *vec, int n_heads, int pos) {
    int hd = (int)s->c.head_dim, half = hd / 2;
    for (int i = 0; i < half; i++) {
        float angle = (float)pos * s->inv_freq[i];
        float cs = cosf(angle) * s->concentration, sn = sinf(angle) * s->concentration;
        for (int h = 0; h < n_heads; h++) {
            float *a = vec + (size_t)h * hd + i, *b = a + half;
            float x1 = *a, x2 = *b;
            *a = x1 * cs - x2 * sn;
            *b = x2 * cs + x1 * sn;
        }
    }
}

/* Where position pos of slot keeps its key (or value) in a layer: the rows
 * checked that the slot holds it. */
static float *cache_at(CpuState *s, float *cache, int slot, int layer, int pos) {
    long entry = kv_pages_entry(&s->pages, slot, pos), page = entry / CPU_KV_PAGE;
    size_t at = ((size_t)page * s->c.n_layers + (size_t)layer) * CPU_KV_PAGE + (size_t)(entry % CPU_KV_PAGE);
    return cache + at * s->c.n_kv_heads * s->c.head_dim;
}

/* Attention for every (row, head): softmax over the visible keys plus the
 * head's learned sink logit, which takes probability mass but has no value. */
static void attention(CpuState *s, int layer, const BatchRow *rows, int T, const float *sinks) {
    const ModelConfig *c = &s->c;
    int hd = (int)c->head_dim, nh = (int)c->n_heads, group = (int)(c->n_heads / c->n_kv_heads);
    int window = c->layer_sliding[layer] ? (int)c->sliding_window : 0;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) schedule(dynamic) num_threads(s->n_threads)
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < nh; h++) {
            int pos = rows[t].pos, slot = rows[t].slot, kvh = h / group;
            int start = window ? (pos - window + 1 > 0 ? pos - window + 1 : 0) : 0;
            const float *q = s->q + (size_t)t * nh * hd + (size_t)h * hd;
            float *out = s->attn + (size_t)t * nh * hd + (size_t)h * hd;
            float *scores = thread_row_buf(s); /* row_buf_len >= max_context + 1 */
            float maxv = sinks[h];
            for (int p = start; p <= pos; p++) {
                const float *k = cache_at(s, s->key_cache, slot, layer, p) + (size_t)kvh * hd;
                scores[p - start] = dot(q, k, hd) * scale;
                if (scores[p - start] > maxv) maxv = scores[p - start];
            }
            float denom = expf(sinks[h] - maxv);
            for (int p = start; p <= pos; p++) denom += (scores[p - start] = expf(scores[p - start] - maxv));
            for (int i = 0; i < hd; i++) out[i] = 0.0f;
            for (int p = start; p <= pos; p++) {
                const float *v = cache_at(s, s->value_cache, slot, layer, p) + (size_t)kvh * hd;
                float w = scores[p - start] / denom;
                for (int i = 0; i < hd; i++) out[i] += w * v[i];
            }
        }
    }
}

/* Router: top-k expert logits per row, softmax over the chosen k. */
static void route(CpuState *s, int T) {
    int E = (int)s->c.n_experts, K = (int)s->c.experts_per_token;
    for (int t = 0; t < T; t++) {
        const float *logit = s->router + (size_t)t * E;
        int *idx = s->topk_idx + (size_t)t * K;
        float *w = s->topk_w + (size_t)t * K;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= idx[j] == e;
                if (!taken && (best < 0 || logit[e] > logit[best])) best = e;
            }
            idx[k] = best;
        }
        float maxv = logit[idx[0]], sum = 0.0f;
        for (int k = 0; k < K; k++) sum += (w[k] = expf(logit[idx[k]] - maxv));
        for (int k = 0; k < K; k++) w[k] /= sum;
    }
}

/* PRECISION_BF16_EXPERTS: an expert matmul's input rounded to bf16 (to
 * nearest even, as the GPU's producers round it). */
static void round_to_bf16(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = bf16_to_f32(f32_to_bf16(v[i]));
}

/* Mixture of experts: each expert runs once over the rows routed to it,
 * gate_up, SwiGLU (src/gptoss_math.h), down. */
static void moe(CpuState *s, const LayerWeights *L, int T, float *x) {
    const ModelConfig *c = &s->c;
    int E = (int)c->n_experts, K = (int)c->experts_per_token, H = (int)c->hidden, I = (int)c->intermediate;
    float limit = c->swiglu_limit;
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++)
                if (s->topk_idx[t * K + k] == e) {
                    s->expert_rows[n] = t;
                    s->expert_row_weight[n] = s->topk_w[t * K + k];
                    memcpy(s->moe_in + (size_t)n * H, s->xn + (size_t)t * H, (size_t)H * sizeof(float));
                    n++;
                }
        if (n == 0) continue;
        if (s->precision == PRECISION_BF16_EXPERTS) round_to_bf16(s->moe_in, (size_t)n * H);
        matmul(s, s->moe_hidden, s->moe_in, n, L->gate_up_w, (uint64_t)e * 2 * I, 2 * I, NULL, L->gate_up_b, (uint64_t)e);
        for (int r = 0; r < n; r++) {
            const float *h = s->moe_hidden + (size_t)r * 2 * I;
            float *a = s->moe_act + (size_t)r * I;
            for (int j = 0; j < I; j++) a[j] = gptoss_swiglu(h[2 * j], h[2 * j + 1], limit);
        }
        if (s->precision == PRECISION_BF16_EXPERTS) round_to_bf16(s->moe_act, (size_t)n * I);
        matmul(s, s->moe_out, s->moe_act, n, L->down_w, (uint64_t)e * H, H, NULL, L->down_b, (uint64_t)e);
        for (int r = 0; r < n; r++) {
            float *xr = x + (size_t)s->expert_rows[r] * H;
            const float *o = s->moe_out + (size_t)r * H;
            for (int i = 0; i < H; i++) xr[i] += s->expert_row_weight[r] * o[i];
        }
    }
}

/* One decoder block over T rows: x += attn(norm(x)); x += moe(norm(x)). */
static void forward_layer(CpuState *s, int l, const BatchRow *rows, int T) {
    const ModelConfig *c = &s->c;
    const LayerWeights *L = &s->model->weights.layers[l];
    int H = (int)c->hidden, hd = (int)c->head_dim;
    int QD = (int)c->n_heads * hd, KVD = (int)c->n_kv_heads * hd;
    float *bias = s->layer_bias, *sinks = s->sinks;
    read_vector(L->sinks, sinks);

    rmsnorm(s, s->xn, s->x, T, H, L->attn_norm, c->rms_eps);
    read_vector(L->bq, bias);
    matmul(s, s->q, s->xn, T, L->wq, 0, QD, bias, NULL, 0);
    read_vector(L->bk, bias);
    matmul(s, s->k, s->xn, T, L->wk, 0, KVD, bias, NULL, 0);
    read_vector(L->bv, bias);
    matmul(s, s->v, s->xn, T, L->wv, 0, KVD, bias, NULL, 0);
    for (int t = 0; t < T; t++) {
        rope(s, s->q + (size_t)t * QD, (int)c->n_heads, rows[t].pos);
        rope(s, s->k + (size_t)t * KVD, (int)c->n_kv_heads, rows[t].pos);
        memcpy(cache_at(s, s->key_cache, rows[t].slot, l, rows[t].pos), s->k + (size_t)t * KVD, (size_t)KVD * sizeof(float));
        memcpy(cache_at(s, s->value_cache, rows[t].slot, l, rows[t].pos), s->v + (size_t)t * KVD, (size_t)KVD * sizeof(float));
    }
    attention(s, l, rows, T, sinks);
    read_vector(L->bo, bias);
    matmul(s, s->proj, s->attn, T, L->wo, 0, H, bias, NULL, 0);
    for (size_t i = 0; i < (size_t)T * H; i++) s->x[i] += s->proj[i];

    rmsnorm(s, s->xn, s->x, T, H, L->mlp_norm, c->rms_eps);
    read_vector(L->router_b, bias);
    matmul(s, s->router, s->xn, T, L->router_w, 0, (int)c->n_experts, bias, NULL, 0);
    route(s, T);
    moe(s, L, T, s->x);
}

static int cpu_forward(Backend *b, const BatchRow *rows, int T, float *logits, Error *err) {
    CpuState *s = b->impl;
    const ModelConfig *c = &s->c;
    int H = (int)c->hidden;
    if (T <= 0) return 0;
    if (T > b->max_rows) return error_set(err, "cpu backend: %d rows exceed the batch limit %d", T, b->max_rows);
    for (int t = 0; t < T; t++) {
        if (rows[t].slot < 0 || rows[t].slot >= b->max_slots) return error_set(err, "cpu backend: slot %d out of range", rows[t].slot);
        if (rows[t].pos < 0 || rows[t].pos >= b->max_context)
            return error_set(err, "cpu backend: position %d outside the context of %d", rows[t].pos, b->max_context);
        if (kv_pages_entry(&s->pages, rows[t].slot, rows[t].pos) < 0)
            return error_set(err, "cpu backend: slot %d holds %d positions of the KV cache, not position %d (reserve it first)", rows[t].slot,
                             kv_pages_positions(&s->pages, rows[t].slot), rows[t].pos);
        if (rows[t].token < 0 || (uint32_t)rows[t].token >= c->vocab_size)
            return error_set(err, "cpu backend: token %d outside the vocabulary", rows[t].token);
    }
    for (int t = 0; t < T; t++) tensor_read_row(s->model->weights.embedding, (uint64_t)rows[t].token, s->x + (size_t)t * H);
    for (int l = 0; l < (int)c->n_layers; l++) forward_layer(s, l, rows, T);

    /* final norm and unembedding, only for the rows that asked */
    int n = 0;
    for (int t = 0; t < T; t++)
        if (rows[t].want_logits) memcpy(s->moe_in + (size_t)n++ * H, s->x + (size_t)t * H, (size_t)H * sizeof(float));
    if (n == 0) return 0;
    rmsnorm(s, s->xn, s->moe_in, n, H, s->model->weights.final_norm, c->rms_eps);
    matmul(s, logits, s->xn, n, s->model->weights.unembedding, 0, (int)c->vocab_size, NULL, NULL, 0);
    return 0;
}

static void cpu_destroy(Backend *b) {
    CpuState *s = b->impl;
    float *bufs[] = {s->key_cache, s->value_cache, s->inv_freq, s->x, s->xn, s->q, s->k, s->v, s->attn, s->proj, s->router,
                     s->moe_in, s->moe_hidden, s->moe_act, s->moe_out, s->expert_row_weight, s->topk_w, s->row_buf,
                     s->layer_bias, s->expert_bias, s->norm_weight, s->sinks};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(s->expert_rows);
    free(s->topk_idx);
    kv_pages_free(&s->pages);
    sync_calls_free(&s->calls);
    free(s);
    free(b);
}

static int cpu_submit(Backend *b, const BatchRow *rows, int n_rows, const SampleSpec *spec, Error *err) {
    return sync_calls_submit(&((CpuState *)b->impl)->calls, b, rows, n_rows, spec, err);
}
static int cpu_collect(Backend *b, int *tokens, TokenLogprobs *logprobs, Error *err) {
    return sync_calls_collect(&((CpuState *)b->impl)->calls, tokens, logprobs, err);
}

static int cpu_copy_prefix(Backend *b, int dst, int src, int n_positions, Error *err) {
    CpuState *s = b->impl;
    if (dst < 0 || src < 0 || dst >= b->max_slots || src >= b->max_slots || n_positions < 0 || n_positions > b->max_context)
        return error_set(err, "cpu backend: copy of %d positions from slot %d to slot %d is out of range", n_positions, src, dst);
    if (n_positions > kv_pages_positions(&s->pages, dst) || n_positions > kv_pages_positions(&s->pages, src))
        return error_set(err, "cpu backend: copy of %d positions from slot %d (holding %d) to slot %d (holding %d)", n_positions, src,
                         kv_pages_positions(&s->pages, src), dst, kv_pages_positions(&s->pages, dst));
    /* a page's positions are contiguous in each layer */
    for (int p = 0; p < n_positions; p += CPU_KV_PAGE) {
        int n = n_positions - p < CPU_KV_PAGE ? n_positions - p : CPU_KV_PAGE;
        size_t bytes = (size_t)n * s->c.n_kv_heads * s->c.head_dim * sizeof(float);
        for (uint32_t l = 0; l < s->c.n_layers; l++) {
            memcpy(cache_at(s, s->key_cache, dst, (int)l, p), cache_at(s, s->key_cache, src, (int)l, p), bytes);
            memcpy(cache_at(s, s->value_cache, dst, (int)l, p), cache_at(s, s->value_cache, src, (int)l, p), bytes);
        }
    }
    return 0;
}

static int cpu_reserve(Backend *b, int slot, int n_positions, Error *err) {
    CpuState *s = b->impl;
    int rc = kv_pages_reserve(&s->pages, slot, n_positions);
    if (rc < 0) return error_set(err, "cpu backend: cannot reserve %d positions for slot %d (%d slots of %d positions)", n_positions, slot,
                                 b->max_slots, b->max_context);
    return rc;
}

static int cpu_set_precision(Backend *b, Precision p, Error *err) {
    (void)err;
    ((CpuState *)b->impl)->precision = p;
    return 0;
}

static const BackendOps CPU_OPS = {.name = "cpu", .submit_sample = cpu_submit, .collect_sample = cpu_collect, .forward = cpu_forward,
                                   .copy_prefix = cpu_copy_prefix, .reserve = cpu_reserve, .destroy = cpu_destroy,
                                   .set_precision = cpu_set_precision};

Backend *backend_cpu_create(const Model *m, int max_slots, int max_context, int n_threads, long kv_positions, Error *err) {
    if (m->virtual_weights) {
        error_set(err, "the CPU backend cannot run --dummy-weights (the weights exist only on a GPU)");
        return NULL;
    }
    const ModelConfig *c = &m->config;
    if (max_slots <= 0 || max_context <= 0) {
        error_set(err, "cpu backend: need at least one slot and one position");
        return NULL;
    }
    if ((uint32_t)max_context > c->max_context) max_context = (int)c->max_context;
    CpuState *s = xcalloc(1, sizeof *s);
    s->model = m;
    s->c = *c;
#ifdef _OPENMP
    s->n_threads = n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    s->n_threads = 1;
#endif
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim;
    long slot_pages = (max_context + CPU_KV_PAGE - 1) / CPU_KV_PAGE;
    long n_pages = kv_positions > 0 ? (kv_positions >= CPU_KV_PAGE ? kv_positions / CPU_KV_PAGE : 1) : slot_pages * max_slots;
    size_t page_floats = (size_t)CPU_KV_PAGE * c->n_layers * kvd;
    if (n_pages > INT_MAX / CPU_KV_PAGE) n_pages = INT_MAX / CPU_KV_PAGE;
    s->key_cache = calloc((size_t)n_pages * page_floats, sizeof(float));
    s->value_cache = calloc((size_t)n_pages * page_floats, sizeof(float));
    if (!s->key_cache || !s->value_cache) {
        error_set(err, "cpu backend: cannot allocate the KV cache (%ld positions, %.1f GiB); lower --batch, --ctx or --kv-mem", n_pages * CPU_KV_PAGE,
                  2.0 * (double)n_pages * (double)page_floats * 4 / (1 << 30));
        free(s->key_cache);
        free(s->value_cache);
        free(s);
        return NULL;
    }
    /* each slot holds its whole context from the start while the pool lasts (kv_positions 0: all of them) */
    kv_pages_init(&s->pages, CPU_KV_PAGE, (int)n_pages, max_slots, max_context);
    for (int slot = 0; slot < max_slots && kv_pages_reserve(&s->pages, slot, max_context) == 0; slot++) {
    }
    s->inv_freq = xmalloc(c->head_dim / 2 * sizeof(float));
    rope_yarn_tables(c, s->inv_freq, &s->concentration);

    int R = 256; /* rows per call: bounds scratch memory; the decode loop chunks prefill */
    size_t H = c->hidden, QD = (size_t)c->n_heads * c->head_dim, I = c->intermediate, K = c->experts_per_token;
    size_t RK = (size_t)R * K; /* an expert can see each row at most once, so R rows suffice; RK is the top-k table */
    s->x = xmalloc(R * H * sizeof(float));
    s->xn = xmalloc(R * H * sizeof(float));
    s->q = xmalloc(R * QD * sizeof(float));
    s->k = xmalloc(R * kvd * sizeof(float));
    s->v = xmalloc(R * kvd * sizeof(float));
    s->attn = xmalloc(R * QD * sizeof(float));
    s->proj = xmalloc(R * H * sizeof(float));
    s->router = xmalloc(R * (size_t)c->n_experts * sizeof(float));
    s->moe_in = xmalloc(R * H * sizeof(float));
    s->moe_hidden = xmalloc(R * 2 * I * sizeof(float));
    s->moe_act = xmalloc(R * I * sizeof(float));
    s->moe_out = xmalloc(R * H * sizeof(float));
    s->expert_rows = xmalloc((size_t)R * sizeof(int));
    s->expert_row_weight = xmalloc((size_t)R * sizeof(float));
    s->topk_idx = xmalloc(RK * sizeof(int));
    s->topk_w = xmalloc(RK * sizeof(float));
    size_t widest = H > QD ? H : QD;
    if (I > widest) widest = I;
    if ((size_t)max_context + 1 > widest) widest = (size_t)max_context + 1;
    s->row_buf_len = widest;
    size_t biggest_bias = QD > H ? QD : H;
    if ((size_t)c->n_experts > biggest_bias) biggest_bias = c->n_experts;
    s->layer_bias = xmalloc(biggest_bias * sizeof(float));
    s->expert_bias = xmalloc((2 * I > H ? 2 * I : H) * sizeof(float));
    s->norm_weight = xmalloc(H * sizeof(float));
    s->sinks = xmalloc(c->n_heads * sizeof(float));
    s->row_buf = xmalloc((size_t)s->n_threads * widest * sizeof(float));

    sync_calls_init(&s->calls, R, max_slots, (int)c->vocab_size);
    Backend *b = xcalloc(1, sizeof *b);
    b->ops = &CPU_OPS;
    b->model = m;
    b->max_slots = max_slots;
    b->max_context = max_context;
    b->max_rows = b->max_slot_rows = R;
    b->kv_positions = n_pages * CPU_KV_PAGE;
    b->impl = s;
    snprintf(b->info, sizeof b->info, "cpu, %d threads, KV cache %.2f GiB: %ld positions in pages of %d", s->n_threads,
             2.0 * (double)n_pages * (double)page_floats * sizeof(float) / (1 << 30), b->kv_positions, CPU_KV_PAGE);
    return b;
}
