/* hip_state.h - what the GPU backend keeps for one device (HipState), and
 * the host-side functions its files share. A reader's map of hip/:
 *
 *   hip_backend.hip      create, init and destroy; the extern "C" entry points
 *   calls.hip            one forward call: rows in, a graph or the launches,
 *                        tokens or logits out; submit/collect (backend.h)
 *   forward.hip          the launch sequence of one step, layer by layer
 *   weights.hip          the weights on the device: host or peer load,
 *                        dummy weights, norms and biases, expert tiling
 *   kv_cache.hip         the KV cache: its layout, allocation and paging
 *   instrumentation.hip  GETP_PROFILE and the block tracer (block_trace.h)
 *
 * Each kernel family is one header, its kernels then its launcher, included
 * only by forward.hip: embed.h, qkv_rope.h, attention.h, matmul.h (with
 * matmul_load.h), moe_route.h, moe_combine.h, sample.h; rows.h holds the
 * row helpers they share; block_counters.h the counters between the blocks
 * of a cooperative launch (a persistent kernel's, issue 25; not used by the
 * forward pass yet). The math they all follow is src/cpu_backend.c's.
 * unit_tests.hip checks the building blocks (GPU and emulator); emu/ is
 * the CPU emulator that runs all of hip/ without a GPU (make test-emu). */
#ifndef GETP_HIP_STATE_H
#define GETP_HIP_STATE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block_trace.h"
#include "hip_compat.h"
#include "step_types.h"
#include "weight_layout.h"

extern "C" {
#include "../src/backend.h"
#include "../src/kv_pages.h"
#include "../src/step_work.h"
}

/* Every runtime call is checked: a failure returns -1 with the call, the
 * runtime's reason and the place in err. */
#define CHECK(call, err)                                                                                          \
    do {                                                                                                          \
        hipError_t e_ = (call);                                                                                   \
        if (e_ != hipSuccess) return error_set(err, "hip: %s failed: %s (%s:%d)", #call, hipGetErrorString(e_), \
                                               __FILE__, __LINE__);                                               \
    } while (0)
#define CHECK_LAUNCH(err) CHECK(hipGetLastError(), err)

#define MAX_ROWS 1024    /* rows one forward call accepts; GETP_MAX_ROWS=N (1-4096) sets it for a run (A/B) */
#define MAX_SLOT_ROWS 256 /* rows of one slot in one call (a prompt's chunk): a sliding layer keeps its window and this many positions more */
#define MAX_GRAPHS 300 /* decode graphs kept, one per batch size, STEP_* kind and fused_rope_step */

/* One layer's weights on the device (views into HipState's weight areas). */
struct LayerDev {
    WeightView wq, wk, wv, wo, router, gate_up, down;
    const float *attn_norm, *bq, *bk, *bv, *bo, *sinks, *mlp_norm, *router_b, *gate_up_b, *down_b;
    LayerCache cache;
};

/* What a step computes after the logits (forward_enqueue_step's `sample`,
 * part of a graph's key): nothing more (the caller copies the logits), the
 * sampled tokens, or those and the logprobs of the rows that ask (one more
 * kernel and copy, which only calls with such a row pay for). */
enum { STEP_LOGITS = 0, STEP_TOKENS = 1, STEP_LOGPROBS = 2 };

struct GraphEntry {
    int n_rows, sample, fused_rope;
    hipGraphExec_t exec;
};

/* GETP_PROFILE=1: time each kind of launch with events (graphs off) and
 * print the totals when the backend is destroyed (instrumentation.hip). */
