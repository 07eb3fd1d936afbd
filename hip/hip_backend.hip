// hip_backend.hip - the gpt-oss forward pass on one GPU: weights, KV cache,
// and the launch sequence of one step (the kernels live in matmul.h,
// layers.h and sample.h).
//
// A step is: embed; per layer qkv matmul -> RoPE + cache store -> attention
// -> o matmul -> residual + norm + router + top-k + grouping by expert ->
// gate_up matmul with SwiGLU -> down matmul -> combine + next norm; then the
// unembedding for the rows that want logits and, when asked, the sampler.
// The host only copies the rows in and the token ids (or logits) out; a
// decode step (every row wants a token) is captured once per batch size as a
// graph and replayed.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip_compat.h"

extern "C" {
#include "../src/backend.h"
}

#include "layers.h"
#include "matmul.h"
#include "sample.h"

#define CHECK(call, err)                                                                                          \
    do {                                                                                                          \
        hipError_t e_ = (call);                                                                                   \
        if (e_ != hipSuccess) return error_set(err, "hip: %s failed: %s (%s:%d)", #call, hipGetErrorString(e_), \
                                               __FILE__, __LINE__);                                               \
    } while (0)
#define CHECK_LAUNCH(err) CHECK(hipGetLastError(), err)

#define MAX_ROWS 256     /* rows one forward call accepts */
#define MAX_GRAPHS 300   /* decode graphs kept, one per batch size */
/* k ranges of the down matmul, summed in order by the combine, at every
 * batch size. One range left its blocks (4 experts x 45 at batch 1) on the
 * multiprocessors gate_up's blocks leave first, 3 each on ~80 of 132; two
 * fill them (H100, batch 1: down 31.6 -> 26.3 us, 306 -> 312 tok/s). */
#define DOWN_SPLITS 2

struct LayerDev {
    WeightView wq, wk, wv, wo, router, gate_up, down;
    const float *attn_norm, *bq, *bk, *bv, *bo, *sinks, *mlp_norm, *router_b, *gate_up_b, *down_b;
    LayerCache cache;
};

struct GraphEntry {
    int n_rows, sample;
    hipGraphExec_t exec;
};

/* GETP_PROFILE=1: time each kind of launch with events (graphs off) and
 * print the totals when the backend is destroyed. */
enum { P_EMBED, P_QKV_MM, P_QKV_FINISH, P_ATTENTION, P_O_MM, P_POST_ATTN, P_GATE_UP, P_DOWN, P_COMBINE, P_UNEMBED, P_SAMPLE, P_KINDS };
static const char *const PROFILE_NAMES[P_KINDS] = {"embed", "qkv matmul", "qkv finish", "attention", "o matmul", "post-attention",
                                                   "gate_up matmul", "down matmul", "combine", "unembedding", "sample"};
#define PROFILE_EVENTS 1024
struct Profile {
    int on, n;
    hipEvent_t ev[PROFILE_EVENTS];
    int kind[PROFILE_EVENTS];
    double ms[P_KINDS];
    long calls[P_KINDS];
};

struct HipState {
    const Model *model;
    ModelConfig c;
    int device, sm_count, resident_blocks; /* resident: of the batch-1 dense matmul, GPU-wide */
    uint8_t *weights; /* the model file's bytes (or random ones), tensors at their file offsets */
    float *vectors;   /* norms, biases and sinks widened to f32 */
    WeightView emb, unemb;
    const float *final_norm;
    LayerDev *layers;
    float *kv;
    size_t kv_bytes;
    float *inv_freq, concentration;
    int splits_q, splits_k, splits_v, splits_o;
    /* per step */
    int *d_input; /* a call's T rows and specs, packed: see step_rows */
    int *d_tokens; /* the last sampling call's tokens (fed back: TOKEN_OF_PREVIOUS) */
    /* Host side of a call, twice: a call may be built while the one before
     * it is in flight (submit_sample), whose copies read its own buffers. */
    int *h_input[2], *h_tokens[2];
    hipEvent_t call_done[2];
    int call_n_out[2];
    long submitted, collected; /* calls; buffer = count % 2 */
    int fed_back_n;            /* tokens the last submitted call sampled (0: it did not) */
    int serial;                /* profiling or block tracing: each call finishes before the next is built */
    float *x, *q, *part_q, *part_k, *part_v, *part_o, *expert_out, *logits, *prob, *topk_w;
    int2 *argmax_part; /* [row][ARGMAX_SLICES] (value bits, id) */
    uint4 *xn, *attn, *act; /* matmul inputs, packed (pack_split4) */
    int *topk_idx, *pairs, *routing, *counter;
    hipStream_t stream;
    GraphEntry graphs[MAX_GRAPHS];
    int n_graphs;
    Profile prof;
#ifdef GETP_BLOCK_TRACE_ON
    long trace_step, steps; /* GETP_BLOCK_TRACE=step: the forward call recorded */
    BlockTraceBuffer trace;
#endif
    double weights_seconds; /* the weights' trip to the device */
    int no_graphs;          /* GETP_NO_GRAPHS=1 or profiling: launch every step directly */
};

/* Marks the end of a launch of `kind` (the previous mark is its start). */
static void mark(HipState *s, int kind) {
    Profile *p = &s->prof;
    if (!p->on || p->n >= PROFILE_EVENTS) return;
    /* a failing event only stops the profile, never the run */
    if ((!p->ev[p->n] && hipEventCreate(&p->ev[p->n]) != hipSuccess) || hipEventRecord(p->ev[p->n], s->stream) != hipSuccess) {
        fprintf(stderr, "GETP_PROFILE: events failed; profiling stopped\n");
        p->on = 0;
        return;
    }
    p->kind[p->n++] = kind;
}

static void profile_collect(HipState *s) {
    Profile *p = &s->prof;
    if (!p->on) return;
    if (p->n == 0 || hipEventSynchronize(p->ev[p->n - 1]) != hipSuccess) {
        p->n = 0;
        return;
    }
    for (int i = 1; i < p->n; i++) {
        float ms = 0;
        if (hipEventElapsedTime(&ms, p->ev[i - 1], p->ev[i]) != hipSuccess) continue;
        if (p->kind[i] < 0) continue;
        p->ms[p->kind[i]] += ms;
        p->calls[p->kind[i]]++;
    }
    p->n = 0;
}

static WeightView view(const HipState *s, const Tensor *t) {
    WeightView w;
    w.data = s->weights + t->offset;
    w.dtype = (int)t->dtype;
    w.cols = (int)tensor_row_len(t);
    uint64_t all_rows = tensor_n_elems(t) / w.cols;
    w.rows = t->ndim == 3 ? (int)t->shape[1] : (int)all_rows; /* experts: rows of one matrix */
    w.scales = t->dtype == DTYPE_MXFP4 ? w.data + all_rows * (w.cols / 2) : nullptr;
    w.tiled = 0;
    return w;
}

static unsigned cdiv(size_t n, size_t d) { return (unsigned)((n + d - 1) / d); }

