#include "model_layout.h"

#include <stdio.h>
#include <stdlib.h>

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_f32(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}

void layout_read_config(const uint8_t *h, ModelConfig *c) {
    const uint8_t *p = h + LAYOUT_CONFIG_OFFSET;
    uint32_t *u[12] = {&c->vocab_size, &c->hidden, &c->n_layers, &c->n_heads, &c->n_kv_heads, &c->head_dim,
                       &c->n_experts, &c->experts_per_token, &c->intermediate, &c->max_context, &c->initial_context,
                       &c->sliding_window};
    for (int i = 0; i < 12; i++) *u[i] = read_u32le(p + 4 * i);
    float *f[6] = {&c->rope_theta, &c->rope_scaling_factor, &c->rope_beta_fast, &c->rope_beta_slow, &c->swiglu_limit, &c->rms_eps};
    for (int i = 0; i < 6; i++) *f[i] = read_f32le(p + 48 + 4 * i);
    memcpy(c->layer_sliding, p + 72, MODEL_MAX_LAYERS);
}

void layout_write_config(uint8_t *h, const ModelConfig *c) {
    uint8_t *p = h + LAYOUT_CONFIG_OFFSET;
    uint32_t u[12] = {c->vocab_size, c->hidden, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
                      c->n_experts, c->experts_per_token, c->intermediate, c->max_context, c->initial_context,
                      c->sliding_window};
    for (int i = 0; i < 12; i++) put_u32(p + 4 * i, u[i]);
    float f[6] = {c->rope_theta, c->rope_scaling_factor, c->rope_beta_fast, c->rope_beta_slow, c->swiglu_limit, c->rms_eps};
    for (int i = 0; i < 6; i++) put_f32(p + 48 + 4 * i, f[i]);
    memcpy(p + 72, c->layer_sliding, MODEL_MAX_LAYERS);
}

static void add(TensorSpec *s, uint32_t *n, int expert, uint32_t ndim, uint64_t d0, uint64_t d1, uint64_t d2, const char *fmt, int layer) {
    TensorSpec *t = &s[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->expert_matrix = expert;
}

/* Tensors per decoder layer in the list below. */
#define LAYER_TENSORS 17

TensorSpec *layout_tensor_specs(const ModelConfig *c, uint32_t *n_out) {
    uint64_t H = c->hidden, V = c->vocab_size, E = c->n_experts, I = c->intermediate;
    uint64_t Q = (uint64_t)c->n_heads * c->head_dim, KV = (uint64_t)c->n_kv_heads * c->head_dim;
    TensorSpec *s = xcalloc(3 + (size_t)LAYER_TENSORS * c->n_layers, sizeof *s);
    uint32_t n = 0;
    add(s, &n, 0, 2, V, H, 0, "embedding", 0);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        int L = (int)l;
        add(s, &n, 0, 1, H, 0, 0, "layers.%d.attn_norm", L);
        add(s, &n, 0, 2, Q, H, 0, "layers.%d.attn.q.weight", L);
        add(s, &n, 0, 1, Q, 0, 0, "layers.%d.attn.q.bias", L);
        add(s, &n, 0, 2, KV, H, 0, "layers.%d.attn.k.weight", L);
        add(s, &n, 0, 1, KV, 0, 0, "layers.%d.attn.k.bias", L);
        add(s, &n, 0, 2, KV, H, 0, "layers.%d.attn.v.weight", L);
        add(s, &n, 0, 1, KV, 0, 0, "layers.%d.attn.v.bias", L);
        add(s, &n, 0, 2, H, Q, 0, "layers.%d.attn.o.weight", L);
        add(s, &n, 0, 1, H, 0, 0, "layers.%d.attn.o.bias", L);
        add(s, &n, 0, 1, c->n_heads, 0, 0, "layers.%d.attn.sinks", L);
        add(s, &n, 0, 1, H, 0, 0, "layers.%d.mlp_norm", L);
        add(s, &n, 0, 2, E, H, 0, "layers.%d.router.weight", L);
        add(s, &n, 0, 1, E, 0, 0, "layers.%d.router.bias", L);
        add(s, &n, 1, 3, E, 2 * I, H, "layers.%d.experts.gate_up.weight", L);
        add(s, &n, 0, 2, E, 2 * I, 0, "layers.%d.experts.gate_up.bias", L);
        add(s, &n, 1, 3, E, H, I, "layers.%d.experts.down.weight", L);
        add(s, &n, 0, 2, E, H, 0, "layers.%d.experts.down.bias", L);
    }
    add(s, &n, 0, 1, H, 0, 0, "norm", 0);
    add(s, &n, 0, 2, V, H, 0, "unembedding", 0);
    *n_out = n;
    return s;
}

