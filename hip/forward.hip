// forward.hip - the launch sequence of one forward call, layer by layer, as
// src/cpu_backend.c's forward_layer computes it: one launcher per operation
// (each kernel family's header: its kernels, then its launcher and the
// early-start contract of its launches). The host only copies the rows in
// and the token ids (or logits) out (calls.hip).
#define GETP_BLOCK_TRACE_RECORDER 1 /* the block tracer records these kernels */
#include "hip_state.h"

#include "attention.h"
#include "embed.h"
#include "matmul.h"
#include "moe_combine.h"
#include "moe_persistent.h"
#include "moe_route.h"
#include "qkv_rope.h"
#include "sample.h"

/* A launcher call, then the profile's mark of its end (GETP_PROFILE). */
#define LAUNCH(call, kind)          \
    do {                            \
        if ((call) != 0) return -1; \
        profile_mark(s, kind);      \
    } while (0)

/* Everything of one forward call after the rows are on the device: T rows,
 * n_out of which want logits; with sample (STEP_*), their tokens too, and
 * with STEP_LOGPROBS the logprobs of the rows that ask; with fused_rope
 * (calls.hip's fused_rope_step) q/k/v finished in the attention kernel. */
int forward_enqueue_step(HipState *s, int T, int n_out, int sample, bool fused_rope, Error *err) {
    StepRows rows = step_rows(s->d_input, T, s->d_tokens);
    profile_mark(s, -1); /* the start */
    LAUNCH(launch_embed(s, rows, T, err), P_EMBED);
    for (int l = 0; l < (int)s->c.n_layers; l++) {
        const LayerDev *L = &s->layers[l];
        s->prof.layer = l; /* the profile counts this layer's work */
        LAUNCH(launch_qkv_matmul(s, L, T, err), P_QKV_MM);
        if (!fused_rope) LAUNCH(launch_qkv_rope(s, L, rows, T, err), P_QKV_FINISH); /* else in the attention kernel */
        LAUNCH(launch_attention(s, L, rows, T, fused_rope, err), P_ATTENTION);
        LAUNCH(launch_o_matmul(s, L, T, err), P_O_MM);
        LAUNCH(launch_moe_route(s, L, T, err), P_POST_ATTN);
        if (moe_tail_applies(s, L, T)) {
            LAUNCH(launch_moe_tail(s, l, rows, T, err), P_MOE_TAIL); /* the next three in one persistent kernel */
            continue;
        }
        LAUNCH(launch_gate_up(s, L, T, err), P_GATE_UP);
        LAUNCH(launch_down(s, L, T, err), P_DOWN);
        LAUNCH(launch_moe_combine(s, l, rows, T, err), P_COMBINE);
    }
    if (n_out == 0) return 0;
    LAUNCH(launch_unembedding(s, n_out, err), P_UNEMBED);
    if (sample) LAUNCH(launch_sample(s, T, n_out, sample == STEP_LOGPROBS, err), P_SAMPLE);
    return 0;
}

int forward_init(HipState *s, Error *err) {
    const ModelConfig *c = &s->c;
    size_t R = s->max_rows, H = c->hidden, QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim;
    size_t I = c->intermediate, K = c->experts_per_token, V = c->vocab_size, E = c->n_experts;
    /* q, k and v run as one launch: split them like one matrix */
    if (resident_matmul_blocks(s, s->layers[0].wq.dtype, err)) return -1;
    s->splits_q = s->splits_k = s->splits_v = choose_splits(s, (int)(QD + 2 * KVD), (int)H);
    s->splits_o = choose_splits(s, (int)H, (int)QD);
    struct {
        void *p;
        size_t bytes;
    } bufs[] = {{&s->x, R * H * 4}, {&s->xn, R * H * 4}, {&s->q, R * QD * 4}, {&s->attn, R * QD * 4},
                {&s->part_q, s->splits_q * R * QD * 4}, {&s->part_k, s->splits_k * R * KVD * 4}, {&s->part_v, s->splits_v * R * KVD * 4},
                {&s->part_o, s->splits_o * R * H * 4}, {&s->act, R * K * I * 4}, {&s->expert_out, DOWN_SPLITS * R * K * H * 4},
                {&s->logits, R * V * 4}, {&s->prob, R * V * 4}, {&s->argmax_part, R * ARGMAX_SLICES * 8}, {&s->topk_w, R * K * 4}, {&s->topk_idx, R * K * 4},
                {&s->pairs, R * K * 4}, {&s->routing, (1 + 3 * E + 1 + expert_list_length(s, (int)R)) * 4}, {&s->counter, 4}, {&s->moe_counters, (E + 2) * 4},
                {&s->row_logits, DECODE_ROWS * E * 4}, {&s->row_counters, DECODE_ROWS * 4}};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (device_alloc(bufs[i].p, bufs[i].bytes, err)) return -1;
    CHECK(hipMemset(s->counter, 0, 4), err);
    CHECK(hipMemset(s->moe_counters, 0, (E + 2) * 4), err);
    CHECK(hipMemset(s->row_counters, 0, DECODE_ROWS * 4), err);
    if (s->persistent_moe && moe_tail_init(s, err)) return -1;
    size_t shared = post_attention_shared(H, E, R * K, false), spread = post_attention_shared(H, E, (size_t)DECODE_ROWS * K, true);
    shared = spread > shared ? spread : shared; /* the largest launch's */
    if (shared > 48 * 1024) CHECK(hipFuncSetAttribute((const void *)post_attention_kernel, hipFuncAttributeMaxDynamicSharedMemorySize, (int)shared), err);
    return 0;
}

void forward_free(HipState *s) {
    void *bufs[] = {s->x, s->xn, s->q, s->attn, s->part_q, s->part_k, s->part_v, s->part_o, s->act, s->expert_out, s->logits,
                    s->prob, s->argmax_part, s->topk_w, s->topk_idx, s->pairs, s->routing, s->counter, s->moe_counters, s->row_logits, s->row_counters};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) (void)hipFree(bufs[i]); /* teardown: nothing useful can be done about a failure */
}

#ifdef GETP_BLOCK_TRACE_ON
int forward_set_block_trace(const BlockTraceBuffer *trace, Error *err) {
    CHECK(hipMemcpyToSymbol(block_trace_buffer, trace, sizeof *trace), err);
    return 0;
}
#endif