/* How many blocks of the batch-1 dense matmul the GPU runs at once. */
static int resident_matmul_blocks(HipState *s, int dtype, Error *err) {
    int per_sm = 0;
    const void *kernel = dtype == DT_F32    ? (const void *)matmul_kernel<DT_F32, MM_PARTIAL, 1>
                         : dtype == DT_BF16 ? (const void *)matmul_kernel<DT_BF16, MM_PARTIAL, 1>
                                            : (const void *)matmul_kernel<DT_MXFP4, MM_PARTIAL, 1>;
    CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, MM_WARPS * WARP, 0), err);
    s->resident_blocks = (per_sm > 0 ? per_sm : 1) * s->sm_count;
    return 0;
}

/* Splits of k for a dense matrix: as many as fill the blocks the GPU holds
 * at once (one wave: a second would leave a tail), at least 2 chunks of 32
 * values each. Depends on the shape and the GPU only (batch invariance). */
static int choose_splits(const HipState *s, int rows, int cols) {
    int groups = (int)cdiv(cdiv(rows, 16), MM_WARPS), chunks = (cols + 31) / 32;
    int splits = s->resident_blocks / groups;
    if (splits > chunks / 2) splits = chunks / 2;
    return splits < 1 ? 1 : splits;
}

/* x: packed rows of `cols` values */
static MatmulJob dense_job(WeightView w, const uint4 *x, int cols, int n, int splits, float *out) {
    MatmulJob j;
    memset(&j, 0, sizeof j);
    j.w = w, j.x = x, j.ldx = cols / 4, j.n_tokens = n, j.splits = splits, j.out = out, j.pair_div = 1;
    return j;
}

/* Token tiles per warp by batch size: 1 for decode-sized batches (deeper
 * weight prefetch), else 4. Every variant computes each output with the
 * same sum. grid.y covers the tokens in groups of 8 NT. */
static int token_tiles(int max_tokens) { return max_tokens <= DECODE_ROWS ? 1 : MM_TOKEN_TILES; }

template <int DT, int MODE, bool TILED>
static void launch_variant(const HipState *s, const MatmulJobs &all, dim3 grid, int nt) {
    dim3 block(MM_WARPS * WARP);
    if (nt == 1) (void)launch_chained(matmul_kernel<DT, MODE, 1, TILED>, grid, block, 0, s->stream, all);
    else (void)launch_chained(matmul_kernel<DT, MODE, MM_TOKEN_TILES, TILED>, grid, block, 0, s->stream, all);
}
template <int DT, int MODE>
static void launch_variant(const HipState *s, const MatmulJobs &all, dim3 grid, int nt) {
    if constexpr (MODE != MM_PARTIAL)
        if (all.job[0].w.tiled) return launch_variant<DT, MODE, true>(s, all, grid, nt);
    launch_variant<DT, MODE, false>(s, all, grid, nt);
}

/* tiles[i]: job i's row tiles (16 rows; SwiGLU: 8 channels) */
template <int MODE>
static int launch_matmul(const HipState *s, const MatmulJob *jobs, int n_jobs, const unsigned *tiles, unsigned grid_z, int max_tokens,
                         Error *err, const WeightView *prefetch = nullptr) {
    MatmulJobs all;
    memset(&all, 0, sizeof all);
    if (prefetch) all.prefetch = prefetch->data, all.prefetch_bytes = weight_bytes(*prefetch);
    unsigned grid_x = 0;
    int nt = token_tiles(max_tokens), mt = nt == 1 ? (int)RowTiles<1>::MT : (int)RowTiles<MM_TOKEN_TILES>::MT;
    all.n_jobs = n_jobs;
    for (int i = 0; i < n_jobs; i++) {
        all.job[i] = jobs[i];
        all.blocks[i] = (int)(cdiv(tiles[i], (size_t)MM_WARPS * mt) * (unsigned)jobs[i].splits);
        grid_x += (unsigned)all.blocks[i];
    }
    dim3 grid(grid_x, cdiv(max_tokens, 8 * nt), grid_z);
    /* only a launch that is one wave preloads all its weights during the kernel before */
    if (nt == 1 && MODE == MM_PARTIAL && (size_t)grid.x * grid.y * grid.z <= (size_t)s->resident_blocks) all.pace_ns = PRELOAD_PACE_NS;
    switch (jobs[0].w.dtype) {
    case DT_F32: launch_variant<DT_F32, MODE>(s, all, grid, nt); break;
    case DT_BF16: launch_variant<DT_BF16, MODE>(s, all, grid, nt); break;
    default: launch_variant<DT_MXFP4, MODE>(s, all, grid, nt); break;
    }
    CHECK_LAUNCH(err);
    return 0;
}

/* Dense matmuls of the same x: up to 3 matrices (q, k, v) in one launch;
 * prefetch: a weight the next kernel reads (see MatmulJobs). */
static int dense_matmul(const HipState *s, const MatmulJob *jobs, int n_jobs, int n, Error *err, const WeightView *prefetch = nullptr) {
    unsigned tiles[3];
    for (int i = 0; i < n_jobs; i++) {
        tiles[i] = cdiv(jobs[i].w.rows, 16);
        if (jobs[i].w.dtype != jobs[0].w.dtype) return error_set(err, "hip backend: q, k and v must share a dtype");
    }
    return launch_matmul<MM_PARTIAL>(s, jobs, n_jobs, tiles, 1, n, err, prefetch);
}

template <int MODE>
static int expert_matmul(const HipState *s, WeightView w, const float *bias, const uint4 *x, int cols, int pair_div, void *out, int ldo,
                         int n_rows, Error *err) {
    MatmulJob j;
    memset(&j, 0, sizeof j);
    j.w = w, j.bias = bias, j.x = x, j.ldx = cols / 4, j.pairs = s->pairs, j.routing = s->routing, j.pair_div = pair_div;
    j.n_experts = (int)s->c.n_experts, j.splits = MODE == MM_BIAS ? DOWN_SPLITS : 1, j.out = out, j.ldo = ldo, j.limit = s->c.swiglu_limit;
    j.n_tokens = n_rows * (int)s->c.experts_per_token; /* pairs: MM_BIAS's split stride */
    unsigned tiles = MODE == MM_SWIGLU ? cdiv(w.rows / 2, 8) : cdiv(w.rows, 16);
    /* n_rows tokens make n_rows * k (token, expert) pairs, so at most that
     * many experts have work: at batch 1, 4 of 32 */
    int pairs = n_rows * (int)s->c.experts_per_token, z = pairs < j.n_experts ? pairs : j.n_experts;
    return launch_matmul<MODE>(s, &j, 1, &tiles, (unsigned)z, n_rows, err);
}

template <int HD> static void launch_attention_hd(const HipState *s, const LayerDev *L, StepRows rows, int T) {
    const ModelConfig *c = &s->c;
    dim3 grid(T, c->n_heads), block(ATTN_WARPS * WARP);
    int nh = c->n_heads, nkv = c->n_kv_heads;
    if constexpr (HD <= 64)
        if (T <= DECODE_ROWS) {
            (void)launch_chained(attention_kernel<HD, true>, grid, block, 0, s->stream, s->attn, s->q, rows, L->cache, L->sinks, nh, nkv);
            return;
        }
    (void)launch_chained(attention_kernel<HD, false>, grid, block, 0, s->stream, s->attn, s->q, rows, L->cache, L->sinks, nh, nkv);
}

