/* hf_config.c - see hf_config.h. */
#include "hf_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/json.h"
#include "../src/model_layout.h"
#include "json_check.h"

/* An object of config.json: the file, and the object's name as messages
 * show it before a key ("" at the top level, else e.g. "rope_scaling".). */
typedef struct {
    const char *path;
    const char *prefix;
    const JsonValue *obj;
} Section;

/* A present field: HF writes null for "not set", so null counts as absent. */
static const JsonValue *field(const Section *s, const char *key) {
    const JsonValue *v = json_get(s->obj, key);
    return v && v->type != JSON_NULL ? v : NULL;
}

#define REQUIRED (-1)

/* An integer field in [lo, hi] into *out; def when absent (REQUIRED: an
 * error). A present value of another type or out of range is an error. */
static int config_int(const Section *s, const char *key, uint32_t lo, uint32_t hi, int64_t def, uint32_t *out, Error *err) {
    const JsonValue *v = field(s, key);
    if (!v) {
        if (def == REQUIRED) return error_set(err, "%s: %s\"%s\" is missing", s->path, s->prefix, key);
        *out = (uint32_t)def;
        return 0;
    }
    char got[64];
    if (!json_int_in(v, lo, hi))
        return error_set(err, "%s: %s\"%s\" must be an integer in [%u, %u], got %s", s->path, s->prefix, key, lo, hi,
                         json_describe(v, got, sizeof got));
    *out = (uint32_t)v->number;
    return 0;
}

/* A real-valued field in [lo, hi] (bounds inside float's range) into *out;
 * def when absent. */
static int config_num(const Section *s, const char *key, double lo, double hi, double def, float *out, Error *err) {
    const JsonValue *v = field(s, key);
    char got[64];
    if (v && !(v->type == JSON_NUMBER && v->number >= lo && v->number <= hi))
        return error_set(err, "%s: %s\"%s\" must be a number in [%g, %g], got %s", s->path, s->prefix, key, lo, hi,
                         json_describe(v, got, sizeof got));
    *out = (float)(v ? v->number : def);
    return 0;
}

/* The config's fields into c. Integer bounds are the loader's
 * (model_config_validate in src/model.c), so that what converts also loads;
 * its rules across fields (multiples of 32, n_kv_heads dividing n_heads, ...)
 * are left to it. Real-valued bounds are generous sanity limits. */
