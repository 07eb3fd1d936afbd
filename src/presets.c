#include "presets.h"

#include <string.h>

/* gpt-oss: sliding-window attention on even layers, full attention on odd. */
static void alternate_sliding(ModelConfig *c) {
    for (uint32_t l = 0; l < c->n_layers; l++) c->layer_sliding[l] = (l % 2 == 0);
}

static void gpt_oss_common(ModelConfig *c) {
    c->vocab_size = 201088;
    c->hidden = 2880;
    c->n_heads = 64;
    c->n_kv_heads = 8;
    c->head_dim = 64;
    c->experts_per_token = 4;
    c->intermediate = 2880;
    c->max_context = 131072;
    c->initial_context = 4096;
    c->sliding_window = 128;
    c->rope_theta = 150000.0f;
    c->rope_scaling_factor = 32.0f;
    c->rope_beta_fast = 32.0f;
    c->rope_beta_slow = 1.0f;
    c->swiglu_limit = 7.0f;
    c->rms_eps = 1e-5f;
}

int preset_config(const char *name, ModelConfig *c) {
    memset(c, 0, sizeof *c);
    gpt_oss_common(c);
    if (strcmp(name, "20b") == 0) {
        c->n_layers = 24;
        c->n_experts = 32;
    } else if (strcmp(name, "120b") == 0) {
        c->n_layers = 36;
        c->n_experts = 128;
    } else if (strcmp(name, "tiny") == 0) {
        /* real vocabulary, everything else small; window shorter than test prompts */
        c->hidden = 64;
        c->n_layers = 4;
        c->n_heads = 4;
        c->n_kv_heads = 2;
        c->head_dim = 16;
        c->n_experts = 8;
        c->experts_per_token = 4;
        c->intermediate = 64;
        c->max_context = 4096;
        c->initial_context = 256;
        c->sliding_window = 8;
    } else if (strcmp(name, "mid") == 0) {
        /* a few hundred MB of weights: big enough that the CPU is bandwidth-bound */
        c->hidden = 1024;
        c->n_layers = 8;
        c->n_heads = 16;
        c->n_kv_heads = 4;
        c->head_dim = 64;
        c->n_experts = 16;
        c->experts_per_token = 4;
        c->intermediate = 1024;
        c->max_context = 8192;
        c->initial_context = 4096;
        c->sliding_window = 128;
    } else {
        return -1;
    }
    alternate_sliding(c);
    return 0;
}

const char *preset_names(void) { return "tiny mid 20b 120b"; }