static int launch_attention(const HipState *s, const LayerDev *L, StepRows rows, int T, Error *err) {
    switch (s->c.head_dim) {
    case 16: launch_attention_hd<16>(s, L, rows, T); break;
    case 32: launch_attention_hd<32>(s, L, rows, T); break;
    case 64: launch_attention_hd<64>(s, L, rows, T); break;
    case 128: launch_attention_hd<128>(s, L, rows, T); break;
    default: return error_set(err, "hip backend: head_dim %u is not supported (16, 32, 64 or 128)", s->c.head_dim);
    }
    CHECK_LAUNCH(err);
    return 0;
}

/* A call's input, packed so that one small copy brings it (at batch 1, 28
 * bytes): for T rows slot[T], pos[T], token[T], out_row[T], then the
 * sampled rows' SampleSpecs. A graph is captured per T, so the offsets are
 * fixed within it. */
static StepRows step_rows(const int *input, int T, const int *fed_back) { return {input, input + T, input + 2 * T, input + 3 * T, fed_back}; }
static SampleSpec *step_specs(int *input, int T) { return (SampleSpec *)(input + 4 * T); }
static size_t step_input_bytes(int T, int n_specs) { return 4 * (size_t)T * sizeof(int) + (size_t)n_specs * sizeof(SampleSpec); }

/* Everything of one forward call after the rows are on the device. */
static int enqueue_step(HipState *s, int T, int n_out, int sample, Error *err) {
    const ModelConfig *c = &s->c;
    int H = c->hidden, nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim, E = c->n_experts, K = c->experts_per_token;
    int I = c->intermediate, QD = nh * hd, V = c->vocab_size;
    StepRows rows = step_rows(s->d_input, T, s->d_tokens);
    mark(s, -1);
    (void)launch_chained(embed_kernel, dim3(T), dim3(ROW_THREADS), 0, s->stream, s->x, s->xn, rows, s->emb, s->layers[0].attn_norm, H, c->rms_eps);
    CHECK_LAUNCH(err);
    mark(s, P_EMBED);
    for (int l = 0; l < (int)c->n_layers; l++) {
        const LayerDev *L = &s->layers[l];
        MatmulJob qkv[3] = {dense_job(L->wq, s->xn, H, T, s->splits_q, s->part_q), dense_job(L->wk, s->xn, H, T, s->splits_k, s->part_k),
                            dense_job(L->wv, s->xn, H, T, s->splits_v, s->part_v)};
        if (dense_matmul(s, qkv, 3, T, err)) return -1;
        mark(s, P_QKV_MM);
        (void)launch_chained(qkv_finish_kernel, dim3(T, cdiv(nh + 2 * nkv, QKV_HEADS)), dim3(QKV_HEADS * hd / 2), 0, s->stream,
            s->q, s->part_q, s->part_k, s->part_v, s->splits_q, T, L->bq, L->bk, L->bv, rows, s->inv_freq, s->concentration, nh, nkv, hd,
            L->cache);
        CHECK_LAUNCH(err);
        mark(s, P_QKV_FINISH);
        if (launch_attention(s, L, rows, T, err)) return -1;
        mark(s, P_ATTENTION);
        MatmulJob o = dense_job(L->wo, s->attn, QD, T, s->splits_o, s->part_o);
        if (dense_matmul(s, &o, 1, T, err, T <= DECODE_ROWS ? &L->router : nullptr)) return -1;
        mark(s, P_O_MM);
        size_t shared = post_attention_shared(H, E, (size_t)T * K);
        (void)launch_chained(post_attention_kernel, dim3(T), dim3(POST_THREADS), shared, s->stream, s->x, s->xn, s->part_o, s->splits_o, T,
                             L->bo, L->mlp_norm, L->router, L->router_b, H, E, K, c->rms_eps, s->topk_idx, s->topk_w, s->pairs, s->routing,
                             s->counter);
        CHECK_LAUNCH(err);
        mark(s, P_POST_ATTN);
        if (expert_matmul<MM_SWIGLU>(s, L->gate_up, L->gate_up_b, s->xn, H, K, s->act, I, T, err)) return -1;
        mark(s, P_GATE_UP);
        if (expert_matmul<MM_BIAS>(s, L->down, L->down_b, s->act, I, 1, s->expert_out, H, T, err)) return -1;
        mark(s, P_DOWN);
        int last = l + 1 == (int)c->n_layers;
        (void)launch_chained(combine_kernel<DOWN_SPLITS>, dim3(T), dim3(ROW_THREADS), 0, s->stream, s->x, s->xn, s->expert_out, s->topk_w, K, H,
                             last ? s->final_norm : s->layers[l + 1].attn_norm, c->rms_eps, last ? rows.out_row : nullptr);
        CHECK_LAUNCH(err);
        mark(s, P_COMBINE);
    }
    if (n_out == 0) return 0;
    MatmulJob u = dense_job(s->unemb, s->xn, H, n_out, 1, s->logits);
    if (dense_matmul(s, &u, 1, n_out, err)) return -1;
    mark(s, P_UNEMBED);
    if (sample) {
        (void)launch_chained(argmax_slices_kernel, dim3(n_out, ARGMAX_SLICES), dim3(ARGMAX_THREADS), 0, s->stream, s->argmax_part,
                             (const float *)s->logits, V);
        CHECK_LAUNCH(err);
        (void)launch_chained(sample_kernel, dim3(n_out), dim3(SAMPLE_THREADS), 0, s->stream, s->d_tokens, (const float *)s->logits,
                             (const int2 *)s->argmax_part, s->prob, V, step_specs(s->d_input, T));
        CHECK_LAUNCH(err);
        mark(s, P_SAMPLE);
    }
    return 0;
}