static int config_fields(const char *path, const JsonValue *j, ModelConfig *c, Error *err) {
    char got[64];
    if (j->type != JSON_OBJECT) return error_set(err, "%s: must be a JSON object, got %s", path, json_describe(j, got, sizeof got));
    Section top = {path, "", j};
    const struct {
        const char *key;
        uint32_t lo, hi;
        uint32_t *dst;
    } ints[] = {{"vocab_size", 1, 1u << 24, &c->vocab_size},
                {"hidden_size", 1, 65536, &c->hidden},
                {"num_hidden_layers", 1, MODEL_MAX_LAYERS, &c->n_layers},
                {"num_attention_heads", 1, 1024, &c->n_heads},
                {"num_key_value_heads", 1, 1024, &c->n_kv_heads},
                {"head_dim", 1, 1024, &c->head_dim},
                {"num_local_experts", 1, 1024, &c->n_experts},
                {"intermediate_size", 1, 65536, &c->intermediate},
                {"max_position_embeddings", 1, 1u << 24, &c->max_context},
                /* 0 = none, allowed only without sliding layers (checked by the loader) */
                {"sliding_window", 0, 1u << 24, &c->sliding_window}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (config_int(&top, ints[i].key, ints[i].lo, ints[i].hi, REQUIRED, ints[i].dst, err) != 0) return -1;
    /* the transformers name, else the original gpt-oss one */
    const char *ept = field(&top, "num_experts_per_tok") || !field(&top, "experts_per_token") ? "num_experts_per_tok" : "experts_per_token";
    if (config_int(&top, ept, 1, 1024, REQUIRED, &c->experts_per_token, err) != 0) return -1;

    /* RoPE parameters: "rope_parameters" (transformers 5), else "rope_scaling";
     * either may be null or absent (plain RoPE, factor 1). */
    Section rope = {path, "", NULL};
    char rope_prefix[32];
    static const char *const rope_keys[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2 && !rope.obj; i++) {
        const JsonValue *r = field(&top, rope_keys[i]);
        if (r && r->type != JSON_OBJECT)
            return error_set(err, "%s: \"%s\" must be an object or null, got %s", path, rope_keys[i], json_describe(r, got, sizeof got));
        snprintf(rope_prefix, sizeof rope_prefix, "\"%s\".", rope_keys[i]);
        rope.prefix = rope_prefix;
        rope.obj = r;
    }
    /* rope_theta at the top level (transformers 4), else in the rope object */
    const Section *theta = field(&top, "rope_theta") || !field(&rope, "rope_theta") ? &top : &rope;
    if (config_num(theta, "rope_theta", 1, 1e9, 10000.0, &c->rope_theta, err) != 0 ||
        config_num(&rope, "factor", 1, 1024, 1.0, &c->rope_scaling_factor, err) != 0 ||
        config_num(&rope, "beta_fast", 0, 1e4, 32.0, &c->rope_beta_fast, err) != 0 ||
        config_num(&rope, "beta_slow", 0, 1e4, 1.0, &c->rope_beta_slow, err) != 0)
        return -1;
    const JsonValue *type = field(&rope, "rope_type");
    if (type && !json_str_is(type, "yarn") && !json_str_is(type, "default"))
        return error_set(err, "%s: %s\"rope_type\" must be \"yarn\" or \"default\", got %s", path, rope.prefix,
                         json_describe(type, got, sizeof got));
    if (type && json_str_is(type, "default")) c->rope_scaling_factor = 1.0f; /* transformers ignores the factor then */
    const JsonValue *truncate = field(&rope, "truncate");
    if (truncate && truncate->type != JSON_BOOL)
        return error_set(err, "%s: %s\"truncate\" must be true or false, got %s", path, rope.prefix, json_describe(truncate, got, sizeof got));
    if (truncate && truncate->number != 0 && c->rope_scaling_factor > 1)
        fprintf(stderr, "convert_hf: warning: rope \"truncate\": true is not what gpt-oss uses; getp does not truncate\n");
    /* YaRN's original context: gpt-oss's name, else the rope object's, else the whole context */
    const Section *orig = field(&top, "initial_context_length") || !field(&rope, "original_max_position_embeddings") ? &top : &rope;
    if (config_int(orig, orig == &top ? "initial_context_length" : "original_max_position_embeddings", 1, 1u << 24, c->max_context,
                   &c->initial_context, err) != 0 ||
        config_num(&top, "swiglu_limit", 0, 1e4, 7.0, &c->swiglu_limit, err) != 0 ||
        config_num(&top, "rms_norm_eps", 0, 1, 1e-5, &c->rms_eps, err) != 0)
        return -1;

    const JsonValue *types = field(&top, "layer_types");
    if (!types) {
        for (uint32_t l = 0; l < c->n_layers; l++) c->layer_sliding[l] = l % 2 == 0; /* gpt-oss: sliding first, alternating */
        return 0;
    }
    if (types->type != JSON_ARRAY)
        return error_set(err, "%s: \"layer_types\" must be an array of strings, got %s", path, json_describe(types, got, sizeof got));
    if (types->n != c->n_layers)
        return error_set(err, "%s: \"layer_types\" has %zu entries, \"num_hidden_layers\" is %u", path, types->n, c->n_layers);
    for (size_t l = 0; l < types->n; l++) {
        const JsonValue *t = &types->items[l];
        if (!json_str_is(t, "sliding_attention") && !json_str_is(t, "full_attention"))
            return error_set(err, "%s: \"layer_types\"[%zu] must be \"sliding_attention\" or \"full_attention\", got %s", path, l,
                             json_describe(t, got, sizeof got));
        c->layer_sliding[l] = json_str_is(t, "sliding_attention");
    }
    return 0;
}

/* model_open takes at most 2^40 elements a tensor (src/model.c); the
 * per-field bounds alone allow more (E x 2I x H up to 2^43). */
#define LOADER_MAX_ELEMS (1ull << 40)

int hf_config_read(const char *dir, ModelConfig *c, Error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return -1;
    Error jerr;
    JsonValue *j = json_parse(text, len, &jerr);
    free(text);
    if (!j) return error_set(err, "%s: %s", path, jerr.msg);
    memset(c, 0, sizeof *c);
    int rc = config_fields(path, j, c, err);
    json_free(j);
    if (rc == 0 && model_config_validate(c, err) != 0) rc = error_prefix(err, "%s", path);
    if (rc == 0) {
        uint32_t n;
        TensorSpec *specs = layout_tensor_specs(c, &n);
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            uint64_t elems = 1;
            for (uint32_t d = 0; d < specs[i].ndim; d++) elems *= specs[i].shape[d]; /* < 2^64: each factor is bounded above */
            if (elems > LOADER_MAX_ELEMS)
                rc = error_set(err, "%s: '%s' would hold %llu elements, more than the 2^40 the loader accepts", path, specs[i].name,
                               (unsigned long long)elems);
        }
        free(specs);
    }
    return rc;
}