enum { P_EMBED, P_QKV_MM, P_QKV_FINISH, P_ATTENTION, P_O_MM, P_POST_ATTN, P_GATE_UP, P_DOWN, P_COMBINE, P_MOE_TAIL, P_UNEMBED, P_SAMPLE, P_KINDS };
#define PROFILE_EVENTS 1024
struct Profile {
    int on, n;
    hipEvent_t ev[PROFILE_EVENTS];
    int kind[PROFILE_EVENTS];
    double ms[P_KINDS];
    long calls[P_KINDS];
    /* the work of the launches timed (src/step_work.h), for the roofline
     * columns: the step's rows, rows wanting logits, the layer being
     * enqueued and the keys its rows' attention reads (full, sliding layers) */
    double flops[P_KINDS], bytes[P_KINDS];
    int rows, n_out, layer;
    long keys[2];
    char device[64];
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
    KvPages pages;              /* which pages of the full layers' pool each slot holds (kv_cache.hip) */
    int *d_pages;               /* the same table on the device, [slot][pages_per_slot] */
    LayerCache *d_full_caches;  /* the full layers' caches, for copy_prefix's kernel */
    int n_full_layers;
    float *inv_freq, concentration;
    int splits_q, splits_k, splits_v, splits_o;
    /* per step */
    int *d_input; /* a call's T rows and specs, packed: see step_rows */
    int *d_tokens; /* the last sampling call's tokens (fed back: TOKEN_OF_PREVIOUS) */
    TokenLogprobs *d_logprobs; /* [max_rows]: the last STEP_LOGPROBS call's, for the rows that asked */
    /* Host side of a call, twice: a call may be built while the one before
     * it is in flight (submit_sample), whose copies read its own buffers.
     * h_input[buf] keeps the call's specs until it is collected. */
    int *h_input[2], *h_tokens[2];
    TokenLogprobs *h_logprobs[2];
    hipEvent_t call_done[2];
    int call_n_out[2], call_rows[2], call_logprobs[2]; /* call_logprobs: it was a STEP_LOGPROBS call */
    long submitted, collected; /* calls; buffer = count % 2 */
    int fed_back_n;            /* tokens the last submitted call sampled (0: it did not) */
    int serial;                /* profiling or block tracing: each call finishes before the next is built */
    float *x, *q, *part_q, *part_k, *part_v, *part_o, *expert_out, *logits, *prob, *topk_w;
    int2 *argmax_part; /* [row][ARGMAX_SLICES] (value bits, id) */
    uint4 *xn, *attn, *act; /* matmul inputs, packed (pack_split4) */
    int *topk_idx, *pairs, *routing, *counter;
    float *row_logits; /* moe_route's router logits of a decode-sized step, [DECODE_ROWS][n_experts], when its blocks share a row */
    int *row_counters; /* and the blocks of each row done with them (DECODE_ROWS; zero between launches) */
    int *moe_counters;   /* the persistent experts kernel's (moe_persistent.h): n_experts + 2, zero between launches */
    int moe_tail_blocks; /* GETP_PERSISTENT_MOE=1 or 2: its blocks (all resident); 0: off */
    int persistent_moe;   /* GETP_PERSISTENT_MOE=1 or 2 (moe_persistent.h, A/B) */
    int expert_tile_list; /* GETP_EXPERT_TILES=1 (the default; 0: off, A/B): the expert matmuls at several token tiles walk a list of their tiles */
    int expert_gemm;      /* GETP_EXPERT_GEMM=1 (the default; 0: off, 2, 3: 32, 64 tokens a block, A/B): with the tile list, the expert matmuls at several token tiles as tiled_gemm.h's GEMM */
    int x_hi_only;        /* GETP_X_HI_ONLY (issue 23 item 6, opt-in; ledger L170): activations enter the mmas as bf16 (their hi) alone: 1 every matmul, 2 the experts', 3 the experts' in compact rows where tiled_gemm.h runs */
    int fused_rope;      /* GETP_FUSED_ROPE=1 (an experiment, off): decode-sized steps of distinct slots finish q/k/v in the attention kernel (attention.h) */
    int router_block_experts; /* GETP_ROUTER_BLOCK_EXPERTS (default ROUTER_BLOCK_EXPERTS, step_types.h; 0: off): a decode-sized row's router over blocks of this many experts */
    int dense_gemm;       /* GETP_DENSE_GEMM=1 (the default; 0: matmul_kernel; 2: from DECODE_ROWS, not DENSE_GEMM_MIN_ROWS): the dense matmuls of large steps (BF16) by tiled_gemm.h, their splits summed in the block (ledger L169) */
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
    int attention_per_head; /* GETP_ATTENTION_PER_HEAD=1: attention_kernel at every step size (A/B) */
    int mm_wgmma;           /* GETP_MM_WGMMA=1 or 2: the experts' large-step matmuls by warpgroup_mma (A/B) */
    int max_rows;           /* rows one call accepts: MAX_ROWS, or GETP_MAX_ROWS (A/B); the buffers are sized by it */
    int max_slot_rows;      /* rows of one slot in one call: the least of max_rows and MAX_SLOT_ROWS; the sliding rings are sized by it */
    int *slot_span;         /* [2 * slots]: run_step's first and last position of each slot in the call (host scratch) */
};