#ifdef GETP_BLOCK_TRACE_ON
/* Turns the block recorder on for the traced step (see block_trace.h). */
static int block_trace_begin(HipState *s, Error *err) {
    if (s->steps != s->trace_step) return 0;
    const int on = 1;
    CHECK(hipMemset(s->trace.n, 0, sizeof(unsigned)), err);
    CHECK(hipMemcpy((void *)s->trace.on, &on, sizeof on, hipMemcpyHostToDevice), err);
    return 0;
}
/* After the step's sync: the traced step's records to GETP_BLOCK_TRACE_OUT. */
static int block_trace_end(HipState *s, Error *err) {
    if (s->steps++ != s->trace_step) return 0;
    const int off = 0;
    unsigned n = 0;
    CHECK(hipMemcpy((void *)s->trace.on, &off, sizeof off, hipMemcpyHostToDevice), err);
    CHECK(hipMemcpy(&n, s->trace.n, sizeof n, hipMemcpyDeviceToHost), err);
    if (n > s->trace.cap) n = s->trace.cap;
    BlockTraceRecord *r = (BlockTraceRecord *)xmalloc((n ? n : 1) * sizeof *r);
    hipError_t e = hipMemcpy(r, s->trace.rec, n * sizeof *r, hipMemcpyDeviceToHost);
    const char *path = getenv("GETP_BLOCK_TRACE_OUT");
    if (!path) path = "block_trace.csv";
    FILE *f = e == hipSuccess ? fopen(path, "w") : NULL;
    if (!f) {
        free(r);
        return e != hipSuccess ? error_set(err, "GETP_BLOCK_TRACE: copying the records failed: %s", hipGetErrorString(e))
                               : error_set(err, "GETP_BLOCK_TRACE: cannot write %s", path);
    }
    fprintf(f, "kind,block,blocks,sm,start,waited,mark1,mark2,mark3,end\n");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%d,%d,%d,%d,%llu,%llu,%llu,%llu,%llu,%llu\n", r[i].kind, r[i].block, r[i].blocks, r[i].sm, r[i].start, r[i].waited,
                r[i].mark[0], r[i].mark[1], r[i].mark[2], r[i].end);
    fclose(f);
    free(r);
    fprintf(stderr, "GETP_BLOCK_TRACE: %u blocks of step %ld written to %s\n", n, s->trace_step, path);
    return 0;
}
static int block_trace_init(HipState *s, Error *err) {
    const char *step = getenv("GETP_BLOCK_TRACE");
    s->trace_step = step ? atol(step) : -1;
    if (s->trace_step < 0) return 0;
    s->serial = 1; /* the recorded step's blocks alone */
    s->trace.cap = 1u << 18;
    CHECK(hipMalloc((void **)&s->trace.rec, s->trace.cap * sizeof(BlockTraceRecord)), err);
    CHECK(hipMalloc((void **)&s->trace.n, sizeof(unsigned)), err);
    CHECK(hipMalloc((void **)&s->trace.on, sizeof(int)), err);
    CHECK(hipMemset((void *)s->trace.on, 0, sizeof(int)), err);
    CHECK(hipMemcpyToSymbol(block_trace_buffer, &s->trace, sizeof s->trace), err);
    return 0;
}
#else
static int block_trace_begin(HipState *, Error *) { return 0; }
static int block_trace_end(HipState *, Error *) { return 0; }
static int block_trace_init(HipState *, Error *) { return 0; }
#endif

/* The step for rows already on the device: replayed from a graph when it
 * is a decode step (every row wants logits) of a size seen before. */
static int enqueue_graph_or_step(HipState *s, int T, int n_out, int sample, Error *err) {
    if (block_trace_begin(s, err)) return -1;
    if (n_out != T || s->no_graphs) return enqueue_step(s, T, n_out, sample, err);

    GraphEntry *g = nullptr;
    for (int i = 0; i < s->n_graphs && !g; i++)
        if (s->graphs[i].n_rows == T && s->graphs[i].sample == sample) g = &s->graphs[i];
    if (!g && s->n_graphs < MAX_GRAPHS) {
        hipGraph_t graph;
        CHECK(hipStreamBeginCapture(s->stream, hipStreamCaptureModeThreadLocal), err);
        int rc = enqueue_step(s, T, n_out, sample, err);
        hipError_t e = hipStreamEndCapture(s->stream, &graph);
        if (rc != 0) return -1;
        CHECK(e, err);
        g = &s->graphs[s->n_graphs];
        e = hipGraphInstantiate(&g->exec, graph, nullptr, nullptr, 0);
        (void)hipGraphDestroy(graph); /* the instance no longer needs it; e says whether there is one */
        CHECK(e, err);
        g->n_rows = T, g->sample = sample;
        s->n_graphs++;
    }
    if (!g) return enqueue_step(s, T, n_out, sample, err);
    CHECK(hipGraphLaunch(g->exec, s->stream), err);
    return 0;
}

/* Checks the rows, copies them in from host buffer `buf`, enqueues the
 * step (a graph for decode steps) and, when sampling, the copy of its
 * tokens back; records call_done[buf]. Does not wait. */
static int run_step(Backend *b, const BatchRow *rows, int T, const SampleSpec *spec, int buf, int *n_out_ret, Error *err) {
    HipState *s = (HipState *)b->impl;
    int V = s->c.vocab_size, n_out = 0, *in = s->h_input[buf];
    if (T > b->max_rows) return error_set(err, "hip backend: %d rows exceed the batch limit %d", T, b->max_rows);
    for (int t = 0; t < T; t++) {
        const BatchRow *r = &rows[t];
        if (r->slot < 0 || r->slot >= b->max_slots || r->pos < 0 || r->pos >= b->max_context || r->token < -s->fed_back_n || r->token >= V)
            return error_set(err, "hip backend: row %d (slot %d, position %d, token %d) out of range%s", t, r->slot, r->pos, r->token,
                             r->token < 0 ? " (a fed-back token names a row the previous call did not sample)" : "");
        in[t] = r->slot;
        in[T + t] = r->pos;
        in[2 * T + t] = r->token;
        in[3 * T + t] = r->want_logits ? n_out++ : -1;
    }
    int sample = spec != nullptr;
    if (sample) memcpy(step_specs(in, T), spec, (size_t)n_out * sizeof *spec);
    CHECK(hipMemcpyAsync(s->d_input, in, step_input_bytes(T, sample ? n_out : 0), hipMemcpyHostToDevice, s->stream), err);
    int rc = enqueue_graph_or_step(s, T, n_out, sample, err);
    if (rc == 0 && sample && n_out)
        CHECK(hipMemcpyAsync(s->h_tokens[buf], s->d_tokens, (size_t)n_out * sizeof(int), hipMemcpyDeviceToHost, s->stream), err);
    if (rc == 0) CHECK(hipEventRecord(s->call_done[buf], s->stream), err);
    s->fed_back_n = sample ? n_out : 0;
    *n_out_ret = n_out;
    return rc;
}

/* The calls in flight must be collected before a call that waits for itself. */
static int no_call_in_flight(const HipState *s, Error *err) {
    if (s->submitted != s->collected)
        return error_set(err, "hip backend: %ld call(s) submitted and not collected", s->submitted - s->collected);
    return 0;
}

/* After a call's wait: the profile's and the block trace's records. */
static int call_finished(HipState *s, Error *err) {
    profile_collect(s);
    return block_trace_end(s, err);
}

static int hip_forward(Backend *b, const BatchRow *rows, int T, float *logits, Error *err) {
    HipState *s = (HipState *)b->impl;
    int n_out, buf = (int)(s->submitted % 2);
    if (T <= 0) return 0;
    if (no_call_in_flight(s, err) || run_step(b, rows, T, nullptr, buf, &n_out, err) != 0) return -1;
    if (n_out) CHECK(hipMemcpyAsync(logits, s->logits, (size_t)n_out * s->c.vocab_size * sizeof(float), hipMemcpyDeviceToHost, s->stream), err);
    CHECK(hipStreamSynchronize(s->stream), err);
    return call_finished(s, err);
}