DType layout_tensor_dtype(const TensorSpec *s, DType dense, DType experts) {
    if (s->expert_matrix) return experts;
    size_t len = strlen(s->name);
    int is_bias = len > 5 && strcmp(s->name + len - 5, ".bias") == 0;
    if (s->ndim == 1 || is_bias) return DTYPE_F32;
    return dense;
}

static uint64_t align_up(uint64_t x) { return (x + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN; }

Tensor *layout_place_tensors(const ModelConfig *c, DType dense, DType experts, uint32_t *n_out, uint64_t *header_len,
                             uint64_t *file_len) {
    uint32_t n;
    TensorSpec *specs = layout_tensor_specs(c, &n);
    Tensor *t = xcalloc(n, sizeof *t);
    uint64_t header = LAYOUT_FIXED_HEADER + (uint64_t)n * LAYOUT_DIR_ENTRY, offset = align_up(header);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(t[i].name, specs[i].name, MODEL_NAME_LEN);
        t[i].dtype = layout_tensor_dtype(&specs[i], dense, experts);
        t[i].ndim = specs[i].ndim;
        uint64_t elems = 1;
        for (uint32_t d = 0; d < specs[i].ndim; d++) elems *= t[i].shape[d] = specs[i].shape[d];
        t[i].offset = offset;
        t[i].nbytes = dtype_nbytes(t[i].dtype, elems);
        offset = align_up(offset + t[i].nbytes);
    }
    free(specs);
    *n_out = n;
    *header_len = header;
    *file_len = offset;
    return t;
}

int layout_bind_weights(Model *m, char *msg, size_t msg_len) {
    uint32_t n;
    TensorSpec *specs = layout_tensor_specs(&m->config, &n);
    const Tensor **found = xcalloc(n, sizeof *found);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const TensorSpec *s = &specs[i];
        const Tensor *t = model_find_tensor(m, s->name);
        if (!t) {
            snprintf(msg, msg_len, "missing tensor '%s'", s->name);
            rc = -1;
            break;
        }
        int shape_ok = t->ndim == s->ndim;
        for (uint32_t d = 0; shape_ok && d < s->ndim; d++) shape_ok = t->shape[d] == s->shape[d];
        if (!shape_ok) {
            snprintf(msg, msg_len, "tensor '%s' has the wrong shape for the config (expected [%llu,%llu,%llu] of rank %u)", s->name,
                     (unsigned long long)s->shape[0], (unsigned long long)s->shape[1], (unsigned long long)s->shape[2], s->ndim);
            rc = -1;
            break;
        }
        if (t->dtype == DTYPE_MXFP4 && !s->expert_matrix) {
            snprintf(msg, msg_len, "tensor '%s' may not be MXFP4 (only expert matrices are)", s->name);
            rc = -1;
            break;
        }
        found[i] = t;
    }
    if (rc == 0) {
        ModelWeights *w = &m->weights;
        uint32_t k = 0;
        w->embedding = found[k++];
        w->layers = xcalloc(m->config.n_layers, sizeof(LayerWeights));
        for (uint32_t l = 0; l < m->config.n_layers; l++) {
            LayerWeights *L = &w->layers[l];
            const Tensor **slots[] = {&L->attn_norm, &L->wq, &L->bq, &L->wk, &L->bk, &L->wv, &L->bv, &L->wo, &L->bo,
                                      &L->sinks, &L->mlp_norm, &L->router_w, &L->router_b, &L->gate_up_w, &L->gate_up_b,
                                      &L->down_w, &L->down_b};
            for (size_t j = 0; j < sizeof slots / sizeof *slots; j++) *slots[j] = found[k++];
        }
        w->final_norm = found[k++];
        w->unembedding = found[k++];
    }
    free(found);
    free(specs);
    return rc;
}