static inline unsigned cdiv(size_t n, size_t d) { return (unsigned)((n + d - 1) / d); }

/* A number a variable sets for a run (GETP_MAX_ROWS, an experiment's
 * switch such as GETP_EXPERT_TILES): its value from lo to hi, dflt when
 * unset; -1 when it is set to anything else (lo >= 0). */
static inline int env_setting(const char *name, int dflt, int lo, int hi) {
    const char *e = getenv(name);
    if (!e) return dflt;
    char *end;
    long n = strtol(e, &end, 10);
    return *e && !*end && n >= lo && n <= hi ? (int)n : -1;
}
#define MAX_ROWS_SETTING() env_setting("GETP_MAX_ROWS", MAX_ROWS, 1, 4096)
/* rows of one slot in one call for a call of max_rows rows */
static inline int slot_rows_for(int max_rows) { return max_rows < MAX_SLOT_ROWS ? max_rows : MAX_SLOT_ROWS; }

static inline int device_alloc(void *p, size_t bytes, Error *err) {
    CHECK(hipMalloc((void **)p, bytes ? bytes : 1), err);
    return 0;
}

/* A call's input, packed so that one small copy brings it (at batch 1, 28
 * bytes): for T rows slot[T], pos[T], token[T], out_row[T], then the
 * sampled rows' SampleSpecs. A graph is captured per T, so the offsets are
 * fixed within it. */
static inline StepRows step_rows(const int *input, int T, const int *fed_back) { return {input, input + T, input + 2 * T, input + 3 * T, fed_back}; }
static inline SampleSpec *step_specs(int *input, int T) { return (SampleSpec *)(input + 4 * T); }
static inline size_t step_input_bytes(int T, int n_specs) { return 4 * (size_t)T * sizeof(int) + (size_t)n_specs * sizeof(SampleSpec); }

/* forward.hip */
int forward_init(HipState *s, Error *err); /* matmul splits, activation buffers, kernel attributes */
int forward_enqueue_step(HipState *s, int T, int n_out, int sample, bool fused_rope, Error *err);
void forward_free(HipState *s);
#ifdef GETP_BLOCK_TRACE_ON
int forward_set_block_trace(const BlockTraceBuffer *trace, Error *err);
#endif

/* calls.hip */
int calls_init(HipState *s, int max_slots, Error *err);
int no_call_in_flight(const HipState *s, Error *err); /* -1 with err when a submitted call is not collected */
int calls_submit(Backend *b, const BatchRow *rows, int T, const SampleSpec *spec, Error *err);
int calls_collect(Backend *b, int *tokens, TokenLogprobs *logprobs, Error *err);
int calls_forward(Backend *b, const BatchRow *rows, int T, float *logits, Error *err);
void calls_free(HipState *s);

/* weights.hip */
int weights_upload(HipState *s, const Model *m, GpuLoad *load, Error *err);

/* kv_cache.hip */
int kv_cache_alloc(HipState *s, Backend *b, size_t budget, Error *err);
int kv_cache_copy_prefix(Backend *b, int dst_slot, int src_slot, int n_positions, Error *err); /* backend.h's copy_prefix */
int kv_cache_reserve(Backend *b, int slot, int n_positions, Error *err);                      /* backend.h's reserve */
int kv_cache_holds(const HipState *s, int slot, int pos); /* 1: the slot holds position pos */
void kv_cache_free(HipState *s);

/* instrumentation.hip */
void profile_init(HipState *s);
void profile_step(HipState *s, const BatchRow *rows, int T, int n_out); /* a step's rows, for its work */
void profile_mark(HipState *s, int kind); /* the end of a launch of `kind` (the previous mark is its start) */
void profile_collect(HipState *s);        /* after a call's wait */
void profile_report(HipState *s);         /* the totals, at destroy */
int block_trace_init(HipState *s, Error *err);
int block_trace_begin(HipState *s, Error *err);
int block_trace_end(HipState *s, Error *err);
void block_trace_free(HipState *s);

#endif