static int hip_submit_sample(Backend *b, const BatchRow *rows, int T, const SampleSpec *spec, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (s->submitted - s->collected >= 2) return error_set(err, "hip backend: two calls are in flight already; collect one first");
    if (T <= 0) return error_set(err, "hip backend: a submitted call needs rows");
    int buf = (int)(s->submitted % 2);
    if (run_step(b, rows, T, spec, buf, &s->call_n_out[buf], err) != 0) return -1;
    s->submitted++;
    if (!s->serial) return 0;
    CHECK(hipEventSynchronize(s->call_done[buf]), err);
    return call_finished(s, err);
}

static int hip_collect_sample(Backend *b, int *tokens, Error *err) {
    HipState *s = (HipState *)b->impl;
    if (s->collected == s->submitted) return error_set(err, "hip backend: no call in flight to collect");
    int buf = (int)(s->collected % 2);
    CHECK(hipEventSynchronize(s->call_done[buf]), err);
    memcpy(tokens, s->h_tokens[buf], (size_t)s->call_n_out[buf] * sizeof(int));
    s->collected++;
    return s->serial ? 0 : call_finished(s, err);
}

static void hip_destroy(Backend *b) {
    HipState *s = (HipState *)b->impl;
    if (s->prof.on) {
        double total = 0;
        for (int k = 0; k < P_KINDS; k++) total += s->prof.ms[k];
        fprintf(stderr, "GETP_PROFILE: %-15s %10s %8s %10s %6s\n", "kernel", "total ms", "calls", "us/call", "share");
        for (int k = 0; k < P_KINDS; k++)
            fprintf(stderr, "GETP_PROFILE: %-15s %10.2f %8ld %10.1f %5.1f%%\n", PROFILE_NAMES[k], s->prof.ms[k], s->prof.calls[k],
                    s->prof.calls[k] ? 1e3 * s->prof.ms[k] / s->prof.calls[k] : 0.0, total > 0 ? 100 * s->prof.ms[k] / total : 0.0);
        for (int i = 0; i < PROFILE_EVENTS; i++)
            if (s->prof.ev[i]) (void)hipEventDestroy(s->prof.ev[i]);
    }
    /* teardown: nothing useful can be done about a failure here */
    for (int i = 0; i < s->n_graphs; i++) (void)hipGraphExecDestroy(s->graphs[i].exec);
    void *bufs[] = {s->weights, s->vectors, s->kv, s->inv_freq, s->d_input, s->d_tokens, s->x, s->xn, s->q, s->attn,
                    s->part_q, s->part_k, s->part_v, s->part_o, s->act, s->expert_out, s->logits, s->prob, s->argmax_part, s->topk_w, s->topk_idx,
                    s->pairs, s->routing, s->counter};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) (void)hipFree(bufs[i]);
    for (int i = 0; i < 2; i++) {
        if (s->h_input[i]) (void)hipHostFree(s->h_input[i]);
        if (s->h_tokens[i]) (void)hipHostFree(s->h_tokens[i]);
        if (s->call_done[i]) (void)hipEventDestroy(s->call_done[i]);
    }
    if (s->stream) (void)hipStreamDestroy(s->stream);
#ifdef GETP_BLOCK_TRACE_ON
    if (s->trace.rec) (void)hipFree(s->trace.rec), (void)hipFree(s->trace.n), (void)hipFree((void *)s->trace.on);
#endif
    free(s->layers);
    free(s);
    free(b);
}

static const BackendOps HIP_OPS = {"hip", hip_submit_sample, hip_collect_sample, hip_forward, hip_destroy};

static int alloc(void *p, size_t bytes, Error *err) {
    CHECK(hipMalloc((void **)p, bytes ? bytes : 1), err);
    return 0;
}

/* ---- weights ---- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random weights for --dummy-weights: uniform in [-0.02, 0.02) (the scale of
 * the checkpoints' init), MXFP4 nibbles uniform with scale 2^-6. */
__global__ void fill_random_kernel(uint8_t *dst, size_t n_values, int dtype, uint64_t seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_values; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = ((float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 0.02f;
        if (dtype == DT_F32) ((float *)dst)[i] = u;
        else if (dtype == DT_BF16) ((uint16_t *)dst)[i] = (uint16_t)bf16_bits(u);
        else { /* MXFP4: n_values counts blocks' bytes then scale bytes */
            dst[i] = (uint8_t)z;
        }
    }
}

static int fill_matrix_random(HipState *s, const Tensor *t, uint64_t seed, Error *err) {
    uint8_t *dst = s->weights + t->offset;
    if (t->dtype == DTYPE_MXFP4) {
        uint64_t values = tensor_n_elems(t);
        fill_random_kernel<<<4096, 256, 0, s->stream>>>(dst, values / 2, DT_MXFP4, seed);
        CHECK_LAUNCH(err);
        CHECK(hipMemsetAsync(dst + values / 2, 127 - 6, values / 32, s->stream), err);
        return 0;
    }
    fill_random_kernel<<<4096, 256, 0, s->stream>>>(dst, tensor_n_elems(t), (int)t->dtype, seed);
    CHECK_LAUNCH(err);
    return 0;
}

/* Reorders a stack of expert matrices (E x rows, rows a multiple of 16, rows
 * of whole chunks) from row-major into the tiled order the expert matmuls
 * read (matmul.h, tiled_index); `unit` bytes move together: 16 (a word of
 * values) or 1 (an MXFP4 scale byte, ordered like the words with W = 1).
 * src: a copy of the row-major bytes. */
__global__ void tile_experts_kernel(uint8_t *dst, const uint8_t *src, size_t n_units, int unit, int RW, int W, bool swiglu) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_units; i += (size_t)gridDim.x * blockDim.x) {
        size_t row = i / RW;
        int word = (int)(i % RW), c = word / (4 * W), q = word % (4 * W) / W, w = word % W;
        size_t at = row / 16 * 16 * RW + tiled_index(tile_slot_of_row((int)(row % 16), swiglu), c, q, w, W);
        if (unit == 16) ((uint4 *)dst)[at] = ((const uint4 *)src)[i];
        else dst[at] = src[i];
    }
}

static int tile_units(HipState *s, uint8_t *data, size_t units, int unit, int RW, int W, bool swiglu, uint8_t *scratch, Error *err) {
    CHECK(hipMemcpyAsync(scratch, data, units * unit, hipMemcpyDeviceToDevice, s->stream), err);
    tile_experts_kernel<<<4096, 256, 0, s->stream>>>(data, scratch, units, unit, RW, W, swiglu);
    CHECK_LAUNCH(err);
    return 0;
}

/* Marks every layer's gate_up and down whose rows hold whole chunks as
 * tiled, and unless the bytes came from a peer's replica (tiled before it
 * was shared: export follows create) reorders them in place, through one
 * scratch buffer as large as the largest. */
