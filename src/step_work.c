#include "step_work.h"

long step_work_keys(const ModelConfig *c, int layer, int pos) {
    long keys = (long)pos + 1;
    if (c->layer_sliding[layer] && keys > (long)c->sliding_window) keys = (long)c->sliding_window;
    return keys;
}

/* The bytes of k of a stacked tensor's E matrices. */
static double experts_bytes(const Tensor *t, double k, double E) { return (double)t->nbytes / E * k; }

Work step_work(const Model *m, int layer, WorkKind kind, int rows, long keys, int n_out) {
    const ModelConfig *c = &m->config;
    const LayerWeights *L = &m->weights.layers[layer];
    const double T = rows, H = c->hidden, QD = (double)c->n_heads * c->head_dim, KVD = (double)c->n_kv_heads * c->head_dim;
    const double I = c->intermediate, E = c->n_experts, K = c->experts_per_token;
    const double active = T * K < E ? T * K : E; /* experts with rows, at most */
    Work w = {0, 0};
    switch (kind) {
    case WORK_QKV:
        w.flops = 2 * T * H * (QD + 2 * KVD);
        w.bytes = (double)L->wq->nbytes + L->wk->nbytes + L->wv->nbytes;
        break;
    case WORK_ATTENTION: /* q.k and p.v over the keys, every head; keys and values read once per kv head */
        w.flops = 2 * 2 * (double)keys * QD;
        w.bytes = (double)keys * 2 * KVD * sizeof(float);
        break;
    case WORK_O:
        w.flops = 2 * T * QD * H;
        w.bytes = (double)L->wo->nbytes;
        break;
    case WORK_ROUTER:
        w.flops = 2 * T * H * E;
        w.bytes = (double)L->router_w->nbytes;
        break;
    case WORK_GATE_UP:
        w.flops = 2 * T * K * H * 2 * I;
        w.bytes = experts_bytes(L->gate_up_w, active, E);
        break;
    case WORK_DOWN:
        w.flops = 2 * T * K * I * H;
        w.bytes = experts_bytes(L->down_w, active, E);
        break;
    case WORK_UNEMBEDDING:
        w.flops = 2 * (double)n_out * H * c->vocab_size;
        w.bytes = n_out > 0 ? (double)m->weights.unembedding->nbytes : 0;
        break;
    case WORK_KINDS: break;
    }
    return w;
}