static int tile_expert_weights(HipState *s, const Model *m, bool from_peer, Error *err) {
    const uint32_t n_stacks = 2 * m->config.n_layers; /* layer l's gate_up is stack 2l, its down 2l + 1 */
    auto stack = [&](uint32_t i) { return i % 2 == 0 ? &s->layers[i / 2].gate_up : &s->layers[i / 2].down; };
    auto words = [&](const WeightView *w) { return (size_t)m->config.n_experts * w->rows * row_words(*w); };
    size_t most = 0; /* bytes of the largest stack's values */
    for (uint32_t i = 0; i < n_stacks; i++) {
        WeightView *w = stack(i);
        if (!rows_hold_whole_chunks(*w) || w->rows % 16) continue; /* a tile must not straddle two experts */
        w->tiled = 1;
        most = words(w) * 16 > most ? words(w) * 16 : most;
    }
    if (from_peer || most == 0) return 0;
    uint8_t *scratch = nullptr;
    if (alloc(&scratch, most, err)) return -1;
    int rc = 0;
    for (uint32_t i = 0; i < n_stacks && rc == 0; i++) {
        const WeightView *w = stack(i);
        if (!w->tiled) continue;
        int RW = row_words(*w);
        bool swiglu = i % 2 == 0;
        rc = tile_units(s, (uint8_t *)w->data, words(w), 16, RW, lane_words(w->dtype), swiglu, scratch, err);
        if (rc == 0 && w->scales) rc = tile_units(s, (uint8_t *)w->scales, words(w), 1, RW, 1, swiglu, scratch, err);
    }
    hipError_t e = hipStreamSynchronize(s->stream);
    (void)hipFree(scratch);
    if (rc) return -1;
    if (e != hipSuccess) return error_set(err, "hip: reordering the expert weights failed: %s", hipGetErrorString(e));
    return 0;
}

/* Widens a vector tensor (norm, bias, sinks) to f32 on the host: from the
 * file, or for dummy weights ones (norms) and small random values. */
static void host_vector(const Model *m, const Tensor *t, float *out, int is_norm, uint64_t seed) {
    uint64_t n = tensor_n_elems(t), row = tensor_row_len(t);
    if (!m->virtual_weights) {
        for (uint64_t r = 0; r < n / row; r++) tensor_read_row(t, r, out + r * row);
        return;
    }
    for (uint64_t i = 0; i < n; i++)
        out[i] = is_norm ? 1.0f : ((float)(mix64(seed + i) >> 40) * (1.0f / 16777216.0f) - 0.5f) * 0.02f;
}

/* ---- loading the weights (issue 7) ---- */

#define LOAD_CHUNK ((size_t)256 << 20) /* bytes per copy; two streams alternate */

/* Bytes of the copy that starts at off. */
static size_t load_chunk_at(size_t len, size_t off) { return len - off < LOAD_CHUNK ? len - off : LOAD_CHUNK; }

/* The mapped file to the device, staged through two pinned buffers (the
 * rank's threads fill one while the other is copied). GETP_LOAD_PIN=1
 * instead pins the mapping where it lies (hipHostRegister): measured 16x
 * slower on an H200 node (10 s for 13.8 GB, the registration dominating),
 * and once it did not return at all, so it is opt-in. */
static int load_from_host(HipState *s, const Model *m, hipStream_t streams[2], char *used, size_t used_len, Error *err) {
    const uint8_t *src = m->map;
    size_t len = m->map_len;
    const char *pin = getenv("GETP_LOAD_PIN");
    int try_pin = pin && atoi(pin) > 0;
    hipError_t e = try_pin ? hipHostRegister((void *)src, len, hipHostRegisterReadOnly) : hipErrorNotSupported;
    if (e == hipSuccess) {
        for (size_t off = 0, i = 0; off < len; off += LOAD_CHUNK, i++) {
            size_t n = load_chunk_at(len, off);
            CHECK(hipMemcpyAsync(s->weights + off, src + off, n, hipMemcpyHostToDevice, streams[i % 2]), err);
        }
        CHECK(hipStreamSynchronize(streams[0]), err);
        CHECK(hipStreamSynchronize(streams[1]), err);
        CHECK(hipHostUnregister((void *)src), err);
        snprintf(used, used_len, "host (file pinned in place)");
        return 0;
    }
    const char *why = try_pin ? hipGetErrorString(e) : "";
    if (try_pin) (void)hipGetLastError(); /* the failed registration is handled here */
    uint8_t *stage[2] = {nullptr, nullptr};
    hipEvent_t done[2] = {nullptr, nullptr};
    int rc = 0;
    for (int b = 0; b < 2 && rc == 0; b++) {
        if (hipHostMalloc((void **)&stage[b], LOAD_CHUNK, hipHostMallocDefault) != hipSuccess || hipEventCreate(&done[b]) != hipSuccess)
            rc = error_set(err, "hip: no pinned staging memory for the weights");
    }
    for (size_t off = 0, i = 0; off < len && rc == 0; off += LOAD_CHUNK, i++) {
        size_t n = load_chunk_at(len, off);
        int b = (int)(i % 2);
        if (i >= 2 && hipEventSynchronize(done[b]) != hipSuccess) rc = error_set(err, "hip: staged weight copy failed");
        if (rc) break;
        memcpy_parallel(stage[b], src + off, n);
        if (hipMemcpyAsync(s->weights + off, stage[b], n, hipMemcpyHostToDevice, streams[b]) != hipSuccess ||
            hipEventRecord(done[b], streams[b]) != hipSuccess)
            rc = error_set(err, "hip: staged weight copy failed");
    }
    for (int b = 0; b < 2; b++) {
        if (rc == 0 && hipStreamSynchronize(streams[b]) != hipSuccess) rc = error_set(err, "hip: staged weight copy failed");
        if (done[b]) (void)hipEventDestroy(done[b]);
        if (stage[b]) (void)hipHostFree(stage[b]);
    }
    if (try_pin) snprintf(used, used_len, "host (staged: pinning in place failed: %.40s)", why);
    else snprintf(used, used_len, "host (staged through pinned buffers)");
    return rc;
}

/* Copies the replica of another GPU on this node (opened through its IPC
 * handle) over the peer link; 0 on success, 1 with *why when peer access is
 * not possible (the caller falls back to the host), -1 on errors. */
static int load_from_peer(HipState *s, const GpuLoad *load, hipStream_t streams[2], char *why, size_t why_len, Error *err) {
    int can = 0;
    if (load->refuse_peer) {
        snprintf(why, why_len, "refused (GETP_INJECT_FAULT)");
        return 1;
    }
    if (load->peer_device == s->device) {
        snprintf(why, why_len, "the peer replica is on this GPU");
        return 1;
    }
    if (hipDeviceCanAccessPeer(&can, s->device, load->peer_device) != hipSuccess || !can) {
        (void)hipGetLastError();
        snprintf(why, why_len, "GPU %d cannot access GPU %d", s->device, load->peer_device);
        return 1;
    }
    hipIpcMemHandle_t handle;
    memcpy(&handle, load->peer_handle, sizeof handle);
    void *src = nullptr;
    hipError_t e = hipIpcOpenMemHandle(&src, handle, hipIpcMemLazyEnablePeerAccess);
    if (e != hipSuccess) {
        (void)hipGetLastError();
        snprintf(why, why_len, "opening the IPC handle failed: %.40s", hipGetErrorString(e));
        return 1;
    }
    size_t len = s->model->map_len;
    for (size_t off = 0, i = 0; off < len; off += LOAD_CHUNK, i++) {
        size_t n = load_chunk_at(len, off);
        CHECK(hipMemcpyPeerAsync(s->weights + off, s->device, (const uint8_t *)src + off, load->peer_device, n, streams[i % 2]), err);
    }
    CHECK(hipStreamSynchronize(streams[0]), err);
    CHECK(hipStreamSynchronize(streams[1]), err);
    CHECK(hipIpcCloseMemHandle(src), err);
    return 0;
}

/* from_peer: the bytes came from a replica on another GPU (already tiled). */
static int load_weights(HipState *s, const Model *m, GpuLoad *load, bool *from_peer, Error *err) {
    GpuLoad host_only;
    memset(&host_only, 0, sizeof host_only);
    if (!load) load = &host_only;
    hipStream_t streams[2] = {nullptr, nullptr};
    CHECK(hipStreamCreateWithFlags(&streams[0], hipStreamNonBlocking), err);
    CHECK(hipStreamCreateWithFlags(&streams[1], hipStreamNonBlocking), err);
    double t0 = now_seconds();
    int rc = 1;
    char why[96] = "";
    if (load->method == LOAD_PEER) rc = load_from_peer(s, load, streams, why, sizeof why, err);
    *from_peer = rc == 0;
    if (rc == 0) {
        snprintf(load->used, sizeof load->used, "peer from GPU %d", load->peer_device);
    } else if (rc > 0) {
        rc = load_from_host(s, m, streams, load->used, sizeof load->used, err);
        if (rc == 0 && why[0]) { /* say why the peer path was not taken */
            char host[64];
            snprintf(host, sizeof host, "%.63s", load->used);
            snprintf(load->used, sizeof load->used, "%.63s; peer refused: %.72s", host, why);
        }
    }
    load->bytes = m->map_len;
    load->seconds = s->weights_seconds = now_seconds() - t0;
    (void)hipStreamDestroy(streams[0]);
    (void)hipStreamDestroy(streams[1]);
    return rc;
}

/* Norms, biases and sinks: widened to f32 in their own area. */
static bool is_vector(const Tensor *t) { return t->ndim == 1 || strstr(t->name, ".bias") != nullptr; }
/* Floats a vector takes in the vector area: rounded up to 4, so every
 * vector starts 16-byte aligned (kernels read them as float4). */
static size_t vector_span(const Tensor *t) { return (tensor_n_elems(t) + 3) & ~(size_t)3; }

static int upload_weights(HipState *s, const Model *m, GpuLoad *load, Error *err) {
    const ModelConfig *c = &m->config;
    if (alloc(&s->weights, m->map_len, err)) return -1;
    bool from_peer = false;
    if (!m->virtual_weights) {
        if (load_weights(s, m, load, &from_peer, err) != 0) return -1;
    } else {
        uint64_t seed = 1;
        const Tensor *mats[] = {m->weights.embedding, m->weights.unembedding};
        for (int i = 0; i < 2; i++)
            if (fill_matrix_random(s, mats[i], seed++ << 32, err)) return -1;
        for (uint32_t l = 0; l < c->n_layers; l++) {
            const LayerWeights *L = &m->weights.layers[l];
            const Tensor *lm[] = {L->wq, L->wk, L->wv, L->wo, L->router_w, L->gate_up_w, L->down_w};
            for (int i = 0; i < 7; i++)
                if (fill_matrix_random(s, lm[i], seed++ << 32, err)) return -1;
        }
        CHECK(hipStreamSynchronize(s->stream), err);
    }
    /* vectors: every 1-D tensor and the biases, widened into one f32 area */
    size_t total = 0;
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const Tensor *t = &m->tensors[i];
        if (is_vector(t)) total += vector_span(t);
    }
    float *host = (float *)xmalloc(total * sizeof(float));
    if (alloc(&s->vectors, total * sizeof(float), err)) {
        free(host);
        return -1;
    }
    size_t at = 0;
    const float **where = (const float **)xcalloc(m->n_tensors, sizeof *where);
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        const Tensor *t = &m->tensors[i];
        if (!is_vector(t)) continue;
        int is_norm = strstr(t->name, "norm") != nullptr;
        host_vector(m, t, host + at, is_norm, 1000003ull * (i + 1));
        where[i] = s->vectors + at;
        at += vector_span(t);
    }
    hipError_t e = hipMemcpy(s->vectors, host, total * sizeof(float), hipMemcpyHostToDevice);
    free(host);
    if (e != hipSuccess) {
        free(where);
        return error_set(err, "hip: copying the vectors failed: %s", hipGetErrorString(e));
    }
#define VEC(t) where[(t) - m->tensors]
    s->emb = view(s, m->weights.embedding);
    s->unemb = view(s, m->weights.unembedding);
    s->final_norm = VEC(m->weights.final_norm);
    s->layers = (LayerDev *)xcalloc(c->n_layers, sizeof(LayerDev));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const LayerWeights *W = &m->weights.layers[l];
        LayerDev *L = &s->layers[l];
        L->wq = view(s, W->wq), L->wk = view(s, W->wk), L->wv = view(s, W->wv), L->wo = view(s, W->wo);
        L->router = view(s, W->router_w), L->gate_up = view(s, W->gate_up_w), L->down = view(s, W->down_w);
        L->attn_norm = VEC(W->attn_norm), L->bq = VEC(W->bq), L->bk = VEC(W->bk), L->bv = VEC(W->bv), L->bo = VEC(W->bo);
        L->sinks = VEC(W->sinks), L->mlp_norm = VEC(W->mlp_norm), L->router_b = VEC(W->router_b);
        L->gate_up_b = VEC(W->gate_up_b), L->down_b = VEC(W->down_b);
    }
#undef VEC
    free(where);
    return tile_expert_weights(s, m, from_peer, err);
}

/* ---- KV cache ---- */

/* Positions a layer keeps per slot: all of them, or for sliding layers the
 * window plus the most one call can add (so a call never overwrites a
 * position one of its own rows still needs). */
static int layer_ring(const ModelConfig *c, int l, int ctx) {
    if (!c->layer_sliding[l]) return ctx;
    long ring = (long)c->sliding_window + MAX_ROWS;
    return ring < ctx ? (int)ring : ctx;
}

static int alloc_kv(HipState *s, Backend *b, size_t budget, Error *err) {
    const ModelConfig *c = &s->c;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, per_slot = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) per_slot += (size_t)layer_ring(c, l, b->max_context) * kvd * 2 * sizeof(float);
    if (budget == 0) {
        size_t free_b = 0, total_b = 0;
        CHECK(hipMemGetInfo(&free_b, &total_b), err);
        size_t reserve = (size_t)1 << 30;
        if (total_b / 20 > reserve) reserve = total_b / 20;
        budget = free_b > reserve ? free_b - reserve : 0;
    }
    size_t fit = budget / per_slot;
    if (fit < 1)
        return error_set(err, "hip backend: one sequence of %d positions needs %.2f GiB of KV cache, only %.2f GiB available (lower --ctx, or set --kv-mem)",
                         b->max_context, per_slot / 1073741824.0, budget / 1073741824.0);
    if ((size_t)b->max_slots > fit) b->max_slots = (int)fit;
    s->kv_bytes = per_slot * b->max_slots;
    if (alloc(&s->kv, s->kv_bytes, err)) return -1;
    float *at = s->kv;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        LayerCache *lc = &s->layers[l].cache;
        lc->ring = layer_ring(c, l, b->max_context);
        lc->window = c->layer_sliding[l] ? (int)c->sliding_window : 0;
        size_t n = (size_t)b->max_slots * lc->ring * kvd;
        lc->k = at;
        lc->v = at + n;
        at += 2 * n;
    }
    return 0;
}

static int hip_init(HipState *s, Backend *b, const Model *m, size_t kv_budget, GpuLoad *load, Error *err) {
    const ModelConfig *c = &m->config;
    size_t R = MAX_ROWS, H = c->hidden, QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim;
    size_t I = c->intermediate, K = c->experts_per_token, V = c->vocab_size, E = c->n_experts;
    if (H % 32 || QD % 32 || I % 32)
        return error_set(err, "hip backend: hidden, heads x head_dim and intermediate must be multiples of 32");
    if (H > ROW_MAX_HIDDEN) return error_set(err, "hip backend: hidden size %zu is above %d", H, ROW_MAX_HIDDEN);
    if (K > 8 || E > 4 * WARP) return error_set(err, "hip backend: at most 8 experts per token and 128 experts (the model has %zu of %zu)", K, E);
    hipDeviceProp_t prop;
    CHECK(hipGetDeviceProperties(&prop, s->device), err);
    s->sm_count = prop.multiProcessorCount;
    CHECK(hipStreamCreateWithFlags(&s->stream, hipStreamNonBlocking), err);
    if (upload_weights(s, m, load, err)) return -1;
    float *inv = (float *)xmalloc(c->head_dim / 2 * sizeof(float));
    rope_yarn_tables(c, inv, &s->concentration);
    int rc = alloc(&s->inv_freq, c->head_dim / 2 * 4, err);
    if (rc == 0) {
        hipError_t e = hipMemcpy(s->inv_freq, inv, c->head_dim / 2 * 4, hipMemcpyHostToDevice);
        if (e != hipSuccess) rc = error_set(err, "hip: copying RoPE tables failed: %s", hipGetErrorString(e));
    }
    free(inv);
    if (rc) return -1;
    /* q, k and v run as one launch: split them like one matrix */
    if (resident_matmul_blocks(s, s->layers[0].wq.dtype, err)) return -1;
    s->splits_q = s->splits_k = s->splits_v = choose_splits(s, (int)(QD + 2 * KVD), (int)H);
    s->splits_o = choose_splits(s, (int)H, (int)QD);
    const size_t input_bytes = step_input_bytes((int)R, (int)R); /* the largest call's */
    struct {
        void *p;
        size_t bytes;
    } bufs[] = {{&s->d_input, input_bytes}, {&s->d_tokens, R * 4},
                {&s->x, R * H * 4}, {&s->xn, R * H * 4}, {&s->q, R * QD * 4}, {&s->attn, R * QD * 4},
                {&s->part_q, s->splits_q * R * QD * 4}, {&s->part_k, s->splits_k * R * KVD * 4}, {&s->part_v, s->splits_v * R * KVD * 4},
                {&s->part_o, s->splits_o * R * H * 4}, {&s->act, R * K * I * 4}, {&s->expert_out, DOWN_SPLITS * R * K * H * 4},
                {&s->logits, R * V * 4}, {&s->prob, R * V * 4}, {&s->argmax_part, R * ARGMAX_SLICES * 8}, {&s->topk_w, R * K * 4}, {&s->topk_idx, R * K * 4},
                {&s->pairs, R * K * 4}, {&s->routing, (1 + 3 * E) * 4}, {&s->counter, 4}};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (alloc(bufs[i].p, bufs[i].bytes, err)) return -1;
    CHECK(hipMemset(s->counter, 0, 4), err);
    CHECK(hipMemset(s->d_input, 0, input_bytes), err);
    for (int i = 0; i < 2; i++) {
        CHECK(hipHostMalloc((void **)&s->h_input[i], input_bytes, hipHostMallocDefault), err);
        CHECK(hipHostMalloc((void **)&s->h_tokens[i], R * sizeof(int), hipHostMallocDefault), err);
        CHECK(hipEventCreateWithFlags(&s->call_done[i], hipEventDisableTiming), err);
    }
    size_t shared = post_attention_shared(H, E, R * K);
    if (shared > 48 * 1024) CHECK(hipFuncSetAttribute((const void *)post_attention_kernel, hipFuncAttributeMaxDynamicSharedMemorySize, (int)shared), err);
    if (alloc_kv(s, b, kv_budget, err) || block_trace_init(s, err)) return -1;
    snprintf(b->info, sizeof b->info, "%.40s, KV cache %.2f GiB for %d sequences of %d positions; weights %.1f s", prop.name,
             s->kv_bytes / 1073741824.0, b->max_slots, b->max_context, s->weights_seconds);
    return 0;
}

extern "C" int hip_device_count(void) {
    int n = 0;
    return hipGetDeviceCount(&n) == hipSuccess ? n : 0;
}

extern "C" int hip_device_pci_bus_id(int device, char *buf, int len) {
    return hipDeviceGetPCIBusId(buf, len, device) == hipSuccess ? 0 : -1;
}

extern "C" int hip_backend_export_weights(Backend *b, unsigned char handle[WEIGHTS_HANDLE_BYTES], Error *err) {
    static_assert(sizeof(hipIpcMemHandle_t) <= WEIGHTS_HANDLE_BYTES, "IPC handle size");
    HipState *s = (HipState *)b->impl;
    hipIpcMemHandle_t h;
    CHECK(hipIpcGetMemHandle(&h, s->weights), err);
    memset(handle, 0, WEIGHTS_HANDLE_BYTES);
    memcpy(handle, &h, sizeof h);
    return 0;
}

extern "C" Backend *hip_backend_create_if_available(const Model *m, int max_slots, int max_context, int device, size_t kv_bytes, GpuLoad *load,
                                                    Error *err) {
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
    s->prof.on = getenv("GETP_PROFILE") && atoi(getenv("GETP_PROFILE")) > 0;
    s->no_graphs = s->prof.on || getenv("GETP_NO_GRAPHS");
    s->serial = s->prof.on; /* the profile's events are read after each call */
    Backend *b = (Backend *)xcalloc(1, sizeof *b);
    b->ops = &HIP_OPS;
    b->model = m;
    b->max_slots = max_slots < 1 ? 1 : max_slots;
    b->max_context = max_context;
    b->max_rows = MAX_ROWS;
    b->impl = s;
    if (hip_init(s, b, m, kv_bytes, load, err) != 0) {
        hip_destroy(b);
        return NULL;
    }
    return b;
}
